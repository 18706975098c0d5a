"""The resource-server guard: one decision per request, in a fixed order.

1. ``Authorization`` parsed: exactly one field, scheme ``DPoP`` or ``Bearer``, a ``token68``
   value (RFC 6750 §2.1, RFC 9449 §7.1).
2. The token verified: a JWT with the issuer's keys (cached; refetched on an unknown ``kid``), or
   RFC 7662 introspection for other tokens.
3. The scheme matches the binding (RFC 9449 §7.2, always on): a DPoP-bound token only under
   ``DPoP`` with a proof, an unbound or certificate-bound token never under ``DPoP``.
4. The binding checked: ``cnf.jkt`` against the proof key (with the proof's §4.3 checks,
   ``ath`` and the RS nonce, §9), ``cnf.x5t#S256`` against the client certificate (RFC 8705 §3).
5. The route's requirement (``dpop``/``mtls``/``bound``/``bearer-allowed``), revocation, scopes.
6. The proof's ``jti`` recorded in the replay cache -- last, so it is spent only by a request
   that passed everything else.

Errors and how adapters render them (:meth:`Guard.error_response`):

==============================================  ======  ==============================
failure                                         status  challenge
==============================================  ======  ==============================
no credentials (``MissingCredentials``)         401     every accepted scheme, no error
malformed or repeated ``Authorization``         400     ``invalid_request``
any RFC 9449 §4.3 failure, missing/repeated     401     ``DPoP error="invalid_dpop_proof"``
``DPoP``, replayed proof, proof of another key
nonce missing or stale                          401     ``DPoP error="use_dpop_nonce"`` +
                                                        ``DPoP-Nonce``
token invalid, expired, revoked, downgraded,    401     ``error="invalid_token"`` on the
unbound where a binding is required, wrong or           request's scheme
missing certificate
scope missing                                   403     ``error="insufficient_scope"``
store, JWKS, feed or introspection unreachable  503     none (fail closed)
==============================================  ======  ==============================
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

from proofbound.access_token import AccessTokenVerifier, VerifiedAccessToken
from proofbound.binding import Binding, binding_from_cnf, check_binding
from proofbound.clock import Clock, SystemClock
from proofbound.dpop.nonce import RollingNonces
from proofbound.dpop.verify import DPoPVerifier, ProofPolicy, VerifiedProof
from proofbound.errors import (
    ConfigurationError,
    InvalidDPoPProof,
    InvalidRequest,
    InvalidToken,
    MissingCredentials,
    ProofboundError,
    Reason,
    StorageUnavailable,
)
from proofbound.jws import MalformedJWS, decode_segment
from proofbound.policy import Requirement, RoutePolicy, check_requirement, check_scopes
from proofbound.replay.base import AsyncReplayCache, ReplayCache, record_proof
from proofbound.replay.memory import MemoryReplayCache
from proofbound.resource.challenge import ResourceErrorResponse, Scheme, resource_error_response
from proofbound.resource.context import RequestContext
from proofbound.resource.issuers import IssuerKeys
from proofbound.resource.revocations import RevocationSource

__all__ = ["Guard", "GuardMetrics", "Principal", "TokenIntrospector", "check_scheme"]

_log: Final = logging.getLogger("proofbound.resource")
_TOKEN68: Final = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 7235 §2.1
_SCHEMES: Final[dict[str, Scheme]] = {"dpop": "DPoP", "bearer": "Bearer"}
_ACCEPTED: Final[dict[Requirement, tuple[Scheme, ...]]] = {
    "dpop": ("DPoP",),
    "mtls": ("Bearer",),
    "bound": ("DPoP", "Bearer"),
    "bearer-allowed": ("Bearer", "DPoP"),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the verified token's subject, client, scopes and binding."""

    issuer: str
    subject: str
    client_id: str
    scopes: frozenset[str]
    binding: Literal["dpop", "mtls"] | None
    thumbprint: str | None
    claims: Mapping[str, Any] = field(repr=False)
    #: a fresh RS nonce to send in ``DPoP-Nonce`` with the response (RFC 9449 §8.2), if any.
    next_nonce: str | None = None

    def public(self) -> dict[str, Any]:
        """A JSON-ready view (no token, no proof): what ``/whoami`` shows."""
        cnf: dict[str, str] = {}
        if self.binding == "dpop" and self.thumbprint:
            cnf = {"jkt": self.thumbprint}
        elif self.binding == "mtls" and self.thumbprint:
            cnf = {"x5t#S256": self.thumbprint}
        return {
            "iss": self.issuer,
            "sub": self.subject,
            "client_id": self.client_id,
            "scope": " ".join(sorted(self.scopes)),
            "binding": self.binding or "bearer",
            "cnf": cnf,
        }


