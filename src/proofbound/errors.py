"""The single exception hierarchy of proofbound and its stable reason codes.

Every rejection raises a subclass of :class:`ProofboundError` that carries

* ``reason``      -- a stable :class:`Reason` code (what tests and metrics assert on),
* ``error``       -- the OAuth error code of the class (RFC 6749 §5.2, RFC 6750 §3.1,
  RFC 9449 §7.1),
* ``description`` -- a fixed public text chosen by the reason, safe to send to a client,
* ``detail``      -- private, operator-facing text for logs; never rendered to clients.

No exception ever holds a token, proof, assertion or key: ``str()`` and ``repr()`` show the reason
code only, and ``detail`` is truncated and stripped of control characters.

How each class is rendered (status and scheme are decided by the renderer, not the exception,
because the same error is 400 at a token endpoint and 401 at a resource):

==========================  ===============================  ===================================
exception                   token endpoint (AS)              protected resource (RS)
==========================  ===============================  ===================================
``InvalidToken``            --                               401 ``invalid_token``
``InvalidDPoPProof``        400 JSON (RFC 9449 §5)           401 ``invalid_dpop_proof`` (§7.1)
``UseDPoPNonce``            400 + ``DPoP-Nonce`` (§8)        401 + ``DPoP-Nonce`` (§9)
``StorageUnavailable``      500 ``server_error``             503, no detail
==========================  ===============================  ===================================
"""

from __future__ import annotations

import enum
from typing import ClassVar, Final

__all__ = [
    "ConfigurationError",
    "InsufficientScope",
    "InvalidClient",
    "InvalidClientMetadata",
    "InvalidDPoPProof",
    "InvalidGrant",
    "InvalidKey",
    "InvalidRequest",
    "InvalidScope",
    "InvalidTarget",
    "InvalidToken",
    "MissingCredentials",
    "OAuthError",
    "ProofboundError",
    "Reason",
    "StorageUnavailable",
    "UnauthorizedClient",
    "UnsupportedGrantType",
    "UnsupportedResponseType",
    "UseDPoPNonce",
    "describe",
]

_MAX_DETAIL: Final = 200


