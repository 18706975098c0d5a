"""Compact JWS (RFC 7515 §7.1): splitting, strict segment decoding, signing."""

from __future__ import annotations

import json

import pytest

from proofbound._internal.b64 import b64url_decode, b64url_encode
from proofbound.jwk.algorithms import alg_spec
from proofbound.jwk.keys import SigningKey
from proofbound.jwk.signatures import verify
from proofbound.jws import MalformedJWS, decode_segment, sign_compact, split_compact


def _b64json(value: object) -> str:
    return b64url_encode(json.dumps(value, separators=(",", ":")).encode())


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "PS256", "RS256"])
def test_rfc7515_s7_1_sign_then_split(alg: str, keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg[alg]
    token = sign_compact({"typ": "x+jwt", "alg": "none"}, {"a": 1, "b": "é"}, key)
    parts = split_compact(token, max_bytes=4096)
    header_b64, payload_b64, signature_b64 = token.split(".")
    assert parts.header_b64 == header_b64
    assert parts.payload_b64 == payload_b64
    assert parts.signing_input == f"{header_b64}.{payload_b64}".encode("ascii")
    assert parts.signature == b64url_decode(signature_b64)
    # alg is always the key's (a caller-supplied alg cannot lie), other members are kept.
    assert decode_segment(header_b64) == {"typ": "x+jwt", "alg": alg}
    assert decode_segment(payload_b64) == {"a": 1, "b": "é"}
    spec = alg_spec(alg)
    assert spec is not None
    assert verify(spec, key.public_key.key, parts.signing_input, parts.signature)


def test_sign_compact_is_compact_json(keys_by_alg: dict[str, SigningKey]) -> None:
    token = sign_compact({"typ": "t"}, {"k": [1, 2]}, keys_by_alg["EdDSA"])
    header_b64, payload_b64, _ = token.split(".")
    assert b64url_decode(payload_b64) == b'{"k":[1,2]}'
    assert b64url_decode(header_b64) == b'{"typ":"t","alg":"EdDSA"}'


def test_sign_compact_deterministic_for_eddsa(keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg["EdDSA"]
    assert sign_compact({}, {"x": 1}, key) == sign_compact({}, {"x": 1}, key)


def test_sign_compact_refuses_nan(keys_by_alg: dict[str, SigningKey]) -> None:
    with pytest.raises(ValueError, match="Out of range"):
        sign_compact({}, {"x": float("nan")}, keys_by_alg["EdDSA"])


def test_rfc7515_s7_1_split_size_limit_exact() -> None:
    token = f"{_b64json({'a': 1})}.{_b64json({'b': 2})}.AAAA"
    assert split_compact(token, max_bytes=len(token)).signature == b"\x00\x00\x00"
    with pytest.raises(MalformedJWS):
        split_compact(token, max_bytes=len(token) - 1)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a.b",
        "a.b.c.d",
        "..",
        "e30..AAAA",
        ".e30.AAAA",
        "e30.e30.",
        "e30.e30.AAA=",
        "e30.e30.AA+A",
        "e30.e30.AB",  # non-zero unused bits: not canonical
        "e30.e30.A",
        "e30.e30. AAAA",
    ],
)
def test_rfc7515_s7_1_split_refuses_malformed(token: str) -> None:
    with pytest.raises(MalformedJWS):
        split_compact(token, max_bytes=4096)


@pytest.mark.parametrize(
    "token",
    ["\u00e9yJ.e30.AAAA", "e30.e3\u00e9.AAAA", "e30.e30.AA\u00e9A"],
    ids=["header", "payload", "signature"],
)
def test_rfc7515_s7_1_split_refuses_non_ascii(token: str) -> None:
    """A non-ASCII segment is malformed, never a raw encoding error."""
    with pytest.raises(MalformedJWS):
        split_compact(token, max_bytes=4096)


@pytest.mark.parametrize(
    "segment",
    [
        b64url_encode(b"[1]"),  # not an object
        b64url_encode(b'{"a":1,"a":2}'),  # duplicate member
        b64url_encode(b'{"a":NaN}'),
        b64url_encode(b'{"a":1}garbage'),
        b64url_encode(b"\xff\xfe{}"),
        b64url_encode('{"a":1}'.encode("utf-16")),
        b64url_encode(b'{"a":1}') + "=",
        "e30=",
        "e3+",
        "",
    ],
)
def test_rfc7515_s5_2_decode_segment_is_strict(segment: str) -> None:
    with pytest.raises(MalformedJWS):
        decode_segment(segment)


def test_decode_segment_size_limit() -> None:
    small = b64url_encode(json.dumps({"a": "x" * (16 * 1024 - 10)}).encode())
    assert decode_segment(small)["a"].startswith("x")
    large = b64url_encode(json.dumps({"a": "x" * (16 * 1024)}).encode())
    with pytest.raises(MalformedJWS):
        decode_segment(large)
