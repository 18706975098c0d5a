"""The neutral request a resource server decides on, and how adapters build it.

:class:`RequestContext` holds the method, the public URL of the request (what the client
addressed, for ``htu``), every value of every header (lower-case names; repeated fields stay
separate so a second ``DPoP`` or ``Authorization`` field is seen), and the client certificate.

:func:`public_url` builds that URL from a configured public base URL -- never from ``Host`` or
``X-Forwarded-*`` of an arbitrary client -- or, for requests from a configured trusted proxy,
from its ``Forwarded`` (RFC 7239) or ``X-Forwarded-Proto``/``-Host``/``-Prefix`` headers.
:func:`client_certificate` takes the certificate from the ASGI TLS extension, or from the one
configured header of a trusted proxy (``proofbound.mtls.forwarded``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from proofbound.errors import ConfigurationError, InvalidToken, Reason
from proofbound.mtls.certificate import ClientCertificate, load_certificate
from proofbound.mtls.forwarded import (
    CertHeaderFormat,
    IPNetwork,
    MalformedCertificateHeader,
    certificate_from_header,
    is_trusted_peer,
)

__all__ = [
    "ProxySettings",
    "RequestContext",
    "client_certificate",
    "headers_from_pairs",
    "public_url",
]

_NO_VALUES: Final[tuple[str, ...]] = ()
_HEADER_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")


def headers_from_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, tuple[str, ...]]:
    """Group header (name, value) pairs by lower-case name, keeping every value in order."""
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name.lower(), []).append(value)
    return {name: tuple(values) for name, values in grouped.items()}


@dataclass(frozen=True, slots=True)
class RequestContext:
    """One request as the guard sees it.

    Attributes:
        method: the request method as received (case-sensitive).
        url: the public URL the client addressed (scheme, host, path; the query is ignored for
            ``htu``).
        headers: lower-case name -> every value of that field, in order.
        client_cert: the client certificate of the connection, if any (already filtered for
            trust by :func:`client_certificate`).
        peer: the connection's peer address, for logs.
    """

    method: str
    url: str
    headers: Mapping[str, Sequence[str]] = field(repr=False)  # holds tokens and proofs
    client_cert: ClientCertificate | None = field(default=None, repr=False)
    peer: str | None = None

    def header(self, name: str) -> Sequence[str]:
        """Every value of header ``name`` (lower-case), possibly none."""
        return self.headers.get(name, _NO_VALUES)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxySettings:
    """What the resource trusts about the hop in front of it.

    Attributes:
        public_base_url: the resource's public origin and path prefix (``https://api.example``
            or ``https://gw.example/orders``); when set, it alone decides the public URL.
        trusted_proxies: peers whose ``Forwarded``/``X-Forwarded-*`` and certificate header
            are believed.
        client_cert_header: the one certificate header read from a trusted proxy.
        client_cert_format: its encoding.
    """

    public_base_url: str | None = None
    trusted_proxies: tuple[IPNetwork, ...] = ()
    client_cert_header: str = "x-ssl-client-cert"
    client_cert_format: CertHeaderFormat = "nginx"

    def __post_init__(self) -> None:
        # Header names are compared lower-cased (headers_from_pairs): so is the configured one.
        header = self.client_cert_header.lower()
        if not header or set(header) - _HEADER_CHARS:
            raise ConfigurationError("client_cert_header is not a header name")
        object.__setattr__(self, "client_cert_header", header)
        if self.client_cert_format not in ("nginx", "rfc9440", "xfcc"):
            raise ConfigurationError("client_cert_format must be nginx, rfc9440 or xfcc")


def _forwarded(headers: Mapping[str, Sequence[str]]) -> tuple[str | None, str | None, str]:
    """(proto, host, prefix) from the first ``Forwarded`` element or the X-Forwarded trio."""
    values = headers.get("forwarded", ())
    if values:
        first = values[0].split(",", 1)[0]
        proto = host = None
        for pair in first.split(";"):
            name, _, value = pair.strip().partition("=")
            value = value.strip().strip('"')
            if name.lower() == "proto":
                proto = value.lower()
            elif name.lower() == "host":
                host = value
        return proto, host, ""
    proto_values = headers.get("x-forwarded-proto", ())
    host_values = headers.get("x-forwarded-host", ())
    prefix_values = headers.get("x-forwarded-prefix", ())
    proto = proto_values[0].split(",", 1)[0].strip().lower() if proto_values else None
    host = host_values[0].split(",", 1)[0].strip() if host_values else None
    prefix = prefix_values[0].split(",", 1)[0].strip().rstrip("/") if prefix_values else ""
    return proto, host, prefix


def public_url(
    settings: ProxySettings,
    *,
    scheme: str,
    host: str | None,
    path: str,
    peer: str | None,
    headers: Mapping[str, Sequence[str]],
) -> str:
    """The public URL of a request (RFC 9449 §4.3 step 9 compares ``htu`` with it).

    Args:
        settings: the resource's proxy settings.
        scheme: the scheme of the connection to this server.
        host: the ``Host`` of the request (used only without a public base URL).
        path: the path as received (percent-encoded, no query).
        peer: the connection's peer address.
        headers: the request headers (``Forwarded`` is read only from trusted proxies).
    """
    if settings.public_base_url is not None:
        return settings.public_base_url.rstrip("/") + path
    if is_trusted_peer(peer, settings.trusted_proxies):
        proto, fwd_host, prefix = _forwarded(headers)
        if proto in ("http", "https") and fwd_host:
            return f"{proto}://{fwd_host}{prefix}{path}"
    return f"{scheme}://{host or 'localhost'}{path}"


def client_certificate(
    settings: ProxySettings,
    *,
    tls_extension: Mapping[str, Any] | None,
    peer: str | None,
    headers: Mapping[str, Sequence[str]],
) -> ClientCertificate | None:
    """The client certificate: from the ASGI TLS extension, else from the trusted proxy's one
    header; every other certificate header is ignored.

    Raises:
        InvalidToken: ``cert_malformed`` -- the certificate cannot be parsed.
    """
    chain = (tls_extension or {}).get("client_cert_chain") or []
    if chain:
        return load_certificate(chain[0])
    values = headers.get(settings.client_cert_header, ())
    # No header, no certificate -- and no need to parse the peer address (the common case).
    if not values or not is_trusted_peer(peer, settings.trusted_proxies):
        return None
    try:
        return certificate_from_header(values, settings.client_cert_format)
    except MalformedCertificateHeader:
        raise InvalidToken(Reason.CERT_MALFORMED) from None
