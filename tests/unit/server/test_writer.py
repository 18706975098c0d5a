"""The token endpoint's group-commit writer: batches, per-issuance replay outcomes, failures
that fail the whole batch (and only it), back-pressure and shutdown."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from proofbound.errors import StorageUnavailable
from proofbound.server import writer as writer_module
from proofbound.server.writer import GroupCommitWriter
from proofbound.storage.store import Issuance, ReplayDetected, Store, TokenRecord

NOW = 1_700_000_000


def issuance(*keys: bytes) -> Issuance:
    record = TokenRecord(
        jti=secrets.token_urlsafe(18),
        client_id="svc",
        subject="svc",
        scope="read",
        audience="https://rs.example",
        issued_at=NOW,
        expires_at=NOW + 300,
    )
    return Issuance(record, tuple((key, NOW + 60) for key in keys))


class RecordingStore:
    """A real store whose batch writes are counted, and that can hold the first batch back
    until released (so that the next writes pile up behind it)."""

    def __init__(self, store: Store, *, hold_first: bool = False) -> None:
        self.store = store
        self.batches: list[int] = []
        self.release = threading.Event()
        self.holding = threading.Event()
        if not hold_first:
            self.release.set()
        self.fail_next: Exception | None = None

    def issuance_connection(self) -> Any:
        return self.store.issuance_connection()

    def record_issuances(
        self, batch: Sequence[Issuance], *, now: int, connection: Any = None
    ) -> list[ReplayDetected | None]:
        self.holding.set()
        self.release.wait(10)
        self.batches.append(len(batch))
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc
        return self.store.record_issuances(batch, now=now, connection=connection)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open("sqlite:///" + str(tmp_path / "as.db"))
    try:
        yield opened
    finally:
        opened.close()


def make_writer(recording: RecordingStore) -> GroupCommitWriter:
    return GroupCommitWriter(recording, lambda: NOW)  # type: ignore[arg-type]


async def test_each_write_returns_after_its_commit(store: Store) -> None:
    writer = GroupCommitWriter(store, lambda: NOW)
    try:
        item = issuance(secrets.token_bytes(32))
        await writer.write(item)
        assert store.get_token(item.token.jti) == item.token
    finally:
        writer.close()


async def test_writes_waiting_behind_a_commit_share_the_next_one(store: Store) -> None:
    recording = RecordingStore(store, hold_first=True)
    writer = make_writer(recording)
    try:
        first = asyncio.ensure_future(writer.write(issuance(secrets.token_bytes(32))))
        await asyncio.to_thread(recording.holding.wait, 10)  # the writer holds the first batch
        items = [issuance(secrets.token_bytes(32)) for _ in range(10)]
        rest = [asyncio.ensure_future(writer.write(item)) for item in items]
        await asyncio.sleep(0)  # all ten are queued
        recording.release.set()
        await asyncio.gather(first, *rest)
        assert recording.batches == [1, 10]
        assert all(store.get_token(item.token.jti) == item.token for item in items)
    finally:
        writer.close()


async def test_a_replay_in_the_same_batch_fails_only_that_request(store: Store) -> None:
    recording = RecordingStore(store, hold_first=True)
    writer = make_writer(recording)
    try:
        blocker = asyncio.ensure_future(writer.write(issuance(secrets.token_bytes(32))))
        await asyncio.to_thread(recording.holding.wait, 10)
        key = secrets.token_bytes(32)
        original, replay = issuance(key), issuance(secrets.token_bytes(32), key)
        writes = [asyncio.ensure_future(writer.write(i)) for i in (original, replay)]
        await asyncio.sleep(0)
        recording.release.set()
        results = await asyncio.gather(blocker, *writes, return_exceptions=True)
        assert results[:2] == [None, None]
        assert isinstance(results[2], ReplayDetected)
        assert results[2].index == 1
        assert recording.batches == [1, 2]
        assert store.get_token(replay.token.jti) is None
    finally:
        writer.close()


@pytest.mark.parametrize("failure", [StorageUnavailable("database error: X"), KeyError("bug")])
async def test_a_failed_commit_fails_its_batch_and_the_writer_goes_on(
    store: Store, failure: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    recording = RecordingStore(store)
    recording.fail_next = failure
    writer = make_writer(recording)
    try:
        item = issuance(secrets.token_bytes(32))
        with pytest.raises(StorageUnavailable):
            await writer.write(item)
        assert store.get_token(item.token.jti) is None
        later = issuance(secrets.token_bytes(32))
        await writer.write(later)  # a fresh connection, a working writer
        assert store.get_token(later.token.jti) == later.token
    finally:
        writer.close()
    assert item.token.jti not in caplog.text


async def test_a_full_queue_refuses_instead_of_queueing(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "MAX_PENDING", 2)
    recording = RecordingStore(store, hold_first=True)
    writer = make_writer(recording)
    try:
        blocker = asyncio.ensure_future(writer.write(issuance(secrets.token_bytes(32))))
        await asyncio.to_thread(recording.holding.wait, 10)
        queued = [asyncio.ensure_future(writer.write(issuance())) for _ in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(StorageUnavailable) as excinfo:
            await writer.write(issuance())
        assert "too many" in excinfo.value.detail
        recording.release.set()
        await asyncio.gather(blocker, *queued)
    finally:
        writer.close()


async def test_close_writes_what_waits_and_then_refuses(store: Store) -> None:
    recording = RecordingStore(store, hold_first=True)
    writer = make_writer(recording)
    first = issuance(secrets.token_bytes(32))
    waiting = issuance(secrets.token_bytes(32))
    writes = [asyncio.ensure_future(writer.write(first))]
    await asyncio.to_thread(recording.holding.wait, 10)
    writes.append(asyncio.ensure_future(writer.write(waiting)))
    await asyncio.sleep(0)
    closing = asyncio.ensure_future(asyncio.to_thread(writer.close))
    recording.release.set()
    await closing
    await asyncio.gather(*writes)
    assert store.get_token(waiting.token.jti) == waiting.token
    with pytest.raises(StorageUnavailable) as excinfo:
        await writer.write(issuance())
    assert "closed" in excinfo.value.detail
    writer.close()  # idempotent


async def test_a_cancelled_request_does_not_break_the_batch(store: Store) -> None:
    recording = RecordingStore(store, hold_first=True)
    writer = make_writer(recording)
    try:
        blocker = asyncio.ensure_future(writer.write(issuance(secrets.token_bytes(32))))
        await asyncio.to_thread(recording.holding.wait, 10)
        gone, kept = issuance(secrets.token_bytes(32)), issuance(secrets.token_bytes(32))
        cancelled = asyncio.ensure_future(writer.write(gone))
        survivor = asyncio.ensure_future(writer.write(kept))
        await asyncio.sleep(0)
        cancelled.cancel()
        recording.release.set()
        await asyncio.gather(blocker, survivor)
        # Written even so: its keys are spent (the client retries with new ones).
        assert store.get_token(gone.token.jti) == gone.token
        assert store.get_token(kept.token.jti) == kept.token
    finally:
        writer.close()
