"""Interoperability: the resource-server guard on tokens of an independent AS, oidc-provider.

``oidc_provider.mjs`` runs oidc-provider v9 on 127.0.0.1 (client_credentials, DPoP with AS nonces,
certificate-bound tokens with the certificate taken from a proxy header, resource indicators with
JWT access tokens, introspection, revocation) and obtains tokens from it with panva's
oauth4webapi: a DPoP-bound JWT, a certificate-bound JWT and a DPoP-bound opaque token for our
resource, and a DPoP-bound JWT and opaque token for another resource. It hands them, with the
throwaway DPoP private key, to this module on its stdout and keeps serving.

The guard discovers the issuer's keys itself (``IssuerKeys`` over httpx: the RFC 8414 metadata,
which oidc-provider serves too, then the JWKS), and every request is decided on a
``RequestContext`` with proofs made here with ``proofbound.create_proof``. Each rejection is
checked for its exception class and ``reason`` and for what ``Guard.error_response`` renders:
status, the ``error`` on the right ``WWW-Authenticate`` challenge, ``algs`` on the ``DPoP``
challenge, ``DPoP-Nonce``.

Node 20+ and npm are needed; the pinned packages (``package-lock.json``) are installed with
``npm ci`` when oidc-provider is missing from ``node_modules``. Without node/npm the tests skip,
or fail under ``PROOFBOUND_REQUIRE_BACKENDS=1`` (CI). Tokens and keys never reach pytest's output:
they are held in values whose ``repr`` is redacted (``Hidden``, ``Secret``, ``SigningKey``), and no
assertion compares a token itself (pytest would print a string diff).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import queue
import re
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests._node import node_with_packages

from proofbound import (
    AccessTokenPolicy,
    ProofPolicy,
    RollingNonces,
    SigningKey,
    create_proof,
    generate_key,
    load_private_key,
)
from proofbound.errors import (
    InvalidDPoPProof,
    InvalidToken,
    ProofboundError,
    Reason,
    UseDPoPNonce,
)
from proofbound.jws import decode_segment, sign_compact
from proofbound.mtls import ClientCertificate, load_certificate
from proofbound.policy import RoutePolicy
from proofbound.resource.context import RequestContext
from proofbound.resource.guard import Guard, Principal
from proofbound.resource.issuers import Introspector, IssuerKeys
from proofbound.resource.revocations import RevocationFeed
from proofbound.server.config import Secret

HERE = Path(__file__).resolve().parent

RESOURCE = "https://rs.example/api"
OPAQUE_RESOURCE = "https://rs.example/opaque"
OTHER_JWT_RESOURCE = "https://other.example/jwt"
OTHER_OPAQUE_RESOURCE = "https://other.example/opaque"
URL = f"{RESOURCE}/orders"
SCOPE = "read write"
CERT_HEADER = "x-ssl-client-cert"
TTL = 300
STARTUP_TIMEOUT = 30.0
ALGS = " ".join(ProofPolicy().algorithms)


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


class Hidden(str):
    """A token, proof or header value: a ``str`` whose ``repr`` never shows it (pytest output)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<hidden>"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# --- the independent AS -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def node() -> str:
    """A Node 20+ binary with the pinned packages (oidc-provider among them) installed."""
    return node_with_packages(HERE, "oidc-provider", what="independent AS")


@dataclass(frozen=True)
class Cert:
    """A self-signed client certificate, as the guard and as a proxy header see it."""

    pem: str = field(repr=False)
    loaded: ClientCertificate

    @classmethod
    def make(cls, name: str) -> Cert:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
        return cls(pem, load_certificate(pem))

    @property
    def thumbprint(self) -> str:
        """RFC 8705 §3.1, computed here independently of proofbound."""
        der = x509.load_pem_x509_certificate(self.pem.encode("ascii")).public_bytes(
            serialization.Encoding.DER
        )
        return _b64(hashlib.sha256(der).digest())


@dataclass(frozen=True)
class Client:
    client_id: str
    secret: Secret

    def config(self) -> dict[str, str]:
        return {"client_id": self.client_id, "client_secret": self.secret.reveal()}


