"""Verifying DPoP proofs (RFC 9449 §4.3): positive paths, results, the header cache, policy.

The rejection tables live in tests/adversarial; here each check is shown to pass for a good proof
and the result carries what the caller needs (replay key and expiry, thumbprint, claims).
"""

from __future__ import annotations

from typing import Any

import pytest

from proofbound._internal.b64 import b64url_encode
from proofbound.binding import Binding
from proofbound.dpop.nonce import RollingNonces
from proofbound.dpop.proof import access_token_hash, create_proof
from proofbound.dpop.verify import DPoPVerifier, ProofPolicy, VerifiedProof, verify_proof
from proofbound.errors import (
    ConfigurationError,
    InvalidDPoPProof,
    Reason,
    UseDPoPNonce,
)
from proofbound.jwk.algorithms import DEFAULT_PROOF_ALGS, SUPPORTED_ALGS
from proofbound.jwk.keys import SigningKey, generate_key, public_key_from_jwk
from proofbound.jwk.signatures import PublicKeyObj
from proofbound.jws import sign_compact
from proofbound.replay.base import replay_key
from proofbound.types import Thumbprint

NOW = 1_700_000_000
URI = "https://rs.example/api/items"
TOKEN = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"


def _nonces() -> RollingNonces:
    return RollingNonces([b"k" * 32], purpose="rs", origin="https://rs.example")


def _tamper_signature(proof: str) -> str:
    head, _, signature = proof.rpartition(".")
    # Change a middle character: always another canonical signature of the same length.
    middle = len(signature) // 2
    replacement = "A" if signature[middle] != "A" else "B"
    return f"{head}.{signature[:middle]}{replacement}{signature[middle + 1 :]}"


# --------------------------------------------------------------------------- positive paths


