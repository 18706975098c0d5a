"""Find leaked tokens in files: logs, HAR and JSON dumps, plain text, gzip.

The scanner streams each input in large chunks through one compiled pattern and looks closer only
at what it matched, so it reads logs at hundreds of MB/s. It finds

* JWTs (JWS: three base64url segments whose first decodes to a JSON header with ``alg``; JWE:
  five, with ``enc``) wherever they are;
* other (opaque) tokens after the ``Bearer`` and ``DPoP`` schemes, and as the value of
  ``access_token``, ``refresh_token``, ``id_token``, ``token`` (and ``X-Access-Token``-style)
  parameters, members and headers -- random-looking values of 16 characters or more.

Each token is classified -- for a JWT from its **unverified** header and claims: this is a scan,
not a verification; a forged token is reported like a real one, and whether a token is still
accepted is for its issuer to say (``proofbound scan --revoke`` asks it to revoke the live ones):

* format: ``jws`` (a JWT whose claims could be read), ``jwe`` (encrypted) or ``opaque``;
* kind: ``access_token`` (``typ`` ``at+jwt``, access-token claims such as ``client_id``,
  ``scope``, ``cnf``, or presented as one: a scheme, an ``access_token`` parameter),
  ``dpop_proof``, ``id_token``, ``refresh_token``, ``client_assertion``, else ``jwt``;
* binding, from ``cnf``: ``dpop`` (``jkt``, RFC 9449 §6), ``mtls`` (``x5t#S256``, RFC 8705
  §3.1), ``other`` (another confirmation method), else ``bearer``; for an opaque token the
  scheme it was sent with, if any, else ``unknown``;
* status, from ``exp`` against the ``now`` given: ``live`` or ``expired`` (a JWT without
  ``exp`` is live; a DPoP proof is live for 5 minutes after its ``iat``); ``unknown`` for opaque
  tokens and JWEs, which therefore never count as live bearer tokens;
* the issuer (``iss``) and the client (``client_id``, else ``azp`` or ``cid``).

A finding names its token by a fingerprint (:func:`proofbound.redact.fingerprint`: a label and 8
hex digits of its SHA-256) and lists where it occurs (``path``, 1-based line); nothing in a report
contains the token. :meth:`TokenFinding.reveal` gives it back, for revocation only.
"""

from __future__ import annotations

import binascii
import gzip
import hashlib
import json
import math
import os
import re
import stat
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import IO, Any, Final, Literal, Protocol

from proofbound.redact import FINGERPRINT_HEX, redact_text

__all__ = [
    "Location",
    "Revocation",
    "ScanError",
    "ScanReport",
    "Scanner",
    "TokenFinding",
    "TokenInfo",
    "classify_token",
    "iter_files",
    "revoke_findings",
    "revoke_live_bearer",
    "scan_paths",
]

TokenFormat = Literal["jwe", "jws", "opaque"]
TokenKind = Literal[
    "access_token",
    "client_assertion",
    "dpop_proof",
    "id_token",
    "jwt",
    "refresh_token",
]
TokenBinding = Literal["bearer", "dpop", "mtls", "other", "unknown"]
TokenStatus = Literal["expired", "live", "unknown"]
RevocationOutcome = Literal[
    "already_inactive", "failed", "not_attempted", "refused", "revoked", "unknown_to_issuer"
]

#: Bytes read at a time; a chunk is scanned up to its last newline.
CHUNK_SIZE: Final = 8 << 20
#: Longest candidate kept whole when a line is longer than a chunk.
_OVERLAP: Final = 64 << 10
#: Bytes kept before a cut inside a line, for look-behinds and parameter names.
_CONTEXT: Final = 64
#: Segments longer than this are not decoded (no real JWT header or payload is that large).
_MAX_SEGMENT: Final = 64 << 10
#: A DPoP proof counts as live this long after its ``iat`` (servers accept a few minutes).
PROOF_LIFETIME: Final = 300
_MAX_CLAIM_TEXT: Final = 200

