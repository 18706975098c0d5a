"""The authorization server under test: the real Starlette app over a real store (SQLite file or
a fresh PostgreSQL schema), driven through httpx's ASGI transport with a frozen clock."""

from __future__ import annotations

import base64
import datetime
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from proofbound import FrozenClock, SigningKey, create_proof, generate_key
from proofbound.jws import sign_compact
from proofbound.server.app import AuthorizationServer, create_app
from proofbound.server.client_auth import ASSERTION_TYPE
from proofbound.server.config import Secret, ServerSettings, parse_networks
from proofbound.storage.store import Store

NOW = 1_800_000_000
ISSUER = "https://as.example"
RESOURCE = "https://rs.example/api"
REG_TOKEN = "registration-token-0123456789"
ADMIN_TOKEN = "admin-token-0123456789abcdef"
TOKEN_URL = ISSUER + "/token"


def self_signed(common_name: str = "client") -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A self-signed ECDSA client certificate, valid around NOW."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = datetime.datetime.fromtimestamp(NOW - 86400, datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert, key


def nginx_header(cert: x509.Certificate) -> str:
    """The certificate as nginx's ``$ssl_client_escaped_cert`` (URL-encoded PEM)."""
    return quote(cert.public_bytes(serialization.Encoding.PEM).decode(), safe="")


def x5c_entry(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


@dataclass
class JwtClient:
    """A registered private_key_jwt client with its DPoP key."""

    client_id: str
    key: SigningKey
    dpop: SigningKey = field(default_factory=lambda: generate_key("ES256"))
    clock: FrozenClock = field(default_factory=lambda: FrozenClock(NOW))

    def assertion(self, *, now: int | None = None, aud: str = TOKEN_URL, **claims: Any) -> str:
        now = self.clock.now() if now is None else now
        payload = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": aud,
            "exp": now + 60,
            "iat": now,
            "jti": secrets.token_urlsafe(12),
            **claims,
        }
        return sign_compact({"typ": "JWT", "kid": self.key.kid}, payload, self.key)

    def form(self, **extra: str) -> dict[str, str]:
        return {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.assertion(),
            **extra,
        }

    def proof(self, nonce: str | None, *, htu: str = TOKEN_URL, now: int | None = None) -> str:
        now = self.clock.now() if now is None else now
        return create_proof(self.dpop, htm="POST", htu=htu, now=now, nonce=nonce)


@dataclass
class ASHarness:
    server: AuthorizationServer
    http: httpx.AsyncClient
    clock: FrozenClock
    nonce: str | None = None

    async def register(self, metadata: dict[str, Any]) -> httpx.Response:
        return await self.http.post(
            ISSUER + "/register",
            json=metadata,
            headers={"Authorization": f"Bearer {REG_TOKEN}"},
        )

    async def jwt_client(self, **metadata: Any) -> JwtClient:
        key = generate_key("ES256")
        body = {
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [key.public_jwk()]},
            **metadata,
        }
        response = await self.register(body)
        assert response.status_code == 201, response.text
        return JwtClient(response.json()["client_id"], key, clock=self.clock)

    async def dpop_token(self, client: JwtClient, **extra: str) -> httpx.Response:
        """A token request with a proof; one nonce round trip when needed."""
        response = await self.http.post(
            TOKEN_URL, data=client.form(**extra), headers={"DPoP": client.proof(self.nonce)}
        )
        if response.status_code == 400 and response.json()["error"] == "use_dpop_nonce":
            self.nonce = response.headers["DPoP-Nonce"]
            response = await self.http.post(
                TOKEN_URL, data=client.form(**extra), headers={"DPoP": client.proof(self.nonce)}
            )
        return response

    async def admin(self, body: dict[str, Any]) -> httpx.Response:
        return await self.http.post(
            ISSUER + "/admin/revoke",
            json=body,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A fresh database: a SQLite file, or a new PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'as.db'}"
        return
    base: str = request.getfixturevalue("postgres_url")
    import sqlalchemy

    schema = "pb_as_" + secrets.token_hex(6)
    engine = sqlalchemy.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def make_settings(**overrides: Any) -> ServerSettings:
    values: dict[str, Any] = {
        "issuer": ISSUER,
        "resources": (RESOURCE, "https://rs2.example"),
        "registration_token": Secret(REG_TOKEN),
        "admin_token": Secret(ADMIN_TOKEN),
        "trusted_proxies": parse_networks(["127.0.0.1/32"]),
        **overrides,
    }
    return ServerSettings(**values)


@pytest.fixture
def settings() -> ServerSettings:
    return make_settings()


@pytest.fixture
async def harness(store_url: str, settings: ServerSettings) -> AsyncIterator[ASHarness]:
    clock = FrozenClock(NOW)
    server = AuthorizationServer(settings, Store.open(store_url), clock=clock)
    transport = httpx.ASGITransport(app=create_app(server), client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport) as http:
        yield ASHarness(server, http, clock)
    server.close()
