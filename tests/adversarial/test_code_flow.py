"""Adversarial table: the authorization code flow (RFC 6749 §4.1, RFC 7636, RFC 9449 §5 and
§10) and refresh-token rotation.

Each row builds one defective request against a real :class:`AuthorizationServer` (SQLite) whose
clients, codes and refresh tokens are made by the server's own code, then requires exactly the
class and reason. Codes are stored as the consent step stores them; refresh tokens come from a
real redemption. ``ACCEPTED`` holds the same requests without the defect.
"""

from __future__ import annotations

import atexit
import base64
import functools
import hashlib
import secrets
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Final

import pytest

from proofbound import FrozenClock, SigningKey, create_proof, generate_key, jwk_thumbprint
from proofbound.errors import (
    InvalidDPoPProof,
    InvalidGrant,
    InvalidRequest,
    Reason,
    UnsupportedResponseType,
)
from proofbound.server.app import AuthorizationServer
from proofbound.server.authorization import (
    AuthorizationRequest,
    client_check,
    handle_hash,
    new_handle,
    request_check,
)
from proofbound.server.config import ServerSettings
from proofbound.server.forms import Form
from proofbound.server.registration import register_client
from proofbound.server.token_endpoint import IssuedToken, TokenRequest
from proofbound.storage.store import AuthorizationCode, Store

from ._support import Accept, Case, Ctx, expect_rejection, params

NOW: Final = 1_700_000_000
ISSUER: Final = "https://as.example"
TOKEN_URL: Final = ISSUER + "/token"
REDIRECT: Final = "https://app.example/cb"
RESOURCE: Final = "https://rs.example"
VERIFIER: Final = "v" * 43 + "-._~" + "w" * 10


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@functools.cache
def dpop_key() -> SigningKey:
    return generate_key("ES256")


@functools.cache
def server() -> AuthorizationServer:
    directory = tempfile.mkdtemp(prefix="proofbound-adversarial-code-")
    atexit.register(shutil.rmtree, directory, True)
    settings = ServerSettings(issuer=ISSUER, resources=(RESOURCE,), dpop_nonce=False)
    built = AuthorizationServer(
        settings, Store.open(f"sqlite:///{directory}/as.db"), clock=FrozenClock(NOW)
    )
    atexit.register(built.close)
    public = {
        "token_endpoint_auth_method": "none",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "dpop_bound_access_tokens": True,
        "scope": "read write",
    }
    for client_id in ("spa", "other"):
        record = register_client(public, settings, now=NOW).record
        built.store.add_client(replace(record, client_id=client_id))
    return built


def _form(values: dict[str, str]) -> Form:
    return Form(values, {})


def _proof(key: SigningKey | None = None) -> str:
    return create_proof(key or dpop_key(), htm="POST", htu=TOKEN_URL, now=NOW)


def _token(
    values: dict[str, str], *, proof: bool = True, key: SigningKey | None = None
) -> IssuedToken:
    request = TokenRequest(
        form=_form(values),
        authorization=None,
        dpop=[_proof(key)] if proof else [],
        certificate=None,
    )
    return server().tokens.handle(request, now=server().clock.now())


def _code(
    *, client_id: str = "spa", dpop_jkt: str | None = None, expires_at: int = NOW + 60
) -> str:
    grant = AuthorizationRequest(
        client_id=client_id,
        redirect_uri=REDIRECT,
        scope="read",
        state=None,
        code_challenge=_challenge(VERIFIER),
        dpop_jkt=dpop_jkt,
        audience=RESOURCE,
    )
    code = new_handle()
    server().store.put_code(
        handle_hash(code),
        AuthorizationCode(
            family_id=secrets.token_urlsafe(8),
            client_id=client_id,
            subject="alice",
            params=grant.to_params(),
            issued_at=NOW,
            expires_at=expires_at,
        ),
    )
    return code


def _redeem(code: str, *, client_id: str = "spa", **changes: str | None) -> IssuedToken:
    values: dict[str, str | None] = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": client_id,
        "code_verifier": VERIFIER,
        **changes,
    }
    return _token({k: v for k, v in values.items() if v is not None})


def _redeem_with(key: SigningKey, code: str) -> IssuedToken:
    return _token(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": "spa",
            "code_verifier": VERIFIER,
        },
        key=key,
    )


def _refresh_token() -> str:
    issued = _redeem(_code())
    assert issued.refresh_token is not None
    return issued.refresh_token


def _refresh(
    token: str, *, client_id: str = "spa", proof: bool = True, key: SigningKey | None = None
) -> IssuedToken:
    values = {"grant_type": "refresh_token", "refresh_token": token, "client_id": client_id}
    return _token(values, proof=proof, key=key)


def _twice(first: Callable[[], object], second: Callable[[], object]) -> object:
    first()
    return second()


def _reused_code(c: Ctx) -> object:
    code = _code()
    return _twice(lambda: _redeem(code), lambda: _redeem(code))


def _reused_refresh(c: Ctx) -> object:
    token = _refresh_token()
    return _twice(lambda: _refresh(token), lambda: _refresh(token))


