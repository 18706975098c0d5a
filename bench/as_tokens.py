"""``make bench-as``: DPoP-bound client_credentials tokens per second from the authorization server.

One ``proofbound serve`` (one uvicorn worker, SQLite in a temporary data directory) is loaded by
a separate process (``bench._as_load``) with ``private_key_jwt`` token requests, each with a DPoP
proof carrying the server's nonce. The time per token is compared with its crypto floor, measured
in this process in the same run while the server is idle: two ES256 verifies (the assertion and
the proof) and one ES256 sign (the access token). An HTTP floor is measured in the same run
too: the same requests against ``bench._http_floor``, ``proofbound serve``'s own uvicorn with an
app that does no work; ``ratio_to_crypto_and_http_floors`` divides the time per token by the sum
of both floors (informative: the target is on ``ratio_to_floor``).

stdout: one JSON object (case ``as-token-ES256``). stderr: progress, the server's own output and
the target, marked met or MISSED. Exit code 0 either way (a measurement), 1 if any token request
failed or the server would not start.

Run ``python -m bench.as_tokens --help`` for the knobs; see bench/README.md for what is measured.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gc
import json
import multiprocessing
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from bench import _as_load
from bench._procs import free_port, proofbound_cli, serving
from proofbound import generate_key

__all__ = ["main"]

CASE: Final = "as-token-ES256"
DEFAULT_N: Final = 1500
DEFAULT_RUNS: Final = 9
MIN_RUNS: Final = 5
DEFAULT_CONCURRENCY: Final = 8
TARGET: Final = 2.5  # us_per_token / floor_us
START_TIMEOUT: Final = 15.0
STOP_TIMEOUT: Final = 10.0


def log(message: str) -> None:
    """Progress text: stderr only, stdout is for the JSON line."""
    print(message, file=sys.stderr, flush=True)


def _build() -> str:
    import proofbound.dpop.verify

    return "python" if (proofbound.dpop.verify.__file__ or "").endswith(".py") else "mypyc"


# --- the server ---------------------------------------------------------------------------------


@contextlib.contextmanager
def running_server(registration_token: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``proofbound serve`` on a free loopback port, fresh data directory; (base URL, process).

    Its output goes to our stderr. On exit: SIGTERM, wait, SIGKILL (that pid only) if it hangs,
    and the data directory is removed.
    """
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data_dir = tempfile.mkdtemp(prefix="proofbound-bench-as-")
    command = [
        proofbound_cli(),
        "serve",
        "--issuer",
        base,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        data_dir,
        "--registration-token",
        registration_token,
        "--log-level",
        "warning",
    ]
    try:
        with serving(
            "the server",
            command,
            base,
            start_timeout=START_TIMEOUT,
            stop_timeout=STOP_TIMEOUT,
        ) as process:
            yield base, process
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@contextlib.contextmanager
def running_http_floor(token_chars: int) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """``bench._http_floor`` (``proofbound serve``'s uvicorn, an app that does no work) on a
    free loopback port; (port, process). Stopped like the server."""
    port = free_port()
    command = [sys.executable, "-m", "bench._http_floor", str(port), str(token_chars)]
    with serving(
        "the HTTP floor",
        command,
        f"http://127.0.0.1:{port}",
        start_timeout=START_TIMEOUT,
        stop_timeout=STOP_TIMEOUT,
    ) as process:
        yield port, process


# --- the load process ---------------------------------------------------------------------------


class Load:
    """The load generator process, driven over a pipe."""

    def __init__(
        self, base: str, registration_token: str, concurrency: int, client: str, server_pid: int
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_as_load.serve,
            args=(child, base, registration_token, concurrency, client, server_pid),
            name="bench-as-load",
        )
        self._process.start()
        child.close()
        self.info: dict[str, Any] = self._receive()

    def _receive(self) -> dict[str, Any]:
        if not self._conn.poll(_as_load.RUN_TIMEOUT + 60):
            raise RuntimeError("the load process did not answer")
        try:
            message: dict[str, Any] = self._conn.recv()
        except EOFError:
            raise RuntimeError(f"the load process exited ({self._process.exitcode})") from None
        if "error" in message:
            raise RuntimeError(f"load process: {message['error']}")
        return message

    def run(self, n: int) -> dict[str, Any]:
        self._conn.send(("run", n))
        return self._receive()

    def floor(self, n: int, port: int, pid: int) -> dict[str, Any]:
        """The same kind of run against the HTTP floor server on ``port`` (process ``pid``)."""
        self._conn.send(("floor", (n, port, pid)))
        return self._receive()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.send(("stop", 0))
        self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()


