"""Proof claims: ``jti``, ``htm``, ``htu``, ``iat``, ``ath`` and the key binding.

RFC 9449 §4.2 and §4.3 steps 3, 8, 9, 11 and 12 (spec-checklist §1.2 #18, #23-#29, §1.8), with
the RFC 3986 §6.2.2/§6.2.3 comparison of ``htu`` (and nothing more: ``/x/`` is not ``/x``, ``/X``
is not ``/x``, ``%2F`` is not ``/``). The RFC's own proofs (Figures 2, 7, 13; spec-checklist §7.2,
§7.3) verify at their own ``iat`` and are used for negative cases; the derived negative vectors of
spec-checklist §7.8 must never match.
"""

from __future__ import annotations

from typing import Any

import pytest

from proofbound import Binding, InvalidDPoPProof, ProofPolicy, Reason
from proofbound.types import Thumbprint

from ._support import (
    DROP,
    NOW,
    RFC9449_ATH,
    RFC9449_FIG2,
    RFC9449_FIG2_IAT,
    RFC9449_FIG7,
    RFC9449_FIG7_IAT,
    RFC9449_FIG13,
    RFC9449_FIG13_IAT,
    RFC9449_FIG13_URI,
    RFC9449_JKT,
    RFC9449_TOKEN,
    RFC9449_TOKEN_URI,
    Accept,
    Case,
    Ctx,
    expect_rejection,
    params,
)

IDP = InvalidDPoPProof
WINDOW = ProofPolicy().iat_window
SKEW = ProofPolicy().future_skew
MAX_JTI = ProofPolicy().max_jti_length

# spec-checklist §7.8 (derived, recomputed): wrong ath / jkt computations for the RFC vectors.
ATH_HEX = "7d41f23b6af66770d9e7712c36b5816f4c565e868dcb9f4888a080aa4b26404a"
ATH_PADDED = "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo="
ATH_WITH_SCHEME = "flAwo5Y3oIGYMc9aPtQrGL44PSsgvv4CdQJz2GzXcE0"
JKT_UNSORTED = "n_P-LqPOv0qzz9DAZza2dAj7gtEE0kaQi0TEAzvQbCI"
JKT_SPACES = "d5TsmEfvt1SS8zJU_s71Rmn3B-OTgkBmcZxQZJnDwok"
JKT_HEX = "d1970e08e459358cbe0d6a6aab7d236722461d33747761e0941577ba282e0382"
JKT_OPTIONAL_MEMBERS = "-bvobQ_XMwu_03BoJCxzYZUhVrSYfuJnXndrqSP1hKY"
RFC7638_JKT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"  # RFC 9449 Figure 25 dpop_jkt


def claim(case_id: str, overrides: dict[str, Any], reason: Reason, **verify: Any) -> Case:
    """A proof by ES256 key A with claim overrides, verified for GET RS_URI at NOW."""
    return Case(case_id, lambda c: c.verify(c.proof(clm=overrides), **verify), IDP, reason)


def htu(case_id: str, value: Any, uri: str | None = None) -> Case:
    """A proof whose ``htu`` is ``value``, for a request to ``uri`` (default RS_URI)."""
    extra = {"uri": uri} if uri is not None else {}
    return claim(f"rfc9449_s4_3_step9_{case_id}", {"htu": value}, Reason.HTU_MISMATCH, **extra)


def with_token(case_id: str, ath: Any, reason: Reason, token: str = RFC9449_TOKEN) -> Case:
    """A proof carrying ``ath`` (DROP: none) presented with ``token``."""
    return Case(
        case_id,
        lambda c: c.verify(c.proof(clm={"ath": ath}), access_token=token),
        IDP,
        reason,
    )


def fig13_bound_to(case_id: str, jkt: str) -> Case:
    """RFC 9449 Figure 13 at its own time, with a token bound to ``jkt``."""
    return Case(
        case_id,
        lambda c: c.verify(
            RFC9449_FIG13,
            uri=RFC9449_FIG13_URI,
            now=RFC9449_FIG13_IAT,
            access_token=RFC9449_TOKEN,
            binding=Binding("dpop", Thumbprint(jkt)),
        ),
        IDP,
        Reason.JKT_MISMATCH,
    )


def fig(proof: str, iat: int, **verify: Any) -> Any:
    args: dict[str, Any] = {"method": "POST", "uri": RFC9449_TOKEN_URI, "now": iat}
    args.update(verify)
    return lambda c: c.verify(proof, **args)


