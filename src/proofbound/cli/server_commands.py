"""CLI commands of the authorization server: ``serve``, ``keys rotate``, ``clients add`` and
``revoke``.

Every ``serve`` option can also come from a TOML file (``--config FILE``; keys are the option
names with ``_`` or ``-``) and from ``PROOFBOUND_<OPTION>`` environment variables. Precedence:
command line, then environment, then the file, then the default. Secrets may be read from files
(``--registration-token-file``, ``--admin-token-file``) so they need not appear in the process
list. Bad configuration ends the command at start-up with one ``error:`` line and exit code 2.
"""

from __future__ import annotations

import enum
import importlib.util
import json
import logging
import tomllib
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from cryptography import x509

from proofbound._internal.logs import configure as configure_logs
from proofbound.errors import ConfigurationError
from proofbound.jwk.keys import load_public_key
from proofbound.server.config import Secret, ServerSettings, parse_networks

__all__ = ["DataDirOpt", "DatabaseUrlOpt", "database_for", "register", "uvicorn_options"]

_log: Final = logging.getLogger("proofbound.cli")
_ENV: Final = "PROOFBOUND_"


class CertFormat(enum.StrEnum):
    """How the trusted proxy's certificate header is encoded."""

    nginx = "nginx"
    rfc9440 = "rfc9440"
    xfcc = "xfcc"


class LogLevel(enum.StrEnum):
    """Log levels."""

    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


class LogFormat(enum.StrEnum):
    """Log line formats."""

    text = "text"
    json = "json"


DataDirOpt = Annotated[
    Path, typer.Option(help="The server's data directory.", envvar=_ENV + "DATA_DIR")
]
DatabaseUrlOpt = Annotated[
    str | None,
    typer.Option("--database-url", help="PostgreSQL URL instead.", envvar=_ENV + "DATABASE_URL"),
]
TrustedProxyOpt = Annotated[
    list[str] | None,
    typer.Option(
        help="CIDR whose certificate header is trusted (repeatable).",
        envvar=_ENV + "TRUSTED_PROXY",
    ),
]
ClientCertHeaderOpt = Annotated[
    str,
    typer.Option(
        help="The one certificate header read from a trusted proxy.",
        envvar=_ENV + "CLIENT_CERT_HEADER",
    ),
]
ClientCertFormatOpt = Annotated[
    CertFormat,
    typer.Option(help="Encoding of that header.", envvar=_ENV + "CLIENT_CERT_FORMAT"),
]


class AuthMethod(enum.StrEnum):
    """Client authentication methods ``clients add`` registers."""

    private_key_jwt = "private_key_jwt"
    self_signed_tls_client_auth = "self_signed_tls_client_auth"
    tls_client_auth = "tls_client_auth"
    client_secret_basic = "client_secret_basic"  # noqa: S105 -- a method name
    client_secret_post = "client_secret_post"  # noqa: S105 -- a method name


def _load_config(
    ctx: typer.Context, _param: typer.CallbackParam, value: Path | None
) -> Path | None:
    """Eager ``--config``: the TOML file becomes the defaults of every other option."""
    if value is None:
        return None
    try:
        data = tomllib.loads(value.read_text(encoding="utf-8"))
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {str(value)!r}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise typer.BadParameter(f"{str(value)!r} is not valid TOML: {exc}") from None
    known = {p.name for p in ctx.command.params if p.name}
    defaults: dict[str, Any] = {}
    for key, item in data.items():
        name = key.replace("-", "_")
        if name not in known or name == "config":
            raise typer.BadParameter(f"unknown setting {key!r} in {str(value)!r}")
        defaults[name] = item
    ctx.default_map = {**(ctx.default_map or {}), **defaults}
    return value


def _secret(value: str | None, file: Path | None, name: str) -> Secret | None:
    if value is not None and file is not None:
        raise ConfigurationError(f"give --{name}-token or --{name}-token-file, not both")
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigurationError(f"cannot read the {name} token file: {exc.strerror}") from None
        return Secret(text)
    return Secret(value) if value else None


def _client_ca(path: Path | None) -> tuple[x509.Certificate, ...]:
    if path is None:
        return ()
    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except OSError as exc:
        raise ConfigurationError(f"cannot read --client-ca: {exc.strerror}") from None
    except ValueError:
        raise ConfigurationError("--client-ca is not a PEM file of certificates") from None
    return tuple(certs)


def database_for(data_dir: Path, url: str | None) -> str:
    """The database to use: ``url``, else SQLite in ``data_dir`` (created 0700)."""
    if url:
        return url
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"cannot create the data directory: {exc.strerror}") from None
    return f"sqlite:///{data_dir.resolve() / 'proofbound.db'}"


