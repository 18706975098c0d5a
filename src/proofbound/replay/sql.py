"""SQL replay cache over SQLAlchemy Core, for SQLite and PostgreSQL (psycopg 3).

:meth:`SQLReplayCache.add_if_absent` is one statement::

    INSERT INTO proofbound_replay (key, expires_at) VALUES (:key, :expires_at)
    ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at
        WHERE proofbound_replay.expires_at <= :now
    RETURNING key

A row comes back iff the key was new or its earlier use had expired. The database's primary key
decides between two concurrent requests carrying the same proof, so exactly one of them passes
(RFC 9449 §11.1); there is no find-then-save in Python. Expired rows are deleted with one
``DELETE`` every ``purge_every`` inserts. Any database error raises ``StorageUnavailable``: the
request is rejected (fail closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import (
    BigInteger,
    Column,
    LargeBinary,
    MetaData,
    Table,
    bindparam,
    create_engine,
    delete,
    make_url,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from proofbound.clock import Clock, SystemClock
from proofbound.errors import ConfigurationError, StorageUnavailable

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["SQLReplayCache"]

# How long a SQLite connection waits for another writer's lock before it gives up.
_SQLITE_BUSY_TIMEOUT: Final = 30


def _engine_from_url(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        # The URL may hold a password: do not echo it.
        raise ConfigurationError("invalid database URL") from None
    # hide_parameters: an error message must never carry a replay key.
    options: dict[str, Any] = {"hide_parameters": True}
    if parsed.get_backend_name() == "sqlite":
        options["connect_args"] = {"timeout": _SQLITE_BUSY_TIMEOUT, "check_same_thread": False}
        if parsed.database in (None, "", ":memory:"):
            # Every connection to ``sqlite://`` opens its own empty database: share one.
            options["poolclass"] = StaticPool
    return create_engine(parsed, **options)


class SQLReplayCache:
    """A replay cache in one SQL table (sync and async).

    Call :meth:`create_schema` once (at deployment or start-up) before use.

    Args:
        engine: an SQLAlchemy ``Engine`` (the caller owns it), or a URL such as
            ``sqlite:///replay.db`` or ``postgresql+psycopg://user@host/db`` (the cache owns the
            engine and :meth:`close` disposes of it). SQLite URLs get a busy timeout and may be
            used from many threads; ``sqlite://`` (in memory) shares one connection.
        table_name: the table to use.
        purge_every: delete expired rows after this many inserts.
        max_key_bytes: the longest key accepted (replay keys are 32 bytes).
        max_ttl: the longest lifetime a key may ask for, in seconds.
        clock: decides which rows have expired.

    Raises:
        ConfigurationError: invalid URL or limits, or a database other than SQLite or PostgreSQL.
    """

    __slots__ = (
        "_add",
        "_clock",
        "_count_lock",
        "_engine",
        "_inserts",
        "_lock",
        "_metadata",
        "_owns_engine",
        "_purge",
        "_table",
        "max_key_bytes",
        "max_ttl",
        "purge_every",
    )

    def __init__(
        self,
        engine: Engine | str,
        *,
        table_name: str = "proofbound_replay",
        purge_every: int = 1000,
        max_key_bytes: int = 64,
        max_ttl: int = 3600,
        clock: Clock | None = None,
    ) -> None:
        if purge_every < 1 or max_key_bytes < 1 or max_ttl < 1:
            raise ConfigurationError("replay cache limits must be positive")
        if not table_name:
            raise ConfigurationError("replay cache table name is empty")
        self._owns_engine = isinstance(engine, str)
        self._engine: Engine = _engine_from_url(engine) if isinstance(engine, str) else engine
        dialect = self._engine.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            if self._owns_engine:
                self._engine.dispose()
            raise ConfigurationError("SQL replay cache supports SQLite and PostgreSQL only")
        self.purge_every: Final = purge_every
        self.max_key_bytes: Final = max_key_bytes
        self.max_ttl: Final = max_ttl
        self._clock: Clock = clock if clock is not None else SystemClock()

        self._metadata = MetaData()
        table = Table(
            table_name,
            self._metadata,
            Column("key", LargeBinary, primary_key=True),
            Column("expires_at", BigInteger, nullable=False),
        )
        self._table: Final = table
        insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
        stmt = insert(table).values(key=bindparam("k"), expires_at=bindparam("e"))
        self._add: Final = stmt.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={"expires_at": stmt.excluded.expires_at},
            where=table.c.expires_at <= bindparam("now"),
        ).returning(table.c.key)
        self._purge: Final = delete(table).where(table.c.expires_at <= bindparam("now"))

        # SQLite takes one writer at a time anyway; queueing in-process avoids busy waits and
        # keeps the single shared connection of an in-memory database to one thread at a time.
        self._lock: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if dialect == "sqlite" else contextlib.nullcontext()
        )
        self._count_lock = threading.Lock()
        self._inserts = 0

    def create_schema(self) -> None:
        """Create the table if it does not exist (idempotent).

        Database errors propagate unchanged: this runs at deployment, not per request.
        """
        self._metadata.create_all(self._engine, checkfirst=True)

    def _purge_due(self) -> bool:
        with self._count_lock:
            self._inserts += 1
            return self._inserts % self.purge_every == 0

    def add_if_absent(self, key: bytes, *, expires_at: int) -> bool:
        """Record ``key`` until ``expires_at``; False if present and unexpired.

        Raises:
            StorageUnavailable: the key is too long, its lifetime too long, or the database
                failed (the detail names the error class only, never the key).
        """
        if len(key) > self.max_key_bytes:
            raise StorageUnavailable("replay key too long")
        now = self._clock.now()
        if expires_at - now > self.max_ttl:
            raise StorageUnavailable("replay key lifetime over the cap")
        if expires_at <= now:
            return True  # already outside its window: nothing to remember
        try:
            with self._lock, self._engine.begin() as conn:
                added = conn.execute(self._add, {"k": key, "e": expires_at, "now": now}).first()
                if added is not None and self._purge_due():
                    conn.execute(self._purge, {"now": now})
        except SQLAlchemyError as exc:
            # Class names only, and no chained cause: SQLAlchemy's message may show the key.
            driver = getattr(exc, "orig", None)
            detail = type(exc).__name__ if driver is None else type(driver).__name__
            raise StorageUnavailable(f"SQL replay cache failed: {detail}") from None
        return added is not None

    async def add_if_absent_async(self, key: bytes, *, expires_at: int) -> bool:
        """Async :meth:`add_if_absent`.

        Runs the synchronous call in a worker thread (``asyncio.to_thread``), so the event loop
        is not blocked while the database answers.
        """
        return await asyncio.to_thread(self.add_if_absent, key, expires_at=expires_at)

    def close(self) -> None:
        """Dispose of the engine if this cache created it from a URL."""
        if self._owns_engine:
            self._engine.dispose()

    def __repr__(self) -> str:
        url = self._engine.url.render_as_string(hide_password=True)
        return f"SQLReplayCache(url={url!r}, table={self._table.name!r})"
