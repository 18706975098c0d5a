"""Who may sign in at the authorization server: password hashing and the local user table.

* :func:`hash_password` / :func:`verify_password` -- scrypt (RFC 7914) through
  :func:`hashlib.scrypt`, a random 16-byte salt per password, the parameters stored with the
  hash as ``scrypt$<n>$<r>$<p>$<salt b64url>$<hash b64url>``. Verification compares in constant
  time and answers ``False`` for any encoding it does not understand; it never raises.
* :class:`UserAuthenticator` -- the plug-in point for a deployment's own identity source.
* :class:`LocalUsers` -- the authenticator over the AS database (table ``pb_users``, schema
  version 2). The subject identifier of a local user is the username.

Passwords are normalised to Unicode NFC before hashing (RFC 8265 §4.2.2, OpaqueString), so the
same password typed on systems that compose characters differently matches. No password, hash
or salt appears in a repr, a log record or an exception message.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Final, Protocol

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from proofbound._internal.b64 import b64url_decode, b64url_encode
from proofbound.errors import StorageUnavailable
from proofbound.storage import schema

__all__ = [
    "LocalUsers",
    "SCRYPT_COST",
    "ScryptCost",
    "UserAuthenticator",
    "UserExists",
    "hash_password",
    "validate_username",
    "verify_password",
]


@dataclass(frozen=True, slots=True)
class ScryptCost:
    """scrypt parameters (RFC 7914 §2): cost ``n``, block size ``r``, parallelism ``p``."""

    n: int
    r: int
    p: int


#: The cost new hashes get: 32 MiB and about a fifth of a second per hash on a small server.
#: Tests lower it (``monkeypatch.setattr(users, "SCRYPT_COST", ...)``); production never should.
SCRYPT_COST: ScryptCost = ScryptCost(n=2**15, r=8, p=1)

_SCHEME: Final = "scrypt"
_SALT_BYTES: Final = 16
_HASH_BYTES: Final = 32
# Limits on stored parameters, so a damaged or planted row cannot make one login cost minutes or
# gigabytes; the memory scrypt needs is 128 * r * (n + p + 2) bytes (RFC 7914 §5, OpenSSL).
_MAX_N: Final = 2**20
_MAX_R: Final = 32
_MAX_P: Final = 16
_MAX_MEMORY: Final = 256 * 1024 * 1024
_MIN_SALT_BYTES: Final = 16
_MAX_SALT_BYTES: Final = 64
_MAX_ENCODED: Final = 255  # the pb_users.password_hash column
_DECIMAL: Final = re.compile(r"[1-9][0-9]{0,9}")

_USERNAME: Final = re.compile(r"[A-Za-z0-9._@-]{1,64}")
_USERNAME_RULE: Final = "a username is 1 to 64 characters from A-Z, a-z, 0-9 and . _ @ -"


class UserExists(Exception):
    """:meth:`LocalUsers.add` was given a username that is already taken; nothing was written."""

    def __init__(self) -> None:
        super().__init__("user exists")


class UserAuthenticator(Protocol):
    """Checks a username and password; the AS's login page calls it.

    A deployment plugs in its own identity source (LDAP, another database) by implementing this
    one method. It must not raise for wrong credentials, and should take the same time whether
    or not the user exists.
    """

    def authenticate(self, username: str, password: str) -> str | None:
        """The subject identifier of the user, or ``None`` when the credentials are refused."""
        ...


def _password_bytes(password: str) -> bytes:
    # RFC 8265 §4.2.2: OpaqueString passwords are compared in NFC.
    try:
        return unicodedata.normalize("NFC", password).encode("utf-8")
    except UnicodeEncodeError:
        # The exception would carry the whole password (its ``object``): never chain it.
        raise ValueError("the password is not valid Unicode text") from None


def _memory(cost: ScryptCost) -> int:
    return 128 * cost.r * (cost.n + cost.p + 2)


def _cost_ok(cost: ScryptCost) -> bool:
    return (
        2 <= cost.n <= _MAX_N
        and cost.n & (cost.n - 1) == 0  # RFC 7914 §2: N is a power of 2
        and 1 <= cost.r <= _MAX_R
        and 1 <= cost.p <= _MAX_P
        and _memory(cost) <= _MAX_MEMORY
    )


def _scrypt(password: bytes, salt: bytes, cost: ScryptCost, length: int) -> bytes:
    return hashlib.scrypt(
        password,
        salt=salt,
        n=cost.n,
        r=cost.r,
        p=cost.p,
        dklen=length,
        maxmem=_memory(cost) + 1024 * 1024,  # OpenSSL's default (32 MiB) is too small for n=2**15
    )


def hash_password(password: str) -> str:
    """Hash ``password`` with scrypt and a fresh random salt, at the cost in :data:`SCRYPT_COST`.

    Returns:
        ``scrypt$<n>$<r>$<p>$<salt>$<hash>`` with salt and hash in unpadded base64url.

    Raises:
        ValueError: the password cannot be encoded as UTF-8 (a lone surrogate).

    Example::

        encoded = hash_password("correct horse")
        assert verify_password("correct horse", encoded)
    """
    cost = SCRYPT_COST
    if not _cost_ok(cost):
        raise ValueError("scrypt cost out of range")
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(_password_bytes(password), salt, cost, _HASH_BYTES)
    fields = (_SCHEME, str(cost.n), str(cost.r), str(cost.p), b64url_encode(salt))
    return "$".join((*fields, b64url_encode(digest)))


@dataclass(frozen=True, slots=True)
class _Parsed:
    cost: ScryptCost
    salt: bytes
    digest: bytes


def _parse(encoded: str) -> _Parsed | None:
    """The parts of an encoded hash, or ``None`` for anything but a well-formed scrypt hash."""
    if len(encoded) > _MAX_ENCODED:
        return None
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != _SCHEME:
        return None
    numbers = parts[1:4]
    if any(_DECIMAL.fullmatch(number) is None for number in numbers):
        return None  # canonical decimal only: no sign, spaces, underscores or leading zeros
    cost = ScryptCost(*(int(number) for number in numbers))
    if not _cost_ok(cost):
        return None
    try:
        salt = b64url_decode(parts[4])
        digest = b64url_decode(parts[5])
    except ValueError:
        return None
    if not _MIN_SALT_BYTES <= len(salt) <= _MAX_SALT_BYTES or len(digest) != _HASH_BYTES:
        return None
    return _Parsed(cost, salt, digest)


def verify_password(password: str, encoded: str) -> bool:
    """True if ``password`` is the one ``encoded`` was made from (constant-time comparison).

    ``False`` for a wrong password and for any encoding that is not a well-formed scrypt hash
    within sane cost limits; never raises on bad input.

    Example::

        verify_password("guess", hash_password("secret"))  # False
    """
    parsed = _parse(encoded)
    if parsed is None:
        return False
    try:
        candidate = _scrypt(_password_bytes(password), parsed.salt, parsed.cost, len(parsed.digest))
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(candidate, parsed.digest)


@functools.cache
def _dummy_hash(cost: ScryptCost) -> str:
    # Verified for unknown users so that their answer takes as long as a wrong password's.
    return "$".join(
        (
            _SCHEME,
            str(cost.n),
            str(cost.r),
            str(cost.p),
            b64url_encode(secrets.token_bytes(_SALT_BYTES)),
            b64url_encode(secrets.token_bytes(_HASH_BYTES)),
        )
    )


def validate_username(username: str) -> str:
    """Return ``username`` if it is 1..64 characters from ``A-Z a-z 0-9 . _ @ -``.

    Raises:
        ValueError: any other string (the message states the rule, not the value).
    """
    if _USERNAME.fullmatch(username) is None:
        raise ValueError(_USERNAME_RULE)
    return username


def _valid_username(username: str) -> bool:
    return _USERNAME.fullmatch(username) is not None


def _storage_error(exc: SQLAlchemyError) -> StorageUnavailable:
    driver = getattr(exc, "orig", None)
    name = type(exc).__name__ if driver is None else type(driver).__name__
    return StorageUnavailable(f"database error: {name}")


class LocalUsers:
    """Users with scrypt password hashes in the AS database (a :class:`UserAuthenticator`).

    Args:
        engine: the AS database's engine (``Store.open(url).engine``), migrated to schema
            version 2 or later. Database failures raise
            :class:`~proofbound.errors.StorageUnavailable` (fail closed).

    Example::

        users = LocalUsers(store.engine)
        users.add("alice", "correct horse", now=clock.now())
        assert users.authenticate("alice", "correct horse") == "alice"
    """

    __slots__ = ("_engine",)

    def __init__(self, engine: Engine) -> None:
        self._engine: Final = engine

    def __repr__(self) -> str:
        return "LocalUsers()"

    def add(self, username: str, password: str, *, now: int) -> None:
        """Create a user whose subject identifier is ``username``.

        Raises:
            ValueError: a username outside the rule of :func:`validate_username`, or a password
                that is not valid Unicode.
            UserExists: the username is taken (two concurrent adds: exactly one succeeds).
            StorageUnavailable: the database failed.
        """
        validate_username(username)
        row = {"username": username, "password_hash": hash_password(password), "created_at": now}
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(schema.users).values(row))
        except IntegrityError:
            raise UserExists() from None
        except SQLAlchemyError as exc:
            raise _storage_error(exc) from None

    def exists(self, username: str) -> bool:
        """True if there is a user of that name (``False`` for names no user can have).

        Raises:
            StorageUnavailable: the database failed.
        """
        if not _valid_username(username):
            return False
        return self._stored_hash(username) is not None

    def authenticate(self, username: str, password: str) -> str | None:
        """The subject (the username) if the password is right, else ``None``.

        Unknown and malformed usernames verify a dummy hash of the current cost, so the answer
        takes about as long as for a wrong password and timing does not tell which names exist.

        Raises:
            StorageUnavailable: the database failed (the login is refused, not answered).
        """
        stored = self._stored_hash(username) if _valid_username(username) else None
        if stored is None:
            verify_password(password, _dummy_hash(SCRYPT_COST))
            return None
        return username if verify_password(password, stored) else None

    def _stored_hash(self, username: str) -> str | None:
        t = schema.users
        try:
            with self._engine.connect() as conn:
                row = conn.execute(
                    select(t.c.password_hash).where(t.c.username == username)
                ).first()
        except SQLAlchemyError as exc:
            raise _storage_error(exc) from None
        return None if row is None else str(row[0])
