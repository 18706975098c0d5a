"""Verifying DPoP proofs: RFC 9449 §4.3, every step, in one place.

The RFC's checks, numbered as in §4.3 and labelled in :meth:`DPoPVerifier.verify`:

 (1) exactly one ``DPoP`` header field;
 (2) its value is one well-formed compact JWS (size limit first, strict base64url and JSON);
 (3) the required claims ``jti``, ``htm``, ``htu``, ``iat`` are present and well typed (``ath`` when
     an access token is presented);
 (4) ``typ`` is ``dpop+jwt``;
 (5) ``alg`` is an asymmetric algorithm on the allow list (never ``none``, never a MAC);
 (6) the signature verifies with the ``jwk`` of the header;
 (7) the ``jwk`` holds no private key;
 (8) ``htm`` equals the request method (case-sensitive);
 (9) ``htu`` equals the request URI, after RFC 3986 normalisation, ignoring query and fragment;
(10) the ``nonce`` is one this server issued, when nonces are in use;
(11) ``iat`` lies in the acceptance window;
(12) ``ath`` is the hash of the presented token and, for a bound token, the proof key's thumbprint
     is its ``cnf.jkt``.

The checks run cheapest first (syntax, header rules, signature, claims, binding, nonce). The replay
check (§11.1) is not done here: the result carries the replay key and its expiry, and the caller
spends the ``jti`` last with :func:`proofbound.replay.record_proof`, so an invalid request never
burns a valid ``jti``.

The typ comparison follows RFC 7515 §4.1.9: case-insensitive, ``application/`` prefix optional.
A ``crit`` header is refused: proofbound understands no critical extension (RFC 7515 §4.1.11).
"""

from __future__ import annotations

import hmac
import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, NamedTuple

from proofbound.access_token import AccessTokenVerifier, VerifiedAccessToken
from proofbound.access_token import _log_rejection as _log_token_rejection
from proofbound.binding import Binding, check_binding
from proofbound.dpop.htu import htu_matches
from proofbound.dpop.nonce import NonceSource
from proofbound.dpop.proof import access_token_hash
from proofbound.errors import (
    ConfigurationError,
    InvalidDPoPProof,
    InvalidKey,
    InvalidToken,
    Reason,
    UseDPoPNonce,
)
from proofbound.jwk.algorithms import DEFAULT_PROOF_ALGS, alg_spec, validate_allow_list
from proofbound.jwk.keys import has_private_members, public_key_from_jwk
from proofbound.jwk.signatures import Verifier, prepare_verifier
from proofbound.jwk.thumbprint import jwk_thumbprint
from proofbound.jws import CompactParts, MalformedJWS, decode_segment, split_compact
from proofbound.replay.base import replay_key_from_prefix, replay_key_prefix
from proofbound.types import JwsAlg, Thumbprint

__all__ = ["DPoPVerifier", "ProofPolicy", "VerifiedProof", "verify_proof"]

_log: Final = logging.getLogger("proofbound.dpop")
_TYPS: Final = frozenset({"dpop+jwt", "application/dpop+jwt"})
_MAX_WINDOW: Final = 300  # RFC 9449 §11.1: seconds to minutes, not longer


@dataclass(frozen=True, slots=True, kw_only=True)
class ProofPolicy:
    """What a server accepts in a DPoP proof. Secure defaults; validated at construction.

    Attributes:
        algorithms: the JWS algorithms accepted for proofs (RFC 9449 §4.3 step 5).
        iat_window: seconds a proof stays acceptable after its ``iat`` (§11.1). 1..300.
        future_skew: seconds an ``iat`` may lie in the future (client clock ahead). 0..300.
        max_proof_bytes: the longest ``DPoP`` header value read at all.
        max_jti_length: the longest ``jti`` accepted (§11.1: needlessly large values refused).
    """

    algorithms: Sequence[JwsAlg] = DEFAULT_PROOF_ALGS
    iat_window: int = 60
    future_skew: int = 5
    max_proof_bytes: int = 8192
    max_jti_length: int = 256

    def __post_init__(self) -> None:
        object.__setattr__(self, "algorithms", validate_allow_list(self.algorithms))
        if not 1 <= self.iat_window <= _MAX_WINDOW:
            raise ConfigurationError(f"iat_window must be within 1..{_MAX_WINDOW} seconds")
        if not 0 <= self.future_skew <= _MAX_WINDOW:
            raise ConfigurationError(f"future_skew must be within 0..{_MAX_WINDOW} seconds")
        if not 512 <= self.max_proof_bytes <= 65536:
            raise ConfigurationError("max_proof_bytes must be within 512..65536")
        if not 16 <= self.max_jti_length <= 4096:
            raise ConfigurationError("max_jti_length must be within 16..4096")


