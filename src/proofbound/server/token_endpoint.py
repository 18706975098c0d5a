"""The token endpoint: the client_credentials grant as a list of small named checks.

Order (each step a function below; the first failure ends the request):

1. ``check_grant_type``    -- ``grant_type`` present and implemented (RFC 6749 §5.2);
   ``authorization_code`` and ``refresh_token`` continue in ``code_grants.py``.
2. ``authenticate``        -- client authentication (``client_auth.py``).
3. ``check_grant_allowed`` -- the client registered this grant (``unauthorized_client``).
4. ``granted_scope``       -- requested scopes within the registration (RFC 6749 §3.3).
5. ``audiences``           -- RFC 8707 ``resource`` values among the configured ones.
6. ``binding``             -- DPoP proof through the core verifier with AS nonces (RFC 9449 §5,
   §8) -> ``cnf.jkt``; a certificate-bound client -> ``cnf.x5t#S256`` (RFC 8705 §3.1); never
   both; a client registered for a binding is refused without its proof or certificate.
7. ``sign``                -- an RFC 9068 JWT; then a transaction that spends the assertion and
   proof ``jti`` values and records the token (``handle``, or the server's group commit); only
   then ``complete`` hands it out (a replay or a storage failure issues nothing).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, NoReturn
from urllib.parse import urlsplit

from proofbound.access_token import issue_access_token
from proofbound.dpop.nonce import RollingNonces
from proofbound.dpop.verify import DPoPVerifier, VerifiedProof
from proofbound.errors import (
    InvalidClient,
    InvalidDPoPProof,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    Reason,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from proofbound.mtls.certificate import ClientCertificate
from proofbound.server.client_auth import AuthenticatedClient, ClientAuthenticator
from proofbound.server.config import ServerSettings
from proofbound.server.forms import Form
from proofbound.server.keyring import Keyring
from proofbound.server.registration import GRANT_TYPES
from proofbound.storage.store import Issuance, ReplayDetected, Store, TokenRecord

if TYPE_CHECKING:
    from proofbound.server.code_grants import CodeGrants

__all__ = ["IssuedToken", "PendingToken", "TokenEndpoint", "TokenRequest", "narrowed_scope"]

_log: Final = logging.getLogger("proofbound.server.token")

BindingKind = Literal["dpop", "mtls", "bearer"]
REDIRECT_GRANTS: Final = frozenset({"authorization_code", "refresh_token"})


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """One token request, already parsed by the web layer."""

    form: Form  # its repr shows parameter names only
    authorization: str | None = field(repr=False)  # Basic credentials
    dpop: Sequence[str] = field(repr=False)  # proofs
    certificate: ClientCertificate | None = None


@dataclass(frozen=True, slots=True)
class PendingToken:
    """A signed token not yet handed out: it may leave the server only after ``record`` is
    committed (which spends its single-use keys)."""

    access_token: str = field(repr=False)
    record: Issuance
    binding: BindingKind
    assertion_first: bool  # single-use key #0 is the client assertion's
    proof_nonce: str | None  # the DPoP proof's nonce, if it had one


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A successful token response (the token appears only in :meth:`body`)."""

    access_token: str
    token_type: Literal["DPoP", "Bearer"]
    expires_in: int
    scope: str
    binding: BindingKind
    nonce: str | None  # a fresh DPoP-Nonce to send with the response, if any
    refresh_token: str | None = field(default=None, repr=False)

    def body(self) -> dict[str, Any]:
        """The RFC 6749 §5.1 JSON body."""
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
        }
        if self.scope:
            body["scope"] = self.scope
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        return body

    def __repr__(self) -> str:
        return f"IssuedToken(token_type={self.token_type!r}, binding={self.binding!r})"


def narrowed_scope(allowed: str, requested: str | None) -> str:
    """The one scope rule (RFC 6749 §3.3, §6): ``requested`` -- space-separated, no empty
    tokens -- if every scope in it is in ``allowed`` (a registration, or a grant being
    refreshed), repeats dropped; ``allowed`` itself when nothing is requested.

    Raises:
        InvalidScope: ``scope_invalid``.
    """
    if requested is None:
        return " ".join(allowed.split())
    wanted = requested.split(" ")
    if any(not s for s in wanted) or not set(wanted) <= set(allowed.split()):
        raise InvalidScope(Reason.SCOPE_INVALID)
    return " ".join(dict.fromkeys(wanted))


