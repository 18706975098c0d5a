"""GuardWSGIMiddleware through httpx.WSGITransport, and context_from_environ on plain environs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx

from proofbound.adapters.wsgi import PRINCIPAL_KEY, GuardWSGIMiddleware, context_from_environ
from proofbound.mtls.certificate import load_certificate
from proofbound.policy import RoutePolicy
from proofbound.resource.context import ProxySettings

from ._support import EXPOSE, NOW, PROOF_MULTIPLE, World, client_certificate_pem


def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    principal = environ.get(PRINCIPAL_KEY)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [principal.subject.encode() if principal else b"anonymous"]


def client(world: World, *, policy: RoutePolicy | None = None) -> httpx.Client:
    guarded = GuardWSGIMiddleware(
        app, world.guard, proxy=world.proxy, policy=policy, exempt=frozenset({"/healthz"})
    )
    return httpx.Client(transport=httpx.WSGITransport(app=guarded), base_url="http://internal")


def test_admitted_request_carries_its_principal(world: World) -> None:
    with client(world) as http:
        response = http.get("/orders", headers=world.dpop("/orders"))
    assert response.status_code == 200
    assert response.text == "svc"


def test_comma_in_http_dpop_is_two_proofs(world: World) -> None:
    # A WSGI server joins a repeated DPoP field with a comma (no comma occurs in a compact JWS).
    headers = world.dpop("/orders")
    token = headers["Authorization"].split()[1]
    headers["DPoP"] += ", " + world.proof("/orders", token)
    with client(world, policy=RoutePolicy(require="dpop")) as http:
        response = http.get("/orders", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == PROOF_MULTIPLE
    assert response.headers["access-control-expose-headers"] == EXPOSE
    assert response.headers["content-length"] == "0"
    assert response.content == b""


def test_exempt_path_is_served_without_a_token(world: World) -> None:
    with client(world) as http:
        response = http.get("/healthz")
    assert response.status_code == 200
    assert response.text == "anonymous"


def test_rotated_nonce_is_added_to_the_app_response(nonce_world: World) -> None:
    w = nonce_world
    assert w.nonces is not None
    with client(w) as http:
        response = http.get("/orders", headers=w.dpop("/orders", nonce=w.stale_nonce()))
    assert response.status_code == 200
    assert response.headers["dpop-nonce"] == w.nonces.issue(NOW)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "text/plain"


def environ(**extra: str) -> dict[str, Any]:
    base = {"REQUEST_METHOD": "GET", "wsgi.url_scheme": "http", "PATH_INFO": "/"}
    return {**base, **extra}


def test_context_origin_path_and_peer_without_a_public_base_url() -> None:
    ctx = context_from_environ(
        environ(
            HTTP_HOST="api.internal:8080",
            SCRIPT_NAME="/v1",
            PATH_INFO="/orders/a b%",
            REMOTE_ADDR="10.0.0.7",
            CONTENT_TYPE="application/json",
        ),
        ProxySettings(),
    )
    assert ctx.url == "http://api.internal:8080/v1/orders/a%20b%25"
    assert ctx.peer == "10.0.0.7"
    assert ctx.header("content-type") == ("application/json",)
    fallback = context_from_environ(
        environ(SERVER_NAME="srv", SERVER_PORT="8000", **{"wsgi.url_scheme": "https"}),
        ProxySettings(),
    )
    assert fallback.url == "https://srv:8000/"


def test_context_splits_only_dpop_and_authorization() -> None:
    ctx = context_from_environ(
        environ(HTTP_AUTHORIZATION="DPoP a,DPoP b", HTTP_DPOP="x, y", HTTP_ACCEPT="a, b"),
        ProxySettings(public_base_url="https://api.example"),
    )
    assert ctx.header("authorization") == ("DPoP a", "DPoP b")
    assert ctx.header("dpop") == ("x", "y")
    assert ctx.header("accept") == ("a, b",)
    assert ctx.url == "https://api.example/"


def test_server_certificate_variable_is_the_tls_client_certificate(world: World) -> None:
    pem = client_certificate_pem()
    thumbprint = load_certificate(pem).thumbprint
    ctx = context_from_environ(environ(SSL_CLIENT_CERT=pem), world.proxy)
    assert ctx.client_cert is not None
    assert ctx.client_cert.thumbprint == thumbprint
    # A certificate header from an untrusted peer is ignored.
    spoofed = context_from_environ(
        environ(HTTP_X_SSL_CLIENT_CERT=pem, REMOTE_ADDR="203.0.113.9"), world.proxy
    )
    assert spoofed.client_cert is None
    token = world.token(x5t=thumbprint)
    guarded = GuardWSGIMiddleware(
        app, world.guard, proxy=world.proxy, policy=RoutePolicy(require="mtls")
    )
    started: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started.append(status)
        return lambda data: None

    body = guarded(
        environ(SSL_CLIENT_CERT=pem, HTTP_AUTHORIZATION=f"Bearer {token}"), start_response
    )
    assert started == ["200 OK"]
    assert b"".join(body) == b"svc"
