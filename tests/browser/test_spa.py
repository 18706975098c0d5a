"""The single-page app (``examples/spa``) in a real browser: headless Chromium and Playwright.

``proofbound serve`` (with CORS for the app's origin), a local user, a public client registered
through RFC 7591, ``proofbound example-api --require dpop --nonce`` and a static server for the
app run on loopback ports. ``drive.mjs`` (pinned ``playwright-core`` on the system Chromium,
``/usr/bin/chromium``; it never downloads a browser) logs in through the AS's login and consent
pages, calls the API from the page, refreshes, reloads, calls again, saves a screenshot and hands
the tokens it read from sessionStorage to these tests, which replay them from outside the browser:
without the page's non-extractable key they must be refused (RFC 9449 §7.1, §5).

A self-test needs no AS: the app's DPoP module runs in the page and its proof is verified here.

Chromium comes from Debian (``chromium``, ``chromium-driver``, installed with apt-get when
missing), ``playwright-core`` from ``package-lock.json`` (``npm ci`` when ``node_modules`` is
missing). When either cannot be had the tests skip, or fail under
``PROOFBOUND_REQUIRE_BACKENDS=1`` (CI). The screenshot goes to ``$PROOFBOUND_ARTIFACTS`` or
``tests/browser/artifacts/``. No token, proof, code or password is printed by these tests.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest
from tests._node import node_with_packages

from proofbound import create_proof, generate_key, jwk_thumbprint, verify_proof
from proofbound.errors import InvalidDPoPProof

HERE = Path(__file__).resolve().parent
SPA = HERE.parents[1] / "examples" / "spa"
REQUIRE_BACKENDS = os.environ.get("PROOFBOUND_REQUIRE_BACKENDS") == "1"
CHROMIUM = Path("/usr/bin/chromium")
EXECUTABLE = Path(sys.executable).with_name("proofbound")

APT_TIMEOUT = 600.0  # apt-get update, and apt-get install, each
STARTUP_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
DRIVE_TIMEOUT = 120.0
BROWSER_WAIT_MS = 20_000  # each wait inside the browser
SCOPE = "read"
USERNAME = "alice"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _unavailable(why: str) -> NoReturn:
    """Skip, or fail when backends are required (CI)."""
    message = f"browser test unavailable: {why}"
    if REQUIRE_BACKENDS:
        pytest.fail(message)
    pytest.skip(message)


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- what the tests need on the machine ----------------------------------------------------------


@pytest.fixture(scope="session")
def chromium() -> Path:
    """``/usr/bin/chromium``; Debian's ``chromium`` and ``chromium-driver`` installed if missing."""
    if not CHROMIUM.exists():
        apt_get = shutil.which("apt-get")
        if apt_get is None or os.geteuid() != 0:
            _unavailable(f"{CHROMIUM} is missing and cannot be installed (needs root and apt-get)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        steps = [
            [apt_get, "update", "-qq"],
            [apt_get, "install", "-y", "-qq", "chromium", "chromium-driver"],
        ]
        for step in steps:
            try:
                result = subprocess.run(  # noqa: S603 -- fixed arguments
                    step, capture_output=True, text=True, env=env, timeout=APT_TIMEOUT, check=False
                )
            except subprocess.TimeoutExpired:
                _unavailable(f"`apt-get {step[1]}` took more than {APT_TIMEOUT:.0f} s")
            if result.returncode != 0:
                _unavailable(
                    f"`apt-get {step[1]}` exited with {result.returncode}: "
                    f"{_tail(result.stderr or result.stdout, 10)}"
                )
        if not CHROMIUM.exists():
            _unavailable(f"{CHROMIUM} is still missing after installing chromium")
    return CHROMIUM


