"""The client certificate of a request: from the TLS connection, or from one header set by a
trusted TLS-terminating proxy (RFC 8705 §6.5, RFC 9440).

A certificate header is believed only when the connection's peer address is in the configured
trusted networks, and only the one configured header is read: every other certificate header
(``Client-Cert``, ``X-Forwarded-Client-Cert``, ``X-SSL-Client-Cert`` …) is ignored, so a client
talking to the server directly cannot claim a certificate it does not hold (RFC 8705 §6.1).

Header formats:

``nginx``    the URL-encoded PEM of nginx's ``$ssl_client_escaped_cert`` (``%20`` for a space;
             ``+`` is a literal plus, since this is not form encoding).
``rfc9440``  ``Client-Cert: :<base64 DER>:``, an RFC 8941 byte sequence (RFC 9440 §2.2).
``xfcc``     Envoy's ``x-forwarded-client-cert``: the ``Cert="<URL-encoded PEM>"`` member of the
             last element, the one the trusted proxy appended.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Sequence
from typing import Final, Literal
from urllib.parse import unquote

from proofbound.errors import InvalidToken
from proofbound.mtls.certificate import ClientCertificate, load_certificate

__all__ = [
    "CertHeaderFormat",
    "IPNetwork",
    "MalformedCertificateHeader",
    "certificate_from_header",
    "is_trusted_peer",
]

CertHeaderFormat = Literal["nginx", "rfc9440", "xfcc"]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_MAX_HEADER: Final = 24 * 1024


class MalformedCertificateHeader(ValueError):
    """The trusted proxy's header is present but does not hold exactly one certificate."""


def is_trusted_peer(peer: str | None, networks: Sequence[IPNetwork]) -> bool:
    """Whether the connection's peer address lies in one of ``networks``."""
    if peer is None or not networks:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return any(address.version == net.version and address in net for net in networks)


def _decode_nginx(value: str) -> bytes:
    return unquote(value, errors="strict").encode("ascii")


def _decode_rfc9440(value: str) -> bytes:
    value = value.strip()
    if len(value) < 3 or value[0] != ":" or value[-1] != ":":
        raise MalformedCertificateHeader("not a structured-field byte sequence")
    try:
        return base64.b64decode(value[1:-1], validate=True)
    except (binascii.Error, ValueError):
        raise MalformedCertificateHeader("not base64") from None


def _decode_xfcc(value: str) -> bytes:
    # Elements are comma-separated outside quotes; the last one is our proxy's.
    element = _split_unquoted(value, ",")[-1]
    for pair in _split_unquoted(element, ";"):
        name, _, raw = pair.partition("=")
        if name.strip().lower() == "cert":
            raw = raw.strip()
            if len(raw) >= 2 and raw[0] == raw[-1] == '"':
                raw = raw[1:-1]
            return unquote(raw, errors="strict").encode("ascii")
    raise MalformedCertificateHeader("no Cert member")


def _split_unquoted(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def certificate_from_header(
    values: Sequence[str], fmt: CertHeaderFormat
) -> ClientCertificate | None:
    """Decode the trusted proxy's certificate header (every value it arrived with).

    Returns None when the header is absent or empty (no client certificate on that
    connection).

    Raises:
        MalformedCertificateHeader: the header is repeated, too large, or does not decode to
            exactly one X.509 certificate.
    """
    present = [v for v in values if v.strip()]
    if not present:
        return None
    if len(present) > 1:
        raise MalformedCertificateHeader("the certificate header is repeated")
    value = present[0]
    if len(value) > _MAX_HEADER or not value.isascii():
        raise MalformedCertificateHeader("the certificate header is too large or not ASCII")
    try:
        if fmt == "nginx":
            raw = _decode_nginx(value)
        elif fmt == "rfc9440":
            raw = _decode_rfc9440(value)
        else:
            raw = _decode_xfcc(value)
    except UnicodeError:
        raise MalformedCertificateHeader("not ASCII after decoding") from None
    try:
        return load_certificate(raw)
    except InvalidToken:
        raise MalformedCertificateHeader("not one X.509 certificate") from None
