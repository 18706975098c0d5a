"""The authorization server as a Starlette application: request parsing and response rendering
only; every decision is made by the modules it calls.

Endpoints (paths below the issuer's path; all discoverable from the metadata):

=============================================  ========================================
``GET  /.well-known/oauth-authorization-server``  RFC 8414 metadata (path inserted, §3.1)
``GET  /jwks``                                 the signing keys (RFC 7517)
``POST /token``                                client_credentials, authorization_code, refresh_token
``POST /par``                                  pushed authorization requests (RFC 9126)
``GET  /authorize``                            authorization endpoint (RFC 6749 §4.1.1)
``GET|POST /login``, ``GET|POST /consent``     the user's sign-in and consent pages
``POST /introspect``                           RFC 7662
``POST /revoke``                               RFC 7009
``POST /register``                             RFC 7591 (with ``--registration-token``)
``GET  /revocations``                          the revocation feed
``POST /admin/revoke``                         revocation by token/key/cert/client (admin)
``GET  /healthz``, ``GET /metrics``            liveness (checks the database), counters
=============================================  ========================================

Database work runs inline for the embedded SQLite store and in a worker thread for PostgreSQL;
token issuances are written by a group-commit thread (``server/writer.py``).
Every response that carries a token, a secret or a nonce has ``Cache-Control: no-store``.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Final, NamedTuple, TypeVar

from anyio import to_thread
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from proofbound.clock import Clock, SystemClock
from proofbound.discovery import metadata_path
from proofbound.dpop.nonce import RollingNonces
from proofbound.dpop.verify import VerifiedProof
from proofbound.errors import (
    InvalidClient,
    InvalidDPoPProof,
    InvalidRequest,
    InvalidToken,
    ProofboundError,
    Reason,
    StorageUnavailable,
)
from proofbound.mtls.certificate import ClientCertificate
from proofbound.resource.challenge import Challenge
from proofbound.resource.context import ProxySettings, client_certificate
from proofbound.server.browser import BrowserEndpoints
from proofbound.server.client_auth import AuthenticatedClient, ClientAuthenticator
from proofbound.server.code_grants import CodeGrants
from proofbound.server.config import Secret, ServerSettings
from proofbound.server.forms import Form, parse_form, parse_json_object, single_header
from proofbound.server.introspection import introspect
from proofbound.server.jwks_fetch import JwksFetcher
from proofbound.server.keyring import Keyring
from proofbound.server.metadata import PATHS, authorization_server_metadata, issuer_path
from proofbound.server.registration import register_client
from proofbound.server.responses import token_error_response
from proofbound.server.revocation import RedisPublisher, RevocationPublisher, Revoker
from proofbound.server.token_endpoint import REDIRECT_GRANTS, TokenEndpoint, TokenRequest
from proofbound.server.users import LocalUsers, UserAuthenticator
from proofbound.server.writer import GroupCommitWriter
from proofbound.storage.store import ReplayDetected, Store

__all__ = ["AuthorizationServer", "create_app"]

_log: Final = logging.getLogger("proofbound.server")
_T = TypeVar("_T")
_NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_NONCE_SECRET_KEY: Final = "dpop_nonce_secret"  # noqa: S105 -- the name of a row
_SESSION_SECRET_KEY: Final = "session_secret"  # noqa: S105 -- the name of a row


#: Compact JSON; made once (``json.dumps`` with options builds an encoder per call).
_JSON: Final = json.JSONEncoder(separators=(",", ":"))

#: Token-request parameters that may repeat (RFC 8707 ``resource``).
_TOKEN_REPEATABLE: Final = frozenset({"resource"})

#: A token-endpoint answer: status, headers and body, sent by either path of ``_ASGIApp``.
_Answer = tuple[int, list[tuple[str, str]], bytes]


class _TokenHead(NamedTuple):
    """What the token endpoint reads of a request's headers (latin-1, as Starlette decodes)."""

    content_type: str | None
    content_length: str | None
    authorization: list[str]
    dpop: list[str]
    certificate: list[str]  # the configured certificate header (used only from a trusted proxy)


