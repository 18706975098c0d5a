"""``proofbound serve`` configuration (flags, TOML, environment), ``keys rotate``,
``clients add`` and ``revoke``."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from proofbound.cli import main as cli
from proofbound.cli import server_commands
from proofbound.jwk import generate_key
from proofbound.server.config import ServerSettings
from proofbound.storage.store import Store

TOKEN = "t" * 32


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def fake_run(settings: ServerSettings, url: str, host: str, port: int, level: str) -> None:
        seen.update(settings=settings, url=url, host=host, port=port, level=level)

    monkeypatch.setattr(server_commands, "_run", fake_run)
    return seen


def run(args: list[str], env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli.app, args, env=env, catch_exceptions=False)


def test_serve_defaults(captured: dict[str, Any], tmp_path: Path) -> None:
    result = run(["serve", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    settings = captured["settings"]
    assert settings.issuer == "http://127.0.0.1:8000"
    assert settings.access_token_ttl == 300
    assert settings.dpop_nonce is True
    assert settings.registration_token is None
    assert settings.trusted_proxies == ()
    assert captured["url"].startswith("sqlite:///")
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o700


def test_serve_precedence_flag_over_env_over_file(captured: dict[str, Any], tmp_path: Path) -> None:
    config = tmp_path / "as.toml"
    config.write_text(
        'issuer = "https://file.example"\naccess-token-ttl = 120\nport = 9000\n'
        'resource = ["https://a.example", "https://b.example"]\ndpop_nonce = false\n'
    )
    env = {"PROOFBOUND_ACCESS_TOKEN_TTL": "90", "PROOFBOUND_PORT": "9100"}
    result = run(
        ["serve", "--config", str(config), "--port", "9200", "--data-dir", str(tmp_path)], env
    )
    assert result.exit_code == 0, result.output
    settings = captured["settings"]
    assert settings.issuer == "https://file.example"  # file
    assert settings.access_token_ttl == 90  # env beats file
    assert captured["port"] == 9200  # flag beats env
    assert settings.resources == ("https://a.example", "https://b.example")
    assert settings.dpop_nonce is False


def test_serve_secrets_from_files(captured: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "reg").write_text(TOKEN + "\n")
    (tmp_path / "adm").write_text("a" * 40)
    result = run(
        [
            "serve",
            "--registration-token-file",
            str(tmp_path / "reg"),
            "--admin-token-file",
            str(tmp_path / "adm"),
            "--data-dir",
            str(tmp_path),
        ]
    )
    assert result.exit_code == 0, result.output
    settings = captured["settings"]
    assert settings.registration_token.matches(TOKEN)
    assert settings.admin_token.matches("a" * 40)
    assert TOKEN not in repr(settings)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--issuer", "http://as.example"], "https"),
        (["--issuer", "https://as.example?x=1"], "query"),
        (["--access-token-ttl", "99999"], "access_token_ttl"),
        (["--trusted-proxy", "not-a-cidr"], "CIDR"),
        (["--registration-token", "short"], "registration token"),
        (["--resource", "not a uri"], "resource"),
        (["--client-ca", "/nonexistent/ca.pem"], "client-ca"),
        (["--registration-token", TOKEN, "--registration-token-file", "/x"], "not both"),
    ],
)
def test_serve_bad_configuration_is_one_line_and_exit_2(
    captured: dict[str, Any], tmp_path: Path, args: list[str], needle: str
) -> None:
    result = run(["serve", "--data-dir", str(tmp_path), *args])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:")
    assert needle in lines[0]
    assert "settings" not in captured


def test_serve_unknown_setting_in_the_file_is_refused(
    captured: dict[str, Any], tmp_path: Path
) -> None:
    config = tmp_path / "as.toml"
    config.write_text('isuer = "https://typo.example"\n')
    result = run(["serve", "--config", str(config)])
    assert result.exit_code == 2
    assert "isuer" in result.stderr
    assert "settings" not in captured


def test_keys_rotate_publishes_before_signing(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'proofbound.db'}")
    from proofbound.server.keyring import Keyring

    Keyring(store, alg="ES256", now=1_000)
    store.close()
    result = run(["keys", "rotate", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["retired"] == []
    store = Store.open(f"sqlite:///{tmp_path / 'proofbound.db'}")
    try:
        kids = [k.key.kid for k in store.signing_keys()]
    finally:
        store.close()
    assert out["kid"] in kids
    assert len(kids) == 2


def test_clients_add_with_a_jwk(tmp_path: Path) -> None:
    key = generate_key("ES256")
    (tmp_path / "client.jwk").write_text(json.dumps(key.private_jwk()))
    result = run(
        [
            "clients",
            "add",
            "--method",
            "private_key_jwt",
            "--jwk",
            str(tmp_path / "client.jwk"),
            "--dpop-bound",
            "--scope",
            "read",
            "--data-dir",
            str(tmp_path),
        ]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert '"d"' not in result.stdout  # the private member never reaches the registration
    store = Store.open(f"sqlite:///{tmp_path / 'proofbound.db'}")
    try:
        client = store.get_client(out["client_id"])
    finally:
        store.close()
    assert client is not None
    assert client.metadata["dpop_bound_access_tokens"] is True
    assert client.metadata["jwks"]["keys"][0]["kid"] == key.kid


def test_clients_add_secret_client_prints_the_secret_once(tmp_path: Path) -> None:
    result = run(["clients", "add", "--method", "client_secret_basic", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["client_secret"]


def test_clients_add_invalid_metadata_is_exit_1_or_2(tmp_path: Path) -> None:
    result = run(["clients", "add", "--method", "private_key_jwt", "--data-dir", str(tmp_path)])
    assert result.exit_code != 0
    assert result.stderr.startswith("error:")


def test_revoke_needs_exactly_one_target(tmp_path: Path) -> None:
    result = run(["revoke", "--issuer", "http://127.0.0.1:1", "--admin-token", TOKEN])
    assert result.exit_code == 2
    assert "exactly one" in result.stderr
    result = run(["revoke", "--issuer", "http://127.0.0.1:1", "--jkt", "x"])
    assert result.exit_code == 2
    assert "admin-token" in result.stderr


def test_revoke_unreachable_server_is_one_line(tmp_path: Path) -> None:
    result = run(
        ["revoke", "--issuer", "http://127.0.0.1:1", "--admin-token", TOKEN, "--jkt", "abc"]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("error: cannot reach")
    assert TOKEN not in result.stderr


def test_serve_json_logs(captured: dict[str, Any], tmp_path: Path) -> None:
    import logging

    from proofbound._internal.logs import JsonFormatter

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        result = run(["serve", "--data-dir", str(tmp_path), "--log-format", "json"])
        assert result.exit_code == 0, result.output
        assert any(isinstance(h.formatter, JsonFormatter) for h in root.handlers)
        record = logging.LogRecord(
            "proofbound.x", logging.INFO, "f", 1, "token issued a=%s", ("b",), None
        )
        line = json.loads(JsonFormatter().format(record))
        assert line["msg"] == "token issued a=b"
        assert line["level"] == "info"
        assert line["logger"] == "proofbound.x"
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_serve_runs_uvicorn_without_proxy_headers_or_access_log() -> None:
    """The peer must be the TCP peer (RFC 8705 §6.5 trust is --trusted-proxy's alone), and
    uvicorn's access log would print request lines; the C parser is used."""
    from proofbound.cli.server_commands import uvicorn_options

    options = uvicorn_options("warning")
    assert options["proxy_headers"] is False
    assert options["access_log"] is False
    assert options["server_header"] is False
    assert options["http"] == "httptools"
    assert options["log_level"] == "warning"
