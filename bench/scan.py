"""bench-scan: MB/s of `proofbound scan` over a 200 MB log, with `grep -c` for comparison.

Generates, in a temporary directory, a plain-text log of realistic lines (nginx access lines and
application lines, about one token per 10 KB, half JWTs and half other token shapes), scans it
with ``proofbound.leaks.scan_paths`` (in process; the file is in the page cache after the first
run) and times ``grep -c`` of a JWT pattern on the same file in the same run. Prints one JSON
line on stdout; progress and the target (>= 50 MB/s) on stderr. Also prints, for information, one
line with the cost of the redacting logging filter per record.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import platform
import random  # noqa: TID251 -- a seeded, reproducible corpus; nothing here is secret
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

CASE: Final = "scan-200MB"
TARGET_MB_PER_S: Final = 50.0
DEFAULT_SIZE_MB: Final = 200
DEFAULT_RUNS: Final = 3
MIN_RUNS: Final = 3
TOKEN_EVERY: Final = 10_000  # bytes, on average
NOW: Final = 1_760_000_000
ISSUER: Final = "https://as.example.com"
GREP_JWT: Final = r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"
SEED: Final = 20_240_601


def log(message: str) -> None:
    """Progress text: stderr only, stdout is for the JSON lines."""
    print(message, file=sys.stderr, flush=True)


def _build() -> str:
    import proofbound.dpop.verify

    return "python" if (proofbound.dpop.verify.__file__ or "").endswith(".py") else "mypyc"


# --- the corpus ---------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class Corpus:
    """What was planted: distinct tokens by shape."""

    path: Path
    size: int = 0
    jwts: int = 0
    others: int = 0
    live_bearer: int = 0
    shapes: dict[str, int] = field(default_factory=dict)


_PATHS: Final = (
    "/api/v1/orders",
    "/api/v1/orders/{n}",
    "/api/v1/users/{n}/profile",
    "/static/js/app.{h}.js",
    "/static/css/main.{h}.css",
    "/healthz",
    "/metrics",
    "/img/logo.png",
    "/search?q=shoes&page={n}",
    "/api/v2/items?limit=50&offset={n}",
)
_AGENTS: Final = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "curl/8.5.0",
    "python-httpx/0.27.0",
    "Go-http-client/1.1",
    "kube-probe/1.29",
)
_APP_LINES: Final = (
    "{ts} INFO  orders.service order={n} user_id=u-{m} status=shipped total=42.50 currency=EUR "
    "took={f}ms request_id={u}",
    "{ts} DEBUG db.pool checkout conn={m} pool=primary size=20 idle=13 wait={f}ms",
    "{ts} WARN  payments.client retrying POST https://psp.example/v1/charges attempt=2 "
    "reason=timeout request_id={u}",
    "{ts} INFO  http.access method=GET path=/api/v1/users/{m} status=200 bytes={n} "
    "duration_ms={f} version=2.14.{m} trace_id={h}{h}",
    '{ts} ERROR worker.jobs job={u} failed: ValueError("invalid literal for int() with base 10: '
    "'abc'\") retries=3",
    "{ts} INFO  cache.redis hit ratio=0.{m} keys={n} evicted=0 build=1.2.{m}",
    '{ts} INFO  app {{"event": "login", "user": "u-{m}", "ip": "10.2.{m}.7", "mfa": true, '
    '"session": "{u}"}}',
)


class _Lines:
    """A seeded generator of log lines and of planted token lines."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def _fill(self, template: str) -> str:
        rng = self.rng
        return template.format(
            ts=f"2025-10-09T13:{rng.randrange(60):02d}:{rng.randrange(60):02d}."
            f"{rng.randrange(1000):03d}Z",
            n=rng.randrange(1, 10**6),
            m=rng.randrange(1000),
            f=f"{rng.random() * 900:.1f}",
            h=f"{rng.getrandbits(32):08x}",
            u=f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-4{rng.getrandbits(12):03x}-"
            f"a{rng.getrandbits(12):03x}-{rng.getrandbits(48):012x}",
        )

    def nginx(self, target: str | None = None) -> str:
        rng = self.rng
        path = target or self._fill(rng.choice(_PATHS))
        return (
            f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)} - - "
            f"[09/Oct/2025:13:{rng.randrange(60):02d}:{rng.randrange(60):02d} +0000] "
            f'"{rng.choice(("GET", "GET", "GET", "POST"))} {path} HTTP/1.1" '
            f"{rng.choice((200, 200, 200, 304, 404, 302))} {rng.randrange(100, 90000)} "
            f'"https://shop.example.com/" "{rng.choice(_AGENTS)}"'
        )

    def app(self) -> str:
        return self._fill(self.rng.choice(_APP_LINES))

    def jwt(self) -> tuple[str, str, bool]:
        """(token, shape, live bearer)"""
        rng = self.rng
        binding = rng.choice(("bearer", "bearer", "dpop", "mtls"))
        exp = NOW + rng.choice((300, 3600, -300, -86400))
        claims: dict[str, object] = {
            "iss": ISSUER,
            "sub": f"svc-{rng.randrange(100)}",
            "aud": "https://api.example.com",
            "client_id": f"svc-{rng.randrange(100)}",
            "exp": exp,
            "iat": exp - 300,
            "jti": _b64(rng.randbytes(18)),
            "scope": "orders:read orders:write",
        }
        if binding == "dpop":
            claims["cnf"] = {"jkt": _b64(rng.randbytes(32))}
        elif binding == "mtls":
            claims["cnf"] = {"x5t#S256": _b64(rng.randbytes(32))}
        header = {"typ": "at+jwt", "alg": "ES256", "kid": _b64(rng.randbytes(32))}
        token = ".".join(
            (
                _b64(json.dumps(header, separators=(",", ":")).encode()),
                _b64(json.dumps(claims, separators=(",", ":")).encode()),
                _b64(rng.randbytes(64)),
            )
        )
        return token, f"jwt-{binding}", binding == "bearer" and exp > NOW

    def opaque(self) -> str:
        rng = self.rng
        kind = rng.randrange(3)
        if kind == 0:
            return _b64(rng.randbytes(32))  # token_urlsafe(32)
        if kind == 1:
            return rng.randbytes(20).hex()
        return f"{_b64(rng.randbytes(9))}.{_b64(rng.randbytes(24))}"  # prefix.secret

    def token_line(self, token: str, jwt: bool) -> tuple[str, str]:
        """A line holding ``token``, and the shape of where it is."""
        rng = self.rng
        where = rng.randrange(5)
        if where == 0:
            line = self.nginx(f"/oauth/callback?access_token={token}&state={rng.getrandbits(40):x}")
            return line, "query"
        if where == 1:
            return (
                self._fill("{ts} DEBUG http.client request headers={{'host': 'api.example.com', ")
                + f"'authorization': 'Bearer {token}', 'accept': 'application/json'}}",
                "header-dump",
            )
        if where == 2:
            return (
                self._fill("{ts} DEBUG oauth.client token response ")
                + f'{{"access_token": "{token}", "token_type": "Bearer", "expires_in": 3600}}',
                "json",
            )
        if where == 3:
            body = (
                f"grant_type=refresh_token&refresh_token={token}&client_id=svc-{rng.randrange(9)}"
            )
            return self._fill("{ts} DEBUG oauth.client POST /token body=") + body, "form"
        scheme = "DPoP" if jwt and rng.random() < 0.3 else "Bearer"
        return (
            self._fill("{ts} INFO  gateway upstream=orders ")
            + f'Authorization="{scheme} {token}" status=200 took={{f}}ms'.replace(
                "{f}", f"{rng.random() * 90:.1f}"
            ),
            "header",
        )


