"""Server-provided nonces (RFC 9449 §8 AS, §9 RS): issue, validate, window, rotation, separation."""

from __future__ import annotations

import re

import pytest

from proofbound._internal.b64 import b64url_decode, b64url_encode
from proofbound.dpop.nonce import NonceSource, RollingNonces
from proofbound.errors import ConfigurationError

SECRET = b"s" * 32
NEW_SECRET = b"n" * 32
ORIGIN = "https://rs.example"
STEP = 60
NOW = 1_700_000_040  # a multiple of 60: the first second of a step
NQCHAR = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


def _rs(*secrets: bytes, origin: str = ORIGIN, window: int = 2) -> RollingNonces:
    return RollingNonces(
        list(secrets) or [SECRET],
        purpose="rs",
        origin=origin,
        step_seconds=STEP,
        window_steps=window,
    )


def test_rolling_nonces_is_a_nonce_source() -> None:
    source: NonceSource = _rs()
    assert source.is_valid(source.issue(NOW), NOW)


def test_rfc9449_s8_1_nonce_is_nqchar() -> None:
    nonce = _rs().issue(NOW)
    assert NQCHAR.fullmatch(nonce)
    assert len(nonce) == 32  # 8-byte step and 16-byte tag, base64url


def test_issue_is_stable_within_a_step_and_changes_between_steps() -> None:
    nonces = _rs()
    assert NOW % STEP == 0
    assert nonces.issue(NOW) == nonces.issue(NOW + STEP - 1)
    assert nonces.issue(NOW) != nonces.issue(NOW + STEP)


def test_rfc9449_s8_several_processes_share_a_secret() -> None:
    """Two processes (two objects, same secret and origin) accept each other's nonces."""
    first, second = _rs(), _rs()
    assert first.issue(NOW) == second.issue(NOW)
    assert second.is_valid(first.issue(NOW), NOW)
    assert first.is_valid(second.issue(NOW + STEP), NOW + STEP)


def test_window_boundaries_exactly() -> None:
    nonces = _rs(window=2)
    nonce = nonces.issue(NOW)  # step k
    assert nonces.is_valid(nonce, NOW)
    last_accepted = NOW + 3 * STEP - 1  # current step k + 2
    assert nonces.is_valid(nonce, last_accepted)
    assert not nonces.is_valid(nonce, last_accepted + 1)  # current step k + 3


def test_window_zero_accepts_only_the_current_step() -> None:
    nonces = _rs(window=0)
    nonce = nonces.issue(NOW)
    assert nonces.is_valid(nonce, NOW + STEP - 1)
    assert not nonces.is_valid(nonce, NOW + STEP)


def test_one_future_step_is_accepted_for_clock_differences() -> None:
    nonces = _rs()
    assert nonces.is_valid(nonces.issue(NOW + STEP), NOW)  # a peer one step ahead
    assert not nonces.is_valid(nonces.issue(NOW + 2 * STEP), NOW)


def test_rotation_new_secret_first_old_still_accepted() -> None:
    old = _rs(SECRET)
    rotated = _rs(NEW_SECRET, SECRET)
    issued = rotated.issue(NOW)
    assert issued == _rs(NEW_SECRET).issue(NOW)  # the first secret issues
    assert issued != old.issue(NOW)
    assert rotated.is_valid(old.issue(NOW), NOW)  # nonces from before the rotation
    assert rotated.is_valid(issued, NOW)
    assert not old.is_valid(issued, NOW)  # an unrotated process does not know the new secret
    retired = _rs(NEW_SECRET)
    assert not retired.is_valid(old.issue(NOW), NOW)  # old secret dropped: refused


def test_rfc9449_s9_as_and_rs_nonces_are_separate() -> None:
    as_nonces = RollingNonces([SECRET], purpose="as", origin=ORIGIN, step_seconds=STEP)
    rs_nonces = RollingNonces([SECRET], purpose="rs", origin=ORIGIN, step_seconds=STEP)
    assert as_nonces.issue(NOW) != rs_nonces.issue(NOW)
    assert not rs_nonces.is_valid(as_nonces.issue(NOW), NOW)
    assert not as_nonces.is_valid(rs_nonces.issue(NOW), NOW)


def test_rfc9449_s9_origins_are_separate() -> None:
    a, b = _rs(origin="https://a.example"), _rs(origin="https://b.example")
    assert not b.is_valid(a.issue(NOW), NOW)
    assert not a.is_valid(b.issue(NOW), NOW)
    # Length-prefixed fields: moving a boundary between purpose and origin changes the nonce.
    assert _rs(origin="https://a.exampl").issue(NOW) != a.issue(NOW)


def test_other_secret_is_refused() -> None:
    assert not _rs(NEW_SECRET).is_valid(_rs(SECRET).issue(NOW), NOW)


def test_forged_tag_and_shifted_step_are_refused() -> None:
    nonces = _rs()
    nonce = nonces.issue(NOW)
    raw = b64url_decode(nonce)
    step, tag = raw[:8], raw[8:]
    assert int.from_bytes(step, "big") == NOW // STEP
    assert not nonces.is_valid(b64url_encode(step + b"\x00" * 16), NOW)
    # The tag of one step does not validate the next step.
    next_step = (NOW // STEP + 1).to_bytes(8, "big")
    assert not nonces.is_valid(b64url_encode(next_step + tag), NOW)
    assert nonces.is_valid(nonce, NOW)


@pytest.mark.parametrize(
    "nonce",
    ["", "x", "not base64!", "A" * 65, "A" * 32 + "=", "\u00e9" * 32, "AAAA", "A" * 43],
)
def test_garbage_is_refused_without_raising(nonce: str) -> None:
    assert _rs().is_valid(nonce, NOW) is False


def test_repr_redacts_secrets() -> None:
    nonces = _rs(b"\x01" * 16 + b"topsecret-material" + b"\x02" * 16, SECRET)
    text = repr(nonces)
    assert text == "RollingNonces(secrets=<2 redacted>)"
    assert "topsecret" not in text
    assert "sss" not in text
    assert "73737373" not in text  # hex of the secret


@pytest.mark.parametrize(
    "kwargs",
    [
        {"secrets": []},
        {"secrets": [b"x" * 31]},
        {"secrets": [SECRET, b"short"]},
        {"purpose": "both"},
        {"origin": ""},
        {"step_seconds": 0},
        {"step_seconds": 3601},
        {"window_steps": -1},
        {"window_steps": 11},
    ],
)
def test_configuration_errors(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"secrets": [SECRET], "purpose": "rs", "origin": ORIGIN, **kwargs}
    with pytest.raises(ConfigurationError):
        RollingNonces(**args)  # type: ignore[arg-type]


def test_configuration_edges_are_accepted() -> None:
    RollingNonces([b"x" * 32], purpose="as", origin="o", step_seconds=1, window_steps=0)
    RollingNonces([b"x" * 32], purpose="rs", origin="o", step_seconds=3600, window_steps=10)
