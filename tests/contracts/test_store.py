"""The contract of the authorization server's store, on SQLite and PostgreSQL.

Schema versioning (idempotent ``migrate``, refusal of a newer database), signing keys, clients,
issuance with atomically spent single-use keys (a replay writes nothing), revocation by
``jti``/``jkt``/``x5t#S256``/``client_id`` with its feed and audit entry in one transaction,
race-free ``ensure_meta``, and failing closed (``StorageUnavailable`` that names no URL or
password) when the database is gone.

Backends: SQLite (a file in ``tmp_path``) and PostgreSQL, where every test gets a fresh schema
(``pb_test_<random>``, reached through ``search_path``) that is dropped afterwards.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
import shutil
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar, cast

import pytest
import sqlalchemy as sa

from proofbound.errors import ConfigurationError, Reason, StorageUnavailable
from proofbound.jwk.keys import generate_key
from proofbound.jwk.signatures import verify
from proofbound.storage import (
    AuditEntry,
    ClientRecord,
    Issuance,
    ReplayDetected,
    RevocationEntry,
    RevocationKind,
    Store,
    TokenRecord,
    open_engine,
    schema,
)

NOW = 1_700_000_000
TTL = 300
WORKERS = 8
ROUNDS = 4
PASSWORD = "hunter2-" + "x" * 8

T = TypeVar("T")


# -- backends -------------------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_schema(base_url: str) -> Iterator[str]:
    """A new empty schema in the test database; yields a URL whose ``search_path`` is it."""
    name = f"pb_test_{secrets.token_hex(6)}"
    admin = sa.create_engine(base_url, poolclass=sa.NullPool)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
        url = sa.make_url(base_url).update_query_dict({"options": f"-csearch_path={name}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database of each backend."""
    if request.param == "sqlite":
        yield "sqlite:///" + str(tmp_path / "as.db")
        return
    with fresh_schema(request.getfixturevalue("postgres_url")) as url:
        yield url


@pytest.fixture
def open_store(database: str) -> Iterator[Callable[[], Store]]:
    """Opens (and at teardown closes) stores on the test database: one per "process"."""
    opened: list[Store] = []

    def open_one() -> Store:
        store = Store.open(database)
        opened.append(store)
        return store

    try:
        yield open_one
    finally:
        for store in opened:
            store.close()


@pytest.fixture
def store(open_store: Callable[[], Store]) -> Store:
    return open_store()


# -- helpers --------------------------------------------------------------------------------------


def new_key() -> bytes:
    return secrets.token_bytes(32)


def token(
    jti: str | None = None,
    *,
    client_id: str = "client-a",
    jkt: str | None = None,
    x5t_s256: str | None = None,
    issued_at: int = NOW,
    expires_at: int | None = None,
    audience: str | tuple[str, ...] = "https://rs.example",
) -> TokenRecord:
    return TokenRecord(
        jti=jti or secrets.token_urlsafe(18),
        client_id=client_id,
        subject=client_id,
        scope="read write",
        audience=audience,
        issued_at=issued_at,
        expires_at=issued_at + TTL if expires_at is None else expires_at,
        jkt=jkt,
        x5t_s256=x5t_s256,
    )


def race(count: int, attempt: Callable[[int], T]) -> list[T]:
    """Run ``attempt(i)`` for i in 0..count-1 in threads released at the same moment."""
    start = threading.Barrier(count)

    def run(index: int) -> T:
        start.wait(timeout=30)
        return attempt(index)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def stores_for(mode: str, store: Store, open_store: Callable[[], Store]) -> list[Store]:
    """WORKERS stores: the same one (threads of one process) or one each (many processes)."""
    if mode == "shared":
        return [store] * WORKERS
    return [store, *(open_store() for _ in range(WORKERS - 1))]


def assert_redacted(error: StorageUnavailable, *secrets_: str) -> None:
    assert error.reason is Reason.STORAGE_UNAVAILABLE
    assert str(error) == "storage_unavailable"
    for text in (str(error), repr(error), error.detail, error.diagnostics()):
        for secret in secrets_:
            assert secret not in text
    assert error.__cause__ is None
    assert error.__suppress_context__ is True


