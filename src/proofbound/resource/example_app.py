"""The example protected API behind ``proofbound example-api``: the guard in front of a real app.

A FastAPI application when FastAPI is installed (``pip install 'proofbound[fastapi]'``), else
a plain Starlette one -- the same routes either way, every request through one stack
(:class:`~starlette.middleware.cors.CORSMiddleware`, then
:class:`~proofbound.adapters.asgi.GuardMiddleware`):

=============================================  =========  ======================================
route                                          token      answer
=============================================  =========  ======================================
``GET /whoami``                                required   the caller (``Principal.public()``:
                                                          issuer, subject, client, scopes,
                                                          binding and ``cnf``; never the token)
``GET /healthz``                               no         ``{"status": "ok"}`` (liveness only)
``GET /metrics``                               no         the guard's counters (Prometheus text)
``GET /.well-known/oauth-protected-resource``  no         RFC 9728 metadata
=============================================  =========  ======================================

The metadata URL, named in every challenge (``resource_metadata``, RFC 9728 §5.1), is the
public URL plus ``/.well-known/oauth-protected-resource``: exactly the RFC 9728 §3.1 URL when the
audience is that origin with no path (the default); a proxy serving the API below a path must
route the path-inserted well-known URL here if clients derive it themselves.

What the guard needs from the issuer is found lazily, on the first request that needs it, so the
API starts while its authorization server is still starting (until the AS answers, protected
routes answer 503): the RFC 8414 metadata and the JWKS (:class:`IssuerKeys`), the introspection
endpoint (``introspection_endpoint``, only when introspection is configured) and the revocation
feed (``revocation_feed_endpoint``, unless one is configured). The feed is polled in the
background from then on; when its last good poll is older than ``revocation_max_stale_seconds``,
protected routes fail closed (503).

Replays: with ``redis_url`` proof ``jti`` values are recorded in Redis (one ``SET NX`` each), so
any number of processes sharing that Redis refuse each other's replays; without it the cache is
in this process's memory and sees only this process's proofs. Revocations are then also read
from Redis (what the AS publishes with its own ``--redis-url``), in addition to the feed.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from proofbound.access_token import AccessTokenPolicy
from proofbound.adapters.asgi import GuardMiddleware
from proofbound.dpop.nonce import MIN_SECRET_BYTES, RollingNonces
from proofbound.dpop.verify import ProofPolicy
from proofbound.errors import ConfigurationError, StorageUnavailable
from proofbound.mtls.forwarded import CertHeaderFormat, IPNetwork
from proofbound.policy import REQUIREMENTS, Requirement, RoutePolicy
from proofbound.replay.base import AsyncReplayCache
from proofbound.replay.memory import MemoryReplayCache
from proofbound.resource.context import ProxySettings
from proofbound.resource.guard import Guard, Principal
from proofbound.resource.issuers import Introspector, IssuerKeys, discover_metadata
from proofbound.resource.revocations import RevocationFeed, RevocationSource
from proofbound.server.config import Secret, validate_issuer

__all__ = [
    "ExampleAPISettings",
    "METADATA_PATH",
    "create_example_app",
    "protected_resource_metadata",
]

_log: Final = logging.getLogger("proofbound.example_api")

#: Where the RFC 9728 protected-resource metadata is served (below the public URL).
METADATA_PATH: Final = "/.well-known/oauth-protected-resource"
_EXEMPT: Final = frozenset({"/healthz", "/metrics", METADATA_PATH})
#: Headers a browser client must read: the challenge and the RS nonce (RFC 9449 §9).
_EXPOSED: Final = ("WWW-Authenticate", "DPoP-Nonce")
_HEADER_NAME: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")
_HTTP_TIMEOUT: Final = 5.0

Framework = Literal["auto", "fastapi", "starlette"]


def _check_url(value: str, what: str) -> str:
    try:
        parts = urlsplit(value)
    except ValueError:
        raise ConfigurationError(f"{what} is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"{what} must be an http or https URL")
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise ConfigurationError(f"{what} must not have a query or fragment")
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError(f"{what} must not carry user information")
    if not value.isascii() or any(ch.isspace() for ch in value):
        raise ConfigurationError(f"{what} must be printable ASCII without spaces")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class ExampleAPISettings:
    """Everything the example API is configured with (validated at construction).

    Attributes:
        issuer: the one trusted issuer, compared exactly with ``iss``.
        audience: this API's identifier, compared exactly with ``aud`` (the AS's ``resource``).
        public_url: the URL clients address (``htu`` of their proofs is compared with it plus
            the request path); also the base of the metadata URL and the RS nonce origin.
        require: ``dpop``, ``mtls``, ``bound`` or ``bearer-allowed`` (:mod:`proofbound.policy`).
        observe: a stricter target policy whose refusals are only logged and counted.
        nonce_secrets: RS nonce secrets (32+ bytes; the first issues, all verify); empty
            means no RS nonces.
        trusted_proxies: peers whose client-certificate header is believed.
        client_cert_header: that header (lower-cased here).
        client_cert_format: its encoding.
        introspect_client_id: this API's client id at the AS, for RFC 7662 introspection of
            tokens that are not JWTs (None: such tokens are refused).
        introspect_client_secret: its ``client_secret_basic`` secret.
        introspection_cache_seconds: how long an introspection answer is reused.
        revocation_feed: the feed URL; None takes the issuer's ``revocation_feed_endpoint``.
        revocation_poll_seconds: seconds between feed polls.
        revocation_max_stale_seconds: how old the last good poll may be before protected
            routes fail closed.
        redis_url: Redis for the replay cache and for revocations; None keeps replays in
            memory (one process only).
        redis_key_prefix: prefix of the replay keys in Redis.
    """

    issuer: str
    audience: str
    public_url: str
    require: Requirement = "bound"
    observe: Requirement | None = None
    nonce_secrets: tuple[bytes, ...] = field(default=(), repr=False)
    trusted_proxies: tuple[IPNetwork, ...] = ()
    client_cert_header: str = "x-ssl-client-cert"
    client_cert_format: CertHeaderFormat = "nginx"
    introspect_client_id: str | None = None
    introspect_client_secret: Secret | None = field(default=None, repr=False)
    introspection_cache_seconds: int = 0
    revocation_feed: str | None = None
    revocation_poll_seconds: float = 5.0
    revocation_max_stale_seconds: float = 60.0
    redis_url: str | None = None
    redis_key_prefix: str = "proofbound:replay:"

    def __post_init__(self) -> None:
        validate_issuer(self.issuer)
        _check_url(self.public_url, "the public URL")
        if (
            not self.audience
            or not self.audience.isascii()
            or self.audience != "".join(self.audience.split())
        ):
            raise ConfigurationError("the audience must be printable ASCII without spaces")
        if self.require not in REQUIREMENTS:
            raise ConfigurationError("require must be dpop, mtls, bound or bearer-allowed")
        RoutePolicy(require=self.require, observe=self.observe)  # observe must be stricter
        if any(len(secret) < MIN_SECRET_BYTES for secret in self.nonce_secrets):
            raise ConfigurationError(f"a nonce secret needs at least {MIN_SECRET_BYTES} bytes")
        header = self.client_cert_header.lower()
        if not header or set(header) - _HEADER_NAME:
            raise ConfigurationError("the client certificate header is not a header name")
        object.__setattr__(self, "client_cert_header", header)
        if self.client_cert_format not in ("nginx", "rfc9440", "xfcc"):
            raise ConfigurationError("the client certificate format must be nginx, rfc9440 or xfcc")
        if (self.introspect_client_id is None) != (self.introspect_client_secret is None):
            raise ConfigurationError("introspection needs both a client id and a client secret")
        if self.introspect_client_id is not None and not self.introspect_client_id:
            raise ConfigurationError("the introspection client id must not be empty")
        if self.introspection_cache_seconds < 0:
            raise ConfigurationError("the introspection cache time must not be negative")
        if self.revocation_feed is not None:
            _check_url(self.revocation_feed, "the revocation feed")
        if not 0 < self.revocation_poll_seconds <= self.revocation_max_stale_seconds:
            raise ConfigurationError(
                "the revocation poll interval must be positive and at most the maximum staleness"
            )
        if self.redis_url is not None and urlsplit(self.redis_url).scheme not in (
            "redis",
            "rediss",
            "unix",
        ):
            raise ConfigurationError("the Redis URL must start with redis://, rediss:// or unix://")

    @property
    def metadata_url(self) -> str:
        """The RFC 9728 metadata URL (put in every challenge as ``resource_metadata``)."""
        return self.public_url.rstrip("/") + METADATA_PATH


def protected_resource_metadata(settings: ExampleAPISettings) -> dict[str, Any]:
    """The RFC 9728 document of the example API."""
    return {
        "resource": settings.audience,
        "authorization_servers": [settings.issuer],
        "bearer_methods_supported": ["header"],
        "dpop_signing_alg_values_supported": list(ProofPolicy().algorithms),
        # RFC 9728 §2: true only when every token must be DPoP-bound (bound also takes mTLS).
        "dpop_bound_access_tokens_required": settings.require == "dpop",
        "tls_client_certificate_bound_access_tokens": settings.require != "dpop",
    }


# -- what is found from the issuer's metadata, on first need ---------------------------------------


class _Discovery:
    """The issuer's RFC 8414 metadata: the document :class:`IssuerKeys` fetched, else our own."""

    def __init__(self, keys: IssuerKeys, http: httpx.Client) -> None:
        self._keys = keys
        self._http = http
        self._lock = threading.Lock()
        self._document: dict[str, Any] | None = None

    def endpoint(self, name: str) -> str | None:
        """An endpoint the metadata advertises (StorageUnavailable if it cannot be fetched)."""
        document = self._keys.metadata
        if document is None:
            with self._lock:
                if self._document is None:
                    self._document = discover_metadata(self._http, self._keys.policy.issuer)
                document = self._document
        value = document.get(name)
        return value if isinstance(value, str) and value else None


