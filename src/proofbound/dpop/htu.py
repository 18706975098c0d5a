"""Target-URI comparison for DPoP ``htu`` (RFC 9449 §4.2, §4.3 step 9).

Both the proof's ``htu`` and the request URI are reduced to a normal form and compared exactly:

* query and fragment are dropped (§4.3 step 9);
* syntax-based normalisation (RFC 3986 §6.2.2): scheme and host lower-cased, percent-encoding hex
  upper-cased, percent-encoded unreserved characters decoded, dot-segments removed;
* scheme-based normalisation (RFC 3986 §6.2.3): default port (80/443) and an empty port removed,
  an empty path becomes ``/``.

Nothing else is equated: ``/x/`` is not ``/x``, ``/X`` is not ``/x``, ``%2F`` is not ``/``. Only
absolute ``http``/``https`` URIs of ASCII characters without userinfo are accepted; IPv6 literals
keep their brackets. Anything else raises ``ValueError``.
"""

from __future__ import annotations

import functools
import re
import string
from typing import Final

__all__ = ["htu_matches", "normalize_htu"]

MAX_URI_LENGTH: Final = 4096
_DEFAULT_PORTS: Final = {"http": "80", "https": "443"}
_UNRESERVED: Final = frozenset(string.ascii_letters + string.digits + "-._~")
_SCHEME: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
# RFC 3986 §3.3 pchar plus "/" (after percent-escapes were handled).
_PATH_CHARS: Final = frozenset(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/%")
_REG_NAME: Final = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=%]+")
_IPV6: Final = re.compile(r"\[[0-9A-Fa-f:.]+\]")
_PCT: Final = re.compile(r"%(..)")
_HEX: Final = frozenset(string.hexdigits)


def _normalize_pct(text: str) -> str:
    def fix(match: re.Match[str]) -> str:
        pair = match.group(1)
        if pair[0] not in _HEX or pair[1] not in _HEX:
            raise ValueError("invalid percent-encoding")
        char = chr(int(pair, 16))
        return char if char in _UNRESERVED else "%" + pair.upper()

    if text.count("%") != len(_PCT.findall(text)):
        raise ValueError("invalid percent-encoding")
    return _PCT.sub(fix, text)


def _remove_dot_segments(path: str) -> str:
    # RFC 3986 §5.2.4, written over a list of segments.
    output: list[str] = []
    segments = path.split("/")
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == ".":
            if last:
                output.append("")
        elif segment == "..":
            if len(output) > 1:
                output.pop()
            if last:
                output.append("")
        else:
            output.append(segment)
    result = "/".join(output)
    return result if result.startswith("/") else "/" + result


def _split_authority(authority: str, scheme: str) -> str:
    if "@" in authority:
        raise ValueError("userinfo is not allowed")
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0 or _IPV6.fullmatch(authority[: end + 1]) is None:
            raise ValueError("invalid IPv6 literal")
        host, rest = authority[: end + 1].lower(), authority[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ValueError("invalid authority")
        port = rest[1:] if rest else ""
    else:
        host, _, port = authority.partition(":")
        if _REG_NAME.fullmatch(host) is None:
            raise ValueError("invalid host")
        # Decode unreserved escapes, lower-case, then upper-case the hex of what stays encoded.
        host = _normalize_pct(_normalize_pct(host).lower())
    if port:
        if not port.isdigit() or not port.isascii() or int(port) > 65535:
            raise ValueError("invalid port")
        port = str(int(port))
        if port == _DEFAULT_PORTS[scheme]:
            port = ""
    return f"{host}:{port}" if port else host


@functools.lru_cache(maxsize=4096)
def normalize_htu(uri: str) -> str:
    """Return the normal form of an absolute http(s) URI without query and fragment.

    Raises:
        ValueError: not an absolute http/https URI, non-ASCII or control characters, userinfo,
            an invalid host, port or percent-encoding.

    Example:
        >>> normalize_htu("HTTPS://RS.Example:443/a/./b/%7euser?q=1#f")
        'https://rs.example/a/b/~user'
    """
    if len(uri) > MAX_URI_LENGTH or not uri.isascii() or not uri.isprintable() or " " in uri:
        raise ValueError("not a printable ASCII URI")
    uri = uri.split("#", 1)[0].split("?", 1)[0]
    match = _SCHEME.match(uri)
    if match is None:
        raise ValueError("not an absolute URI")
    scheme = match.group(1).lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError("scheme is not http or https")
    rest = uri[match.end() :]
    slash = rest.find("/")
    authority, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
    host = _split_authority(authority, scheme)
    if not set(path) <= _PATH_CHARS:
        raise ValueError("invalid character in path")
    path = _remove_dot_segments(_normalize_pct(path)) if path else "/"
    return f"{scheme}://{host}{path}"


@functools.lru_cache(maxsize=4096)
def htu_matches(htu: str, request_uri: str) -> bool:
    """True if the proof's ``htu`` and the request URI have the same normal form.

    A value that cannot be normalised never matches. (Cached: a client repeats its ``htu`` for
    every request to the same resource.)
    """
    try:
        return normalize_htu(htu) == normalize_htu(request_uri)
    except ValueError:
        return False
