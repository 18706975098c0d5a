"""Where the time goes: proofbound's resource-server path, step by step, against the floor.

``python -m bench.breakdown [--alg ES256] [--n 2000] [--rounds 7] [--cprofile]``

1. In context: whole batches, interleaved like ``make bench``: proofbound as is; proofbound with
   its signature function stubbed out (what remains is the library's pure-Python work); the raw
   ``cryptography`` floor; and the prototype of :mod:`bench.whatif` (every suggestion applied).
   ``ours - stubbed - floor`` is the signature wrapper plus the cost of running Python between
   the verifies (caches the crypto evicted).
2. Steps in isolation: µs per call of each function on the benchmark's own inputs, the current
   code next to its :mod:`bench.whatif` replacement. Isolated steps run hot in the CPU caches, so
   they add up to less than the in-context overhead.
3. ``--cprofile``: a cProfile listing of one full batch (cProfile inflates small calls; shape only).

All probes of a section are timed in rounds, each round timing every probe once (rotating order),
garbage collector off; figures are medians over rounds.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import hashlib
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

import proofbound.access_token
import proofbound.dpop.verify
from bench.contenders import ResourceServer, ours_batch
from bench.floor import floor_batch
from bench.harness import Batch
from bench.sanity import Handle, check_handles
from bench.scenario import METHOD, URI, Scenario, build_scenario
from bench.whatif import (
    FastProofVerifier,
    FastTokenVerifier,
    FastVerifiedProof,
    b64url_decode_fast,
    decode_segment_fast,
    loads_object_fast,
    prepared_verifier,
    split_fast,
)
from proofbound import (
    FrozenClock,
    MemoryReplayCache,
    VerifiedAccessToken,
    VerifiedProof,
    access_token_hash,
    binding_from_cnf,
    check_binding,
    record_proof,
    replay_key,
)
from proofbound._internal.b64 import b64url_decode
from proofbound._internal.strict_json import loads_object
from proofbound.dpop.htu import htu_matches
from proofbound.jwk.algorithms import alg_spec
from proofbound.jwk.signatures import verify
from proofbound.jws import decode_segment, split_compact

__all__ = ["main"]

T = TypeVar("T")
Runner = Callable[[], None]


@dataclass(frozen=True, slots=True)
class Probe:
    """One timed thing: ``make()`` returns a runner of ``n`` operations (fresh state)."""

    label: str
    make: Callable[[], Runner]
    n: int


def loop(label: str, fn: Callable[[T], object], inputs: Sequence[T]) -> Probe:
    """A probe calling ``fn`` once per input."""

    def make() -> Runner:
        def run() -> None:
            for item in inputs:
                fn(item)

        return run

    return Probe(label, make, len(inputs))


def run_probes(probes: Sequence[Probe], rounds: int) -> dict[str, list[float]]:
    """µs per operation of every probe, one figure per round (after one warm-up round)."""
    for probe in probes:
        probe.make()()
    results: dict[str, list[float]] = {p.label: [] for p in probes}
    for k in range(rounds):
        shift = k % len(probes)
        for probe in (*probes[shift:], *probes[:shift]):
            run = probe.make()
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter_ns()
                run()
                elapsed = time.perf_counter_ns() - start
            finally:
                gc.enable()
            results[probe.label].append(elapsed / probe.n / 1000)
    return results


@contextlib.contextmanager
def signatures_stubbed() -> Iterator[None]:
    """Every signature 'verifies' at no cost: what remains is proofbound's Python work."""
    namespaces = vars(proofbound.access_token), vars(proofbound.dpop.verify)
    saved = [namespace["verify"] for namespace in namespaces]

    def accept(*_: object) -> bool:
        return True

    for namespace in namespaces:
        namespace["verify"] = accept
    try:
        yield
    finally:
        for namespace, original in zip(namespaces, saved, strict=True):
            namespace["verify"] = original


def _stubbed(make: Callable[[], Runner]) -> Callable[[], Runner]:
    def make_stubbed() -> Runner:
        run = make()

        def run_stubbed() -> None:
            with signatures_stubbed():
                run()

        return run_stubbed

    return make_stubbed