class _DiscoveredIntrospector(Introspector):
    """RFC 7662 introspection at the endpoint the issuer's metadata names, found on first use."""

    def __init__(
        self,
        discovery: _Discovery,
        *,
        client_id: str,
        client_secret: Secret,
        cache_seconds: int,
        transport: httpx.BaseTransport | None,
    ) -> None:
        self._client_http = httpx.Client(
            transport=transport, timeout=_HTTP_TIMEOUT, follow_redirects=False
        )
        super().__init__(
            "",
            client_id=client_id,
            client_secret=client_secret,
            http=self._client_http,
            cache_seconds=cache_seconds,
        )
        self._discovery = discovery
        self._settings = (client_id, client_secret, cache_seconds)
        self._lock = threading.Lock()
        self._inner: Introspector | None = None

    def introspect(self, token: str) -> Mapping[str, Any]:
        """Introspect at the discovered endpoint (StorageUnavailable until it is known)."""
        inner = self._inner
        if inner is None:
            with self._lock:
                if self._inner is None:
                    endpoint = self._discovery.endpoint("introspection_endpoint")
                    if endpoint is None:
                        raise StorageUnavailable("issuer metadata has no introspection_endpoint")
                    client_id, secret, cache_seconds = self._settings
                    self._inner = Introspector(
                        endpoint,
                        client_id=client_id,
                        client_secret=secret,
                        http=self._client_http,
                        cache_seconds=cache_seconds,
                    )
                inner = self._inner
        return inner.introspect(token)

    def close(self) -> None:
        """Close the HTTP client."""
        self._client_http.close()

    def __repr__(self) -> str:
        return "DiscoveredIntrospector()"


