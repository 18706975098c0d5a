"""Client certificates: parse PEM or DER and compute ``x5t#S256`` (RFC 8705 §3.1).

The resource server needs no chain validation for certificate-bound tokens (RFC 8705 §6.2): the
binding is the SHA-256 of the exact DER the client proved possession of in the TLS handshake.
Parsing uses ``cryptography`` (RFC 8705 §7.5: no hand-written ASN.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from proofbound.errors import InvalidToken, Reason
from proofbound.jwk.thumbprint import x5t_s256
from proofbound.types import Thumbprint

__all__ = ["ClientCertificate", "load_certificate"]

_MAX_CERT_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    """A client certificate: its DER bytes and ``x5t#S256`` thumbprint."""

    der: bytes = field(repr=False)
    thumbprint: Thumbprint


def load_certificate(data: bytes | str) -> ClientCertificate:
    """Parse one X.509 certificate in PEM or DER form.

    Raises:
        InvalidToken: ``cert_malformed`` for anything that is not exactly one certificate.
    """
    raw = data.encode("ascii", "replace") if isinstance(data, str) else data
    if len(raw) > _MAX_CERT_BYTES:
        raise InvalidToken(Reason.CERT_MALFORMED, detail="certificate too large")
    try:
        if raw.lstrip().startswith(b"-----BEGIN"):
            if raw.count(b"-----BEGIN") != 1:
                raise ValueError("more than one PEM block")
            cert = x509.load_pem_x509_certificate(raw)
        else:
            cert = x509.load_der_x509_certificate(raw)
        der = cert.public_bytes(Encoding.DER)
    except ValueError:
        raise InvalidToken(Reason.CERT_MALFORMED) from None
    return ClientCertificate(der=der, thumbprint=x5t_s256(der))
