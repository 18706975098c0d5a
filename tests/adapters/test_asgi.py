"""GuardMiddleware (raw ASGI) over a tiny Starlette app, driven by httpx.ASGITransport."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from proofbound.adapters.asgi import GuardMiddleware
from proofbound.policy import RoutePolicy

from ._support import EXPOSE, NO_CREDENTIALS, NOW, PROOF_MISSING, PROOF_MULTIPLE, World


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse(request.state.principal.public())


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def client(world: World, *, policy: RoutePolicy | None = None) -> httpx.AsyncClient:
    app = Starlette(
        routes=[Route("/orders", whoami), Route("/healthz", healthz)],
        middleware=[
            Middleware(
                GuardMiddleware,
                guard=world.guard,
                proxy=world.proxy,
                policy=policy,
                exempt=frozenset({"/healthz"}),
            )
        ],
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://internal")


async def test_dpop_request_reaches_the_app_with_its_principal(world: World) -> None:
    async with client(world) as http:
        response = await http.get("/orders", headers=world.dpop("/orders"))
    assert response.status_code == 200
    assert response.json()["cnf"] == {"jkt": world.dpop_key.thumbprint}
    assert "dpop-nonce" not in response.headers


async def test_rejection_carries_the_full_challenge_and_an_empty_body(world: World) -> None:
    token = world.token()
    async with client(world, policy=RoutePolicy(require="dpop")) as http:
        response = await http.get("/orders", headers={"Authorization": f"DPoP {token}"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == PROOF_MISSING
    assert response.headers["access-control-expose-headers"] == EXPOSE
    assert response.content == b""


async def test_no_credentials_get_one_challenge_per_accepted_scheme(world: World) -> None:
    async with client(world) as http:
        response = await http.get("/orders")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == NO_CREDENTIALS


async def test_repeated_dpop_fields_stay_separate(world: World) -> None:
    headers = world.dpop("/orders")
    token = headers["Authorization"].split()[1]
    pairs = [*headers.items(), ("DPoP", world.proof("/orders", token))]
    async with client(world, policy=RoutePolicy(require="dpop")) as http:
        response = await http.get("/orders", headers=pairs)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == PROOF_MULTIPLE


async def test_exempt_path_is_served_without_a_token(world: World) -> None:
    async with client(world) as http:
        response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.text == "ok"


async def test_rotated_nonce_is_sent_with_the_successful_response(nonce_world: World) -> None:
    w = nonce_world
    assert w.nonces is not None
    async with client(w) as http:
        challenged = await http.get("/orders", headers=w.dpop("/orders"))
        assert challenged.status_code == 401
        assert challenged.headers["dpop-nonce"] == w.nonces.issue(NOW)
        response = await http.get("/orders", headers=w.dpop("/orders", nonce=w.stale_nonce()))
    assert response.status_code == 200
    assert response.headers["dpop-nonce"] == challenged.headers["dpop-nonce"]
    assert response.headers["cache-control"] == "no-store"


async def test_websocket_and_lifespan_scopes_pass_through(world: World) -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    async def receive() -> dict[str, Any]:
        raise AssertionError("not called")

    async def send(message: Any) -> None:
        raise AssertionError("not called")

    middleware = GuardMiddleware(app, world.guard, proxy=world.proxy)
    await middleware({"type": "websocket", "path": "/orders", "headers": []}, receive, send)
    await middleware({"type": "lifespan"}, receive, send)
    assert seen == ["websocket", "lifespan"]
