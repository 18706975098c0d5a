"""``make bench``: proofbound's resource-server validation against the crypto floor and PyJWT.

stdout: one JSON object per line, one per case (``full-<alg>``, ``cached-<alg>``).
stderr: progress, a summary table and which targets are met; the exit code is 0 either way
(this is a measurement, not a test), unless a sanity check fails.

Run ``python -m bench.run --help`` for the knobs; see bench/README.md for what is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any, Final

from bench.contenders import ResourceServer, ours_batch, pyjwt_batch, pyjwt_server
from bench.floor import floor_batch
from bench.harness import Contender, measure, median_ratio
from bench.sanity import check_scenario
from bench.scenario import Scenario, build_scenario
from proofbound.types import JwsAlg

__all__ = ["main"]


def _build() -> str:
    """Which proofbound is measured: the mypyc-compiled hot path or pure Python."""
    import proofbound.dpop.verify

    return "python" if (proofbound.dpop.verify.__file__ or "").endswith(".py") else "mypyc"


BUILD: Final = _build()

#: Operations per timed batch, per algorithm (about 0.2-0.6 s per batch on a 2-core machine).
BATCH_SIZE: Final[dict[JwsAlg, int]] = {"ES256": 1500, "EdDSA": 1200}
DEFAULT_RUNS: Final = 15
MIN_RUNS: Final = 5
FLOOR_TARGET: Final = 1.25  # every case: ours / raw verifies
PYJWT_TARGET: Final = 0.7  # full cases: ours / PyJWT baseline


def log(message: str) -> None:
    """Progress text: stderr only, stdout is for the JSON lines."""
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True, slots=True)
class Row:
    """One case's figures (medians over runs)."""

    case: str
    mode: str
    alg: str
    us_per_op: float
    floor_us: float
    pyjwt_us: float
    ratio_to_floor: float
    ratio_to_pyjwt: float
    runs: int
    n: int

    def as_json(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "us_per_op": round(self.us_per_op, 1),
            "floor_us": round(self.floor_us, 1),
            "ratio_to_floor": round(self.ratio_to_floor, 3),
            "ratio_to_pyjwt": round(self.ratio_to_pyjwt, 3),
            "pyjwt_us": round(self.pyjwt_us, 1),
            "alg": self.alg,
            "mode": self.mode,
            "runs": self.runs,
            "n": self.n,
            "build": BUILD,
        }


def bench_case(scenario: Scenario, *, cached: bool, runs: int) -> Row:
    """Time one case: ours, the floor and PyJWT, interleaved run by run."""
    n = len(scenario.proofs)
    mode = "cached" if cached else "full"
    ours_server = ResourceServer(scenario, token_cache=cached)
    theirs_server = pyjwt_server(scenario)
    if cached:  # verified once before timing; every timed op is a cache hit
        ours_server.tokens.verify(scenario.token, now=scenario.now)
        theirs_server.cached_access_token(scenario.token, scenario.now)
    contenders = (
        Contender("ours", ours_batch(scenario, ours_server)),
        Contender("floor", floor_batch(scenario, with_token=not cached)),
        Contender("pyjwt", pyjwt_batch(scenario, theirs_server, cached=cached)),
    )
    times = measure(contenders, runs=runs, n=n)
    ours, floor, pyjwt = times["ours"], times["floor"], times["pyjwt"]
    return Row(
        case=f"{mode}-{scenario.alg}",
        mode=mode,
        alg=scenario.alg,
        us_per_op=statistics.median(ours),
        floor_us=statistics.median(floor),
        pyjwt_us=statistics.median(pyjwt),
        ratio_to_floor=median_ratio(ours, floor),
        ratio_to_pyjwt=median_ratio(ours, pyjwt),
        runs=runs,
        n=n,
    )


def targets(rows: Sequence[Row]) -> list[tuple[str, bool]]:
    """Each target as (text, met)."""
    checks: list[tuple[str, bool]] = []
    for row in rows:
        met = row.ratio_to_floor <= FLOOR_TARGET
        checks.append(
            (f"{row.case}: ratio_to_floor {row.ratio_to_floor:.3f} <= {FLOOR_TARGET}", met)
        )
        if row.mode == "full":
            met = row.ratio_to_pyjwt <= PYJWT_TARGET
            checks.append(
                (f"{row.case}: ratio_to_pyjwt {row.ratio_to_pyjwt:.3f} <= {PYJWT_TARGET}", met)
            )
    return checks


def summary(rows: Sequence[Row], elapsed: float) -> None:
    """The human table and the targets, on stderr."""
    log("")
    log(f"{'case':<14} {'ours µs':>9} {'floor µs':>9} {'pyjwt µs':>9} {'/floor':>7} {'/pyjwt':>7}")
    for r in rows:
        log(
            f"{r.case:<14} {r.us_per_op:>9.1f} {r.floor_us:>9.1f} {r.pyjwt_us:>9.1f}"
            f" {r.ratio_to_floor:>7.3f} {r.ratio_to_pyjwt:>7.3f}"
        )
    log("(medians of per-run figures; ratios are medians of per-run ratios)")
    log("")
    checks = targets(rows)
    for text, met in checks:
        log(f"  [{'met' if met else 'MISSED'}] {text}")
    missed = sum(not met for _, met in checks)
    verdict = "all targets met" if not missed else f"{missed} of {len(checks)} targets MISSED"
    log(f"{verdict}; {elapsed:.1f} s")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="timed runs per case (>= 5)")
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply the batch sizes (e.g. 0.1 for a smoke run)",
    )
    parser.add_argument(
        "--alg",
        action="append",
        choices=sorted(BATCH_SIZE),
        help="only this algorithm (repeatable)",
    )
    args = parser.parse_args(argv)
    if args.runs < MIN_RUNS:
        parser.error(f"--runs must be at least {MIN_RUNS}")
    if args.scale <= 0:
        parser.error("--scale must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run every case, print the JSON lines; return 0 (targets are reported, not enforced)."""
    args = parse_args(argv)
    started = time.perf_counter()
    log(
        f"proofbound bench: Python {platform.python_version()}, cryptography "
        f"{version('cryptography')}, PyJWT {version('pyjwt')}, {os.cpu_count()} CPUs, "
        f"{args.runs} interleaved runs per case"
    )
    rows: list[Row] = []
    for alg, size in BATCH_SIZE.items():
        if args.alg and alg not in args.alg:
            continue
        n = max(10, round(size * args.scale))
        log(f"{alg}: generating a token and {n} proofs")
        scenario = build_scenario(alg, n)
        check_scenario(scenario)
        log(f"{alg}: sanity checks passed (both accept; both refuse forged, replayed, mismatched)")
        for cached in (False, True):
            log(f"{alg}: timing {'cached' if cached else 'full'} ({args.runs} runs x {n} ops)")
            row = bench_case(scenario, cached=cached, runs=args.runs)
            rows.append(row)
            print(json.dumps(row.as_json()), flush=True)
    summary(rows, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
