"""``proofbound scan``: reports (text, JSON, SARIF) with only the report on stdout, exit codes
1/0/2, no token in any output, a progress bar on a terminal only, and ``--revoke`` against a
real ``proofbound serve`` (the live bearer token is revoked; introspection then says inactive).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import os
import pty
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.server.test_restart import (
    ADMIN_TOKEN,
    ASSERTION_TYPE,
    EXECUTABLE,
    REGISTRATION_TOKEN,
    Client,
    Launcher,
    expect,
    free_port,
)
from tests.unit.leaks._corpus import (
    NOW,
    Placed,
    Tokens,
    Writer,
    app_log,
    fingerprint_hex,
    har_file,
    nginx_line,
    nginx_log,
)
from typer.testing import CliRunner, Result

from proofbound.cli import main as cli
from proofbound.jwk.keys import SigningKey, generate_key


@pytest.fixture(scope="module")
def as_key() -> SigningKey:
    return generate_key("ES256")


@pytest.fixture
def tokens(as_key: SigningKey) -> Tokens:
    return Tokens.make(as_key, generate_key("ES256"))


@pytest.fixture
def leaks(tmp_path: Path, tokens: Tokens) -> tuple[Path, Placed]:
    placed: Placed = {}
    root = tmp_path / "logs"
    root.mkdir()
    nginx_log(root / "access.log", tokens, placed)
    app_log(root / "app.log", tokens, placed)
    har_file(root / "browser.har", tokens, placed)
    return root, placed


def run(args: list[str], **kwargs: Any) -> Result:
    return CliRunner().invoke(cli.app, ["scan", *args], catch_exceptions=False, **kwargs)


def assert_clean(result: Result, tokens: Tokens) -> None:
    for stream in (result.stdout, result.stderr):
        for token in tokens.all:
            assert token not in stream
            for segment in token.split("."):
                if len(segment) >= 16:
                    assert segment not in stream


def test_json_report_is_the_only_stdout_and_exit_1(
    leaks: tuple[Path, Placed], tokens: Tokens
) -> None:
    root, placed = leaks
    result = run([str(root), "--format", "json", "--now", str(NOW)])
    assert result.exit_code == 1
    assert result.stderr == ""
    report = json.loads(result.stdout)
    assert_clean(result, tokens)
    assert report["claims_verified"] is False
    assert report["files"] == 3
    summary = report["summary"]
    assert summary["live_bearer"] == 2  # the ISSUER's and the other issuer's
    assert summary["live_bound"] == 2
    assert summary["live_bearer_unrevoked"] == 2
    by_fp = {t["fingerprint"].split("#")[1]: t for t in report["tokens"]}
    live = by_fp[fingerprint_hex(tokens.live_bearer)]
    assert (live["kind"], live["binding"], live["status"], live["category"]) == (
        "access_token",
        "bearer",
        "live",
        "live-bearer-token",
    )
    assert {(loc["path"], loc["line"]) for loc in live["locations"]} == set(
        placed[tokens.live_bearer]
    )
    assert by_fp[fingerprint_hex(tokens.proof)]["category"] == "dpop-proof"
    assert by_fp[fingerprint_hex(tokens.expired_bearer)]["category"] == "expired-token"
    assert by_fp[fingerprint_hex(tokens.opaque)]["category"] == "unknown-status-token"


def test_sarif_report(leaks: tuple[Path, Placed], tokens: Tokens) -> None:
    root, placed = leaks
    result = run([str(root), "--format", "sarif", "--now", str(NOW)])
    assert result.exit_code == 1
    sarif = json.loads(result.stdout)
    assert_clean(result, tokens)
    assert sarif["version"] == "2.1.0"
    (run_,) = sarif["runs"]
    rules = {rule["id"] for rule in run_["tool"]["driver"]["rules"]}
    results = run_["results"]
    assert {r["ruleId"] for r in results} <= rules
    live = [
        r
        for r in results
        if r["partialFingerprints"]["tokenFingerprint/v1"]
        == "at#" + fingerprint_hex(tokens.live_bearer)
    ]
    assert {r["ruleId"] for r in live} == {"live-bearer-token"}
    assert {r["level"] for r in live} == {"error"}
    where = {
        (
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
        )
        for r in live
    }
    assert where == {(Path(p).as_uri(), line) for p, line in placed[tokens.live_bearer]}
    assert run_["invocations"][0]["executionSuccessful"] is True


def test_text_report(leaks: tuple[Path, Placed], tokens: Tokens) -> None:
    root, placed = leaks
    result = run([str(root), "--now", str(NOW)])
    assert result.exit_code == 1
    assert_clean(result, tokens)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("proofbound scan: 3 files")
    assert "without verifying signatures" in lines[0]
    assert lines[1].startswith("LIVE BEARER")
    assert lines[-1].startswith("summary: 2 live bearer")
    for path, line in placed[tokens.live_bearer]:
        assert f"    {path}:{line}" in lines


def test_exit_0_when_nothing_is_live(tmp_path: Path, as_key: SigningKey, tokens: Tokens) -> None:
    clean = tmp_path / "clean.log"
    clean.write_text("\n".join(nginx_line(f"/orders/{i}") for i in range(50)) + "\n")
    assert run([str(clean)]).exit_code == 0
    # live tokens, but all sender-constrained or opaque: reported, exit 0
    mixed = tmp_path / "mixed.log"
    mixed.write_text(
        f"Authorization: DPoP {tokens.live_dpop}\nAuthorization: Bearer {tokens.opaque}\n"
        f"x {tokens.expired_bearer}\n"
    )
    result = run([str(mixed), "--format", "json", "--now", str(NOW)])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["summary"]["live_bound"] == 1
    # --now after expiry: the live bearer token counts as expired
    later = tmp_path / "later.log"
    later.write_text(f"Bearer {tokens.live_bearer}\n")
    assert run([str(later), "--now", str(NOW)]).exit_code == 1
    assert run([str(later), "--now", str(NOW + 10_000)]).exit_code == 0


def test_stdin_and_gzip(tmp_path: Path, tokens: Tokens) -> None:
    rotated = tmp_path / "app.log.2.gz"
    rotated.write_bytes(gzip.compress(f"x\nBearer {tokens.live_bearer}\n".encode()))
    result = run(
        ["-", str(rotated), "--format", "json", "--now", str(NOW)],
        input=f"token={tokens.live_bearer}\n",
    )
    assert result.exit_code == 1
    (finding,) = json.loads(result.stdout)["tokens"]
    assert [(loc["path"], loc["line"]) for loc in finding["locations"]] == [
        ("-", 1),
        (str(rotated), 2),
    ]


def test_unreadable_input_exit_2_unless_a_live_bearer_token(tmp_path: Path, tokens: Tokens) -> None:
    broken = tmp_path / "broken.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00garbage")
    result = run([str(broken), "--format", "json"])
    assert result.exit_code == 2
    assert json.loads(result.stdout)["errors"] == [
        {"path": str(broken), "message": "not a valid gzip file"}
    ]
    live = tmp_path / "live.log"
    live.write_text(f"Bearer {tokens.live_bearer}\n")
    assert run([str(broken), str(live), "--now", str(NOW)]).exit_code == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["MISSING"], "does not exist"),
        (["PATH", "--issuer", "https://as.example"], "--issuer needs --revoke"),
        (["PATH", "--admin-token", "x"], "--admin-token needs --revoke"),
        (["PATH", "--revoke-bound"], "--revoke-bound needs --revoke"),
        (["PATH", "--revoke"], "--revoke needs --issuer"),
        (["PATH", "--revoke", "--issuer", "https://as.example"], "needs --admin-token"),
        (["PATH", "--revoke", "--issuer", "as.example", "--admin-token", "x"], "http(s) URL"),
        (
            [
                *("PATH", "--revoke", "--issuer", "https://a"),
                *("--admin-token", "x", "--admin-token-file", "PATH"),
            ],
            "not both",
        ),
        (["-", "-"], "once"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    path = tmp_path / "x.log"
    path.write_text("nothing\n")
    args = [str(path) if a == "PATH" else str(tmp_path / a) if a == "MISSING" else a for a in args]
    result = run(args, env={"PROOFBOUND_ADMIN_TOKEN": ""})
    assert result.exit_code == 2
    assert result.stdout == ""
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [[], ["x", "--format", "xml"], ["x", "--now", "soon"]])
def test_bad_options_exit_2(args: list[str]) -> None:
    assert run(args).exit_code == 2


def test_admin_token_from_the_environment_alone_is_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    path.write_text("nothing\n")
    assert run([str(path)], env={"PROOFBOUND_ADMIN_TOKEN": "set-for-serve"}).exit_code == 0


def _run_on_a_terminal(args: list[str]) -> tuple[int, str, bytes]:
    """Run the CLI with stderr on a pseudo-terminal; return (exit, stdout, terminal output)."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROOFBOUND_")}
    env.update(COLUMNS="100", TERM="xterm")
    process = subprocess.Popen(  # noqa: S603 -- our own CLI, fixed arguments
        [str(EXECUTABLE), "scan", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    seen = bytearray()
    with contextlib.suppress(OSError):  # EIO once the child has closed the terminal
        while chunk := os.read(master, 65536):
            seen += chunk
    os.close(master)
    assert process.stdout is not None
    stdout = process.stdout.read().decode()
    process.stdout.close()
    return process.wait(timeout=60), stdout, bytes(seen)


def test_progress_bar_on_a_terminal_only_for_large_inputs(tmp_path: Path) -> None:
    from proofbound.cli.scan_command import PROGRESS_THRESHOLD

    big = tmp_path / "big.log"
    with big.open("wb") as out:
        out.truncate(PROGRESS_THRESHOLD + 1)  # sparse zeros: large, and fast to scan
    code, stdout, terminal = _run_on_a_terminal([str(big), "--format", "json"])
    assert code == 0
    assert json.loads(stdout)["bytes"] == PROGRESS_THRESHOLD + 1
    assert b"scanning" in terminal
    small = tmp_path / "small.log"
    small.write_text("x\n")
    code, stdout, terminal = _run_on_a_terminal([str(small), "--format", "json"])
    assert code == 0
    assert terminal == b""


# --- --revoke against a real authorization server -----------------------------------------------


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as client:
        yield client


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    made = Launcher(tmp_path)
    try:
        yield made
    finally:
        for server in made.started:
            server.stop()


def bearer_token(client: Client) -> str:
    """Register ``client`` without DPoP binding and get a Bearer token (no DPoP header)."""
    response = client.http.post(
        client.base + "/register",
        headers={"Authorization": f"Bearer {REGISTRATION_TOKEN}"},
        json={
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [client.key.public_jwk()]},
        },
    )
    expect(response, 201)
    client.client_id = response.json()["client_id"]
    response = client.http.post(
        client.token_endpoint,
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client.assertion(client.token_endpoint),
        },
    )
    expect(response, 200)
    assert response.json()["token_type"] == "Bearer"
    token: str = response.json()["access_token"]
    return token


