"""Interoperability: panva's openid-client v6 / jose (Node) against ``proofbound serve``.

An independent OAuth client implementation (``peer.mjs``) discovers the AS (RFC 8414), registers
clients through RFC 7591, obtains a DPoP-bound token (RFC 9449) through one ``use_dpop_nonce``
round trip and a certificate-bound one (RFC 8705, ``self_signed_tls_client_auth`` behind a TLS
terminating proxy), and verifies the RFC 9068 access tokens offline against the AS JWKS. A second
AS, which does not trust 127.0.0.1 as a proxy, must ignore the client-certificate header.

Node 20+ and npm are needed; the pinned packages (``package-lock.json``) are installed with
``npm ci`` when ``node_modules`` is missing. Without node/npm the tests skip, or fail under
``PROOFBOUND_REQUIRE_BACKENDS=1`` (CI). The peer reports facts only: no token, proof or key is
ever printed, by it or by these tests.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests._node import node_with_packages

HERE = Path(__file__).resolve().parent

RESOURCE = "https://rs.example/api"
SCOPE = "read write"
CERT_HEADER = "x-ssl-client-cert"
STARTUP_TIMEOUT = 15.0
PEER_TIMEOUT = 60.0
#: Advertised methods. tls_client_auth is listed only with a --client-ca (not given here).
AUTH_METHODS = {
    "private_key_jwt",
    "self_signed_tls_client_auth",
    "client_secret_basic",
    "client_secret_post",
    "none",  # public clients (the authorization code flow)
}


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


@pytest.fixture(scope="session")
def node() -> str:
    """Path of a Node 20+ binary with the peer's pinned packages installed next to peer.mjs."""
    return node_with_packages(HERE, "openid-client", what="interop peer")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve_command() -> list[str]:
    script = Path(sys.executable).with_name("proofbound")
    if script.exists():
        return [str(script), "serve"]
    return [sys.executable, "-m", "proofbound.cli.main", "serve"]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 -- http://127.0.0.1
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class Server:
    """One ``proofbound serve`` subprocess on 127.0.0.1, stopped with SIGTERM."""

    def __init__(self, workdir: Path, registration_token: str, trusted_proxy: str) -> None:
        self.port = _free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "server.log"
        data_dir = workdir / "data"
        data_dir.mkdir()
        command = [
            *_serve_command(),
            "--issuer",
            self.issuer,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(data_dir),
            "--registration-token",
            registration_token,
            "--resource",
            RESOURCE,
            "--trusted-proxy",
            trusted_proxy,
            "--client-cert-header",
            CERT_HEADER,
        ]
        # `serve` reads PROOFBOUND_<OPTION> variables: none from this shell may change the setup.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROOFBOUND_")}
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 -- our own CLI, fixed arguments
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
            )

    def log(self) -> str:
        return _tail(self.log_path.read_text(encoding="utf-8", errors="replace"))

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"proofbound serve exited with {self.process.returncode} before "
                    f"/healthz answered:\n{self.log()}"
                )
            if _healthy(f"{self.issuer}/healthz"):
                return
            time.sleep(0.1)
        pytest.fail(f"proofbound serve: no 200 from /healthz in {STARTUP_TIMEOUT} s:\n{self.log()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode


@pytest.fixture(scope="module")
def registration_token() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory, registration_token: str
) -> Iterator[dict[str, Server]]:
    """The AS trusting 127.0.0.1 as TLS proxy, and one trusting only 10.0.0.0/8."""
    started: dict[str, Server] = {}
    try:
        for name, proxy in (("trusted", "127.0.0.1/32"), ("untrusted", "10.0.0.0/8")):
            started[name] = Server(tmp_path_factory.mktemp(f"as-{name}"), registration_token, proxy)
        for server in started.values():
            server.wait_healthy()
        yield started
    finally:
        for server in started.values():
            server.stop()


