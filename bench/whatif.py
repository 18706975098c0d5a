"""Prototypes of the hot-path changes suggested for ``src/`` (measured by ``bench.breakdown``).

Nothing here is used by ``make bench``. Each function keeps the strictness of the proofbound code it
stands for (canonical base64url, strict JSON with duplicate-name refusal, the same checks in the
same order) and only changes how the work is done, so ``python -m bench.breakdown --whatif`` can
show what each suggestion saves, alone and all together, on the same inputs and the same machine.
The end-to-end prototype passes the same accept/refuse sanity cases as proofbound.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from proofbound import (
    AccessTokenVerifier,
    Binding,
    DPoPVerifier,
    InvalidDPoPProof,
    InvalidToken,
    Reason,
    binding_from_cnf,
    check_binding,
)
from proofbound._internal.b64 import b64url_encode
from proofbound._internal.strict_json import StrictJSONError
from proofbound.dpop.htu import htu_matches
from proofbound.dpop.verify import _single_value
from proofbound.jwk.algorithms import AlgSpec
from proofbound.jwk.signatures import PublicKeyObj
from proofbound.replay.base import _LABEL as _REPLAY_LABEL
from proofbound.replay.base import _part

__all__ = [
    "FastProofVerifier",
    "FastTokenVerifier",
    "b64url_decode_fast",
    "decode_segment_fast",
    "loads_object_fast",
    "prepared_verifier",
    "split_fast",
]

# -- base64url: one C call in strict mode instead of regex + base64's Python wrappers -----------

_TO_STANDARD: Final = bytes.maketrans(b"-_", b"+/")
_PAD_BYTES: Final = (b"", b"", b"==", b"=")
_LAST_OK_MOD2: Final = frozenset("AQgw")
_LAST_OK_MOD3: Final = frozenset("AEIMQUYcgkosw048")


def b64url_decode_fast(text: str) -> bytes:
    """Canonical unpadded base64url, as strict as ``proofbound._internal.b64.b64url_decode``.

    ``strict_mode`` refuses every character outside the standard alphabet; ``+``, ``/`` and
    ``=`` in the input are refused first (they are not base64url), the unused low bits of the
    last character must be zero, and a length of 1 mod 4 is impossible.
    """
    rem = len(text) % 4
    if rem == 1 or "+" in text or "/" in text or "=" in text:
        raise ValueError("not canonical base64url")
    if (rem == 2 and text[-1] not in _LAST_OK_MOD2) or (rem == 3 and text[-1] not in _LAST_OK_MOD3):
        raise ValueError("not canonical base64url")
    try:
        raw = text.encode("ascii").translate(_TO_STANDARD)
        return binascii.a2b_base64(raw + _PAD_BYTES[rem], strict_mode=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError("not canonical base64url") from None


# -- strict JSON: one decoder built once, instead of a JSONDecoder per json.loads(**hooks) ------


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise StrictJSONError("duplicate member name")
    return obj


def _no_constant(name: str) -> Any:
    raise StrictJSONError("non-finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise StrictJSONError("non-finite number")
    return value


_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=_pairs, parse_constant=_no_constant, parse_float=_finite_float
)
_SCAN: Final = _DECODER.scan_once  # type: ignore[attr-defined]  # the C scanner, same hooks


def loads_object_fast(data: bytes, *, max_bytes: int, max_depth: int = 16) -> dict[str, Any]:
    """``loads_object`` with a module-level decoder (same limits, same refusals)."""
    if len(data) > max_bytes:
        raise StrictJSONError("too large")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StrictJSONError("not UTF-8") from exc
    if text.count("{") + text.count("[") > max_depth:
        # The real code then strips strings and counts nesting; the fast path above covers
        # every proof and token of the benchmark, so the prototype simply refuses here.
        raise StrictJSONError("nested too deeply (prototype: slow path not implemented)")
    try:
        # Compact JSON (every JWS we make and nearly every one we get) starts with "{" and ends
        # at the last character: scan it directly; anything else takes the full decode path.
        value, end = _SCAN(text, 0) if text[:1] == "{" else (None, -1)
        if end != len(text):
            value = _DECODER.decode(text)
    except StopIteration as exc:
        raise StrictJSONError("not JSON") from exc
    except StrictJSONError:
        raise
    except (ValueError, RecursionError) as exc:
        raise StrictJSONError("not JSON") from exc
    if not isinstance(value, dict):
        raise StrictJSONError("not a JSON object")
    return value


def decode_segment_fast(segment: str) -> dict[str, Any]:
    """``decode_segment`` over the two functions above."""
    try:
        return loads_object_fast(b64url_decode_fast(segment), max_bytes=16 * 1024)
    except ValueError:  # StrictJSONError and binascii.Error are ValueErrors
        raise ValueError("segment is not a strict JSON object") from None


# -- compact JWS: a plain tuple, the signing input sliced from the token -------------------------


class Parts(NamedTuple):
    """The same four values as ``proofbound.jws.CompactParts``, as a tuple."""

    header_b64: str
    payload_b64: str
    signing_input: bytes
    signature: bytes


def split_fast(token: str, *, max_bytes: int) -> Parts:
    """``split_compact`` with the same checks."""
    if len(token) > max_bytes:
        raise ValueError("too large")
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not three segments")
    header_b64, payload_b64, sig_b64 = parts
    if not header_b64 or not payload_b64 or not sig_b64:
        raise ValueError("empty segment")
    signature = b64url_decode_fast(sig_b64)
    signing_input = token[: len(token) - len(sig_b64) - 1].encode("ascii")
    return Parts(header_b64, payload_b64, signing_input, signature)


# -- signatures: decide everything about the key once, at import / cache-insert time ------------

Verify = Callable[[bytes, bytes], bool]


def prepared_verifier(spec: AlgSpec, key: PublicKeyObj) -> Verify:
    """A ``verify(data, signature) -> bool`` for one (algorithm, key), checks done up front.

    The key/algorithm fit (type, curve) is checked here once; per call remain the signature
    length, the JOSE -> DER conversion and the ``cryptography`` call with a prebuilt ECDSA object.
    """
    if spec.family == "EC":
        if not isinstance(key, ec.EllipticCurvePublicKey) or spec.hash is None:
            raise TypeError("key does not fit the algorithm")
        n = spec.coord_bytes
        size = 2 * n
        algorithm = ec.ECDSA(spec.hash())
        ec_verify = key.verify

        def verify_ec(data: bytes, signature: bytes) -> bool:
            if len(signature) != size:
                return False
            der = encode_dss_signature(
                int.from_bytes(signature[:n], "big"), int.from_bytes(signature[n:], "big")
            )
            try:
                ec_verify(der, data, algorithm)
            except InvalidSignature:
                return False
            return True

        return verify_ec
    if spec.family == "OKP":
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise TypeError("key does not fit the algorithm")
        ed_verify = key.verify

        def verify_ed(data: bytes, signature: bytes) -> bool:
            try:
                ed_verify(signature, data)
            except InvalidSignature:
                return False
            return True

        return verify_ed
    raise TypeError("prototype covers EC and OKP only")


# -- results as NamedTuples (a frozen slots dataclass pays object.__setattr__ per field) --------


class FastVerifiedToken(NamedTuple):
    """The fields of ``VerifiedAccessToken``, plus the ``ath`` computed once."""

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


class FastVerifiedProof(NamedTuple):
    """The fields of ``VerifiedProof``."""

    jkt: str
    jti: str
    htm: str
    htu: str
    iat: int | float
    nonce: str | None
    replay_key: bytes
    replay_expires_at: int
    claims: Mapping[str, Any]


def _bad(reason: Reason, detail: str = "") -> InvalidToken:
    return InvalidToken(reason, detail=detail)


_TOKEN_TYPS: Final = frozenset({"at+jwt", "application/at+jwt"})


class FastTokenVerifier:
    """``AccessTokenVerifier`` with the suggestions applied; the same checks, in the same order.

    Adds a bounded cache from the exact header segment to its prepared verifier (the header of
    an issuer's tokens repeats just like a client's proof header), so a known header costs a dict
    lookup instead of a JSON parse, the typ/alg/kid checks and the key lookup.
    """

    def __init__(self, base: AccessTokenVerifier, *, cache_size: int = 0) -> None:
        self.base = base  # policy, key table, _select_key and _check_times are reused as is
        self.policy = base.policy
        self._headers: dict[str, Verify] = {}
        self._cache: dict[bytes, FastVerifiedToken] = {}
        self._cache_size = cache_size

    def _header(self, header_b64: str) -> Verify:
        policy = self.policy
        try:
            header = decode_segment_fast(header_b64)
        except ValueError:
            raise _bad(Reason.TOKEN_MALFORMED, "header") from None
        typ = header.get("typ")
        if typ is None:
            if policy.strict_typ:
                raise _bad(Reason.TOKEN_TYP, "typ missing")
        elif not isinstance(typ, str) or typ.lower() not in _TOKEN_TYPS:
            raise _bad(Reason.TOKEN_TYP)
        if "crit" in header:
            raise _bad(Reason.TOKEN_MALFORMED, "crit is not supported")
        spec, key = self.base._select_key(header)
        return prepared_verifier(spec, key.key)

    def verify(self, token: str, *, now: int) -> FastVerifiedToken:
        """Same contract as ``AccessTokenVerifier.verify``."""
        policy = self.policy
        if len(token) > policy.max_token_bytes:
            raise _bad(Reason.TOKEN_TOO_LARGE)
        try:
            digest = hashlib.sha256(token.encode("ascii")).digest()
        except UnicodeEncodeError:
            raise _bad(Reason.TOKEN_MALFORMED, "not ASCII") from None
        hit = self._cache.get(digest)
        if hit is not None:
            self.base._check_times(hit.expires_at, hit.not_before, now)
            return hit
        verified = self._verify_uncached(token, digest, now)
        if self._cache_size:
            if len(self._cache) >= self._cache_size:
                del self._cache[next(iter(self._cache))]
            self._cache[digest] = verified
        return verified

    def _verify_uncached(self, token: str, digest: bytes, now: int) -> FastVerifiedToken:
        policy = self.policy
        try:
            header_b64, payload_b64, signing_input, signature = split_fast(
                token, max_bytes=policy.max_token_bytes
            )
        except ValueError as exc:
            raise _bad(Reason.TOKEN_MALFORMED, str(exc)) from None
        check = self._headers.get(header_b64)
        known = check is not None
        if check is None:
            check = self._header(header_b64)
        if not check(signing_input, signature):
            raise _bad(Reason.TOKEN_SIGNATURE)
        if not known and len(self._headers) < 64:
            self._headers[header_b64] = check
        try:
            claims = decode_segment_fast(payload_b64)
        except ValueError:
            raise _bad(Reason.TOKEN_MALFORMED, "payload") from None
        get = claims.get
        issuer = get("iss")
        if not isinstance(issuer, str) or not issuer:
            raise _bad(Reason.TOKEN_CLAIM_MISSING if issuer is None else Reason.TOKEN_CLAIM_INVALID)
        if issuer != policy.issuer:
            raise _bad(Reason.TOKEN_ISSUER)
        aud = get("aud")
        audience: tuple[str, ...]
        if isinstance(aud, str) and aud:
            audience = (aud,)
        elif isinstance(aud, list) and aud and all(isinstance(v, str) and v for v in aud):
            audience = tuple(aud)
        else:
            raise _bad(Reason.TOKEN_CLAIM_MISSING if aud is None else Reason.TOKEN_CLAIM_INVALID)
        accepted = policy.audiences
        if not any(a in accepted for a in audience):
            raise _bad(Reason.TOKEN_AUDIENCE)
        exp: Any = get("exp")
        nbf: Any = get("nbf")
        iat: Any = get("iat")
        for value, required in ((exp, True), (nbf, False), (iat, True)):
            if value is None:
                if required:
                    raise _bad(Reason.TOKEN_CLAIM_MISSING)
            elif type(value) not in (int, float):
                raise _bad(Reason.TOKEN_CLAIM_INVALID)
        subject: Any = get("sub")
        client_id: Any = get("client_id")
        jti: Any = get("jti")
        for value in (subject, client_id, jti):
            if not isinstance(value, str) or not value:
                raise _bad(
                    Reason.TOKEN_CLAIM_MISSING if value is None else Reason.TOKEN_CLAIM_INVALID
                )
        scope = get("scope")
        if scope is not None and not isinstance(scope, str):
            raise _bad(Reason.TOKEN_CLAIM_INVALID, "scope")
        self.base._check_times(exp, nbf, now)
        return FastVerifiedToken(
            issuer,
            subject,
            client_id,
            audience,
            frozenset(scope.split()) if scope else frozenset(),
            exp,
            nbf,
            binding_from_cnf(get("cnf")),
            digest,
            b64url_encode(digest),
            MappingProxyType(claims),
        )


def _reject(reason: Reason, detail: str = "") -> InvalidDPoPProof:
    return InvalidDPoPProof(reason, detail=detail)


class FastProofVerifier:
    """``DPoPVerifier.verify`` with the suggestions applied (no nonce source, like the bench)."""

    def __init__(self, base: DPoPVerifier) -> None:
        self.base = base  # policy and the uncached header rules (_header) are reused as is
        self.policy = base.policy
        self._cache: dict[str, tuple[Verify, str, bytes]] = {}

    def verify(
        self,
        dpop: str | Sequence[str] | None,
        *,
        method: str,
        uri: str,
        now: int,
        access_token: str | None = None,
        ath: str | None = None,
        binding: Binding | None = None,
    ) -> FastVerifiedProof:
        """Same checks as ``DPoPVerifier.verify``; ``ath`` is the token's precomputed hash."""
        policy = self.policy
        token = _single_value(dpop)
        if len(token) > policy.max_proof_bytes:
            raise _reject(Reason.PROOF_TOO_LARGE)
        try:
            header_b64, payload_b64, signing_input, signature = split_fast(
                token, max_bytes=policy.max_proof_bytes
            )
        except ValueError as exc:
            raise _reject(Reason.PROOF_MALFORMED, str(exc)) from None
        entry = self._cache.get(header_b64)
        cached = entry is not None
        if entry is None:
            header = self.base._header(header_b64)
            prefix = _REPLAY_LABEL + _part(header.jkt)  # replay_key's first two parts, once
            entry = (prepared_verifier(header.spec, header.key), header.jkt, prefix)
        check, jkt, replay_prefix = entry
        if not check(signing_input, signature):
            raise _reject(Reason.PROOF_SIGNATURE)
        if not cached and len(self._cache) < 1024:
            self._cache[header_b64] = entry
        try:
            claims = decode_segment_fast(payload_b64)
        except ValueError:
            raise _reject(Reason.PROOF_MALFORMED, "payload is not a JSON object") from None
        get = claims.get
        jti, htm, htu, iat = get("jti"), get("htm"), get("htu"), get("iat")
        if jti is None or htm is None or htu is None or iat is None:
            raise _reject(Reason.PROOF_CLAIM_MISSING)
        if type(jti) is not str or not 0 < len(jti) <= policy.max_jti_length:
            raise _reject(Reason.PROOF_CLAIM_INVALID, "jti")
        if type(htm) is not str or type(htu) is not str or type(iat) not in (int, float):
            raise _reject(Reason.PROOF_CLAIM_INVALID, "htm, htu or iat")
        nonce = get("nonce")
        if nonce is not None and type(nonce) is not str:
            raise _reject(Reason.PROOF_CLAIM_INVALID, "nonce")
        if htm != method:
            raise _reject(Reason.HTM_MISMATCH)
        if not htu_matches(htu, uri):
            raise _reject(Reason.HTU_MISMATCH)
        if iat < now - policy.iat_window:
            raise _reject(Reason.IAT_TOO_OLD)
        if iat > now + policy.future_skew:
            raise _reject(Reason.IAT_IN_FUTURE)
        if access_token is not None:
            claimed = get("ath")
            if claimed is None:
                raise _reject(Reason.PROOF_CLAIM_MISSING, "ath")
            if type(claimed) is not str:
                raise _reject(Reason.PROOF_CLAIM_INVALID, "ath")
            if ath is None:
                ath = b64url_encode(hashlib.sha256(access_token.encode("ascii")).digest())
            if not hmac.compare_digest(claimed.encode("utf-8"), ath.encode("ascii")):
                raise _reject(Reason.ATH_MISMATCH)
        if binding is not None and binding.kind == "dpop":
            check_binding(binding, proof_jkt=jkt)
        return FastVerifiedProof(
            jkt,
            jti,
            htm,
            htu,
            iat,
            nonce,
            hashlib.sha256(replay_prefix + _part(jti)).digest(),  # == replay_key(jkt, jti)
            int(iat) + policy.iat_window + 1,
            MappingProxyType(claims),
        )
