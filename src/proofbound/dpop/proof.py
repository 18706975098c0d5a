"""Creating DPoP proofs (RFC 9449 §4.2) and the ``ath`` hash (§4.2, §7).

A proof is a compact JWS with header ``typ: dpop+jwt``, ``alg`` and the public ``jwk`` of the
signing key, and claims ``jti`` (128 random bits), ``htm``, ``htu`` (the request URI without query
and fragment), ``iat``, plus ``ath`` when an access token is presented and ``nonce`` when the server
supplied one.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any, Final

from proofbound._internal.b64 import b64url_encode
from proofbound._internal.syntax import is_nqchars
from proofbound.jwk.keys import SigningKey
from proofbound.jws import sign_compact

__all__ = ["access_token_hash", "create_proof", "new_jti"]

# RFC 9110 §5.6.2 token characters for methods; RFC 9449 §8.1 NQCHAR for nonces.
_METHOD: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def access_token_hash(access_token: str) -> str:
    """Return ``ath``: base64url SHA-256 of the ASCII access token (RFC 9449 §4.2).

    Raises:
        ValueError: the token is not ASCII.
    """
    return b64url_encode(hashlib.sha256(access_token.encode("ascii")).digest())


def new_jti() -> str:
    """Return a fresh ``jti`` with 128 random bits (RFC 9449 §4.2, §11.1)."""
    return secrets.token_urlsafe(16)


def create_proof(
    key: SigningKey,
    *,
    htm: str,
    htu: str,
    now: int,
    access_token: str | None = None,
    nonce: str | None = None,
    jti: str | None = None,
) -> str:
    """Create a DPoP proof for one request.

    Args:
        key: the client's DPoP key.
        htm: the request method, exactly as sent (case-sensitive, RFC 9110 §9.1).
        htu: the request URI; its query and fragment are removed (RFC 9449 §4.2).
        now: creation time (``iat``), seconds since the epoch.
        access_token: the access token sent with the request; adds ``ath``.
        nonce: the latest ``DPoP-Nonce`` of that server.
        jti: a unique identifier; a fresh random one by default.

    Raises:
        ValueError: a method that is not an HTTP token, a nonce outside ``1*NQCHAR``, or a
            non-ASCII access token.

    Example:
        >>> from proofbound.jwk import generate_key
        >>> proof = create_proof(generate_key("ES256"), htm="GET",
        ...                      htu="https://rs.example/data?x=1", now=1700000000)
        >>> proof.count(".")
        2
    """
    if _METHOD.fullmatch(htm) is None:
        raise ValueError("htm is not an HTTP method token")
    if nonce is not None and not is_nqchars(nonce):
        raise ValueError("nonce is not 1*NQCHAR")
    claims: dict[str, Any] = {
        "jti": jti if jti is not None else new_jti(),
        "htm": htm,
        "htu": htu.split("#", 1)[0].split("?", 1)[0],
        "iat": now,
    }
    if access_token is not None:
        claims["ath"] = access_token_hash(access_token)
    if nonce is not None:
        claims["nonce"] = nonce
    header = {"typ": "dpop+jwt", "alg": key.alg, "jwk": key.public_key.jwk}
    return sign_compact(header, claims, key)
