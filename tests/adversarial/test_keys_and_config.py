"""Keys, configuration and storage: ``InvalidKey``, ``ConfigurationError``, ``StorageUnavailable``.

Keys: only asymmetric keys of the supported types and sizes (RFC 7518 §3.3/§3.5: RSA >= 2048;
RFC 9449 §11.6), private JWKs whose public members describe their private key. Configuration:
secure bounds are enforced at construction (STYLE.md §2.6; RFC 9449 §11.1 for the iat window,
§11.6 for algorithms). Storage fails closed (RFC 9449 §11.1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, x25519

from proofbound import (
    AccessTokenPolicy,
    AccessTokenVerifier,
    ConfigurationError,
    DPoPVerifier,
    FrozenClock,
    InvalidKey,
    MemoryReplayCache,
    ProofPolicy,
    Reason,
    RollingNonces,
    SigningKey,
    StorageUnavailable,
    generate_key,
    load_private_key,
    load_public_key,
)

from ._support import AUDIENCE, ISSUER, NOW, RS_URI, Case, Ctx, expect_rejection, jdump, params

KEY = Reason.KEY_INVALID
CONF = Reason.CONFIGURATION
SECRET = b"s" * 32


def _pem(private: Any) -> bytes:
    pem: bytes = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem


def _public_pem(private: Any) -> bytes:
    pem: bytes = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem


def key_case(case_id: str, action: Callable[[Ctx], object]) -> Case:
    return Case(case_id, action, InvalidKey, KEY)


def conf_case(case_id: str, action: Callable[[Ctx], object]) -> Case:
    return Case(case_id, action, ConfigurationError, CONF)


def proof_policy(**kwargs: Any) -> Callable[[Ctx], object]:
    return lambda c: ProofPolicy(**kwargs)


def token_policy(**kwargs: Any) -> Callable[[Ctx], object]:
    args: dict[str, Any] = {"issuer": ISSUER, "audiences": (AUDIENCE,)}
    args.update(kwargs)
    return lambda c: AccessTokenPolicy(**args)


def nonces(secrets: Any = (SECRET,), **kwargs: Any) -> Callable[[Ctx], object]:
    args: dict[str, Any] = {"purpose": "rs", "origin": "https://rs.example"}
    args.update(kwargs)
    return lambda c: RollingNonces(secrets, **args)


def token_verifier(keys: Callable[[Ctx], Any], **kwargs: Any) -> Callable[[Ctx], object]:
    policy = AccessTokenPolicy(issuer=ISSUER, audiences=(AUDIENCE,))
    return lambda c: AccessTokenVerifier(policy, keys(c), **kwargs)


def _mixed_ec(c: Ctx) -> object:
    private, other = c.k.es256.private_jwk(), c.k.es256_b.public_jwk()
    return load_private_key({**private, "x": other["x"], "y": other["y"]})


def _mixed_rsa(c: Ctx) -> object:
    return load_private_key({**c.k.ps256.private_jwk(), "n": c.k.ps256_b.public_jwk()["n"]})


def _mixed_okp(c: Ctx) -> object:
    return load_private_key({**c.k.ed.private_jwk(), "x": c.k.ed_b.public_jwk()["x"]})


def _full_cache(c: Ctx) -> object:
    store = MemoryReplayCache(max_entries=1, clock=FrozenClock(NOW))
    assert store.add_if_absent(b"k" * 32, expires_at=NOW + 60)
    return store.add_if_absent(b"l" * 32, expires_at=NOW + 60)


def _require_nonce_without_source(c: Ctx) -> object:
    proof = c.proof()
    return DPoPVerifier().verify(proof, method="GET", uri=RS_URI, now=NOW, require_nonce=True)


CASES: list[Case] = [
    # load_private_key
    key_case("load_private_key_public_jwk", lambda c: load_private_key(c.k.es256.public_jwk())),
    key_case(
        "load_private_key_public_jwk_text",
        lambda c: load_private_key(jdump(c.k.es256.public_jwk()).decode()),
    ),
    key_case("load_private_key_mixed_ec_members", _mixed_ec),
    key_case("load_private_key_mixed_rsa_members", _mixed_rsa),
    key_case("load_private_key_mixed_okp_members", _mixed_okp),
    key_case(
        "load_private_key_alg_hs256",
        lambda c: load_private_key(c.k.es256.private_jwk(), alg="HS256"),
    ),
    key_case(
        "load_private_key_alg_none", lambda c: load_private_key(c.k.es256.private_jwk(), alg="none")
    ),
    key_case(
        "load_private_key_jwk_alg_hs256",
        lambda c: load_private_key({**c.k.es256.private_jwk(), "alg": "HS256"}),
    ),
    key_case(
        "load_private_key_alg_not_fitting",
        lambda c: load_private_key(c.k.es256.private_jwk(), alg="RS256"),
    ),
    key_case(
        "load_private_key_es384_for_p256",
        lambda c: load_private_key(c.k.es256.private_jwk(), alg="ES384"),
    ),
    key_case(
        "load_private_key_oct", lambda c: load_private_key({"kty": "oct", "k": "AAAA", "d": "AAAA"})
    ),
    key_case(
        "load_private_key_d_not_a_string",
        lambda c: load_private_key({**c.k.es256.private_jwk(), "d": 5}),
    ),
    key_case("load_private_key_not_json", lambda c: load_private_key("not a key")),
    key_case("load_private_key_json_array", lambda c: load_private_key("[1]")),
    key_case("load_private_key_not_utf8", lambda c: load_private_key(b"\xff\xfe\x00")),
    key_case(
        "load_private_key_garbage_pem",
        lambda c: load_private_key(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
        ),
    ),
    key_case(
        "load_private_key_encrypted_pem",
        lambda c: load_private_key(
            ec.generate_private_key(ec.SECP256R1()).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"password"),
            )
        ),
    ),
    key_case(
        "rfc7518_s3_3_load_private_key_rsa_2047", lambda c: load_private_key(_pem(c.k.rsa2047))
    ),
    key_case(
        "load_private_key_secp256k1",
        lambda c: load_private_key(_pem(ec.generate_private_key(ec.SECP256K1()))),
    ),
    key_case(
        "load_private_key_p192",
        lambda c: load_private_key(_pem(ec.generate_private_key(ec.SECP192R1()))),
    ),
    key_case(
        "load_private_key_ed448", lambda c: load_private_key(_pem(ed448.Ed448PrivateKey.generate()))
    ),
    key_case(
        "load_private_key_x25519",
        lambda c: load_private_key(_pem(x25519.X25519PrivateKey.generate())),
    ),
    # load_public_key
    key_case("load_public_key_not_json", lambda c: load_public_key("not a key")),
    key_case("load_public_key_json_array", lambda c: load_public_key("[]")),
    key_case("load_public_key_empty_object", lambda c: load_public_key({})),
    key_case("load_public_key_oct", lambda c: load_public_key({"kty": "oct", "k": "AAAA"})),
    key_case(
        "load_public_key_garbage_pem",
        lambda c: load_public_key("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
    ),
    key_case(
        "load_public_key_garbage_private_pem",
        lambda c: load_public_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
    ),
    key_case(
        "rfc7518_s3_3_load_public_key_rsa_2047_pem",
        lambda c: load_public_key(_public_pem(c.k.rsa2047)),
    ),
    key_case(
        "load_public_key_secp256k1_pem",
        lambda c: load_public_key(_public_pem(ec.generate_private_key(ec.SECP256K1()))),
    ),
    key_case(
        "load_public_key_ed448_pem",
        lambda c: load_public_key(_public_pem(ed448.Ed448PrivateKey.generate())),
    ),
    key_case(
        "load_public_key_point_not_on_curve",
        lambda c: load_public_key({**c.k.es256.public_jwk(), "y": c.k.es256_b.public_jwk()["y"]}),
    ),
    # generate_key / SigningKey
    key_case("generate_key_hs256", lambda c: generate_key("HS256")),
    key_case("generate_key_none", lambda c: generate_key("none")),
    key_case("generate_key_lowercase", lambda c: generate_key("es256")),
    key_case("rfc7518_s3_3_generate_key_rsa_1024", lambda c: generate_key("PS256", rsa_bits=1024)),
    key_case("rfc7518_s3_3_generate_key_rsa_2047", lambda c: generate_key("RS256", rsa_bits=2047)),
    key_case(
        "signing_key_hs256", lambda c: SigningKey(ec.generate_private_key(ec.SECP256R1()), "HS256")
    ),
    key_case("signing_key_x25519", lambda c: SigningKey(x25519.X25519PrivateKey.generate())),  # type: ignore[arg-type]
    key_case("rfc7518_s3_3_signing_key_rsa_2047", lambda c: SigningKey(c.k.rsa2047, "PS256")),
    # ProofPolicy (RFC 9449 §11.1 window, §11.6 algorithms)
    conf_case("rfc9449_s11_1_iat_window_zero", proof_policy(iat_window=0)),
    conf_case("rfc9449_s11_1_iat_window_301", proof_policy(iat_window=301)),
    conf_case("rfc9449_s11_1_future_skew_negative", proof_policy(future_skew=-1)),
    conf_case("rfc9449_s11_1_future_skew_301", proof_policy(future_skew=301)),
    conf_case("rfc9449_s11_6_algorithms_empty", proof_policy(algorithms=())),
    conf_case("rfc9449_s11_6_algorithms_hs256", proof_policy(algorithms=("HS256",))),
    conf_case("rfc9449_s11_6_algorithms_none", proof_policy(algorithms=("none",))),
    conf_case("rfc9449_s11_6_algorithms_duplicate", proof_policy(algorithms=("ES256", "ES256"))),
    conf_case("rfc9449_s11_6_algorithms_lowercase", proof_policy(algorithms=("es256",))),
    conf_case(
        "rfc9449_s11_6_algorithms_mixed_valid_and_hmac", proof_policy(algorithms=("ES256", "HS256"))
    ),
    conf_case("proof_policy_max_proof_bytes_511", proof_policy(max_proof_bytes=511)),
    conf_case("proof_policy_max_proof_bytes_65537", proof_policy(max_proof_bytes=65537)),
    conf_case("rfc9449_s11_1_max_jti_length_15", proof_policy(max_jti_length=15)),
    conf_case("dpop_verifier_negative_key_cache", lambda c: DPoPVerifier(key_cache_size=-1)),
    conf_case("rfc9449_s8_require_nonce_without_source", _require_nonce_without_source),
    # AccessTokenPolicy / AccessTokenVerifier
    conf_case("rfc9068_s4_audiences_empty", token_policy(audiences=())),
    conf_case("rfc9068_s4_audiences_empty_string", token_policy(audiences=("",))),
    conf_case("rfc9068_s4_issuer_empty", token_policy(issuer="")),
    conf_case("rfc9068_s4_algorithms_hs256", token_policy(algorithms=("HS256",))),
    conf_case("rfc9068_s4_leeway_negative", token_policy(leeway=-1)),
    conf_case("rfc9068_s4_leeway_301", token_policy(leeway=301)),
    conf_case("rfc9068_s4_max_token_bytes_1023", token_policy(max_token_bytes=1023)),
    conf_case("access_token_verifier_no_keys", token_verifier(lambda c: {})),
    conf_case("access_token_verifier_empty_jwks", token_verifier(lambda c: {"keys": []})),
    conf_case(
        "access_token_verifier_negative_cache",
        token_verifier(lambda c: {"as-1": c.k.issuer.public_key}, cache_size=-1),
    ),
    conf_case(
        "access_token_verifier_not_a_public_key",
        token_verifier(lambda c: {"as-1": c.k.issuer.public_jwk()}),
    ),
    conf_case(
        "rfc7517_s5_jwks_duplicate_kid",
        token_verifier(lambda c: {"keys": [c.k.issuer.public_jwk(), c.k.issuer.public_jwk()]}),
    ),
    conf_case(
        "rfc7517_s5_jwks_key_without_kid",
        token_verifier(lambda c: {"keys": [{**c.k.issuer.public_key.jwk}]}),
    ),
    conf_case(
        "rfc7517_s5_jwks_entry_not_an_object",
        token_verifier(lambda c: {"keys": ["as-1"]}),
    ),
    conf_case(
        "rfc7517_s4_4_jwks_key_alg_hs256",
        token_verifier(lambda c: {"keys": [{**c.k.issuer.public_jwk(), "alg": "HS256"}]}),
    ),
    conf_case(
        "rfc7517_s4_2_jwks_only_encryption_keys",
        token_verifier(lambda c: {"keys": [{**c.k.issuer.public_jwk(), "use": "enc"}]}),
    ),
    # RollingNonces (RFC 9449 §8: unpredictable nonces)
    conf_case("rfc9449_s8_nonce_secret_31_bytes", nonces((b"s" * 31,))),
    conf_case("rfc9449_s8_nonce_no_secrets", nonces(())),
    conf_case("rfc9449_s8_nonce_one_short_secret_of_two", nonces((SECRET, b"short"))),
    conf_case("rfc9449_s9_nonce_purpose_unknown", nonces(purpose="both")),
    conf_case("rfc9449_s9_nonce_origin_empty", nonces(origin="")),
    conf_case("rfc9449_s8_nonce_step_zero", nonces(step_seconds=0)),
    conf_case("rfc9449_s8_nonce_window_steps_11", nonces(window_steps=11)),
    # MemoryReplayCache
    conf_case(
        "rfc9449_s11_1_replay_cache_max_entries_zero", lambda c: MemoryReplayCache(max_entries=0)
    ),
    conf_case(
        "rfc9449_s11_1_replay_cache_max_key_bytes_zero",
        lambda c: MemoryReplayCache(max_key_bytes=0),
    ),
    conf_case("rfc9449_s11_1_replay_cache_max_ttl_zero", lambda c: MemoryReplayCache(max_ttl=0)),
    # storage fails closed
    Case(
        "rfc9449_s11_1_replay_cache_full",
        _full_cache,
        StorageUnavailable,
        Reason.STORAGE_UNAVAILABLE,
    ),
    Case(
        "rfc9449_s11_1_replay_key_too_long",
        lambda c: MemoryReplayCache(clock=FrozenClock(NOW)).add_if_absent(
            b"k" * 65, expires_at=NOW + 60
        ),
        StorageUnavailable,
        Reason.STORAGE_UNAVAILABLE,
    ),
    Case(
        "rfc9449_s11_1_replay_lifetime_over_cap",
        lambda c: MemoryReplayCache(clock=FrozenClock(NOW), max_ttl=60).add_if_absent(
            b"k" * 32, expires_at=NOW + 61
        ),
        StorageUnavailable,
        Reason.STORAGE_UNAVAILABLE,
    ),
]


@pytest.mark.parametrize("case", params(CASES))
def test_rejected(case: Case, ctx: Ctx) -> None:
    expect_rejection(case, ctx)


def test_boundaries_accepted(ctx: Ctx) -> None:
    """The limits themselves are valid settings."""
    ProofPolicy(iat_window=1)
    ProofPolicy(iat_window=300, future_skew=0, max_proof_bytes=512, max_jti_length=16)
    AccessTokenPolicy(issuer=ISSUER, audiences=AUDIENCE, leeway=300, max_token_bytes=1024)  # type: ignore[arg-type]
    RollingNonces((SECRET,), purpose="as", origin="https://as.example", window_steps=0)
    MemoryReplayCache(max_entries=1, max_key_bytes=1, max_ttl=1)
    store = MemoryReplayCache(clock=FrozenClock(NOW), max_ttl=60)
    assert store.add_if_absent(b"k" * 64, expires_at=NOW + 60)
    assert isinstance(load_private_key(ctx.k.es256.private_jwk()), SigningKey)
    assert load_public_key(ctx.k.es256.private_jwk()) == ctx.k.es256.public_key
