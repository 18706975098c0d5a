"""No token, proof, private key or nonce secret reaches a log record, an exception or a repr.

Drives accepting and rejecting paths of every core component with all log levels captured, then
searches every captured record (message, args, exception text) and every raised exception's
``str``/``repr``/``diagnostics()`` for the secret strings and their segments.
"""

from __future__ import annotations

import logging

import pytest

from proofbound import (
    AccessTokenPolicy,
    AccessTokenVerifier,
    DPoPVerifier,
    MemoryReplayCache,
    ProofboundError,
    RollingNonces,
    create_proof,
    generate_key,
    issue_access_token,
    load_private_key,
    record_proof,
)
from proofbound.clock import FrozenClock

NOW = 1_700_000_000
ISSUER = "https://as.example"
RS = "https://rs.example"
URL = "https://rs.example/data"
NONCE_SECRET = b"n" * 16 + b"0123456789abcdef"


def _secret_fragments(value: str) -> list[str]:
    parts = [value]
    parts += [segment for segment in value.split(".") if len(segment) >= 16]
    return parts


def test_logs_and_errors_never_contain_tokens_proofs_or_keys(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    client_key = generate_key("ES256")
    attacker = generate_key("ES256")
    as_key = generate_key("EdDSA")
    token = issue_access_token(
        as_key,
        issuer=ISSUER,
        subject="svc",
        audience=RS,
        client_id="svc",
        now=NOW,
        ttl=300,
        jti="at-1",
        jkt=client_key.thumbprint,
    )
    expired = issue_access_token(
        as_key,
        issuer=ISSUER,
        subject="svc",
        audience=RS,
        client_id="svc",
        now=NOW - 1000,
        ttl=300,
        jti="at-2",
    )
    nonces = RollingNonces([NONCE_SECRET], purpose="rs", origin=RS)
    good = create_proof(
        client_key, htm="GET", htu=URL, now=NOW, access_token=token, nonce=nonces.issue(NOW)
    )
    stolen = create_proof(attacker, htm="GET", htu=URL, now=NOW, access_token=token)
    tampered = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    secrets = [token, expired, good, stolen, tampered]
    private_members = [
        value
        for key in (client_key, attacker, as_key)
        for name, value in key.private_jwk().items()
        if name in ("d", "p", "q", "dp", "dq", "qi")
    ]
    pem_bodies = [
        line
        for key in (client_key, as_key)
        for line in key.private_pem().decode().splitlines()[1:-1]
    ]

    verifier = AccessTokenVerifier(
        AccessTokenPolicy(issuer=ISSUER, audiences=(RS,)), {as_key.kid: as_key.public_key}
    )
    proofs = DPoPVerifier(nonces=nonces)
    cache = MemoryReplayCache(clock=FrozenClock(NOW))
    raised: list[BaseException] = []

    def attempt(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ProofboundError as exc:
            raised.append(exc)
            return None

    at = attempt(verifier.verify, token, now=NOW)
    assert at is not None
    attempt(verifier.verify, expired, now=NOW)
    attempt(verifier.verify, token + "x", now=NOW)
    attempt(verifier.verify, token, now=NOW + 10_000)
    ok = attempt(
        proofs.verify, good, method="GET", uri=URL, now=NOW, access_token=token, binding=at.binding
    )
    assert ok is not None
    attempt(record_proof, cache, ok)
    attempt(record_proof, cache, ok)  # replay
    for proof in (stolen, tampered, good + "." + good):
        attempt(
            proofs.verify,
            proof,
            method="GET",
            uri=URL,
            now=NOW,
            access_token=token,
            binding=at.binding,
        )
    attempt(proofs.verify, good, method="POST", uri=URL, now=NOW, access_token=token)
    attempt(proofs.verify, good, method="GET", uri=URL, now=NOW, access_token=expired)
    attempt(
        proofs.verify,
        create_proof(client_key, htm="GET", htu=URL, now=NOW, access_token=token),
        method="GET",
        uri=URL,
        now=NOW,
        access_token=token,
    )  # nonce missing
    bad_jwk = dict(client_key.private_jwk())
    bad_jwk["x"] = attacker.public_key.jwk["x"]
    attempt(load_private_key, bad_jwk)

    assert len(raised) >= 10
    texts = [record.getMessage() for record in caplog.records]
    texts += [str(record.args) for record in caplog.records]
    texts += [record.exc_text or "" for record in caplog.records]
    for exc in raised:
        texts += [str(exc), repr(exc)]
        if isinstance(exc, ProofboundError):
            texts.append(exc.diagnostics())
    texts += [repr(client_key), repr(as_key), repr(nonces), repr(ok), repr(at), repr(cache)]
    assert any("rejected" in text for text in texts)  # the log path really ran
    haystack = "\n".join(texts)
    for secret in secrets:
        for fragment in _secret_fragments(secret):
            assert fragment not in haystack
    for value in private_members + pem_bodies:
        assert value not in haystack
    assert NONCE_SECRET.decode() not in haystack
