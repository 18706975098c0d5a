"""The authorization code flow end to end through the real app: PAR with DPoP, login, consent,
code + PKCE + ``dpop_jkt``, bound refresh tokens with rotation and reuse detection -- and every
rejection the issue names (PKCE failures, redirect-URI mismatch, ``dpop_jkt`` mismatch, code
reuse, refresh-token reuse, a public client's refresh without a proof)."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from proofbound import SigningKey, create_proof, generate_key, jwk_thumbprint
from proofbound.server import users as users_module
from proofbound.server.users import LocalUsers, ScryptCost

from .conftest import ISSUER, NOW, REG_TOKEN, RESOURCE, TOKEN_URL, ASHarness

PAR_URL = ISSUER + "/par"
REDIRECT = "https://app.example/callback"
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def fast_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users_module, "SCRYPT_COST", ScryptCost(n=2**4, r=1, p=1))


class _Inputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "input" and named.get("name") and named.get("value") is not None:
            self.values[str(named["name"])] = str(named["value"])


def hidden_inputs(page: str) -> dict[str, str]:
    parser = _Inputs()
    parser.feed(page)
    return parser.values


def challenge_of(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class SPA:
    """A public client driving the flow like a browser app would."""

    harness: ASHarness
    client_id: str
    dpop: SigningKey = field(default_factory=lambda: generate_key("ES256"))
    nonce: str | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        return self.harness.http

    def proof(self, htu: str, key: SigningKey | None = None, **claims: Any) -> str:
        now = self.harness.clock.now()
        return create_proof(key or self.dpop, htm="POST", htu=htu, now=now, nonce=self.nonce)

    async def post(
        self,
        url: str,
        data: dict[str, str] | Callable[[], dict[str, str]],
        *,
        key: SigningKey | None = None,
        proof: bool = True,
    ) -> httpx.Response:
        """POST with a fresh proof, following one use_dpop_nonce (``data`` may be a function,
        for forms with a single-use client assertion)."""
        for _ in range(2):
            headers = {"DPoP": self.proof(url, key)} if proof else {}
            form = data() if callable(data) else data
            response = await self.http.post(url, data=form, headers=headers)
            if response.status_code == 400 and response.json().get("error") == "use_dpop_nonce":
                self.nonce = response.headers["DPoP-Nonce"]
                continue
            return response
        return response

    async def push(self, verifier: str, **extra: str) -> httpx.Response:
        params = {
            "client_id": self.client_id,
            "response_type": "code",
            "redirect_uri": REDIRECT,
            "scope": "read",
            "state": "st-" + secrets.token_hex(4),
            "code_challenge": challenge_of(verifier),
            "code_challenge_method": "S256",
            "resource": RESOURCE,
            **extra,
        }
        return await self.post(PAR_URL, params)

    async def authorize(self, query: dict[str, str], *, approve: bool = True) -> dict[str, str]:
        """GET /authorize, log in if asked, consent; the redirect's query parameters."""
        response = await self.http.get(ISSUER + "/authorize", params=query)
        assert response.status_code == 303, response.text
        location = response.headers["Location"]
        if "/login?" in location:
            login = await self.http.get(ISSUER + location)
            assert login.status_code == 200
            fields = hidden_inputs(login.text)
            response = await self.http.post(
                ISSUER + "/login",
                data={**fields, "username": "alice", "password": PASSWORD},
            )
            assert response.status_code == 303, response.text
            location = response.headers["Location"]
        assert "/consent?" in location
        consent = await self.http.get(ISSUER + location)
        assert consent.status_code == 200
        csp = consent.headers["Content-Security-Policy"]
        assert "form-action 'self' https://app.example" in csp
        fields = hidden_inputs(consent.text)
        decided = await self.http.post(
            ISSUER + "/consent",
            data={**fields, "decision": "approve" if approve else "deny"},
        )
        assert decided.status_code == 303, decided.text
        target = urlsplit(decided.headers["Location"])
        assert f"{target.scheme}://{target.netloc}{target.path}" == REDIRECT
        return {k: v[0] for k, v in parse_qs(target.query).items()}

    async def login_location(self, pushed: httpx.Response) -> str:
        """Where /authorize sends a browser without a session for a pushed request."""
        response = await self.http.get(
            ISSUER + "/authorize",
            params={"client_id": self.client_id, "request_uri": pushed.json()["request_uri"]},
        )
        assert response.status_code == 303, response.text
        return str(response.headers["Location"])

    async def login_code(self, verifier: str, **push_extra: str) -> str:
        pushed = await self.push(verifier, **push_extra)
        assert pushed.status_code == 201, pushed.text
        result = await self.authorize(
            {"client_id": self.client_id, "request_uri": pushed.json()["request_uri"]}
        )
        assert result["iss"] == ISSUER
        return result["code"]

    async def redeem(
        self, code: str, verifier: str, *, key: SigningKey | None = None, **extra: str
    ) -> httpx.Response:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": self.client_id,
            "code_verifier": verifier,
            **extra,
        }
        return await self.post(TOKEN_URL, form, key=key)

    async def refresh(
        self, refresh_token: str, *, key: SigningKey | None = None, proof: bool = True
    ) -> httpx.Response:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": self.client_id,
        }
        return await self.post(TOKEN_URL, form, key=key, proof=proof)


