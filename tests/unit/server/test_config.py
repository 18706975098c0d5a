"""ServerSettings: secure defaults, refusal of invalid settings at construction."""

from __future__ import annotations

from typing import Any

import pytest

from proofbound.discovery import metadata_path
from proofbound.errors import ConfigurationError
from proofbound.server.config import Secret, ServerSettings, parse_networks, validate_issuer


def test_defaults_are_the_secure_ones() -> None:
    s = ServerSettings()
    assert s.dpop_nonce is True
    assert s.access_token_ttl == 300
    assert s.registration_token is None
    assert s.admin_token is None
    assert s.trusted_proxies == ()
    assert s.client_cert_header == "x-ssl-client-cert"
    assert s.default_audience == s.issuer
    assert "none" not in s.assertion_algorithms


@pytest.mark.parametrize(
    "issuer",
    [
        "https://as.example",
        "https://as.example/",
        "https://as.example/tenant/a",
        "http://127.0.0.1:8000",
        "http://localhost:9",
        "http://[::1]:8000",
    ],
)
def test_rfc8414_s2_valid_issuers_are_used_verbatim(issuer: str) -> None:
    assert validate_issuer(issuer) == issuer
    assert ServerSettings(issuer=issuer).issuer == issuer


@pytest.mark.parametrize(
    "issuer",
    [
        "http://as.example",
        "https://as.example?tenant=a",
        "https://as.example#x",
        "https://user:pw@as.example",
        "ftp://as.example",
        "as.example",
        "https://as.example/a b",
        "",
    ],
)
def test_rfc8414_s2_invalid_issuers_are_refused(issuer: str) -> None:
    with pytest.raises(ConfigurationError):
        ServerSettings(issuer=issuer)


@pytest.mark.parametrize(
    "overrides",
    [
        {"access_token_ttl": 29},
        {"access_token_ttl": 3601},
        {"resources": ("https://rs.example", "https://rs.example")},
        {"resources": ("relative/path",)},
        {"resources": ("https://rs.example#frag",)},
        {"registration_token": Secret("short")},
        {"admin_token": Secret("")},
        {"client_cert_header": "bad header"},
        {"client_cert_format": "pem"},
        {"signing_alg": "HS256"},
        {"assertion_algorithms": ()},
        {"assertion_algorithms": ("none",)},
        {"assertion_max_lifetime": 7200},
        {"clock_skew": -1},
        {"max_body_bytes": 10},
        {"redis_url": "http://cache:6379"},
        {"cors_origins": ("https://app.example/",)},
        {"cors_origins": ("https://app.example/path",)},
        {"cors_origins": ("ftp://app.example",)},
        {"cors_origins": ("*",)},
        {"cors_origins": ("https://user@app.example",)},
        {"cors_origins": ("https://app.example:99999",)},
        {"cors_origins": ("https://app.example?x=1",)},
        {"refresh_token_ttl": 299},
        {"refresh_token_ttl": 30 * 86400 + 1},
        {"code_ttl": 9},
        {"code_ttl": 601},
        {"session_ttl": 59},
        {"session_ttl": 86401},
    ],
)
def test_invalid_settings_fail_at_construction(overrides: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        ServerSettings(**overrides)


def test_secret_is_redacted_and_compared_in_constant_time() -> None:
    secret = Secret("a-very-secret-value-123")
    assert "secret-value" not in repr(secret)
    assert "secret-value" not in str(secret)
    assert secret.matches("a-very-secret-value-123")
    assert not secret.matches("a-very-secret-value-124")
    assert not secret.matches("")
    assert "secret-value" not in repr(ServerSettings(admin_token=secret))


def test_trusted_proxy_networks() -> None:
    assert [str(n) for n in parse_networks(["127.0.0.1", "10.0.0.0/8", "::1"])] == [
        "127.0.0.1/32",
        "10.0.0.0/8",
        "::1/128",
    ]
    with pytest.raises(ConfigurationError):
        parse_networks(["10.0.0.1/8"])  # host bits set: almost certainly a typo


@pytest.mark.parametrize(
    ("issuer", "path"),
    [
        ("https://as.example", "/.well-known/oauth-authorization-server"),
        ("https://as.example/", "/.well-known/oauth-authorization-server"),
        ("https://as.example/issuer1", "/.well-known/oauth-authorization-server/issuer1"),
    ],
)
def test_rfc8414_s3_1_metadata_path(issuer: str, path: str) -> None:
    assert metadata_path(issuer) == path


@pytest.mark.parametrize(
    "origin", ["https://app.example", "http://127.0.0.1:8080", "http://[::1]:3000"]
)
def test_cors_origins_are_bare_origins_kept_verbatim(origin: str) -> None:
    assert ServerSettings(cors_origins=(origin,)).cors_origins == (origin,)
