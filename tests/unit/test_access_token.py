"""RFC 9068 access tokens: issue/verify round trips, bindings, the verified-token cache, leeway."""

from __future__ import annotations

import hashlib

import pytest

from proofbound._internal.b64 import b64url_encode
from proofbound.access_token import (
    AccessTokenPolicy,
    AccessTokenVerifier,
    VerifiedAccessToken,
    issue_access_token,
)
from proofbound.binding import Binding
from proofbound.errors import ConfigurationError, InvalidToken, Reason
from proofbound.jwk.algorithms import DEFAULT_ACCESS_TOKEN_ALGS
from proofbound.jwk.keys import SigningKey
from proofbound.jws import decode_segment

NOW = 1_700_000_000
ISSUER = "https://as.example"
RS = "https://rs.example"
JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
X5T = "A4DtL2JmUMhAsvJj5tKyn64SqzmuXbMrJa0n761y5v0"


def _issue(key: SigningKey, **overrides: object) -> str:
    args: dict[str, object] = {
        "issuer": ISSUER,
        "subject": "alice",
        "audience": RS,
        "client_id": "client-1",
        "now": NOW,
        "ttl": 300,
        "jti": "at-1",
    }
    args.update(overrides)
    return issue_access_token(key, **args)  # type: ignore[arg-type]


def _verifier(key: SigningKey, **policy: object) -> AccessTokenVerifier:
    settings: dict[str, object] = {"issuer": ISSUER, "audiences": (RS,)}
    settings.update(policy)
    return AccessTokenVerifier(
        AccessTokenPolicy(**settings),  # type: ignore[arg-type]
        {key.kid: key.public_key},
    )


