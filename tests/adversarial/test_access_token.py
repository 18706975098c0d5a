"""JWT access tokens (RFC 9068 §4; spec-checklist §4) and their ``cnf`` (RFC 9449 §6.1,
RFC 8705 §3.1).

Explicit typing (``at+jwt``, RFC 9068 §2.1/§4; case-insensitive with optional ``application/``,
RFC 7515 §4.1.9), an allow-listed asymmetric ``alg`` fitting the issuer key chosen by ``kid`` from
the configured key set only (header ``jwk``/``jku``/``x5u`` ignored), exact ``iss``, an accepted
``aud``, ``exp == now`` expired, and the §2.2 claims present and well typed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from proofbound import (
    AccessTokenPolicy,
    AccessTokenVerifier,
    InvalidToken,
    Reason,
    issue_access_token,
)

from ._support import (
    AUDIENCE,
    DROP,
    ISSUER,
    NOW,
    Accept,
    Case,
    Ctx,
    b64,
    b64d,
    expect_rejection,
    flip_bit,
    jdump,
    noncanonical_tail,
    params,
    token_claims,
    token_header,
)

IT = InvalidToken
POLICY = AccessTokenPolicy(issuer=ISSUER, audiences=(AUDIENCE,))
LEEWAY = 30
LENIENT = AccessTokenPolicy(issuer=ISSUER, audiences=(AUDIENCE,), leeway=LEEWAY)
NO_TYP = AccessTokenPolicy(issuer=ISSUER, audiences=(AUDIENCE,), strict_typ=False)
WITH_ES384 = AccessTokenPolicy(
    issuer=ISSUER, audiences=(AUDIENCE,), algorithms=("ES256", "ES384", "EdDSA", "RS256")
)
JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
X5T = "A4DtL2JmUMhAsvJj5tKyn64SqzmuXbMrJa0n761y5v0"

# RFC 9449 Figure 8 (spec-checklist §7.2), unwrapped: no typ, aud, client_id, iat or jti.
RFC9449_FIG8 = (
    "eyJhbGciOiJFUzI1NiIsImtpZCI6IkJlQUxrYiJ9.eyJzdWIiOiJzb21lb25lQGV4YW1wbGUuY29tIiwiaXNzIjoiaHR0"
    "cHM6Ly9zZXJ2ZXIuZXhhbXBsZS5jb20iLCJuYmYiOjE1NjIyNjI2MTEsImV4cCI6MTU2MjI2NjIxNiwiY25mIjp7Imp"
    "rdCI6IjBaY09DT1JaTll5LURXcHFxMzBqWnlKR0hUTjBkMkhnbEJWM3VpZ3VBNEkifX0.3Tyo8VTcn6u_PboUmAOYUY1k"
    "fAavomW_YwYMkmRNizLJoQzWy2fCo79Zi5yObpIzjWb5xW4OGld7ESZrh0fsrA"
)
FIG8_POLICY: dict[str, Any] = {
    "issuer": "https://server.example.com",
    "audiences": ("https://resource.example.org",),
}


def tok(
    case_id: str,
    reason: Reason,
    *,
    hdr: dict[str, Any] | None = None,
    clm: dict[str, Any] | None = None,
    policy: AccessTokenPolicy | None = None,
    now: int = NOW,
) -> Case:
    """A token by the AS key with header/claim overrides, verified under ``policy`` at ``now``."""
    return Case(
        case_id,
        lambda c: c.verify_token(c.token(hdr=hdr, clm=clm), policy=policy, now=now),
        IT,
        reason,
    )


def missing_and_wrong(name: str, wrong: list[Any]) -> list[Case]:
    cases = [tok(f"rfc9068_s2_2_{name}_missing", Reason.TOKEN_CLAIM_MISSING, clm={name: DROP})]
    for value in wrong:
        label = type(value).__name__ if value != "" else "empty"
        cases.append(
            tok(f"rfc9068_s2_2_{name}_{label}", Reason.TOKEN_CLAIM_INVALID, clm={name: value})
        )
    return cases


def cnf(case_id: str, value: Any) -> Case:
    return tok(f"rfc9449_s6_1_{case_id}", Reason.TOKEN_CNF_INVALID, clm={"cnf": value})


def _hmac_forgery(secret_of: Callable[[Ctx], bytes]) -> Callable[[Ctx], object]:
    """alg HS256 "signed" with public material as the MAC secret (key-confusion attack)."""

    def run(c: Ctx) -> object:
        header = b64(jdump({"typ": "at+jwt", "alg": "HS256", "kid": c.k.issuer.kid}))
        signing_input = f"{header}.{b64(jdump(token_claims()))}"
        mac = hmac.new(secret_of(c), signing_input.encode(), hashlib.sha256).digest()
        return c.verify_token(f"{signing_input}.{b64(mac)}")

    return run


def _public_pem(c: Ctx) -> bytes:
    return c.k.issuer.public_key.key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _issuer_keys(c: Ctx) -> dict[str, Any]:
    return {
        c.k.issuer.kid: c.k.issuer.public_key,
        c.k.issuer_rsa.kid: c.k.issuer_rsa.public_key,
    }


def _jwks(c: Ctx, **override: Any) -> dict[str, Any]:
    first = {**c.k.issuer.public_jwk(), **override}
    return {"keys": [first, c.k.issuer_rsa.public_jwk()]}


def _bit_flipped_signature(c: Ctx) -> object:
    header, payload, signature = c.token().split(".")
    return c.verify_token(f"{header}.{payload}.{b64(flip_bit(b64d(signature), 5))}")


def _payload_of_other_token(c: Ctx) -> object:
    header, _, signature = c.token().split(".")
    other_payload = c.token(clm={"sub": "admin"}).split(".")[1]
    return c.verify_token(f"{header}.{other_payload}.{signature}")


def _oversized(c: Ctx) -> object:
    token = c.token(clm={"pad": "p" * POLICY.max_token_bytes})
    assert len(token) > POLICY.max_token_bytes
    return c.verify_token(token)


def _cached_then_expired(c: Ctx) -> object:
    verifier = AccessTokenVerifier(POLICY, {c.k.issuer.kid: c.k.issuer.public_key}, cache_size=8)
    token = c.token(clm={"exp": NOW + 10})
    c.record(token)
    verifier.verify(token, now=NOW)
    verifier.verify(token, now=NOW + 9)  # served from the cache
    return verifier.verify(token, now=NOW + 10)


def _cached_then_not_yet_valid(c: Ctx) -> object:
    verifier = AccessTokenVerifier(POLICY, {c.k.issuer.kid: c.k.issuer.public_key}, cache_size=8)
    token = c.token(clm={"nbf": NOW})
    c.record(token)
    verifier.verify(token, now=NOW)
    return verifier.verify(token, now=NOW - 1)


def _segments(build: Callable[[list[str]], str]) -> Callable[[Ctx], object]:
    def run(c: Ctx) -> object:
        return c.verify_token(build(c.token().split(".")))

    return run


def _fig8(
    policy: AccessTokenPolicy, keys: Callable[[Ctx], dict[str, Any]] | None = None
) -> Callable[[Ctx], object]:
    def run(c: Ctx) -> object:
        return c.verify_token(
            RFC9449_FIG8, now=1562262616, policy=policy, keys=keys(c) if keys else None
        )

    return run


CASES: list[Case] = [
    # typ (RFC 9068 §4: at+jwt; RFC 8725 §3.11 explicit typing)
    tok("rfc9068_s4_typ_missing_strict", Reason.TOKEN_TYP, hdr={"typ": DROP}),
    tok("rfc9068_s4_typ_null_strict", Reason.TOKEN_TYP, hdr={"typ": None}),
    tok("rfc9068_s4_typ_jwt", Reason.TOKEN_TYP, hdr={"typ": "JWT"}),
    tok("rfc9068_s4_typ_dpop_jwt", Reason.TOKEN_TYP, hdr={"typ": "dpop+jwt"}),
    tok("rfc9068_s4_typ_trailing_space", Reason.TOKEN_TYP, hdr={"typ": "at+jwt "}),
    tok("rfc9068_s4_typ_application_jwt", Reason.TOKEN_TYP, hdr={"typ": "application/jwt"}),
    tok("rfc9068_s4_typ_number", Reason.TOKEN_TYP, hdr={"typ": 1}),
    tok("rfc9068_s4_typ_jwt_not_strict", Reason.TOKEN_TYP, hdr={"typ": "JWT"}, policy=NO_TYP),
    tok(
        "rfc9068_s4_typ_logout_jwt_not_strict",
        Reason.TOKEN_TYP,
        hdr={"typ": "logout+jwt"},
        policy=NO_TYP,
    ),
    # alg (RFC 9068 §4, RFC 8725 §3.1)
    Case(
        "rfc9068_s4_alg_none_unsigned",
        lambda c: c.verify_token(
            f"{b64(jdump(token_header(c.k.issuer, {'alg': 'none'})))}.{b64(jdump(token_claims()))}."
        ),
        IT,
        Reason.TOKEN_MALFORMED,
    ),
    tok("rfc9068_s4_alg_none_with_signature", Reason.TOKEN_ALG, hdr={"alg": "none"}),
    tok("rfc9068_s4_alg_missing", Reason.TOKEN_ALG, hdr={"alg": DROP}),
    tok("rfc9068_s4_alg_lowercase", Reason.TOKEN_ALG, hdr={"alg": "es256"}),
    tok("rfc9068_s4_alg_hs256_label", Reason.TOKEN_ALG, hdr={"alg": "HS256"}),
    Case(
        "rfc8725_s2_1_hs256_forged_with_public_pem",
        _hmac_forgery(_public_pem),
        IT,
        Reason.TOKEN_ALG,
    ),
    Case(
        "rfc8725_s2_1_hs256_forged_with_public_jwk",
        _hmac_forgery(lambda c: jdump(c.k.issuer.public_key.jwk)),
        IT,
        Reason.TOKEN_ALG,
    ),
    Case(
        "rfc9068_s4_alg_off_allow_list",
        lambda c: c.verify_token(
            c.token(c.k.issuer_rsa),
            policy=AccessTokenPolicy(issuer=ISSUER, audiences=(AUDIENCE,), algorithms=("ES256",)),
            keys=_issuer_keys(c),
        ),
        IT,
        Reason.TOKEN_ALG,
    ),
    tok("rfc9068_s4_alg_eddsa_for_ec_key", Reason.TOKEN_ALG, hdr={"alg": "EdDSA"}),
    tok("rfc9068_s4_alg_rs256_for_ec_key", Reason.TOKEN_ALG, hdr={"alg": "RS256"}),
    tok(
        "rfc9068_s4_alg_es384_for_p256_key",
        Reason.TOKEN_ALG,
        hdr={"alg": "ES384"},
        policy=WITH_ES384,
    ),
    Case(
        "rfc7517_s4_4_jwks_key_alg_differs",
        lambda c: c.verify_token(c.token(), keys=_jwks(c, alg="ES384")),
        IT,
        Reason.TOKEN_ALG,
    ),
    Case(
        "rfc7517_s4_4_jwks_rsa_key_declared_rs256_token_ps256",
        lambda c: c.verify_token(c.token(c.k.issuer_rsa, hdr={"alg": "PS256"}), keys=_jwks(c)),
        IT,
        Reason.TOKEN_ALG,
    ),
    # key selection: only the configured keys, by kid
    tok("rfc9068_s4_kid_unknown", Reason.TOKEN_KEY_UNKNOWN, hdr={"kid": "as-2"}),
    tok("rfc9068_s4_kid_case_changed", Reason.TOKEN_KEY_UNKNOWN, hdr={"kid": "AS-1"}),
    tok("rfc9068_s4_kid_empty", Reason.TOKEN_KEY_UNKNOWN, hdr={"kid": ""}),
    tok("rfc9068_s4_kid_number", Reason.TOKEN_KEY_UNKNOWN, hdr={"kid": 1}),
    tok("rfc9068_s4_kid_list", Reason.TOKEN_KEY_UNKNOWN, hdr={"kid": ["as-1"]}),
    Case(
        "rfc9068_s4_no_kid_with_several_keys",
        lambda c: c.verify_token(c.token(hdr={"kid": DROP}), keys=_issuer_keys(c)),
        IT,
        Reason.TOKEN_KEY_UNKNOWN,
    ),
    Case(
        "rfc7517_s4_2_jwks_enc_key_is_not_a_signing_key",
        lambda c: c.verify_token(c.token(), keys=_jwks(c, use="enc")),
        IT,
        Reason.TOKEN_KEY_UNKNOWN,
    ),
    Case(
        "rfc8725_s3_10_embedded_jwk_with_own_kid",
        lambda c: c.verify_token(c.token(c.k.attacker, hdr={"jwk": c.k.attacker.public_key.jwk})),
        IT,
        Reason.TOKEN_KEY_UNKNOWN,
    ),
    Case(
        "rfc8725_s3_10_embedded_jwk_without_kid",
        lambda c: c.verify_token(
            c.token(c.k.attacker, hdr={"kid": DROP, "jwk": c.k.attacker.public_key.jwk})
        ),
        IT,
        Reason.TOKEN_SIGNATURE,
    ),
    Case(
        "rfc8725_s3_10_embedded_jwk_with_issuer_kid",
        lambda c: c.verify_token(
            c.token(c.k.attacker, hdr={"kid": "as-1", "jwk": c.k.attacker.public_key.jwk})
        ),
        IT,
        Reason.TOKEN_SIGNATURE,
    ),
    Case(
        "rfc8725_s3_10_jku_header_ignored",
        lambda c: c.verify_token(
            c.token(c.k.attacker, hdr={"kid": "as-1", "jku": "https://attacker.example/jwks"})
        ),
        IT,
        Reason.TOKEN_SIGNATURE,
    ),
    Case(
        "rfc8725_s3_10_x5u_header_ignored",
        lambda c: c.verify_token(
            c.token(c.k.attacker, hdr={"kid": "as-1", "x5u": "https://attacker.example/cert"})
        ),
        IT,
        Reason.TOKEN_SIGNATURE,
    ),
    # signature
    Case("rfc9068_s4_signature_bit_flipped", _bit_flipped_signature, IT, Reason.TOKEN_SIGNATURE),
    Case("rfc9068_s4_payload_of_other_token", _payload_of_other_token, IT, Reason.TOKEN_SIGNATURE),
    Case(
        "rfc9068_s4_signed_by_other_issuer_key_under_kid",
        lambda c: c.verify_token(
            c.token(c.k.issuer_rsa, hdr={"kid": "as-rsa"}), keys={"as-rsa": c.k.ps256.public_key}
        ),
        IT,
        Reason.TOKEN_SIGNATURE,
    ),
    # iss: exact comparison
    tok("rfc9068_s4_iss_prefix", Reason.TOKEN_ISSUER, clm={"iss": ISSUER[:-1]}),
    tok("rfc9068_s4_iss_superstring", Reason.TOKEN_ISSUER, clm={"iss": ISSUER + ".evil"}),
    tok("rfc9068_s4_iss_path_superstring", Reason.TOKEN_ISSUER, clm={"iss": ISSUER + "/tenant"}),
    tok("rfc9068_s4_iss_trailing_slash", Reason.TOKEN_ISSUER, clm={"iss": ISSUER + "/"}),
    tok("rfc9068_s4_iss_uppercase", Reason.TOKEN_ISSUER, clm={"iss": ISSUER.upper()}),
    *missing_and_wrong("iss", [1, "", [ISSUER]]),
    # aud
    tok("rfc9068_s4_aud_other_rs", Reason.TOKEN_AUDIENCE, clm={"aud": "https://other.example"}),
    tok(
        "rfc9068_s4_aud_list_of_others",
        Reason.TOKEN_AUDIENCE,
        clm={"aud": ["https://a.example", "https://b.example"]},
    ),
    tok("rfc9068_s4_aud_trailing_slash", Reason.TOKEN_AUDIENCE, clm={"aud": AUDIENCE + "/"}),
    tok("rfc9068_s4_aud_issuer", Reason.TOKEN_AUDIENCE, clm={"aud": ISSUER}),
    tok("rfc9068_s4_aud_empty_list", Reason.TOKEN_CLAIM_INVALID, clm={"aud": []}),
    tok("rfc9068_s4_aud_list_with_number", Reason.TOKEN_CLAIM_INVALID, clm={"aud": [AUDIENCE, 1]}),
    tok("rfc9068_s4_aud_list_with_empty", Reason.TOKEN_CLAIM_INVALID, clm={"aud": [""]}),
    tok("rfc9068_s4_aud_object", Reason.TOKEN_CLAIM_INVALID, clm={"aud": {"aud": AUDIENCE}}),
    *missing_and_wrong("aud", [1, ""]),
    # exp / nbf
    tok("rfc9068_s4_exp_equals_now", Reason.TOKEN_EXPIRED, clm={"exp": NOW}),
    tok("rfc9068_s4_exp_past", Reason.TOKEN_EXPIRED, clm={"exp": NOW - 1}),
    tok("rfc9068_s4_exp_fraction_past", Reason.TOKEN_EXPIRED, clm={"exp": NOW - 0.5}),
    tok(
        "rfc9068_s4_exp_leeway_boundary",
        Reason.TOKEN_EXPIRED,
        clm={"exp": NOW - LEEWAY},
        policy=LENIENT,
    ),
    tok(
        "rfc9068_s4_exp_beyond_leeway",
        Reason.TOKEN_EXPIRED,
        clm={"exp": NOW - LEEWAY - 1},
        policy=LENIENT,
    ),
    *missing_and_wrong("exp", [str(NOW + 300), True, [NOW + 300]]),
    tok("rfc9068_s4_exp_null", Reason.TOKEN_CLAIM_MISSING, clm={"exp": None}),
    tok("rfc7519_s4_1_5_nbf_future", Reason.TOKEN_NOT_YET_VALID, clm={"nbf": NOW + 1}),
    tok(
        "rfc7519_s4_1_5_nbf_beyond_leeway",
        Reason.TOKEN_NOT_YET_VALID,
        clm={"nbf": NOW + LEEWAY + 1},
        policy=LENIENT,
    ),
    tok("rfc7519_s4_1_5_nbf_string", Reason.TOKEN_CLAIM_INVALID, clm={"nbf": str(NOW)}),
    tok("rfc7519_s4_1_5_nbf_true", Reason.TOKEN_CLAIM_INVALID, clm={"nbf": True}),
    Case("rfc9068_s4_cached_token_expires_on_time", _cached_then_expired, IT, Reason.TOKEN_EXPIRED),
    Case(
        "rfc9068_s4_cached_token_nbf_rechecked",
        _cached_then_not_yet_valid,
        IT,
        Reason.TOKEN_NOT_YET_VALID,
    ),
    # required claims (RFC 9068 §2.2)
    *missing_and_wrong("iat", [str(NOW), False]),
    *missing_and_wrong("sub", [1, "", ["user-1"]]),
    *missing_and_wrong("client_id", [1, "", ["client-1"]]),
    *missing_and_wrong("jti", [1, "", {"id": "x"}]),
    tok("rfc9068_s2_2_3_scope_list", Reason.TOKEN_CLAIM_INVALID, clm={"scope": ["read"]}),
    tok("rfc9068_s2_2_3_scope_number", Reason.TOKEN_CLAIM_INVALID, clm={"scope": 1}),
    # cnf (RFC 7800 §3.1, RFC 9449 §6.1, RFC 8705 §3.1)
    cnf("cnf_string", JKT),
    cnf("cnf_list", [{"jkt": JKT}]),
    cnf("cnf_number", 1),
    cnf("cnf_jkt_42_chars", {"jkt": JKT[:-1]}),
    cnf("cnf_jkt_44_chars", {"jkt": JKT + "A"}),
    cnf("cnf_jkt_padded", {"jkt": JKT + "="}),
    cnf("cnf_jkt_standard_alphabet", {"jkt": JKT.replace("-", "+")}),
    cnf("cnf_jkt_noncanonical_tail", {"jkt": noncanonical_tail(JKT)}),
    cnf("cnf_jkt_hex", {"jkt": hashlib.sha256(b"k").hexdigest()}),
    cnf("cnf_jkt_number", {"jkt": 1}),
    cnf("cnf_jkt_null", {"jkt": None}),
    cnf("cnf_jkt_and_x5t", {"jkt": JKT, "x5t#S256": X5T}),
    cnf("cnf_x5t_wrong_length", {"x5t#S256": X5T[:-2]}),
    cnf("cnf_x5t_sha1", {"x5t#S256": "T8Qp8fPmVYqb9iHyzQUaAbxBedY"}),
    # size and framing
    Case("rfc9068_s4_oversized", _oversized, IT, Reason.TOKEN_TOO_LARGE),
    Case(
        "rfc9068_s4_oversized_garbage",
        lambda c: c.verify_token("A" * (POLICY.max_token_bytes + 1)),
        IT,
        Reason.TOKEN_TOO_LARGE,
    ),
    Case(
        "rfc9068_s4_non_ascii",
        _segments(lambda p: f"{p[0]}é.{p[1]}.{p[2]}"),
        IT,
        Reason.TOKEN_MALFORMED,
    ),
    Case(
        "rfc7515_s7_1_two_parts", _segments(lambda p: f"{p[0]}.{p[1]}"), IT, Reason.TOKEN_MALFORMED
    ),
    Case(
        "rfc7515_s7_1_four_parts",
        _segments(lambda p: ".".join([*p, p[2]])),
        IT,
        Reason.TOKEN_MALFORMED,
    ),
    Case(
        "rfc7515_s7_1_empty_signature",
        _segments(lambda p: f"{p[0]}.{p[1]}."),
        IT,
        Reason.TOKEN_MALFORMED,
    ),
    Case("rfc7515_s7_1_empty_token", lambda c: c.verify_token(""), IT, Reason.TOKEN_MALFORMED),
    Case(
        "rfc7515_s7_2_json_serialization",
        _segments(
            lambda p: jdump({"protected": p[0], "payload": p[1], "signature": p[2]}).decode()
        ),
        IT,
        Reason.TOKEN_MALFORMED,
    ),
    Case(
        "rfc7515_s2_signed_payload_with_whitespace",
        lambda c: c.verify_token(
            c.segs(
                b64(jdump(token_header(c.k.issuer))),
                b64(jdump(token_claims()))[:5] + " " + b64(jdump(token_claims()))[5:],
                c.k.issuer,
            )
        ),
        IT,
        Reason.TOKEN_MALFORMED,
    ),
    Case(
        "rfc7515_s2_signed_header_with_padding",
        lambda c: c.verify_token(
            c.segs(
                b64(jdump(token_header(c.k.issuer))) + "=", b64(jdump(token_claims())), c.k.issuer
            )
        ),
        IT,
        Reason.TOKEN_MALFORMED,
    ),
    Case(
        "rfc7515_s5_2_header_duplicate_member",
        lambda c: c.verify_token(
            c.raw(
                b'{"alg":"none",' + jdump(token_header(c.k.issuer))[1:],
                jdump(token_claims()),
                c.k.issuer,
            )
        ),
        IT,
        Reason.TOKEN_MALFORMED,
    ),
    Case(
        "rfc7515_s5_2_payload_duplicate_claim",
        lambda c: c.verify_token(
            c.raw(
                jdump(token_header(c.k.issuer)),
                b'{"sub":"admin",' + jdump(token_claims())[1:],
                c.k.issuer,
            )
        ),
        IT,
        Reason.TOKEN_MALFORMED,
    ),
    Case(
        "rfc7519_s7_2_payload_not_an_object",
        lambda c: c.verify_token(c.raw(jdump(token_header(c.k.issuer)), b"[1]", c.k.issuer)),
        IT,
        Reason.TOKEN_MALFORMED,
    ),
    tok("rfc7515_s4_1_11_crit", Reason.TOKEN_MALFORMED, hdr={"crit": ["exp"], "exp": NOW}),
    # RFC 9449 Figure 8: not an RFC 9068 token, signed by an unpublished key
    Case("rfc9449_fig8_no_typ", _fig8(AccessTokenPolicy(**FIG8_POLICY)), IT, Reason.TOKEN_TYP),
    Case(
        "rfc9449_fig8_unknown_kid",
        _fig8(AccessTokenPolicy(**FIG8_POLICY, strict_typ=False)),
        IT,
        Reason.TOKEN_KEY_UNKNOWN,
    ),
    Case(
        "rfc9449_fig8_other_key_under_its_kid",
        _fig8(
            AccessTokenPolicy(**FIG8_POLICY, strict_typ=False),
            lambda c: {"BeALkb": c.k.es256.public_key},
        ),
        IT,
        Reason.TOKEN_SIGNATURE,
    ),
]


def _issued(c: Ctx, **kwargs: Any) -> str:
    args: dict[str, Any] = {
        "issuer": ISSUER,
        "subject": "user-1",
        "audience": AUDIENCE,
        "client_id": "client-1",
        "now": NOW,
        "ttl": 300,
        "jti": "at-1",
    }
    args.update(kwargs)
    token = issue_access_token(c.k.issuer, **args)
    c.record(token)
    return token


ACCEPTED: list[Accept] = [
    Accept("issued_token", lambda c: c.verify_token(_issued(c))),
    Accept("issued_token_bound", lambda c: c.verify_token(_issued(c, jkt=JKT))),
    Accept("issued_token_mtls_bound", lambda c: c.verify_token(_issued(c, x5t_s256=X5T))),
    Accept("rfc9068_s3_typ_at_JWT", lambda c: c.verify_token(c.token(hdr={"typ": "at+JWT"}))),
    Accept(
        "rfc7515_s4_1_9_typ_application_prefix",
        lambda c: c.verify_token(c.token(hdr={"typ": "application/at+jwt"})),
    ),
    Accept(
        "rfc7515_s4_1_9_typ_uppercase", lambda c: c.verify_token(c.token(hdr={"typ": "AT+JWT"}))
    ),
    Accept(
        "typ_missing_not_strict",
        lambda c: c.verify_token(c.token(hdr={"typ": DROP}), policy=NO_TYP),
    ),
    Accept("exp_one_second_left", lambda c: c.verify_token(c.token(clm={"exp": NOW + 1}))),
    Accept(
        "exp_within_leeway",
        lambda c: c.verify_token(c.token(clm={"exp": NOW - LEEWAY + 1}), policy=LENIENT),
    ),
    Accept("nbf_equals_now", lambda c: c.verify_token(c.token(clm={"nbf": NOW}))),
    Accept(
        "nbf_within_leeway",
        lambda c: c.verify_token(c.token(clm={"nbf": NOW + LEEWAY}), policy=LENIENT),
    ),
    Accept(
        "aud_list_containing_ours",
        lambda c: c.verify_token(c.token(clm={"aud": ["https://x.example", AUDIENCE]})),
    ),
    Accept("jwks_key_set", lambda c: c.verify_token(c.token(), keys=_jwks(c))),
    Accept("no_kid_single_key", lambda c: c.verify_token(c.token(hdr={"kid": DROP}))),
    Accept(
        "cnf_without_binding_members", lambda c: c.verify_token(c.token(clm={"cnf": {"other": 1}}))
    ),
]


@pytest.mark.parametrize("case", params(CASES))
def test_rejected(case: Case, ctx: Ctx) -> None:
    expect_rejection(case, ctx)


@pytest.mark.parametrize("case", params(ACCEPTED))
def test_accepted(case: Accept, ctx: Ctx) -> None:
    case.action(ctx)
