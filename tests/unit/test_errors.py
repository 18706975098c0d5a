"""The exception hierarchy: reason codes, public descriptions, and what text may show."""

from __future__ import annotations

import re

import pytest

from proofbound.errors import (
    ConfigurationError,
    InvalidDPoPProof,
    InvalidKey,
    InvalidToken,
    OAuthError,
    ProofboundError,
    Reason,
    StorageUnavailable,
    UseDPoPNonce,
    describe,
)

# RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E.
RFC6749_S5_2 = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]+")
SECRET = "eyJ0eXAiOiJkcG9wK2p3dCJ9.secret-proof.sig"


@pytest.mark.parametrize("reason", list(Reason))
def test_rfc6749_s5_2_every_reason_has_a_safe_description(reason: Reason) -> None:
    text = describe(reason)
    assert RFC6749_S5_2.fullmatch(text), text
    assert text == text.strip()
    assert len(text) <= 100


def test_reason_values_are_unique_snake_case() -> None:
    values = [reason.value for reason in Reason]
    assert len(values) == len(set(values))
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", value) for value in values)
    assert all(reason == reason.value for reason in Reason)  # StrEnum


def test_rfc9449_fig16_description() -> None:
    assert describe(Reason.JKT_MISMATCH) == "Invalid DPoP key binding"


@pytest.mark.parametrize(
    ("cls", "error"),
    [
        (ProofboundError, "server_error"),
        (OAuthError, "server_error"),
        (InvalidToken, "invalid_token"),
        (InvalidDPoPProof, "invalid_dpop_proof"),
        (UseDPoPNonce, "use_dpop_nonce"),
        (ConfigurationError, "server_error"),
        (InvalidKey, "server_error"),
        (StorageUnavailable, "server_error"),
    ],
)
def test_error_codes(cls: type[ProofboundError], error: str) -> None:
    assert cls.error == error


def test_hierarchy() -> None:
    for oauth in (InvalidToken, InvalidDPoPProof, UseDPoPNonce):
        assert issubclass(oauth, OAuthError)
    for other in (OAuthError, ConfigurationError, InvalidKey, StorageUnavailable):
        assert issubclass(other, ProofboundError)
    assert issubclass(ConfigurationError, ValueError)
    assert issubclass(InvalidKey, ValueError)
    assert not issubclass(OAuthError, ValueError)


def test_str_and_repr_show_only_the_reason() -> None:
    exc = InvalidDPoPProof(Reason.PROOF_SIGNATURE, detail=f"proof was {SECRET}")
    assert str(exc) == "proof_signature"
    assert repr(exc) == "InvalidDPoPProof(reason='proof_signature')"
    assert exc.args == ("proof_signature",)
    for text in (str(exc), repr(exc), exc.description):
        assert SECRET not in text
        assert "secret" not in text
    assert exc.reason is Reason.PROOF_SIGNATURE
    assert exc.description == "DPoP proof signature is invalid"


def test_diagnostics_carry_the_detail() -> None:
    exc = InvalidToken(Reason.TOKEN_ISSUER, detail="iss was https://evil")
    assert (
        exc.diagnostics()
        == "Access token issuer is not accepted [token_issuer]: iss was https://evil"
    )
    assert InvalidToken(Reason.TOKEN_ISSUER).diagnostics() == (
        "Access token issuer is not accepted [token_issuer]"
    )


def test_detail_is_truncated_to_200_characters() -> None:
    exact = InvalidToken(Reason.TOKEN_MALFORMED, detail="a" * 200)
    assert exact.detail == "a" * 200
    longer = InvalidToken(Reason.TOKEN_MALFORMED, detail="b" * 201)
    assert len(longer.detail) == 200
    assert longer.detail == "b" * 199 + "…"
    huge = InvalidToken(Reason.TOKEN_MALFORMED, detail="c" * 100_000)
    assert len(huge.detail) == 200


@pytest.mark.parametrize("char", ["\n", "\r", "\x00", "\x1b", "\x7f", "\u2028", "\u202e", "\t"])
def test_detail_control_characters_are_replaced(char: str) -> None:
    exc = InvalidDPoPProof(Reason.HTU_MISMATCH, detail=f"a{char}b")
    assert exc.detail == "a?b"
    assert char not in exc.diagnostics()


def test_use_dpop_nonce_carries_the_nonce() -> None:
    exc = UseDPoPNonce(Reason.NONCE_MISSING, nonce="eyJ7S_zG.eyJH0-Z.HX4w-7v")
    assert exc.nonce == "eyJ7S_zG.eyJH0-Z.HX4w-7v"
    assert exc.error == "use_dpop_nonce"
    assert str(exc) == "nonce_missing"
    assert "eyJ7S" not in repr(exc)
    assert exc.description == "DPoP nonce is required"


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (ConfigurationError("bad"), Reason.CONFIGURATION),
        (InvalidKey("bad"), Reason.KEY_INVALID),
        (StorageUnavailable(), Reason.STORAGE_UNAVAILABLE),
        (StorageUnavailable("redis down"), Reason.STORAGE_UNAVAILABLE),
    ],
)
def test_fixed_reason_classes(exc: ProofboundError, reason: Reason) -> None:
    assert exc.reason is reason
    assert str(exc) == reason.value


def test_storage_unavailable_description_says_nothing_specific() -> None:
    exc = StorageUnavailable("redis at 10.0.0.5:6379 refused")
    assert exc.description == "Service temporarily unavailable"
    assert "10.0.0.5" not in str(exc) + repr(exc) + exc.description
