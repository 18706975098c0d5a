"""Session cookies and CSRF tokens of the AS pages: every refusal is ``None`` / ``False``."""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.responses import Response

from proofbound._internal.b64 import b64url_decode, b64url_encode
from proofbound.errors import ConfigurationError, Reason
from proofbound.server import sessions
from proofbound.server.sessions import (
    MAX_COOKIE_BYTES,
    Session,
    SessionCodec,
    cookie_attributes,
    cookie_name,
    csrf_token,
    csrf_valid,
)

NOW = 1_800_000_000
SECRET = b"s" * 16 + b"0123456789abcdef"
OTHER_SECRET = b"o" * 32
TTL = 3600


@pytest.fixture
def codec() -> SessionCodec:
    return SessionCodec(SECRET, ttl=TTL)


def signed(payload: bytes, secret: bytes = SECRET) -> str:
    """A cookie value with a valid MAC over any payload (what only the server can make)."""
    text = b64url_encode(payload)
    tag = sessions._mac(secret, sessions._SESSION_LABEL, text.encode("ascii"))
    return f"{text}.{b64url_encode(tag)}"


def claims_of(value: str) -> dict[str, object]:
    decoded: dict[str, object] = json.loads(b64url_decode(value.split(".")[0]))
    return decoded


# --- issue / read -------------------------------------------------------------------------------


def test_issue_then_read(codec: SessionCodec) -> None:
    value = codec.issue("alice", NOW)
    session = codec.read(value, NOW)
    assert session is not None
    assert session.subject == "alice"
    assert session.issued_at == NOW
    assert session.expires_at == NOW + TTL
    claims = claims_of(value)
    assert set(claims) == {"sub", "sid", "iat", "exp"}
    assert claims["sid"] == session.sid
    assert len(session.sid) >= 22  # 128 random bits


def test_every_session_gets_a_new_sid(codec: SessionCodec) -> None:
    first, second = codec.issue("alice", NOW), codec.issue("alice", NOW)
    assert first != second
    one, two = codec.read(first, NOW), codec.read(second, NOW)
    assert one is not None
    assert two is not None
    assert one.sid != two.sid


def test_the_cookie_value_is_cookie_safe(codec: SessionCodec) -> None:
    value = codec.issue("carol@example.com", NOW)
    assert set(value) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert value.count(".") == 1


def test_non_ascii_subjects_round_trip(codec: SessionCodec) -> None:
    session = codec.read(codec.issue("j\u00fcrgen", NOW), NOW)
    assert session is not None
    assert session.subject == "j\u00fcrgen"


def test_session_repr_shows_the_subject_only(codec: SessionCodec) -> None:
    value = codec.issue("alice", NOW)
    session = codec.read(value, NOW)
    assert session is not None
    assert repr(session) == "Session(subject='alice')"
    assert session.sid not in repr(session)
    assert str(NOW) not in repr(session)


def test_codec_repr_hides_the_secret(codec: SessionCodec) -> None:
    assert repr(codec) == "SessionCodec(secret=<redacted>, ttl=3600)"
    assert SECRET.decode() not in repr(codec)


def test_expiry_boundary(codec: SessionCodec) -> None:
    value = codec.issue("alice", NOW)
    assert codec.read(value, NOW + TTL - 1) is not None
    assert codec.read(value, NOW + TTL) is None  # exp == now: expired
    assert codec.read(value, NOW + TTL + 1) is None


def test_issued_in_the_future_boundary(codec: SessionCodec) -> None:
    value = codec.issue("alice", NOW)
    assert codec.read(value, NOW - 60) is not None  # another instance's clock runs ahead
    assert codec.read(value, NOW - 61) is None


def test_lowering_the_ttl_shortens_issued_sessions() -> None:
    value = SessionCodec(SECRET, ttl=7200).issue("alice", NOW)
    assert SessionCodec(SECRET, ttl=7200).read(value, NOW) is not None
    assert SessionCodec(SECRET, ttl=3600).read(value, NOW) is None


