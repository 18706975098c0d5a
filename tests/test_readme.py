"""Every code block of the README runs as written, or names the tests that cover it.

A block is preceded by a marker comment:

* ``<!-- run: python -->`` -- run with this interpreter in a fresh directory;
* ``<!-- run: python with-servers -->`` -- the same, while the servers started so far run;
* ``<!-- run: server URL -->`` -- a shell block whose last command serves until stopped: run it
  in the shared directory, wait until ``URL`` answers 200, stop it (by pid) at the end;
* ``<!-- covered-by: PATH ... -->`` -- long-running or environment-specific; each path must exist.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
_BLOCK = re.compile(r"<!-- (?P<marker>[^>]*?) -->\n```(?P<lang>\w+)\n(?P<code>.*?)```", re.S)
_FENCE = re.compile(r"^```\w*$", re.M)


def _blocks() -> list[tuple[str, str, str]]:
    text = README.read_text(encoding="utf-8")
    return [(m["marker"].strip(), m["lang"], m["code"]) for m in _BLOCK.finditer(text)]


def test_every_code_block_has_a_marker() -> None:
    fences = len(_FENCE.findall(README.read_text(encoding="utf-8"))) // 2
    assert fences == len(_blocks()), "a README code block lacks a run/covered-by marker"


@pytest.mark.parametrize(
    "marker",
    [m for m, _, _ in _blocks() if m.startswith("covered-by:")],
)
def test_covering_tests_exist(marker: str) -> None:
    paths = marker.removeprefix("covered-by:").split()
    assert paths
    for path in paths:
        assert (ROOT / path).exists(), path


def _env(bin_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROOFBOUND_")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return env


def _wait(url: str, process: subprocess.Popen[bytes], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server for {url} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{url} did not answer within {seconds} s")


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in started:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def test_runnable_blocks_run_as_written(
    tmp_path: Path, servers: list[subprocess.Popen[bytes]]
) -> None:
    bin_dir = Path(sys.executable).parent
    env = _env(bin_dir)
    ran = 0
    for marker, lang, code in _blocks():
        if not marker.startswith("run:"):
            continue
        kind = marker.removeprefix("run:").split()
        if kind[0] == "server":
            with (tmp_path / f"server{len(servers)}.log").open("wb") as log:
                process = subprocess.Popen(  # noqa: S603 -- the README's own commands
                    ["bash", "-euc", code],  # noqa: S607
                    cwd=tmp_path,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            servers.append(process)
            _wait(kind[1], process)
        else:
            assert lang == "python"
            if "with-servers" in kind:
                assert servers, "a with-servers block needs a server block before it"
            result = subprocess.run(  # noqa: S603 -- the README's own code
                [sys.executable, "-c", code],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert result.returncode == 0, result.stderr[-3000:]
        ran += 1
    assert ran >= 4