_B64U: Final = rb"A-Za-z0-9_-"
_TOKEN68: Final = rb"A-Za-z0-9._~+/-"
_SEP: Final = (
    rb"""(?:\\?["']?[ \t]*(?:[=:]|%3[Dd])[ \t]*b?\\?["']?"""
    rb"""|\\?["']\s*,\s*\\?["']value\\?["']\s*:\s*\\?["'])"""
)
_PARTS: Final = {
    b"b64": _B64U,
    b"sep": _SEP,
    b"credential": rb"([" + _TOKEN68 + rb"]{16,}+=*+)",
}
# Every top-level alternative starts with a literal byte: the engine then skips, in C, every
# position whose byte starts none of them. The JWT alternative is keyed on the rarer "J" of
# "eyJ" (the token starts 2 bytes before the match), and the parameter one on the "k" of "token".
_ALTERNATIVES: Final = (
    # 1: a JWS or JWE, not preceded by a base64url byte (or preceded by a literal \n, \r, \t)
    rb"J(?<=eyJ)(?:(?<![%(b64)s]eyJ)|(?<=\\[nrt]eyJ))"
    rb"([%(b64)s]{5,}+\.[%(b64)s]++\.[%(b64)s]*+(?:\.[%(b64)s]*+\.[%(b64)s]*+)?)",
    # 2-5: a credential after a scheme
    rb"B(?<![%(b64)s]B)(?:earer|EARER)[ \t]+%(credential)s",
    rb"b(?<![%(b64)s]b)earer[ \t]+%(credential)s",
    rb"D(?<![%(b64)s]D)(?:PoP|POP|pop)[ \t]+%(credential)s",
    rb"d(?<![%(b64)s]d)pop[ \t]+%(credential)s",
    # 6-7: the value of a parameter, member or header whose name ends in "token"
    rb"k(?<=[tT][oO]k)[eE][nN]%(sep)s%(credential)s",
    rb"K(?<=[tT][oO]K)[eE][nN]%(sep)s%(credential)s",
)
_CANDIDATES: Final = re.compile(b"|".join(part % _PARTS for part in _ALTERNATIVES))
_JWT_GROUP: Final = 1
_SCHEME_GROUPS: Final = {2: "bearer", 3: "bearer", 4: "dpop", 5: "dpop"}
_JWS: Final = re.compile(rb"eyJ[" + _B64U + rb"]+\.[" + _B64U + rb"]+\.[" + _B64U + rb"]*")
_JWE: Final = re.compile(rb"eyJ[" + _B64U + rb"]+(?:\.[" + _B64U + rb"]*){4}")
_NAME_TAIL: Final = re.compile(rb"[A-Za-z0-9_-]{0,40}\Z")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e]")

#: Parameter names (lower case, ``-`` as ``_``, without ``x_``) whose value is a token.
_TOKEN_PARAMS: Final = {
    "access_token": "access_token",
    "token": "access_token",
    "auth_token": "access_token",
    "bearer_token": "access_token",
    "subject_token": "access_token",
    "actor_token": "access_token",
    "refresh_token": "refresh_token",
    "id_token": "id_token",
}
_LABELS: Final[dict[str, str]] = {
    "access_token": "at",
    "client_assertion": "ca",
    "dpop_proof": "dpop",
    "id_token": "idt",
    "jwt": "jwt",
    "refresh_token": "rt",
}
_ACCESS_CLAIMS: Final = ("client_id", "scope", "scp", "cid", "cnf", "roles", "permissions")


@dataclass(frozen=True, slots=True)
class Location:
    """Where a token occurs: the file as named in the scan, and the 1-based line."""

    path: str
    line: int


