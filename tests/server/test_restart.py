"""``proofbound serve`` loses nothing to ``kill -9``, and stops cleanly on SIGTERM.

A real server process on a free loopback port is driven over HTTP: a client registers, gets a
DPoP-bound token (after the ``use_dpop_nonce`` round trip), and an operator revokes the token's
key. The process is then killed with SIGKILL right after the revocation's response and started
again on the same data: the signing keys, the client, the nonce secret, the spent single-use
identifiers (assertion and proof ``jti``) and the revocation are all still there.

The same scenario runs once against PostgreSQL, in a fresh schema that is dropped afterwards.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from proofbound import create_proof
from proofbound.jwk.keys import SigningKey, generate_key
from proofbound.jws import sign_compact

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
HEALTHY_WITHIN = 15.0
STOPPED_WITHIN = 5.0
REGISTRATION_TOKEN = secrets.token_urlsafe(24)
ADMIN_TOKEN = secrets.token_urlsafe(24)

EXECUTABLE = Path(sys.executable).with_name("proofbound")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    """One ``proofbound serve`` process; its output goes to ``log`` (never tokens or keys)."""

    command: list[str]
    base: str
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # PROOFBOUND_* variables configure `serve`; none from the test environment may leak in.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROOFBOUND_")}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 -- our own CLI, fixed arguments
                self.command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]

    def wait_healthy(self, http: httpx.Client) -> None:
        assert self.process is not None
        deadline = time.monotonic() + HEALTHY_WITHIN
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"server exited with {self.process.returncode}:\n{self.output()}")
            with contextlib.suppress(httpx.TransportError):
                if http.get(self.base + "/healthz", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.05)
        pytest.fail(f"server not healthy within {HEALTHY_WITHIN} s:\n{self.output()}")

    def signal(self, signum: int) -> int:
        """Send ``signum`` to the process and return its exit status (bounded wait)."""
        assert self.process is not None
        os.kill(self.pid, signum)
        return self.process.wait(timeout=STOPPED_WITHIN)

    def stop(self) -> None:
        """Make sure the process is gone (SIGTERM, then SIGKILL); never raises."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOPPED_WITHIN)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=STOPPED_WITHIN)


@dataclass
class Launcher:
    """Starts servers and stops every one of them at teardown."""

    tmp_path: Path
    started: list[ServerProcess] = field(default_factory=list)

    def command(self, port: int, *extra: str) -> list[str]:
        return [
            str(EXECUTABLE),
            "serve",
            "--issuer",
            f"http://127.0.0.1:{port}",
            "--port",
            str(port),
            "--data-dir",
            str(self.tmp_path / "data"),
            "--registration-token",
            REGISTRATION_TOKEN,
            "--admin-token",
            ADMIN_TOKEN,
            "--log-level",
            "warning",
            *extra,
        ]

    def start(self, command: list[str], http: httpx.Client) -> ServerProcess:
        port = command[command.index("--port") + 1]
        server = ServerProcess(command, f"http://127.0.0.1:{port}", self.tmp_path / "server.log")
        self.started.append(server)
        server.start()
        server.wait_healthy(http)
        return server


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


@pytest.fixture
def postgres_schema_url(postgres_url: str) -> Iterator[str]:
    """A URL whose ``search_path`` is a fresh schema of the test database (dropped after)."""
    name = f"pb_test_{secrets.token_hex(6)}"
    admin = sa.create_engine(postgres_url, poolclass=sa.NullPool)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
        url = sa.make_url(postgres_url).update_query_dict({"options": f"-csearch_path={name}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        admin.dispose()


# -- the client side ------------------------------------------------------------------------------


def expect(
    response: httpx.Response,
    status: int,
    error: str | None = None,
    description: str | None = None,
) -> None:
    """Check the status, OAuth ``error`` and its fixed ``error_description``; a failure names
    only those (a response body may hold a token)."""
    body: Any = None
    with contextlib.suppress(ValueError):
        body = response.json()
    got = body if isinstance(body, dict) else {}
    wanted = (status, error, description)
    seen = (
        response.status_code,
        got.get("error"),
        got.get("error_description") if description is not None else None,
    )
    assert seen == wanted, response.request.url.path


@dataclass
class Client:
    """A registered private_key_jwt client with DPoP-bound tokens."""

    http: httpx.Client
    base: str
    key: SigningKey
    client_id: str = ""
    nonce: str | None = None  # the latest DPoP-Nonce of the AS

    @property
    def token_endpoint(self) -> str:
        return self.base + "/token"

    def register(self) -> None:
        response = self.http.post(
            self.base + "/register",
            headers={"Authorization": f"Bearer {REGISTRATION_TOKEN}"},
            json={
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [self.key.public_jwk()]},
                "dpop_bound_access_tokens": True,
            },
        )
        expect(response, 201)
        self.client_id = response.json()["client_id"]

    def assertion(self, audience: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience,
            "exp": now + 60,
            "iat": now,
            "jti": secrets.token_urlsafe(16),
        }
        return sign_compact({"typ": "JWT", "kid": self.key.kid}, claims, self.key)

    def proof(self, dpop_key: SigningKey) -> str:
        return create_proof(
            dpop_key, htm="POST", htu=self.token_endpoint, now=int(time.time()), nonce=self.nonce
        )

    def request_token(
        self, dpop_key: SigningKey, *, assertion: str | None = None, proof: str | None = None
    ) -> httpx.Response:
        response = self.http.post(
            self.token_endpoint,
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion or self.assertion(self.token_endpoint),
            },
            headers={"DPoP": proof or self.proof(dpop_key)},
        )
        self.nonce = response.headers.get("DPoP-Nonce", self.nonce)
        return response

    def introspect(self, access_token: str, *, assertion: str | None = None) -> httpx.Response:
        endpoint = self.base + "/introspect"
        return self.http.post(
            endpoint,
            data={
                "token": access_token,
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion or self.assertion(endpoint),
            },
        )


