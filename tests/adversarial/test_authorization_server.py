"""The authorization server: request parsing, client authentication, registration, the token
endpoint and revocation (RFC 6749 §2.3, §3.2, §5.2; RFC 7523 §3; RFC 8705 §2, §3; RFC 7591 §2;
RFC 8707 §2; RFC 9449 §5, §8; RFC 7009 §2.1).

The rows call the server's own functions -- ``parse_form``, ``parse_json_object``,
``single_header``, ``register_client``, ``ClientAuthenticator.authenticate``,
``TokenEndpoint.handle``, ``Revoker`` and ``AuthorizationServer.certificate`` -- over one real
SQLite store in a temporary directory, built once per process. Clients are registered through
``register_client`` (then stored under a readable ``client_id``); every assertion and DPoP proof
carries a fresh ``jti``, so rows do not depend on each other or on their order. Assertions are
signed over the exact signing input (``sign_raw``), so each row's only defect is the one named.
Every ``ACCEPTED`` control uses the same builders with the defect removed.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import datetime as dt
import functools
import json
import secrets
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final
from urllib.parse import quote, quote_plus, urlencode

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from starlette.requests import Request

from proofbound import (
    ClientCertificate,
    FrozenClock,
    InvalidDPoPProof,
    Reason,
    RollingNonces,
    SigningKey,
    UseDPoPNonce,
    load_certificate,
)
from proofbound.errors import (
    InvalidClient,
    InvalidClientMetadata,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from proofbound.server.app import AuthorizationServer, _bounded_body
from proofbound.server.client_auth import (
    ASSERTION_TYPE,
    AuthenticatedClient,
    ClientAuthenticator,
)
from proofbound.server.config import ServerSettings, parse_networks
from proofbound.server.forms import Form, parse_form, parse_json_object, single_header
from proofbound.server.keyring import Keyring as ServerKeyring
from proofbound.server.metadata import PATHS
from proofbound.server.registration import register_client
from proofbound.server.revocation import Revoker
from proofbound.server.token_endpoint import IssuedToken, TokenEndpoint, TokenRequest
from proofbound.storage.store import Store

from ._support import (
    AUDIENCE,
    DROP,
    ISSUER,
    NOW,
    RS_URI,
    Accept,
    Case,
    Ctx,
    expect_rejection,
    jdump,
    keyring,
    merged,
    params,
    sign_raw,
)

TOKEN_URL: Final = ISSUER + PATHS["token"]
FORM: Final = "application/x-www-form-urlencoded"
JSON: Final = "application/json"
MAX_BODY: Final = 64 * 1024
RESOURCE_B: Final = "https://rs2.example"
CLIENT_DNS: Final = "client.example"
JWKS_URI: Final = "https://client.example/jwks"
CERT_HEADER: Final = "x-ssl-client-cert"

# --- certificates (RFC 8705 §2) ----------------------------------------------------------------

_T0: Final = dt.datetime.fromtimestamp(NOW, dt.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    usage = x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_T0 - dt.timedelta(days=1))
        .not_valid_after(_T0 + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _leaf(
    issuer: tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None,
    *,
    cn: str = "client-pki",
    dns: str | None = CLIENT_DNS,
    key: ec.EllipticCurvePrivateKey | None = None,
    not_after: dt.datetime | None = None,
) -> ClientCertificate:
    """A client certificate issued by ``issuer`` (self-signed when None)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    signer, issuer_name = (key, _name(cn)) if issuer is None else (issuer[0], issuer[1].subject)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_T0 - dt.timedelta(days=2))
        .not_valid_after(not_after or _T0 + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    )
    if dns is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False
        )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[0].public_key()),
            critical=False,
        )
    cert = builder.sign(signer, hashes.SHA256())
    return load_certificate(cert.public_bytes(serialization.Encoding.DER))


@dataclass(frozen=True)
class Pki:
    """A trusted CA, another CA, and the client certificates of the rows."""

    ca: x509.Certificate
    leaf: ClientCertificate  # CN=client-pki,O=Example, SAN client.example, issued by ca
    other_dn: ClientCertificate  # same CA and SAN, CN=intruder
    other_dns: ClientCertificate  # same CA and subject, SAN other.example
    foreign_ca: ClientCertificate  # same subject and SAN, issued by another CA
    expired: ClientCertificate  # issued by ca, expired one second before NOW
    no_san: ClientCertificate  # issued by ca, subject CN=client-pki,O=Example, no SAN
    self_key: SigningKey  # the key of the self-signed client (registered with x5c)
    self_cert: ClientCertificate
    self_same_key: ClientCertificate  # another self-signed certificate of that same key
    self_other: ClientCertificate  # a self-signed certificate of another key


@functools.cache
def pki() -> Pki:
    trusted, other = _ca("Example Client CA"), _ca("Other CA")
    self_private = ec.generate_private_key(ec.SECP256R1())
    return Pki(
        ca=trusted[1],
        leaf=_leaf(trusted),
        other_dn=_leaf(trusted, cn="intruder"),
        other_dns=_leaf(trusted, dns="other.example"),
        foreign_ca=_leaf(other),
        expired=_leaf(trusted, not_after=_T0 - dt.timedelta(seconds=1)),
        no_san=_leaf(trusted, dns=None),
        self_key=SigningKey(self_private, "ES256"),
        self_cert=_leaf(None, cn="client-self", key=self_private),
        self_same_key=_leaf(None, cn="client-self", key=self_private),
        self_other=_leaf(None, cn="client-self"),
    )


def x5c_jwk(key: SigningKey, cert: ClientCertificate) -> dict[str, Any]:
    """The JWK of ``key`` with ``cert`` as ``x5c[0]`` (RFC 7517 §4.7: standard base64 DER)."""
    return {**key.public_jwk(), "x5c": [base64.b64encode(cert.der).decode("ascii")]}


def _dn(cert: ClientCertificate) -> str:
    return x509.load_der_x509_certificate(cert.der).subject.rfc4514_string()


# --- the server under test ---------------------------------------------------------------------


@functools.cache
def settings() -> ServerSettings:
    return ServerSettings(
        issuer=ISSUER,
        resources=(AUDIENCE, RESOURCE_B),
        dpop_nonce=False,
        client_ca=(pki().ca,),
        trusted_proxies=parse_networks(["127.0.0.1/32"]),
    )


@functools.cache
def settings_without_ca() -> ServerSettings:
    return ServerSettings(issuer=ISSUER, resources=(AUDIENCE,), dpop_nonce=False)


@dataclass(frozen=True)
class Server:
    settings: ServerSettings
    store: Store
    keyring: ServerKeyring
    auth: ClientAuthenticator
    tokens: TokenEndpoint
    nonce_tokens: TokenEndpoint  # the same server with AS nonces required (RFC 9449 §8)
    revoker: Revoker
    secrets: Mapping[str, str]


def _client_metadata(c: Ctx) -> dict[str, dict[str, Any]]:
    k, p = c.k, pki()
    return {
        "jwt": {
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [k.es256.public_jwk(), k.ps256.public_jwk()]},
            "scope": "read write",
        },
        "jwt-enc": {
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [k.es256.public_jwk(), {**k.ed_b.public_jwk(), "use": "enc"}]},
        },
        "jwt-es256": {
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "ES256",
            "jwks": {"keys": [k.es256.public_jwk(), k.ed.public_jwk()]},
        },
        "jwt-uri": {"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": JWKS_URI},
        "basic": {"token_endpoint_auth_method": "client_secret_basic", "scope": "read write"},
        "post": {"token_endpoint_auth_method": "client_secret_post", "scope": "read write"},
        "noscope": {"token_endpoint_auth_method": "client_secret_basic"},
        "self": {
            "token_endpoint_auth_method": "self_signed_tls_client_auth",
            "jwks": {"keys": [x5c_jwk(p.self_key, p.self_cert)]},
        },
        "pki-dn": {
            "token_endpoint_auth_method": "tls_client_auth",
            "tls_client_auth_subject_dn": _dn(p.leaf),
        },
        "pki-dns": {
            "token_endpoint_auth_method": "tls_client_auth",
            "tls_client_auth_san_dns": CLIENT_DNS,
        },
        "dpop": {
            "token_endpoint_auth_method": "client_secret_basic",
            "dpop_bound_access_tokens": True,
            "scope": "read",
        },
        "mtls": {
            "token_endpoint_auth_method": "client_secret_basic",
            "tls_client_certificate_bound_access_tokens": True,
            "scope": "read",
        },
    }


@functools.cache
def server() -> Server:
    c = Ctx(keyring())
    directory = tempfile.mkdtemp(prefix="proofbound-adversarial-as-")
    store = Store.open(f"sqlite:///{directory}/as.db")
    atexit.register(shutil.rmtree, directory, True)
    atexit.register(store.close)
    config = settings()
    found: dict[str, str] = {}
    for client_id, metadata in _client_metadata(c).items():
        registration = register_client(metadata, config, now=NOW)
        store.add_client(replace(registration.record, client_id=client_id))
        if registration.client_secret is not None:
            found[client_id] = registration.client_secret
    # A client stored without the one implemented grant (registration cannot produce it today;
    # a record written by another version of the server can).
    legacy = register_client({"scope": "read"}, config, now=NOW)
    metadata = {**legacy.record.metadata, "grant_types": ["authorization_code"]}
    store.add_client(replace(legacy.record, client_id="nogrant", metadata=metadata))
    found["nogrant"] = legacy.client_secret or ""
    jwks = {"keys": [c.k.es256.public_jwk()]}
    auth = ClientAuthenticator(config, store.get_client, {JWKS_URI: jwks}.__getitem__)
    ring = ServerKeyring(store, alg=config.signing_alg, now=NOW)
    nonces = RollingNonces([b"n" * 32], purpose="as", origin=ISSUER)
    return Server(
        settings=config,
        store=store,
        keyring=ring,
        auth=auth,
        tokens=TokenEndpoint(config, store, ring, auth, None),
        nonce_tokens=TokenEndpoint(config, store, ring, auth, nonces),
        revoker=Revoker(store, ring, max_token_ttl=config.access_token_ttl),
        secrets=found,
    )


@functools.cache
def app() -> AuthorizationServer:
    s = server()
    return AuthorizationServer(
        s.settings, s.store, clock=FrozenClock(NOW), fetch_jwks=lambda uri: {"keys": []}
    )


# --- request builders --------------------------------------------------------------------------


def secret_of(client_id: str) -> str:
    return server().secrets[client_id]


def basic(client_id: str, secret: str | None = None) -> str:
    """RFC 6749 §2.3.1: ``Basic`` over the form-urlencoded ``client_id:secret``."""
    secret = secret_of(client_id) if secret is None else secret
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def basic_raw(decoded: bytes) -> str:
    return "Basic " + base64.b64encode(decoded).decode("ascii")