@pytest.fixture(scope="module")
def client_cert(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A self-signed P-256 client certificate, its nginx-escaped PEM and RFC 8705 thumbprint."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "proofbound-interop-client")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
    der = cert.public_bytes(serialization.Encoding.DER)
    thumbprint = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    # nginx's $ssl_client_escaped_cert: the whole PEM percent-encoded (a space is %20, never +).
    return {"pem": pem, "header_value": quote(pem, safe=""), "x5t#S256": thumbprint}


@pytest.fixture(scope="module")
def report(
    node: str,
    servers: dict[str, Server],
    registration_token: str,
    client_cert: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """Run peer.mjs once against both servers; its single JSON object of observed facts."""
    config = tmp_path_factory.mktemp("peer") / "config.json"
    config.write_text(
        json.dumps(
            {
                "issuer": servers["trusted"].issuer,
                "untrusted_issuer": servers["untrusted"].issuer,
                "registration_token": registration_token,
                "resource": RESOURCE,
                "scope": SCOPE,
                "client_cert_header": CERT_HEADER,
                "client_cert_pem": client_cert["pem"],
                "client_cert_header_value": client_cert["header_value"],
            }
        ),
        encoding="utf-8",
    )
    config.chmod(0o600)
    try:
        result = subprocess.run(  # noqa: S603 -- our own peer script, fixed arguments
            [node, str(HERE / "peer.mjs"), str(config)],
            cwd=HERE,
            capture_output=True,
            text=True,
            check=False,
            timeout=PEER_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"peer.mjs did not finish in {PEER_TIMEOUT:.0f} s")
    if result.returncode != 0:
        pytest.fail(f"peer.mjs exited with {result.returncode}:\n{_tail(result.stderr)}")
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, "peer.mjs must print exactly one JSON line"
    facts = json.loads(lines[0])
    assert isinstance(facts, dict)
    # Facts only: no secret of this run and nothing shaped like a JWS (token, proof, assertion).
    assert registration_token not in result.stdout
    assert re.search(r"eyJ[\w-]*\.[\w-]*\.", result.stdout) is None
    return facts


def _facts(value: dict[str, Any]) -> str:
    return json.dumps(value, indent=1, sort_keys=True)


def test_peer_runs_the_pinned_packages(report: dict[str, Any]) -> None:
    lock = json.loads((HERE / "package-lock.json").read_text(encoding="utf-8"))["packages"]
    assert report["versions"]["openid-client"] == lock["node_modules/openid-client"]["version"]
    assert report["versions"]["jose"] == lock["node_modules/jose"]["version"]
    assert report["versions"]["openid-client"].startswith("6.")
    assert int(report["versions"]["node"].split(".", 1)[0]) >= 20


def test_discovery(report: dict[str, Any], servers: dict[str, Server]) -> None:
    found = report["dpop"].get("discovery")
    assert found is not None, _facts(report["dpop"])
    issuer = servers["trusted"].issuer
    assert found["requests"] == [
        {"endpoint": f"{issuer}/.well-known/oauth-authorization-server", "status": 200}
    ]
    assert found["issuer"] == issuer
    for endpoint in (
        "token_endpoint",
        "jwks_uri",
        "registration_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
    ):
        assert isinstance(found[endpoint], str), endpoint
        assert found[endpoint].startswith(f"{issuer}/"), endpoint
    assert set(found["token_endpoint_auth_methods_supported"]) == AUTH_METHODS
    assert "ES256" in found["dpop_signing_alg_values_supported"]
    assert found["tls_client_certificate_bound_access_tokens"] is True
    assert found["grant_types_supported"] == [
        "client_credentials",
        "authorization_code",
        "refresh_token",
    ]


def test_rfc7591_registration(report: dict[str, Any]) -> None:
    registration = report["dpop"]["registration"]
    assert registration["ok"] is True, _facts(registration)
    assert registration["statuses"] == [201]
    assert registration["authorization_scheme"] == "Bearer"
    assert registration["client_id_issued"] is True
    assert registration["client_secret_issued"] is False
    assert registration["token_endpoint_auth_method"] == "private_key_jwt"
    assert registration["dpop_bound_access_tokens"] is True
    for scenario in ("mtls", "untrusted_proxy"):
        registration = report[scenario]["registration"]
        assert registration["ok"] is True, _facts(registration)
        assert registration["statuses"] == [201]
        assert registration["client_id_issued"] is True
        assert registration["token_endpoint_auth_method"] == "self_signed_tls_client_auth"
        assert registration["tls_client_certificate_bound_access_tokens"] is True


def test_dpop_token_takes_exactly_one_nonce_round_trip(
    report: dict[str, Any], servers: dict[str, Server]
) -> None:
    token = report["dpop"]["dpop_token"]
    assert token["ok"] is True, _facts(token)
    assert token["token_requests"] == 2, _facts(token)
    first, second = token["attempts"]
    token_endpoint = report["dpop"]["discovery"]["token_endpoint"]
    for attempt in (first, second):
        assert attempt["dpop_proof"] is True
        assert attempt["proof_htm"] == "POST"
        assert attempt["proof_htu"] == token_endpoint
    assert first["status"] == 400
    assert first["error"] == "use_dpop_nonce"
    assert first["proof_nonce_present"] is False
    assert first["dpop_nonce_header_present"] is True
    assert first["token_type"] is None
    assert second["status"] == 200
    assert second["proof_nonce_present"] is True
    assert second["error"] is None
    assert second["token_type"] == "DPoP"
    assert second["expires_in"] == 300
    assert set(second["scope"].split()) == set(SCOPE.split())
    assert token["retry_used_issued_nonce"] is True
    assert token["token_type_parsed"] == "dpop"
    assert servers["trusted"].process.poll() is None


def test_dpop_access_token_verifies_offline_and_is_bound(
    report: dict[str, Any], servers: dict[str, Server]
) -> None:
    checked = report["dpop"]["dpop_token"].get("verification")
    assert checked is not None, _facts(report["dpop"]["dpop_token"])
    assert checked["verified"] is True, _facts(checked)
    assert checked["alg"] == "ES256"
    assert checked["typ"].lower() in ("at+jwt", "application/at+jwt")
    assert checked["kid_present"] is True
    assert checked["iss"] == servers["trusted"].issuer
    assert checked["aud"] == RESOURCE
    assert checked["client_id_matches"] is True
    assert isinstance(checked["sub"], str)
    assert set(checked["scope"].split()) == set(SCOPE.split())
    assert {"iss", "exp", "aud", "sub", "client_id", "iat", "jti", "cnf"} <= set(checked["claims"])
    assert checked["lifetime"] == 300
    assert set(checked["cnf"]) == {"jkt"}
    assert checked["cnf_jkt_matches"] is True
    assert checked["cnf_jkt_matches_handle"] is True


def test_dpop_client_without_proof_is_refused(report: dict[str, Any]) -> None:
    plain = report["dpop"]["without_dpop"]
    assert plain["ok"] is False, _facts(plain)
    assert plain["requests"] == [
        {"status": 400, "error": plain["failure"]["error"], "dpop_proof": False}
    ], _facts(plain)
    assert plain["failure"]["status"] == 400
    assert plain["failure"]["error"] in ("invalid_dpop_proof", "invalid_request")


def test_mtls_token_is_bound_to_the_forwarded_certificate(
    report: dict[str, Any], servers: dict[str, Server], client_cert: dict[str, str]
) -> None:
    mtls = report["mtls"]
    assert mtls["cert_thumbprint"] == client_cert["x5t#S256"]
    token = mtls["with_cert"]
    assert token["ok"] is True, _facts(mtls)
    assert token["requests"] == [
        {
            "status": 200,
            "error": None,
            "token_type": "Bearer",
            "expires_in": 300,
            "cert_header_sent": True,
        }
    ]
    assert token["token_type_parsed"] == "bearer"
    checked = token["verification"]
    assert checked["verified"] is True, _facts(checked)
    assert checked["alg"] == "ES256"
    assert checked["typ"].lower() in ("at+jwt", "application/at+jwt")
    assert checked["kid_present"] is True
    assert checked["iss"] == servers["trusted"].issuer
    assert checked["aud"] == RESOURCE
    assert checked["client_id_matches"] is True
    assert isinstance(checked["sub"], str)
    assert {"iss", "exp", "aud", "sub", "client_id", "iat", "jti", "cnf"} <= set(checked["claims"])
    assert checked["lifetime"] == 300
    assert checked["cnf"] == {"x5t#S256": client_cert["x5t#S256"]}
    assert checked["cnf_x5t_s256_matches"] is True


def _assert_invalid_client(attempt: dict[str, Any], *, cert_header_sent: bool) -> None:
    assert attempt["ok"] is False, _facts(attempt)
    failure = attempt["failure"]
    if failure["kind"] == "WWWAuthenticateChallengeError":
        # A 401 with a challenge: the client reports the challenge; the body is checked below.
        assert failure["error"] in ("invalid_client", None), _facts(attempt)
    else:
        assert failure["kind"] == "ResponseBodyError", _facts(attempt)
        assert failure["error"] == "invalid_client", _facts(attempt)
    assert attempt["failure"]["status"] in (400, 401)
    assert len(attempt["requests"]) == 1, _facts(attempt)
    assert attempt["requests"][0]["status"] == attempt["failure"]["status"]
    assert attempt["requests"][0]["error"] == "invalid_client"
    assert attempt["requests"][0]["token_type"] is None
    assert attempt["requests"][0]["cert_header_sent"] is cert_header_sent


def test_mtls_client_without_certificate_is_invalid_client(report: dict[str, Any]) -> None:
    _assert_invalid_client(report["mtls"]["without_cert"], cert_header_sent=False)


def test_certificate_header_from_untrusted_address_is_ignored(
    report: dict[str, Any], client_cert: dict[str, str]
) -> None:
    untrusted = report["untrusted_proxy"]
    assert untrusted["cert_thumbprint"] == client_cert["x5t#S256"]
    # The header reached the AS, from 127.0.0.1, which this instance does not trust.
    _assert_invalid_client(untrusted["with_cert"], cert_header_sent=True)
    _assert_invalid_client(untrusted["without_cert"], cert_header_sent=False)
