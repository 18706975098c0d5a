"""Revocations a resource server honours: from the AS's revocation feed, or from Redis.

An entry ``(kind, value, revoked_at)`` revokes every token whose ``kind`` (``jti``, ``jkt``,
``x5t#S256``, ``client_id``) equals ``value`` and that was issued (``iat``) at or before
``revoked_at``.

* :class:`RevocationFeed` polls the feed document (default every 5 s) in a daemon thread. When
  the last successful poll is older than ``max_staleness``, every check fails closed
  (``StorageUnavailable``, 503) -- a resource that cannot learn revocations must not pretend
  to know there are none.
* :class:`RedisRevocations` reads the entries the AS writes to Redis
  (``proofbound:revoked:<kind>:<value>``), one ``MGET`` per request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any, Final, Protocol

import httpx

from proofbound.errors import ConfigurationError, InvalidToken, Reason, StorageUnavailable

__all__ = ["RedisRevocations", "RevocationFeed", "RevocationSource", "revocation_keys"]

_log: Final = logging.getLogger("proofbound.resource.revocations")
_KINDS: Final = ("jti", "jkt", "x5t#S256", "client_id")
REDIS_PREFIX: Final = "proofbound:revoked:"


class RevocationSource(Protocol):
    """Decides whether a verified token has been revoked."""

    def check(self, claims: Mapping[str, Any]) -> None:
        """Raise ``InvalidToken(token_revoked)`` if revoked, ``StorageUnavailable`` if unknown."""


def revocation_keys(claims: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The (kind, value) pairs under which a token may have been revoked."""
    keys: list[tuple[str, str]] = []
    for kind, value in (("jti", claims.get("jti")), ("client_id", claims.get("client_id"))):
        if isinstance(value, str):
            keys.append((kind, value))
    cnf = claims.get("cnf")
    if isinstance(cnf, Mapping):
        for kind in ("jkt", "x5t#S256"):
            value = cnf.get(kind)
            if isinstance(value, str):
                keys.append((kind, value))
    return keys


def _issued_at(claims: Mapping[str, Any]) -> float:
    iat = claims.get("iat")
    # Without iat the token's age is unknown: treat it as issued before any revocation.
    return float(iat) if isinstance(iat, int | float) and not isinstance(iat, bool) else 0.0


class RevocationFeed:
    """Revocations learned by polling the AS's feed (checks are in-memory: ``blocking`` is
    False, so async servers run them inline).

    Args:
        url: the feed endpoint.
        interval: seconds between polls.
        max_staleness: how old the last successful poll may be before checks fail closed.
        http: the HTTP client.
        start: start the polling thread now (tests poll by hand with :meth:`poll`).
    """

    def __init__(
        self,
        url: str,
        *,
        interval: float = 5.0,
        max_staleness: float = 60.0,
        http: httpx.Client | None = None,
        start: bool = True,
    ) -> None:
        if interval <= 0 or max_staleness < interval:
            raise ConfigurationError("interval must be positive and max_staleness >= interval")
        self.blocking: Final = False
        self._url = url
        self._interval = interval
        self._max_staleness = max_staleness
        self._http = http or httpx.Client(timeout=min(5.0, interval * 2), follow_redirects=False)
        self._entries: dict[tuple[str, str], float] = {}
        self._updated_at = float("-inf")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if start:
            self.poll()  # the first answer before any check, so a fresh feed is not stale
            self._thread = threading.Thread(target=self._run, name="proofbound-feed", daemon=True)
            self._thread.start()

    def poll(self) -> bool:
        """Fetch the feed once; True on success (a failure keeps the previous entries)."""
        try:
            response = self._http.get(self._url, headers={"Accept": "application/json"})
            document = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as exc:
            _log.warning("revocation feed unreachable: %s", type(exc).__name__)
            return False
        entries = document.get("revocations") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            _log.warning("revocation feed answered an unusable document")
            return False
        table: dict[tuple[str, str], float] = {}
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            kind, value, at = entry.get("kind"), entry.get("value"), entry.get("revoked_at")
            if kind in _KINDS and isinstance(value, str) and isinstance(at, int | float):
                table[(kind, value)] = max(float(at), table.get((kind, value), float("-inf")))
        self._entries = table
        self._updated_at = time.monotonic()
        return True

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.poll()
            except Exception as exc:  # the poller must outlive any one failure
                _log.error("revocation feed poll failed: %s", type(exc).__name__)

    def check(self, claims: Mapping[str, Any]) -> None:
        """Raise if the token is revoked, or if the feed is too stale to tell."""
        if time.monotonic() - self._updated_at > self._max_staleness:
            raise StorageUnavailable("revocation feed is stale")
        issued = _issued_at(claims)
        entries = self._entries
        for key in revocation_keys(claims):
            revoked_at = entries.get(key)
            if revoked_at is not None and issued <= revoked_at:
                raise InvalidToken(Reason.TOKEN_REVOKED, detail=f"revoked by {key[0]}")

    def close(self) -> None:
        """Stop polling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._http.close()

    def __repr__(self) -> str:
        return f"RevocationFeed(url={self._url!r}, entries={len(self._entries)})"


class RedisRevocations:
    """Revocations read from the Redis the AS publishes them to (``--redis-url``).

    Raises (from :meth:`check`):
        StorageUnavailable: Redis cannot answer (fail closed).
    """

    def __init__(self, url: str) -> None:
        import redis

        self.blocking: Final = True  # a network round trip per check
        self._client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def check(self, claims: Mapping[str, Any]) -> None:
        """One ``MGET`` of every key the token may be revoked under."""
        import redis

        keys = revocation_keys(claims)
        if not keys:
            return
        try:
            values = self._client.mget([f"{REDIS_PREFIX}{k}:{v}" for k, v in keys])
        except redis.RedisError as exc:
            raise StorageUnavailable(f"redis: {type(exc).__name__}") from None
        issued = _issued_at(claims)
        for (kind, _), raw in zip(keys, values, strict=True):
            if raw is None:
                continue
            try:
                revoked_at = float(raw)
            except ValueError:
                revoked_at = float("inf")  # unreadable entry: treat the token as revoked
            if issued <= revoked_at:
                raise InvalidToken(Reason.TOKEN_REVOKED, detail=f"revoked by {kind}")

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()

    def __repr__(self) -> str:
        return "RedisRevocations()"
