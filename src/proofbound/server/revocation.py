"""Revocation: RFC 7009 for clients, revocation by key for operators, and the feed that tells
resource servers.

* RFC 7009 §2.1: a client revokes only tokens issued to it; a token it does not own is refused
  with ``unauthorized_client``; an unknown or garbage token is a success with nothing done
  (§2.2).
* Admin (``POST /admin/revoke``): exactly one of ``token``, ``jkt``, ``x5t#S256``,
  ``client_id``; every live token it matches is revoked at once, and the call is written to the
  audit log (a token appears there as its hash prefix only).
* Every revocation is an entry ``(kind, value, revoked_at, forget_after)``: tokens of that kind
  and value issued at or before ``revoked_at`` are dead, and after ``forget_after`` all of them
  have expired so the entry may go. The feed lists the entries (no secrets: identifiers and
  thumbprints only); with Redis configured each entry is also written there as
  ``proofbound:revoked:<kind>:<value>`` expiring at ``forget_after`` and announced on the
  ``proofbound:revocations`` channel.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any, Final, Protocol

from proofbound.errors import InvalidRequest, Reason, UnauthorizedClient
from proofbound.server.client_auth import AuthenticatedClient
from proofbound.server.introspection import own_token_record
from proofbound.server.keyring import Keyring
from proofbound.storage.store import REVOCATION_KINDS, AuditEntry, RevocationKind, Store

__all__ = [
    "REDIS_CHANNEL",
    "REDIS_PREFIX",
    "RedisPublisher",
    "RevocationPublisher",
    "Revoker",
    "token_hash_prefix",
]

_log: Final = logging.getLogger("proofbound.server.revocation")

REDIS_PREFIX: Final = "proofbound:revoked:"
REDIS_CHANNEL: Final = "proofbound:revocations"
_MAX_VALUE: Final = 255


def token_hash_prefix(token: str) -> str:
    """How a token is named in logs and the audit log: ``at#`` and 12 hex digits of SHA-256."""
    return "at#" + hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:12]


class RevocationPublisher(Protocol):
    """Somewhere revocations are announced besides the database (Redis)."""

    def publish(self, kind: str, value: str, revoked_at: int, forget_after: int) -> None:
        """Announce one revocation entry."""


class RedisPublisher:
    """Writes revocation entries to Redis (``SET … PXAT forget_after``) and announces them."""

    def __init__(self, url: str) -> None:
        import redis

        self._client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def publish(self, kind: str, value: str, revoked_at: int, forget_after: int) -> None:
        """Store and announce one entry."""
        entry = json.dumps(
            {"kind": kind, "value": value, "revoked_at": revoked_at, "forget_after": forget_after}
        )
        pipe = self._client.pipeline(transaction=True)
        pipe.set(f"{REDIS_PREFIX}{kind}:{value}", revoked_at, pxat=forget_after * 1000)
        pipe.publish(REDIS_CHANNEL, entry)
        pipe.execute()

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()

    def __repr__(self) -> str:
        return "RedisPublisher()"


