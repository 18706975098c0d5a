"""The load generator of ``bench.as_tokens``: token requests from a process of its own.

:func:`serve` runs in a child process (``multiprocessing``, spawn) and is driven over a pipe by
``bench.as_tokens``. It registers a ``private_key_jwt`` client, learns the server's DPoP nonce and
then, for each ``run`` command, first signs N client assertions and N DPoP proofs and builds the
N request messages (untimed), then sends them over ``concurrency`` keep-alive connections and
times from the first byte written to the last response read. Responses are only checked after
the clock has stopped, so during timing this process does HTTP and nothing else.

Two clients: ``raw`` (default) writes the pre-built HTTP/1.1 messages on asyncio streams and reads
each response by its ``Content-Length`` (or chunks); ``httpx`` sends the same requests with
``httpx.AsyncClient``, as a cross-check that the figure is the server's and not the client's.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

import httpx

from proofbound import SigningKey, create_proof, generate_key
from proofbound.jws import sign_compact

__all__ = ["ASSERTION_TYPE", "Failure", "Prepared", "serve", "token_jwts"]

ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_TTL: Final = 60
ALG: Final = "ES256"
_MAX_FAILURES_KEPT: Final = 5
RUN_TIMEOUT: Final = 120.0  # seconds for one run's requests: a stuck server fails the run
_TICKS: Final = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def token_jwts(
    assertion_key: SigningKey,
    dpop_key: SigningKey,
    *,
    client_id: str,
    endpoint: str,
    nonce: str | None,
    now: int,
) -> tuple[str, str]:
    """One token request's client assertion (RFC 7523) and DPoP proof (RFC 9449), fresh ``jti``s.

    Also used by the floor, so it verifies JWTs of exactly the shape the server verifies.
    """
    assertion = sign_compact(
        {"typ": "JWT", "kid": assertion_key.kid},
        {
            "iss": client_id,
            "sub": client_id,
            "aud": endpoint,
            "iat": now,
            "exp": now + ASSERTION_TTL,
            "jti": secrets.token_urlsafe(16),
        },
        assertion_key,
    )
    proof = create_proof(dpop_key, htm="POST", htu=endpoint, now=now, nonce=nonce)
    return assertion, proof


def _form(assertion: str) -> bytes:
    return urlencode(
        {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        }
    ).encode("ascii")


@dataclass(frozen=True, slots=True)
class Failure:
    """A response that was not ``200`` with ``token_type: DPoP``."""

    index: int
    status: int
    headers: dict[str, str]
    body: str

    def describe(self) -> str:
        shown = {k: v for k, v in self.headers.items() if k in ("dpop-nonce", "www-authenticate")}
        return f"request #{self.index}: HTTP {self.status} {shown} {self.body[:300]}"


@dataclass(frozen=True, slots=True)
class Prepared:
    """One run's requests: form bodies and proofs, and the same as raw HTTP/1.1 messages."""

    bodies: tuple[bytes, ...]
    proofs: tuple[str, ...]
    raw: tuple[bytes, ...]