@dataclass(frozen=True, slots=True)
class ScanError:
    """An input that could not be read (whole or in part); the message names no content."""

    path: str
    message: str


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What a token says about itself (unverified), as :func:`classify_token` reads it.

    ``format``: ``jws`` (a JWT whose claims were read), ``jwe`` (encrypted: only the context
    tells its kind) or ``opaque``; ``kind``: see :mod:`proofbound.leaks.scan` (``jwt`` when
    nothing tells).
    """

    format: TokenFormat
    kind: TokenKind
    binding: TokenBinding
    status: TokenStatus
    expires_at: int | None
    issuer: str | None
    client_id: str | None


class _Held:
    """The token itself, which no text form of a finding shows."""

    __slots__ = ("value",)

    def __init__(self, value: bytes) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<token>"

    __str__ = __repr__


@dataclass(slots=True)
class TokenFinding:
    """One distinct token found, with every place it occurs (the first ``max_locations``)."""

    fingerprint: str
    format: TokenFormat
    kind: TokenKind
    binding: TokenBinding
    status: TokenStatus
    expires_at: int | None
    issuer: str | None
    client_id: str | None
    locations: list[Location] = field(default_factory=list)
    occurrences: int = 0
    _token: _Held | None = field(default=None, repr=False, compare=False)

    @property
    def is_jwt(self) -> bool:
        """A JWS whose claims could be read (so binding and status are known)."""
        return self.format == "jws"

    @property
    def is_live_bearer(self) -> bool:
        """Live, not sender-constrained, and usable as a credential (not a DPoP proof)."""
        return (
            self.is_jwt
            and self.status == "live"
            and self.binding == "bearer"
            and self.kind != "dpop_proof"
        )

    @property
    def is_live_bound(self) -> bool:
        """Live and bound to a key or certificate (lower risk: useless without it)."""
        return (
            self.is_jwt
            and self.status == "live"
            and self.binding in ("dpop", "mtls", "other")
            and self.kind != "dpop_proof"
        )

    def reveal(self) -> str:
        """The token itself, to revoke it; kept only for live JWTs.

        Raises:
            LookupError: the token was not kept.
        """
        if self._token is None:
            raise LookupError("this token was not kept")
        return self._token.value.decode("ascii")


@dataclass(slots=True)
class ScanReport:
    """The result of a scan: every distinct token, in order of first occurrence."""

    now: int
    files: int = 0
    bytes: int = 0
    tokens: list[TokenFinding] = field(default_factory=list)
    errors: list[ScanError] = field(default_factory=list)

    @property
    def live_bearer(self) -> list[TokenFinding]:
        """The findings that are live bearer tokens."""
        return [token for token in self.tokens if token.is_live_bearer]

    @property
    def live_bound(self) -> list[TokenFinding]:
        """The findings that are live sender-constrained tokens."""
        return [token for token in self.tokens if token.is_live_bound]


# --- classification -----------------------------------------------------------------------------


def _decode_json(segment: bytes) -> object:
    if len(segment) > _MAX_SEGMENT:
        return None
    try:
        raw = binascii.a2b_base64(
            segment.translate(_URLSAFE) + b"=" * (-len(segment) % 4), strict_mode=False
        )
        return json.loads(raw)
    except (ValueError, RecursionError):  # binascii.Error and UnicodeDecodeError included
        return None


_URLSAFE: Final = bytes.maketrans(b"-_", b"+/")


def _text_claim(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    # The claims are attacker-controlled: no terminal control characters, no credentials.
    cleaned = _CONTROL.sub("\ufffd", value[:_MAX_CLAIM_TEXT])
    return redact_text(cleaned)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _jwt_kind(header: dict[str, Any], claims: dict[str, Any], context: str | None) -> TokenKind:
    typ = header.get("typ")
    typ = typ.lower().removeprefix("application/") if isinstance(typ, str) else ""
    if typ == "dpop+jwt":
        return "dpop_proof"
    if typ == "at+jwt":
        return "access_token"
    claim_typ = claims.get("typ")
    if context == "refresh_token" or claim_typ in ("Refresh", "Offline"):
        return "refresh_token"
    if (
        context == "id_token"
        or claims.get("token_use") == "id"
        or claim_typ == "ID"
        or "nonce" in claims
        or "at_hash" in claims
    ):
        return "id_token"
    if "htm" in claims and "htu" in claims:
        return "dpop_proof"
    if (
        any(name in claims for name in _ACCESS_CLAIMS)
        or claims.get("token_use") == "access"
        or claim_typ == "Bearer"
    ):
        return "access_token"
    iss = claims.get("iss")
    if isinstance(iss, str) and iss == claims.get("sub") and "aud" in claims and "jti" in claims:
        return "client_assertion"
    if context is not None:
        return "access_token"  # sent as a token (Bearer/DPoP scheme, access_token=...)
    return "jwt"


def _binding(claims: dict[str, Any]) -> TokenBinding:
    cnf = claims.get("cnf")
    if cnf is None:
        return "bearer"
    if isinstance(cnf, dict):
        if isinstance(cnf.get("jkt"), str):
            return "dpop"
        if isinstance(cnf.get("x5t#S256"), str):
            return "mtls"
    return "other"


def classify_token(token: str | bytes, *, now: int, context: str | None = None) -> TokenInfo | None:
    """Read what ``token`` says about itself, **without verifying** anything.

    ``context`` is how it was presented, if known: ``"access_token"``, ``"refresh_token"``,
    ``"id_token"`` (a parameter name) or ``"bearer"``/``"dpop"`` (a scheme). Returns ``None``
    for a string that is not a JWT and was not presented as a token (``eyJ...`` segments that are
    not JSON, dotted strings), or that does not look random (at least two of lower case, upper
    case, digits).
    """
    data = token.encode("ascii", "replace") if isinstance(token, str) else token
    if _JWS.fullmatch(data) is not None:
        header_part, payload_part, _signature = data.split(b".")
        header = _decode_json(header_part)
        if isinstance(header, dict) and isinstance(header.get("alg"), str):
            claims = _decode_json(payload_part)
            if isinstance(claims, dict):
                return _jwt_info(header, claims, now, context)
    elif _JWE.fullmatch(data) is not None:
        header = _decode_json(data.split(b".", 1)[0])
        if isinstance(header, dict) and isinstance(header.get("enc"), str):
            return TokenInfo("jwe", _context_kind(context), "unknown", "unknown", None, None, None)
    if context is None or not _looks_random(data):
        return None
    # Presented with a scheme, its binding is the scheme's (a server may still refuse it).
    binding: TokenBinding = "unknown"
    if context == "bearer":
        binding = "bearer"
    elif context == "dpop":
        binding = "dpop"
    return TokenInfo("opaque", _context_kind(context), binding, "unknown", None, None, None)


def _context_kind(context: str | None) -> TokenKind:
    if context == "refresh_token":
        return "refresh_token"
    if context == "id_token":
        return "id_token"
    return "jwt" if context is None else "access_token"


def _looks_random(data: bytes) -> bool:
    """At least two of lower case, upper case, digits: a credential, not a word."""
    has_lower = data.upper() != data
    has_upper = data.lower() != data
    has_digit = any(48 <= byte <= 57 for byte in data)
    return has_lower + has_upper + has_digit >= 2


def _jwt_info(
    header: dict[str, Any], claims: dict[str, Any], now: int, context: str | None
) -> TokenInfo:
    kind = _jwt_kind(header, claims, context)
    exp = _number(claims.get("exp"))
    expires_at = int(exp) if exp is not None else None
    if kind == "dpop_proof":
        binding: TokenBinding = "dpop"
        iat = _number(claims.get("iat"))
        if expires_at is None and iat is not None:
            expires_at = int(iat) + PROOF_LIFETIME
    else:
        binding = _binding(claims)
    status: TokenStatus = "live" if expires_at is None or expires_at > now else "expired"
    client_id = next(
        (claims[name] for name in ("client_id", "azp", "cid") if isinstance(claims.get(name), str)),
        claims.get("iss") if kind == "client_assertion" else None,
    )
    return TokenInfo(
        "jws",
        kind,
        binding,
        status,
        expires_at,
        _text_claim(claims.get("iss")),
        _text_claim(client_id),
    )


# --- scanning -----------------------------------------------------------------------------------


def _is_gzip(head: bytes) -> bool:
    return head[:2] == b"\x1f\x8b"


class Scanner:
    """Accumulates findings over any number of inputs; :meth:`report` returns them.

    ``now`` decides live or expired (explicit, so tests and ``--now`` can fix it);
    ``on_progress`` is called with the number of input bytes read so far (compressed bytes for
    gzip), after every chunk.
    """

    def __init__(
        self,
        *,
        now: int,
        max_locations: int = 100,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        self._report = ScanReport(now=now)
        self._now = now
        self._max_locations = max_locations
        self._on_progress = on_progress
        self._by_digest: dict[bytes, TokenFinding] = {}
        self._not_tokens: set[bytes] = set()  # digests of candidates that are not tokens
        self._read = 0

    def report(self) -> ScanReport:
        """The findings so far."""
        return self._report

    # -- inputs

    def scan_path(self, path: str | os.PathLike[str], *, name: str | None = None) -> None:
        """Scan one file (plain or gzip, detected by its first bytes); ``-`` is stdin.

        A file that cannot be read is recorded in :attr:`ScanReport.errors`, not raised.
        """
        shown = name if name is not None else os.fspath(path)
        if os.fspath(path) == "-":
            self.scan_stream(sys.stdin.buffer, "-" if name is None else name)
            return
        try:
            with open(path, "rb") as raw:
                self.scan_stream(raw, shown)
        except OSError as exc:
            self._error(shown, exc.strerror or type(exc).__name__)

    def scan_stream(self, stream: IO[bytes], name: str) -> None:
        """Scan a binary stream (decompressing it if it is gzip); ``name`` is its path in the
        report."""
        self._report.files += 1
        start = self._read
        head = b""
        try:
            head = _peek(stream)
            if _is_gzip(head):
                raw = _Prefixed(head, stream)
                with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                    self._scan_chunks(_Salvaging(unzipped), name, lambda: raw.consumed)
            else:
                raw = _Prefixed(head, stream)
                self._scan_chunks(raw, name, lambda: raw.consumed)
        except (OSError, EOFError, zlib.error) as exc:
            message = "not a valid gzip file" if _is_gzip(head) else type(exc).__name__
            if isinstance(exc, OSError) and exc.strerror:
                message = exc.strerror
            self._error(name, message)
        self._report.bytes += self._read - start

    def scan_bytes(self, data: bytes, name: str) -> None:
        """Scan ``data`` (already in memory; not decompressed)."""
        self._report.files += 1
        self._scan_buffer(data, 0, len(data), name, 1)
        self._read += len(data)
        self._report.bytes += len(data)
        if self._on_progress is not None:
            self._on_progress(self._read)

    # -- the loop

    def _scan_chunks(self, stream: _Readable, name: str, consumed: Callable[[], int]) -> None:
        # buf[start:] is new; buf[:start] is context kept for look-behinds and names.
        carry = b""
        start = 0
        line = 1
        base = self._read
        while True:
            data = stream.read(CHUNK_SIZE)
            buf = carry + data if carry else data
            if not data:
                self._scan_buffer(buf, start, len(buf), name, line)
                break
            cut = buf.rfind(b"\n") + 1
            if cut > start:
                line = self._scan_buffer(buf, start, cut, name, line)
                carry, start = buf[cut:], 0
            else:
                # One line longer than a chunk: scan the candidates that start before the last
                # _OVERLAP bytes (which may hold a token cut in two), keep the rest.
                limit = max(start, len(buf) - _OVERLAP)
                resume = self._scan_prefix(buf, start, limit, name, line)
                keep = max(0, resume - _CONTEXT)
                carry, start = buf[keep:], resume - keep
            self._read = base + consumed()
            if self._on_progress is not None:
                self._on_progress(self._read)
        self._read = base + consumed()

    def _scan_buffer(self, buf: bytes, start: int, end: int, name: str, line: int) -> int:
        """Scan ``buf[start:end]`` whose first line is ``line``; return the line after it."""
        last = start
        for match in _CANDIDATES.finditer(buf, start, end):
            position = match.start()
            line += buf.count(b"\n", last, position)
            last = position
            self._candidate(match, name, line)
        return line + buf.count(b"\n", last, end)

    def _scan_prefix(self, buf: bytes, start: int, limit: int, name: str, line: int) -> int:
        """Scan the candidates of ``buf[start:]`` (no newline in it) that start before
        ``limit``; return where the next buffer's new part starts (after the last of them)."""
        resume = limit
        for match in _CANDIDATES.finditer(buf, start):
            if match.start() >= limit:
                break
            self._candidate(match, name, line)
            resume = max(resume, match.end())
        return resume

    def _candidate(self, match: re.Match[bytes], name: str, line: int) -> None:
        group = match.lastindex or 0
        token = match[group]
        if group == _JWT_GROUP:
            # The match starts at the "J" of "eyJ" (a rarer byte to search for).
            token = match.string[match.start() - 2 : match.end()]
            context = None
        elif group in _SCHEME_GROUPS:
            context = _SCHEME_GROUPS[group]
        else:
            context = _param_context(match)
            if context is None:
                return
        digest = hashlib.sha256(token).digest()
        finding = self._by_digest.get(digest)
        if finding is None:
            if digest in self._not_tokens:
                return
            info = classify_token(token, now=self._now, context=context)
            if info is None:
                self._not_tokens.add(digest)
                return
            finding = TokenFinding(
                fingerprint=f"{_LABELS[info.kind]}#{digest.hex()[:FINGERPRINT_HEX]}",
                format=info.format,
                kind=info.kind,
                binding=info.binding,
                status=info.status,
                expires_at=info.expires_at,
                issuer=info.issuer,
                client_id=info.client_id,
                _token=_Held(token) if info.format == "jws" and info.status == "live" else None,
            )
            self._by_digest[digest] = finding
            self._report.tokens.append(finding)
        finding.occurrences += 1
        if len(finding.locations) < self._max_locations:
            finding.locations.append(Location(name, line))

    def _error(self, name: str, message: str) -> None:
        self._report.errors.append(ScanError(name, message))