def _token_head(raw: Iterable[tuple[bytes, bytes]], cert_header: bytes) -> _TokenHead:
    """One pass over the ASGI header list, keeping only what the token endpoint reads."""
    content_type = content_length = None
    authorization: list[str] = []
    dpop: list[str] = []
    certificate: list[str] = []
    for name, value in raw:
        if name == b"content-type":
            content_type = value.decode("latin-1")
        elif name == b"content-length":
            content_length = value.decode("latin-1")
        elif name == b"authorization":
            authorization.append(value.decode("latin-1"))
        elif name == b"dpop":
            dpop.append(value.decode("latin-1"))
        elif name == cert_header:
            certificate.append(value.decode("latin-1"))
    return _TokenHead(content_type, content_length, authorization, dpop, certificate)


def _json(
    body: Mapping[str, Any], status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        _JSON.encode(body),
        status_code=status,
        media_type="application/json",
        headers={**_NO_STORE, **(headers or {})},
    )


def _error_answer(exc: BaseException, *, basic_realm: str | None = None) -> _Answer:
    rendered = token_error_response(exc, basic_realm=basic_realm)
    if isinstance(exc, ProofboundError):
        _log.info("request refused reason=%s %s", exc.reason.value, exc.detail)
    else:
        _log.error("request failed: %s", type(exc).__name__, exc_info=exc)
    return rendered.status, list(rendered.headers), rendered.body


def _oauth_error(exc: BaseException, *, basic_realm: str | None = None) -> Response:
    status, headers, body = _error_answer(exc, basic_realm=basic_realm)
    return Response(body, status_code=status, headers=dict(headers))


def _bearer_error(realm: str) -> Response:
    challenge = Challenge(
        "Bearer",
        (
            ("realm", realm),
            ("error", "invalid_token"),
            ("error_description", "Token is not recognised"),
        ),
    )
    return _json(
        {"error": "invalid_token", "error_description": "Token is not recognised"},
        401,
        {"WWW-Authenticate": challenge.render()},
    )


def _bearer_matches(request: Request, secret: Secret) -> bool:
    values = request.headers.getlist("authorization")
    if len(values) != 1:
        return False
    scheme, _, token = values[0].partition(" ")
    return scheme.lower() == "bearer" and bool(token) and secret.matches(token.strip())