async def register_public(harness: ASHarness, **extra: Any) -> str:
    response = await harness.http.post(
        ISSUER + "/register",
        json={
            "token_endpoint_auth_method": "none",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "dpop_bound_access_tokens": True,
            "scope": "read write",
            "client_name": "Example SPA",
            **extra,
        },
        headers={"Authorization": f"Bearer {REG_TOKEN}"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["client_id"])


@pytest.fixture
async def spa(harness: ASHarness) -> SPA:
    LocalUsers(harness.server.store.engine).add("alice", PASSWORD, now=NOW)
    return SPA(harness, await register_public(harness))


def claims_of(token: str) -> dict[str, Any]:
    import json

    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def assert_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error


# -- the happy path -------------------------------------------------------------------------------


async def test_par_login_consent_code_and_bound_tokens(spa: SPA) -> None:
    verifier = secrets.token_urlsafe(48)
    code = await spa.login_code(verifier)
    response = await spa.redeem(code, verifier)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "DPoP"
    assert body["scope"] == "read"
    assert response.headers["Cache-Control"] == "no-store"
    claims = claims_of(body["access_token"])
    assert claims["sub"] == "alice"
    assert claims["client_id"] == spa.client_id
    assert claims["aud"] == RESOURCE
    assert claims["cnf"] == {"jkt": jwk_thumbprint(spa.dpop.public_key.jwk)}
    # The refresh token is bound to the same key and rotates.
    refreshed = await spa.refresh(body["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["refresh_token"] != body["refresh_token"]
    assert claims_of(refreshed.json()["access_token"])["sub"] == "alice"


async def test_plain_authorization_request_without_par(spa: SPA) -> None:
    verifier = secrets.token_urlsafe(48)
    jkt = jwk_thumbprint(spa.dpop.public_key.jwk)
    result = await spa.authorize(
        {
            "client_id": spa.client_id,
            "response_type": "code",
            "redirect_uri": REDIRECT,
            "state": "xyz",
            "code_challenge": challenge_of(verifier),
            "code_challenge_method": "S256",
            "dpop_jkt": jkt,
        }
    )
    assert result["state"] == "xyz"
    assert result["iss"] == ISSUER  # RFC 9207
    response = await spa.redeem(result["code"], verifier)
    assert response.status_code == 200, response.text
    assert claims_of(response.json()["access_token"])["scope"] == "read write"


async def test_deny_redirects_with_access_denied(spa: SPA) -> None:
    pushed = await spa.push(secrets.token_urlsafe(48))
    result = await spa.authorize(
        {"client_id": spa.client_id, "request_uri": pushed.json()["request_uri"]}, approve=False
    )
    assert result["error"] == "access_denied"
    assert result["iss"] == ISSUER
    assert "code" not in result


async def test_metadata_advertises_the_code_flow(harness: ASHarness) -> None:
    doc = (await harness.http.get(ISSUER + "/.well-known/oauth-authorization-server")).json()
    assert doc["authorization_endpoint"] == ISSUER + "/authorize"
    assert doc["pushed_authorization_request_endpoint"] == PAR_URL
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert doc["response_types_supported"] == ["code"]
    assert {"authorization_code", "refresh_token"} <= set(doc["grant_types_supported"])
    assert "none" in doc["token_endpoint_auth_methods_supported"]
    assert "none" not in doc["introspection_endpoint_auth_methods_supported"]


# -- PKCE ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "verifier",
    [None, "wrong-" + "v" * 50, "short", "x" * 129, "bad chars !" + "a" * 40],
    ids=["missing", "other", "too-short", "too-long", "bad-charset"],
)
async def test_rfc7636_s4_6_wrong_code_verifier_is_invalid_grant(
    spa: SPA, verifier: str | None
) -> None:
    right = secrets.token_urlsafe(48)
    code = await spa.login_code(right)
    form_verifier = {} if verifier is None else {"code_verifier": verifier}
    response = await spa.post(
        TOKEN_URL,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": spa.client_id,
            **form_verifier,
        },
    )
    assert_error(response, 400, "invalid_grant")
    assert (await spa.redeem(code, right)).status_code == 200  # the code was not used up


@pytest.mark.parametrize(
    "change",
    [
        {"code_challenge_method": "plain"},
        {"code_challenge_method": ""},
        {"code_challenge": "too-short"},
        {"code_challenge": None},
        {"code_challenge_method": None},
    ],
    ids=["plain", "empty-method", "malformed", "no-challenge", "no-method"],
)
async def test_rfc7636_pkce_s256_is_required_at_par(spa: SPA, change: dict[str, Any]) -> None:
    params = {
        "client_id": spa.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "code_challenge": challenge_of(secrets.token_urlsafe(48)),
        "code_challenge_method": "S256",
        **change,
    }
    response = await spa.post(PAR_URL, {k: v for k, v in params.items() if v is not None})
    assert_error(response, 400, "invalid_request")


async def test_pkce_missing_at_authorize_is_redirected_as_invalid_request(spa: SPA) -> None:
    response = await spa.http.get(
        ISSUER + "/authorize",
        params={
            "client_id": spa.client_id,
            "response_type": "code",
            "redirect_uri": REDIRECT,
            "state": "s1",
        },
    )
    assert response.status_code == 303
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["error"] == ["invalid_request"]
    assert query["state"] == ["s1"]
    assert query["iss"] == [ISSUER]


# -- redirect URIs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "redirect_uri",
    [
        REDIRECT + "/",
        REDIRECT + "?x=1",
        "https://app.example/CALLBACK",
        "https://evil.example/callback",
        "https://app.example/callback#frag",
    ],
)
async def test_rfc6749_s3_1_2_unregistered_redirect_uri_is_never_redirected_to(
    spa: SPA, redirect_uri: str
) -> None:
    response = await spa.http.get(
        ISSUER + "/authorize",
        params={
            "client_id": spa.client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "code_challenge": challenge_of("v" * 43),
            "code_challenge_method": "S256",
        },
    )
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert "evil" not in response.text
    par = await spa.push("v" * 43, redirect_uri=redirect_uri)
    assert_error(par, 400, "invalid_request")


