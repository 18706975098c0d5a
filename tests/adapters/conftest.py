"""Fixtures of the adapter tests (glue only: the guard's logic is tested in tests/unit)."""

from __future__ import annotations

import pytest

from ._support import World


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def nonce_world() -> World:
    return World(nonces=True)
