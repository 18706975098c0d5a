"""Access tokens for a machine client: discovery, client_credentials, caching and refresh.

* Discovery: RFC 8414 metadata (path inserted, §3.1), else OpenID discovery; the document's
  ``issuer`` must equal the configured issuer exactly (§3.3).
* Client authentication: ``private_key_jwt`` (RFC 7523: a fresh assertion per request, ``aud``
  the token endpoint, 60 s lifetime, random ``jti``), ``self_signed_tls_client_auth`` /
  ``tls_client_auth`` (RFC 8705 §2: the certificate on the TLS connection of the given client,
  or, behind a TLS-terminating proxy and for local use, in a configured header, percent-encoded
  like nginx's ``$ssl_client_escaped_cert`` -- a space is ``%20``, never ``+``), or
  ``client_secret_basic`` (legacy).
* Binding: in ``dpop`` mode every token request carries a proof (``DPoPAuth``, with the AS
  nonce retry), and a response whose ``token_type`` is not ``DPoP`` is refused (RFC 9449 §5);
  in ``mtls`` mode the token must be certificate-bound (``token_type`` ``Bearer``).
* Tokens are cached and refreshed shortly before they expire (with jitter so a fleet does not
  refresh at once); one refresh at a time per source, for threads and tasks alike; refresh
  tokens are used when the AS issues them.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import quote

import httpx

from proofbound.client.httpx_auth import DPoPAuth
from proofbound.client.keys import DPoPKey
from proofbound.client.nonces import NonceCache
from proofbound.discovery import metadata_urls
from proofbound.jws import sign_compact
from proofbound.server.config import Secret

__all__ = ["ClientError", "TokenResponse", "TokenSource", "escaped_certificate"]

ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
Mode = Literal["dpop", "mtls"]
AuthMethod = Literal[
    "private_key_jwt", "self_signed_tls_client_auth", "tls_client_auth", "client_secret_basic"
]

_REFRESH_AHEAD: Final = 30  # seconds before expiry a token is replaced
_JITTER: Final = 10


class ClientError(Exception):
    """The AS or the network refused to give a token; ``error`` is the OAuth code if any.

    The message never holds a token, an assertion or a key."""

    def __init__(self, message: str, *, error: str | None = None, status: int | None = None):
        super().__init__(message)
        self.error: Final = error
        self.status: Final = status


def escaped_certificate(pem: str) -> str:
    """A PEM certificate percent-encoded like nginx's ``$ssl_client_escaped_cert``."""
    return quote(pem, safe="")


@dataclass(frozen=True, slots=True)
class TokenResponse:
    """A token response (the token itself is not in the repr)."""

    access_token: str = field(repr=False)
    token_type: str
    expires_at: float
    scope: str | None
    refresh_token: str | None = field(default=None, repr=False)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