class AuthorizationServer:
    """The assembled server: settings, store, keys, nonces and the endpoint handlers.

    Args:
        settings: validated settings.
        store: an opened, migrated store (closed by :meth:`close`).
        clock: the time source (tests inject a frozen one).
        publisher: where revocations are announced besides the database; by default Redis
            when ``settings.redis_url`` is set.
        fetch_jwks: how client ``jwks_uri`` documents are fetched (tests inject one).
        users: who may log in at the authorization endpoint; by default the local users
            (``proofbound users add``).
    """

    def __init__(
        self,
        settings: ServerSettings,
        store: Store,
        *,
        clock: Clock | None = None,
        publisher: RevocationPublisher | None = None,
        fetch_jwks: Callable[[str], Mapping[str, Any]] | None = None,
        users: UserAuthenticator | None = None,
    ) -> None:
        self.settings: Final = settings
        self.store: Final = store
        self._inline: Final = store.dialect == "sqlite"
        self._proxy: Final = ProxySettings(
            trusted_proxies=settings.trusted_proxies,
            client_cert_header=settings.client_cert_header,
            client_cert_format=settings.client_cert_format,
        )
        # ASGI header names are lower case; so is the setting (checked by ProxySettings).
        self._cert_header: Final = settings.client_cert_header.lower().encode("latin-1")
        self.clock: Final = clock or SystemClock()
        now = self.clock.now()
        self.keyring: Final = Keyring(store, alg=settings.signing_alg, now=now)
        self.nonces: Final = (
            RollingNonces([self._nonce_secret()], purpose="as", origin=settings.issuer)
            if settings.dpop_nonce
            else None
        )
        self._fetcher = JwksFetcher() if fetch_jwks is None else None
        resolver = fetch_jwks if fetch_jwks is not None else self._fetcher
        self.authenticator: Final = ClientAuthenticator(settings, store.get_client, resolver)
        self.tokens: Final = TokenEndpoint(
            settings, store, self.keyring, self.authenticator, self.nonces
        )
        self.writer: Final = GroupCommitWriter(store, self.clock.now)
        self.tokens.code_grants = CodeGrants(
            settings, store, self.tokens, lambda family, at: self.revoker.revoke_family(family, at)
        )
        session_secret = bytes.fromhex(
            store.ensure_meta(_SESSION_SECRET_KEY, secrets.token_hex(32))
        )
        self.browser: Final = BrowserEndpoints(
            self, users if users is not None else LocalUsers(store.engine), session_secret
        )
        if publisher is None and settings.redis_url is not None:
            publisher = RedisPublisher(settings.redis_url)
        self._publisher = publisher
        self.revoker: Final = Revoker(
            store, self.keyring, max_token_ttl=settings.access_token_ttl, publisher=publisher
        )

    async def blocking(self, work: Callable[[], _T]) -> _T:
        """Run database-bound work: inline for the embedded SQLite store, whose work is
        local and sub-millisecond (a thread hop costs more than it spares the loop); in a
        worker thread for PostgreSQL, whose round trips would stall the event loop."""
        if self._inline:
            return work()
        return await to_thread.run_sync(work)

    def _nonce_secret(self) -> bytes:
        # Shared through the database, so every process of this AS accepts the others' nonces.
        value = self.store.ensure_meta(_NONCE_SECRET_KEY, secrets.token_hex(32))
        return bytes.fromhex(value)

    def close(self) -> None:
        """Release the database, Redis and HTTP clients."""
        close = getattr(self._publisher, "close", None)
        if callable(close):
            close()
        if self._fetcher is not None:
            self._fetcher.close()
        self.writer.close()
        self.store.close()

    # -- request helpers ------------------------------------------------------------------------

    def certificate(self, request: Request) -> ClientCertificate | None:
        """The client certificate of the request: from the TLS connection (ASGI TLS extension)
        or, only from a trusted proxy, from the one configured header (the same rule as the
        resource side: :func:`proofbound.resource.context.client_certificate`).

        Raises:
            InvalidClient: ``client_cert_malformed`` -- the certificate cannot be parsed.
        """
        name = self.settings.client_cert_header
        return self._certificate(request.scope, request.headers.getlist(name))

    def _certificate(self, scope: Scope, header: list[str]) -> ClientCertificate | None:
        client = scope.get("client")
        try:
            return client_certificate(
                self._proxy,
                tls_extension=(scope.get("extensions") or {}).get("tls"),
                peer=client[0] if client else None,
                headers={self.settings.client_cert_header: header},
            )
        except InvalidToken:
            raise InvalidClient(Reason.CLIENT_CERT_MALFORMED) from None

    async def read_form(
        self, request: Request, *, repeatable: frozenset[str] = frozenset({"resource"})
    ) -> Form:
        """The POSTed form (bounded; each parameter once, except ``repeatable`` ones).

        Raises:
            InvalidRequest: not a POST, not a form, too large, or a repeated parameter.
        """
        if request.method != "POST":
            raise InvalidRequest(Reason.REQUEST_MALFORMED, detail="POST only")
        body = await _bounded_body(request, self.settings.max_body_bytes)
        return parse_form(
            body,
            request.headers.get("content-type"),
            max_bytes=self.settings.max_body_bytes,
            repeatable=repeatable,
        )

    @staticmethod
    def oauth_error(exc: BaseException, *, basic_realm: str | None = None) -> Response:
        """An endpoint error as RFC 6749 §5.2 JSON (opaque 500 for anything unexpected)."""
        return _oauth_error(exc, basic_realm=basic_realm)

    @staticmethod
    def json_response(body: Mapping[str, Any], status: int = 200) -> Response:
        """A ``no-store`` JSON response."""
        return _json(body, status)

    # -- endpoints ------------------------------------------------------------------------------

    async def metadata(self, request: Request) -> Response:
        """RFC 8414 metadata."""
        return JSONResponse(authorization_server_metadata(self.settings))

    async def jwks(self, request: Request) -> Response:
        """The public signing keys."""
        return JSONResponse(
            self.keyring.jwks(self.clock.now()), headers={"Cache-Control": "max-age=60"}
        )

    async def token(self, request: Request) -> Response:
        """The token endpoint, routed (requests with ``Origin``: CORS applies)."""
        status, headers, body = await self.token_answer(request.scope, request.receive)
        return Response(body, status_code=status, headers=dict(headers))

    async def token_answer(self, scope: Scope, receive: Receive) -> _Answer:
        """The token endpoint on the ASGI request itself: what to answer (either path of
        the application sends it; the direct one without Starlette's request and response
        objects, which cost more than their work here)."""
        realm = None
        try:
            if scope["method"] != "POST":
                raise InvalidRequest(Reason.REQUEST_MALFORMED, detail="POST only")
            head = _token_head(scope["headers"], self._cert_header)
            limit = self.settings.max_body_bytes
            body = await _read_body(receive, head.content_length, limit)
            form = parse_form(
                body, head.content_type, max_bytes=limit, repeatable=_TOKEN_REPEATABLE
            )
            authorization = single_header(head.authorization, "Authorization")
            realm = self.settings.issuer if authorization is not None else None
            token_request = TokenRequest(
                form=form,
                authorization=authorization,
                dpop=head.dpop,
                certificate=self._certificate(scope, head.certificate),
            )
            now = self.clock.now()
            if form.get("grant_type") in REDIRECT_GRANTS:  # rare: one transaction of its own
                issued = await self.blocking(
                    lambda: self.tokens.redirect_grant(token_request, now=now)
                )
            else:
                pending = await self.blocking(lambda: self.tokens.prepare(token_request, now=now))
                try:
                    await self.writer.write(pending.record)
                except ReplayDetected as exc:
                    self.tokens.refuse_replay(pending, exc)
                issued = self.tokens.complete(pending, now=now)
        except Exception as exc:
            return _error_answer(exc, basic_realm=realm)
        headers = [*_NO_STORE.items(), ("Content-Type", "application/json")]
        if issued.nonce is not None:
            headers.append(("DPoP-Nonce", issued.nonce))
        return 200, headers, _JSON.encode(issued.body()).encode("ascii")

    def authenticate_spending(
        self,
        form: Form,
        *,
        authorization: str | None,
        certificate: ClientCertificate | None,
        endpoint: str,
        now: int,
        allow_public: bool = False,
    ) -> AuthenticatedClient:
        """Client authentication for endpoints other than the token endpoint: the assertion's
        ``jti`` is spent on its own (blocking: call through :meth:`blocking`)."""
        client = self.authenticator.authenticate(
            form,
            authorization=authorization,
            certificate=certificate,
            endpoint=endpoint,
            now=now,
            allow_public=allow_public,
        )
        if client.single_use is not None:
            key, expires_at = client.single_use
            if not self.store.spend(key, expires_at=expires_at, now=now):
                raise InvalidClient(Reason.CLIENT_ASSERTION_REPLAYED)
        return client

    def spend_proof(self, proof: VerifiedProof, now: int) -> None:
        """Spend a DPoP proof's ``jti`` outside the token endpoint (PAR).

        Raises:
            InvalidDPoPProof: ``proof_replayed``.
        """
        if not self.store.spend(proof.replay_key, expires_at=proof.replay_expires_at, now=now):
            raise InvalidDPoPProof(Reason.PROOF_REPLAYED)

    def authorization_header(self, request: Request) -> str | None:
        """The one ``Authorization`` header, if any (a repeated one is an error)."""
        return single_header(request.headers.getlist("authorization"), "Authorization")

    async def _authenticated(
        self, request: Request, endpoint: str, *, allow_public: bool = False
    ) -> tuple[Any, Any]:
        form = await self.read_form(request)
        authorization = self.authorization_header(request)
        certificate = self.certificate(request)
        now = self.clock.now()
        client = await to_thread.run_sync(
            lambda: self.authenticate_spending(
                form,
                authorization=authorization,
                certificate=certificate,
                endpoint=self.settings.endpoint(endpoint),
                now=now,
                allow_public=allow_public,
            )
        )
        return form, client

    async def introspection(self, request: Request) -> Response:
        """RFC 7662 introspection."""
        realm = self.settings.issuer if "authorization" in request.headers else None
        try:
            form, client = await self._authenticated(request, PATHS["introspection"])
            token = form.get("token")
            if token is None:
                raise InvalidRequest(Reason.REQUEST_PARAMETER_MISSING, detail="token")
            now = self.clock.now()
            body = await to_thread.run_sync(
                lambda: introspect(
                    token,
                    client,
                    keyring=self.keyring,
                    store=self.store,
                    issuer=self.settings.issuer,
                    now=now,
                )
            )
        except Exception as exc:
            return _oauth_error(exc, basic_realm=realm)
        return _json(body)

    async def revocation(self, request: Request) -> Response:
        """RFC 7009 revocation."""
        realm = self.settings.issuer if "authorization" in request.headers else None
        try:
            # RFC 7009 §2.1: public clients may revoke their own (refresh) tokens.
            form, client = await self._authenticated(
                request, PATHS["revocation"], allow_public=True
            )
            token = form.get("token")
            if token is None:
                raise InvalidRequest(Reason.REQUEST_PARAMETER_MISSING, detail="token")
            now = self.clock.now()
            await to_thread.run_sync(lambda: self.revoker.revoke_for_client(token, client, now=now))
        except Exception as exc:
            return _oauth_error(exc, basic_realm=realm)
        return Response(b"", status_code=200, headers=_NO_STORE)

    async def registration(self, request: Request) -> Response:
        """RFC 7591 registration, guarded by the initial access token."""
        secret = self.settings.registration_token
        if secret is None or not _bearer_matches(request, secret):
            _log.info("request refused reason=%s registration", Reason.TOKEN_UNKNOWN.value)
            return _bearer_error(self.settings.issuer)
        try:
            body = await _bounded_body(request, self.settings.max_body_bytes)
            metadata = parse_json_object(
                body, request.headers.get("content-type"), max_bytes=self.settings.max_body_bytes
            )
            now = self.clock.now()
            registration = register_client(metadata, self.settings, now=now)
            await to_thread.run_sync(lambda: self.store.add_client(registration.record))
        except Exception as exc:
            return _oauth_error(exc)
        _log.info(
            "client registered client_id=%s method=%s",
            registration.record.client_id,
            registration.record.auth_method,
        )
        return _json(registration.response(), 201)

    async def admin_revoke(self, request: Request) -> Response:
        """Revocation by token, key, certificate or client, for operators."""
        secret = self.settings.admin_token
        if secret is None or not _bearer_matches(request, secret):
            _log.info("request refused reason=%s admin", Reason.TOKEN_UNKNOWN.value)
            return _bearer_error(self.settings.issuer)
        try:
            body = await _bounded_body(request, self.settings.max_body_bytes)
            payload = parse_json_object(
                body, request.headers.get("content-type"), max_bytes=self.settings.max_body_bytes
            )
            now = self.clock.now()
            count = await to_thread.run_sync(
                lambda: self.revoker.revoke_by_admin(payload, actor="admin", now=now)
            )
        except Exception as exc:
            return _oauth_error(exc)
        return _json({"revoked": count})

    async def revocation_feed(self, request: Request) -> Response:
        """The revocation feed (identifiers and thumbprints only)."""
        try:
            feed = await to_thread.run_sync(lambda: self.revoker.feed(now=self.clock.now()))
        except Exception as exc:
            return _oauth_error(exc)
        return _json(feed)

    async def health(self, request: Request) -> Response:
        """Liveness: answers 200 when the database answers."""
        try:
            await to_thread.run_sync(self.store.schema_version)
        except StorageUnavailable:
            return _json({"status": "unavailable"}, 503)
        return _json({"status": "ok"})

    async def metrics(self, request: Request) -> Response:
        """Counters in the Prometheus exposition format (tokens issued by binding)."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(self.tokens.registry), media_type=CONTENT_TYPE_LATEST)

    def routes(self) -> list[Route]:
        """Every route of the server, below the issuer's path."""
        base = issuer_path(self.settings.issuer)
        post = ["POST"]
        table: list[tuple[str, Callable[[Request], Awaitable[Response]], list[str]]] = [
            (PATHS["jwks"], self.jwks, ["GET"]),
            (PATHS["token"], self.token, post),
            (PATHS["introspection"], self.introspection, post),
            (PATHS["revocation"], self.revocation, post),
            (PATHS["revocation_feed"], self.revocation_feed, ["GET"]),
            (PATHS["health"], self.health, ["GET"]),
            (PATHS["metrics"], self.metrics, ["GET"]),
        ]
        table += [
            (PATHS["par"], self.browser.par, post),
            (PATHS["authorization"], self.browser.authorize, ["GET"]),
            ("/login", self.browser.login_form, ["GET"]),
            ("/login", self.browser.login, post),
            ("/consent", self.browser.consent_form, ["GET"]),
            ("/consent", self.browser.consent, post),
        ]
        if self.settings.registration_token is not None:
            table.append((PATHS["registration"], self.registration, post))
        if self.settings.admin_token is not None:
            table.append((PATHS["admin_revoke"], self.admin_revoke, post))
        routes = [Route(metadata_path(self.settings.issuer), self.metadata, methods=["GET"])]
        routes += [Route(base + path, fn, methods=methods) for path, fn, methods in table]
        return routes