# -- schema versions ------------------------------------------------------------------------------


def test_migrate_is_idempotent(database: str) -> None:
    store = Store(open_engine(database))
    try:
        assert store.schema_version() == 0
        assert store.migrate() == len(schema.MIGRATIONS)
        assert store.schema_version() == len(schema.MIGRATIONS)
        client = ClientRecord("kept", "private_key_jwt", {"grant_types": []}, NOW)
        store.add_client(client)
        assert store.migrate() == len(schema.MIGRATIONS)
        assert store.schema_version() == len(schema.MIGRATIONS)
        assert store.get_client("kept") == client  # a second migrate keeps the data
    finally:
        store.close()
    reopened = Store.open(database)
    try:
        assert reopened.schema_version() == len(schema.MIGRATIONS)
        assert reopened.get_client("kept") == client
    finally:
        reopened.close()


def test_database_newer_than_code_is_refused(database: str, store: Store) -> None:
    newer = len(schema.MIGRATIONS) + 1
    engine = open_engine(database)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.update(schema.meta)
                .where(schema.meta.c.key == "schema_version")
                .values(value=str(newer))
            )
    finally:
        engine.dispose()
    with pytest.raises(ConfigurationError) as excinfo:
        store.migrate()
    assert excinfo.value.reason is Reason.CONFIGURATION
    with pytest.raises(ConfigurationError):
        Store.open(database)
    assert store.schema_version() == newer  # refused, not downgraded


# -- signing keys ---------------------------------------------------------------------------------


def test_signing_keys_add_list_delete(store: Store) -> None:
    assert store.signing_keys() == []
    later = generate_key("ES256")
    sooner = generate_key("EdDSA")
    store.add_signing_key(later, created_at=NOW - 100, activates_at=NOW + 60)
    store.add_signing_key(sooner, created_at=NOW, activates_at=NOW)

    listed = store.signing_keys()
    assert [k.key.kid for k in listed] == [sooner.kid, later.kid]  # oldest activation first
    assert [(k.created_at, k.activates_at) for k in listed] == [(NOW, NOW), (NOW - 100, NOW + 60)]
    for stored, original in zip(listed, (sooner, later), strict=True):
        assert stored.key.alg == original.alg
        assert stored.key.thumbprint == original.thumbprint
        assert stored.key.public_jwk() == original.public_jwk()
        # The private half came back too: what it signs verifies under the original public key.
        signature = stored.key.sign(b"signing input")
        assert verify(original.spec, original.public_key.key, b"signing input", signature)

    with pytest.raises(StorageUnavailable):  # a kid is stored once
        store.add_signing_key(later, created_at=NOW, activates_at=NOW)
    store.delete_signing_keys([])
    store.delete_signing_keys(["no-such-kid"])
    assert len(store.signing_keys()) == 2
    store.delete_signing_keys([sooner.kid])
    assert [k.key.kid for k in store.signing_keys()] == [later.kid]
    store.delete_signing_keys([later.kid])
    assert store.signing_keys() == []


# -- clients --------------------------------------------------------------------------------------


def test_clients_add_and_get(store: Store) -> None:
    assert store.get_client("nobody") is None
    jwt_client = ClientRecord(
        client_id="svc-1",
        auth_method="private_key_jwt",
        metadata={
            "grant_types": ["client_credentials"],
            "jwks": {"keys": [generate_key("ES256").public_jwk()]},
            "dpop_bound_access_tokens": True,
            "client_name": "Svc \u00e9",
        },
        created_at=NOW,
        introspect_any=True,
    )
    secret_client = ClientRecord(
        client_id="svc-2",
        auth_method="client_secret_basic",
        metadata={"grant_types": ["client_credentials"]},
        created_at=NOW + 1,
        secret_hash=secrets.token_bytes(32),
    )
    store.add_client(jwt_client)
    store.add_client(secret_client)
    assert store.get_client("svc-1") == jwt_client
    assert store.get_client("svc-2") == secret_client
    assert store.get_client("svc-3") is None