class TokenIntrospector(Protocol):
    """RFC 7662 for tokens that are not JWTs (``Introspector`` is the built-in one)."""

    def introspect(self, token: str) -> Mapping[str, Any]:
        """The active response for ``token``; raise ``InvalidToken(token_inactive)`` else."""

    def close(self) -> None:
        """Release resources."""


class GuardMetrics:
    """The guard's counters, exposed through ``prometheus-client`` (a registry of their own).

    ``proofbound_guard_decisions_total{outcome, reason}``, ``..._replays_blocked_total``,
    ``..._nonce_challenges_total`` and ``..._observe_would_reject_total{reason}``. Counting is a
    locked dict increment on the request path; the registry reads the counts when scraped.
    """

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry

        self._decisions: dict[tuple[str, str], int] = {}
        self._observe: dict[str, int] = {}
        self._lock = threading.Lock()  # decisions are counted from worker threads too
        self.registry: Final = CollectorRegistry(auto_describe=True)
        self.registry.register(_GuardCollector(self))

    def count(self, outcome: str, reason: str) -> None:
        """Count one decision."""
        key = (outcome, reason)
        with self._lock:
            self._decisions[key] = self._decisions.get(key, 0) + 1

    def would_reject(self, reason: str) -> None:
        """Count one request the observed target policy would refuse."""
        with self._lock:
            self._observe[reason] = self._observe.get(reason, 0) + 1

    def value(self, name: str, **labels: str) -> float:
        """The current value of one exposed sample (0 when never counted)."""
        found = self.registry.get_sample_value(name, labels)
        return 0.0 if found is None else found

    def exposition(self) -> str:
        """Prometheus text exposition."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry).decode("utf-8")


class _GuardCollector:
    """Turns the guard's counts into Prometheus counter families at scrape time."""

    def __init__(self, metrics: GuardMetrics) -> None:
        self._metrics = metrics

    def describe(self) -> list[Any]:
        return list(self.collect())

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily

        decisions = dict(self._metrics._decisions)  # a snapshot: counting goes on meanwhile
        family = CounterMetricFamily(
            "proofbound_guard_decisions",
            "Guard decisions by outcome and reason",
            labels=("outcome", "reason"),
        )
        for (outcome, reason), count in sorted(decisions.items()):
            family.add_metric((outcome, reason), count)
        yield family
        replays = sum(n for (_, r), n in decisions.items() if r == Reason.PROOF_REPLAYED.value)
        nonces = sum(n for (_, r), n in decisions.items() if r.startswith("nonce_"))
        yield CounterMetricFamily(
            "proofbound_guard_replays_blocked",
            "Requests refused because their proof was replayed",
            value=replays,
        )
        yield CounterMetricFamily(
            "proofbound_guard_nonce_challenges",
            "Requests answered with use_dpop_nonce",
            value=nonces,
        )
        observe = CounterMetricFamily(
            "proofbound_guard_observe_would_reject",
            "Requests the observed target policy would refuse",
            labels=("reason",),
        )
        for reason, count in sorted(dict(self._metrics._observe).items()):
            observe.add_metric((reason,), count)
        yield observe


class _NeedsIO(Exception):
    """Raised by an inline decision that would have to wait on the network (then redone in a
    worker thread; nothing was spent, since the replay record comes after the decision)."""


def check_scheme(scheme: Scheme, binding: Binding | None) -> None:
    """RFC 9449 §7.2, whatever the route allows: the ``DPoP`` scheme carries DPoP-bound tokens
    only, and a DPoP-bound token is never accepted under ``Bearer`` (a downgrade).

    Raises:
        InvalidToken: ``token_scheme``.
    """
    dpop_bound = binding is not None and binding.kind == "dpop"
    if scheme == "DPoP" and not dpop_bound:
        raise InvalidToken(Reason.TOKEN_SCHEME, detail="DPoP scheme, token not DPoP-bound")
    if scheme == "Bearer" and dpop_bound:
        raise InvalidToken(Reason.TOKEN_SCHEME, detail="DPoP-bound token under Bearer")


