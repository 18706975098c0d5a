"""MemoryReplayCache specifics: bounded (fails closed when full), amortised purge, heap hygiene.

The behaviour every backend shares is in ``tests/contracts/test_replay_cache.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from proofbound.clock import FrozenClock
from proofbound.errors import ConfigurationError, StorageUnavailable
from proofbound.replay import MemoryReplayCache
from proofbound.replay.memory import _PURGE_PER_INSERT


def key(n: int) -> bytes:
    return n.to_bytes(32, "big")


def fill(cache: MemoryReplayCache, count: int, expires_at: int) -> None:
    for n in range(count):
        assert cache.add_if_absent(key(n), expires_at=expires_at) is True


def test_full_of_live_entries_fails_closed(clock: FrozenClock) -> None:
    cache = MemoryReplayCache(max_entries=3, clock=clock)
    fill(cache, 3, clock.now() + 60)
    with pytest.raises(StorageUnavailable):
        cache.add_if_absent(key(99), expires_at=clock.now() + 60)
    # Never evicts a live key to make room: that would re-open its replay window.
    assert all(cache.add_if_absent(key(n), expires_at=clock.now() + 60) is False for n in range(3))
    assert len(cache) == 3


def test_full_cache_recovers_when_entries_expire(clock: FrozenClock) -> None:
    cache = MemoryReplayCache(max_entries=100, clock=clock)
    fill(cache, 100, clock.now() + 10)
    clock.advance(10)
    assert cache.add_if_absent(key(1000), expires_at=clock.now() + 10) is True
    assert len(cache) == 100 - _PURGE_PER_INSERT + 1


def test_purge_is_amortised(clock: FrozenClock) -> None:
    cache = MemoryReplayCache(clock=clock)
    fill(cache, 1000, clock.now() + 10)
    clock.advance(10)
    assert cache.add_if_absent(key(5000), expires_at=clock.now() + 10) is True
    assert 1 < len(cache) < 1001  # a few expired entries went, not a scan of all of them
    for n in range(5001, 5300):
        cache.add_if_absent(key(n), expires_at=clock.now() + 10)
    assert len(cache) == 300  # every expired entry is gone after a few hundred inserts


def test_stale_heap_entry_does_not_remove_a_re_added_key(clock: FrozenClock) -> None:
    cache = MemoryReplayCache(clock=clock)
    # Earlier expiries ahead of key 1 on the heap, so re-adding key 1 leaves its old expiry there.
    for n in range(100, 100 + _PURGE_PER_INSERT):
        cache.add_if_absent(key(n), expires_at=clock.now() + 1)
    assert cache.add_if_absent(key(1), expires_at=clock.now() + 2) is True
    clock.advance(2)
    assert cache.add_if_absent(key(1), expires_at=clock.now() + 60) is True
    # This insert pops key 1's stale expiry; it must not drop the live entry.
    assert cache.add_if_absent(key(2), expires_at=clock.now() + 60) is True
    assert cache.add_if_absent(key(1), expires_at=clock.now() + 60) is False
    assert len(cache) == 2


def test_key_outside_its_window_takes_no_room(clock: FrozenClock) -> None:
    cache = MemoryReplayCache(max_entries=1, clock=clock)
    assert cache.add_if_absent(key(1), expires_at=clock.now()) is True
    assert len(cache) == 0


@pytest.mark.parametrize(
    "limits", [{"max_entries": 0}, {"max_key_bytes": 0}, {"max_ttl": 0}, {"max_ttl": -1}]
)
def test_non_positive_limits_are_refused(limits: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        MemoryReplayCache(**limits)


def test_repr_shows_counts_only(clock: FrozenClock) -> None:
    cache = MemoryReplayCache(max_entries=10, clock=clock)
    cache.add_if_absent(b"\xab" * 32, expires_at=clock.now() + 60)
    assert repr(cache) == "MemoryReplayCache(entries=1, max_entries=10)"
