"""Client authentication at the token, introspection and revocation endpoints.

Methods (one per request, RFC 6749 §2.3; a client uses the one it registered):

* ``private_key_jwt`` -- RFC 7523 §2.2 and §3: a JWT signed by a registered key; ``iss`` and
  ``sub`` are the ``client_id``; ``aud`` names the issuer or the endpoint; ``exp`` is required and
  at most :attr:`~proofbound.server.config.ServerSettings.assertion_max_lifetime` ahead; ``jti``
  is single-use (the caller spends :attr:`AuthenticatedClient.single_use` with its write).
* ``self_signed_tls_client_auth`` -- RFC 8705 §2.2: the certificate of the connection is one
  registered in the client's ``x5c``; no chain is validated.
* ``tls_client_auth`` -- RFC 8705 §2.1: the certificate chains to a configured trust anchor and
  carries the one registered subject DN or SAN.
* ``client_secret_basic`` / ``client_secret_post`` -- legacy shared secrets, stored hashed and
  compared in constant time.
* ``none`` -- a public client (RFC 6749 §2.1) names itself with ``client_id`` only; accepted
  only where the caller allows it (token, PAR, revocation), never for introspection.

Every failure is :class:`~proofbound.errors.InvalidClient` (or ``InvalidRequest`` for a request
that is not well-formed) with one public text; the reason and detail are for the logs only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import unquote_plus

from cryptography import x509
from cryptography.x509 import verification

from proofbound.errors import InvalidClient, InvalidKey, InvalidRequest, Reason
from proofbound.jwk.algorithms import AlgSpec, alg_spec
from proofbound.jwk.keys import public_key_from_jwk
from proofbound.jwk.signatures import Verifier, prepare_verifier
from proofbound.jws import MalformedJWS, decode_segment, split_compact
from proofbound.mtls.certificate import ClientCertificate
from proofbound.server.config import ServerSettings
from proofbound.server.registration import hash_secret
from proofbound.storage.store import ClientRecord

__all__ = [
    "ASSERTION_TYPE",
    "AuthenticatedClient",
    "CLIENT_CACHE_SECONDS",
    "ClientAuthenticator",
    "JwksResolver",
    "assertion_replay_key",
    "parse_dn",
]

#: RFC 7523 §2.2.
ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

#: How long a registration (and its parsed keys) is reused before it is read again.
CLIENT_CACHE_SECONDS: Final = 30

_MAX_ASSERTION: Final = 8192
_MAX_CACHED_CLIENTS: Final = 10_000
_MAX_CANDIDATES: Final = 5
_MAX_JTI: Final = 256

#: Returns the JWKS a client registered by ``jwks_uri`` (may raise StorageUnavailable).
JwksResolver = Callable[[str], Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class AuthenticatedClient:
    """A client that proved who it is, and what the caller must record with its write."""

    client: ClientRecord
    method: str
    #: (replay key, expiry) of the assertion ``jti``; spent atomically with the issuance.
    single_use: tuple[bytes, int] | None = None
    #: whether the credentials came in the ``Authorization`` header (401 + challenge on error).
    used_basic: bool = False


def _fail(reason: Reason, detail: str = "") -> InvalidClient:
    return InvalidClient(reason, detail=detail)


def assertion_replay_key(client_id: str, jti: str) -> bytes:
    """Replay key of an assertion: a hash of length-prefixed parts, never a concatenation."""
    parts = (b"client_assertion", client_id.encode("utf-8"), jti.encode("utf-8"))
    return hashlib.sha256(b"".join(len(p).to_bytes(4, "big") + p for p in parts)).digest()


def parse_dn(text: str) -> list[tuple[str, str]] | None:
    """An RFC 4514 DN as (OID, case-folded value) pairs in order, or None if not parseable.

    Comparing these pairs is a predictable approximation of RFC 4517 ``distinguishedNameMatch``
    (RFC 8705 §2.1.2): attribute types by OID, values without case or surrounding space.
    """
    try:
        name = x509.Name.from_rfc4514_string(text)
    except ValueError:
        return None
    return _dn_pairs(name)


def _dn_pairs(name: x509.Name) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for rdn in name.rdns:
        for attr in sorted(rdn, key=lambda a: a.oid.dotted_string):
            value = attr.value if isinstance(attr.value, str) else attr.value.hex()
            pairs.append((attr.oid.dotted_string, " ".join(value.split()).casefold()))
    return pairs


def _single(form: Mapping[str, str], name: str) -> str | None:
    value = form.get(name)
    return value if value else None


def _basic_credentials(authorization: str) -> tuple[str, str]:
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise InvalidRequest(Reason.REQUEST_MALFORMED, detail="unsupported Authorization scheme")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise _fail(Reason.CLIENT_SECRET_INVALID, "Basic credentials do not decode") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon or not client_id:
        raise _fail(Reason.CLIENT_SECRET_INVALID, "Basic credentials lack a client_id")
    # RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    return unquote_plus(client_id), unquote_plus(secret)


class ClientAuthenticator:
    """Authenticates clients against the store's registrations.

    Args:
        settings: issuer, algorithms, lifetimes and trust anchors.
        find_client: looks a client up by ``client_id``.
        resolve_jwks: fetches a ``jwks_uri`` (None: clients registered by URI cannot sign in).
    """

    def __init__(
        self,
        settings: ServerSettings,
        find_client: Callable[[str], ClientRecord | None],
        resolve_jwks: JwksResolver | None = None,
    ) -> None:
        self._settings: Final = settings
        self._find: Final = find_client
        self._resolve_jwks: Final = resolve_jwks
        self._trust: Final = (
            verification.Store(list(settings.client_ca)) if settings.client_ca else None
        )
        # Registrations do not change once made: keep them, and the verifiers of their keys,
        # for a short while instead of reading and parsing them on every request.
        self._clients: dict[str, tuple[float, ClientRecord]] = {}
        self._verifiers: dict[tuple[str, str | None, str], tuple[Verifier, ...]] = {}
        self._lock = threading.Lock()

    def authenticate(
        self,
        form: Mapping[str, str],
        *,
        authorization: str | None,
        certificate: ClientCertificate | None,
        endpoint: str,
        now: int,
        allow_public: bool = False,
    ) -> AuthenticatedClient:
        """Authenticate the client of one request.

        Args:
            form: the request's form parameters (each at most once).
            authorization: the ``Authorization`` header, if any.
            certificate: the client certificate of the connection (TLS or trusted proxy).
            endpoint: the URL of the endpoint called (an allowed assertion audience).
            now: the current time.
            allow_public: whether a public client (``none``: its ``client_id`` only, RFC 6749
                §2.1) is accepted here -- at the token, PAR and revocation endpoints.

        Raises:
            InvalidClient: authentication failed (``client_*`` reasons).
            InvalidRequest: malformed credentials (an unsupported ``Authorization`` scheme).
        """
        assertion = _single(form, "client_assertion")
        assertion_type = _single(form, "client_assertion_type")
        secret_post = form.get("client_secret")
        used = [
            authorization is not None,
            secret_post is not None,
            assertion is not None or assertion_type is not None,
        ]
        if sum(used) > 1:
            raise _fail(Reason.CLIENT_AUTH_MULTIPLE)
        form_id = _single(form, "client_id")
        if authorization is not None:
            client_id, secret = _basic_credentials(authorization)
            if form_id is not None and form_id != client_id:
                raise _fail(Reason.CLIENT_AUTH_MULTIPLE, "client_id differs from Basic")
            client = self._client(client_id)
            self._require_method(client, "client_secret_basic")
            self._check_secret(client, secret)
            return AuthenticatedClient(client, "client_secret_basic", used_basic=True)
        if secret_post is not None:
            if form_id is None:
                raise _fail(Reason.CLIENT_AUTH_MISSING, "client_secret without client_id")
            client = self._client(form_id)
            self._require_method(client, "client_secret_post")
            self._check_secret(client, secret_post)
            return AuthenticatedClient(client, "client_secret_post")
        if assertion is not None or assertion_type is not None:
            return self._assertion(assertion, assertion_type, form_id, endpoint, now)
        if form_id is None:
            raise _fail(Reason.CLIENT_AUTH_MISSING)
        client = self._client(form_id)
        if client.auth_method == "self_signed_tls_client_auth":
            self._self_signed(client, certificate)
        elif client.auth_method == "tls_client_auth":
            self._pki(client, certificate, now)
        elif client.auth_method == "none" and allow_public:
            pass  # a public client: identified, not authenticated (bound tokens only)
        else:
            raise _fail(Reason.CLIENT_AUTH_MISSING, "no credentials for the registered method")
        return AuthenticatedClient(client, client.auth_method)

    # -- shared ---------------------------------------------------------------------------------

    def _client(self, client_id: str) -> ClientRecord:
        # Never a lookup for what no registration has (PostgreSQL also refuses NUL in text).
        if not 1 <= len(client_id) <= 128 or not client_id.isprintable():
            raise _fail(Reason.CLIENT_UNKNOWN)
        now = time.monotonic()
        cached = self._clients.get(client_id)
        if cached is not None and now - cached[0] < CLIENT_CACHE_SECONDS:
            return cached[1]
        client = self._find(client_id)
        if client is None:
            raise _fail(Reason.CLIENT_UNKNOWN)
        with self._lock:
            if len(self._clients) >= _MAX_CACHED_CLIENTS:
                self._clients.clear()
                self._verifiers.clear()
            self._clients[client.client_id] = (now, client)
        return client

    @staticmethod
    def _require_method(client: ClientRecord, method: str) -> None:
        if client.auth_method != method:
            raise _fail(
                Reason.CLIENT_AUTH_METHOD, f"registered {client.auth_method}, used {method}"
            )

    @staticmethod
    def _check_secret(client: ClientRecord, secret: str) -> None:
        expected = client.secret_hash or b""
        if not hmac.compare_digest(hash_secret(secret), expected) or not expected:
            raise _fail(Reason.CLIENT_SECRET_INVALID)

    def _keys(self, client: ClientRecord) -> list[Mapping[str, Any]]:
        jwks = client.metadata.get("jwks")
        uri = client.metadata.get("jwks_uri")
        if jwks is None and isinstance(uri, str) and self._resolve_jwks is not None:
            jwks = self._resolve_jwks(uri)
        keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
        if not isinstance(keys, list):
            return []
        return [k for k in keys if isinstance(k, Mapping)]

    # -- private_key_jwt (RFC 7523) -------------------------------------------------------------

    def _assertion(
        self,
        assertion: str | None,
        assertion_type: str | None,
        form_id: str | None,
        endpoint: str,
        now: int,
    ) -> AuthenticatedClient:
        # RFC 7523 §2.2: the type is fixed and the assertion is exactly one JWT.
        if assertion_type != ASSERTION_TYPE or assertion is None:
            raise _fail(Reason.CLIENT_ASSERTION_MALFORMED, "assertion type or value missing")
        try:
            parts = split_compact(assertion, max_bytes=_MAX_ASSERTION)
            header = decode_segment(parts.header_b64)
            claims = decode_segment(parts.payload_b64)
        except MalformedJWS:
            raise _fail(Reason.CLIENT_ASSERTION_MALFORMED, "not one compact JWS") from None
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise _fail(Reason.CLIENT_ASSERTION_CLAIMS, "sub missing")
        if form_id is not None and form_id != sub:
            raise _fail(Reason.CLIENT_ASSERTION_CLAIMS, "client_id differs from sub")
        client = self._client(sub)
        self._require_method(client, "private_key_jwt")
        self._assertion_signature(client, header, parts.signing_input, parts.signature)
        jti = self._assertion_claims(client.client_id, claims, endpoint, now)
        exp = int(claims["exp"])
        key = (assertion_replay_key(client.client_id, jti), exp + self._settings.clock_skew)
        return AuthenticatedClient(client, "private_key_jwt", single_use=key)

    def _assertion_signature(
        self, client: ClientRecord, header: Mapping[str, Any], data: bytes, signature: bytes
    ) -> None:
        alg = header.get("alg")
        registered = client.metadata.get("token_endpoint_auth_signing_alg")
        allowed = (registered,) if registered else self._settings.assertion_algorithms
        spec = alg_spec(alg)
        if spec is None or spec.name not in allowed:
            raise _fail(Reason.CLIENT_ASSERTION_ALG)
        if "crit" in header:
            raise _fail(Reason.CLIENT_ASSERTION_MALFORMED, "crit is not understood")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise _fail(Reason.CLIENT_ASSERTION_MALFORMED, "kid is not a string")
        uses_uri = "jwks" not in client.metadata
        cache_key = (client.client_id, kid, spec.name)
        checks = None if uses_uri else self._verifiers.get(cache_key)
        if checks is None:
            checks = self._candidate_verifiers(client, kid, spec)
            if not uses_uri:  # a fetched document may change; the fetcher caches it
                with self._lock:
                    self._verifiers[cache_key] = checks
        if not checks:
            raise _fail(Reason.CLIENT_ASSERTION_KEY)
        for check in checks:
            if check(data, signature):
                return
        raise _fail(Reason.CLIENT_ASSERTION_SIGNATURE)

    def _candidate_verifiers(
        self, client: ClientRecord, kid: str | None, spec: AlgSpec
    ) -> tuple[Verifier, ...]:
        """Signature checks for the registered keys that may have made the assertion."""
        checks: list[Verifier] = []
        for jwk in self._keys(client):
            if (
                jwk.get("kty") != spec.kty
                or (kid is not None and jwk.get("kid") != kid)
                or jwk.get("alg", spec.name) != spec.name
                or jwk.get("use", "sig") != "sig"
            ):
                continue
            try:
                key = public_key_from_jwk({k: v for k, v in jwk.items() if k != "x5c"}, spec)
                checks.append(prepare_verifier(spec, key))
            except (InvalidKey, TypeError):
                continue
            if len(checks) == _MAX_CANDIDATES:
                break
        return tuple(checks)

    def _assertion_claims(
        self, client_id: str, claims: Mapping[str, Any], endpoint: str, now: int
    ) -> str:
        skew = self._settings.clock_skew
        # RFC 7523 §3 (1), (2): iss and sub are the client.
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            raise _fail(Reason.CLIENT_ASSERTION_CLAIMS, "iss/sub is not the client_id")
        # (3): aud identifies this AS: its issuer or the endpoint URL, by simple comparison.
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        accepted = {self._settings.issuer, endpoint, self._settings.endpoint("/token")}
        if not any(isinstance(a, str) and a in accepted for a in audiences):
            raise _fail(Reason.CLIENT_ASSERTION_CLAIMS, "aud does not name this server")
        # (4): exp required and in the future; a far-future exp is refused (short-lived only).
        exp = claims.get("exp")
        if not isinstance(exp, int) or isinstance(exp, bool):
            raise _fail(Reason.CLIENT_ASSERTION_EXPIRED, "exp missing or not an integer")
        if exp + skew <= now:
            raise _fail(Reason.CLIENT_ASSERTION_EXPIRED, "expired")
        if exp - now > self._settings.assertion_max_lifetime:
            raise _fail(Reason.CLIENT_ASSERTION_EXPIRED, "exp too far in the future")
        # (5), (6): nbf honoured; an iat in the future is refused.
        for name in ("nbf", "iat"):
            value = claims.get(name)
            if value is None:
                continue
            if not isinstance(value, int | float) or isinstance(value, bool) or value > now + skew:
                raise _fail(Reason.CLIENT_ASSERTION_CLAIMS, f"{name} in the future")
        # (7): jti identifies the assertion; it is single-use.
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 1 <= len(jti) <= _MAX_JTI:
            raise _fail(Reason.CLIENT_ASSERTION_CLAIMS, "jti missing")
        return jti

    # -- mTLS (RFC 8705 §2) ---------------------------------------------------------------------

    def _self_signed(self, client: ClientRecord, certificate: ClientCertificate | None) -> None:
        if certificate is None:
            raise _fail(Reason.CLIENT_CERT_MISSING)
        for jwk in self._keys(client):
            x5c = jwk.get("x5c")
            if not isinstance(x5c, list) or not x5c or not isinstance(x5c[0], str):
                continue
            try:
                registered = base64.b64decode(x5c[0], validate=True)
            except (binascii.Error, ValueError):
                continue
            if hmac.compare_digest(registered, certificate.der):
                return
        raise _fail(Reason.CLIENT_CERT_MISMATCH)

    def _pki(self, client: ClientRecord, certificate: ClientCertificate | None, now: int) -> None:
        if certificate is None:
            raise _fail(Reason.CLIENT_CERT_MISSING)
        if self._trust is None:
            raise _fail(Reason.CLIENT_CERT_UNTRUSTED, "no trust anchors configured")
        try:
            leaf = x509.load_der_x509_certificate(certificate.der)
        except ValueError:
            raise _fail(Reason.CLIENT_CERT_MALFORMED) from None
        # Web PKI defaults, except that a leaf without a SAN is accepted: RFC 8705 §2.1.2 lets
        # a client be identified by its subject DN alone.
        ee_policy = verification.ExtensionPolicy.webpki_defaults_ee().may_be_present(
            x509.SubjectAlternativeName, verification.Criticality.AGNOSTIC, None
        )
        verifier = (
            verification.PolicyBuilder()
            .store(self._trust)
            .time(datetime.fromtimestamp(now, UTC))
            .extension_policies(
                ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee_policy
            )
            .build_client_verifier()
        )
        try:
            verifier.verify(leaf, [])
        except verification.VerificationError:
            raise _fail(Reason.CLIENT_CERT_UNTRUSTED) from None
        if not _subject_matches(client.metadata, leaf):
            raise _fail(Reason.CLIENT_CERT_SUBJECT)


def _sans(cert: x509.Certificate, kind: type[x509.GeneralName]) -> list[Any]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return list(ext.value.get_values_for_type(kind))  # type: ignore[arg-type]


def _subject_matches(metadata: Mapping[str, Any], cert: x509.Certificate) -> bool:
    """RFC 8705 §2.1.2: the one registered subject member against the certificate."""
    dn = metadata.get("tls_client_auth_subject_dn")
    if isinstance(dn, str):
        return parse_dn(dn) == _dn_pairs(cert.subject)
    dns = metadata.get("tls_client_auth_san_dns")
    if isinstance(dns, str):
        return any(v.lower() == dns.lower() for v in _sans(cert, x509.DNSName))
    uri = metadata.get("tls_client_auth_san_uri")
    if isinstance(uri, str):
        return uri in _sans(cert, x509.UniformResourceIdentifier)
    ip = metadata.get("tls_client_auth_san_ip")
    if isinstance(ip, str):
        wanted = ipaddress.ip_address(ip)  # binary comparison, not text
        return any(v == wanted for v in _sans(cert, x509.IPAddress))
    email = metadata.get("tls_client_auth_san_email")
    if isinstance(email, str):
        return email in _sans(cert, x509.RFC822Name)
    return False
