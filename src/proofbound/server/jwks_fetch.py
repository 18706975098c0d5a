"""Fetching the JWKS a client registered by ``jwks_uri`` (RFC 7591 §2): bounded and cached.

A document is read with a short timeout and a size limit and cached for
:data:`CACHE_SECONDS` (so a client cannot make the AS fetch on every request); redirects are not
followed. A fetch that fails raises ``StorageUnavailable`` -- the request is refused,
fail closed -- and is not cached.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from typing import Any, Final

import httpx

from proofbound.errors import StorageUnavailable

__all__ = ["CACHE_SECONDS", "JwksFetcher", "MAX_BYTES"]

CACHE_SECONDS: Final = 300
MAX_BYTES: Final = 64 * 1024


class JwksFetcher:
    """Fetches and caches client JWKS documents (callable: ``fetcher(uri) -> jwks``).

    Args:
        client: the HTTP client (tests pass one with a mock transport).
    """

    def __init__(self, client: httpx.Client | None = None) -> None:
        self._client = client or httpx.Client(timeout=3.0, follow_redirects=False)
        self._cache: dict[str, tuple[float, Mapping[str, Any]]] = {}
        self._lock = threading.Lock()

    def __call__(self, uri: str) -> Mapping[str, Any]:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(uri)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        try:
            with self._client.stream("GET", uri, headers={"Accept": "application/json"}) as r:
                if r.status_code != 200:
                    raise StorageUnavailable("jwks_uri answered an error status")
                data = b""
                for chunk in r.iter_bytes():
                    data += chunk
                    if len(data) > MAX_BYTES:
                        raise StorageUnavailable("jwks_uri document too large")
        except httpx.HTTPError as exc:
            raise StorageUnavailable(f"jwks_uri fetch failed: {type(exc).__name__}") from None
        try:
            document = json.loads(data)
        except ValueError:
            raise StorageUnavailable("jwks_uri document is not JSON") from None
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise StorageUnavailable("jwks_uri document is not a JWKS")
        with self._lock:
            self._cache[uri] = (now, document)
            if len(self._cache) > 1024:
                self._cache.pop(next(iter(self._cache)))
        return document

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()

    def __repr__(self) -> str:
        return f"JwksFetcher(cached={len(self._cache)})"
