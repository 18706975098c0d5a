"""``proofbound example-api`` options: flags, ``PROOFBOUND_*`` variables, one-line errors.

The server itself is not started here (``_run_in_process``/``_run_workers`` are replaced);
tests/example_api/test_processes.py runs it for real.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from proofbound.cli import example_api
from proofbound.cli import main as cli
from proofbound.resource.example_app import ExampleAPISettings

ISSUER = "http://127.0.0.1:8000"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PROOFBOUND_"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("_PROOFBOUND_EXAMPLE_API_WORKER", raising=False)


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def in_process(settings: ExampleAPISettings, host: str, port: int, level: str) -> None:
        seen.update(settings=settings, host=host, port=port, level=level, workers=1)

    def workers(
        options: dict[str, Any], secret: bytes | None, count: int, level: str, fmt: str
    ) -> None:
        seen.update(options=options, secret=secret, workers=count, level=level, format=fmt)

    def configure(level: str, fmt: str = "text") -> None:
        seen.update(configured=(level, fmt))

    # The root logger is the test session's: it is not reconfigured here.
    monkeypatch.setattr("proofbound._internal.logs.configure", configure)
    monkeypatch.setattr(example_api, "_run_in_process", in_process)
    monkeypatch.setattr(example_api, "_run_workers", workers)
    return seen


def run(args: list[str], env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli.app, ["example-api", *args], env=env, catch_exceptions=False)


def test_defaults(captured: dict[str, Any]) -> None:
    result = run(["--issuer", ISSUER])
    assert result.exit_code == 0, result.output
    settings: ExampleAPISettings = captured["settings"]
    assert (captured["host"], captured["port"], captured["level"]) == ("127.0.0.1", 8001, "info")
    assert settings.issuer == ISSUER
    assert settings.public_url == settings.audience == "http://127.0.0.1:8001"
    assert settings.require == "bound"
    assert settings.observe is None
    assert settings.nonce_secrets == ()
    assert settings.redis_url is None
    assert settings.revocation_feed is None
    assert (settings.revocation_poll_seconds, settings.revocation_max_stale_seconds) == (5, 60)
    assert settings.introspect_client_id is None
    assert settings.introspection_cache_seconds == 0
    assert settings.client_cert_header == "x-ssl-client-cert"
    assert settings.client_cert_format == "nginx"


def test_every_option_from_flags(captured: dict[str, Any], tmp_path: Path) -> None:
    nonce = tmp_path / "nonce"
    nonce.write_bytes(b"n" * 40 + b"\n")
    old_nonce = tmp_path / "old-nonce"
    old_nonce.write_bytes(b"o" * 32)
    secret = tmp_path / "secret"
    secret.write_text("client secret\n")
    result = run(
        [
            "--issuer",
            "https://as.example",
            "--audience",
            "urn:api",
            "--host",
            "::1",
            "--port",
            "9001",
            "--require",
            "bearer-allowed",
            "--observe",
            "dpop",
            "--nonce",
            "--nonce-secret-file",
            str(nonce),
            "--nonce-secret-file",
            str(old_nonce),
            "--trusted-proxy",
            "10.0.0.0/8",
            "--trusted-proxy",
            "192.0.2.1",
            "--client-cert-header",
            "X-Client-Cert",
            "--client-cert-format",
            "xfcc",
            "--introspect-client-id",
            "rs",
            "--introspect-client-secret-file",
            str(secret),
            "--introspection-cache-seconds",
            "30",
            "--revocation-feed",
            "https://as.example/revocations",
            "--revocation-poll-seconds",
            "2",
            "--revocation-max-stale-seconds",
            "20",
            "--log-level",
            "debug",
        ]
    )
    assert result.exit_code == 0, result.output
    settings: ExampleAPISettings = captured["settings"]
    assert settings.public_url == "http://[::1]:9001"
    assert settings.audience == "urn:api"
    assert (settings.require, settings.observe) == ("bearer-allowed", "dpop")
    assert settings.nonce_secrets == (b"n" * 40, b"o" * 32)  # the trailing newline is not part
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "192.0.2.1/32"]
    assert settings.client_cert_header == "x-client-cert"
    assert settings.client_cert_format == "xfcc"
    assert settings.introspect_client_id == "rs"
    assert settings.introspect_client_secret is not None
    assert settings.introspect_client_secret.reveal() == "client secret"
    assert settings.introspection_cache_seconds == 30
    assert settings.revocation_feed == "https://as.example/revocations"
    assert (settings.revocation_poll_seconds, settings.revocation_max_stale_seconds) == (2, 20)
    assert captured["level"] == "debug"
    assert captured["configured"] == ("debug", "text")


def test_options_from_the_environment(captured: dict[str, Any]) -> None:
    env = {
        "PROOFBOUND_ISSUER": "https://as.example",
        "PROOFBOUND_PORT": "9100",
        "PROOFBOUND_PUBLIC_URL": "https://api.example",
        "PROOFBOUND_REQUIRE": "dpop",
        "PROOFBOUND_NONCE": "true",
        "PROOFBOUND_REDIS_URL": "redis://127.0.0.1:6379/3",
        "PROOFBOUND_WORKERS": "3",
    }
    result = run(["--port", "9200"], env)  # the command line wins
    assert result.exit_code == 0, result.output
    assert captured["workers"] == 3
    options = captured["options"]
    assert (options["issuer"], options["port"], options["public_url"]) == (
        "https://as.example",
        9200,
        "https://api.example",
    )
    assert options["require"] == "dpop"
    assert options["redis_url"] == "redis://127.0.0.1:6379/3"
    # No secret file: one random secret, made once, for every worker.
    assert captured["secret"] is not None
    assert len(captured["secret"]) == 32


def test_the_random_nonce_secret_differs_per_start(captured: dict[str, Any]) -> None:
    seen = []
    for _ in range(2):
        assert run(["--issuer", ISSUER, "--nonce"]).exit_code == 0
        seen.append(captured["settings"].nonce_secrets)
    assert seen[0] != seen[1]
    assert all(len(s) == 1 and len(s[0]) == 32 for s in seen)


def test_unsafe_memory_replay_cache_runs_workers_with_a_warning(
    captured: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    result = run(["--issuer", ISSUER, "--workers", "2", "--unsafe-memory-replay-cache"])
    assert result.exit_code == 0, result.output
    assert captured["workers"] == 2
    assert any("UNSAFE" in r.getMessage() for r in caplog.records)


def test_a_worker_rebuilds_the_same_settings(
    captured: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "secret"
    secret.write_text("client-secret-value")
    args = ["--issuer", ISSUER, "--workers", "2", "--redis-url", "redis://127.0.0.1:1/0"]
    args += ["--nonce", "--introspect-client-id", "rs"]
    args += ["--introspect-client-secret-file", str(secret), "--log-format", "json"]
    assert run(args).exit_code == 0
    built: list[ExampleAPISettings] = []

    def create(settings: ExampleAPISettings) -> object:
        built.append(settings)
        return object()

    monkeypatch.setattr("proofbound.resource.example_app.create_example_app", create)
    handoff = {
        "options": captured["options"],
        "nonce_secret": captured["secret"].hex(),
        "log_level": "warning",
        "log_format": captured["format"],
    }
    monkeypatch.setenv("_PROOFBOUND_EXAMPLE_API_WORKER", json.dumps(handoff))
    example_api._worker_app()
    assert captured["configured"] == ("warning", "json")
    (settings,) = built
    assert settings.nonce_secrets == (captured["secret"],)
    assert settings.redis_url == "redis://127.0.0.1:1/0"
    assert settings.introspect_client_secret is not None
    assert settings.introspect_client_secret.reveal() == "client-secret-value"
    assert "client-secret-value" not in json.dumps(handoff)  # the file's name, not its content


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "2"], "--workers 2 needs --redis-url"),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--port", "0"], "--port must be within 1..65535"),
        (["--port", "70000"], "--port must be within 1..65535"),
        (["--require", "dpop", "--observe", "dpop"], "stricter"),
        (["--require", "mtls", "--observe", "bound"], "stricter"),
        (["--nonce-secret-file", "x"], "--nonce-secret-file needs --nonce"),
        (["--nonce", "--nonce-secret-file", "/nonexistent/n"], "cannot read"),
        (["--host", "0.0.0.0"], "--host 0.0.0.0 needs --public-url"),  # noqa: S104
        (["--host", "::"], "--host :: needs --public-url"),
        (["--public-url", "api.example"], "http or https"),
        (["--introspect-client-id", "rs"], "--introspect-client-secret-file"),
        (["--introspect-client-secret-file", "/nonexistent"], "--introspect-client-id"),
        (["--revocation-poll-seconds", "61"], "poll interval"),
        (["--revocation-feed", "not a url"], "revocation feed"),
        (["--trusted-proxy", "10.0.0.0/33"], "not a CIDR"),
        (["--client-cert-header", "bad header"], "header name"),
        (["--redis-url", "http://127.0.0.1"], "Redis URL"),
    ],
)
def test_bad_configuration_is_one_error_line_and_exit_2(
    captured: dict[str, Any], args: list[str], message: str
) -> None:
    result = run(["--issuer", ISSUER, *args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert not captured


def test_a_short_nonce_secret_is_refused(captured: dict[str, Any], tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_bytes(b"x" * 31 + b"\n")
    result = run(["--issuer", ISSUER, "--nonce", "--nonce-secret-file", str(short)])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert "fewer than 32 bytes" in result.stderr


def test_an_empty_introspection_secret_is_refused(captured: dict[str, Any], tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    args = ["--introspect-client-id", "rs", "--introspect-client-secret-file", str(empty)]
    result = run(["--issuer", ISSUER, *args])
    assert result.exit_code == 2
    assert "empty" in result.stderr


def test_a_bad_issuer_is_refused(captured: dict[str, Any]) -> None:
    result = run(["--issuer", "http://as.example"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert result.stderr.endswith(": the issuer must use https unless it is a loopback address\n")


def test_the_issuer_is_required(captured: dict[str, Any]) -> None:
    result = run([])
    assert result.exit_code == 2
    assert "--issuer" in result.output
