"""``make bench-guard``: the resource-server guard, in this process and behind HTTP.

Two cases (see bench/README.md):

* ``guard-cached-ES256``: ``Guard.authorize(ctx)`` per request on the cached-token path (one
  DPoP-bound token, a fresh pre-minted proof per request, ``MemoryReplayCache``), against its
  crypto floor (one raw ES256 verify) and against the bare verifier path of ``make bench``
  (``DPoPVerifier.verify_with_token`` + ``record_proof``), interleaved run by run.
* ``http-whoami``: requests/s of ``GET /whoami`` (guarded) and ``GET /healthz`` (not) on one
  ``proofbound example-api`` worker, over one keep-alive connection, with a DPoP-bound token from
  a real ``proofbound serve`` and proofs minted before timing; runs alternate between the paths.

stdout: one JSON object per case. stderr: progress, the targets marked met or MISSED, the servers'
own output. Exit code 0 either way (a measurement), 1 if a sanity check or a request failed or a
server would not start.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any, Final

from bench import _as_load
from bench._procs import CommandMissing, free_port, proofbound_cli, serving
from bench.contenders import ResourceServer, ours_batch
from bench.floor import floor_batch
from bench.harness import Batch, Contender, measure, median_ratio
from bench.scenario import AUDIENCE, ISSUER, METHOD, URI, Scenario, build_scenario
from proofbound import AccessTokenPolicy, FrozenClock, MemoryReplayCache, create_proof
from proofbound.errors import InvalidDPoPProof, InvalidToken, ProofboundError, Reason
from proofbound.jwk import generate_key
from proofbound.resource.context import RequestContext
from proofbound.resource.guard import Guard
from proofbound.resource.issuers import IssuerKeys

__all__ = ["main"]

GUARD_CASE: Final = "guard-cached-ES256"
HTTP_CASE: Final = "http-whoami"
GUARD_N: Final = 1500
GUARD_RUNS: Final = 15
HTTP_N: Final = 1000
HTTP_RUNS: Final = 9
MIN_RUNS: Final = 5
GUARD_TARGET: Final = 1.4  # Guard.authorize / one raw ES256 verify
START_TIMEOUT: Final = 20.0
STOP_TIMEOUT: Final = 10.0
HTTP_TIMEOUT: Final = 30.0  # seconds for any one socket operation: a stuck server fails the run


def log(message: str) -> None:
    """Progress text: stderr only, stdout is for the JSON lines."""
    print(message, file=sys.stderr, flush=True)


def _build() -> str:
    import proofbound.dpop.verify

    return "python" if (proofbound.dpop.verify.__file__ or "").endswith(".py") else "mypyc"


BUILD: Final = _build()


class BenchFailure(Exception):
    """A sanity check or a request failed: the figures would not mean anything."""


# --- (a) Guard.authorize in process -------------------------------------------------------------


def _context(token: str, proof: str) -> RequestContext:
    """The request as an adapter hands it to the guard (built before timing)."""
    return RequestContext(
        method=METHOD,
        url=URI,
        headers={"authorization": (f"DPoP {token}",), "dpop": (proof,)},
    )


def _issuer_keys(scenario: Scenario) -> IssuerKeys:
    """The issuer's keys as a fixed JWKS (no fetching), default policy otherwise."""
    return IssuerKeys(
        AccessTokenPolicy(issuer=ISSUER, audiences=(AUDIENCE,)),
        jwks={"keys": [scenario.issuer_key.public_jwk()]},
    )


def _new_guard(keys: IssuerKeys, scenario: Scenario, size: int) -> tuple[Guard, MemoryReplayCache]:
    clock = FrozenClock(scenario.now)
    cache = MemoryReplayCache(max_entries=size + 64, clock=clock)
    return Guard([keys], replay=cache, clock=clock), cache


def check_guard(scenario: Scenario) -> None:
    """Before timing: the guard accepts the benchmark request and refuses a replay, another key's
    proof and the token under ``Bearer``."""
    guard, _ = _new_guard(_issuer_keys(scenario), scenario, 8)
    ctx = _context(scenario.token, scenario.proof())
    principal = guard.authorize(ctx)
    if principal.binding != "dpop" or principal.thumbprint != scenario.client_key.thumbprint:
        raise BenchFailure(f"the guard accepted the request as {principal!r}")
    refusals = (
        ("a replayed proof", ctx, InvalidDPoPProof, Reason.PROOF_REPLAYED),
        (
            "another key's proof",
            _context(scenario.token, scenario.proof(key=generate_key(scenario.alg))),
            InvalidDPoPProof,
            Reason.JKT_MISMATCH,
        ),
        (
            "the token under Bearer",
            RequestContext(METHOD, URI, {"authorization": (f"Bearer {scenario.token}",)}),
            InvalidToken,
            Reason.TOKEN_SCHEME,
        ),
    )
    for what, request, exc_type, reason in refusals:
        try:
            guard.authorize(request)
        except ProofboundError as exc:
            if type(exc) is not exc_type or exc.reason is not reason:
                raise BenchFailure(f"{what}: refused for {exc!r}, expected {reason}") from None
        else:
            raise BenchFailure(f"{what}: accepted")


