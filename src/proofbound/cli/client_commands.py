"""CLI commands of the client SDK: ``token`` (get a sender-constrained token) and ``request``
(a DPoP/mTLS-aware curl).

``request`` prints one JSON object on stdout -- ``status``, ``headers`` (credentials
redacted), ``body`` -- and exits 0 on 2xx, 1 otherwise, 2 on usage errors. Round trips and
retries are logged on stderr.
"""

from __future__ import annotations

import enum
import json
import logging
from pathlib import Path
from typing import Annotated, Any, Final

import typer

__all__ = ["register"]

_log: Final = logging.getLogger("proofbound.cli.client")
_ENV: Final = "PROOFBOUND_"
_REDACTED: Final = frozenset({"authorization", "dpop", "cookie", "set-cookie", "x-ssl-client-cert"})


class Mode(enum.StrEnum):
    """Token binding."""

    dpop = "dpop"
    mtls = "mtls"


class Auth(enum.StrEnum):
    """Client authentication at the token endpoint."""

    private_key_jwt = "private_key_jwt"
    self_signed_tls_client_auth = "self_signed_tls_client_auth"
    tls_client_auth = "tls_client_auth"
    client_secret_basic = "client_secret_basic"  # noqa: S105 -- a method name


IssuerOpt = Annotated[str, typer.Option(help="The AS issuer URL.", envvar=_ENV + "ISSUER")]
ClientIdOpt = Annotated[str, typer.Option(help="The client id.", envvar=_ENV + "CLIENT_ID")]
KeyOpt = Annotated[
    Path | None,
    typer.Option(help="Private JWK of the private_key_jwt assertion (and the DPoP key)."),
]
DPoPKeyOpt = Annotated[Path | None, typer.Option(help="Another private JWK for DPoP proofs.")]
CertOpt = Annotated[Path | None, typer.Option(help="Client certificate (PEM) for mTLS.")]
CertKeyOpt = Annotated[Path | None, typer.Option(help="Its private key (PEM), for real TLS.")]
ModeOpt = Annotated[Mode | None, typer.Option(help="dpop (default) or mtls (default with --cert).")]
AuthOpt = Annotated[Auth | None, typer.Option(help="Client authentication method.")]
HeaderOpt = Annotated[
    str | None,
    typer.Option(
        "--client-cert-header",
        "--cert-header",
        help="Send the certificate in this header (TLS-terminating proxy, local testing).",
    ),
]
ResourceOpt = Annotated[list[str] | None, typer.Option(help="RFC 8707 resource (repeatable).")]
ScopeOpt = Annotated[str | None, typer.Option(help="Requested scopes.")]
SecretOpt = Annotated[
    Path | None, typer.Option(help="File with the client secret (client_secret_basic).")
]


def _source(
    *,
    issuer: str,
    client_id: str,
    key: Path | None,
    dpop_key: Path | None,
    cert: Path | None,
    cert_key: Path | None,
    mode: Mode | None,
    auth: Auth | None,
    client_cert_header: str | None,
    resource: list[str] | None,
    scope: str | None,
    client_secret_file: Path | None,
) -> Any:
    import httpx

    from proofbound.cli.main import UsageError, read_limited
    from proofbound.client import DPoPKey, TokenSource
    from proofbound.server.config import Secret

    chosen_mode = mode or (Mode.mtls if cert is not None else Mode.dpop)
    chosen_auth = auth or (
        Auth.private_key_jwt if key is not None else Auth.self_signed_tls_client_auth
    )
    if chosen_auth is Auth.private_key_jwt and key is None:
        raise UsageError("private_key_jwt needs --key")
    if chosen_auth in (Auth.self_signed_tls_client_auth, Auth.tls_client_auth) and cert is None:
        raise UsageError(f"{chosen_auth.value} needs --cert")
    if chosen_mode is Mode.mtls and cert is None:
        raise UsageError("--mode mtls needs --cert")
    if cert is not None and client_cert_header is None and cert_key is None:
        raise UsageError("--cert needs --cert-key (TLS) or --client-cert-header (proxy)")
    loaded_key = DPoPKey.load(key) if key is not None else None
    loaded_dpop = DPoPKey.load(dpop_key) if dpop_key is not None else loaded_key
    if chosen_mode is Mode.dpop and loaded_dpop is None:
        raise UsageError("--mode dpop needs --key or --dpop-key")
    secret = None
    if chosen_auth is Auth.client_secret_basic:
        if client_secret_file is None:
            raise UsageError("client_secret_basic needs --client-secret-file")
        secret = Secret(read_limited(client_secret_file).decode("utf-8", "replace").strip())
    pem = read_limited(cert).decode("ascii", "replace") if cert is not None else None
    tls_cert = (str(cert), str(cert_key)) if cert is not None and cert_key is not None else None
    http = httpx.Client(timeout=15.0, follow_redirects=False, cert=tls_cert)
    return TokenSource(
        issuer,
        client_id,
        mode=chosen_mode.value,
        auth=chosen_auth.value,
        key=loaded_key,
        dpop_key=loaded_dpop,
        client_secret=secret,
        certificate_pem=pem if client_cert_header is not None else None,
        client_cert_header=client_cert_header,
        resource=tuple(resource or ()),
        scope=scope,
        http=http,
    )


