"""Helpers shared by the benchmarks that start ``proofbound`` servers: a free loopback port,
the ``proofbound`` command of this environment, and the ``/healthz`` probe."""

from __future__ import annotations

import shutil
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["CommandMissing", "free_port", "healthy", "proofbound_cli"]


class CommandMissing(RuntimeError):
    """The ``proofbound`` command is not installed."""


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def proofbound_cli() -> str:
    """The ``proofbound`` command beside this Python, else the one on PATH."""
    beside = Path(sys.executable).with_name("proofbound")
    if beside.exists():
        return str(beside)
    found = shutil.which("proofbound")
    if found is None:
        raise CommandMissing("the proofbound command is not installed (make venv)")
    return found


def healthy(base: str) -> bool:
    """Whether ``base/healthz`` answers 200 within a second."""
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=1) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