class Prototype:
    """The :mod:`bench.whatif` resource server: token, proof (with the token's ath), replay."""

    def __init__(self, scenario: Scenario, *, token_cache: bool) -> None:
        base = ResourceServer(scenario, token_cache=token_cache)
        self.now = scenario.now
        self.tokens = FastTokenVerifier(base.tokens, cache_size=10_000 if token_cache else 0)
        self.proofs = FastProofVerifier(base.proofs)
        self.size = len(scenario.proofs)
        self.replay = self.fresh_replay()

    def fresh_replay(self) -> MemoryReplayCache:
        self.replay = MemoryReplayCache(max_entries=self.size + 64, clock=FrozenClock(self.now))
        return self.replay

    def handle(self, token: str, proof: str, method: str) -> None:
        at = self.tokens.verify(token, now=self.now)
        result = self.proofs.verify(
            proof,
            method=method,
            uri=URI,
            now=self.now,
            access_token=token,
            ath=at.ath,
            binding=at.binding,
        )
        record_proof(self.replay, result)  # type: ignore[arg-type]  # same fields, a NamedTuple


def _accept(data: bytes, signature: bytes) -> bool:
    return True


def prototype_batch(
    scenario: Scenario, *, cached: bool, stubbed: bool = False
) -> Callable[[], Runner]:
    """Batch factory for the prototype; ``stubbed`` swaps its prepared verifiers for no-ops."""
    server = Prototype(scenario, token_cache=cached)
    server.handle(scenario.token, scenario.proof(), METHOD)  # warm header caches (+ token cache)
    if stubbed:
        headers, keys = server.tokens._headers, server.proofs._cache
        for name in headers:
            headers[name] = _accept
        for name, (_, jkt, prefix) in keys.items():
            keys[name] = (_accept, jkt, prefix)
    token, proofs, now = scenario.token, scenario.proofs, scenario.now
    verify_token, verify_proof = server.tokens.verify, server.proofs.verify

    def make() -> Runner:
        cache = server.fresh_replay()

        def run() -> None:
            for proof in proofs:
                at = verify_token(token, now=now)
                result = verify_proof(
                    proof,
                    method=METHOD,
                    uri=URI,
                    now=now,
                    access_token=token,
                    ath=at.ath,
                    binding=at.binding,
                )
                record_proof(cache, result)  # type: ignore[arg-type]

        return run

    return make


def check_prototype(scenario: Scenario) -> None:
    """The prototype accepts and refuses exactly like proofbound (same reasons)."""

    def make(cached: bool) -> Handle:
        return Prototype(scenario, token_cache=cached).handle

    check_handles(scenario, "prototype", make, proofbound=True)


def _runner(make_batch: Callable[[], Batch]) -> Callable[[], Runner]:
    return lambda: make_batch().run


def in_context(scenario: Scenario, rounds: int) -> None:
    """Section 1: whole batches against the floor."""
    n = len(scenario.proofs)
    for cached in (False, True):
        mode = "cached" if cached else "full"
        server = ResourceServer(scenario, token_cache=cached)
        if cached:
            server.tokens.verify(scenario.token, now=scenario.now)
        ours = _runner(ours_batch(scenario, server))
        floor = _runner(floor_batch(scenario, with_token=not cached))
        probes = [
            Probe("proofbound", ours, n),
            Probe("proofbound, signatures stubbed", _stubbed(ours), n),
            Probe("floor (raw cryptography verifies)", floor, n),
            Probe("prototype (bench/whatif.py)", prototype_batch(scenario, cached=cached), n),
            Probe(
                "prototype, signatures stubbed",
                prototype_batch(scenario, cached=cached, stubbed=True),
                n,
            ),
        ]
        times = run_probes(probes, rounds)
        floor_times = times["floor (raw cryptography verifies)"]
        med = {label: statistics.median(v) for label, v in times.items()}
        print(f"\n== {mode}-{scenario.alg}: in context, µs/op (n={n}, {rounds} rounds) ==")
        for label, values in times.items():
            ratio = statistics.median(a / b for a, b in zip(values, floor_times, strict=True))
            print(f"{med[label]:8.1f}  {label:<36} ratio_to_floor {ratio:.3f}")
        overhead = med["proofbound"] - med["floor (raw cryptography verifies)"]
        python = med["proofbound, signatures stubbed"]
        print(f"{overhead:8.1f}  = proofbound overhead over the floor, of which")
        print(f"{python:8.1f}    pure-Python work (the stubbed run)")
        print(
            f"{overhead - python:8.1f}    signature wrapper + Python re-warming after each verify"
        )
        allowed = med["floor (raw cryptography verifies)"] * 0.25
        print(f"{allowed:8.1f}  overhead allowed by ratio_to_floor <= 1.25")


