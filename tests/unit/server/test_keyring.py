"""Signing keys: first start, rotation (publish before signing), retirement, sharing."""

from __future__ import annotations

from pathlib import Path

from proofbound.jwk.keys import SigningKey
from proofbound.server.keyring import PUBLISH_AHEAD, RELOAD_SECONDS, Keyring, rotate_keys
from proofbound.storage.store import Store

T0 = 1_800_000_000


def _store(tmp_path: Path) -> Store:
    return Store.open(f"sqlite:///{tmp_path / 'k.db'}")


def _rotated(tmp_path: Path, at: int) -> tuple[Store, Keyring, SigningKey, SigningKey]:
    """A ring started at T0, and a rotation at ``at``: (store, ring, old key, new key)."""
    store = _store(tmp_path)
    ring = Keyring(store, alg="ES256", now=T0)
    old = ring.signing_key(T0)
    return store, ring, old, rotate_keys(store, alg="ES256", now=at, max_token_ttl=300)


def test_first_start_creates_one_active_es256_key(tmp_path: Path) -> None:
    store = _store(tmp_path)
    ring = Keyring(store, alg="ES256", now=T0)
    key = ring.signing_key(T0)
    assert key.alg == "ES256"
    assert [k["kid"] for k in ring.jwks(T0)["keys"]] == [key.kid]
    assert "d" not in ring.jwks(T0)["keys"][0]
    # A second process on the same database finds the key instead of making its own.
    assert Keyring(store, alg="ES256", now=T0 + 1).signing_key(T0 + 1).kid == key.kid
    store.close()


def test_rotation_publishes_first_signs_later_and_retires_after_the_tokens_expired(
    tmp_path: Path,
) -> None:
    store, ring, old, new = _rotated(tmp_path, T0 + 100)
    seen = T0 + 100 + RELOAD_SECONDS
    kids = {k["kid"] for k in ring.jwks(seen)["keys"]}
    assert kids == {old.kid, new.kid}  # published at once
    assert ring.signing_key(seen).kid == old.kid  # but not signing yet
    active = T0 + 100 + PUBLISH_AHEAD
    assert ring.signing_key(active + RELOAD_SECONDS).kid == new.kid
    # Old key kept while its tokens may live; retired by the rotation after that.
    rotate_keys(store, alg="ES256", now=active + 300, max_token_ttl=300)
    assert old.kid in {k.key.kid for k in store.signing_keys()}
    rotate_keys(store, alg="ES256", now=active + 301, max_token_ttl=300)
    assert old.kid not in {k.key.kid for k in store.signing_keys()}
    assert new.kid in {k.key.kid for k in store.signing_keys()}
    store.close()


def test_verifying_key_by_kid(tmp_path: Path) -> None:
    store = _store(tmp_path)
    ring = Keyring(store, alg="EdDSA", now=T0)
    key = ring.signing_key(T0)
    found = ring.verifying_key(key.kid, T0)
    assert found is not None
    assert found[0] == "EdDSA"
    assert found[1] == key.public_key
    assert ring.verifying_key("nope", T0) is None
    assert "d=" not in repr(ring)
    store.close()


def test_the_signing_key_switches_at_its_activation_second_despite_the_per_second_memo(
    tmp_path: Path,
) -> None:
    store, ring, old, new = _rotated(tmp_path, T0)
    loaded = T0 + RELOAD_SECONDS  # the ring reads the rotation here
    assert ring.signing_key(loaded).kid == old.kid
    assert ring.signing_key(loaded).kid == old.kid  # the same second: remembered
    active = T0 + PUBLISH_AHEAD
    assert ring.signing_key(active - 1).kid == old.kid
    assert ring.signing_key(active).kid == new.kid  # the next second chooses again
    store.close()