async def test_rfc6749_s4_1_3_redirect_uri_must_match_at_the_token_endpoint(spa: SPA) -> None:
    verifier = secrets.token_urlsafe(48)
    code = await spa.login_code(verifier)
    response = await spa.redeem(code, verifier, redirect_uri="https://app.example/other")
    assert_error(response, 400, "invalid_grant")
    missing = await spa.post(
        TOKEN_URL,
        {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": spa.client_id,
            "code_verifier": verifier,
        },
    )
    assert_error(missing, 400, "invalid_request")


async def test_unknown_client_at_authorize_is_an_error_page(spa: SPA) -> None:
    response = await spa.http.get(
        ISSUER + "/authorize",
        params={"client_id": "nobody", "response_type": "code", "redirect_uri": REDIRECT},
    )
    assert response.status_code == 400
    assert "Location" not in response.headers


# -- dpop_jkt -------------------------------------------------------------------------------------


async def test_rfc9449_s10_1_par_proof_binds_the_code_to_its_key(spa: SPA) -> None:
    verifier = secrets.token_urlsafe(48)
    code = await spa.login_code(verifier)  # PAR carried a proof by spa.dpop
    other = generate_key("ES256")
    response = await spa.redeem(code, verifier, key=other)
    assert_error(response, 400, "invalid_grant")
    without = await spa.post(
        TOKEN_URL,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": spa.client_id,
            "code_verifier": verifier,
        },
        proof=False,
    )
    assert_error(without, 400, "invalid_dpop_proof")
    assert (await spa.redeem(code, verifier)).status_code == 200


