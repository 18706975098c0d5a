"""The authorization request (RFC 6749 §4.1.1) as data, its checks, PKCE (RFC 7636) and the
authorization response (RFC 9207 ``iss``). Pure functions; the web layer and storage call them.

Checks, in this order (the first failure decides):

1. ``client_check``   -- the client exists and registered ``authorization_code``; the
   ``redirect_uri`` is one of its registered URIs, compared exactly (RFC 6749 §3.1.2.3;
   omitted only when exactly one is registered). Failures here are NOT redirected to the
   client (§4.1.2.1): the user sees an error page.
2. ``request_check``  -- ``response_type=code``; PKCE ``code_challenge`` with
   ``code_challenge_method=S256`` (plain is refused); ``scope`` within the registration;
   RFC 8707 ``resource`` among the configured ones; ``state`` and ``dpop_jkt`` well-formed.
   Failures are redirected with ``error``, ``state`` and ``iss``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode, urlsplit, urlunsplit

from proofbound.errors import (
    InvalidDPoPProof,
    InvalidRequest,
    OAuthError,
    Reason,
    UnauthorizedClient,
    UnsupportedResponseType,
)
from proofbound.server.token_endpoint import narrowed_scope
from proofbound.storage.store import ClientRecord

__all__ = [
    "AuthorizationRequest",
    "REQUEST_URI_PREFIX",
    "authorization_response",
    "client_check",
    "error_params",
    "handle_hash",
    "new_handle",
    "pkce_matches",
    "request_check",
]

#: RFC 9126 §2.2: the ``request_uri`` value is this URN prefix and a random handle.
REQUEST_URI_PREFIX: Final = "urn:ietf:params:oauth:request_uri:"
_CHALLENGE: Final = re.compile(r"[A-Za-z0-9_-]{43}")  # b64url(SHA-256): RFC 7636 §4.2
_VERIFIER: Final = re.compile(r"[A-Za-z0-9._~-]{43,128}")  # RFC 7636 §4.1
_JKT: Final = re.compile(r"[A-Za-z0-9_-]{43}")  # b64url(SHA-256) thumbprint, RFC 7638
_MAX_STATE: Final = 512
_LOOPBACK_IPS: Final = frozenset({"127.0.0.1", "::1"})


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A checked authorization request (what the code will be bound to)."""

    client_id: str
    redirect_uri: str
    scope: str
    state: str | None
    code_challenge: str
    dpop_jkt: str | None
    audience: str | tuple[str, ...]
    redirect_uri_given: bool = True  # the request named it (then the token request must too)

    def to_params(self) -> dict[str, Any]:
        """A JSON-able form, for storage."""
        audience = self.audience if isinstance(self.audience, str) else list(self.audience)
        return {
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "state": self.state,
            "code_challenge": self.code_challenge,
            "dpop_jkt": self.dpop_jkt,
            "audience": audience,
            "redirect_uri_given": self.redirect_uri_given,
        }

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> AuthorizationRequest:
        """The inverse of :meth:`to_params`."""
        audience = params["audience"]
        return cls(
            client_id=params["client_id"],
            redirect_uri=params["redirect_uri"],
            scope=params["scope"],
            state=params["state"],
            code_challenge=params["code_challenge"],
            dpop_jkt=params["dpop_jkt"],
            audience=audience if isinstance(audience, str) else tuple(audience),
            redirect_uri_given=bool(params.get("redirect_uri_given", True)),
        )


def new_handle() -> str:
    """A fresh random handle (codes, refresh tokens, request URIs): 256 bits, base64url."""
    return secrets.token_urlsafe(32)