def test_duplicate_client_id_is_refused(store: Store) -> None:
    client_id = "svc-" + secrets.token_hex(4)
    first = ClientRecord(client_id, "private_key_jwt", {"scope": "a"}, NOW)
    store.add_client(first)
    with pytest.raises(StorageUnavailable) as excinfo:
        store.add_client(ClientRecord(client_id, "client_secret_post", {"scope": "b"}, NOW + 5))
    assert_redacted(excinfo.value, client_id)
    assert store.get_client(client_id) == first


# -- issuance and single-use keys -----------------------------------------------------------------


def test_record_issuance_stores_the_token(store: Store) -> None:
    dpop = token(jkt="j" * 43, audience=("https://rs1.example", "https://rs2.example"))
    mtls = token(x5t_s256="x" * 43, audience="https://rs1.example")
    store.record_issuance(dpop, [(new_key(), NOW + 60)], now=NOW)
    store.record_issuance(mtls, [], now=NOW)
    assert store.get_token(dpop.jti) == dpop
    assert store.get_token(mtls.jti) == mtls
    assert store.get_token("unknown") is None


@pytest.mark.parametrize("reused", [0, 1])
@pytest.mark.parametrize("position", [0, 1, 2])
def test_replayed_single_use_key_writes_nothing(store: Store, reused: int, position: int) -> None:
    earlier = [(new_key(), NOW + 60), (new_key(), NOW + 60)]
    store.record_issuance(token(), earlier, now=NOW)

    fresh = [(new_key(), NOW + 60), (new_key(), NOW + 60)]
    keys = [*fresh]
    keys.insert(position, earlier[reused])
    second = token()
    with pytest.raises(ReplayDetected) as excinfo:
        store.record_issuance(second, keys, now=NOW + 1)
    assert excinfo.value.index == position
    assert store.get_token(second.jti) is None
    for key, expires_at in fresh:  # the other keys of the refused call were not spent
        assert store.spend(key, expires_at=expires_at, now=NOW + 1) is True


def test_failed_issuance_spends_nothing(store: Store) -> None:
    first = token()
    store.record_issuance(first, [(new_key(), NOW + 60)], now=NOW)
    key = new_key()
    with pytest.raises(StorageUnavailable):  # the same jti twice: the insert fails
        store.record_issuance(first, [(key, NOW + 60)], now=NOW)
    assert store.spend(key, expires_at=NOW + 60, now=NOW) is True


def test_batch_refuses_only_the_replayed_issuances(store: Store) -> None:
    shared, other, late = new_key(), new_key(), new_key()
    first, second, third = token(), token(), token()
    outcomes = store.record_issuances(
        [
            Issuance(first, ((shared, NOW + 60),)),
            Issuance(second, ((late, NOW + 60), (shared, NOW + 60))),  # replays the first's key
            Issuance(third, ((other, NOW + 60),)),
        ],
        now=NOW,
    )
    assert outcomes[0] is None
    assert outcomes[2] is None
    assert isinstance(outcomes[1], ReplayDetected)
    assert outcomes[1].index == 1
    assert store.get_token(first.jti) == first
    assert store.get_token(third.jti) == third
    assert store.get_token(second.jti) is None
    # The refused issuance's own earlier key was given back; the others' stay spent.
    assert store.spend(late, expires_at=NOW + 60, now=NOW) is True
    assert store.spend(shared, expires_at=NOW + 60, now=NOW) is False
    assert store.spend(other, expires_at=NOW + 60, now=NOW) is False


def test_batch_failure_writes_nothing_of_the_batch(store: Store) -> None:
    existing = token()
    store.record_issuance(existing, [], now=NOW)
    fresh, key = token(), new_key()
    with pytest.raises(StorageUnavailable):  # the second issuance's jti exists: the insert fails
        store.record_issuances(
            [Issuance(fresh, ((key, NOW + 60),)), Issuance(existing, ())], now=NOW
        )
    assert store.get_token(fresh.jti) is None
    assert store.spend(key, expires_at=NOW + 60, now=NOW) is True


