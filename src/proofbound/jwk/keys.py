"""Key generation, import and export (JWK and PEM) and public-only checks.

Public JWKs are imported strictly with ``cryptography`` (this is on the hot path of every DPoP
proof): members must be canonical base64url of the exact size for the curve, EC points must lie on
the curve, RSA moduli must have at least 2048 bits, and any private member makes a public import
fail. Private JWKs (files on disk, not hot) are read with ``joserfc``.

A :class:`SigningKey` never shows private material: its ``repr`` names the algorithm and the
thumbprint prefix only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc.jwk import JWKRegistry

from proofbound._internal.b64 import b64url_decode, b64url_encode
from proofbound.errors import InvalidKey
from proofbound.jwk.algorithms import MIN_RSA_BITS, AlgSpec, alg_spec
from proofbound.jwk.signatures import EC_CURVES, PrivateKeyObj, PublicKeyObj, sign
from proofbound.jwk.thumbprint import jwk_thumbprint
from proofbound.types import JwsAlg, Thumbprint

__all__ = [
    "PRIVATE_MEMBERS",
    "PublicKey",
    "SigningKey",
    "generate_key",
    "has_private_members",
    "load_private_key",
    "load_public_key",
    "public_key_from_jwk",
]

#: JWK members that carry private or symmetric key material (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})

_MAX_RSA_BITS: Final = 8192  # bounds the cost of a verify an attacker can ask for
_MAX_RSA_E_BITS: Final = 64
_CURVE_TO_JOSE: Final = {curve.name: name for name, curve in EC_CURVES.items()}
_DEFAULT_ALG_FOR_CURVE: Final[dict[str, JwsAlg]] = {
    "P-256": "ES256",
    "P-384": "ES384",
    "P-521": "ES512",
}


# Ed25519 points of small order (orders 1, 2, 4, 8), by y coordinate; the sign bit does not
# matter. With such a key a fixed signature verifies for many messages, so it proves nothing
# (RFC 8032 §5.1.7 leaves this check to the application).
_ED25519_P: Final = 2**255 - 19
_ED25519_SMALL_ORDER_Y: Final = frozenset(
    {
        0,
        1,
        _ED25519_P - 1,
        0x5FC536D880238B13933C6D305ACDFD5F098EFF289F4C345B027B2C28F95E826,
        0x7A03AC9277FDC74EC6CC392CFA53202A0F67100D760B3CBA4FD84D3D706A17C7,
    }
)


def _ed25519_weak(x: bytes) -> bool:
    y = int.from_bytes(x, "little") & ((1 << 255) - 1)
    return y >= _ED25519_P or y in _ED25519_SMALL_ORDER_Y


def has_private_members(jwk: Mapping[str, Any]) -> bool:
    """True if ``jwk`` carries any private or symmetric key member (RFC 9449 §4.3 step 7)."""
    return not PRIVATE_MEMBERS.isdisjoint(jwk.keys())


def _member(jwk: Mapping[str, Any], name: str) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise InvalidKey(f"JWK member {name!r} is missing or not a string")
    try:
        return b64url_decode(value)
    except ValueError:
        raise InvalidKey(f"JWK member {name!r} is not canonical base64url") from None


def _uint(raw: bytes, name: str) -> int:
    # RFC 7518 §6.3.1: minimum number of octets, no leading zero octet.
    if not raw or raw[0] == 0:
        raise InvalidKey(f"JWK member {name!r} is not a minimal unsigned integer")
    return int.from_bytes(raw, "big")


def public_key_from_jwk(jwk: Mapping[str, Any], spec: AlgSpec | None = None) -> PublicKeyObj:
    """Import the public key of ``jwk`` with ``cryptography``, strictly.

    With ``spec``, the key type and curve must fit that algorithm.

    Raises:
        InvalidKey: private members present, unsupported ``kty``/``crv``, wrong member sizes,
            a point not on the curve, or an RSA modulus under 2048 (or over 8192) bits.
    """
    if has_private_members(jwk):
        raise InvalidKey("a public key was expected but the JWK has private members")
    kty = jwk.get("kty")
    if spec is not None and kty != spec.kty:
        raise InvalidKey("JWK kty does not fit the algorithm")
    crv = jwk.get("crv")
    if kty == "EC":
        curve = EC_CURVES.get(crv) if isinstance(crv, str) else None
        if curve is None or (spec is not None and crv != spec.crv):
            raise InvalidKey("unsupported EC curve")
        size = (curve.key_size + 7) // 8
        x, y = _member(jwk, "x"), _member(jwk, "y")
        if len(x) != size or len(y) != size:
            raise InvalidKey("EC coordinates have the wrong length")
        try:
            return ec.EllipticCurvePublicNumbers(
                int.from_bytes(x, "big"), int.from_bytes(y, "big"), curve
            ).public_key()
        except ValueError:
            raise InvalidKey("EC point is not on the curve") from None
    if kty == "OKP":
        if crv != "Ed25519":
            raise InvalidKey("unsupported OKP curve")
        x = _member(jwk, "x")
        if len(x) != 32:
            raise InvalidKey("Ed25519 key has the wrong length")
        if _ed25519_weak(x):
            raise InvalidKey("Ed25519 key is a small-order or non-canonical point")
        return ed25519.Ed25519PublicKey.from_public_bytes(x)
    if kty == "RSA":
        n = _uint(_member(jwk, "n"), "n")
        e = _uint(_member(jwk, "e"), "e")
        if not MIN_RSA_BITS <= n.bit_length() <= _MAX_RSA_BITS:
            raise InvalidKey("RSA modulus size is out of range")
        if e < 3 or e % 2 == 0 or e.bit_length() > _MAX_RSA_E_BITS:
            raise InvalidKey("RSA public exponent is invalid")
        try:
            return rsa.RSAPublicNumbers(e, n).public_key()
        except ValueError:
            raise InvalidKey("RSA public key is invalid") from None
    raise InvalidKey("unsupported or missing kty")


def _public_jwk(key: PublicKeyObj) -> dict[str, str]:
    if isinstance(key, ec.EllipticCurvePublicKey):
        crv = _CURVE_TO_JOSE.get(key.curve.name)
        if crv is None:
            raise InvalidKey("unsupported EC curve")
        size = (key.curve.key_size + 7) // 8
        point = key.public_numbers()
        return {
            "kty": "EC",
            "crv": crv,
            "x": b64url_encode(point.x.to_bytes(size, "big")),
            "y": b64url_encode(point.y.to_bytes(size, "big")),
        }
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}
    if isinstance(key, rsa.RSAPublicKey):
        nums = key.public_numbers()
        return {
            "kty": "RSA",
            "n": b64url_encode(nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")),
            "e": b64url_encode(nums.e.to_bytes((nums.e.bit_length() + 7) // 8, "big")),
        }
    raise InvalidKey("unsupported key type")


def _check_key_fits(key: PublicKeyObj, spec: AlgSpec) -> None:
    jwk = _public_jwk(key)
    if jwk["kty"] != spec.kty or (spec.crv is not None and jwk.get("crv") != spec.crv):
        raise InvalidKey(f"the key does not fit {spec.name}")
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise InvalidKey(f"RSA keys need at least {MIN_RSA_BITS} bits")


def _default_alg(key: PublicKeyObj) -> JwsAlg:
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "EdDSA"
    if isinstance(key, ec.EllipticCurvePublicKey):
        crv = _CURVE_TO_JOSE.get(key.curve.name)
        if crv is None:
            raise InvalidKey("unsupported EC curve")
        return _DEFAULT_ALG_FOR_CURVE[crv]
    return "PS256"  # RSA: prefer PSS when the caller names no algorithm


def _resolve_alg(key: PublicKeyObj, alg: str | None) -> AlgSpec:
    spec = alg_spec(alg if alg is not None else _default_alg(key))
    if spec is None:
        raise InvalidKey("unsupported algorithm")
    _check_key_fits(key, spec)
    return spec


class PublicKey:
    """A verified-importable public key with its public JWK and RFC 7638 thumbprint."""

    __slots__ = ("_jwk", "key", "thumbprint")

    def __init__(self, key: PublicKeyObj) -> None:
        self.key: Final = key
        self._jwk = _public_jwk(key)
        self.thumbprint: Final[Thumbprint] = jwk_thumbprint(self._jwk)

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> PublicKey:
        """Import a public JWK (private members are refused)."""
        return cls(public_key_from_jwk(jwk))

    @property
    def jwk(self) -> dict[str, str]:
        """The public JWK (required members only)."""
        return dict(self._jwk)

    def __repr__(self) -> str:
        return f"PublicKey(kty={self._jwk['kty']!r}, jkt={self.thumbprint[:8]!r}…)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other.thumbprint == self.thumbprint

    def __hash__(self) -> int:
        return hash(self.thumbprint)


class SigningKey:
    """A private signing key bound to one algorithm; private material never appears in text."""

    __slots__ = ("_private", "alg", "kid", "public_key", "spec")

    def __init__(
        self, private_key: PrivateKeyObj, alg: str | None = None, *, kid: str | None = None
    ):
        if not isinstance(
            private_key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
        ):
            raise InvalidKey("unsupported private key type")
        self._private = private_key
        self.public_key: Final = PublicKey(private_key.public_key())
        self.spec: Final = _resolve_alg(private_key.public_key(), alg)
        self.alg: Final[JwsAlg] = self.spec.name
        self.kid: Final[str] = kid if kid is not None else self.public_key.thumbprint

    @property
    def thumbprint(self) -> Thumbprint:
        """RFC 7638 thumbprint of the public key."""
        return self.public_key.thumbprint

    def sign(self, data: bytes) -> bytes:
        """Return the JWS signature of ``data`` under :attr:`alg`."""
        return sign(self.spec, self._private, data)

    def private_jwk(self) -> dict[str, str]:
        """The private JWK with ``kid``, ``alg`` and ``use: "sig"`` (no ``key_ops``)."""
        data = JWKRegistry.import_key(
            self._private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            key_type=self.spec.kty,
        ).as_dict(private=True)
        jwk = {name: value for name, value in data.items() if isinstance(value, str)}
        jwk.update(kid=self.kid, alg=self.alg, use="sig")
        return jwk

    def public_jwk(self) -> dict[str, str]:
        """The public JWK with ``kid``, ``alg`` and ``use: "sig"``."""
        return {**self.public_key.jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def private_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM."""
        return self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def __repr__(self) -> str:
        return f"SigningKey(alg={self.alg!r}, jkt={self.thumbprint[:8]!r}…)"


