"""A resource request in one call: DPoP proof + access token (RFC 9449 §4.3, §7.1; RFC 9068 §4).

``DPoPVerifier.verify_with_token`` checks the proof's syntax, header and signature, the whole
access token, then the proof's claims against that token (ath, cnf.jkt). These tests show each
failure surfaces with the right class and reason, in the documented order, and that the token
cache and the proof header cache behave as with the separate calls.
"""

from __future__ import annotations

import logging

import pytest

from proofbound import (
    AccessTokenPolicy,
    AccessTokenVerifier,
    DPoPVerifier,
    InvalidDPoPProof,
    InvalidToken,
    Reason,
    RollingNonces,
    SigningKey,
    UseDPoPNonce,
    create_proof,
    generate_key,
    issue_access_token,
)

NOW = 1_700_000_000
ISSUER = "https://as.example"
RS = "https://rs.example"
URI = "https://rs.example/api/items"


@pytest.fixture(scope="module")
def keys() -> dict[str, SigningKey]:
    return {name: generate_key("ES256") for name in ("issuer", "client", "attacker", "rogue_as")}


def _token(keys: dict[str, SigningKey], *, jkt: str | None = None, ttl: int = 300) -> str:
    return issue_access_token(
        keys["issuer"],
        issuer=ISSUER,
        subject="svc",
        audience=RS,
        client_id="svc",
        now=NOW,
        ttl=ttl,
        jti="t-1",
        jkt=keys["client"].thumbprint if jkt is None else jkt,
    )


def _tokens(keys: dict[str, SigningKey], *, cache_size: int = 100) -> AccessTokenVerifier:
    return AccessTokenVerifier(
        AccessTokenPolicy(issuer=ISSUER, audiences=(RS,)),
        {keys["issuer"].kid: keys["issuer"].public_key},
        cache_size=cache_size,
    )


def _call(verifier: DPoPVerifier, proof: str, token: str, tokens: AccessTokenVerifier, **kw):
    args = {"method": "GET", "uri": URI, "now": NOW, **kw}
    return verifier.verify_with_token(proof, token, tokens, **args)


def test_rfc9449_s7_1_accepts_a_bound_request_and_returns_both_results(keys):
    token = _token(keys)
    proof = create_proof(keys["client"], htm="GET", htu=URI, now=NOW, access_token=token)
    verified, result = _call(DPoPVerifier(), proof, token, _tokens(keys))
    assert verified.binding is not None
    assert verified.binding.thumbprint == keys["client"].thumbprint
    assert result.jkt == keys["client"].thumbprint
    assert result.claims["ath"] == verified.ath


@pytest.mark.parametrize("cache_size", [0, 100], ids=["no-token-cache", "token-cache"])
def test_same_results_with_and_without_the_token_cache(keys, cache_size):
    token = _token(keys)
    tokens = _tokens(keys, cache_size=cache_size)
    verifier = DPoPVerifier()
    for _ in range(3):
        proof = create_proof(keys["client"], htm="GET", htu=URI, now=NOW, access_token=token)
        verified, result = _call(verifier, proof, token, tokens)
        assert result.jkt == keys["client"].thumbprint
        assert verified.subject == "svc"


def test_rfc9449_s4_3_step12_stolen_token_with_attacker_proof_is_jkt_mismatch(keys):
    token = _token(keys)
    proof = create_proof(keys["attacker"], htm="GET", htu=URI, now=NOW, access_token=token)
    with pytest.raises(InvalidDPoPProof) as caught:
        _call(DPoPVerifier(), proof, token, _tokens(keys))
    assert caught.value.reason is Reason.JKT_MISMATCH


def test_rfc9449_s4_3_step12_ath_of_another_token(keys):
    token = _token(keys)
    other = _token(keys, ttl=200)
    proof = create_proof(keys["client"], htm="GET", htu=URI, now=NOW, access_token=other)
    with pytest.raises(InvalidDPoPProof) as caught:
        _call(DPoPVerifier(), proof, token, _tokens(keys))
    assert caught.value.reason is Reason.ATH_MISMATCH


