"""Server-provided nonces (RFC 9449 §8, §9; spec-checklist §1.6 #59-#67).

A resource server with a :class:`RollingNonces` source requires a nonce; a missing or wrong one is
answered with ``use_dpop_nonce`` carrying a fresh, valid nonce (``1*NQCHAR``, §8.1). A nonce is
accepted only by the server (purpose and origin) and secret that issued it, within its window.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from proofbound import (
    DPoPVerifier,
    InvalidDPoPProof,
    ProofboundError,
    ProofPolicy,
    Reason,
    RollingNonces,
    UseDPoPNonce,
)

from ._support import NOW, RS_URI, Accept, Case, Ctx, expect_rejection, params

SECRET = b"s" * 32
OLD_SECRET = b"o" * 32
OTHER_SECRET = b"x" * 32
ORIGIN = "https://rs.example"
STEP = 60
WINDOW_STEPS = 2
NQCHAR = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 9449 §8.1
RFC9449_FIG20_NONCE = "eyJ7S_zG.eyJH0-Z.HX4w-7v"
IDP = InvalidDPoPProof
UDN = UseDPoPNonce


def source(*secrets: bytes, purpose: Any = "rs", origin: str = ORIGIN) -> RollingNonces:
    return RollingNonces(
        secrets or (SECRET,),
        purpose=purpose,
        origin=origin,
        step_seconds=STEP,
        window_steps=WINDOW_STEPS,
    )


def issued(at: int = NOW, **kwargs: Any) -> str:
    """A nonce issued at ``at`` by a source (ours, unless ``kwargs`` change it)."""
    return source(*kwargs.pop("secrets", ()), **kwargs).issue(at)


def altered(nonce: str, index: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    char = nonce[index]
    replacement = alphabet[(alphabet.index(char) + 1) % 64]
    return nonce[:index] + replacement + nonce[index + 1 :]


def with_nonce(
    case_id: str,
    nonce: Any,
    exc: type[ProofboundError] = UDN,
    reason: Reason = Reason.NONCE_INVALID,
    verifier_source: RollingNonces | None = None,
    **claims: Any,
) -> Case:
    """A proof carrying ``nonce`` (callable: computed lazily) checked by ``verifier_source``."""

    def run(c: Ctx) -> object:
        value = nonce() if callable(nonce) else nonce
        if isinstance(value, str):
            c.record(value)
        proof = c.proof(clm={"nonce": value, **claims})
        return c.verify(proof, nonces=verifier_source or source())

    return Case(case_id, run, exc, reason)


def _missing(c: Ctx) -> object:
    return c.verify(c.proof(), nonces=source())


def _rotation_old_secret_removed(c: Ctx) -> object:
    nonce = issued(secrets=(OLD_SECRET,))
    return c.verify(c.proof(clm={"nonce": nonce}), nonces=source(SECRET))


def _present_but_not_required(c: Ctx) -> object:
    c.nonces = source()
    verifier = DPoPVerifier(ProofPolicy(), nonces=c.nonces)
    proof = c.proof(clm={"nonce": altered(issued(), 20)})
    return verifier.verify(proof, method="GET", uri=RS_URI, now=NOW, require_nonce=False)


CASES: list[Case] = [
    Case("rfc9449_s9_nonce_missing", _missing, UDN, Reason.NONCE_MISSING),
    with_nonce("rfc9449_s9_nonce_null_is_missing", None, reason=Reason.NONCE_MISSING),
    with_nonce("rfc9449_s8_nonce_other_secret", lambda: issued(secrets=(OTHER_SECRET,))),
    with_nonce("rfc9449_s9_nonce_of_the_as", lambda: issued(purpose="as")),
    with_nonce(
        "rfc9449_s9_rs_nonce_at_the_as",
        lambda: issued(),
        verifier_source=source(purpose="as"),
    ),
    with_nonce("rfc9449_s9_nonce_other_origin", lambda: issued(origin="https://other.example")),
    with_nonce(
        "rfc9449_s8_nonce_expired",
        lambda: issued(NOW - (WINDOW_STEPS + 1) * STEP),
    ),
    with_nonce("rfc9449_s8_nonce_long_expired", lambda: issued(NOW - 86_400)),
    with_nonce("rfc9449_s8_nonce_two_steps_ahead", lambda: issued(NOW + 2 * STEP)),
    with_nonce("rfc9449_s8_nonce_altered_first_char", lambda: altered(issued(), 0)),
    with_nonce("rfc9449_s8_nonce_altered_step_byte", lambda: altered(issued(), 9)),
    with_nonce("rfc9449_s8_nonce_altered_last_char", lambda: altered(issued(), -1)),
    with_nonce("rfc9449_s8_nonce_truncated", lambda: issued()[:-1]),
    with_nonce("rfc9449_s8_nonce_truncated_to_quantum", lambda: issued()[:-4]),
    with_nonce("rfc9449_s8_nonce_extended", lambda: issued() + "AAAA"),
    with_nonce("rfc9449_s8_nonce_padded", lambda: issued() + "="),
    with_nonce("rfc9449_s8_1_nonce_not_base64url", "!!!!"),
    with_nonce("rfc9449_s8_1_nonce_too_long", "A" * 65),
    with_nonce("rfc9449_s8_nonce_empty", ""),
    with_nonce("rfc9449_s8_nonce_rfc_figure_20", RFC9449_FIG20_NONCE),
    with_nonce("rfc9449_s8_nonce_lone_surrogate", "\ud800"),
    Case(
        "rfc9449_s8_rotation_old_secret_removed",
        _rotation_old_secret_removed,
        UDN,
        Reason.NONCE_INVALID,
    ),
    Case(
        "rfc9449_s8_invalid_nonce_checked_even_when_not_required",
        _present_but_not_required,
        UDN,
        Reason.NONCE_INVALID,
    ),
    # the nonce claim must be a string (RFC 9449 §4.2)
    with_nonce("rfc9449_s4_2_nonce_number", 12345, IDP, Reason.PROOF_CLAIM_INVALID),
    with_nonce("rfc9449_s4_2_nonce_list", ["n"], IDP, Reason.PROOF_CLAIM_INVALID),
    with_nonce("rfc9449_s4_2_nonce_true", True, IDP, Reason.PROOF_CLAIM_INVALID),
    # a nonce retry must be worth it: every other failure is reported first
    with_nonce(
        "rfc9449_s8_other_failure_before_nonce",
        None,
        IDP,
        Reason.HTM_MISMATCH,
        htm="POST",
    ),
]


def _accept_with(nonce_at: int, verifier_source: RollingNonces | None = None) -> Any:
    def run(c: Ctx) -> object:
        return c.verify(
            c.proof(clm={"nonce": issued(nonce_at)}), nonces=verifier_source or source()
        )

    return run


ACCEPTED: list[Accept] = [
    Accept("rfc9449_s8_nonce_current_step", _accept_with(NOW)),
    Accept("rfc9449_s8_nonce_oldest_step_in_window", _accept_with(NOW - WINDOW_STEPS * STEP)),
    Accept("rfc9449_s8_nonce_one_step_ahead", _accept_with(NOW + STEP)),
    Accept(
        "rfc9449_s8_rotation_old_secret_still_listed",
        lambda c: c.verify(
            c.proof(clm={"nonce": issued(secrets=(OLD_SECRET,))}),
            nonces=source(SECRET, OLD_SECRET),
        ),
    ),
    Accept(
        "nonce_ignored_without_a_source",
        lambda c: c.verify(c.proof(clm={"nonce": "anything"})),
    ),
]


@pytest.mark.parametrize("case", params(CASES))
def test_rejected(case: Case, ctx: Ctx) -> None:
    err = expect_rejection(case, ctx)
    if isinstance(err, UseDPoPNonce):
        # §8/§9: the error carries a fresh nonce that this server accepts, in 1*NQCHAR.
        assert NQCHAR.fullmatch(err.nonce)
        assert ctx.nonces is not None
        assert ctx.nonces.is_valid(err.nonce, NOW)
        ctx.record(err.nonce)


@pytest.mark.parametrize("case", params(ACCEPTED))
def test_accepted(case: Accept, ctx: Ctx) -> None:
    case.action(ctx)


def test_rfc9449_s8_fresh_nonce_is_nqchar_and_unpredictable() -> None:
    nonces = {source().issue(NOW), source(OTHER_SECRET).issue(NOW), source().issue(NOW + STEP)}
    assert len(nonces) == 3
    assert all(NQCHAR.fullmatch(nonce) for nonce in nonces)


def test_rfc9449_s9_missing_nonce_error_carries_a_usable_nonce(ctx: Ctx) -> None:
    with pytest.raises(UseDPoPNonce) as info:
        ctx.verify(ctx.proof(), nonces=source())
    fresh = info.value.nonce
    assert NQCHAR.fullmatch(fresh)
    assert fresh not in str(info.value)
    assert fresh not in repr(info.value)
    retried = ctx.verify(ctx.proof(clm={"nonce": fresh}), nonces=source())
    assert retried.nonce == fresh
