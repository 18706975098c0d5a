"""DPoP for httpx (sync and async): a fresh proof per request, per-origin nonces, one retry.

The flow is an httpx auth generator (``response = yield request``), so every path is testable by
driving it by hand:

1. Sign a proof for the request as it will be sent (``htm``, ``htu`` without query and
   fragment, ``ath`` of the access token when there is one, the origin's latest nonce, ``iat``
   corrected by any learned clock offset) and set ``Authorization: DPoP`` and ``DPoP``.
2. Send; remember any ``DPoP-Nonce`` of the response for that origin (RFC 9449 §8.2).
3. Exactly one retry, with a *fresh* proof (new ``jti``), when the server asks for a nonce --
   the AS with 400 ``{"error": "use_dpop_nonce"}`` (§8), a resource with 401 and
   ``WWW-Authenticate: DPoP error="use_dpop_nonce"`` (§9) -- or when a proof was refused as
   ``invalid_dpop_proof`` and the server's ``Date`` shows our clock off by more than
   :data:`SKEW_TOLERANCE` seconds (the offset is then kept for later proofs). Never a second
   retry, and never for a body that cannot be sent twice (a streamed upload).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator
from email.utils import parsedate_to_datetime
from typing import Any, Final, Literal

import httpx

from proofbound.client.keys import DPoPKey
from proofbound.client.nonces import NonceCache, is_valid_nonce, origin_of
from proofbound.dpop.proof import create_proof

__all__ = ["SKEW_TOLERANCE", "DPoPAuth", "RetryReason", "challenges", "retry_reason"]

#: Clock difference (seconds) above which a refused proof is retried with the server's time.
SKEW_TOLERANCE: Final = 5

RetryReason = Literal["nonce", "skew"]


_TOKEN_CHARS: Final = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"  # noqa: S105 -- RFC 9110 tchar, no secret
_AUTH_PARAM: Final = re.compile(
    rf'\s*({_TOKEN_CHARS})\s*=\s*("(?:[^"\\]|\\.)*"|{_TOKEN_CHARS})\s*(?:,|$)'
)
_SCHEME: Final = re.compile(rf"\s*,?\s*({_TOKEN_CHARS})(?:\s+|$)")


def challenges(value: str) -> list[tuple[str, dict[str, str]]]:
    """Parse a ``WWW-Authenticate`` field value into (scheme, params) challenges (RFC 9110
    §11.6.1: several challenges may share one field; values may be tokens or quoted)."""
    result: list[tuple[str, dict[str, str]]] = []
    pos = 0
    while pos < len(value):
        scheme = _SCHEME.match(value, pos)
        if scheme is None or not scheme.group(1):
            break
        pos = scheme.end()
        params: dict[str, str] = {}
        while pos < len(value):
            param = _AUTH_PARAM.match(value, pos)
            if param is None:
                break
            raw = param.group(2)
            if raw.startswith('"'):
                raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
            params[param.group(1).lower()] = raw
            pos = param.end()
        result.append((scheme.group(1), params))
        if not params and pos < len(value) and value[pos] != ",":
            break  # token68 or garbage: stop rather than misread it
    return result


def _error_code(response: httpx.Response) -> str | None:
    """The OAuth error of a refusal: from a DPoP challenge (RS) or a JSON body (AS)."""
    if response.status_code == 401:
        for value in response.headers.get_list("www-authenticate"):
            for scheme, params in challenges(value):
                if scheme.lower() == "dpop" and params.get("error") in (
                    "use_dpop_nonce",
                    "invalid_dpop_proof",
                ):
                    return params["error"]
    if response.status_code == 400:
        try:
            body = json.loads(response.content)
        except (ValueError, httpx.ResponseNotRead):
            return None
        error = body.get("error") if isinstance(body, dict) else None
        return error if isinstance(error, str) else None
    return None


def _server_offset(response: httpx.Response, now: float) -> float | None:
    date = response.headers.get("date")
    if not date:
        return None
    try:
        server = parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return server - now


def retry_reason(response: httpx.Response, *, now: float) -> tuple[RetryReason, float] | None:
    """Whether (and why) a refused request deserves its one retry.

    Returns ``("nonce", 0)`` when the server asked for a nonce and sent one, ``("skew",
    offset)`` when a proof was refused and the server's clock differs from ours by more than
    :data:`SKEW_TOLERANCE`; None otherwise.
    """
    code = _error_code(response)
    if code == "use_dpop_nonce" and is_valid_nonce(response.headers.get("dpop-nonce")):
        return "nonce", 0.0
    if code == "invalid_dpop_proof":
        offset = _server_offset(response, now)
        if offset is not None and abs(offset) > SKEW_TOLERANCE:
            return "skew", offset
    return None


def _replayable(request: httpx.Request) -> bool:
    return isinstance(request.stream, httpx.ByteStream)


class DPoPAuth(httpx.Auth):
    """httpx authentication with DPoP proofs.

    Args:
        key: the client's DPoP key.
        access_token: a fixed access token, or a callable returning the current one (called
            per request), or None for requests that carry no token (the token endpoint).
        async_access_token: an async callable returning the token, for ``httpx.AsyncClient``.
        nonces: the per-origin nonce cache (share one per client, AS and RS alike).
        clock: seconds since the epoch (tests pass a fixed one).
        rebuild: called before the one retry to make the request to send instead (a token
            request needs a fresh client assertion: an AS may spend its ``jti`` on sight).
    """

    requires_response_body = True  # the AS names use_dpop_nonce in a JSON body

    def __init__(
        self,
        key: DPoPKey,
        access_token: str | Callable[[], str] | None = None,
        *,
        async_access_token: Callable[[], Any] | None = None,
        nonces: NonceCache | None = None,
        clock: Callable[[], float] = time.time,
        rebuild: Callable[[httpx.Request], httpx.Request] | None = None,
    ) -> None:
        self.key: Final = key
        self._rebuild = rebuild
        self._token = access_token
        self._async_token = async_access_token
        self.nonces: Final = nonces if nonces is not None else NonceCache()
        self._clock = clock
        self.offset = 0.0  # learned server clock minus ours
        self._offset_lock = threading.Lock()

    def _now(self) -> int:
        return int(self._clock() + self.offset)

    def _sign(self, request: httpx.Request, token: str | None) -> None:
        origin = origin_of(request.url)
        url = request.url.copy_with(query=None, fragment=None)
        if not url.path:
            url = url.copy_with(path="/")
        request.headers["DPoP"] = create_proof(
            self.key.signing_key,
            htm=request.method,
            htu=str(url),
            now=self._now(),
            access_token=token,
            nonce=self.nonces.get(origin),
        )
        if token is not None:
            request.headers["Authorization"] = f"DPoP {token}"

    def _learn(self, request: httpx.Request, response: httpx.Response) -> None:
        self.nonces.update(origin_of(request.url), response.headers.get("dpop-nonce"))

    def flow(
        self, request: httpx.Request, token: str | None
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """The generator both httpx entry points run (see the module docstring)."""
        self._sign(request, token)
        response = yield request
        self._learn(request, response)
        decision = retry_reason(response, now=self._clock() + self.offset)
        if decision is None or not _replayable(request):
            return
        kind, offset = decision
        if kind == "skew":
            with self._offset_lock:
                self.offset += offset
        if self._rebuild is not None:
            request = self._rebuild(request)
        self._sign(request, token)  # a fresh proof: new jti, the new nonce or corrected iat
        response = yield request
        self._learn(request, response)

    def _current_token(self) -> str | None:
        token = self._token
        return token() if callable(token) else token

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Sync entry point (httpx.Client)."""
        flow = self.flow(request, self._current_token())
        yield from _drive(flow, request)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Async entry point (httpx.AsyncClient)."""
        token = (
            await self._async_token() if self._async_token is not None else self._current_token()
        )
        flow = self.flow(request, token)
        to_send = next(flow)
        while True:
            response = yield to_send
            await response.aread()
            try:
                to_send = flow.send(response)
            except StopIteration:
                return

    def __repr__(self) -> str:
        return f"DPoPAuth(key={self.key!r})"


def _drive(
    flow: Generator[httpx.Request, httpx.Response, None], request: httpx.Request
) -> Generator[httpx.Request, httpx.Response, None]:
    to_send = next(flow)
    while True:
        response = yield to_send
        response.read()
        try:
            to_send = flow.send(response)
        except StopIteration:
            return
