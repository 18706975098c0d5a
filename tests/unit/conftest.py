"""Keys shared by the unit tests: one key per supported algorithm, generated once per session.

RSA generation is slow, so every RSA algorithm (PS*/RS*) shares one 2048-bit key.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from proofbound.jwk.algorithms import SUPPORTED_ALGS, alg_spec
from proofbound.jwk.keys import SigningKey, generate_key


@pytest.fixture(scope="session")
def rsa_private() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def keys_by_alg(rsa_private: rsa.RSAPrivateKey) -> dict[str, SigningKey]:
    """A signing key for every algorithm in ``SUPPORTED_ALGS``."""
    keys: dict[str, SigningKey] = {}
    for alg in SUPPORTED_ALGS:
        spec = alg_spec(alg)
        assert spec is not None
        keys[alg] = SigningKey(rsa_private, alg) if spec.kty == "RSA" else generate_key(alg)
    return keys