CASES: list[Case] = [
    # step 3: required claims present
    *(
        claim(f"rfc9449_s4_3_step3_{name}_missing", {name: DROP}, Reason.PROOF_CLAIM_MISSING)
        for name in ("jti", "htm", "htu", "iat")
    ),
    *(
        claim(f"rfc9449_s4_3_step3_{name}_null", {name: None}, Reason.PROOF_CLAIM_MISSING)
        for name in ("jti", "htm", "htu", "iat")
    ),
    claim(
        "rfc9449_s4_3_step3_all_claims_missing",
        {"jti": DROP, "htm": DROP, "htu": DROP, "iat": DROP},
        Reason.PROOF_CLAIM_MISSING,
    ),
    # step 3: well typed -- jti
    claim("rfc9449_s4_2_jti_empty", {"jti": ""}, Reason.PROOF_CLAIM_INVALID),
    claim("rfc9449_s4_2_jti_number", {"jti": 12345}, Reason.PROOF_CLAIM_INVALID),
    claim("rfc9449_s4_2_jti_true", {"jti": True}, Reason.PROOF_CLAIM_INVALID),
    claim("rfc9449_s4_2_jti_list", {"jti": ["a"]}, Reason.PROOF_CLAIM_INVALID),
    claim("rfc9449_s4_2_jti_object", {"jti": {"a": 1}}, Reason.PROOF_CLAIM_INVALID),
    claim(
        "rfc9449_s11_1_jti_over_max_length",
        {"jti": "j" * (MAX_JTI + 1)},
        Reason.PROOF_CLAIM_INVALID,
    ),
    claim(
        "rfc9449_s11_1_jti_over_custom_max_length",
        {"jti": "j" * 17},
        Reason.PROOF_CLAIM_INVALID,
        policy=ProofPolicy(max_jti_length=16),
    ),
    # A lone surrogate is a legal JSON escape but not text: refuse it as a claim, never crash.
    claim("rfc8259_s8_2_jti_lone_surrogate", {"jti": "\ud800"}, Reason.PROOF_CLAIM_INVALID),
    # htm, htu, iat types
    claim("rfc9449_s4_2_htm_number", {"htm": 1}, Reason.PROOF_CLAIM_INVALID),
    claim("rfc9449_s4_2_htm_list", {"htm": ["GET"]}, Reason.PROOF_CLAIM_INVALID),
    claim("rfc9449_s4_2_htu_number", {"htu": 443}, Reason.PROOF_CLAIM_INVALID),
    claim("rfc9449_s4_2_htu_object", {"htu": {"href": "x"}}, Reason.PROOF_CLAIM_INVALID),
    claim("rfc9449_s4_2_iat_string", {"iat": str(NOW)}, Reason.PROOF_CLAIM_INVALID),
    claim("rfc9449_s4_2_iat_true", {"iat": True}, Reason.PROOF_CLAIM_INVALID),
    claim("rfc9449_s4_2_iat_false", {"iat": False}, Reason.PROOF_CLAIM_INVALID),
    claim("rfc9449_s4_2_iat_list", {"iat": [NOW]}, Reason.PROOF_CLAIM_INVALID),
    # step 8: htm (method tokens are case-sensitive, RFC 9110 §9.1)
    claim("rfc9449_s4_3_step8_htm_lowercase", {"htm": "get"}, Reason.HTM_MISMATCH),
    claim("rfc9449_s4_3_step8_htm_other_method", {"htm": "POST"}, Reason.HTM_MISMATCH),
    claim("rfc9449_s4_3_step8_htm_trailing_space", {"htm": "GET "}, Reason.HTM_MISMATCH),
    claim("rfc9449_s4_3_step8_htm_leading_space", {"htm": " GET"}, Reason.HTM_MISMATCH),
    claim("rfc9449_s4_3_step8_htm_empty", {"htm": ""}, Reason.HTM_MISMATCH),
    claim("rfc9449_s4_3_step8_htm_nul_suffix", {"htm": "GET\x00"}, Reason.HTM_MISMATCH),
    claim(
        "rfc9449_s4_3_step8_htm_post_lowercase_on_post",
        {"htm": "post"},
        Reason.HTM_MISMATCH,
        method="POST",
    ),
    # step 9: htu
    htu("other_host", "https://other.example/resource"),
    htu("host_suffix", "https://rs.example.evil/resource"),
    htu("host_prefix", "https://evil-rs.example/resource"),
    htu("host_trailing_dot", "https://rs.example./resource"),
    htu("other_scheme_http", "http://rs.example/resource"),
    htu("other_port", "https://rs.example:8443/resource"),
    htu("port_80_on_https", "https://rs.example:80/resource"),
    htu("other_path", "https://rs.example/other"),
    htu("path_prefix", "https://rs.example/res"),
    htu("path_extension", "https://rs.example/resource/more"),
    htu("trailing_slash", "https://rs.example/resource/"),
    htu("trailing_slash_missing", "https://rs.example/x", uri="https://rs.example/x/"),
    htu("path_case", "https://rs.example/Resource"),
    htu("encoded_slash", "https://rs.example/a%2Fb", uri="https://rs.example/a/b"),
    htu("encoded_reserved_char", "https://rs.example/a%3Bb", uri="https://rs.example/a;b"),
    htu("userinfo", "https://user@rs.example/resource"),
    htu("userinfo_password", "https://user:pw@rs.example/resource"),
    htu("userinfo_host_confusion", "https://rs.example@evil.example/resource"),
    htu("scheme_ftp", "ftp://rs.example/resource"),
    htu("scheme_wss", "wss://rs.example/resource"),
    htu("scheme_missing", "rs.example/resource"),
    htu("relative_path", "/resource"),
    htu("scheme_relative", "//rs.example/resource"),
    htu("empty", ""),
    htu("space_inside", "https://rs.example/re source"),
    htu("backslash_path", "https://rs.example\\resource"),
    htu("invalid_percent_encoding", "https://rs.example/%zz", uri="https://rs.example/%zz"),
    htu("non_ascii_host", "https://rs.exämple/resource", uri="https://rs.exämple/resource"),
    htu("ipv6_other_address", "https://[::2]/resource", uri="https://[::1]/resource"),
    htu("ipv6_not_normalised", "https://[0:0::1]/resource", uri="https://[::1]/resource"),
    htu("ipv6_unclosed", "https://[::1/resource", uri="https://[::1]/resource"),
    htu("ipv6_without_brackets", "https://::1/resource", uri="https://[::1]/resource"),
    htu("ipv6_versus_ipv4", "https://[::ffff:127.0.0.1]/r", uri="https://127.0.0.1/r"),
    htu(
        "port_out_of_range",
        "https://rs.example:65536/resource",
        uri="https://rs.example:65536/resource",
    ),
    # step 11: iat window [now - window, now + skew]
    claim("rfc9449_s4_3_step11_iat_window_plus_one", {"iat": NOW - WINDOW - 1}, Reason.IAT_TOO_OLD),
    claim(
        "rfc9449_s4_3_step11_iat_fraction_past_window",
        {"iat": NOW - WINDOW - 0.5},
        Reason.IAT_TOO_OLD,
    ),
    claim("rfc9449_s4_3_step11_iat_zero", {"iat": 0}, Reason.IAT_TOO_OLD),
    claim("rfc9449_s4_3_step11_iat_negative", {"iat": -1}, Reason.IAT_TOO_OLD),
    claim("rfc9449_s4_3_step11_iat_milliseconds", {"iat": NOW * 1000}, Reason.IAT_IN_FUTURE),
    claim("rfc9449_s4_3_step11_iat_skew_plus_one", {"iat": NOW + SKEW + 1}, Reason.IAT_IN_FUTURE),
    claim(
        "rfc9449_s4_3_step11_iat_fraction_past_skew",
        {"iat": NOW + SKEW + 0.5},
        Reason.IAT_IN_FUTURE,
    ),
    claim("rfc9449_s4_3_step11_iat_huge", {"iat": 10**30}, Reason.IAT_IN_FUTURE),
    claim(
        "rfc9449_s4_3_step11_iat_custom_window_plus_one",
        {"iat": NOW - 11},
        Reason.IAT_TOO_OLD,
        policy=ProofPolicy(iat_window=10),
    ),
    # step 12: ath (with the RFC 9449 §7 token and the spec-checklist §7.8 wrong encodings)
    with_token("rfc9449_s4_3_step12_ath_missing", DROP, Reason.PROOF_CLAIM_MISSING),
    with_token("rfc9449_s4_3_step12_ath_null", None, Reason.PROOF_CLAIM_MISSING),
    with_token("rfc9449_s4_3_step12_ath_number", 1, Reason.PROOF_CLAIM_INVALID),
    with_token("rfc9449_s4_3_step12_ath_list", [RFC9449_ATH], Reason.PROOF_CLAIM_INVALID),
    with_token(
        "rfc9449_s4_3_step12_ath_of_another_token",
        RFC9449_ATH,
        Reason.ATH_MISMATCH,
        token="another-access-token",
    ),
    with_token("rfc9449_s4_3_step12_ath_hex", ATH_HEX, Reason.ATH_MISMATCH),
    with_token("rfc9449_s4_3_step12_ath_padded", ATH_PADDED, Reason.ATH_MISMATCH),
    with_token(
        "rfc9449_s4_3_step12_ath_over_scheme_and_token", ATH_WITH_SCHEME, Reason.ATH_MISMATCH
    ),
    with_token("rfc9449_s4_3_step12_ath_empty", "", Reason.ATH_MISMATCH),
    with_token("rfc9449_s4_3_step12_ath_truncated", RFC9449_ATH[:-1], Reason.ATH_MISMATCH),
    with_token(
        "rfc9449_s4_3_step12_ath_standard_base64",
        RFC9449_ATH.replace("-", "+").replace("_", "/") + "=",
        Reason.ATH_MISMATCH,
    ),
    with_token("rfc8259_s8_2_ath_lone_surrogate", "\ud800", Reason.ATH_MISMATCH),
    with_token(
        "rfc9449_s4_2_ath_non_ascii_token",
        RFC9449_ATH,
        Reason.ATH_MISMATCH,
        token="tökén",
    ),
    # step 12: the token's key binding (RFC 9449 §6.1; spec-checklist §7.8 wrong jkt encodings)
    Case(
        "rfc9449_s4_3_step12_jkt_of_other_key",
        lambda c: c.verify(c.proof(), binding=Binding("dpop", c.k.es256_b.thumbprint)),
        IDP,
        Reason.JKT_MISMATCH,
    ),
    Case(
        "rfc9449_s4_3_step12_jkt_case_changed",
        lambda c: c.verify(
            c.proof(), binding=Binding("dpop", Thumbprint(c.k.es256.thumbprint.swapcase()))
        ),
        IDP,
        Reason.JKT_MISMATCH,
    ),
    fig13_bound_to("rfc9449_s6_1_jkt_hex", JKT_HEX),
    fig13_bound_to("rfc9449_s6_1_jkt_optional_members", JKT_OPTIONAL_MEMBERS),
    fig13_bound_to("rfc9449_s6_1_jkt_unsorted_members", JKT_UNSORTED),
    fig13_bound_to("rfc9449_s6_1_jkt_json_with_spaces", JKT_SPACES),
    fig13_bound_to("rfc9449_s6_1_jkt_padded", RFC9449_JKT + "="),
    fig13_bound_to("rfc9449_s10_fig25_dpop_jkt_is_rsa_key", RFC7638_JKT),
    # the RFC's own proofs, in the wrong context
    Case(
        "rfc9449_fig2_wrong_method",
        fig(RFC9449_FIG2, RFC9449_FIG2_IAT, method="GET"),
        IDP,
        Reason.HTM_MISMATCH,
    ),
    Case(
        "rfc9449_fig2_wrong_uri",
        fig(RFC9449_FIG2, RFC9449_FIG2_IAT, uri=RFC9449_FIG13_URI),
        IDP,
        Reason.HTU_MISMATCH,
    ),
    Case(
        "rfc9449_fig2_http_instead_of_https",
        fig(RFC9449_FIG2, RFC9449_FIG2_IAT, uri="http://server.example.com/token"),
        IDP,
        Reason.HTU_MISMATCH,
    ),
    Case(
        "rfc9449_fig2_verified_today",
        fig(RFC9449_FIG2, RFC9449_FIG2_IAT, now=NOW),
        IDP,
        Reason.IAT_TOO_OLD,
    ),
    Case(
        "rfc9449_fig2_window_plus_one",
        fig(RFC9449_FIG2, RFC9449_FIG2_IAT, now=RFC9449_FIG2_IAT + WINDOW + 1),
        IDP,
        Reason.IAT_TOO_OLD,
    ),
    Case(
        "rfc9449_fig2_skew_plus_one",
        fig(RFC9449_FIG2, RFC9449_FIG2_IAT, now=RFC9449_FIG2_IAT - SKEW - 1),
        IDP,
        Reason.IAT_IN_FUTURE,
    ),
    Case(
        "rfc9449_fig7_at_fig2_time",
        fig(RFC9449_FIG7, RFC9449_FIG2_IAT),
        IDP,
        Reason.IAT_IN_FUTURE,
    ),
    Case(
        "rfc9449_fig2_with_access_token_lacks_ath",
        fig(RFC9449_FIG2, RFC9449_FIG2_IAT, access_token=RFC9449_TOKEN),
        IDP,
        Reason.PROOF_CLAIM_MISSING,
    ),
    Case(
        "rfc9449_fig2_alg_off_allow_list",
        fig(RFC9449_FIG2, RFC9449_FIG2_IAT, policy=ProofPolicy(algorithms=("EdDSA",))),
        IDP,
        Reason.PROOF_ALG,
    ),
    Case(
        "rfc9449_fig13_with_another_access_token",
        lambda c: c.verify(
            RFC9449_FIG13,
            uri=RFC9449_FIG13_URI,
            now=RFC9449_FIG13_IAT,
            access_token=RFC9449_TOKEN + "x",
        ),
        IDP,
        Reason.ATH_MISMATCH,
    ),
    Case(
        "rfc9449_fig13_with_token_as_bearer_scheme_string",
        lambda c: c.verify(
            RFC9449_FIG13,
            uri=RFC9449_FIG13_URI,
            now=RFC9449_FIG13_IAT,
            access_token="DPoP " + RFC9449_TOKEN,
        ),
        IDP,
        Reason.ATH_MISMATCH,
    ),
    Case(
        "rfc9449_fig13_as_post",
        lambda c: c.verify(
            RFC9449_FIG13, method="POST", uri=RFC9449_FIG13_URI, now=RFC9449_FIG13_IAT
        ),
        IDP,
        Reason.HTM_MISMATCH,
    ),
]


