"""Strict JSON for untrusted input (RFC 8259 §4, RFC 7515 §5.2 step 4).

Rejects duplicate member names, ``NaN``/``Infinity``, invalid UTF-8 (and UTF-16/32, which
``json.loads`` would otherwise guess), nesting deeper than a limit, and input over a size limit,
which is checked before any parsing.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

__all__ = ["StrictJSONError", "loads_object"]

DEFAULT_MAX_DEPTH: Final = 16
_STRING: Final = re.compile(r'"(?:[^"\\]|\\.)*"')


class StrictJSONError(ValueError):
    """The input is not strict JSON within the limits."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise StrictJSONError("duplicate member name")
    return obj


def _no_constant(name: str) -> Any:
    raise StrictJSONError("non-finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise StrictJSONError("non-finite number")
    return value


# One decoder, built once: json.loads(**hooks) would build a new one per call (hot path).
_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=_pairs, parse_constant=_no_constant, parse_float=_finite_float
)
_SCAN: Final = _DECODER.scan_once  # type: ignore[attr-defined]  # C scanner, same hooks


def _depth_ok(text: str, max_depth: int) -> bool:
    stripped = _STRING.sub("", text)
    depth = 0
    for ch in stripped:
        if ch in "{[":
            depth += 1
            if depth > max_depth:
                return False
        elif ch in "}]":
            depth -= 1
    return True


def loads_object(
    data: bytes, *, max_bytes: int, max_depth: int = DEFAULT_MAX_DEPTH
) -> dict[str, Any]:
    """Parse ``data`` as one strict JSON object; raise :class:`StrictJSONError` otherwise."""
    if len(data) > max_bytes:
        raise StrictJSONError("too large")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StrictJSONError("not UTF-8") from exc
    # Fewer brackets than the limit cannot nest deeper than it (the common case, checked inline).
    if text.count("{") + text.count("[") > max_depth and not _depth_ok(text, max_depth):
        raise StrictJSONError("nested too deeply")
    try:
        # Compact JSON starts with "{" and ends at the last character: scan it directly; any
        # other text (whitespace around, trailing data) goes through the full decode, which
        # refuses trailing data.
        value, end = _SCAN(text, 0) if text[:1] == "{" else (None, -1)
        if end != len(text):
            value = _DECODER.decode(text)
    except StopIteration as exc:
        raise StrictJSONError("not JSON") from exc
    except StrictJSONError:
        raise
    except (ValueError, RecursionError) as exc:
        raise StrictJSONError("not JSON") from exc
    if not isinstance(value, dict):
        raise StrictJSONError("not a JSON object")
    return value
