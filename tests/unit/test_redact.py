"""``proofbound.redact``: every credential shape is replaced by its fingerprint, nothing else is,
redacting twice changes nothing, and the logging filter and structlog processor never raise."""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from proofbound.redact import (
    RedactingFilter,
    fingerprint,
    install,
    redact_text,
    redact_value,
    structlog_processor,
)

JWT = (
    "eyJ0eXAiOiJhdCtqd3QiLCJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0"
    ".eyJpc3MiOiJodHRwczovL2FzLmV4YW1wbGUiLCJzdWIiOiJzdmMiLCJleHAiOjE3MDAwMDAzMDB9"
    ".MEUCIQDx3v2c1lQ0m7sIuD4q5Hk8yFQ2oE1xk9z0zv8H1V7l3gIgY2c3b2RlLXNpZ25hdHVyZS1ieXRlcw"
)
PROOF = (
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2In0.eyJodG0iOiJHRVQiLCJodHUiOiJodHRwczovL3JzIn0"
    ".c2lnbmF0dXJlLWJ5dGVzLWJ5dGVzLWJ5dGVz"
)
OPAQUE = "2YotnFZFEjr1zCsicMWpAA8f3kQz"
PEM = (
    "-----BEGIN EC PRIVATE KEY-----\n"
    "MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5xkg8RXJ4yqf7oAoGCCqGSM49\n"
    "AwEHoUQDQgAEmUJVmP2Vh2q9v5bQ8cM3zXHc4QvW1wJ4cZ2m7J7yYxVQ9Q==\n"
    "-----END EC PRIVATE KEY-----"
)


def fp(secret: str, label: str) -> str:
    return f"{label}#{hashlib.sha256(secret.encode()).hexdigest()[:8]}"


