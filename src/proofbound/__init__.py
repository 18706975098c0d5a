"""proofbound: sender-constrained OAuth access tokens (DPoP, RFC 9449; mTLS, RFC 8705)."""

from proofbound.__about__ import __version__

__all__ = ["__version__"]