async def test_rfc9449_s10_dpop_jkt_parameter_binds_the_code(spa: SPA) -> None:
    verifier = secrets.token_urlsafe(48)
    other = generate_key("ES256")
    result = await spa.authorize(
        {
            "client_id": spa.client_id,
            "response_type": "code",
            "redirect_uri": REDIRECT,
            "code_challenge": challenge_of(verifier),
            "code_challenge_method": "S256",
            "dpop_jkt": jwk_thumbprint(other.public_key.jwk),
        }
    )
    response = await spa.redeem(result["code"], verifier)  # proof by spa.dpop, not `other`
    assert_error(response, 400, "invalid_grant")


async def test_rfc9449_s10_1_dpop_jkt_and_par_proof_must_agree(spa: SPA) -> None:
    other = generate_key("ES256")
    response = await spa.push("v" * 43, dpop_jkt=jwk_thumbprint(other.public_key.jwk))
    assert_error(response, 400, "invalid_dpop_proof")


# -- code reuse -----------------------------------------------------------------------------------


async def test_rfc6749_s4_1_2_code_reuse_fails_and_revokes_its_tokens(spa: SPA) -> None:
    verifier = secrets.token_urlsafe(48)
    code = await spa.login_code(verifier)
    first = await spa.redeem(code, verifier)
    assert first.status_code == 200
    again = await spa.redeem(code, verifier)
    assert_error(again, 400, "invalid_grant")
    # The tokens issued from the code are revoked: introspection-side and for refresh.
    access_jti = claims_of(first.json()["access_token"])["jti"]
    record = spa.harness.server.store.get_token(access_jti)
    assert record is not None
    assert spa.harness.server.store.is_revoked(record)
    assert_error(await spa.refresh(first.json()["refresh_token"]), 400, "invalid_grant")


async def test_code_of_another_client_or_unknown_or_expired_is_invalid_grant(spa: SPA) -> None:
    verifier = secrets.token_urlsafe(48)
    code = await spa.login_code(verifier)
    other = SPA(spa.harness, await register_public(spa.harness), dpop=spa.dpop)
    other.nonce = spa.nonce
    assert_error(await other.redeem(code, verifier), 400, "invalid_grant")
    assert_error(await spa.redeem("not-a-code", verifier), 400, "invalid_grant")
    spa.harness.clock.advance(61)
    assert_error(await spa.redeem(code, verifier), 400, "invalid_grant")


# -- refresh tokens -------------------------------------------------------------------------------


async def tokens(spa: SPA) -> dict[str, Any]:
    verifier = secrets.token_urlsafe(48)
    response = await spa.redeem(await spa.login_code(verifier), verifier)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_refresh_token_reuse_revokes_the_whole_family(spa: SPA) -> None:
    first = await tokens(spa)
    second = (await spa.refresh(first["refresh_token"])).json()
    reused = await spa.refresh(first["refresh_token"])
    assert_error(reused, 400, "invalid_grant")
    # The rotated successor is revoked too, and so are the family's access tokens.
    assert_error(await spa.refresh(second["refresh_token"]), 400, "invalid_grant")
    store = spa.harness.server.store
    for access in (first["access_token"], second["access_token"]):
        record = store.get_token(claims_of(access)["jti"])
        assert record is not None
        assert store.is_revoked(record)
    feed = (await spa.http.get(ISSUER + "/revocations")).json()
    listed = {e["value"] for e in feed["revocations"] if e["kind"] == "jti"}
    assert claims_of(second["access_token"])["jti"] in listed


async def test_rfc9449_s5_public_client_refresh_without_proof_is_refused(spa: SPA) -> None:
    first = await tokens(spa)
    response = await spa.refresh(first["refresh_token"], proof=False)
    assert_error(response, 400, "invalid_dpop_proof")
    assert (await spa.refresh(first["refresh_token"])).status_code == 200  # not used up