def _serve(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="TOML file with any of these settings.",
            is_eager=True,
            callback=_load_config,
            envvar=_ENV + "CONFIG",
        ),
    ] = None,
    issuer: Annotated[
        str, typer.Option(help="Issuer identifier, used verbatim.", envvar=_ENV + "ISSUER")
    ] = "http://127.0.0.1:8000",
    host: Annotated[str, typer.Option(help="Listen address.", envvar=_ENV + "HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Listen port.", envvar=_ENV + "PORT")] = 8000,
    data_dir: Annotated[
        Path,
        typer.Option(help="SQLite database and keys (created 0700).", envvar=_ENV + "DATA_DIR"),
    ] = Path(".proofbound"),
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url", help="PostgreSQL URL instead.", envvar=_ENV + "DATABASE_URL"
        ),
    ] = None,
    resource: Annotated[
        list[str] | None,
        typer.Option(
            help="RFC 8707 resource (repeatable; the first is the default).",
            envvar=_ENV + "RESOURCE",
        ),
    ] = None,
    registration_token: Annotated[
        str | None,
        typer.Option(
            help="Enables RFC 7591 registration with this initial access token.",
            envvar=_ENV + "REGISTRATION_TOKEN",
            show_default=False,
        ),
    ] = None,
    registration_token_file: Annotated[
        Path | None,
        typer.Option(
            help="Read the registration token from a file.", envvar=_ENV + "REGISTRATION_TOKEN_FILE"
        ),
    ] = None,
    admin_token: Annotated[
        str | None,
        typer.Option(
            help="Enables the admin API with this bearer token.",
            envvar=_ENV + "ADMIN_TOKEN",
            show_default=False,
        ),
    ] = None,
    admin_token_file: Annotated[
        Path | None,
        typer.Option(help="Read the admin token from a file.", envvar=_ENV + "ADMIN_TOKEN_FILE"),
    ] = None,
    trusted_proxy: TrustedProxyOpt = None,
    client_cert_header: ClientCertHeaderOpt = "x-ssl-client-cert",
    client_cert_format: ClientCertFormatOpt = CertFormat.nginx,
    client_ca: Annotated[
        Path | None,
        typer.Option(help="PEM trust anchors for tls_client_auth.", envvar=_ENV + "CLIENT_CA"),
    ] = None,
    access_token_ttl: Annotated[
        int,
        typer.Option(help="Access-token lifetime in seconds.", envvar=_ENV + "ACCESS_TOKEN_TTL"),
    ] = 300,
    dpop_nonce: Annotated[
        bool,
        typer.Option(
            "--dpop-nonce/--no-dpop-nonce",
            help="Require AS nonces in DPoP proofs.",
            envvar=_ENV + "DPOP_NONCE",
        ),
    ] = True,
    redis_url: Annotated[
        str | None,
        typer.Option(help="Also publish revocations to this Redis.", envvar=_ENV + "REDIS_URL"),
    ] = None,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(
            help="Browser origin allowed to call metadata, JWKS, PAR and token (repeatable).",
            envvar=_ENV + "CORS_ORIGIN",
        ),
    ] = None,
    refresh_token_ttl: Annotated[
        int,
        typer.Option(
            help="Lifetime of a refresh-token family in seconds (rotation keeps its end).",
            envvar=_ENV + "REFRESH_TOKEN_TTL",
        ),
    ] = 8 * 3600,
    log_level: Annotated[
        LogLevel, typer.Option(help="Log level.", envvar=_ENV + "LOG_LEVEL")
    ] = LogLevel.info,
    log_format: Annotated[
        LogFormat, typer.Option(help="Log lines as text or JSON.", envvar=_ENV + "LOG_FORMAT")
    ] = LogFormat.text,
) -> None:
    """Run the authorization server (Starlette on uvicorn, one worker, in this process)."""
    from proofbound.cli.main import diagnosed

    with diagnosed():
        settings = ServerSettings(
            issuer=issuer,
            resources=tuple(resource or ()),
            access_token_ttl=access_token_ttl,
            dpop_nonce=dpop_nonce,
            registration_token=_secret(registration_token, registration_token_file, "registration"),
            admin_token=_secret(admin_token, admin_token_file, "admin"),
            trusted_proxies=parse_networks(trusted_proxy or ()),
            client_cert_header=client_cert_header,
            client_cert_format=client_cert_format.value,
            client_ca=_client_ca(client_ca),
            redis_url=redis_url,
            cors_origins=tuple(cors_origin or ()),
            refresh_token_ttl=refresh_token_ttl,
        )
        if not 0 <= port <= 65535:
            raise ConfigurationError("--port must be within 0..65535")
        url = database_for(data_dir, database_url)
        configure_logs(log_level.value, log_format.value)
        _run(settings, url, host, port, log_level.value)


