"""Each rule has one home: the torch-stack name sets live in ``constants``, the version parser in
``models``, what-is-installed in ``inventory`` (recreate reads it without loading doctor).

Read from the source with :mod:`ast` (the definitions themselves, not a grep of their text), and
from a fresh interpreter for what an import loads.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "conda_torch"

#: The stack's name sets: defined in constants.py only (the other modules import them).
STACK_NAMES = (
    "PIP_STACK",
    "COMPANIONS",
    "CONDA_TORCH_NAMES",
    "CONDA_TORCH_SPECS",
    "CONDA_CARRIERS",
    "CONDA_ABI_STACK",
    "TORCH_CONDA_PACKAGES",
    "TORCH_PIP_PACKAGES",
    "TORCH_CHANNELS",
    "STACK_CONDA",
    "STACK_PIP_PREFIXES",
    "DEFAULTS_CHANNELS",
)

#: stdlib-only, run by the environment's own Python: it cannot import the package.
STANDALONE = {"_probe.py"}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name not in STANDALONE)


def _assigned(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        for target in targets:
            if isinstance(target, ast.Name):
                names.add(target.id)
    return names


def test_the_stack_name_sets_are_defined_once_in_constants():
    homes: dict[str, list[str]] = {}
    for path in _modules():
        for name in _assigned(ast.parse(path.read_text(encoding="utf-8"))) & set(STACK_NAMES):
            homes.setdefault(name, []).append(path.relative_to(PACKAGE).as_posix())
    assert homes == {name: ["constants.py"] for name in STACK_NAMES}


def _parses_versions(func: ast.FunctionDef) -> bool:
    """A function that turns text into an int tuple itself: ``tuple(int(...) for ...)``."""
    for node in ast.walk(func):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "tuple"
            and node.args
            and isinstance(node.args[0], ast.GeneratorExp)
            and isinstance(node.args[0].elt, ast.Call)
            and getattr(node.args[0].elt.func, "id", None) == "int"
        ):
            return True
    return False


def test_one_version_parser():
    parsers = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and _parses_versions(node):
                parsers.append(f"{path.relative_to(PACKAGE).as_posix()}:{node.name}")
    assert parsers == ["models.py:version_tuple"]


@pytest.mark.parametrize("module", ["recreate", "detect.captures.packages"])
def test_reading_what_is_installed_does_not_load_doctor(module):
    code = (
        f"import sys, conda_torch.{module}, conda_torch.inventory; "
        "print('conda_torch.doctor' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
