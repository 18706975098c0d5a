"""``proofbound example-api`` for real: processes on loopback in front of ``proofbound serve``.

One authorization server and one example API are started for the module; the AS issues tokens
with ``aud`` = the API's URL (``--resource``). A private_key_jwt client registers and gets
DPoP-bound tokens (after the AS's ``use_dpop_nonce`` round trip), and the API is called with
fresh proofs. Other tests start their own API processes: two sharing a Redis replay cache, a
``--workers 2`` one, one whose AS is not there. Every process is stopped by its pid (SIGTERM,
then SIGKILL) and every wait is bounded. Nothing here prints a token, a proof or a key.
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

import httpx
import pytest

from proofbound import SigningKey, create_proof, generate_key
from proofbound.jws import sign_compact

EXECUTABLE = Path(sys.executable).with_name("proofbound")
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
HEALTHY_WITHIN = 15.0
STOPPED_WITHIN = 5.0
REVOKED_WITHIN = 5.0
REGISTRATION_TOKEN = secrets.token_urlsafe(24)
ADMIN_TOKEN = secrets.token_urlsafe(24)
METADATA_PATH = "/.well-known/oauth-protected-resource"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def children_of(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


@dataclass
class Process:
    """One ``proofbound`` process; its output goes to ``log`` (never tokens or keys)."""

    args: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        # PROOFBOUND_* variables configure the commands: none from the test environment may leak.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROOFBOUND_")}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 -- our own CLI, fixed arguments
                [str(EXECUTABLE), *self.args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def wait_healthy(self, base: str) -> None:
        assert self.process is not None
        deadline = time.monotonic() + HEALTHY_WITHIN
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"{self.args[0]} exited with {self.process.returncode}:\n{self.output()}"
                )
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(base + "/healthz", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.05)
        pytest.fail(f"{self.args[0]} not healthy within {HEALTHY_WITHIN} s:\n{self.output()}")

    def terminate(self) -> int:
        """SIGTERM and the exit status (raises TimeoutExpired past STOPPED_WITHIN)."""
        assert self.process is not None
        os.kill(self.pid, signal.SIGTERM)
        return self.process.wait(timeout=STOPPED_WITHIN)

    def stop(self) -> None:
        """Make sure the process and its workers are gone; never raises."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        children = children_of(process.pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOPPED_WITHIN)
        except subprocess.TimeoutExpired:
            for pid in (process.pid, *children):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            process.wait(timeout=STOPPED_WITHIN)


@dataclass
class Launcher:
    directory: Path
    started: list[Process] = field(default_factory=list)

    def start(self, name: str, *args: str) -> Process:
        process = Process(list(args), self.directory / f"{name}.log").start()
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            process.stop()


def api_args(issuer: str, port: int, *extra: str) -> list[str]:
    return [
        "example-api",
        "--issuer",
        issuer,
        "--port",
        str(port),
        "--log-level",
        "warning",
        *extra,
    ]


@dataclass
class World:
    launcher: Launcher
    issuer: str
    api: str  # the module's example API, also the tokens' audience
    api_process: Process


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    launcher = Launcher(tmp_path_factory.mktemp("example-api"))
    as_port, api_port = free_port(), free_port()
    issuer, api = f"http://127.0.0.1:{as_port}", f"http://127.0.0.1:{api_port}"
    try:
        server = launcher.start(
            "as",
            "serve",
            "--issuer",
            issuer,
            "--port",
            str(as_port),
            "--data-dir",
            str(launcher.directory / "data"),
            "--registration-token",
            REGISTRATION_TOKEN,
            "--admin-token",
            ADMIN_TOKEN,
            "--resource",
            api,
            "--log-level",
            "warning",
        )
        # Started together: the API finds the AS lazily, on the first protected request.
        example = launcher.start(
            "api",
            *api_args(issuer, api_port, "--audience", api, "--revocation-poll-seconds", "0.5"),
        )
        server.wait_healthy(issuer)
        example.wait_healthy(api)
        yield World(launcher, issuer, api, example)
    finally:
        launcher.stop_all()


