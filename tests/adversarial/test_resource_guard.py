"""The resource-server guard: credentials, scheme/binding rules (RFC 9449 §7.2, RFC 8705 §3),
route requirements, revocation, introspection and scopes (RFC 6750 §3.1).

Every row runs one request through a real :class:`~proofbound.resource.guard.Guard` over tokens
signed by the issuer key of the shared keyring; the only defect of a row is the one its id
names. Proof-level checks (RFC 9449 §4.3) are covered by the proof tables; here the guard's own
decisions are.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from proofbound import AccessTokenPolicy, FrozenClock, create_proof, issue_access_token
from proofbound.errors import (
    InsufficientScope,
    InvalidDPoPProof,
    InvalidRequest,
    InvalidToken,
    MissingCredentials,
    Reason,
)
from proofbound.mtls.certificate import ClientCertificate
from proofbound.policy import RoutePolicy
from proofbound.resource.context import RequestContext
from proofbound.resource.guard import Guard
from proofbound.resource.issuers import IssuerKeys
from proofbound.resource.revocations import RevocationFeed
from proofbound.types import Thumbprint

from ._support import AUDIENCE, ISSUER, NOW, RS_URI, Accept, Case, Ctx, expect_rejection, params

CERT = ClientCertificate(der=b"cert-a", thumbprint=Thumbprint("A" * 43))
OTHER_CERT = ClientCertificate(der=b"cert-b", thumbprint=Thumbprint("B" * 43))


class _FixedFeed(RevocationFeed):
    """A feed whose document is given (no HTTP): the guard's revocation rule, not the poller."""

    def __init__(self, entries: list[dict[str, Any]]) -> None:
        super().__init__("http://127.0.0.1:9/unused", start=False)
        self._document = {"revocations": entries}
        self._http.close()

    def poll(self) -> bool:  # the parsing half of RevocationFeed.poll, on a fixed document
        import time

        table: dict[tuple[str, str], float] = {}
        for e in self._document["revocations"]:
            table[(e["kind"], e["value"])] = float(e["revoked_at"])
        self._entries = table
        self._updated_at = time.monotonic()
        return True


class _Introspected:
    """An introspector answering from a table (the RFC 7662 response is the input under test)."""

    def __init__(self, answers: Mapping[str, Mapping[str, Any]]) -> None:
        self._answers = answers

    def introspect(self, token: str) -> Mapping[str, Any]:
        body = self._answers.get(token, {"active": False})
        if body.get("active") is not True:
            raise InvalidToken(Reason.TOKEN_INACTIVE)
        return body

    def close(self) -> None:
        pass


def _guard(ctx: Ctx, **kwargs: Any) -> Guard:
    keys = IssuerKeys(
        AccessTokenPolicy(issuer=ISSUER, audiences=(AUDIENCE,)),
        jwks={"keys": [ctx.k.issuer.public_jwk()]},
    )
    return Guard([keys], clock=FrozenClock(NOW), **kwargs)


def _token(ctx: Ctx, *, bind: str | None = "dpop", scope: str = "read", jti: str = "") -> str:
    token = issue_access_token(
        ctx.k.issuer,
        issuer=ISSUER,
        subject="svc",
        audience=AUDIENCE,
        client_id="svc",
        now=NOW,
        ttl=300,
        jti=jti or secrets.token_urlsafe(8),
        scope=scope.split(),
        jkt=ctx.k.es256.thumbprint if bind == "dpop" else None,
        x5t_s256=CERT.thumbprint if bind == "mtls" else None,
    )
    ctx.record(token)
    return token


def _proof(ctx: Ctx, token: str) -> str:
    proof = create_proof(ctx.k.es256, htm="GET", htu=RS_URI, now=NOW, access_token=token)
    ctx.record(proof)
    return proof


def _request(
    headers: Mapping[str, list[str]], cert: ClientCertificate | None = None
) -> RequestContext:
    return RequestContext(
        method="GET",
        url=RS_URI,
        headers={k: tuple(v) for k, v in headers.items()},
        client_cert=cert,
    )


Build = Callable[[Ctx], tuple[Guard, RequestContext, RoutePolicy | None]]


def row(id_: str, exc: type[Any], reason: Reason, build: Build) -> Case:
    def action(ctx: Ctx) -> object:
        guard, request, policy = build(ctx)
        return guard.authorize(request, policy)

    return Case(id_, action, exc, reason)


def _dpop(ctx: Ctx, token: str) -> dict[str, list[str]]:
    return {"authorization": [f"DPoP {token}"], "dpop": [_proof(ctx, token)]}


def _bearer(token: str) -> dict[str, list[str]]:
    return {"authorization": [f"Bearer {token}"]}


