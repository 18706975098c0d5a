"""One issuer, one client key, a frozen clock and a guard, shared by the adapter tests."""

from __future__ import annotations

import datetime
import secrets
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from proofbound import (
    AccessTokenPolicy,
    FrozenClock,
    RollingNonces,
    create_proof,
    generate_key,
    issue_access_token,
)
from proofbound.resource.context import ProxySettings
from proofbound.resource.guard import Guard
from proofbound.resource.issuers import IssuerKeys

NOW = 1_800_000_000
ISSUER = "https://as.example"
AUD = "https://api.example"
BASE = "https://api.example"
ALGS = 'algs="ES256 EdDSA PS256 RS256"'
#: RFC 9449 §7.1: the challenge for a DPoP request without a proof.
PROOF_MISSING = (
    f'DPoP error="invalid_dpop_proof", error_description="DPoP proof is missing", {ALGS}'
)
PROOF_MULTIPLE = (
    f'DPoP error="invalid_dpop_proof", error_description="Multiple DPoP proofs", {ALGS}'
)
#: RFC 6750 §3: no credentials under the default "bound" policy, one challenge per scheme.
NO_CREDENTIALS = f"DPoP {ALGS}, Bearer"
EXPOSE = "WWW-Authenticate, DPoP-Nonce"


class World:
    """An authorization server key, a client DPoP key and a guard at ``NOW``."""

    def __init__(self, *, nonces: bool = False) -> None:
        self.as_key = generate_key("ES256")
        self.dpop_key = generate_key("ES256")
        self.nonces = RollingNonces([b"n" * 32], purpose="rs", origin=BASE) if nonces else None
        keys = IssuerKeys(
            AccessTokenPolicy(issuer=ISSUER, audiences=(AUD,)),
            jwks={"keys": [self.as_key.public_jwk()]},
        )
        self.guard = Guard([keys], clock=FrozenClock(NOW), nonces=self.nonces)
        self.proxy = ProxySettings(public_base_url=BASE)

    def token(self, *, scope: str = "read", bound: bool = True, x5t: str | None = None) -> str:
        """An access token bound to the DPoP key (or to ``x5t``, or to nothing)."""
        return issue_access_token(
            self.as_key,
            issuer=ISSUER,
            subject="svc",
            audience=AUD,
            client_id="svc",
            now=NOW,
            ttl=300,
            jti=secrets.token_urlsafe(8),
            scope=scope.split(),
            jkt=self.dpop_key.thumbprint if bound and x5t is None else None,
            x5t_s256=x5t,
        )

    def proof(self, path: str, token: str, *, method: str = "GET", **kw: Any) -> str:
        return create_proof(
            self.dpop_key, htm=method, htu=BASE + path, now=NOW, access_token=token, **kw
        )

    def dpop(
        self, path: str, *, scope: str = "read", method: str = "GET", **kw: Any
    ) -> dict[str, str]:
        """``Authorization`` and ``DPoP`` for one request to ``path``."""
        token = self.token(scope=scope)
        return {
            "Authorization": f"DPoP {token}",
            "DPoP": self.proof(path, token, method=method, **kw),
        }

    def stale_nonce(self) -> str:
        """A nonce still accepted but no longer current: the guard sends a fresh one."""
        assert self.nonces is not None
        return self.nonces.issue(NOW - self.nonces.step_seconds)


def client_certificate_pem() -> str:
    """A self-signed client certificate (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "client")])
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
