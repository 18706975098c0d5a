"""The guard for Django: a middleware for a whole site and a view decorator.

Settings:

``PROOFBOUND_GUARD``
    a :class:`~proofbound.resource.guard.Guard`, a callable returning one, or the dotted path of
    either (resolved once and cached; required).
``PROOFBOUND_PROXY``
    a :class:`~proofbound.resource.context.ProxySettings` (public URL, trusted proxies).
``PROOFBOUND_EXEMPT``
    ``request.path_info`` values :class:`GuardMiddleware` serves without a token.

The admitted :class:`~proofbound.resource.guard.Principal` is ``request.principal``; a rejection
is an empty :class:`~django.http.HttpResponse` with the guard's status and challenge. A fresh
``DPoP-Nonce`` and ``Cache-Control: no-store`` are set on the view's response. Both run sync or
async, as the stack around them does (under ASGI the guard's async path is used, and the request
context is built from the ASGI scope).

Behind :class:`GuardMiddleware`, the request's proof is already spent: the decorator then holds
the admitted principal to its own requirement and scopes instead of running the guard again.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Final, TypeVar, cast

# ``settings`` is bound as ``_settings``: introspecting the lazy object (``inspect.isclass``)
# would configure it.
try:
    from asgiref.sync import iscoroutinefunction, markcoroutinefunction
    from django.conf import settings as _settings
    from django.core.exceptions import ImproperlyConfigured
    from django.http import HttpRequest, HttpResponse
    from django.utils.module_loading import import_string
except ImportError as exc:  # pragma: no cover - exercised by tests/adapters/test_imports.py
    raise ImportError(
        "proofbound.adapters.django needs Django: pip install 'proofbound[django]'"
    ) from exc

from proofbound.adapters._route import fallback_context, narrow, route_policy
from proofbound.adapters.asgi import context_from_scope, error_headers, principal_headers
from proofbound.adapters.wsgi import context_from_environ
from proofbound.policy import Requirement, RoutePolicy
from proofbound.resource.context import ProxySettings, RequestContext
from proofbound.resource.guard import Guard, Principal

__all__ = ["GuardMiddleware", "guard_from_settings", "require"]

_View = TypeVar("_View", bound=Callable[..., Any])
_lock: Final = threading.Lock()
_resolved: dict[object, Guard] = {}


def guard_from_settings() -> Guard:
    """The guard named by ``PROOFBOUND_GUARD`` (a factory or path is resolved once).

    Raises:
        ImproperlyConfigured: the setting is missing or does not lead to a ``Guard``.
    """
    value: object = getattr(_settings, "PROOFBOUND_GUARD", None)
    if isinstance(value, Guard):
        return value
    if value is None:
        raise ImproperlyConfigured("PROOFBOUND_GUARD is not set")
    with _lock:
        guard = _resolved.get(value)
        if guard is None:
            found = import_string(value) if isinstance(value, str) else value
            made = found() if callable(found) and not isinstance(found, Guard) else found
            if not isinstance(made, Guard):
                raise ImproperlyConfigured("PROOFBOUND_GUARD must name a Guard or a factory")
            guard = _resolved[value] = made
    return guard


def _proxy() -> ProxySettings:
    value = getattr(_settings, "PROOFBOUND_PROXY", None)
    if value is None:
        return ProxySettings()
    if not isinstance(value, ProxySettings):
        raise ImproperlyConfigured("PROOFBOUND_PROXY must be a ProxySettings")
    return value


def _context(request: HttpRequest, proxy: ProxySettings) -> RequestContext:
    scope = getattr(request, "scope", None)  # ASGIRequest: exact headers, raw path, TLS
    if isinstance(scope, dict):
        return context_from_scope(scope, proxy)
    return context_from_environ(request.META, proxy)


def _reject(
    guard: Guard,
    exc: Exception,
    ctx: RequestContext | None,
    request: HttpRequest,
    policy: RoutePolicy | None,
) -> HttpResponse:
    rendered = guard.error_response(exc, ctx or fallback_context(request.method), policy)
    return HttpResponse(status=rendered.status, headers=dict(error_headers(rendered.headers)))


def _finish(response: HttpResponse, headers: list[tuple[str, str]]) -> HttpResponse:
    for name, value in headers:
        response[name] = value
    return response


class GuardMiddleware:
    """Protects every request (but ``PROOFBOUND_EXEMPT``) with the guard's default policy."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response: Final = get_response
        self.guard: Final = guard_from_settings()
        self.proxy: Final = _proxy()
        self.exempt: Final = frozenset(getattr(_settings, "PROOFBOUND_EXEMPT", ()))
        self._async: Final = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        """Admit or reject one request."""
        if self._async:
            return self._acall(request)
        if request.path_info in self.exempt:
            return self.get_response(request)
        ctx: RequestContext | None = None
        try:
            ctx = _context(request, self.proxy)
            principal = self.guard.authorize(ctx)
        except Exception as exc:
            return _reject(self.guard, exc, ctx, request, None)
        request.principal = principal
        return _finish(self.get_response(request), principal_headers(principal, ctx))

    async def _acall(self, request: HttpRequest) -> Any:
        if request.path_info in self.exempt:
            return await self.get_response(request)
        ctx: RequestContext | None = None
        try:
            ctx = _context(request, self.proxy)
            principal = await self.guard.authorize_async(ctx)
        except Exception as exc:
            return _reject(self.guard, exc, ctx, request, None)
        request.principal = principal
        return _finish(await self.get_response(request), principal_headers(principal, ctx))


def require(
    require: Requirement = "bound",
    *,
    scopes: str | Iterable[str] = (),
    observe: Requirement | None = None,
) -> Callable[[_View], _View]:
    """A view decorator admitting requests that satisfy the policy (checked at import).

    Args:
        require: ``"dpop"``, ``"mtls"``, ``"bound"`` or ``"bearer-allowed"``.
        scopes: the scopes the token must carry.
        observe: a stricter target policy to log and count (migration).
    """
    policy = route_policy(require, scopes, observe)

    def decorator(view: _View) -> _View:
        if iscoroutinefunction(view):
            return cast(_View, _async_view(view, policy))

        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            guard = guard_from_settings()
            ctx: RequestContext | None = None
            try:
                ctx = _context(request, _proxy())
                principal = _admitted(request, policy)
                headers: list[tuple[str, str]] = []
                if principal is None:
                    principal = guard.authorize(ctx, policy)
                    headers = principal_headers(principal, ctx)
            except Exception as exc:
                return _reject(guard, exc, ctx, request, policy)
            request.principal = principal
            return _finish(view(request, *args, **kwargs), headers)

        return cast(_View, wrapper)

    return decorator


def _async_view(
    view: Callable[..., Awaitable[Any]], policy: RoutePolicy
) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(view)
    async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        guard = guard_from_settings()
        ctx: RequestContext | None = None
        try:
            ctx = _context(request, _proxy())
            principal = _admitted(request, policy)
            headers: list[tuple[str, str]] = []
            if principal is None:
                principal = await guard.authorize_async(ctx, policy)
                headers = principal_headers(principal, ctx)
        except Exception as exc:
            return _reject(guard, exc, ctx, request, policy)
        request.principal = principal
        return _finish(await view(request, *args, **kwargs), headers)

    return wrapper


def _admitted(request: HttpRequest, policy: RoutePolicy) -> Principal | None:
    # The middleware's principal, held to the route's policy (its proof is spent).
    admitted = getattr(request, "principal", None)
    if not isinstance(admitted, Principal):
        return None
    narrow(admitted, policy)
    return admitted