def handle_hash(value: str) -> str:
    """How a handle is stored: its SHA-256, hex (the value itself never is)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def client_check(client: ClientRecord | None, redirect_uri: str | None) -> str:
    """Step 1: the registered redirect URI the response goes to.

    Raises:
        InvalidRequest: unknown client (``client_unknown`` detail) or a redirect URI that is
            not registered (``request_redirect_uri``) -- never redirected.
        UnauthorizedClient: the client did not register the authorization code grant.
    """
    if client is None:
        raise InvalidRequest(Reason.REQUEST_REDIRECT_URI, detail="unknown client")
    if "authorization_code" not in client.metadata.get("grant_types", ()):
        raise UnauthorizedClient(Reason.GRANT_TYPE_UNAUTHORIZED)
    registered = list(client.metadata.get("redirect_uris", ()))
    if redirect_uri is None:
        if len(registered) != 1:
            raise InvalidRequest(Reason.REQUEST_REDIRECT_URI, detail="redirect_uri required")
        return str(registered[0])
    # Exact string comparison: no normalisation, no prefix or pattern matching -- except the
    # port of a loopback IP redirect URI, which a native app picks at run time (RFC 8252 §7.3).
    if redirect_uri not in registered and not any(
        _loopback_variant(redirect_uri, str(uri)) for uri in registered
    ):
        raise InvalidRequest(Reason.REQUEST_REDIRECT_URI)
    return redirect_uri


def _loopback_variant(requested: str, registered: str) -> bool:
    """``http://127.0.0.1:<any port>/path`` (or ``[::1]``) for a registered loopback URI with the
    same path and query; everything but the port compared exactly."""
    try:
        asked, known = urlsplit(requested), urlsplit(registered)
        asked.port, known.port  # noqa: B018 -- raise for a malformed port
    except ValueError:
        return False
    if known.scheme != "http" or known.hostname not in _LOOPBACK_IPS:
        return False
    return (
        asked.scheme == known.scheme
        and asked.hostname == known.hostname
        and asked.path == known.path
        and asked.query == known.query
        and not asked.fragment
        and "@" not in asked.netloc
    )


def request_check(
    params: Mapping[str, str],
    client: ClientRecord,
    redirect_uri: str,
    *,
    resources: list[str],
    audiences: Callable[[list[str]], str | tuple[str, ...]],
    proof_jkt: str | None = None,
) -> AuthorizationRequest:
    """Step 2: the rest of the request.

    Args:
        params: the request parameters (each at most once).
        client: the client (step 1 passed).
        redirect_uri: the URI step 1 chose.
        resources: the ``resource`` values (RFC 8707, repeatable).
        audiences: the token endpoint's check of ``resource`` values (one place for it).
        proof_jkt: the thumbprint of the DPoP proof sent to the PAR endpoint (RFC 9449 §10.1).

    Raises:
        UnsupportedResponseType, InvalidRequest, InvalidScope, InvalidTarget,
        InvalidDPoPProof: as the error to redirect with.
    """
    if params.get("response_type") != "code":
        if params.get("response_type") is None:
            raise InvalidRequest(Reason.REQUEST_PARAMETER_MISSING, detail="response_type")
        raise UnsupportedResponseType(Reason.RESPONSE_TYPE_UNSUPPORTED)
    challenge = params.get("code_challenge")
    if params.get("code_challenge_method") != "S256" or not _CHALLENGE.fullmatch(challenge or ""):
        raise InvalidRequest(Reason.REQUEST_PKCE)
    state = params.get("state")
    if state is not None and (not state or len(state) > _MAX_STATE or not state.isprintable()):
        raise InvalidRequest(Reason.REQUEST_MALFORMED, detail="state")
    jkt = params.get("dpop_jkt")
    if jkt is not None and not _JKT.fullmatch(jkt):
        raise InvalidRequest(Reason.REQUEST_MALFORMED, detail="dpop_jkt")
    if proof_jkt is not None:
        if jkt is not None and not hmac.compare_digest(jkt, proof_jkt):
            raise InvalidDPoPProof(Reason.JKT_MISMATCH, detail="dpop_jkt differs from the proof")
        jkt = proof_jkt
    return AuthorizationRequest(
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        scope=narrowed_scope(str(client.metadata.get("scope", "")), params.get("scope")),
        state=state,
        code_challenge=str(challenge),
        dpop_jkt=jkt,
        audience=audiences(resources),
        redirect_uri_given=params.get("redirect_uri") is not None,
    )


def pkce_matches(verifier: str | None, challenge: str) -> bool:
    """RFC 7636 §4.6: ``BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge``."""
    if verifier is None or not _VERIFIER.fullmatch(verifier):
        return False
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return hmac.compare_digest(computed, challenge)


def authorization_response(redirect_uri: str, issuer: str, params: Mapping[str, str | None]) -> str:
    """The redirect URI with the response parameters added to its query (RFC 6749 §4.1.2,
    keeping the registered URI's own query) and ``iss`` (RFC 9207 §2)."""
    parts = urlsplit(redirect_uri)
    added = urlencode([(k, v) for k, v in {**params, "iss": issuer}.items() if v is not None])
    query = f"{parts.query}&{added}" if parts.query else added
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def error_params(error: OAuthError, state: str | None) -> dict[str, str | None]:
    """The parameters of an error response (RFC 6749 §4.1.2.1)."""
    return {"error": error.error, "error_description": error.description, "state": state}