def test_forged_with_another_secret(codec: SessionCodec) -> None:
    forged = SessionCodec(OTHER_SECRET).issue("alice", NOW)
    assert codec.read(forged, NOW) is None


def test_forged_payload_with_the_old_mac(codec: SessionCodec) -> None:
    value = codec.issue("alice", NOW)
    _, tag = value.split(".")
    claims = claims_of(value)
    claims["sub"] = "admin"
    other = b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    assert codec.read(f"{other}.{tag}", NOW) is None


def test_forged_by_extending_the_expiry(codec: SessionCodec) -> None:
    value = codec.issue("alice", NOW)
    _, tag = value.split(".")
    claims = claims_of(value)
    claims["exp"] = NOW + 10 * TTL
    other = b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    assert codec.read(f"{other}.{tag}", NOW + 2 * TTL) is None


def test_flipped_mac_bits(codec: SessionCodec) -> None:
    value = codec.issue("alice", NOW)
    payload, tag = value.split(".")
    raw = bytearray(b64url_decode(tag))
    for index in (0, 31):
        changed = bytearray(raw)
        changed[index] ^= 0x01
        assert codec.read(f"{payload}.{b64url_encode(bytes(changed))}", NOW) is None


def test_a_csrf_token_is_not_a_session_mac(codec: SessionCodec) -> None:
    payload = codec.issue("alice", NOW).split(".")[0]
    impostor = csrf_token(SECRET, "session", payload)
    assert codec.read(f"{payload}.{impostor}", NOW) is None


def _truncations(value: str) -> dict[str, str]:
    payload, tag = value.split(".")
    return {
        "last character": value[:-1],
        "half": value[: len(value) // 2],
        "payload only": payload,
        "payload and dot": payload + ".",
        "mac only": "." + tag,
        "short mac": f"{payload}.{tag[:22]}",
        "first character": value[1:],
    }


@pytest.mark.parametrize(
    "which",
    ["last character", "half", "payload only", "payload and dot", "mac only", "short mac",
     "first character"],
)  # fmt: skip
def test_truncated_cookies(codec: SessionCodec, which: str) -> None:
    value = codec.issue("alice", NOW)
    assert codec.read(_truncations(value)[which], NOW) is None


MALFORMED = {
    "missing": None,
    "empty": "",
    "dot": ".",
    "two dots": "a.b.c",
    "spaces": "abc def.ghi",
    "padding": "eyJ9.AAAA==",
    "standard alphabet": "ab+/.cd",
    "non-ASCII": "\u00e9\u00e9.\u00e9\u00e9",
    "newline": "abcd.efgh\n",
}


@pytest.mark.parametrize("value", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_cookies(codec: SessionCodec, value: str | None) -> None:
    assert codec.read(value, NOW) is None


def test_a_second_signed_value_appended_is_refused(codec: SessionCodec) -> None:
    value = codec.issue("alice", NOW)
    assert codec.read(f"{value}.{value}", NOW) is None
    assert codec.read(value + ".", NOW) is None


def test_oversized_cookie_is_refused_even_when_signed() -> None:
    codec = SessionCodec(SECRET)
    long_subject = "a" * MAX_COOKIE_BYTES
    value = codec.issue(long_subject, NOW)
    assert len(value) > MAX_COOKIE_BYTES
    assert codec.read(value, NOW) is None
    fits = codec.issue("a" * 2000, NOW)
    assert len(fits) <= MAX_COOKIE_BYTES
    assert codec.read(fits, NOW) is not None


def _claims(**overrides: object) -> bytes:
    claims: dict[str, object] = {"sub": "alice", "sid": "s1", "iat": NOW, "exp": NOW + 60}
    claims.update(overrides)
    return json.dumps({k: v for k, v in claims.items() if v is not ...}).encode()


SIGNED_BUT_INVALID = {
    "not JSON": b"alice",
    "JSON array": b'["alice"]',
    "JSON string": b'"alice"',
    "empty": b"",
    "not UTF-8": b'{"sub":"\xff"}',
    "duplicate sub": b'{"sub":"alice","sub":"admin","sid":"s","iat":1800000000,"exp":1800000060}',
    "no sub": _claims(sub=...),
    "no sid": _claims(sid=...),
    "no iat": _claims(iat=...),
    "no exp": _claims(exp=...),
    "extra claim": _claims(admin=True),
    "empty sub": _claims(sub=""),
    "empty sid": _claims(sid=""),
    "sub a number": _claims(sub=7),
    "sub null": _claims(sub=None),
    "sid a list": _claims(sid=["s1"]),
    "iat a string": _claims(iat=str(NOW)),
    "exp a float": _claims(exp=NOW + 60.0),
    "exp a bool": _claims(exp=True),
    "iat a bool": _claims(iat=False),
    "exp before iat": _claims(exp=NOW - 1),
    "lifetime longer than the ttl": _claims(exp=NOW + TTL + 1),
}


@pytest.mark.parametrize("payload", SIGNED_BUT_INVALID.values(), ids=SIGNED_BUT_INVALID.keys())
def test_signed_but_invalid_payloads(codec: SessionCodec, payload: bytes) -> None:
    assert codec.read(signed(payload), NOW) is None


def test_the_signed_helper_makes_acceptable_cookies(codec: SessionCodec) -> None:
    # Control for the table above: the same helper with a valid payload is accepted.
    session = codec.read(signed(_claims()), NOW)
    assert session == Session("alice", "s1", NOW, NOW + 60)
    assert codec.read(signed(_claims(exp=NOW + TTL)), NOW) is not None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200) | st.text(alphabet="AQgw-_.eyJ0", max_size=80))
