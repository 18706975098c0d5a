"""The token endpoint's redirect-based grants: ``authorization_code`` (RFC 6749 §4.1.3, PKCE
RFC 7636 §4.6, ``dpop_jkt`` RFC 9449 §10) and ``refresh_token`` (RFC 6749 §6, rotation with
reuse detection per the security BCP, RFC 9449 §5 key binding for public clients).

``authorization_code``, in order:

1. the code exists, is unexpired and was issued to this client (else ``code_invalid``);
2. ``redirect_uri`` is the one of the authorization request (``code_redirect_mismatch``);
3. PKCE: ``code_verifier`` hashes to the ``code_challenge`` (``code_verifier_invalid``);
4. binding as for every grant (``TokenEndpoint.binding``: a DPoP-bound client needs a proof);
   a code bound with ``dpop_jkt`` needs a proof by that key (``code_dpop_jkt_mismatch``);
5. a code used before fails (``code_reused``) and revokes what was issued from it (§4.1.2) --
   only at this point, and only when the request's assertion and proof ``jti`` are fresh, so
   neither a bare leaked code nor a replayed request can end the user's grant;
6. one transaction: use up the code, spend the proof ``jti``, record the access token and the
   refresh token (a concurrent second redemption loses and counts as a reuse).

``refresh_token``, in order:

1. it exists, belongs to this client, is neither revoked nor past its family's end
   (``refresh_invalid``);
2. binding; a refresh token bound to a DPoP key (public clients) needs a proof by that key
   (``refresh_key_mismatch``) -- checked BEFORE reuse, so only the key holder can trigger (or
   suffer) the family's revocation;
3. a token rotated before is a replay: the family is revoked (``refresh_reused``), unless the
   request itself is a replay (its proof ``jti`` spent: ``proof_replayed``, nothing revoked);
4. ``scope`` / ``resource`` may narrow, never widen, the grant (RFC 6749 §6);
5. one transaction: rotate (use up the old one, store its successor with the same family end)
   and record the new access token.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable
from typing import Final

from proofbound.dpop.verify import VerifiedProof
from proofbound.errors import (
    InvalidClient,
    InvalidDPoPProof,
    InvalidGrant,
    InvalidRequest,
    InvalidTarget,
    Reason,
)
from proofbound.server.authorization import (
    AuthorizationRequest,
    handle_hash,
    new_handle,
    pkce_matches,
)
from proofbound.server.client_auth import AuthenticatedClient
from proofbound.server.config import ServerSettings
from proofbound.server.token_endpoint import (
    IssuedToken,
    PendingToken,
    TokenEndpoint,
    TokenRequest,
    narrowed_scope,
)
from proofbound.storage.store import GrantUsed, RefreshRecord, ReplayDetected, Store

__all__ = ["CodeGrants", "new_family_id"]

_log: Final = logging.getLogger("proofbound.server.token")


def _required(request: TokenRequest, name: str) -> str:
    value = request.form.get(name)
    if value is None:
        raise InvalidRequest(Reason.REQUEST_PARAMETER_MISSING, detail=name)
    return value


class CodeGrants:
    """``authorization_code`` and ``refresh_token`` for one server.

    Args:
        settings: the server settings.
        store: the database.
        tokens: the token endpoint (binding checks, signing, completion).
        revoke_family: revokes a grant family's refresh and access tokens (reuse detected).
    """

    def __init__(
        self,
        settings: ServerSettings,
        store: Store,
        tokens: TokenEndpoint,
        revoke_family: Callable[[str, int], None],
    ) -> None:
        self._settings: Final = settings
        self._store: Final = store
        self._tokens: Final = tokens
        self._revoke_family: Final = revoke_family

    # -- authorization_code -------------------------------------------------------------------

    def authorization_code(
        self, client: AuthenticatedClient, request: TokenRequest, *, now: int
    ) -> IssuedToken:
        """Redeem an authorization code.

        Raises:
            InvalidGrant, InvalidRequest, InvalidDPoPProof, UseDPoPNonce, InvalidClient:
                the first failed check.
        """
        code = _required(request, "code")
        redirect_uri = request.form.get("redirect_uri")
        code_hash = handle_hash(code)
        stored = self._store.get_code(code_hash)
        if (
            stored is None
            or stored.expires_at <= now
            or stored.client_id != client.client.client_id
        ):
            raise InvalidGrant(Reason.CODE_INVALID)
        grant = AuthorizationRequest.from_params(stored.params)
        # §4.1.3: required if the authorization request had one, and then identical.
        if redirect_uri is None and grant.redirect_uri_given:
            raise InvalidRequest(Reason.REQUEST_PARAMETER_MISSING, detail="redirect_uri")
        if redirect_uri is not None and redirect_uri != grant.redirect_uri:
            raise InvalidGrant(Reason.CODE_REDIRECT_MISMATCH)
        if not pkce_matches(request.form.get("code_verifier"), grant.code_challenge):
            raise InvalidGrant(Reason.CODE_VERIFIER_INVALID)
        proof, cert = self._tokens.binding(client, request, now)
        if grant.dpop_jkt is not None:
            if proof is None:
                raise InvalidDPoPProof(Reason.PROOF_MISSING)
            if not hmac.compare_digest(proof.jkt, grant.dpop_jkt):
                raise InvalidGrant(Reason.CODE_DPOP_JKT_MISMATCH)
        # Reuse counts only from someone who also passed PKCE and the key checks with fresh
        # single-use values; a replayed request or a bare leaked code revokes nothing.
        if stored.used_at is not None:
            self._spend_before_reuse(client, proof, now)
            self._reused(stored.family_id, now)
            raise InvalidGrant(Reason.CODE_REUSED)
        pending = self._tokens.sign(
            client, grant.scope, grant.audience, proof, cert, now, subject=stored.subject
        )
        refresh = self._new_refresh(
            client, pending, stored.family_id, grant.scope, grant.audience, stored.subject,
            expires_at=now + self._settings.refresh_token_ttl,
        )  # fmt: skip
        try:
            self._store.redeem_code(
                code_hash,
                pending.record,
                None if refresh is None else (handle_hash(refresh[0]), refresh[1]),
                now=now,
            )
        except GrantUsed:  # redeemed concurrently: a reuse, unless this request is a replay
            self._spend_before_reuse(client, proof, now)
            self._reused(stored.family_id, now)
            raise InvalidGrant(Reason.CODE_REUSED) from None
        except ReplayDetected as exc:
            self._tokens.refuse_replay(pending, exc)
        return self._tokens.complete(
            pending, now=now, refresh_token=None if refresh is None else refresh[0]
        )

    # -- refresh_token ------------------------------------------------------------------------

    def refresh(
        self, client: AuthenticatedClient, request: TokenRequest, *, now: int
    ) -> IssuedToken:
        """Use a refresh token (rotating it).

        Raises:
            InvalidGrant, InvalidRequest, InvalidScope, InvalidTarget, InvalidDPoPProof,
                UseDPoPNonce, InvalidClient: the first failed check.
        """
        token = _required(request, "refresh_token")
        token_hash = handle_hash(token)
        stored = self._store.get_refresh(token_hash)
        if (
            stored is None
            or stored.client_id != client.client.client_id
            or stored.revoked_at is not None
            or stored.expires_at <= now
        ):
            raise InvalidGrant(Reason.REFRESH_INVALID)
        proof, cert = self._tokens.binding(client, request, now)
        if stored.jkt is not None:
            if proof is None:
                raise InvalidDPoPProof(Reason.PROOF_MISSING)
            if not hmac.compare_digest(proof.jkt, stored.jkt):
                raise InvalidGrant(Reason.REFRESH_KEY_MISMATCH)
        if stored.used_at is not None:
            self._spend_before_reuse(client, proof, now)
            self._reused(stored.family_id, now)
            raise InvalidGrant(Reason.REFRESH_REUSED)
        scope = narrowed_scope(stored.scope, request.form.get("scope"))
        audience = self._narrowed_audience(stored.audience, request.form.all("resource"))
        pending = self._tokens.sign(
            client, scope, audience, proof, cert, now, subject=stored.subject
        )
        successor = self._new_refresh(
            client, pending, stored.family_id, stored.scope, stored.audience, stored.subject,
            expires_at=stored.expires_at, jkt=stored.jkt,
        )  # fmt: skip
        assert successor is not None  # noqa: S101 -- a refresh_token client gets one
        try:
            self._store.rotate_refresh(
                token_hash, pending.record, (handle_hash(successor[0]), successor[1]), now=now
            )
        except GrantUsed:  # rotated concurrently: a reuse, unless this request is a replay
            self._spend_before_reuse(client, proof, now)
            self._reused(stored.family_id, now)
            raise InvalidGrant(Reason.REFRESH_REUSED) from None
        except ReplayDetected as exc:
            self._tokens.refuse_replay(pending, exc)
        return self._tokens.complete(pending, now=now, refresh_token=successor[0])

    # -- shared -------------------------------------------------------------------------------

    def _new_refresh(
        self,
        client: AuthenticatedClient,
        pending: PendingToken,
        family_id: str,
        scope: str,
        audience: str | tuple[str, ...],
        subject: str,
        *,
        expires_at: int,
        jkt: str | None = None,
    ) -> tuple[str, RefreshRecord] | None:
        """A refresh token for a client registered for the grant. A public client's is bound
        to the DPoP key of the request (RFC 9449 §5); a confidential client's to its client
        authentication (only it can use it)."""
        if "refresh_token" not in client.client.metadata.get("grant_types", ()):
            return None
        if jkt is None and client.method == "none":
            jkt = pending.record.token.jkt
            if jkt is None:  # registration requires DPoP of public clients; never unbound
                raise InvalidDPoPProof(Reason.PROOF_MISSING)
        token = pending.record.token
        record = RefreshRecord(
            family_id=family_id,
            client_id=client.client.client_id,
            subject=subject,
            scope=scope,
            audience=audience,
            jkt=jkt,
            access_jti=token.jti,
            issued_at=token.issued_at,
            expires_at=expires_at,
        )
        return new_handle(), record

    @staticmethod
    def _narrowed_audience(
        granted: str | tuple[str, ...], requested: list[str]
    ) -> str | tuple[str, ...]:
        if not requested:
            return granted
        allowed = {granted} if isinstance(granted, str) else set(granted)
        if not set(requested) <= allowed:
            raise InvalidTarget(Reason.TARGET_INVALID, detail="not in the original grant")
        unique = tuple(dict.fromkeys(requested))
        return unique[0] if len(unique) == 1 else unique

    def _spend_before_reuse(
        self, client: AuthenticatedClient, proof: VerifiedProof | None, now: int
    ) -> None:
        """Spend the request's assertion and proof ``jti`` values: a replay of a captured
        request is refused as a replay and does not revoke the family."""
        if client.single_use is not None:
            key, expires_at = client.single_use
            if not self._store.spend(key, expires_at=expires_at, now=now):
                raise InvalidClient(Reason.CLIENT_ASSERTION_REPLAYED)
        if proof is not None and not self._store.spend(
            proof.replay_key, expires_at=proof.replay_expires_at, now=now
        ):
            raise InvalidDPoPProof(Reason.PROOF_REPLAYED)

    def _reused(self, family_id: str, now: int) -> None:
        _log.warning("grant reuse detected: family %s… revoked", family_id[:8])
        self._revoke_family(family_id, now)


def new_family_id() -> str:
    """The identifier of a new grant family (one authorization, all its tokens)."""
    return secrets.token_urlsafe(16)