def _graceful_server_class() -> type[Any]:
    import uvicorn

    class GracefulServer(uvicorn.Server):
        """uvicorn's server, except that SIGTERM/SIGINT end with a graceful shutdown and exit
        code 0 (uvicorn re-raises the signal afterwards, which skips our clean-up)."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            captured = getattr(self, "_captured_signals", None)
            if isinstance(captured, list):
                captured.clear()

    return GracefulServer


def uvicorn_options(log_level: str) -> dict[str, Any]:
    """The ``uvicorn.Config`` options of ``proofbound serve`` besides the app, host and port
    (also used by ``bench.as_tokens`` for its HTTP floor: the same server, no work)."""
    return {
        "log_level": log_level,
        "access_log": False,  # our own log lines name clients and hash prefixes, never tokens
        "lifespan": "off",
        "server_header": False,
        # The peer address must be the TCP peer: uvicorn's own X-Forwarded-For handling would
        # let a client on a trusted address pose as any other (RFC 8705 §6.5 trust is decided
        # by proofbound's --trusted-proxy alone).
        "proxy_headers": False,
        "log_config": None,
        # The C parser and loop (dependencies); asyncio where uvloop does not exist.
        "http": "httptools",
        "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
    }


def _run(settings: ServerSettings, url: str, host: str, port: int, log_level: str) -> None:
    import uvicorn

    _GracefulServer = _graceful_server_class()  # noqa: N806 -- a class

    from proofbound.server.app import AuthorizationServer, create_app
    from proofbound.storage.store import Store

    store = Store.open(url)
    server = AuthorizationServer(settings, store)
    try:
        config = uvicorn.Config(
            create_app(server), host=host, port=port, **uvicorn_options(log_level)
        )
        _log.warning("proofbound AS %s listening on http://%s:%d", settings.issuer, host, port)
        _GracefulServer(config).run()
    finally:
        server.close()


def _rotate(
    data_dir: DataDirOpt = Path(".proofbound"),
    database_url: DatabaseUrlOpt = None,
    alg: Annotated[str, typer.Option(help="Algorithm of the new key.")] = "ES256",
) -> None:
    """Add a new signing key: published now, signing in a minute; retire keys whose tokens have
    all expired. Prints the new key's kid and activation time as JSON."""
    import time

    from proofbound.cli.main import diagnosed
    from proofbound.server.keyring import PUBLISH_AHEAD, rotate_keys
    from proofbound.storage.store import Store

    with diagnosed():
        if alg not in ("ES256", "EdDSA", "PS256", "RS256"):
            raise ConfigurationError("--alg must be ES256, EdDSA, PS256 or RS256")
        store = Store.open(database_for(data_dir, database_url))
        try:
            now = int(time.time())
            before = {k.key.kid for k in store.signing_keys()}
            # 3600: the longest access-token lifetime a server may be configured with.
            key = rotate_keys(store, alg=alg, now=now, max_token_ttl=3600)  # type: ignore[arg-type]
            after = {k.key.kid for k in store.signing_keys()}
        finally:
            store.close()
    result = {
        "kid": key.kid,
        "alg": key.alg,
        "activates_at": now + PUBLISH_AHEAD,
        "retired": sorted(before - after),
    }
    typer.echo(json.dumps(result))