def _param_context(match: re.Match[bytes]) -> str | None:
    """The token kind a ``...token=`` parameter name implies, or None if it is not one."""
    begin = match.start() - 2  # the match starts at the "k" of "token"
    prefix = _NAME_TAIL.search(match.string, max(0, begin - 40), begin)
    name = (prefix[0] if prefix else b"") + b"token"
    key = name.decode("ascii").lower().replace("-", "_").removeprefix("x_")
    return _TOKEN_PARAMS.get(key)


class _Salvaging:
    """Reads a gzip stream in pieces, so a corrupt or truncated one still gives everything
    before the damage; the error comes with the next read."""

    _PIECE: Final = 1 << 20

    def __init__(self, stream: gzip.GzipFile) -> None:
        self._stream = stream
        self._error: BaseException | None = None

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes; raises the stream's error once nothing is left before it."""
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        pieces: list[bytes] = []
        wanted = size if size >= 0 else 1 << 62
        got = 0
        while got < wanted:
            try:
                piece = self._stream.read1(min(self._PIECE, wanted - got))
            except (OSError, EOFError, zlib.error) as exc:
                if not pieces:
                    raise
                self._error = exc
                break
            if not piece:
                break
            pieces.append(piece)
            got += len(piece)
        return b"".join(pieces)


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def _peek(stream: IO[bytes]) -> bytes:
    return stream.read(2)