def guard_batch(scenario: Scenario, keys: IssuerKeys) -> Any:
    """Batch factory: every proof once through a fresh guard (fresh replay cache) whose token
    cache (shared ``keys``) and proof-header cache are warm."""
    contexts = tuple(_context(scenario.token, proof) for proof in scenario.proofs)

    def make() -> Batch:
        guard, cache = _new_guard(keys, scenario, len(contexts) + 1)
        guard.authorize(_context(scenario.token, scenario.proof()))  # warm, untimed
        authorize = guard.authorize

        def run() -> None:
            for ctx in contexts:
                authorize(ctx)

        def check() -> None:
            if len(cache) != len(contexts) + 1:
                raise BenchFailure("not every proof was recorded")

        return Batch(run, check)

    return make


@dataclass(frozen=True, slots=True)
class GuardRow:
    us_per_op: float
    floor_us: float
    verifier_us: float
    ratio_to_floor: float
    ratio_to_verifier: float
    runs: int
    n: int

    def as_json(self) -> dict[str, Any]:
        return {
            "case": GUARD_CASE,
            "us_per_op": round(self.us_per_op, 1),
            "floor_us": round(self.floor_us, 1),
            "ratio_to_floor": round(self.ratio_to_floor, 3),
            "verifier_us": round(self.verifier_us, 1),
            "ratio_to_verifier": round(self.ratio_to_verifier, 3),
            "alg": "ES256",
            "runs": self.runs,
            "n": self.n,
            "build": BUILD,
        }


def bench_guard(runs: int, n: int) -> GuardRow:
    log(f"{GUARD_CASE}: generating a token and {n} proofs")
    scenario = build_scenario("ES256", n)
    check_guard(scenario)
    log(f"{GUARD_CASE}: sanity checks passed (accepts; refuses replay, other key, Bearer)")
    keys = _issuer_keys(scenario)
    keys.verifier().verify(scenario.token, now=scenario.now)  # the token cached before timing
    verifier = ResourceServer(scenario, token_cache=True)
    verifier.tokens.verify(scenario.token, now=scenario.now)
    contenders = (
        Contender("guard", guard_batch(scenario, keys)),
        Contender("floor", floor_batch(scenario, with_token=False)),
        Contender("verifier", ours_batch(scenario, verifier)),
    )
    log(f"{GUARD_CASE}: timing ({runs} interleaved runs x {n} requests)")
    times = measure(contenders, runs=runs, n=n)
    return GuardRow(
        us_per_op=statistics.median(times["guard"]),
        floor_us=statistics.median(times["floor"]),
        verifier_us=statistics.median(times["verifier"]),
        ratio_to_floor=median_ratio(times["guard"], times["floor"]),
        ratio_to_verifier=median_ratio(times["guard"], times["verifier"]),
        runs=runs,
        n=n,
    )


# --- (b) /whoami vs /healthz over HTTP ----------------------------------------------------------


@contextlib.contextmanager
def running(name: str, args: Sequence[str], base: str) -> Iterator[subprocess.Popen[bytes]]:
    """``proofbound ARGS`` until ``base/healthz`` answers 200; SIGTERM (then SIGKILL of that pid
    only) on exit. Its output goes to our stderr; no PROOFBOUND_* variable of ours reaches it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROOFBOUND_")}
    with serving(
        name,
        [proofbound_cli(), *args],
        base,
        start_timeout=START_TIMEOUT,
        stop_timeout=STOP_TIMEOUT,
        error=BenchFailure,
        env=env,
    ) as process:
        yield process


class Connection:
    """One keep-alive HTTP/1.1 connection; requests are pre-built bytes, responses are framed by
    ``Content-Length`` only (what uvicorn sends for these JSON answers)."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=HTTP_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def exchange(self, request: bytes) -> tuple[bytes, bytes]:
        """Send one request, read its response: (head, body)."""
        sock = self.sock
        sock.sendall(request)
        buffer = self.buffer
        end = buffer.find(b"\r\n\r\n")
        while end < 0:
            chunk = sock.recv(65536)
            if not chunk:
                raise BenchFailure("the server closed the connection")
            buffer += chunk
            end = buffer.find(b"\r\n\r\n")
        head = buffer[:end]
        at = head.lower().find(b"\r\ncontent-length:")
        if at < 0:
            raise BenchFailure(f"a response without Content-Length: {head[:200]!r}")
        stop = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : stop if stop >= 0 else len(head)])
        body_end = end + 4 + length
        while len(buffer) < body_end:
            chunk = sock.recv(65536)
            if not chunk:
                raise BenchFailure("the server closed the connection")
            buffer += chunk
        self.buffer = buffer[body_end:]
        return head, buffer[end + 4 : body_end]

    def close(self) -> None:
        self.sock.close()


