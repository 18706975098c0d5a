"""Shared machinery of the adversarial tables.

Every table is a module-level list ``CASES`` of :class:`Case` rows -- an id (carrying the RFC
section where meaningful), an action run against a :class:`Ctx`, and the exact exception class
and :class:`~proofbound.errors.Reason` expected -- plus, where a boundary needs one, a list
``ACCEPTED`` of positive controls. :func:`expect_rejection` runs one row: it requires exactly that
class and reason, and that neither ``str()``, ``repr()`` nor ``diagnostics()`` of the exception
contains a presented proof or token (or a long segment of one) or any private key material.

Malformed inputs are built by hand and then *signed* with a real key over the exact signing
input (:func:`sign_segments`, :func:`sign_raw`), so the only defect of a case is the one under
test.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from proofbound import (
    AccessTokenPolicy,
    AccessTokenVerifier,
    Binding,
    NonceSource,
    ProofboundError,
    ProofPolicy,
    PublicKey,
    Reason,
    SigningKey,
    VerifiedAccessToken,
    VerifiedProof,
    generate_key,
    verify_proof,
)

NOW: Final = 1_700_000_000
RS_URI: Final = "https://rs.example/resource"
ISSUER: Final = "https://as.example"
AUDIENCE: Final = "https://rs.example"

# RFC 9449 §7.2 Figure 2 / Figure 7 and §7.3 Figure 13 (spec-checklist §7.2, §7.3), unwrapped.
RFC9449_FIG2: Final = (
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNo"
    "UklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERW"
    "clUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0"
    "dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-"
    "FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
)
RFC9449_FIG2_IAT: Final = 1562262616
RFC9449_FIG7: Final = (
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNo"
    "UklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERW"
    "clUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0"
    "dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjY1Mjk2fQ.pAqut2IRDm_De6PR93S"
    "YmGBPXpwrAk90e8cP2hjiaG5QsGSuKDYW7_X620BxqhvYC8ynrrvZLTk41mSRroapUA"
)
RFC9449_FIG7_IAT: Final = 1562265296
RFC9449_TOKEN_URI: Final = "https://server.example.com/token"
RFC9449_FIG13: Final = (
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNo"
    "UklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERW"
    "clUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1"
    "IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwi"
    "YXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey7"
    "1EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA"
)
RFC9449_FIG13_IAT: Final = 1562262618
RFC9449_FIG13_URI: Final = "https://resource.example.org/protectedresource"
RFC9449_TOKEN: Final = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
RFC9449_ATH: Final = "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
RFC9449_JKT: Final = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"

# Marker for "remove this member" in header/claim overrides.
DROP: Final[Any] = object()


# --- encoding ----------------------------------------------------------------------------------


def b64(data: bytes) -> str:
    """Canonical unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str) -> bytes:
    """Decode unpadded base64url (test side, lenient)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jdump(value: Any) -> bytes:
    """Compact JSON (non-ASCII as \\u escapes, so lone surrogates can be expressed)."""
    return json.dumps(value, separators=(",", ":")).encode("ascii")


def merged(base: Mapping[str, Any], overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """``base`` updated with ``overrides``; a value of :data:`DROP` removes the member."""
    out = dict(base)
    for name, value in (overrides or {}).items():
        if value is DROP:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def sign_segments(header_seg: str, payload_seg: str, key: SigningKey) -> str:
    """Sign exactly ``header_seg.payload_seg`` (whatever its defects) and append the signature."""
    signing_input = f"{header_seg}.{payload_seg}"
    return f"{signing_input}.{b64(key.sign(signing_input.encode('utf-8')))}"


def sign_raw(header_bytes: bytes, payload_bytes: bytes, key: SigningKey) -> str:
    """Encode raw header and payload bytes canonically and sign the signing input with ``key``."""
    return sign_segments(b64(header_bytes), b64(payload_bytes), key)


def flip_bit(data: bytes, index: int, bit: int = 0) -> bytes:
    out = bytearray(data)
    out[index] ^= 1 << bit
    return bytes(out)


def with_length_mod4(segment: str, rem: int) -> str:
    """Append ``A`` until ``len(segment) % 4 == rem``."""
    while len(segment) % 4 != rem:
        segment += "A"
    return segment


_B64_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def noncanonical_tail(segment: str) -> str:
    """Set an unused low bit of the last character: decodes to the same bytes, not canonical."""
    assert len(segment) % 4 in (2, 3), "segment has no unused bits"
    index = _B64_ALPHABET.index(segment[-1])
    return segment[:-1] + _B64_ALPHABET[index | 1]


def json_with_unused_bits(value: Mapping[str, Any]) -> bytes:
    """Compact JSON of ``value`` plus trailing spaces so its base64url has unused bits."""
    data = jdump(value)
    while len(data) % 3 == 0:
        data += b" "
    return data


# --- keys --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Keyring:
    """Keys shared by the tables (RSA generation is slow: built once per session)."""

    es256: SigningKey
    es256_b: SigningKey
    es384: SigningKey
    ed: SigningKey
    ed_b: SigningKey
    ps256: SigningKey
    rs256: SigningKey  # same RSA key as ps256, signing PKCS#1 v1.5
    ps256_b: SigningKey
    rsa2047: rsa.RSAPrivateKey
    issuer: SigningKey  # the AS key, ES256, kid "as-1"
    issuer_rsa: SigningKey  # a second AS key, RS256, kid "as-rsa"
    attacker: SigningKey  # ES256, kid "attacker"

    def signing_keys(self) -> list[SigningKey]:
        return [
            self.es256,
            self.es256_b,
            self.es384,
            self.ed,
            self.ed_b,
            self.ps256,
            self.rs256,
            self.ps256_b,
            self.issuer,
            self.issuer_rsa,
            self.attacker,
        ]

    @functools.cached_property
    def secret_material(self) -> tuple[str, ...]:
        """Private members (base64url) and PEM body lines of every private key."""
        found: set[str] = set()
        for key in self.signing_keys():
            jwk = key.private_jwk()
            found.update(jwk[name] for name in ("d", "p", "q", "dp", "dq", "qi") if name in jwk)
            found.update(_pem_lines(key.private_pem()))
        numbers = self.rsa2047.private_numbers()
        found.add(b64(numbers.d.to_bytes((numbers.d.bit_length() + 7) // 8, "big")))
        found.update(
            _pem_lines(
                self.rsa2047.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        )
        return tuple(sorted(found))


def _pem_lines(pem: bytes) -> list[str]:
    return [line for line in pem.decode("ascii").splitlines() if not line.startswith("-----")]


@functools.cache
def keyring() -> Keyring:
    rsa_a = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return Keyring(
        es256=generate_key("ES256"),
        es256_b=generate_key("ES256"),
        es384=generate_key("ES384"),
        ed=generate_key("EdDSA"),
        ed_b=generate_key("EdDSA"),
        ps256=SigningKey(rsa_a, "PS256"),
        rs256=SigningKey(rsa_a, "RS256"),
        ps256_b=generate_key("PS256"),
        rsa2047=rsa.generate_private_key(public_exponent=65537, key_size=2047),  # noqa: S505 -- the 2048-bit boundary
        issuer=SigningKey(ec.generate_private_key(ec.SECP256R1()), "ES256", kid="as-1"),
        issuer_rsa=SigningKey(
            rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256", kid="as-rsa"
        ),
        attacker=SigningKey(ec.generate_private_key(ec.SECP256R1()), "ES256", kid="attacker"),
    )


def rsa_jwk(key: rsa.RSAPublicKey) -> dict[str, str]:
    """Public JWK of any RSA key (also under 2048 bits, which proofbound will not export)."""
    numbers = key.public_numbers()
    return {
        "kty": "RSA",
        "n": b64(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        "e": b64(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
    }


def pss_sign(key: rsa.RSAPrivateKey, data: bytes) -> bytes:
    """PS256 signature with cryptography directly (RFC 7518 §3.5: salt = hash length)."""
    return key.sign(
        data,
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
        hashes.SHA256(),
    )


# --- proofs and tokens -------------------------------------------------------------------------


def proof_header(key: SigningKey, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return merged({"typ": "dpop+jwt", "alg": key.alg, "jwk": key.public_key.jwk}, overrides)


def proof_claims(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return merged({"jti": "jti-0001", "htm": "GET", "htu": RS_URI, "iat": NOW}, overrides)


def token_header(key: SigningKey, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return merged({"typ": "at+jwt", "alg": key.alg, "kid": key.kid}, overrides)


def token_claims(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return merged(
        {
            "iss": ISSUER,
            "sub": "user-1",
            "aud": AUDIENCE,
            "exp": NOW + 300,
            "iat": NOW,
            "jti": "at-0001",
            "client_id": "client-1",
            "scope": "read write",
        },
        overrides,
    )


class Ctx:
    """Per-test context: the keys, and every proof or token the case has presented."""

    def __init__(self, keys: Keyring) -> None:
        self.k = keys
        self.presented: list[str] = []
        self.nonces: NonceSource | None = None  # the nonce source of the last verify()

    def record(self, *values: str | None) -> None:
        self.presented.extend(value for value in values if value)

    # proofs

    def proof(
        self,
        key: SigningKey | None = None,
        *,
        hdr: Mapping[str, Any] | None = None,
        clm: Mapping[str, Any] | None = None,
        signer: SigningKey | None = None,
    ) -> str:
        """A proof by ``key`` (ES256 A by default) with header/claim overrides."""
        key = key or self.k.es256
        value = sign_raw(jdump(proof_header(key, hdr)), jdump(proof_claims(clm)), signer or key)
        self.record(value)
        return value

    def raw(self, header: bytes, payload: bytes, key: SigningKey | None = None) -> str:
        value = sign_raw(header, payload, key or self.k.es256)
        self.record(value)
        return value

    def segs(self, header_seg: str, payload_seg: str, key: SigningKey | None = None) -> str:
        value = sign_segments(header_seg, payload_seg, key or self.k.es256)
        self.record(value)
        return value

    def verify(
        self,
        dpop: str | Sequence[str] | None,
        *,
        method: str = "GET",
        uri: str = RS_URI,
        now: int = NOW,
        policy: ProofPolicy | None = None,
        access_token: str | None = None,
        binding: Binding | None = None,
        nonces: NonceSource | None = None,
    ) -> VerifiedProof:
        if isinstance(dpop, str):
            self.record(dpop)
        elif dpop is not None:
            self.record(*dpop)
        self.record(access_token)
        self.nonces = nonces
        return verify_proof(
            dpop,
            method=method,
            uri=uri,
            now=now,
            policy=policy,
            access_token=access_token,
            binding=binding,
            nonces=nonces,
        )

    # access tokens

    def token(
        self,
        key: SigningKey | None = None,
        *,
        hdr: Mapping[str, Any] | None = None,
        clm: Mapping[str, Any] | None = None,
        signer: SigningKey | None = None,
    ) -> str:
        """An access token by the AS key (by default) with header/claim overrides."""
        key = key or self.k.issuer
        value = sign_raw(jdump(token_header(key, hdr)), jdump(token_claims(clm)), signer or key)
        self.record(value)
        return value

    def token_verifier(
        self,
        policy: AccessTokenPolicy | None = None,
        keys: Mapping[str, PublicKey] | Mapping[str, Any] | None = None,
        *,
        cache_size: int = 0,
    ) -> AccessTokenVerifier:
        return AccessTokenVerifier(
            policy or AccessTokenPolicy(issuer=ISSUER, audiences=(AUDIENCE,)),
            keys if keys is not None else {self.k.issuer.kid: self.k.issuer.public_key},
            cache_size=cache_size,
        )

    def verify_token(
        self,
        token: str,
        *,
        now: int = NOW,
        policy: AccessTokenPolicy | None = None,
        keys: Mapping[str, PublicKey] | Mapping[str, Any] | None = None,
    ) -> VerifiedAccessToken:
        self.record(token)
        return self.token_verifier(policy, keys).verify(token, now=now)


# --- tables ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One rejection: the action must raise exactly ``exc`` with exactly ``reason``."""

    id: str
    action: Callable[[Ctx], object]
    exc: type[ProofboundError]
    reason: Reason


