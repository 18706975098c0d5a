"""Settings of the authorization server: one frozen, validated object built at start-up.

Every value has a secure default (``--dpop-nonce`` on, five-minute tokens, no trusted proxy, no
registration or admin API unless a token for it is configured). Invalid combinations raise
:class:`~proofbound.errors.ConfigurationError` here, never on the first request.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

from cryptography import x509

from proofbound.dpop.verify import ProofPolicy
from proofbound.errors import ConfigurationError
from proofbound.jwk.algorithms import alg_spec, validate_allow_list
from proofbound.mtls.forwarded import CertHeaderFormat, IPNetwork
from proofbound.types import JwsAlg

__all__ = [
    "Secret",
    "ServerSettings",
    "parse_networks",
    "validate_issuer",
]


_LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
_MIN_ADMIN_TOKEN: Final = 16
_HEADER_NAME: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")


class Secret:
    """A secret string (an initial access or admin token): redacted in every text form and
    compared in constant time."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def matches(self, presented: str) -> bool:
        """Constant-time comparison with a presented value."""
        return hmac.compare_digest(self._value.encode("utf-8"), presented.encode("utf-8"))

    def reveal(self) -> str:
        """The secret itself (for the CLI that sends it)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret(<redacted>)"

    __str__ = __repr__


def validate_issuer(issuer: str) -> str:
    """RFC 8414 §2: an ``https`` URL with no query or fragment (``http`` only on loopback, for
    local use). The issuer is used verbatim afterwards, never normalised.

    Raises:
        ConfigurationError: anything else.
    """
    try:
        parts = urlsplit(issuer)
        host = parts.hostname
    except ValueError:
        raise ConfigurationError("the issuer is not a URL") from None
    if parts.scheme not in ("https", "http") or not host:
        raise ConfigurationError("the issuer must be an https URL")
    if parts.scheme == "http" and (host or "").lower() not in _LOOPBACK_HOSTS:
        raise ConfigurationError("the issuer must use https unless it is a loopback address")
    if parts.query or parts.fragment or "?" in issuer or "#" in issuer:
        raise ConfigurationError("the issuer must not have a query or fragment (RFC 8414 §2)")
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError("the issuer must not carry user information")
    if not issuer.isascii() or any(ch.isspace() for ch in issuer):
        raise ConfigurationError("the issuer must be printable ASCII without spaces")
    return issuer


def _validate_resource(resource: str) -> str:
    # RFC 8707 §2: an absolute URI without a fragment.
    try:
        parts = urlsplit(resource)
    except ValueError:
        raise ConfigurationError("a resource must be an absolute URI") from None
    if not parts.scheme or not parts.netloc or parts.fragment or "#" in resource:
        raise ConfigurationError("a resource must be an absolute URI without a fragment")
    if not resource.isascii() or any(ch.isspace() for ch in resource):
        raise ConfigurationError("a resource must be printable ASCII without spaces")
    return resource


def parse_networks(values: Sequence[str]) -> tuple[IPNetwork, ...]:
    """Parse trusted-proxy CIDRs (a bare address is a /32 or /128).

    Raises:
        ConfigurationError: a value that is not an address or network.
    """
    networks: list[IPNetwork] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=True))
        except ValueError:
            raise ConfigurationError(f"not a CIDR network: {value[:64]!r}") from None
    return tuple(networks)


def _validate_origin(origin: str) -> str:
    """A browser origin: ``http(s)://host[:port]`` with nothing after it (RFC 6454)."""
    try:
        parts = urlsplit(origin)
        parts.port  # noqa: B018 -- raises for a bad port
    except ValueError:
        raise ConfigurationError(f"not an origin: {origin[:64]!r}") from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
        or origin != f"{parts.scheme}://{parts.netloc}"
    ):
        raise ConfigurationError(f"not an origin (scheme://host[:port]): {origin[:64]!r}")
    return origin


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSettings:
    """Everything the authorization server is configured with.

    Attributes:
        issuer: the issuer identifier, used verbatim (RFC 8414 §2).
        resources: RFC 8707 resource indicators allowed as audiences; the first is the default
            audience. Without any, the audience is the issuer and no ``resource`` is accepted.
        access_token_ttl: lifetime of access tokens, seconds (short by design; 30..3600).
        dpop_nonce: require AS-issued nonces in DPoP proofs at the token endpoint (RFC 9449 §8).
        registration_token: initial access token that guards RFC 7591 registration; None
            disables registration.
        admin_token: bearer token of the admin API; None disables it.
        trusted_proxies: peers whose client-certificate header is believed (RFC 8705 §6.5).
        client_cert_header: the one header read from a trusted proxy.
        client_cert_format: how that header encodes the certificate.
        client_ca: trust anchors for ``tls_client_auth`` (RFC 8705 §2.1).
        signing_alg: algorithm of the access-token signing key.
        proof_policy: what DPoP proofs at the token endpoint must satisfy.
        assertion_algorithms: algorithms accepted for ``private_key_jwt`` assertions.
        assertion_max_lifetime: the longest ``exp`` ahead of now an assertion may carry.
        clock_skew: seconds of leeway for assertion ``exp``/``nbf``/``iat``.
        redis_url: where revocations are also published, if set.
        max_body_bytes: the largest request body read.
        cors_origins: browser origins (``scheme://host[:port]``) allowed to call the metadata,
            JWKS, PAR and token endpoints (single-page apps); none by default.
        refresh_token_ttl: lifetime of a refresh-token family, seconds (rotation keeps the
            family's end; 300..30 days).
        code_ttl: lifetime of authorization codes and pushed requests, seconds (10..600).
        session_ttl: lifetime of a login session at the AS, seconds (60..1 day).
    """

    issuer: str = "http://127.0.0.1:8000"
    resources: tuple[str, ...] = ()
    access_token_ttl: int = 300
    dpop_nonce: bool = True
    registration_token: Secret | None = field(default=None, repr=False)
    admin_token: Secret | None = field(default=None, repr=False)
    trusted_proxies: tuple[IPNetwork, ...] = ()
    client_cert_header: str = "x-ssl-client-cert"
    client_cert_format: CertHeaderFormat = "nginx"
    client_ca: tuple[x509.Certificate, ...] = field(default=(), repr=False)
    signing_alg: JwsAlg = "ES256"
    proof_policy: ProofPolicy = field(default_factory=ProofPolicy)
    assertion_algorithms: tuple[JwsAlg, ...] = ("ES256", "EdDSA", "PS256", "RS256")
    assertion_max_lifetime: int = 300
    clock_skew: int = 30
    redis_url: str | None = field(default=None, repr=False)
    max_body_bytes: int = 64 * 1024
    cors_origins: tuple[str, ...] = ()
    refresh_token_ttl: int = 8 * 3600
    code_ttl: int = 60
    session_ttl: int = 3600

    def __post_init__(self) -> None:
        validate_issuer(self.issuer)
        resources = tuple(_validate_resource(r) for r in self.resources)
        if len(set(resources)) != len(resources):
            raise ConfigurationError("a resource is listed twice")
        object.__setattr__(self, "resources", resources)
        if not 30 <= self.access_token_ttl <= 3600:
            raise ConfigurationError("access_token_ttl must be within 30..3600 seconds")
        for name, secret in (
            ("registration", self.registration_token),
            ("admin", self.admin_token),
        ):
            if secret is not None and len(secret.reveal()) < _MIN_ADMIN_TOKEN:
                raise ConfigurationError(
                    f"the {name} token must have at least {_MIN_ADMIN_TOKEN} characters"
                )
        header = self.client_cert_header.lower()
        if not header or set(header) - _HEADER_NAME:
            raise ConfigurationError("client_cert_header is not a header name")
        object.__setattr__(self, "client_cert_header", header)
        if self.client_cert_format not in ("nginx", "rfc9440", "xfcc"):
            raise ConfigurationError("client_cert_format must be nginx, rfc9440 or xfcc")
        if alg_spec(self.signing_alg) is None:
            raise ConfigurationError("signing_alg must be a supported asymmetric JWS algorithm")
        object.__setattr__(
            self, "assertion_algorithms", validate_allow_list(self.assertion_algorithms)
        )
        if not 30 <= self.assertion_max_lifetime <= 3600:
            raise ConfigurationError("assertion_max_lifetime must be within 30..3600 seconds")
        if not 0 <= self.clock_skew <= 300:
            raise ConfigurationError("clock_skew must be within 0..300 seconds")
        if self.redis_url is not None:
            scheme = urlsplit(self.redis_url).scheme
            if scheme not in ("redis", "rediss", "unix"):
                raise ConfigurationError("redis_url must start with redis://, rediss:// or unix://")
            try:
                import redis  # noqa: F401 -- an optional extra: fail at start, not on a revocation
            except ImportError:
                raise ConfigurationError(
                    "redis_url needs the redis extra: pip install 'proofbound[redis]'"
                ) from None
        if not 1024 <= self.max_body_bytes <= 1024 * 1024:
            raise ConfigurationError("max_body_bytes must be within 1 KiB..1 MiB")
        object.__setattr__(
            self, "cors_origins", tuple(_validate_origin(o) for o in self.cors_origins)
        )
        if not 300 <= self.refresh_token_ttl <= 30 * 86400:
            raise ConfigurationError("refresh_token_ttl must be within 300 s..30 days")
        if not 10 <= self.code_ttl <= 600:
            raise ConfigurationError("code_ttl must be within 10..600 seconds")
        if not 60 <= self.session_ttl <= 86400:
            raise ConfigurationError("session_ttl must be within 60 s..1 day")

    @property
    def default_audience(self) -> str:
        """The audience of a token requested without ``resource``."""
        return self.resources[0] if self.resources else self.issuer

    def endpoint(self, path: str) -> str:
        """The public URL of one of this server's endpoints (issuer + path)."""
        return self.issuer.rstrip("/") + path
