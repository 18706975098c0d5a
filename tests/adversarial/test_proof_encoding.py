"""Strict base64url and strict JSON inside a DPoP proof (RFC 9449 §4.3 step 2).

RFC 7515 §2 / RFC 4648 §5: one canonical unpadded base64url encoding per segment (no ``=``, no
``+``/``/``, no whitespace, zero unused bits, no impossible length). RFC 7515 §5.2 step 4 /
RFC 8259: the header and payload are UTF-8 JSON objects with unique member names and finite
numbers, bounded in depth, without trailing data.

Every malformed header or payload is *signed* over its exact signing input with the ``jwk`` it
names, so the encoding defect is the only defect.
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
    json_with_unused_bits,
    noncanonical_tail,
    params,
    proof_claims,
    proof_header,
    with_length_mod4,
)

IDP = InvalidDPoPProof
MALFORMED = Reason.PROOF_MALFORMED


def _header_json(c: Ctx) -> bytes:
    return jdump(proof_header(c.k.es256))


def _payload_json() -> bytes:
    return jdump(proof_claims())


# --- segment-level (base64url) builders ----------------------------------------------------------


def header_seg(mutate: Callable[[str], str]) -> Callable[[Ctx], object]:
    """Signed proof whose header segment is ``mutate(canonical header segment)``."""
    return lambda c: c.verify(c.segs(mutate(b64(_header_json(c))), b64(_payload_json())))


def payload_seg(mutate: Callable[[str], str]) -> Callable[[Ctx], object]:
    """Signed proof whose payload segment is ``mutate(canonical payload segment)``."""
    return lambda c: c.verify(c.segs(b64(_header_json(c)), mutate(b64(_payload_json()))))


def sig_seg(mutate: Callable[[str], str]) -> Callable[[Ctx], object]:
    """Valid proof whose signature segment is replaced by ``mutate(signature segment)``."""

    def run(c: Ctx) -> object:
        header, payload, signature = c.proof().split(".")
        return c.verify(f"{header}.{payload}.{mutate(signature)}")

    return run


def _middle(text: str, insert: str) -> str:
    half = len(text) // 2
    return text[:half] + insert + text[half:]


def _std_alphabet_header(char: str) -> Callable[[Ctx], object]:
    """Header segment where a ``-``/``_`` is written in the standard alphabet (``+``/``/``)."""
    urlsafe = {"+": "-", "/": "_"}[char]

    def run(c: Ctx) -> object:
        for prefix in ("", "a", "aa"):
            seg = b64(jdump(proof_header(c.k.es256, {"pad": prefix + "~~~???"})))
            if urlsafe in seg:
                return c.verify(c.segs(seg.replace(urlsafe, char), b64(_payload_json())))
        raise AssertionError("no segment with the character")

    return run


def _std_alphabet_payload(char: str) -> Callable[[Ctx], object]:
    urlsafe = {"+": "-", "/": "_"}[char]

    def run(c: Ctx) -> object:
        for prefix in ("", "a", "aa"):
            seg = b64(jdump(proof_claims({"pad": prefix + "~~~???"})))
            if urlsafe in seg:
                return c.verify(c.segs(b64(_header_json(c)), seg.replace(urlsafe, char)))
        raise AssertionError("no segment with the character")

    return run


def _std_alphabet_signature(char: str) -> Callable[[Ctx], object]:
    urlsafe = {"+": "-", "/": "_"}[char]

    def run(c: Ctx) -> object:
        for _ in range(100):  # ES256 signatures are randomized
            header, payload, signature = c.proof().split(".")
            if urlsafe in signature:
                return c.verify(f"{header}.{payload}.{signature.replace(urlsafe, char, 1)}")
        raise AssertionError("no signature with the character")

    return run


def _noncanonical_header(c: Ctx) -> object:
    seg = noncanonical_tail(b64(json_with_unused_bits(proof_header(c.k.es256))))
    return c.verify(c.segs(seg, b64(_payload_json())))


def _noncanonical_payload(c: Ctx) -> object:
    seg = noncanonical_tail(b64(json_with_unused_bits(proof_claims())))
    return c.verify(c.segs(b64(_header_json(c)), seg))


# --- JSON-level builders (canonical base64url of defective bytes) --------------------------------


def header_json(build: Callable[[bytes], bytes]) -> Callable[[Ctx], object]:
    """Signed proof whose header is ``build(compact header JSON)``."""
    return lambda c: c.verify(c.raw(build(_header_json(c)), _payload_json()))


def payload_json(build: Callable[[bytes], bytes]) -> Callable[[Ctx], object]:
    """Signed proof whose payload is ``build(compact claims JSON)``."""
    return lambda c: c.verify(c.raw(_header_json(c), build(_payload_json())))


def add_member(raw: bytes) -> Callable[[bytes], bytes]:
    """Append ``,"x":<raw>`` to a JSON object text."""
    return lambda data: data[:-1] + b',"x":' + raw + b"}"


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


CASES: list[Case] = [
    # base64url: padding
    Case("rfc7515_s2_header_padding", header_seg(lambda s: s + "="), IDP, MALFORMED),
    Case("rfc7515_s2_payload_padding", payload_seg(lambda s: s + "=="), IDP, MALFORMED),
    Case("rfc7515_s2_signature_padding", sig_seg(lambda s: s + "=="), IDP, MALFORMED),
    Case(
        "rfc7515_s2_header_padded_to_quantum",
        header_seg(lambda s: s + "=" * (-len(s) % 4) if len(s) % 4 else s + "===="),
        IDP,
        MALFORMED,
    ),
    # base64url: standard alphabet
    Case("rfc4648_s5_header_plus", _std_alphabet_header("+"), IDP, MALFORMED),
    Case("rfc4648_s5_header_slash", _std_alphabet_header("/"), IDP, MALFORMED),
    Case("rfc4648_s5_payload_plus", _std_alphabet_payload("+"), IDP, MALFORMED),
    Case("rfc4648_s5_payload_slash", _std_alphabet_payload("/"), IDP, MALFORMED),
    Case("rfc4648_s5_signature_plus", _std_alphabet_signature("+"), IDP, MALFORMED),
    Case("rfc4648_s5_signature_slash", _std_alphabet_signature("/"), IDP, MALFORMED),
    # base64url: whitespace inside
    Case("rfc7515_s2_header_space", header_seg(lambda s: _middle(s, " ")), IDP, MALFORMED),
    Case("rfc7515_s2_header_newline", header_seg(lambda s: _middle(s, "\n")), IDP, MALFORMED),
    Case("rfc7515_s2_payload_newline", payload_seg(lambda s: _middle(s, "\n")), IDP, MALFORMED),
    Case("rfc7515_s2_payload_tab", payload_seg(lambda s: _middle(s, "\t")), IDP, MALFORMED),
    Case("rfc7515_s2_payload_trailing_lf", payload_seg(lambda s: s + "\n"), IDP, MALFORMED),
    Case("rfc7515_s2_signature_space", sig_seg(lambda s: _middle(s, " ")), IDP, MALFORMED),
    Case("rfc7515_s2_signature_crlf", sig_seg(lambda s: _middle(s, "\r\n")), IDP, MALFORMED),
    # base64url: non-ASCII
    Case("rfc7515_s2_header_non_ascii", header_seg(lambda s: _middle(s, "é")), IDP, MALFORMED),
    Case("rfc7515_s2_payload_non_ascii", payload_seg(lambda s: _middle(s, "é")), IDP, MALFORMED),
    Case("rfc7515_s2_signature_non_ascii", sig_seg(lambda s: _middle(s, "é")), IDP, MALFORMED),
    Case(
        "rfc7515_s2_signature_fullwidth_letter",
        sig_seg(lambda s: s[:-1] + "\uff21"),
        IDP,
        MALFORMED,
    ),
    # base64url: non-canonical unused bits (decodes to the same bytes)
    Case("rfc7515_s2_header_noncanonical_tail", _noncanonical_header, IDP, MALFORMED),
    Case("rfc7515_s2_payload_noncanonical_tail", _noncanonical_payload, IDP, MALFORMED),
    Case("rfc7515_s2_signature_noncanonical_tail", sig_seg(noncanonical_tail), IDP, MALFORMED),
    # base64url: impossible length
    Case(
        "rfc4648_s5_header_length_mod4_is_1",
        header_seg(lambda s: with_length_mod4(s, 1)),
        IDP,
        MALFORMED,
    ),
    Case(
        "rfc4648_s5_payload_length_mod4_is_1",
        payload_seg(lambda s: with_length_mod4(s, 1)),
        IDP,
        MALFORMED,
    ),
    Case(
        "rfc4648_s5_signature_length_mod4_is_1",
        sig_seg(lambda s: with_length_mod4(s, 1)),
        IDP,
        MALFORMED,
    ),
    # JSON: duplicate member names (RFC 7515 §5.2 step 4)
    Case(
        "rfc7515_s5_2_header_duplicate_typ",
        header_json(lambda d: b'{"typ":"dpop+jwt",' + d[1:]),
        IDP,
        MALFORMED,
    ),
    Case(
        "rfc7515_s5_2_header_duplicate_alg_none",
        header_json(lambda d: b'{"alg":"none",' + d[1:]),
        IDP,
        MALFORMED,
    ),
    Case(
        "rfc7515_s5_2_header_duplicate_via_escape",
        header_json(lambda d: b'{"t\\u0079p":"JWT",' + d[1:]),
        IDP,
        MALFORMED,
    ),
    Case(
        "rfc7515_s5_2_header_duplicate_inside_jwk",
        header_json(lambda d: d.replace(b'"jwk":{', b'"jwk":{"x":"AAAA",')),
        IDP,
        MALFORMED,
    ),
    Case(
        "rfc7515_s5_2_payload_duplicate_htm",
        payload_json(lambda d: b'{"htm":"POST",' + d[1:]),
        IDP,
        MALFORMED,
    ),
    Case(
        "rfc7515_s5_2_payload_duplicate_jti_via_escape",
        payload_json(lambda d: b'{"j\\u0074i":"other",' + d[1:]),
        IDP,
        MALFORMED,
    ),
    Case(
        "rfc7515_s5_2_payload_duplicate_iat_same_value",
        payload_json(lambda d: d[:-1] + b',"iat":1700000000}'),
        IDP,
        MALFORMED,
    ),
    # JSON: non-finite numbers (RFC 8259 §6)
    Case("rfc8259_s6_payload_nan", payload_json(add_member(b"NaN")), IDP, MALFORMED),
    Case("rfc8259_s6_payload_infinity", payload_json(add_member(b"Infinity")), IDP, MALFORMED),
    Case(
        "rfc8259_s6_payload_minus_infinity",
        payload_json(add_member(b"-Infinity")),
        IDP,
        MALFORMED,
    ),
    Case("rfc8259_s6_payload_1e400", payload_json(add_member(b"1e400")), IDP, MALFORMED),
    Case(
        "rfc8259_s6_payload_iat_nan",
        payload_json(lambda d: d.replace(b'"iat":1700000000', b'"iat":NaN')),
        IDP,
        MALFORMED,
    ),
    Case(
        "rfc8259_s6_payload_iat_minus_1e400",
        payload_json(lambda d: d.replace(b'"iat":1700000000', b'"iat":-1e400')),
        IDP,
        MALFORMED,
    ),
    Case("rfc8259_s6_header_nan", header_json(add_member(b"NaN")), IDP, MALFORMED),
    Case("rfc8259_s6_header_1e400", header_json(add_member(b"1e400")), IDP, MALFORMED),
    Case(
        "rfc8259_s6_payload_int_over_4300_digits",
        payload_json(add_member(b"9" * 5000)),
        IDP,
        MALFORMED,
    ),
    # JSON: not an object
    Case("rfc7515_s5_2_header_array", header_json(lambda d: b"[" + d + b"]"), IDP, MALFORMED),
    Case("rfc7515_s5_2_header_string", header_json(lambda d: b'"dpop+jwt"'), IDP, MALFORMED),
    Case("rfc7515_s5_2_header_number", header_json(lambda d: b"1"), IDP, MALFORMED),
    Case("rfc7515_s5_2_header_null", header_json(lambda d: b"null"), IDP, MALFORMED),
    Case("rfc7519_s7_2_payload_array", payload_json(lambda d: b"[" + d + b"]"), IDP, MALFORMED),
    Case("rfc7519_s7_2_payload_string", payload_json(lambda d: b'"claims"'), IDP, MALFORMED),
    Case("rfc7519_s7_2_payload_number", payload_json(lambda d: b"1700000000"), IDP, MALFORMED),
    Case("rfc7519_s7_2_payload_true", payload_json(lambda d: b"true"), IDP, MALFORMED),
    Case("rfc7519_s7_2_payload_whitespace_only", payload_json(lambda d: b"  "), IDP, MALFORMED),
    # JSON: not UTF-8 (RFC 8259 §8.1)
    Case("rfc8259_s8_1_header_invalid_utf8", header_json(add_member(b'"\xff"')), IDP, MALFORMED),
    Case(
        "rfc8259_s8_1_payload_invalid_utf8",
        payload_json(add_member(b'"\xff"')),
        IDP,
        MALFORMED,
    ),
    Case(
        "rfc8259_s8_1_payload_overlong_utf8",
        payload_json(add_member(b'"\xc0\xaf"')),
        IDP,
        MALFORMED,
    ),
    Case(
        "rfc8259_s8_1_payload_utf8_encoded_surrogate",
        payload_json(add_member(b'"\xed\xa0\x80"')),
        IDP,
        MALFORMED,
    ),
    Case(
        "rfc8259_s8_1_payload_truncated_multibyte",
        payload_json(add_member(b'"\xe2\x82"')),
        IDP,
        MALFORMED,
    ),
    Case(
        "rfc8259_s8_1_header_utf16_bom",
        header_json(lambda d: d.decode().encode("utf-16")),
        IDP,
        MALFORMED,
    ),
    Case(
        "rfc8259_s8_1_payload_utf16le",
        payload_json(lambda d: d.decode().encode("utf-16-le")),
        IDP,
        MALFORMED,
    ),
    Case(
        "rfc8259_s8_1_payload_utf16be",
        payload_json(lambda d: d.decode().encode("utf-16-be")),
        IDP,
        MALFORMED,
    ),
    Case(
        "rfc8259_s8_1_payload_utf32",
        payload_json(lambda d: d.decode().encode("utf-32")),
        IDP,
        MALFORMED,
    ),
    Case(
        "rfc8259_s8_1_payload_utf8_bom",
        payload_json(lambda d: b"\xef\xbb\xbf" + d),
        IDP,
        MALFORMED,
    ),
    # JSON: nesting deeper than the limit (16 levels, the object itself included)
    Case("strict_json_header_depth_17", header_json(add_member(nested(16))), IDP, MALFORMED),
    Case("strict_json_payload_depth_17", payload_json(add_member(nested(16))), IDP, MALFORMED),
    Case(
        "strict_json_payload_depth_1000",
        payload_json(add_member(nested(1000))),
        IDP,
        MALFORMED,
    ),
    # JSON: trailing data and other syntax errors
    Case("rfc8259_s2_header_trailing_garbage", header_json(lambda d: d + b"x"), IDP, MALFORMED),
    Case(
        "rfc8259_s2_payload_second_object",
        payload_json(lambda d: d + b"{}"),
        IDP,
        MALFORMED,
    ),
    Case("rfc8259_s2_payload_trailing_comma", payload_json(lambda d: d + b","), IDP, MALFORMED),
    Case(
        "rfc8259_s4_payload_trailing_comma_in_object",
        payload_json(lambda d: d[:-1] + b",}"),
        IDP,
        MALFORMED,
    ),
    Case(
        "rfc8259_s4_payload_single_quoted_name",
        payload_json(lambda d: d.replace(b'"jti"', b"'jti'")),
        IDP,
        MALFORMED,
    ),
    Case(
        "rfc8259_s6_payload_leading_zero",
        payload_json(lambda d: d.replace(b'"iat":1700000000', b'"iat":01700000000')),
        IDP,
        MALFORMED,
    ),
    Case(
        "rfc8259_s6_payload_hex_number",
        payload_json(add_member(b"0x10")),
        IDP,
        MALFORMED,
    ),
    Case(
        "rfc8259_s7_payload_raw_control_char",
        payload_json(add_member(b'"a\x01b"')),
        IDP,
        MALFORMED,
    ),
    Case(
        "rfc8259_s2_payload_comment",
        payload_json(lambda d: d[:-1] + b"/* c */}"),
        IDP,
        MALFORMED,
    ),
    Case(
        "strict_json_header_over_16k",
        lambda c: c.verify(
            c.raw(jdump(proof_header(c.k.es256, {"pad": "h" * 17_000})), _payload_json()),
            policy=ProofPolicy(max_proof_bytes=65536),
        ),
        IDP,
        MALFORMED,
    ),
    Case(
        "strict_json_payload_over_16k",
        lambda c: c.verify(
            c.raw(_header_json(c), jdump(proof_claims({"pad": "p" * 17_000}))),
            policy=ProofPolicy(max_proof_bytes=65536),
        ),
        IDP,
        MALFORMED,
    ),
]

ACCEPTED: list[Accept] = [
    Accept("strict_json_payload_depth_16", payload_json(add_member(nested(15)))),
    Accept("strict_json_header_depth_16", header_json(add_member(nested(15)))),
    Accept(
        "strict_json_brackets_inside_strings", payload_json(add_member(b'"' + b"[" * 40 + b'"'))
    ),
    Accept(
        "rfc8259_insignificant_whitespace",
        lambda c: c.verify(
            c.raw(
                jdump(proof_header(c.k.es256)).replace(b",", b" ,\n "),
                b" " + _payload_json().replace(b'":', b'" : ') + b"\n",
            )
        ),
    ),
    Accept(
        "rfc8259_escaped_member_name",
        header_json(lambda d: d.replace(b'"typ"', b'"t\\u0079p"')),
    ),
    Accept("rfc9449_s4_2_extra_claim", payload_json(add_member(b'{"nested":[1,2.5,null]}'))),
]


@pytest.mark.parametrize("case", params(CASES))
def test_rejected(case: Case, ctx: Ctx) -> None:
    expect_rejection(case, ctx)


@pytest.mark.parametrize("case", params(ACCEPTED))
def test_accepted(case: Accept, ctx: Ctx) -> None:
    case.action(ctx)