def generate_key(alg: str, *, rsa_bits: int = 2048) -> SigningKey:
    """Generate a fresh signing key for ``alg`` (ES256/384/512, EdDSA, PS*/RS*).

    Raises:
        InvalidKey: unsupported algorithm or an RSA size under 2048 bits.
    """
    spec = alg_spec(alg)
    if spec is None:
        raise InvalidKey("unsupported algorithm")
    private: PrivateKeyObj
    if spec.kty == "EC":
        assert spec.crv is not None  # noqa: S101 -- registry invariant
        private = ec.generate_private_key(EC_CURVES[spec.crv])
    elif spec.kty == "OKP":
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        if rsa_bits < MIN_RSA_BITS:
            raise InvalidKey(f"RSA keys need at least {MIN_RSA_BITS} bits")
        private = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    return SigningKey(private, spec.name)


def _parse_json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise InvalidKey("not JSON") from None
    if not isinstance(value, dict):
        raise InvalidKey("a JWK must be a JSON object")
    return value


def load_private_key(data: str | bytes | Mapping[str, Any], alg: str | None = None) -> SigningKey:
    """Load a private key from a JWK (object or JSON text) or an unencrypted PEM.

    The algorithm is ``alg``, else the JWK's ``alg``, else the key's default (ES256 for P-256,
    EdDSA for Ed25519, PS256 for RSA). The JWK's ``kid`` is kept.

    Raises:
        InvalidKey: not a JWK or PEM, a public key only, an unsupported key type, a key that
            does not fit ``alg``.
    """
    if isinstance(data, bytes):
        data = data.decode("utf-8", errors="replace")
    if isinstance(data, str) and "-----BEGIN" in data:
        try:
            private = serialization.load_pem_private_key(data.encode("ascii"), password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise InvalidKey("not an unencrypted private-key PEM") from None
        if not isinstance(
            private, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
        ):
            raise InvalidKey("unsupported private key type")
        return SigningKey(private, alg)
    jwk = _parse_json_object(data) if isinstance(data, str) else dict(data)
    if "d" not in jwk:
        raise InvalidKey("the JWK has no private key")
    if jwk.get("kty") not in ("EC", "OKP", "RSA"):
        raise InvalidKey("unsupported or missing kty")
    try:
        imported = JWKRegistry.import_key(jwk)
    except Exception:  # joserfc raises several types for malformed keys
        raise InvalidKey("the private JWK is invalid") from None
    imported_private: object = imported.private_key
    if not isinstance(
        imported_private,
        ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey,
    ):
        raise InvalidKey("unsupported private key type")
    private = imported_private
    # The JWK's public members must describe the private key (no mix-and-match files).
    if jwk_thumbprint(jwk) != PublicKey(private.public_key()).thumbprint:
        raise InvalidKey("the JWK's public members do not match its private key")
    kid = jwk.get("kid")
    jwk_alg = jwk.get("alg")
    return SigningKey(
        private,
        alg if alg is not None else (jwk_alg if isinstance(jwk_alg, str) else None),
        kid=kid if isinstance(kid, str) else None,
    )


def load_public_key(data: str | bytes | Mapping[str, Any]) -> PublicKey:
    """Load a public key from a JWK (public or private: the public part is taken) or a PEM.

    Raises:
        InvalidKey: input that is not a usable key.
    """
    if isinstance(data, bytes):
        data = data.decode("utf-8", errors="replace")
    if isinstance(data, str) and "-----BEGIN" in data:
        if "PRIVATE KEY" in data:
            return load_private_key(data).public_key
        try:
            key = serialization.load_pem_public_key(data.encode("ascii"))
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise InvalidKey("not a public-key PEM") from None
        if not isinstance(
            key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey
        ):
            raise InvalidKey("unsupported public key type")
        _resolve_alg(key, None)
        return PublicKey(key)
    jwk = _parse_json_object(data) if isinstance(data, str) else dict(data)
    public = {name: value for name, value in jwk.items() if name not in PRIVATE_MEMBERS}
    return PublicKey(public_key_from_jwk(public))
