"""The timed contenders: proofbound as an application calls it, and the PyJWT twin."""

from __future__ import annotations

from collections.abc import Callable

from bench.harness import Batch
from bench.pyjwt_baseline import PyJWTResourceServer
from bench.scenario import AUDIENCE, ISSUER, METHOD, URI, Scenario
from proofbound.access_token import AccessTokenPolicy, AccessTokenVerifier
from proofbound.clock import FrozenClock
from proofbound.dpop import DPoPVerifier, ProofPolicy
from proofbound.replay import MemoryReplayCache, record_proof

__all__ = [
    "ResourceServer",
    "ours_batch",
    "pyjwt_batch",
    "pyjwt_server",
]


class ResourceServer:
    """One RS configuration of proofbound: token verifier, proof verifier, replay cache."""

    def __init__(self, scenario: Scenario, *, token_cache: bool) -> None:
        alg = scenario.alg
        self.now = scenario.now
        self.tokens = AccessTokenVerifier(
            AccessTokenPolicy(issuer=ISSUER, audiences=(AUDIENCE,), algorithms=(alg,)),
            {scenario.issuer_key.kid: scenario.issuer_key.public_key},
            **({} if token_cache else {"cache_size": 0}),
        )
        self.proofs = DPoPVerifier(ProofPolicy(algorithms=(alg,)))
        self.replay = self.new_replay_cache(len(scenario.proofs))

    def new_replay_cache(self, size: int) -> MemoryReplayCache:
        """An empty in-memory replay cache whose clock is the scenario's ``now``."""
        self.replay = MemoryReplayCache(max_entries=size + 64, clock=FrozenClock(self.now))
        return self.replay

    def handle(self, token: str, proof: str, *, method: str = METHOD, uri: str = URI) -> None:
        """One request: access token, DPoP proof (ath, htm/htu/iat, cnf.jkt), replay record."""
        _, result = self.proofs.verify_with_token(
            proof, token, self.tokens, method=method, uri=uri, now=self.now
        )
        record_proof(self.replay, result)


def ours_batch(scenario: Scenario, server: ResourceServer) -> Callable[[], Batch]:
    """Batch factory: every proof of the scenario once, a fresh replay cache per batch.

    The loop is the body of :meth:`ResourceServer.handle` inlined, so the only Python around the
    library calls is the loop itself (as in the floor and the PyJWT batches).
    """
    token, proofs, now = scenario.token, scenario.proofs, scenario.now
    tokens = server.tokens
    verify_request = server.proofs.verify_with_token

    def make() -> Batch:
        cache = server.new_replay_cache(len(proofs))

        def run() -> None:
            for proof in proofs:
                _, result = verify_request(proof, token, tokens, method=METHOD, uri=URI, now=now)
                record_proof(cache, result)

        def check() -> None:
            if len(cache) != len(proofs):
                raise RuntimeError("not every proof was recorded")

        return Batch(run, check)

    return make


def pyjwt_server(scenario: Scenario) -> PyJWTResourceServer:
    """The PyJWT implementation configured like :class:`ResourceServer`."""
    return PyJWTResourceServer(
        scenario.issuer_key.public_key.key,
        alg=scenario.alg,
        issuer=ISSUER,
        audience=AUDIENCE,
    )


def pyjwt_batch(
    scenario: Scenario, server: PyJWTResourceServer, *, cached: bool
) -> Callable[[], Batch]:
    """Batch factory for the PyJWT baseline; a fresh replay set per batch."""
    token, proofs, now = scenario.token, scenario.proofs, scenario.now
    handle = server.handle_cached if cached else server.handle

    def make() -> Batch:
        server.seen_jtis = {}

        def run() -> None:
            for proof in proofs:
                handle(token, proof, method=METHOD, uri=URI, now=now)

        def check() -> None:
            if len(server.seen_jtis) != len(proofs):
                raise RuntimeError("not every jti was recorded")

        return Batch(run, check)

    return make
