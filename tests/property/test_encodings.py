"""base64url, strict JSON and JWK thumbprints over generated inputs."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proofbound._internal.b64 import b64url_decode, b64url_encode, is_b64url
from proofbound._internal.strict_json import loads_object
from proofbound.errors import InvalidKey
from proofbound.jwk.thumbprint import REQUIRED_MEMBERS, jwk_thumbprint

from ._support import B64URL_ALPHABET, signing_key

SETTINGS = settings(max_examples=200, deadline=None)


# --------------------------------------------------------------------------- base64url


@SETTINGS
@given(st.binary(max_size=200))
def test_rfc4648_s5_decode_encode_round_trip(data: bytes) -> None:
    text = b64url_encode(data)
    assert is_b64url(text)
    assert "=" not in text
    assert b64url_decode(text) == data


@SETTINGS
@given(st.text(alphabet=B64URL_ALPHABET, max_size=40))
def test_rfc7515_s2_canonical_strings_round_trip_and_only_those(text: str) -> None:
    """A string is accepted iff it is the encoding of what it decodes to."""
    if len(text) % 4 == 1:
        assert not is_b64url(text)
        return
    decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    canonical = b64url_encode(decoded) == text
    assert is_b64url(text) is canonical
    if canonical:
        assert b64url_decode(text) == decoded
    else:
        with pytest.raises(ValueError, match="canonical"):
            b64url_decode(text)


@SETTINGS
@given(st.text(max_size=20))
def test_decode_never_raises_anything_but_value_error(text: str) -> None:
    try:
        b64url_decode(text)
    except ValueError:
        assert not is_b64url(text)
    else:
        assert is_b64url(text)


# --------------------------------------------------------------------------- strict JSON

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
_values = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=8), children, max_size=4),
    ),
    max_leaves=20,
)
objects = st.dictionaries(st.text(max_size=8), _values, max_size=6)


@SETTINGS
@given(obj=objects, ensure_ascii=st.booleans(), compact=st.booleans())
def test_rfc8259_dumps_loads_round_trip(
    obj: dict[str, object], ensure_ascii: bool, compact: bool
) -> None:
    separators = (",", ":") if compact else None
    data = json.dumps(obj, ensure_ascii=ensure_ascii, separators=separators).encode("utf-8")
    assert loads_object(data, max_bytes=len(data)) == obj


# --------------------------------------------------------------------------- thumbprints

_extra_names = st.text(min_size=1, max_size=10).filter(
    lambda name: name not in {"kty", "crv", "x", "y", "n", "e"}
)


@settings(max_examples=100, deadline=None)
@given(
    alg=st.sampled_from(["ES256", "ES384", "ES512", "EdDSA", "RS256"]),
    extra=st.dictionaries(_extra_names, _values, max_size=5),
    data=st.data(),
)
def test_rfc7638_s3_thumbprint_ignores_order_and_extra_members(
    alg: str, extra: dict[str, object], data: st.DataObject
) -> None:
    key = signing_key(alg)
    items = list({**extra, **key.public_key.jwk}.items())
    shuffled = dict(data.draw(st.permutations(items), label="member order"))
    assert jwk_thumbprint(shuffled) == key.thumbprint


@settings(max_examples=100, deadline=None)
@given(
    kty=st.sampled_from(sorted(REQUIRED_MEMBERS)),
    values=st.lists(st.text(min_size=1, max_size=12), min_size=4, max_size=4),
)
def test_rfc7638_s3_3_thumbprint_defined_iff_no_escaping_needed(
    kty: str, values: list[str]
) -> None:
    members = [name for name in REQUIRED_MEMBERS[kty] if name != "kty"]
    jwk = {"kty": kty, **dict(zip(members, values, strict=False))}
    plain = all(
        v.isascii() and v.isprintable() and '"' not in v and "\\" not in v for v in jwk.values()
    )
    if not plain:
        with pytest.raises(InvalidKey):
            jwk_thumbprint(jwk)
        return
    canonical = json.dumps({name: jwk[name] for name in sorted(jwk)}, separators=(",", ":"))
    import hashlib

    assert jwk_thumbprint(jwk) == b64url_encode(hashlib.sha256(canonical.encode()).digest())
