"""Interoperability: the authorization code flow of ``proofbound serve`` with panva's openid-client.

An independent public client (``code_flow.mjs``: openid-client v6, ``token_endpoint_auth_method``
``none``, DPoP) discovers the AS (RFC 8414) and pushes an authorization request (RFC 9126) with
PKCE S256 (RFC 7636), ``state``, an RFC 8707 ``resource`` and a DPoP proof (RFC 9449 §10.1). This
test plays the browser: it follows ``/authorize`` to the login page, signs in as a user created
with ``proofbound users add``, approves on the consent page and hands the final redirect (code,
``state``, RFC 9207 ``iss``) back to the client, which redeems the code, refreshes (rotation),
and tries two refreshes that must fail: the rotated token under another DPoP key, and the first,
already rotated, token under the right key (reuse, which revokes the family).

The client reports facts only: no token, code, proof or key is printed, by it or by this test.
Needs Node 20+ and npm (see ``test_panva_client.py``); skips without them, or fails under
``PROOFBOUND_REQUIRE_BACKENDS=1``.
"""

from __future__ import annotations

import json
import os
import queue
import re
import secrets
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from . import test_panva_client as panva

HERE = panva.HERE
RESOURCE = panva.RESOURCE
SCOPE = "read write"
USERNAME = "alice"
_PASSWORD = secrets.token_urlsafe(18)  # this run's; never printed
PEER_TIMEOUT = 60.0
HTTP_TIMEOUT = 15.0

#: The session-scoped Node fixture (``npm ci`` of the pinned packages when needed).
node = panva.node


class _Inputs(HTMLParser):
    """The named ``<input>`` values of a page (hidden ``tx`` and ``csrf`` among them)."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        name, value = named.get("name"), named.get("value")
        if tag == "input" and name and value is not None:
            self.values[name] = value


def _hidden_inputs(page: str) -> dict[str, str]:
    parser = _Inputs()
    parser.feed(page)
    return parser.values


def _callback_port() -> int:
    """A loopback port for the redirect URI; nothing listens there (the test reads Location)."""
    return panva._free_port()


class Peer:
    """``node code_flow.mjs CONFIG`` with piped stdio; every read is bounded by a timeout."""

    def __init__(self, node_bin: str, config: Path) -> None:
        self.process = subprocess.Popen(  # noqa: S603 -- our own peer script, fixed arguments
            [node_bin, str(HERE / "code_flow.mjs"), str(config)],
            cwd=HERE,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        self._stderr: list[str] = []
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        stdout, stderr = self.process.stdout, self.process.stderr
        self._readers = [
            threading.Thread(target=self._pump, args=(stdout, self._lines.put), daemon=True),
            threading.Thread(target=self._pump, args=(stderr, self._stderr.append), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _pump(stream: IO[str], sink: Callable[[str], object]) -> None:
        for line in stream:
            sink(line)

    def stderr(self) -> str:
        return panva._tail("".join(self._stderr))

    def read_json(self, what: str) -> dict[str, Any]:
        """The next stdout line, one JSON object, within ``PEER_TIMEOUT``."""
        try:
            line = self._lines.get(timeout=PEER_TIMEOUT)
        except queue.Empty:
            self.stop()
            pytest.fail(f"code_flow.mjs: no {what} in {PEER_TIMEOUT:.0f} s:\n{self.stderr()}")
        value = json.loads(line)
        assert isinstance(value, dict), what
        return value

    def send_line(self, line: str) -> None:
        """Write one line to the peer's stdin and close it."""
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.close()

    def wait(self) -> int:
        try:
            returncode = self.process.wait(timeout=PEER_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.stop()
            pytest.fail(f"code_flow.mjs did not exit in {PEER_TIMEOUT:.0f} s:\n{self.stderr()}")
        return returncode

    def stop(self) -> None:
        """Kill the peer if it still runs; close its pipes once the readers are done."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        for reader in self._readers:
            reader.join(timeout=5)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None and not stream.closed:
                stream.close()


@dataclass(frozen=True)
class Run:
    """What one run of the flow showed: the peer's facts and what the browser side saw."""

    issuer: str
    client_id: str
    redirect_uri: str
    authorization_url: str
    login_location: str
    consent_location: str
    callback: dict[str, list[str]]
    callback_target: str
    facts: dict[str, Any]
    output: str

    def __repr__(self) -> str:  # the facts only; never the callback's code
        return f"Run(issuer={self.issuer!r}, facts={_facts(self.facts)})"


def _facts(value: Any) -> str:
    return json.dumps(value, indent=1, sort_keys=True)


@dataclass(frozen=True)
class AS:
    """The running server and its registration token (kept out of reprs and tracebacks)."""

    server: panva.Server
    registration_token: str = field(repr=False)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AS]:
    """``proofbound serve`` on 127.0.0.1 with registration enabled, and user alice."""
    registration_token = secrets.token_urlsafe(32)
    workdir = tmp_path_factory.mktemp("as-code-flow")
    # No certificate-bound clients here: the proxy range is one 127.0.0.1 is not in.
    started = panva.Server(workdir, registration_token, "10.0.0.0/8")
    try:
        started.wait_healthy()
        _add_user(workdir / "data", workdir / "password")  # Server keeps its data in workdir/data
        yield AS(started, registration_token)
    finally:
        started.stop()