@pytest.fixture(scope="session")
def node() -> str:
    """A Node 20+ binary, with the pinned ``playwright-core`` installed next to drive.mjs."""
    return node_with_packages(
        HERE, "playwright-core", what="browser test", env={"PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}
    )


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where the screenshot goes: ``$PROOFBOUND_ARTIFACTS`` or tests/browser/artifacts/."""
    directory = Path(os.environ.get("PROOFBOUND_ARTIFACTS") or HERE / "artifacts")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


# -- processes on loopback -----------------------------------------------------------------------


@dataclass
class Process:
    """One subprocess, stopped by its pid (SIGTERM, then SIGKILL); output to ``log`` or nowhere."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path | None

    @classmethod
    def start(cls, name: str, command: list[str], log: Path | None) -> Process:
        # PROOFBOUND_* variables configure our commands: none from the test run may leak in.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROOFBOUND_")}
        with contextlib.ExitStack() as stack:
            output = stack.enter_context(log.open("ab")) if log else subprocess.DEVNULL
            process = subprocess.Popen(  # noqa: S603 -- our own commands, fixed arguments
                command, stdin=subprocess.DEVNULL, stdout=output, stderr=output, env=env
            )
        return cls(name, process, log)

    def output(self) -> str:
        if self.log is None:
            return "(output discarded)"
        return _tail(self.log.read_text(encoding="utf-8", errors="replace"))

    def wait_until(self, url: str) -> None:
        """Until ``url`` answers 200, failing if the process exits or the time runs out."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"{self.name} exited with {self.process.returncode}:\n{self.output()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return
            time.sleep(0.05)
        pytest.fail(f"{self.name}: no 200 from {url} within {STARTUP_TIMEOUT} s:\n{self.output()}")

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT)


def _proofbound(*args: str) -> list[str]:
    if EXECUTABLE.exists():
        return [str(EXECUTABLE), *args]
    return [sys.executable, "-m", "proofbound.cli.main", *args]


def _start_site(directory: Path, port: int, config: dict[str, str]) -> Process:
    """examples/spa plus ``config.json``, served from ``directory`` on a loopback port.

    Its request log is discarded: it would hold the authorization response's code and state.
    """
    shutil.copytree(SPA, directory, ignore=shutil.ignore_patterns("README.md"))
    (directory / "config.json").write_text(json.dumps(config), encoding="utf-8")
    command = [
        sys.executable,
        "-m",
        "http.server",
        str(port),
        "--bind",
        "127.0.0.1",
        "--directory",
        str(directory),
    ]
    site = Process.start("static server", command, None)
    site.wait_until(f"http://127.0.0.1:{port}/config.json")
    return site


def _drive(node: str, workdir: Path, config: dict[str, Any]) -> dict[str, Any]:
    """Run drive.mjs once; its one JSON line. Its stdout may hold tokens and is never shown."""
    path = workdir / "drive.json"
    path.write_text(json.dumps({"timeout_ms": BROWSER_WAIT_MS, **config}), encoding="utf-8")
    path.chmod(0o600)  # it may hold the test user's password
    try:
        result = subprocess.run(  # noqa: S603 -- our own script, fixed arguments
            [node, str(HERE / "drive.mjs"), str(path)],
            cwd=HERE,
            capture_output=True,
            text=True,
            check=False,
            timeout=DRIVE_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"drive.mjs did not finish in {DRIVE_TIMEOUT:.0f} s")
    if result.returncode != 0:
        # drive.mjs redacts what it writes to stderr (no JWS, code or state).
        pytest.fail(f"drive.mjs exited with {result.returncode}:\n{_tail(result.stderr, 40)}")
    lines = result.stdout.strip().splitlines()
    if len(lines) != 1:
        pytest.fail(f"drive.mjs printed {len(lines)} lines on stdout, expected one JSON line")
    report = json.loads(lines[0])
    assert isinstance(report, dict)
    return report


#: One RFC 9110 §11.2 auth-param (token = token / quoted-string) and the comma after it.
_AUTH_PARAM = re.compile(
    r'\s*([\w!#$%&\'*+.^`|~-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*(?:,|$)'
)


def _challenge_error(response: httpx.Response, scheme: str) -> str | None:
    """The ``error`` parameter of the ``scheme`` challenge in ``WWW-Authenticate``, or None."""
    header = response.headers.get("www-authenticate", "")
    found = re.search(rf"(?:^|,)\s*{scheme}(?:\s+|$)", header, re.IGNORECASE)
    if found is None:
        return None
    position = found.end()
    while (match := _AUTH_PARAM.match(header, position)) is not None and match.end() > position:
        if match.group(1).lower() == "error":
            return match.group(2) if match.group(2) is not None else match.group(3)
        position = match.end()
    return None


def _json_error(response: httpx.Response) -> Any:
    try:
        return response.json().get("error")
    except ValueError:
        return None


def _segment(jws: str, index: int) -> dict[str, Any]:
    """The decoded JSON header (0) or payload (1) of a compact JWS, not verified."""
    part = jws.split(".")[index]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


# -- self-test: the app's DPoP module in Chromium, no AS -----------------------------------------


@pytest.mark.parametrize("module", sorted(p.name for p in SPA.glob("*.js")))
def test_spa_module_parses_as_an_es_module(node: str, module: str) -> None:
    # `node --check file.js` passes a broken ES module on Node 20 (it is parsed as CommonJS
    # first); stdin with --input-type=module checks it as the browser loads it.
    source = (SPA / module).read_text(encoding="utf-8")
    result = subprocess.run(  # noqa: S603 -- fixed arguments
        [node, "--input-type=module", "--check"],
        input=source,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 0, _tail(result.stderr)


@pytest.fixture(scope="module")
def selftest(
    chromium: Path, node: str, artifacts: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    workdir = tmp_path_factory.mktemp("spa-selftest")
    port = _free_port()
    origin = f"http://127.0.0.1:{port}"
    # The app itself finds no AS here (its page shows that error); the test uses its modules.
    config = {
        "issuer": origin,
        "api": origin,
        "client_id": "selftest",
        "redirect_uri": origin + "/",
        "scope": SCOPE,
    }
    site = _start_site(workdir / "site", port, config)
    try:
        return _drive(
            node,
            workdir,
            {
                "mode": "selftest",
                "spa_url": origin + "/",
                "artifacts": str(artifacts),
                "executable": str(chromium),
                "access_token": "selftest-access-token",
            },
        )
    finally:
        site.stop()


def test_spa_runs_in_a_secure_context_with_the_pinned_playwright(
    selftest: dict[str, Any],
) -> None:
    lock = json.loads((HERE / "package-lock.json").read_text(encoding="utf-8"))["packages"]
    pinned = lock["node_modules/playwright-core"]["version"]
    assert selftest["versions"]["playwright-core"] == pinned
    assert selftest["versions"]["chromium"]
    # http://127.0.0.1 is potentially trustworthy: WebCrypto works without TLS there.
    assert selftest["secure_context"] is True
    assert selftest["origin"].startswith("http://127.0.0.1:")


def test_spa_key_is_non_extractable_in_indexeddb_and_reused(selftest: dict[str, Any]) -> None:
    assert selftest["key"] == {
        "private_is_crypto_key": True,
        "private_extractable": False,
        "private_usages": ["sign"],
        "algorithm": {"name": "ECDSA", "namedCurve": "P-256"},
    }
    assert selftest["jkt_after_reload"] == selftest["jkt"]


def test_rfc7638_thumbprint_of_the_spa_key(selftest: dict[str, Any]) -> None:
    jwk = selftest["jwk"]
    assert set(jwk) == {"kty", "crv", "x", "y"}  # public members only, no d, no ext/key_ops
    assert (jwk["kty"], jwk["crv"]) == ("EC", "P-256")
    assert selftest["jkt"] == jwk_thumbprint(jwk)


def test_rfc9449_s4_spa_proof_verifies(selftest: dict[str, Any]) -> None:
    proof, url = selftest["proof"], selftest["url"]
    header = _segment(proof, 0)
    assert header == {"typ": "dpop+jwt", "alg": "ES256", "jwk": selftest["jwk"]}
    verified = verify_proof(
        proof,
        method="GET",
        uri=url,
        now=int(time.time()),
        access_token="selftest-access-token",
    )
    assert verified.jkt == selftest["jkt"]
    assert verified.htm == "GET"
    assert verified.htu == url.split("?", 1)[0]  # RFC 9449 §4.2: no query, no fragment
    assert verified.nonce == "nonce-1"
    assert set(verified.claims) == {"jti", "htm", "htu", "iat", "nonce", "ath"}
    with pytest.raises(InvalidDPoPProof):  # ath is the hash of that token, not another one
        verify_proof(
            proof, method="GET", uri=url, now=int(time.time()), access_token="another-token"
        )


def test_rfc9449_s9_spa_reads_the_dpop_challenge(selftest: dict[str, Any]) -> None:
    assert selftest["challenges"] == [
        "use_dpop_nonce",
        "use_dpop_nonce",
        "invalid_token",
        None,
        None,
        None,
    ]


# -- the whole flow: AS, user, public client, API, the app --------------------------------------


@dataclass
class World:
    issuer: str
    api: str
    spa: str
    client_id: str
    token_endpoint: str
    password: str = field(repr=False)
    processes: list[Process] = field(default_factory=list)


@pytest.fixture(scope="module")
def world(chromium: Path, node: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("spa-flow")
    as_port, api_port, spa_port = _free_port(), _free_port(), _free_port()
    issuer = f"http://127.0.0.1:{as_port}"
    api = f"http://127.0.0.1:{api_port}"
    spa = f"http://127.0.0.1:{spa_port}"
    data_dir = workdir / "data"
    registration_token = secrets.token_urlsafe(24)
    password = secrets.token_urlsafe(18)
    processes: list[Process] = []
    try:
        server = Process.start(
            "proofbound serve",
            _proofbound(
                "serve",
                "--issuer",
                issuer,
                "--host",
                "127.0.0.1",
                "--port",
                str(as_port),
                "--data-dir",
                str(data_dir),
                "--registration-token",
                registration_token,
                "--resource",
                api,
                "--cors-origin",
                spa,
                "--log-level",
                "warning",
            ),
            workdir / "as.log",
        )
        processes.append(server)
        example = Process.start(
            "proofbound example-api",
            _proofbound(
                "example-api",
                "--issuer",
                issuer,
                "--host",
                "127.0.0.1",
                "--port",
                str(api_port),
                "--audience",
                api,
                "--require",
                "dpop",
                "--nonce",  # the app must also answer the API's use_dpop_nonce (RFC 9449 §9)
                "--log-level",
                "warning",
            ),
            workdir / "api.log",
        )
        processes.append(example)
        server.wait_until(issuer + "/healthz")
        example.wait_until(api + "/healthz")

        password_file = workdir / "password"
        password_file.write_text(password + "\n", encoding="utf-8")
        password_file.chmod(0o600)
        added = subprocess.run(  # noqa: S603 -- our own CLI, fixed arguments
            _proofbound(
                "users",
                "add",
                USERNAME,
                "--data-dir",
                str(data_dir),
                "--password-file",
                str(password_file),
            ),
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert added.returncode == 0, _tail(added.stderr)
        assert json.loads(added.stdout) == {"username": USERNAME, "created": True}

        metadata = httpx.get(issuer + "/.well-known/oauth-authorization-server").json()
        registered = httpx.post(
            metadata["registration_endpoint"],
            headers={"Authorization": f"Bearer {registration_token}"},
            json={
                "client_name": "proofbound SPA example",
                "token_endpoint_auth_method": "none",
                "redirect_uris": [spa + "/"],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "dpop_bound_access_tokens": True,
                "scope": SCOPE,
            },
        )
        assert registered.status_code == 201, registered.text
        client = registered.json()
        assert client["token_endpoint_auth_method"] == "none"
        assert "client_secret" not in client

        config = {
            "issuer": issuer,
            "api": api,
            "client_id": client["client_id"],
            "redirect_uri": spa + "/",
            "scope": SCOPE,
            "resource": api,
        }
        processes.append(_start_site(workdir / "site", spa_port, config))
        yield World(
            issuer, api, spa, client["client_id"], metadata["token_endpoint"], password, processes
        )
    finally:
        for process in reversed(processes):
            process.stop()


@pytest.fixture(scope="module")
def flow(
    world: World,
    node: str,
    chromium: Path,
    artifacts: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """One run of the app in Chromium: login, call, refresh, reload, call, screenshot."""
    screenshot = artifacts / "spa.png"
    screenshot.unlink(missing_ok=True)
    return _drive(
        node,
        tmp_path_factory.mktemp("spa-drive"),
        {
            "mode": "flow",
            "spa_url": world.spa + "/",
            "artifacts": str(artifacts),
            "executable": str(chromium),
            "username": USERNAME,
            "password": world.password,
        },
    )


def test_browser_login_gets_dpop_bound_tokens(flow: dict[str, Any], world: World) -> None:
    assert flow["error"] == ""
    assert flow["tokens_before_login"] is False
    assert flow["login_origin"] == world.issuer  # the AS's own login page, a top-level navigation
    assert flow["status_after_login"] == "Logged in: DPoP-bound tokens stored."
    assert flow["returned_url_query"] == ""  # code, state and iss cleaned from the address bar
    assert isinstance(flow["access_token"], str)
    assert isinstance(flow["refresh_token"], str)
    claims = _segment(flow["access_token"], 1)
    assert claims["cnf"] == {"jkt": flow["jkt"]}  # RFC 9449 §6.1
    assert claims["sub"] == USERNAME
    assert claims["client_id"] == world.client_id


def test_browser_key_is_non_extractable_and_survives_a_reload(flow: dict[str, Any]) -> None:
    assert flow["key"]["private_extractable"] is False
    assert flow["key"]["algorithm"] == {"name": "ECDSA", "namedCurve": "P-256"}
    assert flow["jkt_after_reload"] == flow["jkt"]


def test_in_page_api_call_succeeds_with_the_dpop_binding(
    flow: dict[str, Any], world: World
) -> None:
    expected = {
        "iss": world.issuer,
        "sub": USERNAME,
        "client_id": world.client_id,
        "scope": SCOPE,
        "binding": "dpop",
        "cnf": {"jkt": flow["jkt"]},
    }
    assert flow["first_result"] == expected
    assert flow["result"] == expected  # after a refresh and a reload: the same key, new tokens
    assert flow["status"] == "API call succeeded."


def test_refresh_in_the_page_rotates_both_tokens(flow: dict[str, Any]) -> None:
    assert flow["access_token_rotated"] is True
    assert flow["refresh_token_rotated"] is True


def test_screenshot_of_the_app_is_saved(flow: dict[str, Any], artifacts: Path) -> None:
    screenshot = Path(flow["screenshot"])
    assert screenshot == artifacts / "spa.png"
    data = screenshot.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 1000


def test_rfc9449_s7_2_access_token_replayed_as_bearer_is_refused(
    flow: dict[str, Any], world: World
) -> None:
    response = httpx.get(
        world.api + "/whoami", headers={"Authorization": f"Bearer {flow['access_token']}"}
    )
    assert response.status_code == 401
    assert _challenge_error(response, "Bearer") == "invalid_token"


def test_rfc9449_s7_1_access_token_replayed_with_another_key_is_refused(
    flow: dict[str, Any], world: World
) -> None:
    # The attacker does everything right except holding the key: fresh proofs, with ath, and
    # the API's nonce when it asks for one.
    attacker = generate_key("ES256")
    token, url = flow["access_token"], world.api + "/whoami"
    nonce: str | None = None
    for _ in range(2):
        proof = create_proof(
            attacker, htm="GET", htu=url, now=int(time.time()), access_token=token, nonce=nonce
        )
        response = httpx.get(url, headers={"Authorization": f"DPoP {token}", "DPoP": proof})
        if _challenge_error(response, "DPoP") != "use_dpop_nonce" or nonce is not None:
            break
        nonce = response.headers.get("dpop-nonce")
    assert response.status_code == 401
    assert _challenge_error(response, "DPoP") in ("invalid_dpop_proof", "invalid_token")


def test_rfc9449_s5_refresh_token_replayed_without_a_proof_is_refused(
    flow: dict[str, Any], world: World
) -> None:
    response = httpx.post(
        world.token_endpoint,
        data={
            "grant_type": "refresh_token",
            "refresh_token": flow["refresh_token"],
            "client_id": world.client_id,
        },
    )
    assert response.status_code == 400
    assert _json_error(response) == "invalid_dpop_proof"


def test_rfc9449_s5_refresh_token_replayed_with_another_key_is_refused(
    flow: dict[str, Any], world: World
) -> None:
    attacker = generate_key("ES256")
    nonce: str | None = None
    for _ in range(2):
        proof = create_proof(
            attacker, htm="POST", htu=world.token_endpoint, now=int(time.time()), nonce=nonce
        )
        response = httpx.post(
            world.token_endpoint,
            data={
                "grant_type": "refresh_token",
                "refresh_token": flow["refresh_token"],
                "client_id": world.client_id,
            },
            headers={"DPoP": proof},
        )
        if _json_error(response) != "use_dpop_nonce" or nonce is not None:
            break
        nonce = response.headers.get("dpop-nonce")
    assert response.status_code == 400
    assert _json_error(response) in ("invalid_grant", "invalid_dpop_proof")


def test_no_token_in_the_server_logs(flow: dict[str, Any], world: World) -> None:
    secrets_of_the_run = {
        "access_token": flow["access_token"],
        "access_token_signature": flow["access_token"].rsplit(".", 1)[-1],
        "refresh_token": flow["refresh_token"],
    }
    for process in world.processes:
        if process.log is None:
            continue
        text = process.log.read_text(encoding="utf-8", errors="replace")
        leaked = [name for name, value in secrets_of_the_run.items() if value in text]
        assert leaked == [], f"{process.name} logged {leaked}"