@dataclass(frozen=True)
class Accept:
    """A positive control: the action must not raise."""

    id: str
    action: Callable[[Ctx], object]


def params(cases: Iterable[Case | Accept]) -> list[Any]:
    """``pytest.param`` per row, with the row's id; ids must be unique within a table."""
    rows = list(cases)
    ids = [row.id for row in rows]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"duplicate case ids: {duplicates}"
    return [pytest.param(row, id=row.id) for row in rows]


def _fragments(value: str) -> list[str]:
    parts = [value]
    parts += [segment for segment in value.split(".") if len(segment) >= 16]
    return parts


def assert_no_leak(err: BaseException, ctx: Ctx) -> None:
    """Neither str/repr/diagnostics nor the private detail shows a proof, token or key."""
    texts = [str(err), repr(err)]
    if isinstance(err, ProofboundError):
        texts += [err.diagnostics(), err.detail]
    secrets = [f for value in ctx.presented for f in _fragments(value)]
    secrets += list(ctx.k.secret_material)
    for text in texts:
        for secret in secrets:
            assert secret not in text, "exception text contains proof, token or key material"


def expect_rejection(case: Case, ctx: Ctx) -> ProofboundError:
    """Run ``case``; require exactly its class and reason, and no leak."""
    caught: Exception | None = None
    result: object = None
    try:
        result = case.action(ctx)
    except Exception as err:  # any class: a raw KeyError/TypeError is a finding, not a crash
        caught = err
    expected = f"{case.exc.__name__}({case.reason.value})"
    if caught is None:
        pytest.fail(f"{case.id}: accepted ({result!r}); expected {expected}")
    if type(caught) is not case.exc or not isinstance(caught, ProofboundError):
        pytest.fail(
            f"{case.id}: raised {type(caught).__name__}: {repr(caught)[:160]}; expected {expected}"
        )
    assert caught.reason is case.reason, f"{case.id}: {caught.reason.value}, expected {expected}"
    assert_no_leak(caught, ctx)
    return caught