def generate(directory: Path, size_mb: int, seed: int = SEED) -> Corpus:
    """Write the log: ``size_mb`` MB of lines, a token line about every 10 KB."""
    lines = _Lines(seed)
    rng = lines.rng
    corpus = Corpus(directory / "access-and-app.log")
    target = size_mb * 1_000_000
    # A pool of ordinary lines, sampled from (generating every line would dominate the run).
    pool = [lines.nginx() if i % 5 < 3 else lines.app() for i in range(20_000)]
    with corpus.path.open("w", encoding="ascii", newline="\n") as out:
        written = 0
        while written < target:
            block: list[str] = []
            block_size = 0
            budget = rng.randrange(TOKEN_EVERY // 2, TOKEN_EVERY * 3 // 2)
            while block_size < budget:
                line = rng.choice(pool)
                block.append(line)
                block_size += len(line) + 1
            if rng.random() < 0.5:
                token, shape, live = lines.jwt()
                corpus.jwts += 1
                corpus.live_bearer += live
                line, where = lines.token_line(token, jwt=True)
            else:
                token = lines.opaque()
                shape = "opaque"
                corpus.others += 1
                line, where = lines.token_line(token, jwt=False)
            key = f"{shape}/{where}"
            corpus.shapes[key] = corpus.shapes.get(key, 0) + 1
            block.insert(rng.randrange(len(block) + 1), line)
            text = "\n".join(block) + "\n"
            out.write(text)
            written += len(text)
    corpus.size = corpus.path.stat().st_size
    return corpus


# --- timing -------------------------------------------------------------------------------------


def time_scan(corpus: Corpus) -> tuple[float, dict[str, int]]:
    """Seconds for one in-process scan, and what it found."""
    from proofbound.leaks import scan_paths

    started = time.perf_counter()
    report = scan_paths([corpus.path], now=NOW)
    elapsed = time.perf_counter() - started
    found = {
        "tokens": len(report.tokens),
        "jwts": sum(token.format == "jws" for token in report.tokens),
        "others": sum(token.format != "jws" for token in report.tokens),
        "live_bearer": len(report.live_bearer),
    }
    return elapsed, found


def time_cli(corpus: Corpus) -> float:
    """Seconds for ``proofbound scan FILE --format json`` as a process (start-up included)."""
    executable = Path(sys.executable).with_name("proofbound")
    started = time.perf_counter()
    result = subprocess.run(  # noqa: S603 -- our own CLI, fixed arguments
        [str(executable), "scan", str(corpus.path), "--format", "json", "--now", str(NOW)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode not in (0, 1):
        raise RuntimeError(f"proofbound scan exited {result.returncode}: {result.stderr[-500:]!r}")
    return elapsed


def time_grep(corpus: Corpus) -> tuple[float, int] | None:
    """Seconds for ``grep -c -E <JWT pattern>`` and its count, or None without grep."""
    grep = shutil.which("grep")
    if grep is None:
        return None
    env = {**os.environ, "LC_ALL": "C"}
    started = time.perf_counter()
    result = subprocess.run(  # noqa: S603 -- fixed arguments
        [grep, "-c", "-E", GREP_JWT, str(corpus.path)],
        capture_output=True,
        check=False,
        env=env,
    )
    elapsed = time.perf_counter() - started
    return elapsed, int(result.stdout.strip() or 0)


def redaction_cost() -> dict[str, float]:
    """Microseconds per record spent in the redacting filter, over record creation."""
    from proofbound.redact import RedactingFilter

    redacting = RedactingFilter()
    cases = {
        "plain": (
            "request done method=%s path=%s status=%d took=%.3fs client_id=%s",
            ("GET", "/api/v1/orders/12345?page=2", 200, 0.0123, "svc-orders"),
        ),
        "with_token": (
            '%s - "%s %s HTTP/%s" %d',
            ("10.0.0.7:51234", "GET", "/cb?access_token=2YotnFZFEjr1zCsicMWpAA&x=1", "1.1", 200),
        ),
    }
    result: dict[str, float] = {}
    n = 20_000
    for name, (msg, args) in cases.items():

        def make(msg: str = msg, args: tuple[object, ...] = args) -> logging.LogRecord:
            return logging.LogRecord("app", logging.INFO, __file__, 1, msg, args, None)

        samples = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(n):
                redacting.filter(make())
            total = time.perf_counter() - started
            started = time.perf_counter()
            for _ in range(n):
                make()
            samples.append((total - (time.perf_counter() - started)) / n * 1e6)
        result[name] = round(statistics.median(samples), 2)
    return result


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    assert __doc__ is not None
    parser = argparse.ArgumentParser(
        prog="python -m bench.scan", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--size-mb", type=int, default=DEFAULT_SIZE_MB, help="log size in MB")
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help=f"runs (>= {MIN_RUNS})")
    parser.add_argument("--quick", action="store_true", help="smoke run: a 20 MB log")
    parser.add_argument("--no-cli", action="store_true", help="skip timing the CLI process")
    args = parser.parse_args(argv)
    if args.quick:
        args.size_mb = 20
    if args.runs < MIN_RUNS or args.size_mb < 1:
        parser.error(f"--runs must be at least {MIN_RUNS} and --size-mb at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Generate the log, time the scanner, the CLI and grep; print the JSON lines."""
    args = parse_args(argv)
    log(
        f"proofbound bench-scan: Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"{args.size_mb} MB log, {args.runs} runs"
    )
    with tempfile.TemporaryDirectory(prefix="pb-bench-scan-") as tmp:
        started = time.perf_counter()
        corpus = generate(Path(tmp), args.size_mb)
        mb = corpus.size / 1e6
        log(
            f"generated {mb:.1f} MB in {time.perf_counter() - started:.1f} s: "
            f"{corpus.jwts} JWTs, {corpus.others} other tokens ({corpus.live_bearer} live bearer)"
        )
        scans: list[float] = []
        clis: list[float] = []
        greps: list[float] = []
        found: dict[str, int] = {}
        grep_count: int | None = None
        for run in range(args.runs):
            elapsed, found = time_scan(corpus)
            scans.append(elapsed)
            if not args.no_cli:
                clis.append(time_cli(corpus))
            grepped = time_grep(corpus)
            if grepped is not None:
                greps.append(grepped[0])
                grep_count = grepped[1]
            log(
                f"run {run + 1}: scan {mb / elapsed:.1f} MB/s"
                + (f", CLI {mb / clis[-1]:.1f} MB/s" if clis else "")
                + (f", grep -c {mb / greps[-1]:.1f} MB/s" if greps else "")
            )
    expected = {"jwts": corpus.jwts, "others": corpus.others, "live_bearer": corpus.live_bearer}
    missed = {k: (found.get(k), v) for k, v in expected.items() if found.get(k) != v}
    rate = statistics.median(mb / s for s in scans)
    row = {
        "case": CASE,
        "mb": round(mb, 1),
        "mb_per_s": round(rate, 1),
        "cli_mb_per_s": round(statistics.median(mb / s for s in clis), 1) if clis else None,
        "grep_mb_per_s": round(statistics.median(mb / s for s in greps), 1) if greps else None,
        "grep_count": grep_count,
        "tokens_planted": corpus.jwts + corpus.others,
        "tokens_found": found.get("tokens"),
        "jwts": corpus.jwts,
        "others": corpus.others,
        "live_bearer": found.get("live_bearer"),
        "runs": args.runs,
        "target_mb_per_s": TARGET_MB_PER_S,
        "build": _build(),
    }
    print(json.dumps(row), flush=True)
    print(json.dumps({"case": "redact-record", "us_per_record": redaction_cost()}), flush=True)
    log("(medians over runs; grep -c counts lines with a JWT-shaped string, for information)")
    verdict = "met" if rate >= TARGET_MB_PER_S else "MISSED"
    log(f"target: scan >= {TARGET_MB_PER_S:.0f} MB/s: {verdict}")
    if missed:
        log(f"FAILED: found (got, planted) {missed}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
