"""Where a resource server gets what it needs to trust an issuer's tokens.

* :class:`IssuerKeys` -- the issuer's JWKS, found through its RFC 8414 metadata (falling back to
  OpenID discovery), cached, and refetched on an unknown ``kid`` at most every
  ``min_refresh`` seconds; a fetch failure is ``StorageUnavailable`` (fail closed, 503).
* :class:`Introspector` -- RFC 7662 introspection for tokens that are not JWTs, authenticating
  with ``client_secret_basic``; results cached only as long as configured (default 0 s).

Both take an ``httpx.Client`` so tests can pass one with a mock transport.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

import httpx

from proofbound.access_token import AccessTokenPolicy, AccessTokenVerifier
from proofbound.discovery import metadata_urls
from proofbound.errors import ConfigurationError, InvalidToken, Reason, StorageUnavailable
from proofbound.server.config import Secret

__all__ = ["Introspector", "IssuerKeys", "discover_metadata"]

_MAX_DOCUMENT: Final = 256 * 1024


def _get_json(http: httpx.Client, url: str) -> dict[str, Any]:
    try:
        response = http.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise StorageUnavailable(f"fetch failed: {type(exc).__name__}") from None
    if response.status_code != 200 or len(response.content) > _MAX_DOCUMENT:
        raise StorageUnavailable(f"fetch answered {response.status_code}")
    try:
        value = response.json()
    except ValueError:
        raise StorageUnavailable("fetched document is not JSON") from None
    if not isinstance(value, dict):
        raise StorageUnavailable("fetched document is not an object")
    return value


def discover_metadata(http: httpx.Client, issuer: str) -> dict[str, Any]:
    """The issuer's metadata: RFC 8414 (path inserted, §3.1), else OpenID discovery. The
    document's ``issuer`` must equal ``issuer`` exactly (RFC 8414 §3.3).

    Raises:
        StorageUnavailable: unreachable, or no document names this issuer.
    """
    candidates = metadata_urls(issuer)
    last: StorageUnavailable | None = None
    for url in candidates:
        try:
            doc = _get_json(http, url)
        except StorageUnavailable as exc:
            last = exc
            continue
        if doc.get("issuer") == issuer:
            return doc
        last = StorageUnavailable("metadata names another issuer")
    raise last or StorageUnavailable("no metadata")


class IssuerKeys:
    """An :class:`AccessTokenVerifier` for one issuer whose keys come from its JWKS.

    Args:
        policy: issuer, audiences and algorithms.
        http: the HTTP client.
        jwks_uri: where the keys are; by default from the issuer's metadata.
        jwks: a fixed key set instead (no fetching at all).
        min_refresh: the least time between two fetches (bounds refetches on unknown kids).
        cache_size: verified tokens kept until their ``exp``.
    """

    def __init__(
        self,
        policy: AccessTokenPolicy,
        *,
        http: httpx.Client | None = None,
        jwks_uri: str | None = None,
        jwks: Mapping[str, Any] | None = None,
        min_refresh: float = 30.0,
        cache_size: int = 10_000,
    ) -> None:
        if min_refresh < 1:
            raise ConfigurationError("min_refresh must be at least 1 second")
        self.policy: Final = policy
        self._http = http
        self._jwks_uri = jwks_uri
        self._min_refresh = min_refresh
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._fetched_at = float("-inf")
        self._verifier: AccessTokenVerifier | None = (
            AccessTokenVerifier(policy, jwks, cache_size=cache_size) if jwks is not None else None
        )
        self._fixed = jwks is not None
        self.metadata: dict[str, Any] | None = None

    @property
    def loaded(self) -> bool:
        """Whether keys are at hand (no fetch needed to verify)."""
        return self._verifier is not None

    def verifier(self) -> AccessTokenVerifier:
        """The current verifier, fetching the keys on first use.

        Raises:
            StorageUnavailable: the keys cannot be fetched.
        """
        verifier = self._verifier
        if verifier is None:
            verifier = self.refresh(force=True)
        return verifier

    def refresh(self, *, force: bool = False) -> AccessTokenVerifier:
        """Fetch the JWKS again (at most every ``min_refresh`` seconds unless forced when
        nothing is loaded); returns the verifier to use."""
        with self._lock:
            now = time.monotonic()
            current = self._verifier
            if self._fixed or (current is not None and now - self._fetched_at < self._min_refresh):
                if current is None:  # pragma: no cover - fixed keys always have a verifier
                    raise StorageUnavailable("no keys")
                return current
            if not force and current is not None and now - self._fetched_at < self._min_refresh:
                return current
            http = self._http or httpx.Client(timeout=5.0, follow_redirects=False)
            self._http = http
            uri = self._jwks_uri
            if uri is None:
                self.metadata = discover_metadata(http, self.policy.issuer)
                found = self.metadata.get("jwks_uri")
                if not isinstance(found, str):
                    raise StorageUnavailable("issuer metadata has no jwks_uri")
                uri = found
                self._jwks_uri = uri
            self._fetched_at = now
            jwks = _get_json(http, uri)
            try:
                verifier = AccessTokenVerifier(self.policy, jwks, cache_size=self._cache_size)
            except ConfigurationError:
                raise StorageUnavailable("the issuer's JWKS is not usable") from None
            self._verifier = verifier
            return verifier

    def close(self) -> None:
        """Close the HTTP client."""
        if self._http is not None:
            self._http.close()


class Introspector:
    """RFC 7662 introspection with ``client_secret_basic`` (RFC 6749 §2.3.1).

    Args:
        endpoint: the introspection endpoint.
        client_id: the resource server's client id at the AS.
        client_secret: its secret.
        http: the HTTP client.
        cache_seconds: how long an answer is reused (0: every request asks -- a revoked token
            fails on the next request).
    """

    def __init__(
        self,
        endpoint: str,
        *,
        client_id: str,
        client_secret: Secret,
        http: httpx.Client | None = None,
        cache_seconds: int = 0,
    ) -> None:
        if cache_seconds < 0:
            raise ConfigurationError("cache_seconds must not be negative")
        self._endpoint = endpoint
        self._auth = (quote(client_id, safe=""), quote(client_secret.reveal(), safe=""))
        self._http = http or httpx.Client(timeout=5.0, follow_redirects=False)
        self._cache_seconds = cache_seconds
        self._cache: dict[bytes, tuple[float, Mapping[str, Any]]] = {}

    def introspect(self, token: str) -> Mapping[str, Any]:
        """The active introspection response for ``token``.

        Raises:
            InvalidToken: ``token_inactive``.
            StorageUnavailable: the AS cannot be asked.
        """
        key = hashlib.sha256(token.encode("ascii", "replace")).digest()
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < self._cache_seconds:
            body = cached[1]
        else:
            try:
                response = self._http.post(
                    self._endpoint,
                    data={"token": token, "token_type_hint": "access_token"},
                    auth=self._auth,
                    headers={"Accept": "application/json"},
                )
            except httpx.HTTPError as exc:
                raise StorageUnavailable(f"introspection failed: {type(exc).__name__}") from None
            if response.status_code != 200:
                raise StorageUnavailable(f"introspection answered {response.status_code}")
            try:
                body = response.json()
            except ValueError:
                raise StorageUnavailable("introspection answer is not JSON") from None
            if not isinstance(body, dict):
                raise StorageUnavailable("introspection answer is not an object")
            if self._cache_seconds > 0:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[key] = (now, body)
        if body.get("active") is not True:
            raise InvalidToken(Reason.TOKEN_INACTIVE)
        return body

    def close(self) -> None:
        """Close the HTTP client."""
        self._http.close()

    def __repr__(self) -> str:
        return f"Introspector(endpoint={self._endpoint!r})"
