"""Raw JWS signature primitives over ``cryptography`` (RFC 7518 §3, RFC 8037 §3.1).

ECDSA signatures travel as the fixed-length ``R || S`` concatenation (RFC 7518 §3.4) and are
converted to and from DER here; any other length is rejected before ``cryptography`` sees it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from proofbound.jwk.algorithms import MIN_RSA_BITS, AlgSpec

__all__ = [
    "EC_CURVES",
    "PrivateKeyObj",
    "PublicKeyObj",
    "Verifier",
    "prepare_verifier",
    "sign",
    "verify",
]

#: JOSE curve name -> ``cryptography`` curve (RFC 7518 §6.2.1.1).
EC_CURVES: dict[str, ec.EllipticCurve] = {
    "P-256": ec.SECP256R1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
}

PublicKeyObj: TypeAlias = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey
PrivateKeyObj: TypeAlias = (
    ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
)


def _pss(spec: AlgSpec) -> padding.PSS:
    assert spec.hash is not None  # noqa: S101 -- registry invariant, not input validation
    # RFC 7518 §3.5: the salt is as long as the hash output, when signing and when verifying.
    return padding.PSS(mgf=padding.MGF1(spec.hash()), salt_length=padding.PSS.DIGEST_LENGTH)


#: ECDSA parameter objects by algorithm name: immutable, so made once, not per signature.
_ECDSA: dict[str, ec.ECDSA] = {}


def _ecdsa(spec: AlgSpec) -> ec.ECDSA:
    algorithm = _ECDSA.get(spec.name)
    if algorithm is None:
        assert spec.hash is not None  # noqa: S101 -- registry invariant (EC specs have a hash)
        algorithm = _ECDSA[spec.name] = ec.ECDSA(spec.hash())
    return algorithm


def sign(spec: AlgSpec, key: PrivateKeyObj, data: bytes) -> bytes:
    """Sign ``data`` with ``key`` as algorithm ``spec``; return the JWS signature bytes."""
    if spec.family == "OKP" and isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    if spec.hash is None:
        raise TypeError("key does not fit the algorithm")
    if spec.family == "EC" and isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(data, _ecdsa(spec)))
        return r.to_bytes(spec.coord_bytes, "big") + s.to_bytes(spec.coord_bytes, "big")
    if spec.family == "RSA-PSS" and isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, _pss(spec), spec.hash())
    if spec.family == "RSA-PKCS1" and isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), spec.hash())
    raise TypeError("key does not fit the algorithm")


Verifier: TypeAlias = Callable[[bytes, bytes], bool]


def _verify_ec(spec: AlgSpec, key: ec.EllipticCurvePublicKey) -> Verifier:
    n = spec.coord_bytes
    size = 2 * n
    if spec.hash is None or spec.crv is None or key.curve.name != EC_CURVES[spec.crv].name:
        raise TypeError("key does not fit the algorithm")
    algorithm = ec.ECDSA(spec.hash())
    key_verify = key.verify

    def check(data: bytes, signature: bytes) -> bool:
        # RFC 7518 §3.4: exactly R || S, each of the curve's size; anything else is refused.
        if len(signature) != size:
            return False
        der = encode_dss_signature(
            int.from_bytes(signature[:n], "big"), int.from_bytes(signature[n:], "big")
        )
        try:
            key_verify(der, data, algorithm)
        except InvalidSignature:
            return False
        return True

    return check


def _verify_ed25519(key: ed25519.Ed25519PublicKey) -> Verifier:
    key_verify = key.verify

    def check(data: bytes, signature: bytes) -> bool:
        try:
            key_verify(signature, data)
        except InvalidSignature:
            return False
        return True

    return check


def _verify_rsa(spec: AlgSpec, key: rsa.RSAPublicKey) -> Verifier:
    if spec.hash is None or key.key_size < MIN_RSA_BITS:
        raise TypeError("key does not fit the algorithm")
    pad: padding.AsymmetricPadding = _pss(spec) if spec.family == "RSA-PSS" else padding.PKCS1v15()
    algorithm = spec.hash()
    key_verify = key.verify

    def check(data: bytes, signature: bytes) -> bool:
        try:
            key_verify(signature, data, pad, algorithm)
        except InvalidSignature:
            return False
        return True

    return check


def prepare_verifier(spec: AlgSpec, key: PublicKeyObj) -> Verifier:
    """Return ``check(data, signature) -> bool`` for one (algorithm, key) pair.

    Whether the key fits the algorithm (type, curve, RSA size) is decided here, once; the
    returned function only checks signatures. Callers cache it per key on the hot path.

    Raises:
        TypeError: the key does not fit ``spec``.
    """
    if spec.family == "EC" and isinstance(key, ec.EllipticCurvePublicKey):
        return _verify_ec(spec, key)
    if spec.family == "OKP" and isinstance(key, ed25519.Ed25519PublicKey):
        return _verify_ed25519(key)
    if spec.family in ("RSA-PSS", "RSA-PKCS1") and isinstance(key, rsa.RSAPublicKey):
        return _verify_rsa(spec, key)
    raise TypeError("key does not fit the algorithm")


def verify(spec: AlgSpec, key: PublicKeyObj, data: bytes, signature: bytes) -> bool:
    """True if ``signature`` over ``data`` verifies with ``key`` under ``spec``.

    A key whose type does not fit ``spec`` never verifies (fail closed). For repeated use with
    one key, :func:`prepare_verifier` does the fit checks once.
    """
    try:
        check = prepare_verifier(spec, key)
    except TypeError:
        return False
    return check(data, signature)