async def test_rfc9449_s5_refresh_with_another_key_is_refused_and_revokes_nothing(spa: SPA) -> None:
    first = await tokens(spa)
    stolen = await spa.refresh(first["refresh_token"], key=generate_key("ES256"))
    assert_error(stolen, 400, "invalid_grant")
    assert (await spa.refresh(first["refresh_token"])).status_code == 200


async def test_refresh_cannot_widen_scope_and_is_bound_to_the_client(spa: SPA) -> None:
    first = await tokens(spa)
    form = {
        "grant_type": "refresh_token",
        "refresh_token": first["refresh_token"],
        "client_id": spa.client_id,
        "scope": "read write",
    }
    assert_error(await spa.post(TOKEN_URL, form), 400, "invalid_scope")
    other = SPA(spa.harness, await register_public(spa.harness), dpop=spa.dpop)
    other.nonce = spa.nonce
    assert_error(await other.refresh(first["refresh_token"]), 400, "invalid_grant")


async def test_refresh_family_ends_with_its_lifetime(spa: SPA) -> None:
    first = await tokens(spa)
    spa.harness.clock.advance(spa.harness.server.settings.refresh_token_ttl)
    assert_error(await spa.refresh(first["refresh_token"]), 400, "invalid_grant")


async def test_rfc7009_revoking_a_refresh_token_ends_its_grant(spa: SPA) -> None:
    first = await tokens(spa)
    response = await spa.http.post(
        ISSUER + "/revoke",
        data={"token": first["refresh_token"], "client_id": spa.client_id},
    )
    assert response.status_code == 200
    assert_error(await spa.refresh(first["refresh_token"]), 400, "invalid_grant")


async def test_public_client_cannot_introspect(spa: SPA) -> None:
    first = await tokens(spa)
    response = await spa.http.post(
        ISSUER + "/introspect",
        data={"token": first["access_token"], "client_id": spa.client_id},
    )
    assert_error(response, 400, "invalid_client")


# -- login and consent ----------------------------------------------------------------------------


async def test_wrong_password_does_not_log_in(spa: SPA) -> None:
    pushed = await spa.push(secrets.token_urlsafe(48))
    tx_location = await spa.login_location(pushed)
    page = await spa.http.get(ISSUER + tx_location)
    fields = hidden_inputs(page.text)
    response = await spa.http.post(
        ISSUER + "/login", data={**fields, "username": "alice", "password": "nope"}
    )
    assert response.status_code == 400
    assert "Set-Cookie" not in response.headers or "pb_session" not in response.headers.get(
        "Set-Cookie", ""
    )
    assert re.search(r'id="error"', response.text)


async def test_forged_csrf_tokens_are_refused(spa: SPA) -> None:
    pushed = await spa.push(secrets.token_urlsafe(48))
    location = await spa.login_location(pushed)
    fields = hidden_inputs((await spa.http.get(ISSUER + location)).text)
    forged = await spa.http.post(
        ISSUER + "/login",
        data={**fields, "csrf": "x" * 43, "username": "alice", "password": PASSWORD},
    )
    assert forged.status_code == 403
    ok = await spa.http.post(
        ISSUER + "/login", data={**fields, "username": "alice", "password": PASSWORD}
    )
    assert ok.status_code == 303
    consent = await spa.http.get(ISSUER + ok.headers["Location"])
    consent_fields = hidden_inputs(consent.text)
    bad = await spa.http.post(
        ISSUER + "/consent", data={**consent_fields, "csrf": "y" * 43, "decision": "approve"}
    )
    assert bad.status_code == 403
    assert "Location" not in bad.headers


async def test_a_request_is_decided_once(spa: SPA) -> None:
    pushed = await spa.push(secrets.token_urlsafe(48))
    result = await spa.authorize(
        {"client_id": spa.client_id, "request_uri": pushed.json()["request_uri"]}
    )
    assert "code" in result
    again = await spa.http.get(
        ISSUER + "/authorize",
        params={"client_id": spa.client_id, "request_uri": pushed.json()["request_uri"]},
    )
    assert again.status_code == 400  # used up: no second code from one request


