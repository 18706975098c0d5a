"""Durable state of the authorization server (SQLite embedded default, PostgreSQL)."""

from proofbound.storage.store import (
    AuditEntry,
    ClientRecord,
    Issuance,
    ReplayDetected,
    RevocationEntry,
    RevocationKind,
    Store,
    StoredKey,
    TokenRecord,
    open_engine,
)

__all__ = [
    "AuditEntry",
    "ClientRecord",
    "Issuance",
    "ReplayDetected",
    "RevocationEntry",
    "RevocationKind",
    "Store",
    "StoredKey",
    "TokenRecord",
    "open_engine",
]
