"""Strict, canonical unpadded base64url (RFC 7515 §2, RFC 4648 §5)."""

from __future__ import annotations

import pytest

from proofbound._internal.b64 import b64url_decode, b64url_encode, is_b64url

# RFC 4648 §10 test vectors, in the URL-safe alphabet without padding.
RFC4648_S10 = [
    (b"", ""),
    (b"f", "Zg"),
    (b"fo", "Zm8"),
    (b"foo", "Zm9v"),
    (b"foob", "Zm9vYg"),
    (b"fooba", "Zm9vYmE"),
    (b"foobar", "Zm9vYmFy"),
]


@pytest.mark.parametrize(("raw", "text"), RFC4648_S10)
def test_rfc4648_s10_vectors(raw: bytes, text: str) -> None:
    assert b64url_encode(raw) == text
    assert b64url_decode(text) == raw
    assert is_b64url(text)


def test_rfc4648_s5_url_safe_alphabet() -> None:
    assert b64url_encode(b"\xfb\xff\xbf") == "-_-_"
    assert b64url_decode("-_-_") == b"\xfb\xff\xbf"
    assert b64url_encode(bytes(range(256))).isascii()


@pytest.mark.parametrize(
    "text",
    [
        "Zg==",  # padding
        "Zg=",
        "Zm8=",
        "+/+/",  # standard alphabet
        "Zm9v\n",
        " Zm9v",
        "Zm 9v",
        "Z",  # length 1 mod 4 is never valid
        "Zm9vY",
        "Zh",  # unused low bits set (4 bits when len % 4 == 2)
        "Zm9",  # unused low bits set (2 bits when len % 4 == 3)
        "Zm\u00e9v",
        "Zm9v\x00",
    ],
)
def test_rfc7515_s2_non_canonical_is_refused(text: str) -> None:
    assert not is_b64url(text)
    with pytest.raises(ValueError, match="canonical"):
        b64url_decode(text)


@pytest.mark.parametrize("last", list("AQgw"))
def test_two_char_tail_with_zero_bits(last: str) -> None:
    assert is_b64url("Z" + last)
    assert b64url_encode(b64url_decode("Z" + last)) == "Z" + last


def test_tails_exactly() -> None:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    ok2 = {c for c in alphabet if is_b64url("Z" + c)}
    ok3 = {c for c in alphabet if is_b64url("Zm" + c)}
    assert ok2 == {alphabet[i] for i in range(0, 64, 16)}
    assert ok3 == {alphabet[i] for i in range(0, 64, 4)}
