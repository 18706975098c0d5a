"""The ``proofbound`` CLI: version, key generation, RFC 7638 thumbprints, demo placeholder.

The contract under test: results on stdout only, one ``error:`` line on stderr for every
failure, exit 2 for usage and input errors, private key material never on stdout and the input
never echoed.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner, Result

from proofbound.__about__ import __version__
from proofbound._internal.b64 import b64url_encode
from proofbound.cli import main as cli
from proofbound.errors import ConfigurationError, InvalidDPoPProof, InvalidKey, Reason
from proofbound.jwk import generate_key, jwk_thumbprint, load_private_key
from proofbound.jwk.keys import PRIVATE_MEMBERS

# RFC 7638 §3.1 example key and its thumbprint.
RFC7638_JWK: dict[str, str] = {
    "kty": "RSA",
    "n": (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_B"
        "JECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_F"
        "DW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4"
        "vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    ),
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

# RFC 9449 §4.1 / §6.1 example proof key and its jkt.
RFC9449_JWK: dict[str, str] = {
    "kty": "EC",
    "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
    "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
    "crv": "P-256",
}
RFC9449_THUMBPRINT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"

VECTORS = [
    pytest.param(RFC7638_JWK, RFC7638_THUMBPRINT, id="rfc7638_s3_1_rsa"),
    pytest.param(RFC9449_JWK, RFC9449_THUMBPRINT, id="rfc9449_s6_1_ec"),
]

ALGS = ["ES256", "EdDSA", "PS256", "RS256"]

# Planted in bad inputs: it must never come back in any output.
MARKER = "SeCrEtMaRkEr0123456789"

runner = CliRunner()


def invoke(*args: str, input: str | bytes | None = None) -> Result:
    return runner.invoke(cli.app, list(args), input=input, prog_name="proofbound")


def assert_one_error_line(result: Result) -> None:
    assert result.exit_code == cli.EXIT_USAGE, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr


def assert_no_private_member(value: Any) -> None:
    if isinstance(value, dict):
        assert PRIVATE_MEMBERS.isdisjoint(value), value.keys()
        for item in value.values():
            assert_no_private_member(item)
    elif isinstance(value, list):
        for item in value:
            assert_no_private_member(item)


def public_pem(alg: str) -> tuple[bytes, str]:
    key = generate_key(alg)
    pem = key.public_key.key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, key.thumbprint


# --- version, demo, top level -------------------------------------------------------------------


def test_version_prints_name_and_version_on_stdout() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout == f"proofbound {__version__}\n"
    assert result.stderr == ""


def test_unknown_command_is_a_usage_error() -> None:
    result = invoke("frobnicate")
    assert result.exit_code == 2
    assert result.stdout == ""


# --- keys generate ------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGS)
def test_generate_writes_one_private_jwk_with_mode_0600(tmp_path: Path, alg: str) -> None:
    out = tmp_path / "key.json"
    result = invoke("keys", "generate", "--alg", alg, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.stderr == ""

    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    private = json.loads(out.read_text())
    assert isinstance(private, dict)  # one JWK, not a JWKS
    assert "keys" not in private
    assert "d" in private
    assert private["kid"] == jwk_thumbprint(private)
    assert private["alg"] == alg
    assert private["use"] == "sig"
    assert "key_ops" not in private
    assert load_private_key(private).thumbprint == private["kid"]

    printed = json.loads(result.stdout)
    assert set(printed) == {"jwk", "thumbprint"}
    assert_no_private_member(printed)
    assert printed["thumbprint"] == private["kid"]
    public = {name: value for name, value in private.items() if name not in PRIVATE_MEMBERS}
    assert printed["jwk"] == public
    for name in PRIVATE_MEMBERS & private.keys():
        assert private[name] not in result.stdout
    # Nothing but the key file is left behind (no temporary file).
    assert [path.name for path in tmp_path.iterdir()] == ["key.json"]


def test_generate_mode_is_exactly_0600_whatever_the_umask(tmp_path: Path) -> None:
    out = tmp_path / "key.json"
    old = os.umask(0)
    try:
        result = invoke("keys", "generate", "--alg", "ES256", "--out", str(out))
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_generate_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    out = tmp_path / "key.json"
    out.write_text("precious\n")
    result = invoke("keys", "generate", "--alg", "ES256", "--out", str(out))
    assert_one_error_line(result)
    assert "--force" in result.stderr
    assert out.read_text() == "precious\n"


def test_generate_refuses_to_follow_an_existing_symlink(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("precious\n")
    link = tmp_path / "key.json"
    link.symlink_to(target)
    assert_one_error_line(invoke("keys", "generate", "--alg", "ES256", "--out", str(link)))
    assert target.read_text() == "precious\n"

    # --force replaces the link itself; the file it pointed to is untouched.
    result = invoke("keys", "generate", "--alg", "ES256", "--out", str(link), "--force")
    assert result.exit_code == 0, result.output
    assert not link.is_symlink()
    assert target.read_text() == "precious\n"


def test_generate_force_overwrites_and_tightens_the_mode(tmp_path: Path) -> None:
    out = tmp_path / "key.json"
    out.write_text("old\n")
    out.chmod(0o644)
    result = invoke("keys", "generate", "--alg", "EdDSA", "--out", str(out), "--force")
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert json.loads(out.read_text())["kid"] == json.loads(result.stdout)["thumbprint"]
    assert [path.name for path in tmp_path.iterdir()] == ["key.json"]


def test_generate_without_hard_links_still_creates_0600_exclusively(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(src: str, dst: str) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    out = tmp_path / "key.json"
    result = invoke("keys", "generate", "--alg", "ES256", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert json.loads(out.read_text())["kid"] == json.loads(result.stdout)["thumbprint"]
    assert [path.name for path in tmp_path.iterdir()] == ["key.json"]


@pytest.mark.parametrize("alg", ["HS256", "none", "es256", "ES384", "RS512", ""])
def test_generate_offers_only_four_algorithms(tmp_path: Path, alg: str) -> None:
    out = tmp_path / "key.json"
    result = invoke("keys", "generate", "--alg", alg, "--out", str(out))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert not out.exists()


@pytest.mark.parametrize("missing", ["--alg", "--out"])
def test_generate_requires_alg_and_out(tmp_path: Path, missing: str) -> None:
    args = {"--alg": "ES256", "--out": str(tmp_path / "key.json")}
    del args[missing]
    result = invoke("keys", "generate", *[part for pair in args.items() for part in pair])
    assert result.exit_code == 2
    assert list(tmp_path.iterdir()) == []


def test_generate_never_writes_the_private_key_to_stdout() -> None:
    result = invoke("keys", "generate", "--alg", "ES256", "--out", "-")
    assert_one_error_line(result)


@pytest.mark.parametrize("force", [False, True])
def test_generate_into_a_missing_directory_is_one_error_line(tmp_path: Path, force: bool) -> None:
    out = tmp_path / "missing" / "key.json"
    args = ["keys", "generate", "--alg", "ES256", "--out", str(out)]
    assert_one_error_line(invoke(*args, *(["--force"] if force else [])))
    assert not out.parent.exists()


def test_generate_force_onto_a_directory_is_one_error_line(tmp_path: Path) -> None:
    target = tmp_path / "dir"
    target.mkdir()
    result = invoke("keys", "generate", "--alg", "ES256", "--out", str(target), "--force")
    assert_one_error_line(result)
    assert target.is_dir()
    assert [path.name for path in tmp_path.iterdir()] == ["dir"]


@pytest.mark.parametrize("alg", ALGS)
def test_generate_then_thumbprint_round_trip(tmp_path: Path, alg: str) -> None:
    out = tmp_path / "key.json"
    generated = invoke("keys", "generate", "--alg", alg, "--out", str(out))
    assert generated.exit_code == 0, generated.output
    result = invoke("keys", "thumbprint", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout == json.loads(generated.stdout)["thumbprint"] + "\n"


# --- keys thumbprint ----------------------------------------------------------------------------


@pytest.mark.parametrize(("jwk", "expected"), VECTORS)
def test_thumbprint_of_rfc_vectors_from_a_file(
    tmp_path: Path, jwk: dict[str, str], expected: str
) -> None:
    path = tmp_path / "key.jwk"
    path.write_text(json.dumps(jwk))
    result = invoke("keys", "thumbprint", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == expected + "\n"
    assert result.stderr == ""


@pytest.mark.parametrize(("jwk", "expected"), VECTORS)
@pytest.mark.parametrize("args", [[], ["-"]], ids=["default", "dash"])
def test_thumbprint_of_rfc_vectors_from_stdin(
    jwk: dict[str, str], expected: str, args: list[str]
) -> None:
    result = invoke("keys", "thumbprint", *args, input=json.dumps(jwk, indent=2))
    assert result.exit_code == 0, result.output
    assert result.stdout == expected + "\n"


@pytest.mark.parametrize("alg", ALGS)
def test_private_jwk_and_pems_give_the_public_thumbprint(alg: str) -> None:
    key = generate_key(alg)
    public_only = invoke("keys", "thumbprint", input=json.dumps(key.public_jwk()))
    assert public_only.stdout == key.thumbprint + "\n"
    private = invoke("keys", "thumbprint", input=json.dumps(key.private_jwk()))
    assert private.exit_code == 0, private.output
    assert private.stdout == public_only.stdout
    private_pem = invoke("keys", "thumbprint", input=key.private_pem())
    assert private_pem.stdout == public_only.stdout
    pem, expected = public_pem(alg)
    from_pem = invoke("keys", "thumbprint", input=pem)
    assert from_pem.exit_code == 0, from_pem.output
    assert from_pem.stdout == expected + "\n"


def _ec_without(member: str, **extra: str) -> str:
    jwk = {name: value for name, value in RFC9449_JWK.items() if name != member}
    return json.dumps({**jwk, **extra})


def _rsa_1024_jwk() -> str:
    # Too small on purpose: strict import refuses moduli under 2048 bits (RFC 7518 §3.3).
    weak = rsa.generate_private_key(65537, 1024)  # noqa: S505
    numbers = weak.public_key().public_numbers()
    n = numbers.n.to_bytes(128, "big")
    return json.dumps({"kty": "RSA", "n": b64url_encode(n), "e": "AQAB", "kid": MARKER})


BAD_INPUTS = [
    pytest.param(b"", id="empty"),
    pytest.param(b"  \n\t\n", id="blank"),
    pytest.param(f"{MARKER} is not JSON".encode(), id="not_json"),
    pytest.param(f'{{"kty": "EC", "d": "{MARKER}"'.encode(), id="truncated_json"),
    pytest.param(f'["{MARKER}"]'.encode(), id="json_array"),
    pytest.param(f'"{MARKER}"'.encode(), id="json_string"),
    pytest.param(b"null", id="json_null"),
    pytest.param(f'{{"kty": "oct", "k": "{MARKER}"}}'.encode(), id="symmetric_kty"),
    pytest.param(f'{{"kty": "XYZ", "d": "{MARKER}"}}'.encode(), id="unknown_kty"),
    pytest.param(f'{{"d": "{MARKER}"}}'.encode(), id="missing_kty"),
    pytest.param(_ec_without("y", d=MARKER).encode(), id="missing_y"),
    pytest.param(_ec_without("crv", d=MARKER).encode(), id="missing_crv"),
    pytest.param(_ec_without("x", x="A" * 42, d=MARKER).encode(), id="x_wrong_length"),
    pytest.param(_ec_without("x", x=MARKER + "!").encode(), id="x_not_base64url"),
    pytest.param(_ec_without("crv", crv="P-999", d=MARKER).encode(), id="unknown_curve"),
    pytest.param(_rsa_1024_jwk().encode(), id="rsa_1024_bits"),
    pytest.param(
        json.dumps({"keys": [{**RFC9449_JWK, "d": MARKER}]}).encode(), id="jwks_instead_of_jwk"
    ),
    pytest.param(
        ('{"kty": "EC", "kty": "EC", "d": "' + MARKER + '"}').encode(), id="duplicate_member"
    ),
    pytest.param(
        _ec_without("y", y="A" * 43).encode(),  # y = 0: not on P-256
        id="point_not_on_curve",
    ),
    pytest.param(b"\xff\xfe" + MARKER.encode(), id="not_utf8"),
    pytest.param(b"{" * 100 + MARKER.encode(), id="nested_too_deeply"),
    pytest.param(
        b'{"kty": "EC", "pad": "' + MARKER.encode() + b"x" * cli.MAX_KEY_INPUT + b'"}',
        id="too_large",
    ),
    pytest.param(
        f"-----BEGIN PRIVATE KEY-----\n{MARKER}\n-----END PRIVATE KEY-----\n".encode(),
        id="bad_private_pem",
    ),
    pytest.param(
        f"-----BEGIN PUBLIC KEY-----\n{MARKER}\n-----END PUBLIC KEY-----\n".encode(),
        id="bad_public_pem",
    ),
    pytest.param(
        f"-----BEGIN PUBLIC KEY-----\n{MARKER}\u00e9\n-----END PUBLIC KEY-----\n".encode(),
        id="non_ascii_pem",
    ),
    # Curves cryptography cannot load at all (it raises UnsupportedAlgorithm, not ValueError).
    pytest.param(
        b"-----BEGIN PUBLIC KEY-----\n"
        b"MDIwEAYHKoZIzj0CAQYFK4EEAAYDHgAEMFslCqIyjVh3s/OZpc2sKMX6C4z1a8oL\n"
        b"V2qYEA==\n"
        b"-----END PUBLIC KEY-----\n",
        id="secp112r1_pem",
    ),
    pytest.param(
        b"-----BEGIN PUBLIC KEY-----\n"
        b"MFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAECBwpz1H4v7bZnvy+gUkXTjJ+j61L\n"
        b"bVqaAT96fUGVRzsa2MUQpXVnL417oDY/G1V8pKM1ps/C978clWppgHTr+A==\n"
        b"-----END PUBLIC KEY-----\n",
        id="sm2_pem",
    ),
    pytest.param(
        f"-----BEGIN CERTIFICATE-----\n{MARKER}\n-----END CERTIFICATE-----\n".encode(),
        id="certificate_pem",
    ),
]


@pytest.mark.parametrize("data", BAD_INPUTS)
def test_bad_input_on_stdin_is_one_line_exit_2_never_echoed(data: bytes) -> None:
    result = invoke("keys", "thumbprint", input=data)
    assert_one_error_line(result)
    assert MARKER not in result.output


@pytest.mark.parametrize("data", BAD_INPUTS)
def test_bad_input_in_a_file_is_one_line_exit_2_never_echoed(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "key.jwk"
    path.write_bytes(data)
    result = invoke("keys", "thumbprint", str(path))
    assert_one_error_line(result)
    assert MARKER not in result.output


def test_unknown_kty_reason_is_named() -> None:
    result = invoke("keys", "thumbprint", input='{"kty": "oct", "k": "AAAA"}')
    assert_one_error_line(result)
    assert "unsupported or missing kty" in result.stderr
    assert Reason.KEY_INVALID.value in result.stderr


def test_jwks_is_named_as_such() -> None:
    result = invoke("keys", "thumbprint", input=json.dumps({"keys": [RFC9449_JWK]}))
    assert_one_error_line(result)
    assert "JWK Set" in result.stderr


def test_missing_file_is_one_error_line(tmp_path: Path) -> None:
    result = invoke("keys", "thumbprint", str(tmp_path / "nope.jwk"))
    assert_one_error_line(result)
    assert "nope.jwk" in result.stderr


def test_directory_instead_of_file_is_one_error_line(tmp_path: Path) -> None:
    assert_one_error_line(invoke("keys", "thumbprint", str(tmp_path)))


def test_control_characters_in_a_file_name_are_escaped(tmp_path: Path) -> None:
    result = invoke("keys", "thumbprint", str(tmp_path / "a\x1b[2Jb"))
    assert_one_error_line(result)
    assert "\x1b" not in result.stderr


# --- error mapping ------------------------------------------------------------------------------


def test_exit_codes_for_library_errors() -> None:
    assert cli.exit_code_for(InvalidKey("x")) == cli.EXIT_USAGE
    assert cli.exit_code_for(ConfigurationError("x")) == cli.EXIT_USAGE
    assert cli.exit_code_for(InvalidDPoPProof(Reason.PROOF_MALFORMED)) == cli.EXIT_FAILURE


def test_unexpected_error_is_one_line_exit_1_without_its_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def explode(alg: str) -> None:
        raise RuntimeError(MARKER)

    monkeypatch.setattr(cli, "generate_key", explode)
    result = invoke("keys", "generate", "--alg", "ES256", "--out", str(tmp_path / "k.json"))
    assert result.exit_code == cli.EXIT_FAILURE
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert "RuntimeError" in result.stderr
    assert MARKER not in result.output
    assert list(tmp_path.iterdir()) == []


# --- the real process ---------------------------------------------------------------------------


def run_module(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(  # noqa: S603 -- fixed argv, no shell
        [sys.executable, "-m", "proofbound.cli.main", *args],
        input=input,
        capture_output=True,
        timeout=60,
        check=False,
    )


def test_process_version() -> None:
    done = run_module("--version")
    assert done.returncode == 0
    assert done.stdout == f"proofbound {__version__}\n".encode()
    assert done.stderr == b""


@pytest.mark.parametrize(("jwk", "expected"), VECTORS)
def test_process_thumbprint_from_stdin(jwk: dict[str, str], expected: str) -> None:
    done = run_module("keys", "thumbprint", input=json.dumps(jwk).encode())
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{expected}\n".encode()


def test_process_bad_input_has_no_traceback_and_no_echo() -> None:
    done = run_module("keys", "thumbprint", "-", input=f'{{"kty":"oct","k":"{MARKER}"}}'.encode())
    assert done.returncode == 2
    assert done.stdout == b""
    assert done.stderr.count(b"\n") == 1
    assert done.stderr.startswith(b"error: ")
    assert b"Traceback" not in done.stderr
    assert MARKER.encode() not in done.stderr


def test_process_bad_alg_is_a_usage_error(tmp_path: Path) -> None:
    done = run_module("keys", "generate", "--alg", "HS256", "--out", str(tmp_path / "k.json"))
    assert done.returncode == 2
    assert done.stdout == b""
    assert list(tmp_path.iterdir()) == []


def test_console_script_generate_then_thumbprint(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("proofbound")
    if not script.exists():
        pytest.skip("the proofbound console script is not installed next to this interpreter")
    out = tmp_path / "key.json"
    generated = subprocess.run(  # noqa: S603 -- fixed argv, no shell
        [script, "keys", "generate", "--alg", "ES256", "--out", out],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert generated.returncode == 0, generated.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    thumb = subprocess.run(  # noqa: S603 -- fixed argv, no shell
        [script, "keys", "thumbprint", out], capture_output=True, timeout=60, check=False
    )
    assert thumb.returncode == 0, thumb.stderr
    assert thumb.stdout.decode().strip() == json.loads(generated.stdout)["thumbprint"]