def test_rfc9068_s4_token_failures_are_invalid_token(keys):
    forged = issue_access_token(
        keys["rogue_as"],
        issuer=ISSUER,
        subject="svc",
        audience=RS,
        client_id="svc",
        now=NOW,
        ttl=300,
        jti="t-2",
        jkt=keys["client"].thumbprint,
    )
    proof = create_proof(keys["client"], htm="GET", htu=URI, now=NOW, access_token=forged)
    with pytest.raises(InvalidToken) as caught:
        _call(DPoPVerifier(), proof, forged, _tokens(keys))
    assert caught.value.reason is Reason.TOKEN_KEY_UNKNOWN


def test_rfc9068_s4_expired_token_is_refused_also_from_the_cache(keys):
    token = _token(keys, ttl=60)
    tokens = _tokens(keys)
    verifier = DPoPVerifier()
    first = create_proof(keys["client"], htm="GET", htu=URI, now=NOW, access_token=token)
    _call(verifier, first, token, tokens)
    later = create_proof(keys["client"], htm="GET", htu=URI, now=NOW + 60, access_token=token)
    with pytest.raises(InvalidToken) as caught:
        _call(verifier, later, token, tokens, now=NOW + 60)
    assert caught.value.reason is Reason.TOKEN_EXPIRED


def test_a_bad_proof_signature_is_reported_before_the_token_signature(keys):
    token = _token(keys)
    proof = create_proof(keys["client"], htm="GET", htu=URI, now=NOW, access_token=token)
    head, _, signature = proof.rpartition(".")
    bad_proof = f"{head}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    head, _, signature = token.rpartition(".")
    bad_token = f"{head}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    with pytest.raises(InvalidDPoPProof) as caught:
        _call(DPoPVerifier(), bad_proof, bad_token, _tokens(keys))
    assert caught.value.reason is Reason.PROOF_SIGNATURE
    with pytest.raises(InvalidToken) as caught_token:
        _call(DPoPVerifier(), proof, bad_token, _tokens(keys))
    assert caught_token.value.reason is Reason.TOKEN_SIGNATURE


def test_rfc9449_s4_3_step6_a_forged_header_never_enters_the_key_cache(keys):
    token = _token(keys)
    verifier = DPoPVerifier()
    proof = create_proof(keys["attacker"], htm="GET", htu=URI, now=NOW, access_token=token)
    head, _, signature = proof.rpartition(".")
    forged = f"{head}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    with pytest.raises(InvalidDPoPProof) as caught:
        _call(verifier, forged, token, _tokens(keys))
    assert caught.value.reason is Reason.PROOF_SIGNATURE
    assert len(verifier._cache) == 0


def test_rfc9449_s4_3_step1_missing_proof_is_refused_before_the_token(keys):
    with pytest.raises(InvalidDPoPProof) as caught:
        _call(DPoPVerifier(), None, "not-even-a-token", _tokens(keys))
    assert caught.value.reason is Reason.PROOF_MISSING


def test_rfc9449_s9_nonce_is_checked_last(keys):
    nonces = RollingNonces([b"n" * 32], purpose="rs", origin=RS)
    token = _token(keys)
    proof = create_proof(keys["client"], htm="GET", htu=URI, now=NOW, access_token=token)
    with pytest.raises(UseDPoPNonce) as caught:
        _call(DPoPVerifier(nonces=nonces), proof, token, _tokens(keys))
    assert caught.value.reason is Reason.NONCE_MISSING
    assert nonces.is_valid(caught.value.nonce, NOW)


def test_rejections_are_logged_without_the_proof_or_token(keys, caplog):
    caplog.set_level(logging.INFO, logger="proofbound")
    token = _token(keys)
    proof = create_proof(keys["attacker"], htm="GET", htu=URI, now=NOW, access_token=token)
    with pytest.raises(InvalidDPoPProof):
        _call(DPoPVerifier(), proof, token, _tokens(keys))
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "jkt_mismatch" in text
    assert token not in text
    assert proof not in text