def _request(host: str, path: str, token: str, proof: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n"
        f"Authorization: DPoP {token}\r\nDPoP: {proof}\r\n\r\n"
    ).encode("ascii")


def _status(head: bytes) -> int:
    return int(head.split(b" ", 2)[1])


@dataclass(frozen=True, slots=True)
class HttpRun:
    rps: float
    us_per_request: float
    server_cpu: float | None


class HttpBench:
    """The AS, the example API and a registered DPoP client, for alternating timed runs."""

    def __init__(self, api_base: str, api_pid: int, client: _as_load.Client) -> None:
        self.api_base = api_base
        self.api_pid = api_pid
        self.client = client
        self.host = api_base.removeprefix("http://")
        hostname, _, port = self.host.rpartition(":")
        self.address = (hostname, int(port))
        self.thumbprint = client.dpop_key.thumbprint

    def prepare(self, path: str, n: int) -> list[bytes]:
        """N requests for ``path`` with a fresh token and N fresh proofs (untimed)."""
        token = self.client.refresh()
        now = int(time.time())
        htu = f"{self.api_base}{path}"
        key = self.client.dpop_key
        return [
            _request(
                self.host,
                path,
                token,
                create_proof(key, htm="GET", htu=htu, now=now, access_token=token),
            )
            for _ in range(n)
        ]

    def run(self, path: str, n: int) -> HttpRun:
        """One timed run of N requests on one connection (opened and used once beforehand)."""
        warm, *requests = self.prepare(path, n + 1)
        conn = Connection(*self.address)
        try:
            conn.exchange(warm)
            responses: list[tuple[bytes, bytes]] = []
            append, exchange = responses.append, conn.exchange
            cpu = _as_load.CpuWindow(self.api_pid)
            gc.collect()
            gc.disable()
            try:
                started = cpu.start()
                for request in requests:
                    append(exchange(request))
                elapsed = cpu.stop(started)
            finally:
                gc.enable()
        finally:
            conn.close()
        self.check(path, responses)
        seconds = elapsed / 1e9
        return HttpRun(n / seconds, seconds / n * 1e6, cpu.server_share)

    def check(self, path: str, responses: Sequence[tuple[bytes, bytes]]) -> None:
        """Every response 200; every /whoami one names the DPoP key (after the clock stopped)."""
        for index, (head, body) in enumerate(responses):
            status = _status(head)
            ok = status == 200
            if ok and path == "/whoami":
                try:
                    answer = json.loads(body)
                except ValueError:
                    ok = False
                else:
                    ok = answer.get("binding") == "dpop" and answer.get("cnf") == {
                        "jkt": self.thumbprint
                    }
            if not ok:
                shown = head.decode("latin-1").split("\r\n")
                challenge = [h for h in shown if h.lower().startswith("www-authenticate")]
                raise BenchFailure(
                    f"{path} request #{index}: HTTP {status} {challenge} {body[:300]!r}"
                )


@dataclass(frozen=True, slots=True)
class HttpRow:
    whoami: list[HttpRun]
    healthz: list[HttpRun]
    n: int

    def as_json(self) -> dict[str, Any]:
        ratio = statistics.median(
            w.rps / h.rps for w, h in zip(self.whoami, self.healthz, strict=True)
        )
        extra = statistics.median(
            w.us_per_request - h.us_per_request
            for w, h in zip(self.whoami, self.healthz, strict=True)
        )

        def cpu(runs: Sequence[HttpRun]) -> float | None:
            shares = [r.server_cpu for r in runs if r.server_cpu is not None]
            return round(statistics.median(shares), 2) if shares else None

        return {
            "case": HTTP_CASE,
            "whoami_rps": round(statistics.median(r.rps for r in self.whoami), 1),
            "healthz_rps": round(statistics.median(r.rps for r in self.healthz), 1),
            "ratio": round(ratio, 3),
            "whoami_us": round(statistics.median(r.us_per_request for r in self.whoami), 1),
            "healthz_us": round(statistics.median(r.us_per_request for r in self.healthz), 1),
            "guard_us": round(extra, 1),
            "server_cpu_whoami": cpu(self.whoami),
            "server_cpu_healthz": cpu(self.healthz),
            "runs": len(self.whoami),
            "n": self.n,
            "connections": 1,
            "workers": 1,
            "build": BUILD,
        }


