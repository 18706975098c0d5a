"""The proof signature (RFC 9449 §4.3 step 6; spec-checklist §1.2 #21).

The signature must verify with the header's ``jwk`` over the exact signing input: a flipped bit
anywhere, a re-serialised header or payload, another key, or a signature in the wrong format for
the algorithm (RFC 7518 §3.4 raw ``R || S`` for ECDSA, §3.3/§3.5 PKCS#1 v1.5 vs PSS) fails.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from proofbound import DPoPVerifier, InvalidDPoPProof, ProofPolicy, Reason

from ._support import (
    NOW,
    RFC9449_FIG2,
    RFC9449_FIG2_IAT,
    RFC9449_FIG7,
    RFC9449_TOKEN_URI,
    RS_URI,
    Case,
    Ctx,
    b64,
    b64d,
    expect_rejection,
    flip_bit,
    jdump,
    params,
    proof_claims,
    proof_header,
)

IDP = InvalidDPoPProof
SIG = Reason.PROOF_SIGNATURE
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
ED25519_L = 2**252 + 27742317777372353535851937790883648493


def resign(mutate: Callable[[bytes], bytes], key: str = "es256") -> Callable[[Ctx], object]:
    """A valid proof by ``key`` whose signature bytes are replaced by ``mutate(signature)``."""

    def run(c: Ctx) -> object:
        header, payload, signature = c.proof(getattr(c.k, key)).split(".")
        return c.verify(f"{header}.{payload}.{b64(mutate(b64d(signature)))}")

    return run


def foreign_signature(sign: Callable[[Ctx, bytes], bytes], key: str) -> Callable[[Ctx], object]:
    """Header and payload of a proof by ``key``, signed by ``sign`` instead."""

    def run(c: Ctx) -> object:
        header, payload, _ = c.proof(getattr(c.k, key)).split(".")
        signing_input = f"{header}.{payload}"
        return c.verify(f"{signing_input}.{b64(sign(c, signing_input.encode()))}")

    return run


def _payload_bit_flip(c: Ctx) -> object:
    # Change one bit of the jti ("jti-0001" -> "jti-0000"), re-encode canonically.
    header, payload, signature = c.proof().split(".")
    claims = b64d(payload)
    index = claims.index(b"jti-0001") + len("jti-000")
    return c.verify(f"{header}.{b64(flip_bit(claims, index))}.{signature}")


def _header_bit_flip(c: Ctx) -> object:
    # An extra header parameter "x":"a" becomes "x":"c": one bit, header still valid.
    key = c.k.es256
    header_json = jdump(proof_header(key, {"x": "a"}))
    proof = c.raw(header_json, jdump(proof_claims()))
    _, payload, signature = proof.split(".")
    altered = header_json.replace(b'"x":"a"', b'"x":"c"')
    return c.verify(f"{b64(altered)}.{payload}.{signature}")


def _header_reordered(c: Ctx) -> object:
    key = c.k.es256
    header, payload, signature = c.proof(key).split(".")
    members = json.loads(b64d(header))
    reordered = dict(reversed(list(members.items())))
    return c.verify(f"{b64(jdump(reordered))}.{payload}.{signature}")


def _payload_reserialised(c: Ctx) -> object:
    header, payload, signature = c.proof().split(".")
    spaced = json.dumps(json.loads(b64d(payload))).encode()  # default separators add spaces
    return c.verify(f"{header}.{b64(spaced)}.{signature}")


def _signature_from_other_proof(c: Ctx) -> object:
    header, payload, _ = c.proof(clm={"jti": "first"}).split(".")
    other_signature = c.proof(clm={"jti": "second"}).split(".")[2]
    return c.verify(f"{header}.{payload}.{other_signature}")


def _other_key_same_header(key: str, other: str) -> Callable[[Ctx], object]:
    """jwk names ``key``; the signature is by ``other``."""
    return lambda c: c.verify(c.proof(getattr(c.k, key), signer=getattr(c.k, other)))


def _der_signature(c: Ctx, data: bytes) -> bytes:
    raw = c.k.es256.sign(data)
    return encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))


def _pkcs1(c: Ctx, data: bytes) -> bytes:
    return c.k.rs256.sign(data)


def _pss(c: Ctx, data: bytes) -> bytes:
    return c.k.ps256.sign(data)


def _rsa(c: Ctx) -> rsa.RSAPrivateKey:
    private = serialization.load_pem_private_key(c.k.ps256.private_pem(), password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    return private


def _pss_zero_salt(c: Ctx, data: bytes) -> bytes:
    return _rsa(c).sign(
        data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=0), hashes.SHA256()
    )


def _pss_sha384(c: Ctx, data: bytes) -> bytes:
    return _rsa(c).sign(
        data,
        padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=padding.PSS.DIGEST_LENGTH),
        hashes.SHA384(),
    )


def _es256_with_sha384(c: Ctx, data: bytes) -> bytes:
    private = serialization.load_pem_private_key(c.k.es256.private_pem(), password=None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    der = private.sign(data, ec.ECDSA(hashes.SHA384()))
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _cached_header_bad_signature(c: Ctx) -> object:
    # The verifier caches a header after a verified proof; the cache must never skip step 6.
    verifier = DPoPVerifier(ProofPolicy())
    good = c.proof()
    verifier.verify(good, method="GET", uri=RS_URI, now=NOW)
    header, payload, signature = c.proof(clm={"jti": "second"}).split(".")
    bad = f"{header}.{payload}.{b64(flip_bit(b64d(signature), 10))}"
    c.record(bad)
    return verifier.verify(bad, method="GET", uri=RS_URI, now=NOW)


def _rfc_fig2_with_fig7_signature(c: Ctx) -> object:
    header, payload, _ = RFC9449_FIG2.split(".")
    return c.verify(
        f"{header}.{payload}.{RFC9449_FIG7.split('.')[2]}",
        method="POST",
        uri=RFC9449_TOKEN_URI,
        now=RFC9449_FIG2_IAT,
    )


def _rfc_fig2_bit_flip(c: Ctx) -> object:
    header, payload, signature = RFC9449_FIG2.split(".")
    return c.verify(
        f"{header}.{payload}.{b64(flip_bit(b64d(signature), 0, 7))}",
        method="POST",
        uri=RFC9449_TOKEN_URI,
        now=RFC9449_FIG2_IAT,
    )


CASES: list[Case] = [
    Case("rfc9449_s4_3_step6_signature_first_bit", resign(lambda s: flip_bit(s, 0, 7)), IDP, SIG),
    Case("rfc9449_s4_3_step6_signature_middle_bit", resign(lambda s: flip_bit(s, 31)), IDP, SIG),
    Case("rfc9449_s4_3_step6_signature_last_bit", resign(lambda s: flip_bit(s, 63)), IDP, SIG),
    Case("rfc9449_s4_3_step6_payload_bit_flipped", _payload_bit_flip, IDP, SIG),
    Case("rfc9449_s4_3_step6_header_bit_flipped", _header_bit_flip, IDP, SIG),
    Case("rfc9449_s4_3_step6_header_members_reordered", _header_reordered, IDP, SIG),
    Case("rfc9449_s4_3_step6_payload_reserialised", _payload_reserialised, IDP, SIG),
    Case("rfc9449_s4_3_step6_signature_of_other_proof", _signature_from_other_proof, IDP, SIG),
    Case(
        "rfc9449_s4_3_step6_es256_signed_by_other_key",
        _other_key_same_header("es256", "es256_b"),
        IDP,
        SIG,
    ),
    Case(
        "rfc9449_s4_3_step6_eddsa_signed_by_other_key",
        _other_key_same_header("ed", "ed_b"),
        IDP,
        SIG,
    ),
    Case(
        "rfc9449_s4_3_step6_ps256_signed_by_other_key",
        _other_key_same_header("ps256", "ps256_b"),
        IDP,
        SIG,
    ),
    Case(
        "rfc9449_s4_3_step6_key_cache_never_skips_signature", _cached_header_bad_signature, IDP, SIG
    ),
    # ECDSA format (RFC 7518 §3.4: 64-byte R || S)
    Case("rfc7518_s3_4_es256_63_bytes", resign(lambda s: s[:63]), IDP, SIG),
    Case("rfc7518_s3_4_es256_65_bytes", resign(lambda s: s + b"\x00"), IDP, SIG),
    Case("rfc7518_s3_4_es256_65_bytes_leading_zero", resign(lambda s: b"\x00" + s), IDP, SIG),
    Case("rfc7518_s3_4_es256_der_encoded", foreign_signature(_der_signature, "es256"), IDP, SIG),
    Case("rfc7518_s3_4_es256_r_s_swapped", resign(lambda s: s[32:] + s[:32]), IDP, SIG),
    Case("rfc7518_s3_4_es256_all_zero", resign(lambda s: bytes(64)), IDP, SIG),
    Case(
        "rfc7518_s3_4_es256_r_s_equal_order",
        resign(lambda s: P256_N.to_bytes(32, "big") * 2),
        IDP,
        SIG,
    ),
    Case(
        "rfc7518_s3_4_es256_r_plus_order",
        resign(
            lambda s: (
                ((int.from_bytes(s[:32], "big") + P256_N) % 2**256).to_bytes(32, "big") + s[32:]
            )
        ),
        IDP,
        SIG,
    ),
    Case(
        "rfc7518_s3_4_es256_hashed_with_sha384",
        foreign_signature(_es256_with_sha384, "es256"),
        IDP,
        SIG,
    ),
    # EdDSA (RFC 8037 §3.1: 64 bytes)
    Case("rfc8037_s3_1_eddsa_truncated", resign(lambda s: s[:63], "ed"), IDP, SIG),
    Case("rfc8037_s3_1_eddsa_extended", resign(lambda s: s + b"\x00", "ed"), IDP, SIG),
    Case("rfc8037_s3_1_eddsa_all_zero", resign(lambda s: bytes(64), "ed"), IDP, SIG),
    Case(
        "rfc8032_s5_1_7_eddsa_s_not_reduced",
        resign(
            lambda s: (
                s[:32] + (int.from_bytes(s[32:], "little") + ED25519_L).to_bytes(32, "little")
            ),
            "ed",
        ),
        IDP,
        SIG,
    ),
    # RSA padding must match alg (RFC 7518 §3.3 vs §3.5)
    Case("rfc7518_s3_5_ps256_alg_pkcs1_signature", foreign_signature(_pkcs1, "ps256"), IDP, SIG),
    Case("rfc7518_s3_3_rs256_alg_pss_signature", foreign_signature(_pss, "rs256"), IDP, SIG),
    Case("rfc7518_s3_5_ps256_zero_salt", foreign_signature(_pss_zero_salt, "ps256"), IDP, SIG),
    Case(
        "rfc7518_s3_5_ps256_hashed_with_sha384", foreign_signature(_pss_sha384, "ps256"), IDP, SIG
    ),
    Case("rfc7518_s3_3_rsa_signature_truncated", resign(lambda s: s[:-1], "ps256"), IDP, SIG),
    Case("rfc7518_s3_3_rsa_signature_zero", resign(lambda s: bytes(len(s)), "rs256"), IDP, SIG),
    # RFC 9449 example proofs, altered
    Case("rfc9449_fig2_with_fig7_signature", _rfc_fig2_with_fig7_signature, IDP, SIG),
    Case("rfc9449_fig2_signature_bit_flipped", _rfc_fig2_bit_flip, IDP, SIG),
    # an empty signature is a framing error, not a signature check
    Case("rfc7515_s7_1_empty_signature", resign(lambda s: b""), IDP, Reason.PROOF_MALFORMED),
]


@pytest.mark.parametrize("case", params(CASES))
def test_rejected(case: Case, ctx: Ctx) -> None:
    expect_rejection(case, ctx)
