"""Shared test helpers: the real fixture corpus in tests/data/fixtures (its INDEX.md says where
each capture comes from) and the PyTorch reference in data/reference."""

from __future__ import annotations

import os
import shutil
import signal
from collections import Counter
from pathlib import Path

import pytest

from .condatools import NO_CONDA
from .slurmtools import NO_SLURM

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "data" / "fixtures"
#: The PyTorch install reference that tools/build_matrix.py builds the matrix from.
REFERENCE = ROOT / "data" / "reference" / "pytorch"

#: Fixtures that need a real conda (``condatools.require_conda`` or ``real_conda`` underneath):
#: every test that uses one, directly or through another fixture, is marked ``conda``. Tests
#: that call ``require_conda()`` in their own body carry ``@pytest.mark.conda`` themselves.
CONDA_FIXTURES = frozenset({"real_conda", "condabox", "forge"})
_CONDA_TESTS = pytest.StashKey[set[str]]()
_SLURM_TESTS = pytest.StashKey[set[str]]()


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C tests send SIGINT to real processes: those must not inherit it ignored.

    A process started in the background by a non-interactive shell (``cmd &``, as some CI
    runners start their jobs) has SIGINT ignored, every process it starts inherits that, and a
    Python started that way never raises KeyboardInterrupt. A handler (unlike "ignore") is reset
    to the default in a child, so installing Python's own here lets the tests' children be
    interrupted as they are from a terminal.
    """
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if CONDA_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.conda)
    config.stash[_CONDA_TESTS] = {i.nodeid for i in items if i.get_closest_marker("conda")}
    config.stash[_SLURM_TESTS] = {i.nodeid for i in items if i.get_closest_marker("slurm")}


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    """One line each saying how many conda-facing and Slurm-facing tests ran and how many
    skipped, and why."""
    where = os.environ.get("CONDA_EXE") or shutil.which("conda")
    _summary(
        terminalreporter, config.stash.get(_CONDA_TESTS, set()), "conda", NO_CONDA,
        f"conda: {where}" if where else "no conda here (set CONDA_EXE to run them)",
    )  # fmt: skip
    slurm = shutil.which("srun")
    _summary(
        terminalreporter, config.stash.get(_SLURM_TESTS, set()), "slurm", NO_SLURM,
        f"srun: {slurm}, SLURM_CONF={os.environ.get('SLURM_CONF', '(unset)')}"
        if slurm else "no srun here (.ci/run starts a local Slurm where it can)",
    )  # fmt: skip


def _summary(reporter, marked: set[str], what: str, reason: str, where: str) -> None:
    seen: Counter[str] = Counter()
    want = 0
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in reporter.stats.get(outcome, ()):
            want += outcome == "skipped" and reason in str(getattr(report, "longrepr", ""))
            if getattr(report, "nodeid", None) in marked:
                seen[outcome] += 1
    if not seen and not want:
        return
    name = {"conda": "a conda", "slurm": "a Slurm"}[what]
    reporter.write_line(
        f"{what}-facing tests (marked {what}): {seen['passed']} passed, {seen['failed']} "
        f"failed, {seen['error']} errors, {seen['skipped']} skipped; {want} skipped for want "
        f"of {name}; {where}"
    )


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
