"""Interleaved batch timing: run k times every contender once, then run k+1.

A contender builds a fresh :class:`Batch` for every run (fresh replay state), the batch of N
operations is timed as one block with ``time.perf_counter_ns`` and the garbage collector off, and
the result is kept per run so ratios can be taken between contenders of the *same* run. The order
of the contenders rotates from run to run so none is always first after a collection.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Batch", "Contender", "measure", "median_ratio"]


def _nothing() -> None:
    return None


@dataclass(frozen=True, slots=True)
class Batch:
    """N operations in one call (``run``), and a check of their effect made after timing."""

    run: Callable[[], None]
    check: Callable[[], None] = _nothing


@dataclass(frozen=True, slots=True)
class Contender:
    """A named implementation; ``make_batch`` is called before each (untimed)."""

    label: str
    make_batch: Callable[[], Batch]


def _time_batch(batch: Batch) -> int:
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        batch.run()
        elapsed = time.perf_counter_ns() - start
    finally:
        gc.enable()
    batch.check()
    return elapsed


def measure(contenders: Sequence[Contender], *, runs: int, n: int) -> dict[str, list[float]]:
    """Microseconds per operation of every contender, one entry per run (warm-up excluded)."""
    for contender in contenders:  # warm-up: caches, allocator, branch predictors
        _time_batch(contender.make_batch())
    results: dict[str, list[float]] = {c.label: [] for c in contenders}
    for k in range(runs):
        shift = k % len(contenders)
        for contender in (*contenders[shift:], *contenders[:shift]):
            elapsed = _time_batch(contender.make_batch())
            results[contender.label].append(elapsed / n / 1000)
    return results


def median_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> float:
    """Median over runs of the per-run ratio (both figures of a run saw the same machine)."""
    return statistics.median(a / b for a, b in zip(numerators, denominators, strict=True))
