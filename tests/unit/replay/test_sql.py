"""SQLReplayCache specifics: schema, amortised purge, engine ownership, redaction, SQLite threads.

The behaviour every backend shares is in ``tests/contracts/test_replay_cache.py``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from proofbound.clock import FrozenClock
from proofbound.errors import ConfigurationError, StorageUnavailable
from proofbound.replay import replay_key
from proofbound.replay.sql import SQLReplayCache


def key(n: int) -> bytes:
    return replay_key("thumbprint", f"jti-{n}")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'replay.db'}")
    yield engine
    engine.dispose()


def rows(engine: sa.Engine, table: str = "proofbound_replay") -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608


def test_create_schema_is_idempotent(engine: sa.Engine, clock: FrozenClock) -> None:
    cache = SQLReplayCache(engine, clock=clock)
    cache.create_schema()
    cache.create_schema()
    assert cache.add_if_absent(key(1), expires_at=clock.now() + 60) is True
    assert sa.inspect(engine).get_table_names() == ["proofbound_replay"]


def test_table_name_is_configurable(engine: sa.Engine, clock: FrozenClock) -> None:
    SQLReplayCache(engine, table_name="jti_seen", clock=clock).create_schema()
    assert sa.inspect(engine).get_table_names() == ["jti_seen"]


def test_missing_table_fails_closed(engine: sa.Engine, clock: FrozenClock) -> None:
    cache = SQLReplayCache(engine, clock=clock)
    with pytest.raises(StorageUnavailable) as excinfo:
        cache.add_if_absent(key(1), expires_at=clock.now() + 60)
    assert excinfo.value.detail == "SQL replay cache failed: OperationalError"


def test_error_detail_never_holds_the_key(engine: sa.Engine, clock: FrozenClock) -> None:
    # A caller-owned engine without hide_parameters: SQLAlchemy's own message shows the key.
    cache = SQLReplayCache(engine, clock=clock)
    secret = key(7)
    with pytest.raises(StorageUnavailable) as excinfo:
        cache.add_if_absent(secret, expires_at=clock.now() + 60)
    error = excinfo.value
    assert error.__cause__ is None
    assert error.__suppress_context__ is True
    for text in (str(error), repr(error), error.detail, error.diagnostics()):
        assert secret.hex() not in text
        assert repr(secret)[2:-1] not in text


def test_expired_rows_are_purged_every_n_inserts(engine: sa.Engine, clock: FrozenClock) -> None:
    cache = SQLReplayCache(engine, purge_every=5, clock=clock)
    cache.create_schema()
    for n in range(3):
        cache.add_if_absent(key(n), expires_at=clock.now() + 10)
    clock.advance(10)
    cache.add_if_absent(key(100), expires_at=clock.now() + 60)
    assert rows(engine) == 4  # not yet: the 4th insert
    # Refused and already-recorded keys are not inserts and do not count.
    assert cache.add_if_absent(key(100), expires_at=clock.now() + 60) is False
    assert cache.add_if_absent(key(101), expires_at=clock.now()) is True
    assert rows(engine) == 4
    cache.add_if_absent(key(102), expires_at=clock.now() + 60)  # the 5th: purges
    assert rows(engine) == 2


def test_caller_owned_engine_is_not_disposed(engine: sa.Engine, clock: FrozenClock) -> None:
    cache = SQLReplayCache(engine, clock=clock)
    cache.create_schema()
    cache.close()
    assert cache.add_if_absent(key(1), expires_at=clock.now() + 60) is True


def race(cache: SQLReplayCache, k: bytes, expires_at: int, workers: int = 8) -> list[bool]:
    start = threading.Barrier(workers)

    def attempt(_: int) -> bool:
        start.wait()
        return cache.add_if_absent(k, expires_at=expires_at)

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(attempt, range(workers)))


def test_in_memory_sqlite_is_shared_and_thread_safe(clock: FrozenClock) -> None:
    cache = SQLReplayCache("sqlite://", clock=clock)
    try:
        cache.create_schema()  # on one connection; the threads below must see the same table
        for n in range(4):
            assert sorted(race(cache, key(n), clock.now() + 60)) == [False] * 7 + [True]
    finally:
        cache.close()


def test_repr_hides_the_password() -> None:
    cache = SQLReplayCache("postgresql+psycopg://app:s3cret@127.0.0.1:1/db", table_name="t")
    try:
        assert "s3cret" not in repr(cache)
        assert (
            repr(cache)
            == "SQLReplayCache(url='postgresql+psycopg://app:***@127.0.0.1:1/db', table='t')"
        )
    finally:
        cache.close()


def test_invalid_url_does_not_echo_it() -> None:
    with pytest.raises(ConfigurationError) as excinfo:
        SQLReplayCache("not a url s3cret")
    assert "s3cret" not in excinfo.value.diagnostics()


@pytest.mark.parametrize(
    "limits", [{"purge_every": 0}, {"max_key_bytes": 0}, {"max_ttl": 0}, {"table_name": ""}]
)
def test_invalid_settings_are_refused(engine: sa.Engine, limits: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        SQLReplayCache(engine, **limits)


@pytest.mark.postgres
def test_postgres_purge_and_redacted_errors(postgres_url: str, clock: FrozenClock) -> None:
    table = f"replay_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(postgres_url)
    try:
        cache = SQLReplayCache(engine, table_name=table, purge_every=2, clock=clock)
        cache.create_schema()
        cache.add_if_absent(key(1), expires_at=clock.now() + 1)
        clock.advance(1)
        cache.add_if_absent(key(2), expires_at=clock.now() + 60)
        assert rows(engine, table) == 1
        sa.Table(table, sa.MetaData()).drop(engine)
        with pytest.raises(StorageUnavailable) as excinfo:
            cache.add_if_absent(key(3), expires_at=clock.now() + 60)
        assert excinfo.value.detail == "SQL replay cache failed: UndefinedTable"
    finally:
        sa.Table(table, sa.MetaData()).drop(engine, checkfirst=True)
        engine.dispose()
