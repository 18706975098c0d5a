"""Authorization server metadata (RFC 8414) and where it is served.

The document lists every endpoint, the client authentication methods and their algorithms
(§2: never ``none``), ``dpop_signing_alg_values_supported`` = exactly the proof verifier's allow
list (RFC 9449 §5.1), and ``tls_client_certificate_bound_access_tokens`` (RFC 8705 §3.3).
Zero-element arrays are omitted (§2). The URL inserts the well-known segment between the host
and the issuer's path (§3.1).
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlsplit

from proofbound.discovery import OAUTH_METADATA
from proofbound.server.config import ServerSettings
from proofbound.server.registration import AUTH_METHODS, GRANT_TYPES

__all__ = [
    "PATHS",
    "WELL_KNOWN",
    "authorization_server_metadata",
    "issuer_path",
]

WELL_KNOWN: Final = OAUTH_METADATA

#: Endpoint paths below the issuer.
PATHS: Final = {
    "token": "/token",
    "authorization": "/authorize",
    "par": "/par",
    "jwks": "/jwks",
    "introspection": "/introspect",
    "revocation": "/revoke",
    "registration": "/register",
    "revocation_feed": "/revocations",
    "admin_revoke": "/admin/revoke",
    "health": "/healthz",
    "metrics": "/metrics",
}


def issuer_path(issuer: str) -> str:
    """The issuer's own path prefix (endpoints live below it); ``""`` for a bare origin."""
    return urlsplit(issuer).path.rstrip("/")


def authorization_server_metadata(settings: ServerSettings) -> dict[str, Any]:
    """The RFC 8414 document of this server."""
    methods = [m for m in AUTH_METHODS if m != "tls_client_auth" or settings.client_ca]
    doc: dict[str, Any] = {
        "issuer": settings.issuer,
        "token_endpoint": settings.endpoint(PATHS["token"]),
        "jwks_uri": settings.endpoint(PATHS["jwks"]),
        "introspection_endpoint": settings.endpoint(PATHS["introspection"]),
        "revocation_endpoint": settings.endpoint(PATHS["revocation"]),
        "revocation_feed_endpoint": settings.endpoint(PATHS["revocation_feed"]),
        "authorization_endpoint": settings.endpoint(PATHS["authorization"]),
        "pushed_authorization_request_endpoint": settings.endpoint(PATHS["par"]),
        "require_pushed_authorization_requests": False,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANT_TYPES),
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,  # RFC 9207 §3
        "token_endpoint_auth_methods_supported": methods,
        "token_endpoint_auth_signing_alg_values_supported": list(settings.assertion_algorithms),
        "introspection_endpoint_auth_methods_supported": [m for m in methods if m != "none"],
        "introspection_endpoint_auth_signing_alg_values_supported": list(
            settings.assertion_algorithms
        ),
        "revocation_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_signing_alg_values_supported": list(
            settings.assertion_algorithms
        ),
        "dpop_signing_alg_values_supported": list(settings.proof_policy.algorithms),
        "tls_client_certificate_bound_access_tokens": True,
    }
    if settings.registration_token is not None:
        doc["registration_endpoint"] = settings.endpoint(PATHS["registration"])
    if settings.resources:
        doc["protected_resources"] = list(settings.resources)
    return doc