class VerifiedProof(NamedTuple):
    """A proof that passed every §4.3 check except the replay record.

    ``replay_key`` and ``replay_expires_at`` are what the caller stores atomically (last).
    (A NamedTuple: immutable and cheap to build on the hot path.)
    """

    jkt: Thumbprint
    jti: str
    htm: str
    htu: str
    iat: int | float
    nonce: str | None
    replay_key: bytes
    replay_expires_at: int
    claims: Mapping[str, Any]

    def __repr__(self) -> str:
        return f"VerifiedProof(jkt={self.jkt[:8]!r}…, htm={self.htm!r})"


@dataclass(frozen=True, slots=True)
class _HeaderEntry:
    check: Verifier  # signature check for this exact (alg, jwk), fit decided once
    jkt: Thumbprint
    replay_prefix: bytes


class _Parsed:
    """A proof that is one well-formed JWS with an accepted header; signature not yet checked."""

    __slots__ = ("cached", "claims", "entry", "parts")

    def __init__(
        self, parts: CompactParts, entry: _HeaderEntry, cached: bool, claims: dict[str, Any]
    ) -> None:
        self.parts: Final = parts
        self.entry: Final = entry
        self.cached: Final = cached  # header already in the key cache
        self.claims: Final = claims


def _log_rejection(exc: InvalidDPoPProof | UseDPoPNonce) -> None:
    # Reason and private detail only: never the proof, token or key (DESIGN.md).
    _log.info("DPoP proof rejected: %s", exc.diagnostics())


def _reject(reason: Reason, detail: str = "") -> InvalidDPoPProof:
    return InvalidDPoPProof(reason, detail=detail)


def _single_value(values: str | Sequence[str] | None) -> str:
    """(1) Exactly one DPoP field with one value; a comma means fields were combined."""
    if values is None:
        raise _reject(Reason.PROOF_MISSING)
    if not isinstance(values, str):
        if len(values) == 0:
            raise _reject(Reason.PROOF_MISSING)
        if len(values) > 1:
            raise _reject(Reason.PROOF_MULTIPLE)
        values = values[0]
    value = values.strip(" \t")
    if not value:
        raise _reject(Reason.PROOF_MISSING, "empty DPoP header")
    if "," in value:
        raise _reject(Reason.PROOF_MULTIPLE, "comma in DPoP header")
    return value


def _token_hash(access_token: str) -> str:
    # A token that is not ASCII cannot match any ath: return a non-ASCII value, which the ath
    # comparison refuses before comparing (so no proof can ever carry it).
    try:
        return access_token_hash(access_token)
    except ValueError:
        return "\u00ff"


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_NUMBERS: Final = (int, float)  # JSON numbers; bool is its own type, so never one of these