class _LazyFeed:
    """A :class:`RevocationFeed` started on the first check, at the configured URL or the one
    the issuer advertises. Its first poll is also made inline, so the first request is decided
    on a fresh feed rather than refused as stale."""

    def __init__(
        self,
        url: str | None,
        discovery: _Discovery,
        *,
        interval: float,
        max_staleness: float,
        transport: httpx.BaseTransport | None,
    ) -> None:
        self._url = url
        self._discovery = discovery
        self._interval = interval
        self._max_staleness = max_staleness
        self._transport = transport
        self._lock = threading.Lock()
        self._feed: RevocationFeed | None = None
        self._absent = False  # the issuer advertises no feed
        self._closed = False

    def _start(self) -> RevocationFeed | None:
        with self._lock:
            if self._closed:
                raise StorageUnavailable("revocation feed closed")
            if self._feed is not None or self._absent:
                return self._feed
            url = self._url or self._discovery.endpoint("revocation_feed_endpoint")
            if url is None:
                self._absent = True
                _log.warning(
                    "the issuer advertises no revocation_feed_endpoint: revoked tokens are "
                    "refused only through Redis or introspection, if configured"
                )
                return None
            http = httpx.Client(
                transport=self._transport,
                timeout=min(_HTTP_TIMEOUT, self._interval * 2),
                follow_redirects=False,
            )
            feed = RevocationFeed(
                url, interval=self._interval, max_staleness=self._max_staleness, http=http
            )
            self._feed = feed
            _log.info("revocation feed %s polled every %s s", url, self._interval)
            return feed

    @property
    def blocking(self) -> bool:
        """Whether a check may wait on the network (only until the feed is started: its
        checks are in memory, so async servers then run them inline)."""
        return self._feed is None and not self._absent

    def check(self, claims: Mapping[str, Any]) -> None:
        """Raise if the token is revoked, or if the feed cannot tell (fail closed)."""
        feed = self._feed if self._feed is not None else self._start()
        if feed is not None:
            feed.check(claims)

    def close(self) -> None:
        """Stop polling."""
        with self._lock:
            self._closed = True
            if self._feed is not None:
                self._feed.close()

    def __repr__(self) -> str:
        return f"LazyFeed(url={self._url!r}, started={self._feed is not None})"


