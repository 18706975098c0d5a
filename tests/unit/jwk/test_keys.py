"""Key generation, JWK/PEM import and export, and keeping private material out of text."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519

from proofbound.errors import InvalidKey, Reason
from proofbound.jwk.algorithms import SUPPORTED_ALGS
from proofbound.jwk.keys import (
    PRIVATE_MEMBERS,
    PublicKey,
    SigningKey,
    generate_key,
    has_private_members,
    load_private_key,
    load_public_key,
    public_key_from_jwk,
)
from proofbound.jwk.signatures import PrivateKeyObj

ROUND_TRIP_ALGS = ["ES256", "ES384", "ES512", "EdDSA", "PS256", "RS256"]


def _public_pem(key: SigningKey) -> bytes:
    return key.public_key.key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# --------------------------------------------------------------------------- generation


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512", "EdDSA"])
def test_generate_key_fits_alg(alg: str) -> None:
    key = generate_key(alg)
    assert key.alg == alg
    assert key.kid == key.thumbprint == key.public_key.thumbprint


def test_generate_key_rsa() -> None:
    key = generate_key("RS256")
    assert key.alg == "RS256"
    assert isinstance(key.public_key.key, rsa.RSAPublicKey)
    assert key.public_key.key.key_size == 2048


@pytest.mark.parametrize("alg", ["none", "HS256", "ES256K", "RSA-OAEP", "es256", ""])
def test_generate_key_refuses_unsupported_alg(alg: str) -> None:
    with pytest.raises(InvalidKey):
        generate_key(alg)


def test_rfc7518_s3_3_generate_key_refuses_rsa_under_2048_bits() -> None:
    with pytest.raises(InvalidKey):
        generate_key("PS256", rsa_bits=2047)


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("alg", ROUND_TRIP_ALGS)
def test_private_jwk_round_trip(alg: str, keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg[alg]
    jwk = key.private_jwk()
    for data in (jwk, json.dumps(jwk), json.dumps(jwk).encode()):
        loaded = load_private_key(data)
        assert loaded.thumbprint == key.thumbprint
        assert loaded.alg == alg  # from the JWK's alg
        assert loaded.kid == key.kid
        assert loaded.private_jwk() == jwk


@pytest.mark.parametrize("alg", ROUND_TRIP_ALGS)
def test_private_pem_round_trip(alg: str, keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg[alg]
    pem = key.private_pem()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    for data in (pem, pem.decode()):
        loaded = load_private_key(data, alg)
        assert loaded.thumbprint == key.thumbprint
        assert loaded.alg == alg
        assert loaded.private_pem() == pem


@pytest.mark.parametrize("alg", ROUND_TRIP_ALGS)
def test_public_key_round_trip(alg: str, keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg[alg]
    sources = (
        key.public_jwk(),
        key.public_key.jwk,
        json.dumps(key.public_jwk()),
        key.private_jwk(),  # the public part is taken
        _public_pem(key),
        _public_pem(key).decode(),
        key.private_pem(),
    )
    for data in sources:
        loaded = load_public_key(data)
        assert loaded == key.public_key
        assert loaded.thumbprint == key.thumbprint
        assert loaded.jwk == key.public_key.jwk


@pytest.mark.parametrize("alg", ROUND_TRIP_ALGS)
def test_public_jwk_members(alg: str, keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg[alg]
    jwk = key.public_key.jwk
    assert not has_private_members(jwk)
    assert set(jwk) == {"EC": {"kty", "crv", "x", "y"}, "OKP": {"kty", "crv", "x"}}.get(
        jwk["kty"], {"kty", "n", "e"}
    )
    assert key.public_jwk() == {**jwk, "kid": key.kid, "alg": alg, "use": "sig"}


def test_load_private_key_alg_precedence(keys_by_alg: dict[str, SigningKey]) -> None:
    rsa_jwk = keys_by_alg["RS256"].private_jwk()
    assert load_private_key(rsa_jwk).alg == "RS256"  # the JWK's alg
    assert load_private_key(rsa_jwk, "PS384").alg == "PS384"  # explicit wins
    no_alg = {k: v for k, v in rsa_jwk.items() if k != "alg"}
    assert load_private_key(no_alg).alg == "PS256"  # RSA default
    assert load_private_key(keys_by_alg["RS256"].private_pem()).alg == "PS256"
    assert load_private_key(keys_by_alg["ES384"].private_pem()).alg == "ES384"
    assert load_private_key(keys_by_alg["ES512"].private_pem()).alg == "ES512"
    assert load_private_key(keys_by_alg["EdDSA"].private_pem()).alg == "EdDSA"


def test_load_private_key_keeps_the_jwk_kid(keys_by_alg: dict[str, SigningKey]) -> None:
    jwk = {**keys_by_alg["ES256"].private_jwk(), "kid": "2024-rotation"}
    loaded = load_private_key(jwk)
    assert loaded.kid == "2024-rotation"
    assert loaded.private_jwk()["kid"] == "2024-rotation"
    no_kid = {k: v for k, v in jwk.items() if k != "kid"}
    assert load_private_key(no_kid).kid == loaded.thumbprint


# --------------------------------------------------------------------------- private JWK shape


@pytest.mark.parametrize("alg", SUPPORTED_ALGS)
def test_private_jwk_has_kid_alg_use_and_no_key_ops(
    alg: str, keys_by_alg: dict[str, SigningKey]
) -> None:
    key = keys_by_alg[alg]
    jwk = key.private_jwk()
    assert jwk["kid"] == key.thumbprint
    assert jwk["alg"] == alg
    assert jwk["use"] == "sig"
    assert "key_ops" not in jwk
    assert "d" in jwk
    assert all(isinstance(value, str) for value in jwk.values())


# --------------------------------------------------------------------------- no leaks


@pytest.mark.parametrize("alg", SUPPORTED_ALGS)
def test_signing_key_text_never_shows_private_material(
    alg: str, keys_by_alg: dict[str, SigningKey]
) -> None:
    key = keys_by_alg[alg]
    private = key.private_jwk()
    pem_body = key.private_pem().decode().splitlines()[1:-1]
    for text in (repr(key), str(key), f"{key}", f"{key!r}", repr(key.public_key)):
        for name in PRIVATE_MEMBERS & private.keys():
            assert private[name] not in text
            assert private[name][:16] not in text
        for line in pem_body:
            assert line not in text
        assert "PRIVATE" not in text
    assert repr(key) == f"SigningKey(alg={alg!r}, jkt={key.thumbprint[:8]!r}…)"


def test_public_key_equality_is_by_thumbprint(keys_by_alg: dict[str, SigningKey]) -> None:
    a = keys_by_alg["ES256"].public_key
    again = PublicKey.from_jwk(a.jwk)
    assert a == again
    assert hash(a) == hash(again)
    assert a != keys_by_alg["ES384"].public_key
    assert a != a.jwk
    assert len({a, again, keys_by_alg["EdDSA"].public_key}) == 2


def test_public_key_jwk_is_a_copy(keys_by_alg: dict[str, SigningKey]) -> None:
    key = keys_by_alg["ES256"].public_key
    jwk = key.jwk
    jwk["x"] = "changed"
    assert key.jwk["x"] != "changed"


# --------------------------------------------------------------------------- key fits alg


@pytest.mark.parametrize(
    ("make", "alg"),
    [
        (lambda: ec.generate_private_key(ec.SECP256R1()), "ES384"),
        (lambda: ec.generate_private_key(ec.SECP384R1()), "ES256"),
        (lambda: ec.generate_private_key(ec.SECP256K1()), None),
        (ed25519.Ed25519PrivateKey.generate, "ES256"),
        (lambda: ec.generate_private_key(ec.SECP256R1()), "EdDSA"),
        (lambda: ec.generate_private_key(ec.SECP256R1()), "RS256"),
        (lambda: ec.generate_private_key(ec.SECP256R1()), "HS256"),
    ],
    ids=[
        "p256-es384",
        "p384-es256",
        "secp256k1",
        "ed25519-es256",
        "p256-eddsa",
        "p256-rs256",
        "hs256",
    ],
)
def test_signing_key_must_fit_its_alg(make: Callable[[], PrivateKeyObj], alg: str | None) -> None:
    with pytest.raises(InvalidKey) as info:
        SigningKey(make(), alg)
    assert info.value.reason is Reason.KEY_INVALID


def test_signing_key_rsa_must_fit_its_alg(rsa_private: rsa.RSAPrivateKey) -> None:
    with pytest.raises(InvalidKey):
        SigningKey(rsa_private, "ES256")
    assert SigningKey(rsa_private, "RS512").alg == "RS512"


def test_signing_key_refuses_other_key_types() -> None:
    with pytest.raises(InvalidKey):
        SigningKey(x25519.X25519PrivateKey.generate())  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def rsa_2047() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2047)  # noqa: S505 -- the point


def test_rfc7518_s3_3_rsa_2047_bits_refused_2048_accepted(
    rsa_2047: rsa.RSAPrivateKey, rsa_private: rsa.RSAPrivateKey
) -> None:
    with pytest.raises(InvalidKey):
        SigningKey(rsa_2047, "RS256")
    public = rsa_2047.public_key().public_numbers()
    small = {
        "kty": "RSA",
        "n": PublicKey(rsa_2047.public_key()).jwk["n"],
        "e": "AQAB",
    }
    assert public.n.bit_length() == 2047
    with pytest.raises(InvalidKey):
        public_key_from_jwk(small)
    with pytest.raises(InvalidKey):
        load_public_key(small)
    imported = public_key_from_jwk(PublicKey(rsa_private.public_key()).jwk)
    assert isinstance(imported, rsa.RSAPublicKey)
    assert imported.key_size == 2048


# --------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    "data",
    [
        "not a key",
        "[1, 2]",
        b"\xff\xfe",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        {"kty": "oct", "k": "c2VjcmV0", "d": "x"},
        {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"},  # public only
    ],
    ids=["text", "array", "binary", "bad-pem", "oct", "public-only"],
)
def test_load_private_key_refuses_non_keys(data: object) -> None:
    with pytest.raises(InvalidKey):
        load_private_key(data)  # type: ignore[arg-type]


def test_load_private_key_refuses_encrypted_pem(keys_by_alg: dict[str, SigningKey]) -> None:
    private = load_private_key(keys_by_alg["ES256"].private_pem())
    encrypted = serialization.load_pem_private_key(private.private_pem(), None).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pass phrase"),
    )
    with pytest.raises(InvalidKey):
        load_private_key(encrypted)


def test_load_private_key_refuses_mixed_members(keys_by_alg: dict[str, SigningKey]) -> None:
    """A JWK whose public members belong to another key than its ``d``."""
    mixed = {**keys_by_alg["ES256"].private_jwk(), **generate_key("ES256").public_key.jwk}
    with pytest.raises(InvalidKey):
        load_private_key(mixed)


def test_load_public_key_refuses_unsupported_types() -> None:
    pem = (
        x25519.X25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(InvalidKey):
        load_public_key(pem)
    with pytest.raises(InvalidKey):
        load_public_key("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    with pytest.raises(InvalidKey):
        load_public_key({"kty": "oct", "k": "c2VjcmV0"})


def test_rfc9449_s4_3_step7_public_import_refuses_private_members(
    keys_by_alg: dict[str, SigningKey],
) -> None:
    private = keys_by_alg["ES256"].private_jwk()
    assert has_private_members(private)
    with pytest.raises(InvalidKey):
        public_key_from_jwk(private)
    with pytest.raises(InvalidKey):
        PublicKey.from_jwk(private)
    for name in sorted(PRIVATE_MEMBERS):
        assert has_private_members({"kty": "EC", name: "AA"})


def test_public_key_from_jwk_checks_the_algorithm(keys_by_alg: dict[str, SigningKey]) -> None:
    from proofbound.jwk.algorithms import alg_spec

    jwk = keys_by_alg["ES256"].public_key.jwk
    assert public_key_from_jwk(jwk, alg_spec("ES256")) is not None
    for other in ("ES384", "EdDSA", "PS256"):
        with pytest.raises(InvalidKey):
            public_key_from_jwk(jwk, alg_spec(other))
