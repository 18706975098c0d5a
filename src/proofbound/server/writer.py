"""Group commit for the token endpoint: issuances are written by one thread, many per
transaction, and each request is answered only after the commit that holds its record.

Why: a transaction's cost is mostly fixed (the commit writes every touched page to the WAL), so
eight tokens in one commit cost little more than one. While the writer commits one batch the
event loop verifies the next requests (SQLite and the signature checks release the GIL), and
those requests form the next batch. Durability is unchanged: a token leaves the server only
after its single-use keys are committed, and a failed commit fails every request of its batch
(fail closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from proofbound.errors import StorageUnavailable
from proofbound.storage.store import Issuance, ReplayDetected, Store

__all__ = ["GroupCommitWriter"]

_log: Final = logging.getLogger("proofbound.server.writer")

#: Most issuances in one transaction (bounds the time a request waits behind others).
MAX_BATCH: Final = 64
#: Most issuances waiting; beyond it requests are refused (503) rather than queued forever.
MAX_PENDING: Final = 4096

_Outcome = ReplayDetected | StorageUnavailable | None
_Pending = tuple[Issuance, "asyncio.Future[None]", asyncio.AbstractEventLoop]


class GroupCommitWriter:
    """Writes :class:`~proofbound.storage.store.Issuance` records on a thread of its own.

    Args:
        store: the database.
        clock: the current time in seconds (for the expiry checks of single-use keys).
    """

    def __init__(self, store: Store, clock: Callable[[], int]) -> None:
        self._store: Final = store
        self._clock: Final = clock
        self._pending: Final[deque[_Pending]] = deque()
        self._wake: Final = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._connection: Any = None  # the writer thread's own pool connection

    async def write(self, issuance: Issuance) -> None:
        """Record ``issuance``; returns once it is committed.

        Raises:
            ReplayDetected: one of its single-use keys was spent before.
            StorageUnavailable: the database failed, the queue is full, or the writer is closed.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._wake:
            if self._closed:
                raise StorageUnavailable("the writer is closed")
            if len(self._pending) >= MAX_PENDING:
                raise StorageUnavailable("too many writes waiting")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="proofbound-writer", daemon=True
                )
                self._thread.start()
            self._pending.append((issuance, future, loop))
            self._wake.notify()
        await future

    def close(self) -> None:
        """Write what is waiting, then stop the thread (idempotent)."""
        with self._wake:
            self._closed = True
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        try:
            while True:
                with self._wake:
                    while not self._pending and not self._closed:
                        self._wake.wait()
                    if not self._pending:  # closed and drained
                        return
                    count = min(MAX_BATCH, len(self._pending))
                    batch = [self._pending.popleft() for _ in range(count)]
                outcomes = self._commit([item for item, _, _ in batch])
                self._settle(batch, outcomes)
        finally:
            self._release_connection()

    def _commit(self, issuances: list[Issuance]) -> list[_Outcome]:
        try:
            if self._connection is None:  # kept between batches: no pool checkout per commit
                self._connection = self._store.issuance_connection()
            return list(
                self._store.record_issuances(
                    issuances, now=self._clock(), connection=self._connection
                )
            )
        except StorageUnavailable as exc:
            self._release_connection()  # it may be broken: the next batch takes a fresh one
            return [exc] * len(issuances)
        except Exception as exc:  # a bug must fail the requests, not kill the writer
            self._release_connection()
            _log.error("issuance batch failed: %s", type(exc).__name__, exc_info=exc)
            return [StorageUnavailable("database error")] * len(issuances)

    def _release_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # a broken connection: the pool drops it
                connection.close()

    @staticmethod
    def _settle(batch: list[_Pending], outcomes: list[_Outcome]) -> None:
        # One wake-up per event loop for the whole batch, not one per request.
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[None], _Outcome]]] = {}
        for (_, future, loop), outcome in zip(batch, outcomes, strict=True):
            by_loop.setdefault(loop, []).append((future, outcome))
        for loop, results in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, results)
            except RuntimeError:  # the loop has closed: nobody waits for these any more
                continue


def _resolve(results: list[tuple[asyncio.Future[None], _Outcome]]) -> None:
    for future, outcome in results:
        if future.done():  # the request was cancelled (client went away)
            continue
        if outcome is None:
            future.set_result(None)
        else:
            future.set_exception(outcome)