async def test_par_proof_replay_is_refused(spa: SPA) -> None:
    await spa.push(secrets.token_urlsafe(48))  # learns the nonce
    proof = spa.proof(PAR_URL)
    params = {
        "client_id": spa.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "code_challenge": challenge_of("v" * 43),
        "code_challenge_method": "S256",
    }
    first = await spa.http.post(PAR_URL, data=params, headers={"DPoP": proof})
    assert first.status_code == 201
    again = await spa.http.post(PAR_URL, data=params, headers={"DPoP": proof})
    assert_error(again, 400, "invalid_dpop_proof")


async def test_cors_preflight_for_a_configured_origin(tmp_path: Any) -> None:
    from proofbound import FrozenClock
    from proofbound.server.app import AuthorizationServer, create_app
    from proofbound.storage.store import Store

    from .conftest import make_settings

    server = AuthorizationServer(
        make_settings(cors_origins=("https://app.example",)),
        Store.open(f"sqlite:///{tmp_path / 'as.db'}"),
        clock=FrozenClock(NOW),
    )
    try:
        transport = httpx.ASGITransport(app=create_app(server))
        async with httpx.AsyncClient(transport=transport) as http:
            allowed = await http.options(
                TOKEN_URL,
                headers={
                    "Origin": "https://app.example",
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "dpop, content-type",
                },
            )
            assert allowed.status_code == 200
            assert allowed.headers["access-control-allow-origin"] == "https://app.example"
            other = await http.options(
                TOKEN_URL,
                headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
            )
            assert "access-control-allow-origin" not in other.headers
            posted = await http.post(
                TOKEN_URL, data={"grant_type": "x"}, headers={"Origin": "https://app.example"}
            )
            assert posted.status_code == 400
            assert posted.headers["access-control-allow-origin"] == "https://app.example"
            assert "DPoP-Nonce" in posted.headers["access-control-expose-headers"]
    finally:
        server.close()


# -- confidential clients -------------------------------------------------------------------------


async def test_confidential_client_code_flow_and_refresh_bound_to_its_authentication(
    harness: ASHarness,
) -> None:
    LocalUsers(harness.server.store.engine).add("alice", PASSWORD, now=NOW)
    client = await harness.jwt_client(
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris=[REDIRECT],
        dpop_bound_access_tokens=True,
        scope="read",
    )
    spa = SPA(harness, client.client_id, dpop=client.dpop)
    verifier = secrets.token_urlsafe(48)

    def authenticated(**values: str) -> Callable[[], dict[str, str]]:
        return lambda: {
            "client_assertion_type": client.form()["client_assertion_type"],
            "client_assertion": client.assertion(aud=ISSUER),
            "client_id": client.client_id,
            **values,
        }

    pushed = await spa.post(
        PAR_URL,
        authenticated(
            response_type="code",
            redirect_uri=REDIRECT,
            code_challenge=challenge_of(verifier),
            code_challenge_method="S256",
        ),
    )
    assert pushed.status_code == 201, pushed.text
    result = await spa.authorize(
        {"client_id": client.client_id, "request_uri": pushed.json()["request_uri"]}
    )
    without_auth = await spa.redeem(result["code"], verifier)
    assert_error(without_auth, 400, "invalid_client")  # not a public client
    redeemed = await spa.post(
        TOKEN_URL,
        authenticated(
            grant_type="authorization_code",
            code=result["code"],
            redirect_uri=REDIRECT,
            code_verifier=verifier,
        ),
    )
    assert redeemed.status_code == 200, redeemed.text
    refresh_token = redeemed.json()["refresh_token"]
    # RFC 9449 §5: a confidential client's refresh token is not bound to the DPoP key; its
    # client authentication constrains it, and a new key gets a token bound to that key.
    new_key = generate_key("ES256")
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": client.client_id,
    }
    assert_error(await spa.post(TOKEN_URL, form, key=new_key), 400, "invalid_client")
    refreshed = await spa.post(
        TOKEN_URL,
        authenticated(grant_type="refresh_token", refresh_token=refresh_token),
        key=new_key,
    )
    assert refreshed.status_code == 200, refreshed.text
    cnf = claims_of(refreshed.json()["access_token"])["cnf"]
    assert cnf == {"jkt": jwk_thumbprint(new_key.public_key.jwk)}


