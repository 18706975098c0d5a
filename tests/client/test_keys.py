"""``DPoPKey`` and ``FileKeyStore``: 0600 files, no overwrite, one key reused, quiet errors."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from proofbound.client import DPoPKey, FileKeyStore, KeyStore
from proofbound.errors import InvalidKey, Reason


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def private_d(key: DPoPKey) -> str:
    return key.signing_key.private_jwk()["d"]


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_generate_save_load_round_trip(tmp_path: Path, alg: str) -> None:
    key = DPoPKey.generate(alg)
    assert key.alg == alg
    path = tmp_path / "client.jwk"
    key.save(path)
    assert mode_of(path) == 0o600
    loaded = DPoPKey.load(path)
    assert loaded.thumbprint == key.thumbprint
    assert loaded.alg == alg
    jwk = json.loads(path.read_text())
    assert jwk["d"] == private_d(key)
    assert jwk["kid"] == key.signing_key.kid
    assert sorted(p.name for p in tmp_path.iterdir()) == ["client.jwk"]  # no temporary left


def test_the_file_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        DPoPKey.generate().save(tmp_path / "k.jwk")
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "k.jwk") == 0o600


def test_save_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "client.jwk"
    first, second = DPoPKey.generate(), DPoPKey.generate()
    first.save(path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        second.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["client.jwk"]
    second.save(path, overwrite=True)
    assert DPoPKey.load(path).thumbprint == second.thumbprint
    assert mode_of(path) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["client.jwk"]


def test_save_refuses_to_write_through_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("precious")
    link = tmp_path / "client.jwk"
    link.symlink_to(target)
    with pytest.raises(FileExistsError):
        DPoPKey.generate().save(link)
    assert target.read_text() == "precious"


def test_a_pem_private_key_loads(tmp_path: Path) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "key.pem"
    path.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key = DPoPKey.load(path)
    assert key.alg == "ES256"
    public = private.public_key().public_numbers()
    assert key.signing_key.public_key.key.public_numbers() == public


def test_repr_shows_the_thumbprint_only() -> None:
    key = DPoPKey.generate()
    for text in (repr(key), str(key)):
        assert private_d(key) not in text
        assert key.thumbprint[:8] in text
        assert key.thumbprint not in text


# -- the file store -----------------------------------------------------------------------------


def test_file_key_store_creates_once_and_reuses(tmp_path: Path) -> None:
    path = tmp_path / "client.jwk"
    store: KeyStore = FileKeyStore(path)
    created = store.load_or_create()
    assert path.exists()
    assert mode_of(path) == 0o600
    content = path.read_bytes()
    mtime = path.stat().st_mtime_ns
    for _ in range(3):
        again = FileKeyStore(path).load_or_create()
        assert again.thumbprint == created.thumbprint
    assert path.read_bytes() == content
    assert path.stat().st_mtime_ns == mtime
    assert str(path) in repr(store)
    assert private_d(created) not in repr(store)


def test_file_key_store_alg(tmp_path: Path) -> None:
    assert FileKeyStore(tmp_path / "k.jwk", alg="EdDSA").load_or_create().alg == "EdDSA"


def test_file_key_store_does_not_replace_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "client.jwk"
    path.write_text("{not json")
    with pytest.raises(InvalidKey):
        FileKeyStore(path).load_or_create()
    assert path.read_text() == "{not json"


def test_a_key_saved_first_by_someone_else_wins(tmp_path: Path) -> None:
    """Another process saved its key first: the store uses that one, never a second key."""
    path = tmp_path / "client.jwk"
    winner = DPoPKey.generate()
    winner.save(path)
    # the other one saw no file yet, generated its own, and lost the race to save it
    loser = FileKeyStore(path)
    assert loser.load_or_create().thumbprint == winner.thumbprint


def test_threads_creating_the_key_at_once_agree(tmp_path: Path) -> None:
    path = tmp_path / "client.jwk"
    barrier = threading.Barrier(8)
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait(timeout=5)
            results.append(FileKeyStore(path).load_or_create().thumbprint)
        except BaseException as exc:
            errors.append(exc)

    for _ in range(20):
        path.unlink(missing_ok=True)
        results.clear()
        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        assert errors == []
        assert len(set(results)) == 1
        assert DPoPKey.load(path).thumbprint == results[0]


# -- load errors --------------------------------------------------------------------------------


def _public_only(key: DPoPKey) -> str:
    return json.dumps(key.signing_key.public_jwk())


def _truncated(key: DPoPKey) -> str:
    return json.dumps(key.signing_key.private_jwk())[:-20]


def _bad_d(key: DPoPKey) -> str:
    jwk = key.signing_key.private_jwk()
    jwk["x"] = jwk["y"]  # the private scalar no longer matches the public point
    return json.dumps(jwk)


def _unsupported(key: DPoPKey) -> str:
    return json.dumps({**key.signing_key.private_jwk(), "kty": "oct", "k": private_d(key)})


@pytest.mark.parametrize(
    "content",
    [_public_only, _truncated, _bad_d, _unsupported],
    ids=["public-only", "truncated", "mismatched", "unsupported-kty"],
)
def test_load_errors_are_invalid_key_without_key_material(tmp_path: Path, content: object) -> None:
    key = DPoPKey.generate()
    path = tmp_path / "client.jwk"
    assert callable(content)
    text = content(key)
    path.write_text(text)
    with pytest.raises(InvalidKey) as caught:
        DPoPKey.load(path)
    exc = caught.value
    assert exc.reason is Reason.KEY_INVALID
    shown = f"{exc} {exc!r} {exc.args} {exc.diagnostics()}"
    assert private_d(key) not in shown
    assert key.signing_key.public_jwk()["x"] not in shown
    assert text not in shown


@pytest.mark.parametrize(
    "content",
    [b"", b"garbage", b"\xff\xfe\x00", b"[1, 2]", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END"],
    ids=["empty", "garbage", "binary", "array", "bad-pem"],
)
def test_unreadable_key_files_are_invalid_key(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "client.jwk"
    path.write_bytes(content)
    with pytest.raises(InvalidKey) as caught:
        DPoPKey.load(path)
    assert caught.value.reason is Reason.KEY_INVALID


def test_a_missing_file_is_invalid_key(tmp_path: Path) -> None:
    with pytest.raises(InvalidKey) as caught:
        DPoPKey.load(tmp_path / "nope.jwk")
    assert caught.value.reason is Reason.KEY_INVALID


def test_an_oversized_file_is_refused_before_parsing(tmp_path: Path) -> None:
    key = DPoPKey.generate()
    path = tmp_path / "client.jwk"
    path.write_text(json.dumps(key.signing_key.private_jwk()) + " " * (64 * 1024))
    with pytest.raises(InvalidKey) as caught:
        DPoPKey.load(path)
    assert "too large" in caught.value.diagnostics()
    assert private_d(key) not in caught.value.diagnostics()


def test_a_directory_is_invalid_key(tmp_path: Path) -> None:
    with pytest.raises(InvalidKey):
        DPoPKey.load(tmp_path)
