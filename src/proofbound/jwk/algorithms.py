"""The closed set of JWS algorithms proofbound signs and verifies, and what each requires of a key.

Only asymmetric signature algorithms exist here (RFC 9449 §4.2, §11.6: never ``none``, never a MAC).
An algorithm is used only if it is in this registry *and* in the caller's allow list; the ``alg``
header never chooses on its own. RSA keys must have at least 2048-bit moduli (RFC 7518 §3.3, §3.5).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

from cryptography.hazmat.primitives import hashes

from proofbound.errors import ConfigurationError
from proofbound.types import JwsAlg

__all__ = [
    "AlgSpec",
    "DEFAULT_ACCESS_TOKEN_ALGS",
    "DEFAULT_PROOF_ALGS",
    "MIN_RSA_BITS",
    "SUPPORTED_ALGS",
    "alg_spec",
    "validate_allow_list",
]

MIN_RSA_BITS: Final = 2048

Family = Literal["EC", "OKP", "RSA-PKCS1", "RSA-PSS"]


@dataclass(frozen=True, slots=True)
class AlgSpec:
    """What an algorithm needs: key type, curve (EC/OKP), hash and signature size."""

    name: JwsAlg
    family: Family
    kty: Literal["EC", "OKP", "RSA"]
    crv: str | None
    hash: type[hashes.HashAlgorithm] | None
    coord_bytes: int  # EC coordinate / Ed25519 key length in bytes; 0 for RSA


_SPECS: Final[dict[str, AlgSpec]] = {
    spec.name: spec
    for spec in (
        AlgSpec("ES256", "EC", "EC", "P-256", hashes.SHA256, 32),
        AlgSpec("ES384", "EC", "EC", "P-384", hashes.SHA384, 48),
        AlgSpec("ES512", "EC", "EC", "P-521", hashes.SHA512, 66),
        AlgSpec("EdDSA", "OKP", "OKP", "Ed25519", None, 32),
        AlgSpec("PS256", "RSA-PSS", "RSA", None, hashes.SHA256, 0),
        AlgSpec("PS384", "RSA-PSS", "RSA", None, hashes.SHA384, 0),
        AlgSpec("PS512", "RSA-PSS", "RSA", None, hashes.SHA512, 0),
        AlgSpec("RS256", "RSA-PKCS1", "RSA", None, hashes.SHA256, 0),
        AlgSpec("RS384", "RSA-PKCS1", "RSA", None, hashes.SHA384, 0),
        AlgSpec("RS512", "RSA-PKCS1", "RSA", None, hashes.SHA512, 0),
    )
}

#: Every algorithm proofbound implements.
SUPPORTED_ALGS: Final[tuple[JwsAlg, ...]] = tuple(spec.name for spec in _SPECS.values())

#: Default allow list for DPoP proofs (secure defaults, DESIGN.md).
DEFAULT_PROOF_ALGS: Final[tuple[JwsAlg, ...]] = ("ES256", "EdDSA", "PS256", "RS256")

#: Default allow list for access tokens; RS256 is mandatory to support (RFC 9068 §2.1).
DEFAULT_ACCESS_TOKEN_ALGS: Final[tuple[JwsAlg, ...]] = ("ES256", "EdDSA", "PS256", "RS256")


def alg_spec(name: object) -> AlgSpec | None:
    """Return the spec of a supported algorithm, or None (unknown, ``none``, HMAC, not a str)."""
    if not isinstance(name, str):
        return None
    return _SPECS.get(name)


def validate_allow_list(algs: Iterable[str]) -> tuple[JwsAlg, ...]:
    """Check an allow list: non-empty, supported names only, no duplicates.

    Raises:
        ConfigurationError: for an empty list, an unknown or symmetric algorithm, or a duplicate.
    """
    result: list[JwsAlg] = []
    for name in algs:
        spec = alg_spec(name)
        if spec is None:
            raise ConfigurationError(f"unsupported algorithm in allow list: {name!r}")
        if spec.name in result:
            raise ConfigurationError(f"duplicate algorithm in allow list: {name!r}")
        result.append(spec.name)
    if not result:
        raise ConfigurationError("the algorithm allow list is empty")
    return tuple(result)