CASES = [
    # Authorization header values, in every dump shape
    (f"Authorization: Bearer {OPAQUE}", f"Authorization: Bearer {fp(OPAQUE, 'at')}"),
    (f"authorization: DPoP {JWT}", f"authorization: DPoP {fp(JWT, 'at')}"),
    (
        "PROXY-AUTHORIZATION: Basic dXNlcjpwYXNz",
        f"PROXY-AUTHORIZATION: Basic {fp('dXNlcjpwYXNz', 'cred')}",
    ),
    (
        f"{{'authorization': 'Bearer {OPAQUE}'}}",
        f"{{'authorization': 'Bearer {fp(OPAQUE, 'at')}'}}",
    ),
    (f'{{"Authorization":"Bearer {JWT}"}}', f'{{"Authorization":"Bearer {fp(JWT, "at")}"}}'),
    (
        f"[(b'host', b'x'), (b'authorization', b'Bearer {OPAQUE}')]",
        f"[(b'host', b'x'), (b'authorization', b'Bearer {fp(OPAQUE, 'at')}')]",
    ),
    (
        f'{{"name": "Authorization",\n  "value": "Bearer {OPAQUE}"}}',
        f'{{"name": "Authorization",\n  "value": "Bearer {fp(OPAQUE, "at")}"}}',
    ),
    (f"authorization={OPAQUE}", f"authorization={fp(OPAQUE, 'at')}"),
    # DPoP header values (proofs)
    (f"DPoP: {PROOF}", f"DPoP: {fp(PROOF, 'dpop')}"),
    (f"{{'dpop': '{PROOF}'}}", f"{{'dpop': '{fp(PROOF, 'dpop')}'}}"),
    # credentials after a scheme, anywhere
    (f"sent Bearer {OPAQUE} upstream", f"sent Bearer {fp(OPAQUE, 'at')} upstream"),
    (f"curl -H 'X: DPoP {JWT}'", f"curl -H 'X: DPoP {fp(JWT, 'at')}'"),
    # query strings and form bodies
    (
        f"GET /cb?access_token={OPAQUE}&state=xyz HTTP/1.1",
        f"GET /cb?access_token={fp(OPAQUE, 'at')}&state=xyz HTTP/1.1",
    ),
    (
        f"/cb#id_token={JWT}&token_type=Bearer",
        f"/cb#id_token={fp(JWT, 'idt')}&token_type=Bearer",
    ),
    (
        "grant_type=refresh_token&refresh_token=tGzv3JOkF0XG5Qx2TlKWIA&client_secret=s3cr3t",
        f"grant_type=refresh_token&refresh_token={fp('tGzv3JOkF0XG5Qx2TlKWIA', 'rt')}"
        f"&client_secret={fp('s3cr3t', 'cs')}",
    ),
    (
        f"client_assertion_type=urn%3Aietf&client_assertion={JWT}&scope=x",
        f"client_assertion_type=urn%3Aietf&client_assertion={fp(JWT, 'ca')}&scope=x",
    ),
    (
        "GET /cb?code=SplxlOBeZQQYbYS6WxSbIA&state=xyz",
        f"GET /cb?code={fp('SplxlOBeZQQYbYS6WxSbIA', 'code')}&state=xyz",
    ),
    (f"token={OPAQUE}", f"token={fp(OPAQUE, 'at')}"),
    (
        f"redirect=%2Fcb%23access_token%3D{OPAQUE}",
        f"redirect=%2Fcb%23access_token%3D{fp(OPAQUE, 'at')}",
    ),
    ("password=hunter2&user=bob", f"password={fp('hunter2', 'pw')}&user=bob"),
    # JSON members and Python reprs
    (
        f'{{"access_token": "{OPAQUE}", "token_type": "Bearer", "expires_in": 300}}',
        f'{{"access_token": "{fp(OPAQUE, "at")}", "token_type": "Bearer", "expires_in": 300}}',
    ),
    (f"{{'refresh_token': '{OPAQUE}'}}", f"{{'refresh_token': '{fp(OPAQUE, 'rt')}'}}"),
    (
        '{"client_secret": "with spaces and \\"quotes\\""}',
        '{"client_secret": "cs#'
        + hashlib.sha256(b'with spaces and \\"quotes\\"').hexdigest()[:8]
        + '"}',
    ),
    (
        f'{{"msg": "{{\\"access_token\\": \\"{OPAQUE}\\"}}"}}',
        f'{{"msg": "{{\\"access_token\\": \\"{fp(OPAQUE, "at")}\\"}}"}}',
    ),
    # JWTs anywhere, JWEs
    (f"token was {JWT}.", f"token was {fp(JWT, 'jwt')}."),
    (f"line\\n{JWT}", f"line\\n{fp(JWT, 'jwt')}"),
    (
        "eyJhbGciOiJSU0EtT0FFUCJ9.a1b2.c3d4.e5f6.g7h8",
        fp("eyJhbGciOiJSU0EtT0FFUCJ9.a1b2.c3d4.e5f6.g7h8", "jwt"),
    ),
    # PEM private keys, whole or truncated
    (f"key loaded: {PEM} ok", f"key loaded: {fp(PEM, 'key')} ok"),
    (
        "cfg={'key': '-----BEGIN PRIVATE KEY-----\\nMIGHAgEAMBMGByqGSM49AgEGCCqG",
        "cfg={'key': '" + fp("-----BEGIN PRIVATE KEY-----\\nMIGHAgEAMBMGByqGSM49AgEGCCqG", "key"),
    ),
]