# --- the floor ----------------------------------------------------------------------------------


def _der_parts(jws: str) -> tuple[bytes, bytes]:
    """(signing input, DER signature) of an ES256 compact JWS."""
    signing_input, _, signature_b64 = jws.rpartition(".")
    raw = base64.urlsafe_b64decode(signature_b64 + "=" * (-len(signature_b64) % 4))
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    return signing_input.encode("ascii"), der


def floor_batch(info: dict[str, Any], n: int) -> Callable[[], None]:
    """N times: verify an assertion, verify a proof, sign an access token (raw ``cryptography``).

    The assertions and proofs have the benchmark's shape (same client_id, endpoint and nonce);
    the signed input is the header.payload of a token this server issued, so it has the real
    size. Keys are built and signatures converted to DER before timing.
    """
    assertion_key = generate_key("ES256")
    dpop_key = generate_key("ES256")
    now = int(time.time())
    items = []
    for _ in range(n):
        assertion, proof = _as_load.token_jwts(
            assertion_key,
            dpop_key,
            client_id=info["client_id"],
            endpoint=info["token_endpoint"],
            nonce=info["nonce"],
            now=now,
        )
        items.append((*_der_parts(assertion), *_der_parts(proof)))
    assertion_pub = assertion_key.public_key.key
    dpop_pub = dpop_key.public_key.key
    assert isinstance(assertion_pub, ec.EllipticCurvePublicKey)
    assert isinstance(dpop_pub, ec.EllipticCurvePublicKey)
    signer = ec.generate_private_key(ec.SECP256R1())
    token_input = info["access_token"].rpartition(".")[0].encode("ascii")
    ecdsa = ec.ECDSA(hashes.SHA256())

    def run() -> None:
        for a_data, a_sig, p_data, p_sig in items:
            assertion_pub.verify(a_sig, a_data, ecdsa)
            dpop_pub.verify(p_sig, p_data, ecdsa)
            signer.sign(token_input, ecdsa)

    return run


