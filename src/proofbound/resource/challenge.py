"""``WWW-Authenticate`` challenges of a protected resource (RFC 6750 §3, RFC 9449 §7.1, §9).

One function, :func:`quote_param`, turns every parameter value into a quoted-string: it refuses
control characters and non-ASCII, and escapes ``"`` and ``\\``; ``error`` and ``error_description``
must moreover stay inside the RFC 6750 §3 character set (%x20-21 / %x23-5B / %x5D-7E), and
schemes and parameter names must be HTTP tokens. Values are checked when a :class:`Challenge` is
built, so a bad value fails at construction, never half-way through rendering a response.

Status codes (the exception decides nothing about HTTP; this module does):

=======================  ======  ==========================================================
error                    status  challenge
=======================  ======  ==========================================================
no credentials           401     one per accepted scheme, no ``error`` (RFC 6750 §3)
(``MissingCredentials``)
``InvalidRequest``       400     ``error="invalid_request"`` on the request's scheme
``InvalidToken``         401     ``error="invalid_token"`` on the request's scheme
``InsufficientScope``    403     ``error="insufficient_scope"``, ``scope="…"`` (§3.1)
``InvalidDPoPProof``     401     ``DPoP error="invalid_dpop_proof"`` (RFC 9449 §7.1)
``UseDPoPNonce``         401     ``DPoP error="use_dpop_nonce"`` + ``DPoP-Nonce`` (§9)
``StorageUnavailable``   503     none; no detail (fail closed)
anything else            503     none; no detail
=======================  ======  ==========================================================

Every challenge of the ``DPoP`` scheme carries ``algs`` (§7.1); responses with a ``DPoP-Nonce``
also carry ``Cache-Control: no-store`` (§8.2). With a ``resource_metadata`` URL, every challenge
carries it (RFC 9728 §5.1).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from proofbound.errors import (
    InsufficientScope,
    InvalidDPoPProof,
    InvalidRequest,
    InvalidToken,
    MissingCredentials,
    ProofboundError,
    UseDPoPNonce,
)

__all__ = [
    "Challenge",
    "ResourceErrorResponse",
    "quote_param",
    "render_challenges",
    "resource_error_response",
]

Scheme = Literal["Bearer", "DPoP"]

_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 §5.6.2
_ERROR_CHARS: Final = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")  # RFC 6750 §3
_STRICT_PARAMS: Final = frozenset({"error", "error_description", "scope"})


def quote_param(name: str, value: str) -> str:
    """Render ``name="value"`` as an auth-param with a quoted-string (RFC 9110 §11.2, §5.6.4).

    Raises:
        ValueError: a name that is not a token, a control or non-ASCII character in the value, or
            (for ``error``, ``error_description``, ``scope``) a character outside RFC 6750 §3.
    """
    if _TOKEN.fullmatch(name) is None:
        raise ValueError("auth-param name is not a token")
    if not value.isascii() or not value.isprintable():
        raise ValueError("auth-param value has control or non-ASCII characters")
    if name in _STRICT_PARAMS and _ERROR_CHARS.fullmatch(value) is None:
        raise ValueError(f"{name} has characters outside RFC 6750 §3")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{name}="{escaped}"'


@dataclass(frozen=True, slots=True)
class Challenge:
    """One challenge: a scheme and its parameters, validated at construction."""

    scheme: str
    params: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if _TOKEN.fullmatch(self.scheme) is None:
            raise ValueError("scheme is not a token")
        names = [name for name, _ in self.params]
        if len(names) != len(set(names)):
            raise ValueError("a challenge parameter appears twice (RFC 6750 §3)")
        for name, value in self.params:
            quote_param(name, value)

    def render(self) -> str:
        """``Scheme name="value", ...`` (just the scheme when there are no parameters)."""
        if not self.params:
            return self.scheme
        return self.scheme + " " + ", ".join(quote_param(n, v) for n, v in self.params)


def render_challenges(challenges: Iterable[Challenge]) -> str:
    """Join challenges into one ``WWW-Authenticate`` field value (RFC 9110 §11.6.1)."""
    return ", ".join(challenge.render() for challenge in challenges)


@dataclass(frozen=True, slots=True)
class ResourceErrorResponse:
    """What a resource answers for an error: status and headers (no body needed)."""

    status: int
    headers: tuple[tuple[str, str], ...]


def _challenge(
    scheme: Scheme,
    *,
    error: ProofboundError | None,
    algs: Sequence[str],
    realm: str | None,
    resource_metadata: str | None,
) -> Challenge:
    params: list[tuple[str, str]] = []
    if realm is not None:
        params.append(("realm", realm))
    if error is not None:
        params.append(("error", error.error))
        params.append(("error_description", error.description))
        if isinstance(error, InsufficientScope) and error.scopes:
            params.append(("scope", " ".join(error.scopes)))
    if scheme == "DPoP":
        params.append(("algs", " ".join(algs)))
    if resource_metadata is not None:
        params.append(("resource_metadata", resource_metadata))
    return Challenge(scheme, tuple(params))


def resource_error_response(
    error: ProofboundError | None,
    *,
    request_scheme: Scheme | None,
    accepted_schemes: Sequence[Scheme],
    algs: Sequence[str],
    realm: str | None = None,
    resource_metadata: str | None = None,
) -> ResourceErrorResponse:
    """Map an error (``None``: no credentials) to the resource's status and headers.

    The ``error`` goes on the challenge of the scheme the request used (RFC 9449 §7.2, Figure
    18); other accepted schemes get a bare challenge. DPoP proof and nonce errors always go on
    the ``DPoP`` challenge.

    Args:
        error: the rejection, or ``None`` when the request carried no credentials.
        request_scheme: the scheme of the request's ``Authorization`` header, if any.
        accepted_schemes: the schemes this resource accepts, in challenge order.
        algs: the DPoP proof algorithms accepted (the ``algs`` parameter).
        realm: optional ``realm``.
        resource_metadata: the RFC 9728 metadata URL, added to every challenge.
    """
    if not accepted_schemes:
        raise ValueError("at least one accepted scheme is required")
    if not algs or any(_TOKEN.fullmatch(alg) is None for alg in algs):
        raise ValueError("algs must be a non-empty list of tokens")
    if isinstance(error, MissingCredentials):
        error = None
    rendered = InvalidToken | InvalidDPoPProof | UseDPoPNonce | InvalidRequest | InsufficientScope
    if error is not None and not isinstance(error, rendered):
        return ResourceErrorResponse(503, (("Cache-Control", "no-store"),))
    target: Scheme | None = None
    if error is not None:
        target = "DPoP" if isinstance(error, InvalidDPoPProof | UseDPoPNonce) else request_scheme
        if target is None:  # a malformed Authorization header: answer on every scheme
            target = accepted_schemes[0]
    schemes = list(accepted_schemes)
    if target is not None and target not in schemes:
        schemes.append(target)
    challenges = [
        _challenge(
            s,
            error=error if s == target else None,
            algs=algs,
            realm=realm,
            resource_metadata=resource_metadata,
        )
        for s in schemes
    ]
    headers = [("WWW-Authenticate", render_challenges(challenges))]
    if isinstance(error, UseDPoPNonce):
        headers.append(("DPoP-Nonce", error.nonce))
        headers.append(("Cache-Control", "no-store"))
    status = 401
    if isinstance(error, InvalidRequest):
        status = 400
    elif isinstance(error, InsufficientScope):
        status = 403
    return ResourceErrorResponse(status, tuple(headers))
