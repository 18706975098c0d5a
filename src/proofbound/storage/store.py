"""The authorization server's durable state: signing keys, clients, issued tokens, revocations,
single-use identifiers and the audit log, in SQLite (embedded default) or PostgreSQL.

Every write is one transaction, so a process killed at any point (``kill -9``) leaves either the
whole change or none of it. SQLite runs in WAL mode: a committed transaction survives the death
of the process. Any database error raises :class:`~proofbound.errors.StorageUnavailable`
(fail closed); the detail names the error class only, never a parameter.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from sqlalchemy import (
    Engine,
    and_,
    bindparam,
    delete,
    event,
    func,
    insert,
    make_url,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from proofbound.errors import ConfigurationError, StorageUnavailable
from proofbound.jwk.keys import SigningKey, load_private_key
from proofbound.storage import schema
from proofbound.storage.checkpoint import WalCheckpointer

__all__ = [
    "AuditEntry",
    "AuthorizationCode",
    "ClientRecord",
    "GrantUsed",
    "Issuance",
    "RefreshRecord",
    "ReplayDetected",
    "RevocationEntry",
    "RevocationKind",
    "Store",
    "StoredKey",
    "TokenRecord",
    "open_engine",
]

RevocationKind = Literal["jti", "jkt", "x5t#S256", "client_id"]
REVOCATION_KINDS: Final[tuple[RevocationKind, ...]] = ("jti", "jkt", "x5t#S256", "client_id")

_SQLITE_BUSY_TIMEOUT: Final = 30
_PURGE_EVERY: Final = 1000
_MAX_FAMILY_PASSES: Final = 100


class ReplayDetected(Exception):
    """A single-use identifier (assertion or proof ``jti``) was seen before; nothing was written."""

    def __init__(self, index: int) -> None:
        super().__init__(f"single-use key #{index} already recorded")
        self.index: Final = index


@dataclass(frozen=True, slots=True)
class Issuance:
    """What one token issuance writes: the token's record and its single-use keys (the client
    assertion's and the DPoP proof's replay keys, with the times they may be forgotten)."""

    token: TokenRecord
    single_use: tuple[tuple[bytes, int], ...]


class GrantUsed(Exception):
    """An authorization code or refresh token was already used (or revoked, or expired)."""


@dataclass(frozen=True, slots=True)
class AuthorizationCode:
    """A stored authorization code (its value is never stored, only its hash)."""

    family_id: str
    client_id: str
    subject: str
    params: Mapping[str, Any]  # redirect_uri, scope, audience, code_challenge, dpop_jkt
    issued_at: int
    expires_at: int
    used_at: int | None = None


@dataclass(frozen=True, slots=True)
class RefreshRecord:
    """A stored refresh token (its value is never stored, only its hash)."""

    family_id: str
    client_id: str
    subject: str
    scope: str
    audience: str | tuple[str, ...]
    jkt: str | None  # bound to this DPoP key (public clients)
    access_jti: str  # the access token issued together with it
    issued_at: int
    expires_at: int
    used_at: int | None = None
    revoked_at: int | None = None


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A signing key with its publication and activation times."""

    key: SigningKey
    created_at: int
    activates_at: int


@dataclass(frozen=True, slots=True)
class ClientRecord:
    """A registered client. ``metadata`` is what registration returned, without any secret."""

    client_id: str
    auth_method: str
    metadata: Mapping[str, Any]
    created_at: int
    secret_hash: bytes | None = field(default=None, repr=False)
    introspect_any: bool = False


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """What the AS remembers about an access token it issued (never the token itself)."""

    jti: str
    client_id: str
    subject: str
    scope: str
    audience: str | tuple[str, ...]
    issued_at: int
    expires_at: int
    jkt: str | None = None
    x5t_s256: str | None = None
    revoked_at: int | None = None


