"""Helpers shared by the benchmarks that start ``proofbound`` servers: a free loopback port,
the ``proofbound`` command of this environment, the ``/healthz`` probe, and a server process
that is stopped for sure."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

__all__ = ["CommandMissing", "free_port", "healthy", "proofbound_cli", "serving"]


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


@contextlib.contextmanager
def serving(
    name: str,
    command: Sequence[str],
    base: str,
    *,
    start_timeout: float,
    stop_timeout: float,
    error: type[Exception] = RuntimeError,
    env: Mapping[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` until ``base/healthz`` answers 200 (else ``error``); on exit SIGTERM, then
    SIGKILL of that pid only if it hangs. Its output goes to our stderr."""
    process = subprocess.Popen(  # noqa: S603 -- our own commands, fixed arguments
        list(command), stdin=subprocess.DEVNULL, stdout=sys.stderr, env=env
    )
    try:
        deadline = time.monotonic() + start_timeout
        while not healthy(base):
            if process.poll() is not None:
                raise error(f"{name} exited with status {process.returncode}")
            if time.monotonic() > deadline:
                raise error(f"{name}: GET {base}/healthz not 200 within {start_timeout:.0f} s")
            time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(stop_timeout)
            except subprocess.TimeoutExpired:
                print(
                    f"{name} pid {process.pid} ignored SIGTERM for {stop_timeout:.0f} s; killed",
                    file=sys.stderr,
                )
                process.kill()
                process.wait()
