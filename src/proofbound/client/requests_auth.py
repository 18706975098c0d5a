"""DPoP for ``requests`` (install ``proofbound[requests]``): the same proofs, nonces and one
retry as :class:`~proofbound.client.httpx_auth.DPoPAuth`, as a ``requests.auth.AuthBase`` with a
response hook.

The hook resends a request once, with a fresh proof, when the server asks for a nonce (or shows
that our clock is off); a request whose body is a stream or a file is never resent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

try:
    import requests
    from requests.auth import AuthBase
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "proofbound.client.requests_auth needs requests: pip install 'proofbound[requests]'"
    ) from exc

import httpx

from proofbound.client.httpx_auth import retry_reason
from proofbound.client.keys import DPoPKey
from proofbound.client.nonces import NonceCache, origin_of
from proofbound.dpop.proof import create_proof

__all__ = ["DPoPRequestsAuth"]

_RETRIED: Final = "_proofbound_retried"


def _as_httpx(response: requests.Response) -> httpx.Response:
    """The parts of a ``requests`` response the retry decision reads."""
    headers = list(response.headers.items())
    return httpx.Response(response.status_code, headers=headers, content=response.content)


class DPoPRequestsAuth(AuthBase):
    """``requests`` authentication with DPoP proofs.

    Args:
        key: the client's DPoP key.
        access_token: a fixed token, a callable returning the current one, or None (the token
            endpoint).
        nonces: the per-origin nonce cache.
        clock: seconds since the epoch.
    """

    def __init__(
        self,
        key: DPoPKey,
        access_token: str | Callable[[], str] | None = None,
        *,
        nonces: NonceCache | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.key: Final = key
        self._token = access_token
        self.nonces: Final = nonces if nonces is not None else NonceCache()
        self._clock = clock
        self.offset = 0.0

    def _sign(self, request: requests.PreparedRequest) -> None:
        url = httpx.URL(request.url or "")
        htu = url.copy_with(query=None, fragment=None)
        if not htu.path:
            htu = htu.copy_with(path="/")
        token = self._token() if callable(self._token) else self._token
        request.headers["DPoP"] = create_proof(
            self.key.signing_key,
            htm=request.method or "GET",
            htu=str(htu),
            now=int(self._clock() + self.offset),
            access_token=token,
            nonce=self.nonces.get(origin_of(url)),
        )
        if token is not None:
            request.headers["Authorization"] = f"DPoP {token}"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Sign the request and watch its response."""
        self._sign(request)
        request.register_hook("response", self._on_response)  # type: ignore[no-untyped-call]
        return request

    def _on_response(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        request = response.request
        origin = origin_of(httpx.URL(request.url or ""))
        self.nonces.update(origin, response.headers.get("DPoP-Nonce"))
        if getattr(request, _RETRIED, False):
            return response  # the one retry is spent
        decision = retry_reason(_as_httpx(response), now=self._clock() + self.offset)
        if decision is None or not isinstance(request.body, bytes | str | type(None)):
            return response
        kind, offset = decision
        if kind == "skew":
            self.offset += offset
        retry = request.copy()
        setattr(retry, _RETRIED, True)
        self._sign(retry)
        response.content  # noqa: B018 -- read the body so the connection can be reused
        response.close()
        connection = response.connection
        new = connection.send(retry, **kwargs)
        new.history.append(response)
        new.request = retry
        self.nonces.update(origin, new.headers.get("DPoP-Nonce"))
        return new

    def __repr__(self) -> str:
        return f"DPoPRequestsAuth(key={self.key!r})"
