"""Replay-cache protocols, the replay key, and the one place a proof's ``jti`` is spent.

A replay cache has one operation, :meth:`ReplayCache.add_if_absent`: atomically record ``key``
until ``expires_at`` and report whether it was new. There is no separate "find" -- a
find-then-save check lets two concurrent requests with the same proof both pass.

The key is SHA-256 over length-prefixed parts (a label, the key thumbprint, the ``jti``), never a
plain concatenation, so ``("ab", "c")`` and ``("a", "bc")`` cannot collide, and its size does not
grow with the ``jti`` (RFC 9449 §11.1). A backend that fails raises ``StorageUnavailable`` and the
request is rejected (fail closed).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Final, Protocol

from proofbound.errors import InvalidDPoPProof, Reason

if TYPE_CHECKING:
    from proofbound.dpop.verify import VerifiedProof

__all__ = [
    "AsyncReplayCache",
    "ReplayCache",
    "record_proof",
    "record_proof_async",
    "replay_key",
    "replay_key_from_prefix",
    "replay_key_prefix",
]

_LABEL: Final = b"proofbound/dpop-jti/v1"


class ReplayCache(Protocol):
    """A synchronous, atomic set of keys with expiry."""

    def add_if_absent(self, key: bytes, *, expires_at: int) -> bool:
        """Atomically record ``key`` until ``expires_at`` (seconds since the epoch).

        Returns False if the key is already present and unexpired (RFC 9449 §11.1).

        Raises:
            StorageUnavailable: the backend cannot answer (the caller rejects the request).
        """
        ...


class AsyncReplayCache(Protocol):
    """The asynchronous twin of :class:`ReplayCache`."""

    async def add_if_absent_async(self, key: bytes, *, expires_at: int) -> bool:
        """Async :meth:`ReplayCache.add_if_absent`."""
        ...


def _part(value: str) -> bytes:
    raw = value.encode("utf-8")
    return len(raw).to_bytes(4, "big") + raw


def replay_key_prefix(jkt: str) -> bytes:
    """The part of the replay key that depends on the key only (cached per key by verifiers)."""
    return _LABEL + _part(jkt)


def replay_key(jkt: str, jti: str) -> bytes:
    """Return the 32-byte replay key of (key thumbprint, ``jti``)."""
    return replay_key_from_prefix(replay_key_prefix(jkt), jti)


def replay_key_from_prefix(prefix: bytes, jti: str) -> bytes:
    """:func:`replay_key` from a :func:`replay_key_prefix` computed earlier."""
    raw = jti.encode("utf-8")
    return hashlib.sha256(prefix + len(raw).to_bytes(4, "big") + raw).digest()


def record_proof(cache: ReplayCache, proof: VerifiedProof) -> None:
    """Spend the proof's ``jti``; call only after every other check passed.

    Raises:
        InvalidDPoPProof: ``proof_replayed`` if the ``jti`` was already used with this key.
        StorageUnavailable: the cache cannot answer.
    """
    if not cache.add_if_absent(proof.replay_key, expires_at=proof.replay_expires_at):
        raise InvalidDPoPProof(Reason.PROOF_REPLAYED)


async def record_proof_async(cache: AsyncReplayCache, proof: VerifiedProof) -> None:
    """Async :func:`record_proof`."""
    if not await cache.add_if_absent_async(proof.replay_key, expires_at=proof.replay_expires_at):
        raise InvalidDPoPProof(Reason.PROOF_REPLAYED)
