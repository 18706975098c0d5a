"""Thumbprints: RFC 7638 JWK SHA-256 thumbprints (``jkt``) and RFC 8705 ``x5t#S256``.

The JWK thumbprint hashes a JSON object of the key's *required* members only, in lexicographic
order, without whitespace (RFC 7638 §3.2); optional members (``kid``, ``alg``, ``use``, ``x5c``...)
never change it, and a private key has the thumbprint of its public key (§3.2.1). Members whose
values would need JSON escaping make the thumbprint undefined (§3.3) and are refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Final

from proofbound._internal.b64 import b64url_encode
from proofbound.errors import InvalidKey
from proofbound.types import Thumbprint

__all__ = ["REQUIRED_MEMBERS", "jwk_thumbprint", "x5t_s256"]

#: Required members per key type (RFC 7638 §3.2; OKP per RFC 8037 §2).
REQUIRED_MEMBERS: Final[dict[str, tuple[str, ...]]] = {
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
    "RSA": ("e", "kty", "n"),
}


def _plain(value: object) -> str:
    # Printable ASCII without '"' or '\' needs no escaping (RFC 7638 §3.3).
    if not isinstance(value, str) or not value:
        raise InvalidKey("thumbprint member is not a non-empty string")
    if not value.isascii() or not value.isprintable() or '"' in value or "\\" in value:
        raise InvalidKey("thumbprint member would need JSON escaping")
    return value


def jwk_thumbprint(jwk: Mapping[str, Any]) -> Thumbprint:
    """Return the base64url RFC 7638 SHA-256 thumbprint of a public or private JWK.

    Raises:
        InvalidKey: the key type is not EC, OKP or RSA, or a required member is missing or
            not a plain string.

    Example:
        >>> jwk_thumbprint({"kty": "EC", "crv": "P-256",
        ...     "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
        ...     "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"})
        '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I'
    """
    kty = jwk.get("kty")
    members = REQUIRED_MEMBERS.get(kty) if isinstance(kty, str) else None
    if members is None:
        raise InvalidKey("unsupported or missing kty")
    if any(name not in jwk for name in members):
        raise InvalidKey("a required JWK member is missing")
    canonical = "{" + ",".join(f'"{name}":"{_plain(jwk[name])}"' for name in members) + "}"
    return Thumbprint(b64url_encode(hashlib.sha256(canonical.encode("ascii")).digest()))


def x5t_s256(certificate_der: bytes) -> Thumbprint:
    """Return ``x5t#S256``: base64url SHA-256 of the DER certificate (RFC 8705 §3.1)."""
    return Thumbprint(b64url_encode(hashlib.sha256(certificate_der).digest()))
