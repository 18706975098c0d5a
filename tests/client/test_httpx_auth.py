"""``DPoPAuth``: a fresh proof per request, per-origin nonces, exactly one retry (RFC 9449 §8, §9).

Most paths are checked by driving the httpx auth generator by hand (``next(flow)``,
``flow.send(response)``; STYLE §2.11 item 2), the rest through ``httpx.Client`` and
``httpx.AsyncClient`` over a ``MockTransport``. The clock is fixed, so every ``iat`` is known.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from tests.client._support import jws_parts, proof_claims

from proofbound.client import DPoPAuth, DPoPKey, NonceCache
from proofbound.client.httpx_auth import SKEW_TOLERANCE, retry_reason
from proofbound.client.nonces import origin_of
from proofbound.dpop.htu import normalize_htu
from proofbound.dpop.proof import access_token_hash
from proofbound.jwk.thumbprint import jwk_thumbprint

NOW = 1_700_000_000
AS_ORIGIN = "https://as.example:443"
RS_ORIGIN = "https://rs.example:443"
TOKEN_ENDPOINT = "https://as.example/token"
RESOURCE = "https://rs.example/api/data"
ACCESS_TOKEN = "at-0123456789"  # a stand-in: DPoPAuth never looks inside the token
RS_NONCE_CHALLENGE = 'DPoP error="use_dpop_nonce", algs="ES256"'
RS_PROOF_CHALLENGE = 'DPoP error="invalid_dpop_proof", algs="ES256"'


@pytest.fixture(scope="module")
def key() -> DPoPKey:
    return DPoPKey.generate()


def fixed_clock() -> float:
    return float(NOW)


def make_auth(key: DPoPKey, token: str | Callable[[], str] | None = None, **kw: Any) -> DPoPAuth:
    kw.setdefault("clock", fixed_clock)
    return DPoPAuth(key, token, **kw)


def http_date(offset: float) -> str:
    return email.utils.formatdate(NOW + offset, usegmt=True)


def as_nonce_error(nonce: str | None = "as-nonce-1", **headers: str) -> httpx.Response:
    if nonce is not None:
        headers["DPoP-Nonce"] = nonce
    return httpx.Response(
        400,
        json={
            "error": "use_dpop_nonce",
            "error_description": "Authorization server requires nonce",
        },
        headers=headers,
    )


def rs_nonce_error(nonce: str | None = "rs-nonce-1", **headers: str) -> httpx.Response:
    headers["WWW-Authenticate"] = RS_NONCE_CHALLENGE
    if nonce is not None:
        headers["DPoP-Nonce"] = nonce
    return httpx.Response(401, headers=headers)


def token_request() -> httpx.Request:
    return httpx.Request("POST", TOKEN_ENDPOINT, data={"grant_type": "client_credentials"})


def resource_request(url: str = RESOURCE) -> httpx.Request:
    return httpx.Request("GET", url)


def finish(flow: Iterator[httpx.Request] | Any, response: httpx.Response) -> None:
    """Send the last response: the flow must end there (no further request)."""
    with pytest.raises(StopIteration):
        flow.send(response)


# -- one retry on use_dpop_nonce ----------------------------------------------------------------


def test_as_use_dpop_nonce_is_retried_once_with_a_fresh_proof(key: DPoPKey) -> None:
    auth = make_auth(key)
    flow = auth.sync_auth_flow(token_request())
    sent = next(flow)
    first = proof_claims(sent)
    assert "nonce" not in first
    assert "ath" not in first  # no access token at the token endpoint
    assert "Authorization" not in sent.headers

    retry = flow.send(as_nonce_error("as-nonce-1"))
    second = proof_claims(retry)
    assert second["nonce"] == "as-nonce-1"
    assert second["jti"] != first["jti"]
    assert (
        (second["htm"], second["htu"]) == (first["htm"], first["htu"]) == ("POST", TOKEN_ENDPOINT)
    )
    assert second["iat"] == first["iat"] == NOW
    finish(flow, httpx.Response(200, json={"access_token": "x", "token_type": "DPoP"}))
    assert auth.nonces.get(AS_ORIGIN) == "as-nonce-1"


def test_rs_use_dpop_nonce_challenge_is_retried_once(key: DPoPKey) -> None:
    auth = make_auth(key, ACCESS_TOKEN)
    flow = auth.sync_auth_flow(resource_request())
    sent = next(flow)
    first = proof_claims(sent)
    assert sent.headers["Authorization"] == f"DPoP {ACCESS_TOKEN}"
    assert "nonce" not in first

    retry = flow.send(rs_nonce_error("rs-nonce-1"))
    second = proof_claims(retry)
    assert retry.headers["Authorization"] == f"DPoP {ACCESS_TOKEN}"
    assert second["nonce"] == "rs-nonce-1"
    assert second["jti"] != first["jti"]
    assert second["ath"] == first["ath"] == access_token_hash(ACCESS_TOKEN)
    finish(flow, httpx.Response(200, json={"ok": True}))


@pytest.mark.parametrize("where", ["as", "rs"])
def test_a_second_nonce_error_is_not_retried(key: DPoPKey, where: str) -> None:
    """The loop guard: one retry, never two, even when the server sends yet another nonce."""
    auth = make_auth(key, None if where == "as" else ACCESS_TOKEN)
    error = as_nonce_error if where == "as" else rs_nonce_error
    origin = AS_ORIGIN if where == "as" else RS_ORIGIN
    flow = auth.sync_auth_flow(token_request() if where == "as" else resource_request())
    next(flow)
    flow.send(error("nonce-1"))
    finish(flow, error("nonce-2"))
    assert auth.nonces.get(origin) == "nonce-2"  # still learned, for the next request


@pytest.mark.parametrize("where", ["as", "rs"])
def test_a_nonce_error_without_a_nonce_is_not_retried(key: DPoPKey, where: str) -> None:
    auth = make_auth(key, None if where == "as" else ACCESS_TOKEN)
    flow = auth.sync_auth_flow(token_request() if where == "as" else resource_request())
    next(flow)
    finish(flow, as_nonce_error(None) if where == "as" else rs_nonce_error(None))


@pytest.mark.parametrize(
    "response",
    [
        # a nonce header on a refusal that is not a nonce challenge
        httpx.Response(400, json={"error": "invalid_client"}, headers={"DPoP-Nonce": "n"}),
        httpx.Response(401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}),
        # use_dpop_nonce named on the wrong scheme, or on the wrong status
        httpx.Response(
            401,
            headers={"WWW-Authenticate": 'Bearer error="use_dpop_nonce"', "DPoP-Nonce": "n"},
        ),
        httpx.Response(403, headers={"WWW-Authenticate": RS_NONCE_CHALLENGE, "DPoP-Nonce": "n"}),
        httpx.Response(500, json={"error": "use_dpop_nonce"}, headers={"DPoP-Nonce": "n"}),
        # a 400 whose body is not JSON, or not an object
        httpx.Response(400, content=b"use_dpop_nonce", headers={"DPoP-Nonce": "n"}),
        httpx.Response(400, json=["use_dpop_nonce"], headers={"DPoP-Nonce": "n"}),
    ],
    ids=["400-other-error", "bearer-401", "bearer-nonce", "403", "500", "400-text", "400-list"],
)
def test_other_refusals_are_not_retried(key: DPoPKey, response: httpx.Response) -> None:
    flow = make_auth(key, ACCESS_TOKEN).sync_auth_flow(resource_request())
    next(flow)
    finish(flow, response)


def test_a_streamed_body_is_not_retried(key: DPoPKey) -> None:
    """A body that cannot be sent twice is not re-sent; the nonce is still learned."""
    auth = make_auth(key)
    request = httpx.Request("POST", TOKEN_ENDPOINT, content=iter([b"grant_type=", b"x"]))
    flow = auth.sync_auth_flow(request)
    next(flow)
    finish(flow, as_nonce_error("as-nonce-1"))
    assert auth.nonces.get(AS_ORIGIN) == "as-nonce-1"


class StreamingTransport(httpx.BaseTransport):
    """Consumes the request body the way a network transport does: by iterating its stream,
    never buffering it (``MockTransport`` calls ``request.read()``, which makes any body
    replayable)."""

    def __init__(self, respond: Callable[[httpx.Request], httpx.Response]) -> None:
        self.respond = respond
        self.bodies: list[bytes] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(b"".join(request.stream))  # type: ignore[arg-type]
        return self.respond(request)


class AsyncStreamingTransport(httpx.AsyncBaseTransport):
    def __init__(self, respond: Callable[[httpx.Request], httpx.Response]) -> None:
        self.respond = respond
        self.bodies: list[bytes] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        chunks = [chunk async for chunk in request.stream]  # type: ignore[union-attr]
        self.bodies.append(b"".join(chunks))
        return self.respond(request)


def test_a_streamed_body_is_not_retried_through_a_client(key: DPoPKey) -> None:
    transport = StreamingTransport(lambda request: as_nonce_error())
    auth = make_auth(key)
    with httpx.Client(transport=transport, auth=auth) as client:
        response = client.post(
            TOKEN_ENDPOINT, content=iter([b"grant_type=", b"client_credentials"])
        )
    assert response.status_code == 400
    assert transport.bodies == [b"grant_type=client_credentials"]
    assert auth.nonces.get(AS_ORIGIN) == "as-nonce-1"


def test_a_buffered_body_is_retried_whole_through_a_client(key: DPoPKey) -> None:
    answers = iter([as_nonce_error(), httpx.Response(200, json={})])
    transport = StreamingTransport(lambda request: next(answers))
    with httpx.Client(transport=transport, auth=make_auth(key)) as client:
        response = client.post(TOKEN_ENDPOINT, data={"grant_type": "client_credentials"})
    assert response.status_code == 200
    assert transport.bodies == [b"grant_type=client_credentials"] * 2


# -- nonces: learned from every response, one per origin, validated -----------------------------


def test_a_nonce_from_a_200_response_is_used_in_the_next_proof(key: DPoPKey) -> None:
    auth = make_auth(key, ACCESS_TOKEN)
    flow = auth.sync_auth_flow(resource_request())
    assert "nonce" not in proof_claims(next(flow))
    finish(flow, httpx.Response(200, headers={"DPoP-Nonce": "rolled-1"}))

    flow = auth.sync_auth_flow(resource_request())
    assert proof_claims(next(flow))["nonce"] == "rolled-1"
    finish(flow, httpx.Response(200, headers={"DPoP-Nonce": "rolled-2"}))

    flow = auth.sync_auth_flow(resource_request())
    assert proof_claims(next(flow))["nonce"] == "rolled-2"
    finish(flow, httpx.Response(200))  # no new nonce: the last one stays
    assert auth.nonces.get(RS_ORIGIN) == "rolled-2"


def test_nonces_are_kept_per_origin(key: DPoPKey) -> None:
    """The AS's nonce never goes to the RS and the other way round (RFC 9449 §9)."""
    proofs: dict[str, list[dict[str, Any]]] = {"as.example": [], "rs.example": []}

    def handler(request: httpx.Request) -> httpx.Response:
        claims = proof_claims(request)
        proofs[request.url.host].append(claims)
        if request.url.host == "as.example":
            if claims.get("nonce") != "as-n":
                return as_nonce_error("as-n")
            return httpx.Response(200, json={"access_token": "x", "token_type": "DPoP"})
        if claims.get("nonce") != "rs-n":
            return rs_nonce_error("rs-n")
        return httpx.Response(200, json={"ok": True})

    nonces = NonceCache()
    as_auth = make_auth(key, nonces=nonces)
    rs_auth = make_auth(key, ACCESS_TOKEN, nonces=nonces)
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        assert client.post(TOKEN_ENDPOINT, auth=as_auth).status_code == 200
        assert client.get(RESOURCE, auth=rs_auth).status_code == 200
        assert client.post(TOKEN_ENDPOINT, auth=as_auth).status_code == 200
        assert client.get(RESOURCE + "?page=2", auth=rs_auth).status_code == 200
        # the same origin spelled with its default port shares the nonce
        assert client.get("https://rs.example:443/api/other", auth=rs_auth).status_code == 200

    assert [p.get("nonce") for p in proofs["as.example"]] == [None, "as-n", "as-n"]
    assert [p.get("nonce") for p in proofs["rs.example"]] == [None, "rs-n", "rs-n", "rs-n"]
    assert nonces.get(AS_ORIGIN) == "as-n"
    assert nonces.get(RS_ORIGIN) == "rs-n"


