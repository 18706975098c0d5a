"""The guard as a Starlette/FastAPI dependency.

``Depends(require_dpop(guard, scopes=["read"]))`` in FastAPI, or ``await dependency(request)`` in
a Starlette endpoint, returns the :class:`~proofbound.resource.guard.Principal` (also put in
``request.state.principal``) or raises an ``HTTPException`` with the guard's status and headers
(``fastapi.HTTPException`` when FastAPI is installed, so handlers registered for either class see
it; Starlette's otherwise). The body is the framework's default error body; the challenge is in
``WWW-Authenticate``.

Successful-response headers (a fresh ``DPoP-Nonce``, ``Cache-Control: no-store``) go on the
``Response`` FastAPI injects, which FastAPI merges into the response built from the endpoint's
return value. An endpoint that returns a ``Response`` object itself, and a Starlette endpoint
(nothing is injected there), must add them to its response
(:func:`~proofbound.adapters.asgi.principal_headers`) -- or leave that to
:class:`~proofbound.adapters.asgi.GuardMiddleware`, which adds them to any response. HTTP routes
only: a websocket route has no ``Request`` to give.

Behind :class:`~proofbound.adapters.asgi.GuardMiddleware` (or a first dependency of this module
on the same request), the request's proof is already spent: the dependency then holds the
admitted principal to its own requirement and scopes instead of running the guard again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import Final, Protocol

from starlette.exceptions import HTTPException as _StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from proofbound.adapters._route import fallback_context, narrow, route_policy
from proofbound.adapters.asgi import context_from_scope, error_headers, principal_headers
from proofbound.policy import RoutePolicy
from proofbound.replay.base import AsyncReplayCache
from proofbound.resource.context import ProxySettings, RequestContext
from proofbound.resource.guard import Guard, Principal

try:
    from fastapi import HTTPException
except ImportError:  # pragma: no cover - fastapi is optional; starlette is a core dependency
    HTTPException = _StarletteHTTPException  # type: ignore[misc, assignment]

__all__ = [
    "PrincipalDependency",
    "require_bound",
    "require_dpop",
    "require_mtls",
    "require_token",
]

#: Stands for "no response given" (a Starlette caller); FastAPI always injects one.
_NO_RESPONSE: Final = Response()


class PrincipalDependency(Protocol):
    """What the factories return: ``await dependency(request[, response]) -> Principal``."""

    def __call__(self, request: Request, response: Response = ...) -> Awaitable[Principal]:
        """Authorize the request (raises ``HTTPException`` with the guard's answer)."""
        ...


def require_token(
    guard: Guard,
    policy: RoutePolicy | None = None,
    *,
    proxy: ProxySettings | None = None,
    replay: AsyncReplayCache | None = None,
) -> PrincipalDependency:
    """A dependency that admits requests satisfying ``policy`` (the guard's default if None).

    Args:
        guard: the guard.
        policy: the route policy.
        proxy: public URL and trusted-proxy settings.
        replay: an async replay cache (Redis), if the guard's sync one should not be used.
    """
    settings = proxy or ProxySettings()

    async def dependency(request: Request, response: Response = _NO_RESPONSE) -> Principal:
        ctx: RequestContext | None = None
        try:
            ctx = context_from_scope(request.scope, settings)
            admitted = getattr(request.state, "principal", None)
            if isinstance(admitted, Principal):
                narrow(admitted, policy or guard.policy)
                return admitted
            principal = await guard.authorize_async(ctx, policy, replay=replay)
        except Exception as exc:
            rendered = guard.error_response(exc, ctx or fallback_context(request.method), policy)
            headers = dict(error_headers(rendered.headers))
            raise HTTPException(rendered.status, headers=headers) from exc
        request.state.principal = principal
        if response is not _NO_RESPONSE:
            for name, value in principal_headers(principal, ctx):
                response.headers[name] = value
        return principal

    return dependency


def require_dpop(
    guard: Guard,
    *,
    scopes: str | Iterable[str] = (),
    proxy: ProxySettings | None = None,
    replay: AsyncReplayCache | None = None,
) -> PrincipalDependency:
    """A dependency that admits DPoP-bound tokens with a valid proof (RFC 9449)."""
    return require_token(guard, route_policy("dpop", scopes, None), proxy=proxy, replay=replay)


def require_mtls(
    guard: Guard,
    *,
    scopes: str | Iterable[str] = (),
    proxy: ProxySettings | None = None,
    replay: AsyncReplayCache | None = None,
) -> PrincipalDependency:
    """A dependency that admits certificate-bound tokens over their certificate (RFC 8705)."""
    return require_token(guard, route_policy("mtls", scopes, None), proxy=proxy, replay=replay)


def require_bound(
    guard: Guard,
    *,
    scopes: str | Iterable[str] = (),
    proxy: ProxySettings | None = None,
    replay: AsyncReplayCache | None = None,
) -> PrincipalDependency:
    """A dependency that admits tokens bound either way (DPoP or mTLS)."""
    return require_token(guard, route_policy("bound", scopes, None), proxy=proxy, replay=replay)