def test_batches_on_a_kept_connection(store: Store) -> None:
    connection = store.issuance_connection()
    try:
        records = [token() for _ in range(3)]
        for record in records:
            (outcome,) = store.record_issuances(
                [Issuance(record, ((new_key(), NOW + 60),))], now=NOW, connection=connection
            )
            assert outcome is None
        key = new_key()
        store.record_issuances(
            [Issuance(token(), ((key, NOW + 60),))], now=NOW, connection=connection
        )
        (replayed,) = store.record_issuances(
            [Issuance(token(), ((key, NOW + 60),))], now=NOW, connection=connection
        )
        assert isinstance(replayed, ReplayDetected)
    finally:
        connection.close()
    for record in records:  # committed: visible on the store's other connections
        assert store.get_token(record.jti) == record


def test_expired_single_use_key_can_be_reused(store: Store) -> None:
    key = new_key()
    store.record_issuance(token(), [(key, NOW + 10)], now=NOW)
    with pytest.raises(ReplayDetected):
        store.record_issuance(token(), [(key, NOW + 10)], now=NOW + 9)
    again = token(issued_at=NOW + 10)
    store.record_issuance(again, [(key, NOW + 70)], now=NOW + 10)
    assert store.get_token(again.jti) == again
    with pytest.raises(ReplayDetected):  # spent again, until its new expiry
        store.record_issuance(token(), [(key, NOW + 70)], now=NOW + 11)
    assert store.spend(key, expires_at=NOW + 130, now=NOW + 69) is False
    assert store.spend(key, expires_at=NOW + 130, now=NOW + 70) is True


def test_spend_is_true_once(store: Store) -> None:
    key, other = new_key(), new_key()
    assert store.spend(key, expires_at=NOW + 60, now=NOW) is True
    assert store.spend(key, expires_at=NOW + 60, now=NOW) is False
    assert store.spend(key, expires_at=NOW + 120, now=NOW + 59) is False
    assert store.spend(other, expires_at=NOW + 60, now=NOW) is True
    with pytest.raises(ReplayDetected):  # spend and issuance share one record of keys
        store.record_issuance(token(), [(other, NOW + 60)], now=NOW)


def _spend(stores: list[Store], key: bytes, index: int) -> bool:
    return stores[index].spend(key, expires_at=NOW + 60, now=NOW)


@pytest.mark.parametrize("mode", ["shared", "separate"])
def test_concurrent_spend_has_exactly_one_winner(
    store: Store, open_store: Callable[[], Store], mode: str
) -> None:
    stores = stores_for(mode, store, open_store)
    for _ in range(ROUNDS):
        results = race(WORKERS, functools.partial(_spend, stores, new_key()))
        assert sorted(results) == [False] * (WORKERS - 1) + [True]


# -- revocation -----------------------------------------------------------------------------------


def _matching(kind: RevocationKind, value: str, *, issued_at: int) -> TokenRecord:
    if kind == "jkt":
        return token(jkt=value, issued_at=issued_at)
    if kind == "x5t#S256":
        return token(x5t_s256=value, issued_at=issued_at)
    return token(client_id=value, jkt="k" * 43, issued_at=issued_at)


