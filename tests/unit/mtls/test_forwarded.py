"""Client certificates from a trusted TLS-terminating proxy (RFC 8705 §6.5, RFC 9440)."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from tests.unit.server.conftest import self_signed

from proofbound.jwk.thumbprint import x5t_s256
from proofbound.mtls.forwarded import (
    MalformedCertificateHeader,
    certificate_from_header,
    is_trusted_peer,
)
from proofbound.server.config import parse_networks

CERT, _ = self_signed()
PEM = CERT.public_bytes(Encoding.PEM).decode()
DER = CERT.public_bytes(Encoding.DER)


def test_nginx_escaped_pem() -> None:
    value = quote(PEM, safe="")
    assert "%20" in value or "%0A" in value
    cert = certificate_from_header([value], "nginx")
    assert cert is not None
    assert cert.thumbprint == x5t_s256(DER)


def test_nginx_plus_is_a_literal_plus_not_a_space() -> None:
    # Not form encoding: a '+' in the base64 body must survive (a space would break the PEM).
    value = quote(PEM, safe="+")
    if "+" not in value:
        pytest.skip("this certificate's base64 has no '+'")
    cert = certificate_from_header([value], "nginx")
    assert cert is not None
    assert cert.thumbprint == x5t_s256(DER)


def test_rfc9440_s2_2_byte_sequence() -> None:
    cert = certificate_from_header([":" + base64.b64encode(DER).decode() + ":"], "rfc9440")
    assert cert is not None
    assert cert.thumbprint == x5t_s256(DER)


def test_xfcc_takes_the_cert_of_the_last_element() -> None:
    other, _ = self_signed("other")
    first = quote(other.public_bytes(Encoding.PEM).decode(), safe="")
    last = quote(PEM, safe="")
    value = f'By=spiffe://a;Cert="{first}";Subject="CN=x, O=y",By=spiffe://b;Hash=ab;Cert="{last}"'
    cert = certificate_from_header([value], "xfcc")
    assert cert is not None
    assert cert.thumbprint == x5t_s256(DER)


def test_absent_or_empty_header_is_no_certificate() -> None:
    assert certificate_from_header([], "nginx") is None
    assert certificate_from_header([""], "nginx") is None


@pytest.mark.parametrize(
    ("values", "fmt"),
    [
        pytest.param([quote(PEM, safe="")] * 2, "nginx", id="repeated"),
        pytest.param(["not a certificate"], "nginx", id="garbage"),
        pytest.param([quote(PEM + PEM, safe="")], "nginx", id="two-pem-blocks"),
        pytest.param([base64.b64encode(DER).decode()], "rfc9440", id="rfc9440-no-colons"),
        pytest.param([":!!!:"], "rfc9440", id="rfc9440-not-base64"),
        pytest.param(["By=x;Hash=y"], "xfcc", id="xfcc-no-cert"),
        pytest.param(["%FF%FE"], "nginx", id="not-ascii-after-decoding"),
        pytest.param(["x" * 30000], "nginx", id="too-large"),
    ],
)
def test_malformed_headers_are_refused(values: list[str], fmt: str) -> None:
    with pytest.raises(MalformedCertificateHeader):
        certificate_from_header(values, fmt)  # type: ignore[arg-type]


def test_trusted_peers() -> None:
    nets = parse_networks(["127.0.0.1/32", "10.0.0.0/8", "::1"])
    assert is_trusted_peer("127.0.0.1", nets)
    assert is_trusted_peer("10.9.8.7", nets)
    assert is_trusted_peer("::ffff:127.0.0.1", nets)  # IPv4-mapped is the IPv4 address
    assert is_trusted_peer("::1", nets)
    assert not is_trusted_peer("127.0.0.2", nets)
    assert not is_trusted_peer("192.168.1.1", nets)
    assert not is_trusted_peer(None, nets)
    assert not is_trusted_peer("not-an-ip", nets)
    assert not is_trusted_peer("127.0.0.1", ())