class Client:
    """The client side of the benchmark: its keys, registration and current DPoP nonce."""

    def __init__(self, base: str, registration_token: str) -> None:
        self.base = base.rstrip("/")
        self.assertion_key = generate_key(ALG)
        self.dpop_key = generate_key(ALG)
        self.http = httpx.Client(timeout=30)
        metadata = self._json(self.http.get(f"{self.base}/.well-known/oauth-authorization-server"))
        self.token_endpoint: str = metadata["token_endpoint"]
        registered = self._json(
            self.http.post(
                metadata["registration_endpoint"],
                headers={"Authorization": f"Bearer {registration_token}"},
                json={
                    "token_endpoint_auth_method": "private_key_jwt",
                    "jwks": {"keys": [self.assertion_key.public_jwk()]},
                    "grant_types": ["client_credentials"],
                    "dpop_bound_access_tokens": True,
                },
            ),
            expect=201,
        )
        self.client_id: str = registered["client_id"]
        parts = urlsplit(self.token_endpoint)
        if parts.scheme != "http" or parts.hostname is None:
            raise RuntimeError(f"token endpoint {self.token_endpoint!r} is not plain http")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.path = parts.path or "/"
        self.nonce: str | None = None
        self.nonce_changes = 0
        self.last_token: str | None = None

    @staticmethod
    def _json(response: httpx.Response, expect: int = 200) -> Any:
        if response.status_code != expect:
            raise RuntimeError(
                f"{response.request.method} {response.request.url}: expected HTTP {expect}, got"
                f" {response.status_code} {response.text[:500]}"
            )
        return response.json()

    def _note_nonce(self, value: str | None) -> None:
        if value and value != self.nonce:
            if self.nonce is not None:
                self.nonce_changes += 1
            self.nonce = value

    def refresh(self) -> str:
        """One untimed token request, following ``use_dpop_nonce`` (at most twice); the token."""
        for _ in range(3):
            assertion, proof = self.jwts(int(time.time()))
            response = self.http.post(
                self.token_endpoint,
                content=_form(assertion),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "DPoP": proof,
                },
            )
            self._note_nonce(response.headers.get("dpop-nonce"))
            if response.status_code == 400 and "use_dpop_nonce" in response.text:
                continue
            body = self._json(response)
            if body.get("token_type") != "DPoP":
                raise RuntimeError(f"token_type is not DPoP: {response.text[:500]}")
            self.last_token = body["access_token"]
            return self.last_token
        raise RuntimeError("the server kept answering use_dpop_nonce")

    def jwts(self, now: int) -> tuple[str, str]:
        return token_jwts(
            self.assertion_key,
            self.dpop_key,
            client_id=self.client_id,
            endpoint=self.token_endpoint,
            nonce=self.nonce,
            now=now,
        )

    def prepare(self, n: int) -> Prepared:
        """N distinct requests with the current nonce (all signing happens here, untimed)."""
        now = int(time.time())
        bodies: list[bytes] = []
        proofs: list[str] = []
        raw: list[bytes] = []
        host = f"{self.host}:{self.port}"
        for _ in range(n):
            assertion, proof = self.jwts(now)
            body = _form(assertion)
            bodies.append(body)
            proofs.append(proof)
            raw.append(
                (
                    f"POST {self.path} HTTP/1.1\r\nHost: {host}\r\n"
                    "Content-Type: application/x-www-form-urlencoded\r\n"
                    f"Content-Length: {len(body)}\r\nAccept: application/json\r\n"
                    f"DPoP: {proof}\r\n\r\n"
                ).encode("ascii")
                + body
            )
        return Prepared(tuple(bodies), tuple(proofs), tuple(raw))

    def check(self, responses: Sequence[tuple[int, dict[str, str], bytes]]) -> list[Failure]:
        """Every response 200 with ``token_type: DPoP``; picks up a rotated nonce."""
        failures: list[Failure] = []
        for index, (status, headers, body) in enumerate(responses):
            self._note_nonce(headers.get("dpop-nonce"))
            ok = False
            if status == 200:
                try:
                    ok = json.loads(body).get("token_type") == "DPoP"
                except ValueError:
                    ok = False
            if not ok:
                failures.append(Failure(index, status, headers, body.decode("utf-8", "replace")))
        return failures


# --- CPU accounting ----------------------------------------------------------------------------


