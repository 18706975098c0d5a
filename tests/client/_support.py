"""Helpers shared by the client SDK tests: reading proofs, self-signed certificates."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def jws_parts(compact: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The protected header and the payload of a compact JWS (not verified)."""
    header, payload, _signature = compact.split(".")
    return json.loads(_b64decode(header)), json.loads(_b64decode(payload))


def proof_claims(request: httpx.Request) -> dict[str, Any]:
    """The claims of the request's ``DPoP`` proof."""
    return jws_parts(request.headers["DPoP"])[1]


def form_of(request: httpx.Request) -> dict[str, list[str]]:
    """The ``application/x-www-form-urlencoded`` body of a request."""
    from urllib.parse import parse_qs

    return parse_qs(request.content.decode("ascii"), keep_blank_values=True)


@dataclass(frozen=True)
class Certificate:
    """A self-signed P-256 client certificate and its key."""

    pem: str
    key_pem: bytes
    der: bytes
    private_key: ec.EllipticCurvePrivateKey

    @property
    def thumbprint(self) -> str:
        """RFC 8705 §3.1 ``x5t#S256``."""
        digest = hashlib.sha256(self.der).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    @property
    def x5c(self) -> str:
        return base64.b64encode(self.der).decode()


def self_signed_certificate(common_name: str = "proofbound-client-test") -> Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return Certificate(
        pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        der=cert.public_bytes(serialization.Encoding.DER),
        private_key=key,
    )
