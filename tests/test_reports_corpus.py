"""Form of the corpus of real pasted reports (tests/data/reports, issue 13 item 4).

Each file is a paste from a public issue thread whose cause the thread established; INDEX.md
lists them. These tests check only the form of the files and of the index, not any diagnosis.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from conda_torch import findings

from .helpers.paths import REPORT_FILES, REPORTS, read_fixture

INDEX = REPORTS / "INDEX.md"

# The cause vocabulary of issue 13 (conda_torch.findings.CAUSES), plus `healthy` for reports whose
# stack is consistent and whose problem the thread found elsewhere.
CAUSES = (*findings.CAUSES, "healthy")
REQUIRED = (
    "source",
    "repo-thread-title",
    "posted",
    "cause",
    "established-by",
    "established",
    "facts",
    "what",
)
OPTIONAL = ("note",)
THREAD = re.compile(r"https://github\.com/[\w.-]+/[\w.-]+/(issues|pull)/\d+(#issuecomment-\d+)?")


def header_lines(path: Path) -> list[str]:
    head, sep, _ = path.read_text(encoding="utf-8").partition("\n# ---\n")
    assert sep, f"{path.name}: no '# ---' line"
    return head.splitlines()


def index_rows() -> list[list[str]]:
    """The cells of the 'Reports' table in INDEX.md (one list per row, header rows left out)."""
    text = INDEX.read_text(encoding="utf-8")
    section = text.split("\n## Reports\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if line.startswith("| [") and line.endswith("|"):
            rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def test_corpus_is_there():
    assert len(REPORT_FILES) >= 40
    assert INDEX.is_file()
    assert not [p.name for p in REPORTS.iterdir() if p.suffix not in (".txt", ".md")]


@pytest.mark.parametrize("path", REPORT_FILES, ids=lambda p: p.stem)
def test_report_form(path: Path):
    raw = path.read_bytes()
    assert raw.endswith(b"\n"), "a report ends with a newline"
    for line in header_lines(path):
        assert line.startswith("# "), f"header line {line!r} does not start with '# '"
        key = line[2:].partition(":")[0]
        assert key in REQUIRED + OPTIONAL, f"unknown header key {key!r}"
    header, body = read_fixture(path)
    missing = [key for key in REQUIRED if not header.get(key)]
    assert not missing, f"missing or empty header keys: {missing}"
    assert body.strip(), "the paste is empty"

    assert header["cause"] in CAUSES
    assert path.name.startswith(header["cause"] + "-"), "the file name starts with its cause"
    assert THREAD.fullmatch(header["source"]), (
        f"source is not one GitHub thread: {header['source']}"
    )
    assert header["established-by"].startswith("https://")
    assert "(who: " in header["established-by"], "established-by says who established the cause"
    established = header["established"]
    assert len(established) > 2 and established[0] == established[-1] == '"', (
        "the establishing sentence is quoted"
    )
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", header["posted"])


def test_pastes_are_distinct():
    bodies = Counter(read_fixture(path)[1] for path in REPORT_FILES)
    assert [n for n in bodies.values() if n > 1] == []


def test_index_lists_every_report_and_no_other():
    rows = index_rows()
    listed = [row[0] for row in rows]
    assert len(listed) == len(set(listed)), "a report is listed twice"
    names = {re.fullmatch(r"\[(.+)\]\((.+)\)", cell).group(1) for cell in listed}
    assert names == {path.name for path in REPORT_FILES}
    for cell in listed:
        name, target = re.fullmatch(r"\[(.+)\]\((.+)\)", cell).groups()
        assert name == target, f"link text and target differ: {cell}"


def test_index_rows_agree_with_the_files():
    causes = {path.name: read_fixture(path)[0] for path in REPORT_FILES}
    for row in index_rows():
        name = re.fullmatch(r"\[(.+)\]\(.+\)", row[0]).group(1)
        header = causes[name]
        assert len(row) == 5, f"{name}: expected 5 cells (file, cause, kinds, source, why)"
        assert row[1] == header["cause"], f"{name}: cause in INDEX.md differs from the file"
        assert row[2], f"{name}: no paste kinds"
        assert row[3] == f"<{header['source']}>", (
            f"{name}: source in INDEX.md differs from the file"
        )
        assert row[4], f"{name}: no reason given"


def test_index_counts_per_cause_are_true():
    text = INDEX.read_text(encoding="utf-8")
    section = text.split("\n## Counts per cause\n", 1)[1].split("\n## ", 1)[0]
    stated = {}
    for line in section.splitlines():
        match = re.fullmatch(r"\| (\w+) \| (\d+) \|", line)
        if match:
            stated[match.group(1)] = int(match.group(2))
    actual = Counter(read_fixture(path)[0]["cause"] for path in REPORT_FILES)
    assert stated == {cause: actual.get(cause, 0) for cause in CAUSES}
