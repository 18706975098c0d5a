"""The floor: only the raw ``cryptography`` signature verifications a request cannot avoid.

Key objects are built and ECDSA signatures converted from JOSE ``R || S`` to DER before timing,
so a floor operation is exactly ``key.verify(...)`` on the same signing inputs proofbound checks:
token + proof for a full validation, the proof alone when the token is cached.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from bench.harness import Batch
from bench.scenario import Scenario
from proofbound.jwk.algorithms import alg_spec

__all__ = ["floor_batch"]


def _prepared(jws: str, coord_bytes: int, der: bool) -> tuple[bytes, bytes]:
    """(signing input, signature in the form ``cryptography`` verifies)."""
    signing_input, _, signature_b64 = jws.rpartition(".")
    signature = base64.urlsafe_b64decode(signature_b64 + "=" * (-len(signature_b64) % 4))
    if der:
        r = int.from_bytes(signature[:coord_bytes], "big")
        s = int.from_bytes(signature[coord_bytes:], "big")
        signature = encode_dss_signature(r, s)
    return signing_input.encode("ascii"), signature


def floor_batch(scenario: Scenario, *, with_token: bool) -> Callable[[], Batch]:
    """A batch factory of raw verifies: token + proof per operation, or the proof alone."""
    spec = alg_spec(scenario.alg)
    assert spec is not None
    issuer_pub = scenario.issuer_key.public_key.key
    client_pub = scenario.client_key.public_key.key
    is_ec = spec.family == "EC"
    token_data, token_sig = _prepared(scenario.token, spec.coord_bytes, is_ec)
    items = [_prepared(proof, spec.coord_bytes, is_ec) for proof in scenario.proofs]
    run: Callable[[], None]

    if is_ec:
        assert isinstance(issuer_pub, ec.EllipticCurvePublicKey)
        assert spec.hash is not None
        assert isinstance(client_pub, ec.EllipticCurvePublicKey)
        ecdsa = ec.ECDSA(spec.hash())
        issuer_ec, client_ec = issuer_pub, client_pub

        def run_ec_full() -> None:
            for data, signature in items:
                issuer_ec.verify(token_sig, token_data, ecdsa)
                client_ec.verify(signature, data, ecdsa)

        def run_ec_proof() -> None:
            for data, signature in items:
                client_ec.verify(signature, data, ecdsa)

        run = run_ec_full if with_token else run_ec_proof
    else:
        assert isinstance(issuer_pub, ed25519.Ed25519PublicKey)
        assert isinstance(client_pub, ed25519.Ed25519PublicKey)
        issuer_ed, client_ed = issuer_pub, client_pub

        def run_ed_full() -> None:
            for data, signature in items:
                issuer_ed.verify(token_sig, token_data)
                client_ed.verify(signature, data)

        def run_ed_proof() -> None:
            for data, signature in items:
                client_ed.verify(signature, data)

        run = run_ed_full if with_token else run_ed_proof

    return lambda: Batch(run)