def bench_http(runs: int, n: int) -> HttpRow:
    registration_token = secrets.token_urlsafe(32)
    as_port, api_port = free_port(), free_port()
    as_base, api_base = f"http://127.0.0.1:{as_port}", f"http://127.0.0.1:{api_port}"
    data_dir = tempfile.mkdtemp(prefix="proofbound-bench-guard-")
    serve = [
        "serve",
        "--issuer",
        as_base,
        "--host",
        "127.0.0.1",
        "--port",
        str(as_port),
        "--data-dir",
        data_dir,
        "--registration-token",
        registration_token,
        "--resource",
        api_base,
        "--log-level",
        "warning",
    ]
    api = [
        "example-api",
        "--issuer",
        as_base,
        "--audience",
        api_base,
        "--host",
        "127.0.0.1",
        "--port",
        str(api_port),
        "--require",
        "dpop",
        "--log-level",
        "warning",
    ]
    try:
        with (
            running("proofbound serve", serve, as_base),
            running("proofbound example-api", api, api_base) as api_process,
        ):
            client = _as_load.Client(as_base, registration_token)
            bench = HttpBench(api_base, api_process.pid, client)
            log(f"{HTTP_CASE}: AS {as_base}, API {api_base} (one worker); warm-up")
            bench.run("/whoami", n)
            bench.run("/healthz", n)
            whoami: list[HttpRun] = []
            healthz: list[HttpRun] = []
            for k in range(runs):
                order = ("/whoami", "/healthz") if k % 2 == 0 else ("/healthz", "/whoami")
                for path in order:
                    (whoami if path == "/whoami" else healthz).append(bench.run(path, n))
                log(
                    f"  run {k + 1}/{runs}: /whoami {whoami[-1].rps:7.1f} req/s, "
                    f"/healthz {healthz[-1].rps:7.1f} req/s"
                )
            client.http.close()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return HttpRow(whoami, healthz, n)


# --- main ---------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.guard", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--case", choices=("guard", "http"), action="append", help="only this")
    parser.add_argument("--runs", type=int, default=GUARD_RUNS, help="runs of the guard case")
    parser.add_argument("--http-runs", type=int, default=HTTP_RUNS, help="runs of the HTTP case")
    parser.add_argument("-n", type=int, default=GUARD_N, help="requests per guard run")
    parser.add_argument("--http-n", type=int, default=HTTP_N, help="requests per HTTP run")
    parser.add_argument("--quick", action="store_true", help="smoke run: 5 runs, a tenth of n")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs = args.http_runs = MIN_RUNS
        args.n, args.http_n = max(10, args.n // 10), max(10, args.http_n // 10)
    if min(args.runs, args.http_runs) < MIN_RUNS:
        parser.error(f"--runs and --http-runs must be at least {MIN_RUNS}")
    if min(args.n, args.http_n) < 10:
        parser.error("-n and --http-n must be at least 10")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    cases = args.case or ["guard", "http"]
    started = time.perf_counter()
    log(
        f"proofbound bench-guard: Python {platform.python_version()}, cryptography "
        f"{version('cryptography')}, {os.cpu_count()} CPUs, build {BUILD}"
    )
    checks: list[tuple[str, bool]] = []
    try:
        if "guard" in cases:
            row = bench_guard(args.runs, args.n)
            print(json.dumps(row.as_json()), flush=True)
            log(
                f"{GUARD_CASE}: {row.us_per_op:.1f} µs per request, floor {row.floor_us:.1f} µs,"
                f" verifier path {row.verifier_us:.1f} µs"
            )
            checks.append(
                (
                    f"{GUARD_CASE}: ratio_to_floor {row.ratio_to_floor:.3f} <= {GUARD_TARGET}",
                    row.ratio_to_floor <= GUARD_TARGET,
                )
            )
        if "http" in cases:
            http = bench_http(args.http_runs, args.http_n).as_json()
            print(json.dumps(http), flush=True)
            log(
                f"{HTTP_CASE}: /whoami {http['whoami_rps']} req/s, /healthz {http['healthz_rps']}"
                f" req/s, ratio {http['ratio']}, guard +{http['guard_us']} µs per request"
            )
    except (BenchFailure, CommandMissing) as exc:
        log(f"FAILED: {exc}")
        return 1
    for text, met in checks:
        log(f"  [{'met' if met else 'MISSED'}] {text}")
    log(f"{time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