class Issued:
    """What oidc-provider issued, as the Node script reported it (tokens hidden from repr)."""

    def __init__(self, report: dict[str, Any], clients: dict[str, Client], cert: Cert) -> None:
        self.issuer: str = report["issuer"]
        self.versions: dict[str, str] = report["versions"]
        self.discovery: dict[str, Any] = report["discovery"]
        self.as_kid: str = report["as_kid"]
        self.as_nonce: str = report["as_nonce"]
        self.dpop_key: SigningKey = load_private_key(report.pop("dpop_private_jwk"))
        self.clients = clients
        self.cert = cert
        self.responses: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, Hidden] = {}
        for name in ("dpop_jwt", "dpop_opaque", "mtls_jwt", "other_jwt", "other_opaque"):
            response = dict(report[name])
            self.tokens[name] = Hidden(response.pop("access_token"))
            self.responses[name] = response

    def __repr__(self) -> str:
        return f"Issued(issuer={self.issuer!r})"


@dataclass
class Provider:
    process: subprocess.Popen[str]
    issued: Issued


def _first_line(process: subprocess.Popen[str], timeout: float) -> str | None:
    """The first stdout line of ``process``, or None if none came within ``timeout``."""
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    reader = threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True)
    reader.start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return None


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def provider(node: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    """oidc-provider on a free loopback port, with its tokens already issued."""
    workdir = tmp_path_factory.mktemp("oidc-provider")
    clients = {
        name: Client(f"{name}-client", Secret(secrets.token_urlsafe(32)))
        for name in ("dpop", "mtls", "rs")
    }
    cert = Cert.make("proofbound-independent-as-client")
    config = workdir / "config.json"
    config.write_text(
        json.dumps(
            {
                "resource": RESOURCE,
                "opaque_resource": OPAQUE_RESOURCE,
                "other_resources": {"jwt": OTHER_JWT_RESOURCE, "opaque": OTHER_OPAQUE_RESOURCE},
                "scope": SCOPE,
                "cert_header": CERT_HEADER,
                # nginx's $ssl_client_escaped_cert: the PEM percent-encoded
                "cert_header_value": quote(cert.pem, safe=""),
                "clients": {name: client.config() for name, client in clients.items()},
            }
        ),
        encoding="utf-8",
    )
    config.chmod(0o600)
    stderr_path = workdir / "stderr.log"
    with stderr_path.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen(  # noqa: S603 -- our own script, fixed arguments
            [node, str(HERE / "oidc_provider.mjs"), str(config)],
            cwd=HERE,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        line = _first_line(process, STARTUP_TIMEOUT)
        log = _tail(stderr_path.read_text(encoding="utf-8", errors="replace"))
        if not line:
            pytest.fail(f"oidc_provider.mjs reported nothing in {STARTUP_TIMEOUT:.0f} s:\n{log}")
        try:
            report = json.loads(line)
        except ValueError:
            pytest.fail(f"oidc_provider.mjs printed no JSON ({len(line)} characters):\n{log}")
        yield Provider(process, Issued(report, clients, cert))
    finally:
        if process.stdin is not None:
            process.stdin.close()
        _stop(process)
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture(scope="module")
def issued(provider: Provider) -> Issued:
    return provider.issued


# --- the resource server's side -----------------------------------------------------------------


def issuer_keys(issued: Issued, **policy: Any) -> IssuerKeys:
    """The issuer's keys as a resource server finds them: discovery, then the JWKS, over httpx."""
    return IssuerKeys(
        AccessTokenPolicy(issuer=issued.issuer, audiences=(RESOURCE,), **policy),
        http=httpx.Client(timeout=5.0, follow_redirects=False),
    )


@pytest.fixture
def make_guard(issued: Issued) -> Iterator[Callable[..., Guard]]:
    """Guards over oidc-provider's discovered keys, closed after the test."""
    made: list[Guard] = []

    def make(**kw: Any) -> Guard:
        guard = Guard([issuer_keys(issued)], **kw)
        made.append(guard)
        return guard

    yield make
    for guard in made:
        guard.close()


@pytest.fixture
def guard(make_guard: Callable[..., Guard]) -> Guard:
    return make_guard()


def now() -> int:
    return int(time.time())


def proof(
    issued: Issued,
    token: str,
    *,
    key: SigningKey | None = None,
    htm: str = "GET",
    htu: str = URL,
    at: int | None = None,
    ath_of: str | None = None,
    nonce: str | None = None,
) -> Hidden:
    """A fresh proof for ``token`` (``ath_of``: hash another string instead)."""
    return Hidden(
        create_proof(
            key or issued.dpop_key,
            htm=htm,
            htu=htu,
            now=now() if at is None else at,
            access_token=token if ath_of is None else ath_of,
            nonce=nonce,
        )
    )


def claims_for(token: str) -> dict[str, Any]:
    """Valid proof claims for the request (for proofs assembled by hand)."""
    return {
        "jti": secrets.token_urlsafe(16),
        "htm": "GET",
        "htu": URL,
        "iat": now(),
        "ath": _b64(hashlib.sha256(token.encode("ascii")).digest()),
    }


def segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def ctx(
    scheme: str | None,
    token: str | None,
    dpop: Sequence[str] | None = None,
    *,
    cert: ClientCertificate | None = None,
) -> RequestContext:
    headers: dict[str, tuple[str, ...]] = {}
    if scheme is not None and token is not None:
        headers["authorization"] = (Hidden(f"{scheme} {token}"),)
    if dpop is not None:
        headers["dpop"] = tuple(Hidden(value) for value in dpop)
    return RequestContext(method="GET", url=URL, headers=headers, client_cert=cert)


_TOKEN_CHARS = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_SCHEME_RE = re.compile(rf"\s*({_TOKEN_CHARS})(?=\s|,|$)\s*,?")
_PARAM_RE = re.compile(rf'\s*({_TOKEN_CHARS})\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


def challenges(value: str) -> dict[str, dict[str, str]]:
    """A ``WWW-Authenticate`` value as scheme -> parameters (quoted-string params only)."""
    parsed: dict[str, dict[str, str]] = {}
    position, current = 0, None
    while position < len(value):
        param = _PARAM_RE.match(value, position)
        if param is not None and current is not None:
            current[param.group(1)] = re.sub(r"\\(.)", r"\1", param.group(2))
            position = param.end()
            continue
        scheme = _SCHEME_RE.match(value, position)
        assert scheme is not None, f"unparsable challenge at {position}: {value!r}"
        assert scheme.group(1) not in parsed, f"scheme twice: {value!r}"
        current = parsed[scheme.group(1)] = {}
        position = scheme.end()
    return parsed


@dataclass(frozen=True)
class Rendered:
    status: int
    headers: dict[str, str]
    challenges: dict[str, dict[str, str]]


def rendered(guard: Guard, exc: ProofboundError, context: RequestContext) -> Rendered:
    response = guard.error_response(exc, context)
    headers = dict(response.headers)
    assert len(headers) == len(response.headers), "a header field appears twice"
    return Rendered(response.status, headers, challenges(headers.get("WWW-Authenticate", "")))


def refused(
    guard: Guard,
    context: RequestContext,
    exc_type: type[ProofboundError],
    reason: Reason,
    *,
    error: str,
    on: str,
    status: int = 401,
) -> Rendered:
    """The guard refuses ``context`` with exactly this class and reason, rendered as expected."""
    with pytest.raises(ProofboundError) as caught:
        guard.authorize(context)
    assert type(caught.value) is exc_type
    assert caught.value.reason is reason
    response = rendered(guard, caught.value, context)
    assert response.status == status
    assert response.challenges[on]["error"] == error
    others = [s for s, params in response.challenges.items() if s != on and "error" in params]
    assert others == [], "the error goes on one challenge only"
    if "DPoP" in response.challenges:
        assert response.challenges["DPoP"]["algs"] == ALGS  # RFC 9449 §7.1
    assert "Bearer" in response.challenges, "the default policy accepts both schemes"
    return response


# --- what the AS issued -------------------------------------------------------------------------


def test_as_and_client_are_the_pinned_packages(issued: Issued) -> None:
    lock = json.loads((HERE / "package-lock.json").read_text(encoding="utf-8"))["packages"]
    for name in ("oidc-provider", "oauth4webapi"):
        assert issued.versions[name] == lock[f"node_modules/{name}"]["version"]
    assert issued.versions["oidc-provider"].split(".", 1)[0] in ("8", "9")
    assert int(issued.versions["node"].split(".", 1)[0]) >= 20


def test_tokens_as_issued(issued: Issued) -> None:
    assert issued.discovery["dpop_signing_alg_values_supported"]
    assert issued.discovery["tls_client_certificate_bound_access_tokens"] is True
    for name in ("dpop_jwt", "dpop_opaque", "other_jwt", "other_opaque"):
        assert issued.responses[name]["token_type"].lower() == "dpop", name
    assert issued.responses["mtls_jwt"]["token_type"].lower() == "bearer"
    # The first DPoP token request went through one use_dpop_nonce round trip.
    assert issued.responses["dpop_jwt"]["nonce_retries"] == 1
    for name, response in issued.responses.items():
        assert response["expires_in"] == TTL, name
        assert set(response["scope"].split()) == set(SCOPE.split()), name
    for name in ("dpop_jwt", "mtls_jwt", "other_jwt"):
        header = decode_segment(issued.tokens[name].split(".", 1)[0])
        # RFC 9068 §2.1: typ at+jwt, so AccessTokenPolicy needs no strict_typ=False.
        assert header == {"alg": "ES256", "typ": "at+jwt", "kid": issued.as_kid}, name
    for name in ("dpop_opaque", "other_opaque"):
        assert "." not in issued.tokens[name], f"{name} is not opaque"


def test_keys_are_discovered_through_rfc8414_metadata(issued: Issued) -> None:
    with httpx.Client(timeout=5.0) as http:
        rfc8414 = http.get(f"{issued.issuer}/.well-known/oauth-authorization-server")
    assert rfc8414.status_code == 200
    keys = issuer_keys(issued)
    try:
        keys.verifier()
        # the first candidate (RFC 8414 §3, no path to insert) names the issuer: taken as is
        metadata = keys.metadata
        assert metadata is not None
        assert metadata == rfc8414.json()
        assert metadata["issuer"] == issued.issuer
        assert metadata["jwks_uri"] == issued.discovery["jwks_uri"]
    finally:
        keys.close()


# --- DPoP-bound JWT -----------------------------------------------------------------------------


def _assert_dpop_principal(
    principal: Principal, issued: Issued, audience: str, *, subject: str | None = None
) -> None:
    client_id = issued.clients["dpop"].client_id
    assert principal.binding == "dpop"
    assert principal.thumbprint == issued.dpop_key.thumbprint
    assert principal.issuer == issued.issuer
    assert principal.client_id == client_id
    assert principal.subject == (client_id if subject is None else subject)
    assert principal.scopes == frozenset(SCOPE.split())
    assert principal.claims["aud"] == audience
    assert principal.public()["cnf"] == {"jkt": issued.dpop_key.thumbprint}


def test_dpop_bound_jwt_with_its_proof_is_accepted(guard: Guard, issued: Issued) -> None:
    token = issued.tokens["dpop_jwt"]
    principal = guard.authorize(ctx("DPoP", token, [proof(issued, token)]))
    _assert_dpop_principal(principal, issued, RESOURCE)
    assert principal.next_nonce is None  # no RS nonces configured
    assert principal.claims["exp"] - principal.claims["iat"] == TTL
    # every request has a proof of its own; each passes
    for _ in range(3):
        assert guard.authorize(ctx("DPoP", token, [proof(issued, token)])).binding == "dpop"


async def test_dpop_bound_jwt_through_authorize_async(guard: Guard, issued: Issued) -> None:
    token = issued.tokens["dpop_jwt"]
    context = ctx("DPoP", token, [proof(issued, token)])
    principal = await guard.authorize_async(context)
    _assert_dpop_principal(principal, issued, RESOURCE)
    with pytest.raises(InvalidDPoPProof) as caught:
        await guard.authorize_async(context)
    assert caught.value.reason is Reason.PROOF_REPLAYED


def test_replayed_proof(guard: Guard, issued: Issued) -> None:
    token = issued.tokens["dpop_jwt"]
    context = ctx("DPoP", token, [proof(issued, token)])
    assert guard.authorize(context).binding == "dpop"
    refused(
        guard,
        context,
        InvalidDPoPProof,
        Reason.PROOF_REPLAYED,
        error="invalid_dpop_proof",
        on="DPoP",
    )


def test_bearer_downgrade(guard: Guard, issued: Issued) -> None:
    """RFC 9449 §7.2: a DPoP-bound token under Bearer, with or without a proof alongside."""
    token = issued.tokens["dpop_jwt"]
    for dpop in (None, [proof(issued, token)]):
        refused(
            guard,
            ctx("Bearer", token, dpop),
            InvalidToken,
            Reason.TOKEN_SCHEME,
            error="invalid_token",
            on="Bearer",
        )


def _hand_made(issued: Issued, header: dict[str, Any], claims: dict[str, Any]) -> str:
    return sign_compact(header, claims, issued.dpop_key)


def _alg_none(issued: Issued, token: str, signature: str) -> str:
    header = {"typ": "dpop+jwt", "alg": "none", "jwk": issued.dpop_key.public_jwk()}
    return f"{segment(header)}.{segment(claims_for(token))}.{signature}"


def _hs256(issued: Issued, token: str) -> str:
    header = {"typ": "dpop+jwt", "alg": "HS256", "jwk": issued.dpop_key.public_jwk()}
    signing_input = f"{segment(header)}.{segment(claims_for(token))}"
    mac = hmac.new(b"k" * 32, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


ProofCase = Callable[[Issued, str], list[str]]

PROOF_CASES: dict[str, tuple[ProofCase, Reason]] = {
    "missing": (lambda i, t: [], Reason.PROOF_MISSING),
    "two DPoP headers": (lambda i, t: [proof(i, t), proof(i, t)], Reason.PROOF_MULTIPLE),
    "another key": (lambda i, t: [proof(i, t, key=generate_key("ES256"))], Reason.JKT_MISMATCH),
    "wrong htm": (lambda i, t: [proof(i, t, htm="POST")], Reason.HTM_MISMATCH),
    "wrong htu": (lambda i, t: [proof(i, t, htu=f"{RESOURCE}/other")], Reason.HTU_MISMATCH),
    "wrong htu origin": (
        lambda i, t: [proof(i, t, htu="https://rs.example:8443/api/orders")],
        Reason.HTU_MISMATCH,
    ),
    "missing ath": (
        lambda i, t: [create_proof(i.dpop_key, htm="GET", htu=URL, now=now())],
        Reason.PROOF_CLAIM_MISSING,
    ),
    "wrong ath": (lambda i, t: [proof(i, t, ath_of=t + "x")], Reason.ATH_MISMATCH),
    "stale iat": (lambda i, t: [proof(i, t, at=now() - 120)], Reason.IAT_TOO_OLD),
    "future iat": (lambda i, t: [proof(i, t, at=now() + 60)], Reason.IAT_IN_FUTURE),
    "typ jwt": (
        lambda i, t: [_hand_made(i, {"typ": "jwt", "jwk": i.dpop_key.public_jwk()}, claims_for(t))],
        Reason.PROOF_TYP,
    ),
    "alg none, unsigned": (lambda i, t: [_alg_none(i, t, "")], Reason.PROOF_MALFORMED),
    "alg none, with a signature": (
        lambda i, t: [_alg_none(i, t, _b64(b"\0" * 64))],
        Reason.PROOF_ALG,
    ),
    "alg HS256": (lambda i, t: [_hs256(i, t)], Reason.PROOF_ALG),
    "jwk with private d": (
        lambda i, t: [
            _hand_made(i, {"typ": "dpop+jwt", "jwk": i.dpop_key.private_jwk()}, claims_for(t))
        ],
        Reason.PROOF_PRIVATE_JWK,
    ),
    "signed by another key than its jwk": (
        lambda i, t: [
            sign_compact(
                {"typ": "dpop+jwt", "jwk": i.dpop_key.public_jwk()},
                claims_for(t),
                generate_key("ES256"),
            )
        ],
        Reason.PROOF_SIGNATURE,
    ),
}


@pytest.mark.parametrize("case", list(PROOF_CASES))
def test_dpop_proof_rejections(guard: Guard, issued: Issued, case: str) -> None:
    build, reason = PROOF_CASES[case]
    token = issued.tokens["dpop_jwt"]
    refused(
        guard,
        ctx("DPoP", token, build(issued, token)),
        InvalidDPoPProof,
        reason,
        error="invalid_dpop_proof",
        on="DPoP",
    )
    # None of them spent anything: a good proof still passes.
    assert guard.authorize(ctx("DPoP", token, [proof(issued, token)])).binding == "dpop"


def test_rs_nonce(make_guard: Callable[..., Guard], issued: Issued) -> None:
    """RFC 9449 §9 with RS nonces: a made-up nonce or none is answered with a fresh one."""
    nonces = RollingNonces([secrets.token_bytes(32)], purpose="rs", origin="https://rs.example")
    guard = make_guard(nonces=nonces)
    token = issued.tokens["dpop_jwt"]
    fresh: list[str] = []
    cases = (
        ("made-up-nonce", Reason.NONCE_INVALID),
        (None, Reason.NONCE_MISSING),
        # oidc-provider's own nonce: the AS's, not this resource's (§9)
        (issued.as_nonce, Reason.NONCE_INVALID),
    )
    for presented, reason in cases:
        context = ctx("DPoP", token, [proof(issued, token, nonce=presented)])
        response = refused(guard, context, UseDPoPNonce, reason, error="use_dpop_nonce", on="DPoP")
        assert response.headers["Cache-Control"] == "no-store"  # RFC 9449 §8.2
        fresh.append(response.headers["DPoP-Nonce"])
        assert nonces.is_valid(fresh[-1], now())
    # retried with the nonce the guard gave out
    retried = guard.authorize(ctx("DPoP", token, [proof(issued, token, nonce=fresh[0])]))
    assert retried.binding == "dpop"
    assert retried.thumbprint == issued.dpop_key.thumbprint


def test_jwt_for_another_resource_is_refused(guard: Guard, issued: Issued) -> None:
    token = issued.tokens["other_jwt"]
    refused(
        guard,
        ctx("DPoP", token, [proof(issued, token)]),
        InvalidToken,
        Reason.TOKEN_AUDIENCE,
        error="invalid_token",
        on="DPoP",
    )


# --- certificate-bound JWT ----------------------------------------------------------------------


def test_certificate_bound_jwt(guard: Guard, issued: Issued) -> None:
    token = issued.tokens["mtls_jwt"]
    principal = guard.authorize(ctx("Bearer", token, cert=issued.cert.loaded))
    assert principal.binding == "mtls"
    assert principal.thumbprint == issued.cert.thumbprint
    assert principal.client_id == issued.clients["mtls"].client_id
    assert principal.claims["cnf"] == {"x5t#S256": issued.cert.thumbprint}
    assert principal.claims["aud"] == RESOURCE
    # the certificate as a proxy forwards it, parsed by proofbound from the PEM
    assert load_certificate(issued.cert.pem).thumbprint == issued.cert.thumbprint
    # a route requiring mTLS takes it too; one requiring DPoP does not
    assert guard.authorize(
        ctx("Bearer", token, cert=issued.cert.loaded), RoutePolicy(require="mtls")
    ).binding == ("mtls")
    with pytest.raises(InvalidToken) as caught:
        guard.authorize(ctx("Bearer", token, cert=issued.cert.loaded), RoutePolicy(require="dpop"))
    assert caught.value.reason is Reason.TOKEN_BINDING_REQUIRED


@pytest.mark.parametrize("presented", ["another certificate", "no certificate"])
def test_certificate_bound_jwt_rejections(guard: Guard, issued: Issued, presented: str) -> None:
    token = issued.tokens["mtls_jwt"]
    if presented == "no certificate":
        cert, reason = None, Reason.CERT_MISSING
    else:
        cert, reason = Cert.make("someone-else").loaded, Reason.CERT_MISMATCH
    refused(
        guard,
        ctx("Bearer", token, cert=cert),
        InvalidToken,
        reason,
        error="invalid_token",
        on="Bearer",
    )


def test_certificate_bound_jwt_under_dpop_is_refused(guard: Guard, issued: Issued) -> None:
    """RFC 9449 §7.2: the DPoP scheme is for DPoP-bound tokens only, even with a good proof."""
    token = issued.tokens["mtls_jwt"]
    refused(
        guard,
        ctx("DPoP", token, [proof(issued, token)], cert=issued.cert.loaded),
        InvalidToken,
        Reason.TOKEN_SCHEME,
        error="invalid_token",
        on="DPoP",
    )


# --- revocation: introspection and the feed ----------------------------------------------------


def _introspector(issued: Issued) -> Introspector:
    rs = issued.clients["rs"]
    return Introspector(
        issued.discovery["introspection_endpoint"],
        client_id=rs.client_id,
        client_secret=rs.secret,
        http=httpx.Client(timeout=5.0, follow_redirects=False),
    )


def test_revoked_opaque_token_is_inactive_at_introspection(issued: Issued) -> None:
    guard = Guard(
        [issuer_keys(issued)],
        introspector=_introspector(issued),
        audiences=(RESOURCE, OPAQUE_RESOURCE),
    )
    try:
        token = issued.tokens["dpop_opaque"]
        # active: introspection gives the binding (cnf.jkt), the proof is checked against it
        principal = guard.authorize(ctx("DPoP", token, [proof(issued, token)]))
        # oidc-provider's introspection answer has no sub for client_credentials (RFC 7662
        # §2.2: optional), so the principal has none either
        _assert_dpop_principal(principal, issued, OPAQUE_RESOURCE, subject="")
        assert principal.claims["token_type"] == "DPoP"
        # introspected, the binding is enforced like a JWT's
        refused(
            guard,
            ctx("DPoP", token, [proof(issued, token, key=generate_key("ES256"))]),
            InvalidDPoPProof,
            Reason.JKT_MISMATCH,
            error="invalid_dpop_proof",
            on="DPoP",
        )
        refused(
            guard,
            ctx("Bearer", token),
            InvalidToken,
            Reason.TOKEN_SCHEME,
            error="invalid_token",
            on="Bearer",
        )
        # RFC 7009 revocation by the client the token was issued to
        owner = issued.clients["dpop"]
        with httpx.Client(timeout=5.0) as http:
            revoked = http.post(
                issued.discovery["revocation_endpoint"],
                data={"token": token, "token_type_hint": "access_token"},
                auth=(owner.client_id, owner.secret.reveal()),
            )
        assert revoked.status_code == 200
        refused(
            guard,
            ctx("DPoP", token, [proof(issued, token)]),
            InvalidToken,
            Reason.TOKEN_INACTIVE,
            error="invalid_token",
            on="DPoP",
        )
    finally:
        guard.close()


def test_introspected_token_for_another_resource_is_refused(issued: Issued) -> None:
    guard = Guard([issuer_keys(issued)], introspector=_introspector(issued))
    try:
        token = issued.tokens["other_opaque"]
        with pytest.raises(InvalidToken):
            guard.authorize(ctx("DPoP", token, [proof(issued, token)]))
    finally:
        guard.close()


class Feed:
    """A revocation feed document served on 127.0.0.1 by a thread (``/revocations``)."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps({"revocations": feed.entries}).encode("utf-8")
                self.send_response(200 if self.path == "/revocations" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/revocations"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def feed() -> Iterator[Feed]:
    served = Feed()
    yield served
    served.close()


def test_token_revoked_through_the_feed(
    make_guard: Callable[..., Guard], issued: Issued, feed: Feed
) -> None:
    revocations = RevocationFeed(feed.url, start=False, http=httpx.Client(timeout=5.0))
    guard = make_guard(revocations=revocations)
    token = issued.tokens["dpop_jwt"]
    feed.entries = [{"kind": "jti", "value": "someone-elses-jti", "revoked_at": now()}]
    assert revocations.poll()
    principal = guard.authorize(ctx("DPoP", token, [proof(issued, token)]))
    jti = principal.claims["jti"]
    feed.entries.append({"kind": "jti", "value": jti, "revoked_at": now()})
    assert revocations.poll()
    refused(
        guard,
        ctx("DPoP", token, [proof(issued, token)]),
        InvalidToken,
        Reason.TOKEN_REVOKED,
        error="invalid_token",
        on="DPoP",
    )
    # the certificate-bound token of another client is not affected
    other = issued.tokens["mtls_jwt"]
    assert guard.authorize(ctx("Bearer", other, cert=issued.cert.loaded)).binding == "mtls"
