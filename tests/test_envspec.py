"""``conda env create -f team.yml --format conda-torch`` with a real conda (skipped without one).

The solve runs over the stand-in conda-forge of ``helpers/condabox.stand_in_forge`` (empty packages
whose metadata follows conda-forge's), always with ``--dry-run``: what is under test is the
specifier (conda's plugin API, our planning, conda's own reader of the result) and conda's
solve of what it returns.
"""

from __future__ import annotations

import json
import subprocess
from typing import TYPE_CHECKING

import pytest

from .helpers.condabox import stand_in_forge
from .helpers.realconda import plugin_environ, require_conda

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
    assert builds["pytorch"].startswith("cpu_")
    assert builds["torchvision"].startswith("cpu_")
    assert "torchaudio" not in builds  # a team's file gets exactly the stack it lists


def test_conda_override_cuda_is_followed_like_conda_does(tmp_path: Path, forge):
    builds = _linked(
        _create(forge, tmp_path, TEAM, "--format", "conda-torch", CONDA_OVERRIDE_CUDA="13.0")
    )
    assert builds["pytorch"].startswith("cuda130_")
    assert builds["torchvision"].startswith("cuda130_")
    assert builds["cuda-version"] == "0"


def test_a_driver_of_an_older_minor_gets_the_same_majors_build(tmp_path: Path, forge):
    # The plan follows conda's __cuda (12.4): no CUDA 13 build fits; conda-forge's CUDA 12.9
    # builds run there through CUDA minor-version compatibility, and the file says __cuda>=12,
    # which conda accepts on that driver.
    builds = _linked(
        _create(forge, tmp_path, TEAM, "--format", "conda-torch", CONDA_OVERRIDE_CUDA="12.4")
    )
    assert builds["pytorch"].startswith("cuda129_")
    assert builds["torchvision"].startswith("cuda129_")


def test_a_driver_of_another_major_gets_that_majors_build(tmp_path: Path, forge):
    # __cuda 11.8: no CUDA 12/13 build runs there; conda-forge's newest CUDA 11.8 build with
    # a torchvision for Python 3.13 does.
    builds = _linked(
        _create(forge, tmp_path, TEAM, "--format", "conda-torch", CONDA_OVERRIDE_CUDA="11.8")
    )
    assert builds["pytorch"].startswith("cuda118")
    assert builds["torchvision"].startswith("cuda118")


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
    """``--subdir osx-arm64``: the plan is for that platform (macOS has only CPU/MPS builds,
    so no build-string pin), and it solves against conda-forge's osx-arm64 builds."""
    done = _create(
        forge, tmp_path, TEAM, "--format", "conda-torch", "--subdir", "osx-arm64",
        CONDA_OVERRIDE_OSX="14.0",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    fetched = {a["name"]: a for a in json.loads(done.stdout)["actions"]["FETCH"]}
    assert fetched["pytorch"]["subdir"] == "osx-arm64"
    assert fetched["pytorch"]["version"] == "2.13.0" and "torchaudio" not in fetched