@pytest.mark.parametrize("kind", ["jkt", "x5t#S256", "client_id"])
def test_revoke_by_key_cert_or_client(store: Store, kind: RevocationKind) -> None:
    value, other = "v" * 43, "w" * 43
    live = _matching(kind, value, issued_at=NOW - 10)
    issued_now = _matching(kind, value, issued_at=NOW)  # "at or before" the revocation
    expired = _matching(kind, value, issued_at=NOW - TTL - 1)
    expires_now = _matching(kind, value, issued_at=NOW - TTL)  # expires_at == now: expired
    future = _matching(kind, value, issued_at=NOW + 5)  # issued after the revocation time
    decoy = _matching(kind, other, issued_at=NOW - 10)
    tokens = [live, issued_now, expired, expires_now, future, decoy]
    for record in tokens:
        store.record_issuance(record, [], now=record.issued_at)

    assert store.revoke(kind, value, now=NOW, forget_after=NOW + TTL) == 2
    assert store.revoke(kind, value, now=NOW, forget_after=NOW + TTL) == 0  # already revoked

    stored = {r.jti: store.get_token(r.jti) for r in tokens}
    assert {jti for jti, r in stored.items() if r is not None and r.revoked_at == NOW} == {
        live.jti,
        issued_now.jti,
    }
    assert all(
        r is not None and r.revoked_at is None for r in (stored[future.jti], stored[decoy.jti])
    )
    # The entry revokes through the key, certificate or client, even for a record that does
    # not say so itself (one read before the revocation, or issued elsewhere).
    assert store.is_revoked(live) is True
    assert store.is_revoked(issued_now) is True
    assert store.is_revoked(future) is False
    assert store.is_revoked(decoy) is False
    later = _matching(kind, value, issued_at=NOW + 1)
    store.record_issuance(later, [], now=NOW + 1)
    assert store.is_revoked(later) is False
    fetched = store.get_token(later.jti)
    assert fetched is not None
    assert store.is_revoked(fetched) is False


def test_revoke_by_jti(store: Store) -> None:
    live = token(issued_at=NOW - 10)
    other = token(issued_at=NOW - 10)
    expired = token(issued_at=NOW - TTL - 5)
    future = token(issued_at=NOW + 5)
    for record in (live, other, expired, future):
        store.record_issuance(record, [], now=record.issued_at)
    assert store.revoke("jti", live.jti, now=NOW, forget_after=live.expires_at) == 1
    assert store.revoke("jti", live.jti, now=NOW, forget_after=live.expires_at) == 0
    assert store.revoke("jti", expired.jti, now=NOW, forget_after=NOW) == 0
    assert store.revoke("jti", future.jti, now=NOW, forget_after=future.expires_at) == 0
    assert store.revoke("jti", "never-issued", now=NOW, forget_after=NOW + TTL) == 0
    fetched = store.get_token(live.jti)
    assert fetched is not None
    assert fetched.revoked_at == NOW
    assert store.is_revoked(fetched) is True
    assert store.is_revoked(live) is True
    assert store.is_revoked(other) is False
    assert store.is_revoked(future) is False  # its jti entry predates its issuance


def test_revoke_refuses_an_unknown_kind(store: Store) -> None:
    with pytest.raises(ValueError, match="unknown revocation kind"):
        store.revoke(cast(RevocationKind, "sub"), "x", now=NOW, forget_after=NOW + TTL)
    assert store.revocations(now=NOW) == []


def test_revocations_omit_forgotten_entries(store: Store) -> None:
    store.revoke("jkt", "key-a", now=NOW, forget_after=NOW + 300)
    store.revoke("client_id", "svc", now=NOW + 10, forget_after=NOW + 60)
    key_entry = RevocationEntry("jkt", "key-a", NOW, NOW + 300)
    client_entry = RevocationEntry("client_id", "svc", NOW + 10, NOW + 60)
    assert store.revocations(now=NOW + 10) == [key_entry, client_entry]
    assert store.revocations(now=NOW + 59) == [key_entry, client_entry]
    assert store.revocations(now=NOW + 60) == [key_entry]  # past forget_after
    assert store.revocations(now=NOW + 300) == []
    # Revoking again moves the time forward and never shortens how long the entry is kept.
    store.revoke("jkt", "key-a", now=NOW + 20, forget_after=NOW + 100)
    assert store.revocations(now=NOW + 20) == [
        client_entry,
        RevocationEntry("jkt", "key-a", NOW + 20, NOW + 300),
    ]


