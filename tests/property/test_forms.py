"""The form reader splits and decodes exactly as ``urllib.parse.parse_qsl`` with blank values
kept and strict UTF-8 (its own reader only skips that function's per-field overhead)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from hypothesis import given, settings
from hypothesis import strategies as st

from proofbound.server.forms import _pairs

# Separators, the plus sign, percent escapes (valid, truncated, invalid UTF-8) and plain text.
_PIECES = st.sampled_from(
    ["&", "=", "+", "%", "%2", "%20", "%41", "%C3%A9", "%C3", "%FF", "%ZZ", "%26", "%3D", ";"]
)
_TEXT = st.lists(st.one_of(_PIECES, st.text("abcXYZ019-._~", max_size=3)), max_size=12).map("".join)


def _reference(text: str) -> list[tuple[str, str]] | type[Exception]:
    try:
        return parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict")
    except ValueError as exc:  # UnicodeDecodeError included
        return type(exc)


def _ours(text: str) -> list[tuple[str, str]] | type[Exception]:
    try:
        return _pairs(text)
    except ValueError as exc:
        return type(exc)


@settings(max_examples=3000)
@given(_TEXT)
def test_form_pairs_read_like_parse_qsl(text: str) -> None:
    assert _ours(text) == _reference(text)


def test_form_pairs_examples() -> None:
    assert _pairs("a=1&&b=&c&d=x+y%21&=v") == [
        ("a", "1"),
        ("b", ""),
        ("c", ""),
        ("d", "x y!"),
        ("", "v"),
    ]