def _token(
    issuer: IssuerOpt,
    client_id: ClientIdOpt,
    key: KeyOpt = None,
    dpop_key: DPoPKeyOpt = None,
    cert: CertOpt = None,
    cert_key: CertKeyOpt = None,
    mode: ModeOpt = None,
    auth: AuthOpt = None,
    client_cert_header: HeaderOpt = None,
    resource: ResourceOpt = None,
    scope: ScopeOpt = None,
    client_secret_file: SecretOpt = None,
) -> None:
    """Get a DPoP- or certificate-bound access token; prints the token response JSON."""
    from proofbound.cli.main import diagnosed

    with diagnosed():
        source = _source(
            issuer=issuer,
            client_id=client_id,
            key=key,
            dpop_key=dpop_key,
            cert=cert,
            cert_key=cert_key,
            mode=mode,
            auth=auth,
            client_cert_header=client_cert_header,
            resource=resource,
            scope=scope,
            client_secret_file=client_secret_file,
        )
        try:
            token = _get_token(source)
            response = {"access_token": token, **source._current.raw}
        finally:
            source.close()
    typer.echo(json.dumps(response))


def _get_token(source: Any) -> str:
    from proofbound.client import ClientError

    try:
        token: str = source.token()
    except ClientError as exc:  # not a usage error: the AS or the network said no (exit 1)
        typer.echo(f"error: {' '.join(str(exc).split())}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"token obtained in {source.requests} token request(s)", err=True)
    return token


def _request(
    url: Annotated[str, typer.Argument(help="[METHOD] URL", metavar="[METHOD] URL")],
    issuer: IssuerOpt,
    client_id: ClientIdOpt,
    second: Annotated[str | None, typer.Argument(hidden=True)] = None,
    key: KeyOpt = None,
    dpop_key: DPoPKeyOpt = None,
    cert: CertOpt = None,
    cert_key: CertKeyOpt = None,
    mode: ModeOpt = None,
    auth: AuthOpt = None,
    client_cert_header: HeaderOpt = None,
    resource: ResourceOpt = None,
    scope: ScopeOpt = None,
    client_secret_file: SecretOpt = None,
    header: Annotated[list[str] | None, typer.Option(help="Extra header K:V (repeatable).")] = None,
    data: Annotated[str | None, typer.Option(help="Request body.")] = None,
) -> None:
    """Send one request with a sender-constrained token (nonces and retries handled)."""
    import httpx

    from proofbound.cli.main import UsageError, diagnosed
    from proofbound.client import DPoPAuth

    status = 0
    with diagnosed():
        method, target = ("GET", url) if second is None else (url.upper(), second)
        if not target.startswith(("http://", "https://")):
            raise UsageError("the URL must start with http:// or https://")
        extra: dict[str, str] = {}
        for item in header or ():
            name, sep, value = item.partition(":")
            if not sep or not name.strip():
                raise UsageError("--header takes NAME:VALUE")
            extra[name.strip()] = value.strip()
        source = _source(
            issuer=issuer,
            client_id=client_id,
            key=key,
            dpop_key=dpop_key,
            cert=cert,
            cert_key=cert_key,
            mode=mode,
            auth=auth,
            client_cert_header=client_cert_header,
            resource=resource,
            scope=scope,
            client_secret_file=client_secret_file,
        )
        try:
            token = _get_token(source)
            if source.mode == "dpop":
                request_auth: Any = DPoPAuth(source.dpop_key, token, nonces=source.nonces)
            else:
                extra = {**extra, **source.certificate_headers, "Authorization": f"Bearer {token}"}
                request_auth = httpx.USE_CLIENT_DEFAULT
            try:
                response = source.http.request(
                    method,
                    target,
                    headers=extra,
                    content=data.encode() if data is not None else None,
                    auth=request_auth,
                )
            except httpx.HTTPError as exc:
                raise UsageError(f"request failed: {type(exc).__name__}") from None
        finally:
            source.close()
        status = response.status_code
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        headers = {
            name: ("<redacted>" if name.lower() in _REDACTED else value)
            for name, value in response.headers.items()
        }
    typer.echo(json.dumps({"status": status, "headers": headers, "body": body}))
    raise typer.Exit(0 if 200 <= status < 300 else 1)


def register(app: typer.Typer) -> None:
    """Add the client commands to the CLI."""
    app.command("token")(_token)
    app.command("request")(_request)
