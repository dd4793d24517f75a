"""Where things are: the repository root, the capture corpus in ``tests/data/fixtures`` (its
INDEX.md says where each capture comes from), the pasted reports, the PyTorch reference in
``data/reference``; and how a capture file splits into its header and the verbatim output."""

from __future__ import annotations

from pathlib import Path

#: The repository root (so subprocesses import this checkout).
ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "data" / "fixtures"
#: The PyTorch install reference that tools/build_matrix.py builds the matrix from.
REFERENCE = ROOT / "data" / "reference" / "pytorch"
#: Users' pasted reports, one file each (tests/data/reports/INDEX.md lists them).
REPORTS = ROOT / "tests" / "data" / "reports"
REPORT_FILES = sorted(REPORTS.glob("*.txt"))


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
