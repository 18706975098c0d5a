"""The one place that decides whether a presenter matches a token's binding.

A token's ``cnf`` claim (RFC 7800) binds it either to a DPoP key by its RFC 7638 thumbprint
(``jkt``, RFC 9449 §6.1) or to a client certificate by ``x5t#S256`` (RFC 8705 §3.1). Other ``cnf``
members are tolerated; a token that carries both bindings is refused, because no single presenter
could be checked against both without choosing one to ignore.

Outcomes:

* DPoP key differs from ``cnf.jkt``: ``InvalidDPoPProof(jkt_mismatch)`` -- RFC 9449 §4.3 step 12
  makes the key check part of proof validation (node-oidc-provider answers ``invalid_token``; our
  choice is written in DESIGN.md).
* certificate missing or different from ``cnf.x5t#S256``: ``InvalidToken(cert_missing |
  cert_mismatch)`` (RFC 8705 §3).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any, Literal, NamedTuple

from proofbound._internal.b64 import is_b64url
from proofbound.errors import InvalidDPoPProof, InvalidToken, Reason
from proofbound.types import Thumbprint

__all__ = ["Binding", "binding_from_cnf", "check_binding"]

_SHA256_B64_LEN = 43


class Binding(NamedTuple):
    """What a token is bound to: a DPoP key (``dpop``) or a client certificate (``mtls``)."""

    kind: Literal["dpop", "mtls"]
    thumbprint: Thumbprint


def _thumbprint(value: object) -> Thumbprint:
    if not isinstance(value, str) or len(value) != _SHA256_B64_LEN or not is_b64url(value):
        raise InvalidToken(Reason.TOKEN_CNF_INVALID, detail="cnf thumbprint is not SHA-256 b64url")
    return Thumbprint(value)


def binding_from_cnf(cnf: object) -> Binding | None:
    """Read the binding from a token's ``cnf`` claim (absent -> ``None``: an unbound token).

    Raises:
        InvalidToken: ``token_cnf_invalid`` if ``cnf`` is not an object, a thumbprint is not a
            base64url SHA-256 value, or both ``jkt`` and ``x5t#S256`` are present.
    """
    if cnf is None:
        return None
    if type(cnf) is not dict and not isinstance(cnf, Mapping):  # dict first: the JSON case
        raise InvalidToken(Reason.TOKEN_CNF_INVALID, detail="cnf is not an object")
    members: Mapping[str, Any] = cnf
    has_jkt, has_x5t = "jkt" in members, "x5t#S256" in members
    if has_jkt and has_x5t:
        raise InvalidToken(Reason.TOKEN_CNF_INVALID, detail="cnf binds to both key and cert")
    if has_jkt:
        return Binding("dpop", _thumbprint(members["jkt"]))
    if has_x5t:
        return Binding("mtls", _thumbprint(members["x5t#S256"]))
    return None


def _same(a: str, b: str) -> bool:
    # Thumbprints are base64url: anything non-ASCII is simply not equal (no lossy encoding);
    # compare_digest accepts str only when it is ASCII.
    return a.isascii() and b.isascii() and hmac.compare_digest(a, b)


def check_binding(
    binding: Binding | None,
    *,
    proof_jkt: str | None = None,
    cert_thumbprint: str | None = None,
) -> None:
    """Check that the presenter matches ``binding``; return quietly if it does.

    Args:
        binding: the token's binding (``None`` for an unbound token: nothing to check here;
            whether unbound tokens are acceptable is the caller's policy).
        proof_jkt: thumbprint of the key of the verified DPoP proof, if any.
        cert_thumbprint: ``x5t#S256`` of the client certificate on the connection, if any.

    Raises:
        InvalidDPoPProof: ``proof_missing`` (DPoP-bound, no proof) or ``jkt_mismatch``.
        InvalidToken: ``cert_missing`` or ``cert_mismatch`` for a certificate-bound token.
    """
    if binding is None:
        return
    if binding.kind == "dpop":
        if proof_jkt is None:
            raise InvalidDPoPProof(Reason.PROOF_MISSING, detail="DPoP-bound token without proof")
        if not _same(binding.thumbprint, proof_jkt):
            raise InvalidDPoPProof(Reason.JKT_MISMATCH)
        return
    if cert_thumbprint is None:
        raise InvalidToken(Reason.CERT_MISSING)
    if not _same(binding.thumbprint, cert_thumbprint):
        raise InvalidToken(Reason.CERT_MISMATCH)
