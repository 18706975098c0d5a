"""Proof replay (RFC 9449 §11.1; spec-checklist §1.2 #30, §1.8).

The ``jti`` is spent last, with :func:`record_proof`, in an atomic cache keyed by (key thumbprint,
``jti``) -- length-prefixed, so part boundaries cannot be shifted -- for as long as the proof could
be accepted. A proof that fails any other check never spends its ``jti``.
"""

from __future__ import annotations

import asyncio

import pytest

from proofbound import (
    DPoPVerifier,
    FrozenClock,
    InvalidDPoPProof,
    MemoryReplayCache,
    ProofPolicy,
    Reason,
    StorageUnavailable,
    record_proof,
    record_proof_async,
    replay_key,
)

from ._support import (
    NOW,
    RFC9449_FIG2,
    RFC9449_FIG2_IAT,
    RFC9449_FIG7,
    RFC9449_FIG7_IAT,
    RFC9449_TOKEN_URI,
    RS_URI,
    Case,
    Ctx,
    expect_rejection,
    params,
)

IDP = InvalidDPoPProof
WINDOW = ProofPolicy().iat_window


def cache(now: int = NOW, **limits: int) -> MemoryReplayCache:
    return MemoryReplayCache(clock=FrozenClock(now), **limits)


def _same_proof_twice(c: Ctx) -> object:
    store, proof = cache(), c.proof()
    record_proof(store, c.verify(proof))
    record_proof(store, c.verify(proof))
    return None


def _two_verifiers_one_cache(c: Ctx) -> object:
    store, proof = cache(), c.proof()
    first, second = DPoPVerifier(), DPoPVerifier()
    record_proof(store, first.verify(proof, method="GET", uri=RS_URI, now=NOW))
    record_proof(store, second.verify(proof, method="GET", uri=RS_URI, now=NOW + 1))
    return None


def _same_jti_other_request(c: Ctx) -> object:
    store = cache()
    record_proof(store, c.verify(c.proof(clm={"jti": "shared"})))
    other = c.proof(clm={"jti": "shared", "htm": "POST", "htu": "https://rs.example/other"})
    record_proof(store, c.verify(other, method="POST", uri="https://rs.example/other"))
    return None


def _last_second_of_window(c: Ctx) -> object:
    clock = FrozenClock(NOW)
    store, proof = MemoryReplayCache(clock=clock), c.proof()
    record_proof(store, c.verify(proof))
    clock.set(NOW + WINDOW)
    record_proof(store, c.verify(proof, now=NOW + WINDOW))
    return None


def _after_window(c: Ctx) -> object:
    clock = FrozenClock(NOW)
    store, proof = MemoryReplayCache(clock=clock), c.proof()
    record_proof(store, c.verify(proof))
    clock.set(NOW + WINDOW + 1)
    # The cache may forget the jti now: the iat window refuses the proof instead.
    record_proof(store, c.verify(proof, now=NOW + WINDOW + 1))
    return None


def _rfc_fig2_then_fig7(c: Ctx) -> object:
    # spec-checklist §7.2: Figure 7 reuses Figure 2's jti with the same key.
    store = cache(RFC9449_FIG2_IAT)
    for proof, iat in ((RFC9449_FIG2, RFC9449_FIG2_IAT), (RFC9449_FIG7, RFC9449_FIG7_IAT)):
        record_proof(store, c.verify(proof, method="POST", uri=RFC9449_TOKEN_URI, now=iat))
    return None


def _async_twice(c: Ctx) -> object:
    store, proof = cache(), c.proof()

    async def run() -> None:
        await record_proof_async(store, c.verify(proof))
        await record_proof_async(store, c.verify(proof))

    return asyncio.run(run())


def _full_cache(c: Ctx) -> object:
    store = cache(max_entries=1)
    record_proof(store, c.verify(c.proof(clm={"jti": "first"})))
    record_proof(store, c.verify(c.proof(clm={"jti": "second"})))
    return None


CASES: list[Case] = [
    Case("rfc9449_s11_1_same_proof_twice", _same_proof_twice, IDP, Reason.PROOF_REPLAYED),
    Case(
        "rfc9449_s11_1_same_proof_two_verifiers",
        _two_verifiers_one_cache,
        IDP,
        Reason.PROOF_REPLAYED,
    ),
    Case(
        "rfc9449_s11_1_same_jti_same_key_other_request",
        _same_jti_other_request,
        IDP,
        Reason.PROOF_REPLAYED,
    ),
    Case(
        "rfc9449_s11_1_replay_in_last_second_of_window",
        _last_second_of_window,
        IDP,
        Reason.PROOF_REPLAYED,
    ),
    Case("rfc9449_s11_1_replay_after_window_too_old", _after_window, IDP, Reason.IAT_TOO_OLD),
    Case("rfc9449_fig2_then_fig7_same_jti", _rfc_fig2_then_fig7, IDP, Reason.PROOF_REPLAYED),
    Case("rfc9449_s11_1_async_same_proof_twice", _async_twice, IDP, Reason.PROOF_REPLAYED),
    Case(
        "rfc9449_s11_1_full_cache_fails_closed",
        _full_cache,
        StorageUnavailable,
        Reason.STORAGE_UNAVAILABLE,
    ),
]


@pytest.mark.parametrize("case", params(CASES))
def test_rejected(case: Case, ctx: Ctx) -> None:
    expect_rejection(case, ctx)


def test_rfc9449_s11_1_same_jti_other_key_is_not_a_replay(ctx: Ctx) -> None:
    store = cache()
    record_proof(store, ctx.verify(ctx.proof(ctx.k.es256, clm={"jti": "shared"})))
    record_proof(store, ctx.verify(ctx.proof(ctx.k.es256_b, clm={"jti": "shared"})))
    record_proof(store, ctx.verify(ctx.proof(ctx.k.ed, clm={"jti": "shared"})))
    assert len(store) == 3


def test_rfc9449_s4_3_invalid_proof_never_spends_its_jti(ctx: Ctx) -> None:
    store = cache()
    wrong_method = ctx.proof(clm={"jti": "precious", "htm": "POST"})
    with pytest.raises(InvalidDPoPProof) as info:
        record_proof(store, ctx.verify(wrong_method))
    assert info.value.reason is Reason.HTM_MISMATCH
    assert len(store) == 0
    # the valid proof with the same jti still records, exactly once
    valid = ctx.proof(clm={"jti": "precious"})
    record_proof(store, ctx.verify(valid))
    with pytest.raises(InvalidDPoPProof) as again:
        record_proof(store, ctx.verify(valid))
    assert again.value.reason is Reason.PROOF_REPLAYED


def test_rfc9449_s11_1_replay_key_is_length_prefixed() -> None:
    assert replay_key("ab", "c") != replay_key("a", "bc")
    assert replay_key("abc", "") != replay_key("", "abc")
    assert replay_key("a", "b") == replay_key("a", "b")
    assert len(replay_key("k", "j" * 4096)) == 32  # does not grow with the jti
    store = cache()
    assert store.add_if_absent(replay_key("ab", "c"), expires_at=NOW + 10)
    assert store.add_if_absent(replay_key("a", "bc"), expires_at=NOW + 10)


def test_rfc9449_s11_1_replay_entry_lives_for_the_whole_window(ctx: Ctx) -> None:
    proof = ctx.verify(ctx.proof(clm={"iat": NOW - 10}))
    assert proof.replay_expires_at > NOW - 10 + WINDOW
