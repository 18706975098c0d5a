"""The contract every replay cache passes (RFC 9449 §11.1), on every backend, sync and async.

``add_if_absent`` records a key atomically and says whether it was new; an expired key may be
recorded again; over-long keys and lifetimes are refused; a backend that cannot answer raises
``StorageUnavailable`` (fail closed); and of many concurrent requests carrying the same proof,
exactly one wins.

Backends: memory, SQLite (a file in ``tmp_path``), PostgreSQL and Redis. Each test gets its own
SQL table or Redis key prefix and removes it afterwards. Memory and SQL caches expire keys by the
frozen clock; Redis expires them by real time, so :meth:`Backend.expire` sleeps for Redis.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa

from proofbound.clock import FrozenClock
from proofbound.errors import Reason, StorageUnavailable
from proofbound.replay import AsyncReplayCache, MemoryReplayCache, ReplayCache, replay_key
from proofbound.replay.sql import SQLReplayCache

MAX_KEY_BYTES = 64
MAX_TTL = 3600
WORKERS = 8
ROUNDS = 4

Add = Callable[..., Awaitable[bool]]


@dataclass
class Backend:
    """A backend under test: a sync and an async cache sharing one store, and broken twins."""

    name: str
    clock: FrozenClock
    cache: ReplayCache
    async_cache: AsyncReplayCache
    broken: ReplayCache
    async_broken: AsyncReplayCache
    real_time_expiry: bool = False
    closers: list[Callable[[], Awaitable[None] | None]] = field(default_factory=list)

    def expire(self, seconds: int) -> None:
        """Let ``seconds`` pass for the cache."""
        self.clock.advance(seconds)
        if self.real_time_expiry:
            time.sleep(seconds + 0.1)


def new_key() -> bytes:
    return replay_key("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", uuid.uuid4().hex)


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _memory(clock: FrozenClock) -> Backend:
    cache = MemoryReplayCache(clock=clock)
    # The memory cache has no server to lose; its "cannot answer" is being full of live keys.
    full = MemoryReplayCache(max_entries=1, clock=clock)
    full.add_if_absent(new_key(), expires_at=clock.now() + 60)
    return Backend("memory", clock, cache, cache, full, full)


def _sql(clock: FrozenClock, engine: sa.Engine | str, broken_url: str) -> Backend:
    table = f"replay_{uuid.uuid4().hex[:12]}"
    cache = SQLReplayCache(engine, table_name=table, clock=clock)
    cache.create_schema()
    broken = SQLReplayCache(broken_url, table_name=table, clock=clock)
    backend = Backend("sql", clock, cache, cache, broken, broken)
    backend.closers += [cache.close, broken.close]
    if isinstance(engine, sa.Engine):
        backend.closers += [lambda: sa.Table(table, sa.MetaData()).drop(engine), engine.dispose]
    return backend


def _sqlite(clock: FrozenClock, tmp_path: Path) -> Backend:
    # The broken twin points into a directory that does not exist: SQLite cannot open it.
    return _sql(
        clock, f"sqlite:///{tmp_path / 'replay.db'}", f"sqlite:///{tmp_path / 'nodir' / 'x.db'}"
    )


def _postgres(clock: FrozenClock, url: str) -> Backend:
    # A caller-owned Engine here (SQLite above goes through the URL constructor).
    down = f"postgresql+psycopg://postgres@127.0.0.1:{unused_port()}/test"
    return _sql(clock, sa.create_engine(url), down)


def _redis(clock: FrozenClock, url: str) -> Backend:
    import redis
    import redis.asyncio
    from redis.asyncio.retry import Retry as AsyncRetry
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from proofbound.replay.redis import AsyncRedisReplayCache, RedisReplayCache

    prefix = f"proofbound-test:{uuid.uuid4().hex}:"
    cache = RedisReplayCache(url, key_prefix=prefix, clock=clock)
    async_cache = AsyncRedisReplayCache(url, key_prefix=prefix, clock=clock)
    port = unused_port()
    down_client = redis.Redis(
        host="127.0.0.1", port=port, socket_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    async_down_client = redis.asyncio.Redis(
        host="127.0.0.1", port=port, socket_timeout=0.5, retry=AsyncRetry(NoBackoff(), 0)
    )

    def drop_keys() -> None:
        with redis.Redis.from_url(url) as admin:
            for name in admin.scan_iter(match=prefix + "*"):
                admin.delete(name)

    backend = Backend(
        "redis",
        clock,
        cache,
        async_cache,
        RedisReplayCache(down_client, clock=clock),
        AsyncRedisReplayCache(async_down_client, clock=clock),
        real_time_expiry=True,
    )
    backend.closers += [
        drop_keys,
        cache.close,
        async_cache.aclose,
        down_client.close,
        async_down_client.aclose,
    ]
    return backend


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("redis", marks=pytest.mark.redis),
    ]
)
async def backend(
    request: pytest.FixtureRequest, clock: FrozenClock, tmp_path: Path
) -> AsyncIterator[Backend]:
    if request.param == "memory":
        made = _memory(clock)
    elif request.param == "sqlite":
        made = _sqlite(clock, tmp_path)
    elif request.param == "postgres":
        made = _postgres(clock, request.getfixturevalue("postgres_url"))
    else:
        made = _redis(clock, request.getfixturevalue("redis_url"))
    try:
        yield made
    finally:
        for close in made.closers:
            result = close()
            if result is not None:
                await result


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def adder(cache: ReplayCache, async_cache: AsyncReplayCache, mode: str) -> Add:
    """The method under test as an awaitable, so one test body covers both twins."""
    if mode == "async":
        return async_cache.add_if_absent_async

    async def add(key: bytes, *, expires_at: int) -> bool:
        return cache.add_if_absent(key, expires_at=expires_at)

    return add


@pytest.fixture
def add(backend: Backend, mode: str) -> Add:
    return adder(backend.cache, backend.async_cache, mode)


@pytest.fixture
def add_broken(backend: Backend, mode: str) -> Add:
    return adder(backend.broken, backend.async_broken, mode)


async def test_new_key_is_added_once(add: Add, clock: FrozenClock) -> None:
    key, other = new_key(), new_key()
    expires_at = clock.now() + 60
    assert await add(key, expires_at=expires_at) is True
    assert await add(key, expires_at=expires_at) is False
    assert await add(key, expires_at=expires_at + 30) is False
    assert await add(other, expires_at=expires_at) is True
    assert await add(other, expires_at=expires_at) is False


async def test_expired_key_can_be_added_again(add: Add, backend: Backend) -> None:
    key = new_key()
    assert await add(key, expires_at=backend.clock.now() + 1) is True
    assert await add(key, expires_at=backend.clock.now() + 1) is False
    backend.expire(1)
    assert await add(key, expires_at=backend.clock.now() + 60) is True
    assert await add(key, expires_at=backend.clock.now() + 60) is False


async def test_key_outside_its_window_is_accepted_and_not_kept(
    add: Add, clock: FrozenClock
) -> None:
    key = new_key()
    assert await add(key, expires_at=clock.now()) is True
    assert await add(key, expires_at=clock.now() - 10) is True
    assert await add(key, expires_at=clock.now() + 60) is True
    assert await add(key, expires_at=clock.now() + 60) is False


async def test_key_length_cap(add: Add, clock: FrozenClock) -> None:
    assert await add(b"k" * MAX_KEY_BYTES, expires_at=clock.now() + 60) is True
    with pytest.raises(StorageUnavailable) as excinfo:
        await add(b"k" * (MAX_KEY_BYTES + 1), expires_at=clock.now() + 60)
    assert excinfo.value.reason is Reason.STORAGE_UNAVAILABLE


async def test_lifetime_cap(add: Add, clock: FrozenClock) -> None:
    assert await add(new_key(), expires_at=clock.now() + MAX_TTL) is True
    key = new_key()
    with pytest.raises(StorageUnavailable):
        await add(key, expires_at=clock.now() + MAX_TTL + 1)
    assert await add(key, expires_at=clock.now() + 60) is True  # the refusal stored nothing


async def test_backend_down_fails_closed(add_broken: Add, clock: FrozenClock) -> None:
    key = new_key()
    with pytest.raises(StorageUnavailable) as excinfo:
        await add_broken(key, expires_at=clock.now() + 60)
    error = excinfo.value
    assert error.reason is Reason.STORAGE_UNAVAILABLE
    for text in (str(error), repr(error), error.detail, error.diagnostics()):
        assert key.hex() not in text
        assert repr(key)[2:-1] not in text
    assert error.__cause__ is None


def _race_threads(cache: ReplayCache, key: bytes, expires_at: int) -> list[bool]:
    start = threading.Barrier(WORKERS)

    def attempt() -> bool:
        start.wait()
        return cache.add_if_absent(key, expires_at=expires_at)

    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(lambda _: attempt(), range(WORKERS)))


def test_concurrent_threads_exactly_one_wins(backend: Backend) -> None:
    for _ in range(ROUNDS):
        results = _race_threads(backend.cache, new_key(), backend.clock.now() + 60)
        assert sorted(results) == [False] * (WORKERS - 1) + [True]


async def test_concurrent_tasks_exactly_one_wins(backend: Backend) -> None:
    for _ in range(ROUNDS):
        key, expires_at = new_key(), backend.clock.now() + 60
        results = await asyncio.gather(
            *(
                backend.async_cache.add_if_absent_async(key, expires_at=expires_at)
                for _ in range(WORKERS)
            )
        )
        assert sorted(results) == [False] * (WORKERS - 1) + [True]


def test_concurrent_takeover_of_an_expired_key_has_one_winner(backend: Backend) -> None:
    key = new_key()
    assert backend.cache.add_if_absent(key, expires_at=backend.clock.now() + 1) is True
    backend.expire(1)
    results = _race_threads(backend.cache, key, backend.clock.now() + 60)
    assert sorted(results) == [False] * (WORKERS - 1) + [True]