CASES: list[Case] = [
    # RFC 6750 §3.1: no credentials -> a challenge without an error code
    row("rfc6750_s3_1_no_authorization", MissingCredentials, Reason.CREDENTIALS_MISSING,
        lambda c: (_guard(c), _request({}), None)),
    row("rfc6750_s3_1_dpop_header_without_authorization", MissingCredentials,
        Reason.CREDENTIALS_MISSING,
        lambda c: (_guard(c), _request({"dpop": [_proof(c, "x")]}), None)),
    row("rfc7235_unknown_scheme_basic", MissingCredentials, Reason.CREDENTIALS_MISSING,
        lambda c: (_guard(c), _request({"authorization": ["Basic eDp5"]}), None)),
    # RFC 6750 §2.1 / RFC 7235 §2.1: the credentials themselves
    row("rfc6750_s2_1_authorization_repeated", InvalidRequest, Reason.REQUEST_PARAMETER_REPEATED,
        lambda c: (_guard(c), _request({"authorization": [f"DPoP {_token(c)}"] * 2}), None)),
    row("rfc6750_s2_1_token_not_token68", InvalidRequest, Reason.REQUEST_MALFORMED,
        lambda c: (_guard(c), _request({"authorization": ["Bearer a,b"]}), None)),
    row("rfc6750_s2_1_scheme_without_token", InvalidRequest, Reason.REQUEST_MALFORMED,
        lambda c: (_guard(c), _request({"authorization": ["DPoP "]}), None)),
    # RFC 9449 §7.2: downgrade protection, whatever the route allows
    row("rfc9449_s7_2_dpop_bound_token_as_bearer", InvalidToken, Reason.TOKEN_SCHEME,
        lambda c: (_guard(c), _request(_bearer(_token(c))), RoutePolicy(require="bearer-allowed"))),
    row("rfc9449_s7_2_unbound_token_under_dpop", InvalidToken, Reason.TOKEN_SCHEME,
        lambda c: (_guard(c), _request(_dpop(c, _token(c, bind=None))), None)),
    row("rfc9449_s7_2_certificate_bound_token_under_dpop", InvalidToken, Reason.TOKEN_SCHEME,
        lambda c: (_guard(c), _request(_dpop(c, _token(c, bind="mtls")), CERT), None)),
    row("rfc9449_s7_1_dpop_token_without_proof", InvalidDPoPProof, Reason.PROOF_MISSING,
        lambda c: (_guard(c), _request({"authorization": [f"DPoP {_token(c)}"]}), None)),
    # route requirements
    row("policy_bound_refuses_bearer_token", InvalidToken, Reason.TOKEN_BINDING_REQUIRED,
        lambda c: (_guard(c), _request(_bearer(_token(c, bind=None))), None)),
    row("policy_dpop_refuses_mtls_token", InvalidToken, Reason.TOKEN_BINDING_REQUIRED,
        lambda c: (_guard(c), _request(_bearer(_token(c, bind="mtls")), CERT),
                   RoutePolicy(require="dpop"))),
    row("policy_mtls_refuses_dpop_token", InvalidToken, Reason.TOKEN_BINDING_REQUIRED,
        lambda c: (_guard(c), _request(_dpop(c, _token(c))), RoutePolicy(require="mtls"))),
    row("policy_observe_still_decides_by_require", InvalidToken, Reason.TOKEN_BINDING_REQUIRED,
        lambda c: (_guard(c), _request(_bearer(_token(c, bind=None))),
                   RoutePolicy(require="bound", observe="dpop"))),
    # RFC 8705 §3: certificate-bound tokens, also when bearer is allowed
    row("rfc8705_s3_guard_no_certificate", InvalidToken, Reason.CERT_MISSING,
        lambda c: (_guard(c), _request(_bearer(_token(c, bind="mtls"))),
                   RoutePolicy(require="bearer-allowed"))),
    row("rfc8705_s3_guard_other_certificate", InvalidToken, Reason.CERT_MISMATCH,
        lambda c: (_guard(c), _request(_bearer(_token(c, bind="mtls")), OTHER_CERT), None)),
    # revocation (feed entries by jti, key, certificate, client)
    row("revoked_by_jti", InvalidToken, Reason.TOKEN_REVOKED,
        lambda c: (_guard(c, revocations=_feed([("jti", "j-1")])),
                   _request(_dpop(c, _token(c, jti="j-1"))), None)),
    row("revoked_by_jkt", InvalidToken, Reason.TOKEN_REVOKED,
        lambda c: (_guard(c, revocations=_feed([("jkt", c.k.es256.thumbprint)])),
                   _request(_dpop(c, _token(c))), None)),
    row("revoked_by_x5t", InvalidToken, Reason.TOKEN_REVOKED,
        lambda c: (_guard(c, revocations=_feed([("x5t#S256", CERT.thumbprint)])),
                   _request(_bearer(_token(c, bind="mtls")), CERT), None)),
    row("revoked_by_client_id", InvalidToken, Reason.TOKEN_REVOKED,
        lambda c: (_guard(c, revocations=_feed([("client_id", "svc")])),
                   _request(_dpop(c, _token(c))), None)),
    # RFC 7662: an opaque token the AS says is inactive
    row("rfc7662_inactive_opaque_token", InvalidToken, Reason.TOKEN_INACTIVE,
        lambda c: (_guard(c, introspector=_Introspected({})),
                   _request(_bearer("opaque-token-1")), RoutePolicy(require="bearer-allowed"))),
    row("rfc7662_opaque_dpop_bound_token_as_bearer", InvalidToken, Reason.TOKEN_SCHEME,
        lambda c: (_guard(c, introspector=_Introspected(
            {"opaque-2": {"active": True, "aud": AUDIENCE, "cnf": {"jkt": c.k.es256.thumbprint}}})),
                   _request(_bearer("opaque-2")), None)),
    row("rfc7662_introspected_token_for_another_audience", InvalidToken, Reason.TOKEN_AUDIENCE,
        lambda c: (_guard(c, introspector=_Introspected(
            {"opaque-4": {"active": True, "aud": "https://other.example"}})),
                   _request(_bearer("opaque-4")), RoutePolicy(require="bearer-allowed"))),
    row("rfc7662_opaque_token_without_introspection", InvalidToken, Reason.TOKEN_MALFORMED,
        lambda c: (_guard(c), _request(_bearer("opaque-3")),
                   RoutePolicy(require="bearer-allowed"))),
    # RFC 6750 §3.1: insufficient scope
    row("rfc6750_s3_1_insufficient_scope", InsufficientScope, Reason.SCOPE_INSUFFICIENT,
        lambda c: (_guard(c), _request(_dpop(c, _token(c, scope="read"))),
                   RoutePolicy(scopes=("write",)))),
    row("rfc6750_s3_1_no_scope_claim", InsufficientScope, Reason.SCOPE_INSUFFICIENT,
        lambda c: (_guard(c), _request(_dpop(c, _token(c, scope=""))),
                   RoutePolicy(scopes=("read",)))),
]  # fmt: skip


