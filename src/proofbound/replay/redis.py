"""Redis replay caches: one ``SET <prefix><hex key> 1 NX PX <ms>`` per proof.

``SET ... NX`` is atomic on the server: of two concurrent requests carrying the same proof exactly
one gets ``OK`` (RFC 9449 §11.1). Redis drops the key when its lifetime ends, so there is nothing
to purge. The lifetime is sent relative (``PX``, milliseconds left until ``expires_at`` by the
injected clock) rather than absolute (``PXAT``): a Redis server whose clock runs ahead of the
application's would otherwise forget keys early and re-open the replay window. Any Redis error
raises ``StorageUnavailable``: the request is rejected (fail closed).

Needs the ``redis`` extra: ``pip install 'proofbound[redis]'``.
"""

from __future__ import annotations

from typing import Final

try:
    import redis
    import redis.asyncio
except ImportError as exc:
    raise ImportError(
        "the Redis replay cache needs redis-py: pip install 'proofbound[redis]'"
    ) from exc

from proofbound.clock import Clock, SystemClock
from proofbound.errors import ConfigurationError, StorageUnavailable

__all__ = ["AsyncRedisReplayCache", "RedisReplayCache"]

_KEY_PREFIX: Final = "proofbound:replay:"

# A client built from a URL must not hang a request on a dead server; a ``socket_timeout`` or
# ``socket_connect_timeout`` in the URL's query string overrides this.
_URL_TIMEOUT: Final = 2.0


class _RedisReplayBase:
    """Key naming and the limits shared by the sync and async caches."""

    __slots__ = ("_clock", "key_prefix", "max_key_bytes", "max_ttl")

    def __init__(
        self, *, key_prefix: str, max_key_bytes: int, max_ttl: int, clock: Clock | None
    ) -> None:
        if max_key_bytes < 1 or max_ttl < 1:
            raise ConfigurationError("replay cache limits must be positive")
        self.key_prefix: Final = key_prefix
        self.max_key_bytes: Final = max_key_bytes
        self.max_ttl: Final = max_ttl
        self._clock: Clock = clock if clock is not None else SystemClock()

    def _set_args(self, key: bytes, expires_at: int) -> tuple[str, int] | None:
        """Return (Redis key, milliseconds to live), or None if ``expires_at`` has passed."""
        if len(key) > self.max_key_bytes:
            raise StorageUnavailable("replay key too long")
        ttl = expires_at - self._clock.now()
        if ttl > self.max_ttl:
            raise StorageUnavailable("replay key lifetime over the cap")
        if ttl <= 0:
            return None  # already outside its window: nothing to remember
        return self.key_prefix + key.hex(), ttl * 1000


def _unavailable(exc: redis.RedisError) -> StorageUnavailable:
    return StorageUnavailable(f"Redis replay cache failed: {type(exc).__name__}")


class RedisReplayCache(_RedisReplayBase):
    """A synchronous replay cache in Redis.

    Args:
        client: a ``redis.Redis`` (the caller owns it), or a URL such as
            ``redis://host:6379/0`` (the cache owns the client and :meth:`close` closes it).
        key_prefix: prepended to the hex-encoded key, to share a Redis database safely.
        max_key_bytes: the longest key accepted (replay keys are 32 bytes).
        max_ttl: the longest lifetime a key may ask for, in seconds.
        clock: measures how long a key has left to live.
    """

    __slots__ = ("_client", "_owns_client")

    def __init__(
        self,
        client: redis.Redis | str,
        *,
        key_prefix: str = _KEY_PREFIX,
        max_key_bytes: int = 64,
        max_ttl: int = 3600,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(
            key_prefix=key_prefix, max_key_bytes=max_key_bytes, max_ttl=max_ttl, clock=clock
        )
        self._owns_client = isinstance(client, str)
        self._client: redis.Redis = (
            redis.Redis.from_url(
                client, socket_timeout=_URL_TIMEOUT, socket_connect_timeout=_URL_TIMEOUT
            )
            if isinstance(client, str)
            else client
        )

    def add_if_absent(self, key: bytes, *, expires_at: int) -> bool:
        """Record ``key`` until ``expires_at``; False if present and unexpired.

        Raises:
            StorageUnavailable: the key is too long, its lifetime too long, or Redis failed
                (the detail names the error class only, never the key).
        """
        args = self._set_args(key, expires_at)
        if args is None:
            return True
        name, ttl_ms = args
        try:
            return bool(self._client.set(name, 1, nx=True, px=ttl_ms))
        except redis.RedisError as exc:
            raise _unavailable(exc) from None  # no chained cause: it may name the key

    def close(self) -> None:
        """Close the client if this cache created it from a URL."""
        if self._owns_client:
            self._client.close()

    def __repr__(self) -> str:
        return f"RedisReplayCache(key_prefix={self.key_prefix!r})"


class AsyncRedisReplayCache(_RedisReplayBase):
    """An asynchronous replay cache in Redis (``redis.asyncio``).

    Args:
        client: a ``redis.asyncio.Redis`` (the caller owns it), or a URL such as
            ``redis://host:6379/0`` (the cache owns the client and :meth:`aclose` closes it).
        key_prefix: prepended to the hex-encoded key, to share a Redis database safely.
        max_key_bytes: the longest key accepted (replay keys are 32 bytes).
        max_ttl: the longest lifetime a key may ask for, in seconds.
        clock: measures how long a key has left to live.
    """

    __slots__ = ("_client", "_owns_client")

    def __init__(
        self,
        client: redis.asyncio.Redis | str,
        *,
        key_prefix: str = _KEY_PREFIX,
        max_key_bytes: int = 64,
        max_ttl: int = 3600,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(
            key_prefix=key_prefix, max_key_bytes=max_key_bytes, max_ttl=max_ttl, clock=clock
        )
        self._owns_client = isinstance(client, str)
        self._client: redis.asyncio.Redis = (
            redis.asyncio.Redis.from_url(
                client, socket_timeout=_URL_TIMEOUT, socket_connect_timeout=_URL_TIMEOUT
            )
            if isinstance(client, str)
            else client
        )

    async def add_if_absent_async(self, key: bytes, *, expires_at: int) -> bool:
        """Async twin of :meth:`RedisReplayCache.add_if_absent`."""
        args = self._set_args(key, expires_at)
        if args is None:
            return True
        name, ttl_ms = args
        try:
            return bool(await self._client.set(name, 1, nx=True, px=ttl_ms))
        except redis.RedisError as exc:
            raise _unavailable(exc) from None  # no chained cause: it may name the key

    async def aclose(self) -> None:
        """Close the client if this cache created it from a URL."""
        if self._owns_client:
            await self._client.aclose()

    def __repr__(self) -> str:
        return f"AsyncRedisReplayCache(key_prefix={self.key_prefix!r})"
