"""In-memory replay cache for one process: bounded, TTL, atomic, fails closed when full.

Expired entries are removed a few at a time on each insert, oldest expiry first (a min-heap), so
no request ever scans the whole table and the cost of an insert does not grow with the size of the
cache. When the cache is full of unexpired entries it refuses new keys with
``StorageUnavailable`` instead of evicting live ones, which would re-open a replay window.
"""

from __future__ import annotations

import heapq
import threading
from typing import Final

from proofbound.clock import Clock, SystemClock
from proofbound.errors import ConfigurationError, StorageUnavailable

__all__ = ["MemoryReplayCache"]

_PURGE_PER_INSERT: Final = 4


class MemoryReplayCache:
    """A bounded, thread-safe replay cache (sync and async).

    Args:
        max_entries: how many unexpired keys it holds before it fails closed.
        max_key_bytes: the longest key accepted (replay keys are 32 bytes).
        max_ttl: the longest lifetime a key may ask for, in seconds; a longer one is refused
            (it would pin memory).
        clock: the time source used to decide expiry.
    """

    __slots__ = ("_clock", "_entries", "_heap", "_lock", "max_entries", "max_key_bytes", "max_ttl")

    def __init__(
        self,
        *,
        max_entries: int = 100_000,
        max_key_bytes: int = 64,
        max_ttl: int = 3600,
        clock: Clock | None = None,
    ) -> None:
        if max_entries < 1 or max_key_bytes < 1 or max_ttl < 1:
            raise ConfigurationError("replay cache limits must be positive")
        self.max_entries: Final = max_entries
        self.max_key_bytes: Final = max_key_bytes
        self.max_ttl: Final = max_ttl
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._entries: dict[bytes, int] = {}
        self._heap: list[tuple[int, bytes]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def _purge(self, now: int, limit: int | None) -> None:
        # Pop expired heap heads; a stale head (key re-added later) is skipped by the check.
        heap, entries = self._heap, self._entries
        done = 0
        while heap and heap[0][0] <= now and (limit is None or done < limit):
            expires_at, key = heapq.heappop(heap)
            if entries.get(key) == expires_at:
                del entries[key]
            done += 1

    def add_if_absent(self, key: bytes, *, expires_at: int) -> bool:
        """Record ``key`` until ``expires_at``; False if present and unexpired.

        Raises:
            StorageUnavailable: the key is too long, its lifetime too long, or the cache is full.
        """
        if len(key) > self.max_key_bytes:
            raise StorageUnavailable("replay key too long")
        with self._lock:
            now = self._clock.now()
            if expires_at - now > self.max_ttl:
                raise StorageUnavailable("replay key lifetime over the cap")
            current = self._entries.get(key)
            if current is not None and current > now:
                return False
            if expires_at <= now:
                return True  # already outside its window: nothing to remember
            heap = self._heap
            if heap and heap[0][0] <= now:  # something expired: drop a few, oldest first
                self._purge(now, _PURGE_PER_INSERT)
            if current is None and len(self._entries) >= self.max_entries:
                self._purge(now, None)
                if len(self._entries) >= self.max_entries:
                    raise StorageUnavailable("replay cache is full")
            self._entries[key] = expires_at
            heapq.heappush(heap, (expires_at, key))
            return True

    async def add_if_absent_async(self, key: bytes, *, expires_at: int) -> bool:
        """Async :meth:`add_if_absent` (no I/O; never blocks on anything but the lock)."""
        return self.add_if_absent(key, expires_at=expires_at)

    def __repr__(self) -> str:
        return f"MemoryReplayCache(entries={len(self._entries)}, max_entries={self.max_entries})"
