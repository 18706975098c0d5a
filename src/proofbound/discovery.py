"""Where an issuer's metadata lives (RFC 8414 §3.1, OpenID Connect Discovery §4) -- the one
place the well-known URLs are built, for the AS that serves them and the clients and resource
servers that fetch them."""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

__all__ = ["OAUTH_METADATA", "OPENID_CONFIGURATION", "metadata_path", "metadata_urls"]

OAUTH_METADATA: Final = "/.well-known/oauth-authorization-server"
OPENID_CONFIGURATION: Final = "/.well-known/openid-configuration"


def metadata_path(issuer: str) -> str:
    """The path of the RFC 8414 document: the well-known segment inserted between the host and
    the issuer's path, whose trailing ``/`` is dropped (§3.1)."""
    return OAUTH_METADATA + urlsplit(issuer).path.rstrip("/")


def metadata_urls(issuer: str) -> tuple[str, str]:
    """The URLs to try, in order: RFC 8414 first, then OpenID discovery (appended to the issuer).
    Whatever answers must name exactly ``issuer`` (RFC 8414 §3.3)."""
    parts = urlsplit(issuer)
    origin = f"{parts.scheme}://{parts.netloc}"
    return origin + metadata_path(issuer), issuer.rstrip("/") + OPENID_CONFIGURATION
