"""Token bindings and client certificates (RFC 8705 §3, §3.1; RFC 9449 §6; spec-checklist §2, §7.6).

``check_binding`` is the one place deciding whether a presenter matches ``cnf``: a certificate-bound
token needs the certificate whose DER hashes to ``x5t#S256`` (a PEM-text hash or SHA-1 never
matches), a DPoP-bound token needs a proof by the key with that ``jkt``. ``load_certificate``
accepts exactly one certificate.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from proofbound import (
    Binding,
    InvalidDPoPProof,
    InvalidToken,
    Reason,
    check_binding,
    load_certificate,
)
from proofbound.types import Thumbprint

from ._support import Accept, Case, Ctx, expect_rejection, params

# RFC 8705 Appendix A, Figure 6 (spec-checklist §7.6).
RFC8705_CERT = b"""-----BEGIN CERTIFICATE-----
MIIBBjCBrAIBAjAKBggqhkjOPQQDAjAPMQ0wCwYDVQQDDARtdGxzMB4XDTE4MTAx
ODEyMzcwOVoXDTIyMDUwMjEyMzcwOVowDzENMAsGA1UEAwwEbXRsczBZMBMGByqG
SM49AgEGCCqGSM49AwEHA0IABNcnyxwqV6hY8QnhxxzFQ03C7HKW9OylMbnQZjjJ
/Au08/coZwxS7LfA4vOLS9WuneIXhbGGWvsDSb0tH6IxLm8wCgYIKoZIzj0EAwID
SQAwRgIhAP0RC1E+vwJD/D1AGHGzuri+hlV/PpQEKTWUVeORWz83AiEA5x2eXZOV
bUlJSGQgjwD5vaUaKlLR50Q2DmFfQj1L+SY=
-----END CERTIFICATE-----
"""
RFC8705_X5T = "A4DtL2JmUMhAsvJj5tKyn64SqzmuXbMrJa0n761y5v0"  # Figure 5
X5T_OVER_PEM_TEXT = "RZUyid0cUQWEONv2uroCiSi6CqAXdVZueQmkxBeJ0gc"  # spec-checklist §7.8
X5T_SHA1 = "T8Qp8fPmVYqb9iHyzQUaAbxBedY"  # spec-checklist §7.8
MTLS = Binding("mtls", Thumbprint(RFC8705_X5T))


def _der() -> bytes:
    body = b"".join(line for line in RFC8705_CERT.splitlines() if not line.startswith(b"-----"))
    return base64.b64decode(body)


def bound_mtls(case_id: str, cert_thumbprint: str | None, reason: Reason, **extra: Any) -> Case:
    return Case(
        case_id,
        lambda c: check_binding(MTLS, cert_thumbprint=cert_thumbprint, **extra),
        InvalidToken,
        reason,
    )


def bad_cert(case_id: str, data: Any) -> Case:
    return Case(
        case_id,
        lambda c: load_certificate(data() if callable(data) else data),
        InvalidToken,
        Reason.CERT_MALFORMED,
    )


CASES: list[Case] = [
    # RFC 8705 §3: certificate-bound token
    bound_mtls("rfc8705_s3_no_certificate", None, Reason.CERT_MISSING),
    bound_mtls(
        "rfc8705_s3_dpop_key_does_not_satisfy_cert_binding",
        None,
        Reason.CERT_MISSING,
        proof_jkt=RFC8705_X5T,
    ),
    bound_mtls(
        "rfc8705_s3_other_certificate",
        hashlib.sha256(b"another certificate").hexdigest()[:43],
        Reason.CERT_MISMATCH,
    ),
    bound_mtls("rfc8705_s3_1_hash_of_pem_text", X5T_OVER_PEM_TEXT, Reason.CERT_MISMATCH),
    bound_mtls("rfc8705_s3_1_sha1_thumbprint", X5T_SHA1, Reason.CERT_MISMATCH),
    bound_mtls(
        "rfc8705_s3_1_hex_thumbprint",
        hashlib.sha256(_der()).hexdigest(),
        Reason.CERT_MISMATCH,
    ),
    bound_mtls("rfc8705_s3_1_padded_thumbprint", RFC8705_X5T + "=", Reason.CERT_MISMATCH),
    bound_mtls("rfc8705_s3_1_truncated_thumbprint", RFC8705_X5T[:-1], Reason.CERT_MISMATCH),
    bound_mtls("rfc8705_s3_1_empty_thumbprint", "", Reason.CERT_MISMATCH),
    bound_mtls("rfc8705_s3_1_non_ascii_thumbprint", "Ä" * 43, Reason.CERT_MISMATCH),
    # Two different thumbprints must never compare equal (no lossy re-encoding before comparing).
    Case(
        "rfc8705_s3_1_non_ascii_never_equals_question_marks",
        lambda c: check_binding(
            Binding("mtls", Thumbprint("?" * 43)), cert_thumbprint="\u00e9" * 43
        ),
        InvalidToken,
        Reason.CERT_MISMATCH,
    ),
    # RFC 9449 §6, §7.1: DPoP-bound token
    Case(
        "rfc9449_s7_1_dpop_bound_without_proof",
        lambda c: check_binding(Binding("dpop", c.k.es256.thumbprint)),
        InvalidDPoPProof,
        Reason.PROOF_MISSING,
    ),
    Case(
        "rfc9449_s7_1_cert_does_not_satisfy_dpop_binding",
        lambda c: check_binding(
            Binding("dpop", c.k.es256.thumbprint), cert_thumbprint=c.k.es256.thumbprint
        ),
        InvalidDPoPProof,
        Reason.PROOF_MISSING,
    ),
    Case(
        "rfc9449_s6_1_other_key",
        lambda c: check_binding(
            Binding("dpop", c.k.es256.thumbprint), proof_jkt=c.k.es256_b.thumbprint
        ),
        InvalidDPoPProof,
        Reason.JKT_MISMATCH,
    ),
    Case(
        "rfc9449_s6_1_non_ascii_never_equals_question_marks",
        lambda c: check_binding(Binding("dpop", Thumbprint("\u00e9" * 43)), proof_jkt="?" * 43),
        InvalidDPoPProof,
        Reason.JKT_MISMATCH,
    ),
    # load_certificate: exactly one certificate
    bad_cert("rfc8705_s3_cert_garbage", b"garbage"),
    bad_cert("rfc8705_s3_cert_empty", b""),
    bad_cert("rfc8705_s3_cert_two_pem_blocks", RFC8705_CERT + RFC8705_CERT),
    bad_cert("rfc8705_s3_cert_truncated_der", lambda: _der()[:-1]),
    bad_cert("rfc8705_s3_cert_der_trailing_byte", lambda: _der() + b"\x00"),
    bad_cert("rfc8705_s3_cert_pem_without_end", RFC8705_CERT.split(b"-----END")[0]),
    bad_cert(
        "rfc8705_s3_cert_pem_corrupted_base64",
        RFC8705_CERT.replace(b"MIIBBjCB", b"MIIB!!CB"),
    ),
    bad_cert(
        "rfc8705_s3_cert_pem_of_other_type",
        RFC8705_CERT.replace(b"CERTIFICATE", b"PUBLIC KEY"),
    ),
    bad_cert("rfc8705_s3_cert_oversized", lambda: _der() + b"\x00" * (16 * 1024)),
    bad_cert("rfc8705_s3_cert_oversized_pem", RFC8705_CERT + b" " * (16 * 1024)),
    bad_cert("rfc8705_s3_cert_non_ascii_text", "é" + RFC8705_CERT.decode()),
    bad_cert("rfc8705_s3_cert_text_before_pem", b"subject=CN=mtls\n" + RFC8705_CERT),
]

ACCEPTED: list[Accept] = [
    Accept(
        "rfc8705_appendix_a_x5t_s256_from_pem",
        lambda c: _assert_equal(load_certificate(RFC8705_CERT).thumbprint, RFC8705_X5T),
    ),
    Accept(
        "rfc8705_appendix_a_x5t_s256_from_der",
        lambda c: _assert_equal(load_certificate(_der()).thumbprint, RFC8705_X5T),
    ),
    Accept(
        "rfc8705_appendix_a_x5t_s256_from_pem_text",
        lambda c: _assert_equal(load_certificate(RFC8705_CERT.decode()).thumbprint, RFC8705_X5T),
    ),
    Accept(
        "rfc8705_s3_matching_certificate",
        lambda c: check_binding(MTLS, cert_thumbprint=load_certificate(RFC8705_CERT).thumbprint),
    ),
    Accept(
        "rfc9449_s6_1_matching_key",
        lambda c: check_binding(
            Binding("dpop", c.k.es256.thumbprint), proof_jkt=c.k.es256.thumbprint
        ),
    ),
    Accept("unbound_token_nothing_to_check", lambda c: check_binding(None)),
]


def _assert_equal(actual: str, expected: str) -> None:
    assert actual == expected


@pytest.mark.parametrize("case", params(CASES))
def test_rejected(case: Case, ctx: Ctx) -> None:
    expect_rejection(case, ctx)


@pytest.mark.parametrize("case", params(ACCEPTED))
def test_accepted(case: Accept, ctx: Ctx) -> None:
    case.action(ctx)


def test_rfc8705_s3_1_negative_vectors_differ_from_the_thumbprint() -> None:
    thumbprint = load_certificate(RFC8705_CERT).thumbprint
    assert thumbprint not in (X5T_OVER_PEM_TEXT, X5T_SHA1)