def test_origins_differ_by_scheme_host_and_port() -> None:
    assert origin_of(httpx.URL("https://rs.example/a")) == "https://rs.example:443"
    assert origin_of(httpx.URL("http://rs.example/a")) == "http://rs.example:80"
    assert origin_of(httpx.URL("https://rs.example:8443/a")) == "https://rs.example:8443"
    nonces = NonceCache()
    nonces.update("https://rs.example:443", "a")
    assert nonces.get("https://rs.example:8443") is None
    assert nonces.get("http://rs.example:80") is None


@pytest.mark.parametrize(
    "value",
    ['a"b', "a\\b", "a b", "a\r\nb", "a\nb", "a\tb", "", "é", "a" * 513],
    ids=["quote", "backslash", "space", "crlf", "lf", "tab", "empty", "non-ascii", "too-long"],
)
def test_invalid_nonce_values_are_ignored(key: DPoPKey, value: str) -> None:
    """Outside ``1*NQCHAR`` (RFC 9449 §8.1): not stored, never put in a proof."""
    nonces = NonceCache()
    assert nonces.update(RS_ORIGIN, "good-1")
    assert not nonces.update(RS_ORIGIN, value)
    assert nonces.get(RS_ORIGIN) == "good-1"

    auth = make_auth(key, ACCESS_TOKEN, nonces=nonces)
    flow = auth.sync_auth_flow(resource_request())
    next(flow)
    finish(flow, httpx.Response(200, headers=[(b"DPoP-Nonce", value.encode())]))
    assert nonces.get(RS_ORIGIN) == "good-1"
    flow = auth.sync_auth_flow(resource_request())
    assert proof_claims(next(flow))["nonce"] == "good-1"


