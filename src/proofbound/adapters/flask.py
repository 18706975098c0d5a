"""The guard for Flask: an extension with a route decorator, over the WSGI adapter.

``pb = ProofboundFlask(app, guard=guard, proxy=ProxySettings(public_base_url=...))`` and
``@pb.require(require="dpop", scopes=["read"])`` on a view: the
:class:`~proofbound.resource.guard.Principal` is in ``flask.g.principal``; a rejection aborts with
the guard's status and challenge and an empty body (an ``errorhandler`` for the status or for
``HTTPException`` runs, and ``error.get_response()`` is that response, headers included). A
fresh ``DPoP-Nonce`` and ``Cache-Control: no-store`` are added to the view's response by an
``after_request`` hook.

Behind :class:`~proofbound.adapters.wsgi.GuardWSGIMiddleware`, the request's proof is already
spent: the decorator then holds the admitted principal to its own requirement and scopes instead
of running the guard again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, Final, TypeVar, cast

try:
    from flask import Flask, Response, abort, current_app, g, request
except ImportError as exc:  # pragma: no cover - exercised by tests/adapters/test_imports.py
    raise ImportError(
        "proofbound.adapters.flask needs Flask: pip install 'proofbound[flask]'"
    ) from exc

from proofbound.adapters._route import fallback_context, narrow, route_policy
from proofbound.adapters.asgi import error_headers, principal_headers
from proofbound.adapters.wsgi import PRINCIPAL_KEY, context_from_environ
from proofbound.policy import Requirement, RoutePolicy
from proofbound.resource.context import ProxySettings, RequestContext
from proofbound.resource.guard import Guard, Principal

__all__ = ["ProofboundFlask"]

_View = TypeVar("_View", bound=Callable[..., Any])
_HEADERS: Final = "_proofbound_headers"


class ProofboundFlask:
    """The Flask extension.

    Args:
        app: the application (or call :meth:`init_app` later).
        guard: the guard.
        proxy: public URL and trusted-proxy settings.
    """

    def __init__(
        self, app: Flask | None = None, *, guard: Guard, proxy: ProxySettings | None = None
    ) -> None:
        self.guard: Final = guard
        self.proxy: Final = proxy or ProxySettings()
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Register the extension and its ``after_request`` hook on ``app``."""
        if "proofbound" not in app.extensions:
            app.after_request(_add_principal_headers)
        app.extensions["proofbound"] = self

    def require(
        self,
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
            @functools.wraps(view)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                g.principal = self._authorize(policy)
                return current_app.ensure_sync(view)(*args, **kwargs)

            return cast(_View, wrapper)

        return decorator

    def _authorize(self, policy: RoutePolicy) -> Principal:
        ctx: RequestContext | None = None
        try:
            ctx = context_from_environ(request.environ, self.proxy)
            admitted = request.environ.get(PRINCIPAL_KEY)
            if isinstance(admitted, Principal):
                narrow(admitted, policy)
                return admitted
            principal = self.guard.authorize(ctx, policy)
        except Exception as exc:
            rendered = self.guard.error_response(
                exc, ctx or fallback_context(request.method), policy
            )
            response = Response(status=rendered.status, headers=error_headers(rendered.headers))
            abort(rendered.status, response=response)
        setattr(g, _HEADERS, principal_headers(principal, ctx))
        return principal


def _add_principal_headers(response: Response) -> Response:
    for name, value in g.pop(_HEADERS, ()):
        response.headers.add(name, value)
    return response
