"""Creating DPoP proofs (RFC 9449 §4.2) and the ``ath`` hash."""

from __future__ import annotations

import hashlib

import pytest

from proofbound._internal.b64 import b64url_decode, b64url_encode
from proofbound.dpop.proof import access_token_hash, create_proof, new_jti
from proofbound.jwk.keys import PRIVATE_MEMBERS, SigningKey
from proofbound.jws import decode_segment

NOW = 1_700_000_000
URI = "https://rs.example/api/items"


def _decode(proof: str) -> tuple[dict[str, object], dict[str, object]]:
    header_b64, payload_b64, _ = proof.split(".")
    return decode_segment(header_b64), decode_segment(payload_b64)


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512", "EdDSA", "PS256", "RS256"])
def test_rfc9449_s4_2_header(alg: str, keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg[alg]
    header, _ = _decode(create_proof(key, htm="GET", htu=URI, now=NOW))
    assert header == {"typ": "dpop+jwt", "alg": alg, "jwk": key.public_key.jwk}
    jwk = header["jwk"]
    assert isinstance(jwk, dict)
    assert not PRIVATE_MEMBERS & jwk.keys()
    assert "kid" not in header


def test_rfc9449_s4_2_claims(keys_by_alg: dict[str, SigningKey]) -> None:
    _, claims = _decode(create_proof(keys_by_alg["ES256"], htm="POST", htu=URI, now=NOW))
    assert set(claims) == {"jti", "htm", "htu", "iat"}
    assert claims["htm"] == "POST"
    assert claims["htu"] == URI
    assert claims["iat"] == NOW
    assert isinstance(claims["iat"], int)


def test_rfc9449_s4_2_jti_has_128_random_bits(keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg["EdDSA"]
    jtis = set()
    for _ in range(1000):
        _, claims = _decode(create_proof(key, htm="GET", htu=URI, now=NOW))
        jti = claims["jti"]
        assert isinstance(jti, str)
        assert len(b64url_decode(jti)) >= 16
        jtis.add(jti)
    assert len(jtis) == 1000


def test_new_jti_is_unique_and_url_safe() -> None:
    values = {new_jti() for _ in range(1000)}
    assert len(values) == 1000
    assert all(len(b64url_decode(value)) == 16 for value in values)


def test_explicit_jti_is_used(keys_by_alg: dict[str, SigningKey]) -> None:
    _, claims = _decode(create_proof(keys_by_alg["ES256"], htm="GET", htu=URI, now=0, jti="j-1"))
    assert claims["jti"] == "j-1"
    assert claims["iat"] == 0


@pytest.mark.parametrize("htm", ["GET", "get", "PATCH", "M-SEARCH", "X_CUSTOM", "!#$%&'*+.^_`|~"])
def test_rfc9110_s9_1_htm_is_kept_exactly(htm: str, keys_by_alg: dict[str, SigningKey]) -> None:
    _, claims = _decode(create_proof(keys_by_alg["ES256"], htm=htm, htu=URI, now=NOW))
    assert claims["htm"] == htm


@pytest.mark.parametrize(
    ("htu", "expected"),
    [
        (URI + "?q=1", URI),
        (URI + "#frag", URI),
        (URI + "?q=1#frag", URI),
        (URI + "#frag?not-a-query", URI),
        ("https://rs.example?x", "https://rs.example"),
        ("HTTPS://RS.EXAMPLE:443/A", "HTTPS://RS.EXAMPLE:443/A"),  # no other rewriting
    ],
)
def test_rfc9449_s4_2_htu_without_query_and_fragment(
    htu: str, expected: str, keys_by_alg: dict[str, SigningKey]
) -> None:
    _, claims = _decode(create_proof(keys_by_alg["ES256"], htm="GET", htu=htu, now=NOW))
    assert claims["htu"] == expected


def test_rfc9449_s4_2_ath_only_with_a_token(keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg["ES256"]
    token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
    _, with_token = _decode(create_proof(key, htm="GET", htu=URI, now=NOW, access_token=token))
    assert with_token["ath"] == "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"  # RFC 9449 Fig. 14
    _, without = _decode(create_proof(key, htm="GET", htu=URI, now=NOW))
    assert "ath" not in without


def test_rfc9449_s8_nonce_only_when_given(keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg["ES256"]
    nonce = "eyJ7S_zG.eyJH0-Z.HX4w-7v"  # RFC 9449 Figure 20
    _, with_nonce = _decode(create_proof(key, htm="POST", htu=URI, now=NOW, nonce=nonce))
    assert with_nonce["nonce"] == nonce
    _, without = _decode(create_proof(key, htm="POST", htu=URI, now=NOW))
    assert "nonce" not in without


@pytest.mark.parametrize(
    "htm", ["", "GET ", " GET", "G ET", "GET\n", "GÉT", "GET/1", "(GET)", "a,b"]
)
def test_rfc9110_bad_method_raises(htm: str, keys_by_alg: dict[str, SigningKey]) -> None:
    with pytest.raises(ValueError, match="htm"):
        create_proof(keys_by_alg["ES256"], htm=htm, htu=URI, now=NOW)


@pytest.mark.parametrize("nonce", ["", " ", "a b", 'a"b', "a\\b", "a\nb", "\u00e9", "a\x7f"])
def test_rfc9449_s8_1_bad_nonce_raises(nonce: str, keys_by_alg: dict[str, SigningKey]) -> None:
    with pytest.raises(ValueError, match="nonce"):
        create_proof(keys_by_alg["ES256"], htm="GET", htu=URI, now=NOW, nonce=nonce)


def test_rfc9449_s8_1_every_nqchar_is_a_valid_nonce(keys_by_alg: dict[str, SigningKey]) -> None:
    nqchar = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"\\')
    _, claims = _decode(create_proof(keys_by_alg["EdDSA"], htm="GET", htu=URI, now=1, nonce=nqchar))
    assert claims["nonce"] == nqchar


def test_non_ascii_access_token_raises(keys_by_alg: dict[str, SigningKey]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 -- UnicodeEncodeError, documented as ValueError
        create_proof(keys_by_alg["ES256"], htm="GET", htu=URI, now=NOW, access_token="t\u00e9")


def test_rfc9449_s4_2_ath_is_unpadded_base64url_sha256() -> None:
    token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
    digest = hashlib.sha256(token.encode("ascii")).digest()
    assert access_token_hash(token) == b64url_encode(digest)
    assert access_token_hash(token) == "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    assert access_token_hash("") == "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
    with pytest.raises(ValueError):  # noqa: PT011
        access_token_hash("\u00e9")


def test_proof_has_three_segments(keys_by_alg: dict[str, SigningKey]) -> None:
    proof = create_proof(keys_by_alg["ES256"], htm="GET", htu=URI, now=NOW)
    assert proof.count(".") == 2
    assert proof.isascii()