def post(client_id: str, secret: str | None = None) -> dict[str, str]:
    return {
        "client_id": client_id,
        "client_secret": secret_of(client_id) if secret is None else secret,
    }


Params = Mapping[str, Any]  # a value may be a list (repeated parameter) or DROP


def form(values: Params) -> Form:
    """The parameters encoded as a form body and parsed by the server's ``parse_form``."""
    pairs = [
        (name, v)
        for name, value in values.items()
        if value is not DROP
        for v in ([value] if isinstance(value, str) else value)
    ]
    body = urlencode(pairs).encode("ascii")
    return parse_form(body, FORM, max_bytes=MAX_BODY, repeatable=frozenset({"resource"}))


def _record(c: Ctx, values: Params, authorization: str | None) -> None:
    """Every secret a request could show: all client secrets, its assertion and credentials."""
    c.record(*server().secrets.values())
    for name in ("client_secret", "client_assertion"):
        if isinstance(values.get(name), str):
            c.record(values[name])
    if authorization is not None:
        c.record(authorization, authorization.partition(" ")[2])


def authn(
    c: Ctx,
    values: Params,
    *,
    authorization: str | None = None,
    cert: ClientCertificate | None = None,
    endpoint: str = TOKEN_URL,
    authenticator: ClientAuthenticator | None = None,
) -> AuthenticatedClient:
    _record(c, values, authorization)
    return (authenticator or server().auth).authenticate(
        form(values), authorization=authorization, certificate=cert, endpoint=endpoint, now=NOW
    )


def token(
    c: Ctx,
    values: Params,
    *,
    authorization: str | None = None,
    cert: ClientCertificate | None = None,
    dpop: Sequence[str] = (),
    endpoint: TokenEndpoint | None = None,
) -> IssuedToken:
    """``TokenEndpoint.handle`` for a client_credentials request with ``values`` merged in."""
    _record(c, values, authorization)
    c.record(*dpop)
    request = TokenRequest(
        form=form(merged({"grant_type": "client_credentials"}, values)),
        authorization=authorization,
        dpop=list(dpop),
        certificate=cert,
    )
    issued = (endpoint or server().tokens).handle(request, now=NOW)
    c.record(issued.access_token)
    return issued


def assertion(
    c: Ctx,
    client_id: str = "jwt",
    *,
    key: SigningKey | None = None,
    hdr: Mapping[str, Any] | None = None,
    clm: Mapping[str, Any] | None = None,
    signer: SigningKey | None = None,
) -> str:
    """An RFC 7523 §3 client assertion (ES256 key A by default) with a fresh ``jti``."""
    key = key or c.k.es256
    header = merged({"alg": key.alg, "kid": key.kid, "typ": "JWT"}, hdr)
    claims = merged(
        {
            "iss": client_id,
            "sub": client_id,
            "aud": ISSUER,
            "exp": NOW + 60,
            "iat": NOW,
            "jti": secrets.token_urlsafe(12),
        },
        clm,
    )
    value = sign_raw(jdump(header), jdump(claims), signer or key)
    c.record(value)
    return value


def jwt(value: str, **extra: str) -> dict[str, str]:
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": value, **extra}


def as_proof(c: Ctx, key: SigningKey | None = None, **claims: Any) -> str:
    """A DPoP proof for the token endpoint (RFC 9449 §5) with a fresh ``jti``."""
    base = {"htm": "POST", "htu": TOKEN_URL, "jti": secrets.token_urlsafe(12)}
    return c.proof(key, clm={**base, **claims})


def http_request(
    headers: Sequence[tuple[str, str]] = (),
    *,
    peer: str = "127.0.0.1",
    method: str = "POST",
    body: Sequence[bytes] = (),
    tls_chain: Sequence[str] = (),
) -> Request:
    """A minimal Starlette request from ``peer`` whose body arrives in the given chunks; with
    ``tls_chain``, the connection's client certificates (ASGI TLS extension: PEM strings)."""
    chunks = list(body) or [b""]
    messages = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    scope: dict[str, Any] = {
        "type": "http",
        "method": method,
        "path": PATHS["token"],
        "query_string": b"",
        "headers": [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in headers],
        "client": (peer, 1),
    }
    if tls_chain:
        scope["extensions"] = {"tls": {"client_cert_chain": list(tls_chain)}}
    return Request(scope, receive)


def _pem(cert: ClientCertificate) -> str:
    pem = x509.load_der_x509_certificate(cert.der).public_bytes(serialization.Encoding.PEM)
    return pem.decode("ascii")


def _pem_header(cert: ClientCertificate) -> str:
    return quote(_pem(cert), safe="")  # nginx $ssl_client_escaped_cert


# --- row factories -----------------------------------------------------------------------------


def jwt_case(
    case_id: str,
    reason: Reason,
    client_id: str = "jwt",
    *,
    form_id: str | None = None,
    **kwargs: Any,
) -> Case:
    """A private_key_jwt authentication whose assertion has one defect (``assertion`` kwargs)."""

    def action(c: Ctx) -> object:
        extra = {"client_id": form_id} if form_id is not None else {}
        return authn(c, jwt(assertion(c, client_id, **kwargs), **extra))

    return Case(case_id, action, InvalidClient, reason)


def jwt_ok(case_id: str, client_id: str = "jwt", **kwargs: Any) -> Accept:
    return Accept(
        case_id,
        lambda c: _is(authn(c, jwt(assertion(c, client_id, **kwargs))).method, "private_key_jwt"),
    )


def auth_case(case_id: str, action: Callable[[Ctx], object], reason: Reason) -> Case:
    return Case(case_id, action, InvalidClient, reason)


def form_case(case_id: str, body: bytes, reason: Reason, content_type: str | None = FORM) -> Case:
    return Case(
        case_id,
        lambda c: parse_form(
            body, content_type, max_bytes=MAX_BODY, repeatable=frozenset({"resource"})
        ),
        InvalidRequest,
        reason,
    )


def json_case(case_id: str, body: bytes, reason: Reason, content_type: str | None = JSON) -> Case:
    return Case(
        case_id,
        lambda c: parse_json_object(body, content_type, max_bytes=MAX_BODY),
        InvalidRequest,
        reason,
    )


Metadata = Callable[[Ctx], dict[str, Any]]


def jwt_meta(c: Ctx) -> dict[str, Any]:
    return {
        "token_endpoint_auth_method": "private_key_jwt",
        "grant_types": ["client_credentials"],
        "jwks": {"keys": [c.k.es256.public_jwk()]},
        "scope": "read write",
    }


def self_meta(c: Ctx) -> dict[str, Any]:
    return {
        "token_endpoint_auth_method": "self_signed_tls_client_auth",
        "jwks": {"keys": [x5c_jwk(pki().self_key, pki().self_cert)]},
    }


def pki_meta(c: Ctx) -> dict[str, Any]:
    return {"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_san_dns": CLIENT_DNS}


APP: Final = "https://app.example/cb"


def public_meta(c: Ctx) -> dict[str, Any]:
    return {
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "redirect_uris": [APP],
        "dpop_bound_access_tokens": True,
    }


def secret_meta(c: Ctx) -> dict[str, Any]:
    return {"token_endpoint_auth_method": "client_secret_basic", "scope": "read"}


def _register(
    base: Metadata,
    overrides: Mapping[str, Any] | Callable[[Ctx], Mapping[str, Any]] | None,
    config: Callable[[], ServerSettings],
) -> Callable[[Ctx], object]:
    def action(c: Ctx) -> object:
        extra = overrides(c) if callable(overrides) else overrides
        return register_client(merged(base(c), extra), config(), now=NOW)

    return action


def reg_case(
    case_id: str,
    base: Metadata,
    overrides: Mapping[str, Any] | Callable[[Ctx], Mapping[str, Any]],
    config: Callable[[], ServerSettings] = settings,
) -> Case:
    return Case(
        case_id, _register(base, overrides, config), InvalidClientMetadata, Reason.METADATA_INVALID
    )


def reg_ok(
    case_id: str,
    base: Metadata,
    overrides: Mapping[str, Any] | Callable[[Ctx], Mapping[str, Any]] | None = None,
    config: Callable[[], ServerSettings] = settings,
) -> Accept:
    return Accept(case_id, _register(base, overrides, config))


def _is(actual: object, expected: object) -> None:
    assert actual == expected, f"{actual!r} != {expected!r}"


# --- composite actions -------------------------------------------------------------------------


def _jwks_uri_without_resolver(c: Ctx) -> object:
    no_resolver = ClientAuthenticator(settings(), server().store.get_client)
    return authn(c, jwt(assertion(c, "jwt-uri")), authenticator=no_resolver)


def _pki_without_trust_anchors(c: Ctx) -> object:
    no_ca = ClientAuthenticator(settings_without_ca(), server().store.get_client)
    return authn(c, {"client_id": "pki-dns"}, cert=pki().leaf, authenticator=no_ca)


def _assertion_twice(c: Ctx) -> object:
    value = assertion(c)
    token(c, jwt(value))
    return token(c, jwt(value))


def _assertion_after_refused_request(c: Ctx) -> object:
    """A request refused before issuance (scope) spends nothing: the same assertion works."""
    value = assertion(c)
    with pytest.raises(InvalidScope):
        token(c, jwt(value, scope="admin"))
    return token(c, jwt(value))


def _proof_twice(c: Ctx) -> object:
    proof = as_proof(c)
    token(c, {}, authorization=basic("dpop"), dpop=[proof])
    return token(c, {}, authorization=basic("dpop"), dpop=[proof])


def _proof_replayed_with_fresh_assertion(c: Ctx) -> object:
    proof = as_proof(c)
    token(c, jwt(assertion(c)), dpop=[proof])
    return token(c, jwt(assertion(c)), dpop=[proof])


def _assertion_twice_at_introspection(c: Ctx) -> object:
    value = assertion(c)
    body = urlencode(jwt(value, token="opaque")).encode("ascii")

    def once() -> object:
        request = http_request([("content-type", FORM)], body=[body])
        return asyncio.run(app()._authenticated(request, PATHS["introspection"]))

    once()
    return once()


def _foreign_revocation(c: Ctx) -> object:
    issued = token(c, {}, authorization=basic("basic"))
    caller = authn(c, post("post"))
    server().revoker.revoke_for_client(issued.access_token, caller, now=NOW)
    return None


def _own_revocation(c: Ctx) -> object:
    issued = token(c, {}, authorization=basic("basic"))
    caller = authn(c, {}, authorization=basic("basic"))
    server().revoker.revoke_for_client(issued.access_token, caller, now=NOW)
    record = server().store.get_token(_jti(issued.access_token))
    assert record is not None
    _is(server().store.is_revoked(record), True)
    return None


def _unknown_token_revocation_is_ignored(c: Ctx) -> object:
    caller = authn(c, post("post"))
    server().revoker.revoke_for_client(c.token(c.k.attacker), caller, now=NOW)
    return None