def test_every_nqchar_is_a_valid_nonce() -> None:
    nqchar = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"\\')
    nonces = NonceCache()
    assert nonces.update(RS_ORIGIN, nqchar)
    assert nonces.get(RS_ORIGIN) == nqchar
    assert not nonces.update(RS_ORIGIN, nqchar)  # unchanged


def test_a_nonce_error_with_an_invalid_nonce_is_not_retried(key: DPoPKey) -> None:
    auth = make_auth(key, ACCESS_TOKEN)
    flow = auth.sync_auth_flow(resource_request())
    next(flow)
    finish(flow, rs_nonce_error("a b"))


def test_the_dpop_challenge_may_come_in_its_own_header_field(key: DPoPKey) -> None:
    """Two ``WWW-Authenticate`` fields, Bearer first: the DPoP one is found."""
    response = httpx.Response(
        401,
        headers=[
            ("WWW-Authenticate", 'Bearer realm="api"'),
            ("WWW-Authenticate", RS_NONCE_CHALLENGE),
            ("DPoP-Nonce", "rs-nonce-1"),
        ],
    )
    flow = make_auth(key, ACCESS_TOKEN).sync_auth_flow(resource_request())
    next(flow)
    assert proof_claims(flow.send(response))["nonce"] == "rs-nonce-1"


