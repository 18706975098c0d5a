"""Password hashing (scrypt, RFC 7914) and the local users of the AS (``pb_users``, schema v2),
on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import logging
import threading
import unicodedata
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from proofbound._internal.b64 import b64url_decode, b64url_encode
from proofbound.errors import Reason, StorageUnavailable
from proofbound.server import users
from proofbound.server.users import (
    LocalUsers,
    ScryptCost,
    UserAuthenticator,
    UserExists,
    hash_password,
    validate_username,
    verify_password,
)
from proofbound.storage import schema
from proofbound.storage.store import Store, open_engine

NOW = 1_800_000_000
PASSWORD = "correct horse battery staple"
FAST = ScryptCost(n=2**4, r=8, p=1)
#: The module's own cost, read before any test lowers it.
MODULE_COST = users.SCRYPT_COST


@pytest.fixture(autouse=True)
def fast_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests hash at a toy cost; the production cost is checked once, explicitly."""
    monkeypatch.setattr(users, "SCRYPT_COST", FAST)


def encode(n: Any, r: Any, p: Any, salt: bytes = b"s" * 16, digest: bytes = b"d" * 32) -> str:
    return f"scrypt${n}${r}${p}${b64url_encode(salt)}${b64url_encode(digest)}"


def valid_hash(password: str = PASSWORD, salt: bytes = b"s" * 16) -> str:
    digest = hashlib.scrypt(password.encode(), salt=salt, n=FAST.n, r=FAST.r, p=FAST.p, dklen=32)
    return encode(FAST.n, FAST.r, FAST.p, salt, digest)


# --- hash_password / verify_password -----------------------------------------------------------


def test_the_module_cost_is_the_contract_cost() -> None:
    assert ScryptCost(n=2**15, r=8, p=1) == MODULE_COST


def test_production_cost_and_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users, "SCRYPT_COST", MODULE_COST)
    encoded = hash_password(PASSWORD)
    scheme, n, r, p, salt, digest = encoded.split("$")
    assert (scheme, n, r, p) == ("scrypt", "32768", "8", "1")
    assert len(b64url_decode(salt)) == 16
    expected = hashlib.scrypt(
        PASSWORD.encode(), salt=b64url_decode(salt), n=2**15, r=8, p=1, dklen=32, maxmem=2**26
    )
    assert b64url_decode(digest) == expected
    assert verify_password(PASSWORD, encoded)


def test_hash_uses_a_fresh_salt_each_time() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first != second
    assert first.split("$")[4] != second.split("$")[4]
    assert PASSWORD not in first


def test_verify_accepts_the_password_and_refuses_others() -> None:
    encoded = hash_password(PASSWORD)
    assert verify_password(PASSWORD, encoded) is True
    assert verify_password(PASSWORD + " ", encoded) is False
    assert verify_password(PASSWORD.upper(), encoded) is False
    assert verify_password("", encoded) is False


def test_verify_reads_the_cost_from_the_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    encoded = valid_hash()
    monkeypatch.setattr(users, "SCRYPT_COST", ScryptCost(n=2**5, r=4, p=2))
    assert verify_password(PASSWORD, encoded)
    assert hash_password(PASSWORD).split("$")[1:4] == ["32", "4", "2"]


def test_rfc8265_passwords_compare_in_nfc() -> None:
    composed = "caf\u00e9"
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    assert verify_password(decomposed, hash_password(composed))
    assert verify_password(composed, hash_password(decomposed))


def test_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = users.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(users.hmac, "compare_digest", spy)
    assert not verify_password("wrong", valid_hash())
    assert len(calls) == 1


def test_a_lone_surrogate_is_refused_without_echo() -> None:
    with pytest.raises(ValueError, match="not valid Unicode") as info:
        hash_password("pw\ud800secret")
    assert "secret" not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__
    assert verify_password("pw\ud800secret", valid_hash()) is False


def test_hash_refuses_an_out_of_range_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users, "SCRYPT_COST", ScryptCost(n=3, r=8, p=1))
    with pytest.raises(ValueError, match="cost"):
        hash_password(PASSWORD)


def test_a_tampered_digest_or_salt_is_refused() -> None:
    encoded = valid_hash()
    head, salt, digest = encoded.rsplit("$", 2)
    raw = bytearray(b64url_decode(digest))
    raw[0] ^= 1
    assert not verify_password(PASSWORD, f"{head}${salt}${b64url_encode(bytes(raw))}")
    assert not verify_password(PASSWORD, f"{head}${b64url_encode(b't' * 16)}${digest}")
    assert verify_password(PASSWORD, encoded)


_GOOD_SALT = b64url_encode(b"s" * 16)
_GOOD_HASH = b64url_encode(b"d" * 32)
_STANDARD_SALT = b64url_encode(b"\xfb" * 16).replace("-", "+").replace("_", "/")

