"""create_proof -> verify round trips (RFC 9449 §4.2, §4.3) for every default algorithm."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proofbound.dpop.htu import normalize_htu
from proofbound.dpop.nonce import RollingNonces
from proofbound.dpop.proof import create_proof
from proofbound.dpop.verify import DPoPVerifier, ProofPolicy
from proofbound.errors import InvalidDPoPProof, Reason
from proofbound.jwk.algorithms import DEFAULT_PROOF_ALGS

from ._support import methods, signing_key, uris

ALGS = (*DEFAULT_PROOF_ALGS, "ES384", "ES512")
POLICY = ProofPolicy(algorithms=ALGS, iat_window=60, future_skew=5)
VERIFIER = DPoPVerifier(POLICY)
NONCES = RollingNonces([b"n" * 32], purpose="rs", origin="https://rs.example")
NONCE_VERIFIER = DPoPVerifier(POLICY, nonces=NONCES)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

times = st.integers(min_value=0, max_value=2**40)
tokens = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=64)


@SETTINGS
@given(alg=st.sampled_from(ALGS), method=methods, uri=uris(), now=times)
def test_rfc9449_s4_3_round_trip(alg: str, method: str, uri: str, now: int) -> None:
    key = signing_key(alg)
    proof = create_proof(key, htm=method, htu=uri, now=now)
    result = VERIFIER.verify(proof, method=method, uri=uri, now=now)
    assert result.jkt == key.thumbprint
    assert result.htm == method
    assert result.iat == now
    assert result.replay_expires_at == now + POLICY.iat_window + 1
    assert normalize_htu(result.htu) == normalize_htu(uri)
    assert "?" not in result.htu
    assert "#" not in result.htu


@SETTINGS
@given(alg=st.sampled_from(ALGS), uri=uris(), now=times, token=tokens, data=st.data())
def test_rfc9449_s7_round_trip_with_token_and_nonce(
    alg: str, uri: str, now: int, token: str, data: st.DataObject
) -> None:
    key = signing_key(alg)
    nonce = NONCES.issue(now)
    proof = create_proof(key, htm="GET", htu=uri, now=now, access_token=token, nonce=nonce)
    result = NONCE_VERIFIER.verify(proof, method="GET", uri=uri, now=now, access_token=token)
    assert result.nonce == nonce
    # The same proof with any other token fails on ath.
    other = data.draw(tokens.filter(lambda t: t != token), label="other token")
    with pytest.raises(InvalidDPoPProof) as info:
        NONCE_VERIFIER.verify(proof, method="GET", uri=uri, now=now, access_token=other)
    assert info.value.reason is Reason.ATH_MISMATCH


@settings(max_examples=100, deadline=None)
@given(alg=st.sampled_from(("ES256", "EdDSA")), iat=times, offset=st.integers(-200, 200))
def test_rfc9449_s4_3_step11_acceptance_window(alg: str, iat: int, offset: int) -> None:
    """Accepted exactly when now - window <= iat <= now + skew."""
    uri = "https://rs.example/x"
    proof = create_proof(signing_key(alg), htm="GET", htu=uri, now=iat)
    now = iat + offset
    if -POLICY.future_skew <= offset <= POLICY.iat_window:
        VERIFIER.verify(proof, method="GET", uri=uri, now=now)
        return
    with pytest.raises(InvalidDPoPProof) as info:
        VERIFIER.verify(proof, method="GET", uri=uri, now=now)
    expected = Reason.IAT_TOO_OLD if offset > 0 else Reason.IAT_IN_FUTURE
    assert info.value.reason is expected


@settings(max_examples=100, deadline=None)
@given(method=methods, other=methods)
def test_rfc9449_s4_3_step8_method_must_match_exactly(method: str, other: str) -> None:
    uri = "https://rs.example/x"
    proof = create_proof(signing_key("EdDSA"), htm=method, htu=uri, now=1000)
    if other == method:
        VERIFIER.verify(proof, method=other, uri=uri, now=1000)
        return
    with pytest.raises(InvalidDPoPProof) as info:
        VERIFIER.verify(proof, method=other, uri=uri, now=1000)
    assert info.value.reason is Reason.HTM_MISMATCH