UNCHANGED = [
    "request done method=GET path=/api/v1/orders/12345?page=2 status=200 took=0.012s",
    "token issued client_id=svc binding=dpop jti=Ab12Cd34… ttl=300",
    "request refused reason=token_unknown admin",
    'WWW-Authenticate: Bearer realm="api", error="invalid_token"',
    "using Bearer authentication and DPoP proofs, DPoP nonce required",
    "status code=200 error code=invalid_grant code: 42",
    '{"token_type": "Bearer", "expires_in": 300, "code": "E42"}',
    "uuid 550e8400-e29b-41d4-a716-446655440000 version 1.2.3 a.b.c",
    "blob aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ= eyJub3QiOiJhIGp3dCJ9",
    "grant_type=refresh_token&client_id=svc",
    "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----",
    "Authorization: Bearer at#3f9a1c2b",
    "access_token=at#3f9a1c2b&refresh_token=rt#00112233",
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_redacts_each_shape(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_redacting_twice_changes_nothing(text: str, expected: str) -> None:
    assert redact_text(expected) == expected


@pytest.mark.parametrize("text", UNCHANGED)
def test_leaves_ordinary_text_alone(text: str) -> None:
    assert redact_text(text) == text


def test_fingerprint() -> None:
    assert fingerprint(OPAQUE) == fp(OPAQUE, "at")
    assert fingerprint(OPAQUE.encode(), "rt") == fp(OPAQUE, "rt")
    # a prefix of the AS audit log's 12 digits
    from proofbound.server.revocation import token_hash_prefix

    assert token_hash_prefix(JWT).startswith(fingerprint(JWT))


_SHAPES = [
    "Authorization: Bearer {}",
    "{{'Authorization': 'DPoP {}'}}",
    "?access_token={}&x=1",
    '"refresh_token":"{}"',
    "client_secret={}",
    "Bearer {}",
    "dpop: {}",
]


@given(
    shape=st.sampled_from(_SHAPES),
    token=st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        min_size=20,
        max_size=80,
    ).filter(lambda t: any(c.isdigit() for c in t) and any(c.isalpha() for c in t)),
    before=st.text(max_size=30).map(lambda s: s + " "),
    after=st.sampled_from(["", " ", "\n", "&next=1", '"}', "' ok"]),
)
def test_a_token_in_a_known_shape_never_survives(
    shape: str, token: str, before: str, after: str
) -> None:
    assume(token not in before)
    out = redact_text(before + shape.format(token) + after)
    assert token not in out
    assert redact_text(out) == out


# --- logging ---------------------------------------------------------------------------------


@pytest.fixture
def clean_logging() -> Iterator[None]:
    """Undo install(): remove every RedactingFilter it added."""
    names = ["", "uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"]
    yield
    for name in names:
        logger = logging.getLogger(name or None)
        for filterer in (logger, *logger.handlers):
            for existing in list(filterer.filters):
                if isinstance(existing, RedactingFilter):
                    filterer.removeFilter(existing)


def record(msg: Any, args: Any = None, **extra: Any) -> logging.LogRecord:
    made = logging.LogRecord("app", logging.INFO, __file__, 1, msg, args, None)
    made.__dict__.update(extra)
    return made


def test_filter_redacts_message_and_arguments() -> None:
    redacting = RedactingFilter()
    rec = record("headers %s for %s", ({"authorization": f"Bearer {OPAQUE}"}, "svc"))
    assert redacting.filter(rec) is True
    assert OPAQUE not in rec.getMessage()
    assert fp(OPAQUE, "at") in rec.getMessage()
    # a credential split between the format string and an argument
    rec = record("POST /token body=client_secret=%s&x=%d", ("s3cr3tvalue", 1))
    redacting.filter(rec)
    assert "s3cr3tvalue" not in rec.getMessage()
    assert rec.getMessage() == f"POST /token body=client_secret={fp('s3cr3tvalue', 'cs')}&x=1"


def test_filter_keeps_uvicorn_access_arguments() -> None:
    from uvicorn.logging import AccessFormatter

    rec = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/cb?access_token={OPAQUE}&state=1", "1.1", 200),
        None,
    )
    RedactingFilter().filter(rec)
    assert isinstance(rec.args, tuple)
    assert len(rec.args) == 5
    line = AccessFormatter(fmt="%(client_addr)s %(request_line)s %(status_code)s").format(rec)
    assert OPAQUE not in line
    assert f"access_token={fp(OPAQUE, 'at')}" in line


def test_filter_redacts_exceptions_extras_and_stacks() -> None:
    try:
        raise ValueError(f"bad token {JWT}")
    except ValueError:
        exc_info = sys.exc_info()
    rec = record("failed", headers={"Authorization": f"Bearer {OPAQUE}"}, note=f"dpop: {PROOF}")
    rec.exc_info = exc_info
    rec.stack_info = f"Stack:\n  token={OPAQUE}"
    RedactingFilter().filter(rec)
    formatted = logging.Formatter("%(message)s %(headers)s %(note)s").format(rec)
    for secret in (JWT, OPAQUE, PROOF):
        assert secret not in formatted
    assert rec.exc_info is None  # the exception object still held the token
    assert rec.exc_text is not None
    assert "ValueError: bad token jwt#" in rec.exc_text


def test_filter_keeps_harmless_exceptions() -> None:
    try:
        raise KeyError("orders")
    except KeyError:
        exc_info = sys.exc_info()
    rec = record("failed")
    rec.exc_info = exc_info
    RedactingFilter().filter(rec)
    assert rec.exc_info is exc_info


class Hostile:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class Leaky:
    def __repr__(self) -> str:
        return f"Leaky(token={OPAQUE})"

    __str__ = __repr__