class Reason(enum.StrEnum):
    """Stable, machine-readable reason for every rejection."""

    # RFC 9449 §4.3 -- DPoP proof checks, by step
    PROOF_MISSING = "proof_missing"  # (1) no DPoP header where one is required
    PROOF_MULTIPLE = "proof_multiple"  # (1) more than one DPoP header field / value
    PROOF_TOO_LARGE = "proof_too_large"  # size limit, before any parsing
    PROOF_MALFORMED = "proof_malformed"  # (2) not one compact JWS with strict base64url/JSON
    PROOF_CLAIM_MISSING = "proof_claim_missing"  # (3) jti, htm, htu, iat (ath with a token)
    PROOF_CLAIM_INVALID = "proof_claim_invalid"  # (3) a required claim has the wrong type/shape
    PROOF_TYP = "proof_typ"  # (4) typ is not dpop+jwt
    PROOF_ALG = "proof_alg"  # (5) alg not allowed (none, HMAC, unknown, off the allow list)
    PROOF_CRIT = "proof_crit"  # RFC 7515 §4.1.11: no critical extension is understood
    PROOF_JWK_INVALID = "proof_jwk_invalid"  # (5)/(6) jwk missing, malformed, or not fit for alg
    PROOF_PRIVATE_JWK = "proof_private_jwk"  # (7) jwk carries private key material
    PROOF_SIGNATURE = "proof_signature"  # (6) signature does not verify with jwk
    HTM_MISMATCH = "htm_mismatch"  # (8)
    HTU_MISMATCH = "htu_mismatch"  # (9)
    NONCE_MISSING = "nonce_missing"  # (10) a nonce is required and the proof has none
    NONCE_INVALID = "nonce_invalid"  # (10) the nonce is not one this server issued recently
    IAT_TOO_OLD = "iat_too_old"  # (11)
    IAT_IN_FUTURE = "iat_in_future"  # (11)
    ATH_MISMATCH = "ath_mismatch"  # (12) ath is not the hash of the presented token
    JKT_MISMATCH = "jkt_mismatch"  # (12) token's cnf.jkt is not the proof key's thumbprint
    PROOF_REPLAYED = "proof_replayed"  # RFC 9449 §11.1: jti seen before for this key

    # RFC 9068 §4 -- access-token checks
    TOKEN_TOO_LARGE = "token_too_large"
    TOKEN_MALFORMED = "token_malformed"
    TOKEN_TYP = "token_typ"
    TOKEN_ALG = "token_alg"
    TOKEN_KEY_UNKNOWN = "token_key_unknown"
    TOKEN_SIGNATURE = "token_signature"
    TOKEN_CLAIM_MISSING = "token_claim_missing"
    TOKEN_CLAIM_INVALID = "token_claim_invalid"
    TOKEN_ISSUER = "token_issuer"
    TOKEN_AUDIENCE = "token_audience"
    TOKEN_EXPIRED = "token_expired"
    TOKEN_NOT_YET_VALID = "token_not_yet_valid"
    TOKEN_CNF_INVALID = "token_cnf_invalid"  # malformed cnf, or both jkt and x5t#S256

    # RFC 8705 §3 -- certificate binding
    CERT_MISSING = "cert_missing"
    CERT_MALFORMED = "cert_malformed"
    CERT_MISMATCH = "cert_mismatch"

    TOKEN_SCHEME = "token_scheme"  # RFC 9449 §7.2: bound token as Bearer, or DPoP + unbound
    TOKEN_BINDING_REQUIRED = "token_binding_required"  # the route needs a binding it lacks
    TOKEN_REVOKED = "token_revoked"  # revoked by jti, key, certificate or client
    TOKEN_INACTIVE = "token_inactive"  # RFC 7662: introspection says active=false
    CREDENTIALS_MISSING = "credentials_missing"  # RFC 6750 §3.1: no error code in the challenge
    SCOPE_INSUFFICIENT = "scope_insufficient"  # RFC 6750 §3.1: 403
    TOKEN_UNKNOWN = "token_unknown"  # a registration/admin token, or a token not issued here
    TOKEN_FOREIGN = "token_foreign"  # RFC 7009 §2.1: a client revoking another client's token

    # RFC 6749 §5.2 -- token, introspection, revocation and registration requests (AS)
    REQUEST_MALFORMED = "request_malformed"  # wrong method/content type, undecodable body
    REQUEST_PARAMETER_MISSING = "request_parameter_missing"
    REQUEST_PARAMETER_REPEATED = "request_parameter_repeated"  # RFC 6749 §3.2
    REQUEST_TOO_LARGE = "request_too_large"
    BINDING_CONFLICT = "binding_conflict"  # DPoP proof and certificate binding asked at once
    BINDING_CERT_REQUIRED = "binding_cert_required"  # client registered for mTLS-bound tokens
    CLIENT_UNKNOWN = "client_unknown"
    CLIENT_AUTH_MISSING = "client_auth_missing"
    CLIENT_AUTH_MULTIPLE = "client_auth_multiple"  # RFC 6749 §2.3: one method per request
    CLIENT_AUTH_METHOD = "client_auth_method"  # not the method the client registered
    CLIENT_SECRET_INVALID = "client_secret_invalid"
    CLIENT_ASSERTION_MALFORMED = "client_assertion_malformed"  # RFC 7523 §3
    CLIENT_ASSERTION_ALG = "client_assertion_alg"
    CLIENT_ASSERTION_KEY = "client_assertion_key"  # no registered key fits
    CLIENT_ASSERTION_SIGNATURE = "client_assertion_signature"
    CLIENT_ASSERTION_CLAIMS = "client_assertion_claims"  # iss, sub, aud, jti
    CLIENT_ASSERTION_EXPIRED = "client_assertion_expired"  # exp missing, past, or too far
    CLIENT_ASSERTION_REPLAYED = "client_assertion_replayed"  # jti used before
    CLIENT_CERT_MISSING = "client_cert_missing"  # RFC 8705 §2
    CLIENT_CERT_MALFORMED = "client_cert_malformed"
    CLIENT_CERT_MISMATCH = "client_cert_mismatch"  # §2.2: not a registered self-signed key
    CLIENT_CERT_UNTRUSTED = "client_cert_untrusted"  # §2.1: chain does not validate
    CLIENT_CERT_SUBJECT = "client_cert_subject"  # §2.1.2: subject DN / SAN does not match
    GRANT_TYPE_UNSUPPORTED = "grant_type_unsupported"
    GRANT_TYPE_UNAUTHORIZED = "grant_type_unauthorized"
    SCOPE_INVALID = "scope_invalid"
    TARGET_INVALID = "target_invalid"  # RFC 8707 §2
    METADATA_INVALID = "metadata_invalid"  # RFC 7591 §3.2.2

    # RFC 6749 §4.1, RFC 7636, RFC 9126, RFC 9449 §10 -- the authorization code flow
    RESPONSE_TYPE_UNSUPPORTED = "response_type_unsupported"  # §4.1.2.1
    REQUEST_REDIRECT_URI = "request_redirect_uri"  # not a registered redirect URI (exact match)
    REQUEST_PKCE = "request_pkce"  # RFC 7636 §4.4.1: code_challenge missing, malformed or not S256
    CODE_INVALID = "code_invalid"  # unknown, expired, or issued to another client
    CODE_REUSED = "code_reused"  # §4.1.2: used before; the tokens issued from it are revoked
    CODE_REDIRECT_MISMATCH = "code_redirect_mismatch"  # §4.1.3
    CODE_VERIFIER_INVALID = "code_verifier_invalid"  # RFC 7636 §4.6
    CODE_DPOP_JKT_MISMATCH = "code_dpop_jkt_mismatch"  # RFC 9449 §10: another key than dpop_jkt
    REFRESH_INVALID = "refresh_invalid"  # unknown, expired, revoked, or another client's
    REFRESH_REUSED = "refresh_reused"  # rotated before: the whole family is revoked
    REFRESH_KEY_MISMATCH = "refresh_key_mismatch"  # RFC 9449 §5: not the key it is bound to

    # keys and configuration
    KEY_INVALID = "key_invalid"
    CONFIGURATION = "configuration"

    # infrastructure
    STORAGE_UNAVAILABLE = "storage_unavailable"


