"""The WAL checkpointer: commits leave the log to it, it copies the log into the database file,
on demand and periodically, and a failing checkpoint neither raises nor ends the thread."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from proofbound.storage.checkpoint import WalCheckpointer
from proofbound.storage.store import Store, open_engine


def _rows_in_file_alone(db: Path, tmp: Path) -> int:
    """Rows of ``t`` in the database file itself, without its log (what a checkpoint wrote)."""
    copy = tmp / "copy.db"
    shutil.copyfile(db, copy)
    with sqlite3.connect(copy) as conn:
        try:
            return int(conn.execute("SELECT count(*) FROM t").fetchone()[0])
        except sqlite3.OperationalError:  # not even the table has been checkpointed
            return 0


def _engine_with_table(db: Path) -> Any:
    engine = open_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (v INTEGER)"))
    return engine


def _insert(engine: Any, count: int) -> None:
    with engine.begin() as conn:
        for value in range(count):
            conn.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": value})


def test_store_connections_never_checkpoint_on_commit(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'as.db'}")
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert store.checkpointer is not None
        assert store.checkpointer.running
    finally:
        store.close()
    assert not store.checkpointer.running  # close() stops the thread


def test_checkpoint_copies_the_log_into_the_database_file(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    engine = _engine_with_table(db)
    checkpointer = WalCheckpointer(engine)  # not started: only explicit checkpoints
    try:
        assert checkpointer.checkpoint() is not None  # the table itself reaches the file
        _insert(engine, 50)
        assert _rows_in_file_alone(db, tmp_path) == 0  # committed, but only in the log
        result = checkpointer.checkpoint()
        assert result is not None
        assert not result.busy
        assert result.log_pages > 0
        assert result.checkpointed == result.log_pages
        assert _rows_in_file_alone(db, tmp_path) == 50
    finally:
        checkpointer.close()
        engine.dispose()


def test_the_thread_checkpoints_periodically_until_closed(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    engine = _engine_with_table(db)
    checkpointer = WalCheckpointer(engine, interval=0.05)
    checkpointer.start()
    try:
        _insert(engine, 20)
        deadline = time.monotonic() + 10
        while _rows_in_file_alone(db, tmp_path) != 20:
            assert time.monotonic() < deadline, "no checkpoint within 10 s"
            time.sleep(0.05)
    finally:
        checkpointer.close()
        engine.dispose()
    assert not checkpointer.running


class _Unreachable:
    """An engine whose database cannot be reached."""

    def raw_connection(self) -> Any:
        raise sqlite3.OperationalError("unable to open database file")


def test_a_failing_checkpoint_is_logged_not_raised_and_the_thread_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    checkpointer = WalCheckpointer(_Unreachable(), interval=0.02)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="proofbound.storage.checkpoint"):
        assert checkpointer.checkpoint() is None
        checkpointer.start()
        time.sleep(0.2)
        assert checkpointer.running  # failures did not end it
        checkpointer.close()
    expected = "WAL checkpoint failed: OperationalError"
    failures = [r for r in caplog.records if r.getMessage() == expected]
    assert len(failures) >= 2