def test_revoke_writes_the_audit_entry_with_the_count(store: Store) -> None:
    for _ in range(3):
        store.record_issuance(token(client_id="svc"), [], now=NOW - 1)
    audit = AuditEntry(NOW, "admin", "revoke", "client_id", "svc", 0)
    assert store.revoke("client_id", "svc", now=NOW, forget_after=NOW + TTL, audit=audit) == 3
    store.revoke("jkt", "k" * 43, now=NOW, forget_after=NOW + TTL)  # no audit entry asked
    again = AuditEntry(NOW + 1, "admin", "revoke", "client_id", "svc", 99)
    assert store.revoke("client_id", "svc", now=NOW + 1, forget_after=NOW + TTL, audit=again) == 0
    assert store.audit_entries() == [
        AuditEntry(NOW, "admin", "revoke", "client_id", "svc", 3),
        AuditEntry(NOW + 1, "admin", "revoke", "client_id", "svc", 0),
    ]


def test_revocation_and_its_audit_entry_commit_together(store: Store) -> None:
    record = token(client_id="svc")
    store.record_issuance(record, [], now=NOW - 1)
    broken = AuditEntry(NOW, cast(str, None), "revoke", "client_id", "svc", 0)  # NOT NULL
    with pytest.raises(StorageUnavailable):
        store.revoke("client_id", "svc", now=NOW, forget_after=NOW + TTL, audit=broken)
    fetched = store.get_token(record.jti)
    assert fetched is not None
    assert fetched.revoked_at is None
    assert store.is_revoked(record) is False
    assert store.revocations(now=NOW) == []
    assert store.audit_entries() == []


# -- meta -----------------------------------------------------------------------------------------


def test_ensure_meta_keeps_the_first_value(store: Store, open_store: Callable[[], Store]) -> None:
    assert store.ensure_meta("nonce_secret", "first") == "first"
    assert store.ensure_meta("nonce_secret", "second") == "first"
    assert open_store().ensure_meta("nonce_secret", "third") == "first"
    assert store.ensure_meta("other", "x") == "x"


def _ensure(stores: list[Store], name: str, values: list[str], index: int) -> str:
    return stores[index].ensure_meta(name, values[index])


@pytest.mark.parametrize("mode", ["shared", "separate"])
def test_concurrent_ensure_meta_agrees_on_one_value(
    store: Store, open_store: Callable[[], Store], mode: str
) -> None:
    stores = stores_for(mode, store, open_store)
    for round_ in range(ROUNDS):
        name = f"race-{round_}"
        candidates = [f"value-{round_}-{i}" for i in range(WORKERS)]
        results = race(WORKERS, functools.partial(_ensure, stores, name, candidates))
        assert len(set(results)) == 1
        assert results[0] in candidates
        assert store.ensure_meta(name, "late") == results[0]


# -- failing closed -------------------------------------------------------------------------------

OPERATIONS: dict[str, Callable[[Store], object]] = {
    "schema_version": lambda s: s.schema_version(),
    "migrate": lambda s: s.migrate(),
    "ensure_meta": lambda s: s.ensure_meta("k", "v"),
    "signing_keys": lambda s: s.signing_keys(),
    "add_signing_key": lambda s: s.add_signing_key(
        generate_key("ES256"), created_at=NOW, activates_at=NOW
    ),
    "delete_signing_keys": lambda s: s.delete_signing_keys(["kid"]),
    "add_client": lambda s: s.add_client(ClientRecord("c", "private_key_jwt", {}, NOW)),
    "get_client": lambda s: s.get_client("c"),
    "record_issuance": lambda s: s.record_issuance(token(), [(new_key(), NOW + 60)], now=NOW),
    "get_token": lambda s: s.get_token("jti"),
    "spend": lambda s: s.spend(new_key(), expires_at=NOW + 60, now=NOW),
    "revoke": lambda s: s.revoke("jkt", "k", now=NOW, forget_after=NOW + TTL),
    "revocations": lambda s: s.revocations(now=NOW),
    "is_revoked": lambda s: s.is_revoked(token(jkt="k")),
    "audit_entries": lambda s: s.audit_entries(),
}


