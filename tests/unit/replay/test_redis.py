"""Redis replay cache specifics: the exact SET command, key naming, redaction, the missing extra.

The behaviour every backend shares is in ``tests/contracts/test_replay_cache.py``.
"""

from __future__ import annotations

import importlib
import sys
import uuid
from collections.abc import Iterator

import pytest

from proofbound.clock import FrozenClock
from proofbound.errors import ConfigurationError
from proofbound.replay import replay_key


def test_missing_redis_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "proofbound.replay.redis", raising=False)
    monkeypatch.setitem(sys.modules, "redis", None)
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(ImportError, match=r"pip install 'proofbound\[redis\]'"):
        importlib.import_module("proofbound.replay.redis")


def test_non_positive_limits_are_refused() -> None:
    import redis

    from proofbound.replay.redis import RedisReplayCache

    client = redis.Redis(host="127.0.0.1")
    try:
        with pytest.raises(ConfigurationError):
            RedisReplayCache(client, max_key_bytes=0)
        with pytest.raises(ConfigurationError):
            RedisReplayCache(client, max_ttl=0)
    finally:
        client.close()


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    import redis

    prefix = f"proofbound-test:{uuid.uuid4().hex}:"
    yield prefix
    with redis.Redis.from_url(redis_url) as admin:
        for name in admin.scan_iter(match=prefix + "*"):
            admin.delete(name)


@pytest.mark.redis
def test_set_nx_with_relative_expiry(redis_url: str, prefix: str, clock: FrozenClock) -> None:
    import redis

    from proofbound.replay.redis import RedisReplayCache

    key = replay_key("thumbprint", "jti-1")
    with redis.Redis.from_url(redis_url) as client:
        cache = RedisReplayCache(client, key_prefix=prefix, clock=clock)
        assert cache.add_if_absent(key, expires_at=clock.now() + 90) is True
        name = prefix + key.hex()
        assert client.get(name) == b"1"
        # PX from the injected clock: the key lives 90 s whatever the server's wall clock says.
        assert 89_000 < int(client.pttl(name)) <= 90_000
        assert cache.add_if_absent(key, expires_at=clock.now() + 90) is False
        assert 89_000 < int(client.pttl(name)) <= 90_000  # a refused add does not extend it
        assert client.keys(prefix + "*") == [name.encode()]


@pytest.mark.redis
async def test_async_cache_from_url(redis_url: str, prefix: str, clock: FrozenClock) -> None:
    from proofbound.replay.redis import AsyncRedisReplayCache

    cache = AsyncRedisReplayCache(redis_url, key_prefix=prefix, clock=clock)
    try:
        key = replay_key("thumbprint", "jti-2")
        assert await cache.add_if_absent_async(key, expires_at=clock.now() + 60) is True
        assert await cache.add_if_absent_async(key, expires_at=clock.now() + 60) is False
    finally:
        await cache.aclose()


@pytest.mark.redis
async def test_repr_shows_no_url(redis_url: str, prefix: str) -> None:
    from proofbound.replay.redis import AsyncRedisReplayCache, RedisReplayCache

    url = redis_url.replace("redis://", "redis://:s3cret@", 1)
    cache = RedisReplayCache(url, key_prefix=prefix)
    async_cache = AsyncRedisReplayCache(url, key_prefix=prefix)
    assert repr(cache) == f"RedisReplayCache(key_prefix={prefix!r})"
    assert repr(async_cache) == f"AsyncRedisReplayCache(key_prefix={prefix!r})"
    cache.close()
    await async_cache.aclose()


@pytest.mark.redis
def test_caller_owned_client_is_not_closed(redis_url: str, prefix: str) -> None:
    import redis

    from proofbound.replay.redis import RedisReplayCache

    with redis.Redis.from_url(redis_url) as client:
        RedisReplayCache(client, key_prefix=prefix).close()
        assert client.ping() is True
