"""The browser-facing endpoints of the authorization server: PAR (RFC 9126), the authorization
endpoint (RFC 6749 §4.1.1), login and consent.

Flow: ``POST /par`` (or ``GET /authorize`` with the plain parameters) stores the checked request
under a random handle ``tx``; ``GET /authorize`` sends the browser to ``/login?tx`` (no session)
or ``/consent?tx``; ``POST /login`` checks the user's password (``UserAuthenticator``) and sets
the session cookie; ``POST /consent`` uses up the request and redirects to the client with a
code (or ``access_denied``), ``state`` and ``iss`` (RFC 9207).

Rules:

* the resource owner is authenticated before any code is issued (RFC 6749 §3.1);
* both forms carry a CSRF token: the login form's is bound to ``tx`` and a pre-login cookie
  (so an attacker cannot log a victim into the attacker's account), the consent form's to
  ``tx`` and the session's ``sid``;
* an unknown client or an unregistered redirect URI is shown as an error page, never redirected
  to (§4.1.2.1); every other error of the request is redirected with ``error``;
* pages: no JavaScript, a strict CSP, no framing, ``no-store``, no referrer.
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlencode, urlsplit

from anyio import CapacityLimiter, to_thread
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from proofbound.errors import InvalidRequest, OAuthError, Reason
from proofbound.server.authorization import (
    REQUEST_URI_PREFIX,
    AuthorizationRequest,
    authorization_response,
    client_check,
    error_params,
    handle_hash,
    new_handle,
    request_check,
)
from proofbound.server.code_grants import new_family_id
from proofbound.server.forms import Form, parse_form
from proofbound.server.pages import (
    consent_page,
    error_page,
    form_target,
    login_page,
    page_csp,
)
from proofbound.server.sessions import (
    Session,
    SessionCodec,
    cookie_attributes,
    cookie_name,
    csrf_token,
    csrf_valid,
)
from proofbound.storage.store import AuthorizationCode, ClientRecord

if TYPE_CHECKING:
    from proofbound.server.app import AuthorizationServer
    from proofbound.server.users import UserAuthenticator

__all__ = ["BrowserEndpoints"]

_log: Final = logging.getLogger("proofbound.server.browser")
_SIGN_IN_SECONDS: Final = 600  # a pending request's life once the browser has brought it
_MAX_ECHOED_STATE: Final = 512
#: Failed sign-ins allowed per (user name, peer) in a window, and the window.
_MAX_FAILURES: Final = 10
_FAILURE_WINDOW: Final = 300
_MAX_TRACKED: Final = 10_000
#: Concurrent password checks (scrypt: 32 MiB and ~0.2 s each), apart from other thread work.
_PASSWORD_CHECKS: Final = 4
_PAGE_HEADERS: Final = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_FORM = "application/x-www-form-urlencoded"


def _page(body: str, status: int = 200, form_targets: tuple[str, ...] = ()) -> HTMLResponse:
    headers = {**_PAGE_HEADERS, "Content-Security-Policy": page_csp(form_targets)}
    return HTMLResponse(body, status_code=status, headers=headers)


def _error(message: str, status: int = 400) -> HTMLResponse:
    return _page(error_page(message), status)


def _redirect(location: str) -> RedirectResponse:
    response = RedirectResponse(location, status_code=303)
    response.headers.update({"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
    return response


class BrowserEndpoints:
    """PAR, authorize, login and consent for one server.

    Args:
        server: the assembled server (store, settings, token endpoint, clock).
        users: who may log in.
        session_secret: the key of session cookies and CSRF tokens (shared by every process).
    """

    def __init__(
        self, server: AuthorizationServer, users: UserAuthenticator, session_secret: bytes
    ) -> None:
        self._server: Final = server
        self._settings: Final = server.settings
        self._store: Final = server.store
        self._users: Final = users
        self._secret: Final = session_secret
        self._sessions: Final = SessionCodec(session_secret, ttl=server.settings.session_ttl)
        self._cookie: Final = cookie_name(server.settings.issuer)
        # Pre-login CSRF binding (double submit); __Host- on https so no sibling host can set it.
        self._login_cookie: Final = self._cookie.replace("pb_session", "pb_login")
        self._password_checks: Final = CapacityLimiter(_PASSWORD_CHECKS)
        self._failures: dict[tuple[str, str], tuple[int, int]] = {}
        self._cookie_attributes: Final = cookie_attributes(server.settings.issuer)
        base = urlsplit(server.settings.issuer).path.rstrip("/")
        self._login_path: Final = base + "/login"
        self._consent_path: Final = base + "/consent"
        self.par_url: Final = server.settings.endpoint("/par")

    # -- PAR ----------------------------------------------------------------------------------

    async def par(self, request: Request) -> Response:
        """RFC 9126 §2: store a checked authorization request; 201 with its ``request_uri``."""
        server = self._server
        realm = None
        try:
            form = await server.read_form(request)
            auth_header = server.authorization_header(request)
            realm = self._settings.issuer if auth_header is not None else None
            certificate = server.certificate(request)
            dpop = request.headers.getlist("dpop")
            now = server.clock.now()

            def run() -> str:
                client = server.authenticate_spending(
                    form,
                    authorization=auth_header,
                    certificate=certificate,
                    endpoint=self.par_url,
                    now=now,
                    allow_public=True,
                )
                if form.get("request_uri") is not None:  # §2.1: not allowed in a pushed request
                    raise InvalidRequest(Reason.REQUEST_MALFORMED, detail="request_uri in PAR")
                proof_jkt = None
                if dpop:  # RFC 9449 §10.1: checked like any proof, then bound as dpop_jkt
                    proof = server.tokens.proof(dpop, uri=self.par_url, now=now)
                    server.spend_proof(proof, now)
                    proof_jkt = proof.jkt
                redirect_uri = client_check(client.client, form.get("redirect_uri"))
                checked = request_check(
                    form,
                    client.client,
                    redirect_uri,
                    resources=form.all("resource"),
                    audiences=server.tokens.audiences,
                    proof_jkt=proof_jkt,
                )
                return self._keep(checked, now)

            handle = await server.blocking(run)
        except Exception as exc:
            return server.oauth_error(exc, basic_realm=realm)
        body = {"request_uri": REQUEST_URI_PREFIX + handle, "expires_in": self._settings.code_ttl}
        return server.json_response(body, 201)

    def _keep(self, checked: AuthorizationRequest, now: int) -> str:
        handle = new_handle()
        self._store.put_auth_request(
            handle_hash(handle),
            checked.client_id,
            checked.to_params(),
            now=now,
            ttl=self._settings.code_ttl,
        )
        return handle

    # -- authorization endpoint ---------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        """RFC 6749 §4.1.1 (GET): on to login or consent, or an error."""
        server = self._server
        now = server.clock.now()
        try:
            params = parse_form(
                request.scope.get("query_string", b""),
                _FORM,
                max_bytes=self._settings.max_body_bytes,
                repeatable=frozenset({"resource"}),
            )
        except OAuthError:
            return _error("The authorization request is malformed.")
        client_id = params.get("client_id")
        if client_id is None or not 1 <= len(client_id) <= 128 or not client_id.isprintable():
            return _error("The authorization request names no known client.")
        client = await server.blocking(lambda: self._store.get_client(client_id))
        request_uri = params.get("request_uri")
        if request_uri is not None:
            handle = request_uri.removeprefix(REQUEST_URI_PREFIX)
            pushed = await server.blocking(
                lambda: self._store.get_auth_request(handle_hash(handle), now=now)
            )
            if (
                client is None
                or not request_uri.startswith(REQUEST_URI_PREFIX)
                or pushed is None
                or pushed[0] != client.client_id
            ):
                return _error("The request URI is unknown or has expired.")
            return await self._server.blocking(lambda: self._next_step(request, handle, now))
        try:
            redirect_uri = client_check(client, params.get("redirect_uri"))
        except OAuthError:
            return _error("The client or its redirect URI is not registered.")
        assert client is not None  # noqa: S101 -- client_check refused None
        try:
            checked = request_check(
                params,
                client,
                redirect_uri,
                resources=params.all("resource"),
                audiences=server.tokens.audiences,
            )
        except OAuthError as exc:
            state = params.get("state")
            state = state if state is not None and _echoable(state) else None
            issuer = self._settings.issuer
            return _redirect(authorization_response(redirect_uri, issuer, error_params(exc, state)))
        handle = await server.blocking(lambda: self._keep(checked, now))
        return await server.blocking(lambda: self._next_step(request, handle, now))

    def _next_step(self, request: Request, handle: str, now: int) -> Response:
        # A pushed request_uri is short-lived; once the browser brings it here, the user has
        # the sign-in window to log in and decide.
        self._store.touch_auth_request(handle_hash(handle), now=now, ttl=_SIGN_IN_SECONDS)
        query = urlencode({"tx": handle})
        if self._session(request, now) is None:
            return _redirect(f"{self._login_path}?{query}")
        return _redirect(f"{self._consent_path}?{query}")

    def _session(self, request: Request, now: int) -> Session | None:
        return self._sessions.read(request.cookies.get(self._cookie), now)

    async def _pending(self, tx: str | None, now: int) -> tuple[str, dict[str, Any]] | None:
        if tx is None or not 1 <= len(tx) <= 128:
            return None
        return await self._server.blocking(
            lambda: self._store.get_auth_request(handle_hash(tx), now=now)
        )

    # -- login --------------------------------------------------------------------------------

    async def login_form(self, request: Request) -> Response:
        """The login page of a pending request."""
        now = self._server.clock.now()
        tx = request.query_params.get("tx")
        if await self._pending(tx, now) is None:
            return _error("This sign-in request is unknown or has expired.")
        assert tx is not None  # noqa: S101 -- _pending refused None
        binding = request.cookies.get(self._login_cookie) or secrets.token_urlsafe(16)
        page = login_page(
            action=self._login_path,
            tx=tx,
            csrf=csrf_token(self._secret, "login", tx + "." + binding),
        )
        response = _page(page)
        self._set_login_cookie(response, binding)
        return response

    def _set_login_cookie(self, response: Response, binding: str) -> None:
        response.set_cookie(
            self._login_cookie, binding, max_age=_SIGN_IN_SECONDS, **self._cookie_attributes
        )

    async def login(self, request: Request) -> Response:
        """Check the password; on success set the session cookie and go on to consent."""
        now = self._server.clock.now()
        form = await self._page_form(request)
        if form is None:
            return _error("The sign-in form is malformed.")
        tx = form.get("tx")
        binding = request.cookies.get(self._login_cookie)
        if (
            tx is None
            or binding is None
            or not csrf_valid(self._secret, "login", tx + "." + binding, form.get("csrf"))
        ):
            return _error("The sign-in form has expired; start again from the application.", 403)
        if await self._pending(tx, now) is None:
            return _error("This sign-in request is unknown or has expired.")
        username, password = form.get("username") or "", form.get("password") or ""
        peer = request.client.host if request.client is not None else ""
        throttled = self._throttled((username, peer), now)
        subject = None
        if not throttled:
            # scrypt takes a good fraction of a second: off the event loop (it releases the
            # GIL), on a limiter of its own so sign-ins cannot starve other thread work.
            subject = await to_thread.run_sync(
                lambda: self._users.authenticate(username, password),
                limiter=self._password_checks,
            )
        if subject is None:
            if not throttled:
                self._record_failure((username, peer), now)
            _log.info("login refused%s", " (throttled)" if throttled else "")
            page = login_page(
                action=self._login_path,
                tx=tx,
                csrf=csrf_token(self._secret, "login", tx + "." + binding),
                error="Wrong user name or password.",
            )
            return _page(page, 400)
        _log.info("login subject=%s", subject)
        response = _redirect(f"{self._consent_path}?{urlencode({'tx': tx})}")
        response.set_cookie(
            self._cookie,
            self._sessions.issue(subject, now),
            max_age=self._settings.session_ttl,
            **self._cookie_attributes,
        )
        response.delete_cookie(
            self._login_cookie,
            path="/",
            secure=self._cookie_attributes["secure"],
            httponly=True,
            samesite="lax",
        )
        return response

    def _throttled(self, key: tuple[str, str], now: int) -> bool:
        failures, since = self._failures.get(key, (0, now))
        return now - since < _FAILURE_WINDOW and failures >= _MAX_FAILURES

    def _record_failure(self, key: tuple[str, str], now: int) -> None:
        failures, since = self._failures.get(key, (0, now))
        if now - since >= _FAILURE_WINDOW:
            failures, since = 0, now
        if len(self._failures) >= _MAX_TRACKED:  # bounded memory; a flood resets the counts
            self._failures.clear()
        self._failures[key] = (failures + 1, since)

    async def _page_form(self, request: Request) -> Form | None:
        try:
            return await self._server.read_form(request, repeatable=frozenset())
        except OAuthError:
            return None

    # -- consent ------------------------------------------------------------------------------

    async def consent_form(self, request: Request) -> Response:
        """The consent page: who asks for what."""
        now = self._server.clock.now()
        tx = request.query_params.get("tx")
        session = self._session(request, now)
        pending = await self._pending(tx, now)
        if pending is None:
            return _error("This authorization request is unknown or has expired.")
        assert tx is not None  # noqa: S101 -- _pending refused None
        if session is None:
            return _redirect(f"{self._login_path}?{urlencode({'tx': tx})}")
        client_id, params = pending
        client = await self._server.blocking(lambda: self._store.get_client(client_id))
        if client is None:
            return _error("The client is no longer registered.")
        checked = AuthorizationRequest.from_params(params)
        page = consent_page(
            action=self._consent_path,
            tx=tx,
            csrf=csrf_token(self._secret, "consent", tx + "." + session.sid),
            client_name=_client_name(client),
            scopes=checked.scope.split(),
            subject=session.subject,
        )
        return _page(page, form_targets=(form_target(checked.redirect_uri),))

    async def consent(self, request: Request) -> Response:
        """Approve or deny: use up the request and redirect to the client."""
        now = self._server.clock.now()
        form = await self._page_form(request)
        session = self._session(request, now)
        if form is None or session is None:
            return _error("You are not signed in, or the form is malformed.", 403)
        tx = form.get("tx")
        if tx is None or not csrf_valid(
            self._secret, "consent", tx + "." + session.sid, form.get("csrf")
        ):
            return _error("The consent form has expired; start again from the application.", 403)
        decision = form.get("decision")
        if decision not in ("approve", "deny"):
            return _error("No decision was made.")
        pending = await self._pending(tx, now)
        # One decision per request: whoever takes it first decides.
        if pending is None or not await self._server.blocking(
            lambda: self._store.take_auth_request(handle_hash(tx), now=now)
        ):
            return _error("This authorization request is unknown or has expired.")
        checked = AuthorizationRequest.from_params(pending[1])
        issuer = self._settings.issuer
        if decision == "deny":
            denied = {"error": "access_denied", "state": checked.state}
            return _redirect(authorization_response(checked.redirect_uri, issuer, denied))
        code = new_handle()
        stored = AuthorizationCode(
            family_id=new_family_id(),
            client_id=checked.client_id,
            subject=session.subject,
            params=checked.to_params(),
            issued_at=now,
            expires_at=now + self._settings.code_ttl,
        )
        await self._server.blocking(lambda: self._store.put_code(handle_hash(code), stored))
        _log.info("code issued client_id=%s subject=%s", checked.client_id, session.subject)
        params = {"code": code, "state": checked.state}
        return _redirect(authorization_response(checked.redirect_uri, issuer, params))


def _echoable(state: str) -> bool:
    """Whether an unchecked ``state`` may be sent back in an error redirect."""
    return 0 < len(state) <= _MAX_ECHOED_STATE and state.isprintable()


def _client_name(client: ClientRecord) -> str:
    name = client.metadata.get("client_name")
    return name if isinstance(name, str) and name else client.client_id
