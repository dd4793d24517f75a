"""The test suite's own layout: shared helpers live in ``tests/helpers/`` (one home each), and
no ``test_*.py`` module imports another, so each test module can be read, run and moved on
its own, as the source modules it mirrors can."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
TEST_MODULES = sorted(TESTS.glob("test_*.py"))


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, relative ones spelled from ``tests`` (``tests.x.y``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative to the tests package
                base = ".".join(["tests", *filter(None, [node.module])])
                if node.module is None:  # from . import x
                    found.update(f"tests.{alias.name}" for alias in node.names)
                else:
                    found.add(base)
                    found.update(f"{base}.{alias.name}" for alias in node.names)
            elif node.module:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_the_helpers_are_a_package_and_no_helper_lies_beside_the_tests() -> None:
    assert (TESTS / "helpers" / "__init__.py").is_file()
    loose = [p.name for p in TESTS.glob("*.py") if not p.name.startswith("test_")]
    assert sorted(loose) == ["__init__.py", "conftest.py"]


@pytest.mark.parametrize("path", TEST_MODULES, ids=lambda p: p.name)
def test_no_test_module_imports_another(path: Path) -> None:
    names = {p.stem for p in TEST_MODULES}
    bad = sorted(
        m for m in imported_modules(path)
        if m.split(".")[0] in names or (m.startswith("tests.") and m.split(".")[1] in names)
    )  # fmt: skip
    assert not bad, f"{path.name} imports {bad}: move what they share into tests/helpers/"


@pytest.mark.parametrize("path", TEST_MODULES, ids=lambda p: p.name)
def test_no_test_module_imports_conftest(path: Path) -> None:
    """conftest holds hooks and fixtures, which pytest hands to tests; helpers are imported."""
    bad = sorted(m for m in imported_modules(path) if "conftest" in m.split("."))
    assert not bad, f"{path.name} imports {bad}: import from tests/helpers/ instead"


def test_the_checker_sees_an_import_between_test_modules(tmp_path: Path) -> None:
    sample = tmp_path / "test_sample.py"
    sample.write_text("from .test_plan import MACHINES\nfrom . import test_detect\n")
    assert {"tests.test_plan", "tests.test_detect"} <= imported_modules(sample)
