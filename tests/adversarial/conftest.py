"""Fixtures of the adversarial tables: module-scoped keys and a per-test context."""

from __future__ import annotations

import pytest

from ._support import Ctx, Keyring, keyring


@pytest.fixture(scope="module")
def keys() -> Keyring:
    """Generated keys, cached per module (the keyring itself is built once per session)."""
    return keyring()


@pytest.fixture
def ctx(keys: Keyring) -> Ctx:
    """A fresh context: records every proof/token a case presents, for the no-leak check."""
    return Ctx(keys)
