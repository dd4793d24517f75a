"""``conda env create -f team.yml --format conda-torch`` with a real conda (skipped without one).

The solve runs over the stand-in conda-forge of ``envtools.stand_in_forge`` (empty packages
whose metadata follows conda-forge's), always with ``--dry-run``: what is under test is the
specifier (conda's plugin API, our planning, conda's own reader of the result) and conda's
solve of what it returns.
"""

from __future__ import annotations

import json
import subprocess
from typing import TYPE_CHECKING

import pytest

from .condatools import plugin_environ, require_conda
from .envtools import stand_in_forge

if TYPE_CHECKING:
    from pathlib import Path

TEAM = """\
# our team's file: keep this comment
name: team
channels:
  - conda-forge
dependencies:
  - python=3.13
  - pytorch
  - torchvision
"""


@pytest.fixture(scope="module")
def forge(tmp_path_factory) -> tuple[str, dict[str, str]]:
    conda = require_conda()
    base = tmp_path_factory.mktemp("forge")
    env = plugin_environ(base, stand_in_forge(base))
    return conda.exe, env


def _create(forge, tmp_path: Path, text: str, *extra: str, **env: str):
    conda, base = forge
    team = tmp_path / "team.yml"
    team.write_text(text, encoding="utf-8")
    prefix = tmp_path / "env"
    done = subprocess.run(
        [conda, "env", "create", "-f", str(team), "-p", str(prefix), "--dry-run", "--json"]
        + list(extra),
        capture_output=True,
        text=True,
        env={**base, **env},
        timeout=600,
    )
    assert not prefix.exists()
    assert team.read_text(encoding="utf-8") == text  # the team's file is never rewritten
    return done


def _linked(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    actions = json.loads(done.stdout)["actions"]
    return {a["name"]: a["build"] for a in actions["FETCH"]}


def test_a_team_file_gets_this_machines_build(tmp_path: Path, forge):
    # No NVIDIA driver here and CONDA_OVERRIDE_CUDA="" for certain: the CPU builds.
    builds = _linked(
        _create(forge, tmp_path, TEAM, "--format", "conda-torch", CONDA_OVERRIDE_CUDA="")
    )
    assert builds["pytorch"] == "cpu_0"
    assert builds["torchvision"] == "cpu_0"
    assert "torchaudio" in builds  # the plan completes the stack


def test_conda_override_cuda_is_followed_like_conda_does(tmp_path: Path, forge):
    builds = _linked(
        _create(forge, tmp_path, TEAM, "--format", "conda-torch", CONDA_OVERRIDE_CUDA="13.0")
    )
    assert builds["pytorch"] == "cuda130_0"
    assert builds["torchvision"] == "cuda130_0"
    assert builds["cuda-version"] == "0"


def test_a_driver_too_old_is_refused_by_the_solve(tmp_path: Path, forge):
    # The plan follows conda's __cuda (12.4): no CUDA 13 build fits, and the stand-in channel
    # has no CUDA 12 one, so the planned file cannot be solved: a clear conda error.
    done = _create(forge, tmp_path, TEAM, "--format", "conda-torch", CONDA_OVERRIDE_CUDA="12.4")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr


def test_only_when_asked_for(tmp_path: Path, forge):
    """Without --format conda's own reader takes the file as written (detection is off)."""
    done = _create(forge, tmp_path, TEAM, CONDA_OVERRIDE_CUDA="")
    builds = _linked(done)
    assert "torchaudio" not in builds  # nothing was added to the team's file


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("name: x\ndependencies: [python\n", "malformed YAML"),
        (TEAM.replace("  - torchvision\n", "  - torchvision=0.15\n"), "'torchvision=0.15'"),
    ],
    ids=["malformed", "contradictory-pin"],
)
def test_bad_team_files_get_one_clear_error(tmp_path: Path, forge, text: str, needle: str):
    done = _create(forge, tmp_path, text, "--format", "conda-torch", CONDA_OVERRIDE_CUDA="")
    assert done.returncode != 0
    out = done.stdout + done.stderr
    assert needle in out
    assert "Traceback" not in out


def test_another_subdir_gets_that_platforms_plan(tmp_path: Path, forge):
    """``--subdir osx-arm64``: the plan is for that platform (no CPU/CUDA build strings on
    macOS); the stand-in channel has no osx-arm64 packages, so conda says what is missing."""
    done = _create(forge, tmp_path, TEAM, "--format", "conda-torch", "--subdir", "osx-arm64")
    assert done.returncode != 0
    error = json.loads(done.stdout)
    assert error["exception_name"] == "PackagesNotFoundInChannelsError"
    assert "pytorch=2.13.0" in error["packages_formatted"]
    assert "cpu" not in error["packages_formatted"]
