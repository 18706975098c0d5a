"""Request parsing shared by the AS endpoints: form bodies (RFC 6749 §3.2, App. B) and JSON
bodies (RFC 7591), strictly.

* The content type must be the one the endpoint takes; the body is bounded before parsing.
* A form parameter may appear once (RFC 6749 §3.2: "MUST NOT be included more than once");
  empty values count as omitted (§3.1).
* Form bytes must decode as UTF-8 after percent-decoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

from proofbound._internal.strict_json import StrictJSONError, loads_object
from proofbound.errors import InvalidRequest, Reason

__all__ = ["Form", "parse_form", "parse_json_object", "single_header"]


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


class Form(dict[str, str]):
    """Single-valued form parameters, plus the values of the few that may repeat."""

    def __init__(self, single: dict[str, str], repeated: dict[str, list[str]]) -> None:
        super().__init__(single)
        self.repeated: dict[str, list[str]] = repeated

    def all(self, name: str) -> list[str]:
        """Every value of a repeatable parameter (RFC 8707 ``resource``)."""
        return list(self.repeated.get(name, []))

    def __repr__(self) -> str:
        # Values hold assertions and secrets: only the parameter names are shown.
        return f"Form(names={sorted({*self, *self.repeated})!r})"

    __str__ = __repr__


def _decoded(part: str) -> str:
    # Appendix B: "+" is a space, then percent-decoding as UTF-8 (strictly).
    if "+" in part:
        part = part.replace("+", " ")
    return unquote(part, errors="strict") if "%" in part else part


def _pairs(text: str) -> list[tuple[str, str]]:
    """(name, value) pairs of a form body, as ``parse_qsl(keep_blank_values=True)`` reads
    them (empty pieces skipped, a name without ``=`` has an empty value), without its
    per-field overhead."""
    pairs: list[tuple[str, str]] = []
    for piece in text.split("&"):
        if piece:
            name, _, value = piece.partition("=")
            pairs.append((_decoded(name), _decoded(value)))
    return pairs


def parse_form(
    body: bytes,
    content_type: str | None,
    *,
    max_bytes: int,
    repeatable: frozenset[str] = frozenset(),
) -> Form:
    """Parse an ``application/x-www-form-urlencoded`` body into single-valued parameters.

    Parameters in ``repeatable`` (RFC 8707 ``resource``) may appear several times and are read
    with :meth:`Form.all`.

    Raises:
        InvalidRequest: wrong content type, too large, not UTF-8, or a repeated parameter.
    """
    if _media_type(content_type) != "application/x-www-form-urlencoded":
        raise InvalidRequest(Reason.REQUEST_MALFORMED, detail="not a form body")
    if len(body) > max_bytes:
        raise InvalidRequest(Reason.REQUEST_TOO_LARGE)
    try:
        pairs = _pairs(body.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest(Reason.REQUEST_MALFORMED, detail="form is not UTF-8") from None
    form: dict[str, str] = {}
    repeated: dict[str, list[str]] = {}
    for name, value in pairs:
        if name in repeatable:
            repeated.setdefault(name, []).append(value)
            continue
        if name in form:
            raise InvalidRequest(Reason.REQUEST_PARAMETER_REPEATED, detail=f"{name[:32]!r}")
        form[name] = value
    return Form({name: value for name, value in form.items() if value != ""}, repeated)


def parse_json_object(body: bytes, content_type: str | None, *, max_bytes: int) -> dict[str, Any]:
    """Parse a strict JSON object body (no duplicate keys, no NaN).

    Raises:
        InvalidRequest: wrong content type, too large, or not one strict JSON object.
    """
    if _media_type(content_type) != "application/json":
        raise InvalidRequest(Reason.REQUEST_MALFORMED, detail="not a JSON body")
    if len(body) > max_bytes:
        raise InvalidRequest(Reason.REQUEST_TOO_LARGE)
    try:
        return loads_object(body, max_bytes=max_bytes)
    except (StrictJSONError, ValueError):
        raise InvalidRequest(Reason.REQUEST_MALFORMED, detail="not a JSON object") from None


def single_header(values: Sequence[str], name: str) -> str | None:
    """The one value of a header that may not repeat, or None when absent.

    Raises:
        InvalidRequest: the header appears more than once.
    """
    if not values:
        return None
    if len(values) > 1:
        raise InvalidRequest(Reason.REQUEST_PARAMETER_REPEATED, detail=f"{name} header repeated")
    return values[0]
