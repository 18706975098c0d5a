"""The example API in process: routes, RFC 9728 metadata, CORS, lazy discovery, fail-closed.

The authorization server is an ``httpx.MockTransport`` (metadata, JWKS, revocation feed,
introspection). The app runs on an event loop in a blocking portal, driven through
``httpx.ASGITransport`` with its lifespan entered, so its pollers and clients are closed at the
end of every test. Each test runs on every installed framework.
"""

from __future__ import annotations

import base64
import functools
import logging
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from starlette.applications import Starlette

from proofbound import SigningKey, create_proof, generate_key, issue_access_token
from proofbound.errors import ConfigurationError
from proofbound.resource import example_app
from proofbound.resource.example_app import (
    METADATA_PATH,
    ExampleAPISettings,
    create_example_app,
    protected_resource_metadata,
)
from proofbound.server.config import Secret

ISSUER = "https://as.example"
API = "https://api.example"
WHOAMI = API + "/whoami"
FEED = ISSUER + "/revocations"
INTROSPECT = ISSUER + "/introspect"

try:
    import fastapi  # noqa: F401
except ImportError:
    FRAMEWORKS = ["starlette"]
else:
    FRAMEWORKS = ["starlette", "fastapi"]


@pytest.fixture(params=FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@dataclass
class FakeAS:
    """The parts of an authorization server the example API reads."""

    key: SigningKey = field(default_factory=lambda: generate_key("ES256"))
    reachable: bool = True
    advertise_feed: bool = True
    feed_status: int = 200
    revocations: list[dict[str, Any]] = field(default_factory=list)
    introspection: dict[str, Any] = field(default_factory=lambda: {"active": False})
    seen: list[httpx.Request] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if not self.reachable:
            raise httpx.ConnectError("refused", request=request)
        url = str(request.url)
        if url == ISSUER + "/.well-known/oauth-authorization-server":
            doc: dict[str, Any] = {
                "issuer": ISSUER,
                "jwks_uri": ISSUER + "/jwks",
                "introspection_endpoint": INTROSPECT,
            }
            if self.advertise_feed:
                doc["revocation_feed_endpoint"] = FEED
            return httpx.Response(200, json=doc)
        if url == ISSUER + "/jwks":
            return httpx.Response(200, json={"keys": [self.key.public_jwk()]})
        if url == FEED:
            return httpx.Response(self.feed_status, json={"revocations": self.revocations})
        if url == INTROSPECT and request.method == "POST":
            return httpx.Response(200, json=self.introspection)
        return httpx.Response(404)

    def token(self, *, jkt: str | None = None, scope: str = "read", jti: str = "") -> str:
        return issue_access_token(
            self.key,
            issuer=ISSUER,
            subject="svc-1",
            audience=API,
            client_id="svc-1",
            now=int(time.time()),
            ttl=300,
            jti=jti or secrets.token_urlsafe(8),
            scope=scope.split(),
            jkt=jkt,
        )


def settings(**overrides: Any) -> ExampleAPISettings:
    return replace(ExampleAPISettings(issuer=ISSUER, audience=API, public_url=API), **overrides)


@pytest.fixture
def fake_as() -> FakeAS:
    return FakeAS()


@pytest.fixture
def dpop_key() -> SigningKey:
    return generate_key("ES256")


class Api:
    """The app on the portal's event loop, with synchronous requests."""

    def __init__(self, app: Starlette, fake: FakeAS, portal: BlockingPortal) -> None:
        self.fake = fake
        self.portal = portal
        self._lifespan = portal.wrap_async_context_manager(app.router.lifespan_context(app))
        self._lifespan.__enter__()
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        self._client = httpx.AsyncClient(transport=transport, base_url=API)

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        call = functools.partial(self._client.request, method, path, headers=headers or {})
        return self.portal.call(call)

    def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.request("GET", path, headers)

    def close(self) -> None:
        self.portal.call(self._client.aclose)
        self._lifespan.__exit__(None, None, None)

    def dpop_headers(self, key: SigningKey, token: str, nonce: str | None = None) -> dict[str, str]:
        proof = create_proof(
            key, htm="GET", htu=WHOAMI, now=int(time.time()), access_token=token, nonce=nonce
        )
        return {"Authorization": f"DPoP {token}", "DPoP": proof}


@pytest.fixture
def start(fake_as: FakeAS, framework: str) -> Iterator[Any]:
    apis: list[Api] = []
    with start_blocking_portal() as portal:

        def started(config: ExampleAPISettings | None = None) -> Api:
            app = create_example_app(
                config or settings(),
                framework=framework,  # type: ignore[arg-type]
                transport=httpx.MockTransport(fake_as.handler),
            )
            api = Api(app, fake_as, portal)  # enters the lifespan: its exit closes the guard
            apis.append(api)
            return api

        try:
            yield started
        finally:
            for api in apis:
                api.close()


def error_of(response: httpx.Response) -> str:
    challenge = response.headers.get("www-authenticate", "")
    for part in challenge.split(","):
        name, _, value = part.strip().partition("=")
        if name.endswith("error"):
            return str(value.strip('"'))
    return ""


# -- the routes -----------------------------------------------------------------------------------


def test_whoami_answers_the_principal_and_refuses_the_replay(
    start: Any, dpop_key: SigningKey
) -> None:
    api = start()
    token = api.fake.token(jkt=dpop_key.thumbprint, scope="read write")
    headers = api.dpop_headers(dpop_key, token)
    response = api.get("/whoami", headers)
    assert response.status_code == 200
    assert response.json() == {
        "iss": ISSUER,
        "sub": "svc-1",
        "client_id": "svc-1",
        "scope": "read write",
        "binding": "dpop",
        "cnf": {"jkt": dpop_key.thumbprint},
    }
    assert token not in response.text
    assert headers["DPoP"] not in response.text
    again = api.get("/whoami", headers)
    assert again.status_code == 401
    assert again.headers["www-authenticate"].startswith('DPoP error="invalid_dpop_proof"')


def test_healthz_metrics_and_metadata_need_no_token(start: Any) -> None:
    api = start()
    health = api.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    api.get("/whoami")  # one refusal, to count
    metrics = api.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert (
        'proofbound_guard_decisions_total{outcome="rejected",reason="credentials_missing"} 1.0'
        in metrics.text
    )
    metadata = api.get(METADATA_PATH)
    assert metadata.status_code == 200
    assert metadata.json()["resource"] == API
    assert not api.fake.seen, "nothing protected was asked: the AS is not contacted"


def test_unknown_paths_are_protected_too(start: Any) -> None:
    assert start().get("/nothing-here").status_code == 401


@pytest.mark.parametrize(
    ("require", "dpop_required", "mtls_supported"),
    [
        ("bound", False, True),
        ("dpop", True, False),
        ("mtls", False, True),
        ("bearer-allowed", False, True),
    ],
)
def test_protected_resource_metadata(
    start: Any, require: str, dpop_required: bool, mtls_supported: bool
) -> None:
    config = settings(require=require)
    api = start(config)
    document = api.get(METADATA_PATH).json()
    assert document == protected_resource_metadata(config)
    assert document == {
        "resource": API,
        "authorization_servers": [ISSUER],
        "bearer_methods_supported": ["header"],
        "dpop_signing_alg_values_supported": ["ES256", "EdDSA", "PS256", "RS256"],
        "dpop_bound_access_tokens_required": dpop_required,
        "tls_client_certificate_bound_access_tokens": mtls_supported,
    }
    # RFC 9728 §5.1: every challenge points at the document.
    challenge = api.get("/whoami").headers["www-authenticate"]
    expected = f'resource_metadata="{API}{METADATA_PATH}"'
    assert challenge.count(expected) == challenge.count("resource_metadata=") >= 1


def test_audience_differs_from_the_public_url(start: Any, dpop_key: SigningKey) -> None:
    # The tokens' aud is compared with the audience; htu with the public URL.
    api = start(settings(audience="urn:example:api"))
    token = issue_access_token(
        api.fake.key,
        issuer=ISSUER,
        subject="svc-1",
        audience="urn:example:api",
        client_id="svc-1",
        now=int(time.time()),
        ttl=300,
        jti=secrets.token_urlsafe(8),
        jkt=dpop_key.thumbprint,
    )
    assert api.get("/whoami", api.dpop_headers(dpop_key, token)).status_code == 200
    assert api.get(METADATA_PATH).json()["resource"] == "urn:example:api"
    wrong = api.fake.token(jkt=dpop_key.thumbprint)  # aud = the public URL
    response = api.get("/whoami", api.dpop_headers(dpop_key, wrong))
    assert (response.status_code, error_of(response)) == (401, "invalid_token")


def test_bearer_downgrade_and_unbound_tokens(start: Any, dpop_key: SigningKey) -> None:
    api = start()
    bound = api.fake.token(jkt=dpop_key.thumbprint)
    response = api.get("/whoami", {"Authorization": f"Bearer {bound}"})
    assert (response.status_code, error_of(response)) == (401, "invalid_token")
    assert 'Bearer error="invalid_token"' in response.headers["www-authenticate"]
    unbound = api.fake.token()
    response = api.get("/whoami", {"Authorization": f"Bearer {unbound}"})
    assert (response.status_code, error_of(response)) == (401, "invalid_token")


# -- CORS -----------------------------------------------------------------------------------------


def exposed(response: httpx.Response) -> set[str]:
    value = response.headers.get("access-control-expose-headers", "")
    return {item.strip().lower() for item in value.split(",") if item.strip()}


def test_cors_exposes_the_challenge_and_nonce_headers(start: Any, dpop_key: SigningKey) -> None:
    api = start(settings(nonce_secrets=(b"s" * 32,)))
    origin = {"Origin": "https://app.example"}
    refused = api.get("/whoami", origin)
    assert refused.status_code == 401
    assert exposed(refused) == {"www-authenticate", "dpop-nonce"}
    assert refused.headers["access-control-allow-origin"] == "*"
    token = api.fake.token(jkt=dpop_key.thumbprint)
    challenged = api.get("/whoami", {**origin, **api.dpop_headers(dpop_key, token)})
    assert error_of(challenged) == "use_dpop_nonce"
    nonce = challenged.headers["dpop-nonce"]
    passed = api.get("/whoami", {**origin, **api.dpop_headers(dpop_key, token, nonce)})
    assert passed.status_code == 200
    assert exposed(passed) == {"www-authenticate", "dpop-nonce"}
    assert passed.headers["access-control-allow-origin"] == "*"
    preflight = api.request(
        "OPTIONS",
        "/whoami",
        {
            **origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization, dpop",
        },
    )
    assert preflight.status_code == 200
    allowed = {
        h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")
    }
    assert {"authorization", "dpop"} <= allowed


# -- nonces, observe ------------------------------------------------------------------------------


def test_rs_nonce_round_trip(start: Any, dpop_key: SigningKey) -> None:
    secret = b"k" * 32
    api = start(settings(nonce_secrets=(secret,)))
    token = api.fake.token(jkt=dpop_key.thumbprint)
    first = api.get("/whoami", api.dpop_headers(dpop_key, token))
    assert (first.status_code, error_of(first)) == (401, "use_dpop_nonce")
    assert first.headers["cache-control"] == "no-store"
    nonce = first.headers["dpop-nonce"]
    assert api.get("/whoami", api.dpop_headers(dpop_key, token, nonce)).status_code == 200
    # Another process with the same secret and public URL accepts the nonce.
    other = start(settings(nonce_secrets=(b"x" * 32, secret)))
    assert other.get("/whoami", other.dpop_headers(dpop_key, token, nonce)).status_code == 200
    # One with another secret does not.
    third = start(settings(nonce_secrets=(b"y" * 32,)))
    response = third.get("/whoami", third.dpop_headers(dpop_key, token, nonce))
    assert error_of(response) == "use_dpop_nonce"


def test_observe_counts_what_the_target_would_refuse(start: Any) -> None:
    api = start(settings(require="bearer-allowed", observe="dpop"))
    response = api.get("/whoami", {"Authorization": f"Bearer {api.fake.token()}"})
    assert response.status_code == 200
    assert response.json()["binding"] == "bearer"
    metrics = api.get("/metrics").text
    assert (
        'proofbound_guard_observe_would_reject_total{reason="token_binding_required"} 1.0'
        in metrics
    )


# -- the authorization server: lazy, fail closed ------------------------------------------------


def test_an_unreachable_as_gives_503_not_a_failed_start(start: Any, dpop_key: SigningKey) -> None:
    api = start()
    api.fake.reachable = False
    token = api.fake.token(jkt=dpop_key.thumbprint)
    response = api.get("/whoami", api.dpop_headers(dpop_key, token))
    assert response.status_code == 503
    assert "www-authenticate" not in response.headers
    assert api.get("/healthz").status_code == 200
    api.fake.reachable = True  # the AS came up: the next request discovers it
    assert api.get("/whoami", api.dpop_headers(dpop_key, token)).status_code == 200


def test_the_discovered_feed_revokes(start: Any, dpop_key: SigningKey) -> None:
    api = start(settings(revocation_poll_seconds=0.1, revocation_max_stale_seconds=5))
    token = api.fake.token(jkt=dpop_key.thumbprint, jti="revoke-me")
    assert api.get("/whoami", api.dpop_headers(dpop_key, token)).status_code == 200
    assert any(str(r.url) == FEED for r in api.fake.seen)
    api.fake.revocations.append({"kind": "jti", "value": "revoke-me", "revoked_at": time.time()})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        response = api.get("/whoami", api.dpop_headers(dpop_key, token))
        if response.status_code != 200:
            break
        time.sleep(0.05)
    assert (response.status_code, error_of(response)) == (401, "invalid_token")
    assert "revoked" in response.headers["www-authenticate"]


def test_a_configured_feed_is_used_instead(start: Any, dpop_key: SigningKey) -> None:
    api = start(settings(revocation_feed=ISSUER + "/other-feed"))
    token = api.fake.token(jkt=dpop_key.thumbprint)
    # The configured feed answers 404: the first poll fails and the request fails closed.
    assert api.get("/whoami", api.dpop_headers(dpop_key, token)).status_code == 503
    assert any(str(r.url) == ISSUER + "/other-feed" for r in api.fake.seen)
    assert not any(str(r.url) == FEED for r in api.fake.seen)


def test_a_failing_feed_fails_closed(start: Any, dpop_key: SigningKey) -> None:
    api = start()
    api.fake.feed_status = 500
    token = api.fake.token(jkt=dpop_key.thumbprint)
    assert api.get("/whoami", api.dpop_headers(dpop_key, token)).status_code == 503


def test_no_feed_advertised_is_logged_and_tolerated(
    start: Any, dpop_key: SigningKey, caplog: pytest.LogCaptureFixture
) -> None:
    api = start()
    api.fake.advertise_feed = False
    token = api.fake.token(jkt=dpop_key.thumbprint)
    with caplog.at_level(logging.WARNING, "proofbound.example_api"):
        assert api.get("/whoami", api.dpop_headers(dpop_key, token)).status_code == 200
        assert api.get("/whoami", api.dpop_headers(dpop_key, token)).status_code == 200
    warnings = [r for r in caplog.records if "revocation_feed_endpoint" in r.getMessage()]
    assert len(warnings) == 1


def test_introspection_at_the_discovered_endpoint(start: Any, dpop_key: SigningKey) -> None:
    api = start(settings(introspect_client_id="rs-1", introspect_client_secret=Secret("s3cret:/x")))
    opaque = secrets.token_urlsafe(24)
    api.fake.introspection = {
        "active": True,
        "iss": ISSUER,
        "aud": API,
        "sub": "svc-2",
        "client_id": "svc-2",
        "scope": "read",
        "iat": int(time.time()),
        "cnf": {"jkt": dpop_key.thumbprint},
    }
    response = api.get("/whoami", api.dpop_headers(dpop_key, opaque))
    assert response.status_code == 200
    assert response.json()["client_id"] == "svc-2"
    assert opaque not in response.text
    asked = [r for r in api.fake.seen if str(r.url) == INTROSPECT]
    assert len(asked) == 1
    basic = base64.b64decode(asked[0].headers["authorization"].removeprefix("Basic "))
    assert basic == b"rs-1:s3cret%3A%2Fx"  # RFC 6749 §2.3.1: form-encoded, then Basic
    api.fake.introspection = {"active": False}
    response = api.get("/whoami", api.dpop_headers(dpop_key, opaque))
    assert (response.status_code, error_of(response)) == (401, "invalid_token")


def test_without_introspection_opaque_tokens_are_refused(start: Any, dpop_key: SigningKey) -> None:
    api = start()
    response = api.get("/whoami", api.dpop_headers(dpop_key, secrets.token_urlsafe(24)))
    assert (response.status_code, error_of(response)) == (401, "invalid_token")


# -- settings -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"issuer": "http://as.example"}, "https"),
        ({"public_url": "ftp://api.example"}, "http or https"),
        ({"public_url": "https://api.example/?q=1"}, "query"),
        ({"audience": "has space"}, "audience"),
        ({"audience": ""}, "audience"),
        ({"require": "bearer"}, "require"),
        ({"require": "dpop", "observe": "bound"}, "stricter"),
        ({"require": "bound", "observe": "bound"}, "stricter"),
        ({"nonce_secrets": (b"short",)}, "32 bytes"),
        ({"client_cert_header": "x ssl"}, "header name"),
        ({"client_cert_format": "pem"}, "format"),
        ({"introspect_client_id": "rs"}, "both"),
        ({"introspect_client_secret": Secret("s")}, "both"),
        ({"introspection_cache_seconds": -1}, "negative"),
        ({"revocation_feed": "feed"}, "revocation feed"),
        ({"revocation_poll_seconds": 0}, "poll"),
        ({"revocation_poll_seconds": 10, "revocation_max_stale_seconds": 5}, "poll"),
        ({"redis_url": "http://127.0.0.1:6379"}, "Redis URL"),
    ],
)
def test_bad_settings_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        settings(**overrides)
    assert message in caught.value.diagnostics()


def test_header_name_is_lower_cased() -> None:
    assert (
        settings(client_cert_header="X-SSL-Client-Cert").client_cert_header == "x-ssl-client-cert"
    )


def test_secrets_stay_out_of_the_repr() -> None:
    text = repr(
        settings(
            nonce_secrets=(b"n" * 32,),
            introspect_client_id="rs",
            introspect_client_secret=Secret("introspection-secret"),
        )
    )
    assert "nnnn" not in text
    assert "introspection-secret" not in text


def test_fastapi_when_installed_else_starlette(monkeypatch: pytest.MonkeyPatch) -> None:
    kind = type(create_example_app(settings())).__name__
    assert kind == ("FastAPI" if "fastapi" in FRAMEWORKS else "Starlette")
    assert type(create_example_app(settings(), framework="starlette")) is Starlette
    monkeypatch.setattr(example_app, "_fastapi", lambda: None)  # as if not installed
    assert type(create_example_app(settings())) is Starlette
    with pytest.raises(ConfigurationError) as caught:
        create_example_app(settings(), framework="fastapi")
    assert "pip install 'proofbound[fastapi]'" in caught.value.diagnostics()