# Fixed public descriptions (RFC 6749 §5.2 character set: %x20-21 / %x23-5B / %x5D-7E).
_DESCRIPTIONS: Final[dict[Reason, str]] = {
    Reason.PROOF_MISSING: "DPoP proof is missing",
    Reason.PROOF_MULTIPLE: "Multiple DPoP proofs",
    Reason.PROOF_TOO_LARGE: "DPoP proof is too large",
    Reason.PROOF_MALFORMED: "DPoP proof is not a well-formed JWT",
    Reason.PROOF_CLAIM_MISSING: "DPoP proof lacks a required claim",
    Reason.PROOF_CLAIM_INVALID: "DPoP proof has an invalid claim",
    Reason.PROOF_TYP: "DPoP proof typ must be dpop+jwt",
    Reason.PROOF_ALG: "DPoP proof alg is not accepted",
    Reason.PROOF_CRIT: "DPoP proof uses an unsupported critical header",
    Reason.PROOF_JWK_INVALID: "DPoP proof jwk is invalid",
    Reason.PROOF_PRIVATE_JWK: "DPoP proof jwk contains a private key",
    Reason.PROOF_SIGNATURE: "DPoP proof signature is invalid",
    Reason.HTM_MISMATCH: "DPoP proof htm does not match the request",
    Reason.HTU_MISMATCH: "DPoP proof htu does not match the request",
    Reason.NONCE_MISSING: "DPoP nonce is required",
    Reason.NONCE_INVALID: "DPoP nonce is invalid or expired",
    Reason.IAT_TOO_OLD: "DPoP proof is too old",
    Reason.IAT_IN_FUTURE: "DPoP proof is issued in the future",
    Reason.ATH_MISMATCH: "DPoP proof ath does not match the access token",
    Reason.JKT_MISMATCH: "Invalid DPoP key binding",
    Reason.PROOF_REPLAYED: "DPoP proof was already used",
    Reason.TOKEN_TOO_LARGE: "Access token is too large",
    Reason.TOKEN_MALFORMED: "Access token is malformed",
    Reason.TOKEN_TYP: "Access token typ must be at+jwt",
    Reason.TOKEN_ALG: "Access token alg is not accepted",
    Reason.TOKEN_KEY_UNKNOWN: "Access token signing key is unknown",
    Reason.TOKEN_SIGNATURE: "Access token signature is invalid",
    Reason.TOKEN_CLAIM_MISSING: "Access token lacks a required claim",
    Reason.TOKEN_CLAIM_INVALID: "Access token has an invalid claim",
    Reason.TOKEN_ISSUER: "Access token issuer is not accepted",
    Reason.TOKEN_AUDIENCE: "Access token audience is not accepted",
    Reason.TOKEN_EXPIRED: "Access token is expired",
    Reason.TOKEN_NOT_YET_VALID: "Access token is not yet valid",
    Reason.TOKEN_CNF_INVALID: "Access token confirmation is invalid",
    Reason.CERT_MISSING: "Client certificate is required",
    Reason.CERT_MALFORMED: "Client certificate is malformed",
    Reason.CERT_MISMATCH: "Client certificate does not match the token",
    Reason.TOKEN_SCHEME: "Token presented under the wrong authorization scheme",
    Reason.TOKEN_BINDING_REQUIRED: "A sender-constrained token is required",
    Reason.TOKEN_REVOKED: "Access token has been revoked",
    Reason.TOKEN_INACTIVE: "Access token is not active",
    Reason.CREDENTIALS_MISSING: "Authentication is required",
    Reason.SCOPE_INSUFFICIENT: "The access token lacks a required scope",
    Reason.TOKEN_UNKNOWN: "Token is not recognised",
    Reason.TOKEN_FOREIGN: "The token was not issued to this client",
    Reason.REQUEST_MALFORMED: "Request is malformed",
    Reason.REQUEST_PARAMETER_MISSING: "Request lacks a required parameter",
    Reason.REQUEST_PARAMETER_REPEATED: "Request repeats a parameter",
    Reason.REQUEST_TOO_LARGE: "Request is too large",
    Reason.BINDING_CONFLICT: "A token is bound to a DPoP key or a certificate, not both",
    Reason.BINDING_CERT_REQUIRED: "Client certificate is required for this client",
    Reason.CLIENT_UNKNOWN: "Client authentication failed",
    Reason.CLIENT_AUTH_MISSING: "Client authentication is required",
    Reason.CLIENT_AUTH_MULTIPLE: "Only one client authentication method may be used",
    Reason.CLIENT_AUTH_METHOD: "Client authentication failed",
    Reason.CLIENT_SECRET_INVALID: "Client authentication failed",
    Reason.CLIENT_ASSERTION_MALFORMED: "Client assertion is malformed",
    Reason.CLIENT_ASSERTION_ALG: "Client assertion alg is not accepted",
    Reason.CLIENT_ASSERTION_KEY: "Client assertion key is unknown",
    Reason.CLIENT_ASSERTION_SIGNATURE: "Client assertion signature is invalid",
    Reason.CLIENT_ASSERTION_CLAIMS: "Client assertion claims are invalid",
    Reason.CLIENT_ASSERTION_EXPIRED: "Client assertion is expired or too long-lived",
    Reason.CLIENT_ASSERTION_REPLAYED: "Client assertion was already used",
    Reason.CLIENT_CERT_MISSING: "Client certificate is required",
    Reason.CLIENT_CERT_MALFORMED: "Client certificate is malformed",
    Reason.CLIENT_CERT_MISMATCH: "Client certificate does not match the client",
    Reason.CLIENT_CERT_UNTRUSTED: "Client certificate is not trusted",
    Reason.CLIENT_CERT_SUBJECT: "Client certificate does not match the client",
    Reason.GRANT_TYPE_UNSUPPORTED: "Grant type is not supported",
    Reason.GRANT_TYPE_UNAUTHORIZED: "Client may not use this grant type",
    Reason.SCOPE_INVALID: "Requested scope is not allowed",
    Reason.TARGET_INVALID: "Requested resource is not allowed",
    Reason.METADATA_INVALID: "Client metadata is invalid",
    Reason.RESPONSE_TYPE_UNSUPPORTED: "Response type is not supported",
    Reason.REQUEST_REDIRECT_URI: "Redirect URI is not registered for this client",
    Reason.REQUEST_PKCE: "PKCE with S256 is required",
    Reason.CODE_INVALID: "Authorization code is not valid",
    Reason.CODE_REUSED: "Authorization code is not valid",
    Reason.CODE_REDIRECT_MISMATCH: "Redirect URI does not match the authorization request",
    Reason.CODE_VERIFIER_INVALID: "PKCE verification failed",
    Reason.CODE_DPOP_JKT_MISMATCH: "DPoP key does not match the authorization request",
    Reason.REFRESH_INVALID: "Refresh token is not valid",
    Reason.REFRESH_REUSED: "Refresh token is not valid",
    Reason.REFRESH_KEY_MISMATCH: "Refresh token is bound to another key",
    Reason.KEY_INVALID: "Key is invalid",
    Reason.CONFIGURATION: "Invalid configuration",
    Reason.STORAGE_UNAVAILABLE: "Service temporarily unavailable",
}


