"""Strict, canonical base64url without padding (RFC 7515 §2, RFC 4648 §5).

Only one encoding of a byte string is accepted: no padding, no ``+``/``/``, no whitespace, and
the unused low bits of the last character must be zero, so a JWS cannot be altered into another
string that decodes to the same bytes.
"""

from __future__ import annotations

import base64
import re
from typing import Final

__all__ = ["b64url_decode", "b64url_encode", "is_b64url"]

_ALPHABET: Final = re.compile(r"[A-Za-z0-9_-]*")
# Last character when len % 4 == 2 (4 unused bits) or == 3 (2 unused bits) must encode zeros there.
_LAST_OK_MOD2: Final = frozenset("AQgw")
_LAST_OK_MOD3: Final = frozenset("AEIMQUYcgkosw048")
_PAD: Final = ("", "", "==", "=")


def b64url_encode(data: bytes) -> str:
    """Encode ``data`` as base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def is_b64url(text: str) -> bool:
    """True if ``text`` is canonical unpadded base64url (the empty string included)."""
    if _ALPHABET.fullmatch(text) is None:
        return False
    rem = len(text) % 4
    if rem == 1:
        return False
    if rem == 2:
        return text[-1] in _LAST_OK_MOD2
    if rem == 3:
        return text[-1] in _LAST_OK_MOD3
    return True


def b64url_decode(text: str) -> bytes:
    """Decode canonical unpadded base64url; raise ``ValueError`` for anything else."""
    if not is_b64url(text):
        raise ValueError("not canonical base64url")
    return base64.urlsafe_b64decode(text + _PAD[len(text) % 4])