def _admin_revokes_issued(c: Ctx) -> object:
    issued = token(c, {}, authorization=basic("basic"))
    count = server().revoker.revoke_by_admin({"token": issued.access_token}, actor="admin", now=NOW)
    _is(count, 1)
    return None


def _admin(request: Callable[[Ctx], Mapping[str, Any]]) -> Callable[[Ctx], object]:
    return lambda c: server().revoker.revoke_by_admin(request(c), actor="admin", now=NOW)


def _jti(access_token: str) -> str:
    payload = access_token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["jti"])


def _as_signed_never_issued(c: Ctx) -> Mapping[str, Any]:
    return {"token": c.token(server().keyring.signing_key(NOW))}


def _as_kid_other_signer(c: Ctx) -> Mapping[str, Any]:
    as_key = server().keyring.signing_key(NOW)
    return {"token": c.token(as_key, signer=c.k.attacker)}


def _grant(grant_type: str) -> Callable[[Ctx], object]:
    return lambda c: token(c, {"grant_type": grant_type}, authorization=basic("basic"))


def _cert_from_tls(chain: Sequence[str]) -> object:
    return app().certificate(http_request(tls_chain=chain, peer="203.0.113.7"))


def _cert_from(headers: Sequence[tuple[str, str]], peer: str = "127.0.0.1") -> object:
    return app().certificate(http_request(headers, peer=peer))


def _body(headers: Sequence[tuple[str, str]], chunks: Sequence[bytes]) -> Callable[[Ctx], object]:
    return lambda c: asyncio.run(_bounded_body(http_request(headers, body=chunks), MAX_BODY))


def _form_request(method: str, content_type: str, body: bytes) -> Callable[[Ctx], object]:
    def action(c: Ctx) -> object:
        request = http_request([("content-type", content_type)], method=method, body=[body])
        return asyncio.run(app().read_form(request))

    return action


BIG: Final = b"a=" + b"x" * (MAX_BODY - 1)  # MAX_BODY + 1 bytes
CC: Final = "grant_type=client_credentials"