def dpop_token(client: Client, dpop_key: SigningKey) -> str:
    client.register()
    expect(client.request_token(dpop_key), 400, "use_dpop_nonce")
    response = client.request_token(dpop_key)
    expect(response, 200)
    assert response.json()["token_type"] == "DPoP"
    token: str = response.json()["access_token"]
    return token


def scan(*args: str) -> tuple[int, dict[str, Any], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROOFBOUND_")}
    result = subprocess.run(  # noqa: S603 -- our own CLI, fixed arguments
        [str(EXECUTABLE), "scan", *args, "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    return result.returncode, json.loads(result.stdout), result.stdout + result.stderr


def active(client: Client, token: str) -> bool:
    response = client.introspect(token)
    expect(response, 200)
    return bool(response.json()["active"])


def test_revoke_live_bearer_tokens_at_a_real_server(
    launcher: Launcher, http: httpx.Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = launcher.start(launcher.command(free_port()), http)
    bearer_client = Client(http, server.base, generate_key("ES256"))
    bearer = bearer_token(bearer_client)
    dpop_client = Client(http, server.base, generate_key("ES256"))
    bound = dpop_token(dpop_client, generate_key("ES256"))
    secrets_ = [bearer, bound, ADMIN_TOKEN]

    logs = tmp_path / "logs"
    logs.mkdir()
    placed: Placed = {}
    nginx = Writer(logs / "access.log", placed)
    nginx.noise(20)
    nginx.line(nginx_line(f"/callback?access_token={bearer}&state=s1"), bearer)
    nginx.noise(5, seed=1)
    nginx.write()
    app = Writer(logs / "app.log", placed)
    app.noise(7, seed=2)
    app.line(f"DEBUG outgoing headers={{'Authorization': 'Bearer {bearer}'}}", bearer)
    app.line(f"DEBUG outgoing headers={{'Authorization': 'DPoP {bound}'}}", bound)
    app.write()
    admin_file = tmp_path / "admin-token"
    admin_file.write_text(ADMIN_TOKEN + "\n")

    def by_token(report: dict[str, Any], token: str) -> dict[str, Any]:
        wanted = fingerprint_hex(token)
        (found,) = [t for t in report["tokens"] if t["fingerprint"].endswith(wanted)]
        return found

    # 1. found, not revoked: exit 1, both places, no token in the output
    code, report, output = scan(str(logs))
    assert code == 1
    assert all(secret not in output for secret in secrets_)
    found = by_token(report, bearer)
    assert found["category"] == "live-bearer-token"
    assert found["issuer"] == server.base
    assert found["client_id"] == bearer_client.client_id
    assert {(loc["path"], loc["line"]) for loc in found["locations"]} == set(placed[bearer])
    assert by_token(report, bound)["binding"] == "dpop"

    # 2. --revoke: the bearer token is revoked (not the bound one), exit 0
    revoke = ["--revoke", "--issuer", server.base, "--admin-token-file", str(admin_file)]
    code, report, output = scan(str(logs), *revoke)
    assert code == 0
    assert all(secret not in output for secret in secrets_)
    assert by_token(report, bearer)["revocation"] == {
        "outcome": "revoked",
        "status": 200,
        "error": None,
    }
    assert by_token(report, bound)["revocation"] is None
    assert report["summary"]["revoked"] == 1
    assert report["summary"]["live_bearer_unrevoked"] == 0
    assert active(bearer_client, bearer) is False
    assert active(dpop_client, bound) is True

    # 3. again: already inactive at the issuer, still exit 0
    code, report, _ = scan(str(logs), *revoke)
    assert code == 0
    assert by_token(report, bearer)["revocation"]["outcome"] == "already_inactive"
    assert report["summary"]["live_bearer_unrevoked"] == 0

    # 4. --revoke-bound: the DPoP-bound one too
    code, report, _ = scan(str(logs), *revoke, "--revoke-bound")
    assert code == 0
    assert by_token(report, bound)["revocation"]["outcome"] == "revoked"
    assert active(dpop_client, bound) is False

    # 5. a wrong admin token: refused, nothing revoked, exit 1 (a fresh live token)
    fresh = Client(http, server.base, generate_key("ES256"))
    newer = bearer_token(fresh)
    (logs / "more.log").write_text(f"Authorization: Bearer {newer}\n")
    wrong = secrets.token_urlsafe(16)
    caplog.set_level(logging.DEBUG)  # in process this time: httpx's own log records too
    result = run(
        [str(logs), "--format", "json", "--revoke", "--issuer", server.base],
        env={"PROOFBOUND_ADMIN_TOKEN": wrong},
    )
    assert result.exit_code == 1
    report, output = json.loads(result.stdout), result.stdout + result.stderr
    assert caplog.records  # httpx logged the requests
    for secret in (bearer, bound, newer, wrong, ADMIN_TOKEN):
        assert secret not in output
        assert secret not in caplog.text
    # the first request is refused (401), the rest are not attempted
    outcomes = [by_token(report, t)["revocation"]["outcome"] for t in (bearer, newer)]
    assert outcomes == ["refused", "not_attempted"]
    assert "revocation at" in output
    assert active(fresh, newer) is True

    # The library call the demo uses: scan a directory, revoke what is live there.
    from proofbound.leaks.scan import revoke_live_bearer

    assert revoke_live_bearer(logs, issuer=server.base, admin_token=ADMIN_TOKEN) == 1
    assert active(fresh, newer) is False

    # The server's own log holds none of the tokens either.
    time.sleep(0.1)
    assert all(secret not in server.output() for secret in (bearer, bound, newer))


def test_tokens_of_other_issuers_are_never_sent(tmp_path: Path, tokens: Tokens) -> None:
    live = tmp_path / "live.log"
    live.write_text(f"Bearer {tokens.live_bearer}\n")  # iss https://as.example
    # An issuer that does not exist: nothing may be sent, so nothing fails.
    result = run(
        [
            str(live),
            "--format",
            "json",
            "--now",
            str(NOW),
            "--revoke",
            "--issuer",
            "http://127.0.0.1:9",
            "--admin-token",
            "x",
        ]
    )
    assert result.exit_code == 1
    (finding,) = json.loads(result.stdout)["tokens"]
    assert finding["revocation"] is None
    assert result.stderr == ""
