"""Keys and strategies shared by the property tests.

Keys are generated once per process (RSA is slow); every RSA algorithm shares one 2048-bit key.
"""

from __future__ import annotations

import string
from functools import cache

from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import strategies as st

from proofbound.jwk.algorithms import alg_spec
from proofbound.jwk.keys import SigningKey, generate_key

B64URL_ALPHABET = string.ascii_letters + string.digits + "-_"
UNRESERVED = string.ascii_letters + string.digits + "-._~"
SUB_DELIMS = "!$&'()*+,;="
# RFC 9110 §5.6.2 tchar
TCHAR = "!#$%&'*+-.^_`|~" + string.ascii_letters + string.digits


@cache
def _rsa_private() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def signing_key(alg: str) -> SigningKey:
    spec = alg_spec(alg)
    assert spec is not None
    return SigningKey(_rsa_private(), alg) if spec.kty == "RSA" else generate_key(alg)


methods = st.text(alphabet=TCHAR, min_size=1, max_size=12)


def _pct(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode())


# One path character: a literal pchar, or any byte percent-encoded (hex in either case).
_path_char = st.one_of(
    st.sampled_from(UNRESERVED + SUB_DELIMS + ":@"),
    st.integers(0, 255).map(lambda b: f"%{b:02X}"),
    st.integers(0, 255).map(lambda b: f"%{b:02x}"),
)
segments = st.one_of(
    st.lists(_path_char, max_size=8).map("".join),
    st.sampled_from([".", "..", "%2E", "%2e%2E"]),
)
paths = st.lists(segments, max_size=6).map(lambda parts: "".join("/" + p for p in parts))

_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
reg_names = st.lists(_label, min_size=1, max_size=3).map(".".join)
hosts = st.one_of(
    reg_names,
    st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t))),
    st.sampled_from(["[::1]", "[2001:db8::7]", "[fe80::1:2]", "[::ffff:192.0.2.1]"]),
)
_random_case = st.booleans()


@st.composite
def origins(draw: st.DrawFn) -> str:
    """``scheme://host[:port]`` with random letter case and optional default ports."""
    scheme = draw(st.sampled_from(["http", "https"]))
    host = draw(hosts)
    if draw(_random_case):
        scheme = scheme.upper()
    if draw(_random_case) and not host.startswith("["):
        host = "".join(c.upper() if draw(st.booleans()) else c for c in host)
    port = draw(
        st.one_of(
            st.just(""),
            st.just(":"),
            st.just(":443" if scheme.lower() == "https" else ":80"),
            st.integers(1, 65535).map(lambda p: f":{p}"),
        )
    )
    return f"{scheme}://{host}{port}"


# Query and fragment: printable ASCII without space; '#' ends the query.
queries = st.text(
    alphabet=string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/?%[]", max_size=30
)
fragments = st.text(
    alphabet=string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/?%#", max_size=20
)


@st.composite
def uris(draw: st.DrawFn) -> str:
    """A request URI: origin, path, optional query and fragment."""
    uri = draw(origins()) + draw(paths)
    if draw(st.booleans()):
        uri += "?" + draw(queries)
    if draw(st.booleans()):
        uri += "#" + draw(fragments)
    return uri
