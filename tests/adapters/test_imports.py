"""The framework adapters are optional extras: a missing framework names the extra to install."""

from __future__ import annotations

import importlib
import re
import sys

import pytest
import starlette.exceptions

import proofbound.adapters
import proofbound.adapters.starlette


@pytest.mark.parametrize(
    ("adapter", "framework", "extra"),
    [
        ("proofbound.adapters.flask", "flask", "proofbound[flask]"),
        ("proofbound.adapters.django", "django.conf", "proofbound[django]"),
    ],
)
def test_missing_framework_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, adapter: str, framework: str, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, framework, None)  # None in sys.modules: import fails
    monkeypatch.delitem(sys.modules, adapter, raising=False)
    with pytest.raises(ImportError, match=re.escape(f"pip install '{extra}'")):
        importlib.import_module(adapter)


def test_without_fastapi_the_starlette_exception_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fastapi", None)
    monkeypatch.delitem(sys.modules, "proofbound.adapters.starlette")
    # the fresh import rebinds the package attribute; put the original module back afterwards
    monkeypatch.setattr(proofbound.adapters, "starlette", proofbound.adapters.starlette)
    module = importlib.import_module("proofbound.adapters.starlette")
    assert module.HTTPException is starlette.exceptions.HTTPException
