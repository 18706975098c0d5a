"""Every test named in docs/compliance.md exists: the file, the function and the case id.

Case ids are checked against pytest's own collection of the referenced files (run once, in a
subprocess), so generated ids count exactly as pytest names them.
"""

from __future__ import annotations

import ast
import functools
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MATRIX = ROOT / "docs" / "compliance.md"
_REF = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+)(?:\[([^\]`]+)\])?)?`")


def _references() -> list[tuple[str, str | None, str | None]]:
    return [m.groups() for m in _REF.finditer(MATRIX.read_text(encoding="utf-8"))]


def _functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


@functools.cache
def _collected_ids() -> frozenset[str]:
    files = sorted({path for path, _, case in _references() if case is not None})
    result = subprocess.run(  # noqa: S603 -- fixed arguments, our own interpreter
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    return frozenset(line.strip() for line in result.stdout.splitlines() if "::" in line)


def test_matrix_names_tests():
    assert len(_references()) >= 80


@pytest.mark.parametrize(
    ("path", "function", "case"),
    _references(),
    ids=lambda value: value if isinstance(value, str) else "-",
)
def test_referenced_test_exists(path: str, function: str | None, case: str | None):
    file = ROOT / path
    assert file.is_file(), f"{path} does not exist"
    if function is not None:
        assert function in _functions(file), f"{path} has no {function}"
    if case is not None:
        assert f"{path}::{function}[{case}]" in _collected_ids(), (
            f"no test {path}::{function}[{case}]"
        )
