"""Browser sessions and CSRF tokens of the authorization server's login and consent pages.

Pure functions of a server secret and explicit time; no I/O.

* A session cookie is ``b64url(JSON {"sub","sid","iat","exp"}) "." b64url(HMAC-SHA-256)``: the
  browser can read it but not change it. :meth:`SessionCodec.read` checks the MAC before it
  parses anything, and answers ``None`` for every cookie it refuses (missing, forged, expired,
  malformed, oversized): one opaque failure, no hint which check failed.
* A CSRF token is an HMAC over a purpose (``"login"``, ``"consent"``) and a binding (the pending
  authorization request, the session id), so a token made for one form, request or session is
  refused by every other.
* Session MACs and CSRF tokens use separate labels in their MAC input, so one can never stand in
  for the other even though they share the secret.
* :func:`cookie_name` and :func:`cookie_attributes`: an https issuer gets a ``__Host-`` cookie
  (Secure, ``Path=/``, no ``Domain``: RFC 6265bis §4.1.3.2), HttpOnly and ``SameSite=Lax``.
"""

from __future__ import annotations

import hmac
import json
import secrets
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypedDict
from urllib.parse import urlsplit

from proofbound._internal.b64 import b64url_decode, b64url_encode, is_b64url
from proofbound._internal.strict_json import StrictJSONError, loads_object
from proofbound.dpop.nonce import MIN_SECRET_BYTES
from proofbound.errors import ConfigurationError

__all__ = [
    "CookieAttributes",
    "MAX_COOKIE_BYTES",
    "Session",
    "SessionCodec",
    "cookie_attributes",
    "cookie_name",
    "csrf_token",
    "csrf_valid",
]

_SESSION_LABEL: Final = b"proofbound/session/v1\x00"
_CSRF_LABEL: Final = b"proofbound/csrf/v1\x00"
_MAC_BYTES: Final = 32
_SID_BYTES: Final = 16
#: Longest cookie value read; browsers keep at most 4096 bytes per cookie.
MAX_COOKIE_BYTES: Final = 4096
_MAX_CSRF_CHARS: Final = 64
# A cookie issued by another instance whose clock runs ahead is still accepted.
_MAX_CLOCK_SKEW: Final = 60


def _check_secret(secret: bytes) -> None:
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigurationError(f"session secrets need at least {MIN_SECRET_BYTES} bytes")


