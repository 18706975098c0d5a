"""The JOSE header of a DPoP proof: ``typ``, ``alg``, ``crit`` and the ``jwk``.

RFC 9449 §4.2 and §4.3 steps 4, 5 and 7 (spec-checklist §1.1 #5-7, §1.2 #19, #20, #22), §11.5
(explicit typing) and §11.6 (asymmetric algorithms only); RFC 7515 §4.1.11 (``crit``); RFC 7518
§6.2/§6.3 and RFC 8037 §2 (JWK members). The ``typ`` comparison is case-insensitive with an
optional ``application/`` prefix (RFC 7515 §4.1.9) -- a documented policy choice, tested as a
positive control below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from proofbound import InvalidDPoPProof, ProofPolicy, Reason

from ._support import (
    DROP,
    Accept,
    Case,
    Ctx,
    b64,
    b64d,
    expect_rejection,
    jdump,
    merged,
    noncanonical_tail,
    params,
    proof_claims,
    pss_sign,
    rsa_jwk,
)

IDP = InvalidDPoPProof
ALL = ProofPolicy(algorithms=("ES256", "ES384", "EdDSA", "PS256", "RS256"))
EC_ONLY = ProofPolicy(algorithms=("ES256", "EdDSA"))
NOW_PLUS = 1_700_000_600
P256_P = 2**256 - 2**224 + 2**192 + 2**96 - 1


def typ(case_id: str, value: Any) -> Case:
    """A proof whose ``typ`` is ``value`` (DROP: absent)."""
    return Case(
        f"rfc9449_s4_3_step4_typ_{case_id}",
        lambda c: c.verify(c.proof(hdr={"typ": value})),
        IDP,
        Reason.PROOF_TYP,
    )


def alg(case_id: str, value: Any) -> Case:
    return Case(
        f"rfc9449_s4_3_step5_{case_id}",
        lambda c: c.verify(c.proof(hdr={"alg": value})),
        IDP,
        Reason.PROOF_ALG,
    )


def ec_jwk(c: Ctx, **members: Any) -> dict[str, Any]:
    return merged(c.k.es256.public_key.jwk, members)


def with_jwk(
    build: Callable[[Ctx], Mapping[str, Any]],
    *,
    key: str = "es256",
) -> Callable[[Ctx], object]:
    """Proof signed by ``key`` whose header ``jwk`` is ``build(ctx)``."""

    def run(c: Ctx) -> object:
        signer = getattr(c.k, key)
        return c.verify(c.proof(signer, hdr={"jwk": build(c)}))

    return run


def private_member(key: str, member: str) -> Callable[[Ctx], Mapping[str, Any]]:
    """The key's public JWK plus one real private member from its private JWK."""

    def build(c: Ctx) -> Mapping[str, Any]:
        signer = getattr(c.k, key)
        return {**signer.public_key.jwk, member: signer.private_jwk()[member]}

    return build


def _coord(c: Ctx, name: str) -> bytes:
    return b64d(c.k.es256.public_key.jwk[name])


def _rsa_members(c: Ctx, **members: Any) -> dict[str, Any]:
    return merged(c.k.ps256.public_key.jwk, members)


def _rsa2047_proof(c: Ctx) -> object:
    key = c.k.rsa2047
    header = {"typ": "dpop+jwt", "alg": "PS256", "jwk": rsa_jwk(key.public_key())}
    signing_input = f"{b64(jdump(header))}.{b64(jdump(proof_claims()))}"
    proof = f"{signing_input}.{b64(pss_sign(key, signing_input.encode()))}"
    return c.verify(proof)


def _ed25519_small_order_proof(c: Ctx) -> object:
    # The neutral element (y = 1) is a valid Ed25519 encoding; with R = neutral and S = 0 the
    # cofactorless equation [S]B = R + [k]A holds for *every* message: no possession is proven.
    neutral = b"\x01" + b"\x00" * 31
    header = {
        "typ": "dpop+jwt",
        "alg": "EdDSA",
        "jwk": {"kty": "OKP", "crv": "Ed25519", "x": b64(neutral)},
    }
    signing_input = f"{b64(jdump(header))}.{b64(jdump(proof_claims()))}"
    signature = neutral + bytes(32)
    proof = f"{signing_input}.{b64(signature)}"
    return c.verify(proof)


