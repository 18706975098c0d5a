"""Dynamic client registration (RFC 7591): validate the metadata a client asks for and decide
what is registered.

Rules, each in one function below:

* ``token_endpoint_auth_method`` is one of :data:`AUTH_METHODS` (default ``client_secret_basic``,
  RFC 7591 §2; secret methods are legacy and documented as such).
* ``grant_types`` may only name grants this server implements (:data:`GRANT_TYPES`; the
  default here is ``client_credentials``, for machine clients); ``refresh_token`` only with
  ``authorization_code``. ``response_types`` is ``["code"]`` with ``authorization_code`` and
  ``[]`` without (RFC 7591 §2.1), which are also the defaults.
* ``redirect_uris`` (required with ``authorization_code``, refused without): absolute, no
  fragment or userinfo; ``https``, ``http`` on a loopback host, or a private-use scheme with a
  dot (RFC 8252 §7.1, §7.3). They are matched exactly at the authorization endpoint.
* ``none`` (public clients, RFC 6749 §2.1): redirect-based grants only, and DPoP-bound tokens
  (``dpop_bound_access_tokens: true``) so that their refresh tokens are bound to the key
  (RFC 9449 §5).
* ``jwks`` and ``jwks_uri`` are never both present (§2); keys are public (no private members),
  usable, and required for ``private_key_jwt`` and ``self_signed_tls_client_auth``.
* ``self_signed_tls_client_auth``: every ``x5c[0]`` holds the same key as its JWK
  (RFC 8705 §2.2.2, RFC 7517 §4.7).
* ``tls_client_auth`` needs configured trust anchors and exactly one of the subject members
  (RFC 8705 §2.1.2).
* A client asks for DPoP-bound or certificate-bound tokens, never both.
* Unknown members are ignored (§2) and not stored.

Every failure is :class:`~proofbound.errors.InvalidClientMetadata` with reason
``metadata_invalid``; the private detail names the member, never its value.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import secrets
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

from cryptography import x509

from proofbound._internal.syntax import is_nqchars
from proofbound.errors import InvalidClientMetadata, InvalidKey, Reason
from proofbound.jwk.keys import PRIVATE_MEMBERS, PublicKey, public_key_from_jwk
from proofbound.server.config import ServerSettings
from proofbound.server.pages import form_target
from proofbound.storage.store import ClientRecord
from proofbound.types import JwsAlg

__all__ = [
    "AUTH_METHODS",
    "GRANT_TYPES",
    "Registration",
    "SECRET_METHODS",
    "hash_secret",
    "jwk_matches_certificate",
    "register_client",
]

AUTH_METHODS: Final = (
    "private_key_jwt",
    "self_signed_tls_client_auth",
    "tls_client_auth",
    "client_secret_basic",
    "client_secret_post",
    "none",
)
SECRET_METHODS: Final = frozenset({"client_secret_basic", "client_secret_post"})
GRANT_TYPES: Final = ("client_credentials", "authorization_code", "refresh_token")
_LOOPBACK: Final = frozenset({"127.0.0.1", "::1", "localhost"})
_MAX_REDIRECT_URIS: Final = 10
SUBJECT_MEMBERS: Final = (
    "tls_client_auth_subject_dn",
    "tls_client_auth_san_dns",
    "tls_client_auth_san_uri",
    "tls_client_auth_san_ip",
    "tls_client_auth_san_email",
)

_MAX_KEYS: Final = 10
_MAX_TEXT: Final = 512


class Registration:
    """The outcome of a registration: the record to store and the response to send."""

    __slots__ = ("client_secret", "record")

    def __init__(self, record: ClientRecord, client_secret: str | None) -> None:
        self.record: Final = record
        self.client_secret: Final = client_secret

    def response(self) -> dict[str, Any]:
        """The RFC 7591 §3.2.1 response body (the secret appears only here, once)."""
        body: dict[str, Any] = {
            "client_id": self.record.client_id,
            "client_id_issued_at": self.record.created_at,
            **self.record.metadata,
        }
        if self.client_secret is not None:
            body["client_secret"] = self.client_secret
            body["client_secret_expires_at"] = 0
        return body

    def __repr__(self) -> str:
        return f"Registration(client_id={self.record.client_id!r})"


def _bad(member: str, why: str) -> InvalidClientMetadata:
    return InvalidClientMetadata(Reason.METADATA_INVALID, detail=f"{member}: {why}")


def hash_secret(secret: str) -> bytes:
    """SHA-256 of a client secret (secrets are 256-bit random, so no slow hash is needed)."""
    import hashlib

    return hashlib.sha256(secret.encode("utf-8")).digest()


def _text(metadata: Mapping[str, Any], name: str) -> str | None:
    value = metadata.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > _MAX_TEXT:
        raise _bad(name, "must be a non-empty string")
    if not value.isprintable():
        raise _bad(name, "must be printable")
    return value


def _flag(metadata: Mapping[str, Any], name: str) -> bool:
    value = metadata.get(name, False)
    if not isinstance(value, bool):
        raise _bad(name, "must be a boolean")
    return value


def _auth_method(metadata: Mapping[str, Any]) -> str:
    method = metadata.get("token_endpoint_auth_method", "client_secret_basic")
    if method not in AUTH_METHODS:
        raise _bad("token_endpoint_auth_method", "not supported")
    return str(method)


def _grant_types(metadata: Mapping[str, Any]) -> list[str]:
    grants = metadata.get("grant_types", ["client_credentials"])
    if not isinstance(grants, list) or not grants or not all(isinstance(g, str) for g in grants):
        raise _bad("grant_types", "must be a non-empty array of strings")
    if len(set(grants)) != len(grants) or set(grants) - set(GRANT_TYPES):
        raise _bad("grant_types", "unsupported or repeated grant type")
    if "refresh_token" in grants and "authorization_code" not in grants:
        raise _bad("grant_types", "refresh_token is issued with authorization_code only")
    return list(grants)


def _response_types(metadata: Mapping[str, Any], grants: list[str]) -> list[str]:
    expected = ["code"] if "authorization_code" in grants else []
    if metadata.get("response_types", expected) != expected:
        raise _bad("response_types", "must match grant_types (RFC 7591 §2.1)")
    return expected


def _redirect_uri(uri: object) -> str:
    if not isinstance(uri, str) or not uri or len(uri) > _MAX_TEXT or not uri.isprintable():
        raise _bad("redirect_uris", "entries must be non-empty strings")
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:
        raise _bad("redirect_uris", "an entry is not a URI") from None
    if not parts.scheme or "#" in uri or "@" in parts.netloc or " " in uri:
        raise _bad("redirect_uris", "entries must be absolute, without fragment or userinfo")
    try:  # an ASCII host, a numeric port: what the consent page's CSP can name
        parts.port  # noqa: B018 -- raises for a malformed port
        form_target(uri)
    except ValueError:
        raise _bad("redirect_uris", "an entry has an unusable host, port or scheme") from None
    if parts.scheme == "https" and host:
        return uri
    if parts.scheme == "http" and host in _LOOPBACK:
        return uri
    if parts.scheme not in ("http", "https") and "." in parts.scheme:  # RFC 8252 §7.1
        return uri
    raise _bad("redirect_uris", "https, loopback http, or a private-use scheme only")


def _redirect_uris(metadata: Mapping[str, Any], grants: list[str]) -> list[str] | None:
    uris = metadata.get("redirect_uris")
    if "authorization_code" not in grants:
        if uris is not None:
            raise _bad("redirect_uris", "only with the authorization_code grant")
        return None
    if not isinstance(uris, list) or not 1 <= len(uris) <= _MAX_REDIRECT_URIS:
        raise _bad("redirect_uris", f"authorization_code needs 1..{_MAX_REDIRECT_URIS} URIs")
    checked = [_redirect_uri(u) for u in uris]
    if len(set(checked)) != len(checked):
        raise _bad("redirect_uris", "an entry is repeated")
    return checked


def _public_client(grants: list[str], dpop: bool, mtls: bool) -> None:
    """RFC 6749 §2.1 public clients: no client_credentials, and DPoP-bound tokens only."""
    if "client_credentials" in grants:
        raise _bad("grant_types", "a public client cannot use client_credentials")
    if not dpop or mtls:
        raise _bad("dpop_bound_access_tokens", "a public client must use DPoP-bound tokens")


def _scope(metadata: Mapping[str, Any]) -> str | None:
    scope = metadata.get("scope")
    if scope is None:
        return None
    if not isinstance(scope, str) or len(scope) > 2048:
        raise _bad("scope", "must be a string")
    tokens = scope.split(" ")
    if not all(is_nqchars(t) for t in tokens) or len(set(tokens)) != len(tokens):
        raise _bad("scope", "must be distinct scope tokens separated by single spaces")
    return scope


def _jwks_uri(metadata: Mapping[str, Any]) -> str | None:
    uri = _text(metadata, "jwks_uri")
    if uri is None:
        return None
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:  # e.g. an invalid IPv6 literal
        raise _bad("jwks_uri", "not a URL") from None
    loopback = (host or "") in ("127.0.0.1", "localhost", "::1")
    if (
        parts.fragment
        or not host
        or not (parts.scheme == "https" or (parts.scheme == "http" and loopback))
    ):
        raise _bad("jwks_uri", "must be an https URL")
    return uri


def _certificate_from_x5c(entry: object) -> x509.Certificate:
    if not isinstance(entry, str):
        raise _bad("jwks", "x5c entries must be strings")
    try:
        # RFC 7517 §4.7: standard base64 (not base64url) of the DER.
        return x509.load_der_x509_certificate(base64.b64decode(entry, validate=True))
    except (binascii.Error, ValueError):
        raise _bad("jwks", "x5c[0] is not a base64 DER certificate") from None


def jwk_matches_certificate(jwk: Mapping[str, Any], certificate: x509.Certificate) -> bool:
    """Whether ``certificate`` holds the public key of ``jwk`` (RFC 7517 §4.7)."""
    try:
        return PublicKey(public_key_from_jwk(jwk)) == PublicKey(certificate.public_key())  # type: ignore[arg-type]
    except (InvalidKey, TypeError):
        return False


def _jwks(metadata: Mapping[str, Any], *, need_x5c: bool) -> dict[str, Any] | None:
    jwks = metadata.get("jwks")
    if jwks is None:
        return None
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise _bad("jwks", "must be an object with a keys array")
    keys: list[dict[str, Any]] = jwks["keys"]
    if not 1 <= len(keys) <= _MAX_KEYS:
        raise _bad("jwks", f"must hold 1..{_MAX_KEYS} keys")
    kept: list[dict[str, Any]] = []
    for jwk in keys:
        if not isinstance(jwk, dict):
            raise _bad("jwks", "keys must be objects")
        if PRIVATE_MEMBERS & jwk.keys():
            raise _bad("jwks", "a key carries private members")
        try:
            public_key_from_jwk({k: v for k, v in jwk.items() if k != "x5c"})
        except (InvalidKey, TypeError):
            raise _bad("jwks", "a key is not usable") from None
        x5c = jwk.get("x5c")
        if x5c is not None:
            if not isinstance(x5c, list) or not x5c:
                raise _bad("jwks", "x5c must be a non-empty array")
            if not jwk_matches_certificate(jwk, _certificate_from_x5c(x5c[0])):
                raise _bad("jwks", "x5c[0] does not hold the key of its JWK")
        elif need_x5c:
            raise _bad("jwks", "self_signed_tls_client_auth keys need x5c")
        kept.append(dict(jwk))
    return {"keys": kept}


def _signing_alg(
    metadata: Mapping[str, Any], method: str, settings: ServerSettings
) -> JwsAlg | None:
    alg = metadata.get("token_endpoint_auth_signing_alg")
    if alg is None:
        return None
    if method != "private_key_jwt":
        raise _bad("token_endpoint_auth_signing_alg", "only for private_key_jwt")
    if alg not in settings.assertion_algorithms:
        raise _bad("token_endpoint_auth_signing_alg", "not supported")
    return alg  # type: ignore[no-any-return]


def _subject(metadata: Mapping[str, Any], method: str, settings: ServerSettings) -> dict[str, str]:
    given = {name: metadata[name] for name in SUBJECT_MEMBERS if metadata.get(name) is not None}
    if method != "tls_client_auth":
        if given:
            raise _bad(next(iter(given)), "only for tls_client_auth")
        return {}
    if not settings.client_ca:
        raise _bad("token_endpoint_auth_method", "tls_client_auth needs --client-ca")
    if len(given) != 1:
        raise _bad("tls_client_auth_subject_dn", "exactly one subject member is required")
    name, value = next(iter(given.items()))
    if not isinstance(value, str) or not value or len(value) > _MAX_TEXT:
        raise _bad(name, "must be a non-empty string")
    if name == "tls_client_auth_san_ip":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise _bad(name, "not an IP address") from None
    if name == "tls_client_auth_subject_dn":
        from proofbound.server.client_auth import parse_dn

        if parse_dn(value) is None:
            raise _bad(name, "not an RFC 4514 distinguished name")
    return {name: value}


def register_client(
    metadata: Mapping[str, Any], settings: ServerSettings, *, now: int
) -> Registration:
    """Validate requested client metadata and build the client to store.

    Raises:
        InvalidClientMetadata: ``metadata_invalid``, naming the member in the detail.
    """
    method = _auth_method(metadata)
    grants = _grant_types(metadata)
    jwks_uri = _jwks_uri(metadata)
    jwks = _jwks(metadata, need_x5c=method == "self_signed_tls_client_auth")
    if jwks is not None and jwks_uri is not None:
        raise _bad("jwks", "jwks and jwks_uri are mutually exclusive (RFC 7591 §2)")
    if method in ("private_key_jwt", "self_signed_tls_client_auth") and (
        jwks is None and jwks_uri is None
    ):
        raise _bad("jwks", f"{method} needs jwks or jwks_uri")
    dpop = _flag(metadata, "dpop_bound_access_tokens")
    mtls = _flag(metadata, "tls_client_certificate_bound_access_tokens")
    if dpop and mtls:
        raise _bad("dpop_bound_access_tokens", "a client uses one binding, not both")
    if method == "none":
        _public_client(grants, dpop, mtls)
    registered: dict[str, Any] = {
        "token_endpoint_auth_method": method,
        "grant_types": grants,
        "response_types": _response_types(metadata, grants),
        "dpop_bound_access_tokens": dpop,
        "tls_client_certificate_bound_access_tokens": mtls,
    }
    alg = _signing_alg(metadata, method, settings)
    optional: dict[str, Any] = {
        "token_endpoint_auth_signing_alg": alg,
        "scope": _scope(metadata),
        "client_name": _text(metadata, "client_name"),
        "jwks": jwks,
        "jwks_uri": jwks_uri,
        "redirect_uris": _redirect_uris(metadata, grants),
    }
    registered.update({k: v for k, v in optional.items() if v is not None})
    registered.update(_subject(metadata, method, settings))
    client_secret = secrets.token_urlsafe(32) if method in SECRET_METHODS else None
    record = ClientRecord(
        client_id=secrets.token_urlsafe(16),
        auth_method=method,
        metadata=registered,
        created_at=now,
        secret_hash=hash_secret(client_secret) if client_secret is not None else None,
    )
    return Registration(record, client_secret)
