"""Node.js peers of the test suite: one place that finds Node 20+ and installs a directory's pinned
npm packages (``npm ci`` from its ``package-lock.json``) when they are missing.

Without node/npm, or when the install fails, a test skips -- or fails under
``PROOFBOUND_REQUIRE_BACKENDS=1`` (CI), so a missing peer can never pass for a green run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn

import pytest

__all__ = ["NPM_TIMEOUT", "REQUIRE_BACKENDS", "node_with_packages", "tail", "unavailable"]

REQUIRE_BACKENDS = os.environ.get("PROOFBOUND_REQUIRE_BACKENDS") == "1"
NPM_TIMEOUT = 300.0
_MIN_NODE = 20


def unavailable(what: str, why: str) -> NoReturn:
    """Skip, or fail when backends are required (CI)."""
    message = f"{what} unavailable: {why}"
    if REQUIRE_BACKENDS:
        pytest.fail(message)
    pytest.skip(message)


def tail(text: str, lines: int = 20) -> str:
    """The last ``lines`` lines of a process's output."""
    return "\n".join(text.strip().splitlines()[-lines:])


def node_with_packages(
    directory: Path, package: str, *, what: str, env: Mapping[str, str] | None = None
) -> str:
    """The path of a Node 20+ binary, after ``npm ci`` in ``directory`` if ``package`` (one of
    its pinned dependencies) is not installed there yet."""
    node_bin, npm_bin = shutil.which("node"), shutil.which("npm")
    if node_bin is None or npm_bin is None:
        unavailable(what, "node and npm are needed on PATH")
    version = subprocess.run(  # noqa: S603 -- fixed arguments
        [node_bin, "--version"], capture_output=True, text=True, check=False, timeout=30
    ).stdout.strip()
    major = version.lstrip("v").split(".", 1)[0]
    if not major.isdigit() or int(major) < _MIN_NODE:
        unavailable(what, f"Node {_MIN_NODE}+ is needed, found {version or 'no version'}")
    installed = directory / "node_modules" / package / "package.json"
    if installed.exists():
        return node_bin
    try:
        result = subprocess.run(  # noqa: S603 -- fixed arguments
            [npm_bin, "ci", "--no-audit", "--no-fund"],
            cwd=directory,
            capture_output=True,
            text=True,
            check=False,
            timeout=NPM_TIMEOUT,
            env={**os.environ, **(env or {})},
        )
    except subprocess.TimeoutExpired:
        unavailable(what, f"npm ci did not finish in {NPM_TIMEOUT:.0f} s")
    if result.returncode != 0 or not installed.exists():
        unavailable(what, f"npm ci failed ({result.returncode}):\n{tail(result.stderr)}")
    return node_bin