def test_unreachable_postgres_fails_closed_without_credentials() -> None:
    # Port 1 on loopback: nothing listens there; no PostgreSQL server is needed.
    url = f"postgresql+psycopg://pb_user:{PASSWORD}@127.0.0.1:1/test"
    with pytest.raises(StorageUnavailable) as excinfo:
        Store.open(url)
    assert_redacted(excinfo.value, PASSWORD, url, "pb_user", "127.0.0.1:1")
    store = Store(open_engine(url))
    try:
        for name, operation in OPERATIONS.items():
            with pytest.raises(StorageUnavailable) as excinfo:
                operation(store)
            assert_redacted(excinfo.value, PASSWORD, url, "pb_user")
            assert excinfo.value.detail, name
    finally:
        store.close()


def test_sqlite_in_a_missing_directory_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "as.db"
    with pytest.raises(StorageUnavailable) as excinfo:
        Store.open("sqlite:///" + str(path))
    assert_redacted(excinfo.value, str(path), str(tmp_path))
    assert not path.parent.exists()


def test_sqlite_whose_directory_was_removed_fails_closed(tmp_path: Path) -> None:
    directory = tmp_path / "data"
    directory.mkdir()
    store = Store.open("sqlite:///" + str(directory / "as.db"))
    try:
        store.ensure_meta("k", "v")
        store.close()  # no pooled connection keeps the deleted file alive
        shutil.rmtree(directory)
        for name, operation in OPERATIONS.items():
            with pytest.raises(StorageUnavailable) as excinfo:
                operation(store)
            assert_redacted(excinfo.value, str(directory))
            assert excinfo.value.detail, name
        assert not directory.exists()  # nothing recreated it
    finally:
        store.close()


def test_repr_hides_the_password() -> None:
    store = Store(open_engine(f"postgresql://pb_user:{PASSWORD}@db.example:5432/as"))
    try:
        for text in (repr(store), str(store)):
            assert PASSWORD not in text
            assert "pb_user:***@db.example" in text
        assert store.dialect == "postgresql"
    finally:
        store.close()


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    url = "sqlite:///" + str(tmp_path / "as.db")
    Store.open(url).close()
    engine = open_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_store_lives_in_its_own_schema(postgres_url: str) -> None:
    with fresh_schema(postgres_url) as url:
        store = Store.open(url)
        try:
            store.ensure_meta("k", "v")
        finally:
            store.close()
        options = sa.make_url(url).query["options"]
        assert isinstance(options, str)
        name = options.removeprefix("-csearch_path=")
        engine = sa.create_engine(postgres_url, poolclass=sa.NullPool)
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    sa.text(
                        "SELECT table_schema, table_name FROM information_schema.tables"
                        " WHERE table_name LIKE 'pb\\_%' AND table_schema = :name"
                    ),
                    {"name": name},
                ).all()
        finally:
            engine.dispose()
        assert {row[1] for row in rows} == set(schema.metadata.tables)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite+pysqlite:///:memory:",
        f"mysql+pymysql://pb_user:{PASSWORD}@127.0.0.1/as",
        "redis://127.0.0.1:6379/0",
        "https://db.example/as",
        "not a database url",
        "",
    ],
)
def test_open_engine_refuses_memory_and_non_sql_urls(url: str) -> None:
    with pytest.raises(ConfigurationError) as excinfo:
        open_engine(url)
    error = excinfo.value
    for text in (str(error), repr(error), error.detail, error.diagnostics()):
        assert PASSWORD not in text


def test_open_engine_refuses_a_url_with_a_bad_port() -> None:
    with pytest.raises(ConfigurationError):
        open_engine(f"postgresql://pb_user:{PASSWORD}@127.0.0.1:notaport/as")


def test_open_engine_refuses_an_in_memory_sqlite_uri() -> None:
    with pytest.raises(ConfigurationError):
        open_engine("sqlite:///file:pb?mode=memory&uri=true").dispose()


def test_open_engine_accepts_files_and_postgres(tmp_path: Path) -> None:
    sqlite_engine = open_engine("sqlite:///" + str(tmp_path / "as.db"))
    postgres_engine = open_engine("postgresql://pb_user@127.0.0.1/as")  # no connection yet
    try:
        assert sqlite_engine.dialect.name == "sqlite"
        assert postgres_engine.dialect.driver == "psycopg"
    finally:
        sqlite_engine.dispose()
        postgres_engine.dispose()