MALFORMED = {
    "empty": "",
    "plain text": PASSWORD,
    "other scheme": valid_hash().replace("scrypt$", "bcrypt$", 1),
    "upper-case scheme": valid_hash().replace("scrypt$", "SCRYPT$", 1),
    "five fields": "$".join(valid_hash().split("$")[:5]),
    "seven fields": valid_hash() + "$x",
    "n not a power of two": encode(24, 8, 1),
    "n of one": encode(1, 8, 1),
    "n zero": encode(0, 8, 1),
    "n too large": encode(2**21, 1, 1),
    "memory too large": encode(2**20, 32, 1),
    "r zero": encode(16, 0, 1),
    "r too large": encode(16, 33, 1),
    "p zero": encode(16, 8, 0),
    "p too large": encode(16, 8, 17),
    "negative": encode(-16, 8, 1),
    "plus sign": encode("+16", 8, 1),
    "leading zero": encode("016", 8, 1),
    "spaces": encode(" 16", 8, 1),
    "underscore digits": encode("1_6", 8, 1),
    "arabic-indic digits": encode("\u0661\u0666", 8, 1),
    "hex": encode("0x10", 8, 1),
    "huge number": encode("9" * 40, 8, 1),
    "empty number": encode("", 8, 1),
    "padded salt": f"scrypt$16$8$1${_GOOD_SALT}==${_GOOD_HASH}",
    "standard-alphabet salt": f"scrypt$16$8$1${_STANDARD_SALT}${_GOOD_HASH}",
    "non-canonical last character": f"scrypt$16$8$1${_GOOD_SALT[:-1]}d${_GOOD_HASH}",
    "salt too short": encode(16, 8, 1, salt=b"s" * 15),
    "salt too long": encode(16, 8, 1, salt=b"s" * 65),
    "empty salt": encode(16, 8, 1, salt=b""),
    "digest too short": encode(16, 8, 1, digest=b"d" * 31),
    "digest too long": encode(16, 8, 1, digest=b"d" * 33),
    "non-ASCII salt": f"scrypt$16$8$1$\u00e9{_GOOD_SALT[1:]}${_GOOD_HASH}",
    "too long": encode(16, 8, 1, salt=b"s" * 64) + "A" * 200,
    "newline at the end": valid_hash() + "\n",
}


@pytest.mark.parametrize("encoded", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_encodings_are_false_never_an_exception(encoded: str) -> None:
    assert verify_password(PASSWORD, encoded) is False


def test_the_malformed_table_differs_from_a_valid_hash_only_in_its_defect() -> None:
    # The same fields, well formed, verify: each case above fails for its own reason.
    assert verify_password(PASSWORD, valid_hash())
    digest = hashlib.scrypt(PASSWORD.encode(), salt=b"s" * 64, n=16, r=8, p=1, dklen=32)
    assert verify_password(PASSWORD, encode(16, 8, 1, salt=b"s" * 64, digest=digest))


# --- usernames ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["a", "Alice.Smith", "bob_1", "carol@example.com", "d-e", "x" * 64, "0"]
)
def test_good_usernames(name: str) -> None:
    assert validate_username(name) == name


BAD_NAMES = {
    "empty": "",
    "65 characters": "x" * 65,
    "space": "alice smith",
    "trailing newline": "alice\n",
    "tab": "a\tb",
    "nul": "a\x00b",
    "slash": "a/b",
    "colon": "a:b",
    "plus": "a+b",
    "non-ASCII letter": "j\u00fcrgen",
    "full-width letter": "\uff41",
    "markup": "<script>",
    "quote": 'a"b',
}


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_bad_usernames_raise_a_clear_value_error(name: str) -> None:
    with pytest.raises(ValueError, match="1 to 64 characters") as info:
        validate_username(name)
    if name:
        assert name not in str(info.value)


# --- LocalUsers over the database ---------------------------------------------------------------


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    yield opened
    opened.close()


@pytest.fixture
def local(store: Store) -> LocalUsers:
    return LocalUsers(store.engine)


def _rows(store: Store) -> list[Any]:
    with store.engine.connect() as conn:
        return list(conn.execute(sa.select(schema.users)))


def test_add_then_authenticate(local: LocalUsers, store: Store) -> None:
    authenticator: UserAuthenticator = local
    local.add("alice", PASSWORD, now=NOW)
    assert authenticator.authenticate("alice", PASSWORD) == "alice"
    assert local.exists("alice")
    [row] = _rows(store)
    assert row.username == "alice"
    assert row.created_at == NOW
    assert row.password_hash.startswith("scrypt$16$8$1$")
    assert PASSWORD not in row.password_hash
    assert verify_password(PASSWORD, row.password_hash)


def test_wrong_password_is_refused(local: LocalUsers) -> None:
    local.add("alice", PASSWORD, now=NOW)
    assert local.authenticate("alice", "wrong") is None
    assert local.authenticate("alice", "") is None
    assert local.authenticate("alice", PASSWORD + "x") is None


def test_usernames_are_case_sensitive(local: LocalUsers) -> None:
    local.add("alice", PASSWORD, now=NOW)
    assert local.authenticate("Alice", PASSWORD) is None
    assert not local.exists("ALICE")


