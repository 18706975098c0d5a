"""Real TLS: nginx terminates TLS with client certificates in front of ``proofbound example-api``.

nginx (the Debian package; installed here when ``/usr/sbin/nginx`` is missing) listens on its
own loopback address, ``https://127.0.0.2:N``, with a server certificate from a CA made for the
test, asks for a client certificate (``ssl_verify_client optional_no_ca``: any certificate, no
chain check) and forwards it to the API on 127.0.0.1 in ``X-SSL-Client-Cert``
(``$ssl_client_escaped_cert``, empty -- so not sent -- without a certificate). The API trusts
that header only from 127.0.0.1, where nginx connects from.

The client gets its certificate-bound token (RFC 8705) straight from ``proofbound serve``, which
trusts 127.0.0.1 as if it were the proxy (the local-testing mode): ``self_signed_tls_client_auth``
with the certificate in the header. Then, over real TLS through nginx: the right certificate is
accepted, another or none is refused, and a certificate header the client sends -- through nginx,
or straight to the API from 127.0.0.3 -- is ignored.

When nginx cannot be installed the tests skip, or fail under ``PROOFBOUND_REQUIRE_BACKENDS=1``
(CI). Every process is stopped by its pid and every wait is bounded. Nothing here prints a token
or a key.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import quote

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from tests.client._support import Certificate, self_signed_certificate
from tests.example_api.test_processes import (
    HEALTHY_WITHIN,
    REGISTRATION_TOKEN,
    Launcher,
    Process,
    api_args,
    challenge_error,
)

from proofbound.jwk.keys import load_private_key

REQUIRE_BACKENDS = os.environ.get("PROOFBOUND_REQUIRE_BACKENDS") == "1"
NGINX = Path("/usr/sbin/nginx")
INSTALL_WITHIN = 240.0  # apt-get update + install, each bounded by this
NGINX_HOST = "127.0.0.2"  # nginx's own loopback address
OTHER_HOST = "127.0.0.3"  # a client that is not the proxy
CERT_HEADER = "X-SSL-Client-Cert"


def _unavailable(why: str) -> NoReturn:
    message = f"nginx unavailable: {why}"
    if REQUIRE_BACKENDS:
        pytest.fail(message)
    pytest.skip(message)


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def nginx_binary() -> Path:
    """``/usr/sbin/nginx``, from Debian's ``nginx-light`` (or ``nginx``) when it is missing."""
    if NGINX.exists():
        return NGINX
    apt_get = shutil.which("apt-get")
    if apt_get is None or os.geteuid() != 0:
        _unavailable(f"{NGINX} is missing and cannot be installed (needs root and apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    steps = [
        [apt_get, "update", "-qq"],
        [apt_get, "install", "-y", "-qq", "--no-install-recommends", "nginx-light"],
    ]
    for step in steps:
        try:
            result = subprocess.run(  # noqa: S603 -- fixed arguments
                step, capture_output=True, text=True, env=env, timeout=INSTALL_WITHIN, check=False
            )
        except subprocess.TimeoutExpired:
            _unavailable(f"`apt-get {step[1]}` took more than {INSTALL_WITHIN:.0f} s")
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip()[-500:]
            _unavailable(f"`apt-get {step[1]}` exited with {result.returncode}: {tail}")
    if not NGINX.exists():
        _unavailable(f"{NGINX} is still missing after installing nginx-light")
    return NGINX


# -- certificates -------------------------------------------------------------------------------


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def write_server_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and its server certificate for ``NGINX_HOST``: (CA file, cert file, key file)."""
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "proofbound test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NGINX_HOST)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(NGINX_HOST))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = (directory / n for n in ("ca.pem", "server.pem", "server.key"))
    ca_file.write_bytes(_pem(ca))
    cert_file.write_bytes(_pem(server))
    key_file.write_bytes(_key_pem(key))
    key_file.chmod(0o600)
    return ca_file, cert_file, key_file


@dataclass(frozen=True)
class ClientFiles:
    """A client certificate on disk, for the TLS handshake."""

    cert: Certificate
    cert_file: Path
    key_file: Path


def write_client_certificate(directory: Path, name: str) -> ClientFiles:
    cert = self_signed_certificate(f"proofbound {name}")
    cert_file, key_file = directory / f"{name}.pem", directory / f"{name}.key"
    cert_file.write_text(cert.pem)
    key_file.write_bytes(cert.key_pem)
    key_file.chmod(0o600)
    return ClientFiles(cert, cert_file, key_file)


def escaped(cert: Certificate) -> str:
    """The PEM as nginx's ``$ssl_client_escaped_cert`` forwards it."""
    return quote(cert.pem, safe="")


