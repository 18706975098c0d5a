"""The dependencies of proofbound.adapters.starlette in FastAPI, through httpx.ASGITransport.

No ``from __future__ import annotations`` here: FastAPI reads ``Annotated[..., Depends(read)]``
at definition time, and ``read`` is a local of ``make_app``.
"""

from typing import Annotated, Any

import fastapi
import httpx
from fastapi import Depends, FastAPI, Request

from proofbound.adapters.asgi import GuardMiddleware
from proofbound.adapters.starlette import require_dpop
from proofbound.resource.guard import Principal

from ._support import EXPOSE, NOW, PROOF_MISSING, World

ALGS = 'algs="ES256 EdDSA PS256 RS256"'


def make_app(world: World, *, middleware: bool = False) -> FastAPI:
    app = FastAPI()
    read = require_dpop(world.guard, scopes=["read"], proxy=world.proxy)
    write = require_dpop(world.guard, scopes="write", proxy=world.proxy)

    @app.get("/orders")
    async def orders(
        principal: Annotated[Principal, Depends(read)], request: Request
    ) -> dict[str, Any]:
        assert request.state.principal is principal
        public: dict[str, Any] = principal.public()
        return public

    @app.post("/orders")
    async def create(principal: Annotated[Principal, Depends(write)]) -> dict[str, str]:
        return {"sub": principal.subject}

    if middleware:
        app.add_middleware(GuardMiddleware, guard=world.guard, proxy=world.proxy)
    return app


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://internal")


async def test_dependency_returns_the_principal(world: World) -> None:
    async with client(make_app(world)) as http:
        response = await http.get("/orders", headers=world.dpop("/orders"))
    assert response.status_code == 200
    assert response.json()["cnf"] == {"jkt": world.dpop_key.thumbprint}


async def test_rejection_is_an_http_exception_with_the_challenge(world: World) -> None:
    token = world.token()
    async with client(make_app(world)) as http:
        response = await http.get("/orders", headers={"Authorization": f"DPoP {token}"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == PROOF_MISSING
    assert response.headers["access-control-expose-headers"] == EXPOSE
    assert response.json() == {"detail": "Unauthorized"}


async def test_handlers_registered_for_fastapi_http_exception_see_it(world: World) -> None:
    app = make_app(world)
    seen: list[int] = []

    @app.exception_handler(fastapi.HTTPException)
    async def handler(request: Request, exc: fastapi.HTTPException) -> fastapi.Response:
        seen.append(exc.status_code)
        return fastapi.Response(status_code=exc.status_code, headers=exc.headers)

    async with client(app) as http:
        response = await http.get("/orders")
    assert seen == [401]
    assert response.headers["www-authenticate"] == f"DPoP {ALGS}"


async def test_scopes_argument_reaches_the_policy(world: World) -> None:
    async with client(make_app(world)) as http:
        response = await http.post("/orders", headers=world.dpop("/orders", method="POST"))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert 'scope="write"' in response.headers["www-authenticate"]


async def test_rotated_nonce_goes_on_the_injected_response(nonce_world: World) -> None:
    w = nonce_world
    assert w.nonces is not None
    async with client(make_app(w)) as http:
        response = await http.get("/orders", headers=w.dpop("/orders", nonce=w.stale_nonce()))
    assert response.status_code == 200
    assert response.headers["dpop-nonce"] == w.nonces.issue(NOW)
    assert response.headers["cache-control"] == "no-store"


async def test_behind_the_middleware_the_proof_is_not_spent_twice(world: World) -> None:
    async with client(make_app(world, middleware=True)) as http:
        admitted = await http.get("/orders", headers=world.dpop("/orders"))
        narrowed = await http.post("/orders", headers=world.dpop("/orders", method="POST"))
    assert admitted.status_code == 200  # not invalid_dpop_proof (replayed)
    assert narrowed.status_code == 403
    assert 'scope="write"' in narrowed.headers["www-authenticate"]