class _Prefixed:
    """A stream with bytes already read from it put back in front; counts what it gave out."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self._head = head
        self._stream = stream
        self.consumed = 0

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all with a negative ``size``)."""
        if not self._head:
            data = self._stream.read(size)
        elif 0 <= size < len(self._head):
            data, self._head = self._head[:size], self._head[size:]
        else:
            data, self._head = self._head, b""
            data += self._stream.read(size - len(data) if size >= 0 else -1)
        self.consumed += len(data)
        return data

    def readable(self) -> bool:
        """Always: it is an input."""
        return True

    def seek(self, offset: int, whence: int = 0, /) -> int:
        """Not seekable (gzip reads it front to back)."""
        raise OSError("not seekable")


def iter_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[str]:
    """The files to scan: each path that is not a directory as given (``-`` is stdin), and the
    regular files under each directory, recursively, in sorted order. Symbolic links to
    directories are not followed; links to regular files are. Missing paths are yielded too (the
    scan records the error)."""
    for path in paths:
        text = os.fspath(path)
        if text != "-" and os.path.isdir(text):
            yield from _walk(text)
        else:
            yield text


def _walk(top: str) -> Iterator[str]:
    for directory, dirnames, filenames in os.walk(top):
        dirnames.sort()
        for filename in sorted(filenames):
            full = os.path.join(directory, filename)
            try:
                mode = os.stat(full).st_mode
            except OSError:
                yield full  # reported when read
                continue
            if stat.S_ISREG(mode):
                yield full


