"""The client SDK against an independent resource server that demands DPoP nonces (issue 5).

The RS (``oauth4webapi_rs.mjs``) is node:http whose access token and proof validation is done by
panva's oauth4webapi (``validateJwtAccessToken`` with ``requireDPoP``; packages from
``tests/interop``); it trusts the tokens of ``proofbound serve`` through that AS's RFC 8414
metadata and JWKS. oauth4webapi checks neither proof nonces nor ``jti`` replay: the RS adds the
RS nonce of RFC 9449 §9 itself (one current random nonce, replaced on a test-only endpoint) and
keeps no ``jti`` cache, so these tests assert no replay detection.

* ``TokenSource`` + ``DPoPAuth``: the first GET takes exactly one extra round trip at the RS
  (401 ``use_dpop_nonce``, then 200), the second reuses the nonce, and after the RS rotates its
  nonce the next GET again takes exactly one retry; the binding is ``cnf.jkt`` = our thumbprint.
* What oauth4webapi refuses (pinned to its own error messages, from the RS log): a proof for
  another ``htu`` or ``htm``, a stale ``iat``, a spoiled proof or token signature, a proof from
  a key the token is not bound to; a client clock 10 minutes slow is corrected through the RS's
  ``Date`` in one retry.
* A proof replayed verbatim is accepted while the RS nonce is current (nothing here detects
  replay) and refused with ``use_dpop_nonce`` once the nonce rotated.

Node 20+ is needed: without it these tests skip, or fail under ``PROOFBOUND_REQUIRE_BACKENDS=1``
(CI). No token, proof or key is printed: assertions compare thumbprints, counts and status codes.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from tests._node import node_with_packages

from proofbound import create_proof
from proofbound.client import DPoPAuth, DPoPKey, TokenSource
from proofbound.client.httpx_auth import challenges
from proofbound.client.nonces import origin_of

HERE = Path(__file__).resolve().parent
INTEROP = HERE.parent / "interop"
EXECUTABLE = Path(sys.executable).with_name("proofbound")
REGISTRATION_TOKEN = secrets.token_urlsafe(24)
STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env() -> dict[str, str]:
    """The environment without PROOFBOUND_* (they configure every command)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PROOFBOUND_")}


def stop(popen: subprocess.Popen[Any]) -> None:
    """SIGTERM, then SIGKILL, by this process's own pid; never raises."""
    if popen.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            popen.send_signal(signal.SIGTERM)
        try:
            popen.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                popen.kill()
            popen.wait(timeout=STOP_TIMEOUT)
    for stream in (popen.stdin, popen.stdout, popen.stderr):
        if stream is not None:
            stream.close()


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Server logs are written as requests are answered: give the last line a moment."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def node() -> str:
    """A Node 20+ binary, with oauth4webapi installed in tests/interop/node_modules."""
    return node_with_packages(INTEROP, "oauth4webapi", what="oauth4webapi resource server")