@pytest.fixture
def launcher(world: World, tmp_path: Path) -> Iterator[Launcher]:
    made = Launcher(tmp_path)
    try:
        yield made
    finally:
        made.stop_all()


# -- the client -----------------------------------------------------------------------------------


@dataclass
class Client:
    """A registered private_key_jwt client that gets DPoP-bound tokens."""

    http: httpx.Client
    issuer: str
    key: SigningKey = field(default_factory=lambda: generate_key("ES256"))
    client_id: str = ""
    nonce: str | None = None  # the AS's latest DPoP-Nonce

    def register(self) -> Client:
        response = self.http.post(
            self.issuer + "/register",
            headers={"Authorization": f"Bearer {REGISTRATION_TOKEN}"},
            json={
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [self.key.public_jwk()]},
                "dpop_bound_access_tokens": True,
            },
        )
        assert response.status_code == 201
        self.client_id = response.json()["client_id"]
        return self

    def token(self, dpop_key: SigningKey) -> str:
        endpoint = self.issuer + "/token"
        for _ in range(2):  # RFC 9449 §8: the first answer may ask for the AS's nonce
            now = int(time.time())
            assertion = sign_compact(
                {"typ": "JWT", "kid": self.key.kid},
                {
                    "iss": self.client_id,
                    "sub": self.client_id,
                    "aud": endpoint,
                    "exp": now + 60,
                    "iat": now,
                    "jti": secrets.token_urlsafe(16),
                },
                self.key,
            )
            proof = create_proof(dpop_key, htm="POST", htu=endpoint, now=now, nonce=self.nonce)
            response = self.http.post(
                endpoint,
                data={
                    "grant_type": "client_credentials",
                    "client_assertion_type": ASSERTION_TYPE,
                    "client_assertion": assertion,
                },
                headers={"DPoP": proof},
            )
            self.nonce = response.headers.get("DPoP-Nonce", self.nonce)
            if response.status_code == 200:
                body = response.json()
                assert body["token_type"] == "DPoP"
                return str(body["access_token"])
        pytest.fail(f"no token from the AS: HTTP {response.status_code}")


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as client:
        yield client


@pytest.fixture(scope="module")
def client(world: World, http: httpx.Client) -> Client:
    return Client(http, world.issuer).register()


def dpop_headers(key: SigningKey, token: str, htu: str) -> dict[str, str]:
    proof = create_proof(key, htm="GET", htu=htu, now=int(time.time()), access_token=token)
    return {"Authorization": f"DPoP {token}", "DPoP": proof}


def challenge_error(response: httpx.Response, scheme: str) -> str | None:
    """The ``error`` of the challenge of ``scheme`` in ``WWW-Authenticate`` (None: no error)."""
    header = response.headers.get("www-authenticate", "")
    start = header.find(f"{scheme} ")
    if start < 0:
        return None
    rest = header[start + len(scheme) + 1 :]
    if rest.startswith('error="'):
        return str(rest[len('error="') :].split('"', 1)[0])
    return None


# -- the module's API -----------------------------------------------------------------------------


def test_dpop_token_with_a_fresh_proof_then_its_replay(
    world: World, client: Client, http: httpx.Client
) -> None:
    dpop_key = generate_key("ES256")
    token = client.token(dpop_key)
    headers = dpop_headers(dpop_key, token, world.api + "/whoami")
    response = http.get(world.api + "/whoami", headers=headers)
    assert response.status_code == 200, response.headers.get("www-authenticate")
    body = response.json()
    assert body["iss"] == world.issuer
    assert body["client_id"] == client.client_id
    assert body["sub"] == client.client_id
    assert isinstance(body["scope"], str)
    assert body["binding"] == "dpop"
    assert body["cnf"] == {"jkt": dpop_key.thumbprint}
    assert set(body) == {"iss", "sub", "client_id", "scope", "binding", "cnf"}
    for secret in (token, *token.split("."), headers["DPoP"]):
        assert secret not in response.text
    replayed = http.get(world.api + "/whoami", headers=headers)
    assert replayed.status_code == 401
    assert challenge_error(replayed, "DPoP") == "invalid_dpop_proof"
    metrics = http.get(world.api + "/metrics")
    assert metrics.status_code == 200
    replays = [
        line
        for line in metrics.text.splitlines()
        if line.startswith("proofbound_guard_replays_blocked_total ")
    ]
    assert replays
    assert float(replays[0].split()[1]) >= 1


