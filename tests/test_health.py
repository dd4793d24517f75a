"""``conda doctor`` integration: the ``torch-stack`` health check and its fixer."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import pytest

from conda_torch import health

from .helpers.prefixes import (
    FORGE,
    conda_torch_prefix,
    dist_info,
    env_file,
    history,
    record,
    siblings,
    snapshot,
)
from .helpers.venvs import TORCH, make_venv, site_packages
from .helpers.venvs import TORCHVISION_FROM_PYPI as TORCHVISION

if TYPE_CHECKING:
    from pathlib import Path

    from .helpers.condabox import CondaBox

PY = f"{sys.version_info[0]}.{sys.version_info[1]}"


@pytest.fixture(autouse=True)
def _no_shadowing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check reads the caller's variables: keep this test run's out of it."""
    monkeypatch.delenv("PYTHONPATH", raising=False)


def test_check_prints_a_cross_and_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = conda_torch_prefix(tmp_path / "env")
    dist_info(prefix, "torch", "2.12.0", "pip")
    health.check(str(prefix), False)
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert first.startswith(health.X_MARK) and "problem" in first
    assert "error: pip-and-conda:" in out
    assert f"fix: conda torch recreate -p {prefix}" in out
    assert f"conda doctor --fix {health.NAME}" in out


def test_check_without_torch_is_a_tick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prefix = tmp_path / "env"
    record(prefix, "python", "3.11.9", "h1_0_cpython", FORGE)
    health.check(str(prefix), True)
    out = capsys.readouterr().out
    assert out.startswith(f"{health.OK_MARK} No PyTorch stack")


def test_check_never_raises_on_a_vanished_prefix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    health.check(str(tmp_path / "gone"), False)
    out = capsys.readouterr().out
    assert out.startswith(health.X_MARK) and "does not exist" in out


class Declined(Exception):
    pass


def test_fixer_asks_before_changing_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = conda_torch_prefix(tmp_path / "env")
    history(prefix, ("conda create", ["update specs: ['python=3.11', 'pytorch']"]))
    dist_info(prefix, "torch", "2.12.0", "pip")
    before = snapshot(prefix)
    asked: list[str] = []

    def confirm(message: str) -> None:
        asked.append(message)
        raise Declined

    with pytest.raises(Declined):
        health.fix(str(prefix), None, confirm)  # type: ignore[arg-type]
    out = capsys.readouterr().out
    assert asked and "Rebuild" in asked[0]
    assert "pip-and-conda" in out and "torch:" in out  # what the rebuild fixes and changes
    assert snapshot(prefix) == before and not siblings(prefix)


@pytest.mark.torch
def test_fixer_leaves_shadowing_to_the_user(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    session_torch_venv: Path,
) -> None:
    prefix = make_venv(tmp_path / "env")  # a real Python without torch, known to conda
    record(prefix, "python", "3.11.9", "h1_0_cpython", FORGE)
    monkeypatch.setenv("PYTHONPATH", str(site_packages(session_torch_venv)))
    called: list[str] = []
    rc = health.fix(str(prefix), None, called.append)  # type: ignore[arg-type]
    out = capsys.readouterr().out
    assert rc == 1 and not called
    assert "Needs you: pythonpath-shadow" in out and "unset PYTHONPATH" in out


def test_healthy_fixer_does_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prefix = tmp_path / "env"
    record(prefix, "python", "3.11.9", "h1_0_cpython", FORGE)
    assert health.fix(str(prefix), None, lambda m: None) == 0  # type: ignore[arg-type]
    assert "No PyTorch stack problems" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# a real conda: `conda doctor` runs the check and `--fix` rebuilds


@pytest.mark.conda
@pytest.mark.torch
def test_conda_doctor_lists_checks_and_fixes(condabox: CondaBox, tmp_path: Path) -> None:
    box = condabox
    listing = box.conda_run("doctor", "--list")
    assert f"{health.NAME}: {health.SUMMARY} (fix: {health.FIX})" in listing.stdout
    prefix = box.root / "envs" / "health"
    team = env_file(tmp_path / "environment.yml", f"python={PY}", f"pytorch={TORCH}", "alpha")
    made = box.torch_cli("create", "-p", str(prefix), "-f", str(team), "--as-is", "-y")
    assert made.returncode == 0, made.stdout + made.stderr
    box.pip_install_into(prefix, f"torchvision=={TORCHVISION}")
    sick = box.conda_run("doctor", "-p", str(prefix), health.NAME)
    assert f"{health.X_MARK} PyTorch stack:" in sick.stdout and "torchvision::nms" in sick.stdout
    before = snapshot(prefix)
    dry = box.conda_run("doctor", "-p", str(prefix), "--fix", health.NAME, "--dry-run", check=False)
    assert snapshot(prefix) == before and not siblings(prefix), dry.stdout + dry.stderr
    fixed = box.conda_run("doctor", "-p", str(prefix), "--fix", health.NAME, "--yes", check=False)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert f"{health.OK_MARK} Rebuilt" in fixed.stdout
    again = box.conda_run("doctor", "-p", str(prefix), health.NAME)
    assert f"{health.OK_MARK} The PyTorch stack works (torch {TORCH}" in again.stdout, again.stdout
    assert not list(site_packages(prefix).glob("torchvision*"))
    assert not siblings(prefix) or all(s.endswith("-lock") for s in siblings(prefix))
    assert os.path.isfile(prefix / "conda-meta" / "history")