def jwks(http: httpx.Client, base: str) -> list[dict[str, str]]:
    response = http.get(base + "/jwks")
    expect(response, 200)
    keys: list[dict[str, str]] = response.json()["keys"]
    assert keys
    return keys


def admin_revoke(http: httpx.Client, base: str, body: dict[str, str]) -> httpx.Response:
    return http.post(
        base + "/admin/revoke", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, json=body
    )


# -- the scenario ---------------------------------------------------------------------------------


def survives_kill_9(launcher: Launcher, http: httpx.Client, *extra: str) -> None:
    port = free_port()
    command = launcher.command(port, *extra)
    server = launcher.start(command, http)
    client = Client(http, server.base, generate_key("ES256"))
    old_dpop_key, new_dpop_key = generate_key("ES256"), generate_key("ES256")

    client.register()
    keys_before = jwks(http, server.base)
    first = client.request_token(old_dpop_key)
    expect(first, 400, "use_dpop_nonce")  # RFC 9449 §8: the AS asks for its nonce first
    assert client.nonce
    assertion = client.assertion(client.token_endpoint)
    proof = client.proof(old_dpop_key)
    issued = client.request_token(old_dpop_key, assertion=assertion, proof=proof)
    expect(issued, 200)
    assert issued.json()["token_type"] == "DPoP"
    revoked_token = issued.json()["access_token"]
    nonce_before_kill = client.nonce
    response = client.introspect(revoked_token)
    expect(response, 200)
    assert response.json()["active"] is True
    assert response.json()["cnf"] == {"jkt": old_dpop_key.thumbprint}

    revoked = admin_revoke(http, server.base, {"jkt": old_dpop_key.thumbprint})
    # kill -9 right after the last write was acknowledged: no shutdown code runs.
    os.kill(server.pid, signal.SIGKILL)
    expect(revoked, 200)
    assert revoked.json() == {"revoked": 1}
    assert server.process is not None
    assert server.process.wait(timeout=STOPPED_WITHIN) == -signal.SIGKILL

    server = launcher.start(command, http)

    # The signing keys: the same JWKS, so tokens issued before still verify.
    keys_after = jwks(http, server.base)
    assert [k["kid"] for k in keys_after] == [k["kid"] for k in keys_before]
    if keys_after != keys_before:
        pytest.fail("the published keys changed across the restart")

    # The client and the nonce secret: a nonce from before the kill is accepted at once.
    client.nonce = nonce_before_kill
    renewed = client.request_token(new_dpop_key)
    expect(renewed, 200)
    new_token = renewed.json()["access_token"]

    # The revocation: in the feed, and the revoked token stays dead.
    feed = http.get(server.base + "/revocations")
    expect(feed, 200)
    listed = {(e["kind"], e["value"]) for e in feed.json()["revocations"]}
    assert ("jkt", old_dpop_key.thumbprint) in listed
    response = client.introspect(revoked_token)
    expect(response, 200)
    assert response.json() == {"active": False}
    # Inactive because it is revoked, not because its record was lost: the AS still knows it
    # (an unknown token would be refused) and finds nothing left to revoke.
    again = admin_revoke(http, server.base, {"token": revoked_token})
    expect(again, 200)
    assert again.json() == {"revoked": 0}
    response = client.introspect(new_token)
    expect(response, 200)
    body = response.json()
    assert body["active"] is True
    assert body["client_id"] == client.client_id
    assert body["cnf"] == {"jkt": new_dpop_key.thumbprint}

    # The spent single-use identifiers: the assertion jti and the proof jti stay spent.
    replayed = "Client assertion was already used"
    response = client.request_token(new_dpop_key, assertion=assertion)
    expect(response, 400, "invalid_client", replayed)
    expect(client.introspect(new_token, assertion=assertion), 400, "invalid_client", replayed)
    response = client.request_token(old_dpop_key, proof=proof)
    expect(response, 400, "invalid_dpop_proof", "DPoP proof was already used")


def test_kill_9_loses_nothing_sqlite(launcher: Launcher, http: httpx.Client) -> None:
    survives_kill_9(launcher, http)
    assert (launcher.tmp_path / "data" / "proofbound.db").is_file()


@pytest.mark.postgres
def test_kill_9_loses_nothing_postgres(
    launcher: Launcher, http: httpx.Client, postgres_schema_url: str
) -> None:
    survives_kill_9(launcher, http, "--database-url", postgres_schema_url)
    assert not (launcher.tmp_path / "data" / "proofbound.db").exists()


def test_sigterm_stops_the_server_with_exit_code_0(launcher: Launcher, http: httpx.Client) -> None:
    server = launcher.start(launcher.command(free_port()), http)
    started = time.monotonic()
    status = server.signal(signal.SIGTERM)  # raises TimeoutExpired (a real failure) past 5 s
    assert time.monotonic() - started < STOPPED_WITHIN
    assert status == 0, f"exit status {status}"


def test_sigterm_stops_the_server_within_5_seconds(launcher: Launcher, http: httpx.Client) -> None:
    server = launcher.start(launcher.command(free_port()), http)
    client = Client(http, server.base, generate_key("ES256"))
    client.register()
    started = time.monotonic()
    status = server.signal(signal.SIGTERM)
    assert time.monotonic() - started < STOPPED_WITHIN
    assert status in (0, -signal.SIGTERM), f"exit status {status}"
    with pytest.raises(httpx.TransportError):
        http.get(server.base + "/healthz", timeout=1.0)
