"""What a protected route requires: the binding, the scopes, and a migration target.

``require``:

===================  =======================================================================
``"dpop"``           a DPoP-bound token with a valid proof (RFC 9449)
``"mtls"``           a certificate-bound token over the bound certificate (RFC 8705)
``"bound"``          either of the two (the default)
``"bearer-allowed"`` also unbound bearer tokens -- for migration; every *bound* token is still
                     held to its binding
===================  =======================================================================

RFC 9449 §7.2 downgrade protection holds whatever the policy: a DPoP-bound token under
``Bearer`` and an unbound token under ``DPoP`` are always refused.

``observe`` names a stricter target policy: requests are decided by ``require``, and those the
target would refuse are logged and counted -- the step before switching ``require`` over.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Final, Literal

from proofbound.errors import ConfigurationError, InsufficientScope, InvalidToken, Reason

__all__ = ["REQUIREMENTS", "Requirement", "RoutePolicy", "check_requirement", "check_scopes"]

Requirement = Literal["dpop", "mtls", "bound", "bearer-allowed"]
REQUIREMENTS: Final[tuple[Requirement, ...]] = ("dpop", "mtls", "bound", "bearer-allowed")
_STRICTNESS: Final = {"bearer-allowed": 0, "bound": 1, "dpop": 2, "mtls": 2}


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutePolicy:
    """The requirement of one route (or of a whole application)."""

    require: Requirement = "bound"
    scopes: tuple[str, ...] = ()
    observe: Requirement | None = None

    def __post_init__(self) -> None:
        if self.require not in REQUIREMENTS:
            raise ConfigurationError("require must be dpop, mtls, bound or bearer-allowed")
        scopes: object = self.scopes
        if isinstance(scopes, str):  # a lone string is a space-separated list, not characters
            object.__setattr__(self, "scopes", tuple(scopes.split()))
        if any(not s or " " in s for s in self.scopes):
            raise ConfigurationError("scopes must be non-empty scope tokens")
        if self.observe is not None:
            if self.observe not in REQUIREMENTS:
                raise ConfigurationError("observe must be dpop, mtls, bound or bearer-allowed")
            if _STRICTNESS[self.observe] <= _STRICTNESS[self.require]:
                raise ConfigurationError("observe must name a stricter policy than require")


def check_requirement(require: Requirement, binding: Literal["dpop", "mtls"] | None) -> None:
    """Whether a token with ``binding`` (None: unbound) satisfies ``require``.

    Raises:
        InvalidToken: ``token_binding_required``.
    """
    if require == "bearer-allowed":
        return
    if binding is None or (require in ("dpop", "mtls") and binding != require):
        raise InvalidToken(Reason.TOKEN_BINDING_REQUIRED, detail=f"route requires {require}")


def check_scopes(required: tuple[str, ...], granted: Collection[str]) -> None:
    """Every scope the route requires is granted (RFC 6750 §3.1).

    Raises:
        InsufficientScope: ``scope_insufficient``, naming the route's scopes.
    """
    if any(scope not in granted for scope in required):
        raise InsufficientScope(Reason.SCOPE_INSUFFICIENT, scopes=required)
