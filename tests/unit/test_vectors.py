"""Every published RFC test vector in ``tests/vectors/*.json``, checked case by case.

Each case carries ``title`` (the RFC URL and section), ``verdict`` (``valid``/``invalid``),
``reason`` (the :class:`~proofbound.errors.Reason` of an invalid case), ``deterministic`` and the
frozen ``now``; ``check`` names what is checked. Test ids are ``<rfc>#<section>:<case id>``.

Derived (unpublished) wrong values are recomputed here from their ``derivation``, so a typo in a
negative vector cannot pass silently as "not equal".
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from proofbound._internal.b64 import b64url_decode, b64url_encode
from proofbound.access_token import AccessTokenPolicy, AccessTokenVerifier
from proofbound.binding import Binding, binding_from_cnf, check_binding
from proofbound.dpop.proof import access_token_hash
from proofbound.dpop.verify import DPoPVerifier, ProofPolicy
from proofbound.errors import InvalidDPoPProof, InvalidToken, ProofboundError, Reason
from proofbound.jwk.algorithms import alg_spec
from proofbound.jwk.keys import PublicKey, generate_key, load_private_key, load_public_key
from proofbound.jwk.signatures import verify
from proofbound.jwk.thumbprint import REQUIRED_MEMBERS, jwk_thumbprint
from proofbound.jws import decode_segment, sign_compact
from proofbound.mtls.certificate import load_certificate

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
_TITLE = re.compile(
    r"https://www\.rfc-editor\.org/rfc/rfc(\d+)#(section-[0-9.]+|appendix-[A-Z](?:\.[0-9]+)*)"
)
_CASE_KEYS = {"id", "title", "verdict", "reason", "deterministic", "now", "check"}


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return data


def _case_id(case: dict[str, Any]) -> str:
    match = _TITLE.fullmatch(case["title"])
    assert match is not None, case["title"]
    return f"rfc{match.group(1)}#{match.group(2)}:{case['id']}"


def _cases(name: str) -> list[Any]:
    doc = _load(name)
    return [pytest.param(doc, case, id=_case_id(case)) for case in doc["cases"]]


def _all_cases() -> list[Any]:
    return [
        pytest.param(path.name, case, id=f"{path.name}:{case['id']}")
        for path in sorted(VECTORS.glob("*.json"))
        for case in _load(path.name)["cases"]
    ]


def _expect_reason(reason: str, call: Callable[[], object]) -> ProofboundError:
    with pytest.raises(ProofboundError) as info:
        call()
    assert info.value.reason is Reason(reason)
    return info.value


# --------------------------------------------------------------------------- file format


def test_vector_files_exist() -> None:
    names = {path.name for path in VECTORS.glob("*.json")}
    assert names == {
        "rfc7638_s3.1.json",
        "rfc8037_appendix_a.json",
        "rfc8705_x5t.json",
        "rfc9449_fig8_token.json",
        "rfc9449_jkt.json",
        "rfc9449_s4.1_proof.json",
        "rfc9449_s7.1_request.json",
    }


@pytest.mark.parametrize(("name", "case"), _all_cases())
def test_vector_case_format(name: str, case: dict[str, Any]) -> None:
    assert case.keys() >= _CASE_KEYS
    assert _TITLE.fullmatch(case["title"]), case["title"]
    assert isinstance(case["deterministic"], bool)
    assert case["now"] is None or isinstance(case["now"], int)
    if case["verdict"] == "valid":
        assert case["reason"] is None
    else:
        assert case["verdict"] == "invalid"
        assert case["reason"] in {reason.value for reason in Reason}


def test_vector_case_ids_unique() -> None:
    ids = [_case_id(case) for path in VECTORS.glob("*.json") for case in _load(path.name)["cases"]]
    assert len(ids) == len(set(ids))


# --------------------------------------------------------------------------- thumbprints


def _derive_thumbprint(jwk: dict[str, Any], derivation: str) -> str:
    """Recompute a wrong thumbprint the way its ``derivation`` says (spec-checklist §7.8)."""
    required = REQUIRED_MEMBERS[jwk["kty"]]
    compact = (",", ":")
    if derivation == "jwk_member_order":
        text = json.dumps({k: v for k, v in jwk.items() if k in required}, separators=compact)
    elif derivation == "default_separators":
        text = json.dumps({k: jwk[k] for k in required})
    elif derivation == "all_members_sorted":
        text = json.dumps({k: jwk[k] for k in sorted(jwk)}, separators=compact)
    else:
        text = json.dumps({k: jwk[k] for k in required}, separators=compact)
        digest = hashlib.sha256(text.encode()).digest()
        if derivation == "hex":
            return digest.hex()
        assert derivation == "padded", derivation
        return base64.urlsafe_b64encode(digest).decode()
    return b64url_encode(hashlib.sha256(text.encode()).digest())


def _check_jwk_thumbprint(case: dict[str, Any]) -> None:
    jwk, value = case["jwk"], case["thumbprint"]
    actual = jwk_thumbprint(jwk)
    # The key itself imports (it is a usable public key, not just a dict).
    assert load_public_key(jwk).thumbprint == actual
    if case["verdict"] == "valid":
        assert actual == value
        if "canonical" in case:
            assert b64url_encode(hashlib.sha256(case["canonical"].encode()).digest()) == value
        if "sha256_octets" in case:
            assert b64url_decode(value) == bytes(case["sha256_octets"])
        check_binding(binding_from_cnf({"jkt": value}), proof_jkt=actual)
        return
    assert actual != value
    if case.get("derivation") is not None:
        assert _derive_thumbprint(jwk, case["derivation"]) == value
    # A token whose cnf.jkt carries the wrong value never accepts this key.
    _expect_reason(
        case["reason"], lambda: check_binding(binding_from_cnf({"jkt": value}), proof_jkt=actual)
    )


@pytest.mark.parametrize(("doc", "case"), _cases("rfc7638_s3.1.json"))
def test_rfc7638_s3_1_thumbprint(doc: dict[str, Any], case: dict[str, Any]) -> None:
    _check_jwk_thumbprint(case)


@pytest.mark.parametrize(("doc", "case"), _cases("rfc9449_jkt.json"))
def test_rfc9449_s6_1_jkt(doc: dict[str, Any], case: dict[str, Any]) -> None:
    _check_jwk_thumbprint(case)


@pytest.mark.parametrize(("doc", "case"), _cases("rfc8037_appendix_a.json"))
def test_rfc8037_appendix_a_ed25519(doc: dict[str, Any], case: dict[str, Any]) -> None:
    if case["check"] == "jwk_thumbprint":
        _check_jwk_thumbprint(case)
        return
    assert case["check"] == "jws"
    key = load_private_key(case["jwk"], "EdDSA")
    header_b64, payload_b64, signature_b64 = case["jws"].split(".")
    assert decode_segment(header_b64) == {"alg": "EdDSA"}
    assert b64url_decode(payload_b64) == case["payload"].encode()
    signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
    spec = alg_spec("EdDSA")
    assert spec is not None
    assert verify(spec, key.public_key.key, signing_input, b64url_decode(signature_b64))
    # Deterministic: our signature is the RFC's, byte for byte.
    assert case["deterministic"] is True
    assert b64url_encode(key.sign(signing_input)) == signature_b64


# --------------------------------------------------------------------------- proofs


def _check_proof(doc: dict[str, Any], case: dict[str, Any]) -> None:
    verifier = DPoPVerifier(ProofPolicy(**doc["policy"]))
    binding = binding_from_cnf(case["cnf"]) if "cnf" in case else None

    def run() -> Any:
        return verifier.verify(
            case["proof"],
            method=case["method"],
            uri=case["uri"],
            now=case["now"],
            access_token=case.get("access_token"),
            binding=binding,
        )

    if case["verdict"] == "invalid":
        error = _expect_reason(case["reason"], run)
        assert isinstance(error, InvalidDPoPProof)
        return
    proof = run()
    expected = case.get("expected")
    if expected is not None:
        for name in ("jkt", "jti", "htm", "htu", "iat"):
            assert getattr(proof, name) == expected[name], name
        assert proof.nonce is None
        if "ath" in expected:
            assert proof.claims["ath"] == expected["ath"]
        assert proof.replay_expires_at == expected["iat"] + doc["policy"]["iat_window"] + 1


@pytest.mark.parametrize(("doc", "case"), _cases("rfc9449_s4.1_proof.json"))
def test_rfc9449_s4_3_example_proofs(doc: dict[str, Any], case: dict[str, Any]) -> None:
    _check_proof(doc, case)


def _derive_ath(token: str, derivation: str) -> str:
    if derivation == "hex":
        return hashlib.sha256(token.encode()).hexdigest()
    if derivation == "padded":
        return base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).decode()
    assert derivation == "scheme_prefixed", derivation
    return b64url_encode(hashlib.sha256(f"DPoP {token}".encode()).digest())


def _check_ath(doc: dict[str, Any], case: dict[str, Any]) -> None:
    token, ath = case["access_token"], case["ath"]
    if case["verdict"] == "valid":
        assert access_token_hash(token) == ath
        return
    assert access_token_hash(token) != ath
    assert _derive_ath(token, case["derivation"]) == ath
    # A proof carrying the wrong ath is refused for the RFC's token.
    key = generate_key("ES256")
    now = 1_562_262_618
    claims = {"jti": "ath-vector", "htm": "GET", "htu": "https://rs.example/r", "iat": now}
    proof = sign_compact(
        {"typ": "dpop+jwt", "jwk": key.public_key.jwk}, {**claims, "ath": ath}, key
    )
    verifier = DPoPVerifier(ProofPolicy(**doc["policy"]))
    error = _expect_reason(
        case["reason"],
        lambda: verifier.verify(
            proof, method="GET", uri="https://rs.example/r", now=now, access_token=token
        ),
    )
    assert isinstance(error, InvalidDPoPProof)


@pytest.mark.parametrize(("doc", "case"), _cases("rfc9449_s7.1_request.json"))
def test_rfc9449_s7_1_resource_request(doc: dict[str, Any], case: dict[str, Any]) -> None:
    if case["check"] == "ath":
        _check_ath(doc, case)
    else:
        assert case["check"] == "proof"
        _check_proof(doc, case)


def test_rfc9449_s7_1_figure_13_ath_claim_is_the_vector() -> None:
    doc = _load("rfc9449_s7.1_request.json")
    cases = {case["id"]: case for case in doc["cases"]}
    proof = cases["figure-13-with-its-token"]["proof"]
    claims = decode_segment(proof.split(".")[1])
    assert (
        claims["ath"]
        == cases["ath-vector"]["ath"]
        == access_token_hash(cases["ath-vector"]["access_token"])
    )


def test_rfc9449_s11_1_figure_7_reuses_figure_2_jti() -> None:
    """Figures 2 and 7 share jti and key, so they share one replay key (spec-checklist §7.2)."""
    doc = _load("rfc9449_s4.1_proof.json")
    cases = {case["id"]: case for case in doc["cases"]}
    verifier = DPoPVerifier(ProofPolicy(**doc["policy"]))
    first, second = (
        verifier.verify(c["proof"], method=c["method"], uri=c["uri"], now=c["now"])
        for c in (cases["figure-2-at-its-iat"], cases["figure-7-at-its-iat"])
    )
    assert first.replay_key == second.replay_key
    # ... but the first entry has long expired when the second proof is made (iat + 2680 s).
    assert first.replay_expires_at < second.iat


# --------------------------------------------------------------------------- x5t#S256


def _der(case: dict[str, Any]) -> bytes:
    if "pem" in case:
        return load_certificate(case["pem"]).der
    return base64.b64decode(case["x5c"], validate=True)


def _check_x5t(case: dict[str, Any]) -> None:
    value = case["x5t_s256"]
    source = case["pem"] if "pem" in case else _der(case)
    cert = load_certificate(source)
    assert cert.der == _der(case)
    if case["verdict"] == "valid":
        assert cert.thumbprint == value
        check_binding(binding_from_cnf({"x5t#S256": value}), cert_thumbprint=cert.thumbprint)
        return
    assert cert.thumbprint != value
    if case["derivation"] == "pem_text":
        derived = b64url_encode(hashlib.sha256(case["pem"].encode("ascii")).digest())
    else:
        assert case["derivation"] == "sha1"
        derived = b64url_encode(hashlib.sha1(cert.der).digest())  # noqa: S324 -- the negative
    assert derived == value
    error = _expect_reason(
        case["reason"],
        lambda: check_binding(
            binding_from_cnf({"x5t#S256": value}), cert_thumbprint=cert.thumbprint
        ),
    )
    assert isinstance(error, InvalidToken)


def _check_cert_jwk(case: dict[str, Any]) -> None:
    jwk = case["jwk"]
    cert = load_certificate(case["pem"])
    assert jwk_thumbprint(jwk) == case["thumbprint"]
    # x5c[0] is the same certificate (standard base64 of the DER, RFC 7517 §4.7).
    assert base64.b64decode(jwk["x5c"][0], validate=True) == cert.der
    assert load_certificate(base64.b64decode(jwk["x5c"][0])).thumbprint == case["x5t_s256"]
    # The certificate's public key is the JWK's key.
    cert_public = x509.load_der_x509_certificate(cert.der).public_key()
    assert isinstance(cert_public, ec.EllipticCurvePublicKey)
    cert_key = PublicKey(cert_public)
    assert cert_key.jwk == {k: jwk[k] for k in ("kty", "crv", "x", "y")}
    assert cert_key.thumbprint == case["thumbprint"]


@pytest.mark.parametrize(("doc", "case"), _cases("rfc8705_x5t.json"))
def test_rfc8705_appendix_a_x5t_s256(doc: dict[str, Any], case: dict[str, Any]) -> None:
    if case["check"] == "cert_jwk":
        _check_cert_jwk(case)
    else:
        assert case["check"] == "x5t"
        _check_x5t(case)


# --------------------------------------------------------------------------- Figure 8 token


def _check_token_claims(case: dict[str, Any]) -> None:
    header_b64, payload_b64, _ = case["token"].split(".")
    assert decode_segment(header_b64) == case["header"]
    claims = decode_segment(payload_b64)
    assert claims == case["claims"]
    assert not set(case["absent_claims"]) & claims.keys()
    assert "typ" not in case["header"]
    assert binding_from_cnf(claims["cnf"]) == Binding(**case["binding"])


def _check_access_token(case: dict[str, Any]) -> None:
    stand_ins = {kid: generate_key("ES256") for kid in case["stand_in_kids"]}
    policy = case["policy"]
    verifier = AccessTokenVerifier(
        AccessTokenPolicy(
            issuer=policy["issuer"],
            audiences=tuple(policy["audiences"]),
            strict_typ=policy.get("strict_typ", True),
        ),
        {kid: key.public_key for kid, key in stand_ins.items()},
    )
    token = case["token"]
    if case.get("resigned"):
        header_b64, payload_b64, _ = token.split(".")
        header = {**decode_segment(header_b64), "typ": "at+jwt"}
        kid = header["kid"]
        token = sign_compact(header, decode_segment(payload_b64), stand_ins[kid])
    error = _expect_reason(case["reason"], lambda: verifier.verify(token, now=case["now"]))
    assert isinstance(error, InvalidToken)


@pytest.mark.parametrize(("doc", "case"), _cases("rfc9449_fig8_token.json"))
def test_rfc9449_s6_1_figure_8_token(doc: dict[str, Any], case: dict[str, Any]) -> None:
    if case["check"] == "token_claims":
        _check_token_claims(case)
    else:
        assert case["check"] == "access_token"
        _check_access_token(case)