def describe(reason: Reason) -> str:
    """Return the fixed public description of ``reason``."""
    return _DESCRIPTIONS[reason]


def _clean_detail(detail: str) -> str:
    printable = "".join(ch if ch.isprintable() else "?" for ch in detail[: _MAX_DETAIL + 1])
    return printable if len(printable) <= _MAX_DETAIL else printable[: _MAX_DETAIL - 1] + "…"


class ProofboundError(Exception):
    """Base class of every proofbound error.

    ``str(exc)`` is the reason code; ``detail`` is private operator text, never rendered to a
    client and never containing token, proof or key material.
    """

    error: ClassVar[str] = "server_error"

    def __init__(self, reason: Reason, *, detail: str = "") -> None:
        super().__init__(reason.value)
        self.reason: Final = reason
        self.detail: Final = _clean_detail(detail)

    @property
    def description(self) -> str:
        """Fixed public description chosen by the reason."""
        return describe(self.reason)

    def diagnostics(self) -> str:
        """Operator-facing text: description, reason and private detail."""
        tail = f": {self.detail}" if self.detail else ""
        return f"{self.description} [{self.reason.value}]{tail}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reason={self.reason.value!r})"


class ConfigurationError(ProofboundError, ValueError):
    """Invalid settings, raised at construction time, never per request."""

    def __init__(self, detail: str) -> None:
        super().__init__(Reason.CONFIGURATION, detail=detail)


