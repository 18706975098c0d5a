"""ProofboundFlask through Flask's test client."""

from __future__ import annotations

from typing import Any

import flask
import pytest

from proofbound.adapters.flask import ProofboundFlask
from proofbound.adapters.wsgi import GuardWSGIMiddleware
from proofbound.errors import ConfigurationError

from ._support import EXPOSE, NOW, PROOF_MISSING, World


def make_app(world: World, *, middleware: bool = False) -> flask.Flask:
    app = flask.Flask(__name__)
    pb = ProofboundFlask(guard=world.guard, proxy=world.proxy)
    pb.init_app(app)  # the application-factory form

    @app.get("/orders")
    @pb.require(require="dpop", scopes=["read"])
    def orders() -> dict[str, Any]:
        return flask.g.principal.public()  # type: ignore[no-any-return]

    @app.post("/orders")
    @pb.require(require="dpop", scopes=["write"])
    def create() -> str:
        return "created"

    @app.get("/async")
    @pb.require(require="dpop")
    async def async_view() -> str:
        return str(flask.g.principal.subject)

    if middleware:
        app.wsgi_app = GuardWSGIMiddleware(  # type: ignore[method-assign]
            app.wsgi_app, world.guard, proxy=world.proxy
        )
    return app


def test_decorator_puts_the_principal_on_g(world: World) -> None:
    response = make_app(world).test_client().get("/orders", headers=world.dpop("/orders"))
    assert response.status_code == 200
    assert response.json is not None
    assert response.json["cnf"] == {"jkt": world.dpop_key.thumbprint}


def test_rejection_aborts_with_the_challenge(world: World) -> None:
    token = world.token()
    response = (
        make_app(world).test_client().get("/orders", headers={"Authorization": f"DPoP {token}"})
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == PROOF_MISSING
    assert response.headers["Access-Control-Expose-Headers"] == EXPOSE
    assert response.data == b""


def test_error_handler_receives_the_guard_response(world: World) -> None:
    app = make_app(world)

    @app.errorhandler(401)
    def unauthorized(error: Any) -> Any:
        response = error.get_response()
        response.set_data(b'{"error": "unauthorized"}')
        return response

    response = app.test_client().get("/orders")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("DPoP algs=")
    assert response.data == b'{"error": "unauthorized"}'


def test_rotated_nonce_is_added_after_the_request(nonce_world: World) -> None:
    w = nonce_world
    assert w.nonces is not None
    response = (
        make_app(w).test_client().get("/orders", headers=w.dpop("/orders", nonce=w.stale_nonce()))
    )
    assert response.status_code == 200
    assert response.headers["DPoP-Nonce"] == w.nonces.issue(NOW)
    assert response.headers["Cache-Control"] == "no-store"


def test_async_view(world: World) -> None:
    response = make_app(world).test_client().get("/async", headers=world.dpop("/async"))
    assert response.status_code == 200
    assert response.text == "svc"


def test_behind_the_wsgi_middleware_the_proof_is_not_spent_twice(world: World) -> None:
    http = make_app(world, middleware=True).test_client()
    admitted = http.get("/orders", headers=world.dpop("/orders"))
    narrowed = http.post("/orders", headers=world.dpop("/orders", method="POST"))
    assert admitted.status_code == 200
    assert narrowed.status_code == 403
    assert 'scope="write"' in narrowed.headers["WWW-Authenticate"]


def test_policy_is_checked_when_decorating(world: World) -> None:
    pb = ProofboundFlask(guard=world.guard)
    with pytest.raises(ConfigurationError):
        pb.require(scopes=["a b"])