class TokenEndpoint:
    """Handles token requests for one server.

    Args:
        settings: the server settings.
        store: the database (tokens, single-use identifiers).
        keyring: the signing keys.
        authenticator: client authentication.
        nonces: the AS nonce source (None when nonces are off).
    """

    def __init__(
        self,
        settings: ServerSettings,
        store: Store,
        keyring: Keyring,
        authenticator: ClientAuthenticator,
        nonces: RollingNonces | None,
    ) -> None:
        self._settings: Final = settings
        self._store: Final = store
        self._keyring: Final = keyring
        self._auth: Final = authenticator
        self._nonces: Final = nonces
        self._proofs: Final = DPoPVerifier(settings.proof_policy, nonces=nonces)
        self.url: Final = settings.endpoint("/token")
        self.code_grants: CodeGrants | None = None  # set by the server (code flow)
        from prometheus_client import CollectorRegistry, Counter

        self.registry: Final = CollectorRegistry(auto_describe=True)
        issued = Counter(
            "proofbound_tokens_issued",
            "Access tokens issued, by binding (bearer = legacy, unbound)",
            ("binding",),
            registry=self.registry,
        )
        # One child per binding, made once (labels() looks its child up on every call).
        self._issued: Final = {kind: issued.labels(kind) for kind in ("dpop", "mtls", "bearer")}

    def handle(self, request: TokenRequest, *, now: int) -> IssuedToken:
        """Run the checks in order, issue a token and record it (one transaction of its own).

        Raises:
            OAuthError: the first failed check (``InvalidRequest``, ``InvalidClient``,
                ``UnsupportedGrantType``, ``UnauthorizedClient``, ``InvalidScope``,
                ``InvalidTarget``, ``InvalidDPoPProof``, ``UseDPoPNonce``).
            StorageUnavailable: the database failed; nothing was issued.
        """
        if request.form.get("grant_type") in REDIRECT_GRANTS:
            return self.redirect_grant(request, now=now)
        pending = self.prepare(request, now=now)
        try:
            self._store.record_issuance(pending.record.token, pending.record.single_use, now=now)
        except ReplayDetected as exc:
            self.refuse_replay(pending, exc)
        return self.complete(pending, now=now)

    def prepare(self, request: TokenRequest, *, now: int) -> PendingToken:
        """Steps 1-6 and the signature of step 7 of a ``client_credentials`` request: a token
        that may be handed out once :attr:`PendingToken.record` is written (by :meth:`handle`
        or a group commit)."""
        form = request.form
        grant = self.check_grant_type(form)
        if grant != "client_credentials":  # the others go through handle()
            raise UnsupportedGrantType(Reason.GRANT_TYPE_UNSUPPORTED)
        client = self.client(request, now)
        self.check_grant_allowed(client, grant)
        scope = self.granted_scope(client, form.get("scope"))
        audience = self.audiences(form.all("resource"))
        proof, cert = self.binding(client, request, now)
        return self.sign(client, scope, audience, proof, cert, now)

    def client(self, request: TokenRequest, now: int) -> AuthenticatedClient:
        """Step 2: client authentication (public clients allowed; the grant check and the
        registration rules keep them to the code flow)."""
        return self._auth.authenticate(
            request.form,
            authorization=request.authorization,
            certificate=request.certificate,
            endpoint=self.url,
            now=now,
            allow_public=True,
        )

    def proof(self, dpop: Sequence[str], *, uri: str, now: int) -> VerifiedProof:
        """Check a DPoP proof sent to ``uri`` of this server (POST) with the AS nonces; its
        ``jti`` is not spent here.

        Raises:
            InvalidDPoPProof, UseDPoPNonce: the proof fails RFC 9449 §4.3.
        """
        return self._proofs.verify(dpop, method="POST", uri=uri, now=now)

    def redirect_grant(self, request: TokenRequest, *, now: int) -> IssuedToken:
        """``authorization_code`` and ``refresh_token`` (``server/code_grants.py``)."""
        if self.code_grants is None:
            raise UnsupportedGrantType(Reason.GRANT_TYPE_UNSUPPORTED)
        grant = self.check_grant_type(request.form)
        client = self.client(request, now)
        self.check_grant_allowed(client, grant)
        if grant == "authorization_code":
            return self.code_grants.authorization_code(client, request, now=now)
        return self.code_grants.refresh(client, request, now=now)

    @staticmethod
    def refuse_replay(pending: PendingToken, exc: ReplayDetected) -> NoReturn:
        """The error for a spent single-use key: the assertion's or the proof's."""
        if pending.assertion_first and exc.index == 0:
            raise InvalidClient(Reason.CLIENT_ASSERTION_REPLAYED) from None
        raise InvalidDPoPProof(Reason.PROOF_REPLAYED) from None

    def complete(
        self, pending: PendingToken, *, now: int, refresh_token: str | None = None
    ) -> IssuedToken:
        """After the record is written: count, log, and pick the next DPoP nonce."""
        kind = pending.binding
        self._issued[kind].inc()
        nonce = None
        if kind == "dpop" and self._nonces is not None:
            fresh = self._nonces.issue(now)
            nonce = fresh if fresh != pending.proof_nonce else None  # RFC 9449 §8.2: a newer nonce
        token = pending.record.token
        _log.info(
            "token issued client_id=%s binding=%s jti=%s… ttl=%d",
            token.client_id,
            kind,
            token.jti[:8],
            token.expires_at - token.issued_at,
        )
        return IssuedToken(
            access_token=pending.access_token,
            token_type="DPoP" if kind == "dpop" else "Bearer",
            expires_in=token.expires_at - token.issued_at,
            scope=token.scope,
            binding=kind,
            nonce=nonce,
            refresh_token=refresh_token,
        )

    # 1
    @staticmethod
    def check_grant_type(form: Form) -> str:
        """``grant_type`` is present and one this server implements."""
        grant = form.get("grant_type")
        if grant is None:
            raise InvalidRequest(Reason.REQUEST_PARAMETER_MISSING, detail="grant_type")
        if grant not in GRANT_TYPES:
            raise UnsupportedGrantType(Reason.GRANT_TYPE_UNSUPPORTED)
        return grant

    # 3
    @staticmethod
    def check_grant_allowed(client: AuthenticatedClient, grant: str) -> None:
        """The client registered ``grant`` (RFC 6749 §5.2 ``unauthorized_client``)."""
        if grant not in client.client.metadata.get("grant_types", ()):
            raise UnauthorizedClient(Reason.GRANT_TYPE_UNAUTHORIZED)

    # 4
    @staticmethod
    def granted_scope(client: AuthenticatedClient, requested: str | None) -> str:
        """The scope to grant: the requested scopes if all are registered, else an error;
        without a request, every registered scope (RFC 6749 §3.3 default)."""
        return narrowed_scope(str(client.client.metadata.get("scope", "")), requested)

    # 5
    def audiences(self, resources: list[str]) -> str | tuple[str, ...]:
        """RFC 8707 §2: each ``resource`` must be an absolute URI without fragment and one of
        the configured resources; it is echoed verbatim as ``aud``."""
        if not resources:
            return self._settings.default_audience
        for resource in resources:
            try:
                parts = urlsplit(resource)
            except ValueError:  # e.g. an invalid IPv6 literal
                raise InvalidTarget(Reason.TARGET_INVALID, detail="not a URI") from None
            if not parts.scheme or parts.fragment or "#" in resource:
                raise InvalidTarget(Reason.TARGET_INVALID, detail="not an absolute URI")
            if resource not in self._settings.resources:
                raise InvalidTarget(Reason.TARGET_INVALID, detail="not a configured resource")
        unique = tuple(dict.fromkeys(resources))
        return unique[0] if len(unique) == 1 else unique

    # 6
    def binding(
        self, client: AuthenticatedClient, request: TokenRequest, now: int
    ) -> tuple[VerifiedProof | None, ClientCertificate | None]:
        """Which key or certificate the token is bound to (at most one)."""
        metadata = client.client.metadata
        wants_cert = bool(metadata.get("tls_client_certificate_bound_access_tokens"))
        wants_dpop = bool(metadata.get("dpop_bound_access_tokens"))
        if request.dpop and wants_cert:
            raise InvalidRequest(Reason.BINDING_CONFLICT)
        if wants_cert:
            if request.certificate is None:
                raise InvalidRequest(Reason.BINDING_CERT_REQUIRED)
            return None, request.certificate
        if not request.dpop:
            if wants_dpop:  # RFC 9449 §5.2: such a client's requests need a proof
                raise InvalidDPoPProof(Reason.PROOF_MISSING)
            return None, None
        proof = self._proofs.verify(request.dpop, method="POST", uri=self.url, now=now)
        return proof, None

    # 7
    def sign(
        self,
        client: AuthenticatedClient,
        scope: str,
        audience: str | tuple[str, ...],
        proof: VerifiedProof | None,
        cert: ClientCertificate | None,
        now: int,
        *,
        subject: str | None = None,
    ) -> PendingToken:
        """Sign the token (``sub`` = the client, or the resource owner of a code flow); what
        must be written before it may be handed out."""
        ttl = self._settings.access_token_ttl
        jti = secrets.token_urlsafe(18)
        client_id = client.client.client_id
        subject = client_id if subject is None else subject
        jkt = proof.jkt if proof is not None else None
        x5t = cert.thumbprint if cert is not None else None
        token = issue_access_token(
            self._keyring.signing_key(now),
            issuer=self._settings.issuer,
            subject=subject,
            audience=audience,
            client_id=client_id,
            now=now,
            ttl=ttl,
            jti=jti,
            scope=scope.split() if scope else None,
            jkt=jkt,
            x5t_s256=x5t,
        )
        single_use: list[tuple[bytes, int]] = []
        if client.single_use is not None:
            single_use.append(client.single_use)
        if proof is not None:
            single_use.append((proof.replay_key, proof.replay_expires_at))
        record = TokenRecord(
            jti=jti,
            client_id=client_id,
            subject=subject,
            scope=scope,
            audience=audience,
            issued_at=now,
            expires_at=now + ttl,
            jkt=jkt,
            x5t_s256=x5t,
        )
        return PendingToken(
            access_token=token,
            record=Issuance(record, tuple(single_use)),
            binding="dpop" if proof else "mtls" if cert else "bearer",
            assertion_first=client.single_use is not None,
            proof_nonce=proof.nonce if proof is not None else None,
        )
