"""The AS signing keys: which one signs now, which ones the JWKS publishes, and rotation.

A new key is published (in the JWKS) from the moment it is stored and signs only from its
``activates_at``, so resource servers that cache the JWKS know it before they see a token it
signed. A superseded key stays published until every token it signed has expired, then it is
deleted. Several processes share the keys through the database; each reloads them at most every
:data:`RELOAD_SECONDS`.
"""

from __future__ import annotations

import threading
from typing import Any, Final

from proofbound.jwk.keys import PublicKey, SigningKey, generate_key
from proofbound.storage.store import Store, StoredKey
from proofbound.types import JwsAlg

__all__ = ["Keyring", "PUBLISH_AHEAD", "RELOAD_SECONDS", "rotate_keys"]

#: How long a new key is published before it signs (resource servers refresh their JWKS).
PUBLISH_AHEAD: Final = 60
#: How often a running server re-reads the keys (a rotation by the CLI reaches it within this).
RELOAD_SECONDS: Final = 15


def _active(keys: list[StoredKey], now: int) -> StoredKey | None:
    usable = [k for k in keys if k.activates_at <= now]
    return max(usable, key=lambda k: (k.activates_at, k.created_at)) if usable else None


def rotate_keys(store: Store, *, alg: JwsAlg, now: int, max_token_ttl: int) -> SigningKey:
    """Add a new signing key that signs from ``now + PUBLISH_AHEAD``; delete keys whose tokens
    have all expired. Returns the new key.

    A key is retired when a newer key became active more than ``max_token_ttl`` seconds ago:
    the last token it signed has expired by then.
    """
    keys = store.signing_keys()
    new = generate_key(alg)
    store.add_signing_key(new, created_at=now, activates_at=now + PUBLISH_AHEAD)
    retired: list[str] = []
    for key in keys:
        successors = [
            k for k in keys if (k.activates_at, k.created_at) > (key.activates_at, key.created_at)
        ]
        if any(k.activates_at + max_token_ttl < now for k in successors):
            retired.append(key.key.kid)
    store.delete_signing_keys(retired)
    return new


class Keyring:
    """The signing keys of one running server (thread-safe).

    The first start of an empty database creates a key that is active at once.
    """

    def __init__(self, store: Store, *, alg: JwsAlg, now: int) -> None:
        self._store: Final = store
        self._alg: Final = alg
        self._lock = threading.Lock()
        keys = store.signing_keys()
        if not keys:
            store.add_signing_key(generate_key(alg), created_at=now, activates_at=now)
            keys = store.signing_keys()
        self._keys = keys
        self._loaded_at = now
        # (second, key list, its signing key): the choice is made once per second, not per token.
        self._signing: tuple[int, list[StoredKey], SigningKey] | None = None

    def _current(self, now: int) -> list[StoredKey]:
        if now - self._loaded_at >= RELOAD_SECONDS or now < self._loaded_at:
            with self._lock:
                if now - self._loaded_at >= RELOAD_SECONDS or now < self._loaded_at:
                    self._keys = self._store.signing_keys()
                    self._loaded_at = now
        return self._keys

    def signing_key(self, now: int) -> SigningKey:
        """The key that signs tokens at ``now`` (the newest active one)."""
        keys = self._current(now)
        cached = self._signing
        if cached is not None and cached[0] == now and cached[1] is keys:
            return cached[2]
        active = _active(keys, now)
        if active is None:  # only future keys: sign with the oldest one rather than fail
            active = min(keys, key=lambda k: k.activates_at)
        self._signing = (now, keys, active.key)
        return active.key

    def jwks(self, now: int) -> dict[str, Any]:
        """The public JWKS: every stored key, active, upcoming or retiring."""
        return {"keys": [k.key.public_jwk() for k in self._current(now)]}

    def verifying_key(self, kid: str, now: int) -> tuple[JwsAlg, PublicKey] | None:
        """The algorithm and public key published under ``kid``, if any."""
        for stored in self._current(now):
            if stored.key.kid == kid:
                return stored.key.alg, stored.key.public_key
        return None

    def __repr__(self) -> str:
        return f"Keyring(alg={self._alg!r}, keys={len(self._keys)})"