class _AllRevocations:
    """Every source must clear the token (Redis first: one round trip, no staleness)."""

    def __init__(self, sources: tuple[RevocationSource, ...]) -> None:
        self._sources = sources

    @property
    def blocking(self) -> bool:
        """Whether a check may wait on the network (if any source's may)."""
        return any(getattr(source, "blocking", True) for source in self._sources)

    def check(self, claims: Mapping[str, Any]) -> None:
        """Raise as soon as one source says revoked or cannot tell."""
        for source in self._sources:
            source.check(claims)

    def close(self) -> None:
        """Close every source."""
        for source in self._sources:
            close = getattr(source, "close", None)
            if callable(close):
                close()

    def __repr__(self) -> str:
        return f"AllRevocations({', '.join(map(repr, self._sources))})"


# -- the application ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Parts:
    guard: Guard
    policy: RoutePolicy
    proxy: ProxySettings
    replay: AsyncReplayCache
    close_replay: Callable[[], Awaitable[None]] | None


def _build_guard(settings: ExampleAPISettings, transport: httpx.BaseTransport | None) -> _Parts:
    policy = RoutePolicy(require=settings.require, observe=settings.observe)
    http = httpx.Client(transport=transport, timeout=_HTTP_TIMEOUT, follow_redirects=False)
    keys = IssuerKeys(
        AccessTokenPolicy(issuer=settings.issuer, audiences=(settings.audience,)), http=http
    )
    discovery = _Discovery(keys, http)
    introspector: Introspector | None = None
    if settings.introspect_client_id is not None and settings.introspect_client_secret:
        introspector = _DiscoveredIntrospector(
            discovery,
            client_id=settings.introspect_client_id,
            client_secret=settings.introspect_client_secret,
            cache_seconds=settings.introspection_cache_seconds,
            transport=transport,
        )
    sources: list[RevocationSource] = []
    replay: AsyncReplayCache
    close_replay: Callable[[], Awaitable[None]] | None = None
    if settings.redis_url is not None:
        from proofbound.replay.redis import AsyncRedisReplayCache
        from proofbound.resource.revocations import RedisRevocations

        redis_replay = AsyncRedisReplayCache(
            settings.redis_url, key_prefix=settings.redis_key_prefix
        )
        replay, close_replay = redis_replay, redis_replay.aclose
        sources.append(RedisRevocations(settings.redis_url))
    else:
        replay = MemoryReplayCache()
    sources.append(
        _LazyFeed(
            settings.revocation_feed,
            discovery,
            interval=settings.revocation_poll_seconds,
            max_staleness=settings.revocation_max_stale_seconds,
            transport=transport,
        )
    )
    nonces = (
        RollingNonces(settings.nonce_secrets, purpose="rs", origin=settings.public_url)
        if settings.nonce_secrets
        else None
    )
    guard = Guard(
        [keys],
        introspector=introspector,
        policy=policy,
        proof_policy=ProofPolicy(),
        nonces=nonces,
        revocations=sources[0] if len(sources) == 1 else _AllRevocations(tuple(sources)),
        resource_metadata=settings.metadata_url,
    )
    proxy = ProxySettings(
        public_base_url=settings.public_url,
        trusted_proxies=settings.trusted_proxies,
        client_cert_header=settings.client_cert_header,
        client_cert_format=settings.client_cert_format,
    )
    return _Parts(guard, policy, proxy, replay, close_replay)


