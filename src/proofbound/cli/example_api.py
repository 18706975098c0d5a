"""``proofbound example-api``: an example protected API in front of ``proofbound serve``.

It serves ``GET /whoami`` (protected: the caller's client, subject, scopes and binding),
``GET /healthz``, ``GET /metrics`` and the RFC 9728 metadata at
``/.well-known/oauth-protected-resource`` (:mod:`proofbound.resource.example_app`). Quick start::

    proofbound serve --registration-token-file T --resource http://127.0.0.1:8001 &
    proofbound example-api --issuer http://127.0.0.1:8000

Every option can also come from a ``PROOFBOUND_<OPTION>`` environment variable (the command line
wins). Secrets are read from files (``--nonce-secret-file``, ``--introspect-client-secret-file``)
so they never appear in the process list. Bad configuration ends the command at start-up with
one ``error:`` line and exit code 2.

One worker (the default) runs in this process; SIGTERM or SIGINT stop it gracefully with exit
code 0. ``--workers N`` runs N uvicorn worker processes and therefore needs ``--redis-url``: an
in-memory replay cache sees only its own worker's proofs, so a proof accepted by one worker could
be replayed against another (``--unsafe-memory-replay-cache`` overrides this, loudly).
"""

from __future__ import annotations

import enum
import importlib.util
import ipaddress
import json
import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, cast

import typer

from proofbound.cli.server_commands import (
    CertFormat,
    ClientCertFormatOpt,
    ClientCertHeaderOpt,
    LogFormat,
    LogLevel,
    TrustedProxyOpt,
)
from proofbound.errors import ConfigurationError

if TYPE_CHECKING:
    from proofbound.mtls.forwarded import CertHeaderFormat
    from proofbound.policy import Requirement
    from proofbound.resource.example_app import ExampleAPISettings
    from proofbound.server.config import Secret

# proofbound.cli.main imports this module to register the command, and a --workers process
# imports this module first: names from cli.main, and the application (Starlette, httpx), are
# imported where they are used.

__all__ = ["register"]

_log: Final = logging.getLogger("proofbound.cli")
_ENV: Final = "PROOFBOUND_"
#: How the parent hands the resolved options to ``--workers`` processes (never a secret's
#: value, except the random nonce secret the workers must share when no file is given).
_WORKER_ENV: Final = "_PROOFBOUND_EXAMPLE_API_WORKER"
_WORKER_APP: Final = "proofbound.cli.example_api:_worker_app"


class Require(enum.StrEnum):
    """What protected routes require (:mod:`proofbound.policy`)."""

    dpop = "dpop"
    mtls = "mtls"
    bound = "bound"
    bearer_allowed = "bearer-allowed"


class Observe(enum.StrEnum):
    """A stricter target policy, observed only (refusals logged and counted)."""

    dpop = "dpop"
    mtls = "mtls"
    bound = "bound"


