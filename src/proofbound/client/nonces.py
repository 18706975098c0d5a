"""Server nonces, one per origin (RFC 9449 §8.2, §9): the AS's and each RS's are kept apart,
replaced by every ``DPoP-Nonce`` a server sends, and validated as ``1*NQCHAR`` before use."""

from __future__ import annotations

import threading
from typing import Final

import httpx

from proofbound._internal.syntax import is_nqchars

__all__ = ["NonceCache", "is_valid_nonce", "origin_of"]

_MAX_NONCE: Final = 512
_MAX_ORIGINS: Final = 1024


def is_valid_nonce(nonce: str | None) -> bool:
    """Whether ``nonce`` is a usable ``1*NQCHAR`` value (RFC 9449 §8.1)."""
    return nonce is not None and len(nonce) <= _MAX_NONCE and is_nqchars(nonce)


def origin_of(url: httpx.URL) -> str:
    """``scheme://host:port`` of a URL (default ports made explicit)."""
    port = url.port or (443 if url.scheme == "https" else 80)
    return f"{url.scheme}://{url.host}:{port}"


class NonceCache:
    """The latest nonce of each origin; safe to share between threads and tasks."""

    def __init__(self) -> None:
        self._nonces: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, origin: str) -> str | None:
        """The nonce to put in the next proof for ``origin``, if the server gave one."""
        return self._nonces.get(origin)

    def update(self, origin: str, nonce: str | None) -> bool:
        """Remember ``nonce`` for ``origin``; a value outside ``1*NQCHAR`` is ignored.

        Returns whether the stored nonce changed.
        """
        if nonce is None or not is_valid_nonce(nonce):
            return False
        with self._lock:
            if self._nonces.get(origin) == nonce:
                return False
            if len(self._nonces) >= _MAX_ORIGINS and origin not in self._nonces:
                self._nonces.pop(next(iter(self._nonces)))
            self._nonces[origin] = nonce
        return True

    def __repr__(self) -> str:
        return f"NonceCache(origins={len(self._nonces)})"
