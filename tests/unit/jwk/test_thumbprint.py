"""RFC 7638 JWK thumbprints and RFC 8705 ``x5t#S256`` (the RFC examples live in tests/vectors)."""

from __future__ import annotations

import hashlib

import pytest

from proofbound._internal.b64 import b64url_decode, b64url_encode
from proofbound.errors import InvalidKey, Reason
from proofbound.jwk.keys import PRIVATE_MEMBERS, SigningKey
from proofbound.jwk.thumbprint import REQUIRED_MEMBERS, jwk_thumbprint, x5t_s256

# RFC 9449 Figure 4 header jwk and its jkt (spec-checklist §7.2).
EC_JWK = {
    "kty": "EC",
    "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
    "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
    "crv": "P-256",
}
EC_JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"


def test_rfc7638_s3_2_member_order_is_ignored() -> None:
    reordered = dict(reversed(list(EC_JWK.items())))
    assert list(reordered) != list(EC_JWK)
    assert jwk_thumbprint(reordered) == jwk_thumbprint(EC_JWK) == EC_JKT


@pytest.mark.parametrize(
    "extra",
    [
        {"kid": "key-1"},
        {"alg": "ES256"},
        {"use": "sig"},
        {"key_ops": ["verify"]},
        {"x5c": ["MIIB"]},
        {"kid": "k", "alg": "ES256", "use": "sig", "x5t#S256": "abc", "ext": True},
    ],
    ids=["kid", "alg", "use", "key_ops", "x5c", "many"],
)
def test_rfc7638_s3_2_optional_members_are_ignored(extra: dict[str, object]) -> None:
    assert jwk_thumbprint({**EC_JWK, **extra}) == EC_JKT


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512", "EdDSA", "PS256"])
def test_rfc7638_s3_2_1_private_jwk_has_the_public_thumbprint(
    alg: str, keys_by_alg: dict[str, SigningKey]
) -> None:
    key = keys_by_alg[alg]
    private = key.private_jwk()
    assert "d" in private
    public = {name: value for name, value in private.items() if name not in PRIVATE_MEMBERS}
    assert jwk_thumbprint(private) == jwk_thumbprint(public) == key.thumbprint


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256"])
def test_rfc7638_s3_2_hashes_required_members_in_order(
    alg: str, keys_by_alg: dict[str, SigningKey]
) -> None:
    jwk = keys_by_alg[alg].public_key.jwk
    members = REQUIRED_MEMBERS[jwk["kty"]]
    assert list(members) == sorted(members)
    canonical = "{" + ",".join(f'"{name}":"{jwk[name]}"' for name in members) + "}"
    expected = b64url_encode(hashlib.sha256(canonical.encode("ascii")).digest())
    assert jwk_thumbprint(jwk) == expected


def test_rfc7638_s3_thumbprint_is_unpadded_sha256() -> None:
    value = jwk_thumbprint(EC_JWK)
    assert len(value) == 43
    assert len(b64url_decode(value)) == 32


def test_rfc7638_s3_2_required_members_change_the_thumbprint() -> None:
    other = {**EC_JWK, "crv": "P-384"}
    assert jwk_thumbprint(other) != EC_JKT


@pytest.mark.parametrize(
    "jwk",
    [
        {k: v for k, v in EC_JWK.items() if k != "y"},
        {k: v for k, v in EC_JWK.items() if k != "kty"},
        {**EC_JWK, "kty": "oct"},
        {**EC_JWK, "kty": 1},
        {"kty": "OKP", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
        {"kty": "RSA", "n": "AQAB"},
        {**EC_JWK, "x": ""},
        {**EC_JWK, "x": 12},
        {**EC_JWK, "x": None},
        {**EC_JWK, "x": 'a"b'},
        {**EC_JWK, "x": "a\\b"},
        {**EC_JWK, "x": "a\nb"},
        {**EC_JWK, "x": "caf\u00e9"},
    ],
    ids=[
        "missing-y",
        "missing-kty",
        "kty-oct",
        "kty-not-string",
        "okp-missing-crv",
        "rsa-missing-e",
        "empty-member",
        "number-member",
        "null-member",
        "quote",
        "backslash",
        "control",
        "non-ascii",
    ],
)
def test_rfc7638_s3_3_undefined_thumbprint_raises(jwk: dict[str, object]) -> None:
    with pytest.raises(InvalidKey) as info:
        jwk_thumbprint(jwk)
    assert info.value.reason is Reason.KEY_INVALID


def test_rfc8705_s3_1_x5t_s256_is_sha256_of_der() -> None:
    der = b"\x30\x03\x02\x01\x01"
    assert x5t_s256(der) == b64url_encode(hashlib.sha256(der).digest())
    assert x5t_s256(b"") == "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
    assert x5t_s256(der) != x5t_s256(der + b"\x00")