class TokenSource:
    """Gets and caches access tokens from one AS for one client.

    Args:
        issuer: the AS issuer identifier.
        client_id: the client's id.
        mode: ``dpop`` (proof on every token request, DPoP-bound token) or ``mtls``.
        auth: the client authentication method.
        key: the private key of ``private_key_jwt`` assertions.
        dpop_key: the DPoP key (default: ``key``).
        client_secret: for ``client_secret_basic``.
        certificate_pem: the client certificate, sent in ``client_cert_header`` when that is
            set (a TLS-terminating proxy or local testing); a certificate on the TLS connection
            itself is configured on ``http`` (``httpx.Client(cert=...)``).
        client_cert_header: the header the proxy in front of the AS and RS reads.
        resource: RFC 8707 resource indicators.
        scope: requested scopes.
        http: the HTTP client (created if None).
        nonces: the nonce cache shared with the resource requests.
        clock: seconds since the epoch.
    """

    def __init__(
        self,
        issuer: str,
        client_id: str,
        *,
        mode: Mode = "dpop",
        auth: AuthMethod = "private_key_jwt",
        key: DPoPKey | None = None,
        dpop_key: DPoPKey | None = None,
        client_secret: Secret | None = None,
        certificate_pem: str | None = None,
        client_cert_header: str | None = None,
        resource: Sequence[str] = (),
        scope: str | None = None,
        http: httpx.Client | None = None,
        nonces: NonceCache | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if auth == "private_key_jwt" and key is None:
            raise ValueError("private_key_jwt needs the client's key")
        if auth == "client_secret_basic" and client_secret is None:
            raise ValueError("client_secret_basic needs the client secret")
        if mode == "dpop" and (dpop_key or key) is None:
            raise ValueError("dpop mode needs a DPoP key")
        if client_cert_header is not None and certificate_pem is None:
            raise ValueError("a certificate header needs the certificate")
        self.issuer: Final = issuer
        self.client_id: Final = client_id
        self.mode: Final = mode
        self.auth: Final = auth
        self.key: Final = key
        self.dpop_key: Final = dpop_key or key
        self._secret = client_secret
        self._cert_headers: Final = (
            {client_cert_header: escaped_certificate(certificate_pem)}
            if client_cert_header is not None and certificate_pem is not None
            else {}
        )
        self.resource: Final = tuple(resource)
        self.scope: Final = scope
        self.http: Final = http or httpx.Client(timeout=10.0, follow_redirects=False)
        self.nonces: Final = nonces if nonces is not None else NonceCache()
        self._clock = clock
        self._metadata: dict[str, Any] | None = None
        self._current: TokenResponse | None = None
        self._refresh_at = 0.0
        self._lock = threading.Lock()
        self.requests = 0  # token requests sent (retries included), for tests and metrics

    # -- discovery --------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """The AS metadata (fetched once).

        Raises:
            ClientError: unreachable, or no document for exactly this issuer.
        """
        if self._metadata is not None:
            return self._metadata
        for url in metadata_urls(self.issuer):
            try:
                response = self.http.get(url, headers={"Accept": "application/json"})
            except httpx.HTTPError as exc:
                raise ClientError(f"cannot reach the issuer: {type(exc).__name__}") from None
            if response.status_code != 200:
                continue
            try:
                document = response.json()
            except ValueError:
                continue
            if isinstance(document, dict) and document.get("issuer") == self.issuer:
                self._metadata = document
                return document
        raise ClientError("no authorization server metadata for this issuer")

    # -- tokens -------------------------------------------------------------------------------

    @property
    def certificate_headers(self) -> dict[str, str]:
        """The certificate header to send to the AS and the RS (empty without one)."""
        return dict(self._cert_headers)

    def _fresh(self) -> TokenResponse | None:
        current = self._current
        if current is not None and self._clock() < self._refresh_at:
            return current
        return None

    def token(self) -> str:
        """A valid access token (cached until shortly before it expires).

        Raises:
            ClientError: the AS refused, or the response is not the binding asked for.
        """
        current = self._fresh()
        if current is not None:
            return current.access_token
        with self._lock:
            current = self._fresh()
            if current is None:
                current = self._obtain()
            return current.access_token

    async def token_async(self) -> str:
        """:meth:`token` for async code: one refresh at a time across tasks; the HTTP exchange
        runs in a worker thread."""
        current = self._fresh()
        if current is not None:
            return current.access_token
        from anyio import to_thread

        # token() holds a threading lock: concurrent tasks wait in worker threads and all but
        # one find the fresh token (no event-loop-bound lock that another loop cannot use).
        return await to_thread.run_sync(self.token)

    def invalidate(self) -> None:
        """Forget the cached token (after the RS refused it)."""
        self._current = None

    def _assertion(self, audience: str) -> str:
        assert self.key is not None  # noqa: S101 -- checked in __init__
        now = int(self._clock())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience,
            "iat": now,
            "exp": now + 60,
            "jti": secrets.token_urlsafe(16),
        }
        return sign_compact({"kid": self.key.signing_key.kid}, claims, self.key.signing_key)

    def _form(self, endpoint: str) -> tuple[dict[str, str], tuple[str, str] | None]:
        current = self._current
        if current is not None and current.refresh_token is not None:
            form = {"grant_type": "refresh_token", "refresh_token": current.refresh_token}
        else:
            form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        basic = None
        if self.auth == "private_key_jwt":
            form["client_assertion_type"] = ASSERTION_TYPE
            form["client_assertion"] = self._assertion(endpoint)
            form["client_id"] = self.client_id
        elif self.auth == "client_secret_basic":
            assert self._secret is not None  # noqa: S101 -- checked in __init__
            basic = (quote(self.client_id, safe=""), quote(self._secret.reveal(), safe=""))
        else:
            form["client_id"] = self.client_id  # RFC 8705 §2: mTLS requests carry client_id
        return form, basic

    def _obtain(self) -> TokenResponse:
        endpoint = self.metadata().get("token_endpoint")
        if not isinstance(endpoint, str):
            raise ClientError("the AS metadata has no token_endpoint")
        form, basic = self._form(endpoint)
        data: dict[str, str | list[str]] = dict(form)
        if self.resource:
            data["resource"] = list(self.resource)  # RFC 8707 §2: repeated, one per resource
        headers = dict(self._cert_headers)
        if basic is not None:  # set by hand: the DPoP flow below must not replace it
            pair = f"{basic[0]}:{basic[1]}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        auth: httpx.Auth | httpx._client.UseClientDefault = httpx.USE_CLIENT_DEFAULT
        if self.mode == "dpop":
            assert self.dpop_key is not None  # noqa: S101 -- checked in __init__

            def rebuild(request: httpx.Request) -> httpx.Request:
                # The retry carries a fresh assertion (an AS may spend a jti on sight).
                fresh, _ = self._form(endpoint)
                fresh_data: dict[str, str | list[str]] = dict(fresh)
                if self.resource:
                    fresh_data["resource"] = list(self.resource)
                kept = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
                return httpx.Request(request.method, request.url, headers=kept, data=fresh_data)

            dpop = DPoPAuth(self.dpop_key, nonces=self.nonces, clock=self._clock, rebuild=rebuild)
            auth = _Counting(dpop, self)
        try:
            response = self.http.post(endpoint, data=data, headers=headers, auth=auth)
        except httpx.HTTPError as exc:
            raise ClientError(f"token request failed: {type(exc).__name__}") from None
        if self.mode != "dpop":
            self.requests += 1
        return self._accept(response)

    def _accept(self, response: httpx.Response) -> TokenResponse:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            raise ClientError(
                f"the AS refused the token request (HTTP {response.status_code}"
                f"{', ' + error if isinstance(error, str) else ''})",
                error=error if isinstance(error, str) else None,
                status=response.status_code,
            )
        token = body.get("access_token")
        token_type = str(body.get("token_type", ""))
        if not isinstance(token, str) or not token:
            raise ClientError("the token response has no access_token")
        # RFC 9449 §5: a client that needs DPoP discards a response that is not DPoP-bound.
        if self.mode == "dpop" and token_type.lower() != "dpop":
            raise ClientError("the AS issued an unbound token where a DPoP token was required")
        if self.mode == "mtls" and token_type.lower() != "bearer":
            raise ClientError("unexpected token_type for a certificate-bound token")
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 300.0
        now = self._clock()
        result = TokenResponse(
            access_token=token,
            token_type=token_type,
            expires_at=now + lifetime,
            scope=body.get("scope") if isinstance(body.get("scope"), str) else None,
            refresh_token=body.get("refresh_token")
            if isinstance(body.get("refresh_token"), str)
            else None,
            raw={k: v for k, v in body.items() if k not in ("access_token", "refresh_token")},
        )
        ahead = min(_REFRESH_AHEAD, lifetime / 4) + secrets.randbelow(_JITTER + 1) * (
            lifetime / 300 if lifetime < 300 else 1
        )
        self._current = result
        self._refresh_at = result.expires_at - ahead
        return result

    def close(self) -> None:
        """Close the HTTP client."""
        self.http.close()

    def __repr__(self) -> str:
        return (
            f"TokenSource(issuer={self.issuer!r}, client_id={self.client_id!r}, mode={self.mode!r})"
        )


class _Counting(httpx.Auth):
    """Counts the requests a wrapped auth flow sends (the nonce retry included)."""

    requires_response_body = True

    def __init__(self, inner: DPoPAuth, source: TokenSource) -> None:
        self._inner = inner
        self._source = source

    def sync_auth_flow(self, request: httpx.Request) -> Any:
        flow = self._inner.sync_auth_flow(request)
        to_send = next(flow)
        while True:
            self._source.requests += 1
            response = yield to_send
            try:
                to_send = flow.send(response)
            except StopIteration:
                return