async def _bounded_body(request: Request, limit: int) -> bytes:
    """Read the body, refusing (before reading it all) anything larger than ``limit``."""
    return await _read_body(request.receive, request.headers.get("content-length"), limit)


async def _read_body(receive: Receive, declared: str | None, limit: int) -> bytes:
    """The request body from the ASGI ``receive`` channel: refused when the declared length
    (``Content-Length``) or what arrives exceeds ``limit``, before reading on."""
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise InvalidRequest(Reason.REQUEST_TOO_LARGE)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect: nobody to answer
            raise InvalidRequest(Reason.REQUEST_MALFORMED, detail="client disconnected")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise InvalidRequest(Reason.REQUEST_TOO_LARGE)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class _ASGIApp:
    """The server's ASGI application: Starlette, except that ``POST`` to the token endpoint
    without an ``Origin`` header (a machine client: no CORS to apply) goes straight to the
    handler, skipping routing and middleware -- the issuance hot path. The handler and what it
    answers are the same either way."""

    def __init__(self, server: AuthorizationServer) -> None:
        self._token_path: Final = issuer_path(server.settings.issuer) + PATHS["token"]
        self._token: Final = server.token_answer
        self.starlette: Final = Starlette(routes=server.routes())
        # CORS for single-page apps on the endpoints they call from script -- never on the
        # authorization, login or consent pages (RFC 9700 §4.11: no CORS there).
        base = issuer_path(server.settings.issuer)
        self._cors_paths: Final = frozenset(
            {metadata_path(server.settings.issuer)}
            | {base + PATHS[name] for name in ("jwks", "par", "token", "revocation")}
        )
        self._cors: Final = (
            CORSMiddleware(
                self.starlette,
                allow_origins=list(server.settings.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Content-Type", "DPoP"],
                expose_headers=["DPoP-Nonce", "WWW-Authenticate"],
                max_age=600,
            )
            if server.settings.cors_origins
            else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == self._token_path
            and scope["method"] == "POST"
            and not scope.get("root_path")
            and all(name != b"origin" for name, _ in scope["headers"])
        ):
            status, headers, body = await self._token(scope, receive)
            raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
            raw.append((b"content-length", str(len(body)).encode("ascii")))
            await send({"type": "http.response.start", "status": status, "headers": raw})
            await send({"type": "http.response.body", "body": body})
            return
        if self._cors is not None and scope["type"] == "http" and scope["path"] in self._cors_paths:
            await self._cors(scope, receive, send)
            return
        await self.starlette(scope, receive, send)


def create_app(server: AuthorizationServer) -> ASGIApp:
    """The ASGI application of ``server`` (its lifetime is the caller's)."""
    return _ASGIApp(server)
