"""DPoP proofs (RFC 9449): create, verify, nonces and target-URI normalisation."""

from proofbound.dpop.htu import htu_matches, normalize_htu
from proofbound.dpop.nonce import NonceSource, RollingNonces
from proofbound.dpop.proof import access_token_hash, create_proof
from proofbound.dpop.verify import DPoPVerifier, ProofPolicy, VerifiedProof, verify_proof

__all__ = [
    "DPoPVerifier",
    "NonceSource",
    "ProofPolicy",
    "RollingNonces",
    "VerifiedProof",
    "access_token_hash",
    "create_proof",
    "htu_matches",
    "normalize_htu",
    "verify_proof",
]