CASES: list[Case] = [
    # --- form bodies (RFC 6749 §3.2, Appendix B) ----------------------------------------------
    form_case("rfc6749_s3_2_form_content_type_json", CC.encode(), Reason.REQUEST_MALFORMED, JSON),
    form_case(
        "rfc6749_s3_2_form_content_type_missing", CC.encode(), Reason.REQUEST_MALFORMED, None
    ),
    form_case(
        "rfc6749_s3_2_form_content_type_text", CC.encode(), Reason.REQUEST_MALFORMED, "text/plain"
    ),
    form_case(
        "rfc6749_s3_2_form_content_type_multipart",
        CC.encode(),
        Reason.REQUEST_MALFORMED,
        "multipart/form-data; boundary=x",
    ),
    form_case("rfc6749_s3_2_form_too_large", BIG, Reason.REQUEST_TOO_LARGE),
    form_case(
        "rfc6749_s3_2_form_repeated_grant_type",
        f"{CC}&{CC}".encode(),
        Reason.REQUEST_PARAMETER_REPEATED,
    ),
    form_case(
        "rfc6749_s3_2_form_repeated_client_id_second_empty",
        b"client_id=a&client_id=",
        Reason.REQUEST_PARAMETER_REPEATED,
    ),
    form_case(
        "rfc6749_s3_2_form_repeated_scope",
        b"scope=read&scope=write",
        Reason.REQUEST_PARAMETER_REPEATED,
    ),
    form_case(
        "rfc6749_s3_2_form_repeated_client_assertion",
        b"client_assertion=a.b.c&client_assertion=d.e.f",
        Reason.REQUEST_PARAMETER_REPEATED,
    ),
    form_case("rfc6749_appb_form_percent_encoded_not_utf8", b"scope=%ff", Reason.REQUEST_MALFORMED),
    form_case(
        "rfc6749_appb_form_percent_encoded_lone_surrogate",
        b"scope=%ed%a0%80",
        Reason.REQUEST_MALFORMED,
    ),
    form_case("rfc6749_appb_form_raw_byte_not_utf8", b"scope=\xff", Reason.REQUEST_MALFORMED),
    # --- JSON bodies (RFC 7591 §3.1, admin API) ----------------------------------------------
    json_case("rfc7591_s3_1_json_array", b"[]", Reason.REQUEST_MALFORMED),
    json_case("rfc7591_s3_1_json_string", b'"client"', Reason.REQUEST_MALFORMED),
    json_case(
        "rfc7591_s3_1_json_duplicate_key", b'{"scope":"a","scope":"b"}', Reason.REQUEST_MALFORMED
    ),
    json_case("rfc7591_s3_1_json_nan", b'{"a":NaN}', Reason.REQUEST_MALFORMED),
    json_case("rfc7591_s3_1_json_trailing_data", b'{"a":1} {"b":2}', Reason.REQUEST_MALFORMED),
    json_case("rfc7591_s3_1_json_not_utf8", b'{"a":"\xff"}', Reason.REQUEST_MALFORMED),
    json_case("rfc7591_s3_1_json_empty", b"", Reason.REQUEST_MALFORMED),
    json_case("rfc7591_s3_1_json_content_type_form", b"{}", Reason.REQUEST_MALFORMED, FORM),
    json_case("rfc7591_s3_1_json_content_type_missing", b"{}", Reason.REQUEST_MALFORMED, None),
    json_case(
        "rfc7591_s3_1_json_too_large", b'{"a":"' + b"x" * MAX_BODY + b'"}', Reason.REQUEST_TOO_LARGE
    ),
    # --- headers and bodies at the web layer --------------------------------------------------
    Case(
        "rfc6749_s3_2_authorization_header_repeated",
        lambda c: single_header([basic_raw(b"a:b"), basic_raw(b"c:d")], "Authorization"),
        InvalidRequest,
        Reason.REQUEST_PARAMETER_REPEATED,
    ),
    Case(
        "rfc6749_s3_2_declared_length_over_limit",
        _body([("content-length", str(MAX_BODY + 1))], [b""]),
        InvalidRequest,
        Reason.REQUEST_TOO_LARGE,
    ),
    Case(
        "rfc6749_s3_2_declared_length_not_a_number",
        _body([("content-length", "12x")], [b""]),
        InvalidRequest,
        Reason.REQUEST_TOO_LARGE,
    ),
    Case(
        "rfc6749_s3_2_streamed_body_over_limit",
        _body([], [b"x" * (MAX_BODY // 2), b"x" * (MAX_BODY // 2 + 1)]),
        InvalidRequest,
        Reason.REQUEST_TOO_LARGE,
    ),
    Case(
        "rfc6749_s3_2_token_request_get",
        _form_request("GET", FORM, CC.encode()),
        InvalidRequest,
        Reason.REQUEST_MALFORMED,
    ),
    Case(
        "rfc6749_s3_2_token_request_json_body",
        _form_request("POST", JSON, b'{"grant_type":"client_credentials"}'),
        InvalidRequest,
        Reason.REQUEST_MALFORMED,
    ),
    # --- client certificate header from a trusted proxy (RFC 8705 §6.5, RFC 9440) -------------
    auth_case(
        "rfc8705_s6_5_cert_header_garbage",
        lambda c: _cert_from([(CERT_HEADER, "not-a-certificate")]),
        Reason.CLIENT_CERT_MALFORMED,
    ),
    auth_case(
        "rfc8705_s6_5_cert_header_repeated",
        lambda c: _cert_from([(CERT_HEADER, _pem_header(pki().leaf))] * 2),
        Reason.CLIENT_CERT_MALFORMED,
    ),
    auth_case(
        "rfc8705_s6_5_cert_header_two_pem_blocks",
        lambda c: _cert_from(
            [(CERT_HEADER, _pem_header(pki().leaf) + _pem_header(pki().self_cert))]
        ),
        Reason.CLIENT_CERT_MALFORMED,
    ),
    auth_case(
        "rfc8705_s6_5_cert_header_percent_decodes_to_non_utf8",
        lambda c: _cert_from([(CERT_HEADER, "%ff%fe")]),
        Reason.CLIENT_CERT_MALFORMED,
    ),
    auth_case(
        "rfc8705_s6_5_cert_header_not_ascii",
        lambda c: _cert_from([(CERT_HEADER, "caf\u00e9")]),
        Reason.CLIENT_CERT_MALFORMED,
    ),
    auth_case(
        "rfc8705_s6_5_cert_header_truncated_pem",
        lambda c: _cert_from([(CERT_HEADER, _pem_header(pki().leaf)[:200])]),
        Reason.CLIENT_CERT_MALFORMED,
    ),
    auth_case(
        "rfc8705_s2_tls_client_cert_garbage",
        lambda c: _cert_from_tls(["not-a-certificate"]),
        Reason.CLIENT_CERT_MALFORMED,
    ),
    auth_case(
        "rfc8705_s2_tls_client_cert_two_pem_blocks",
        lambda c: _cert_from_tls([_pem(pki().leaf) + _pem(pki().self_cert)]),
        Reason.CLIENT_CERT_MALFORMED,
    ),
    # --- grant type (RFC 6749 §5.2) -----------------------------------------------------------
    Case(
        "rfc6749_s5_2_grant_type_missing",
        lambda c: token(c, {"grant_type": DROP}, authorization=basic("basic")),
        InvalidRequest,
        Reason.REQUEST_PARAMETER_MISSING,
    ),
    Case(
        "rfc6749_s3_1_grant_type_empty_is_omitted",
        lambda c: token(c, {"grant_type": ""}, authorization=basic("basic")),
        InvalidRequest,
        Reason.REQUEST_PARAMETER_MISSING,
    ),
    *[
        Case(
            f"rfc6749_s5_2_grant_type_{label}",
            _grant(grant),
            UnsupportedGrantType,
            Reason.GRANT_TYPE_UNSUPPORTED,
        )
        for label, grant in (
            ("authorization_code", "authorization_code"),
            ("password", "password"),
            ("refresh_token", "refresh_token"),
            ("jwt_bearer", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("device_code", "urn:ietf:params:oauth:grant-type:device_code"),
            ("uppercase", "CLIENT_CREDENTIALS"),
        )
    ],
    Case(
        "rfc6749_s5_2_grant_type_unsupported_checked_before_client_auth",
        lambda c: token(c, {"grant_type": "password"}),
        UnsupportedGrantType,
        Reason.GRANT_TYPE_UNSUPPORTED,
    ),
    Case(
        "rfc6749_s5_2_client_not_registered_for_grant",
        lambda c: token(c, {}, authorization=basic("nogrant")),
        UnauthorizedClient,
        Reason.GRANT_TYPE_UNAUTHORIZED,
    ),
    # --- client authentication: which method (RFC 6749 §2.3) ----------------------------------
    auth_case("rfc6749_s2_3_no_client_auth", lambda c: authn(c, {}), Reason.CLIENT_AUTH_MISSING),
    auth_case(
        "rfc6749_s2_3_no_client_auth_at_token_endpoint",
        lambda c: token(c, {}),
        Reason.CLIENT_AUTH_MISSING,
    ),
    auth_case(
        "rfc6749_s2_3_client_id_alone_for_secret_client",
        lambda c: authn(c, {"client_id": "basic"}),
        Reason.CLIENT_AUTH_MISSING,
    ),
    auth_case(
        "rfc6749_s2_3_1_client_secret_without_client_id",
        lambda c: authn(c, {"client_secret": secret_of("post")}),
        Reason.CLIENT_AUTH_MISSING,
    ),
    auth_case(
        "rfc6749_s2_3_basic_unknown_client",
        lambda c: authn(c, {}, authorization=basic("nobody", "some-secret-value")),
        Reason.CLIENT_UNKNOWN,
    ),
    auth_case(
        "rfc6749_s2_3_post_unknown_client",
        lambda c: authn(c, post("nobody", "some-secret-value")),
        Reason.CLIENT_UNKNOWN,
    ),
    auth_case(
        "rfc8705_s2_unknown_client_with_certificate",
        lambda c: authn(c, {"client_id": "nobody"}, cert=pki().leaf),
        Reason.CLIENT_UNKNOWN,
    ),
    auth_case(
        "rfc6749_s2_3_client_id_too_long",
        lambda c: authn(c, {"client_id": "c" * 129}, cert=pki().leaf),
        Reason.CLIENT_UNKNOWN,
    ),
    auth_case(
        "rfc7523_s3_sub_unknown_client",
        lambda c: authn(c, jwt(assertion(c, "nobody"))),
        Reason.CLIENT_UNKNOWN,
    ),
    auth_case(
        "rfc6749_s2_3_basic_and_client_secret",
        lambda c: authn(c, post("basic"), authorization=basic("basic")),
        Reason.CLIENT_AUTH_MULTIPLE,
    ),
    auth_case(
        "rfc6749_s2_3_basic_and_assertion",
        lambda c: authn(c, jwt(assertion(c)), authorization=basic("basic")),
        Reason.CLIENT_AUTH_MULTIPLE,
    ),
    auth_case(
        "rfc6749_s2_3_basic_and_assertion_type_only",
        lambda c: authn(c, {"client_assertion_type": ASSERTION_TYPE}, authorization=basic("basic")),
        Reason.CLIENT_AUTH_MULTIPLE,
    ),
    auth_case(
        "rfc6749_s2_3_post_secret_and_assertion",
        lambda c: authn(c, {**post("post"), **jwt(assertion(c, "post"))}),
        Reason.CLIENT_AUTH_MULTIPLE,
    ),
    auth_case(
        "rfc6749_s2_3_basic_and_other_form_client_id",
        lambda c: authn(c, {"client_id": "post"}, authorization=basic("basic")),
        Reason.CLIENT_AUTH_MULTIPLE,
    ),
    auth_case(
        "rfc6749_s2_3_basic_for_private_key_jwt_client",
        lambda c: authn(c, {}, authorization=basic("jwt", "guessed-secret-value")),
        Reason.CLIENT_AUTH_METHOD,
    ),
    auth_case(
        "rfc6749_s2_3_basic_for_post_client",
        lambda c: authn(c, {}, authorization=basic("post")),
        Reason.CLIENT_AUTH_METHOD,
    ),
    auth_case(
        "rfc6749_s2_3_post_for_basic_client",
        lambda c: authn(c, post("basic")),
        Reason.CLIENT_AUTH_METHOD,
    ),
    auth_case(
        "rfc6749_s2_3_basic_for_self_signed_client",
        lambda c: authn(
            c, {}, authorization=basic("self", "guessed-secret-value"), cert=pki().self_cert
        ),
        Reason.CLIENT_AUTH_METHOD,
    ),
    auth_case(
        "rfc7523_s3_assertion_for_secret_client",
        lambda c: authn(c, jwt(assertion(c, "basic"))),
        Reason.CLIENT_AUTH_METHOD,
    ),
    auth_case(
        "rfc8705_s2_certificate_alone_for_secret_client",
        lambda c: authn(c, {"client_id": "basic"}, cert=pki().leaf),
        Reason.CLIENT_AUTH_MISSING,
    ),
    auth_case(
        "rfc8705_s2_certificate_alone_for_private_key_jwt_client",
        lambda c: authn(c, {"client_id": "jwt"}, cert=pki().leaf),
        Reason.CLIENT_AUTH_MISSING,
    ),
    # --- shared secrets (RFC 6749 §2.3.1) -----------------------------------------------------
    auth_case(
        "rfc6749_s2_3_1_basic_wrong_secret",
        lambda c: authn(c, {}, authorization=basic("basic", "wrong-secret-value")),
        Reason.CLIENT_SECRET_INVALID,
    ),
    auth_case(
        "rfc6749_s2_3_1_basic_secret_of_another_client",
        lambda c: authn(c, {}, authorization=basic("basic", secret_of("post"))),
        Reason.CLIENT_SECRET_INVALID,
    ),
    auth_case(
        "rfc6749_s2_3_1_basic_empty_secret",
        lambda c: authn(c, {}, authorization=basic("basic", "")),
        Reason.CLIENT_SECRET_INVALID,
    ),
    auth_case(
        "rfc6749_s2_3_1_basic_secret_truncated",
        lambda c: authn(c, {}, authorization=basic("basic", secret_of("basic")[:-1])),
        Reason.CLIENT_SECRET_INVALID,
    ),
    auth_case(
        "rfc6749_s2_3_1_post_wrong_secret",
        lambda c: authn(c, post("post", "wrong-secret-value")),
        Reason.CLIENT_SECRET_INVALID,
    ),
    auth_case(
        "rfc7617_s2_basic_not_base64",
        lambda c: authn(c, {}, authorization="Basic !!not-base64!!"),
        Reason.CLIENT_SECRET_INVALID,
    ),
    auth_case(
        "rfc7617_s2_basic_base64url_alphabet",
        lambda c: authn(
            c, {}, authorization="Basic " + base64.urlsafe_b64encode(b"basic:\xfb\xff").decode()
        ),
        Reason.CLIENT_SECRET_INVALID,
    ),
    auth_case(
        "rfc7617_s2_basic_without_colon",
        lambda c: authn(c, {}, authorization=basic_raw(b"basic")),
        Reason.CLIENT_SECRET_INVALID,
    ),
    auth_case(
        "rfc7617_s2_basic_empty_client_id",
        lambda c: authn(c, {}, authorization=basic_raw(b":" + secret_of("basic").encode())),
        Reason.CLIENT_SECRET_INVALID,
    ),
    auth_case(
        "rfc7617_s2_basic_not_utf8",
        lambda c: authn(c, {}, authorization=basic_raw(b"basic:\xff\xfe")),
        Reason.CLIENT_SECRET_INVALID,
    ),
    Case(
        "rfc6749_s2_3_authorization_bearer_scheme",
        lambda c: authn(c, {}, authorization="Bearer " + secret_of("basic")),
        InvalidRequest,
        Reason.REQUEST_MALFORMED,
    ),
    Case(
        "rfc7617_s2_basic_without_credentials",
        lambda c: authn(c, {}, authorization="Basic "),
        InvalidRequest,
        Reason.REQUEST_MALFORMED,
    ),
    # --- private_key_jwt: framing (RFC 7523 §2.2, §3) -----------------------------------------
    auth_case(
        "rfc7523_s2_2_assertion_type_wrong",
        lambda c: authn(
            c,
            {
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
                "client_assertion": assertion(c),
            },
        ),
        Reason.CLIENT_ASSERTION_MALFORMED,
    ),
    auth_case(
        "rfc7523_s2_2_assertion_type_missing",
        lambda c: authn(c, {"client_assertion": assertion(c)}),
        Reason.CLIENT_ASSERTION_MALFORMED,
    ),
    auth_case(
        "rfc7523_s2_2_assertion_missing",
        lambda c: authn(c, {"client_assertion_type": ASSERTION_TYPE, "client_id": "jwt"}),
        Reason.CLIENT_ASSERTION_MALFORMED,
    ),
    auth_case(
        "rfc7523_s2_2_assertion_not_a_jws",
        lambda c: authn(c, jwt("not-a-jwt-at-all")),
        Reason.CLIENT_ASSERTION_MALFORMED,
    ),
    auth_case(
        "rfc7523_s2_2_two_assertions_dot_joined",
        lambda c: authn(c, jwt(assertion(c) + "." + assertion(c))),
        Reason.CLIENT_ASSERTION_MALFORMED,
    ),
    auth_case(
        "rfc7523_s2_2_two_assertions_concatenated",
        lambda c: authn(c, jwt(assertion(c) + assertion(c))),
        Reason.CLIENT_ASSERTION_MALFORMED,
    ),
    auth_case(
        "rfc7523_s2_2_assertion_unsigned",
        lambda c: authn(c, jwt(assertion(c).rpartition(".")[0] + ".")),
        Reason.CLIENT_ASSERTION_MALFORMED,
    ),
    auth_case(
        "rfc7523_s2_2_assertion_header_not_json",
        lambda c: authn(c, jwt(c.raw(b"not json", jdump({"sub": "jwt"})))),
        Reason.CLIENT_ASSERTION_MALFORMED,
    ),
    auth_case(
        "rfc7523_s2_2_assertion_payload_array",
        lambda c: authn(c, jwt(c.raw(jdump({"alg": "ES256"}), b'["jwt"]'))),
        Reason.CLIENT_ASSERTION_MALFORMED,
    ),
    auth_case(
        "rfc7523_s2_2_assertion_too_large",
        lambda c: authn(c, jwt(assertion(c, clm={"pad": "x" * 8192}))),
        Reason.CLIENT_ASSERTION_MALFORMED,
    ),
    jwt_case(
        "rfc7515_s4_1_11_assertion_crit", Reason.CLIENT_ASSERTION_MALFORMED, hdr={"crit": ["exp"]}
    ),
    # --- private_key_jwt: algorithm and key (RFC 7523 §3 (9), RFC 8725 §3.1) ------------------
    jwt_case("rfc8725_s3_1_assertion_alg_none", Reason.CLIENT_ASSERTION_ALG, hdr={"alg": "none"}),
    jwt_case("rfc8725_s3_1_assertion_alg_hs256", Reason.CLIENT_ASSERTION_ALG, hdr={"alg": "HS256"}),
    jwt_case("rfc8725_s3_1_assertion_alg_missing", Reason.CLIENT_ASSERTION_ALG, hdr={"alg": DROP}),
    jwt_case(
        "rfc8725_s3_1_assertion_alg_lowercase", Reason.CLIENT_ASSERTION_ALG, hdr={"alg": "es256"}
    ),
    jwt_case(
        "rfc8725_s3_1_assertion_alg_not_allowed_es384",
        Reason.CLIENT_ASSERTION_ALG,
        key=keyring().es384,
    ),
    jwt_case(
        "rfc7591_s2_assertion_alg_not_registered_signing_alg",
        Reason.CLIENT_ASSERTION_ALG,
        "jwt-es256",
        key=keyring().ed,
    ),
    jwt_case(
        "rfc7523_s3_assertion_kid_unknown", Reason.CLIENT_ASSERTION_KEY, hdr={"kid": "no-such-kid"}
    ),
    jwt_case(
        "rfc7523_s3_assertion_kid_not_a_string", Reason.CLIENT_ASSERTION_MALFORMED, hdr={"kid": 5}
    ),
    jwt_case(
        "rfc7523_s3_assertion_wrong_kty_okp_for_ec_client",
        Reason.CLIENT_ASSERTION_KEY,
        key=keyring().ed,
        hdr={"kid": DROP},
    ),
    jwt_case(
        "rfc7517_s4_4_assertion_rs256_with_ps256_only_key",
        Reason.CLIENT_ASSERTION_KEY,
        key=keyring().rs256,
    ),
    jwt_case(
        "rfc7517_s4_2_assertion_by_encryption_key",
        Reason.CLIENT_ASSERTION_KEY,
        "jwt-enc",
        key=keyring().ed_b,
    ),
    auth_case(
        "rfc7523_s3_jwks_uri_client_without_resolver",
        _jwks_uri_without_resolver,
        Reason.CLIENT_ASSERTION_KEY,
    ),
    jwt_case(
        "rfc7523_s3_assertion_signed_by_another_key_same_kid",
        Reason.CLIENT_ASSERTION_SIGNATURE,
        signer=keyring().es256_b,
    ),
    jwt_case(
        "rfc7523_s3_assertion_signed_by_another_key_no_kid",
        Reason.CLIENT_ASSERTION_SIGNATURE,
        hdr={"kid": DROP},
        signer=keyring().es256_b,
    ),
    auth_case(
        "rfc7523_s3_assertion_payload_swapped_after_signing",
        lambda c: authn(
            c,
            jwt(
                ".".join(
                    (
                        assertion(c).split(".")[0],
                        assertion(c, clm={"exp": NOW + 61}).split(".")[1],
                        assertion(c).split(".")[2],
                    )
                )
            ),
        ),
        Reason.CLIENT_ASSERTION_SIGNATURE,
    ),
    # --- private_key_jwt: claims (RFC 7523 §3) ------------------------------------------------
    jwt_case("rfc7523_s3_1_iss_not_sub", Reason.CLIENT_ASSERTION_CLAIMS, clm={"iss": "basic"}),
    jwt_case("rfc7523_s3_1_iss_missing", Reason.CLIENT_ASSERTION_CLAIMS, clm={"iss": DROP}),
    jwt_case("rfc7523_s3_2_sub_missing", Reason.CLIENT_ASSERTION_CLAIMS, clm={"sub": DROP}),
    jwt_case("rfc7523_s3_2_sub_not_a_string", Reason.CLIENT_ASSERTION_CLAIMS, clm={"sub": ["jwt"]}),
    jwt_case("rfc7523_s3_2_sub_not_client_id", Reason.CLIENT_ASSERTION_CLAIMS, form_id="jwt-es256"),
    jwt_case(
        "rfc7523_s3_3_aud_other_server",
        Reason.CLIENT_ASSERTION_CLAIMS,
        clm={"aud": "https://other.example"},
    ),
    jwt_case("rfc7523_s3_3_aud_missing", Reason.CLIENT_ASSERTION_CLAIMS, clm={"aud": DROP}),
    jwt_case(
        "rfc7523_s3_3_aud_list_without_this_server",
        Reason.CLIENT_ASSERTION_CLAIMS,
        clm={"aud": ["https://other.example", "https://rs.example"]},
    ),
    jwt_case(
        "rfc7523_s3_3_aud_another_endpoint_of_this_server",
        Reason.CLIENT_ASSERTION_CLAIMS,
        clm={"aud": ISSUER + PATHS["introspection"]},
    ),
    jwt_case(
        "rfc7523_s3_3_aud_issuer_with_trailing_slash",
        Reason.CLIENT_ASSERTION_CLAIMS,
        clm={"aud": ISSUER + "/"},
    ),
    jwt_case(
        "rfc7523_s3_3_aud_not_a_string",
        Reason.CLIENT_ASSERTION_CLAIMS,
        clm={"aud": {"iss": ISSUER}},
    ),
    jwt_case("rfc7523_s3_4_exp_missing", Reason.CLIENT_ASSERTION_EXPIRED, clm={"exp": DROP}),
    jwt_case(
        "rfc7523_s3_4_exp_string", Reason.CLIENT_ASSERTION_EXPIRED, clm={"exp": str(NOW + 60)}
    ),
    jwt_case("rfc7523_s3_4_exp_float", Reason.CLIENT_ASSERTION_EXPIRED, clm={"exp": NOW + 60.5}),
    jwt_case("rfc7523_s3_4_exp_boolean", Reason.CLIENT_ASSERTION_EXPIRED, clm={"exp": True}),
    jwt_case(
        "rfc7523_s3_4_exp_past_beyond_skew",
        Reason.CLIENT_ASSERTION_EXPIRED,
        clm={"exp": NOW - 31, "iat": NOW - 90},
    ),
    jwt_case(
        "rfc7523_s3_4_exp_plus_skew_equals_now",
        Reason.CLIENT_ASSERTION_EXPIRED,
        clm={"exp": NOW - 30, "iat": NOW - 90},
    ),
    jwt_case(
        "rfc7523_s3_4_exp_301s_ahead", Reason.CLIENT_ASSERTION_EXPIRED, clm={"exp": NOW + 301}
    ),
    jwt_case(
        "rfc7523_s3_4_exp_far_future", Reason.CLIENT_ASSERTION_EXPIRED, clm={"exp": NOW + 10**9}
    ),
    jwt_case("rfc7523_s3_5_nbf_in_future", Reason.CLIENT_ASSERTION_CLAIMS, clm={"nbf": NOW + 31}),
    jwt_case("rfc7523_s3_5_nbf_string", Reason.CLIENT_ASSERTION_CLAIMS, clm={"nbf": str(NOW)}),
    jwt_case("rfc7523_s3_6_iat_in_future", Reason.CLIENT_ASSERTION_CLAIMS, clm={"iat": NOW + 31}),
    jwt_case("rfc7523_s3_6_iat_boolean", Reason.CLIENT_ASSERTION_CLAIMS, clm={"iat": False}),
    jwt_case("rfc7523_s3_7_jti_missing", Reason.CLIENT_ASSERTION_CLAIMS, clm={"jti": DROP}),
    jwt_case("rfc7523_s3_7_jti_empty", Reason.CLIENT_ASSERTION_CLAIMS, clm={"jti": ""}),
    jwt_case("rfc7523_s3_7_jti_number", Reason.CLIENT_ASSERTION_CLAIMS, clm={"jti": 12345}),
    jwt_case("rfc7523_s3_7_jti_257_chars", Reason.CLIENT_ASSERTION_CLAIMS, clm={"jti": "j" * 257}),
    # --- private_key_jwt: single use (RFC 7523 §3 (7)) ----------------------------------------
    auth_case(
        "rfc7523_s3_7_assertion_replayed_at_token_endpoint",
        _assertion_twice,
        Reason.CLIENT_ASSERTION_REPLAYED,
    ),
    auth_case(
        "rfc7523_s3_7_assertion_replayed_at_introspection",
        _assertion_twice_at_introspection,
        Reason.CLIENT_ASSERTION_REPLAYED,
    ),
    # --- self_signed_tls_client_auth (RFC 8705 §2.2) ------------------------------------------
    auth_case(
        "rfc8705_s2_2_no_certificate",
        lambda c: authn(c, {"client_id": "self"}),
        Reason.CLIENT_CERT_MISSING,
    ),
    auth_case(
        "rfc8705_s2_2_another_self_signed_certificate",
        lambda c: authn(c, {"client_id": "self"}, cert=pki().self_other),
        Reason.CLIENT_CERT_MISMATCH,
    ),
    auth_case(
        "rfc8705_s2_2_same_key_other_certificate",
        lambda c: authn(c, {"client_id": "self"}, cert=pki().self_same_key),
        Reason.CLIENT_CERT_MISMATCH,
    ),
    auth_case(
        "rfc8705_s2_2_ca_issued_certificate",
        lambda c: authn(c, {"client_id": "self"}, cert=pki().leaf),
        Reason.CLIENT_CERT_MISMATCH,
    ),
    # --- tls_client_auth (RFC 8705 §2.1) ------------------------------------------------------
    auth_case(
        "rfc8705_s2_1_no_certificate",
        lambda c: authn(c, {"client_id": "pki-dn"}),
        Reason.CLIENT_CERT_MISSING,
    ),
    auth_case(
        "rfc8705_s2_1_chain_to_another_ca",
        lambda c: authn(c, {"client_id": "pki-dn"}, cert=pki().foreign_ca),
        Reason.CLIENT_CERT_UNTRUSTED,
    ),
    auth_case(
        "rfc8705_s2_1_self_signed_certificate",
        lambda c: authn(c, {"client_id": "pki-dns"}, cert=pki().self_cert),
        Reason.CLIENT_CERT_UNTRUSTED,
    ),
    auth_case(
        "rfc8705_s2_1_expired_certificate",
        lambda c: authn(c, {"client_id": "pki-dn"}, cert=pki().expired),
        Reason.CLIENT_CERT_UNTRUSTED,
    ),
    auth_case(
        "rfc8705_s2_1_no_trust_anchors_configured",
        _pki_without_trust_anchors,
        Reason.CLIENT_CERT_UNTRUSTED,
    ),
    auth_case(
        "rfc8705_s2_1_2_wrong_subject_dn",
        lambda c: authn(c, {"client_id": "pki-dn"}, cert=pki().other_dn),
        Reason.CLIENT_CERT_SUBJECT,
    ),
    auth_case(
        "rfc8705_s2_1_2_wrong_san_dns",
        lambda c: authn(c, {"client_id": "pki-dns"}, cert=pki().other_dns),
        Reason.CLIENT_CERT_SUBJECT,
    ),
    # --- scope (RFC 6749 §3.3) ----------------------------------------------------------------
    Case(
        "rfc6749_s3_3_scope_not_registered",
        lambda c: token(c, {"scope": "admin"}, authorization=basic("basic")),
        InvalidScope,
        Reason.SCOPE_INVALID,
    ),
    Case(
        "rfc6749_s3_3_scope_one_of_two_not_registered",
        lambda c: token(c, {"scope": "read admin"}, authorization=basic("basic")),
        InvalidScope,
        Reason.SCOPE_INVALID,
    ),
    Case(
        "rfc6749_s3_3_scope_double_space",
        lambda c: token(c, {"scope": "read  write"}, authorization=basic("basic")),
        InvalidScope,
        Reason.SCOPE_INVALID,
    ),
    Case(
        "rfc6749_s3_3_scope_leading_space",
        lambda c: token(c, {"scope": " read"}, authorization=basic("basic")),
        InvalidScope,
        Reason.SCOPE_INVALID,
    ),
    Case(
        "rfc6749_s3_3_scope_case_differs",
        lambda c: token(c, {"scope": "READ"}, authorization=basic("basic")),
        InvalidScope,
        Reason.SCOPE_INVALID,
    ),
    Case(
        "rfc6749_s3_3_scope_for_client_without_scopes",
        lambda c: token(c, {"scope": "read"}, authorization=basic("noscope")),
        InvalidScope,
        Reason.SCOPE_INVALID,
    ),
    # --- resource indicators (RFC 8707 §2) ----------------------------------------------------
    Case(
        "rfc8707_s2_resource_not_configured",
        lambda c: token(c, {"resource": "https://other.example"}, authorization=basic("basic")),
        InvalidTarget,
        Reason.TARGET_INVALID,
    ),
    Case(
        "rfc8707_s2_resource_with_fragment",
        lambda c: token(c, {"resource": AUDIENCE + "#frag"}, authorization=basic("basic")),
        InvalidTarget,
        Reason.TARGET_INVALID,
    ),
    Case(
        "rfc8707_s2_resource_empty_fragment",
        lambda c: token(c, {"resource": AUDIENCE + "#"}, authorization=basic("basic")),
        InvalidTarget,
        Reason.TARGET_INVALID,
    ),
    Case(
        "rfc8707_s2_resource_relative",
        lambda c: token(c, {"resource": "/resource"}, authorization=basic("basic")),
        InvalidTarget,
        Reason.TARGET_INVALID,
    ),
    Case(
        "rfc8707_s2_resource_trailing_slash_not_configured",
        lambda c: token(c, {"resource": AUDIENCE + "/"}, authorization=basic("basic")),
        InvalidTarget,
        Reason.TARGET_INVALID,
    ),
    Case(
        "rfc8707_s2_resource_one_of_two_not_configured",
        lambda c: token(
            c, {"resource": [AUDIENCE, "https://other.example"]}, authorization=basic("basic")
        ),
        InvalidTarget,
        Reason.TARGET_INVALID,
    ),
    Case(
        "rfc8707_s2_resource_is_the_rs_uri_not_the_configured_one",
        lambda c: token(c, {"resource": RS_URI}, authorization=basic("basic")),
        InvalidTarget,
        Reason.TARGET_INVALID,
    ),
    Case(
        "rfc8707_s2_resource_invalid_ipv6_host",
        lambda c: token(c, {"resource": "https://[::1/api"}, authorization=basic("basic")),
        InvalidTarget,
        Reason.TARGET_INVALID,
    ),
    # --- token binding (RFC 9449 §5, RFC 8705 §3) ---------------------------------------------
    Case(
        "rfc9449_s5_2_dpop_bound_client_without_proof",
        lambda c: token(c, {}, authorization=basic("dpop")),
        InvalidDPoPProof,
        Reason.PROOF_MISSING,
    ),
    Case(
        "rfc8705_s3_cert_bound_client_sends_dpop_proof",
        lambda c: token(c, {}, authorization=basic("mtls"), dpop=[as_proof(c)], cert=pki().leaf),
        InvalidRequest,
        Reason.BINDING_CONFLICT,
    ),
    Case(
        "rfc8705_s3_cert_bound_client_sends_dpop_proof_without_cert",
        lambda c: token(c, {}, authorization=basic("mtls"), dpop=[as_proof(c)]),
        InvalidRequest,
        Reason.BINDING_CONFLICT,
    ),
    Case(
        "rfc8705_s3_cert_bound_client_without_certificate",
        lambda c: token(c, {}, authorization=basic("mtls")),
        InvalidRequest,
        Reason.BINDING_CERT_REQUIRED,
    ),
    Case(
        "rfc9449_s5_proof_htm_get",
        lambda c: token(c, {}, authorization=basic("dpop"), dpop=[as_proof(c, htm="GET")]),
        InvalidDPoPProof,
        Reason.HTM_MISMATCH,
    ),
    Case(
        "rfc9449_s5_proof_htu_resource_server",
        lambda c: token(c, {}, authorization=basic("dpop"), dpop=[as_proof(c, htu=RS_URI)]),
        InvalidDPoPProof,
        Reason.HTU_MISMATCH,
    ),
    Case(
        "rfc9449_s5_two_proofs",
        lambda c: token(c, {}, authorization=basic("dpop"), dpop=[as_proof(c), as_proof(c)]),
        InvalidDPoPProof,
        Reason.PROOF_MULTIPLE,
    ),
    Case(
        "rfc9449_s8_as_nonce_required",
        lambda c: token(
            c, {}, authorization=basic("dpop"), dpop=[as_proof(c)], endpoint=server().nonce_tokens
        ),
        UseDPoPNonce,
        Reason.NONCE_MISSING,
    ),
    Case(
        "rfc9449_s11_1_proof_replayed_at_token_endpoint",
        _proof_twice,
        InvalidDPoPProof,
        Reason.PROOF_REPLAYED,
    ),
    Case(
        "rfc9449_s11_1_proof_replayed_with_fresh_assertion",
        _proof_replayed_with_fresh_assertion,
        InvalidDPoPProof,
        Reason.PROOF_REPLAYED,
    ),
    # --- revocation (RFC 7009 §2.1; admin API) ------------------------------------------------
    Case(
        "rfc7009_s2_1_revoke_token_of_another_client",
        _foreign_revocation,
        UnauthorizedClient,
        Reason.TOKEN_FOREIGN,
    ),
    Case(
        "admin_revoke_token_by_foreign_key",
        _admin(lambda c: {"token": c.token(c.k.attacker)}),
        InvalidRequest,
        Reason.TOKEN_UNKNOWN,
    ),
    Case(
        "admin_revoke_token_as_kid_other_signer",
        _admin(_as_kid_other_signer),
        InvalidRequest,
        Reason.TOKEN_UNKNOWN,
    ),
    Case(
        "admin_revoke_token_as_signed_never_issued",
        _admin(_as_signed_never_issued),
        InvalidRequest,
        Reason.TOKEN_UNKNOWN,
    ),
    Case(
        "admin_revoke_token_garbage",
        _admin(lambda c: {"token": "not-a-token"}),
        InvalidRequest,
        Reason.TOKEN_UNKNOWN,
    ),
    Case(
        "admin_revoke_no_member",
        _admin(lambda c: {}),
        InvalidRequest,
        Reason.REQUEST_PARAMETER_MISSING,
    ),
    Case(
        "admin_revoke_two_members",
        _admin(lambda c: {"jkt": "a" * 43, "client_id": "basic"}),
        InvalidRequest,
        Reason.REQUEST_PARAMETER_MISSING,
    ),
    Case(
        "admin_revoke_token_not_a_string",
        _admin(lambda c: {"token": ["a.b.c"]}),
        InvalidRequest,
        Reason.REQUEST_MALFORMED,
    ),
    Case(
        "admin_revoke_jkt_too_long",
        _admin(lambda c: {"jkt": "a" * 256}),
        InvalidRequest,
        Reason.REQUEST_MALFORMED,
    ),
    Case(
        "admin_revoke_client_id_empty",
        _admin(lambda c: {"client_id": ""}),
        InvalidRequest,
        Reason.REQUEST_MALFORMED,
    ),
    # --- registration metadata (RFC 7591 §2, §3.2.2; RFC 8705 §2.1.2, §2.2.2) ----------------
    reg_case(
        "rfc7591_s2_auth_method_unknown",
        jwt_meta,
        {"token_endpoint_auth_method": "client_secret_jwt"},
    ),
    reg_case(
        "rfc6749_s2_1_public_client_with_client_credentials",
        secret_meta,
        {"token_endpoint_auth_method": "none"},
    ),
    reg_case(
        "rfc7591_s2_auth_method_case", jwt_meta, {"token_endpoint_auth_method": "Private_Key_JWT"}
    ),
    reg_case(
        "rfc7591_s2_auth_method_not_a_string",
        jwt_meta,
        {"token_endpoint_auth_method": ["private_key_jwt"]},
    ),
    reg_case(
        "rfc7591_s2_authorization_code_without_redirect_uris",
        jwt_meta,
        {"grant_types": ["authorization_code"]},
    ),
    # --- the code flow's registration rules (RFC 7591 §2, RFC 8252 §7, RFC 9449 §5) ----------
    reg_case(
        "rfc9449_s5_public_client_without_dpop", public_meta, {"dpop_bound_access_tokens": False}
    ),
    reg_case(
        "rfc9449_s5_public_client_with_mtls_binding",
        public_meta,
        {"tls_client_certificate_bound_access_tokens": True},
    ),
    reg_case("rfc7591_s2_refresh_token_alone", public_meta, {"grant_types": ["refresh_token"]}),
    reg_case("rfc7591_s2_redirect_uris_without_code_grant", jwt_meta, {"redirect_uris": [APP]}),
    reg_case(
        "rfc7591_s2_1_code_grant_with_response_type_token",
        public_meta,
        {"response_types": ["token"]},
    ),
    reg_case("rfc7591_s2_1_code_grant_with_no_response_type", public_meta, {"response_types": []}),
    reg_case("rfc7591_s2_redirect_uris_empty", public_meta, {"redirect_uris": []}),
    reg_case("rfc7591_s2_redirect_uris_string", public_meta, {"redirect_uris": APP}),
    reg_case("rfc7591_s2_redirect_uris_repeated", public_meta, {"redirect_uris": [APP, APP]}),
    reg_case(
        "rfc7591_s2_redirect_uris_too_many",
        public_meta,
        {"redirect_uris": [f"{APP}/{i}" for i in range(11)]},
    ),
    reg_case("rfc6749_s3_1_2_redirect_uri_fragment", public_meta, {"redirect_uris": [APP + "#x"]}),
    reg_case("rfc6749_s3_1_2_redirect_uri_relative", public_meta, {"redirect_uris": ["/cb"]}),
    reg_case(
        "rfc6749_s3_1_2_1_redirect_uri_plain_http",
        public_meta,
        {"redirect_uris": ["http://app.example/cb"]},
    ),
    reg_case(
        "rfc6749_s3_1_2_redirect_uri_userinfo",
        public_meta,
        {"redirect_uris": ["https://user@app.example/cb"]},
    ),
    reg_case("rfc8252_s7_1_scheme_without_dot", public_meta, {"redirect_uris": ["myapp:/cb"]}),
    reg_case(
        "rfc6749_s3_1_2_redirect_uri_host_underscore",
        public_meta,
        {"redirect_uris": ["https://app_x.example/cb"]},
    ),
    reg_case(
        "rfc6749_s3_1_2_redirect_uri_port_not_a_number",
        public_meta,
        {"redirect_uris": ["https://app.example:abc/cb"]},
    ),
    reg_case(
        "rfc6749_s10_6_javascript_redirect_uri",
        public_meta,
        {"redirect_uris": ["javascript:alert(1)"]},
    ),
    reg_case(
        "rfc7591_s2_grant_password", jwt_meta, {"grant_types": ["client_credentials", "password"]}
    ),
    reg_case("rfc7591_s2_grant_repeated", jwt_meta, {"grant_types": ["client_credentials"] * 2}),
    reg_case("rfc7591_s2_grant_types_empty", jwt_meta, {"grant_types": []}),
    reg_case("rfc7591_s2_grant_types_string", jwt_meta, {"grant_types": "client_credentials"}),
    reg_case("rfc7591_s2_1_response_types_code", jwt_meta, {"response_types": ["code"]}),
    reg_case("rfc7591_s2_1_response_types_string", jwt_meta, {"response_types": "token"}),
    reg_case("rfc7591_s2_1_response_types_null", jwt_meta, {"response_types": None}),
    reg_case("rfc7591_s2_jwks_and_jwks_uri", jwt_meta, {"jwks_uri": JWKS_URI}),
    reg_case(
        "rfc7591_s2_jwks_private_key",
        jwt_meta,
        lambda c: {"jwks": {"keys": [c.k.es256.private_jwk()]}},
    ),
    reg_case(
        "rfc7591_s2_jwks_private_rsa_member_only",
        jwt_meta,
        lambda c: {
            "jwks": {"keys": [{**c.k.ps256.public_jwk(), "p": c.k.ps256.private_jwk()["p"]}]}
        },
    ),
    reg_case(
        "rfc7591_s2_jwks_second_key_private",
        jwt_meta,
        lambda c: {"jwks": {"keys": [c.k.es256.public_jwk(), c.k.ed.private_jwk()]}},
    ),
    reg_case("rfc7591_s2_jwks_not_an_object", jwt_meta, {"jwks": [{"kty": "EC"}]}),
    reg_case("rfc7591_s2_jwks_keys_empty", jwt_meta, {"jwks": {"keys": []}}),
    reg_case(
        "rfc7591_s2_jwks_eleven_keys",
        jwt_meta,
        lambda c: {"jwks": {"keys": [c.k.es256.public_jwk()] * 11}},
    ),
    reg_case("rfc7591_s2_jwks_key_not_an_object", jwt_meta, {"jwks": {"keys": ["key"]}}),
    reg_case(
        "rfc7591_s2_jwks_symmetric_key",
        jwt_meta,
        {"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}},
    ),
    reg_case(
        "rfc7591_s2_jwks_point_not_on_curve",
        jwt_meta,
        lambda c: {
            "jwks": {"keys": [{**c.k.es256.public_jwk(), "y": c.k.es256_b.public_jwk()["y"]}]}
        },
    ),
    reg_case(
        "rfc7591_s2_jwks_uri_http",
        jwt_meta,
        {"jwks": DROP, "jwks_uri": "http://client.example/jwks"},
    ),
    reg_case(
        "rfc7591_s2_jwks_uri_ftp", jwt_meta, {"jwks": DROP, "jwks_uri": "ftp://client.example/jwks"}
    ),
    reg_case("rfc7591_s2_jwks_uri_fragment", jwt_meta, {"jwks": DROP, "jwks_uri": JWKS_URI + "#k"}),
    reg_case("rfc7591_s2_jwks_uri_no_host", jwt_meta, {"jwks": DROP, "jwks_uri": "https:///jwks"}),
    reg_case("rfc7591_s2_jwks_uri_relative", jwt_meta, {"jwks": DROP, "jwks_uri": "/jwks"}),
    reg_case(
        "rfc7591_s2_jwks_uri_http_loopback_lookalike",
        jwt_meta,
        {"jwks": DROP, "jwks_uri": "http://localhost.attacker.example/jwks"},
    ),
    reg_case("rfc7591_s2_jwks_uri_not_a_string", jwt_meta, {"jwks": DROP, "jwks_uri": 443}),
    reg_case(
        "rfc7591_s2_jwks_uri_invalid_ipv6_host",
        jwt_meta,
        {"jwks": DROP, "jwks_uri": "https://[::1/jwks"},
    ),
    reg_case(
        "rfc7591_s2_jwks_uri_ipv6_literal_not_an_address",
        jwt_meta,
        {"jwks": DROP, "jwks_uri": "https://[not-an-address]/jwks"},
    ),
    reg_case("rfc7523_s3_private_key_jwt_without_keys", jwt_meta, {"jwks": DROP}),
    reg_case(
        "rfc8705_s2_2_self_signed_without_keys",
        self_meta,
        {"jwks": DROP},
    ),
    reg_case(
        "rfc8705_s2_2_self_signed_without_x5c",
        self_meta,
        lambda c: {"jwks": {"keys": [pki().self_key.public_jwk()]}},
    ),
    reg_case(
        "rfc8705_s2_2_2_x5c_key_differs_from_jwk",
        self_meta,
        lambda c: {"jwks": {"keys": [x5c_jwk(c.k.es256, pki().self_cert)]}},
    ),
    reg_case(
        "rfc7517_s4_7_x5c_not_base64",
        self_meta,
        lambda c: {"jwks": {"keys": [{**pki().self_key.public_jwk(), "x5c": ["not base64!"]}]}},
    ),
    reg_case(
        "rfc7517_s4_7_x5c_not_a_certificate",
        self_meta,
        lambda c: {"jwks": {"keys": [{**pki().self_key.public_jwk(), "x5c": ["AAAA"]}]}},
    ),
    reg_case(
        "rfc7517_s4_7_x5c_empty",
        self_meta,
        lambda c: {"jwks": {"keys": [{**pki().self_key.public_jwk(), "x5c": []}]}},
    ),
    reg_case(
        "rfc7517_s4_7_x5c_string",
        self_meta,
        lambda c: {
            "jwks": {
                "keys": [
                    {
                        **pki().self_key.public_jwk(),
                        "x5c": base64.b64encode(pki().self_cert.der).decode(),
                    }
                ]
            }
        },
    ),
    reg_case("rfc8705_s2_1_tls_client_auth_without_client_ca", pki_meta, {}, settings_without_ca),
    reg_case("rfc8705_s2_1_2_no_subject_member", pki_meta, {"tls_client_auth_san_dns": DROP}),
    reg_case(
        "rfc8705_s2_1_2_two_subject_members",
        pki_meta,
        lambda c: {"tls_client_auth_subject_dn": _dn(pki().leaf)},
    ),
    reg_case(
        "rfc8705_s2_1_2_subject_dn_not_a_dn",
        pki_meta,
        {"tls_client_auth_san_dns": DROP, "tls_client_auth_subject_dn": "client-pki"},
    ),
    reg_case(
        "rfc8705_s2_1_2_san_ip_not_an_address",
        pki_meta,
        {"tls_client_auth_san_dns": DROP, "tls_client_auth_san_ip": "999.0.0.1"},
    ),
    reg_case("rfc8705_s2_1_2_san_dns_empty", pki_meta, {"tls_client_auth_san_dns": ""}),
    reg_case(
        "rfc8705_s2_1_2_san_dns_not_a_string",
        pki_meta,
        {"tls_client_auth_san_dns": ["client.example"]},
    ),
    reg_case(
        "rfc8705_s2_1_2_subject_member_for_jwt_client",
        jwt_meta,
        {"tls_client_auth_san_dns": CLIENT_DNS},
    ),
    reg_case(
        "rfc9449_s5_2_dpop_and_certificate_bound",
        secret_meta,
        {"dpop_bound_access_tokens": True, "tls_client_certificate_bound_access_tokens": True},
    ),
    reg_case("rfc9449_s5_2_dpop_bound_string", secret_meta, {"dpop_bound_access_tokens": "true"}),
    reg_case(
        "rfc8705_s3_certificate_bound_number",
        secret_meta,
        {"tls_client_certificate_bound_access_tokens": 1},
    ),
    reg_case("rfc7591_s2_scope_double_space", jwt_meta, {"scope": "read  write"}),
    reg_case("rfc7591_s2_scope_repeated_token", jwt_meta, {"scope": "read read"}),
    reg_case("rfc7591_s2_scope_quote", jwt_meta, {"scope": 'read "write"'}),
    reg_case("rfc7591_s2_scope_backslash", jwt_meta, {"scope": "read\\write"}),
    reg_case("rfc7591_s2_scope_empty", jwt_meta, {"scope": ""}),
    reg_case("rfc7591_s2_scope_not_a_string", jwt_meta, {"scope": ["read"]}),
    reg_case("rfc7591_s2_scope_non_ascii", jwt_meta, {"scope": "r\u00e9ad"}),
    reg_case("rfc7591_s2_signing_alg_none", jwt_meta, {"token_endpoint_auth_signing_alg": "none"}),
    reg_case(
        "rfc7591_s2_signing_alg_hs256", jwt_meta, {"token_endpoint_auth_signing_alg": "HS256"}
    ),
    reg_case(
        "rfc7591_s2_signing_alg_not_allowed_es384",
        jwt_meta,
        {"token_endpoint_auth_signing_alg": "ES384"},
    ),
    reg_case(
        "rfc7591_s2_signing_alg_for_secret_client",
        secret_meta,
        {"token_endpoint_auth_signing_alg": "ES256"},
    ),
    reg_case("rfc7591_s2_client_name_not_a_string", jwt_meta, {"client_name": 7}),
    reg_case(
        "rfc7591_s2_client_name_control_character", jwt_meta, {"client_name": "name\nX-Injected: 1"}
    ),
    reg_case("rfc7591_s2_client_name_too_long", jwt_meta, {"client_name": "n" * 513}),
]


ACCEPTED: list[Accept] = [
    # RFC 8705 §2.1.2: a CA-issued leaf identified by its subject DN alone (no SAN)
    Accept(
        "rfc8705_s2_1_2_subject_dn_certificate_without_san",
        lambda c: authn(c, {"client_id": "pki-dn"}, cert=pki().no_san),
    ),
    # parsing
    Accept(
        "rfc6749_s3_2_form_with_charset",
        lambda c: _is(
            dict(parse_form(CC.encode(), FORM + "; charset=UTF-8", max_bytes=MAX_BODY)),
            {"grant_type": "client_credentials"},
        ),
    ),
    Accept(
        "rfc6749_s3_2_form_at_size_limit",
        lambda c: parse_form(BIG[:-1], FORM, max_bytes=MAX_BODY),
    ),
    Accept(
        "rfc8707_s2_resource_may_repeat",
        lambda c: _is(
            form({"resource": [AUDIENCE, RESOURCE_B]}).all("resource"), [AUDIENCE, RESOURCE_B]
        ),
    ),
    Accept(
        "rfc6749_s3_1_empty_value_is_omitted",
        lambda c: _is(
            dict(parse_form(b"scope=&grant_type=x", FORM, max_bytes=MAX_BODY)), {"grant_type": "x"}
        ),
    ),
    Accept(
        "rfc6749_appb_form_percent_encoded_utf8",
        lambda c: _is(form({"scope": "r\u00e9ad"})["scope"], "r\u00e9ad"),
    ),
    Accept(
        "rfc7591_s3_1_json_object",
        lambda c: _is(
            parse_json_object(b'{"scope":"a"}', JSON + "; charset=utf-8", max_bytes=MAX_BODY),
            {"scope": "a"},
        ),
    ),
    Accept(
        "rfc6749_s3_2_authorization_header_once",
        lambda c: _is(single_header(["Basic YTpi"], "Authorization"), "Basic YTpi"),
    ),
    Accept(
        "rfc6749_s3_2_authorization_header_absent",
        lambda c: _is(single_header([], "Authorization"), None),
    ),
    Accept(
        "rfc6749_s3_2_streamed_body_at_limit",
        _body([], [b"x" * (MAX_BODY // 2), b"x" * (MAX_BODY // 2)]),
    ),
    Accept("rfc6749_s3_2_token_request_post_form", _form_request("POST", FORM, CC.encode())),
    Accept(
        "rfc8705_s6_5_cert_header_from_trusted_proxy",
        lambda c: _is(_cert_from([(CERT_HEADER, _pem_header(pki().leaf))]), pki().leaf),
    ),
    Accept(
        "rfc8705_s2_tls_client_cert",
        lambda c: _is(_cert_from_tls([_pem(pki().leaf)]), pki().leaf),
    ),
    Accept(
        "rfc8705_s6_1_cert_header_from_untrusted_peer_ignored",
        lambda c: _is(_cert_from([(CERT_HEADER, "not-a-certificate")], peer="10.0.0.1"), None),
    ),
    # client authentication
    Accept(
        "rfc6749_s2_3_1_basic",
        lambda c: _is(authn(c, {}, authorization=basic("basic")).used_basic, True),
    ),
    Accept(
        "rfc6749_s2_3_1_basic_with_same_form_client_id",
        lambda c: authn(c, {"client_id": "basic"}, authorization=basic("basic")),
    ),
    Accept(
        "rfc6749_s2_3_1_basic_scheme_case_insensitive",
        lambda c: authn(c, {}, authorization="bAsIc " + basic("basic")[6:]),
    ),
    Accept(
        "rfc6749_s2_3_1_post", lambda c: _is(authn(c, post("post")).method, "client_secret_post")
    ),
    jwt_ok("rfc7523_s3_assertion"),
    jwt_ok("rfc7523_s3_assertion_no_kid", hdr={"kid": DROP}),
    jwt_ok("rfc7523_s3_assertion_ps256", key=keyring().ps256),
    jwt_ok("rfc7523_s3_assertion_registered_signing_alg", "jwt-es256"),
    jwt_ok("rfc7523_s3_assertion_jwks_uri", "jwt-uri"),
    Accept(
        "rfc7523_s3_assertion_with_matching_client_id",
        lambda c: authn(c, jwt(assertion(c), client_id="jwt")),
    ),
    jwt_ok("rfc7523_s3_3_aud_token_endpoint", clm={"aud": TOKEN_URL}),
    jwt_ok("rfc7523_s3_3_aud_list_with_issuer", clm={"aud": ["https://other.example", ISSUER]}),
    jwt_ok("rfc7523_s3_4_exp_one_second_inside_skew", clm={"exp": NOW - 29, "iat": NOW - 89}),
    jwt_ok("rfc7523_s3_4_exp_300s_ahead", clm={"exp": NOW + 300}),
    jwt_ok("rfc7523_s3_5_nbf_within_skew", clm={"nbf": NOW + 30}),
    jwt_ok("rfc7523_s3_6_iat_within_skew", clm={"iat": NOW + 30}),
    jwt_ok("rfc7523_s3_6_iat_absent", clm={"iat": DROP}),
    jwt_ok("rfc7523_s3_7_jti_256_chars", clm={"jti": secrets.token_hex(128)}),
    Accept(
        "rfc8705_s2_2_registered_self_signed_certificate",
        lambda c: _is(
            authn(c, {"client_id": "self"}, cert=pki().self_cert).method,
            "self_signed_tls_client_auth",
        ),
    ),
    Accept(
        "rfc8705_s2_1_2_subject_dn",
        lambda c: _is(authn(c, {"client_id": "pki-dn"}, cert=pki().leaf).method, "tls_client_auth"),
    ),
    Accept("rfc8705_s2_1_2_san_dns", lambda c: authn(c, {"client_id": "pki-dns"}, cert=pki().leaf)),
    # token endpoint
    Accept(
        "rfc6749_s4_4_bearer_token",
        lambda c: _is(token(c, {}, authorization=basic("basic")).body()["scope"], "read write"),
    ),
    Accept(
        "rfc6749_s3_3_scope_subset",
        lambda c: _is(token(c, {"scope": "write"}, authorization=basic("basic")).scope, "write"),
    ),
    Accept(
        "rfc6749_s3_3_no_scope_client",
        lambda c: _is(token(c, {}, authorization=basic("noscope")).scope, ""),
    ),
    Accept(
        "rfc8707_s2_configured_resource",
        lambda c: token(c, {"resource": RESOURCE_B}, authorization=basic("basic")),
    ),
    Accept(
        "rfc8707_s2_two_configured_resources",
        lambda c: token(c, {"resource": [AUDIENCE, RESOURCE_B]}, authorization=basic("basic")),
    ),
    Accept("rfc7523_s3_assertion_at_token_endpoint", lambda c: token(c, jwt(assertion(c)))),
    Accept("rfc7523_s3_7_assertion_not_spent_by_refused_request", _assertion_after_refused_request),
    Accept(
        "rfc9449_s5_dpop_bound_client_with_proof",
        lambda c: _is(
            token(c, {}, authorization=basic("dpop"), dpop=[as_proof(c)]).token_type, "DPoP"
        ),
    ),
    Accept(
        "rfc9449_s5_bearer_client_may_send_proof",
        lambda c: _is(
            token(c, {}, authorization=basic("basic"), dpop=[as_proof(c)]).binding, "dpop"
        ),
    ),
    Accept(
        "rfc8705_s3_cert_bound_client_with_certificate",
        lambda c: _is(token(c, {}, authorization=basic("mtls"), cert=pki().leaf).binding, "mtls"),
    ),
    Accept(
        "rfc8705_s3_tls_client_auth_client",
        lambda c: token(c, {"client_id": "pki-dns"}, cert=pki().leaf),
    ),
    # revocation
    Accept("rfc7009_s2_1_revoke_own_token", _own_revocation),
    Accept("rfc7009_s2_2_unknown_token_ignored", _unknown_token_revocation_is_ignored),
    Accept("admin_revoke_issued_token", _admin_revokes_issued),
    Accept("admin_revoke_by_client_id", _admin(lambda c: {"client_id": "noscope"})),
    # registration
    reg_ok("rfc7591_s2_private_key_jwt", jwt_meta),
    reg_ok("rfc6749_s2_1_public_client_with_dpop", public_meta),
    reg_ok(
        "rfc8252_s7_3_loopback_redirect_uri",
        public_meta,
        {"redirect_uris": ["http://127.0.0.1:51004/cb", "http://[::1]/cb"]},
    ),
    reg_ok(
        "rfc8252_s7_1_private_use_scheme", public_meta, {"redirect_uris": ["com.example.app:/cb"]}
    ),
    reg_ok(
        "rfc6749_s4_1_confidential_client_with_code_grant",
        jwt_meta,
        {"grant_types": ["authorization_code", "refresh_token"], "redirect_uris": [APP]},
    ),
    reg_ok(
        "rfc7591_s2_private_key_jwt_signing_alg",
        jwt_meta,
        {"token_endpoint_auth_signing_alg": "ES256"},
    ),
    reg_ok("rfc7591_s2_jwks_uri_https", jwt_meta, {"jwks": DROP, "jwks_uri": JWKS_URI}),
    reg_ok(
        "rfc7591_s2_jwks_uri_http_loopback",
        jwt_meta,
        {"jwks": DROP, "jwks_uri": "http://127.0.0.1:9000/jwks"},
    ),
    reg_ok("rfc8705_s2_2_self_signed", self_meta),
    reg_ok("rfc8705_s2_1_2_register_san_dns", pki_meta),
    reg_ok(
        "rfc8705_s2_1_2_register_subject_dn",
        pki_meta,
        lambda c: {"tls_client_auth_san_dns": DROP, "tls_client_auth_subject_dn": _dn(pki().leaf)},
    ),
    reg_ok(
        "rfc8705_s2_1_2_san_ip",
        pki_meta,
        {"tls_client_auth_san_dns": DROP, "tls_client_auth_san_ip": "::1"},
    ),
    reg_ok("rfc7591_s2_client_secret_basic", secret_meta),
    reg_ok("rfc7591_s2_defaults", lambda c: {}),
    reg_ok("rfc9449_s5_2_dpop_bound", secret_meta, {"dpop_bound_access_tokens": True}),
    reg_ok(
        "rfc8705_s3_certificate_bound",
        secret_meta,
        {"tls_client_certificate_bound_access_tokens": True},
    ),
    reg_ok("rfc7591_s2_unknown_member_ignored", jwt_meta, {"software_statement_extra": {"x": 1}}),
]


@pytest.mark.parametrize("case", params(CASES))
def test_rejected(case: Case, ctx: Ctx) -> None:
    expect_rejection(case, ctx)


@pytest.mark.parametrize("case", params(ACCEPTED))
def test_accepted(case: Accept, ctx: Ctx) -> None:
    case.action(ctx)


def test_registration_never_stores_or_echoes_a_private_member(ctx: Ctx) -> None:
    """Unknown members are dropped (RFC 7591 §2), and the secret appears only in the response."""
    registration = register_client({**secret_meta(ctx), "extra": "x"}, settings(), now=NOW)
    assert "extra" not in registration.record.metadata
    secret = registration.client_secret
    assert secret is not None
    assert registration.response()["client_secret"] == secret
    assert secret not in repr(registration) + repr(registration.record)


def test_every_client_auth_failure_has_one_public_text() -> None:
    """RFC 6749 §5.2: the reasons of failed authentication are not told apart to the client."""
    texts = {
        InvalidClient(reason).description
        for reason in (
            Reason.CLIENT_UNKNOWN,
            Reason.CLIENT_AUTH_METHOD,
            Reason.CLIENT_SECRET_INVALID,
        )
    }
    assert len(texts) == 1
