"""The comparison: the same resource-server checks written plainly with PyJWT + cryptography.

This is what a careful user writes without proofbound: ``jwt.decode`` for the RFC 9068 access
token, then for the DPoP proof ``get_unverified_header``, ``PyJWK`` from the header's ``jwk``,
``jwt.decode`` with that key, and the RFC 9449 checks by hand (typ, thumbprint against
``cnf.jkt``, ``ath``, ``htm``/``htu``, the ``iat`` window, a ``jti`` replay set). Nothing is made
slower on purpose, and nothing is optimised beyond what such code plainly does (a new ``PyJWK``
per request, no key cache).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt

__all__ = ["DPoPRejected", "PyJWTResourceServer"]

# RFC 7638 §3.2: the required members of each key type (OKP: RFC 8037 §2).
_THUMBPRINT_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
    "RSA": ("e", "kty", "n"),
}
_PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


class DPoPRejected(Exception):
    """A check of the hand-written DPoP validation failed."""


def _b64url_sha256(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint: required members, sorted, no whitespace."""
    required = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(required, sort_keys=True, separators=(",", ":"))
    return _b64url_sha256(canonical.encode("utf-8"))


class PyJWTResourceServer:
    """Validates ``Authorization: DPoP <token>`` + ``DPoP: <proof>`` requests with PyJWT.

    Args:
        issuer_key: the authorization server's public key (a ``cryptography`` key object).
        alg: the one algorithm accepted for the token and for proofs.
        issuer: the expected ``iss``.
        audience: this resource's identifier, expected in ``aud``.
        iat_window: seconds a proof stays acceptable.
        future_skew: seconds a proof's ``iat`` may lie ahead.
    """

    def __init__(
        self,
        issuer_key: Any,
        *,
        alg: str,
        issuer: str,
        audience: str,
        iat_window: int = 60,
        future_skew: int = 5,
    ) -> None:
        self.issuer_key = issuer_key
        self.alg = alg
        self.issuer = issuer
        self.audience = audience
        self.iat_window = iat_window
        self.future_skew = future_skew
        self.seen_jtis: dict[tuple[str, str], int] = {}
        self.token_cache: dict[str, dict[str, Any]] = {}

    def verify_access_token(self, token: str) -> dict[str, Any]:
        """RFC 9068: signature, typ, iss, aud, exp, required claims."""
        decoded = jwt.decode_complete(
            token,
            self.issuer_key,
            algorithms=[self.alg],
            audience=self.audience,
            issuer=self.issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "client_id", "jti"]},
        )
        if str(decoded["header"].get("typ", "")).lower() not in ("at+jwt", "application/at+jwt"):
            raise DPoPRejected("access token typ")
        claims: dict[str, Any] = decoded["payload"]
        return claims

    def cached_access_token(self, token: str, now: int) -> dict[str, Any]:
        """The token's claims, verified once and kept until ``exp``."""
        claims = self.token_cache.get(token)
        if claims is None:
            claims = self.verify_access_token(token)
            self.token_cache[token] = claims
        if claims["exp"] <= now:
            raise DPoPRejected("access token expired")
        return claims

    def verify_proof(
        self,
        proof: str,
        token: str,
        token_claims: dict[str, Any],
        *,
        method: str,
        uri: str,
        now: int,
    ) -> dict[str, Any]:
        """RFC 9449 §4.3 for a resource request, ending with the replay check."""
        header = jwt.get_unverified_header(proof)
        if header.get("typ") != "dpop+jwt":
            raise DPoPRejected("typ")
        if header.get("alg") != self.alg:
            raise DPoPRejected("alg")
        jwk = header.get("jwk")
        if not isinstance(jwk, dict) or _PRIVATE_MEMBERS & jwk.keys():
            raise DPoPRejected("jwk")
        key = jwt.PyJWK(jwk, algorithm=self.alg)
        claims = jwt.decode(
            proof,
            key.key,
            algorithms=[self.alg],
            options={"require": ["jti", "htm", "htu", "iat", "ath"], "verify_aud": False},
        )
        jkt = jwk_thumbprint(jwk)
        if not hmac.compare_digest(jkt, token_claims["cnf"]["jkt"]):
            raise DPoPRejected("proof key is not the token's cnf.jkt")
        if not hmac.compare_digest(claims["ath"], _b64url_sha256(token.encode("ascii"))):
            raise DPoPRejected("ath")
        if claims["htm"] != method:
            raise DPoPRejected("htm")
        if claims["htu"] != uri.split("#")[0].split("?")[0]:
            raise DPoPRejected("htu")
        iat = claims["iat"]
        if not now - self.iat_window <= iat <= now + self.future_skew:
            raise DPoPRejected("iat outside the window")
        replay = (jkt, claims["jti"])
        expires = self.seen_jtis.get(replay)
        if expires is not None and expires > now:
            raise DPoPRejected("jti replayed")
        self.seen_jtis[replay] = iat + self.iat_window + 1
        return claims

    def handle(self, token: str, proof: str, *, method: str, uri: str, now: int) -> dict[str, Any]:
        """Full validation: the token, then the proof."""
        claims = self.verify_access_token(token)
        self.verify_proof(proof, token, claims, method=method, uri=uri, now=now)
        return claims

    def handle_cached(
        self, token: str, proof: str, *, method: str, uri: str, now: int
    ) -> dict[str, Any]:
        """The same with the token's claims cached until ``exp``."""
        claims = self.cached_access_token(token, now)
        self.verify_proof(proof, token, claims, method=method, uri=uri, now=now)
        return claims