# -- nginx ----------------------------------------------------------------------------------------


def nginx_config(prefix: Path, port: int, upstream: str, server: tuple[Path, Path]) -> str:
    cert_file, key_file = server
    # No ``user``: as root the workers run as nobody, who cannot enter pytest's 0700 temp
    # directory -- so nothing may be spooled there (GETs have no body; responses are not buffered).
    return f"""\
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
daemon off;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen {NGINX_HOST}:{port} ssl;
        ssl_certificate {cert_file};
        ssl_certificate_key {key_file};
        ssl_verify_client optional_no_ca;
        location / {{
            proxy_pass {upstream};
            proxy_buffering off;
            proxy_set_header Host $host:$server_port;
            proxy_set_header {CERT_HEADER} $ssl_client_escaped_cert;
        }}
    }}
}}
"""


class Nginx(Process):
    """nginx in the foreground (``daemon off``), stopped by its pid like the other processes."""

    def __init__(self, binary: Path, prefix: Path, config: Path) -> None:
        super().__init__(["nginx", "-p", str(prefix), "-c", str(config)], prefix / "nginx.log")
        self.binary = binary

    def start(self) -> Nginx:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 -- fixed arguments
                [str(self.binary), "-e", str(self.log), *self.args[1:]],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        return self

    def output(self) -> str:
        error_log = self.log.with_name("error.log")
        logs = [p.read_text(errors="replace") for p in (self.log, error_log) if p.exists()]
        return "".join(logs)[-3000:]

    def wait_accepting(self, host: str, port: int) -> None:
        assert self.process is not None
        deadline = time.monotonic() + HEALTHY_WITHIN
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"nginx exited with {self.process.returncode}:\n{self.output()}")
            with contextlib.suppress(OSError), socket.create_connection((host, port), 0.5):
                return
            time.sleep(0.05)
        pytest.fail(f"nginx not accepting within {HEALTHY_WITHIN} s:\n{self.output()}")


# -- the stack ------------------------------------------------------------------------------------