def _expect(reason: Reason, verifier: AccessTokenVerifier, token: str, now: int) -> None:
    with pytest.raises(InvalidToken) as info:
        verifier.verify(token, now=now)
    assert info.value.reason is reason


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("alg", DEFAULT_ACCESS_TOKEN_ALGS)
def test_rfc9068_s2_issue_verify_round_trip(alg: str, keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg[alg]
    token = _issue(key, scope=["read", "write"])
    result = _verifier(key).verify(token, now=NOW)
    assert isinstance(result, VerifiedAccessToken)
    assert result.issuer == ISSUER
    assert result.subject == "alice"
    assert result.client_id == "client-1"
    assert result.audience == (RS,)
    assert result.scopes == frozenset({"read", "write"})
    assert result.expires_at == NOW + 300
    assert result.not_before is None
    assert result.binding is None
    assert result.token_sha256 == hashlib.sha256(token.encode()).digest()
    assert result.claims["jti"] == "at-1"
    assert result.claims["iat"] == NOW


def test_rfc9068_s2_1_header(keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg["RS256"]
    header = decode_segment(_issue(key).split(".")[0])
    assert header == {"typ": "at+jwt", "kid": key.kid, "alg": "RS256"}


def test_rfc9068_s2_2_claims(keys_by_alg: dict[str, SigningKey]) -> None:
    token = _issue(keys_by_alg["ES256"], scope=["a", "b"], extra_claims={"acr": "1"})
    claims = decode_segment(token.split(".")[1])
    assert claims == {
        "acr": "1",
        "iss": ISSUER,
        "sub": "alice",
        "aud": RS,
        "exp": NOW + 300,
        "iat": NOW,
        "jti": "at-1",
        "client_id": "client-1",
        "scope": "a b",
    }


def test_rfc9068_s2_2_3_1_empty_scope_is_omitted(keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg["ES256"]
    token = _issue(key, scope=[])
    assert "scope" not in decode_segment(token.split(".")[1])
    assert _verifier(key).verify(token, now=NOW).scopes == frozenset()


def test_rfc9068_s3_audience_list(keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg["EdDSA"]
    token = _issue(key, audience=["https://other.example", RS])
    claims = decode_segment(token.split(".")[1])
    assert claims["aud"] == ["https://other.example", RS]
    result = _verifier(key).verify(token, now=NOW)
    assert result.audience == ("https://other.example", RS)
    # Any one accepted audience suffices; a verifier for neither refuses it.
    assert _verifier(key, audiences=("https://x", RS)).verify(token, now=NOW).subject == "alice"
    _expect(Reason.TOKEN_AUDIENCE, _verifier(key, audiences=("https://x",)), token, NOW)


def test_policy_audience_string_is_one_audience(keys_by_alg: dict[str, SigningKey]) -> None:
    policy = AccessTokenPolicy(issuer=ISSUER, audiences=RS)  # type: ignore[arg-type]
    assert policy.audiences == (RS,)
    key = keys_by_alg["ES256"]
    assert (
        AccessTokenVerifier(policy, {key.kid: key.public_key}).verify(_issue(key), now=NOW).subject
        == "alice"
    )


@pytest.mark.parametrize(
    ("kwargs", "binding"),
    [
        ({"jkt": JKT}, Binding("dpop", JKT)),  # type: ignore[arg-type]
        ({"x5t_s256": X5T}, Binding("mtls", X5T)),  # type: ignore[arg-type]
        ({}, None),
    ],
    ids=["rfc9449-s6-1-jkt", "rfc8705-s3-1-x5t", "unbound"],
)
def test_binding_kinds(
    kwargs: dict[str, str], binding: Binding | None, keys_by_alg: dict[str, SigningKey]
) -> None:
    key = keys_by_alg["ES256"]
    token = _issue(key, **kwargs)
    claims = decode_segment(token.split(".")[1])
    if binding is None:
        assert "cnf" not in claims
    else:
        assert claims["cnf"] == ({"jkt": JKT} if binding.kind == "dpop" else {"x5t#S256": X5T})
    assert _verifier(key).verify(token, now=NOW).binding == binding


def test_rfc9449_s4_2_ath_of_the_verified_token(keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg["ES256"]
    token = _issue(key, jkt=JKT)
    result = _verifier(key).verify(token, now=NOW)
    assert result.ath == b64url_encode(hashlib.sha256(token.encode()).digest())


def test_repr_hides_token_and_claims(keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg["ES256"]
    token = _issue(key, extra_claims={"secret_hint": "s3cr3t"})
    text = repr(_verifier(key).verify(token, now=NOW))
    for part in token.split("."):
        assert part not in text
    assert "s3cr3t" not in text


# --------------------------------------------------------------------------- keys


def test_jwks_document(keys_by_alg: dict[str, SigningKey]) -> None:
    es, ed = keys_by_alg["ES256"], keys_by_alg["EdDSA"]
    jwks = {
        "keys": [
            es.public_jwk(),
            ed.public_jwk(),
            {**keys_by_alg["PS256"].public_jwk(), "kid": "enc-key", "use": "enc"},
        ]
    }
    verifier = AccessTokenVerifier(AccessTokenPolicy(issuer=ISSUER, audiences=(RS,)), jwks)
    assert verifier.verify(_issue(es), now=NOW).subject == "alice"
    assert verifier.verify(_issue(ed, jti="at-2"), now=NOW).subject == "alice"


def test_jwks_alg_must_match_the_token(keys_by_alg: dict[str, SigningKey]) -> None:
    rsa_key = keys_by_alg["RS256"]
    jwks = {"keys": [{**rsa_key.public_jwk(), "alg": "PS256"}]}
    verifier = AccessTokenVerifier(AccessTokenPolicy(issuer=ISSUER, audiences=(RS,)), jwks)
    _expect(Reason.TOKEN_ALG, verifier, _issue(rsa_key), NOW)


def test_single_key_without_kid(keys_by_alg: dict[str, SigningKey]) -> None:
    from proofbound.jws import sign_compact

    key = keys_by_alg["ES256"]
    claims = decode_segment(_issue(key).split(".")[1])
    token = sign_compact({"typ": "at+jwt"}, claims, key)
    assert _verifier(key).verify(token, now=NOW).subject == "alice"


@pytest.mark.parametrize(
    "keys",
    [
        {},
        {"keys": []},
        {"keys": [{"kty": "EC"}]},
        {"keys": ["not an object"]},
        {"k1": "not a PublicKey"},
    ],
    ids=["empty", "empty-jwks", "no-kid", "not-object", "not-public-key"],
)
def test_key_table_configuration_errors(keys: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        AccessTokenVerifier(AccessTokenPolicy(issuer=ISSUER, audiences=(RS,)), keys)


def test_jwks_duplicate_kid_and_unknown_alg(keys_by_alg: dict[str, SigningKey]) -> None:
    jwk = keys_by_alg["ES256"].public_jwk()
    policy = AccessTokenPolicy(issuer=ISSUER, audiences=(RS,))
    with pytest.raises(ConfigurationError):
        AccessTokenVerifier(policy, {"keys": [jwk, jwk]})
    with pytest.raises(ConfigurationError):
        AccessTokenVerifier(policy, {"keys": [{**jwk, "alg": "HS256"}]})


# --------------------------------------------------------------------------- cache


def test_cache_hit_returns_the_same_object(keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg["ES256"]
    verifier = _verifier(key)
    token = _issue(key)
    first = verifier.verify(token, now=NOW)
    assert verifier.verify(token, now=NOW + 10) is first


def test_cache_hit_still_expires_on_time(keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg["ES256"]
    verifier = _verifier(key)
    token = _issue(key, ttl=60)
    verifier.verify(token, now=NOW)
    assert verifier.verify(token, now=NOW + 59).subject == "alice"
    _expect(Reason.TOKEN_EXPIRED, verifier, token, NOW + 60)


def test_cache_disabled_verifies_again(keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg["ES256"]
    verifier = AccessTokenVerifier(
        AccessTokenPolicy(issuer=ISSUER, audiences=(RS,)), {key.kid: key.public_key}, cache_size=0
    )
    token = _issue(key)
    first = verifier.verify(token, now=NOW)
    second = verifier.verify(token, now=NOW)
    assert first is not second
    assert first == second


def test_cache_is_bounded(keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg["EdDSA"]
    verifier = AccessTokenVerifier(
        AccessTokenPolicy(issuer=ISSUER, audiences=(RS,)), {key.kid: key.public_key}, cache_size=1
    )
    t1, t2 = _issue(key, jti="1"), _issue(key, jti="2")
    first = verifier.verify(t1, now=NOW)
    assert verifier.verify(t1, now=NOW) is first
    verifier.verify(t2, now=NOW)  # evicts t1
    assert verifier.verify(t1, now=NOW) is not first


def test_negative_cache_size_is_refused(keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg["ES256"]
    with pytest.raises(ConfigurationError):
        AccessTokenVerifier(
            AccessTokenPolicy(issuer=ISSUER, audiences=(RS,)),
            {key.kid: key.public_key},
            cache_size=-1,
        )


# --------------------------------------------------------------------------- time and leeway


def test_rfc9068_s4_exp_boundary(keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg["ES256"]
    token = _issue(key, ttl=100)
    assert _verifier(key, leeway=0).verify(token, now=NOW + 99).subject == "alice"
    _expect(Reason.TOKEN_EXPIRED, _verifier(key, leeway=0), token, NOW + 100)  # exp == now


def test_rfc9068_s4_leeway_extends_exp(keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg["ES256"]
    token = _issue(key, ttl=100)
    assert _verifier(key, leeway=30).verify(token, now=NOW + 129).subject == "alice"
    _expect(Reason.TOKEN_EXPIRED, _verifier(key, leeway=30), token, NOW + 130)


def test_rfc7519_s4_1_5_nbf_and_leeway(keys_by_alg: dict[str, SigningKey]) -> None:
    from proofbound.jws import sign_compact

    key = keys_by_alg["ES256"]
    claims = {**decode_segment(_issue(key).split(".")[1]), "nbf": NOW + 50}
    token = sign_compact({"typ": "at+jwt", "kid": key.kid}, claims, key)
    assert _verifier(key).verify(token, now=NOW + 50).not_before == NOW + 50
    _expect(Reason.TOKEN_NOT_YET_VALID, _verifier(key), token, NOW + 49)
    assert _verifier(key, leeway=10).verify(token, now=NOW + 40).subject == "alice"
    _expect(Reason.TOKEN_NOT_YET_VALID, _verifier(key, leeway=10), token, NOW + 39)


def test_rfc9068_s4_typ_forms(keys_by_alg: dict[str, SigningKey]) -> None:
    from proofbound.jws import sign_compact

    key = keys_by_alg["ES256"]
    claims = decode_segment(_issue(key).split(".")[1])
    for typ in ("at+jwt", "at+JWT", "application/at+jwt", "Application/AT+JWT"):
        token = sign_compact({"typ": typ, "kid": key.kid}, claims, key)
        assert _verifier(key).verify(token, now=NOW).subject == "alice"
    untyped = sign_compact({"kid": key.kid}, claims, key)
    _expect(Reason.TOKEN_TYP, _verifier(key), untyped, NOW)
    assert _verifier(key, strict_typ=False).verify(untyped, now=NOW).subject == "alice"
    wrong = sign_compact({"typ": "JWT", "kid": key.kid}, claims, key)
    _expect(Reason.TOKEN_TYP, _verifier(key, strict_typ=False), wrong, NOW)


def test_token_size_limit_exact(keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg["EdDSA"]
    token = _issue(key, extra_claims={"pad": "x" * 1000})
    assert _verifier(key, max_token_bytes=len(token)).verify(token, now=NOW).subject == "alice"
    _expect(Reason.TOKEN_TOO_LARGE, _verifier(key, max_token_bytes=len(token) - 1), token, NOW)


# --------------------------------------------------------------------------- issue errors, policy


@pytest.mark.parametrize(
    "overrides",
    [
        {"jkt": JKT, "x5t_s256": X5T},
        {"ttl": 0},
        {"ttl": -1},
        {"extra_claims": {"iss": "https://evil"}},
        {"extra_claims": {"cnf": {}}},
        {"extra_claims": {"nbf": 1}},
    ],
    ids=["both-bindings", "ttl-0", "ttl-negative", "extra-iss", "extra-cnf", "extra-nbf"],
)
def test_issue_refuses(overrides: dict[str, object], keys_by_alg: dict[str, SigningKey]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 -- documented ValueError
        _issue(keys_by_alg["ES256"], **overrides)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"issuer": ""},
        {"audiences": ()},
        {"audiences": ("",)},
        {"audiences": (1,)},
        {"algorithms": ()},
        {"algorithms": ("HS256",)},
        {"leeway": -1},
        {"leeway": 301},
        {"max_token_bytes": 1023},
        {"max_token_bytes": (1 << 20) + 1},
    ],
)
def test_policy_validation(kwargs: dict[str, object]) -> None:
    settings: dict[str, object] = {"issuer": ISSUER, "audiences": (RS,), **kwargs}
    with pytest.raises(ConfigurationError):
        AccessTokenPolicy(**settings)  # type: ignore[arg-type]


def test_rfc9068_s2_1_rs256_is_in_the_defaults() -> None:
    policy = AccessTokenPolicy(issuer=ISSUER, audiences=(RS,))
    assert "RS256" in policy.algorithms
    assert policy.leeway == 0
    assert policy.strict_typ is True