@dataclass(frozen=True, slots=True)
class RevocationEntry:
    """Tokens of ``kind`` = ``value`` issued at or before ``revoked_at`` are revoked."""

    kind: RevocationKind
    value: str
    revoked_at: int
    forget_after: int


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One admin action: who, what, how many (tokens appear as hash prefixes only)."""

    at: int
    actor: str
    action: str
    target_kind: str
    target: str
    count: int


def open_engine(url: str) -> Engine:
    """An engine for a SQLite or PostgreSQL URL (SQLite: WAL, busy timeout, foreign keys).

    SQLite connections of this engine do not checkpoint on commit: the :class:`Store` made on
    it runs a :class:`~proofbound.storage.checkpoint.WalCheckpointer` (and closing the last
    connection checkpoints too).

    Raises:
        ConfigurationError: not a valid URL, or another database.
    """
    from sqlalchemy import create_engine

    try:
        parsed = make_url(url)
        parsed.port  # noqa: B018 -- a port that is not a number fails here, not on connect
    except (ArgumentError, ValueError):
        raise ConfigurationError("invalid database URL") from None  # may hold a password
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigurationError("the database must be SQLite or PostgreSQL")
    options: dict[str, Any] = {"hide_parameters": True}
    if backend == "sqlite":
        database = parsed.database or ""
        in_memory = (
            database in ("", ":memory:")
            or database.startswith("file::memory:")
            or parsed.query.get("mode") == "memory"
            or "mode=memory" in database
        )
        if in_memory:
            raise ConfigurationError("the AS needs a SQLite file, not an in-memory database")
        _create_private_file(database)
        options["connect_args"] = {"timeout": _SQLITE_BUSY_TIMEOUT, "check_same_thread": False}
    elif parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.drivername != "postgresql+psycopg":
        raise ConfigurationError("PostgreSQL is used through psycopg 3 (postgresql+psycopg://)")
    engine = create_engine(parsed, **options)
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _create_private_file(path: str) -> None:
    """Create the database file readable by its owner only (it holds private signing keys)."""
    if path.startswith("file:"):
        return  # a URI filename: SQLite opens it; the directory's 0700 protects it
    try:
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    except OSError:
        return  # the connection attempt reports it as StorageUnavailable
    os.close(fd)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: a commit is durable once written to the log, which a killed process cannot undo;
    # NORMAL syncs at checkpoints (a power loss may lose the last commits, a crash does not).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Commits never checkpoint: the store's checkpointer thread does (storage/checkpoint.py).
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class _Prepared:
    """A SQLAlchemy statement compiled once for the engine's dialect, executed on a driver
    cursor with values in a fixed order (the dialect's own parameter style)."""

    __slots__ = ("_names", "_positional", "sql")

    def __init__(self, statement: Any, engine: Engine, names: Sequence[str]) -> None:
        compiled = statement.compile(dialect=engine.dialect)
        self.sql: Final = str(compiled)
        self._positional: Final = compiled.positional
        order = list(compiled.positiontup or ()) if compiled.positional else list(names)
        if sorted(order) != sorted(names):
            raise ConfigurationError("prepared statement parameters do not match")
        self._names: Final = tuple(names), tuple(order)

    def execute(self, cursor: Any, values: Sequence[Any]) -> None:
        """Run the statement with ``values`` given in the order of ``names``."""
        names, order = self._names
        by_name = dict(zip(names, values, strict=True))
        if self._positional:
            cursor.execute(self.sql, tuple(by_name[n] for n in order))
        else:
            cursor.execute(self.sql, by_name)


def _audience_json(audience: str | tuple[str, ...]) -> str:
    return json.dumps(audience if isinstance(audience, str) else list(audience))


def _rollback_quietly(raw: Any) -> None:
    with contextlib.suppress(Exception):  # broken connection: the pool discards it
        raw.rollback()


def _storage_error(exc: SQLAlchemyError) -> StorageUnavailable:
    driver = getattr(exc, "orig", None)
    name = type(exc).__name__ if driver is None else type(driver).__name__
    return StorageUnavailable(f"database error: {name}")


class Store:
    """The AS database. Call :meth:`migrate` once at start-up (idempotent).

    Args:
        engine: an engine from :func:`open_engine` (the store disposes of it in :meth:`close`).
    """

    def __init__(self, engine: Engine) -> None:
        self._engine: Final = engine
        self.dialect: Final = engine.dialect.name
        # SQLite has one writer at a time: queue writers in-process instead of busy-waiting.
        self._write_lock: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if self.dialect == "sqlite" else contextlib.nullcontext()
        )
        insert_fn = sqlite.insert if self.dialect == "sqlite" else postgresql.insert
        stmt = insert_fn(schema.replay).values(key=bindparam("k"), expires_at=bindparam("e"))
        # Wins iff the key is new or its earlier use has expired (see replay/sql.py).
        self._replay_add: Final = stmt.on_conflict_do_update(
            index_elements=[schema.replay.c.key],
            set_={"expires_at": stmt.excluded.expires_at},
            where=schema.replay.c.expires_at <= bindparam("now"),
        ).returning(schema.replay.c.key)
        larger = func.max if self.dialect == "sqlite" else func.greatest
        rstmt = insert_fn(schema.revocations).values(
            kind=bindparam("kind"),
            value=bindparam("value"),
            revoked_at=bindparam("revoked_at"),
            forget_after=bindparam("forget_after"),
        )
        self._revocation_upsert: Final = rstmt.on_conflict_do_update(
            index_elements=[schema.revocations.c.kind, schema.revocations.c.value],
            # Both only move forward: a second revocation from a process whose clock lags
            # must not un-revoke tokens issued in between (or forget the entry early).
            set_={
                "revoked_at": larger(schema.revocations.c.revoked_at, rstmt.excluded.revoked_at),
                "forget_after": larger(
                    schema.revocations.c.forget_after, rstmt.excluded.forget_after
                ),
            },
        )
        self._writes = 0
        self._dbapi_error: Final[type[Exception]] = engine.dialect.loaded_dbapi.Error
        self.checkpointer: Final = WalCheckpointer(engine) if self.dialect == "sqlite" else None
        self._sql_replay_add: Final = _Prepared(self._replay_add, engine, ("k", "e", "now"))
        self._sql_replay_delete: Final = _Prepared(
            delete(schema.replay).where(schema.replay.c.key == bindparam("k")), engine, ("k",)
        )
        token_columns = (
            "jti", "client_id", "subject", "jkt", "x5t_s256", "scope", "audience",
            "issued_at", "expires_at",
        )  # fmt: skip
        self._sql_token_insert: Final = _Prepared(
            insert(schema.tokens).values({c: bindparam(c) for c in token_columns}),
            engine,
            token_columns,
        )
        if self.checkpointer is not None:  # last: nothing above can fail and leave it running
            self.checkpointer.start()

    @classmethod
    def open(cls, url: str) -> Store:
        """Open the database at ``url`` and bring its schema to the current version."""
        store = cls(open_engine(url))
        try:
            store.migrate()
        except BaseException:
            store.close()
            raise
        return store

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for stores of other tables on the same database)."""
        return self._engine

    # -- plumbing -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        try:
            with self._write_lock, self._engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise _storage_error(exc) from None

    @contextlib.contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self._engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise _storage_error(exc) from None

    def schema_version(self) -> int:
        """How many migrations have been applied (0 for an empty database)."""
        with self._read() as conn:
            if not self._engine.dialect.has_table(conn, schema.meta.name):
                return 0
            row = conn.execute(
                select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")
            ).first()
        return int(row[0]) if row is not None else 0

    def migrate(self) -> int:
        """Apply every migration not yet applied, each in its own transaction; return the version.

        Raises:
            ConfigurationError: the database is newer than this proofbound.
        """
        with self._write() as conn:
            schema.meta.create(conn, checkfirst=True)
        version = self.schema_version()
        if version > len(schema.MIGRATIONS):
            raise ConfigurationError(
                f"database schema version {version} is newer than this proofbound "
                f"({len(schema.MIGRATIONS)})"
            )
        for number, migration in enumerate(schema.MIGRATIONS[version:], start=version + 1):
            with self._write() as conn:
                migration(conn)
                row = {"key": "schema_version", "value": str(number)}
                if number == 1:
                    conn.execute(insert(schema.meta).values(row))
                else:
                    conn.execute(
                        update(schema.meta)
                        .where(schema.meta.c.key == "schema_version")
                        .values(value=str(number))
                    )
        return len(schema.MIGRATIONS)

    def ensure_meta(self, key: str, value: str) -> str:
        """The stored value of ``key``, storing ``value`` first if there is none (race-free:
        of two processes starting at once, both end up with the first one's value)."""
        t = schema.meta
        insert_fn = sqlite.insert if self.dialect == "sqlite" else postgresql.insert
        with self._write() as conn:
            conn.execute(
                insert_fn(t)
                .values(key=key, value=value)
                .on_conflict_do_nothing(index_elements=[t.c.key])
            )
            row = conn.execute(select(t.c.value).where(t.c.key == key)).first()
        if row is None:  # pragma: no cover - the insert above guarantees a row
            raise StorageUnavailable("meta value vanished")
        return str(row[0])

    def close(self) -> None:
        """Stop the checkpointer (SQLite) and release every connection; closing the last
        connection also checkpoints what is left in the log."""
        if self.checkpointer is not None:
            self.checkpointer.close()
        self._engine.dispose()

    def __repr__(self) -> str:
        return f"Store(url={self._engine.url.render_as_string(hide_password=True)!r})"

    # -- signing keys ---------------------------------------------------------------------------

    def signing_keys(self) -> list[StoredKey]:
        """Every stored signing key, oldest activation first."""
        t = schema.signing_keys
        with self._read() as conn:
            rows = conn.execute(
                select(t.c.private_jwk, t.c.alg, t.c.created_at, t.c.activates_at).order_by(
                    t.c.activates_at, t.c.created_at
                )
            ).all()
        return [
            StoredKey(load_private_key(row[0], row[1]), int(row[2]), int(row[3])) for row in rows
        ]

    def add_signing_key(self, key: SigningKey, *, created_at: int, activates_at: int) -> None:
        """Store a new signing key."""
        with self._write() as conn:
            conn.execute(
                insert(schema.signing_keys).values(
                    kid=key.kid,
                    alg=key.alg,
                    private_jwk=json.dumps(key.private_jwk()),
                    created_at=created_at,
                    activates_at=activates_at,
                )
            )

    def delete_signing_keys(self, kids: Sequence[str]) -> None:
        """Forget keys that no longer sign or verify anything."""
        if not kids:
            return
        with self._write() as conn:
            conn.execute(delete(schema.signing_keys).where(schema.signing_keys.c.kid.in_(kids)))

    # -- clients --------------------------------------------------------------------------------

    def add_client(self, client: ClientRecord) -> None:
        """Register a client (its ``client_id`` must be new)."""
        with self._write() as conn:
            conn.execute(
                insert(schema.clients).values(
                    client_id=client.client_id,
                    auth_method=client.auth_method,
                    metadata=json.dumps(dict(client.metadata), separators=(",", ":")),
                    secret_hash=client.secret_hash,
                    introspect_any=client.introspect_any,
                    created_at=client.created_at,
                )
            )

    def get_client(self, client_id: str) -> ClientRecord | None:
        """The client registered as ``client_id``, or None."""
        t = schema.clients
        with self._read() as conn:
            row = conn.execute(select(t).where(t.c.client_id == client_id)).first()
        if row is None:
            return None
        return ClientRecord(
            client_id=row.client_id,
            auth_method=row.auth_method,
            metadata=json.loads(row.metadata),
            created_at=int(row.created_at),
            secret_hash=row.secret_hash,
            introspect_any=bool(row.introspect_any),
        )

    # -- tokens and single-use identifiers -----------------------------------------------------

    def record_issuance(
        self, token: TokenRecord, single_use: Sequence[tuple[bytes, int]], *, now: int
    ) -> None:
        """In one transaction: spend every single-use key and remember the token.

        Raises:
            ReplayDetected: a key was already spent (nothing is written).
            StorageUnavailable: the database failed (nothing is written).
        """
        (outcome,) = self.record_issuances([Issuance(token, tuple(single_use))], now=now)
        if outcome is not None:
            raise outcome

    def record_issuances(
        self, batch: Sequence[Issuance], *, now: int, connection: Any = None
    ) -> list[ReplayDetected | None]:
        """Record several issuances in ONE transaction (a group commit): for each, spend its
        single-use keys and remember its token, or -- if one of its keys was already spent,
        also by an earlier issuance of the same batch -- write nothing of it and report
        :class:`ReplayDetected` in its place. The others are unaffected.

        Raises:
            StorageUnavailable: the database failed; nothing of the batch is written.

        ``connection`` is a pool connection from :meth:`issuance_connection` that the caller
        keeps between batches (one writer thread); by default one is checked out per call.
        """
        outcomes: list[ReplayDetected | None] = []
        # The hot write of the token endpoint: prepared SQL on the driver connection, one
        # transaction (SQLAlchemy's statement machinery costs more than the write itself).
        with self._write_lock:
            raw = self._raw_connection() if connection is None else connection
            try:
                cursor = raw.cursor()
                for item in batch:
                    outcomes.append(self._issue_one(cursor, item, now))
                cursor.close()
                raw.commit()
            except self._dbapi_error as exc:
                _rollback_quietly(raw)
                raise StorageUnavailable(f"database error: {type(exc).__name__}") from None
            finally:
                if connection is None:
                    raw.close()
        self._count_writes(len(batch), now)
        return outcomes

    def _count_writes(self, count: int, now: int) -> None:
        """Purge expired rows every :data:`_PURGE_EVERY` writes of short-lived rows."""
        self._writes += count
        if self._writes >= _PURGE_EVERY:
            self._writes = 0
            with self._write() as conn:
                self._purge(conn, now)

    def _issue_one(self, cursor: Any, item: Issuance, now: int) -> ReplayDetected | None:
        spent: list[bytes] = []
        for index, (key, expires_at) in enumerate(item.single_use):
            self._sql_replay_add.execute(cursor, (key, expires_at, now))
            if cursor.fetchone() is None:
                # Undo this issuance's earlier keys: each was new or an expired leftover, so
                # deleting it loses nothing (a savepoint per issuance would cost every one).
                for done in spent:
                    self._sql_replay_delete.execute(cursor, (done,))
                return ReplayDetected(index)
            spent.append(key)
        token = item.token
        audience = _audience_json(token.audience)
        self._sql_token_insert.execute(
            cursor,
            (
                token.jti,
                token.client_id,
                token.subject,
                token.jkt,
                token.x5t_s256,
                token.scope,
                audience,
                token.issued_at,
                token.expires_at,
            ),
        )
        return None

    def issuance_connection(self) -> Any:
        """A pool connection to pass to :meth:`record_issuances` (return it with ``close()``).

        Raises:
            StorageUnavailable: the database cannot be reached.
        """
        return self._raw_connection()

    def _raw_connection(self) -> Any:
        try:
            return self._engine.raw_connection()
        except SQLAlchemyError as exc:
            raise _storage_error(exc) from None
        except self._dbapi_error as exc:  # the pool hands the driver's error through
            raise StorageUnavailable(f"database error: {type(exc).__name__}") from None

    def _purge(self, conn: Connection, now: int) -> None:
        conn.execute(delete(schema.replay).where(schema.replay.c.expires_at <= now))
        conn.execute(delete(schema.revocations).where(schema.revocations.c.forget_after <= now))
        conn.execute(delete(schema.tokens).where(schema.tokens.c.expires_at <= now))
        for table in (schema.auth_requests, schema.auth_codes, schema.refresh_tokens):
            conn.execute(delete(table).where(table.c.expires_at <= now))

    def get_token(self, jti: str) -> TokenRecord | None:
        """The record of the token with ``jti``, or None (unknown, or purged after expiry)."""
        t = schema.tokens
        with self._read() as conn:
            row = conn.execute(select(t).where(t.c.jti == jti)).first()
        if row is None:
            return None
        audience = json.loads(row.audience)
        return TokenRecord(
            jti=row.jti,
            client_id=row.client_id,
            subject=row.subject,
            scope=row.scope,
            audience=audience if isinstance(audience, str) else tuple(audience),
            issued_at=int(row.issued_at),
            expires_at=int(row.expires_at),
            jkt=row.jkt,
            x5t_s256=row.x5t_s256,
            revoked_at=None if row.revoked_at is None else int(row.revoked_at),
        )

    def revoke(
        self,
        kind: RevocationKind,
        value: str,
        *,
        now: int,
        forget_after: int,
        audit: AuditEntry | None = None,
    ) -> int:
        """Revoke every unexpired token of ``kind`` = ``value`` issued up to ``now``.

        Records a revocation entry (for the feed) and, if given, the audit entry, in the same
        transaction. Returns how many live tokens were revoked.
        """
        if kind not in REVOCATION_KINDS:
            raise ValueError("unknown revocation kind")
        t = schema.tokens
        column = {"jti": t.c.jti, "jkt": t.c.jkt, "x5t#S256": t.c.x5t_s256}.get(kind, t.c.client_id)
        with self._write() as conn:
            result = conn.execute(
                update(t)
                .where(
                    and_(
                        column == value,
                        t.c.revoked_at.is_(None),
                        t.c.expires_at > now,
                        t.c.issued_at <= now,
                    )
                )
                .values(revoked_at=now)
            )
            count = int(result.rowcount or 0)
            refresh = schema.refresh_tokens
            refresh_column = {"jkt": refresh.c.jkt, "client_id": refresh.c.client_id}.get(kind)
            if refresh_column is not None:  # a revoked key or client refreshes no more
                conn.execute(
                    update(refresh)
                    .where(and_(refresh_column == value, refresh.c.revoked_at.is_(None)))
                    .values(revoked_at=now)
                )
            conn.execute(
                self._revocation_upsert,
                {"kind": kind, "value": value, "revoked_at": now, "forget_after": forget_after},
            )
            if audit is not None:
                conn.execute(
                    insert(schema.audit_log).values(
                        at=audit.at,
                        actor=audit.actor,
                        action=audit.action,
                        target_kind=audit.target_kind,
                        target=audit.target,
                        count=count,
                    )
                )
        return count

    def revocations(self, *, now: int) -> list[RevocationEntry]:
        """Every revocation entry that may not be forgotten yet, oldest first."""
        r = schema.revocations
        with self._read() as conn:
            rows = conn.execute(
                select(r.c.kind, r.c.value, r.c.revoked_at, r.c.forget_after)
                .where(r.c.forget_after > now)
                .order_by(r.c.revoked_at, r.c.id)
            ).all()
        return [RevocationEntry(row[0], row[1], int(row[2]), int(row[3])) for row in rows]

    def is_revoked(self, token: TokenRecord) -> bool:
        """Whether ``token`` is revoked, by itself or through its key, certificate or client."""
        if token.revoked_at is not None:
            return True
        r = schema.revocations
        conditions = [and_(r.c.kind == "jti", r.c.value == token.jti)]
        conditions.append(and_(r.c.kind == "client_id", r.c.value == token.client_id))
        if token.jkt is not None:
            conditions.append(and_(r.c.kind == "jkt", r.c.value == token.jkt))
        if token.x5t_s256 is not None:
            conditions.append(and_(r.c.kind == "x5t#S256", r.c.value == token.x5t_s256))
        with self._read() as conn:
            row = conn.execute(
                select(r.c.id).where(and_(or_(*conditions), r.c.revoked_at >= token.issued_at))
            ).first()
        return row is not None

    def add_audit(self, entry: AuditEntry) -> None:
        """Write one audit entry on its own."""
        with self._write() as conn:
            conn.execute(
                insert(schema.audit_log).values(
                    at=entry.at,
                    actor=entry.actor,
                    action=entry.action,
                    target_kind=entry.target_kind,
                    target=entry.target,
                    count=entry.count,
                )
            )

    def audit_entries(self) -> list[AuditEntry]:
        """The audit log, oldest first."""
        a = schema.audit_log
        with self._read() as conn:
            rows = conn.execute(
                select(
                    a.c.at, a.c.actor, a.c.action, a.c.target_kind, a.c.target, a.c.count
                ).order_by(a.c.id)
            ).all()
        return [AuditEntry(int(r[0]), r[1], r[2], r[3], r[4], int(r[5])) for r in rows]

    # -- authorization code flow ----------------------------------------------------------------

    def put_auth_request(
        self, handle_hash: str, client_id: str, params: Mapping[str, Any], *, now: int, ttl: int
    ) -> None:
        """Keep a validated authorization request (pushed, or from ``/authorize``)."""
        with self._write() as conn:
            conn.execute(
                insert(schema.auth_requests).values(
                    handle_hash=handle_hash,
                    client_id=client_id,
                    params=json.dumps(dict(params)),
                    created_at=now,
                    expires_at=now + ttl,
                )
            )
        self._count_writes(1, now)

    def get_auth_request(self, handle_hash: str, *, now: int) -> tuple[str, dict[str, Any]] | None:
        """The client_id and parameters of an unexpired request, or None."""
        t = schema.auth_requests
        with self._read() as conn:
            row = conn.execute(
                select(t.c.client_id, t.c.params).where(
                    and_(t.c.handle_hash == handle_hash, t.c.expires_at > now)
                )
            ).first()
        return None if row is None else (row.client_id, json.loads(row.params))

    def take_auth_request(self, handle_hash: str, *, now: int) -> bool:
        """Use up a request (one decision per request); False if it was gone already."""
        t = schema.auth_requests
        with self._write() as conn:
            result = conn.execute(
                delete(t).where(and_(t.c.handle_hash == handle_hash, t.c.expires_at > now))
            )
        return bool(result.rowcount)

    def put_code(self, code_hash: str, code: AuthorizationCode) -> None:
        """Store a new authorization code."""
        with self._write() as conn:
            conn.execute(
                insert(schema.auth_codes).values(
                    code_hash=code_hash,
                    family_id=code.family_id,
                    client_id=code.client_id,
                    subject=code.subject,
                    params=json.dumps(dict(code.params)),
                    issued_at=code.issued_at,
                    expires_at=code.expires_at,
                )
            )

    def get_code(self, code_hash: str) -> AuthorizationCode | None:
        """The code with this hash, used or not, or None."""
        t = schema.auth_codes
        with self._read() as conn:
            row = conn.execute(select(t).where(t.c.code_hash == code_hash)).first()
        if row is None:
            return None
        return AuthorizationCode(
            family_id=row.family_id,
            client_id=row.client_id,
            subject=row.subject,
            params=json.loads(row.params),
            issued_at=int(row.issued_at),
            expires_at=int(row.expires_at),
            used_at=None if row.used_at is None else int(row.used_at),
        )

    def redeem_code(
        self,
        code_hash: str,
        issuance: Issuance,
        refresh: tuple[str, RefreshRecord] | None,
        *,
        now: int,
    ) -> None:
        """In one transaction: use up the code, spend the request's single-use keys, record the
        access token and store the refresh token.

        Raises:
            GrantUsed: the code was used (or expired) meanwhile; nothing is written.
            ReplayDetected: a single-use key was spent before; nothing is written.
        """
        c = schema.auth_codes
        with self._write() as conn:
            used = conn.execute(
                update(c)
                .where(
                    and_(c.c.code_hash == code_hash, c.c.used_at.is_(None), c.c.expires_at > now)
                )
                .values(used_at=now, access_jti=issuance.token.jti)
            )
            if used.rowcount != 1:
                raise GrantUsed
            self._issue_in(conn, issuance, refresh, now)
        self._count_writes(1, now)

    def get_refresh(self, token_hash: str) -> RefreshRecord | None:
        """The refresh token with this hash, in any state, or None."""
        t = schema.refresh_tokens
        with self._read() as conn:
            row = conn.execute(select(t).where(t.c.token_hash == token_hash)).first()
        if row is None:
            return None
        audience = json.loads(row.audience)
        return RefreshRecord(
            family_id=row.family_id,
            client_id=row.client_id,
            subject=row.subject,
            scope=row.scope,
            audience=audience if isinstance(audience, str) else tuple(audience),
            jkt=row.jkt,
            access_jti=row.access_jti,
            issued_at=int(row.issued_at),
            expires_at=int(row.expires_at),
            used_at=None if row.used_at is None else int(row.used_at),
            revoked_at=None if row.revoked_at is None else int(row.revoked_at),
        )

    def rotate_refresh(
        self, token_hash: str, issuance: Issuance, new: tuple[str, RefreshRecord], *, now: int
    ) -> None:
        """In one transaction: use up the refresh token, spend the single-use keys, record the
        new access token and store its successor.

        Raises:
            GrantUsed: it was used, revoked or expired meanwhile; nothing is written.
            ReplayDetected: a single-use key was spent before; nothing is written.
        """
        t = schema.refresh_tokens
        with self._write() as conn:
            used = conn.execute(
                update(t)
                .where(
                    and_(
                        t.c.token_hash == token_hash,
                        t.c.used_at.is_(None),
                        t.c.revoked_at.is_(None),
                        t.c.expires_at > now,
                    )
                )
                .values(used_at=now)
            )
            if used.rowcount != 1:
                raise GrantUsed
            self._issue_in(conn, issuance, new, now)
        self._count_writes(1, now)

    def revoke_family(self, family_id: str, *, now: int) -> list[tuple[str, int]]:
        """Revoke every refresh token of a family; returns the ``(jti, expires_at)`` of the live
        access tokens issued from the family (its code's and its refresh tokens'), for the
        caller to revoke."""
        t = schema.refresh_tokens
        c = schema.auth_codes
        tokens = schema.tokens
        with self._write() as conn:
            # Until nothing is left: on PostgreSQL (READ COMMITTED) a successor inserted by a
            # rotation that commits while this statement waits is only seen by the next one.
            for _ in range(_MAX_FAMILY_PASSES):
                revoked = conn.execute(
                    update(t)
                    .where(and_(t.c.family_id == family_id, t.c.revoked_at.is_(None)))
                    .values(revoked_at=now)
                )
                if not revoked.rowcount:
                    break
            issued = select(t.c.access_jti.label("jti")).where(t.c.family_id == family_id)
            from_code = select(c.c.access_jti.label("jti")).where(
                and_(c.c.family_id == family_id, c.c.access_jti.is_not(None))
            )
            jtis = [row.jti for row in conn.execute(issued.union(from_code)).all()]
            live = (
                conn.execute(
                    select(tokens.c.jti, tokens.c.expires_at).where(
                        and_(tokens.c.jti.in_(jtis), tokens.c.expires_at > now)
                    )
                ).all()
                if jtis
                else []
            )
        return [(row.jti, int(row.expires_at)) for row in live]

    def touch_auth_request(self, handle_hash: str, *, now: int, ttl: int) -> None:
        """Keep a pending request for ``ttl`` more seconds (the user is signing in)."""
        t = schema.auth_requests
        with self._write() as conn:
            conn.execute(
                update(t)
                .where(and_(t.c.handle_hash == handle_hash, t.c.expires_at > now))
                .values(expires_at=now + ttl)
            )

    def _issue_in(
        self,
        conn: Connection,
        issuance: Issuance,
        refresh: tuple[str, RefreshRecord] | None,
        now: int,
    ) -> None:
        for index, (key, expires_at) in enumerate(issuance.single_use):
            spent = conn.execute(self._replay_add, {"k": key, "e": expires_at, "now": now}).first()
            if spent is None:
                raise ReplayDetected(index)  # the transaction rolls back
        token = issuance.token
        conn.execute(
            insert(schema.tokens).values(
                jti=token.jti,
                client_id=token.client_id,
                subject=token.subject,
                jkt=token.jkt,
                x5t_s256=token.x5t_s256,
                scope=token.scope,
                audience=_audience_json(token.audience),
                issued_at=token.issued_at,
                expires_at=token.expires_at,
            )
        )
        if refresh is not None:
            token_hash, record = refresh
            conn.execute(
                insert(schema.refresh_tokens).values(
                    token_hash=token_hash,
                    family_id=record.family_id,
                    client_id=record.client_id,
                    subject=record.subject,
                    scope=record.scope,
                    audience=_audience_json(record.audience),
                    jkt=record.jkt,
                    access_jti=record.access_jti,
                    issued_at=record.issued_at,
                    expires_at=record.expires_at,
                )
            )

    def spend(self, key: bytes, *, expires_at: int, now: int) -> bool:
        """Spend one single-use key on its own; False if it was spent before."""
        with self._write() as conn:
            spent = (
                conn.execute(self._replay_add, {"k": key, "e": expires_at, "now": now}).first()
                is not None
            )
        self._count_writes(1, now)
        return spent
