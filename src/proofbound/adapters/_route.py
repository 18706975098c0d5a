"""What the per-route adapters share (no stability guarantee).

A route-level check (FastAPI dependency, Flask or Django decorator) normally runs the guard itself.
When a middleware in front of it has already admitted the request, the guard cannot run again:
the proof's ``jti`` is spent (RFC 9449 §11.1) and a second decision would be a replay. The route
then holds the principal the middleware admitted to what its own policy adds -- the binding it
requires and its scopes -- which can only narrow the middleware's decision, never widen it.
"""

from __future__ import annotations

from collections.abc import Iterable

from proofbound.policy import Requirement, RoutePolicy, check_requirement, check_scopes
from proofbound.resource.context import RequestContext
from proofbound.resource.guard import Principal


def route_policy(
    require: Requirement, scopes: str | Iterable[str], observe: Requirement | None
) -> RoutePolicy:
    """A route policy from decorator arguments (a list of scopes or one space-separated string)."""
    return RoutePolicy(
        require=require,
        scopes=tuple(scopes.split()) if isinstance(scopes, str) else tuple(scopes),
        observe=observe,
    )


def narrow(principal: Principal, policy: RoutePolicy) -> None:
    """Hold an already admitted principal to a route's policy.

    Raises:
        InvalidToken: ``token_binding_required``.
        InsufficientScope: a scope of the route is missing.
    """
    check_requirement(policy.require, principal.binding)
    check_scopes(policy.scopes, principal.scopes)


def fallback_context(method: str) -> RequestContext:
    """The context to render an error with when the request's own could not be built."""
    return RequestContext(method=method, url="", headers={})
