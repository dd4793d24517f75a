"""The repository stands alone: nothing under tests/, tools/ or bench/ reads outside it.

A plain ``git clone`` (or the sdist) must pass the tests with nothing beside it, so the code
there may not name the developers' reference folder beside the checkout (:data:`OUTSIDE`), an
absolute path of this machine's checkout, or a path above the repository root
(``Path(__file__).parents[N]`` past the root, ``ROOT.parent``, ``os.path.dirname`` chains).
A simple text scan; data under ``tests/data/`` (real captures, quoted verbatim) is not code.
This test reads nothing outside the repository either: it spells the ways out it forbids from
:data:`OUTSIDE`, the folder's name as the fixture corpus's provenance line records it, and
checks that the data is inside the checkout.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from .helpers.paths import FIXTURES, REFERENCE, ROOT

if TYPE_CHECKING:
    from pathlib import Path


def _copied_from() -> str:
    """The folder beside a checkout that the capture corpus was copied from, as the provenance
    line of tests/data/fixtures/INDEX.md names it (its ``NAME/fixtures/``): the one place the
    name is kept."""
    index = (FIXTURES / "INDEX.md").read_text(encoding="utf-8")
    m = re.search(r"^Provenance of this copy:.*?\(`([\w.-]+)/fixtures/`\)", index, re.M)
    if m is None:
        raise AssertionError("tests/data/fixtures/INDEX.md names no folder it was copied from")
    return m[1]


#: The developers' reference folder beside a checkout (never read from here).
OUTSIDE = _copied_from()
#: Folders whose files must not read outside the repository.
SCANNED = ("tests", "tools", "bench")
#: Not scanned: data files, and this test (it quotes what it forbids).
SKIPPED = ("tests/data", "tests/test_standalone.py")

#: Fixed patterns; the depth of ``parents[N]``, ``.parent`` and ``dirname`` chains is checked
#: against each file's own depth in :func:`outside_references`.
FORBIDDEN = (
    (re.compile(rf"\.\./{OUTSIDE}\b"), f"../{OUTSIDE}"),
    (
        re.compile(rf"""(?<![\w-]){OUTSIDE}/(?:fixtures|reference|conda|design|slurm|hooks)\b"""),
        f"{OUTSIDE}/",
    ),
    (re.compile(rf"""["']{OUTSIDE}["']"""), f'a "{OUTSIDE}" path component'),
    (re.compile(r"\bROOT\w*\.parent\b"), "the repository root's parent"),
    (re.compile(r"/work/"), "an absolute path of a checkout"),
)
PARENTS = re.compile(r"__file__\)(?:\.resolve\(\))?\.parents\[(\d+)\]")
PARENT_CHAIN = re.compile(r"__file__\)(?:\.resolve\(\))?((?:\.parent\b)+)")
DIRNAME_CHAIN = re.compile(r"((?:os\.path\.dirname\()+)os\.path\.(?:abs|real)path\(__file__\)")


def outside_references(text: str, depth: int) -> list[str]:
    """What in ``text`` (a file ``depth`` folders below the root) points outside the repository.

    ``Path(__file__).parents[depth]``, ``depth + 1`` ``.parent`` steps and ``depth + 1``
    ``os.path.dirname`` calls reach the root; one more leaves it.
    """
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        hits = [what for pattern, what in FORBIDDEN if pattern.search(line)]
        hits += [f"parents[{m[1]}]" for m in PARENTS.finditer(line) if int(m[1]) > depth]
        hits += [
            f"{m[1].count('.parent')} .parent steps"
            for m in PARENT_CHAIN.finditer(line)
            if m[1].count(".parent") > depth + 1
        ]
        hits += [
            f"{m[1].count('dirname')} dirname calls"
            for m in DIRNAME_CHAIN.finditer(line)
            if m[1].count("dirname") > depth + 1
        ]
        found += [f"{number}: {hit}: {line.strip()}" for hit in hits]
    return found


def scanned_files() -> list[Path]:
    files = []
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*")):
            rel = path.relative_to(ROOT).as_posix()
            if (
                path.is_file()
                and "__pycache__" not in path.parts
                and not any(rel == s or rel.startswith(s + "/") for s in SKIPPED)
            ):
                files.append(path)
    return files


def test_tests_tools_and_bench_read_nothing_outside_the_repository():
    files = scanned_files()
    assert any(p.name == "conftest.py" for p in files), "the scan found no test code"
    bad = {}
    for path in files:
        rel = path.relative_to(ROOT)
        found = outside_references(path.read_text(encoding="utf-8"), depth=len(rel.parts) - 1)
        if found:
            bad[rel.as_posix()] = found
    assert bad == {}


@pytest.mark.parametrize(
    ("line", "depth"),
    [
        # The lines this repository had before it stood alone.
        (f'FIXTURES = ROOT.parent / "{OUTSIDE}" / "fixtures"', 1),
        (f'REFERENCE = ROOT.parent / "{OUTSIDE}" / "reference" / "pytorch"', 1),
        (f'"""Regenerating data/matrix.json from ../{OUTSIDE}/reference/pytorch gives it."""', 1),
        (
            f"# facts of {OUTSIDE}/fixtures/nvidia-smi/quadro-rtx4000x2-535.129.03-cuda12.2-L.txt",
            1,
        ),
        # Past the root in the three spellings the code uses to find it.
        ("HERE = Path(__file__).resolve().parents[2]", 1),
        ("HERE = Path(__file__).parent.parent.parent", 1),
        ("HERE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))", 1),
        ('TOOLS = "/work/main/tools"', 1),
    ],
)
def test_the_scan_catches_each_way_out(line, depth):
    assert outside_references(line, depth)


@pytest.mark.parametrize(
    "line",
    [
        "ROOT = Path(__file__).resolve().parents[1]",
        "ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))",
        'GOLDEN = Path(__file__).parent / "data" / "golden"',
        "#: fixtures shared with the adapter tests (a real conda, a sandbox with a local channel)",
        '@pytest.mark.parametrize("name", ["a/b", "../x", "x\\\\y"])',
    ],
)
def test_the_scan_leaves_paths_inside_the_repository_alone(line):
    assert outside_references(line, depth=1) == []


def test_the_data_the_tests_read_is_in_the_repository():
    """The fixture corpus and the PyTorch reference are inside the checkout, with provenance."""
    for folder in (FIXTURES, REFERENCE):
        assert folder.is_relative_to(ROOT)
    index = (FIXTURES / "INDEX.md").read_text(encoding="utf-8")
    assert "Provenance of this copy" in index
    assert (REFERENCE.parent / "README.md").is_file()
    for name in ("torch_releases.yaml", "cuda.yaml", "apple_rocm_xpu.yaml", "NOTES.md"):
        assert (REFERENCE / name).is_file()