def _fastapi() -> Any:
    try:
        return importlib.import_module("fastapi")
    except ImportError:
        return None


def create_example_app(
    settings: ExampleAPISettings,
    *,
    framework: Framework = "auto",
    transport: httpx.BaseTransport | None = None,
) -> Starlette:
    """Build the example API (its guard, caches and pollers are closed at lifespan shutdown).

    Args:
        settings: the configuration.
        framework: ``"fastapi"``, ``"starlette"``, or ``"auto"`` (FastAPI when installed).
        transport: the HTTP transport to the authorization server (tests pass a mock).

    Raises:
        ConfigurationError: ``framework="fastapi"`` without FastAPI installed, or a setting
            the guard refuses.
    """
    fastapi = _fastapi() if framework in ("auto", "fastapi") else None
    if framework == "fastapi" and fastapi is None:
        raise ConfigurationError("FastAPI is not installed: pip install 'proofbound[fastapi]'")
    parts = _build_guard(settings, transport)
    guard = parts.guard
    metadata = protected_resource_metadata(settings)

    async def whoami(request: Request) -> Response:
        principal: Principal = request.state.principal  # set by GuardMiddleware
        return JSONResponse(principal.public())

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(guard.metrics.exposition(), media_type="text/plain; version=0.0.4")

    async def resource_metadata(request: Request) -> Response:
        return JSONResponse(metadata)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            guard.close()
            if parts.close_replay is not None:
                await parts.close_replay()

    middleware = [
        Middleware(
            CORSMiddleware,
            allow_origins=["*"],
            allow_methods=["GET"],
            allow_headers=["Authorization", "DPoP"],
            expose_headers=list(_EXPOSED),
        ),
        Middleware(
            GuardMiddleware,
            guard=guard,
            proxy=parts.proxy,
            policy=parts.policy,
            replay=parts.replay,
            exempt=_EXEMPT,
        ),
    ]
    table = (
        ("/whoami", whoami),
        ("/healthz", healthz),
        ("/metrics", metrics),
        (METADATA_PATH, resource_metadata),
    )
    if fastapi is not None:
        api = fastapi.FastAPI(
            title="proofbound example API",
            middleware=middleware,
            lifespan=lifespan,
            docs_url=None,  # a browser cannot sign DPoP proofs for the try-it-out buttons
            redoc_url=None,
            openapi_url=None,
        )
        for path, endpoint in table:
            api.add_api_route(path, endpoint, methods=["GET"], include_in_schema=False)
        app: Starlette = api
    else:
        routes = [Route(path, endpoint, methods=["GET"]) for path, endpoint in table]
        app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.guard = guard
    return app
