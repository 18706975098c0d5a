"""The guard as raw ASGI middleware, and the one function that turns an ASGI scope into a
:class:`~proofbound.resource.context.RequestContext`.

Non-HTTP scopes (websocket, lifespan) pass through untouched: a websocket route is not
protected by this middleware. A request that passes gets the
:class:`~proofbound.resource.guard.Principal` in ``scope["state"]["principal"]`` (Starlette's
``request.state.principal``); one that fails gets the guard's status and challenge and an empty
body -- the app is not called. Responses carry ``Cache-Control: no-store`` when they carry a
``DPoP-Nonce`` or depend on a client certificate (RFC 9449 §8.2, RFC 9440 §2.4).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final
from urllib.parse import quote

from proofbound.policy import RoutePolicy
from proofbound.replay.base import AsyncReplayCache
from proofbound.resource.context import (
    ProxySettings,
    RequestContext,
    client_certificate,
    headers_from_pairs,
    public_url,
)
from proofbound.resource.guard import Guard, Principal

__all__ = ["GuardMiddleware", "context_from_scope", "error_headers", "principal_headers"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Headers a browser client must be able to read on cross-origin responses.
EXPOSED_HEADERS: Final = "WWW-Authenticate, DPoP-Nonce"


def context_from_scope(scope: Scope, proxy: ProxySettings) -> RequestContext:
    """Build the guard's view of an HTTP request from its ASGI scope.

    Raises:
        InvalidToken: ``cert_malformed`` for a certificate that cannot be parsed.
    """
    headers = headers_from_pairs(
        (name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]
    )
    client = scope.get("client")
    peer = client[0] if client else None
    host = headers.get("host", (None,))[0]
    raw_path = scope.get("raw_path")
    if raw_path:  # what the client sent, still percent-encoded
        path = raw_path.decode("latin-1").split("?", 1)[0]
    else:  # the ASGI path already includes root_path; encode it back
        path = quote(scope.get("path", "/"), safe="/!$&'()*+,;=:@-._~%")
    url = public_url(
        proxy,
        scheme=scope.get("scheme", "http"),
        host=host,
        path=path,
        peer=peer,
        headers=headers,
    )
    cert = client_certificate(
        proxy,
        tls_extension=(scope.get("extensions") or {}).get("tls"),
        peer=peer,
        headers=headers,
    )
    return RequestContext(
        method=scope["method"], url=url, headers=headers, client_cert=cert, peer=peer
    )


def principal_headers(principal: Principal, ctx: RequestContext) -> list[tuple[str, str]]:
    """Headers to add to a successful response: a fresh RS nonce, no-store where needed."""
    headers: list[tuple[str, str]] = []
    if principal.next_nonce is not None:
        headers.append(("DPoP-Nonce", principal.next_nonce))
        headers.append(("Access-Control-Expose-Headers", EXPOSED_HEADERS))
    if principal.next_nonce is not None or principal.binding == "mtls":
        headers.append(("Cache-Control", "no-store"))
    return headers


def error_headers(headers: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    """The guard's error headers plus what browsers need to read them."""
    return [*headers, ("Access-Control-Expose-Headers", EXPOSED_HEADERS)]


class GuardMiddleware:
    """Protects every HTTP request of ``app`` with ``guard`` under one policy.

    Args:
        app: the ASGI application.
        guard: the guard.
        proxy: public URL and trusted-proxy settings.
        policy: the route policy (the guard's default if None).
        replay: an async replay cache (Redis), if the guard's sync one should not be used.
        exempt: paths served without a token (``/healthz``, metadata).
    """

    def __init__(
        self,
        app: ASGIApp,
        guard: Guard,
        *,
        proxy: ProxySettings | None = None,
        policy: RoutePolicy | None = None,
        replay: AsyncReplayCache | None = None,
        exempt: frozenset[str] = frozenset(),
    ) -> None:
        self.app: Final = app
        self.guard: Final = guard
        self.proxy: Final = proxy or ProxySettings()
        self.policy: Final = policy
        self.replay: Final = replay
        self.exempt: Final = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.exempt:
            await self.app(scope, receive, send)
            return
        ctx: RequestContext | None = None
        try:
            ctx = context_from_scope(scope, self.proxy)
            principal = await self.guard.authorize_async(ctx, self.policy, replay=self.replay)
        except Exception as exc:
            # Without a context (an unparsable certificate), render on the request's own scheme.
            fallback = ctx or RequestContext(
                scope.get("method", "GET"),
                "",
                headers_from_pairs(
                    (n.decode("latin-1"), v.decode("latin-1")) for n, v in scope["headers"]
                ),
            )
            rendered = self.guard.error_response(exc, fallback, self.policy)
            await _send_empty(send, rendered.status, error_headers(rendered.headers))
            return
        scope.setdefault("state", {})["principal"] = principal
        extra = [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in
                 principal_headers(principal, ctx)]  # fmt: skip

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start" and extra:
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _send_empty(send: Send, status: int, headers: list[tuple[str, str]]) -> None:
    raw = [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in headers]
    raw.append((b"content-length", b"0"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": b""})
