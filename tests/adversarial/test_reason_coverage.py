"""Meta-test: every :class:`Reason` has at least one rejecting case in the adversarial tables.

STYLE.md §2.8: a new rejection reason cannot land untested. Each table module exposes its rows as
``CASES`` (objects with ``exc`` and ``reason``); this test collects them all. Adding a member to
``Reason`` without a case that expects it makes this test fail.
"""

from __future__ import annotations

from types import ModuleType

from proofbound import (
    ConfigurationError,
    InvalidDPoPProof,
    InvalidKey,
    InvalidToken,
    ProofboundError,
    Reason,
    StorageUnavailable,
    UseDPoPNonce,
)
from proofbound.errors import (
    InsufficientScope,
    InvalidClient,
    InvalidClientMetadata,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    MissingCredentials,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
)

from . import (
    test_access_token,
    test_authorization_server,
    test_binding_and_certs,
    test_code_flow,
    test_keys_and_config,
    test_nonce,
    test_proof_claims,
    test_proof_encoding,
    test_proof_header,
    test_proof_header_framing,
    test_proof_signature,
    test_replay,
    test_resource_guard,
)
from ._support import Case

TABLES: tuple[ModuleType, ...] = (
    test_proof_header_framing,
    test_proof_encoding,
    test_proof_header,
    test_proof_signature,
    test_proof_claims,
    test_nonce,
    test_replay,
    test_access_token,
    test_binding_and_certs,
    test_keys_and_config,
    test_authorization_server,
    test_code_flow,
    test_resource_guard,
)

# The class each reason may be raised with (errors.py, binding.py: PROOF_MISSING also comes from
# a DPoP-bound token presented without a proof; CERT_* are InvalidToken, RFC 8705 §3). At the AS
# (RFC 6749 §5.2): TOKEN_UNKNOWN is an invalid_request of the admin API, TOKEN_FOREIGN an
# unauthorized_client of RFC 7009 §2.1.
_CLASSES: dict[type[ProofboundError], set[str]] = {
    InvalidDPoPProof: {"proof_", "htm_", "htu_", "iat_", "ath_", "jkt_"},
    UseDPoPNonce: {"nonce_"},
    InvalidToken: {"token_", "cert_"},
    InvalidKey: {"key_"},
    ConfigurationError: {"configuration"},
    StorageUnavailable: {"storage_"},
    InvalidRequest: {"request_", "binding_", "token_unknown"},  # request_redirect_uri, _pkce too
    InvalidClient: {"client_"},
    UnauthorizedClient: {"grant_type_unauthorized", "token_foreign"},
    UnsupportedGrantType: {"grant_type_unsupported"},
    InvalidScope: {"scope_invalid"},
    InvalidTarget: {"target_"},
    InvalidClientMetadata: {"metadata_"},
    InvalidGrant: {"code_", "refresh_"},
    UnsupportedResponseType: {"response_type_"},
    MissingCredentials: {"credentials_"},
    InsufficientScope: {"scope_insufficient"},
}


def all_cases() -> list[Case]:
    cases: list[Case] = []
    for module in TABLES:
        rows = module.CASES
        assert rows, f"{module.__name__} has no cases"
        assert all(isinstance(row, Case) for row in rows), module.__name__
        cases.extend(rows)
    return cases


def test_every_reason_has_a_rejecting_case() -> None:
    covered = {case.reason for case in all_cases()}
    assert set(Reason) - covered == set()


def test_every_case_expects_a_class_that_fits_its_reason() -> None:
    for case in all_cases():
        prefixes = _CLASSES[case.exc]
        assert any(case.reason.value.startswith(p) for p in prefixes), case.id


def test_the_tables_hold_at_least_150_distinct_cases() -> None:
    ids = [f"{case.exc.__name__}:{case.id}" for case in all_cases()]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 150