def _feed(entries: list[tuple[str, str]]) -> RevocationFeed:
    feed = _FixedFeed([{"kind": k, "value": v, "revoked_at": NOW} for k, v in entries])
    feed.poll()
    return feed


ACCEPTED: list[Accept] = [
    Accept("dpop_bound_with_proof", lambda c: _guard(c).authorize(_request(_dpop(c, _token(c))))),
    Accept("mtls_bound_with_its_certificate",
           lambda c: _guard(c).authorize(_request(_bearer(_token(c, bind="mtls")), CERT))),
    Accept("bearer_allowed_unbound",
           lambda c: _guard(c).authorize(_request(_bearer(_token(c, bind=None))),
                                          RoutePolicy(require="bearer-allowed"))),
    Accept("revocation_of_another_jti",
           lambda c: _guard(c, revocations=_feed([("jti", "other")])).authorize(
               _request(_dpop(c, _token(c))))),
    Accept("scope_present",
           lambda c: _guard(c).authorize(_request(_dpop(c, _token(c, scope="read write"))),
                                          RoutePolicy(scopes=("write",)))),
    Accept("rfc7662_active_opaque_bearer",
           lambda c: _guard(c, introspector=_Introspected(
               {"opaque-9": {"active": True, "aud": AUDIENCE}}))
           .authorize(_request(_bearer("opaque-9")), RoutePolicy(require="bearer-allowed"))),
]  # fmt: skip


@pytest.mark.parametrize("case", params(CASES))
def test_rejected(case: Case, ctx: Ctx) -> None:
    expect_rejection(case, ctx)


@pytest.mark.parametrize("case", params(ACCEPTED))
def test_accepted(case: Accept, ctx: Ctx) -> None:
    case.action(ctx)


def test_a_revocation_does_not_reach_tokens_issued_after_it(ctx: Ctx) -> None:
    feed = _FixedFeed([{"kind": "client_id", "value": "svc", "revoked_at": NOW - 1}])
    feed.poll()
    _guard(ctx, revocations=feed).authorize(_request(_dpop(ctx, _token(ctx))))


def test_a_stale_feed_fails_closed(ctx: Ctx) -> None:
    from proofbound.errors import StorageUnavailable

    feed = RevocationFeed("http://127.0.0.1:9/feed", start=False)  # never polled successfully
    try:
        with pytest.raises(StorageUnavailable):
            _guard(ctx, revocations=feed).authorize(_request(_dpop(ctx, _token(ctx))))
    finally:
        feed.close()