def in_isolation(scenario: Scenario, rounds: int) -> None:
    """Section 2: each step alone, current vs suggested."""
    spec = alg_spec(scenario.alg)
    assert spec is not None
    now, token, proofs = scenario.now, scenario.token, list(scenario.proofs)
    n = len(proofs)
    tokens = [token] * n
    full = ResourceServer(scenario, token_cache=False)
    cached = ResourceServer(scenario, token_cache=True)
    cached.tokens.verify(token, now=now)
    at = full.tokens.verify(token, now=now)
    full.proofs.verify(proofs[0], method=METHOD, uri=URI, now=now, access_token=token)
    header_entry = next(iter(full.proofs._cache.values()))
    client_pub = header_entry.key  # the key imported from the proof header, as verify uses it
    issuer_pub = scenario.issuer_key.public_key.key
    token_parts = split_compact(token, max_bytes=16384)
    proof_parts = [split_compact(p, max_bytes=8192) for p in proofs]
    proof_payloads = [p.payload_b64 for p in proof_parts]
    proof_json = [b64url_decode(p) for p in proof_payloads]
    proof_claims = [decode_segment(p) for p in proof_payloads]
    token_header = decode_segment(token_parts.header_b64)
    token_json = b64url_decode(token_parts.payload_b64)
    jkt = scenario.client_key.thumbprint
    results = [
        full.proofs.verify(p, method=METHOD, uri=URI, now=now, access_token=token) for p in proofs
    ]
    proof_args = [tuple(getattr(r, f.name) for f in fields(VerifiedProof)) for r in results]
    token_args = [tuple(getattr(at, f.name) for f in fields(VerifiedAccessToken))] * n
    prepared_proof = prepared_verifier(spec, client_pub)
    prepared_token = prepared_verifier(spec, issuer_pub)
    wrapper_items = [(p.signing_input, p.signature) for p in proof_parts]

    def raw_items(public: Any) -> Callable[[tuple[bytes, bytes]], object]:
        """``key.verify`` alone: DER conversion and the ECDSA object done beforehand."""
        if spec.family != "EC":
            return lambda item: public.verify(item[1], item[0])
        ecdsa = ec.ECDSA(spec.hash())  # type: ignore[misc]
        return lambda item: public.verify(item[1], item[0], ecdsa)

    def floor_items(parts: Sequence[Any]) -> list[tuple[bytes, bytes]]:
        if spec.family != "EC":
            return [(p.signing_input, p.signature) for p in parts]
        size = spec.coord_bytes
        return [
            (
                p.signing_input,
                encode_dss_signature(
                    int.from_bytes(p.signature[:size], "big"),
                    int.from_bytes(p.signature[size:], "big"),
                ),
            )
            for p in parts
        ]

    def fresh(
        label: str, fn_of_cache: Callable[[MemoryReplayCache], Callable[[Any], object]]
    ) -> Probe:
        def make() -> Runner:
            cache = MemoryReplayCache(max_entries=n + 64, clock=FrozenClock(now))
            fn = fn_of_cache(cache)

            def run() -> None:
                for item in results:
                    fn(item)

            return run

        return Probe(label, make, n)

    def stubbed_loop(label: str, fn: Callable[[Any], object], inputs: Sequence[Any]) -> Probe:
        probe = loop(label, fn, inputs)
        return Probe(label, _stubbed(probe.make), probe.n)

    fast_tokens = FastTokenVerifier(full.tokens)
    fast_proofs = FastProofVerifier(full.proofs)
    fast_proofs.verify(proofs[0], method=METHOD, uri=URI, now=now, access_token=token)
    fast_tokens.verify(token, now=now)
    stub_entry = (_accept, jkt, next(iter(fast_proofs._cache.values()))[2])
    fast_proofs_stub = FastProofVerifier(full.proofs)
    fast_proofs_stub._cache[proof_parts[0].header_b64] = stub_entry
    fast_tokens_stub = FastTokenVerifier(full.tokens)
    fast_tokens_stub._headers[token_parts.header_b64] = lambda data, sig: True
    at_ath = at.ath

    sections: list[tuple[str, list[Probe]]] = [
        (
            "access token (no cache)",
            [
                loop(
                    "AccessTokenVerifier.verify (total)",
                    lambda t: full.tokens.verify(t, now=now),
                    tokens,
                ),
                stubbed_loop(
                    "  same, signature stubbed = Python work",
                    lambda t: full.tokens.verify(t, now=now),
                    tokens,
                ),
                loop(
                    "  prototype, signature stubbed",
                    lambda t: fast_tokens_stub.verify(t, now=now),
                    tokens,
                ),
                loop(
                    "  sha256(token) for the cache key",
                    lambda t: hashlib.sha256(t.encode("ascii")).digest(),
                    tokens,
                ),
                loop("  split_compact(token)", lambda t: split_compact(t, max_bytes=16384), tokens),
                loop(
                    "    split_fast (NamedTuple, sliced input)",
                    lambda t: split_fast(t, max_bytes=16384),
                    tokens,
                ),
                loop(
                    "  decode_segment(header) per token",
                    decode_segment,
                    [token_parts.header_b64] * n,
                ),
                loop(
                    "  _select_key(header) per token", full.tokens._select_key, [token_header] * n
                ),
                loop(
                    "    header cache lookup instead (dict.get)",
                    fast_tokens._headers.get,
                    [token_parts.header_b64] * n,
                ),
                loop(
                    "  signatures.verify (token)",
                    lambda p: verify(spec, issuer_pub, p.signing_input, p.signature),
                    [token_parts] * n,
                ),
                loop(
                    "    prepared_verifier (token)",
                    lambda p: prepared_token(p.signing_input, p.signature),
                    [token_parts] * n,
                ),
                loop("  decode_segment(payload)", decode_segment, [token_parts.payload_b64] * n),
                loop("    decode_segment_fast", decode_segment_fast, [token_parts.payload_b64] * n),
                loop(
                    "  loads_object(payload json)",
                    lambda b: loads_object(b, max_bytes=16384),
                    [token_json] * n,
                ),
                loop(
                    "    loads_object_fast (one JSONDecoder)",
                    lambda b: loads_object_fast(b, max_bytes=16384),
                    [token_json] * n,
                ),
                loop("  b64url_decode(payload)", b64url_decode, [token_parts.payload_b64] * n),
                loop(
                    "    b64url_decode_fast (binascii strict)",
                    b64url_decode_fast,
                    [token_parts.payload_b64] * n,
                ),
                loop("  binding_from_cnf", binding_from_cnf, [{"jkt": jkt}] * n),
                loop(
                    "  VerifiedAccessToken(...) frozen dataclass",
                    lambda a: VerifiedAccessToken(*a),
                    token_args,
                ),
                loop(
                    "  AccessTokenVerifier.verify cache hit",
                    lambda t: cached.tokens.verify(t, now=now),
                    tokens,
                ),
            ],
        ),
        (
            "DPoP proof (warm header cache)",
            [
                loop(
                    "DPoPVerifier.verify (total)",
                    lambda p: full.proofs.verify(
                        p, method=METHOD, uri=URI, now=now, access_token=token, binding=at.binding
                    ),
                    proofs,
                ),
                stubbed_loop(
                    "  same, signature stubbed = Python work",
                    lambda p: full.proofs.verify(
                        p, method=METHOD, uri=URI, now=now, access_token=token, binding=at.binding
                    ),
                    proofs,
                ),
                loop(
                    "  prototype, signature stubbed",
                    lambda p: fast_proofs_stub.verify(
                        p,
                        method=METHOD,
                        uri=URI,
                        now=now,
                        access_token=token,
                        ath=at_ath,
                        binding=at.binding,
                    ),
                    proofs,
                ),
                loop("  split_compact(proof)", lambda p: split_compact(p, max_bytes=8192), proofs),
                loop("    split_fast", lambda p: split_fast(p, max_bytes=8192), proofs),
                loop(
                    "  signatures.verify (proof)",
                    lambda p: verify(spec, client_pub, p[0], p[1]),
                    wrapper_items,
                ),
                loop(
                    "    prepared_verifier (proof)",
                    lambda p: prepared_proof(p[0], p[1]),
                    wrapper_items,
                ),
                loop("  decode_segment(payload)", decode_segment, proof_payloads),
                loop("    decode_segment_fast", decode_segment_fast, proof_payloads),
                loop(
                    "  loads_object(payload json)",
                    lambda b: loads_object(b, max_bytes=16384),
                    proof_json,
                ),
                loop(
                    "    loads_object_fast",
                    lambda b: loads_object_fast(b, max_bytes=16384),
                    proof_json,
                ),
                loop("  b64url_decode(payload)", b64url_decode, proof_payloads),
                loop("    b64url_decode_fast", b64url_decode_fast, proof_payloads),
                loop(
                    "  claims unpack via generator",
                    lambda c: tuple(c.get(k) for k in ("jti", "htm", "htu", "iat")),
                    proof_claims,
                ),
                loop(
                    "    four plain c.get calls",
                    lambda c: (c.get("jti"), c.get("htm"), c.get("htu"), c.get("iat")),
                    proof_claims,
                ),
                loop(
                    "  htu_matches (lru-cached normalize_htu)",
                    lambda c: htu_matches(c["htu"], URI),
                    proof_claims,
                ),
                loop("  access_token_hash(token) per proof", access_token_hash, tokens),
                loop(
                    "  check_binding", lambda b: check_binding(b, proof_jkt=jkt), [at.binding] * n
                ),
                loop("  replay_key(jkt, jti)", lambda c: replay_key(jkt, c["jti"]), proof_claims),
                loop(
                    "  VerifiedProof(...) frozen dataclass", lambda a: VerifiedProof(*a), proof_args
                ),
                loop(
                    "    FastVerifiedProof(...) NamedTuple",
                    lambda a: FastVerifiedProof(*a),
                    proof_args,
                ),
                loop("  MappingProxyType(claims)", MappingProxyType, proof_claims),
            ],
        ),
        (
            "replay",
            [
                fresh(
                    "record_proof(MemoryReplayCache)",
                    lambda cache: lambda r: record_proof(cache, r),
                ),
                fresh(
                    "  MemoryReplayCache.add_if_absent",
                    lambda cache: (
                        lambda r: cache.add_if_absent(r.replay_key, expires_at=r.replay_expires_at)
                    ),
                ),
            ],
        ),
        (
            "reference: raw cryptography verify",
            [
                loop(
                    "token signature (floor)", raw_items(issuer_pub), floor_items([token_parts] * n)
                ),
                loop("proof signature (floor)", raw_items(client_pub), floor_items(proof_parts)),
            ],
        ),
    ]
    for title, probes in sections:
        times = run_probes(probes, rounds)
        print(f"\n== {scenario.alg}: {title}, µs per call (isolated, {rounds} rounds) ==")
        for probe in probes:
            print(f"{statistics.median(times[probe.label]):8.2f}  {probe.label}")


