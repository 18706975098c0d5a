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
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, NamedTuple

from proofbound._internal.b64 import b64url_encode
from proofbound.binding import Binding, binding_from_cnf
from proofbound.errors import ConfigurationError, InvalidToken, Reason
from proofbound.jwk.algorithms import (
    DEFAULT_ACCESS_TOKEN_ALGS,
    alg_spec,
    validate_allow_list,
)
from proofbound.jwk.keys import PublicKey, SigningKey
from proofbound.jwk.signatures import Verifier, prepare_verifier
from proofbound.jws import (
    CompactParts,
    MalformedJWS,
    decode_segment,
    sign_compact,
    split_compact,
)
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
_MAX_HEADERS: Final = 64  # distinct token headers remembered (one per issuer key, in practice)


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
    audiences: Sequence[str]  # a lone string is one audience; stored as a tuple
    algorithms: Sequence[JwsAlg] = DEFAULT_ACCESS_TOKEN_ALGS
    leeway: int = 0
    strict_typ: bool = True
    max_token_bytes: int = 16384

    def __post_init__(self) -> None:
        if not self.issuer:
            raise ConfigurationError("issuer is required")
        audiences: object = self.audiences
        if isinstance(audiences, str):  # a lone string is one audience, not its characters
            object.__setattr__(self, "audiences", (audiences,))
        else:
            object.__setattr__(self, "audiences", tuple(self.audiences))
        entries: tuple[object, ...] = tuple(self.audiences)
        if not entries or not all(isinstance(aud, str) and aud for aud in entries):
            raise ConfigurationError("at least one non-empty audience is required")
        object.__setattr__(self, "algorithms", validate_allow_list(self.algorithms))
        if not 0 <= self.leeway <= _MAX_LEEWAY:
            raise ConfigurationError(f"leeway must be within 0..{_MAX_LEEWAY} seconds")
        if not 1024 <= self.max_token_bytes <= 1 << 20:
            raise ConfigurationError("max_token_bytes must be within 1024..1048576")


class VerifiedAccessToken(NamedTuple):
    """A verified access token: its claims, binding and hashes (never the token itself).

    ``ath`` is the value a DPoP proof must carry for this token (RFC 9449 §4.2), computed once.
    (A NamedTuple: immutable and cheap to build on the hot path.)
    """

    issuer: str
    subject: str
    client_id: str
    audience: tuple[str, ...]
    scopes: frozenset[str]
    expires_at: int | float
    not_before: int | float | None
    binding: Binding | None
    token_sha256: bytes
    ath: str
    claims: Mapping[str, Any]

    def __repr__(self) -> str:
        return (
            f"VerifiedAccessToken(issuer={self.issuer!r}, subject={self.subject!r}, "
            f"client_id={self.client_id!r}, binding={self.binding!r})"
        )


class _Pending:
    """A token whose header is accepted and whose signature is still to be checked."""

    __slots__ = ("check", "digest", "known", "parts")

    def __init__(self, digest: bytes, parts: CompactParts, check: Verifier, known: bool) -> None:
        self.digest: Final = digest
        self.parts: Final = parts
        self.check: Final = check
        self.known: Final = known  # header already in the header cache


def _log_rejection(exc: InvalidToken) -> None:
    # Reason and private detail only: never the token (DESIGN.md).
    _log.info("access token rejected: %s", exc.diagnostics())


def _bad(reason: Reason, detail: str = "") -> InvalidToken:
    return InvalidToken(reason, detail=detail)


_NUMBERS: Final = (int, float)  # JSON numbers; bool is its own type, so never one of these
_NO_SCOPES: Final[frozenset[str]] = frozenset()
_REQUIRED: Final = ("iss", "aud", "exp", "iat", "sub", "client_id", "jti")  # RFC 9068 §2.2


def _first_missing(claims: Mapping[str, Any]) -> str:
    return next((name for name in _REQUIRED if claims.get(name) is None), "")


def _audience(aud: object) -> tuple[str, ...]:
    if type(aud) is str:
        if aud:
            return (aud,)
    elif type(aud) is list and aud and all(type(v) is str and v for v in aud):
        return tuple(aud)
    raise _bad(Reason.TOKEN_CLAIM_INVALID, "aud")


