"""Token bindings (RFC 7800 ``cnf``): reading them and checking the presenter against them."""

from __future__ import annotations

import pytest

from proofbound.binding import Binding, binding_from_cnf, check_binding
from proofbound.errors import InvalidDPoPProof, InvalidToken, ProofboundError, Reason
from proofbound.types import Thumbprint

JKT = Thumbprint("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I")  # RFC 9449 Figure 9
OTHER_JKT = Thumbprint("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")  # RFC 7638 §3.1
X5T = Thumbprint("A4DtL2JmUMhAsvJj5tKyn64SqzmuXbMrJa0n761y5v0")  # RFC 8705 Figure 5


# --------------------------------------------------------------------------- binding_from_cnf


def test_rfc9449_s6_1_jkt() -> None:
    assert binding_from_cnf({"jkt": JKT}) == Binding("dpop", JKT)


def test_rfc8705_s3_1_x5t_s256() -> None:
    assert binding_from_cnf({"x5t#S256": X5T}) == Binding("mtls", X5T)


def test_rfc7800_s3_1_other_members_are_tolerated() -> None:
    assert binding_from_cnf({"jkt": JKT, "kid": "k1", "jku": "https://x"}) == Binding("dpop", JKT)
    assert binding_from_cnf({"kid": "k1"}) is None


def test_absent_or_empty_cnf_is_unbound() -> None:
    assert binding_from_cnf(None) is None
    assert binding_from_cnf({}) is None


@pytest.mark.parametrize(
    "cnf",
    [
        {"jkt": JKT, "x5t#S256": X5T},  # both: refused, never one silently chosen
        "jkt",
        [JKT],
        1,
        {"jkt": None},
        {"jkt": 1},
        {"jkt": ""},
        {"jkt": JKT[:-1]},
        {"jkt": JKT + "A"},
        {"jkt": JKT + "="},
        {"jkt": JKT.replace("-", "+")},
        {"jkt": JKT[:-1] + "J"},  # non-zero unused bits: not canonical
        {"jkt": "d1970e08e459358cbe0d6a6aab7d236722461d33747761e0941577ba282e0382"},
        {"x5t#S256": "T8Qp8fPmVYqb9iHyzQUaAbxBedY"},  # SHA-1 length
        {"x5t#S256": X5T + "="},
    ],
)
def test_malformed_cnf_is_refused(cnf: object) -> None:
    with pytest.raises(InvalidToken) as info:
        binding_from_cnf(cnf)
    assert info.value.reason is Reason.TOKEN_CNF_INVALID


# --------------------------------------------------------------------------- check_binding


def test_unbound_token_needs_nothing() -> None:
    check_binding(None)
    check_binding(None, proof_jkt=JKT, cert_thumbprint=X5T)


def test_rfc9449_s4_3_step12_matching_dpop_key() -> None:
    check_binding(Binding("dpop", JKT), proof_jkt=JKT)
    check_binding(Binding("dpop", JKT), proof_jkt=JKT, cert_thumbprint=X5T)


def test_rfc8705_s3_matching_certificate() -> None:
    check_binding(Binding("mtls", X5T), cert_thumbprint=X5T)
    check_binding(Binding("mtls", X5T), cert_thumbprint=X5T, proof_jkt=JKT)


@pytest.mark.parametrize(
    ("binding", "proof_jkt", "cert", "error", "reason"),
    [
        (Binding("dpop", JKT), None, None, InvalidDPoPProof, Reason.PROOF_MISSING),
        (Binding("dpop", JKT), None, X5T, InvalidDPoPProof, Reason.PROOF_MISSING),
        (Binding("dpop", JKT), OTHER_JKT, None, InvalidDPoPProof, Reason.JKT_MISMATCH),
        (Binding("dpop", JKT), JKT.lower(), None, InvalidDPoPProof, Reason.JKT_MISMATCH),
        (Binding("dpop", JKT), JKT[:-1], None, InvalidDPoPProof, Reason.JKT_MISMATCH),
        (Binding("dpop", JKT), "\u00e9" * 43, None, InvalidDPoPProof, Reason.JKT_MISMATCH),
        (Binding("mtls", X5T), None, None, InvalidToken, Reason.CERT_MISSING),
        (Binding("mtls", X5T), JKT, None, InvalidToken, Reason.CERT_MISSING),
        (Binding("mtls", X5T), None, JKT, InvalidToken, Reason.CERT_MISMATCH),
        (Binding("mtls", X5T), X5T, JKT, InvalidToken, Reason.CERT_MISMATCH),
    ],
    ids=[
        "dpop-no-proof",
        "dpop-cert-only",
        "dpop-other-key",
        "dpop-case",
        "dpop-prefix",
        "dpop-non-ascii",
        "mtls-no-cert",
        "mtls-proof-only",
        "mtls-other-cert",
        "mtls-jkt-is-not-a-cert",
    ],
)
def test_presenter_mismatch(
    binding: Binding,
    proof_jkt: str | None,
    cert: str | None,
    error: type[ProofboundError],
    reason: Reason,
) -> None:
    with pytest.raises(error) as info:
        check_binding(binding, proof_jkt=proof_jkt, cert_thumbprint=cert)
    assert info.value.reason is reason


def test_rfc9449_fig16_jkt_mismatch_description() -> None:
    with pytest.raises(InvalidDPoPProof) as info:
        check_binding(Binding("dpop", JKT), proof_jkt=OTHER_JKT)
    assert info.value.description == "Invalid DPoP key binding"  # RFC 9449 Figure 16


def test_binding_is_frozen() -> None:
    binding = Binding("dpop", JKT)
    with pytest.raises(AttributeError):
        binding.thumbprint = OTHER_JKT  # type: ignore[misc]
    assert hash(binding) == hash(Binding("dpop", JKT))