def _mac(secret: bytes, label: bytes, message: bytes) -> bytes:
    return hmac.digest(secret, label + message, "sha256")


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser: who (``subject``), which session (``sid``) and for how long.

    The repr shows the subject only.
    """

    subject: str
    sid: str = field(repr=False)
    issued_at: int = field(repr=False)
    expires_at: int = field(repr=False)


def _int(value: Any) -> int | None:
    # bool is an int in Python, not in JSON.
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _session_from(claims: dict[str, Any]) -> Session | None:
    subject, sid = claims.get("sub"), claims.get("sid")
    issued_at, expires_at = _int(claims.get("iat")), _int(claims.get("exp"))
    if set(claims) != {"sub", "sid", "iat", "exp"}:
        return None
    if not isinstance(subject, str) or not subject or not isinstance(sid, str) or not sid:
        return None
    if issued_at is None or expires_at is None:
        return None
    return Session(subject, sid, issued_at, expires_at)


class SessionCodec:
    """Issues and reads session cookie values signed with ``secret`` (HMAC-SHA-256).

    Args:
        secret: at least 32 random bytes, shared by every AS instance.
        ttl: session lifetime in seconds. Lowering it also shortens sessions already issued.

    Raises:
        ConfigurationError: a short secret or a non-positive ``ttl``.

    Example::

        codec = SessionCodec(secrets.token_bytes(32))
        value = codec.issue("alice", now=clock.now())
        assert codec.read(value, now=clock.now()).subject == "alice"
    """

    __slots__ = ("_secret", "ttl")

    def __init__(self, secret: bytes, *, ttl: int = 3600) -> None:
        _check_secret(secret)
        if ttl <= 0:
            raise ConfigurationError("the session ttl must be a positive number of seconds")
        self._secret: Final = bytes(secret)
        self.ttl: Final = ttl

    def __repr__(self) -> str:
        return f"SessionCodec(secret=<redacted>, ttl={self.ttl})"

    def issue(self, subject: str, now: int) -> str:
        """A new session for ``subject`` (a fresh random ``sid``), valid ``ttl`` seconds from
        ``now``, as a cookie value.

        Raises:
            ValueError: an empty subject.
        """
        if not subject:
            raise ValueError("a session needs a subject")
        claims = {
            "sub": subject,
            "sid": secrets.token_urlsafe(_SID_BYTES),
            "iat": now,
            "exp": now + self.ttl,
        }
        payload = b64url_encode(_json_bytes(claims))
        tag = _mac(self._secret, _SESSION_LABEL, payload.encode("ascii"))
        return f"{payload}.{b64url_encode(tag)}"

    def read(self, value: str | None, now: int) -> Session | None:
        """The session in cookie ``value`` if it is ours and valid at ``now``, else ``None``.

        Refused, all as ``None``: no value, more than :data:`MAX_COOKIE_BYTES`, not
        ``payload.mac`` in canonical base64url, a MAC that does not verify, a payload that is
        not exactly the four claims with the right types, ``exp <= now``, ``iat`` in the
        future (beyond a minute of clock skew), or a lifetime longer than ``ttl``. Never raises.
        """
        if value is None or len(value) > MAX_COOKIE_BYTES:
            return None
        payload, dot, tag_text = value.partition(".")
        if not dot or not is_b64url(payload) or not is_b64url(tag_text):
            return None  # also refuses a second "." (not in the base64url alphabet)
        tag = b64url_decode(tag_text)
        expected = _mac(self._secret, _SESSION_LABEL, payload.encode("ascii"))
        if not hmac.compare_digest(tag, expected):
            return None
        try:
            claims = loads_object(b64url_decode(payload), max_bytes=MAX_COOKIE_BYTES)
        except StrictJSONError:
            return None
        session = _session_from(claims)
        if session is None or not self._current(session, now):
            return None
        return session

    def _current(self, session: Session, now: int) -> bool:
        return (
            session.issued_at <= now + _MAX_CLOCK_SKEW
            and now < session.expires_at
            and session.expires_at - session.issued_at <= self.ttl
        )


def _json_bytes(claims: dict[str, Any]) -> bytes:
    return json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _csrf_message(purpose: str, binding: str) -> bytes:
    # Length-prefixed, so ("ab", "c") and ("a", "bc") cannot collide.
    parts = [part.encode("utf-8", "surrogatepass") for part in (purpose, binding)]
    return b"".join(len(part).to_bytes(4, "big") + part for part in parts)


def csrf_token(secret: bytes, purpose: str, binding: str) -> str:
    """The CSRF token of a form: HMAC-SHA-256 over ``purpose`` and ``binding``, base64url.

    ``purpose`` names the form (``"login"``, ``"consent"``); ``binding`` is what the form acts on
    (the pending request's ``tx``, the session's ``sid``). Deterministic: no state to keep.

    Raises:
        ConfigurationError: a secret shorter than 32 bytes.
        ValueError: an empty purpose or binding.
    """
    _check_secret(secret)
    if not purpose or not binding:
        raise ValueError("a CSRF token needs a purpose and a binding")
    return b64url_encode(_mac(secret, _CSRF_LABEL, _csrf_message(purpose, binding)))


def csrf_valid(secret: bytes, purpose: str, binding: str, token: str | None) -> bool:
    """True if ``token`` is :func:`csrf_token` of this purpose and binding (constant time).

    ``False`` for a missing, empty, oversized, non-ASCII or wrong token, and for an empty
    purpose or binding.

    Raises:
        ConfigurationError: a secret shorter than 32 bytes.
    """
    _check_secret(secret)
    if token is None or not purpose or not binding:
        return False
    if len(token) > _MAX_CSRF_CHARS or not token.isascii():
        return False
    expected = csrf_token(secret, purpose, binding)
    return hmac.compare_digest(expected.encode("ascii"), token.encode("ascii"))


def _scheme(issuer: str) -> Literal["https", "http"]:
    scheme = urlsplit(issuer).scheme.lower()
    if scheme == "https":
        return "https"
    if scheme == "http":
        return "http"
    raise ValueError("the issuer must be an http or https URL")


def cookie_name(issuer: str) -> str:
    """``__Host-pb_session`` for an https issuer, ``pb_session`` for http (a ``__Host-`` cookie
    must be Secure, which a browser refuses over http).

    Raises:
        ValueError: an issuer that is not an http(s) URL.
    """
    return "__Host-pb_session" if _scheme(issuer) == "https" else "pb_session"


class CookieAttributes(TypedDict):
    """Keyword arguments of Starlette's ``Response.set_cookie`` for the session cookie."""

    httponly: bool
    samesite: Literal["lax"]
    secure: bool
    path: str


def cookie_attributes(issuer: str) -> CookieAttributes:
    """HttpOnly, ``SameSite=Lax``, ``Path=/``, and Secure for an https issuer.

    Lax, not Strict: the browser comes back to ``/authorize`` by a top-level navigation from the
    client's site and must bring its session along.

    Example::

        response.set_cookie(cookie_name(issuer), value, max_age=ttl, **cookie_attributes(issuer))

    Raises:
        ValueError: an issuer that is not an http(s) URL.
    """
    return {
        "httponly": True,
        "samesite": "lax",
        "secure": _scheme(issuer) == "https",
        "path": "/",
    }
