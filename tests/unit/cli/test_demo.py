"""The replay-attack demo: every outcome as expected, machine-readable output, nothing left."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from proofbound.cli.demo import run_demo

PROOFBOUND = str(Path(sys.executable).with_name("proofbound"))


def test_every_stolen_bound_token_fails_and_the_bearer_one_only_until_revoked(
    tmp_path: Path,
) -> None:
    scenarios = run_demo(workdir=tmp_path)
    assert all(s.ok for s in scenarios), [s for s in scenarios if not s.ok]
    by_attack = {(s.token, s.attack): s for s in scenarios}
    assert by_attack[("bearer", "replay the bearer token")].status == 200
    assert by_attack[("bearer", "replay after scan and revocation")].status == 401
    bound = [s for s in scenarios if s.token in ("dpop", "mtls") and s.channel != "none"]
    assert len(bound) == 6
    assert all(s.status == 401 for s in bound)
    assert by_attack[("dpop", "captured request replayed verbatim")].reason == "invalid_dpop_proof"
    assert by_attack[("dpop", "token downgraded to Bearer")].reason == "invalid_token"
    # the leaked bearer token is in the log before redaction, not in the line logged after
    log = (tmp_path / "leaks" / "app.log").read_text().splitlines()
    assert "eyJ" in log[0]
    assert "eyJ" not in log[-1]


def test_json_output_is_the_only_thing_on_stdout_and_exit_code_0() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROOFBOUND_")}
    result = subprocess.run(  # noqa: S603 -- our own entry point
        [PROOFBOUND, "demo", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    document = json.loads(result.stdout)
    assert document["ok"] is True
    keys = {"token", "channel", "attack", "expected", "status", "reason", "ok"}
    assert all(set(s) == keys for s in document["scenarios"])
    assert {s["token"] for s in document["scenarios"]} == {"bearer", "dpop", "mtls"}


def test_table_output_ends_with_a_verdict() -> None:
    result = subprocess.run(  # noqa: S603 -- our own entry point
        [PROOFBOUND, "demo"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "DPoP-bound token" in result.stdout
    assert result.stdout.strip().splitlines()[-1].startswith("Verdict: ")
