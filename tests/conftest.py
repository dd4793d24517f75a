"""The suite's hooks (conda/Slurm markers and summary lines) and its shared fixtures.

The helpers themselves live in ``tests/helpers/`` (one home each); here are the fixtures that
make throw-away environments, session-scoped where they are costly, so that each is made once
per session and its cost shows as that fixture's setup (``pytest --durations``) rather than
hiding in a module-level cache: a real conda, a sandbox over a small local channel (per test),
the torch venvs, the conda box with real torch files, the real torch stack of the end-to-end
tests."""

from __future__ import annotations

import os
import shutil
import signal
from collections import Counter
from typing import TYPE_CHECKING

import pytest

from .helpers import condabox as cb
from .helpers import forge as e2e
from .helpers import venvs
from .helpers.paths import FIXTURES, read_fixture
from .helpers.realconda import NO_CONDA, require_conda
from .helpers.sandbox import CondaSandbox, find_real_conda, make_sandbox
from .helpers.slurm import NO_SLURM

if TYPE_CHECKING:
    from pathlib import Path

    from conda_torch.conda_cli import Conda

#: Fixtures that need a real conda (``realconda.require_conda`` or ``real_conda`` underneath):
#: every test that uses one, directly or through another fixture, is marked ``conda``. Tests
#: that call ``require_conda()`` in their own body carry ``@pytest.mark.conda`` themselves.
CONDA_FIXTURES = frozenset({"real_conda", "condabox", "forge", "real_stack_venv"})
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


@pytest.fixture
def fixture_text():
    def load(relpath: str) -> str:
        return read_fixture(FIXTURES / relpath)[1]

    return load


# ---------------------------------------------------------------------------------------------
# throw-away environments


@pytest.fixture(scope="session")
def real_conda() -> Conda:
    """conda as conda-torch finds it (CONDA_EXE, ``python -m conda``, PATH); else skipped."""
    conda = find_real_conda()
    if conda is None:
        pytest.skip(f"{NO_CONDA} (CONDA_EXE, python -m conda, PATH)")
    return conda


@pytest.fixture
def sandbox(real_conda: Conda, tmp_path: Path) -> CondaSandbox:
    """A condarc (classic solver, offline, no channels), pkgs/envs dirs and HOME under tmp_path,
    and a local channel with ``sandbox.standard_packages``."""
    return make_sandbox(real_conda, tmp_path)


@pytest.fixture(scope="session")
def session_torch_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The venv with torch 2.13.0 (the CPU wheel on this machine's disk)."""
    return venvs.make_torch_venv(tmp_path_factory)


@pytest.fixture(scope="session")
def vision_venv(tmp_path_factory: pytest.TempPathFactory, session_torch_venv: Path) -> Path:
    """The torch venv plus PyPI's torchvision 0.28.0 (whose operators do not load beside it)."""
    return venvs.make_vision_venv(tmp_path_factory, session_torch_venv)


@pytest.fixture(scope="session")
def mispaired_vision_venv(
    tmp_path_factory: pytest.TempPathFactory, session_torch_venv: Path
) -> Path:
    """The torch venv plus torchvision made for torch 2.14."""
    return venvs.make_vision_venv(
        tmp_path_factory, session_torch_venv, venvs.TORCHVISION_MISPAIRED
    )


@pytest.fixture(scope="session")
def bare_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv without pip and without torch."""
    return venvs.make_bare_venv(tmp_path_factory)


@pytest.fixture(scope="session")
def fake_torch_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a package named torch (``__version__ = "0.0.1"``)."""
    return venvs.make_fake_torch_dir(tmp_path_factory)


@pytest.fixture(scope="session")
def condabox(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> cb.CondaBox:
    """A real conda over a local ``conda-forge`` whose pytorch holds the torch venv's files."""
    require_conda()  # skip before paying for the torch venv
    venv = request.getfixturevalue("session_torch_venv")
    return cb.make_condabox(tmp_path_factory.getbasetemp(), venv)


@pytest.fixture(scope="session")
def real_stack_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real torch stack whose files the end-to-end stand-in conda-forge holds."""
    require_conda()  # skip before paying for the stack
    return e2e.make_real_stack_venv(tmp_path_factory)
