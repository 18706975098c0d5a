"""Fixed inputs for one algorithm: issuer and client keys, one access token, N distinct proofs.

Everything is generated before any timing. ``now`` is the wall clock at start-up (frozen from then
on) so PyJWT, which reads the real clock for ``exp``/``iat``, accepts the same tokens as
proofbound does with the explicit ``now``; the token lives an hour, far longer than a run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from proofbound.access_token import issue_access_token
from proofbound.dpop import create_proof
from proofbound.jwk import SigningKey, generate_key
from proofbound.types import JwsAlg

__all__ = ["AUDIENCE", "ISSUER", "METHOD", "URI", "Scenario", "build_scenario"]

ISSUER = "https://as.example.com"
AUDIENCE = "https://rs.example.com"
METHOD = "GET"
URI = "https://rs.example.com/api/v1/accounts"
TOKEN_TTL = 3600


@dataclass(frozen=True, slots=True)
class Scenario:
    """One algorithm's workload: the token and proofs every contender verifies."""

    alg: JwsAlg
    now: int
    issuer_key: SigningKey
    client_key: SigningKey
    token: str
    proofs: tuple[str, ...]

    def proof(self, *, key: SigningKey | None = None, token: str | None = None) -> str:
        """A fresh proof for the benchmark request (another key or token for negative checks)."""
        return create_proof(
            key or self.client_key,
            htm=METHOD,
            htu=URI,
            now=self.now,
            access_token=token or self.token,
        )


def issue_token(issuer_key: SigningKey, *, jkt: str, now: int, jti: str = "at-0001") -> str:
    """An RFC 9068 access token bound to ``jkt``, like an AS would issue it."""
    return issue_access_token(
        issuer_key,
        issuer=ISSUER,
        subject="user-4711",
        audience=AUDIENCE,
        client_id="client-42",
        now=now,
        ttl=TOKEN_TTL,
        jti=jti,
        scope=["accounts:read", "accounts:write"],
        jkt=jkt,
    )


def build_scenario(alg: JwsAlg, n: int, now: int | None = None) -> Scenario:
    """Keys, a DPoP-bound token and ``n`` proofs with distinct ``jti`` values, all for ``alg``."""
    now = int(time.time()) if now is None else now
    issuer_key = generate_key(alg)
    client_key = generate_key(alg)
    token = issue_token(issuer_key, jkt=client_key.thumbprint, now=now)
    proofs = tuple(
        create_proof(client_key, htm=METHOD, htu=URI, now=now, access_token=token) for _ in range(n)
    )
    return Scenario(alg, now, issuer_key, client_key, token, proofs)