def _successor_after_reuse(c: Ctx) -> object:
    token = _refresh_token()
    successor = _refresh(token).refresh_token
    assert successor is not None
    with pytest.raises(InvalidGrant):
        _refresh(token)  # the reuse revokes the family ...
    return _refresh(successor)  # ... so the rotated successor fails too


def _authorize(changes: dict[str, str | None], redirect_uri: str | None = REDIRECT) -> object:
    s = server()
    client = s.store.get_client("spa")
    uri = client_check(client, redirect_uri)
    assert client is not None
    values = {
        "response_type": "code",
        "code_challenge": _challenge(VERIFIER),
        "code_challenge_method": "S256",
        **changes,
    }
    return request_check(
        _form({k: v for k, v in values.items() if v is not None}),
        client,
        uri,
        resources=[],
        audiences=s.tokens.audiences,
    )


def _client_check(client_id: str, redirect_uri: str | None) -> Callable[[Ctx], object]:
    return lambda c: client_check(server().store.get_client(client_id), redirect_uri)


def _par_proof_disagrees(c: Ctx) -> object:
    s = server()
    client = s.store.get_client("spa")
    assert client is not None
    values = {
        "response_type": "code",
        "code_challenge": _challenge(VERIFIER),
        "code_challenge_method": "S256",
        "dpop_jkt": jwk_thumbprint(generate_key("ES256").public_key.jwk),
    }
    return request_check(
        _form(values),
        client,
        REDIRECT,
        resources=[],
        audiences=s.tokens.audiences,
        proof_jkt=jwk_thumbprint(dpop_key().public_key.jwk),
    )


def _expired_refresh(c: Ctx) -> object:
    token = _refresh_token()
    clock = server().clock
    assert isinstance(clock, FrozenClock)
    saved = clock.now()
    clock.advance(server().settings.refresh_token_ttl)
    try:
        return _refresh(token)
    finally:
        clock.set(saved)


def _jkt() -> str:
    return jwk_thumbprint(dpop_key().public_key.jwk)


def case(case_id: str, action: Callable[[Ctx], object], exc: type[Any], reason: Reason) -> Case:
    return Case(case_id, action, exc, reason)


