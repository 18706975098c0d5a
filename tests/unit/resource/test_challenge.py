"""WWW-Authenticate rendering (RFC 6750 §3, RFC 9449 §7.1, §7.2 Figures 15-18, §9 Figure 24)."""

from __future__ import annotations

import pytest

from proofbound.errors import (
    ConfigurationError,
    InvalidDPoPProof,
    InvalidToken,
    Reason,
    StorageUnavailable,
    UseDPoPNonce,
)
from proofbound.resource.challenge import (
    Challenge,
    quote_param,
    render_challenges,
    resource_error_response,
)

ALGS = ("ES256", "PS256")


def _header(response, name: str) -> list[str]:
    return [value for key, value in response.headers if key == name]


def test_rfc9449_s7_1_figure15_no_credentials_dpop_only():
    response = resource_error_response(
        None, request_scheme=None, accepted_schemes=["DPoP"], algs=ALGS
    )
    assert response.status == 401
    assert _header(response, "WWW-Authenticate") == ['DPoP algs="ES256 PS256"']


def test_rfc9449_s7_2_figure17_no_credentials_both_schemes_carry_no_error():
    response = resource_error_response(
        None, request_scheme=None, accepted_schemes=["Bearer", "DPoP"], algs=ALGS
    )
    assert _header(response, "WWW-Authenticate") == ['Bearer, DPoP algs="ES256 PS256"']


def test_rfc9449_s7_2_figure18_error_on_the_request_scheme_only():
    response = resource_error_response(
        InvalidToken(Reason.TOKEN_SIGNATURE),
        request_scheme="Bearer",
        accepted_schemes=["Bearer", "DPoP"],
        algs=ALGS,
    )
    assert response.status == 401
    assert _header(response, "WWW-Authenticate") == [
        'Bearer error="invalid_token", '
        'error_description="Access token signature is invalid", DPoP algs="ES256 PS256"'
    ]


def test_rfc9449_s7_1_figure16_key_binding_failure():
    response = resource_error_response(
        InvalidDPoPProof(Reason.JKT_MISMATCH),
        request_scheme="DPoP",
        accepted_schemes=["DPoP"],
        algs=("ES256",),
    )
    assert response.status == 401
    assert _header(response, "WWW-Authenticate") == [
        'DPoP error="invalid_dpop_proof", error_description="Invalid DPoP key binding", '
        'algs="ES256"'
    ]


def test_rfc9449_s7_1_proof_error_goes_on_dpop_even_for_a_bearer_request():
    response = resource_error_response(
        InvalidDPoPProof(Reason.PROOF_MULTIPLE),
        request_scheme="Bearer",
        accepted_schemes=["Bearer", "DPoP"],
        algs=ALGS,
    )
    (value,) = _header(response, "WWW-Authenticate")
    assert value.startswith('Bearer, DPoP error="invalid_dpop_proof"')


def test_rfc9449_s9_figure24_nonce_challenge_with_header_and_no_store():
    response = resource_error_response(
        UseDPoPNonce(Reason.NONCE_MISSING, nonce="eyJ7S_zG.eyJH0-Z.HX4w-7v"),
        request_scheme="DPoP",
        accepted_schemes=["DPoP"],
        algs=("ES256",),
    )
    assert response.status == 401
    assert _header(response, "WWW-Authenticate") == [
        'DPoP error="use_dpop_nonce", error_description="DPoP nonce is required", algs="ES256"'
    ]
    assert _header(response, "DPoP-Nonce") == ["eyJ7S_zG.eyJH0-Z.HX4w-7v"]  # exactly one (§8)
    assert _header(response, "Cache-Control") == ["no-store"]


@pytest.mark.parametrize(
    "error",
    [StorageUnavailable("redis down at 10.0.0.1"), ConfigurationError("redis down at 10.0.0.1")],
    ids=["storage", "unexpected"],
)
def test_failures_of_ours_are_503_without_challenge_or_detail(error):
    response = resource_error_response(
        error, request_scheme="DPoP", accepted_schemes=["DPoP"], algs=ALGS
    )
    assert response.status == 503
    assert _header(response, "WWW-Authenticate") == []
    assert "redis" not in repr(response.headers)


def test_realm_is_quoted_and_escaped():
    challenge = Challenge("Bearer", (("realm", 'a "quoted" \\ realm'),))
    assert challenge.render() == 'Bearer realm="a \\"quoted\\" \\\\ realm"'


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("error", 'bad"quote'),
        ("error_description", "back\\slash"),
        ("error_description", "line\r\nbreak"),
        ("realm", "new\nline"),
        ("realm", "non-ascii é"),
        ("scope", 'a"b'),
        ("bad name", "x"),
        ("", "x"),
    ],
)
def test_rfc6750_s3_values_outside_the_allowed_characters_are_refused(name, value):
    with pytest.raises(ValueError):  # noqa: PT011 -- any refusal; the message is not API
        quote_param(name, value)
    with pytest.raises(ValueError):  # noqa: PT011
        Challenge("DPoP", ((name, value),))


def test_rfc6750_s3_a_parameter_may_appear_only_once():
    with pytest.raises(ValueError, match="twice"):
        Challenge("DPoP", (("error", "invalid_token"), ("error", "invalid_token")))


def test_scheme_must_be_a_token():
    with pytest.raises(ValueError, match="scheme"):
        Challenge("DPoP x")


def test_render_challenges_joins_with_comma():
    assert render_challenges([Challenge("Bearer"), Challenge("DPoP", (("algs", "ES256"),))]) == (
        'Bearer, DPoP algs="ES256"'
    )


def test_invalid_configuration_is_refused():
    with pytest.raises(ValueError, match="scheme"):
        resource_error_response(None, request_scheme=None, accepted_schemes=[], algs=ALGS)
    with pytest.raises(ValueError, match="algs"):
        resource_error_response(None, request_scheme=None, accepted_schemes=["DPoP"], algs=())
