"""Strict, canonical base64url without padding (RFC 7515 §2, RFC 4648 §5).

Only one encoding of a byte string is accepted: no padding, no ``+``/``/``, no whitespace, and
the unused low bits of the last character must be zero, so a JWS cannot be altered into another
string that decodes to the same bytes.
"""

from __future__ import annotations

import binascii
import re
from typing import Final

__all__ = ["b64url_decode", "b64url_encode", "is_b64url"]

_ALPHABET: Final = re.compile(r"[A-Za-z0-9_-]*")
# Last character when len % 4 == 2 (4 unused bits) or == 3 (2 unused bits) must encode zeros there.
_LAST_OK_MOD2: Final = frozenset("AQgw")
_LAST_OK_MOD3: Final = frozenset("AEIMQUYcgkosw048")
_PAD: Final = (b"", b"", b"==", b"=")
# base64url -> standard alphabet; '+', '/' and '=' (not base64url) become '!', which the strict
# decoder refuses, so one translation both converts and rejects them.
_URLSAFE_TO_STRICT: Final = bytes.maketrans(b"-_+/=", b"+/!!!")
_TO_URLSAFE: Final = bytes.maketrans(b"+/", b"-_")


def b64url_encode(data: bytes) -> str:
    """Encode ``data`` as base64url without padding."""
    encoded = binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE)
    return encoded.rstrip(b"=").decode("ascii")


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
    # Hot path (every JWS segment): cheap length and last-character checks, then one strict C
    # decode of the translated text (any character outside base64url makes it fail).
    rem = len(text) % 4
    if rem == 1:
        raise ValueError("not canonical base64url")
    if (rem == 2 and text[-1] not in _LAST_OK_MOD2) or (rem == 3 and text[-1] not in _LAST_OK_MOD3):
        raise ValueError("not canonical base64url")
    try:
        raw = text.encode("ascii").translate(_URLSAFE_TO_STRICT)
        return binascii.a2b_base64(raw + _PAD[rem], strict_mode=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError("not canonical base64url") from None
