"""The ``DPoP`` header field itself: presence, multiplicity, size and compact framing.

RFC 9449 §4.3 steps 1-2 (spec-checklist §1.2 #16, #17): exactly one field with one value, which is
one compact JWS of three non-empty base64url segments; the size limit is checked before parsing
and a value exactly at ``max_proof_bytes`` is still read.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from proofbound import InvalidDPoPProof, ProofPolicy, Reason

from ._support import (
    Accept,
    Case,
    Ctx,
    b64,
    expect_rejection,
    jdump,
    params,
    proof_claims,
    proof_header,
    sign_raw,
)

IDP = InvalidDPoPProof
LIMIT = 1024
POLICY = ProofPolicy(max_proof_bytes=LIMIT)


def proof_of_length(ctx: Ctx, length: int) -> str:
    """A valid ES256 proof of exactly ``length`` characters (filler in header and payload)."""
    key = ctx.k.es256
    sig_len = 86  # 64-byte R||S
    for i in range(4):
        header = jdump(proof_header(key, {"pad": "h" * i}))
        for j in range(length):
            payload = jdump(proof_claims({"pad": "p" * j}))
            total = len(b64(header)) + len(b64(payload)) + sig_len + 2
            if total == length:
                proof = sign_raw(header, payload, key)
                assert len(proof) == length
                ctx.record(proof)
                return proof
            if total > length:
                break
    raise AssertionError(f"no proof of length {length}")


def _two(ctx: Ctx) -> tuple[str, str]:
    return ctx.proof(clm={"jti": "one"}), ctx.proof(clm={"jti": "two"})


def _parts(ctx: Ctx) -> list[str]:
    return ctx.proof().split(".")


def framed(build: Callable[[list[str]], str]) -> Callable[[Ctx], object]:
    """Verify a value built from the three segments of a valid proof."""
    return lambda c: c.verify(build(_parts(c)))


CASES: list[Case] = [
    # step 1: absent / empty
    Case("rfc9449_s4_3_step1_header_absent", lambda c: c.verify(None), IDP, Reason.PROOF_MISSING),
    Case("rfc9449_s4_3_step1_no_field_values", lambda c: c.verify([]), IDP, Reason.PROOF_MISSING),
    Case("rfc9449_s4_3_step1_empty_string", lambda c: c.verify(""), IDP, Reason.PROOF_MISSING),
    Case("rfc9449_s4_3_step1_list_of_empty", lambda c: c.verify([""]), IDP, Reason.PROOF_MISSING),
    Case("rfc9449_s4_3_step1_spaces_only", lambda c: c.verify("   "), IDP, Reason.PROOF_MISSING),
    Case("rfc9449_s4_3_step1_ows_only", lambda c: c.verify(" \t "), IDP, Reason.PROOF_MISSING),
    Case("rfc9449_s4_3_step1_list_ows_only", lambda c: c.verify(["\t"]), IDP, Reason.PROOF_MISSING),
    # step 1: more than one
    Case(
        "rfc9449_s4_3_step1_two_fields",
        lambda c: c.verify(list(_two(c))),
        IDP,
        Reason.PROOF_MULTIPLE,
    ),
    Case(
        "rfc9449_s4_3_step1_two_fields_tuple",
        lambda c: c.verify(_two(c)),
        IDP,
        Reason.PROOF_MULTIPLE,
    ),
    Case(
        "rfc9449_s4_3_step1_same_proof_twice",
        lambda c: c.verify([c.proof(), c.proof()]),
        IDP,
        Reason.PROOF_MULTIPLE,
    ),
    Case(
        "rfc9449_s4_3_step1_valid_and_empty_field",
        lambda c: c.verify([c.proof(), ""]),
        IDP,
        Reason.PROOF_MULTIPLE,
    ),
    Case(
        "rfc9449_s4_3_step1_comma_joined",
        lambda c: c.verify(", ".join(_two(c))),
        IDP,
        Reason.PROOF_MULTIPLE,
    ),
    Case(
        "rfc9449_s4_3_step1_comma_joined_no_space",
        lambda c: c.verify(",".join(_two(c))),
        IDP,
        Reason.PROOF_MULTIPLE,
    ),
    Case(
        "rfc9449_s4_3_step1_comma_joined_in_one_list_item",
        lambda c: c.verify([", ".join(_two(c))]),
        IDP,
        Reason.PROOF_MULTIPLE,
    ),
    Case(
        "rfc9449_s4_3_step1_trailing_comma",
        lambda c: c.verify(c.proof() + ","),
        IDP,
        Reason.PROOF_MULTIPLE,
    ),
    # size, before any parsing
    Case(
        "rfc9449_s11_1_size_limit_plus_one",
        lambda c: c.verify(proof_of_length(c, LIMIT + 1), policy=POLICY),
        IDP,
        Reason.PROOF_TOO_LARGE,
    ),
    Case(
        "rfc9449_s11_1_size_default_limit_plus_one_garbage",
        lambda c: c.verify("A" * (ProofPolicy().max_proof_bytes + 1)),
        IDP,
        Reason.PROOF_TOO_LARGE,
    ),
    Case(
        "rfc9449_s11_1_size_huge_dotted",
        lambda c: c.verify(".".join(["A" * 30_000] * 3)),
        IDP,
        Reason.PROOF_TOO_LARGE,
    ),
    # step 2: compact framing
    Case(
        "rfc9449_s4_3_step2_one_segment",
        framed(lambda p: p[0]),
        IDP,
        Reason.PROOF_MALFORMED,
    ),
    Case(
        "rfc9449_s4_3_step2_two_segments",
        framed(lambda p: f"{p[0]}.{p[1]}"),
        IDP,
        Reason.PROOF_MALFORMED,
    ),
    Case(
        "rfc9449_s4_3_step2_four_segments",
        framed(lambda p: ".".join([*p, p[2]])),
        IDP,
        Reason.PROOF_MALFORMED,
    ),
    Case(
        "rfc9449_s4_3_step2_five_segments_jwe",
        lambda c: c.verify(
            ".".join(
                [
                    b64(jdump({"alg": "RSA-OAEP", "enc": "A256GCM", "typ": "dpop+jwt"})),
                    b64(b"\x01" * 256),
                    b64(b"\x02" * 12),
                    b64(b"\x03" * 64),
                    b64(b"\x04" * 16),
                ]
            )
        ),
        IDP,
        Reason.PROOF_MALFORMED,
    ),
    Case(
        "rfc9449_s4_3_step2_empty_header_segment",
        framed(lambda p: f".{p[1]}.{p[2]}"),
        IDP,
        Reason.PROOF_MALFORMED,
    ),
    Case(
        "rfc9449_s4_3_step2_empty_payload_segment",
        framed(lambda p: f"{p[0]}..{p[2]}"),
        IDP,
        Reason.PROOF_MALFORMED,
    ),
    Case(
        "rfc9449_s4_3_step2_empty_signature_segment",
        framed(lambda p: f"{p[0]}.{p[1]}."),
        IDP,
        Reason.PROOF_MALFORMED,
    ),
    Case("rfc9449_s4_3_step2_only_dots", lambda c: c.verify(".."), IDP, Reason.PROOF_MALFORMED),
    Case(
        "rfc9449_s4_3_step2_opaque_token",
        lambda c: c.verify("Kz~8mXK1EalYznwH-LC-1fBAo"),
        IDP,
        Reason.PROOF_MALFORMED,
    ),
    Case(
        "rfc9449_s4_3_step2_scheme_prefixed",
        lambda c: c.verify("DPoP " + c.proof()),
        IDP,
        Reason.PROOF_MALFORMED,
    ),
    Case(
        "rfc9449_s4_3_step2_quoted_value",
        lambda c: c.verify(f'"{c.proof()}"'),
        IDP,
        Reason.PROOF_MALFORMED,
    ),
    Case(
        "rfc9449_s4_1_token68_space_inside",
        framed(lambda p: f"{p[0][:10]} {p[0][10:]}.{p[1]}.{p[2]}"),
        IDP,
        Reason.PROOF_MALFORMED,
    ),
    Case(
        "rfc9449_s4_1_token68_nul_inside",
        framed(lambda p: f"{p[0]}\x00.{p[1]}.{p[2]}"),
        IDP,
        Reason.PROOF_MALFORMED,
    ),
    # A JWS JSON serialization is one value, but it holds commas; a comma in the field value is
    # read as combined field lines (RFC 9110 §5.3), which is how verify.py documents it.
    Case(
        "rfc9449_s4_3_step2_jws_flattened_json_serialization",
        framed(lambda p: jdump({"protected": p[0], "payload": p[1], "signature": p[2]}).decode()),
        IDP,
        Reason.PROOF_MULTIPLE,
    ),
    Case(
        "rfc9449_s4_3_step2_jws_general_json_serialization",
        framed(
            lambda p: jdump(
                {"payload": p[1], "signatures": [{"protected": p[0], "signature": p[2]}]}
            ).decode()
        ),
        IDP,
        Reason.PROOF_MULTIPLE,
    ),
    Case(
        "rfc9449_s4_3_step2_json_serialization_single_member",
        framed(lambda p: jdump({"payload": p[1]}).decode()),
        IDP,
        Reason.PROOF_MALFORMED,
    ),
]

ACCEPTED: list[Accept] = [
    Accept("size_exactly_at_limit", lambda c: c.verify(proof_of_length(c, LIMIT), policy=POLICY)),
    Accept(
        "size_limit_minus_one", lambda c: c.verify(proof_of_length(c, LIMIT - 1), policy=POLICY)
    ),
    Accept("single_value_list", lambda c: c.verify([c.proof()])),
    Accept("single_value_tuple", lambda c: c.verify((c.proof(),))),
    Accept("surrounding_ows_trimmed", lambda c: c.verify(f" \t{c.proof()} ")),
]


@pytest.mark.parametrize("case", params(CASES))
def test_rejected(case: Case, ctx: Ctx) -> None:
    expect_rejection(case, ctx)


@pytest.mark.parametrize("case", params(ACCEPTED))
def test_accepted(case: Accept, ctx: Ctx) -> None:
    case.action(ctx)
