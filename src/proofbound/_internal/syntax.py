"""Small grammar rules shared by several modules (no stability guarantee)."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["is_nqchars"]

# NQCHAR = %x21 / %x23-5B / %x5D-7E: a DPoP nonce is 1*NQCHAR (RFC 9449 §8.1), and so is an
# OAuth scope-token (RFC 6749 §3.3, App. A.4).
_NQCHARS: Final = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


def is_nqchars(text: str) -> bool:
    """Whether ``text`` is ``1*NQCHAR``."""
    return _NQCHARS.fullmatch(text) is not None
