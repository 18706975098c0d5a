"""Small shared types: algorithm names and thumbprints."""

from __future__ import annotations

from typing import Literal, NewType

__all__ = ["JwsAlg", "Thumbprint"]

#: JWS algorithms proofbound can sign and verify (RFC 7518 §3, RFC 8037 §3.1).
JwsAlg = Literal[
    "ES256", "ES384", "ES512", "EdDSA", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512"
]

#: base64url SHA-256 thumbprint: RFC 7638 JWK thumbprint (``jkt``) or RFC 8705 ``x5t#S256``.
Thumbprint = NewType("Thumbprint", str)