@dataclass
class Stack:
    """``proofbound serve`` and the oauth4webapi RS on loopback."""

    issuer: str
    rs: str
    rs_log: Path
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10.0))

    @property
    def resource(self) -> str:
        return f"{self.rs}/resource"

    def register_dpop_client(self, key: DPoPKey) -> str:
        response = self.http.post(
            f"{self.issuer}/register",
            headers={"Authorization": f"Bearer {REGISTRATION_TOKEN}"},
            json={
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [key.signing_key.public_jwk()]},
                "dpop_bound_access_tokens": True,
            },
        )
        assert response.status_code == 201, response.status_code
        client_id = response.json()["client_id"]
        assert isinstance(client_id, str)
        return client_id

    def rotate_nonce(self) -> None:
        assert self.http.post(f"{self.rs}/_test/rotate-nonce").status_code == 204

    def rs_facts(self) -> list[dict[str, Any]]:
        """The RS's own record of the requests it answered, in order."""
        facts = []
        for line in self.rs_log.read_text(encoding="utf-8", errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                item = json.loads(line)
                if isinstance(item, dict) and "request" in item:
                    facts.append(item["request"])
        return facts


def _wait_healthy(popen: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with httpx.Client(timeout=1.0) as http:
        while time.monotonic() < deadline:
            if popen.poll() is not None:
                pytest.fail(f"proofbound serve exited:\n{log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.TransportError):
                if http.get(url).status_code == 200:
                    return
            time.sleep(0.05)
    pytest.fail(f"proofbound serve not healthy within {STARTUP_TIMEOUT} s")


def _readline(popen: subprocess.Popen[str], *, timeout: float) -> str:
    """The first stdout line, or "" when the process ends or ``timeout`` passes."""
    assert popen.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(popen.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            return ""
    return popen.stdout.readline()


@pytest.fixture(scope="module")
def stack(node: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("independent-rs")
    as_port, rs_port = free_port(), free_port()
    issuer, rs = f"http://127.0.0.1:{as_port}", f"http://127.0.0.1:{rs_port}"
    as_log, rs_log = tmp / "as.log", tmp / "rs.log"
    started: list[subprocess.Popen[Any]] = []
    logs: list[IO[Any]] = []
    try:
        as_out = as_log.open("wb")
        logs.append(as_out)
        as_popen = subprocess.Popen(  # noqa: S603 -- our own CLI, fixed arguments
            [
                str(EXECUTABLE),
                "serve",
                "--issuer",
                issuer,
                "--host",
                "127.0.0.1",
                "--port",
                str(as_port),
                "--data-dir",
                str(tmp / "data"),
                "--registration-token",
                REGISTRATION_TOKEN,
                "--resource",
                rs,
            ],
            stdin=subprocess.DEVNULL,
            stdout=as_out,
            stderr=as_out,
            env=clean_env(),
        )
        started.append(as_popen)
        _wait_healthy(as_popen, f"{issuer}/healthz", as_log)

        rs_err = rs_log.open("w", encoding="utf-8")
        logs.append(rs_err)
        rs_popen = subprocess.Popen(  # noqa: S603 -- our own script, fixed arguments
            [
                node,
                str(HERE / "oauth4webapi_rs.mjs"),
                "--port",
                str(rs_port),
                "--issuer",
                issuer,
                "--audience",
                rs,
            ],
            cwd=HERE,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=rs_err,
            text=True,
        )
        started.append(rs_popen)
        line = _readline(rs_popen, timeout=STARTUP_TIMEOUT)
        if not line:
            pytest.fail(f"oauth4webapi_rs.mjs printed nothing:\n{rs_log.read_text()[-2000:]}")
        assert json.loads(line) == {"url": rs}
        made = Stack(issuer, rs, rs_log)
        with made.http:
            yield made
    finally:
        for popen in reversed(started):
            stop(popen)
        for log in logs:
            log.close()


@dataclass
class Trace:
    """Every response httpx receives (auth retries included): ``(port path, status, error)``."""

    seen: list[tuple[str, int, str | None]] = field(default_factory=list)

    def __call__(self, response: httpx.Response) -> None:
        error = None
        for value in response.headers.get_list("www-authenticate"):
            for scheme, params in challenges(value):
                if scheme.lower() == "dpop":
                    error = params.get("error")
        url = response.request.url
        self.seen.append((f"{url.port} {url.path}", response.status_code, error))

    def at(self, base: str, path: str) -> list[tuple[int, str | None]]:
        where = f"{httpx.URL(base).port} {path}"
        return [(status, error) for place, status, error in self.seen if place == where]


@dataclass(frozen=True)
class Sent:
    """What one request carried when it was sent (a retry re-signs the same Request object)."""

    port: int | None
    authorization: str | None = field(repr=False)
    proof: str | None = field(repr=False)


@dataclass
class Client:
    key: DPoPKey
    client_id: str
    source: TokenSource
    api: httpx.Client
    trace: Trace
    sent: list[Sent]


@contextlib.contextmanager
def dpop_client(stack: Stack, *, clock: Callable[[], float] = time.time) -> Iterator[Client]:
    """A registered private_key_jwt + DPoP client: TokenSource and an httpx.Client with DPoPAuth,
    both traced; ``clock`` is the proofs' clock only (the AS sees correct assertions)."""
    key = DPoPKey.generate()
    client_id = stack.register_dpop_client(key)
    trace = Trace()
    sent: list[Sent] = []

    def record(request: httpx.Request) -> None:
        headers = request.headers
        sent.append(Sent(request.url.port, headers.get("authorization"), headers.get("dpop")))

    hooks: dict[str, list[Callable[..., Any]]] = {"response": [trace], "request": [record]}
    source = TokenSource(
        stack.issuer,
        client_id,
        key=key,
        resource=[stack.rs],
        http=httpx.Client(timeout=10.0, event_hooks=hooks),
    )
    auth = DPoPAuth(source.dpop_key, source.token, nonces=source.nonces, clock=clock)
    with source.http, httpx.Client(timeout=10.0, auth=auth, event_hooks=hooks) as api:
        yield Client(key, client_id, source, api, trace, sent)


NONCE_ROUND_TRIP = [(401, "use_dpop_nonce"), (200, None)]


def test_one_nonce_round_trip_then_reuse_then_one_retry_after_rotation(stack: Stack) -> None:
    facts_before = len(stack.rs_facts())
    with dpop_client(stack) as client:
        first = client.api.get(stack.resource)
        assert first.status_code == 200
        assert first.json()["cnf"] == {"jkt": client.key.thumbprint}
        assert first.json()["client_id"] == client.client_id
        assert first.json()["sub"] == client.client_id
        assert client.trace.at(stack.rs, "/resource") == NONCE_ROUND_TRIP
        # our AS asked for its own nonce once; the token was then cached
        assert client.trace.at(stack.issuer, "/token") == [(400, None), (200, None)]
        assert client.source.requests == 2

        second = client.api.get(stack.resource)
        assert second.status_code == 200
        assert second.json()["cnf"] == {"jkt": client.key.thumbprint}
        assert client.trace.at(stack.rs, "/resource") == [*NONCE_ROUND_TRIP, (200, None)]

        stack.rotate_nonce()
        third = client.api.get(stack.resource)
        assert third.status_code == 200
        assert third.json()["cnf"] == {"jkt": client.key.thumbprint}
        assert client.trace.at(stack.rs, "/resource") == [
            *NONCE_ROUND_TRIP,
            (200, None),
            *NONCE_ROUND_TRIP,
        ]
        assert client.source.requests == 2  # the token outlived the RS nonce
        proofs = [s.proof for s in client.sent if s.port == httpx.URL(stack.rs).port]
        distinct = len(set(proofs))  # counted first: an assertion message never shows a proof
        assert distinct == 5  # a fresh proof every time

    # the RS saw the same: a proof without a nonce, then with the current one; the stale one
    def answered() -> list[dict[str, Any]]:
        return [f for f in stack.rs_facts()[facts_before:] if f["path"] == "/resource"]

    wait_for(lambda: len(answered()) >= 5, "the RS log lines")
    assert [(f["status"], f["error"], f["proof_nonce"]) for f in answered()] == [
        (401, "use_dpop_nonce", False),
        (200, None, True),
        (200, None, True),
        (401, "use_dpop_nonce", True),  # the old nonce, refused as stale
        (200, None, True),
    ]


def _by_hand(
    stack: Stack,
    client: Client,
    *,
    htm: str = "GET",
    htu: str | None = None,
    key: DPoPKey | None = None,
    now: int | None = None,
    forge_token: bool = False,
    forge_proof: bool = False,
) -> httpx.Response:
    """One request with a proof built by hand, carrying the RS's current nonce; ``forge_*``
    spoils the signature of the access token (the proof's ``ath`` then matches the spoiled
    token) or of the proof."""
    token = client.source.token()
    if forge_token:
        token = _spoil_signature(token)
    proof = create_proof(
        (key or client.key).signing_key,
        htm=htm,
        htu=htu or stack.resource,
        now=int(time.time()) if now is None else now,
        access_token=token,
        nonce=client.source.nonces.get(origin_of(httpx.URL(stack.rs))),
    )
    if forge_proof:
        proof = _spoil_signature(proof)
    return stack.http.get(stack.resource, headers={"Authorization": f"DPoP {token}", "DPoP": proof})


def _spoil_signature(compact: str) -> str:
    """The same JWS with the start of its signature reversed (the last character, whose spare
    bits a strict base64url decoder checks, is kept)."""
    signing_input, signature = compact.rsplit(".", 1)
    spoiled = signature[:10][::-1] + signature[10:]
    assert spoiled != signature
    return f"{signing_input}.{spoiled}"


def _error(response: httpx.Response) -> str | None:
    for scheme, params in challenges(response.headers.get("www-authenticate", "")):
        if scheme.lower() == "dpop":
            return params.get("error")
    return None


def test_oauth4webapi_refuses_proofs_that_do_not_match_the_request(stack: Stack) -> None:
    facts_before = len(stack.rs_facts())
    with dpop_client(stack) as client:
        assert client.api.get(stack.resource).status_code == 200  # token and RS nonce known
        control = _by_hand(stack, client)
        assert control.status_code == 200, _error(control)
        assert control.json()["cnf"] == {"jkt": client.key.thumbprint}

        wrong_htu = _by_hand(stack, client, htu=f"{stack.rs}/elsewhere")
        wrong_port = _by_hand(stack, client, htu=f"http://127.0.0.1:{free_port()}/resource")
        wrong_htm = _by_hand(stack, client, htm="POST")
        stale = _by_hand(stack, client, now=int(time.time()) - 600)
        for refused in (wrong_htu, wrong_port, wrong_htm, stale):
            assert refused.status_code == 401
            assert _error(refused) == "invalid_dpop_proof"
            assert "DPoP-Nonce" in refused.headers

        # a proof whose signature does not verify; an access token whose signature does not
        bad_proof = _by_hand(stack, client, forge_proof=True)
        assert bad_proof.status_code == 401
        assert _error(bad_proof) == "invalid_dpop_proof"
        bad_token = _by_hand(stack, client, forge_token=True)
        assert bad_token.status_code == 401
        assert _error(bad_token) == "invalid_token"

        # a valid proof from a key the token is not bound to: cnf.jkt mismatch
        other_key = _by_hand(stack, client, key=DPoPKey.generate())
        assert other_key.status_code == 401
        assert _error(other_key) == "invalid_token"

        # no Authorization at all: a bare challenge (RFC 6750 §3.1), no error code
        bare = stack.http.get(stack.resource)
        assert bare.status_code == 401
        assert challenges(bare.headers["www-authenticate"]) == [("DPoP", {"algs": "ES256"})]

    # and each refusal was oauth4webapi's, for the reason meant (its error messages, in order)
    def refusals() -> list[tuple[str, str]]:
        facts = stack.rs_facts()[facts_before:]
        return [(f["error"], f["reason"]) for f in facts if f["reason"] is not None]

    wait_for(lambda: len(refusals()) >= 7, "the RS log lines")
    assert refusals() == [
        ("invalid_dpop_proof", "DPoP Proof htu mismatch"),
        ("invalid_dpop_proof", "DPoP Proof htu mismatch"),
        ("invalid_dpop_proof", "DPoP Proof htm mismatch"),
        ("invalid_dpop_proof", "DPoP Proof iat is not recent enough"),
        ("invalid_dpop_proof", "JWT signature verification failed"),
        ("invalid_token", "JWT signature verification failed"),
        ("invalid_token", "JWT Access Token confirmation mismatch"),
    ]


def test_a_slow_client_clock_is_corrected_in_one_retry(stack: Stack) -> None:
    """Proofs 10 minutes old are refused by oauth4webapi (``iat`` more than 300 s off) as
    ``invalid_dpop_proof``; the RS's ``Date`` lets DPoPAuth correct its clock, and the one retry
    also carries the RS nonce learned from the refusal."""
    with dpop_client(stack, clock=lambda: time.time() - 600) as client:
        response = client.api.get(stack.resource)
        assert response.status_code == 200
        assert response.json()["cnf"] == {"jkt": client.key.thumbprint}
        assert client.trace.at(stack.rs, "/resource") == [(401, "invalid_dpop_proof"), (200, None)]
        again = client.api.get(stack.resource)
        assert again.status_code == 200
        assert client.trace.at(stack.rs, "/resource")[2:] == [(200, None)]


def test_a_replayed_proof_is_bounded_only_by_the_rs_nonce(stack: Stack) -> None:
    """oauth4webapi keeps no ``jti`` cache and neither does this RS: a verbatim replay is
    accepted while the nonce is current. Once the RS rotated its nonce the same proof is refused
    with ``use_dpop_nonce`` -- the nonce is what limits the replay window here."""
    with dpop_client(stack) as client:
        assert client.api.get(stack.resource).status_code == 200
        accepted = client.sent[-1]
        assert accepted.authorization is not None
        assert accepted.proof is not None
        headers = {"Authorization": accepted.authorization, "DPoP": accepted.proof}

        replayed = stack.http.get(stack.resource, headers=headers)
        assert replayed.status_code == 200  # no replay detection at this peer
        assert replayed.json()["cnf"] == {"jkt": client.key.thumbprint}

        stack.rotate_nonce()
        after_rotation = stack.http.get(stack.resource, headers=headers)
        assert after_rotation.status_code == 401
        assert _error(after_rotation) == "use_dpop_nonce"
        assert after_rotation.headers["DPoP-Nonce"] != replayed.headers["DPoP-Nonce"]