def _clients_add(
    method: Annotated[AuthMethod, typer.Option(help="Token endpoint authentication method.")],
    data_dir: DataDirOpt = Path(".proofbound"),
    database_url: DatabaseUrlOpt = None,
    jwk: Annotated[Path | None, typer.Option(help="Public (or private) JWK of the client.")] = None,
    cert: Annotated[
        Path | None, typer.Option(help="PEM certificate (self_signed_tls_client_auth).")
    ] = None,
    subject_dn: Annotated[str | None, typer.Option(help="tls_client_auth subject DN.")] = None,
    san_dns: Annotated[str | None, typer.Option(help="tls_client_auth SAN dNSName.")] = None,
    client_ca: Annotated[
        Path | None, typer.Option(help="The server's --client-ca (tls_client_auth).")
    ] = None,
    scope: Annotated[
        str | None, typer.Option(help="Space-separated scopes the client may ask for.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="client_name.")] = None,
    dpop_bound: Annotated[bool, typer.Option(help="Require DPoP-bound tokens.")] = False,
    mtls_bound: Annotated[bool, typer.Option(help="Issue certificate-bound tokens.")] = False,
    introspect_any: Annotated[bool, typer.Option(help="May introspect any token.")] = False,
) -> None:
    """Register a client from the command line; prints the registration (with any secret,
    shown only this once) as JSON."""
    import base64
    import time

    from cryptography.hazmat.primitives.serialization import Encoding

    from proofbound.cli.main import diagnosed, read_limited
    from proofbound.server.registration import register_client
    from proofbound.storage.store import ClientRecord, Store

    with diagnosed():
        metadata: dict[str, Any] = {
            "token_endpoint_auth_method": method.value,
            "grant_types": ["client_credentials"],
            "dpop_bound_access_tokens": dpop_bound,
            "tls_client_certificate_bound_access_tokens": mtls_bound,
        }
        if jwk is not None:
            metadata["jwks"] = {"keys": [_public_jwk(read_limited(jwk))]}
        if cert is not None:
            try:
                certificate = x509.load_pem_x509_certificate(read_limited(cert))
            except ValueError:
                raise ConfigurationError("--cert is not a PEM certificate") from None
            from proofbound.jwk.keys import PublicKey

            entry: dict[str, Any] = dict(PublicKey(certificate.public_key()).jwk)  # type: ignore[arg-type]
            entry["x5c"] = [base64.b64encode(certificate.public_bytes(Encoding.DER)).decode()]
            metadata["jwks"] = {"keys": [entry]}
        for key, value in (
            ("scope", scope),
            ("client_name", name),
            ("tls_client_auth_subject_dn", subject_dn),
            ("tls_client_auth_san_dns", san_dns),
        ):
            if value is not None:
                metadata[key] = value
        settings = ServerSettings(client_ca=_client_ca(client_ca))
        registration = register_client(metadata, settings, now=int(time.time()))
        record = registration.record
        if introspect_any:
            record = ClientRecord(
                client_id=record.client_id,
                auth_method=record.auth_method,
                metadata=record.metadata,
                created_at=record.created_at,
                secret_hash=record.secret_hash,
                introspect_any=True,
            )
        store = Store.open(database_for(data_dir, database_url))
        try:
            store.add_client(record)
        finally:
            store.close()
    typer.echo(json.dumps(registration.response()))


def _public_jwk(data: bytes) -> dict[str, Any]:
    try:
        document = json.loads(data)
    except ValueError:
        raise ConfigurationError("--jwk is not JSON") from None
    if not isinstance(document, dict):
        raise ConfigurationError("--jwk must hold one JWK object")
    public = load_public_key(document)
    jwk: dict[str, Any] = dict(public.jwk)
    for member in ("kid", "alg"):
        if isinstance(document.get(member), str):
            jwk[member] = document[member]
    jwk.setdefault("kid", public.thumbprint)
    return jwk


def _revoke(
    issuer: Annotated[str, typer.Option(help="The AS issuer URL.", envvar=_ENV + "ISSUER")],
    admin_token: Annotated[
        str | None,
        typer.Option(help="Admin token.", envvar=_ENV + "ADMIN_TOKEN", show_default=False),
    ] = None,
    admin_token_file: Annotated[
        Path | None, typer.Option(help="Read the admin token from a file.")
    ] = None,
    token_file: Annotated[
        Path | None, typer.Option(help="File holding the token to revoke.")
    ] = None,
    jkt: Annotated[
        str | None, typer.Option(help="Revoke every token bound to this DPoP key.")
    ] = None,
    x5t: Annotated[
        str | None, typer.Option(help="Revoke every token bound to this certificate.")
    ] = None,
    client_id: Annotated[
        str | None, typer.Option(help="Revoke every token of this client.")
    ] = None,
) -> None:
    """Revoke tokens at a running AS through its admin API; prints ``{"revoked": N}``."""
    import httpx

    from proofbound.cli.main import UsageError, diagnosed, read_limited

    with diagnosed():
        secret = _secret(admin_token, admin_token_file, "admin")
        if secret is None:
            raise UsageError("give --admin-token or --admin-token-file")
        chosen = [
            (name, value)
            for name, value in (("jkt", jkt), ("x5t#S256", x5t), ("client_id", client_id))
            if value is not None
        ]
        if token_file is not None:
            chosen.append(("token", read_limited(token_file).decode("ascii", "replace").strip()))
        if len(chosen) != 1:
            raise UsageError("give exactly one of --token-file, --jkt, --x5t, --client-id")
        body = dict(chosen)
        try:
            response = httpx.post(
                issuer.rstrip("/") + "/admin/revoke",
                json=body,
                headers={"Authorization": f"Bearer {secret.reveal()}"},
                timeout=10,
            )
        except httpx.HTTPError as exc:
            raise UsageError(f"cannot reach {issuer!r}: {type(exc).__name__}") from None
        if response.status_code != 200:
            try:
                error = response.json().get("error", "error")
            except ValueError:
                error = "error"
            raise UsageError(f"the AS refused: HTTP {response.status_code} {error}")
    typer.echo(json.dumps(response.json()))


def register(app: typer.Typer, keys_app: typer.Typer) -> None:
    """Add the server commands to the CLI."""
    app.command("serve")(_serve)
    app.command("revoke")(_revoke)
    keys_app.command("rotate")(_rotate)
    clients = typer.Typer(help="Manage registered clients.", no_args_is_help=True)
    clients.command("add")(_clients_add)
    app.add_typer(clients, name="clients")
