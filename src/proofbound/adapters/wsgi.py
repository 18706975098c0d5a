"""The guard as WSGI middleware, and the one function that turns a WSGI environ into a
:class:`~proofbound.resource.context.RequestContext` (Flask and Django build on it).

WSGI servers join repeated header fields into one ``HTTP_*`` value with commas. A compact JWS
and a ``token68`` credential never contain a comma, so a comma in ``HTTP_DPOP`` or
``HTTP_AUTHORIZATION`` means the field was repeated: the value is split back into its fields and
the guard refuses two proofs (RFC 9449 §4.3 step 1) or two credentials, as it does under ASGI.

WSGI also maps ``X-SSL-Client-Cert`` and ``X_SSL_Client_Cert`` to the same ``HTTP_*`` key: with a
trusted proxy's certificate header, make sure the proxy or the server drops header names with
underscores (nginx and gunicorn do by default).

A request that passes gets the :class:`~proofbound.resource.guard.Principal` in
``environ["proofbound.principal"]``; one that fails gets the guard's status and challenge and an
empty body -- the app is not called.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import quote
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from proofbound.adapters._route import fallback_context
from proofbound.adapters.asgi import error_headers, principal_headers
from proofbound.policy import RoutePolicy
from proofbound.resource.context import (
    ProxySettings,
    RequestContext,
    client_certificate,
    public_url,
)
from proofbound.resource.guard import Guard

__all__ = ["GuardWSGIMiddleware", "PRINCIPAL_KEY", "context_from_environ"]

#: Where the admitted principal is put.
PRINCIPAL_KEY: Final = "proofbound.principal"
#: Fields whose comma-joined value is split back into the repeated fields.
_SPLIT: Final = frozenset({"dpop", "authorization"})
#: RFC 3986 §3.3 pchar and "/": what stays as is when PATH_INFO is re-encoded.
_PATH_SAFE: Final = "/!$&'()*+,;=:@-._~"


def _headers(environ: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    headers: dict[str, tuple[str, ...]] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").lower()
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = key.replace("_", "-").lower()
        else:
            continue
        if not isinstance(value, str):
            continue
        if name in _SPLIT and "," in value:
            headers[name] = tuple(part.strip() for part in value.split(","))
        else:
            headers[name] = (value,)
    return headers


def _path(environ: Mapping[str, Any]) -> str:
    # PEP 3333: SCRIPT_NAME and PATH_INFO are percent-decoded bytes as latin-1; htu is compared
    # with the encoded form (RFC 9449 §4.3 step 9), so encode them again.
    raw = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
    return quote(raw.encode("latin-1"), safe=_PATH_SAFE) or "/"


def context_from_environ(environ: Mapping[str, Any], proxy: ProxySettings) -> RequestContext:
    """Build the guard's view of a request from its WSGI environ.

    The path is ``SCRIPT_NAME`` + ``PATH_INFO``; the peer is ``REMOTE_ADDR``; without a public
    base URL, ``wsgi.url_scheme`` and ``HTTP_HOST`` (or ``SERVER_NAME``/``SERVER_PORT``) make the
    origin. A client certificate comes from ``SSL_CLIENT_CERT`` (set by the server, e.g. Apache
    ``SSLOptions +ExportCertData``; never a request header) or from a trusted proxy's header.

    Raises:
        InvalidToken: ``cert_malformed`` for a certificate that cannot be parsed.
    """
    headers = _headers(environ)
    peer = environ.get("REMOTE_ADDR") or None
    host = environ.get("HTTP_HOST")
    if not host and environ.get("SERVER_NAME"):
        host = f"{environ['SERVER_NAME']}:{environ.get('SERVER_PORT', '80')}"
    url = public_url(
        proxy,
        scheme=str(environ.get("wsgi.url_scheme", "http")),
        host=host,
        path=_path(environ),
        peer=peer,
        headers=headers,
    )
    server_cert = environ.get("SSL_CLIENT_CERT")
    cert = client_certificate(
        proxy,
        tls_extension={"client_cert_chain": [server_cert]} if server_cert else None,
        peer=peer,
        headers=headers,
    )
    return RequestContext(
        method=str(environ.get("REQUEST_METHOD", "GET")),
        url=url,
        headers=headers,
        client_cert=cert,
        peer=peer,
    )


class GuardWSGIMiddleware:
    """Protects every request of a WSGI ``app`` with ``guard`` under one policy.

    Args:
        app: the WSGI application.
        guard: the guard.
        proxy: public URL and trusted-proxy settings.
        policy: the route policy (the guard's default if None).
        exempt: ``PATH_INFO`` values served without a token (``/healthz``, metadata).
    """

    def __init__(
        self,
        app: WSGIApplication,
        guard: Guard,
        *,
        proxy: ProxySettings | None = None,
        policy: RoutePolicy | None = None,
        exempt: frozenset[str] = frozenset(),
    ) -> None:
        self.app: Final = app
        self.guard: Final = guard
        self.proxy: Final = proxy or ProxySettings()
        self.policy: Final = policy
        self.exempt: Final = exempt

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "") in self.exempt:
            return self.app(environ, start_response)
        ctx: RequestContext | None = None
        try:
            ctx = context_from_environ(environ, self.proxy)
            principal = self.guard.authorize(ctx, self.policy)
        except Exception as exc:
            method = str(environ.get("REQUEST_METHOD", "GET"))
            rendered = self.guard.error_response(exc, ctx or fallback_context(method), self.policy)
            headers = [*error_headers(rendered.headers), ("Content-Length", "0")]
            start_response(_status_line(rendered.status), headers)
            return _EMPTY
        environ[PRINCIPAL_KEY] = principal
        extra = principal_headers(principal, ctx)
        if not extra:
            return self.app(environ, start_response)

        def start_with_headers(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None, /
        ) -> Callable[[bytes], object]:
            return start_response(status, [*headers, *extra], exc_info)

        return self.app(environ, start_with_headers)


_EMPTY: Final[tuple[bytes, ...]] = ()


def _status_line(status: int) -> str:
    return f"{status} {HTTPStatus(status).phrase}"
