"""Strict JSON for untrusted input (RFC 8259 §4, RFC 7515 §5.2 step 4)."""

from __future__ import annotations

import json

import pytest

from proofbound._internal.strict_json import DEFAULT_MAX_DEPTH, StrictJSONError, loads_object


def _nested(depth: int) -> bytes:
    """A JSON object nested ``depth`` levels deep (the outer object counts as one)."""
    return ('{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)).encode()


def test_rfc8259_s4_object_is_parsed() -> None:
    data = b'{"a":1,"b":[true,false,null],"c":{"d":"\\u00e9"},"e":-1.5e3}'
    assert loads_object(data, max_bytes=1024) == {
        "a": 1,
        "b": [True, False, None],
        "c": {"d": "é"},
        "e": -1500.0,
    }


def test_rfc8259_s8_1_utf8_is_accepted() -> None:
    assert loads_object('{"k":"é€𝄞"}'.encode(), max_bytes=64) == {"k": "é€𝄞"}


def test_size_limit_exact() -> None:
    data = b'{"a":"xxxx"}'
    assert loads_object(data, max_bytes=len(data)) == {"a": "xxxx"}
    with pytest.raises(StrictJSONError, match="too large"):
        loads_object(data, max_bytes=len(data) - 1)


def test_depth_limit_exact() -> None:
    assert DEFAULT_MAX_DEPTH == 16
    loads_object(_nested(16), max_bytes=4096)
    with pytest.raises(StrictJSONError, match="deeply"):
        loads_object(_nested(17), max_bytes=4096)
    loads_object(_nested(3), max_bytes=4096, max_depth=3)
    with pytest.raises(StrictJSONError):
        loads_object(_nested(4), max_bytes=4096, max_depth=3)


def test_depth_counts_arrays() -> None:
    data = ('{"a":' + "[" * 15 + "]" * 15 + "}").encode()
    loads_object(data, max_bytes=4096)
    with pytest.raises(StrictJSONError):
        loads_object(('{"a":' + "[" * 16 + "]" * 16 + "}").encode(), max_bytes=4096)


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"a": "{[" * 40, "b": '\\"{{{{{{{{{{{{{{{{{{{{'})
    assert loads_object(text.encode(), max_bytes=4096)["a"] == "{[" * 40


@pytest.mark.parametrize(
    "data",
    [
        b'{"a":1,"a":1}',
        b'{"a":{"b":1,"b":2}}',
        b'{"a":NaN}',
        b'{"a":Infinity}',
        b'{"a":-Infinity}',
        b'{"a":1e400}',
        b'{"a":-1e400}',
        b"\xef\xbb\xbf{}",  # UTF-8 BOM
        '{"a":1}'.encode("utf-16"),
        '{"a":1}'.encode("utf-32"),
        b'{"a":"\xff"}',
        b'{"a":"\xc3"}',
        b"[]",
        b'"x"',
        b"1",
        b"null",
        b"",
        b"{",
        b'{"a":1} {}',
        b"{'a':1}",
        b'{"a":01}',
        b'{"a":"\x01"}',
        b'{"a":1,}',
    ],
)
def test_rfc8259_invalid_or_ambiguous_input_is_refused(data: bytes) -> None:
    with pytest.raises(StrictJSONError):
        loads_object(data, max_bytes=1024)


def test_strict_json_error_is_a_value_error() -> None:
    assert issubclass(StrictJSONError, ValueError)


def test_huge_integer_is_refused_not_raised_raw() -> None:
    data = b'{"a":' + b"9" * 5000 + b"}"
    with pytest.raises(StrictJSONError):
        loads_object(data, max_bytes=10_000)