def scan_paths(
    paths: Iterable[str | os.PathLike[str]],
    *,
    now: int,
    max_locations: int = 100,
    on_progress: Callable[[int], None] | None = None,
) -> ScanReport:
    """Scan files and directories (see :func:`iter_files`) and return the report."""
    scanner = Scanner(now=now, max_locations=max_locations, on_progress=on_progress)
    for path in iter_files(paths):
        scanner.scan_path(path)
    return scanner.report()


# --- revocation ---------------------------------------------------------------------------------

#: Outcomes after which a token no longer counts as live.
INACTIVE_OUTCOMES: Final = frozenset({"revoked", "already_inactive"})
_REVOKE_TIMEOUT: Final = 10.0


@dataclass(frozen=True, slots=True)
class Revocation:
    """What an issuer answered to one revocation request (no response body is kept).

    ``outcome``: ``revoked``; ``already_inactive`` (the issuer knows the token and had nothing
    left to revoke: revoked before, or expired); ``unknown_to_issuer`` (refused as a token it
    did not issue); ``refused`` (another HTTP error: ``status``, OAuth ``error``); ``failed``
    (no answer: ``error`` names the exception type); ``not_attempted`` (an earlier request showed
    that the admin token is refused or the issuer unreachable).
    """

    outcome: RevocationOutcome
    status: int | None = None
    error: str | None = None

    @property
    def inactive(self) -> bool:
        """The token is no longer live at its issuer."""
        return self.outcome in INACTIVE_OUTCOMES


