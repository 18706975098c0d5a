"""The public surface is explicit: every ``__all__`` is sorted, complete and importable."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import proofbound


def _public_modules() -> list[str]:
    names = ["proofbound"]
    for info in pkgutil.walk_packages(proofbound.__path__, "proofbound."):
        parts = info.name.split(".")
        if any(part.startswith("_") for part in parts[1:]):
            continue
        if info.name.startswith(("proofbound.cli", "proofbound.replay.redis")):
            continue  # the CLI has no library surface; redis is an optional extra
        names.append(info.name)
    return sorted(names)


def _defined_here(module: ModuleType) -> set[str]:
    names = set()
    for name, value in vars(module).items():
        if name.startswith("_"):
            continue
        if (inspect.isclass(value) or inspect.isfunction(value)) and (
            value.__module__ == module.__name__
        ):
            names.add(name)
    return names


@pytest.mark.parametrize("name", _public_modules())
def test_all_is_sorted_complete_and_importable(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert list(exported) == sorted(exported), f"{name}.__all__ is not sorted"
    assert len(set(exported)) == len(exported)
    for item in exported:
        assert hasattr(module, item), f"{name}.__all__ names missing {item}"
    missing = _defined_here(module) - set(exported)
    assert not missing, f"{name} defines public names not in __all__: {sorted(missing)}"


def test_top_level_reexports_subpackage_names() -> None:
    for item in proofbound.__all__:
        assert getattr(proofbound, item) is not None


def test_public_callables_have_docstrings() -> None:
    undocumented = []
    for name in _public_modules():
        module = importlib.import_module(name)
        if not (module.__doc__ or "").strip():
            undocumented.append(name)
        for item in getattr(module, "__all__", ()):
            value = getattr(module, item)
            if (inspect.isclass(value) or inspect.isfunction(value)) and not (
                value.__doc__ or ""
            ).strip():
                undocumented.append(f"{name}.{item}")
    assert undocumented == []
