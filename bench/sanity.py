"""Before timing: both implementations accept the benchmark request and refuse bad ones.

A benchmark of code that accepts everything would be meaningless, so every negative case must be
refused by proofbound *and* by the PyJWT baseline, for the right reason: a proof signed by a key
other than its header ``jwk`` must fail on the signature itself in both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jwt

from bench.contenders import ResourceServer, pyjwt_server
from bench.pyjwt_baseline import DPoPRejected
from bench.scenario import METHOD, URI, Scenario, issue_token
from proofbound.dpop import access_token_hash
from proofbound.dpop.proof import new_jti
from proofbound.errors import OAuthError, Reason
from proofbound.jwk import generate_key, load_private_key
from proofbound.jws import sign_compact

__all__ = ["Handle", "SanityError", "check_handles", "check_scenario"]

Handle = Callable[[str, str, str], None]  # (token, proof, method) -> None or raise


@dataclass(frozen=True, slots=True)
class _Negative:
    name: str
    token: str
    proof: str
    method: str
    ours: Reason
    theirs: type[Exception]


def _forged_proof(scenario: Scenario) -> str:
    """A proof whose header carries the client's public jwk, signed by an unrelated key."""
    client = scenario.client_key
    header = {"typ": "dpop+jwt", "alg": client.alg, "jwk": client.public_key.jwk}
    claims = {
        "jti": new_jti(),
        "htm": METHOD,
        "htu": URI,
        "iat": scenario.now,
        "ath": access_token_hash(scenario.token),
    }
    return sign_compact(header, claims, generate_key(scenario.alg))


def _negatives(scenario: Scenario) -> list[_Negative]:
    alg, now, token = scenario.alg, scenario.now, scenario.token
    client_jkt = scenario.client_key.thumbprint
    other_token = issue_token(scenario.issuer_key, jkt=client_jkt, now=now, jti="at-other")
    # Same kid as the real issuer key, so the token reaches the signature check and fails there.
    rogue_key = load_private_key(
        {**generate_key(alg).private_jwk(), "kid": scenario.issuer_key.kid}
    )
    rogue_token = issue_token(rogue_key, jkt=client_jkt, now=now)
    return [
        _Negative(
            "proof signed by another key than its jwk",
            token,
            _forged_proof(scenario),
            METHOD,
            Reason.PROOF_SIGNATURE,
            jwt.InvalidSignatureError,
        ),
        _Negative(
            "proof key is not the token's cnf.jkt",
            token,
            scenario.proof(key=generate_key(alg)),
            METHOD,
            Reason.JKT_MISMATCH,
            DPoPRejected,
        ),
        _Negative(
            "ath of another token",
            token,
            scenario.proof(token=other_token),
            METHOD,
            Reason.ATH_MISMATCH,
            DPoPRejected,
        ),
        _Negative(
            "wrong method", token, scenario.proof(), "POST", Reason.HTM_MISMATCH, DPoPRejected
        ),
        _Negative(
            "token signed by another key under the issuer's kid",
            rogue_token,
            scenario.proof(token=rogue_token),
            METHOD,
            Reason.TOKEN_SIGNATURE,
            jwt.InvalidSignatureError,
        ),
    ]


class SanityError(AssertionError):
    """An implementation accepted what it must refuse, or refused for the wrong reason."""


def _require(condition: bool, message: str) -> None:
    # Not ``assert``: these checks must also run under ``python -O``.
    if not condition:
        raise SanityError(message)


def _refusal(handle: Handle, token: str, proof: str, method: str) -> Exception | None:
    try:
        handle(token, proof, method)
    except (OAuthError, jwt.PyJWTError, DPoPRejected) as exc:
        return exc
    return None


def check_handles(
    scenario: Scenario, name: str, make: Callable[[bool], Handle], *, proofbound: bool
) -> None:
    """Accept the benchmark request once, then refuse a replay and every negative case.

    ``make(cached)`` returns a fresh request handler; ``proofbound`` says whether refusals must
    carry proofbound's reasons (else the PyJWT exception classes are expected).
    """
    token, proof = scenario.token, scenario.proofs[0]
    negatives = _negatives(scenario)
    for cached in (False, True):
        where = f"{name} {scenario.alg} {'cached' if cached else 'full'}"
        handle = make(cached)
        handle(token, proof, METHOD)  # the benchmark request is accepted (raises otherwise)
        replayed = _refusal(handle, token, proof, METHOD)
        _require(replayed is not None, f"{where}: accepted a replayed proof")
        if proofbound:
            _require(
                isinstance(replayed, OAuthError) and replayed.reason is Reason.PROOF_REPLAYED,
                f"{where}: replay refused as {replayed!r}",
            )
        for case in negatives:
            refused = _refusal(make(cached), case.token, case.proof, case.method)
            _require(refused is not None, f"{where}: accepted {case.name}")
            if proofbound:
                right = isinstance(refused, OAuthError) and refused.reason is case.ours
            else:
                right = isinstance(refused, case.theirs)
            _require(right, f"{where}: {case.name}: refused as {refused!r}")


def check_scenario(scenario: Scenario) -> None:
    """Raise AssertionError unless both implementations behave on the benchmark inputs."""
    now = scenario.now

    def ours(cached: bool) -> Handle:
        server = ResourceServer(scenario, token_cache=cached)
        return lambda t, p, m: server.handle(t, p, method=m)

    def theirs(cached: bool) -> Handle:
        server = pyjwt_server(scenario)
        handle = server.handle_cached if cached else server.handle

        def call(t: str, p: str, m: str) -> None:
            handle(t, p, method=m, uri=URI, now=now)

        return call

    check_handles(scenario, "proofbound", ours, proofbound=True)
    check_handles(scenario, "pyjwt", theirs, proofbound=False)
