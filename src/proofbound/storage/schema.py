"""The authorization server's tables and their versioned migrations (SQLAlchemy Core).

One schema for SQLite and PostgreSQL. :data:`MIGRATIONS` is an ordered list; version *n* is
the state after applying the first *n* entries, recorded in ``pb_meta``. Each migration runs in
its own transaction together with the version bump, so a crash leaves the database at a whole
version. Never edit a released migration: append a new one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "MIGRATIONS",
    "audit_log",
    "auth_codes",
    "auth_requests",
    "clients",
    "meta",
    "metadata",
    "refresh_tokens",
    "replay",
    "revocations",
    "signing_keys",
    "tokens",
    "users",
]

metadata: Final = MetaData()

meta: Final = Table(
    "pb_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(255), nullable=False),
)

signing_keys: Final = Table(
    "pb_signing_keys",
    metadata,
    Column("kid", String(128), primary_key=True),
    Column("alg", String(16), nullable=False),
    Column("private_jwk", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    # Published in the JWKS from created_at; signs from activates_at (rotation, issue 3 §5).
    Column("activates_at", BigInteger, nullable=False),
)

clients: Final = Table(
    "pb_clients",
    metadata,
    Column("client_id", String(128), primary_key=True),
    Column("auth_method", String(64), nullable=False),
    Column("metadata", Text, nullable=False),  # registered metadata as JSON, no secret
    Column("secret_hash", LargeBinary, nullable=True),  # SHA-256 of a 256-bit random secret
    Column("introspect_any", Boolean, nullable=False, default=False),
    Column("created_at", BigInteger, nullable=False),
)

tokens: Final = Table(
    "pb_tokens",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("client_id", String(128), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("jkt", String(64), nullable=True),
    Column("x5t_s256", String(64), nullable=True),
    Column("scope", Text, nullable=False),
    Column("audience", Text, nullable=False),  # JSON: a string or a list of strings
    Column("issued_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
    Index("pb_tokens_client", "client_id"),
    Index("pb_tokens_jkt", "jkt"),
    Index("pb_tokens_x5t", "x5t_s256"),
    Index("pb_tokens_expires", "expires_at"),
)

revocations: Final = Table(
    "pb_revocations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # jti | jkt | x5t#S256 | client_id
    Column("value", String(255), nullable=False),
    # Tokens of this kind and value issued at or before revoked_at are revoked.
    Column("revoked_at", BigInteger, nullable=False),
    # After this time every such token has expired: the entry may be forgotten.
    Column("forget_after", BigInteger, nullable=False),
    UniqueConstraint("kind", "value", name="pb_revocations_kind_value"),
)

replay: Final = Table(
    "pb_replay",
    metadata,
    Column("key", LargeBinary, primary_key=True),
    Column("expires_at", BigInteger, nullable=False),
)

audit_log: Final = Table(
    "pb_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target_kind", String(32), nullable=False),
    Column("target", String(255), nullable=False),  # a token appears as its hash prefix only
    Column("count", Integer, nullable=False),
)

users: Final = Table(
    "pb_users",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("password_hash", String(255), nullable=False),  # scrypt$n$r$p$salt$hash, no password
    Column("created_at", BigInteger, nullable=False),
)

# -- authorization code flow (v3) -- every secret handle is stored as its SHA-256 (hex) --------

auth_requests: Final = Table(
    "pb_auth_requests",
    metadata,
    Column("handle_hash", String(64), primary_key=True),  # of the request_uri / tx handle
    Column("client_id", String(128), nullable=False),
    Column("params", Text, nullable=False),  # the validated request as JSON
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
)

auth_codes: Final = Table(
    "pb_auth_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("family_id", String(64), nullable=False),  # the tokens issued from this code
    Column("client_id", String(128), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("params", Text, nullable=False),  # redirect_uri, scope, audience, PKCE, dpop_jkt
    Column("issued_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("used_at", BigInteger, nullable=True),
    Column("access_jti", String(64), nullable=True),  # the access token issued from it
)

refresh_tokens: Final = Table(
    "pb_refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("family_id", String(64), nullable=False),
    Column("client_id", String(128), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("scope", Text, nullable=False),
    Column("audience", Text, nullable=False),  # JSON: a string or a list of strings
    Column("jkt", String(64), nullable=True),  # DPoP binding (public clients)
    Column("access_jti", String(64), nullable=False),  # the access token issued with it
    Column("issued_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("used_at", BigInteger, nullable=True),  # rotated: a second use is a replay
    Column("revoked_at", BigInteger, nullable=True),
    Index("pb_refresh_family", "family_id"),
)


def _v1_initial(conn: Connection) -> None:
    for table in (signing_keys, clients, tokens, revocations, replay, audit_log):
        table.create(conn, checkfirst=True)


def _v2_users(conn: Connection) -> None:
    users.create(conn, checkfirst=True)


def _v3_authorization_code(conn: Connection) -> None:
    for table in (auth_requests, auth_codes, refresh_tokens):
        table.create(conn, checkfirst=True)


#: Ordered migrations; the database version is how many have been applied.
MIGRATIONS: Final[tuple[Callable[[Connection], None], ...]] = (
    _v1_initial,
    _v2_users,
    _v3_authorization_code,
)
