"""Shared fixtures: frozen clock, fixed keys, and the rule that backend tests may not be skipped.

With ``PROOFBOUND_REQUIRE_BACKENDS=1`` (set by ``.ci/run``), a PostgreSQL or Redis test that cannot
reach its server fails instead of skipping, and the session fails if no such test ran at all.
"""

from __future__ import annotations

import ast
import importlib
import os
from pathlib import Path

import pytest

from proofbound.clock import FrozenClock

REQUIRE_BACKENDS = os.environ.get("PROOFBOUND_REQUIRE_BACKENDS") == "1"
DATABASE_URL = os.environ.get(
    "PROOFBOUND_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("PROOFBOUND_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

_backend_runs: dict[str, int] = {"postgres": 0, "redis": 0}


def _hot_modules() -> tuple[str, ...]:
    """The modules setup.py compiles with mypyc (its ``COMPILED`` list, read, not imported)."""
    tree = ast.parse((Path(__file__).parents[1] / "setup.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "COMPILED":
            paths: list[str] = ast.literal_eval(node.value)
            return tuple(
                p.removeprefix("src/").removesuffix(".py").replace("/", ".") for p in paths
            )
    raise RuntimeError("setup.py has no COMPILED list")


_HOT_MODULES = _hot_modules()


def _compiled_modules() -> list[Path]:
    files = [Path(importlib.import_module(name).__file__ or "") for name in _HOT_MODULES]
    return [path for path in files if path.suffix != ".py"]


def pytest_report_header(config: pytest.Config) -> str:
    compiled = _compiled_modules()
    if not compiled:
        return "proofbound build: pure Python"
    return f"proofbound build: mypyc-compiled hot path ({len(compiled)} modules)"


def pytest_sessionstart(session: pytest.Session) -> None:
    compiled = _compiled_modules()
    # An extension next to a newer .py would test old code: refuse (`make test` rebuilds).
    for path in compiled:
        source = path.with_name(path.name.split(".", 1)[0] + ".py")
        if source.exists() and source.stat().st_mtime > path.stat().st_mtime:
            pytest.exit(f"{source} changed after it was compiled; run `make test`", returncode=2)
    # CI states which build it means to test, so a silent fallback cannot pass for the other.
    expected = os.environ.get("PROOFBOUND_EXPECT_BUILD")
    if expected == "compiled" and len(compiled) != len(_HOT_MODULES):
        pytest.exit("expected the mypyc-compiled build, found pure Python modules", returncode=2)
    if expected == "pure" and compiled:
        pytest.exit("expected the pure-Python build, found compiled modules", returncode=2)


NOW = 1_700_000_000


def backend_unavailable(name: str, why: str) -> None:
    """Skip, or fail when backends are required (CI)."""
    message = f"{name} backend unavailable: {why}"
    if REQUIRE_BACKENDS:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """SQLAlchemy URL of the test PostgreSQL; tests using it must be marked ``postgres``."""
    try:
        import psycopg

        dsn = DATABASE_URL.replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        backend_unavailable("postgres", type(exc).__name__)
    return DATABASE_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of the test Redis; tests using it must be marked ``redis``."""
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5)
        client.ping()
        client.close()
    except Exception as exc:
        backend_unavailable("redis", type(exc).__name__)
    return REDIS_URL


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.passed:
        for name in _backend_runs:
            if name in report.keywords:
                _backend_runs[name] += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not REQUIRE_BACKENDS or session.config.option.collectonly:
        return
    if session.config.getoption("-k") or session.config.args != session.config.getini("testpaths"):
        return  # a partial run (-k or explicit paths) need not include backend tests
    missing = [name for name, count in _backend_runs.items() if count == 0]
    if missing:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"FAILED: no {', '.join(missing)} backend test passed", red=True)