@pytest.mark.parametrize(
    "challenge",
    [
        'Bearer realm="api", DPoP error="use_dpop_nonce", algs="ES256"',
        'DPoP error=use_dpop_nonce, algs="ES256"',
    ],
    ids=["combined-field", "token-value"],
)
def test_a_nonce_challenge_is_found_wherever_rfc_9110_allows_it(
    key: DPoPKey, challenge: str
) -> None:
    response = httpx.Response(
        401, headers={"WWW-Authenticate": challenge, "DPoP-Nonce": "rs-nonce-1"}
    )
    flow = make_auth(key, ACCESS_TOKEN).sync_auth_flow(resource_request())
    next(flow)
    assert proof_claims(flow.send(response))["nonce"] == "rs-nonce-1"


# -- clock skew ---------------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [120, -120])
@pytest.mark.parametrize("where", ["as", "rs"])
def test_clock_skew_from_the_date_header_is_learned_once(
    key: DPoPKey, offset: int, where: str
) -> None:
    auth = make_auth(key, None if where == "as" else ACCESS_TOKEN)
    refused = (
        httpx.Response(
            400, json={"error": "invalid_dpop_proof"}, headers={"Date": http_date(offset)}
        )
        if where == "as"
        else httpx.Response(
            401, headers={"WWW-Authenticate": RS_PROOF_CHALLENGE, "Date": http_date(offset)}
        )
    )
    flow = auth.sync_auth_flow(token_request() if where == "as" else resource_request())
    first = proof_claims(next(flow))
    assert first["iat"] == NOW
    retry = proof_claims(flow.send(refused))
    assert retry["iat"] == NOW + offset
    assert retry["jti"] != first["jti"]
    finish(flow, httpx.Response(200, headers={"Date": http_date(offset)}))
    assert auth.offset == offset

    # the offset is kept: the next request is right the first time, and not retried again
    flow = auth.sync_auth_flow(token_request() if where == "as" else resource_request())
    assert proof_claims(next(flow))["iat"] == NOW + offset
    finish(flow, refused)  # server time now agrees with ours: no second correction
    assert auth.offset == offset