def _add_user(data_dir: Path, password_file: Path) -> None:
    password_file.write_text(_PASSWORD + "\n", encoding="utf-8")
    password_file.chmod(0o600)
    command = [*panva._serve_command()[:-1], "users", "add", USERNAME]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROOFBOUND_")}
    result = subprocess.run(  # noqa: S603 -- our own CLI, fixed arguments
        [*command, "--data-dir", str(data_dir), "--password-file", str(password_file)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, panva._tail(result.stderr)
    assert json.loads(result.stdout) == {"username": USERNAME, "created": True}
    assert _PASSWORD not in result.stdout + result.stderr


def _register_public_client(issuer: str, registration_token: str, redirect_uri: str) -> str:
    response = httpx.post(
        f"{issuer}/register",
        json={
            "token_endpoint_auth_method": "none",
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "dpop_bound_access_tokens": True,
            "scope": SCOPE,
            "client_name": "openid-client interop",
        },
        headers={"Authorization": f"Bearer {registration_token}"},
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["token_endpoint_auth_method"] == "none"
    assert "client_secret" not in body
    return str(body["client_id"])


def _browse(browser: httpx.Client, issuer: str, authorization_url: str) -> tuple[str, str, str]:
    """Authorize, log in, approve: the login and consent Locations and the final redirect."""
    assert authorization_url.startswith(f"{issuer}/authorize?")
    started = browser.get(authorization_url)
    assert started.status_code == 303, started.text
    login_location = started.headers["Location"]
    assert login_location.startswith("/login?tx=")
    login = browser.get(login_location)
    assert login.status_code == 200, login.text
    fields = _hidden_inputs(login.text)
    assert {"tx", "csrf"} <= set(fields)
    signed_in = browser.post("/login", data={**fields, "username": USERNAME, "password": _PASSWORD})
    assert signed_in.status_code == 303, signed_in.text
    consent_location = signed_in.headers["Location"]
    assert consent_location.startswith("/consent?tx=")
    consent = browser.get(consent_location)
    assert consent.status_code == 200, consent.text
    fields = _hidden_inputs(consent.text)
    assert {"tx", "csrf"} <= set(fields)
    decided = browser.post("/consent", data={**fields, "decision": "approve"})
    assert decided.status_code == 303, decided.text
    return login_location, consent_location, decided.headers["Location"]


@pytest.fixture(scope="module")
def run(node: str, server: AS, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Register a public client, run code_flow.mjs and play the browser in between."""
    issuer = server.server.issuer
    redirect_uri = f"http://127.0.0.1:{_callback_port()}/callback"
    client_id = _register_public_client(issuer, server.registration_token, redirect_uri)
    config = tmp_path_factory.mktemp("code-flow") / "config.json"
    config.write_text(
        json.dumps(
            {
                "issuer": issuer,
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "resource": RESOURCE,
                "scope": SCOPE,
            }
        ),
        encoding="utf-8",
    )
    peer = Peer(node, config)
    try:
        first = peer.read_json("authorization URL")
        authorization_url = str(first["authorization_url"])
        with httpx.Client(base_url=issuer, follow_redirects=False, timeout=HTTP_TIMEOUT) as browser:
            login_location, consent_location, callback = _browse(browser, issuer, authorization_url)
        peer.send_line(callback)
        facts = peer.read_json("facts")
        returncode = peer.wait()
    finally:
        peer.stop()
    assert returncode == 0, peer.stderr()
    target = urlsplit(callback)
    return Run(
        issuer=issuer,
        client_id=client_id,
        redirect_uri=redirect_uri,
        authorization_url=authorization_url,
        login_location=login_location,
        consent_location=consent_location,
        callback=parse_qs(target.query),
        callback_target=f"{target.scheme}://{target.netloc}{target.path}",
        facts=facts,
        output=json.dumps(first) + "\n" + json.dumps(facts) + "\n" + peer.stderr(),
    )


def test_client_runs_the_pinned_packages(run: Run) -> None:
    lock = json.loads((HERE / "package-lock.json").read_text(encoding="utf-8"))["packages"]
    versions = run.facts["versions"]
    assert versions["openid-client"] == lock["node_modules/openid-client"]["version"] == "6.8.9"
    assert versions["jose"] == lock["node_modules/jose"]["version"]


def test_nothing_secret_is_printed(run: Run, server: AS) -> None:
    assert server.registration_token not in run.output
    assert _PASSWORD not in run.output
    for code in run.callback["code"]:
        assert code not in run.output
    # Nothing shaped like a JWS (access token, proof).
    assert re.search(r"eyJ[\w-]*\.[\w-]*\.", run.output) is None


def test_discovery_advertises_par_pkce_and_iss(run: Run) -> None:
    found = run.facts["discovery"]
    assert found["issuer"] == run.issuer
    assert found["authorization_endpoint"] == f"{run.issuer}/authorize"
    assert found["pushed_authorization_request_endpoint"] == f"{run.issuer}/par"
    assert found["token_endpoint"] == f"{run.issuer}/token"
    assert found["authorization_response_iss_parameter_supported"] is True
    assert found["code_challenge_methods_supported"] == ["S256"]


def test_par_carries_a_dpop_proof_after_one_nonce_round_trip(run: Run) -> None:
    par = run.facts["par"]
    assert [(r["status"], r["error"]) for r in par] == [(400, "use_dpop_nonce"), (201, None)], (
        _facts(par)
    )
    first, second = par
    for attempt in (first, second):
        assert attempt["dpop_proof"] is True
        assert attempt["proof_typ"] == "dpop+jwt"
        assert attempt["proof_htm"] == "POST"
        assert attempt["proof_htu"] == f"{run.issuer}/par"
        assert attempt["proof_ath_present"] is False
        assert attempt["proof_by_client_key"] is True
        assert attempt["authorization_scheme"] is None  # a public client: no client auth
        assert attempt["form_keys"] == [
            "client_id",
            "code_challenge",
            "code_challenge_method",
            "redirect_uri",
            "resource",
            "response_type",
            "scope",
            "state",
        ]
    assert first["proof_nonce_present"] is False
    assert first["dpop_nonce_header_present"] is True
    assert second["proof_nonce_present"] is True
    # The browser leg carries only the reference to the pushed request.
    assert run.facts["authorization_url_keys"] == ["client_id", "request_uri"]


def test_browser_leg_redirects_with_code_state_and_iss(run: Run) -> None:
    assert run.login_location.startswith("/login?tx=")
    assert run.consent_location.startswith("/consent?tx=")
    assert run.callback_target == run.redirect_uri
    assert sorted(run.callback) == ["code", "iss", "state"]
    assert run.callback["iss"] == [run.issuer]
    assert len(run.callback["state"]) == 1
    assert run.facts["callback_keys"] == ["code", "iss", "state"]


def test_code_grant_issues_a_dpop_bound_token_for_alice(run: Run) -> None:
    code = run.facts["code"]
    requests = code["requests"]
    # One request: the nonce from the PAR response is good at the token endpoint too.
    assert [r["status"] for r in requests] == [200], _facts(code)
    assert requests[0]["token_type"] == "DPoP"
    assert requests[0]["proof_nonce_present"] is True
    assert code["token_type_parsed"] == "dpop"
    assert code["refresh_token_issued"] is True
    assert set(code["scope"].split()) == set(SCOPE.split())
    assert requests[0]["dpop_proof"] is True
    assert requests[0]["proof_by_client_key"] is True
    assert requests[0]["proof_htm"] == "POST"
    assert requests[0]["proof_htu"] == f"{run.issuer}/token"
    assert requests[0]["proof_ath_present"] is False
    assert requests[0]["authorization_scheme"] is None
    # No resource at the token endpoint: the audience comes from the pushed request.
    assert requests[0]["form_keys"] == [
        "client_id",
        "code",
        "code_verifier",
        "grant_type",
        "redirect_uri",
    ]
    token = code["access_token"]
    assert token["verified"] is True, _facts(token)
    assert token["typ"].lower() in ("at+jwt", "application/at+jwt")
    assert token["iss"] == run.issuer
    assert token["sub"] == USERNAME
    assert token["aud"] == RESOURCE
    assert token["client_id"] == run.client_id
    assert set(token["scope"].split()) == set(SCOPE.split())
    assert token["cnf"] == {"jkt": run.facts["dpop_jkt"]}


def test_refresh_rotates_and_stays_bound(run: Run) -> None:
    refresh = run.facts["refresh"]
    requests = refresh["requests"]
    assert [r["status"] for r in requests] == [200], _facts(refresh)
    assert requests[0]["token_type"] == "DPoP"
    assert requests[0]["proof_by_client_key"] is True
    assert requests[0]["proof_nonce_present"] is True  # the nonce of the earlier responses
    assert requests[0]["proof_htu"] == f"{run.issuer}/token"
    assert requests[0]["authorization_scheme"] is None
    assert requests[0]["form_keys"] == ["client_id", "grant_type", "refresh_token"]
    assert refresh["token_type_parsed"] == "dpop"
    assert refresh["new_refresh_token"] is True
    assert refresh["new_access_token"] is True
    token = refresh["access_token"]
    assert token["verified"] is True, _facts(token)
    assert token["sub"] == USERNAME
    assert token["aud"] == RESOURCE
    assert token["client_id"] == run.client_id
    assert token["cnf"] == {"jkt": run.facts["dpop_jkt"]}


def _assert_refused(attempt: dict[str, Any], error: str) -> None:
    assert attempt["ok"] is False, _facts(attempt)
    assert attempt["failure"] == {"kind": "ResponseBodyError", "status": 400, "error": error}
    assert attempt["requests"][-1]["status"] == 400
    assert attempt["requests"][-1]["error"] == error
    assert attempt["requests"][-1]["token_type"] is None


def test_rotated_refresh_token_under_another_key_is_invalid_grant(run: Run) -> None:
    attempt = run.facts["wrong_key_refresh"]
    assert attempt["other_key_differs"] is True
    # A fresh key has no nonce yet: one use_dpop_nonce round trip, then the refusal.
    assert [(r["status"], r["error"]) for r in attempt["requests"]] == [
        (400, "use_dpop_nonce"),
        (400, "invalid_grant"),
    ], _facts(attempt)
    assert all(r["proof_by_client_key"] for r in attempt["requests"])  # the other key's proofs
    _assert_refused(attempt, "invalid_grant")


def test_reused_refresh_token_is_invalid_grant_and_ends_the_family(run: Run) -> None:
    reused = run.facts["reused_refresh"]
    assert len(reused["requests"]) == 1, _facts(reused)
    assert reused["requests"][0]["proof_by_client_key"] is True
    _assert_refused(reused, "invalid_grant")
    # Reuse detection revoked the family: the rotated token, under the right key, is dead too.
    after = run.facts["after_reuse_refresh"]
    assert len(after["requests"]) == 1, _facts(after)
    _assert_refused(after, "invalid_grant")


def test_nonce_round_trips(run: Run, server: AS) -> None:
    # PAR (first proof of the client's key) and the other key's first proof; the token endpoint
    # accepts the nonce the PAR endpoint handed out, which openid-client keeps per origin.
    assert run.facts["nonce_round_trips"] == 2, _facts(run.facts)
    assert server.server.process.poll() is None
