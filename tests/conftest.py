"""Shared test helpers: the real fixture corpus in tests/data/fixtures (its INDEX.md says where
each capture comes from) and the PyTorch reference in data/reference."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "data" / "fixtures"
#: The PyTorch install reference that tools/build_matrix.py builds the matrix from.
REFERENCE = ROOT / "data" / "reference" / "pytorch"


def fixture_files(folder: str) -> list[Path]:
    """Every capture in one fixture folder (sorted, so test ids are stable)."""
    return sorted((FIXTURES / folder).glob("*.txt"))


def read_fixture(path: Path) -> tuple[dict[str, str], str]:
    """Split a fixture into its header (source/what/expect/note) and the verbatim output."""
    text = path.read_text(encoding="utf-8")
    header: dict[str, str] = {}
    head, sep, body = text.partition("\n# ---\n")
    if not sep:
        raise ValueError(f"{path}: no '# ---' line")
    for line in head.splitlines():
        if line.startswith("# ") and ":" in line:
            key, _, value = line[2:].partition(":")
            header[key.strip()] = value.strip()
    return header, body


@pytest.fixture
def fixture_text():
    def load(relpath: str) -> str:
        return read_fixture(FIXTURES / relpath)[1]

    return load
