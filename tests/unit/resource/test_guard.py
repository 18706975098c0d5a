"""The guard's decision order, binding rules and rendering, on tokens issued by the core."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from proofbound import (
    AccessTokenPolicy,
    FrozenClock,
    RollingNonces,
    SigningKey,
    create_proof,
    generate_key,
    issue_access_token,
)
from proofbound.errors import (
    InsufficientScope,
    InvalidDPoPProof,
    InvalidRequest,
    InvalidToken,
    MissingCredentials,
    Reason,
    UseDPoPNonce,
)
from proofbound.policy import RoutePolicy
from proofbound.resource.context import RequestContext
from proofbound.resource.guard import Guard
from proofbound.resource.issuers import IssuerKeys

NOW = 1_800_000_000
ISSUER = "https://as.example"
AUD = "https://api.example"
URL = "https://api.example/orders"


class World:
    def __init__(self, nonces: bool = False) -> None:
        self.as_key = generate_key("ES256")
        self.dpop = generate_key("ES256")
        self.clock = FrozenClock(NOW)
        jwks = {"keys": [self.as_key.public_jwk()]}
        keys = IssuerKeys(AccessTokenPolicy(issuer=ISSUER, audiences=(AUD,)), jwks=jwks)
        self.nonces = (
            RollingNonces([b"n" * 32], purpose="rs", origin="https://api.example")
            if nonces
            else None
        )
        self.guard = Guard([keys], clock=self.clock, nonces=self.nonces)

    def token(self, *, jkt: str | None = None, x5t: str | None = None, scope: str = "read") -> str:
        return issue_access_token(
            self.as_key,
            issuer=ISSUER,
            subject="svc",
            audience=AUD,
            client_id="svc",
            now=NOW,
            ttl=300,
            jti=secrets.token_urlsafe(8),
            scope=scope.split(),
            jkt=jkt,
            x5t_s256=x5t,
        )

    def proof(self, token: str, *, key: SigningKey | None = None, **kw: Any) -> str:
        args: dict[str, Any] = {"htm": "GET", "htu": URL, "now": NOW, **kw}
        return create_proof(key or self.dpop, access_token=token, **args)

    def ctx(self, headers: dict[str, list[str]], method: str = "GET") -> RequestContext:
        return RequestContext(
            method=method, url=URL, headers={k: tuple(v) for k, v in headers.items()}
        )


def test_dpop_bound_token_with_its_proof_passes_once() -> None:
    w = World()
    token = w.token(jkt=w.dpop.thumbprint)
    ctx = w.ctx({"authorization": [f"DPoP {token}"], "dpop": [w.proof(token)]})
    principal = w.guard.authorize(ctx)
    assert principal.binding == "dpop"
    assert principal.thumbprint == w.dpop.thumbprint
    assert principal.public()["cnf"] == {"jkt": w.dpop.thumbprint}
    with pytest.raises(InvalidDPoPProof) as exc:
        w.guard.authorize(ctx)
    assert exc.value.reason is Reason.PROOF_REPLAYED


@pytest.mark.parametrize(
    ("build", "exc", "reason"),
    [
        (lambda w, t: {}, MissingCredentials, Reason.CREDENTIALS_MISSING),
        (
            lambda w, t: {"authorization": [f"DPoP {t}", f"DPoP {t}"]},
            InvalidRequest,
            Reason.REQUEST_PARAMETER_REPEATED,
        ),
        (lambda w, t: {"authorization": ["DPoP a b"]}, InvalidRequest, Reason.REQUEST_MALFORMED),
        (lambda w, t: {"authorization": [f"Bearer {t}"]}, InvalidToken, Reason.TOKEN_SCHEME),
        (lambda w, t: {"authorization": [f"DPoP {t}"]}, InvalidDPoPProof, Reason.PROOF_MISSING),
        (
            lambda w, t: {"authorization": [f"DPoP {t}"], "dpop": [w.proof(t), w.proof(t)]},
            InvalidDPoPProof,
            Reason.PROOF_MULTIPLE,
        ),
        (
            lambda w, t: {
                "authorization": [f"DPoP {t}"],
                "dpop": [w.proof(t, key=generate_key("ES256"))],
            },
            InvalidDPoPProof,
            Reason.JKT_MISMATCH,
        ),
        (
            lambda w, t: {"authorization": [f"DPoP {t}"], "dpop": [w.proof(t, htm="POST")]},
            InvalidDPoPProof,
            Reason.HTM_MISMATCH,
        ),
        (
            lambda w, t: {
                "authorization": [f"DPoP {t}"],
                "dpop": [w.proof(t, htu="https://api.example/other")],
            },
            InvalidDPoPProof,
            Reason.HTU_MISMATCH,
        ),
        (
            lambda w, t: {"authorization": [f"DPoP {t}"], "dpop": [w.proof(t, now=NOW - 120)]},
            InvalidDPoPProof,
            Reason.IAT_TOO_OLD,
        ),
        (
            lambda w, t: {
                "authorization": [f"DPoP {t}"],
                "dpop": [create_proof(w.dpop, htm="GET", htu=URL, now=NOW)],
            },
            InvalidDPoPProof,
            Reason.PROOF_CLAIM_MISSING,
        ),
    ],
)
def test_dpop_rejections(build: Any, exc: type[Exception], reason: Reason) -> None:
    w = World()
    token = w.token(jkt=w.dpop.thumbprint)
    with pytest.raises(exc) as caught:
        w.guard.authorize(w.ctx(build(w, token)))
    assert caught.value.reason is reason  # type: ignore[attr-defined]


def test_unbound_token_under_dpop_scheme_is_refused() -> None:
    w = World()
    token = w.token()
    with pytest.raises(InvalidToken) as caught:
        w.guard.authorize(w.ctx({"authorization": [f"DPoP {token}"], "dpop": [w.proof(token)]}))
    assert caught.value.reason is Reason.TOKEN_SCHEME


def test_bearer_allowed_accepts_unbound_but_bound_requires_a_binding() -> None:
    w = World()
    token = w.token()
    ctx = w.ctx({"authorization": [f"Bearer {token}"]})
    with pytest.raises(InvalidToken) as caught:
        w.guard.authorize(ctx)
    assert caught.value.reason is Reason.TOKEN_BINDING_REQUIRED
    assert w.guard.authorize(ctx, RoutePolicy(require="bearer-allowed")).binding is None


def test_observe_mode_counts_what_the_target_would_refuse() -> None:
    w = World()
    token = w.token()
    policy = RoutePolicy(require="bearer-allowed", observe="bound")
    w.guard.authorize(w.ctx({"authorization": [f"Bearer {token}"]}), policy)
    metrics = w.guard.metrics
    name = "proofbound_guard_observe_would_reject_total"
    assert metrics.value(name, reason="token_binding_required") == 1
    assert 'proofbound_guard_observe_would_reject_total{reason="token_binding_required"} 1.0' in (
        metrics.exposition()
    )


def test_scopes() -> None:
    w = World()
    token = w.token(jkt=w.dpop.thumbprint, scope="read")
    ctx = w.ctx({"authorization": [f"DPoP {token}"], "dpop": [w.proof(token)]})
    with pytest.raises(InsufficientScope):
        w.guard.authorize(ctx, RoutePolicy(scopes=("write",)))
    rendered = w.guard.error_response(
        InsufficientScope(Reason.SCOPE_INSUFFICIENT, scopes=("write",)), ctx
    )
    assert rendered.status == 403
    assert 'scope="write"' in dict(rendered.headers)["WWW-Authenticate"]


def test_rs_nonce_is_required_of_dpop_requests() -> None:
    w = World(nonces=True)
    token = w.token(jkt=w.dpop.thumbprint)
    ctx = w.ctx({"authorization": [f"DPoP {token}"], "dpop": [w.proof(token)]})
    with pytest.raises(UseDPoPNonce) as caught:
        w.guard.authorize(ctx)
    rendered = w.guard.error_response(caught.value, ctx)
    assert rendered.status == 401
    headers = dict(rendered.headers)
    assert headers["DPoP-Nonce"] == caught.value.nonce
    assert 'DPoP error="use_dpop_nonce"' in headers["WWW-Authenticate"]
    ok = w.ctx(
        {"authorization": [f"DPoP {token}"], "dpop": [w.proof(token, nonce=caught.value.nonce)]}
    )
    assert w.guard.authorize(ok).binding == "dpop"


def test_certificate_bound_token() -> None:
    from proofbound.mtls.certificate import ClientCertificate

    w = World()
    cert = ClientCertificate(der=b"x", thumbprint="A" * 43)  # type: ignore[arg-type]
    token = w.token(x5t="A" * 43)
    headers = {"authorization": [f"Bearer {token}"]}
    with pytest.raises(InvalidToken) as caught:
        w.guard.authorize(w.ctx(headers))
    assert caught.value.reason is Reason.CERT_MISSING
    ctx = RequestContext("GET", URL, {k: tuple(v) for k, v in headers.items()}, client_cert=cert)
    assert w.guard.authorize(ctx).binding == "mtls"
    other = ClientCertificate(der=b"y", thumbprint="B" * 43)  # type: ignore[arg-type]
    ctx = RequestContext("GET", URL, {k: tuple(v) for k, v in headers.items()}, client_cert=other)
    with pytest.raises(InvalidToken) as caught:
        w.guard.authorize(ctx)
    assert caught.value.reason is Reason.CERT_MISMATCH
