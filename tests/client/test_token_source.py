"""``TokenSource``: discovery, client authentication, binding checks, caching and refresh.

The AS is a ``MockTransport`` handler (:class:`FakeAS`) that demands a DPoP nonce like ours does;
the clock is a :class:`FakeClock` the tests move by hand.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from tests.client._support import form_of, jws_parts, proof_claims, self_signed_certificate

from proofbound.client import ClientError, DPoPKey, TokenSource
from proofbound.client import token_source as token_source_module
from proofbound.client.token_source import ASSERTION_TYPE, escaped_certificate
from proofbound.jwk.signatures import verify
from proofbound.jws import split_compact
from proofbound.server.config import Secret

NOW = 1_700_000_000
ISSUER = "https://as.example"
TOKEN_ENDPOINT = "https://as.example/oauth/token"
CLIENT_ID = "client-1"
CERT_HEADER = "x-ssl-client-cert"


class FakeClock:
    def __init__(self, now: float = NOW) -> None:
        self.now = float(now)

    def __call__(self) -> float:
        return self.now


class FakeAS:
    """An AS on a MockTransport: RFC 8414 metadata, a token endpoint demanding a DPoP nonce."""

    def __init__(
        self,
        issuer: str = ISSUER,
        *,
        rfc8414: bool = True,
        openid: bool = False,
        metadata_issuer: str | None = None,
        nonce: bool = True,
        token_type: str = "DPoP",  # noqa: S107 -- a token type, not a secret
        expires_in: Any = 300,
        refresh_tokens: bool = False,
        error: tuple[int, dict[str, Any]] | None = None,
        delay: float = 0.0,
    ) -> None:
        self.issuer = issuer
        self.rfc8414 = rfc8414
        self.openid = openid
        self.metadata_issuer = metadata_issuer or issuer
        self.nonce = nonce
        self.token_type = token_type
        self.expires_in = expires_in
        self.refresh_tokens = refresh_tokens
        self.error = error
        self.delay = delay
        self.lock = threading.Lock()
        self.requests: list[httpx.Request] = []
        self.issued = 0

    def paths(self) -> list[str]:
        return [request.url.path for request in self.requests]

    @property
    def token_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if str(r.url) == TOKEN_ENDPOINT]

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.metadata_issuer,
            "token_endpoint": TOKEN_ENDPOINT,
            "jwks_uri": f"{self.issuer}/jwks",
            "dpop_signing_alg_values_supported": ["ES256"],
        }

    def __call__(self, request: httpx.Request) -> httpx.Response:
        # A copy: an auth flow re-signs the same request object for its retry.
        seen = httpx.Request(
            request.method, request.url, headers=request.headers.copy(), content=request.content
        )
        with self.lock:
            self.requests.append(seen)
        path = request.url.path
        tenant = httpx.URL(self.issuer).path.rstrip("/")
        if path == f"/.well-known/oauth-authorization-server{tenant}":
            return (
                httpx.Response(200, json=self.metadata()) if self.rfc8414 else httpx.Response(404)
            )
        if path == f"{tenant}/.well-known/openid-configuration":
            return httpx.Response(200, json=self.metadata()) if self.openid else httpx.Response(404)
        if str(request.url) != TOKEN_ENDPOINT or request.method != "POST":
            return httpx.Response(404)
        if self.delay:
            time.sleep(self.delay)
        needs_nonce = self.nonce and "DPoP" in request.headers
        if needs_nonce and proof_claims(request).get("nonce") != "as-nonce":
            return httpx.Response(
                400,
                json={"error": "use_dpop_nonce", "error_description": "nonce required"},
                headers={"DPoP-Nonce": "as-nonce"},
            )
        if self.error is not None:
            status, body = self.error
            return httpx.Response(status, json=body)
        with self.lock:
            self.issued += 1
            number = self.issued
        body = {
            "access_token": f"access-token-{number}",
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "scope": "read",
        }
        if self.refresh_tokens:
            body["refresh_token"] = f"refresh-token-{number}"
        return httpx.Response(200, json=body, headers={"Cache-Control": "no-store"})


@pytest.fixture(scope="module")
def key() -> DPoPKey:
    return DPoPKey.generate()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sources() -> Iterator[list[TokenSource]]:
    made: list[TokenSource] = []
    yield made
    for source in made:
        source.close()


@pytest.fixture
def make_source(
    key: DPoPKey, clock: FakeClock, sources: list[TokenSource]
) -> Callable[..., TokenSource]:
    def make(fake: FakeAS, issuer: str = ISSUER, **kw: Any) -> TokenSource:
        kw.setdefault("key", key)
        kw.setdefault("clock", clock)
        http = httpx.Client(transport=httpx.MockTransport(fake))
        source = TokenSource(issuer, CLIENT_ID, http=http, **kw)
        sources.append(source)
        return source

    return make


# -- discovery ----------------------------------------------------------------------------------


def test_discovery_uses_rfc8414_with_the_issuer_path_inserted(
    make_source: Callable[..., TokenSource],
) -> None:
    fake = FakeAS("https://as.example/tenant-1")
    source = make_source(fake, "https://as.example/tenant-1")
    assert source.metadata()["token_endpoint"] == TOKEN_ENDPOINT
    assert source.metadata()["issuer"] == "https://as.example/tenant-1"
    assert fake.paths() == ["/.well-known/oauth-authorization-server/tenant-1"]  # fetched once
    assert fake.requests[0].headers["Accept"] == "application/json"


def test_discovery_falls_back_to_openid_configuration(
    make_source: Callable[..., TokenSource],
) -> None:
    fake = FakeAS("https://as.example/tenant-1", rfc8414=False, openid=True)
    source = make_source(fake, "https://as.example/tenant-1")
    assert source.metadata()["token_endpoint"] == TOKEN_ENDPOINT
    assert fake.paths() == [
        "/.well-known/oauth-authorization-server/tenant-1",
        "/tenant-1/.well-known/openid-configuration",
    ]
    source.token()  # and the token endpoint it names is used
    assert len(fake.token_requests) == 2


@pytest.mark.parametrize(
    "document_issuer",
    ["https://evil.example", "https://as.example/", "https://AS.example", "https://as.example/x"],
)
def test_a_metadata_document_for_another_issuer_is_refused(
    make_source: Callable[..., TokenSource], document_issuer: str
) -> None:
    """RFC 8414 §3.3: the ``issuer`` must be identical; neither document is used."""
    fake = FakeAS(openid=True, metadata_issuer=document_issuer)
    source = make_source(fake)
    with pytest.raises(ClientError) as caught:
        source.metadata()
    assert caught.value.error is None
    with pytest.raises(ClientError):
        source.token()
    assert fake.token_requests == []


def test_no_metadata_at_all_is_an_error(make_source: Callable[..., TokenSource]) -> None:
    fake = FakeAS(rfc8414=False, openid=False)
    source = make_source(fake)
    for _ in range(2):
        with pytest.raises(ClientError):
            source.token()
    assert (
        fake.paths()
        == [
            "/.well-known/oauth-authorization-server",
            "/.well-known/openid-configuration",
        ]
        * 2
    )  # not cached: the next call tries again


def test_an_unreachable_issuer_is_a_client_error(key: DPoPKey, clock: FakeClock) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    source = TokenSource(
        ISSUER,
        CLIENT_ID,
        key=key,
        clock=clock,
        http=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    with source.http, pytest.raises(ClientError) as caught:
        source.token()
    assert "ConnectError" in str(caught.value)


# -- the token request --------------------------------------------------------------------------


def test_private_key_jwt_dpop_token_request(
    make_source: Callable[..., TokenSource], key: DPoPKey
) -> None:
    fake = FakeAS()
    source = make_source(
        fake, resource=("https://rs.example/a", "https://rs.example/b"), scope="read write"
    )
    assert source.token() == "access-token-1"
    assert source.requests == 2  # one use_dpop_nonce round trip
    first, second = fake.token_requests
    assert "nonce" not in proof_claims(first)
    assert proof_claims(second)["nonce"] == "as-nonce"
    assert proof_claims(second)["htu"] == TOKEN_ENDPOINT
    assert proof_claims(second)["htm"] == "POST"
    assert "ath" not in proof_claims(second)
    assert "Authorization" not in second.headers
    form = form_of(second)
    assert form["grant_type"] == ["client_credentials"]
    assert form["client_id"] == [CLIENT_ID]
    assert form["client_assertion_type"] == [ASSERTION_TYPE]
    assert form["resource"] == ["https://rs.example/a", "https://rs.example/b"]  # RFC 8707 §2
    assert form["scope"] == ["read write"]
    (assertion,) = form["client_assertion"]
    header, claims = jws_parts(assertion)
    assert header["kid"] == key.signing_key.kid
    assert header["alg"] == "ES256"
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["aud"] == TOKEN_ENDPOINT  # RFC 7523 §3: the token endpoint
    assert claims["iat"] == NOW
    assert claims["exp"] == NOW + 60
    assert len(claims["jti"]) >= 16
    parts = split_compact(assertion, max_bytes=8192)
    spec, public = key.signing_key.spec, key.signing_key.public_key.key
    assert verify(spec, public, parts.signing_input, parts.signature)


def test_each_token_request_has_a_new_assertion(
    make_source: Callable[..., TokenSource], clock: FakeClock
) -> None:
    fake = FakeAS(nonce=False)
    source = make_source(fake)
    source.token()
    clock.now += 1000
    source.token()
    first, second = (form_of(r)["client_assertion"][0] for r in fake.token_requests)
    assert jws_parts(first)[1]["jti"] != jws_parts(second)[1]["jti"]


def test_the_nonce_retry_carries_a_new_assertion(make_source: Callable[..., TokenSource]) -> None:
    fake = FakeAS()
    make_source(fake).token()
    first, second = (form_of(r)["client_assertion"][0] for r in fake.token_requests)
    assert jws_parts(first)[1]["jti"] != jws_parts(second)[1]["jti"]


def test_a_separate_dpop_key_binds_the_token(
    make_source: Callable[..., TokenSource], key: DPoPKey
) -> None:
    other = DPoPKey.generate()
    fake = FakeAS()
    source = make_source(fake, dpop_key=other)
    source.token()
    proof = fake.token_requests[-1].headers["DPoP"]
    assert jws_parts(proof)[0]["jwk"]["x"] == other.signing_key.public_jwk()["x"]
    assertion = form_of(fake.token_requests[-1])["client_assertion"][0]
    assert jws_parts(assertion)[0]["kid"] == key.signing_key.kid


def _basic_credentials(request: httpx.Request) -> tuple[str, str]:
    scheme, _, credentials = request.headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    user, _, password = base64.b64decode(credentials).decode().partition(":")
    return unquote(user), unquote(password)  # RFC 6749 §2.3.1: both form-urlencoded


def test_client_secret_basic(make_source: Callable[..., TokenSource]) -> None:
    fake = FakeAS(token_type="Bearer")
    source = make_source(
        fake,
        mode="mtls",
        auth="client_secret_basic",
        key=None,
        client_secret=Secret("s3cret:with/odd chars"),
    )
    source.token()
    request = fake.token_requests[-1]
    assert _basic_credentials(request) == (CLIENT_ID, "s3cret:with/odd chars")
    form = form_of(request)
    assert "client_assertion" not in form
    assert "client_id" not in form


def test_client_secret_basic_with_dpop(
    make_source: Callable[..., TokenSource], key: DPoPKey
) -> None:
    fake = FakeAS()
    source = make_source(
        fake, auth="client_secret_basic", key=None, dpop_key=key, client_secret=Secret("s3cret")
    )
    source.token()
    for request in fake.token_requests:
        assert "DPoP" in request.headers
        assert _basic_credentials(request) == (CLIENT_ID, "s3cret")


def test_a_token_that_is_not_dpop_bound_is_refused_in_dpop_mode(
    make_source: Callable[..., TokenSource],
) -> None:
    """RFC 9449 §5: a client that asked for DPoP discards a Bearer response."""
    fake = FakeAS(token_type="Bearer")
    source = make_source(fake)
    with pytest.raises(ClientError) as caught:
        source.token()
    assert "access-token-1" not in str(caught.value)
    with pytest.raises(ClientError):  # nothing was cached
        source.token()
    assert fake.issued == 2


def test_token_type_is_compared_case_insensitively(
    make_source: Callable[..., TokenSource],
) -> None:
    assert make_source(FakeAS(token_type="dpop")).token() == "access-token-1"


def test_mtls_mode_sends_client_id_and_the_nginx_escaped_certificate(
    make_source: Callable[..., TokenSource],
) -> None:
    cert = self_signed_certificate()
    fake = FakeAS(token_type="Bearer")
    source = make_source(
        fake,
        mode="mtls",
        auth="self_signed_tls_client_auth",
        key=None,
        certificate_pem=cert.pem,
        client_cert_header=CERT_HEADER,
    )
    assert source.token() == "access-token-1"
    assert source.requests == 1
    (request,) = fake.token_requests
    assert "DPoP" not in request.headers
    assert "Authorization" not in request.headers
    form = form_of(request)
    assert form["client_id"] == [CLIENT_ID]  # RFC 8705 §2
    assert "client_assertion" not in form
    value = request.headers[CERT_HEADER]
    assert value.startswith("-----BEGIN%20CERTIFICATE-----%0A")
    assert "+" not in value.replace("%2B", "")  # a space is %20, never +
    assert " " not in value
    assert "\n" not in value
    assert unquote(value) == cert.pem
    assert source.certificate_headers == {CERT_HEADER: value}


def test_escaped_certificate_is_nginx_escaping() -> None:
    assert escaped_certificate("-----BEGIN X-----\nab+/=\n") == (
        "-----BEGIN%20X-----%0Aab%2B%2F%3D%0A"
    )


def test_tls_client_auth_sends_client_id(make_source: Callable[..., TokenSource]) -> None:
    cert = self_signed_certificate()
    fake = FakeAS(token_type="Bearer")
    source = make_source(
        fake,
        mode="mtls",
        auth="tls_client_auth",
        key=None,
        certificate_pem=cert.pem,
        client_cert_header=CERT_HEADER,
    )
    source.token()
    assert form_of(fake.token_requests[-1])["client_id"] == [CLIENT_ID]


def test_a_dpop_token_is_refused_in_mtls_mode(make_source: Callable[..., TokenSource]) -> None:
    cert = self_signed_certificate()
    source = make_source(
        FakeAS(token_type="DPoP"),
        mode="mtls",
        auth="self_signed_tls_client_auth",
        key=None,
        certificate_pem=cert.pem,
        client_cert_header=CERT_HEADER,
    )
    with pytest.raises(ClientError):
        source.token()


@pytest.mark.parametrize(
    ("kw", "what"),
    [
        ({"auth": "private_key_jwt", "key": None}, "private_key_jwt"),
        ({"auth": "client_secret_basic", "key": None}, "client_secret_basic"),
        ({"auth": "tls_client_auth", "mode": "dpop", "key": None}, "dpop mode"),
        ({"client_cert_header": CERT_HEADER}, "certificate"),
    ],
)
def test_incomplete_configuration_is_refused(kw: dict[str, Any], what: str, key: DPoPKey) -> None:
    with pytest.raises(ValueError, match=what):
        TokenSource(ISSUER, CLIENT_ID, **({"key": key} | kw))


# -- caching and refresh ------------------------------------------------------------------------


def test_the_token_is_cached(make_source: Callable[..., TokenSource]) -> None:
    fake = FakeAS()
    source = make_source(fake)
    assert [source.token() for _ in range(5)] == ["access-token-1"] * 5
    assert source.requests == 2
    assert len(fake.token_requests) == 2
    assert len(fake.requests) == 3  # + discovery once


@pytest.mark.parametrize(("jitter", "ahead"), [(0, 30), (10, 40)])
def test_the_token_is_refreshed_shortly_before_it_expires(
    make_source: Callable[..., TokenSource],
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    jitter: int,
    ahead: int,
) -> None:
    """300 s tokens are replaced 30 s before expiry, plus up to 10 s of jitter."""
    monkeypatch.setattr(token_source_module.secrets, "randbelow", lambda n: min(jitter, n - 1))
    fake = FakeAS()
    source = make_source(fake)
    assert source.token() == "access-token-1"
    clock.now = NOW + 300 - ahead - 1
    assert source.token() == "access-token-1"
    assert len(fake.token_requests) == 2
    clock.now = NOW + 300 - ahead
    assert source.token() == "access-token-2"
    # the AS nonce is remembered: the refresh needs no second round trip
    assert len(fake.token_requests) == 3
    assert source.requests == 3


def test_the_refresh_point_is_jittered_within_bounds(
    make_source: Callable[..., TokenSource],
) -> None:
    points = set()
    for _ in range(40):
        source = make_source(FakeAS(nonce=False))
        source.token()
        points.add(source._refresh_at - NOW)
    assert points <= set(range(260, 271))
    assert len(points) > 1  # not one fixed point for a whole fleet


def test_a_short_lived_token_is_refreshed_before_it_expires(
    make_source: Callable[..., TokenSource], clock: FakeClock
) -> None:
    fake = FakeAS(expires_in=20)
    source = make_source(fake)
    source.token()
    clock.now = NOW + 14
    assert source.token() == "access-token-1"
    clock.now = NOW + 19
    assert source.token() == "access-token-2"


def test_an_expired_token_is_never_returned(
    make_source: Callable[..., TokenSource], clock: FakeClock
) -> None:
    source = make_source(FakeAS())
    source.token()
    clock.now = NOW + 300
    assert source.token() == "access-token-2"


def test_invalidate_forgets_the_token(make_source: Callable[..., TokenSource]) -> None:
    source = make_source(FakeAS())
    source.token()
    source.invalidate()
    assert source.token() == "access-token-2"


def test_the_refresh_token_is_used_when_issued(
    make_source: Callable[..., TokenSource], clock: FakeClock
) -> None:
    fake = FakeAS(refresh_tokens=True)
    source = make_source(fake, scope="read")
    source.token()
    assert form_of(fake.token_requests[-1])["grant_type"] == ["client_credentials"]
    clock.now = NOW + 295
    assert source.token() == "access-token-2"
    form = form_of(fake.token_requests[-1])
    assert form["grant_type"] == ["refresh_token"]
    assert form["refresh_token"] == ["refresh-token-1"]
    assert form["client_assertion_type"] == [ASSERTION_TYPE]  # still authenticated
    assert "DPoP" in fake.token_requests[-1].headers  # and still bound
    clock.now = NOW + 590
    source.token()
    assert form_of(fake.token_requests[-1])["refresh_token"] == ["refresh-token-2"]


def test_without_a_refresh_token_client_credentials_is_repeated(
    make_source: Callable[..., TokenSource], clock: FakeClock
) -> None:
    fake = FakeAS()
    source = make_source(fake)
    source.token()
    clock.now = NOW + 295
    source.token()
    assert [form_of(r)["grant_type"] for r in fake.token_requests] == [["client_credentials"]] * 3


def test_eight_threads_share_one_token_request(make_source: Callable[..., TokenSource]) -> None:
    fake = FakeAS(delay=0.05)
    source = make_source(fake)
    barrier = threading.Barrier(8)
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait(timeout=5)
            results.append(source.token())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert results == ["access-token-1"] * 8
    assert len(fake.token_requests) == 2  # one token request + its nonce retry
    assert source.requests == 2
    assert fake.paths().count("/.well-known/oauth-authorization-server") == 1


async def test_eight_tasks_share_one_token_request(make_source: Callable[..., TokenSource]) -> None:
    fake = FakeAS(delay=0.05)
    source = make_source(fake)
    results = await asyncio.wait_for(
        asyncio.gather(*(source.token_async() for _ in range(8))), timeout=10
    )
    assert results == ["access-token-1"] * 8
    assert len(fake.token_requests) == 2
    assert source.requests == 2
    # cached afterwards, without a worker thread
    assert await source.token_async() == "access-token-1"
    assert len(fake.token_requests) == 2


def test_token_async_works_across_event_loops(
    make_source: Callable[..., TokenSource], clock: FakeClock
) -> None:
    """The same source used from two ``asyncio.run`` calls, each with concurrent tasks."""
    fake = FakeAS(delay=0.02)
    source = make_source(fake)

    async def burst() -> list[str]:
        return await asyncio.wait_for(
            asyncio.gather(*(source.token_async() for _ in range(4))), timeout=10
        )

    assert asyncio.run(burst()) == ["access-token-1"] * 4
    clock.now += 1000
    assert asyncio.run(burst()) == ["access-token-2"] * 4


# -- errors -------------------------------------------------------------------------------------


ERRORS = [
    (400, {"error": "invalid_client", "error_description": "client assertion is used"}),
    (401, {"error": "invalid_client"}),
    (400, {"error": "invalid_scope"}),
    (400, {"error": "invalid_target", "error_description": "Unknown resource"}),
]


@pytest.mark.parametrize(("status", "body"), ERRORS)
def test_errors_carry_the_oauth_code_and_no_secret(
    make_source: Callable[..., TokenSource], status: int, body: dict[str, Any]
) -> None:
    fake = FakeAS(error=(status, body))
    secret = "client-secret-that-must-not-leak"
    source = make_source(
        fake, mode="mtls", auth="client_secret_basic", key=None, client_secret=Secret(secret)
    )
    with pytest.raises(ClientError) as caught:
        source.token()
    exc = caught.value
    assert exc.error == body["error"]
    assert exc.status == status
    assert body["error"] in str(exc)
    text = f"{exc} {exc!r} {exc.args} {source!r}"
    assert secret not in text
    assert fake.token_requests[-1].headers["Authorization"].partition(" ")[2] not in text
    assert body.get("error_description", "error_description") not in text


@pytest.mark.parametrize(("status", "body"), ERRORS)
def test_dpop_errors_carry_the_oauth_code_and_no_proof_or_key(
    make_source: Callable[..., TokenSource], key: DPoPKey, status: int, body: dict[str, Any]
) -> None:
    fake = FakeAS(error=(status, body))
    with pytest.raises(ClientError) as caught:
        make_source(fake).token()
    exc = caught.value
    assert (exc.error, exc.status) == (body["error"], status)
    text = f"{exc} {exc!r} {exc.args}"
    request = fake.token_requests[-1]
    assert request.headers["DPoP"] not in text
    assert form_of(request)["client_assertion"][0] not in text
    assert key.signing_key.private_jwk()["d"] not in text
    assert body.get("error_description", "error_description") not in text


def test_an_assertion_never_appears_in_an_error(make_source: Callable[..., TokenSource]) -> None:
    fake = FakeAS(error=(400, {"error": "invalid_client"}))
    with pytest.raises(ClientError) as caught:
        make_source(fake).token()
    assertion = form_of(fake.token_requests[-1])["client_assertion"][0]
    assert assertion not in f"{caught.value} {caught.value!r}"


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, content=b"not json"),
        httpx.Response(200, json=["a list"]),
        httpx.Response(200, json={"token_type": "DPoP"}),
        httpx.Response(200, json={"access_token": "", "token_type": "DPoP"}),
        httpx.Response(503, content=b"<html>busy</html>"),
    ],
    ids=["not-json", "list", "no-token", "empty-token", "503-html"],
)
def test_malformed_token_responses_are_client_errors(
    key: DPoPKey, clock: FakeClock, response: httpx.Response
) -> None:
    fake = FakeAS(nonce=False)

    def handler(request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN_ENDPOINT:
            return response
        return fake(request)

    source = TokenSource(
        ISSUER,
        CLIENT_ID,
        key=key,
        clock=clock,
        http=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    with source.http, pytest.raises(ClientError) as caught:
        source.token()
    assert caught.value.error is None


def test_reprs_hide_tokens_and_keys(make_source: Callable[..., TokenSource], key: DPoPKey) -> None:
    fake = FakeAS(refresh_tokens=True)
    source = make_source(fake)
    source.token()
    current = source._current
    assert current is not None
    text = f"{source!r} {current!r} {source.nonces!r}"
    assert "access-token-1" not in text
    assert "refresh-token-1" not in text
    assert key.signing_key.private_jwk()["d"] not in text
    assert "refresh_token" not in current.raw
    assert "access_token" not in current.raw
