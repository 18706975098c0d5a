"""Time as an explicit input: every check takes ``now`` from a :class:`Clock`."""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "FrozenClock", "SystemClock"]


class Clock(Protocol):
    """Source of the current time in whole seconds since the epoch."""

    def now(self) -> int:
        """Return the current time (seconds since the epoch)."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> int:
        """Return ``int(time.time())``."""
        return int(time.time())


class FrozenClock:
    """A clock that only moves when told to; for tests and reproducible runs."""

    def __init__(self, now: int) -> None:
        self._now = now

    def now(self) -> int:
        """Return the frozen time."""
        return self._now

    def set(self, now: int) -> None:
        """Move the clock to ``now``."""
        self._now = now

    def advance(self, seconds: int) -> None:
        """Move the clock forward by ``seconds``."""
        self._now += seconds
