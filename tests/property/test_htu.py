"""htu normalisation (RFC 9449 §4.3 step 9, RFC 3986 §6.2.2/§6.2.3) over generated URIs."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from proofbound.dpop.htu import htu_matches, normalize_htu

from ._support import UNRESERVED, fragments, origins, paths, queries, uris

SETTINGS = settings(max_examples=200, deadline=None)


@SETTINGS
@given(uri=uris())
def test_rfc3986_s6_2_normalisation_is_idempotent(uri: str) -> None:
    normal = normalize_htu(uri)
    assert normalize_htu(normal) == normal
    assert htu_matches(uri, normal)


@SETTINGS
@given(origin=origins(), path=paths, query=queries, fragment=fragments)
def test_rfc9449_s4_3_step9_query_and_fragment_never_matter(
    origin: str, path: str, query: str, fragment: str
) -> None:
    base = normalize_htu(origin + path)
    assert normalize_htu(f"{origin}{path}?{query}") == base
    assert normalize_htu(f"{origin}{path}#{fragment}") == base
    assert normalize_htu(f"{origin}{path}?{query}#{fragment}") == base


@SETTINGS
@given(uri=uris())
def test_normal_form_shape(uri: str) -> None:
    normal = normalize_htu(uri)
    scheme, _, rest = normal.partition("://")
    assert scheme in ("http", "https")
    assert "?" not in normal
    assert "#" not in normal
    assert "/" in rest
    host = rest.split("/", 1)[0]
    assert host == host.lower()
    assert not host.endswith((":443", ":80", ":"))
    path = "/" + rest.split("/", 1)[1]
    assert "/./" not in path + "/"
    assert "/../" not in path + "/"
    # No percent-encoded unreserved character, and upper-case hex everywhere in the path.
    for index in [i for i, c in enumerate(path) if c == "%"]:
        pair = path[index + 1 : index + 3]
        assert pair == pair.upper()
        assert chr(int(pair, 16)) not in UNRESERVED


@SETTINGS
@given(
    origin=origins(),
    chars=st.lists(st.sampled_from(UNRESERVED), min_size=1, max_size=12),
    mask=st.lists(st.sampled_from(["plain", "upper", "lower"]), min_size=12, max_size=12),
)
def test_rfc3986_s6_2_2_2_encoded_unreserved_equals_plain(
    origin: str, chars: list[str], mask: list[str]
) -> None:
    plain = "/" + "".join(chars)
    encoded = "/" + "".join(
        c if how == "plain" else f"%{ord(c):02{'X' if how == 'upper' else 'x'}}"
        for c, how in zip(chars, mask, strict=False)
    )
    assert htu_matches(origin + encoded, origin + plain)


@SETTINGS
@given(origin=origins(), path=paths, letter=st.sampled_from(string.ascii_lowercase))
def test_path_case_and_trailing_slash_matter(origin: str, path: str, letter: str) -> None:
    lower = f"{origin}{path}/{letter}"
    assert not htu_matches(lower, f"{origin}{path}/{letter.upper()}")
    assert not htu_matches(lower, lower + "/")