def test_unknown_user_is_refused(local: LocalUsers) -> None:
    local.add("alice", PASSWORD, now=NOW)
    assert local.authenticate("bob", PASSWORD) is None
    assert not local.exists("bob")


def test_unknown_and_known_users_cost_the_same_scrypt_work(
    local: LocalUsers, monkeypatch: pytest.MonkeyPatch
) -> None:
    local.add("alice", PASSWORD, now=NOW)
    costs: list[ScryptCost] = []
    real = users._scrypt

    def counting(password: bytes, salt: bytes, cost: ScryptCost, length: int) -> bytes:
        costs.append(cost)
        return real(password, salt, cost, length)

    monkeypatch.setattr(users, "_scrypt", counting)
    assert local.authenticate("alice", "wrong") is None
    assert local.authenticate("nobody", "wrong") is None
    assert local.authenticate("bad name!", "wrong") is None
    assert costs == [FAST, FAST, FAST]


def test_authenticate_refuses_malformed_usernames_without_raising(local: LocalUsers) -> None:
    for name in BAD_NAMES.values():
        assert local.authenticate(name, PASSWORD) is None
        assert local.exists(name) is False


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_add_refuses_bad_usernames_and_writes_nothing(
    local: LocalUsers, store: Store, name: str
) -> None:
    with pytest.raises(ValueError, match="1 to 64 characters"):
        local.add(name, PASSWORD, now=NOW)
    assert _rows(store) == []


def test_an_existing_user_is_not_replaced(local: LocalUsers, store: Store) -> None:
    local.add("alice", PASSWORD, now=NOW)
    with pytest.raises(UserExists) as info:
        local.add("alice", "another password", now=NOW + 1)
    assert str(info.value) == "user exists"
    assert "another password" not in repr(info.value)
    assert local.authenticate("alice", PASSWORD) == "alice"
    assert local.authenticate("alice", "another password") is None
    assert [row.created_at for row in _rows(store)] == [NOW]


def test_two_concurrent_adds_one_wins(local: LocalUsers) -> None:
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def add(password: str) -> None:
        barrier.wait()
        try:
            local.add("carol", password, now=NOW)
            outcomes.append("created")
        except UserExists:
            outcomes.append("exists")

    threads = [threading.Thread(target=add, args=(p,)) for p in ("first pw", "second pw")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created", "exists"]
    winners = [p for p in ("first pw", "second pw") if local.authenticate("carol", p)]
    assert len(winners) == 1


def test_a_lone_surrogate_password_is_refused_on_add(local: LocalUsers, store: Store) -> None:
    with pytest.raises(ValueError, match="not valid Unicode"):
        local.add("alice", "\udcff", now=NOW)
    assert _rows(store) == []
    assert local.authenticate("alice", "\udcff") is None


def test_a_database_without_the_table_fails_closed(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    engine = open_engine(store_url)  # never migrated: no pb_users
    try:
        unmigrated = LocalUsers(engine)
        for attempt in (
            lambda: unmigrated.add("alice", PASSWORD, now=NOW),
            lambda: unmigrated.authenticate("alice", PASSWORD),
            lambda: unmigrated.exists("alice"),
        ):
            with pytest.raises(StorageUnavailable) as info:
                attempt()
            assert info.value.reason is Reason.STORAGE_UNAVAILABLE
            assert PASSWORD not in info.value.diagnostics()
            assert "alice" not in info.value.diagnostics()
    finally:
        engine.dispose()
    assert PASSWORD not in caplog.text


def test_no_password_or_hash_in_reprs_or_logs(
    local: LocalUsers, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    local.add("alice", PASSWORD, now=NOW)
    local.authenticate("alice", PASSWORD)
    local.authenticate("alice", "wrong guess")
    assert repr(local) == "LocalUsers()"
    [row] = _rows(store)
    for text in (caplog.text, repr(local), repr(users.SCRYPT_COST)):
        assert PASSWORD not in text
        assert "wrong guess" not in text
        assert row.password_hash not in text


# --- schema migration v2 ------------------------------------------------------------------------


def test_a_v1_database_is_migrated_to_v2(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
        old = Store.open(store_url)
        assert old.schema_version() == 1
        assert not sa.inspect(old.engine).has_table("pb_users")
        old.close()
    assert schema.MIGRATIONS[1].__name__ == "_v2_users"
    current = Store.open(store_url)
    try:
        assert current.schema_version() == len(schema.MIGRATIONS)
        columns = {c["name"]: c for c in sa.inspect(current.engine).get_columns("pb_users")}
        assert set(columns) == {"username", "password_hash", "created_at"}
        assert not columns["password_hash"]["nullable"]
        pk = sa.inspect(current.engine).get_pk_constraint("pb_users")
        assert pk["constrained_columns"] == ["username"]
        LocalUsers(current.engine).add("alice", PASSWORD, now=NOW)
        assert LocalUsers(current.engine).authenticate("alice", PASSWORD) == "alice"
        assert current.migrate() == len(schema.MIGRATIONS)  # idempotent
    finally:
        current.close()
