"""Raw JWS signatures (RFC 7518 §3, RFC 8037 §3.1): round trips, sizes, determinism, fail-closed."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from proofbound._internal.b64 import b64url_decode
from proofbound.jwk.algorithms import SUPPORTED_ALGS, AlgSpec, alg_spec
from proofbound.jwk.keys import PublicKey, SigningKey
from proofbound.jwk.signatures import sign, verify

DATA = b"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0"
DETERMINISTIC = {"EdDSA", "RS256", "RS384", "RS512"}
SIZES = {"ES256": 64, "ES384": 96, "ES512": 132, "EdDSA": 64}


def _spec(alg: str) -> AlgSpec:
    spec = alg_spec(alg)
    assert spec is not None
    return spec


@pytest.mark.parametrize("alg", SUPPORTED_ALGS)
def test_rfc7518_s3_sign_verify_round_trip(alg: str, keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg[alg]
    signature = key.sign(DATA)
    assert verify(_spec(alg), key.public_key.key, DATA, signature)
    assert len(signature) == SIZES.get(alg, 256)  # RSA: the 2048-bit modulus size


@pytest.mark.parametrize("alg", SUPPORTED_ALGS)
def test_rfc7518_s3_tampering_fails(alg: str, keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg[alg]
    signature = key.sign(DATA)
    spec = _spec(alg)
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    assert not verify(spec, key.public_key.key, DATA, flipped)
    assert not verify(spec, key.public_key.key, DATA + b".", signature)
    assert not verify(spec, key.public_key.key, DATA, signature[:-1])
    assert not verify(spec, key.public_key.key, DATA, signature + b"\x00")
    assert not verify(spec, key.public_key.key, DATA, b"")


@pytest.mark.parametrize("alg", sorted(DETERMINISTIC))
def test_rfc8037_rfc7518_deterministic_algs_byte_compare(
    alg: str, keys_by_alg: dict[str, SigningKey]
) -> None:
    key = keys_by_alg[alg]
    assert key.sign(DATA) == key.sign(DATA)


@pytest.mark.parametrize("alg", sorted(set(SUPPORTED_ALGS) - DETERMINISTIC))
def test_rfc7518_randomized_algs_differ(alg: str, keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg[alg]
    first, second = key.sign(DATA), key.sign(DATA)
    assert first != second
    assert verify(_spec(alg), key.public_key.key, DATA, first)
    assert verify(_spec(alg), key.public_key.key, DATA, second)


def test_wrong_key_fails(keys_by_alg: dict[str, SigningKey]) -> None:
    from proofbound.jwk.keys import generate_key

    for alg in ("ES256", "EdDSA"):
        other = generate_key(alg)
        signature = keys_by_alg[alg].sign(DATA)
        assert not verify(_spec(alg), other.public_key.key, DATA, signature)


@pytest.mark.parametrize(
    ("signed_as", "checked_as"),
    [
        ("RS256", "PS256"),
        ("PS256", "RS256"),
        ("RS256", "RS384"),
        ("PS256", "PS512"),
        ("ES256", "ES384"),
        ("ES384", "ES256"),
        ("ES256", "EdDSA"),
        ("EdDSA", "ES256"),
        ("RS256", "ES256"),
        ("ES256", "RS256"),
    ],
)
def test_rfc7518_s3_signature_under_another_alg_fails(
    signed_as: str, checked_as: str, keys_by_alg: dict[str, SigningKey]
) -> None:
    key = keys_by_alg[signed_as]
    signature = key.sign(DATA)
    assert not verify(_spec(checked_as), key.public_key.key, DATA, signature)


def test_rfc7518_s3_4_ecdsa_is_raw_r_s(keys_by_alg: dict[str, SigningKey]) -> None:
    """The JWS form is R || S with fixed-length coordinates, not DER."""
    key = keys_by_alg["ES256"]
    raw = key.sign(DATA)
    public = key.public_key.key
    assert isinstance(public, ec.EllipticCurvePublicKey)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public.verify(der, DATA, ec.ECDSA(hashes.SHA256()))  # raises if not the same signature
    assert not verify(_spec("ES256"), public, DATA, der)  # DER is not a JWS signature


def test_rfc7518_s3_4_rfc9449_figure_2_signature() -> None:
    """The RFC 9449 Figure 2 proof's ES256 signature verifies with its header jwk."""
    header = (
        "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgt"
        "MzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VO"
        "SmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19"
    )
    payload = (
        "eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4"
        "YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ"
    )
    signature = b64url_decode(
        "2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
    )
    key = PublicKey.from_jwk(
        {
            "kty": "EC",
            "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
            "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
            "crv": "P-256",
        }
    )
    signing_input = f"{header}.{payload}".encode("ascii")
    assert verify(_spec("ES256"), key.key, signing_input, signature)
    assert not verify(_spec("ES256"), key.key, signing_input + b"x", signature)


def test_sign_refuses_a_key_that_does_not_fit(keys_by_alg: dict[str, SigningKey]) -> None:
    ed_private = keys_by_alg["EdDSA"]._private
    ec_private = keys_by_alg["ES256"]._private
    with pytest.raises(TypeError):
        sign(_spec("ES256"), ed_private, DATA)
    with pytest.raises(TypeError):
        sign(_spec("EdDSA"), ec_private, DATA)
    with pytest.raises(TypeError):
        sign(_spec("RS256"), ec_private, DATA)


def test_rfc7518_s3_3_verify_refuses_rsa_under_2048_bits() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 -- the point
    spec = _spec("RS256")
    from cryptography.hazmat.primitives.asymmetric import padding

    signature = small.sign(DATA, padding.PKCS1v15(), hashes.SHA256())
    small.public_key().verify(signature, DATA, padding.PKCS1v15(), hashes.SHA256())
    assert not verify(spec, small.public_key(), DATA, signature)