class Revoker:
    """Revokes tokens in the store and announces the revocations.

    Args:
        store: the database.
        keyring: to recognise this server's tokens.
        max_token_ttl: the longest lifetime of a token (how long a key-wide entry is kept).
        publisher: an extra destination (Redis), or None.
    """

    def __init__(
        self,
        store: Store,
        keyring: Keyring,
        *,
        max_token_ttl: int,
        publisher: RevocationPublisher | None = None,
    ) -> None:
        self._store: Final = store
        self._keyring: Final = keyring
        self._ttl: Final = max_token_ttl
        self._publisher: Final = publisher

    def _revoke(
        self, kind: RevocationKind, value: str, forget_after: int, now: int, audit: AuditEntry
    ) -> int:
        count = self._store.revoke(kind, value, now=now, forget_after=forget_after, audit=audit)
        if self._publisher is not None:
            try:
                self._publisher.publish(kind, value, now, forget_after)
            except Exception as exc:  # the database entry stands; the feed still lists it
                _log.error("revocation not published to redis: %s", type(exc).__name__)
        _log.info(
            "revoked kind=%s target=%s count=%d actor=%s",
            kind,
            audit.target,
            count,
            audit.actor,
        )
        return count

    def revoke_for_client(self, token: str, caller: AuthenticatedClient, *, now: int) -> None:
        """RFC 7009: revoke ``token`` if it is the caller's; unknown tokens are ignored.

        Raises:
            UnauthorizedClient: ``token_foreign`` -- the token was issued to another client.
        """
        record = own_token_record(token, self._keyring, self._store, now)
        if record is None:
            self._revoke_refresh_token(token, caller, now)
            return
        if record.expires_at <= now:
            return
        if record.client_id != caller.client.client_id:
            raise UnauthorizedClient(Reason.TOKEN_FOREIGN)
        audit = AuditEntry(
            now, f"client:{caller.client.client_id}", "revoke", "token", token_hash_prefix(token), 0
        )
        self._revoke("jti", record.jti, record.expires_at, now, audit)

    def _revoke_refresh_token(self, token: str, caller: AuthenticatedClient, now: int) -> None:
        """RFC 7009 §2.1 for refresh tokens: the caller's own ends its whole grant."""
        from proofbound.server.authorization import handle_hash

        stored = self._store.get_refresh(handle_hash(token))
        if stored is None or stored.expires_at <= now or stored.revoked_at is not None:
            return
        if stored.client_id != caller.client.client_id:
            raise UnauthorizedClient(Reason.TOKEN_FOREIGN)
        self.revoke_family(stored.family_id, now, actor=f"client:{caller.client.client_id}")

    def revoke_family(self, family_id: str, now: int, *, actor: str = "system:reuse") -> None:
        """Revoke a grant family: its refresh tokens, and its live access tokens by ``jti``
        (so resource servers learn it from the feed)."""
        live = self._store.revoke_family(family_id, now=now)
        audit = AuditEntry(now, actor, "revoke", "grant", family_id[:8] + "…", 0)
        if not live:
            self._store.add_audit(audit)
        for jti, expires_at in live:
            self._revoke("jti", jti, expires_at, now, audit)

    def revoke_by_admin(self, request: Mapping[str, Any], *, actor: str, now: int) -> int:
        """Admin revocation by one of ``token``, ``jkt``, ``x5t#S256``, ``client_id``.

        Returns how many live tokens were revoked.

        Raises:
            InvalidRequest: not exactly one known member, a value that is not a short string,
                or (``token_unknown``) a token this server did not issue.
        """
        given = [name for name in ("token", "jkt", "x5t#S256", "client_id") if name in request]
        if len(given) != 1:
            raise InvalidRequest(
                Reason.REQUEST_PARAMETER_MISSING,
                detail="exactly one of token/jkt/x5t#S256/client_id",
            )
        name = given[0]
        value = request[name]
        if not isinstance(value, str) or not value or (name != "token" and len(value) > _MAX_VALUE):
            raise InvalidRequest(Reason.REQUEST_MALFORMED, detail=f"{name} must be a string")
        if name == "token":
            record = own_token_record(value, self._keyring, self._store, now)
            if record is None:
                raise InvalidRequest(Reason.TOKEN_UNKNOWN)
            audit = AuditEntry(now, actor, "revoke", "token", token_hash_prefix(value), 0)
            if record.expires_at <= now:
                return 0
            return self._revoke("jti", record.jti, record.expires_at, now, audit)
        kind: RevocationKind = name  # type: ignore[assignment]
        assert kind in REVOCATION_KINDS  # noqa: S101 -- the tuple above lists only kinds
        audit = AuditEntry(now, actor, "revoke", kind, value, 0)
        return self._revoke(kind, value, now + self._ttl, now, audit)

    def feed(self, *, now: int) -> dict[str, Any]:
        """The revocation feed document."""
        entries = [
            {
                "kind": e.kind,
                "value": e.value,
                "revoked_at": e.revoked_at,
                "forget_after": e.forget_after,
            }
            for e in self._store.revocations(now=now)
        ]
        return {"generated_at": now, "revocations": entries}
