"""Any single-character change to a valid proof is rejected (RFC 9449 §4.3, RFC 7515 §5.2).

The verifier is configured with a nonce source, an access token and a binding, so every check is
live; a mutated proof must fail with ``InvalidDPoPProof`` -- never verify, never raise
``UseDPoPNonce`` (the nonce check runs after the signature), never raise anything else.
"""

from __future__ import annotations

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from proofbound.binding import Binding
from proofbound.dpop.nonce import RollingNonces
from proofbound.dpop.proof import create_proof
from proofbound.dpop.verify import DPoPVerifier, ProofPolicy
from proofbound.errors import InvalidDPoPProof
from proofbound.jwk.algorithms import DEFAULT_PROOF_ALGS

from ._support import B64URL_ALPHABET, signing_key

ALGS = (*DEFAULT_PROOF_ALGS, "ES384", "ES512")
NOW = 1_700_000_000
URI = "https://rs.example/api/items"
TOKEN = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
NONCES = RollingNonces([b"m" * 32], purpose="rs", origin="https://rs.example")
REPLACEMENTS = B64URL_ALPHABET + ".= ,+/\t\u00e9\x00"


def _verifier() -> DPoPVerifier:
    return DPoPVerifier(ProofPolicy(algorithms=ALGS), nonces=NONCES)


def _proof(alg: str) -> str:
    key = signing_key(alg)
    return create_proof(
        key, htm="GET", htu=URI, now=NOW, access_token=TOKEN, nonce=NONCES.issue(NOW)
    )


PROOFS: dict[str, str] = {alg: _proof(alg) for alg in ALGS}
VERIFIER = _verifier()  # shared: its header cache is warm for every original header


def _verify(verifier: DPoPVerifier, proof: str, alg: str) -> object:
    return verifier.verify(
        proof,
        method="GET",
        uri=URI,
        now=NOW,
        access_token=TOKEN,
        binding=Binding("dpop", signing_key(alg).thumbprint),
    )


@pytest.mark.parametrize("alg", ALGS)
def test_originals_verify(alg: str) -> None:
    _verify(VERIFIER, PROOFS[alg], alg)
    _verify(_verifier(), PROOFS[alg], alg)


positions = st.integers(min_value=0, max_value=10_000)  # taken modulo the proof length
replacements = st.sampled_from(REPLACEMENTS)


@settings(max_examples=200, deadline=None)
@given(alg=st.sampled_from(ALGS), position=positions, replacement=replacements)
@example(alg="ES256", position=0, replacement="\u00e9")  # non-ASCII in the header
@example(alg="EdDSA", position=300, replacement="\u00e9")  # non-ASCII in the payload
@example(alg="ES256", position=0, replacement=" ")  # stripped: the header loses a character
def test_rfc9449_s4_3_any_single_character_change_is_rejected(
    alg: str, position: int, replacement: str
) -> None:
    proof = PROOFS[alg]
    position %= len(proof)
    assume(replacement != proof[position])
    mutated = proof[:position] + replacement + proof[position + 1 :]
    _verify(VERIFIER, PROOFS[alg], alg)  # warm cache: the original header is cached
    for verifier in (VERIFIER, _verifier()):  # cached and cold paths
        with pytest.raises(InvalidDPoPProof):
            _verify(verifier, mutated, alg)


@settings(max_examples=100, deadline=None)
@given(alg=st.sampled_from(ALGS), position=positions, insert=st.booleans(), char=replacements)
@example(alg="ES256", position=0, insert=True, char="\u00e9")
def test_rfc9449_s4_3_deleting_or_inserting_a_character_is_rejected(
    alg: str, position: int, insert: bool, char: str
) -> None:
    proof = PROOFS[alg]
    position %= len(proof)
    if insert:
        mutated = proof[:position] + char + proof[position:]
    else:
        mutated = proof[:position] + proof[position + 1 :]
    # Surrounding whitespace is not part of the field value (RFC 9110 §5.5).
    assume(mutated.strip(" \t") != proof)
    with pytest.raises(InvalidDPoPProof):
        _verify(VERIFIER, mutated, alg)
