"""Client certificates and ``x5t#S256`` (RFC 8705 §3.1); the RFC example lives in tests/vectors."""

from __future__ import annotations

import base64
import datetime
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from proofbound._internal.b64 import b64url_encode
from proofbound.errors import InvalidToken, Reason
from proofbound.mtls.certificate import ClientCertificate, load_certificate


def _certificate(cn: str, *, days: int = 1) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def cert() -> x509.Certificate:
    return _certificate("client")


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def test_rfc8705_s3_1_pem_and_der_have_one_thumbprint(cert: x509.Certificate) -> None:
    expected = b64url_encode(hashlib.sha256(_der(cert)).digest())
    for data in (_pem(cert), _pem(cert).decode(), _der(cert), b"\n  " + _pem(cert)):
        loaded = load_certificate(data)
        assert isinstance(loaded, ClientCertificate)
        assert loaded.der == _der(cert)
        assert loaded.thumbprint == expected


def test_rfc8705_s6_2_expired_certificate_still_hashes(cert: x509.Certificate) -> None:
    """Validity dates are not the binding's business (the certificate above expired in 2020)."""
    assert cert.not_valid_after_utc.year == 2020
    assert load_certificate(_der(cert)).thumbprint


def test_different_certificates_differ(cert: x509.Certificate) -> None:
    assert (
        load_certificate(_der(cert)).thumbprint
        != load_certificate(_der(_certificate("client"))).thumbprint
    )


def test_repr_hides_der(cert: x509.Certificate) -> None:
    loaded = load_certificate(_der(cert))
    text = repr(loaded)
    assert loaded.thumbprint in text
    assert "der=" not in text
    assert base64.b64encode(_der(cert))[:40].decode() not in text


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a certificate",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        b"\x30\x03\x02\x01\x01",
        "\u00e9",
    ],
    ids=["empty", "text", "bad-pem", "key-pem", "der-integer", "non-ascii"],
)
def test_rfc8705_s3_malformed(data: bytes | str) -> None:
    with pytest.raises(InvalidToken) as info:
        load_certificate(data)
    assert info.value.reason is Reason.CERT_MALFORMED


def test_two_pem_blocks_are_refused(cert: x509.Certificate) -> None:
    with pytest.raises(InvalidToken) as info:
        load_certificate(_pem(cert) + _pem(_certificate("other")))
    assert info.value.reason is Reason.CERT_MALFORMED


def test_trailing_bytes_after_der_are_refused(cert: x509.Certificate) -> None:
    with pytest.raises(InvalidToken) as info:
        load_certificate(_der(cert) + b"\x00")
    assert info.value.reason is Reason.CERT_MALFORMED


def test_size_limit(cert: x509.Certificate) -> None:
    padded = _pem(cert) + b"\n" * (16 * 1024 - len(_pem(cert)))
    assert len(padded) == 16 * 1024
    assert load_certificate(padded).der == _der(cert)
    with pytest.raises(InvalidToken) as info:
        load_certificate(padded + b"\n")
    assert info.value.reason is Reason.CERT_MALFORMED
