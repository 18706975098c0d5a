"""JSON Web Keys: algorithms, key generation/import/export, thumbprints."""

from proofbound.jwk.algorithms import DEFAULT_PROOF_ALGS, SUPPORTED_ALGS
from proofbound.jwk.keys import (
    PublicKey,
    SigningKey,
    generate_key,
    load_private_key,
    load_public_key,
)
from proofbound.jwk.thumbprint import jwk_thumbprint, x5t_s256

__all__ = [
    "DEFAULT_PROOF_ALGS",
    "PublicKey",
    "SUPPORTED_ALGS",
    "SigningKey",
    "generate_key",
    "jwk_thumbprint",
    "load_private_key",
    "load_public_key",
    "x5t_s256",
]
