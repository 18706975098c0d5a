"""The public surface is explicit: every ``__all__`` is sorted, complete and importable."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path
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
        if (inspect.isclass(value) or inspect.isroutine(value)) and (
            getattr(value, "__module__", None) == module.__name__
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


def _documented_in_source(module: ModuleType) -> set[str]:
    # Read the source, not __doc__: compiled (mypyc) functions do not keep their docstrings.
    path = Path(module.__file__ or "")
    if path.suffix != ".py":  # foo.cpython-311-x86_64-linux-gnu.so -> foo.py beside it
        path = path.with_name(path.name.split(".", 1)[0] + ".py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {"__module__"} if ast.get_docstring(tree) else set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and (
            ast.get_docstring(node)
        ):
            names.add(node.name)
    return names


def test_public_callables_have_docstrings() -> None:
    modules = [importlib.import_module(name) for name in _public_modules()]
    documented: set[str] = set()
    undocumented = []
    for module in modules:
        names = _documented_in_source(module)
        if "__module__" not in names:
            undocumented.append(module.__name__)
        documented |= names
    for module in modules:
        for item in getattr(module, "__all__", ()):
            value = getattr(module, item)
            is_callable = inspect.isclass(value) or inspect.isroutine(value)
            if is_callable and getattr(value, "__name__", item) not in documented:
                undocumented.append(f"{module.__name__}.{item}")
    assert undocumented == []