def _url_host(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    return f"[{host}]" if address.version == 6 else host


def _wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def _nonce_secret(path: Path) -> bytes:
    from proofbound.cli.main import UsageError, read_limited
    from proofbound.dpop.nonce import MIN_SECRET_BYTES

    data = read_limited(path).rstrip(b"\r\n")
    if len(data) < MIN_SECRET_BYTES:
        raise UsageError(
            f"{os.fspath(path)!r} holds fewer than {MIN_SECRET_BYTES} bytes: "
            "not a usable nonce secret"
        )
    return data


def _client_secret(path: Path) -> Secret:
    from proofbound.cli.main import UsageError, read_limited
    from proofbound.server.config import Secret

    try:
        text = read_limited(path).decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError("the introspection client secret file is not UTF-8") from None
    text = text.removesuffix("\n").removesuffix("\r")
    if not text:
        raise UsageError("the introspection client secret file is empty")
    return Secret(text)


def _settings(options: Mapping[str, Any], random_secret: bytes | None) -> ExampleAPISettings:
    """Turn the (JSON-able) options into settings, reading the secret files.

    Raises:
        UsageError, ConfigurationError: bad configuration (exit code 2).
    """
    from proofbound.cli.main import UsageError
    from proofbound.resource.example_app import ExampleAPISettings
    from proofbound.server.config import parse_networks

    host, port = options["host"], options["port"]
    public_url = options["public_url"]
    if public_url is None:
        if _wildcard(host):
            raise UsageError(
                f"--host {host} needs --public-url: DPoP proofs name the URL clients address"
            )
        public_url = f"http://{_url_host(host)}:{port}"
    files = [Path(p) for p in options["nonce_secret_file"]]
    if files and not options["nonce"]:
        raise UsageError("--nonce-secret-file needs --nonce")
    nonce_secrets: tuple[bytes, ...] = ()
    if files:
        nonce_secrets = tuple(_nonce_secret(path) for path in files)
    elif options["nonce"]:
        if random_secret is None:  # pragma: no cover - the callers always pass one
            raise UsageError("internal: no nonce secret")
        nonce_secrets = (random_secret,)
    client_id = options["introspect_client_id"]
    secret_file = options["introspect_client_secret_file"]
    if (client_id is None) != (secret_file is None):
        raise UsageError("give both --introspect-client-id and --introspect-client-secret-file")
    observe = options["observe"]
    return ExampleAPISettings(
        issuer=options["issuer"],
        audience=public_url if options["audience"] is None else options["audience"],
        public_url=public_url,
        require=cast("Requirement", options["require"]),
        observe=cast("Requirement | None", observe),
        nonce_secrets=nonce_secrets,
        trusted_proxies=parse_networks(options["trusted_proxy"]),
        client_cert_header=options["client_cert_header"],
        client_cert_format=cast("CertHeaderFormat", options["client_cert_format"]),
        introspect_client_id=client_id,
        introspect_client_secret=_client_secret(Path(secret_file)) if secret_file else None,
        introspection_cache_seconds=options["introspection_cache_seconds"],
        revocation_feed=options["revocation_feed"],
        revocation_poll_seconds=options["revocation_poll_seconds"],
        revocation_max_stale_seconds=options["revocation_max_stale_seconds"],
        redis_url=options["redis_url"],
        redis_key_prefix=options["redis_key_prefix"],
    )


def _uvicorn_options(host: str, port: int, log_level: str) -> dict[str, Any]:
    return {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": False,  # the guard logs decisions by reason, never tokens
        "lifespan": "on",  # shutdown closes the guard's HTTP clients, pollers and Redis
        "server_header": False,
        # The peer is the TCP peer: only --trusted-proxy decides whose certificate header counts.
        "proxy_headers": False,
        "log_config": None,
    }


def _describe(settings: ExampleAPISettings, workers: int) -> str:
    replay = "redis" if settings.redis_url else "memory"
    observe = f" (observing {settings.observe})" if settings.observe else ""
    nonces = "on" if settings.nonce_secrets else "off"
    return (
        f"proofbound example API {settings.public_url}: issuer {settings.issuer}, "
        f"audience {settings.audience}, require {settings.require}{observe}, "
        f"RS nonces {nonces}, replay cache {replay}, {workers} worker(s)"
    )


def _run_in_process(settings: ExampleAPISettings, host: str, port: int, log_level: str) -> None:
    import uvicorn

    from proofbound.cli.server_commands import _graceful_server_class
    from proofbound.resource.example_app import create_example_app

    server_class = _graceful_server_class()
    app = create_example_app(settings)
    config = uvicorn.Config(app, **_uvicorn_options(host, port, log_level))
    _log.warning("%s", _describe(settings, 1))
    server = server_class(config)
    server.run()
    if not server.started:
        raise typer.Exit(1)  # uvicorn logged why (port in use, lifespan failure)


def _run_workers(
    options: dict[str, Any],
    random_secret: bytes | None,
    workers: int,
    log_level: str,
    log_format: str = "text",
) -> None:
    import uvicorn

    os.environ[_WORKER_ENV] = json.dumps(
        {
            "options": options,
            "nonce_secret": random_secret.hex() if random_secret is not None else None,
            "log_level": log_level,
            "log_format": log_format,
        }
    )
    uvicorn.run(
        _WORKER_APP,
        factory=True,
        workers=workers,
        **_uvicorn_options(options["host"], options["port"], log_level),
    )


def _worker_app() -> Any:
    """The application of one ``--workers`` process (a uvicorn factory)."""
    from proofbound._internal.logs import configure
    from proofbound.resource.example_app import create_example_app

    handoff = json.loads(os.environ[_WORKER_ENV])
    configure(handoff["log_level"], "json" if handoff.get("log_format") == "json" else "text")
    secret = handoff["nonce_secret"]
    settings = _settings(handoff["options"], bytes.fromhex(secret) if secret else None)
    return create_example_app(settings)


def _example_api(
    issuer: Annotated[
        str,
        typer.Option(
            help="The authorization server's issuer identifier (exact).",
            envvar=_ENV + "ISSUER",
            show_default=False,
        ),
    ],
    audience: Annotated[
        str | None,
        typer.Option(
            help="This API's identifier, the tokens' aud (exact); default: the public URL.",
            envvar=_ENV + "AUDIENCE",
            show_default=False,
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Listen address.", envvar=_ENV + "HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Listen port.", envvar=_ENV + "PORT")] = 8001,
    require: Annotated[
        Require,
        typer.Option(help="What protected routes require.", envvar=_ENV + "REQUIRE"),
    ] = Require.bound,
    observe: Annotated[
        Observe | None,
        typer.Option(
            help="Stricter target policy: its refusals are logged and counted only.",
            envvar=_ENV + "OBSERVE",
        ),
    ] = None,
    nonce: Annotated[
        bool,
        typer.Option(
            "--nonce/--no-nonce",
            help="Require RS nonces in DPoP proofs (RFC 9449 §9).",
            envvar=_ENV + "NONCE",
        ),
    ] = False,
    nonce_secret_file: Annotated[
        list[Path] | None,
        typer.Option(
            help="Nonce secret (32+ bytes) shared by several processes; repeatable, the first "
            "issues; default: a random one, this process only.",
            envvar=_ENV + "NONCE_SECRET_FILE",
            metavar="FILE",
        ),
    ] = None,
    trusted_proxy: TrustedProxyOpt = None,
    client_cert_header: ClientCertHeaderOpt = "x-ssl-client-cert",
    client_cert_format: ClientCertFormatOpt = CertFormat.nginx,
    public_url: Annotated[
        str | None,
        typer.Option(
            help="The URL clients address (DPoP htu); default: http://HOST:PORT.",
            envvar=_ENV + "PUBLIC_URL",
            show_default=False,
        ),
    ] = None,
    introspect_client_id: Annotated[
        str | None,
        typer.Option(
            help="Client id for RFC 7662 introspection of non-JWT tokens.",
            envvar=_ENV + "INTROSPECT_CLIENT_ID",
        ),
    ] = None,
    introspect_client_secret_file: Annotated[
        Path | None,
        typer.Option(
            help="File with that client's secret (client_secret_basic).",
            envvar=_ENV + "INTROSPECT_CLIENT_SECRET_FILE",
            metavar="FILE",
        ),
    ] = None,
    introspection_cache_seconds: Annotated[
        int,
        typer.Option(
            help="Seconds an introspection answer is reused.",
            envvar=_ENV + "INTROSPECTION_CACHE_SECONDS",
        ),
    ] = 0,
    revocation_feed: Annotated[
        str | None,
        typer.Option(
            help="Revocation feed URL; default: the issuer's revocation_feed_endpoint.",
            envvar=_ENV + "REVOCATION_FEED",
            show_default=False,
        ),
    ] = None,
    revocation_poll_seconds: Annotated[
        float,
        typer.Option(help="Seconds between feed polls.", envvar=_ENV + "REVOCATION_POLL_SECONDS"),
    ] = 5.0,
    revocation_max_stale_seconds: Annotated[
        float,
        typer.Option(
            help="Fail closed (503) when the last good poll is older than this.",
            envvar=_ENV + "REVOCATION_MAX_STALE_SECONDS",
        ),
    ] = 60.0,
    redis_url: Annotated[
        str | None,
        typer.Option(
            help="Redis for the replay cache (shared by processes) and revocations.",
            envvar=_ENV + "REDIS_URL",
        ),
    ] = None,
    redis_key_prefix: Annotated[
        str,
        typer.Option(help="Prefix of the replay keys in Redis.", envvar=_ENV + "REDIS_KEY_PREFIX"),
    ] = "proofbound:replay:",
    workers: Annotated[
        int,
        typer.Option(
            help="Worker processes (more than 1 needs --redis-url).", envvar=_ENV + "WORKERS"
        ),
    ] = 1,
    unsafe_memory_replay_cache: Annotated[
        bool,
        typer.Option(
            "--unsafe-memory-replay-cache",
            help="Allow --workers > 1 without Redis: proofs can be replayed across workers.",
            envvar=_ENV + "UNSAFE_MEMORY_REPLAY_CACHE",
        ),
    ] = False,
    log_level: Annotated[
        LogLevel, typer.Option(help="Log level.", envvar=_ENV + "LOG_LEVEL")
    ] = LogLevel.info,
    log_format: Annotated[
        LogFormat, typer.Option(help="Log lines as text or JSON.", envvar=_ENV + "LOG_FORMAT")
    ] = LogFormat.text,
) -> None:
    """Run an example API protected by the proofbound guard (GET /whoami needs a token)."""
    from proofbound.cli.main import UsageError, diagnosed

    with diagnosed():
        if not 1 <= port <= 65535:
            raise ConfigurationError("--port must be within 1..65535")
        if workers < 1:
            raise ConfigurationError("--workers must be at least 1")
        if workers > 1 and redis_url is None and not unsafe_memory_replay_cache:
            raise UsageError(
                f"--workers {workers} needs --redis-url: each worker's in-memory replay cache "
                "misses the proofs the others accepted (--unsafe-memory-replay-cache overrides)"
            )
        if redis_url is not None and importlib.util.find_spec("redis") is None:
            raise UsageError("--redis-url needs redis-py: pip install 'proofbound[redis]'")
        options: dict[str, Any] = {
            "issuer": issuer,
            "audience": audience,
            "host": host,
            "port": port,
            "require": require.value,
            "observe": observe.value if observe is not None else None,
            "nonce": nonce,
            "nonce_secret_file": [os.fspath(p) for p in nonce_secret_file or ()],
            "trusted_proxy": list(trusted_proxy or ()),
            "client_cert_header": client_cert_header,
            "client_cert_format": client_cert_format.value,
            "public_url": public_url,
            "introspect_client_id": introspect_client_id,
            "introspect_client_secret_file": (
                os.fspath(introspect_client_secret_file)
                if introspect_client_secret_file is not None
                else None
            ),
            "introspection_cache_seconds": introspection_cache_seconds,
            "revocation_feed": revocation_feed,
            "revocation_poll_seconds": revocation_poll_seconds,
            "revocation_max_stale_seconds": revocation_max_stale_seconds,
            "redis_url": redis_url,
            "redis_key_prefix": redis_key_prefix,
        }
        random_secret = secrets.token_bytes(32) if nonce and not nonce_secret_file else None
        settings = _settings(options, random_secret)
        from proofbound._internal.logs import configure

        configure(log_level.value, log_format.value)
        if workers > 1 and redis_url is None:
            _log.warning(
                "UNSAFE: --unsafe-memory-replay-cache with %d workers: each worker has its own "
                "replay cache, so a DPoP proof accepted by one worker is accepted again by the "
                "others (RFC 9449 §11.1). Use --redis-url.",
                workers,
            )
        if workers == 1:
            _run_in_process(settings, host, port, log_level.value)
        else:
            _log.warning("%s", _describe(settings, workers))
            _run_workers(options, random_secret, workers, log_level.value, log_format.value)


def register(app: typer.Typer) -> None:
    """Add ``example-api`` to the CLI."""
    app.command("example-api")(_example_api)