def _credentials(ctx: RequestContext) -> tuple[Scheme, str]:
    values = ctx.header("authorization")
    if not values:
        raise MissingCredentials(Reason.CREDENTIALS_MISSING)
    if len(values) > 1:
        raise InvalidRequest(Reason.REQUEST_PARAMETER_REPEATED, detail="Authorization repeated")
    raw_scheme, _, token = values[0].strip().partition(" ")
    scheme = _SCHEMES.get(raw_scheme.lower())
    if scheme is None:
        raise MissingCredentials(Reason.CREDENTIALS_MISSING, detail="unsupported scheme")
    token = token.strip()
    # A three-segment value is checked strictly (canonical base64url) by the JWS parser; only
    # other values need the token68 check here.
    if not token or (token.count(".") != 2 and _TOKEN68.fullmatch(token) is None):
        raise InvalidRequest(Reason.REQUEST_MALFORMED, detail="Authorization is not token68")
    return scheme, token


class Guard:
    """Decides whether a request may pass, for any number of trusted issuers.

    Args:
        issuers: one :class:`IssuerKeys` per accepted issuer (JWT access tokens).
        introspector: RFC 7662 for tokens that are not JWTs (None: such tokens are refused).
        policy: the default route policy.
        proof_policy: what DPoP proofs must satisfy.
        nonces: RS nonces (``purpose="rs"``); when set, DPoP requests must carry one (§9).
        replay: the replay cache (in memory by default -- one process only).
        revocations: where revocations are learned (feed or Redis), if anywhere.
        resource_metadata: the RFC 9728 metadata URL put in every challenge.
        clock: the time source.
        audiences: this resource's identifiers for introspected tokens (default: the
            audiences of the issuers' policies).
    """

    def __init__(
        self,
        issuers: Sequence[IssuerKeys],
        *,
        introspector: TokenIntrospector | None = None,
        policy: RoutePolicy | None = None,
        proof_policy: ProofPolicy | None = None,
        nonces: RollingNonces | None = None,
        replay: ReplayCache | None = None,
        revocations: RevocationSource | None = None,
        resource_metadata: str | None = None,
        clock: Clock | None = None,
        audiences: Sequence[str] | None = None,
    ) -> None:
        if not issuers and introspector is None:
            raise ConfigurationError("a guard needs at least one issuer or an introspector")
        self._issuers: Final = {i.policy.issuer: i for i in issuers}
        self._audiences: Final = frozenset(
            audiences if audiences is not None else (a for i in issuers for a in i.policy.audiences)
        )
        if introspector is not None and not self._audiences:
            raise ConfigurationError("introspected tokens need the audiences this resource is")
        self._only: Final = issuers[0] if len(issuers) == 1 else None
        self._introspector: Final = introspector
        self.policy: Final = policy or RoutePolicy()
        self._proofs: Final = DPoPVerifier(proof_policy, nonces=nonces)
        self._nonces: Final = nonces
        self._clock: Final = clock or SystemClock()
        self.replay: Final[ReplayCache] = (
            replay if replay is not None else MemoryReplayCache(clock=self._clock)
        )
        self._revocations: Final = revocations
        self.resource_metadata: Final = resource_metadata
        self.metrics: Final = GuardMetrics()

    # -- the decision ---------------------------------------------------------------------------

    def authorize(self, ctx: RequestContext, policy: RoutePolicy | None = None) -> Principal:
        """Decide one request; the proof's ``jti`` is recorded last.

        Raises:
            ProofboundError: the rejection, for :meth:`error_response` to render.
        """
        policy = policy or self.policy
        try:
            principal, proof = self._decide(ctx, policy, self._clock.now())
            if proof is not None:
                record_proof(self.replay, proof)
        except ProofboundError as exc:
            self._rejected(exc)
            raise
        self.metrics.count("accepted", principal.binding or "bearer")
        return principal

    async def authorize_async(
        self,
        ctx: RequestContext,
        policy: RoutePolicy | None = None,
        *,
        replay: AsyncReplayCache | None = None,
    ) -> Principal:
        """:meth:`authorize` for async servers: the checks run inline (CPU only, keys cached),
        network fetches and the sync replay cache in a worker thread, an ``AsyncReplayCache``
        awaited."""
        from anyio import to_thread

        policy = policy or self.policy
        try:
            now = self._clock.now()
            try:  # CPU only when the keys are loaded and nothing needs the network
                principal, proof = self._decide(ctx, policy, now, allow_io=False)
            except _NeedsIO:
                principal, proof = await to_thread.run_sync(self._decide, ctx, policy, now)
            if proof is not None:
                if replay is not None:
                    if not await replay.add_if_absent_async(
                        proof.replay_key, expires_at=proof.replay_expires_at
                    ):
                        raise InvalidDPoPProof(Reason.PROOF_REPLAYED)
                else:
                    await to_thread.run_sync(record_proof, self.replay, proof)
        except ProofboundError as exc:
            self._rejected(exc)
            raise
        self.metrics.count("accepted", principal.binding or "bearer")
        return principal

    def _rejected(self, exc: ProofboundError) -> None:
        self.metrics.count("rejected", exc.reason.value)
        if isinstance(exc, StorageUnavailable):
            _log.error("request refused (fail closed): %s", exc.diagnostics())
        else:
            _log.info("request refused reason=%s %s", exc.reason.value, exc.detail)

    def _decide(
        self, ctx: RequestContext, policy: RoutePolicy, now: int, *, allow_io: bool = True
    ) -> tuple[Principal, VerifiedProof | None]:
        # (1) Authorization
        scheme, token = _credentials(ctx)
        # (2)-(4) token, scheme, binding, proof
        proof: VerifiedProof | None = None
        if scheme == "DPoP":
            claims, binding, proof = self._dpop_request(ctx, token, now, allow_io)
        else:
            claims, binding = self._token(token, now, allow_io)
            check_scheme("Bearer", binding)
            cert = ctx.client_cert.thumbprint if ctx.client_cert is not None else None
            check_binding(binding, cert_thumbprint=cert)
        kind = binding.kind if binding is not None else None
        # (5) requirement, revocation, scope
        check_requirement(policy.require, kind)
        if self._revocations is not None:
            if not allow_io and getattr(self._revocations, "blocking", True):
                raise _NeedsIO
            self._revocations.check(claims)
        scopes = _scopes(claims)
        check_scopes(policy.scopes, scopes)
        if policy.observe is not None:
            try:
                check_requirement(policy.observe, kind)
            except InvalidToken as exc:
                self.metrics.would_reject(exc.reason.value)
                _log.warning(
                    "observe: policy %s would refuse client_id=%s binding=%s",
                    policy.observe,
                    claims.get("client_id"),
                    kind or "bearer",
                )
        next_nonce = None
        if proof is not None and self._nonces is not None:
            fresh = self._nonces.issue(now)
            next_nonce = fresh if fresh != proof.nonce else None
        principal = Principal(
            issuer=str(claims.get("iss", "")),
            subject=str(claims.get("sub", "")),
            client_id=str(claims.get("client_id", "")),
            scopes=frozenset(scopes),
            binding=kind,
            thumbprint=binding.thumbprint if binding is not None else None,
            claims=claims,
            next_nonce=next_nonce,
        )
        return principal, proof

    def _verifier_for(self, token: str) -> IssuerKeys | None:
        if token.count(".") != 2:
            return None  # not a JWS: introspection, if configured
        if self._only is not None:
            return self._only
        try:
            payload = decode_segment(token.split(".", 2)[1])
        except MalformedJWS:
            raise InvalidToken(Reason.TOKEN_MALFORMED) from None
        keys = self._issuers.get(str(payload.get("iss")))
        if keys is None:
            raise InvalidToken(Reason.TOKEN_ISSUER)
        return keys

    def _jwt(
        self, keys: IssuerKeys, token: str, now: int, allow_io: bool = True
    ) -> VerifiedAccessToken:
        verifier = self._loaded(keys, allow_io)
        try:
            return verifier.verify(token, now=now)
        except InvalidToken as exc:
            if exc.reason is not Reason.TOKEN_KEY_UNKNOWN:
                raise
        if not allow_io:
            raise _NeedsIO
        refreshed = keys.refresh()  # an unknown kid: the issuer may have rotated (bounded)
        if refreshed is verifier:
            raise InvalidToken(Reason.TOKEN_KEY_UNKNOWN)
        return refreshed.verify(token, now=now)

    @staticmethod
    def _loaded(keys: IssuerKeys, allow_io: bool) -> AccessTokenVerifier:
        if not allow_io and not keys.loaded:
            raise _NeedsIO
        return keys.verifier()

    def _token(self, token: str, now: int, allow_io: bool = True) -> tuple[Mapping[str, Any], Any]:
        keys = self._verifier_for(token)
        if keys is not None:
            verified = self._jwt(keys, token, now, allow_io)
            return verified.claims, verified.binding
        if self._introspector is None:
            raise InvalidToken(Reason.TOKEN_MALFORMED, detail="not a JWT; no introspection")
        if not allow_io:
            raise _NeedsIO
        claims = self._introspector.introspect(token)
        # RFC 7662 leaves the audience to the resource: it must be this one, as for a JWT.
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if not any(isinstance(a, str) and a in self._audiences for a in audiences):
            raise InvalidToken(Reason.TOKEN_AUDIENCE, detail="introspected aud is not ours")
        return claims, binding_from_cnf(claims.get("cnf"))

    def _dpop_request(
        self, ctx: RequestContext, token: str, now: int, allow_io: bool = True
    ) -> tuple[Mapping[str, Any], Any, VerifiedProof]:
        dpop = ctx.header("dpop")
        keys = self._verifier_for(token)
        if keys is not None:
            verified, proof = self._jwt_with_proof(keys, dpop, token, ctx, now, allow_io)
            claims: Mapping[str, Any] = verified.claims
            binding = verified.binding
        else:
            claims, binding = self._token(token, now, allow_io)
            check_scheme("DPoP", binding)  # before a proof is checked against no key at all
            proof = self._proofs.verify(
                dpop,
                method=ctx.method,
                uri=ctx.url,
                now=now,
                access_token=token,
                binding=binding,
                require_nonce=self._nonces is not None,
            )
        check_scheme("DPoP", binding)
        return claims, binding, proof

    def _jwt_with_proof(
        self,
        keys: IssuerKeys,
        dpop: Sequence[str],
        token: str,
        ctx: RequestContext,
        now: int,
        allow_io: bool = True,
    ) -> tuple[VerifiedAccessToken, VerifiedProof]:
        verifier: AccessTokenVerifier = self._loaded(keys, allow_io)
        for attempt in (0, 1):
            try:
                return self._proofs.verify_with_token(
                    dpop,
                    token,
                    verifier,
                    method=ctx.method,
                    uri=ctx.url,
                    now=now,
                    require_nonce=self._nonces is not None,
                )
            except InvalidToken as exc:
                if exc.reason is not Reason.TOKEN_KEY_UNKNOWN or attempt:
                    raise
                if not allow_io:
                    raise _NeedsIO from None
                refreshed = keys.refresh()
                if refreshed is verifier:
                    raise
                verifier = refreshed
        raise InvalidToken(Reason.TOKEN_KEY_UNKNOWN)  # pragma: no cover - loop returns or raises

    # -- rendering ------------------------------------------------------------------------------

    def error_response(
        self, exc: BaseException, ctx: RequestContext, policy: RoutePolicy | None = None
    ) -> ResourceErrorResponse:
        """Status and headers for a rejection (unexpected errors become an opaque 503)."""
        policy = policy or self.policy
        scheme: Scheme | None = None
        values = ctx.header("authorization")
        if len(values) == 1:
            scheme = _SCHEMES.get(values[0].strip().partition(" ")[0].lower())
        error = exc if isinstance(exc, ProofboundError) else StorageUnavailable("internal error")
        if not isinstance(exc, ProofboundError):
            _log.error("guard failed: %s", type(exc).__name__, exc_info=exc)
        return resource_error_response(
            error,
            request_scheme=scheme,
            accepted_schemes=_ACCEPTED[policy.require],
            algs=self._proofs.policy.algorithms,
            resource_metadata=self.resource_metadata,
        )

    def close(self) -> None:
        """Release HTTP clients and pollers."""
        for keys in self._issuers.values():
            keys.close()
        if self._introspector is not None:
            self._introspector.close()
        close = getattr(self._revocations, "close", None)
        if callable(close):
            close()


def _scopes(claims: Mapping[str, Any]) -> set[str]:
    scope = claims.get("scope")
    return set(scope.split()) if isinstance(scope, str) else set()