@pytest.mark.parametrize("offset", [0, 3, -3, SKEW_TOLERANCE, -SKEW_TOLERANCE])
def test_a_date_within_tolerance_is_not_a_reason_to_retry(key: DPoPKey, offset: int) -> None:
    auth = make_auth(key, ACCESS_TOKEN)
    flow = auth.sync_auth_flow(resource_request())
    next(flow)
    finish(
        flow,
        httpx.Response(
            401, headers={"WWW-Authenticate": RS_PROOF_CHALLENGE, "Date": http_date(offset)}
        ),
    )
    assert auth.offset == 0


@pytest.mark.parametrize("date", [None, "yesterday", "", "Tue, 99 Foo 2023 99:99:99 GMT"], ids=repr)
def test_a_missing_or_unreadable_date_is_not_a_reason_to_retry(
    key: DPoPKey, date: str | None
) -> None:
    headers = {"WWW-Authenticate": RS_PROOF_CHALLENGE}
    if date is not None:
        headers["Date"] = date
    auth = make_auth(key, ACCESS_TOKEN)
    flow = auth.sync_auth_flow(resource_request())
    next(flow)
    finish(flow, httpx.Response(401, headers=headers))
    assert auth.offset == 0


def test_a_date_far_off_on_a_success_or_another_error_changes_nothing(key: DPoPKey) -> None:
    auth = make_auth(key, ACCESS_TOKEN)
    for response in (
        httpx.Response(200, headers={"Date": http_date(3600)}),
        httpx.Response(
            401,
            headers={"WWW-Authenticate": 'DPoP error="invalid_token"', "Date": http_date(3600)},
        ),
    ):
        flow = auth.sync_auth_flow(resource_request())
        next(flow)
        finish(flow, response)
    assert auth.offset == 0


def test_skew_then_nonce_is_still_one_retry(key: DPoPKey) -> None:
    auth = make_auth(key, ACCESS_TOKEN)
    flow = auth.sync_auth_flow(resource_request())
    next(flow)
    flow.send(
        httpx.Response(401, headers={"WWW-Authenticate": RS_PROOF_CHALLENGE, "Date": http_date(60)})
    )
    finish(flow, rs_nonce_error("rs-nonce-1"))
    assert auth.offset == 60
    assert auth.nonces.get(RS_ORIGIN) == "rs-nonce-1"


def test_retry_reason() -> None:
    assert retry_reason(rs_nonce_error("n"), now=NOW) == ("nonce", 0.0)
    assert retry_reason(as_nonce_error("n"), now=NOW) == ("nonce", 0.0)
    assert retry_reason(rs_nonce_error(None), now=NOW) is None
    skewed = httpx.Response(
        401, headers={"WWW-Authenticate": RS_PROOF_CHALLENGE, "Date": http_date(120)}
    )
    assert retry_reason(skewed, now=NOW) == ("skew", 120.0)
    assert retry_reason(httpx.Response(200), now=NOW) is None