def _fig13(c: Ctx, **extra: Any) -> object:
    return c.verify(
        RFC9449_FIG13,
        uri=RFC9449_FIG13_URI,
        now=RFC9449_FIG13_IAT,
        access_token=RFC9449_TOKEN,
        **extra,
    )


ACCEPTED: list[Accept] = [
    Accept("rfc9449_fig2_at_own_iat", fig(RFC9449_FIG2, RFC9449_FIG2_IAT)),
    Accept("rfc9449_fig7_at_own_iat", fig(RFC9449_FIG7, RFC9449_FIG7_IAT)),
    Accept("rfc9449_fig13_at_own_iat", _fig13),
    Accept(
        "rfc9449_fig13_bound_to_rfc_jkt",
        lambda c: _fig13(c, binding=Binding("dpop", Thumbprint(RFC9449_JKT))),
    ),
    Accept(
        "rfc9449_s11_1_jti_at_max_length", lambda c: c.verify(c.proof(clm={"jti": "j" * MAX_JTI}))
    ),
    Accept(
        "rfc9449_s4_3_step11_iat_exactly_window",
        lambda c: c.verify(c.proof(clm={"iat": NOW - WINDOW})),
    ),
    Accept(
        "rfc9449_s4_3_step11_iat_exactly_skew", lambda c: c.verify(c.proof(clm={"iat": NOW + SKEW}))
    ),
    Accept("rfc9449_s4_3_step11_iat_float", lambda c: c.verify(c.proof(clm={"iat": NOW - 0.5}))),
    Accept(
        "rfc9449_s4_3_step9_htu_ignores_query_and_fragment",
        lambda c: c.verify(c.proof(), uri="https://rs.example/resource?a=1#f"),
    ),
    Accept(
        "rfc3986_s6_2_2_htu_case_and_default_port",
        lambda c: c.verify(c.proof(clm={"htu": "HTTPS://RS.EXAMPLE:443/resource"})),
    ),
    Accept(
        "rfc3986_s6_2_2_htu_unreserved_percent_decoded",
        lambda c: c.verify(c.proof(clm={"htu": "https://rs.example/%72esource"})),
    ),
    Accept(
        "rfc3986_s6_2_2_htu_dot_segments_removed",
        lambda c: c.verify(c.proof(clm={"htu": "https://rs.example/a/../resource"})),
    ),
    Accept(
        "rfc3986_s6_2_3_htu_ipv6_default_port",
        lambda c: c.verify(c.proof(clm={"htu": "https://[::1]:443/r"}), uri="https://[::1]/r"),
    ),
    Accept(
        "rfc9449_s4_3_step12_ath_and_binding",
        lambda c: c.verify(
            c.proof(clm={"ath": RFC9449_ATH}),
            access_token=RFC9449_TOKEN,
            binding=Binding("dpop", c.k.es256.thumbprint),
        ),
    ),
]


@pytest.mark.parametrize("case", params(CASES))
def test_rejected(case: Case, ctx: Ctx) -> None:
    expect_rejection(case, ctx)


@pytest.mark.parametrize("case", params(ACCEPTED))
def test_accepted(case: Accept, ctx: Ctx) -> None:
    case.action(ctx)