def test_a_dpop_bound_token_as_bearer_is_refused(
    world: World, client: Client, http: httpx.Client
) -> None:
    token = client.token(generate_key("ES256"))
    response = http.get(world.api + "/whoami", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert challenge_error(response, "Bearer") == "invalid_token"


def test_healthz_needs_no_token_and_whoami_does(world: World, http: httpx.Client) -> None:
    health = http.get(world.api + "/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    refused = http.get(world.api + "/whoami")
    assert refused.status_code == 401
    assert challenge_error(refused, "DPoP") is None  # no credentials: a bare challenge
    assert f'resource_metadata="{world.api}{METADATA_PATH}"' in refused.headers["www-authenticate"]


def test_protected_resource_metadata(world: World, http: httpx.Client) -> None:
    response = http.get(world.api + METADATA_PATH)
    assert response.status_code == 200
    document = response.json()
    assert document == {
        "resource": world.api,
        "authorization_servers": [world.issuer],
        "bearer_methods_supported": ["header"],
        "dpop_signing_alg_values_supported": document["dpop_signing_alg_values_supported"],
        "dpop_bound_access_tokens_required": False,  # the default policy also takes mTLS
        "tls_client_certificate_bound_access_tokens": True,
    }
    assert "ES256" in document["dpop_signing_alg_values_supported"]
    # The AS advertises the same audience as a protected resource.
    as_metadata = http.get(world.issuer + "/.well-known/oauth-authorization-server").json()
    assert world.api in as_metadata["protected_resources"]


def test_an_admin_revocation_reaches_the_api_through_the_feed(
    world: World, client: Client, http: httpx.Client
) -> None:
    dpop_key = generate_key("ES256")
    token = client.token(dpop_key)
    url = world.api + "/whoami"
    assert http.get(url, headers=dpop_headers(dpop_key, token, url)).status_code == 200
    revoked = http.post(
        world.issuer + "/admin/revoke",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        json={"jkt": dpop_key.thumbprint},
    )
    assert (revoked.status_code, revoked.json()) == (200, {"revoked": 1})
    started = time.monotonic()
    while True:
        response = http.get(url, headers=dpop_headers(dpop_key, token, url))
        if response.status_code != 200 or time.monotonic() - started > REVOKED_WITHIN:
            break
        time.sleep(0.1)
    assert response.status_code == 401, f"still accepted after {REVOKED_WITHIN} s"
    assert challenge_error(response, "DPoP") == "invalid_token"
    # Another key of the same client is not affected.
    other = generate_key("ES256")
    fresh = client.token(other)
    assert http.get(url, headers=dpop_headers(other, fresh, url)).status_code == 200


# -- processes of their own -----------------------------------------------------------------------


@pytest.mark.redis
def test_two_processes_sharing_redis_refuse_each_others_replays(
    world: World, client: Client, http: httpx.Client, launcher: Launcher, redis_url: str
) -> None:
    import redis

    prefix = f"proofbound:test:{secrets.token_hex(8)}:"
    public = "https://api.example.test"  # both behind one (imaginary) load balancer
    ports = [free_port(), free_port()]
    shared = ("--audience", world.api, "--public-url", public, "--redis-url", redis_url)
    apis = [
        launcher.start(
            f"api-{i}", *api_args(world.issuer, port, *shared, "--redis-key-prefix", prefix)
        )
        for i, port in enumerate(ports)
    ]
    store = redis.Redis.from_url(redis_url)
    try:
        for process, port in zip(apis, ports, strict=True):
            process.wait_healthy(f"http://127.0.0.1:{port}")
        dpop_key = generate_key("ES256")
        token = client.token(dpop_key)
        headers = dpop_headers(dpop_key, token, public + "/whoami")
        first = http.get(f"http://127.0.0.1:{ports[0]}/whoami", headers=headers)
        assert first.status_code == 200, first.headers.get("www-authenticate")
        assert list(store.scan_iter(match=prefix + "*")), "the proof's jti is in Redis"
        replayed = http.get(f"http://127.0.0.1:{ports[1]}/whoami", headers=headers)
        assert replayed.status_code == 401
        assert challenge_error(replayed, "DPoP") == "invalid_dpop_proof"
        # The second process is fine otherwise: a fresh proof passes there.
        fresh = dpop_headers(dpop_key, token, public + "/whoami")
        assert http.get(f"http://127.0.0.1:{ports[1]}/whoami", headers=fresh).status_code == 200
    finally:
        for key in store.scan_iter(match=prefix + "*"):
            store.delete(key)
        store.close()


@pytest.mark.redis
def test_workers_share_the_redis_replay_cache_and_stop_on_sigterm(
    world: World, client: Client, http: httpx.Client, launcher: Launcher, redis_url: str
) -> None:
    import redis

    prefix = f"proofbound:test:{secrets.token_hex(8)}:"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    extra = ("--audience", world.api, "--redis-url", redis_url, "--redis-key-prefix", prefix)
    process = launcher.start("workers", *api_args(world.issuer, port, "--workers", "2", *extra))
    try:
        process.wait_healthy(base)
        workers = children_of(process.pid)
        assert len(workers) >= 2, workers  # the parent supervises at least two workers
        dpop_key = generate_key("ES256")
        token = client.token(dpop_key)
        headers = dpop_headers(dpop_key, token, base + "/whoami")
        # New connections, so the kernel may hand them to either worker.
        assert httpx.get(base + "/whoami", headers=headers).status_code == 200
        for _ in range(3):
            replayed = httpx.get(base + "/whoami", headers=headers)
            assert challenge_error(replayed, "DPoP") == "invalid_dpop_proof"
        started = time.monotonic()
        assert process.terminate() == 0
        assert time.monotonic() - started < STOPPED_WITHIN
        deadline = time.monotonic() + STOPPED_WITHIN
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in workers if _alive(pid)], "workers outlived their parent"
    finally:
        store = redis.Redis.from_url(redis_url)
        for key in store.scan_iter(match=prefix + "*"):
            store.delete(key)
        store.close()


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its reaper does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return not stat.rsplit(") ", 1)[1].startswith("Z")


def test_workers_without_redis_are_refused(world: World, launcher: Launcher) -> None:
    process = launcher.start("refused", *api_args(world.issuer, free_port(), "--workers", "2"))
    assert process.process is not None
    assert process.process.wait(timeout=HEALTHY_WITHIN) == 2
    lines = process.output().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: --workers 2 needs --redis-url")


def test_without_its_as_the_api_starts_answers_503_and_stops_on_sigterm(
    launcher: Launcher, tmp_path: Path
) -> None:
    absent = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = launcher.start("lonely", *api_args(absent, port))
    process.wait_healthy(base)
    dpop_key = generate_key("ES256")
    fake = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln"  # JWT-shaped: keys must be fetched
    response = httpx.get(base + "/whoami", headers=dpop_headers(dpop_key, fake, base + "/whoami"))
    assert response.status_code == 503
    assert "www-authenticate" not in response.headers
    assert httpx.get(base + "/healthz").status_code == 200
    started = time.monotonic()
    assert process.terminate() == 0
    assert time.monotonic() - started < STOPPED_WITHIN
    with pytest.raises(httpx.TransportError):
        httpx.get(base + "/healthz", timeout=1.0)
    assert "Traceback" not in process.output()
