"""Token-endpoint error responses (RFC 6749 §5.2, RFC 9449 §5 and §8).

==========================  ======  ===============================================
error                       status  body / headers
==========================  ======  ===============================================
``InvalidDPoPProof``        400     ``{"error": "invalid_dpop_proof", ...}``
``UseDPoPNonce``            400     ``{"error": "use_dpop_nonce", ...}`` + ``DPoP-Nonce``
``InvalidClient``           401     when the client used the ``Authorization`` header,
                                    with ``WWW-Authenticate: Basic`` (RFC 6749 §5.2);
                                    400 otherwise
other ``OAuthError``        400     its error code
``StorageUnavailable``,     500     ``{"error": "server_error"}`` with a fixed text:
anything unexpected                 no detail ever reaches the client
==========================  ======  ===============================================

Every response carries ``Cache-Control: no-store`` (RFC 6749 §5.1, RFC 9449 §8.2) and a JSON body
with ``error`` and the fixed public ``error_description``; the private ``detail`` is never used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final

from proofbound.errors import InvalidClient, OAuthError, UseDPoPNonce
from proofbound.resource.challenge import Challenge

__all__ = ["TokenErrorResponse", "token_error_response"]

_SERVER_ERROR: Final = {"error": "server_error", "error_description": "Internal server error"}


@dataclass(frozen=True, slots=True)
class TokenErrorResponse:
    """Status, JSON body and headers of a token-endpoint error."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...]


def token_error_response(
    error: BaseException, *, basic_realm: str | None = None
) -> TokenErrorResponse:
    """Render any exception raised while handling a token request.

    ``OAuthError`` subclasses become 400 with their code; everything else (storage failures and
    bugs alike) becomes an opaque 500 ``server_error``.

    Args:
        error: what was raised.
        basic_realm: set when the request carried an ``Authorization`` header: a failed client
            authentication is then 401 with a ``Basic`` challenge for this realm.
    """
    headers: list[tuple[str, str]] = [
        ("Content-Type", "application/json"),
        ("Cache-Control", "no-store"),
    ]
    if isinstance(error, OAuthError) and error.error:
        status = 400
        payload = {"error": error.error, "error_description": error.description}
        if isinstance(error, UseDPoPNonce):
            headers.append(("DPoP-Nonce", error.nonce))
        if isinstance(error, InvalidClient) and basic_realm is not None:
            status = 401
            challenge = Challenge("Basic", (("realm", basic_realm),))
            headers.append(("WWW-Authenticate", challenge.render()))
    else:
        status = 500
        payload = dict(_SERVER_ERROR)
    body = json.dumps(payload, separators=(",", ":")).encode("ascii")
    return TokenErrorResponse(status, body, tuple(headers))
