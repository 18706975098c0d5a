"""``proofbound demo``: a stolen bearer token works, stolen bound tokens do not.

Everything runs in this process on loopback, on free ports, with SQLite in a temporary
directory that is removed afterwards:

* the authorization server (``proofbound serve``'s app) and the example protected API
  (``proofbound example-api``'s app, policy ``bearer-allowed`` -- an estate in migration);
* three legitimate workloads: a legacy bearer client (``client_secret_basic``), a DPoP client
  (``private_key_jwt`` + DPoP) and an mTLS client (self-signed certificate, presented by the
  TLS-terminating proxy at 127.0.0.2 in the trusted ``x-ssl-client-cert`` header);
* their tokens leak through an application log line, a proxy capture and a copied storage item,
  written to files the attacker (at 127.0.0.3, without any of the keys) then reads and replays;
* remediation: the leak scanner finds the live bearer token and revokes it at the AS (the API
  learns it from the revocation feed), and the redaction filter removes tokens from the log.

``--json`` prints ``{"ok": ..., "scenarios": [...]}`` as the only thing on stdout; the exit code
is 0 only when every outcome matched.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import re
import secrets
import socket
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import httpx

__all__ = ["Scenario", "run_demo"]

_log: Final = logging.getLogger("proofbound.demo")

PROXY_ADDRESS: Final = "127.0.0.2"  # plays the TLS-terminating proxy in front of AS and API
ATTACKER_ADDRESS: Final = "127.0.0.3"
CERT_HEADER: Final = "x-ssl-client-cert"
_JWT: Final = re.compile(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class Scenario:
    """One attack and its outcome."""

    token: str  # bearer | dpop | mtls
    channel: str
    attack: str
    expected: int
    status: int
    reason: str
    ok: bool


class _Server:
    """A uvicorn server in a thread, on a socket bound to a loopback port."""

    def __init__(self, app: Any, port: int) -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            proxy_headers=False,  # the peer is the TCP peer: the demo's proxy and attacker differ
            server_header=False,
            lifespan="on",
            log_config=None,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("a demo server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def _client(address: str) -> httpx.Client:
    return httpx.Client(
        transport=httpx.HTTPTransport(local_address=address), timeout=10.0, follow_redirects=False
    )


def _reason(response: httpx.Response) -> str:
    for value in response.headers.get_list("www-authenticate"):
        match = re.search(r'error="([a-z_]+)"', value)
        if match:
            return match.group(1)
    return "ok" if response.status_code < 400 else f"http_{response.status_code}"


def _self_signed(name: str) -> tuple[str, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), cert


class _Demo:
    def __init__(self, workdir: Path) -> None:
        from proofbound.resource.example_app import ExampleAPISettings, create_example_app
        from proofbound.server.app import AuthorizationServer, create_app
        from proofbound.server.config import Secret, ServerSettings, parse_networks
        from proofbound.storage.store import Store

        self.dir = workdir
        self.leaks = workdir / "leaks"
        self.leaks.mkdir()
        self.registration = secrets.token_urlsafe(24)
        self.admin = secrets.token_urlsafe(24)
        # Ports first: the AS must know the API's URL (its resource) and the API the issuer.
        api_probe = socket.socket()
        api_probe.bind(("127.0.0.1", 0))
        as_probe = socket.socket()
        as_probe.bind(("127.0.0.1", 0))
        api_port, as_port = api_probe.getsockname()[1], as_probe.getsockname()[1]
        api_probe.close()
        as_probe.close()
        self.issuer = f"http://127.0.0.1:{as_port}"
        self.api = f"http://127.0.0.1:{api_port}"
        settings = ServerSettings(
            issuer=self.issuer,
            resources=(self.api,),
            registration_token=Secret(self.registration),
            admin_token=Secret(self.admin),
            trusted_proxies=parse_networks([f"{PROXY_ADDRESS}/32"]),
        )
        self.authorization_server = AuthorizationServer(
            settings, Store.open(f"sqlite:///{workdir / 'as.db'}")
        )
        self.as_server = _Server(create_app(self.authorization_server), as_port)
        api_settings = ExampleAPISettings(
            issuer=self.issuer,
            audience=self.api,
            public_url=self.api,
            require="bearer-allowed",  # an estate in migration: bearer still accepted
            trusted_proxies=parse_networks([f"{PROXY_ADDRESS}/32"]),
            revocation_poll_seconds=0.2,
            revocation_max_stale_seconds=30,
        )
        self.api_server = _Server(create_example_app(api_settings), api_port)

    def start(self) -> None:
        self.as_server.start()
        self.api_server.start()

    def stop(self) -> None:
        self.api_server.stop()
        self.as_server.stop()
        self.authorization_server.close()

    def register(self, metadata: dict[str, Any]) -> dict[str, Any]:
        with _client("127.0.0.1") as http:
            response = http.post(
                self.issuer + "/register",
                json=metadata,
                headers={"Authorization": f"Bearer {self.registration}"},
            )
        if response.status_code != 201:
            raise RuntimeError(f"registration failed: HTTP {response.status_code}")
        body: dict[str, Any] = response.json()
        return body


def _legacy_bearer(demo: _Demo) -> str:
    client = demo.register({"token_endpoint_auth_method": "client_secret_basic"})
    with _client("127.0.0.1") as http:
        response = http.post(
            demo.issuer + "/token",
            data={"grant_type": "client_credentials", "resource": demo.api},
            auth=(client["client_id"], client["client_secret"]),
        )
    token: str = response.json()["access_token"]
    return token


def run_demo(*, workdir: Path | None = None) -> list[Scenario]:
    """Run every scenario; returns their outcomes (servers stopped, files removed)."""
    from proofbound.client import DPoPAuth, DPoPKey, TokenSource
    from proofbound.dpop.proof import create_proof
    from proofbound.jwk.keys import PublicKey

    with contextlib.ExitStack() as stack:
        base = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pb-demo-")))
        demo = _Demo(base)
        demo.start()
        stack.callback(demo.stop)
        scenarios: list[Scenario] = []
        whoami = demo.api + "/whoami"

        # -- three legitimate workloads -------------------------------------------------------
        app_log = demo.leaks / "app.log"
        app_logger = logging.getLogger("proofbound.demo.app")
        app_logger.propagate = False
        handler = logging.FileHandler(app_log)
        app_logger.addHandler(handler)
        app_logger.setLevel(logging.INFO)
        stack.callback(app_logger.removeHandler, handler)
        stack.callback(handler.close)

        bearer = _legacy_bearer(demo)
        with _client("127.0.0.1") as http:
            legit = http.get(whoami, headers={"Authorization": f"Bearer {bearer}"})
        # the leak: a debug line that dumps the outgoing headers, unredacted
        app_logger.info("GET %s headers={'Authorization': 'Bearer %s'}", whoami, bearer)
        _log.info("legacy bearer client: %d", legit.status_code)

        dpop_key = DPoPKey.generate()
        dpop_client = demo.register(
            {
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [dpop_key.signing_key.public_jwk()]},
                "dpop_bound_access_tokens": True,
            }
        )
        source = TokenSource(
            demo.issuer, dpop_client["client_id"], key=dpop_key, resource=[demo.api]
        )
        stack.callback(source.close)
        captured: dict[str, str] = {}

        def capture(request: httpx.Request) -> None:  # what a proxy in the path records
            captured.update(request.headers)

        with httpx.Client(
            auth=DPoPAuth(dpop_key, source.token, nonces=source.nonces),
            event_hooks={"request": [capture]},
        ) as http:
            legit_dpop = http.get(whoami)
        (demo.leaks / "proxy-capture.txt").write_text(
            f"GET /whoami HTTP/1.1\nHost: {demo.api[7:]}\n"
            f"Authorization: {captured['authorization']}\nDPoP: {captured['dpop']}\n\n"
        )
        _log.info("DPoP client: %d", legit_dpop.status_code)

        cert_pem, cert = _self_signed("mtls-workload")
        from cryptography.hazmat.primitives.serialization import Encoding

        jwk = {
            **PublicKey(cert.public_key()).jwk,
            "x5c": [__import__("base64").b64encode(cert.public_bytes(Encoding.DER)).decode()],
        }
        mtls_client = demo.register(
            {
                "token_endpoint_auth_method": "self_signed_tls_client_auth",
                "jwks": {"keys": [jwk]},
                "tls_client_certificate_bound_access_tokens": True,
            }
        )
        proxy = _client(PROXY_ADDRESS)
        stack.callback(proxy.close)
        mtls_source = TokenSource(
            demo.issuer,
            mtls_client["client_id"],
            mode="mtls",
            auth="self_signed_tls_client_auth",
            certificate_pem=cert_pem,
            client_cert_header=CERT_HEADER,
            resource=[demo.api],
            http=proxy,
        )
        mtls_token = mtls_source.token()
        legit_mtls = proxy.get(
            whoami,
            headers={"Authorization": f"Bearer {mtls_token}", **mtls_source.certificate_headers},
        )
        (demo.leaks / "storage.json").write_text(
            json.dumps({"access_token": mtls_token, "token_type": "Bearer"})
        )
        _log.info("mTLS client: %d", legit_mtls.status_code)
        for label, response in (("bearer", legit), ("dpop", legit_dpop), ("mtls", legit_mtls)):
            scenarios.append(
                Scenario(
                    label,
                    "none",
                    "legitimate call",
                    200,
                    response.status_code,
                    _reason(response),
                    response.status_code == 200,
                )
            )

        # -- the attacker reads the leaks and replays from 127.0.0.3 ---------------------------
        stolen_bearer = _JWT.findall(app_log.read_text())[0]
        capture_text = (demo.leaks / "proxy-capture.txt").read_text()
        stolen_dpop = re.search(r"Authorization: DPoP (\S+)", capture_text)
        stolen_proof = re.search(r"DPoP: (\S+)", capture_text)
        stolen_mtls = json.loads((demo.leaks / "storage.json").read_text())["access_token"]
        if stolen_dpop is None or stolen_proof is None:
            raise RuntimeError("the proxy capture lost its headers")
        attacker = _client(ATTACKER_ADDRESS)
        stack.callback(attacker.close)
        attacker_key = DPoPKey.generate()
        attacker_cert_pem, _ = _self_signed("attacker")
        from proofbound.client.token_source import escaped_certificate

        def attempt(token: str, channel: str, attack: str, expected: int, **kw: Any) -> None:
            response = (kw.pop("via", attacker)).get(whoami, **kw)
            scenarios.append(
                Scenario(
                    token,
                    channel,
                    attack,
                    expected,
                    response.status_code,
                    _reason(response),
                    response.status_code == expected,
                )
            )

        attempt(
            "bearer",
            "application log",
            "replay the bearer token",
            200,
            headers={"Authorization": f"Bearer {stolen_bearer}"},
        )
        own_proof = create_proof(
            attacker_key.signing_key,
            htm="GET",
            htu=whoami,
            now=int(time.time()),
            access_token=stolen_dpop.group(1),
        )
        attempt(
            "dpop",
            "proxy capture",
            "token with a proof from the attacker's key",
            401,
            headers={"Authorization": f"DPoP {stolen_dpop.group(1)}", "DPoP": own_proof},
        )
        attempt(
            "dpop",
            "proxy capture",
            "captured request replayed verbatim",
            401,
            headers={
                "Authorization": f"DPoP {stolen_dpop.group(1)}",
                "DPoP": stolen_proof.group(1),
            },
        )
        attempt(
            "dpop",
            "proxy capture",
            "token downgraded to Bearer",
            401,
            headers={"Authorization": f"Bearer {stolen_dpop.group(1)}"},
        )
        attempt(
            "mtls",
            "copied storage item",
            "token without the certificate",
            401,
            headers={"Authorization": f"Bearer {stolen_mtls}"},
        )
        attempt(
            "mtls",
            "copied storage item",
            "token with the attacker's certificate",
            401,
            via=proxy,
            headers={
                "Authorization": f"Bearer {stolen_mtls}",
                CERT_HEADER: escaped_certificate(attacker_cert_pem),
            },
        )
        attempt(
            "mtls",
            "copied storage item",
            "certificate header sent past the proxy",
            401,
            headers={"Authorization": f"Bearer {stolen_mtls}", **mtls_source.certificate_headers},
        )

        # -- remediation: scan, revoke, redact -----------------------------------------------
        revoked = _scan_and_revoke(demo.leaks, demo.issuer, demo.admin)
        _log.info("scanner revoked %d live bearer token(s)", revoked)
        time.sleep(0.6)  # the API polls the revocation feed every 0.2 s
        attempt(
            "bearer",
            "application log",
            "replay after scan and revocation",
            401,
            headers={"Authorization": f"Bearer {stolen_bearer}"},
        )
        from proofbound import redact

        handler.addFilter(redact.RedactingFilter())
        app_logger.info("GET %s headers={'Authorization': 'Bearer %s'}", whoami, bearer)
        handler.flush()
        last_line = app_log.read_text().splitlines()[-1]
        clean = bearer not in last_line
        scenarios.append(
            Scenario(
                "bearer",
                "application log",
                "same log line with redaction on",
                0,
                0,
                "redacted" if clean else "token in log",
                clean,
            )
        )
        return scenarios
    raise AssertionError("unreachable")  # pragma: no cover - the with block returns


def _scan_and_revoke(paths: Path, issuer: str, admin_token: str) -> int:
    """What ``proofbound scan --revoke`` does: find live bearer tokens, revoke them."""
    from proofbound.leaks.scan import revoke_findings, scan_paths

    report = scan_paths([paths], now=int(time.time()))
    results = revoke_findings(report.live_bearer, issuer=issuer, admin_token=admin_token)
    return sum(1 for r in results.values() if r.outcome == "revoked")


_TITLES: Final = {
    "bearer": "Legacy bearer token (client_secret_basic, no binding)",
    "dpop": "DPoP-bound token (private_key_jwt + DPoP, cnf.jkt)",
    "mtls": "Certificate-bound token (self-signed mTLS, cnf.x5t#S256)",
}


def _print_tables(scenarios: list[Scenario]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=120)
    for token, title in _TITLES.items():
        table = Table(title=title, title_justify="left")
        for column in ("channel", "token type", "attacker's request", "expected", "result"):
            table.add_column(column)
        table.add_column("reason")
        for s in (s for s in scenarios if s.token == token):
            expected = "-" if s.expected == 0 else str(s.expected)
            result = "-" if s.status == 0 else str(s.status)
            style = "green" if s.ok else "bold red"
            table.add_row(s.channel, s.token, s.attack, expected, f"[{style}]{result}[/]", s.reason)
        console.print(table)


def main(*, as_json: bool) -> int:
    """Run the demo and print its outcome; the exit code."""
    scenarios = run_demo()
    ok = all(s.ok for s in scenarios)
    if as_json:
        print(json.dumps({"ok": ok, "scenarios": [asdict(s) for s in scenarios]}))
    else:
        _print_tables(scenarios)
        verdict = (
            "Verdict: the stolen bearer token worked until it was found and revoked; every stolen"
            " bound token was refused."
            if ok
            else "Verdict: some outcomes differed from what was expected (see the table)."
        )
        print(verdict)
    return 0 if ok else 1