class AccessTokenVerifier:
    """Verifies RFC 9068 access tokens of one issuer, with an optional cache of verified tokens.

    Args:
        policy: issuer, audiences, algorithms and limits.
        keys: the issuer's public keys: a mapping ``kid -> PublicKey``, or a JWKS document
            (``{"keys": [...]}``). A key's ``alg``, when the JWKS names one, must match the token.
        cache_size: how many verified tokens to keep by hash until their ``exp`` (0: none).
    """

    __slots__ = ("_cache", "_cache_size", "_headers", "_keys", "policy")

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
        # Exact header segment -> signature check; filled only after a signature verified.
        self._headers: dict[str, Verifier] = {}

    def verify(self, token: str, *, now: int) -> VerifiedAccessToken:
        """Verify ``token`` at time ``now``.

        Raises:
            InvalidToken: with a ``token_*`` reason for any failed check.
        """
        try:
            started = self._begin(token, now)
            if isinstance(started, VerifiedAccessToken):
                return started
            return self._complete(started, now)
        except InvalidToken as exc:
            _log_rejection(exc)
            raise

    def _begin(self, token: str, now: int) -> VerifiedAccessToken | _Pending:
        """Everything before the signature: size, hash, cache, compact form, header.

        Returns the cached result for a token verified before (times re-checked), else the
        pending work for :meth:`_complete`.
        """
        if len(token) > self.policy.max_token_bytes:
            raise _bad(Reason.TOKEN_TOO_LARGE)
        try:
            digest = hashlib.sha256(token.encode("ascii")).digest()
        except UnicodeEncodeError:
            raise _bad(Reason.TOKEN_MALFORMED, "not ASCII") from None
        hit = self._cache.get(digest)
        if hit is not None:
            # The cache never outlives exp (nor serves before nbf): times checked every hit.
            self._check_times(hit.expires_at, hit.not_before, now)
            return hit
        try:
            parts = split_compact(token, max_bytes=self.policy.max_token_bytes)
        except MalformedJWS as exc:
            raise _bad(Reason.TOKEN_MALFORMED, str(exc)) from None
        check = self._headers.get(parts.header_b64)
        if check is not None:
            return _Pending(digest, parts, check, True)
        return _Pending(digest, parts, self._header(parts.header_b64), False)

    def _complete(self, pending: _Pending, now: int) -> VerifiedAccessToken:
        """The signature, then the claims; caches the header and the verified token."""
        parts = pending.parts
        if not pending.check(parts.signing_input, parts.signature):
            raise _bad(Reason.TOKEN_SIGNATURE)
        if not pending.known and len(self._headers) < _MAX_HEADERS:
            self._headers[parts.header_b64] = pending.check
        verified = self._claims(parts.payload_b64, pending.digest, now)
        if self._cache_size:
            if len(self._cache) >= self._cache_size:
                # Oldest insertion first: O(1), and close to expiry order (similar lifetimes).
                del self._cache[next(iter(self._cache))]
            self._cache[pending.digest] = verified
        return verified

    def _check_times(self, exp: int | float, nbf: int | float | None, now: int) -> None:
        leeway = self.policy.leeway
        if now >= exp + leeway:
            raise _bad(Reason.TOKEN_EXPIRED)
        if nbf is not None and now + leeway < nbf:
            raise _bad(Reason.TOKEN_NOT_YET_VALID)

    def _select_key(self, header: Mapping[str, Any]) -> Verifier:
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
        try:
            return prepare_verifier(spec, key.key)
        except TypeError:
            raise _bad(Reason.TOKEN_ALG, "alg does not fit the key") from None

    def _header(self, header_b64: str) -> Verifier:
        """typ, crit, alg and key selection for a header not seen before."""
        try:
            header = decode_segment(header_b64)
        except MalformedJWS:
            raise _bad(Reason.TOKEN_MALFORMED, "header") from None
        typ = header.get("typ")
        if typ is None:
            if self.policy.strict_typ:
                raise _bad(Reason.TOKEN_TYP, "typ missing")
        elif not isinstance(typ, str) or typ.lower() not in _TYPS:
            raise _bad(Reason.TOKEN_TYP)
        if "crit" in header:
            raise _bad(Reason.TOKEN_MALFORMED, "crit is not supported")
        return self._select_key(header)

    def _claims(self, payload_b64: str, digest: bytes, now: int) -> VerifiedAccessToken:
        """RFC 9068 §2.2 / §4 claim checks of a token whose signature verified."""
        policy = self.policy
        try:
            claims = decode_segment(payload_b64)
        except MalformedJWS:
            raise _bad(Reason.TOKEN_MALFORMED, "payload") from None
        # Written flat: this runs for every new token.
        get = claims.get
        iss: Any = get("iss")
        aud: Any = get("aud")
        exp: Any = get("exp")
        iat: Any = get("iat")
        sub: Any = get("sub")
        client_id: Any = get("client_id")
        jti: Any = get("jti")
        if (
            iss is None
            or aud is None
            or exp is None
            or iat is None
            or sub is None
            or client_id is None
            or jti is None
        ):
            raise _bad(Reason.TOKEN_CLAIM_MISSING, _first_missing(claims))
        if type(iss) is not str or type(sub) is not str or type(client_id) is not str:
            raise _bad(Reason.TOKEN_CLAIM_INVALID, "iss, sub or client_id")
        if type(jti) is not str or not (iss and sub and client_id and jti):
            raise _bad(Reason.TOKEN_CLAIM_INVALID, "jti, or an empty string claim")
        if type(exp) not in _NUMBERS or type(iat) not in _NUMBERS:
            raise _bad(Reason.TOKEN_CLAIM_INVALID, "exp or iat")
        nbf = get("nbf")
        if nbf is not None and type(nbf) not in _NUMBERS:
            raise _bad(Reason.TOKEN_CLAIM_INVALID, "nbf")
        scope = get("scope")
        if scope is not None and type(scope) is not str:
            raise _bad(Reason.TOKEN_CLAIM_INVALID, "scope")
        if iss != policy.issuer:
            raise _bad(Reason.TOKEN_ISSUER)
        audience = _audience(aud)
        for value in audience:
            if value in policy.audiences:
                break
        else:
            raise _bad(Reason.TOKEN_AUDIENCE)
        self._check_times(exp, nbf, now)
        return VerifiedAccessToken(
            iss,
            sub,
            client_id,
            audience,
            frozenset(scope.split()) if scope else _NO_SCOPES,
            exp,
            nbf,
            binding_from_cnf(get("cnf")),
            digest,
            b64url_encode(digest),
            MappingProxyType(claims),
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