@pytest.mark.parametrize("alg", DEFAULT_PROOF_ALGS)
def test_rfc9449_s4_3_default_algs_verify(alg: str, keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg[alg]
    proof = create_proof(key, htm="GET", htu=URI, now=NOW)
    result = DPoPVerifier().verify(proof, method="GET", uri=URI, now=NOW)
    assert isinstance(result, VerifiedProof)
    assert result.jkt == key.thumbprint
    assert result.htm == "GET"
    assert result.htu == URI
    assert result.iat == NOW
    assert result.nonce is None
    assert set(result.claims) == {"jti", "htm", "htu", "iat"}


@pytest.mark.parametrize("alg", SUPPORTED_ALGS)
def test_rfc9449_s4_3_step5_every_supported_alg_when_allowed(
    alg: str, keys_by_alg: dict[str, SigningKey]
) -> None:
    verifier = DPoPVerifier(ProofPolicy(algorithms=SUPPORTED_ALGS))
    proof = create_proof(keys_by_alg[alg], htm="POST", htu=URI, now=NOW)
    assert (
        verifier.verify(proof, method="POST", uri=URI, now=NOW).jkt == keys_by_alg[alg].thumbprint
    )


@pytest.mark.parametrize("alg", ["ES384", "ES512", "PS384", "RS512"])
def test_rfc9449_s4_3_step5_algs_off_the_default_list_are_refused(
    alg: str, keys_by_alg: dict[str, SigningKey]
) -> None:
    proof = create_proof(keys_by_alg[alg], htm="GET", htu=URI, now=NOW)
    with pytest.raises(InvalidDPoPProof) as info:
        DPoPVerifier().verify(proof, method="GET", uri=URI, now=NOW)
    assert info.value.reason is Reason.PROOF_ALG


def test_rfc9449_s4_3_step9_request_uri_may_differ_in_form(
    keys_by_alg: dict[str, SigningKey],
) -> None:
    proof = create_proof(keys_by_alg["ES256"], htm="GET", htu=URI + "?page=1", now=NOW)
    verifier = DPoPVerifier()
    for uri in (URI, URI + "?page=2", "HTTPS://RS.EXAMPLE:443/api/./items", URI + "#f"):
        assert verifier.verify(proof, method="GET", uri=uri, now=NOW).htu == URI


def test_dpop_header_forms(keys_by_alg: dict[str, SigningKey]) -> None:
    proof = create_proof(keys_by_alg["EdDSA"], htm="GET", htu=URI, now=NOW)
    verifier = DPoPVerifier()
    for value in (proof, [proof], (proof,), f" {proof}\t"):
        assert verifier.verify(value, method="GET", uri=URI, now=NOW).jkt


def test_rfc9449_s4_3_step11_window_edges(keys_by_alg: dict[str, SigningKey]) -> None:
    policy = ProofPolicy(iat_window=30, future_skew=3)
    verifier = DPoPVerifier(policy)
    proof = create_proof(keys_by_alg["ES256"], htm="GET", htu=URI, now=NOW)
    for now in (NOW - 3, NOW, NOW + 30):
        verifier.verify(proof, method="GET", uri=URI, now=now)
    for now, reason in ((NOW - 4, Reason.IAT_IN_FUTURE), (NOW + 31, Reason.IAT_TOO_OLD)):
        with pytest.raises(InvalidDPoPProof) as info:
            verifier.verify(proof, method="GET", uri=URI, now=now)
        assert info.value.reason is reason


def test_rfc9449_s4_3_float_iat_is_accepted(keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg["EdDSA"]
    header = {"typ": "dpop+jwt", "jwk": key.public_key.jwk}
    claims = {"jti": "float-iat", "htm": "GET", "htu": URI, "iat": NOW + 0.5}
    proof = sign_compact(header, claims, key)
    result = DPoPVerifier(ProofPolicy(iat_window=60)).verify(
        proof, method="GET", uri=URI, now=NOW + 60
    )
    assert result.iat == NOW + 0.5
    # Accepted until now == iat + window (NOW + 60.5), so remembered until NOW + 61.
    assert result.replay_expires_at == NOW + 61


def test_rfc7515_s4_1_9_typ_with_application_prefix(keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg["ES256"]
    claims = {"jti": "typ", "htm": "GET", "htu": URI, "iat": NOW}
    for typ in ("application/dpop+jwt", "DPoP+JWT", "Application/DPoP+jwt"):
        proof = sign_compact({"typ": typ, "jwk": key.public_key.jwk}, claims, key)
        DPoPVerifier().verify(proof, method="GET", uri=URI, now=NOW)


# --------------------------------------------------------------------------- result


@pytest.mark.parametrize("window", [1, 60, 300])
def test_rfc9449_s11_1_replay_fields(window: int, keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg["ES256"]
    proof = create_proof(key, htm="GET", htu=URI, now=NOW, jti="jti-1")
    result = DPoPVerifier(ProofPolicy(iat_window=window)).verify(
        proof, method="GET", uri=URI, now=NOW
    )
    assert result.jti == "jti-1"
    assert result.replay_expires_at == NOW + window + 1
    assert result.replay_key == replay_key(key.thumbprint, "jti-1")
    assert len(result.replay_key) == 32


def test_replay_key_depends_on_key_and_jti(keys_by_alg: dict[str, SigningKey]) -> None:
    verifier = DPoPVerifier()
    results = [
        verifier.verify(
            create_proof(keys_by_alg[alg], htm="GET", htu=URI, now=NOW, jti=jti),
            method="GET",
            uri=URI,
            now=NOW,
        )
        for alg, jti in (("ES256", "a"), ("ES256", "b"), ("EdDSA", "a"))
    ]
    assert len({r.replay_key for r in results}) == 3
    assert replay_key("ab", "c") != replay_key("a", "bc")


def test_verified_proof_is_frozen_and_repr_is_short(keys_by_alg: dict[str, SigningKey]) -> None:
    proof = create_proof(keys_by_alg["ES256"], htm="GET", htu=URI, now=NOW, access_token=TOKEN)
    result = DPoPVerifier().verify(proof, method="GET", uri=URI, now=NOW, access_token=TOKEN)
    with pytest.raises(AttributeError):
        result.jti = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        result.claims["jti"] = "other"  # type: ignore[index]
    text = repr(result)
    assert text == f"VerifiedProof(jkt={result.jkt[:8]!r}…, htm='GET')"
    for secret in (proof, TOKEN, result.jti, access_token_hash(TOKEN)):
        assert secret not in text


# --------------------------------------------------------------------------- access token, binding


def test_rfc9449_s4_3_step12_ath_with_access_token(keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg["PS256"]
    proof = create_proof(key, htm="GET", htu=URI, now=NOW, access_token=TOKEN)
    result = DPoPVerifier().verify(proof, method="GET", uri=URI, now=NOW, access_token=TOKEN)
    assert result.claims["ath"] == access_token_hash(TOKEN)


def test_rfc9449_s4_3_step12_binding_to_the_proof_key(keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg["ES256"]
    proof = create_proof(key, htm="GET", htu=URI, now=NOW, access_token=TOKEN)
    binding = Binding("dpop", key.thumbprint)
    result = DPoPVerifier().verify(
        proof, method="GET", uri=URI, now=NOW, access_token=TOKEN, binding=binding
    )
    assert result.jkt == binding.thumbprint
    other = Binding("dpop", keys_by_alg["EdDSA"].thumbprint)
    with pytest.raises(InvalidDPoPProof) as info:
        DPoPVerifier().verify(
            proof, method="GET", uri=URI, now=NOW, access_token=TOKEN, binding=other
        )
    assert info.value.reason is Reason.JKT_MISMATCH


def test_mtls_binding_is_not_checked_by_the_proof_verifier(
    keys_by_alg: dict[str, SigningKey],
) -> None:
    proof = create_proof(keys_by_alg["ES256"], htm="GET", htu=URI, now=NOW)
    binding = Binding("mtls", Thumbprint("A4DtL2JmUMhAsvJj5tKyn64SqzmuXbMrJa0n761y5v0"))
    DPoPVerifier().verify(proof, method="GET", uri=URI, now=NOW, binding=binding)


def test_rfc9449_s4_3_step12_ath_is_ignored_without_a_token(
    keys_by_alg: dict[str, SigningKey],
) -> None:
    """At a token endpoint no access token is presented; an ath claim is not an error there."""
    proof = create_proof(keys_by_alg["ES256"], htm="POST", htu=URI, now=NOW, access_token=TOKEN)
    DPoPVerifier().verify(proof, method="POST", uri=URI, now=NOW)


# --------------------------------------------------------------------------- nonces


def test_rfc9449_s8_with_a_valid_nonce(keys_by_alg: dict[str, SigningKey]) -> None:
    nonces = _nonces()
    nonce = nonces.issue(NOW)
    proof = create_proof(keys_by_alg["ES256"], htm="POST", htu=URI, now=NOW, nonce=nonce)
    result = DPoPVerifier(nonces=nonces).verify(proof, method="POST", uri=URI, now=NOW)
    assert result.nonce == nonce


def test_rfc9449_s8_missing_nonce_asks_for_one(keys_by_alg: dict[str, SigningKey]) -> None:
    nonces = _nonces()
    proof = create_proof(keys_by_alg["ES256"], htm="POST", htu=URI, now=NOW)
    verifier = DPoPVerifier(nonces=nonces)
    with pytest.raises(UseDPoPNonce) as info:
        verifier.verify(proof, method="POST", uri=URI, now=NOW)
    assert info.value.reason is Reason.NONCE_MISSING
    assert info.value.error == "use_dpop_nonce"
    assert nonces.is_valid(info.value.nonce, NOW)
    # The client retries with the nonce it was given.
    retry = create_proof(keys_by_alg["ES256"], htm="POST", htu=URI, now=NOW, nonce=info.value.nonce)
    assert verifier.verify(retry, method="POST", uri=URI, now=NOW).nonce == info.value.nonce


def test_rfc9449_s8_nonce_optional_when_not_required(keys_by_alg: dict[str, SigningKey]) -> None:
    nonces = _nonces()
    verifier = DPoPVerifier(nonces=nonces)
    proof = create_proof(keys_by_alg["ES256"], htm="POST", htu=URI, now=NOW)
    verifier.verify(proof, method="POST", uri=URI, now=NOW, require_nonce=False)
    # ... but a nonce that is present is still checked.
    stale = create_proof(keys_by_alg["ES256"], htm="POST", htu=URI, now=NOW, nonce="stale")
    with pytest.raises(UseDPoPNonce) as info:
        verifier.verify(stale, method="POST", uri=URI, now=NOW, require_nonce=False)
    assert info.value.reason is Reason.NONCE_INVALID


def test_require_nonce_without_a_source_is_a_configuration_error(
    keys_by_alg: dict[str, SigningKey],
) -> None:
    proof = create_proof(keys_by_alg["ES256"], htm="GET", htu=URI, now=NOW)
    with pytest.raises(ConfigurationError):
        DPoPVerifier().verify(proof, method="GET", uri=URI, now=NOW, require_nonce=True)
    DPoPVerifier().verify(proof, method="GET", uri=URI, now=NOW, require_nonce=False)


# --------------------------------------------------------------------------- header cache


class _ImportCounter:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0

        def counting(*args: Any, **kwargs: Any) -> PublicKeyObj:
            self.calls += 1
            return public_key_from_jwk(*args, **kwargs)

        # The verifier's module-level name is the one its header import calls.
        monkeypatch.setattr("proofbound.dpop.verify.public_key_from_jwk", counting)


def test_header_cache_hit_still_checks_the_signature(
    keys_by_alg: dict[str, SigningKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = _ImportCounter(monkeypatch)
    key = keys_by_alg["ES256"]
    verifier = DPoPVerifier()
    verifier.verify(create_proof(key, htm="GET", htu=URI, now=NOW), method="GET", uri=URI, now=NOW)
    assert counter.calls == 1
    second = create_proof(key, htm="GET", htu=URI, now=NOW)
    verifier.verify(second, method="GET", uri=URI, now=NOW)
    assert counter.calls == 1  # same header: served from the cache
    with pytest.raises(InvalidDPoPProof) as info:
        verifier.verify(_tamper_signature(second), method="GET", uri=URI, now=NOW)
    assert info.value.reason is Reason.PROOF_SIGNATURE
    assert counter.calls == 1  # the failure came from the cached path


def test_header_cache_forged_payload_with_cached_header(
    keys_by_alg: dict[str, SigningKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cached header does not vouch for a payload signed by another key."""
    victim, attacker = keys_by_alg["ES256"], generate_key("ES256")
    verifier = DPoPVerifier()
    good = create_proof(victim, htm="GET", htu=URI, now=NOW)
    verifier.verify(good, method="GET", uri=URI, now=NOW)
    forged = create_proof(attacker, htm="GET", htu=URI, now=NOW)
    header = good.split(".")[0]
    _, payload, signature = forged.split(".")
    with pytest.raises(InvalidDPoPProof) as info:
        verifier.verify(f"{header}.{payload}.{signature}", method="GET", uri=URI, now=NOW)
    assert info.value.reason is Reason.PROOF_SIGNATURE


def test_header_with_bad_signature_is_not_cached(
    keys_by_alg: dict[str, SigningKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = _ImportCounter(monkeypatch)
    key = keys_by_alg["EdDSA"]
    verifier = DPoPVerifier()
    proof = create_proof(key, htm="GET", htu=URI, now=NOW)
    with pytest.raises(InvalidDPoPProof):
        verifier.verify(_tamper_signature(proof), method="GET", uri=URI, now=NOW)
    verifier.verify(proof, method="GET", uri=URI, now=NOW)
    assert counter.calls == 2  # the failed header was imported again


def test_header_cache_is_bounded(
    keys_by_alg: dict[str, SigningKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = _ImportCounter(monkeypatch)
    verifier = DPoPVerifier(key_cache_size=1)
    a, b = keys_by_alg["ES256"], keys_by_alg["EdDSA"]
    for key in (a, a, b, b, a):
        proof = create_proof(key, htm="GET", htu=URI, now=NOW)
        verifier.verify(proof, method="GET", uri=URI, now=NOW)
    assert counter.calls == 3  # a, b (evicts a), a again


def test_header_cache_disabled(
    keys_by_alg: dict[str, SigningKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = _ImportCounter(monkeypatch)
    for verifier_calls in range(1, 4):
        proof = create_proof(keys_by_alg["ES256"], htm="GET", htu=URI, now=NOW)
        verify_proof(proof, method="GET", uri=URI, now=NOW)  # one-off verifier, no cache
        assert counter.calls == verifier_calls
    verifier = DPoPVerifier(key_cache_size=0)
    for _ in range(2):
        proof = create_proof(keys_by_alg["ES256"], htm="GET", htu=URI, now=NOW)
        verifier.verify(proof, method="GET", uri=URI, now=NOW)
    assert counter.calls == 5


def test_cache_is_per_policy(keys_by_alg: dict[str, SigningKey]) -> None:
    """A header cached by one verifier is not trusted by a stricter one."""
    proof = create_proof(keys_by_alg["EdDSA"], htm="GET", htu=URI, now=NOW)
    DPoPVerifier().verify(proof, method="GET", uri=URI, now=NOW)
    strict = DPoPVerifier(ProofPolicy(algorithms=("ES256",)))
    with pytest.raises(InvalidDPoPProof) as info:
        strict.verify(proof, method="GET", uri=URI, now=NOW)
    assert info.value.reason is Reason.PROOF_ALG


# --------------------------------------------------------------------------- verify_proof, policy


def test_verify_proof_function(keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg["ES256"]
    nonces = _nonces()
    nonce = nonces.issue(NOW)
    proof = create_proof(key, htm="GET", htu=URI, now=NOW, access_token=TOKEN, nonce=nonce)
    result = verify_proof(
        proof,
        method="GET",
        uri=URI,
        now=NOW,
        policy=ProofPolicy(iat_window=10),
        access_token=TOKEN,
        binding=Binding("dpop", key.thumbprint),
        nonces=nonces,
    )
    assert result.nonce == nonce
    assert result.replay_expires_at == NOW + 11


def test_proof_policy_defaults() -> None:
    policy = ProofPolicy()
    assert policy.algorithms == DEFAULT_PROOF_ALGS
    assert policy.iat_window == 60
    assert policy.future_skew == 5
    assert ProofPolicy(algorithms=["ES256", "EdDSA"]).algorithms == ("ES256", "EdDSA")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"algorithms": ()},
        {"algorithms": ("none",)},
        {"algorithms": ("HS256",)},
        {"algorithms": ("ES256", "ES256")},
        {"iat_window": 0},
        {"iat_window": 301},
        {"future_skew": -1},
        {"future_skew": 301},
        {"max_proof_bytes": 511},
        {"max_proof_bytes": 65537},
        {"max_jti_length": 15},
        {"max_jti_length": 4097},
    ],
)
def test_proof_policy_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        ProofPolicy(**kwargs)  # type: ignore[arg-type]


def test_proof_policy_edges_are_accepted() -> None:
    ProofPolicy(iat_window=1, future_skew=0, max_proof_bytes=512, max_jti_length=16)
    ProofPolicy(iat_window=300, future_skew=300, max_proof_bytes=65536, max_jti_length=4096)


def test_negative_cache_size_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        DPoPVerifier(key_cache_size=-1)


def test_jti_length_limit_exact(keys_by_alg: dict[str, SigningKey]) -> None:
    verifier = DPoPVerifier(ProofPolicy(max_jti_length=16))
    key = keys_by_alg["EdDSA"]
    ok = create_proof(key, htm="GET", htu=URI, now=NOW, jti="j" * 16)
    verifier.verify(ok, method="GET", uri=URI, now=NOW)
    too_long = create_proof(key, htm="GET", htu=URI, now=NOW, jti="j" * 17)
    with pytest.raises(InvalidDPoPProof) as info:
        verifier.verify(too_long, method="GET", uri=URI, now=NOW)
    assert info.value.reason is Reason.PROOF_CLAIM_INVALID


def test_proof_size_limit_exact(keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg["RS256"]  # RSA proofs are longer than the smallest allowed limit
    proof = create_proof(key, htm="GET", htu=URI, now=NOW)
    verifier = DPoPVerifier(ProofPolicy(max_proof_bytes=len(proof)))
    verifier.verify(proof, method="GET", uri=URI, now=NOW)
    longer = create_proof(key, htm="GET", htu=URI + "x", now=NOW)
    assert len(longer) > len(proof)
    with pytest.raises(InvalidDPoPProof) as info:
        verifier.verify(longer, method="GET", uri=URI + "x", now=NOW)
    assert info.value.reason is Reason.PROOF_TOO_LARGE


def test_b64url_helper_used_for_tampering_is_canonical() -> None:
    """Guard for the helper above: a tampered signature stays canonical base64url."""
    from proofbound._internal.b64 import is_b64url

    signature = b64url_encode(bytes(range(64)))
    proof = f"a.b.{signature}"
    tampered = _tamper_signature(proof).rpartition(".")[2]
    assert tampered != signature
    assert is_b64url(tampered)