@pytest.mark.parametrize(
    ("msg", "args"),
    [
        ("%s %s", ("only one",)),  # bad format arguments
        ("%d", (f"Bearer {OPAQUE}",)),  # wrong type, with a token
        (Hostile(), None),
        ("%s", (Hostile(),)),
        ("%(a)s", ({"a": Hostile()},)),
        ("%s", ([[[[[[[[[[[[f"Bearer {OPAQUE}"]]]]]]]]]]]],)),
        ("%s", (Leaky(),)),
        (f"Bearer {OPAQUE} %s", (b"\xff\xfe access_token=" + OPAQUE.encode(),)),
    ],
)
def test_filter_never_raises_and_never_leaks(msg: Any, args: Any) -> None:
    rec = record(msg, args)
    assert RedactingFilter().filter(rec) is True
    shown = f"{rec.msg!s} {rec.args!r}" if not isinstance(rec.msg, Hostile) else ""
    assert OPAQUE not in shown


def test_install_is_idempotent_and_covers_root_and_uvicorn(clean_logging: None) -> None:
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    root.addHandler(handler)
    try:
        first = install()
        second = install()
        assert first is second
        for filterer in (handler, *(logging.getLogger(n) for n in ("uvicorn", "uvicorn.access"))):
            assert sum(isinstance(f, RedactingFilter) for f in filterer.filters) == 1
    finally:
        root.removeHandler(handler)


def test_installed_redaction_reaches_the_output(
    clean_logging: None, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    root.addHandler(handler)
    try:
        install()
        caplog.set_level(logging.INFO)
        logging.getLogger("app.http").info("GET /orders Authorization: Bearer %s", OPAQUE)
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "1.2.3.4:1", "GET", f"/cb?code=Q{OPAQUE}", "1.1", 200
        )
    finally:
        root.removeHandler(handler)
    err = capsys.readouterr().err
    assert OPAQUE not in err
    assert fp(OPAQUE, "at") in err
    assert OPAQUE not in caplog.text
    assert all(OPAQUE not in r.getMessage() for r in caplog.records)


def test_uvicorn_logger_filter_survives_its_handlers_being_replaced(clean_logging: None) -> None:
    install()
    access = logging.getLogger("uvicorn.access")
    rec = access.makeRecord(
        "uvicorn.access", logging.INFO, __file__, 1, "%s", (f"token={OPAQUE}",), None
    )
    access.handlers = [logging.NullHandler()]  # what uvicorn's dictConfig does
    assert access.filter(rec)
    assert OPAQUE not in rec.getMessage()


# --- structlog -----------------------------------------------------------------------------------


def test_structlog_processor() -> None:
    event: dict[str, Any] = {
        "event": f"calling upstream with Bearer {OPAQUE}",
        "headers": {"Authorization": f"DPoP {JWT}", "DPoP": PROOF, "Accept": "*/*"},
        "raw_headers": [(b"authorization", f"Bearer {OPAQUE}".encode()), (b"host", b"x")],
        "access_token": OPAQUE,
        "code": "SplxlOBeZQQYbYS6WxSbIA",
        "status": 200,
        "exception": f"Traceback ...\nValueError: {JWT}",
        "nested": {"a": [{"refresh_token": OPAQUE}]},
        "hostile": Hostile(),
        "leaky": Leaky(),
    }
    out = structlog_processor(None, "info", event)
    assert out is event
    text = repr({k: v for k, v in out.items() if k != "hostile"})
    for secret in (OPAQUE, JWT, PROOF, "SplxlOBeZQQYbYS6WxSbIA"):
        assert secret not in text
    assert out["headers"]["Authorization"] == f"DPoP {fp(JWT, 'at')}"
    assert out["headers"]["Accept"] == "*/*"
    assert out["access_token"] == fp(OPAQUE, "at")
    assert out["raw_headers"][0] == (b"authorization", f"Bearer {fp(OPAQUE, 'at')}".encode())
    assert out["status"] == 200
    assert out["hostile"] == "<not logged: redaction failed>"


def test_redact_value_never_raises() -> None:
    assert redact_value(Hostile()) == "<not logged: redaction failed>"
    deep: list[Any] = [f"Bearer {OPAQUE}"]
    for _ in range(50):
        deep = [deep]
    assert OPAQUE not in repr(redact_value(deep))
    assert redact_value(7) == 7
    assert redact_value(None) is None