class InvalidKey(ProofboundError, ValueError):
    """A key (JWK, PEM) cannot be used: malformed, unsupported, too weak, or private where public
    was expected."""

    def __init__(self, detail: str) -> None:
        super().__init__(Reason.KEY_INVALID, detail=detail)


class StorageUnavailable(ProofboundError):
    """A backend (replay cache, store) failed; the request is rejected (fail closed)."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(Reason.STORAGE_UNAVAILABLE, detail=detail)


class OAuthError(ProofboundError):
    """An error with an OAuth error code that is rendered to the client."""


class InvalidRequest(OAuthError):
    """``invalid_request`` (RFC 6749 §5.2): missing, repeated or malformed parameters."""

    error = "invalid_request"


class InvalidClient(OAuthError):
    """``invalid_client`` (RFC 6749 §5.2, RFC 7523 §3.2, RFC 8705 §2): client authentication
    failed. Every failure shows the same public text; the reason and detail are for logs."""

    error = "invalid_client"


class UnauthorizedClient(OAuthError):
    """``unauthorized_client`` (RFC 6749 §5.2): the client may not use this grant type."""

    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    """``unsupported_grant_type`` (RFC 6749 §5.2)."""

    error = "unsupported_grant_type"


class InvalidScope(OAuthError):
    """``invalid_scope`` (RFC 6749 §5.2): a requested scope is not registered for the client."""

    error = "invalid_scope"


class InvalidTarget(OAuthError):
    """``invalid_target`` (RFC 8707 §2): a requested resource is not one this AS serves."""

    error = "invalid_target"


class InvalidGrant(OAuthError):
    """``invalid_grant`` (RFC 6749 §5.2): the authorization code or refresh token is invalid,
    expired, revoked, used before, or does not match the request (redirect URI, PKCE, key)."""

    error = "invalid_grant"


class UnsupportedResponseType(OAuthError):
    """``unsupported_response_type`` (RFC 6749 §4.1.2.1)."""

    error = "unsupported_response_type"


class InvalidClientMetadata(OAuthError):
    """``invalid_client_metadata`` (RFC 7591 §3.2.2)."""

    error = "invalid_client_metadata"


class InvalidToken(OAuthError):
    """``invalid_token`` (RFC 6750 §3.1, RFC 9068 §4, RFC 8705 §3)."""

    error = "invalid_token"


class InsufficientScope(OAuthError):
    """``insufficient_scope`` (RFC 6750 §3.1): 403 with the scopes needed."""

    error = "insufficient_scope"

    def __init__(self, reason: Reason, *, scopes: tuple[str, ...] = (), detail: str = "") -> None:
        super().__init__(reason, detail=detail)
        self.scopes: Final = scopes


class MissingCredentials(OAuthError):
    """The request carried no credentials: a challenge without an error code (RFC 6750 §3.1)."""

    error = ""


class InvalidDPoPProof(OAuthError):
    """``invalid_dpop_proof`` (RFC 9449 §4.3, §5, §7.1)."""

    error = "invalid_dpop_proof"


class UseDPoPNonce(OAuthError):
    """``use_dpop_nonce`` (RFC 9449 §8, §9); carries the fresh nonce to send in ``DPoP-Nonce``."""

    error = "use_dpop_nonce"

    def __init__(self, reason: Reason, *, nonce: str, detail: str = "") -> None:
        super().__init__(reason, detail=detail)
        self.nonce: Final = nonce