CASES: list[Case] = [
    # --- the authorization request (RFC 6749 §4.1.1, §3.1.2.3; RFC 7636 §4.3) ------------------
    case(
        "rfc6749_s4_1_2_1_response_type_token",
        lambda c: _authorize({"response_type": "token"}),
        UnsupportedResponseType,
        Reason.RESPONSE_TYPE_UNSUPPORTED,
    ),
    case(
        "rfc6749_s4_1_1_response_type_missing",
        lambda c: _authorize({"response_type": None}),
        InvalidRequest,
        Reason.REQUEST_PARAMETER_MISSING,
    ),
    case(
        "rfc6749_s3_1_2_3_redirect_uri_other_host",
        _client_check("spa", "https://evil.example/cb"),
        InvalidRequest,
        Reason.REQUEST_REDIRECT_URI,
    ),
    case(
        "rfc6749_s3_1_2_3_redirect_uri_trailing_slash",
        _client_check("spa", REDIRECT + "/"),
        InvalidRequest,
        Reason.REQUEST_REDIRECT_URI,
    ),
    case(
        "rfc6749_s3_1_2_3_redirect_uri_extra_query",
        _client_check("spa", REDIRECT + "?next=/admin"),
        InvalidRequest,
        Reason.REQUEST_REDIRECT_URI,
    ),
    case(
        "rfc6749_s4_1_2_1_unknown_client",
        _client_check("nobody", REDIRECT),
        InvalidRequest,
        Reason.REQUEST_REDIRECT_URI,
    ),
    case(
        "rfc7636_s4_3_challenge_method_plain",
        lambda c: _authorize({"code_challenge_method": "plain"}),
        InvalidRequest,
        Reason.REQUEST_PKCE,
    ),
    case(
        "rfc7636_s4_3_challenge_method_missing",
        lambda c: _authorize({"code_challenge_method": None}),
        InvalidRequest,
        Reason.REQUEST_PKCE,
    ),
    case(
        "rfc7636_s4_3_challenge_missing",
        lambda c: _authorize({"code_challenge": None}),
        InvalidRequest,
        Reason.REQUEST_PKCE,
    ),
    case(
        "rfc7636_s4_2_challenge_not_a_sha256",
        lambda c: _authorize({"code_challenge": "abc"}),
        InvalidRequest,
        Reason.REQUEST_PKCE,
    ),
    case(
        "rfc9449_s10_dpop_jkt_malformed",
        lambda c: _authorize({"dpop_jkt": "not a thumbprint"}),
        InvalidRequest,
        Reason.REQUEST_MALFORMED,
    ),
    case(
        "rfc9449_s10_1_dpop_jkt_differs_from_par_proof",
        _par_proof_disagrees,
        InvalidDPoPProof,
        Reason.JKT_MISMATCH,
    ),
    # --- redeeming a code (RFC 6749 §4.1.3, RFC 7636 §4.6, RFC 9449 §10) ------------------------
    case(
        "rfc6749_s4_1_3_unknown_code",
        lambda c: _redeem("not-a-code"),
        InvalidGrant,
        Reason.CODE_INVALID,
    ),
    case(
        "rfc6749_s4_1_3_code_of_another_client",
        lambda c: _redeem(_code(client_id="other")),
        InvalidGrant,
        Reason.CODE_INVALID,
    ),
    case(
        "rfc6749_s4_1_2_expired_code",
        lambda c: _redeem(_code(expires_at=NOW)),
        InvalidGrant,
        Reason.CODE_INVALID,
    ),
    case("rfc6749_s4_1_2_code_used_twice", _reused_code, InvalidGrant, Reason.CODE_REUSED),
    case(
        "rfc6749_s4_1_3_redirect_uri_differs",
        lambda c: _redeem(_code(), redirect_uri=REDIRECT + "?x"),
        InvalidGrant,
        Reason.CODE_REDIRECT_MISMATCH,
    ),
    case(
        "rfc6749_s4_1_3_redirect_uri_missing",
        lambda c: _redeem(_code(), redirect_uri=None),
        InvalidRequest,
        Reason.REQUEST_PARAMETER_MISSING,
    ),
    case(
        "rfc7636_s4_6_verifier_wrong",
        lambda c: _redeem(_code(), code_verifier="x" * 43),
        InvalidGrant,
        Reason.CODE_VERIFIER_INVALID,
    ),
    case(
        "rfc7636_s4_6_verifier_missing",
        lambda c: _redeem(_code(), code_verifier=None),
        InvalidGrant,
        Reason.CODE_VERIFIER_INVALID,
    ),
    case(
        "rfc7636_s4_1_verifier_too_short",
        lambda c: _redeem(_code(), code_verifier="v" * 42),
        InvalidGrant,
        Reason.CODE_VERIFIER_INVALID,
    ),
    case(
        "rfc7636_s4_6_challenge_sent_as_verifier",
        lambda c: _redeem(_code(), code_verifier=_challenge(VERIFIER)),
        InvalidGrant,
        Reason.CODE_VERIFIER_INVALID,
    ),
    case(
        "rfc9449_s10_dpop_jkt_of_another_key",
        lambda c: _redeem_with(generate_key("ES256"), _code(dpop_jkt=_jkt())),
        InvalidGrant,
        Reason.CODE_DPOP_JKT_MISMATCH,
    ),
    case(
        "rfc9449_s5_public_client_redeems_without_proof",
        lambda c: _token(
            {
                "grant_type": "authorization_code",
                "code": _code(),
                "redirect_uri": REDIRECT,
                "client_id": "spa",
                "code_verifier": VERIFIER,
            },
            proof=False,
        ),
        InvalidDPoPProof,
        Reason.PROOF_MISSING,
    ),
    # --- refresh tokens (RFC 6749 §6, RFC 9449 §5, rotation) ----------------------------------
    case(
        "rfc6749_s6_unknown_refresh_token",
        lambda c: _refresh("not-a-refresh-token"),
        InvalidGrant,
        Reason.REFRESH_INVALID,
    ),
    case(
        "rfc6749_s6_refresh_token_of_another_client",
        lambda c: _refresh(_refresh_token(), client_id="other"),
        InvalidGrant,
        Reason.REFRESH_INVALID,
    ),
    case(
        "rfc6749_s6_refresh_family_expired", _expired_refresh, InvalidGrant, Reason.REFRESH_INVALID
    ),
    case("bcp_s4_14_2_refresh_used_twice", _reused_refresh, InvalidGrant, Reason.REFRESH_REUSED),
    case(
        "bcp_s4_14_2_successor_revoked_after_reuse",
        _successor_after_reuse,
        InvalidGrant,
        Reason.REFRESH_INVALID,
    ),
    case(
        "rfc9449_s5_refresh_with_another_key",
        lambda c: _refresh(_refresh_token(), key=generate_key("ES256")),
        InvalidGrant,
        Reason.REFRESH_KEY_MISMATCH,
    ),
    case(
        "rfc9449_s5_public_refresh_without_proof",
        lambda c: _refresh(_refresh_token(), proof=False),
        InvalidDPoPProof,
        Reason.PROOF_MISSING,
    ),
]

ACCEPTED: list[Accept] = [
    Accept("rfc6749_s4_1_1_request_with_s256", lambda c: _authorize({})),
    Accept("rfc6749_s4_1_3_redeem", lambda c: _redeem(_code())),
    Accept("rfc9449_s10_redeem_with_the_dpop_jkt_key", lambda c: _redeem(_code(dpop_jkt=_jkt()))),
    Accept("rfc6749_s6_refresh_with_the_bound_key", lambda c: _refresh(_refresh_token())),
    Accept(
        "rfc6749_s3_1_2_3_single_registered_uri_may_be_omitted",
        _client_check("spa", None),
    ),
]


@pytest.mark.parametrize("case", params(CASES))
def test_rejected(case: Case, ctx: Ctx) -> None:
    expect_rejection(case, ctx)


@pytest.mark.parametrize("case", params(ACCEPTED))
def test_accepted(case: Accept, ctx: Ctx) -> None:
    case.action(ctx)
