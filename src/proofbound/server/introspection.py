"""Token introspection (RFC 7662) with the binding (RFC 9449 §6.2, RFC 8705 §3.2), and the
one function that recognises this server's own tokens.

* The caller authenticates as a client (RFC 7662 §2.1); it sees its own tokens, and any token
  when it was registered with the introspection permission. Everything else -- unknown, foreign,
  expired, revoked, not ours, garbage -- is ``{"active": false}`` and nothing more (§2.2).
* For a bound token the response carries ``cnf`` (``jkt`` or ``x5t#S256``) and ``token_type``
  (``DPoP`` for a DPoP-bound token, §6.2; ``Bearer`` otherwise).
* Revocation is decided by the store: by ``jti``, key, certificate or client, at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from proofbound.jwk.algorithms import alg_spec
from proofbound.jwk.signatures import verify
from proofbound.jws import MalformedJWS, decode_segment, split_compact
from proofbound.server.client_auth import AuthenticatedClient
from proofbound.server.keyring import Keyring
from proofbound.storage.store import Store, TokenRecord

__all__ = ["INACTIVE", "introspect", "own_token_record"]

INACTIVE: Final[Mapping[str, Any]] = {"active": False}
_MAX_TOKEN: Final = 16 * 1024


def _own_claims(token: str, keyring: Keyring, now: int) -> Mapping[str, Any] | None:
    """The payload of ``token`` if one of our keys signed it (expiry not judged here)."""
    try:
        parts = split_compact(token, max_bytes=_MAX_TOKEN)
        header = decode_segment(parts.header_b64)
    except MalformedJWS:
        return None
    spec = alg_spec(header.get("alg"))
    kid = header.get("kid")
    if spec is None or not isinstance(kid, str):
        return None
    found = keyring.verifying_key(kid, now)
    if found is None or found[0] != spec.name:
        return None
    if not verify(spec, found[1].key, parts.signing_input, parts.signature):
        return None
    try:
        return decode_segment(parts.payload_b64)
    except MalformedJWS:
        return None


def own_token_record(token: str, keyring: Keyring, store: Store, now: int) -> TokenRecord | None:
    """The store's record of a token this server issued and signed, or None."""
    claims = _own_claims(token, keyring, now)
    jti = claims.get("jti") if claims is not None else None
    if not isinstance(jti, str):
        return None
    return store.get_token(jti)


def _audience(record: TokenRecord) -> str | list[str]:
    return record.audience if isinstance(record.audience, str) else list(record.audience)


def introspect(
    token: str,
    caller: AuthenticatedClient,
    *,
    keyring: Keyring,
    store: Store,
    issuer: str,
    now: int,
) -> Mapping[str, Any]:
    """The RFC 7662 §2.2 response for ``token`` as seen by ``caller``."""
    record = own_token_record(token, keyring, store, now)
    if record is None:
        return INACTIVE
    if record.client_id != caller.client.client_id and not caller.client.introspect_any:
        return INACTIVE
    if record.expires_at <= now or record.issued_at > now or store.is_revoked(record):
        return INACTIVE
    response: dict[str, Any] = {
        "active": True,
        "iss": issuer,
        "sub": record.subject,
        "client_id": record.client_id,
        "aud": _audience(record),
        "exp": record.expires_at,
        "iat": record.issued_at,
        "jti": record.jti,
        "token_type": "DPoP" if record.jkt is not None else "Bearer",
    }
    if record.scope:
        response["scope"] = record.scope
    if record.jkt is not None:
        response["cnf"] = {"jkt": record.jkt}
    elif record.x5t_s256 is not None:
        response["cnf"] = {"x5t#S256": record.x5t_s256}
    return response