def test_read_never_raises(value: str) -> None:
    assert SessionCodec(SECRET).read(value, NOW) is None


def test_construction_refuses_weak_settings() -> None:
    with pytest.raises(ConfigurationError) as info:
        SessionCodec(b"x" * 31)
    assert info.value.reason is Reason.CONFIGURATION
    assert "x" * 31 not in info.value.diagnostics()
    for ttl in (0, -1):
        with pytest.raises(ConfigurationError):
            SessionCodec(SECRET, ttl=ttl)
    assert SessionCodec(b"x" * 32, ttl=1).ttl == 1


def test_issue_refuses_an_empty_subject(codec: SessionCodec) -> None:
    with pytest.raises(ValueError, match="subject"):
        codec.issue("", NOW)


def test_nothing_is_logged(codec: SessionCodec, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    value = codec.issue("alice", NOW)
    codec.read(value, NOW)
    codec.read(value[:-1], NOW)
    token = csrf_token(SECRET, "login", "tx1")
    csrf_valid(SECRET, "login", "tx1", token[:-1])
    assert caplog.records == []


# --- CSRF ---------------------------------------------------------------------------------------


def test_csrf_round_trip_and_determinism() -> None:
    token = csrf_token(SECRET, "login", "tx-1")
    assert token == csrf_token(SECRET, "login", "tx-1")
    assert len(b64url_decode(token)) == 32
    assert csrf_valid(SECRET, "login", "tx-1", token) is True


def test_csrf_wrong_purpose() -> None:
    token = csrf_token(SECRET, "login", "tx-1")
    assert csrf_valid(SECRET, "consent", "tx-1", token) is False


def test_csrf_wrong_binding() -> None:
    token = csrf_token(SECRET, "consent", "tx-1")
    assert csrf_valid(SECRET, "consent", "tx-2", token) is False
    assert csrf_valid(SECRET, "consent", "tx-1 ", token) is False


def test_csrf_other_secret() -> None:
    token = csrf_token(OTHER_SECRET, "login", "tx-1")
    assert csrf_valid(SECRET, "login", "tx-1", token) is False


def test_csrf_purpose_and_binding_cannot_trade_characters() -> None:
    token = csrf_token(SECRET, "ab", "c")
    assert token != csrf_token(SECRET, "a", "bc")
    assert csrf_valid(SECRET, "a", "bc", token) is False


BAD_CSRF = {
    "missing": None,
    "empty": "",
    "truncated": csrf_token(SECRET, "login", "tx-1")[:-1],
    "extended": csrf_token(SECRET, "login", "tx-1") + "A",
    "oversized": "A" * 10_000,
    "non-ASCII": "\u00e9" * 43,
    "lone surrogate": "\udcff" * 43,
    "padded": csrf_token(SECRET, "login", "tx-1") + "=",
    "upper-cased": csrf_token(SECRET, "login", "tx-1").upper(),
}


@pytest.mark.parametrize("token", BAD_CSRF.values(), ids=BAD_CSRF.keys())
def test_csrf_bad_tokens(token: str | None) -> None:
    if token is not None and token == csrf_token(SECRET, "login", "tx-1"):
        pytest.fail("the case must differ from the valid token")
    assert csrf_valid(SECRET, "login", "tx-1", token) is False


def test_csrf_needs_purpose_and_binding() -> None:
    with pytest.raises(ValueError, match="purpose and a binding"):
        csrf_token(SECRET, "", "tx-1")
    with pytest.raises(ValueError, match="purpose and a binding"):
        csrf_token(SECRET, "login", "")
    token = csrf_token(SECRET, "login", "tx-1")
    assert csrf_valid(SECRET, "", "tx-1", token) is False
    assert csrf_valid(SECRET, "login", "", token) is False


def test_csrf_refuses_a_short_secret() -> None:
    with pytest.raises(ConfigurationError):
        csrf_token(b"short", "login", "tx-1")
    with pytest.raises(ConfigurationError):
        csrf_valid(b"short", "login", "tx-1", "x")


def test_csrf_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    real = sessions.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(sessions.hmac, "compare_digest", spy)
    assert not csrf_valid(SECRET, "login", "tx-1", "A" * 43)
    assert len(calls) == 1


# --- cookie name and attributes -----------------------------------------------------------------


def test_https_issuer_gets_a_host_prefixed_secure_cookie() -> None:
    assert cookie_name("https://as.example") == "__Host-pb_session"
    assert cookie_name("HTTPS://AS.example/tenant") == "__Host-pb_session"
    assert cookie_attributes("https://as.example") == {
        "httponly": True,
        "samesite": "lax",
        "secure": True,
        "path": "/",
    }


def test_http_issuer_gets_a_plain_cookie() -> None:
    assert cookie_name("http://127.0.0.1:8000") == "pb_session"
    assert cookie_attributes("http://127.0.0.1:8000") == {
        "httponly": True,
        "samesite": "lax",
        "secure": False,
        "path": "/",
    }


@pytest.mark.parametrize("issuer", ["ftp://as.example", "as.example", "", "javascript:alert(1)"])
def test_other_issuers_are_refused(issuer: str) -> None:
    with pytest.raises(ValueError, match="http or https"):
        cookie_name(issuer)
    with pytest.raises(ValueError, match="http or https"):
        cookie_attributes(issuer)


def test_starlette_renders_a_valid_host_cookie(codec: SessionCodec) -> None:
    issuer = "https://as.example"
    response = Response()
    value = codec.issue("alice", NOW)
    response.set_cookie(cookie_name(issuer), value, max_age=TTL, **cookie_attributes(issuer))
    header = response.headers["set-cookie"]
    attributes = [part.strip().lower() for part in header.split(";")]
    assert header.startswith(f"__Host-pb_session={value};")
    assert {"httponly", "path=/", "samesite=lax", "secure"} <= set(attributes)
    assert not any(part.startswith("domain") for part in attributes)  # __Host- forbids it