def _big_odd(bits: int) -> int:
    return (1 << (bits - 1)) | 0x10001


CASES: list[Case] = [
    # step 4: typ
    typ("missing", DROP),
    typ("jwt", "JWT"),
    typ("jwt_lowercase", "jwt"),
    typ("at_jwt", "at+jwt"),
    typ("trailing_space", "dpop+jwt "),
    typ("leading_space", " dpop+jwt"),
    typ("trailing_nul", "dpop+jwt\x00"),
    typ("dash_instead_of_plus", "dpop-jwt"),
    typ("application_dpop", "application/dpop"),
    typ("suffix_after_jwt", "application/dpop+jwt+x"),
    typ("null", None),
    typ("number", 1),
    typ("list", ["dpop+jwt"]),
    typ("object", {"value": "dpop+jwt"}),
    # step 5: alg (never none, never a MAC, registered, on the allow list)
    alg("alg_missing", DROP),
    alg("alg_none", "none"),
    alg("alg_None", "None"),
    alg("alg_NONE", "NONE"),
    alg("alg_empty", ""),
    alg("alg_hs256", "HS256"),
    alg("alg_hs512", "HS512"),
    alg("alg_es256k_unknown", "ES256K"),
    alg("alg_lowercase_es256", "es256"),
    alg("alg_trailing_space", "ES256 "),
    alg("alg_number", 256),
    alg("alg_list", ["ES256"]),
    alg("alg_null", None),
    Case(
        "rfc9449_s11_6_alg_rs256_off_allow_list",
        lambda c: c.verify(c.proof(c.k.rs256), policy=EC_ONLY),
        IDP,
        Reason.PROOF_ALG,
    ),
    Case(
        "rfc9449_s11_6_alg_ps256_off_allow_list",
        lambda c: c.verify(c.proof(c.k.ps256), policy=EC_ONLY),
        IDP,
        Reason.PROOF_ALG,
    ),
    Case(
        "rfc9449_s11_6_alg_es384_off_default_list",
        lambda c: c.verify(c.proof(c.k.es384)),
        IDP,
        Reason.PROOF_ALG,
    ),
    Case(
        "rfc9449_s11_6_alg_ps512_off_default_list",
        lambda c: c.verify(c.proof(c.k.ps256, hdr={"alg": "PS512"})),
        IDP,
        Reason.PROOF_ALG,
    ),
    # alg does not fit the jwk
    Case(
        "rfc9449_s4_3_step5_es256_with_rsa_jwk",
        lambda c: c.verify(c.proof(c.k.ps256, hdr={"alg": "ES256"})),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc9449_s4_3_step5_eddsa_with_ec_jwk",
        lambda c: c.verify(c.proof(c.k.es256, hdr={"alg": "EdDSA"})),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc9449_s4_3_step5_es384_with_p256_jwk",
        lambda c: c.verify(c.proof(c.k.es256, hdr={"alg": "ES384"}), policy=ALL),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc9449_s4_3_step5_es256_with_p384_jwk",
        lambda c: c.verify(c.proof(c.k.es384, hdr={"alg": "ES256"}), policy=ALL),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc9449_s4_3_step5_rs256_with_ec_jwk",
        lambda c: c.verify(c.proof(c.k.es256, hdr={"alg": "RS256"})),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc9449_s4_3_step5_ps256_with_okp_jwk",
        lambda c: c.verify(c.proof(c.k.ed, hdr={"alg": "PS256"})),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc9449_s4_3_step5_eddsa_with_rsa_jwk",
        lambda c: c.verify(c.proof(c.k.ps256, hdr={"alg": "EdDSA"})),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    # crit: no critical extension is understood (RFC 7515 §4.1.11)
    Case(
        "rfc7515_s4_1_11_crit_exp",
        lambda c: c.verify(c.proof(hdr={"crit": ["exp"], "exp": NOW_PLUS})),
        IDP,
        Reason.PROOF_CRIT,
    ),
    Case(
        "rfc7515_s4_1_11_crit_empty_list",
        lambda c: c.verify(c.proof(hdr={"crit": []})),
        IDP,
        Reason.PROOF_CRIT,
    ),
    Case(
        "rfc7515_s4_1_11_crit_unknown",
        lambda c: c.verify(c.proof(hdr={"crit": ["foo"], "foo": 1})),
        IDP,
        Reason.PROOF_CRIT,
    ),
    Case(
        "rfc7797_s6_crit_b64_false",
        lambda c: c.verify(c.proof(hdr={"crit": ["b64"], "b64": False})),
        IDP,
        Reason.PROOF_CRIT,
    ),
    Case(
        "rfc7515_s4_1_11_crit_not_a_list",
        lambda c: c.verify(c.proof(hdr={"crit": "exp"})),
        IDP,
        Reason.PROOF_CRIT,
    ),
    # jwk missing or not an object
    Case(
        "rfc9449_s4_2_jwk_missing",
        lambda c: c.verify(c.proof(hdr={"jwk": DROP})),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc9449_s4_2_jwk_null",
        lambda c: c.verify(c.proof(hdr={"jwk": None})),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc9449_s4_2_jwk_json_text",
        lambda c: c.verify(c.proof(hdr={"jwk": jdump(c.k.es256.public_key.jwk).decode()})),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc9449_s4_2_jwk_array",
        lambda c: c.verify(c.proof(hdr={"jwk": [c.k.es256.public_key.jwk]})),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc9449_s4_2_jwk_empty_object",
        lambda c: c.verify(c.proof(hdr={"jwk": {}})),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc9449_s4_2_jwk_via_kid_only",
        lambda c: c.verify(c.proof(hdr={"jwk": DROP, "kid": c.k.es256.thumbprint})),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    # step 7: private or symmetric key material
    Case(
        "rfc9449_s4_3_step7_oct_with_k",
        with_jwk(lambda c: {"kty": "oct", "k": b64(b"a shared secret of 32 bytes ....")}),
        IDP,
        Reason.PROOF_PRIVATE_JWK,
    ),
    Case(
        "rfc9449_s4_3_step7_ec_with_d",
        with_jwk(private_member("es256", "d")),
        IDP,
        Reason.PROOF_PRIVATE_JWK,
    ),
    Case(
        "rfc9449_s4_3_step7_ec_full_private_jwk",
        with_jwk(lambda c: c.k.es256.private_jwk()),
        IDP,
        Reason.PROOF_PRIVATE_JWK,
    ),
    Case(
        "rfc9449_s4_3_step7_ec_with_k",
        with_jwk(lambda c: ec_jwk(c, k="AAAA")),
        IDP,
        Reason.PROOF_PRIVATE_JWK,
    ),
    Case(
        "rfc9449_s4_3_step7_okp_with_d",
        with_jwk(private_member("ed", "d"), key="ed"),
        IDP,
        Reason.PROOF_PRIVATE_JWK,
    ),
    *(
        Case(
            f"rfc9449_s4_3_step7_rsa_with_{member}",
            with_jwk(private_member("ps256", member), key="ps256"),
            IDP,
            Reason.PROOF_PRIVATE_JWK,
        )
        for member in ("d", "p", "q", "dp", "dq", "qi")
    ),
    Case(
        "rfc9449_s4_3_step7_rsa_with_oth",
        with_jwk(
            lambda c: _rsa_members(c, oth=[{"r": "AQAB", "d": "AQAB", "t": "AQAB"}]),
            key="ps256",
        ),
        IDP,
        Reason.PROOF_PRIVATE_JWK,
    ),
    Case(
        "rfc9449_s4_3_step7_rsa_full_private_jwk",
        with_jwk(lambda c: c.k.ps256.private_jwk(), key="ps256"),
        IDP,
        Reason.PROOF_PRIVATE_JWK,
    ),
    # unusable kty
    Case(
        "rfc7518_s6_oct_without_k",
        with_jwk(lambda c: {"kty": "oct"}),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc7517_s4_1_kty_missing",
        with_jwk(lambda c: ec_jwk(c, kty=DROP)),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc7517_s4_1_kty_lowercase",
        with_jwk(lambda c: ec_jwk(c, kty="ec")),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    # EC members (RFC 7518 §6.2.1)
    Case(
        "rfc7518_s6_2_1_2_x_31_bytes",
        with_jwk(lambda c: ec_jwk(c, x=b64(_coord(c, "x")[1:]))),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc7518_s6_2_1_2_x_33_bytes",
        with_jwk(lambda c: ec_jwk(c, x=b64(b"\x00" + _coord(c, "x")))),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc7518_s6_2_1_3_y_31_bytes",
        with_jwk(lambda c: ec_jwk(c, y=b64(_coord(c, "y")[1:]))),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc7518_s6_2_1_3_y_missing",
        with_jwk(lambda c: ec_jwk(c, y=DROP)),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc7518_s6_2_1_2_x_number",
        with_jwk(lambda c: ec_jwk(c, x=int.from_bytes(_coord(c, "x"), "big"))),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc7518_s6_2_1_point_not_on_curve",
        with_jwk(
            lambda c: ec_jwk(
                c, y=b64(((int.from_bytes(_coord(c, "y"), "big") + 1) % P256_P).to_bytes(32, "big"))
            )
        ),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc7518_s6_2_1_point_zero_zero",
        with_jwk(lambda c: ec_jwk(c, x=b64(bytes(32)), y=b64(bytes(32)))),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc7518_s6_2_1_x_equals_field_prime",
        with_jwk(lambda c: ec_jwk(c, x=b64(P256_P.to_bytes(32, "big")))),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc7515_s2_x_noncanonical_base64url",
        with_jwk(lambda c: ec_jwk(c, x=noncanonical_tail(c.k.es256.public_key.jwk["x"]))),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc7515_s2_y_padded_base64url",
        with_jwk(lambda c: ec_jwk(c, y=c.k.es256.public_key.jwk["y"] + "=")),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc7518_s6_2_1_1_crv_unknown_p192",
        with_jwk(lambda c: ec_jwk(c, crv="P-192")),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc7518_s6_2_1_1_crv_secp256k1",
        with_jwk(lambda c: ec_jwk(c, crv="secp256k1")),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc7518_s6_2_1_1_crv_lowercase",
        with_jwk(lambda c: ec_jwk(c, crv="p-256")),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc7518_s6_2_1_1_crv_missing",
        with_jwk(lambda c: ec_jwk(c, crv=DROP)),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc7518_s6_2_1_1_crv_list",
        with_jwk(lambda c: ec_jwk(c, crv=["P-256"])),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    # OKP members (RFC 8037 §2)
    Case(
        "rfc8037_s2_okp_ed448",
        with_jwk(lambda c: {"kty": "OKP", "crv": "Ed448", "x": b64(bytes(57))}, key="ed"),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc8037_s2_okp_x25519",
        with_jwk(lambda c: {**c.k.ed.public_key.jwk, "crv": "X25519"}, key="ed"),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc8037_s2_okp_x_31_bytes",
        with_jwk(
            lambda c: {**c.k.ed.public_key.jwk, "x": b64(b64d(c.k.ed.public_key.jwk["x"])[1:])},
            key="ed",
        ),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc8037_s2_okp_x_missing",
        with_jwk(lambda c: {"kty": "OKP", "crv": "Ed25519"}, key="ed"),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    # Hardening: a small-order Ed25519 key makes any signature "verify" (RFC 8032 §5.1.7 leaves
    # the check to the verifier); such a key proves no possession and must not be accepted.
    Case(
        "rfc8032_s5_1_7_ed25519_small_order_key_universal_signature",
        _ed25519_small_order_proof,
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    # RSA members (RFC 7518 §6.3.1, §3.3: at least 2048 bits)
    Case("rfc7518_s3_3_rsa_2047_bit_modulus", _rsa2047_proof, IDP, Reason.PROOF_JWK_INVALID),
    Case(
        "rfc7518_s6_3_1_2_rsa_even_exponent",
        with_jwk(lambda c: _rsa_members(c, e=b64((65536).to_bytes(3, "big"))), key="ps256"),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc7518_s6_3_1_2_rsa_exponent_one",
        with_jwk(lambda c: _rsa_members(c, e="AQ"), key="ps256"),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc7518_s6_3_1_2_rsa_exponent_leading_zero",
        with_jwk(lambda c: _rsa_members(c, e="AAEAAQ"), key="ps256"),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc7518_s6_3_1_2_rsa_exponent_over_64_bits",
        with_jwk(lambda c: _rsa_members(c, e=b64((2**65 + 1).to_bytes(9, "big"))), key="ps256"),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc7518_s6_3_1_1_rsa_modulus_leading_zero_byte",
        with_jwk(
            lambda c: _rsa_members(c, n=b64(b"\x00" + b64d(c.k.ps256.public_key.jwk["n"]))),
            key="ps256",
        ),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc7518_s6_3_1_1_rsa_modulus_over_8192_bits",
        with_jwk(
            lambda c: _rsa_members(c, n=b64(_big_odd(8200).to_bytes(1025, "big"))), key="ps256"
        ),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc7518_s6_3_1_1_rsa_modulus_missing",
        with_jwk(lambda c: _rsa_members(c, n=DROP), key="ps256"),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc7518_s6_3_1_2_rsa_exponent_number",
        with_jwk(lambda c: _rsa_members(c, e=65537), key="ps256"),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
    Case(
        "rfc7518_s6_3_1_1_rsa_modulus_empty",
        with_jwk(lambda c: _rsa_members(c, n=""), key="ps256"),
        IDP,
        Reason.PROOF_JWK_INVALID,
    ),
]

ACCEPTED: list[Accept] = [
    Accept("rfc7515_s4_1_9_typ_uppercase", lambda c: c.verify(c.proof(hdr={"typ": "DPOP+JWT"}))),
    Accept(
        "rfc7515_s4_1_9_typ_application_prefix",
        lambda c: c.verify(c.proof(hdr={"typ": "application/dpop+jwt"})),
    ),
    Accept(
        "rfc7515_s4_1_9_typ_mixed_case_prefix",
        lambda c: c.verify(c.proof(hdr={"typ": "Application/DPoP+JWT"})),
    ),
    Accept("rfc7518_s3_3_rsa_2048_bit_ps256", lambda c: c.verify(c.proof(c.k.ps256))),
    Accept("rfc7518_s3_3_rsa_2048_bit_rs256", lambda c: c.verify(c.proof(c.k.rs256))),
    Accept("rfc8037_eddsa", lambda c: c.verify(c.proof(c.k.ed))),
    Accept("es384_when_allowed", lambda c: c.verify(c.proof(c.k.es384), policy=ALL)),
    Accept(
        "rfc7517_jwk_with_optional_public_members",
        with_jwk(lambda c: c.k.es256.public_jwk()),
    ),
    Accept("rfc9449_s4_2_extra_header_parameter", lambda c: c.verify(c.proof(hdr={"x": 1}))),
]


@pytest.mark.parametrize("case", params(CASES))
def test_rejected(case: Case, ctx: Ctx) -> None:
    expect_rejection(case, ctx)


@pytest.mark.parametrize("case", params(ACCEPTED))
def test_accepted(case: Accept, ctx: Ctx) -> None:
    case.action(ctx)