def time_floor(run: Callable[[], None], n: int) -> float:
    """Microseconds per token of one floor batch (GC off, like bench.harness)."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        run()
        elapsed = time.perf_counter_ns() - start
    finally:
        gc.enable()
    return elapsed / n / 1000


# --- the profile (optional) ---------------------------------------------------------------------


class Profiler:
    """``py-spy record`` on the server pid (and its children) for the timed runs; raw stacks.

    On-CPU samples of every thread (a thread blocked on a lock, a queue or the network is not
    sampled), so the shares are where the server's CPU time goes. ``native`` adds the C frames
    (OpenSSL, SQLite, mypyc-compiled proofbound code).
    """

    def __init__(self, pid: int, output: Path, *, native: bool = False) -> None:
        spy = Path(sys.executable).with_name("py-spy")
        command = str(spy) if spy.exists() else shutil.which("py-spy")
        if command is None:
            raise RuntimeError("--profile needs py-spy (.venv/bin/python -m pip install py-spy)")
        self.output = output
        self._process = subprocess.Popen(  # noqa: S603
            [
                command,
                "record",
                "-p",
                str(pid),
                "-s",
                "--nolineno",
                *(["--native"] if native else []),
                "-r",
                "200",
                "-f",
                "raw",
                "-o",
                str(output),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(0.5)  # attached before the first timed run
        if self._process.poll() is not None:
            assert self._process.stderr is not None
            raise RuntimeError(f"py-spy failed: {self._process.stderr.read().decode()[-500:]}")

    def stop(self) -> None:
        self._process.send_signal(signal.SIGINT)
        try:
            self._process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.communicate()


#: Leaf frames that are a thread waiting, not working: (prefix, what it waits for).
_WAITS: Final = (
    ("Condition.wait (threading.py", "worker threads waiting for work"),
    ("Queue.get (queue.py", "worker threads waiting for work"),
    ("Store._write (proofbound/storage/store.py", "waiting for the store's write lock"),
    ("EpollSelector.select (selectors.py", "event loop polling"),
    ("select (selectors.py", "event loop polling"),
)


def _waiting(frame: str) -> str | None:
    for prefix, label in _WAITS:
        if frame.startswith(prefix):
            return label
    return None


def profile_summary(path: Path, top: int = 20) -> list[str]:
    """The heaviest frames of a raw py-spy profile, self and inclusive, in % of the samples
    of threads that were working (py-spy also samples threads blocked on a lock)."""
    total = working = in_workers = 0
    waits: dict[str, int] = {}
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    by_kind: dict[bool, dict[str, int]] = {True: {}, False: {}}  # worker thread or not
    for line in path.read_text(encoding="utf-8").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        python_frames = [f for f in frames if f.endswith(".py)")]  # --native adds C frames
        wait = _waiting(python_frames[-1]) if python_frames else None
        if wait is not None:
            waits[wait] = waits.get(wait, 0) + count
            continue
        working += count
        worker = any(f.startswith("WorkerThread.run") for f in frames)
        in_workers += count if worker else 0
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
            by_kind[worker][frame] = by_kind[worker].get(frame, 0) + count
    if not working:
        return ["profile: no samples of working threads"]
    lines = [f"profile: {total} samples, {working} of threads working ({working / total:.0%});"]
    lines.extend(
        f"  not counted: {count / total:.0%} {label}"
        for label, count in sorted(waits.items(), key=lambda item: -item[1])
    )
    lines.append(
        f"  of the working samples: worker threads (token handler) {in_workers / working:.0%},"
        f" event-loop thread (uvicorn, Starlette) {(working - in_workers) / working:.0%}"
    )
    # Frames on (nearly) every stack of their thread (the event loop's, a worker's) say nothing.
    spine = {
        frame
        for worker, table in by_kind.items()
        for frame, count in table.items()
        if count >= 0.98 * (in_workers if worker else working - in_workers)
    }
    for title, table in (("self", own), ("inclusive", inclusive)):
        lines.append(f"  top {title} (% of working samples):")
        ranked = sorted(
            ((f, c) for f, c in table.items() if title == "self" or f not in spine),
            key=lambda item: -item[1],
        )
        lines.extend(f"    {count / working:6.1%}  {frame}" for frame, count in ranked[:top])
    return lines


# --- the benchmark ------------------------------------------------------------------------------


class RequestsFailed(Exception):
    """A run had responses other than 200 DPoP: the run, and the benchmark, are invalid."""


def _load_run(load: Load, n: int, label: str) -> dict[str, Any]:
    result = load.run(n)
    if result["failed"]:
        for line in result["failures"]:
            log(f"  {line}")
        raise RequestsFailed(f"{label}: {result['failed']} of {n} token requests failed")
    result["us"] = float(result["elapsed_ns"]) / n / 1000
    return result


def _http_floor_run(load: Load, n: int, http: tuple[int, int]) -> float:
    port, pid = http
    result = load.floor(n, port, pid)
    if result["failed"]:
        raise RequestsFailed(f"HTTP floor: {result['failed']} of {n} requests failed")
    return float(result["elapsed_ns"]) / n / 1000


def measure(
    load: Load,
    n: int,
    runs: int,
    http: tuple[int, int],
    on_warm: Callable[[], None] = lambda: None,
) -> tuple[list[dict[str, Any]], list[float], list[float]]:
    """(load run results, crypto floor µs, HTTP floor µs) per run, interleaved, the order
    rotating; ``http`` is the HTTP floor server's (port, pid)."""
    floor_run = floor_batch(load.info, n)
    _load_run(load, n, "warm-up")
    time_floor(floor_run, n)
    _http_floor_run(load, n, http)
    on_warm()
    server: list[dict[str, Any]] = []
    floor: list[float] = []
    http_floor: list[float] = []
    steps: list[Callable[[int], None]] = [
        lambda k: server.append(_load_run(load, n, f"run {k + 1}")),
        lambda k: floor.append(time_floor(floor_run, n)),
        lambda k: http_floor.append(_http_floor_run(load, n, http)),
    ]
    for k in range(runs):
        for step in steps[k % 3 :] + steps[: k % 3]:
            step(k)
        us, cpu = server[-1]["us"], server[-1]["server_cpu"]
        log(
            f"  run {k + 1}/{runs}: {1e6 / us:6.0f} tokens/s, {us:7.1f} µs/token,"
            f" floor {floor[-1]:6.1f} µs, x{us / floor[-1]:.2f}; HTTP floor"
            f" {http_floor[-1]:6.1f} µs, x{us / (floor[-1] + http_floor[-1]):.2f} of both;"
            f" CPU: server {'?' if cpu is None else f'{cpu:.2f}'},"
            f" load {server[-1]['load_cpu']:.2f}"
        )
    return server, floor, http_floor