def _same_issuer(a: str | None, b: str) -> bool:
    return a is not None and a.rstrip("/") == b.rstrip("/")


def revoke_findings(
    findings: Iterable[TokenFinding],
    *,
    issuer: str,
    admin_token: str,
    timeout: float = _REVOKE_TIMEOUT,
    client: Any = None,
) -> dict[str, Revocation]:
    """Revoke ``findings`` whose ``iss`` is ``issuer`` through ``POST {issuer}/admin/revoke``
    (``{"token": ...}``, ``Authorization: Bearer <admin_token>``), one request per token.

    Tokens of other issuers, and tokens not kept (see :meth:`TokenFinding.reveal`), are not sent
    and get no entry. Once the admin token is refused (401/403) or the issuer cannot be reached,
    the remaining tokens are ``not_attempted``. Returns the outcome per fingerprint.

    ``client``: an ``httpx.Client`` to send with (default: a new one with ``timeout``).
    """
    import httpx

    candidates = [
        finding
        for finding in findings
        if _same_issuer(finding.issuer, issuer) and finding._token is not None
    ]
    results: dict[str, Revocation] = {}
    if not candidates:
        return results
    endpoint = issuer.rstrip("/") + "/admin/revoke"
    stopped = False
    with httpx.Client(timeout=timeout) if client is None else nullcontext(client) as http:
        for finding in candidates:
            if stopped:
                results[finding.fingerprint] = Revocation("not_attempted")
                continue
            result = _revoke_one(http, endpoint, finding, admin_token)
            results[finding.fingerprint] = result
            stopped = result.outcome == "failed" or result.status in (401, 403)
    return results


def _revoke_one(http: Any, endpoint: str, finding: TokenFinding, admin_token: str) -> Revocation:
    import httpx

    try:
        response = http.post(
            endpoint,
            json={"token": finding.reveal()},
            headers={"Authorization": f"Bearer {admin_token}"},
        )
    except httpx.HTTPError as exc:
        return Revocation("failed", error=type(exc).__name__)
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code == 200 and isinstance(body, dict):
        count = body.get("revoked")
        if isinstance(count, int) and not isinstance(count, bool):
            return Revocation("revoked" if count > 0 else "already_inactive", 200)
    error = body.get("error") if isinstance(body, dict) else None
    # Only a short OAuth error code is kept: a body could echo what it was sent.
    error = error if isinstance(error, str) and error.isascii() and error.isidentifier() else None
    if response.status_code == 400 and error == "invalid_request":
        return Revocation("unknown_to_issuer", 400, error)
    return Revocation("refused", response.status_code, error)


def revoke_live_bearer(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    issuer: str,
    admin_token: str,
    now: int | None = None,
    include_bound: bool = False,
) -> int:
    """Scan ``paths`` and revoke the live bearer tokens of ``issuer`` found there (and the live
    bound ones with ``include_bound``); returns how many the issuer revoked.

    ``now`` defaults to the current time. For the details, scan with :func:`scan_paths` and
    call :func:`revoke_findings`.
    """
    import time

    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    report = scan_paths(paths, now=int(time.time()) if now is None else now)
    wanted = [
        finding
        for finding in report.tokens
        if finding.is_live_bearer or (include_bound and finding.is_live_bound)
    ]
    results = revoke_findings(wanted, issuer=issuer, admin_token=admin_token)
    return sum(result.outcome == "revoked" for result in results.values())
