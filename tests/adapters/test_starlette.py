"""The same dependency called from a plain Starlette endpoint."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from proofbound.adapters.starlette import require_bound

from ._support import NO_CREDENTIALS, World


def make_app(world: World) -> Starlette:
    dependency = require_bound(world.guard, proxy=world.proxy)

    async def whoami(request: Request) -> JSONResponse:
        principal = await dependency(request)
        return JSONResponse(principal.public())

    return Starlette(routes=[Route("/orders", whoami)])


async def test_awaited_with_a_request(world: World) -> None:
    transport = httpx.ASGITransport(app=make_app(world))
    async with httpx.AsyncClient(transport=transport, base_url="http://internal") as http:
        accepted = await http.get("/orders", headers=world.dpop("/orders"))
        rejected = await http.get("/orders")
    assert accepted.status_code == 200
    assert accepted.json()["binding"] == "dpop"
    assert rejected.status_code == 401
    assert rejected.headers["www-authenticate"] == NO_CREDENTIALS
