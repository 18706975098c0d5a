"""Client certificates for mTLS-bound tokens (RFC 8705)."""

from proofbound.mtls.certificate import ClientCertificate, load_certificate

__all__ = ["ClientCertificate", "load_certificate"]
