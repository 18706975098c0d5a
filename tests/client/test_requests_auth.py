"""DPoP for requests: proof per request, one nonce retry with a fresh proof, no loop."""

from __future__ import annotations

import base64
import json
from typing import Any

import requests
from requests.adapters import BaseAdapter

from proofbound.client import DPoPKey, NonceCache
from proofbound.client.requests_auth import DPoPRequestsAuth

URL = "https://rs.example/data?x=1"


def _claims(proof: str) -> dict[str, Any]:
    payload = proof.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


class Scripted(BaseAdapter):
    """Answers with a scripted list of (status, headers) and records what was sent."""

    def __init__(self, answers: list[tuple[int, dict[str, str]]]) -> None:
        super().__init__()
        self.answers = answers
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.sent.append(request)
        status, headers = self.answers.pop(0)
        response = requests.Response()
        response.status_code = status
        response.headers.update(headers)
        response._content = b"{}"
        response.request = request
        response.connection = self
        response.url = request.url or ""
        return response

    def close(self) -> None:
        pass


def _session(adapter: Scripted) -> requests.Session:
    session = requests.Session()
    session.mount("https://", adapter)
    return session


NONCE_401 = {
    "WWW-Authenticate": 'DPoP error="use_dpop_nonce", algs="ES256"',
    "DPoP-Nonce": "n-1",
}


def test_one_retry_with_a_fresh_proof_carrying_the_nonce() -> None:
    adapter = Scripted([(401, NONCE_401), (200, {})])
    auth = DPoPRequestsAuth(DPoPKey.generate(), "tok")
    response = _session(adapter).get(URL, auth=auth)
    assert response.status_code == 200
    assert len(adapter.sent) == 2
    first, second = (_claims(r.headers["DPoP"]) for r in adapter.sent)
    assert "nonce" not in first
    assert second["nonce"] == "n-1"
    assert first["jti"] != second["jti"]
    assert second["htu"] == "https://rs.example/data"
    assert adapter.sent[1].headers["Authorization"] == "DPoP tok"
    assert response.history[0].status_code == 401


def test_never_a_second_retry() -> None:
    adapter = Scripted([(401, NONCE_401), (401, {**NONCE_401, "DPoP-Nonce": "n-2"})])
    response = _session(adapter).get(URL, auth=DPoPRequestsAuth(DPoPKey.generate(), "tok"))
    assert response.status_code == 401
    assert len(adapter.sent) == 2


def test_nonce_from_a_200_is_used_next_time_and_kept_per_origin() -> None:
    nonces = NonceCache()
    adapter = Scripted([(200, {"DPoP-Nonce": "n-9"}), (200, {})])
    auth = DPoPRequestsAuth(DPoPKey.generate(), "tok", nonces=nonces)
    session = _session(adapter)
    session.get(URL, auth=auth)
    session.get(URL, auth=auth)
    assert _claims(adapter.sent[1].headers["DPoP"])["nonce"] == "n-9"
    assert nonces.get("https://other.example:443") is None


def test_a_streamed_body_is_not_resent() -> None:
    adapter = Scripted([(401, NONCE_401)])
    response = _session(adapter).post(
        URL, data=iter([b"a", b"b"]), auth=DPoPRequestsAuth(DPoPKey.generate(), "tok")
    )
    assert response.status_code == 401
    assert len(adapter.sent) == 1


def test_repr_hides_the_key() -> None:
    key = DPoPKey.generate()
    assert key.signing_key.private_jwk()["d"] not in repr(DPoPRequestsAuth(key))
