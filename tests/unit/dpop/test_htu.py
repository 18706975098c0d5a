"""htu comparison (RFC 9449 §4.3 step 9) with RFC 3986 §6.2.2/§6.2.3 normalisation
(spec-checklist #25)."""

from __future__ import annotations

import pytest

from proofbound.dpop.htu import MAX_URI_LENGTH, htu_matches, normalize_htu

EQUAL = [
    ("HTTPS://RS.EXAMPLE/x", "https://rs.example/x"),  # scheme and host case
    ("https://Rs.Example/x", "https://rs.example/x"),
    ("https://rs.example:443/x", "https://rs.example/x"),  # default port elided
    ("http://rs.example:80/x", "http://rs.example/x"),
    ("https://rs.example:/x", "https://rs.example/x"),  # empty port
    ("https://rs.example:0443/x", "https://rs.example/x"),
    ("https://rs.example/%7Eu", "https://rs.example/~u"),  # unreserved decoded
    ("https://rs.example/%7eu", "https://rs.example/~u"),  # %7e vs %7E
    ("https://rs.example/%7eu", "https://rs.example/%7Eu"),
    ("https://rs.example/%41%2d%2E%5F", "https://rs.example/A-._"),
    ("https://rs.example/a%2fb", "https://rs.example/a%2Fb"),  # hex case only
    ("https://rs.example/a%c3%a9", "https://rs.example/a%C3%A9"),
    ("https://rs.example/a/./b", "https://rs.example/a/b"),  # dot segments
    ("https://rs.example/a/b/../c", "https://rs.example/a/c"),
    ("https://rs.example/a/b/c/./../../g", "https://rs.example/a/g"),
    ("https://rs.example/../x", "https://rs.example/x"),
    ("https://rs.example/a/%2E%2E/x", "https://rs.example/x"),  # encoded dots are dots
    ("https://rs.example", "https://rs.example/"),  # empty path
    ("https://rs.example/x?a=1", "https://rs.example/x"),  # query ignored
    ("https://rs.example/x#frag", "https://rs.example/x"),  # fragment ignored
    ("https://rs.example/x?a=1#f", "https://rs.example/x?b=2"),
    ("https://rs.example?a=1", "https://rs.example/"),
    ("https://rs.example#f", "https://rs.example/"),
    ("https://[::1]/x", "https://[::1]:443/x"),  # IPv6 with and without default port
    ("https://[::1]:8443/x", "https://[::1]:8443/x"),
    ("https://[FE80::1]/x", "https://[fe80::1]/x"),
    ("https://127.0.0.1:443/x", "https://127.0.0.1/x"),
]

DIFFERENT = [
    ("https://rs.example/x/", "https://rs.example/x"),  # trailing slash
    ("https://rs.example/X", "https://rs.example/x"),  # path case
    ("https://rs.example/a%2Fb", "https://rs.example/a/b"),  # %2F is not /
    ("http://rs.example/x", "https://rs.example/x"),  # scheme
    ("https://rs.example:8443/x", "https://rs.example/x"),  # port
    ("https://rs.example:80/x", "https://rs.example/x"),  # http's default on https
    ("http://rs.example:443/x", "http://rs.example/x"),
    ("https://rs.example./x", "https://rs.example/x"),  # trailing dot is another name
    ("https://rs.example/x;p", "https://rs.example/x"),  # parameters are path
    ("https://rs.example//x", "https://rs.example/x"),  # empty segment
    ("https://[::1]:8443/x", "https://[::1]/x"),
    ("https://[::1]/x", "https://[::2]/x"),
    ("https://rs.example/%25", "https://rs.example/%"),
    ("https://rs.example/a%2Eb", "https://rs.example/a%2Fb"),
]


@pytest.mark.parametrize(("a", "b"), EQUAL)
def test_rfc9449_s4_3_step9_equal_forms(a: str, b: str) -> None:
    assert normalize_htu(a) == normalize_htu(b)
    assert htu_matches(a, b)
    assert htu_matches(b, a)


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_rfc9449_s4_3_step9_different_forms(a: str, b: str) -> None:
    assert not htu_matches(a, b)
    assert not htu_matches(b, a)


@pytest.mark.parametrize(
    ("uri", "normal"),
    [
        ("HTTPS://RS.Example:443/a/./b/%7euser?q=1#f", "https://rs.example/a/b/~user"),
        ("https://rs.example", "https://rs.example/"),
        ("https://rs.example/a/%2f", "https://rs.example/a/%2F"),
        ("https://[::1]:443", "https://[::1]/"),
        ("https://[::1]:8443/p", "https://[::1]:8443/p"),
        ("https://ex%41mple.com/", "https://example.com/"),
        ("http://rs.example:8080/a/..", "http://rs.example:8080/"),
        ("https://rs.example/a/.", "https://rs.example/a/"),
        ("https://rs.example/a/b/..", "https://rs.example/a/"),
    ],
)
def test_rfc3986_s6_2_normal_form(uri: str, normal: str) -> None:
    assert normalize_htu(uri) == normal
    assert normalize_htu(normal) == normal


def test_rfc3986_s6_2_2_1_host_percent_hex_is_upper_case() -> None:
    """Percent-encoding hex digits normalise to upper case everywhere, the host included."""
    assert normalize_htu("https://ex%2Fmple.com/") == "https://ex%2Fmple.com/"
    assert normalize_htu("https://ex%2fmple.com/") == "https://ex%2Fmple.com/"


@pytest.mark.parametrize(
    "uri",
    [
        "",
        "/x",
        "rs.example/x",
        "//rs.example/x",
        "ftp://rs.example/x",
        "wss://rs.example/x",
        "https:/rs.example/x",
        "https://",
        "https:///x",
        "https://:443/x",
        "https://user@rs.example/x",
        "https://user:pw@rs.example/x",
        "https://rs.example:99999/x",
        "https://rs.example:x/x",
        "https://rs.example:+443/x",
        "https://rs.exa mple/x",
        "https://rs.example/a b",
        "https://rs.example/\u00e9",
        "https://r\u00e9.example/",
        "https://rs.example/\x00",
        "https://rs.example/\t",
        "https://rs.example/a%zz",
        "https://rs.example/a%2",
        "https://rs.example/a%",
        "https://rs.example/a\\b",
        "https://rs.example/a<b>",
        'https://rs.example/a"b',
        "https://rs.example/{x}",
        "https://[::1/x",
        "https://[::1]x/",
        "https://[fe80::1%25eth0]/",
        "https://[v1.x]/",
        "https://rs.example/" + "a" * MAX_URI_LENGTH,
    ],
)
def test_rfc9449_s4_3_step9_unusable_uris_raise_and_never_match(uri: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 -- the one documented error type
        normalize_htu(uri)
    assert not htu_matches(uri, uri)
    assert not htu_matches(uri, "https://rs.example/x")


def test_max_uri_length_exact() -> None:
    prefix = "https://rs.example/"
    normalize_htu(prefix + "a" * (MAX_URI_LENGTH - len(prefix)))
    with pytest.raises(ValueError):  # noqa: PT011
        normalize_htu(prefix + "a" * (MAX_URI_LENGTH - len(prefix) + 1))


def test_query_longer_than_the_limit_still_counts() -> None:
    """The size limit applies to the whole value as received, query included."""
    with pytest.raises(ValueError):  # noqa: PT011
        normalize_htu("https://rs.example/x?" + "q" * MAX_URI_LENGTH)
