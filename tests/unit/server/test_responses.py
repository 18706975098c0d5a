"""Token-endpoint error responses (RFC 6749 §5.2, RFC 9449 §5, §8 Figure 20)."""

from __future__ import annotations

import json

import pytest

from proofbound.errors import (
    ConfigurationError,
    InvalidDPoPProof,
    InvalidToken,
    Reason,
    StorageUnavailable,
    UseDPoPNonce,
)
from proofbound.server.responses import token_error_response


def _headers(response) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for key, value in response.headers:
        result.setdefault(key, []).append(value)
    return result


def test_rfc9449_s5_invalid_proof_is_400_json_no_store():
    response = token_error_response(InvalidDPoPProof(Reason.PROOF_SIGNATURE, detail="kid=abc"))
    assert response.status == 400
    assert json.loads(response.body) == {
        "error": "invalid_dpop_proof",
        "error_description": "DPoP proof signature is invalid",
    }
    headers = _headers(response)
    assert headers["Content-Type"] == ["application/json"]
    assert headers["Cache-Control"] == ["no-store"]
    assert "DPoP-Nonce" not in headers
    assert b"kid=abc" not in response.body  # private detail never rendered


def test_rfc9449_s8_figure20_nonce_error_carries_exactly_one_nonce_header():
    response = token_error_response(UseDPoPNonce(Reason.NONCE_MISSING, nonce="eyJ7S_zG.eyJH0-Z"))
    assert response.status == 400
    assert json.loads(response.body)["error"] == "use_dpop_nonce"
    assert _headers(response)["DPoP-Nonce"] == ["eyJ7S_zG.eyJH0-Z"]
    assert _headers(response)["Cache-Control"] == ["no-store"]


def test_other_oauth_errors_keep_their_code():
    response = token_error_response(InvalidToken(Reason.TOKEN_EXPIRED))
    assert response.status == 400
    assert json.loads(response.body)["error"] == "invalid_token"


@pytest.mark.parametrize(
    "error",
    [
        StorageUnavailable("postgres at db.internal refused"),
        ConfigurationError("secret=hunter2"),
        RuntimeError("Traceback secret=hunter2"),
    ],
    ids=["storage", "proofbound-non-oauth", "unexpected"],
)
def test_everything_else_is_an_opaque_500_server_error(error):
    response = token_error_response(error)
    assert response.status == 500
    assert json.loads(response.body) == {
        "error": "server_error",
        "error_description": "Internal server error",
    }
    assert b"hunter2" not in response.body
    assert b"postgres" not in response.body