def cprofile_full(scenario: Scenario, top: int) -> None:
    """Section 3: cProfile of one full-validation batch, µs per operation by own time."""
    server = ResourceServer(scenario, token_cache=False)
    make = ours_batch(scenario, server)
    make().run()
    batch = make()
    profiler = cProfile.Profile()
    profiler.enable()
    batch.run()
    profiler.disable()
    n = len(scenario.proofs)
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    entries = []
    for (filename, line, name), (_, ncalls, tottime, cumtime, _) in stats.items():
        where = filename.rsplit("/src/", 1)[-1].rsplit("site-packages/", 1)[-1]
        entries.append((tottime, cumtime, ncalls, f"{where}:{line}({name})"))
    entries.sort(reverse=True)
    print(f"\n== {scenario.alg}: cProfile, full batch of {n} ==")
    print("  own µs/op   cum µs/op  calls/op  function")
    for tottime, cumtime, ncalls, label in entries[:top]:
        print(f"{tottime / n * 1e6:11.2f} {cumtime / n * 1e6:11.2f} {ncalls / n:9.1f}  {label}")


def main(argv: Sequence[str] | None = None) -> int:
    """Print the breakdown for each algorithm (stdout); progress on stderr."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.breakdown", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--alg", action="append", choices=["ES256", "EdDSA"])
    parser.add_argument("--n", type=int, default=2000, help="operations per timed batch")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds")
    parser.add_argument("--cprofile", action="store_true", help="add a cProfile listing")
    parser.add_argument("--top", type=int, default=30, help="cProfile lines")
    parser.add_argument("--skip-isolated", action="store_true", help="only the in-context part")
    args = parser.parse_args(argv)
    for alg in args.alg or ["ES256", "EdDSA"]:
        print(f"{alg}: building {args.n} proofs", file=sys.stderr, flush=True)
        scenario = build_scenario(alg, args.n)
        check_prototype(scenario)
        in_context(scenario, args.rounds)
        if not args.skip_isolated:
            in_isolation(scenario, args.rounds)
        if args.cprofile:
            cprofile_full(scenario, args.top)
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