# -- the proof itself ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "htu"),
    [
        ("https://rs.example/api/data?x=1&y=2", "https://rs.example/api/data"),
        ("https://rs.example/api/data#frag", "https://rs.example/api/data"),
        ("https://rs.example/api/data?x=1#frag", "https://rs.example/api/data"),
        ("https://rs.example:8443/p?q", "https://rs.example:8443/p"),
        ("https://rs.example", "https://rs.example/"),
    ],
)
def test_htu_has_no_query_or_fragment(key: DPoPKey, url: str, htu: str) -> None:
    flow = make_auth(key, ACCESS_TOKEN).sync_auth_flow(resource_request(url))
    sent = next(flow)
    claims = proof_claims(sent)
    # compared as a server does (RFC 9449 §4.3: RFC 3986 syntax- and scheme-based normalisation)
    assert normalize_htu(claims["htu"]) == htu
    assert "?" not in claims["htu"]
    assert "#" not in claims["htu"]
    assert claims["htm"] == "GET"
    assert sent.url == httpx.URL(url)  # the request itself is not changed


def test_htm_is_the_method_as_sent(key: DPoPKey) -> None:
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
        flow = make_auth(key, ACCESS_TOKEN).sync_auth_flow(httpx.Request(method, RESOURCE))
        assert proof_claims(next(flow))["htm"] == method


def test_ath_matches_the_token_and_the_header_carries_the_key(key: DPoPKey) -> None:
    flow = make_auth(key, ACCESS_TOKEN).sync_auth_flow(resource_request())
    sent = next(flow)
    header, claims = jws_parts(sent.headers["DPoP"])
    assert claims["ath"] == access_token_hash(ACCESS_TOKEN)
    assert header["typ"] == "dpop+jwt"
    assert header["alg"] == key.alg == "ES256"
    assert jwk_thumbprint(header["jwk"]) == key.thumbprint
    assert "d" not in header["jwk"]
    assert sent.headers["Authorization"] == f"DPoP {ACCESS_TOKEN}"


def test_a_callable_token_is_read_per_request(key: DPoPKey) -> None:
    tokens = iter(["token-1", "token-2"])
    auth = make_auth(key, lambda: next(tokens))
    for expected in ("token-1", "token-2"):
        flow = auth.sync_auth_flow(resource_request())
        sent = next(flow)
        assert sent.headers["Authorization"] == f"DPoP {expected}"
        assert proof_claims(sent)["ath"] == access_token_hash(expected)


def test_every_proof_has_a_new_jti(key: DPoPKey) -> None:
    auth = make_auth(key, ACCESS_TOKEN)
    jtis = set()
    for _ in range(50):
        flow = auth.sync_auth_flow(resource_request())
        jtis.add(proof_claims(next(flow))["jti"])
    assert len(jtis) == 50


def test_repr_hides_the_key(key: DPoPKey) -> None:
    auth = make_auth(key, ACCESS_TOKEN)
    private = key.signing_key.private_jwk()["d"]
    for text in (repr(auth), str(auth), repr(key), str(key), repr(auth.nonces)):
        assert private not in text
        assert ACCESS_TOKEN not in text
    assert key.thumbprint[:8] in repr(auth)


# -- through httpx clients ----------------------------------------------------------------------


class Recorder:
    """A MockTransport handler: answers with the queued responses, records what it got."""

    def __init__(self, *responses: httpx.Response) -> None:
        self.responses = list(responses)
        self.proofs: list[dict[str, Any]] = []
        self.authorizations: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.proofs.append(proof_claims(request))
        self.authorizations.append(request.headers.get("Authorization"))
        return self.responses.pop(0)


def test_sync_client_as_nonce_round_trip(key: DPoPKey) -> None:
    recorder = Recorder(
        as_nonce_error("as-nonce-1"),
        httpx.Response(200, json={"access_token": "x", "token_type": "DPoP"}),
    )
    auth = make_auth(key)
    with httpx.Client(transport=httpx.MockTransport(recorder)) as client:
        response = client.post(TOKEN_ENDPOINT, data={"grant_type": "client_credentials"}, auth=auth)
    assert response.status_code == 200
    assert len(recorder.proofs) == 2
    first, second = recorder.proofs
    assert "nonce" not in first
    assert second["nonce"] == "as-nonce-1"
    assert first["jti"] != second["jti"]
    assert recorder.authorizations == [None, None]


