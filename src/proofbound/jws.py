"""Compact JWS (RFC 7515 §7.1) for the hot path: strict splitting, decoding and signing.

Verification is *not* generic here: callers (DPoP proofs, access tokens) decide which key and
which algorithms are acceptable and then call :func:`proofbound.jwk.signatures.verify`. This
module only guarantees that what it hands back came from exactly three canonical base64url
segments of bounded size whose header and payload are strict JSON objects.
"""

from __future__ import annotations

import json
from typing import Any, Final

from proofbound._internal.b64 import b64url_decode, b64url_encode
from proofbound._internal.strict_json import StrictJSONError, loads_object
from proofbound.jwk.keys import SigningKey

__all__ = ["CompactParts", "MalformedJWS", "decode_segment", "sign_compact", "split_compact"]

_MAX_JSON_BYTES: Final = 16 * 1024


class MalformedJWS(ValueError):
    """Not one compact JWS with canonical base64url segments and strict JSON objects."""


class CompactParts:
    """The three segments of a compact JWS, the signing input and the decoded signature.

    A plain slotted class, not a NamedTuple: it is built twice per request and, compiled by
    mypyc, a native class costs a tenth as much to create.
    """

    __slots__ = ("header_b64", "payload_b64", "signature", "signing_input")

    def __init__(
        self, header_b64: str, payload_b64: str, signing_input: bytes, signature: bytes
    ) -> None:
        self.header_b64: Final = header_b64
        self.payload_b64: Final = payload_b64
        self.signing_input: Final = signing_input
        self.signature: Final = signature


def split_compact(token: str, *, max_bytes: int) -> CompactParts:
    """Split ``token`` into its three segments; checks size first, then syntax.

    Raises:
        MalformedJWS: longer than ``max_bytes``, not exactly three segments, a segment that is
            not canonical base64url, or an empty signature.
    """
    if len(token) > max_bytes:
        raise MalformedJWS("too large")
    if not token.isascii():
        raise MalformedJWS("not ASCII")
    # rpartition: the signing input is everything before the last dot, taken as it is.
    signing_input, dot, sig_b64 = token.rpartition(".")
    header_b64, dot2, payload_b64 = signing_input.partition(".")
    if not dot or not dot2 or "." in payload_b64:
        raise MalformedJWS("not three segments")
    if not header_b64 or not payload_b64 or not sig_b64:
        raise MalformedJWS("empty segment")
    try:
        signature = b64url_decode(sig_b64)
    except ValueError:
        raise MalformedJWS("signature is not canonical base64url") from None
    return CompactParts(header_b64, payload_b64, signing_input.encode("ascii"), signature)


def decode_segment(segment: str) -> dict[str, Any]:
    """Decode one base64url segment holding a strict JSON object.

    Raises:
        MalformedJWS: not canonical base64url, not UTF-8, not strict JSON, not an object.
    """
    try:
        return loads_object(b64url_decode(segment), max_bytes=_MAX_JSON_BYTES)
    except (ValueError, StrictJSONError):
        raise MalformedJWS("segment is not a strict JSON object") from None


#: Compact, UTF-8, no NaN; made once (``json.dumps`` with options builds an encoder per call).
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _json_segment(value: dict[str, Any]) -> str:
    return b64url_encode(_ENCODER.encode(value).encode("utf-8"))


def sign_compact(header: dict[str, Any], payload: dict[str, Any], key: SigningKey) -> str:
    """Sign ``payload`` with ``key``; ``alg`` in ``header`` is set to the key's algorithm."""
    signing_input = f"{_json_segment({**header, 'alg': key.alg})}.{_json_segment(payload)}"
    signature = key.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{b64url_encode(signature)}"
