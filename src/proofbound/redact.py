"""Keep tokens, proofs, assertions, secrets and private keys out of logs.

:func:`redact_text` replaces every credential it recognises with a short fingerprint: a label
and the first 8 hex digits of the SHA-256 of the credential, ``at#3f9a1c2b``. The same token
gets the same fingerprint everywhere (these logs, ``proofbound scan`` reports, and -- as a
prefix of its 12 digits -- the authorization server's audit log), so operators can correlate
without ever seeing the token. Recognised:

* ``Authorization`` / ``Proxy-Authorization`` header values (the scheme stays readable:
  ``Authorization: DPoP at#3f9a1c2b``) and ``DPoP`` header values (proofs, ``dpop#...``), in
  the shapes logs dump them: ``Name: value``, ``"name": "value"``, ``name=value``,
  ``(b'name', b'value')`` (ASGI scopes) and ``{"name": ..., "value": ...}`` (HAR);
* credentials after the ``Bearer`` and ``DPoP`` schemes anywhere in the text;
* ``access_token``, ``refresh_token``, ``id_token``, ``token``, ``subject_token``,
  ``actor_token``, ``client_assertion``, ``assertion``, ``client_secret``, ``password`` and
  (random-looking values of) ``code`` / ``device_code``, in query strings, form bodies,
  ``key=value`` logs, JSON members and Python reprs;
* anything shaped like a JWS/JWE compact serialization (``eyJ...``, three or five base64url
  segments), wherever it is;
* PEM private key blocks (``-----BEGIN ... PRIVATE KEY-----``, also when truncated).

Fingerprint labels: ``at`` access token, ``rt`` refresh token, ``idt`` ID token, ``dpop`` DPoP
proof, ``ca`` client assertion, ``cs`` client secret, ``pw`` password, ``code`` authorization
or device code, ``cred`` other ``Authorization`` credentials (``Basic``...), ``jwt`` a JWT seen
without context, ``key`` a private key.

Two integrations, both of which never raise (a failing filter would lose the log line; on an
internal error the message is replaced by a fixed text instead):

* :class:`RedactingFilter`, a :class:`logging.Filter` that rewrites the message, its arguments,
  ``extra`` fields, exception and stack text of each record. :func:`install` puts it on the root
  logger's handlers and on uvicorn's loggers (its access log shows query strings).
* :func:`structlog_processor`, a structlog processor (``(logger, method, event_dict) ->
  event_dict``); put it last before the renderer, after ``format_exc_info``.

Redaction is a safety net for text the code did not mean to log; it recognises shapes, so a
credential in a form it does not know (an opaque token logged bare, with no name) stays.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping, MutableMapping
from typing import Any, Final, NamedTuple

__all__ = [
    "RedactingFilter",
    "fingerprint",
    "install",
    "redact_text",
    "redact_value",
    "structlog_processor",
]

#: Hex digits of SHA-256 kept in a fingerprint.
FINGERPRINT_HEX: Final = 8

_B64U: Final = r"A-Za-z0-9_-"
_TOKEN68: Final = r"A-Za-z0-9\-._~+/"
# A value that is already a fingerprint: left as it is, so redacting twice changes nothing.
_DONE: Final = r"[a-z]{1,5}\#[0-9a-f]{8}(?![0-9a-f])"
_Q: Final = r"""\\?["']"""  # a quote, possibly escaped (JSON inside JSON)
# Between a header or parameter name and its value: `: `, `=`, `": "`, `': b'`, `', '` (ASGI
# header tuples), `", "value": "` (HAR name/value objects).
_NAME_VALUE: Final = rf"""{_Q}\s*,\s*(?:{_Q}value{_Q}\s*:\s*)?b?{_Q}"""
_HEADER_SEP: Final = rf"(?:(?:{_Q})?[ \t]*[:=][ \t]*b?(?:{_Q})?|{_NAME_VALUE})"
_PARAM_SEP: Final = rf"(?:(?:{_Q})?[ \t]*(?:[:=]|%3[Dd])[ \t]*b?(?:{_Q})?|{_NAME_VALUE})"
_CODE_SEP: Final = rf"(?:[ \t]*(?:=|%3[Dd])[ \t]*|{_NAME_VALUE})"
# A parameter value: up to the closing quote when quoted, else up to a delimiter.
_UNQUOTED: Final = r"""[^\s&"'<>#,;\\)\]}]++"""
_PARAM_VALUE: Final = (
    rf"{_DONE}"
    r"""|(?<=\\")[^"\\\s]*+"""  # inside an escaped-quote string: up to the next backslash
    r"""|(?<=[^\\]")(?:[^"\\\n]|\\.)*+"""  # a JSON string
    r"""|(?<=')[^'\\\n]*+"""  # a Python repr string
    rf"|{_UNQUOTED}"
)
_PARAM_LABELS: Final = {
    "access_token": "at",
    "token": "at",
    "subject_token": "at",
    "actor_token": "at",
    "refresh_token": "rt",
    "id_token": "idt",
    "client_assertion": "ca",
    "assertion": "ca",
    "client_secret": "cs",
    "password": "pw",
}
_SCHEME_NAME: Final = r"[A-Za-z][A-Za-z0-9_-]{0,30}"


class _Alternative(NamedTuple):
    kind: str
    values: tuple[int, ...]  # group numbers of the credential (at most one matches)
    name: int  # group number of the parameter name (minus its first character), or 0
    schemes: tuple[int, ...]  # group numbers of the scheme


#: Schemes after which a word is the scheme, never the credential (also without a credential:
#: ``Authorization: Bearer %s`` is a format string, not a token).
_KNOWN_SCHEMES: Final = (
    r"(?i:bearer|dpop|basic|digest|negotiate|ntlm|token|mac|hoba|gnap|oauth|apikey"
    r"|aws4-hmac-sha256)"
)


def _build() -> tuple[re.Pattern[str], dict[int, _Alternative]]:
    """One pattern whose top-level alternatives each start with a literal character.

    That shape lets the regex engine skip, in C, every position whose character starts no
    alternative (its "charset prefix"); a leading group or look-behind would make it try a match
    at every position instead, several times slower. So each alternative is written once per
    case of its first character, followed by a look-behind on that character (the "not inside a
    word" check), and its captures are numbered (a name could not repeat); ``kinds`` maps the
    number of each alternative's outer group (the one closing last, ``Match.lastindex``) to
    what it matched.
    """
    # first character -> [(rest, kind, values, name, schemes)], groups numbered within rest
    parts: dict[str, list[tuple[str, str, tuple[int, ...], int, tuple[int, ...]]]] = {}

    def add(
        first: str,
        rest: str,
        kind: str,
        *,
        word: bool,
        values: tuple[int, ...] = (),
        name: int = 0,
        schemes: tuple[int, ...] = (),
    ) -> None:
        # Not inside a word; a URL-encoded delimiter (%26 &, %23 #, %3F ?) may precede it.
        escaped = re.escape(first)
        behind = rf"(?:(?<![\w-]{escaped})|(?<=%[0-9A-Fa-f][0-9A-Fa-f]{escaped}))" if word else ""
        parts.setdefault(first, []).append((behind + rest, kind, values, name, schemes))

    def words(
        names: list[str],
        tail: str,
        kind: str,
        *,
        values: tuple[int, ...],
        schemes: tuple[int, ...] = (),
        capture_name: bool = False,
    ) -> None:
        """One of ``names`` (case-insensitive, as a word), then ``tail`` (groups numbered in
        it)."""
        by_first: dict[str, list[str]] = {}
        for item in names:
            by_first.setdefault(item[0].lower(), []).append(item[1:])
        shift = 1 if capture_name else 0
        for first, rests in by_first.items():
            alternation = "|".join(re.escape(r) for r in sorted(rests, key=len, reverse=True))
            body = f"((?i:{alternation}))" if capture_name else f"(?i:{alternation})"
            for case in dict.fromkeys((first.lower(), first.upper())):
                add(
                    case,
                    body + tail,
                    kind,
                    word=True,
                    values=tuple(v + shift for v in values),
                    name=shift,
                    schemes=tuple(s + shift for s in schemes),
                )

    credential = rf"({_DONE}|[{_TOKEN68}]++=*+)"
    # PEM private keys: to the END line, or (truncated) to the end of the base64 body.
    add(
        "-",
        r"----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY-----"
        r"(?:[\s\S]{0,16384}?-----END[ A-Z0-9]{0,40}PRIVATE KEY-----"
        r"|(?:[A-Za-z0-9+/=\s]|\\[nr])*+)",
        "pem",
        word=False,
    )
    # Authorization header values, the scheme kept: a known scheme (and the credential, if
    # any), another word and a credential, or a credential alone.
    words(
        ["authorization", "proxy-authorization"],
        rf"{_HEADER_SEP}(?:({_KNOWN_SCHEMES})(?![\w-])[ \t]*{credential}?"
        rf"|({_SCHEME_NAME})[ \t]+({_DONE}|[{_TOKEN68}]{{8,}}+=*+)"
        rf"|{credential})",
        "hdr",
        values=(2, 4, 5),
        schemes=(1, 3),
    )
    # DPoP header values (proofs).
    words(["dpop"], rf"{_HEADER_SEP}({_DONE}|[{_TOKEN68}]{{16,}}+=*+)", "dh", values=(1,))
    # A credential after a scheme, anywhere.
    words(["bearer", "dpop"], rf"[ \t]+([{_TOKEN68}]{{8,}}+=*+)", "sch", values=(1,))
    # Named parameters and members.
    words(
        list(_PARAM_LABELS),
        rf"{_PARAM_SEP}({_PARAM_VALUE})",
        "par",
        values=(1,),
        capture_name=True,
    )
    # Authorization and device codes: query/form syntax only, random-looking values only.
    words(["code", "device_code"], rf"{_CODE_SEP}({_DONE}|{_UNQUOTED})", "cod", values=(1,))
    # JWS (three segments) or JWE (five) compact serializations.
    add(
        "e",
        rf"(?:(?<![{_B64U}]e)|(?<=\\[nrt]e))yJ[{_B64U}]{{5,}}+\.[{_B64U}]++\.[{_B64U}]*+"
        rf"(?:\.[{_B64U}]*+\.[{_B64U}]*+)?",
        "jwt",
        word=False,
    )
    # Alternatives sharing a first character are tried after one test of it. Groups are
    # numbered in the order they appear in the final pattern.
    kinds: dict[int, _Alternative] = {}
    branches: list[str] = []
    groups = 0
    for first, alternatives in parts.items():
        rests = []
        for rest, kind, values, name, schemes in alternatives:
            outer = groups + 1
            rests.append(f"({rest})")
            kinds[outer] = _Alternative(
                kind,
                tuple(outer + v for v in values),
                outer + name if name else 0,
                tuple(outer + s for s in schemes),
            )
            groups = outer + re.compile(rest).groups
        alternation = rests[0] if len(rests) == 1 else f"(?:{'|'.join(rests)})"
        branches.append(re.escape(first) + alternation)
    return re.compile("|".join(branches)), kinds


_PATTERN, _KINDS = _build()
#: Every alternative of the pattern contains one of these (lower-cased); a text containing none
#: is returned without running the pattern (a few substring searches are ten times cheaper).
_TRIGGERS: Final = (
    "token",
    "eyj",
    "bearer",
    "dpop",
    "authorization",
    "code",
    "assertion",
    "secret",
    "password",
    "-----begin",
)
_DONE_RE: Final = re.compile(_DONE)


def fingerprint(secret: str | bytes, label: str = "at") -> str:
    """``label#`` and the first 8 hex digits of the SHA-256 of ``secret`` (UTF-8).

    The digits are those of the authorization server's audit log (``at#`` and 12 digits of the
    same hash), so a fingerprint found in a log or a scan report greps its audit entries.
    """
    data = secret if isinstance(secret, bytes) else secret.encode("utf-8", "replace")
    return f"{label}#{hashlib.sha256(data).hexdigest()[:FINGERPRINT_HEX]}"


def _looks_random(value: str) -> bool:
    """A credential rather than a word: long, or mixing letter cases and digits."""
    if len(value) >= 32:
        return True
    classes = (
        any(c.islower() for c in value)
        + any(c.isupper() for c in value)
        + any(c.isdigit() for c in value)
    )
    return classes >= 2 and len(value) >= 8


def _replace(match: re.Match[str], group: int, label: str) -> str:
    start, end = match.span(group)
    whole_start, whole_end = match.span()
    text = match.string
    return text[whole_start:start] + fingerprint(text[start:end], label) + text[end:whole_end]


def _substitute(match: re.Match[str]) -> str:
    alternative = _KINDS[match.lastindex or 0]
    kind = alternative.kind
    if kind == "jwt":
        return fingerprint(match[0], "jwt")
    if kind == "pem":
        return fingerprint(match[0], "key")
    group = next((g for g in alternative.values if match[g] is not None), 0)
    value = match[group] if group else ""
    if not value or _DONE_RE.fullmatch(value):
        return match[0]
    if kind == "hdr":
        scheme = next((match[g] for g in alternative.schemes if match[g] is not None), "bearer")
        label = "at" if scheme.lower() in ("bearer", "dpop") else "cred"
    elif kind == "dh":
        label = "dpop"
    elif kind == "par":
        name = match[0][0] + match[alternative.name]
        label = _PARAM_LABELS.get(name.lower(), "at")
    elif _looks_random(value):  # sch, cod
        label = "at" if kind == "sch" else "code"
    else:
        return match[0]
    return _replace(match, group, label)


def redact_text(text: str) -> str:
    """``text`` with every recognised credential replaced by its fingerprint.

    Idempotent (a fingerprint is left alone); returns ``text`` itself when it holds none of the
    words that may introduce a credential. Raises ``TypeError`` only when ``text`` is not a
    ``str``.
    """
    lowered = text.lower()
    for trigger in _TRIGGERS:
        if trigger in lowered:
            return _PATTERN.sub(_substitute, text)
    return text


# --- structured values (structlog event dicts, logging extras) -------------------------------

#: Keys whose whole (string) value is a credential, and its label.
_SECRET_KEYS: Final = {
    **_PARAM_LABELS,
    "authorization": "at",
    "proxy-authorization": "at",
    "proxy_authorization": "at",
    "dpop": "dpop",
    "cookie": "cred",
    "set-cookie": "cred",
    "x-api-key": "cred",
    "api_key": "cred",
    "private_key": "key",
}
_CODE_KEYS: Final = frozenset({"code", "device_code"})
_MAX_DEPTH: Final = 8
_SCHEME: Final = re.compile(r"([A-Za-z][A-Za-z0-9_-]{0,30})([ \t]+)(\S.*)", re.DOTALL)


def _redact_secret_value(key: str, value: str) -> str:
    if not value or _DONE_RE.fullmatch(value):
        return value
    label = _SECRET_KEYS[key]
    if key in ("authorization", "proxy-authorization", "proxy_authorization"):
        scheme = _SCHEME.fullmatch(value)
        if scheme is not None:
            name, space, credential = scheme.groups()
            if _DONE_RE.fullmatch(credential):
                return value
            kind = "at" if name.lower() in ("bearer", "dpop") else "cred"
            return f"{name}{space}{fingerprint(credential, kind)}"
    return fingerprint(value, label)


def _redact_entry(key: object, value: object, depth: int) -> object:
    """``value`` redacted, knowing it is the member ``key`` of a mapping (or a header pair)."""
    if isinstance(key, str | bytes) and isinstance(value, str | bytes):
        name = _text_of(key).lower()
        text = _text_of(value)
        redacted: str | None = None
        if name in _SECRET_KEYS:
            redacted = _redact_secret_value(name, text)
        elif name in _CODE_KEYS and _looks_random(text) and not _DONE_RE.fullmatch(text):
            redacted = fingerprint(text, "code")
        if redacted is not None:
            return redacted.encode("latin-1", "replace") if isinstance(value, bytes) else redacted
    return _redact(value, depth + 1)


def _text_of(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _redact(value: object, depth: int) -> object:
    if isinstance(value, str):
        return redact_text(value)
    if value is None or isinstance(value, int | float):
        return value
    if depth >= _MAX_DEPTH:
        return "<nested too deep to log>"
    if isinstance(value, bytes | bytearray):
        text = bytes(value).decode("latin-1")
        redacted = redact_text(text)
        return value if redacted == text else redacted.encode("latin-1", "replace")
    if isinstance(value, Mapping):
        return {k: _redact_entry(k, v, depth) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = list(value)
        # (name, value) pairs, as in ASGI scopes and httpx/requests header lists.
        if len(items) == 2 and isinstance(items[0], str | bytes):
            pair = [items[0], _redact_entry(items[0], items[1], depth)]
            return tuple(pair) if isinstance(value, tuple) else pair
        cleaned = [_redact(item, depth + 1) for item in items]
        return tuple(cleaned) if isinstance(value, tuple) else cleaned
    # Anything else is logged through its repr or str: keep it unless that shows a credential.
    text = repr(value)
    redacted = redact_text(text)
    return value if redacted == text else redacted


def redact_value(value: object) -> object:
    """``value`` with credentials redacted: strings through :func:`redact_text`, mappings and
    sequences recursively (a member named like a credential -- ``authorization``,
    ``access_token``, ``client_secret``, ``cookie``... -- is replaced whole), other objects
    replaced by their redacted ``repr`` when that shows a credential. Never raises."""
    try:
        return _redact(value, 0)
    except Exception:
        return _FAILED


_FAILED: Final = "<not logged: redaction failed>"


def structlog_processor(
    logger: object, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the event dict with every value redacted (see :func:`redact_value`).

    Place it just before the renderer (after ``format_exc_info``, so exception text is a string
    by then). Never raises: a value that cannot be redacted is replaced by a fixed text.
    """
    for key in list(event_dict):
        try:
            event_dict[key] = _redact_entry(key, event_dict[key], 0)
        except Exception:
            event_dict[key] = _FAILED
    return event_dict


# --- logging -------------------------------------------------------------------------------

_STANDARD_ATTRS: Final = frozenset(
    vars(logging.LogRecord("n", logging.INFO, "p", 1, "m", None, None))
) | {"message", "asctime", "taskName"}
_PRIMITIVE: Final = (int, float, type(None))
_DEFAULT_FORMATTER: Final = logging.Formatter()


class RedactingFilter(logging.Filter):
    """A :class:`logging.Filter` that redacts each record in place and always passes it on.

    It rewrites ``msg`` and ``args`` (string arguments one by one, keeping their number and
    types, which uvicorn's access formatter relies on; if the formatted message still shows a
    credential, the message is formatted, redacted and its arguments dropped), string-valued
    ``extra`` fields, ``stack_info`` and the exception text (``exc_text``; the exception itself
    is dropped from the record when its text showed a credential). Records are shared by all
    handlers, so one filter anywhere on the path protects them all.

    Never raises: on an internal error the message becomes a fixed text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record``; always True."""
        try:
            _redact_record(record)
        except Exception:
            record.msg = _FAILED
            record.args = ()
            record.exc_info = None
            record.exc_text = None
            record.stack_info = None
        return True


def _redact_arg(arg: object) -> object:
    if isinstance(arg, str):
        return redact_text(arg)
    if isinstance(arg, _PRIMITIVE):
        return arg
    return _redact(arg, 0)


def _formatted(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:
        # The handler would print msg and args with the formatting error: judge those.
        return f"{record.msg!s} {record.args!r}"


def _redact_message(record: logging.LogRecord) -> None:
    message = _formatted(record)
    redacted = redact_text(message)
    if redacted == message:
        return  # the common case: nothing to do
    # Redact the format string and the arguments one by one, which keeps the arguments (uvicorn's
    # access formatter reads them); if that does not give the same text as redacting the whole
    # message (a credential split between them: "token=%s"), keep the redacted text only.
    msg = record.msg
    if isinstance(msg, str):
        record.msg = redact_text(msg)
    args = record.args
    if isinstance(args, tuple):
        record.args = tuple(_redact_arg(arg) for arg in args)
    elif isinstance(args, Mapping):
        record.args = {key: _redact_entry(key, value, 0) for key, value in args.items()}
    if _formatted(record) != redacted:
        record.msg = redacted
        record.args = ()


def _redact_record(record: logging.LogRecord) -> None:
    _redact_message(record)
    if len(record.__dict__) > _BASE_ATTR_COUNT:
        for key in record.__dict__.keys() - _STANDARD_ATTRS:
            record.__dict__[key] = _redact_entry(key, record.__dict__[key], 0)
    if record.exc_info and record.exc_info[0] is not None:
        text = record.exc_text or _DEFAULT_FORMATTER.formatException(record.exc_info)
        redacted = redact_text(text)
        record.exc_text = redacted
        if redacted != text:
            record.exc_info = None  # the exception object still holds the credential
    elif record.exc_text:
        record.exc_text = redact_text(record.exc_text)
    if record.stack_info:
        record.stack_info = redact_text(record.stack_info)
    if isinstance(record.__dict__.get("message"), str):
        record.message = redact_text(record.message)


_BASE_ATTR_COUNT: Final = len(vars(logging.LogRecord("n", logging.INFO, "p", 1, "m", (), None)))

#: Loggers that get the filter on the logger itself (their records are redacted before any
#: handler sees them, whether they propagate or have handlers of their own).
_UVICORN_LOGGERS: Final = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


def _ensure(filterer: logging.Filterer, redacting: RedactingFilter) -> None:
    if not any(isinstance(existing, RedactingFilter) for existing in filterer.filters):
        filterer.addFilter(redacting)


def install() -> RedactingFilter:
    """Redact every record that reaches the root logger's handlers or comes from uvicorn.

    Adds one :class:`RedactingFilter` to each handler of the root logger, and to uvicorn's
    loggers and their handlers. Idempotent: a second call adds nothing. Call it after the
    handlers are set up (``logging.basicConfig``, ``dictConfig``): a handler created later
    has no filter (uvicorn's own loggers keep theirs, their logger-level filter survives
    uvicorn replacing their handlers). Returns the filter in use.
    """
    redacting = _existing() or RedactingFilter()
    for handler in logging.getLogger().handlers:
        _ensure(handler, redacting)
    for name in _UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        _ensure(logger, redacting)
        for handler in logger.handlers:
            _ensure(handler, redacting)
    return redacting


def _existing() -> RedactingFilter | None:
    for filterer in (*logging.getLogger().handlers, logging.getLogger("uvicorn.access")):
        for existing in filterer.filters:
            if isinstance(existing, RedactingFilter):
                return existing
    return None
