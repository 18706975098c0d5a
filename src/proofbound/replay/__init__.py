"""Replay caches for DPoP ``jti`` values (RFC 9449 §11.1)."""

from proofbound.replay.base import (
    AsyncReplayCache,
    ReplayCache,
    record_proof,
    record_proof_async,
    replay_key,
)
from proofbound.replay.memory import MemoryReplayCache

__all__ = [
    "AsyncReplayCache",
    "MemoryReplayCache",
    "ReplayCache",
    "record_proof",
    "record_proof_async",
    "replay_key",
]