@dataclass
class Stack:
    issuer: str
    api: str  # the API itself, on 127.0.0.1
    public: str  # nginx: the API's public URL and the tokens' audience
    ca_file: Path
    legit: ClientFiles
    attacker: ClientFiles
    client_id: str
    token: str

    def tls(self, client: ClientFiles | None) -> httpx.Client:
        """An httpx client that trusts the test CA and presents ``client``'s certificate."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        if client is not None:
            context.load_cert_chain(client.cert_file, client.key_file)
        return httpx.Client(verify=context, timeout=10.0)


def register_mtls_client(http: httpx.Client, issuer: str, cert: Certificate) -> str:
    jwk = load_private_key(cert.key_pem).public_jwk()
    response = http.post(
        issuer + "/register",
        headers={"Authorization": f"Bearer {REGISTRATION_TOKEN}"},
        json={
            "token_endpoint_auth_method": "self_signed_tls_client_auth",
            "jwks": {"keys": [{**jwk, "x5c": [cert.x5c]}]},
            "tls_client_certificate_bound_access_tokens": True,
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["client_id"])


def mtls_token(http: httpx.Client, issuer: str, client_id: str, cert: Certificate) -> str:
    response = http.post(
        issuer + "/token",
        data={"grant_type": "client_credentials", "client_id": client_id},
        headers={CERT_HEADER: escaped(cert)},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    return str(body["access_token"])


@pytest.fixture(scope="module")
def stack(nginx_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("nginx-tls")
    launcher = Launcher(directory)
    as_port, api_port = _free_port("127.0.0.1"), _free_port("127.0.0.1")
    tls_port = _free_port(NGINX_HOST)
    issuer, api = f"http://127.0.0.1:{as_port}", f"http://127.0.0.1:{api_port}"
    public = f"https://{NGINX_HOST}:{tls_port}"
    ca_file, server_cert, server_key = write_server_certificates(directory)
    legit = write_client_certificate(directory, "client")
    attacker = write_client_certificate(directory, "attacker")
    prefix = directory / "nginx"
    prefix.mkdir()
    config = prefix / "nginx.conf"
    config.write_text(nginx_config(prefix, tls_port, api, (server_cert, server_key)))
    try:
        server = launcher.start(
            "as",
            "serve",
            "--issuer",
            issuer,
            "--port",
            str(as_port),
            "--data-dir",
            str(directory / "data"),
            "--registration-token",
            REGISTRATION_TOKEN,
            "--resource",
            public,
            "--trusted-proxy",
            "127.0.0.1/32",
            "--log-level",
            "warning",
        )
        example = launcher.start(
            "api",
            *api_args(
                issuer,
                api_port,
                "--audience",
                public,
                "--public-url",
                public,
                "--require",
                "mtls",
                "--trusted-proxy",
                "127.0.0.1/32",
            ),
        )
        nginx = Nginx(nginx_binary, prefix, config).start()
        launcher.started.append(nginx)
        server.wait_healthy(issuer)
        example.wait_healthy(api)
        nginx.wait_accepting(NGINX_HOST, tls_port)
        with httpx.Client(timeout=10.0) as http:
            client_id = register_mtls_client(http, issuer, legit.cert)
            token = mtls_token(http, issuer, client_id, legit.cert)
        yield Stack(issuer, api, public, ca_file, legit, attacker, client_id, token)
    finally:
        launcher.stop_all()


def whoami(stack: Stack, client: ClientFiles | None, **headers: str) -> httpx.Response:
    """``GET /whoami`` through nginx over TLS, with ``client``'s certificate (or none)."""
    with stack.tls(client) as http:
        return http.get(
            stack.public + "/whoami",
            headers={"Authorization": f"Bearer {stack.token}", **headers},
        )


# -- the tests ------------------------------------------------------------------------------------


def test_the_right_certificate_over_tls_is_accepted(stack: Stack) -> None:
    with stack.tls(stack.legit) as http:
        health = http.get(stack.public + "/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    response = whoami(stack, stack.legit)
    assert response.status_code == 200, response.headers.get("www-authenticate")
    body = response.json()
    assert body["binding"] == "mtls"
    assert body["cnf"] == {"x5t#S256": stack.legit.cert.thumbprint}
    assert body["client_id"] == stack.client_id
    assert body["iss"] == stack.issuer
    assert stack.token not in response.text


def test_another_certificate_is_refused(stack: Stack) -> None:
    response = whoami(stack, stack.attacker)
    assert response.status_code == 401
    assert challenge_error(response, "Bearer") == "invalid_token"


def test_no_certificate_is_refused(stack: Stack) -> None:
    response = whoami(stack, None)
    assert response.status_code == 401
    assert challenge_error(response, "Bearer") == "invalid_token"


@pytest.mark.parametrize("presented", ["none", "attacker"])
def test_a_certificate_header_sent_through_nginx_is_ignored(stack: Stack, presented: str) -> None:
    # nginx sets the header from the handshake (empty, so absent, without a certificate).
    client = None if presented == "none" else stack.attacker
    response = whoami(stack, client, **{CERT_HEADER: escaped(stack.legit.cert)})
    assert response.status_code == 401
    assert challenge_error(response, "Bearer") == "invalid_token"


def test_a_certificate_header_sent_straight_from_another_address_is_ignored(
    stack: Stack,
) -> None:
    headers = {"Authorization": f"Bearer {stack.token}", CERT_HEADER: escaped(stack.legit.cert)}
    transport = httpx.HTTPTransport(local_address=OTHER_HOST)
    with httpx.Client(transport=transport, timeout=10.0) as http:
        response = http.get(stack.api + "/whoami", headers=headers)
    assert response.status_code == 401
    assert challenge_error(response, "Bearer") == "invalid_token"
    # The same request from 127.0.0.1, the trusted proxy address, is what makes the difference.
    with httpx.Client(timeout=10.0) as http:
        trusted = http.get(stack.api + "/whoami", headers=headers)
    assert trusted.status_code == 200, trusted.headers.get("www-authenticate")