def _server_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` (Linux ``/proc``), None if unreadable."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS


class CpuWindow:
    """CPU seconds used by the server and by this process between :meth:`start` and :meth:`stop`,
    as a share of the wall time (1.0 = one core busy all along)."""

    def __init__(self, server_pid: int) -> None:
        self._pid = server_pid
        self._own = 0.0
        self._server0: float | None = None
        self.server_share: float | None = None
        self.load_share = 0.0

    def start(self) -> int:
        self._server0 = _server_cpu_s(self._pid)
        self._own = time.process_time()
        return time.perf_counter_ns()

    def stop(self, started_ns: int) -> int:
        elapsed = time.perf_counter_ns() - started_ns
        own = time.process_time() - self._own
        server = _server_cpu_s(self._pid)
        wall = elapsed / 1e9
        self.load_share = own / wall
        if server is not None and self._server0 is not None:
            self.server_share = (server - self._server0) / wall
        return elapsed


# --- raw HTTP/1.1 client ----------------------------------------------------------------------


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return status, headers


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
        if size == 0:  # then optional trailer lines and an empty line
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)


async def _read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes, bool]:
    """(head, body, server closes) of one response; only framing is looked at."""
    head = await reader.readuntil(b"\r\n\r\n")
    lower = head.lower()
    closes = b"\r\nconnection: close" in lower
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lower.index(b"\r\n", at + 2)
        body = await reader.readexactly(int(head[at + 17 : end]))
    elif b"\r\ntransfer-encoding: chunked" in lower:
        body = await _read_chunked(reader)
    else:
        body = await reader.read()
        closes = True
    return head, body, closes


async def _run_raw(
    host: str, port: int, requests: Sequence[bytes], concurrency: int, cpu: CpuWindow
) -> tuple[int, list[tuple[int, dict[str, str], bytes]]]:
    heads: list[bytes] = [b""] * len(requests)
    bodies: list[bytes] = [b""] * len(requests)
    pending = iter(range(len(requests)))
    conns = [await asyncio.open_connection(host, port) for _ in range(concurrency)]

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for index in pending:
            writer.write(requests[index])
            heads[index], bodies[index], closes = await _read_response(reader)
            if closes:
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
        writer.close()

    start = cpu.start()
    await asyncio.wait_for(asyncio.gather(*(worker(r, w) for r, w in conns)), RUN_TIMEOUT)
    elapsed = cpu.stop(start)
    results = []
    for head, body in zip(heads, bodies, strict=True):
        status, headers = _parse_head(head)
        results.append((status, headers, body))
    return elapsed, results


# --- httpx client -------------------------------------------------------------------------------


async def _run_httpx(
    url: str, base: str, prepared: Prepared, concurrency: int, cpu: CpuWindow
) -> tuple[int, list[tuple[int, dict[str, str], bytes]]]:
    n = len(prepared.bodies)
    responses: list[httpx.Response | None] = [None] * n
    pending = iter(range(n))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        # Open every connection before timing.
        await asyncio.gather(*(client.get(f"{base}/healthz") for _ in range(concurrency)))

        async def worker() -> None:
            for index in pending:
                responses[index] = await client.post(
                    url,
                    content=prepared.bodies[index],
                    headers={
                        "Content-Type": "application/x-www-form-urlencoded",
                        "Accept": "application/json",
                        "DPoP": prepared.proofs[index],
                    },
                )

        start = cpu.start()
        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))), RUN_TIMEOUT)
        elapsed = cpu.stop(start)
    results = []
    for response in responses:
        assert response is not None
        headers = {k.lower(): v for k, v in response.headers.items()}
        results.append((response.status_code, headers, response.content))
    return elapsed, results


# --- the process --------------------------------------------------------------------------------


def _timed_run(
    client: Client,
    n: int,
    concurrency: int,
    kind: str,
    server_pid: int,
    floor_port: int | None = None,
) -> dict[str, Any]:
    """One timed run against the AS, or -- with ``floor_port`` -- the same requests against
    the HTTP floor server there (``bench._http_floor``: only a 200 is checked)."""
    client.refresh()  # a current nonce (and the server's latest token, for the floor)
    prepared = client.prepare(n)
    cpu = CpuWindow(server_pid)
    port = client.port if floor_port is None else floor_port
    base = client.base if floor_port is None else f"http://{client.host}:{floor_port}"
    gc.collect()
    gc.disable()
    try:
        if kind == "raw":
            coro = _run_raw(client.host, port, prepared.raw, concurrency, cpu)
        else:
            coro = _run_httpx(base + client.path, base, prepared, concurrency, cpu)
        elapsed, responses = asyncio.run(coro)
    finally:
        gc.enable()
    if floor_port is None:
        failures = client.check(responses)
    else:
        failures = [
            Failure(i, status, headers, body.decode("utf-8", "replace"))
            for i, (status, headers, body) in enumerate(responses)
            if status != 200
        ]
    return {
        "elapsed_ns": elapsed,
        "n": n,
        "failed": len(failures),
        "failures": [f.describe() for f in failures[:_MAX_FAILURES_KEPT]],
        "nonce_changes": client.nonce_changes,
        "server_cpu": cpu.server_share,
        "load_cpu": cpu.load_share,
    }


def serve(
    conn: Connection,
    base: str,
    registration_token: str,
    concurrency: int,
    kind: str,
    server_pid: int,
) -> None:
    """The child's main loop: ``("run", n)`` → a run's figures, ``("floor", (n, port, pid))``
    → the same against the HTTP floor server, ``("stop", 0)`` → exit.

    The first message sent back describes the client (or carries an ``error``).
    """
    try:
        client = Client(base, registration_token)
        token = client.refresh()
        conn.send(
            {
                "client_id": client.client_id,
                "token_endpoint": client.token_endpoint,
                "nonce": client.nonce,
                "access_token": token,
            }
        )
    except Exception as exc:
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
        return
    while True:
        command, n = conn.recv()
        if command == "stop":
            client.http.close()
            return
        try:
            if command == "floor":
                count, port, pid = n
                conn.send(_timed_run(client, count, concurrency, kind, pid, floor_port=port))
                continue
            conn.send(_timed_run(client, n, concurrency, kind, server_pid))
        except Exception as exc:  # a timeout, a refused connection, a bad refresh response
            conn.send({"error": f"{type(exc).__name__}: {exc}"})