# -- review findings: each a scenario that used to succeed -----------------------------------------


async def admin_revoke(spa: SPA, body: dict[str, str]) -> None:
    response = await spa.harness.admin(body)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("kind", ["jkt", "client_id"])
async def test_admin_revocation_by_key_or_client_ends_refreshing(spa: SPA, kind: str) -> None:
    first = await tokens(spa)
    value = jwk_thumbprint(spa.dpop.public_key.jwk) if kind == "jkt" else spa.client_id
    await admin_revoke(spa, {kind: value})
    assert_error(await spa.refresh(first["refresh_token"]), 400, "invalid_grant")


async def test_a_bare_leaked_code_cannot_end_the_users_grant(spa: SPA) -> None:
    verifier = secrets.token_urlsafe(48)
    code = await spa.login_code(verifier)
    body = (await spa.redeem(code, verifier)).json()
    # The code leaks after use (history, logs); without the verifier and the key it is nothing.
    bare = await spa.http.post(
        TOKEN_URL,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": spa.client_id,
            "redirect_uri": REDIRECT,
        },
    )
    assert_error(bare, 400, "invalid_grant")  # PKCE fails first
    wrong_key = await spa.redeem(code, verifier, key=generate_key("ES256"))
    assert_error(wrong_key, 400, "invalid_grant")
    assert (await spa.refresh(body["refresh_token"])).status_code == 200  # not revoked


async def test_a_replayed_refresh_request_is_a_replay_not_a_reuse(spa: SPA) -> None:
    first = await tokens(spa)
    proof = spa.proof(TOKEN_URL)
    form = {
        "grant_type": "refresh_token",
        "refresh_token": first["refresh_token"],
        "client_id": spa.client_id,
    }
    ok = await spa.http.post(TOKEN_URL, data=form, headers={"DPoP": proof})
    assert ok.status_code == 200, ok.text
    replayed = await spa.http.post(TOKEN_URL, data=form, headers={"DPoP": proof})
    assert_error(replayed, 400, "invalid_dpop_proof")
    assert (await spa.refresh(ok.json()["refresh_token"])).status_code == 200  # family lives


async def test_code_reuse_revokes_the_access_token_of_a_client_without_refresh_tokens(
    harness: ASHarness,
) -> None:
    LocalUsers(harness.server.store.engine).add("alice", PASSWORD, now=NOW)
    spa = SPA(harness, await register_public(harness, grant_types=["authorization_code"]))
    verifier = secrets.token_urlsafe(48)
    code = await spa.login_code(verifier)
    first = await spa.redeem(code, verifier)
    assert first.status_code == 200
    assert "refresh_token" not in first.json()
    assert_error(await spa.redeem(code, verifier), 400, "invalid_grant")
    record = harness.server.store.get_token(claims_of(first.json()["access_token"])["jti"])
    assert record is not None
    assert harness.server.store.is_revoked(record)


async def test_no_cors_on_the_authorization_and_login_pages(tmp_path: Any) -> None:
    from proofbound import FrozenClock
    from proofbound.server.app import AuthorizationServer, create_app
    from proofbound.storage.store import Store

    from .conftest import make_settings

    server = AuthorizationServer(
        make_settings(cors_origins=("https://app.example",)),
        Store.open(f"sqlite:///{tmp_path / 'as.db'}"),
        clock=FrozenClock(NOW),
    )
    try:
        transport = httpx.ASGITransport(app=create_app(server))
        async with httpx.AsyncClient(transport=transport) as http:
            for path in ("/authorize", "/login", "/consent"):
                response = await http.options(
                    ISSUER + path,
                    headers={
                        "Origin": "https://app.example",
                        "Access-Control-Request-Method": "GET",
                    },
                )
                assert "access-control-allow-origin" not in response.headers, path
            allowed = await http.options(
                PAR_URL,
                headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
            )
            assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    finally:
        server.close()


