"""Realistic leak corpora for the scanner tests: real signed tokens in the places they leak to.

Every writer returns where it put each token (``path``, 1-based line), so tests can compare the
scanner's locations exactly.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from proofbound import create_proof, issue_access_token
from proofbound.jwk.keys import SigningKey

NOW = 1_700_000_000
ISSUER = "https://as.example"
AUDIENCE = "https://api.example"


def fingerprint_hex(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:8]


@dataclass
class Tokens:
    """A set of tokens of every kind the scanner tells apart."""

    key: SigningKey
    dpop_key: SigningKey
    live_bearer: str = ""
    expired_bearer: str = ""
    live_dpop: str = ""
    live_mtls: str = ""
    other_issuer: str = ""
    proof: str = ""
    opaque: str = ""
    refresh: str = ""
    all: list[str] = field(default_factory=list)

    @classmethod
    def make(cls, key: SigningKey, dpop_key: SigningKey, *, now: int = NOW) -> Tokens:
        made = cls(key, dpop_key)
        made.live_bearer = access_token(key, now=now, client_id="svc-live")
        made.expired_bearer = access_token(key, now=now - 3600, client_id="svc-old")
        made.live_dpop = access_token(key, now=now, client_id="svc-dpop", jkt=dpop_key.thumbprint)
        made.live_mtls = access_token(
            key, now=now, client_id="svc-mtls", x5t=base64.urlsafe_b64encode(b"c" * 32).decode()
        )
        made.other_issuer = access_token(key, now=now, issuer="https://other.example")
        made.proof = create_proof(
            dpop_key, htm="GET", htu=AUDIENCE + "/orders", now=now, access_token=made.live_dpop
        )
        made.opaque = secrets.token_urlsafe(32)
        made.refresh = secrets.token_hex(24)
        made.all = [
            made.live_bearer,
            made.expired_bearer,
            made.live_dpop,
            made.live_mtls,
            made.other_issuer,
            made.proof,
            made.opaque,
            made.refresh,
        ]
        return made


def access_token(
    key: SigningKey,
    *,
    now: int = NOW,
    ttl: int = 600,
    client_id: str = "svc",
    issuer: str = ISSUER,
    jkt: str | None = None,
    x5t: str | None = None,
) -> str:
    return issue_access_token(
        key,
        issuer=issuer,
        subject=client_id,
        audience=AUDIENCE,
        client_id=client_id,
        now=now,
        ttl=ttl,
        jti=secrets.token_urlsafe(12),
        scope=["orders:read"],
        jkt=jkt,
        x5t_s256=x5t,
    )


Placed = dict[str, list[tuple[str, int]]]  # token -> [(path, line)]


class Writer:
    """Builds a file line by line and remembers which line holds which token."""

    def __init__(self, path: Path, placed: Placed) -> None:
        self.path = path
        self.lines: list[str] = []
        self.placed = placed

    def line(self, text: str, *tokens: str) -> None:
        self.lines.append(text)
        for token in tokens:
            self.placed.setdefault(token, []).append((str(self.path), len(self.lines)))

    def noise(self, count: int, seed: int = 0) -> None:
        for i in range(count):
            n = seed * 1000 + i
            if i % 3 == 0:
                self.line(nginx_line(f"/api/v1/orders/{n}?page={i % 7}", status=200 + i % 2 * 104))
            elif i % 3 == 1:
                self.line(
                    f"2023-11-14T22:13:{i % 60:02d}.123Z INFO orders order={n} status=shipped "
                    f"version=1.2.{i % 9} request_id=550e8400-e29b-41d4-a716-{n:012d}"
                )
            else:
                self.line(
                    f"2023-11-14T22:13:{i % 60:02d}.456Z DEBUG cache blob="
                    + base64.b64encode(hashlib.sha256(str(n).encode()).digest() * 3).decode()
                    + " token_type=Bearer code=200"
                )

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"

    def write(self) -> Path:
        self.path.write_text(self.text(), encoding="utf-8")
        return self.path

    def write_gzip(self) -> Path:
        with gzip.open(self.path, "wt", encoding="utf-8") as out:
            out.write(self.text())
        return self.path


def nginx_line(target: str, *, status: int = 200) -> str:
    return (
        f'10.1.2.3 - - [14/Nov/2023:22:13:20 +0000] "GET {target} HTTP/1.1" {status} 512 '
        '"https://shop.example/" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 '
        '(KHTML, like Gecko) Chrome/119.0 Safari/537.36"'
    )


def nginx_log(path: Path, tokens: Tokens, placed: Placed) -> Path:
    """An nginx access log with tokens in query strings (implicit flow, ?access_token=)."""
    out = Writer(path, placed)
    out.noise(40, seed=1)
    out.line(
        nginx_line(f"/callback?access_token={tokens.live_bearer}&state=af0ifjsldkj"),
        tokens.live_bearer,
    )
    out.noise(25, seed=2)
    out.line(nginx_line(f"/api/orders?token={tokens.expired_bearer}"), tokens.expired_bearer)
    out.line(nginx_line(f"/cb#access_token={tokens.opaque}&token_type=Bearer"), tokens.opaque)
    out.noise(10, seed=3)
    return out.write()


def app_log(path: Path, tokens: Tokens, placed: Placed) -> Path:
    """An application log dumping request headers and token responses."""
    out = Writer(path, placed)
    out.noise(30, seed=4)
    out.line(
        "2023-11-14T22:13:21.001Z DEBUG httpx request headers={'host': 'api.example', "
        f"'authorization': 'Bearer {tokens.live_bearer}', 'accept': '*/*'}}",
        tokens.live_bearer,
    )
    out.line(
        "2023-11-14T22:13:21.002Z DEBUG asgi scope headers=[(b'host', b'api.example'), "
        f"(b'authorization', b'DPoP {tokens.live_dpop}'), (b'dpop', b'{tokens.proof}')]",
        tokens.live_dpop,
        tokens.proof,
    )
    out.noise(12, seed=5)
    out.line(
        '2023-11-14T22:13:22.000Z DEBUG oauth token response {"access_token": "'
        + tokens.live_mtls
        + '", "token_type": "Bearer", "expires_in": 600, "refresh_token": "'
        + tokens.refresh
        + '"}',
        tokens.live_mtls,
        tokens.refresh,
    )
    out.line(
        f"2023-11-14T22:13:23.000Z WARN upstream Authorization: Bearer {tokens.other_issuer}",
        tokens.other_issuer,
    )
    out.noise(5, seed=6)
    return out.write()


def har_file(path: Path, tokens: Tokens, placed: Placed) -> Path:
    """A browser HAR export (pretty-printed JSON) with a token in a header and a response."""
    entry = {
        "request": {
            "method": "GET",
            "url": "https://api.example/orders",
            "headers": [
                {"name": "Accept", "value": "application/json"},
                {"name": "Authorization", "value": f"Bearer {tokens.live_bearer}"},
            ],
            "queryString": [],
        },
        "response": {
            "status": 200,
            "content": {
                "mimeType": "application/json",
                "text": json.dumps({"access_token": tokens.opaque, "token_type": "Bearer"}),
            },
        },
    }
    text = json.dumps({"log": {"version": "1.2", "entries": [entry]}}, indent=2)
    out = Writer(path, placed)
    for line in text.splitlines():
        found = [t for t in (tokens.live_bearer, tokens.opaque) if t in line]
        out.line(line, *found)
    return out.write()