class DPoPVerifier:
    """Verifies DPoP proofs under one :class:`ProofPolicy`.

    Proof headers repeat for every request of a client (same ``typ``, ``alg`` and ``jwk``), so the
    verifier keeps a bounded cache from the exact header segment to its imported key and
    thumbprint. Only headers whose signature verified enter it; a hit skips JSON parsing, key
    import and hashing but never the signature check.

    Args:
        policy: accepted algorithms, time window and limits.
        nonces: the nonce source of this server (RFC 9449 §8/§9), if it uses nonces.
        key_cache_size: how many distinct proof headers are remembered (0 disables the cache).
    """

    __slots__ = ("_cache", "_cache_size", "_nonces", "policy")

    def __init__(
        self,
        policy: ProofPolicy | None = None,
        *,
        nonces: NonceSource | None = None,
        key_cache_size: int = 1024,
    ) -> None:
        if key_cache_size < 0:
            raise ConfigurationError("key_cache_size must not be negative")
        self.policy: Final = policy if policy is not None else ProofPolicy()
        self._nonces = nonces
        self._cache: OrderedDict[str, _HeaderEntry] = OrderedDict()
        self._cache_size = key_cache_size

    def _header(self, header_b64: str) -> _HeaderEntry:
        """Steps (4), (5), (7) and the key import, for a header not in the cache."""
        try:
            header = decode_segment(header_b64)
        except MalformedJWS:
            raise _reject(Reason.PROOF_MALFORMED, "header is not a JSON object") from None
        # (4) typ
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in _TYPS:
            raise _reject(Reason.PROOF_TYP)
        # (5) alg: on the allow list and known to the registry; never none or HMAC
        alg = header.get("alg")
        spec = alg_spec(alg)
        if spec is None or spec.name not in self.policy.algorithms:
            raise _reject(Reason.PROOF_ALG)
        if "crit" in header:
            raise _reject(Reason.PROOF_CRIT)
        jwk = header.get("jwk")
        if not isinstance(jwk, dict):
            raise _reject(Reason.PROOF_JWK_INVALID, "jwk header missing or not an object")
        # (7) the jwk must not contain a private key
        if has_private_members(jwk):
            raise _reject(Reason.PROOF_PRIVATE_JWK)
        try:
            key = public_key_from_jwk(jwk, spec)
            jkt = jwk_thumbprint(jwk)
            check = prepare_verifier(spec, key)
        except (InvalidKey, TypeError) as exc:
            detail = exc.detail if isinstance(exc, InvalidKey) else "key does not fit alg"
            raise _reject(Reason.PROOF_JWK_INVALID, detail) from None
        return _HeaderEntry(check, jkt, replay_key_prefix(jkt))

    def verify(
        self,
        dpop: str | Sequence[str] | None,
        *,
        method: str,
        uri: str,
        now: int,
        access_token: str | VerifiedAccessToken | None = None,
        binding: Binding | None = None,
        require_nonce: bool | None = None,
    ) -> VerifiedProof:
        """Check a DPoP proof for one request (RFC 9449 §4.3 steps 1-12).

        Args:
            dpop: every value of the request's ``DPoP`` header field (a list), or the one value.
            method: the request method as received.
            uri: the request's target URI as the server is reached (public origin + path).
            now: the current time, seconds since the epoch.
            access_token: the presented access token (resource requests): ``ath`` is required.
                A :class:`~proofbound.access_token.VerifiedAccessToken` also supplies its
                binding and its already computed hash.
            binding: the token's binding; a DPoP binding must name the proof key (step 12).
            require_nonce: whether a nonce is required; by default, whenever the verifier has
                a nonce source.

        Returns:
            The verified proof, with the replay key the caller must record last.

        Raises:
            InvalidDPoPProof: any failed check, with its :class:`Reason`.
            UseDPoPNonce: nonce missing or not valid; carries a fresh nonce.
        """
        ath: str | None = None
        if access_token is not None:
            if isinstance(access_token, str):
                ath = _token_hash(access_token)
            else:
                ath = access_token.ath
                binding = access_token.binding if binding is None else binding
        try:
            parsed = self._prepare(dpop)
            self._check_signature(parsed)
            return self._claims(parsed, method, uri, now, ath, binding, require_nonce)
        except (InvalidDPoPProof, UseDPoPNonce) as exc:
            _log_rejection(exc)
            raise

    def verify_with_token(
        self,
        dpop: str | Sequence[str] | None,
        access_token: str,
        tokens: AccessTokenVerifier,
        *,
        method: str,
        uri: str,
        now: int,
        require_nonce: bool | None = None,
    ) -> tuple[VerifiedAccessToken, VerifiedProof]:
        """Check a resource request: the DPoP proof and the access token it presents.

        Order: the proof's syntax, header and signature (steps 1, 2, 4-7); then the whole access
        token with ``tokens``; then the proof's claims against that token (steps 3, 8-12: ``ath``
        and the ``cnf.jkt`` binding) and the nonce. Both signatures are checked before either
        payload is read, and the two signature checks run back to back, which keeps the hot
        path fast. A request whose proof and token are both bad is refused for the proof.

        Returns:
            The verified token and proof; the caller records the proof's replay key last.

        Raises:
            InvalidDPoPProof, UseDPoPNonce: the proof fails (see :meth:`verify`).
            InvalidToken: the access token fails (see ``AccessTokenVerifier.verify``).
        """
        try:
            parsed = self._prepare(dpop)
            started = tokens._begin(access_token, now)
            self._check_signature(parsed)
            token = (
                started
                if isinstance(started, VerifiedAccessToken)
                else tokens._complete(started, now)
            )
            proof = self._claims(parsed, method, uri, now, token.ath, token.binding, require_nonce)
        except (InvalidDPoPProof, UseDPoPNonce) as exc:
            _log_rejection(exc)
            raise
        except InvalidToken as exc:
            _log_token_rejection(exc)
            raise
        return token, proof

    def _check_signature(self, parsed: _Parsed) -> None:
        """(6) the signature with the header's jwk; a new header enters the cache only now."""
        parts, entry = parsed.parts, parsed.entry
        if not entry.check(parts.signing_input, parts.signature):
            raise _reject(Reason.PROOF_SIGNATURE)
        if not parsed.cached and self._cache_size:
            self._cache[parts.header_b64] = entry
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def _prepare(self, dpop: str | Sequence[str] | None) -> _Parsed:
        """Steps (1), (2), (4), (5), (7): one well-formed JWS, its accepted header and key.

        The payload is parsed here, before the signature: being valid JSON is part of a
        well-formed JWT (step 2), and a proof's signature authenticates nothing about who made
        it (anyone can sign with their own key), so reading it first exposes nothing more.
        Its claims are only judged after the signature (:meth:`_claims`).
        """
        policy = self.policy
        # (1) one DPoP header
        token = _single_value(dpop)
        if len(token) > policy.max_proof_bytes:
            raise _reject(Reason.PROOF_TOO_LARGE)
        # (2) one compact JWS, canonical base64url segments
        try:
            parts = split_compact(token, max_bytes=policy.max_proof_bytes)
        except MalformedJWS as exc:
            raise _reject(Reason.PROOF_MALFORMED, str(exc)) from None
        # (4), (5), (7) header rules and key import (cached per exact header)
        entry = self._cache.get(parts.header_b64)
        cached = entry is not None
        if entry is None:
            entry = self._header(parts.header_b64)
        # (2) the payload is one strict JSON object
        try:
            claims = decode_segment(parts.payload_b64)
        except MalformedJWS:
            raise _reject(Reason.PROOF_MALFORMED, "payload is not a JSON object") from None
        return _Parsed(parts, entry, cached, claims)

    def _claims(
        self,
        parsed: _Parsed,
        method: str,
        uri: str,
        now: int,
        expected_ath: str | None,
        binding: Binding | None,
        require_nonce: bool | None,
    ) -> VerifiedProof:
        """Steps (3), (8)-(12) and the nonce, for a proof whose signature verified."""
        policy = self.policy
        claims, entry = parsed.claims, parsed.entry
        # (3) required claims, well typed (JSON gives exact types: type() is enough)
        get = claims.get
        jti: Any = get("jti")
        htm: Any = get("htm")
        htu: Any = get("htu")
        iat: Any = get("iat")
        if jti is None or htm is None or htu is None or iat is None:
            raise _reject(Reason.PROOF_CLAIM_MISSING)
        if type(jti) is not str or not 0 < len(jti) <= policy.max_jti_length:
            raise _reject(Reason.PROOF_CLAIM_INVALID, "jti")
        if not jti.isascii() and not _is_utf8(jti):  # lone surrogates cannot be hashed
            raise _reject(Reason.PROOF_CLAIM_INVALID, "jti is not valid Unicode")
        if type(htm) is not str or type(htu) is not str or type(iat) not in _NUMBERS:
            raise _reject(Reason.PROOF_CLAIM_INVALID, "htm, htu or iat")
        nonce: Any = get("nonce")
        if nonce is not None and type(nonce) is not str:
            raise _reject(Reason.PROOF_CLAIM_INVALID, "nonce")
        # (8) htm: method tokens are case-sensitive (RFC 9110 §9.1)
        if htm != method:
            raise _reject(Reason.HTM_MISMATCH)
        # (9) htu: RFC 3986 §6.2.2/§6.2.3 normal forms, query and fragment ignored
        if not htu_matches(htu, uri):
            raise _reject(Reason.HTU_MISMATCH)
        # (11) iat inside [now - window, now + skew]
        if iat < now - policy.iat_window:
            raise _reject(Reason.IAT_TOO_OLD)
        if iat > now + policy.future_skew:
            raise _reject(Reason.IAT_IN_FUTURE)
        # (12) ath for the presented token, and the token's key binding
        if expected_ath is not None:
            ath: Any = get("ath")
            if ath is None:
                raise _reject(Reason.PROOF_CLAIM_MISSING, "ath")
            if type(ath) is not str:
                raise _reject(Reason.PROOF_CLAIM_INVALID, "ath")
            # compare_digest takes str only when ASCII; anything else cannot match anyway.
            if (
                not ath.isascii()
                or not expected_ath.isascii()
                or not hmac.compare_digest(ath, expected_ath)
            ):
                raise _reject(Reason.ATH_MISMATCH)
        if binding is not None and binding.kind == "dpop":
            check_binding(binding, proof_jkt=entry.jkt)
        # (10) nonce, when this server issues them (after the rest: a retry must be worth it)
        if self._nonces is not None or require_nonce:
            self._check_nonce(nonce, now, require_nonce)
        return VerifiedProof(
            entry.jkt,
            jti,
            htm,
            htu,
            iat,
            nonce,
            replay_key_from_prefix(entry.replay_prefix, jti),
            # The jti must be remembered as long as the proof could be accepted (§11.1).
            int(iat) + policy.iat_window + 1,
            MappingProxyType(claims),
        )

    def _check_nonce(self, nonce: str | None, now: int, require_nonce: bool | None) -> None:
        source = self._nonces
        if source is None:
            if require_nonce:
                raise ConfigurationError("require_nonce needs a nonce source")
            return
        required = True if require_nonce is None else require_nonce
        if nonce is None:
            if required:
                raise UseDPoPNonce(Reason.NONCE_MISSING, nonce=source.issue(now))
            return
        # A nonce that is present is always checked, required or not (fail closed).
        if not source.is_valid(nonce, now):
            raise UseDPoPNonce(Reason.NONCE_INVALID, nonce=source.issue(now))


def verify_proof(
    dpop: str | Sequence[str] | None,
    *,
    method: str,
    uri: str,
    now: int,
    policy: ProofPolicy | None = None,
    access_token: str | VerifiedAccessToken | None = None,
    binding: Binding | None = None,
    nonces: NonceSource | None = None,
    require_nonce: bool | None = None,
) -> VerifiedProof:
    """Verify one proof with a one-off :class:`DPoPVerifier` (no key cache).

    Servers should keep one :class:`DPoPVerifier`; see :meth:`DPoPVerifier.verify` for the checks.
    """
    return DPoPVerifier(policy, nonces=nonces, key_cache_size=0).verify(
        dpop,
        method=method,
        uri=uri,
        now=now,
        access_token=access_token,
        binding=binding,
        require_nonce=require_nonce,
    )