async def test_the_pre_login_cookie_is_a_host_cookie_on_https(spa: SPA) -> None:
    pushed = await spa.push(secrets.token_urlsafe(48))
    location = await spa.login_location(pushed)
    page = await spa.http.get(ISSUER + location)
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("__Host-pb_login=")
    assert "Secure" in cookie
    assert "HttpOnly" in cookie


@pytest.mark.parametrize("client_id", ["a\x00b", "x" * 200, "\u2028"])
async def test_hostile_client_ids_are_clean_errors(spa: SPA, client_id: str) -> None:
    page = await spa.http.get(
        ISSUER + "/authorize", params={"client_id": client_id, "response_type": "code"}
    )
    assert page.status_code == 400
    token = await spa.http.post(
        TOKEN_URL,
        data={"grant_type": "authorization_code", "code": "c", "client_id": client_id},
    )
    assert_error(token, 400, "invalid_client")


async def test_the_user_has_minutes_to_sign_in_not_the_par_lifetime(spa: SPA) -> None:
    pushed = await spa.push(secrets.token_urlsafe(48))
    response = await spa.http.get(
        ISSUER + "/authorize",
        params={"client_id": spa.client_id, "request_uri": pushed.json()["request_uri"]},
    )
    spa.harness.clock.advance(pushed.json()["expires_in"] + 120)  # slow typist
    login = await spa.http.get(ISSUER + response.headers["Location"])
    assert login.status_code == 200
    decided = await spa.http.post(
        ISSUER + "/login",
        data={**hidden_inputs(login.text), "username": "alice", "password": PASSWORD},
    )
    assert decided.status_code == 303


async def test_rfc8252_s7_3_loopback_redirect_uri_with_any_port(harness: ASHarness) -> None:
    LocalUsers(harness.server.store.engine).add("alice", PASSWORD, now=NOW)
    registered = "http://127.0.0.1/callback"
    spa = SPA(harness, await register_public(harness, redirect_uris=[registered]))
    verifier = secrets.token_urlsafe(48)
    chosen = "http://127.0.0.1:53117/callback"
    response = await spa.http.get(
        ISSUER + "/authorize",
        params={
            "client_id": spa.client_id,
            "response_type": "code",
            "redirect_uri": chosen,
            "code_challenge": challenge_of(verifier),
            "code_challenge_method": "S256",
        },
    )
    assert response.status_code == 303
    other_path = await spa.http.get(
        ISSUER + "/authorize",
        params={
            "client_id": spa.client_id,
            "response_type": "code",
            "redirect_uri": "http://127.0.0.1:53117/other",
            "code_challenge": challenge_of(verifier),
            "code_challenge_method": "S256",
        },
    )
    assert other_path.status_code == 400


async def test_rfc6749_s4_1_3_redirect_uri_may_be_omitted_if_the_request_omitted_it(
    spa: SPA,
) -> None:
    verifier = secrets.token_urlsafe(48)
    result = await spa.authorize(
        {
            "client_id": spa.client_id,
            "response_type": "code",
            "code_challenge": challenge_of(verifier),
            "code_challenge_method": "S256",
        }
    )
    response = await spa.post(
        TOKEN_URL,
        {
            "grant_type": "authorization_code",
            "code": result["code"],
            "client_id": spa.client_id,
            "code_verifier": verifier,
        },
    )
    assert response.status_code == 200, response.text


async def test_repeated_failed_sign_ins_are_throttled(spa: SPA) -> None:
    pushed = await spa.push(secrets.token_urlsafe(48))
    location = await spa.login_location(pushed)
    fields = hidden_inputs((await spa.http.get(ISSUER + location)).text)
    for _ in range(10):
        wrong = await spa.http.post(
            ISSUER + "/login", data={**fields, "username": "alice", "password": "guess"}
        )
        assert wrong.status_code == 400
    right = await spa.http.post(
        ISSUER + "/login", data={**fields, "username": "alice", "password": PASSWORD}
    )
    assert right.status_code == 400  # throttled: even the right password waits out the window
    spa.harness.clock.advance(301)
    fields = hidden_inputs((await spa.http.get(ISSUER + location)).text)
    later = await spa.http.post(
        ISSUER + "/login", data={**fields, "username": "alice", "password": PASSWORD}
    )
    assert later.status_code == 303