def _median_or_none(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 2) if known else None


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    assert __doc__ is not None
    parser = argparse.ArgumentParser(
        prog="python -m bench.as_tokens", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="timed runs (>= 5)")
    parser.add_argument("-n", type=int, default=DEFAULT_N, help="token requests per run")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help="keep-alive connections the load process keeps busy",
    )
    parser.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="load client: pre-built HTTP/1.1 on asyncio streams (default) or httpx.AsyncClient",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 5 runs of 150 tokens")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="py-spy the server during the timed runs: raw stacks to FILE, a summary on stderr"
        " (the timings of such a run are perturbed by the sampling)",
    )
    parser.add_argument(
        "--profile-native",
        action="store_true",
        help="with --profile: C frames too (OpenSSL, SQLite, compiled proofbound)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.n = MIN_RUNS, 150
    if args.runs < MIN_RUNS:
        parser.error(f"--runs must be at least {MIN_RUNS}")
    if args.n < 10 or args.concurrency < 1:
        parser.error("-n must be at least 10 and --concurrency at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Start the server and the load process, time, print the JSON line; see the module doc."""
    args = parse_args(argv)
    started = time.perf_counter()
    log(
        f"proofbound bench-as: Python {platform.python_version()}, cryptography "
        f"{version('cryptography')}, {os.cpu_count()} CPUs, {args.runs} interleaved runs of"
        f" {args.n} tokens, {args.concurrency} connections ({args.client} client)"
    )
    registration_token = secrets.token_urlsafe(24)  # 32 characters
    try:
        with running_server(registration_token) as (base, process):
            log(f"server pid {process.pid} at {base}")
            load = Load(base, registration_token, args.concurrency, args.client, process.pid)
            profiler: list[Profiler] = []

            def on_warm() -> None:  # the profile covers the timed runs only
                if args.profile:
                    profiler.append(Profiler(process.pid, args.profile, native=args.profile_native))

            try:
                log(f"client {load.info['client_id']} registered; DPoP nonce obtained")
                with running_http_floor(len(load.info["access_token"])) as (port, floor_proc):
                    results, floor_us, http_us = measure(
                        load, args.n, args.runs, (port, floor_proc.pid), on_warm
                    )
            finally:
                for spy in profiler:
                    spy.stop()
                load.close()
    except (RequestsFailed, RuntimeError) as exc:
        log(f"FAILED: {exc}")
        return 1
    server_us = [r["us"] for r in results]
    us = statistics.median(server_us)
    ratio = statistics.median(a / b for a, b in zip(server_us, floor_us, strict=True))
    both = statistics.median(
        a / (b + c) for a, b, c in zip(server_us, floor_us, http_us, strict=True)
    )
    row = {
        "case": CASE,
        "tokens_per_s": round(statistics.median(1e6 / t for t in server_us), 1),
        "us_per_token": round(us, 1),
        "floor_us": round(statistics.median(floor_us), 1),
        "ratio_to_floor": round(ratio, 3),
        "http_floor_us": round(statistics.median(http_us), 1),
        "ratio_to_crypto_and_http_floors": round(both, 3),
        "runs": args.runs,
        "n": args.n,
        "concurrency": args.concurrency,
        "client": args.client,
        "server_cpu": _median_or_none([r["server_cpu"] for r in results]),
        "load_cpu": _median_or_none([r["load_cpu"] for r in results]),
        "build": _build(),
    }
    print(json.dumps(row), flush=True)
    log("(medians over runs; the ratio is the median of per-run ratios)")
    if args.profile:
        log(f"(profiled: the timings above include py-spy's sampling; stacks in {args.profile})")
        for line in profile_summary(args.profile):
            log(line)
    met = ratio <= TARGET
    log(f"  [{'met' if met else 'MISSED'}] {CASE}: ratio_to_floor {ratio:.3f} <= {TARGET}")
    log(f"{time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
