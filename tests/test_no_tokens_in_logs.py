"""A full run -- AS, protected API and client, at debug level -- leaves no token, proof, client
assertion or secret in any log line: the AS's and the API's stderr, and the client's records.

The run includes the paths that refuse (a nonce round trip at the AS and at the API, a replayed
proof, a downgrade to Bearer, a revoked token) since error paths are where secrets leak.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from tests.example_api.test_processes import Launcher, api_args, free_port

from proofbound import redact
from proofbound.client import DPoPAuth, DPoPKey, TokenSource

REGISTRATION = "registration-token-for-the-log-test-0123"
ADMIN = "admin-token-for-the-log-test-0123456789"


def _fragments(secret: str) -> list[str]:
    return [secret, *(part for part in secret.split(".") if len(part) >= 16)]


def test_a_full_run_logs_no_secret(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # The client process installs redaction as the proofbound CLI does: httpx logs request
    # URLs, and one below carries a token in its query string (an attacker's probe).
    filt = redact.install()
    launcher = Launcher(tmp_path)
    as_port, api_port = free_port(), free_port()
    issuer, api = f"http://127.0.0.1:{as_port}", f"http://127.0.0.1:{api_port}"
    secrets_seen: list[str] = [REGISTRATION, ADMIN]
    try:
        server = launcher.start(
            "as", "serve", "--issuer", issuer, "--port", str(as_port),
            "--data-dir", str(tmp_path / "data"), "--registration-token", REGISTRATION,
            "--admin-token", ADMIN, "--resource", api, "--log-level", "debug",
        )  # fmt: skip
        example = launcher.start(
            "api",
            *api_args(issuer, api_port, "--nonce", "--revocation-poll-seconds", "0.2"),
            "--log-level",
            "debug",
        )
        server.wait_healthy(issuer)
        example.wait_healthy(api)

        def record(request: httpx.Request) -> None:  # every credential the client sends
            for name in ("authorization", "dpop"):
                if name in request.headers:
                    secrets_seen.append(request.headers[name].split(" ")[-1])
            if request.method == "POST" and request.url.path == "/token":
                form = parse_qs(request.content.decode())
                secrets_seen.extend(form.get("client_assertion", []))

        key = DPoPKey.generate()
        registered = httpx.post(
            issuer + "/register",
            headers={"Authorization": f"Bearer {REGISTRATION}"},
            json={
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [key.signing_key.public_jwk()]},
                "dpop_bound_access_tokens": True,
            },
        ).json()
        as_http = httpx.Client(event_hooks={"request": [record]})
        source = TokenSource(issuer, registered["client_id"], key=key, resource=[api], http=as_http)
        token = source.token()
        secrets_seen.append(token)
        auth = DPoPAuth(key, source.token, nonces=source.nonces)
        with httpx.Client(auth=auth, event_hooks={"request": [record]}) as http:
            assert http.get(api + "/whoami").status_code == 200  # after the RS nonce retry
            sent = http.get(api + "/whoami").request
        with httpx.Client() as plain:
            replay = plain.get(api + "/whoami", headers=dict(sent.headers))
            assert replay.status_code == 401
            downgrade = plain.get(api + "/whoami", headers={"Authorization": f"Bearer {token}"})
            assert downgrade.status_code == 401
            revoked = plain.post(
                issuer + "/admin/revoke",
                json={"token": token},
                headers={"Authorization": f"Bearer {ADMIN}"},
            )
            assert revoked.json() == {"revoked": 1}
            with_query = plain.get(api + f"/whoami?access_token={token}")
            assert with_query.status_code == 401
        source.close()
    finally:
        launcher.stop_all()
        for handler in logging.getLogger().handlers:
            handler.removeFilter(filt)
    logs = {
        "as": (tmp_path / "as.log").read_text(errors="replace"),
        "api": (tmp_path / "api.log").read_text(errors="replace"),
        "client": "\n".join(r.getMessage() for r in caplog.records),
    }
    assert "token issued" in logs["as"]  # debug logging really was on
    assert len(secrets_seen) > 8
    for where, text in logs.items():
        for secret in secrets_seen:
            for fragment in _fragments(secret):
                assert fragment not in text, f"a credential reached the {where} log"