def test_sync_client_rs_nonce_round_trip_then_cached_nonce(key: DPoPKey) -> None:
    recorder = Recorder(
        rs_nonce_error("rs-nonce-1"),
        httpx.Response(200, json={"ok": True}),
        httpx.Response(200, json={"ok": True}),
    )
    with httpx.Client(
        transport=httpx.MockTransport(recorder), auth=make_auth(key, ACCESS_TOKEN)
    ) as client:
        assert client.get(RESOURCE).status_code == 200
        assert len(recorder.proofs) == 2
        assert client.get(RESOURCE).status_code == 200
    assert len(recorder.proofs) == 3  # the second call needs no nonce round trip
    assert [p.get("nonce") for p in recorder.proofs] == [None, "rs-nonce-1", "rs-nonce-1"]
    assert recorder.authorizations == [f"DPoP {ACCESS_TOKEN}"] * 3


def test_sync_client_loop_guard(key: DPoPKey) -> None:
    recorder = Recorder(*(rs_nonce_error(f"n-{i}") for i in range(5)))
    with httpx.Client(
        transport=httpx.MockTransport(recorder), auth=make_auth(key, ACCESS_TOKEN)
    ) as client:
        response = client.get(RESOURCE)
    assert response.status_code == 401
    assert len(recorder.proofs) == 2


async def test_async_client_rs_nonce_round_trip(key: DPoPKey) -> None:
    recorder = Recorder(
        rs_nonce_error("rs-nonce-1"),
        httpx.Response(200, json={"ok": True}),
        httpx.Response(200, json={"ok": True}),
    )
    calls = 0

    async def token() -> str:
        nonlocal calls
        calls += 1
        return ACCESS_TOKEN

    auth = DPoPAuth(key, async_access_token=token, clock=fixed_clock)
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder), auth=auth) as client:
        assert (await client.get(RESOURCE)).status_code == 200
        assert (await client.get(RESOURCE)).status_code == 200
    assert calls == 2  # once per request, not per attempt
    assert [p.get("nonce") for p in recorder.proofs] == [None, "rs-nonce-1", "rs-nonce-1"]
    assert len({p["jti"] for p in recorder.proofs}) == 3
    assert all(p["ath"] == access_token_hash(ACCESS_TOKEN) for p in recorder.proofs)


async def test_async_client_as_nonce_round_trip_and_loop_guard(key: DPoPKey) -> None:
    recorder = Recorder(
        as_nonce_error("as-nonce-1"),
        httpx.Response(200, json={"access_token": "x", "token_type": "DPoP"}),
        as_nonce_error("as-nonce-2"),
        as_nonce_error("as-nonce-3"),
    )
    auth = make_auth(key)
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder), auth=auth) as client:
        assert (await client.post(TOKEN_ENDPOINT, data={"a": "b"})).status_code == 200
        assert (await client.post(TOKEN_ENDPOINT, data={"a": "b"})).status_code == 400
    assert [p.get("nonce") for p in recorder.proofs] == [
        None,
        "as-nonce-1",
        "as-nonce-1",
        "as-nonce-2",
    ]
    assert auth.nonces.get(AS_ORIGIN) == "as-nonce-3"


async def test_async_client_skew_retry(key: DPoPKey) -> None:
    recorder = Recorder(
        httpx.Response(
            401, headers={"WWW-Authenticate": RS_PROOF_CHALLENGE, "Date": http_date(300)}
        ),
        httpx.Response(200),
    )
    auth = make_auth(key, ACCESS_TOKEN)
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder), auth=auth) as client:
        assert (await client.get(RESOURCE)).status_code == 200
    assert [p["iat"] for p in recorder.proofs] == [NOW, NOW + 300]
    assert auth.offset == 300


async def test_async_client_streamed_body_is_not_retried(key: DPoPKey) -> None:
    transport = AsyncStreamingTransport(lambda request: rs_nonce_error())

    async def body() -> Any:
        yield b"chunk-1"
        yield b"chunk-2"

    auth = make_auth(key, ACCESS_TOKEN)
    async with httpx.AsyncClient(transport=transport, auth=auth) as client:
        response = await client.post(RESOURCE, content=body())
    assert response.status_code == 401
    assert transport.bodies == [b"chunk-1chunk-2"]
    assert auth.nonces.get(RS_ORIGIN) == "rs-nonce-1"
