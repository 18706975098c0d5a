"""JWT access tokens (RFC 9068): issue and verify, with ``cnf`` bindings.

Bindings follow RFC 9449 §6 (``cnf.jkt``) and RFC 8705 §3 (``cnf.x5t#S256``).

Verification (RFC 9068 §4), in this order:

1. size limit, then one compact JWS with canonical base64url and strict JSON;
2. ``typ`` is ``at+jwt`` or ``application/at+jwt``, case-insensitively (RFC 7515 §4.1.9;
   RFC 9068's own example says ``at+JWT``); a per-issuer ``strict_typ=False`` relaxes this for
   issuers that send no ``typ`` (a wrong ``typ`` is still refused);
3. ``alg`` on the allow list and fitting the key; the key comes only from the issuer's key set, by
   ``kid`` -- header ``jwk``/``jku``/``x5u`` are ignored (§4);
4. the signature;
5. claims: ``iss`` equals the issuer exactly, ``aud`` contains an accepted audience, ``exp`` is
   after now (``exp == now`` is expired), ``nbf`` honoured, ``iat``, ``sub``, ``client_id`` and
   ``jti`` present and well typed (§2.2), ``scope`` a string if present;
6. ``cnf``: a ``jkt`` or an ``x5t#S256`` binding, never both (:mod:`proofbound.binding`).

A verified token can be cached by the hash of its text until ``exp``; the cache re-checks the
time on every hit, so a cached token still expires on time.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from proofbound._internal.b64 import b64url_encode
from proofbound.binding import Binding, binding_from_cnf
from proofbound.errors import ConfigurationError, InvalidToken, Reason
from proofbound.jwk.algorithms import (
    DEFAULT_ACCESS_TOKEN_ALGS,
    AlgSpec,
    alg_spec,
    validate_allow_list,
)
from proofbound.jwk.keys import PublicKey, SigningKey
from proofbound.jwk.signatures import verify
from proofbound.jws import MalformedJWS, decode_segment, sign_compact, split_compact
from proofbound.types import JwsAlg

__all__ = [
    "AccessTokenPolicy",
    "AccessTokenVerifier",
    "VerifiedAccessToken",
    "issue_access_token",
]

_log: Final = logging.getLogger("proofbound.access_token")
_TYPS: Final = frozenset({"at+jwt", "application/at+jwt"})
_MAX_LEEWAY: Final = 300


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessTokenPolicy:
    """What a resource server accepts from one issuer.

    Attributes:
        issuer: the issuer identifier, compared exactly with ``iss`` (RFC 9068 §4).
        audiences: this resource's identifiers; ``aud`` must contain one of them.
        algorithms: accepted JWS algorithms (RS256 is mandatory to support, RFC 9068 §2.1).
        leeway: seconds of clock tolerance for ``exp``/``nbf`` (0..300).
        strict_typ: require ``typ`` ``at+jwt``; False also accepts a token without ``typ``.
        max_token_bytes: the longest token read at all.
    """

    issuer: str
    audiences: tuple[str, ...]
    algorithms: tuple[JwsAlg, ...] = DEFAULT_ACCESS_TOKEN_ALGS
    leeway: int = 0
    strict_typ: bool = True
    max_token_bytes: int = 16384

    def __post_init__(self) -> None:
        if not self.issuer:
            raise ConfigurationError("issuer is required")
        audiences: object = self.audiences
        if isinstance(audiences, str):  # a lone string is one audience, not its characters
            object.__setattr__(self, "audiences", (audiences,))
        entries: tuple[object, ...] = self.audiences
        if not entries or not all(isinstance(aud, str) and aud for aud in entries):
            raise ConfigurationError("at least one non-empty audience is required")
        object.__setattr__(self, "algorithms", validate_allow_list(self.algorithms))
        if not 0 <= self.leeway <= _MAX_LEEWAY:
            raise ConfigurationError(f"leeway must be within 0..{_MAX_LEEWAY} seconds")
        if not 1024 <= self.max_token_bytes <= 1 << 20:
            raise ConfigurationError("max_token_bytes must be within 1024..1048576")


@dataclass(frozen=True, slots=True)
class VerifiedAccessToken:
    """A verified access token: its claims, binding and hash (never the token itself)."""

    issuer: str
    subject: str
    client_id: str
    audience: tuple[str, ...]
    scopes: frozenset[str]
    expires_at: int | float
    not_before: int | float | None
    binding: Binding | None
    token_sha256: bytes = field(repr=False)
    claims: Mapping[str, Any] = field(repr=False)

    @property
    def ath(self) -> str:
        """The ``ath`` value a DPoP proof must carry for this token (RFC 9449 §4.2)."""
        return b64url_encode(self.token_sha256)


def _bad(reason: Reason, detail: str = "") -> InvalidToken:
    return InvalidToken(reason, detail=detail)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _nonempty_str(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if value is None:
        raise _bad(Reason.TOKEN_CLAIM_MISSING, name)
    if not isinstance(value, str) or not value:
        raise _bad(Reason.TOKEN_CLAIM_INVALID, name)
    return value


def _number(claims: Mapping[str, Any], name: str, *, required: bool) -> int | float | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise _bad(Reason.TOKEN_CLAIM_MISSING, name)
        return None
    if not _is_number(value):
        raise _bad(Reason.TOKEN_CLAIM_INVALID, name)
    result: int | float = value
    return result


def _audience(claims: Mapping[str, Any]) -> tuple[str, ...]:
    aud = claims.get("aud")
    if aud is None:
        raise _bad(Reason.TOKEN_CLAIM_MISSING, "aud")
    values = (aud,) if isinstance(aud, str) else aud
    if (
        not isinstance(values, list | tuple)
        or not values
        or not all(isinstance(v, str) and v for v in values)
    ):
        raise _bad(Reason.TOKEN_CLAIM_INVALID, "aud")
    return tuple(values)


class AccessTokenVerifier:
    """Verifies RFC 9068 access tokens of one issuer, with an optional cache of verified tokens.

    Args:
        policy: issuer, audiences, algorithms and limits.
        keys: the issuer's public keys: a mapping ``kid -> PublicKey``, or a JWKS document
            (``{"keys": [...]}``). A key's ``alg``, when the JWKS names one, must match the token.
        cache_size: how many verified tokens to keep by hash until their ``exp`` (0: none).
    """

    __slots__ = ("_cache", "_cache_size", "_keys", "policy")

    def __init__(
        self,
        policy: AccessTokenPolicy,
        keys: Mapping[str, PublicKey] | Mapping[str, Any],
        *,
        cache_size: int = 10_000,
    ) -> None:
        if cache_size < 0:
            raise ConfigurationError("cache_size must not be negative")
        self.policy: Final = policy
        self._keys = _key_table(keys)
        self._cache: dict[bytes, VerifiedAccessToken] = {}
        self._cache_size = cache_size

    def verify(self, token: str, *, now: int) -> VerifiedAccessToken:
        """Verify ``token`` at time ``now``.

        Raises:
            InvalidToken: with a ``token_*`` reason for any failed check.
        """
        try:
            return self._verify(token, now)
        except InvalidToken as exc:
            # Reason and private detail only: never the token (DESIGN.md).
            _log.info("access token rejected: %s", exc.diagnostics())
            raise

    def _verify(self, token: str, now: int) -> VerifiedAccessToken:
        if len(token) > self.policy.max_token_bytes:
            raise _bad(Reason.TOKEN_TOO_LARGE)
        try:
            digest = hashlib.sha256(token.encode("ascii")).digest()
        except UnicodeEncodeError:
            raise _bad(Reason.TOKEN_MALFORMED, "not ASCII") from None
        hit = self._cache.get(digest)
        if hit is not None:
            self._check_times(hit.expires_at, hit.not_before, now)
            return hit
        verified = self._verify_uncached(token, digest, now)
        if self._cache_size:
            if len(self._cache) >= self._cache_size:
                # Oldest insertion first: O(1), and close to expiry order (similar lifetimes).
                del self._cache[next(iter(self._cache))]
            self._cache[digest] = verified
        return verified

    def _check_times(self, exp: int | float, nbf: int | float | None, now: int) -> None:
        leeway = self.policy.leeway
        if now >= exp + leeway:
            raise _bad(Reason.TOKEN_EXPIRED)
        if nbf is not None and now + leeway < nbf:
            raise _bad(Reason.TOKEN_NOT_YET_VALID)

    def _select_key(self, header: Mapping[str, Any]) -> tuple[AlgSpec, PublicKey]:
        policy = self.policy
        spec = alg_spec(header.get("alg"))
        if spec is None or spec.name not in policy.algorithms:
            raise _bad(Reason.TOKEN_ALG)
        kid = header.get("kid")
        if kid is None and len(self._keys) == 1:
            key_alg, key = next(iter(self._keys.values()))
        elif isinstance(kid, str) and kid in self._keys:
            key_alg, key = self._keys[kid]
        else:
            raise _bad(Reason.TOKEN_KEY_UNKNOWN)
        if key_alg is not None and key_alg != spec.name:
            raise _bad(Reason.TOKEN_ALG, "alg differs from the key's alg")
        jwk = key.jwk
        if jwk["kty"] != spec.kty or (spec.crv is not None and jwk.get("crv") != spec.crv):
            raise _bad(Reason.TOKEN_ALG, "alg does not fit the key")
        return spec, key

    def _verify_uncached(self, token: str, digest: bytes, now: int) -> VerifiedAccessToken:
        policy = self.policy
        try:
            parts = split_compact(token, max_bytes=policy.max_token_bytes)
            header = decode_segment(parts.header_b64)
        except MalformedJWS as exc:
            raise _bad(Reason.TOKEN_MALFORMED, str(exc)) from None
        typ = header.get("typ")
        if typ is None:
            if policy.strict_typ:
                raise _bad(Reason.TOKEN_TYP, "typ missing")
        elif not isinstance(typ, str) or typ.lower() not in _TYPS:
            raise _bad(Reason.TOKEN_TYP)
        if "crit" in header:
            raise _bad(Reason.TOKEN_MALFORMED, "crit is not supported")
        spec, key = self._select_key(header)
        if not verify(spec, key.key, parts.signing_input, parts.signature):
            raise _bad(Reason.TOKEN_SIGNATURE)
        try:
            claims = decode_segment(parts.payload_b64)
        except MalformedJWS:
            raise _bad(Reason.TOKEN_MALFORMED, "payload") from None
        issuer = _nonempty_str(claims, "iss")
        if issuer != policy.issuer:
            raise _bad(Reason.TOKEN_ISSUER)
        audience = _audience(claims)
        if not any(aud in policy.audiences for aud in audience):
            raise _bad(Reason.TOKEN_AUDIENCE)
        exp = _number(claims, "exp", required=True)
        assert exp is not None  # noqa: S101 -- required=True never returns None
        nbf = _number(claims, "nbf", required=False)
        _number(claims, "iat", required=True)
        subject = _nonempty_str(claims, "sub")
        client_id = _nonempty_str(claims, "client_id")
        _nonempty_str(claims, "jti")
        scope = claims.get("scope")
        if scope is not None and not isinstance(scope, str):
            raise _bad(Reason.TOKEN_CLAIM_INVALID, "scope")
        self._check_times(exp, nbf, now)
        binding = binding_from_cnf(claims.get("cnf"))
        return VerifiedAccessToken(
            issuer=issuer,
            subject=subject,
            client_id=client_id,
            audience=audience,
            scopes=frozenset(scope.split()) if scope else frozenset(),
            expires_at=exp,
            not_before=nbf,
            binding=binding,
            token_sha256=digest,
            claims=MappingProxyType(claims),
        )


def _key_table(
    keys: Mapping[str, PublicKey] | Mapping[str, Any],
) -> dict[str, tuple[str | None, PublicKey]]:
    table: dict[str, tuple[str | None, PublicKey]] = {}
    if "keys" in keys and isinstance(keys["keys"], list):
        for jwk in keys["keys"]:
            if not isinstance(jwk, Mapping):
                raise ConfigurationError("JWKS entries must be objects")
            if jwk.get("use", "sig") != "sig":
                continue
            kid = jwk.get("kid")
            alg = jwk.get("alg")
            if not isinstance(kid, str) or not kid or kid in table:
                raise ConfigurationError("every JWKS key needs a unique kid")
            if alg is not None and alg_spec(alg) is None:
                raise ConfigurationError(f"JWKS key {kid!r} names an unsupported alg")
            table[kid] = (alg, PublicKey.from_jwk(jwk))
    else:
        for kid, key in keys.items():
            if not isinstance(key, PublicKey):
                raise ConfigurationError("keys must map kid to PublicKey, or be a JWKS")
            table[kid] = (None, key)
    if not table:
        raise ConfigurationError("no verification keys")
    return table


def issue_access_token(
    key: SigningKey,
    *,
    issuer: str,
    subject: str,
    audience: str | Sequence[str],
    client_id: str,
    now: int,
    ttl: int,
    jti: str,
    scope: Iterable[str] | None = None,
    jkt: str | None = None,
    x5t_s256: str | None = None,
    extra_claims: Mapping[str, Any] | None = None,
) -> str:
    """Issue an RFC 9068 access token signed by ``key`` (header ``typ: at+jwt``, ``kid``).

    ``jkt`` binds the token to a DPoP key (RFC 9449 §6.1), ``x5t_s256`` to a client certificate
    (RFC 8705 §3.1); at most one of them.

    Raises:
        ValueError: both bindings, a non-positive ``ttl``, or extra claims that would override
            a registered claim.
    """
    if jkt is not None and x5t_s256 is not None:
        raise ValueError("a token is bound to a DPoP key or a certificate, not both")
    if ttl <= 0:
        raise ValueError("ttl must be positive")
    claims: dict[str, Any] = dict(extra_claims or {})
    registered = {"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope", "cnf", "nbf"}
    if registered & claims.keys():
        raise ValueError("extra_claims must not set registered claims")
    claims.update(
        iss=issuer,
        sub=subject,
        aud=audience if isinstance(audience, str) else list(audience),
        exp=now + ttl,
        iat=now,
        jti=jti,
        client_id=client_id,
    )
    scopes = list(scope) if scope is not None else []
    if scopes:
        claims["scope"] = " ".join(scopes)
    if jkt is not None:
        claims["cnf"] = {"jkt": jkt}
    elif x5t_s256 is not None:
        claims["cnf"] = {"x5t#S256": x5t_s256}
    return sign_compact({"typ": "at+jwt", "kid": key.kid}, claims, key)
