"""The main job, end to end, with defaults: ``conda torch create -n NAME -y`` and what follows.

A real conda runs conda-torch as its plugin against a stand-in conda-forge made from the plan
conda-torch itself makes for this machine (``tests/helpers/forge.py`` says what is real, what stands
in and what is relabelled, and why). No pins, no ``--as-is``: the command a user types. Each
step must succeed, and the environment must validate afterwards:

create -> validate -> doctor -> recreate -> recreate --regenerate; ``create -f team.yml``;
``conda env create -f team.yml --format conda-torch``.

Cost (this 2-core machine): the real stack is installed once per session (about 2 minutes,
4.5 GB; every package and environment is hard links to it); each step then takes seconds of
conda plus one ``import torch, torchvision, torchaudio`` (about 10 s here).
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import pytest

from .helpers import forge as e2e

if TYPE_CHECKING:
    from pathlib import Path

    from .helpers.forge import Forge

pytestmark = [pytest.mark.conda, pytest.mark.torch]

TEAM = """\
# the team's file: keep this comment
name: team
channels:
  - conda-forge
dependencies:
  - pytorch
  - torchvision
  - torchaudio
  - alpha
"""


@pytest.fixture(scope="module")
def forge(tmp_path_factory: pytest.TempPathFactory, real_stack_venv: Path) -> Forge:
    return e2e.make_forge(tmp_path_factory.mktemp("e2e"), real_stack_venv)


@pytest.fixture(scope="module")
def created(forge: Forge) -> Path:
    """``conda torch create -n ml -y``: the plain command."""
    proc = forge.torch("create", "-n", "ml", "-y")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "Done: ml created" in proc.stdout
    return forge.envs / "ml"


def _validates(forge: Forge, *target: str) -> dict:
    proc = forge.torch("validate", *target, "--json")
    doc = json.loads(proc.stdout)
    failed = [c for c in doc["checks"] if c["status"] == "fail"]
    assert proc.returncode == 0 and not failed, failed or proc.stderr[-3000:]
    return doc


def _records(prefix: Path) -> dict[str, tuple[str, str]]:
    out = {}
    for f in (prefix / "conda-meta").glob("*.json"):
        doc = json.loads(f.read_text())
        out[doc["name"]] = (doc["version"], doc["build"])
    return out


def test_create_with_defaults_builds_the_plan(forge: Forge, created: Path) -> None:
    plan = forge.plan
    records = _records(created)
    assert records["pytorch"][0] == e2e._concrete(plan["torch"])
    for package in ("torchvision", "torchaudio"):
        if plan.get(package):
            assert records[package][0] == e2e._concrete(plan[package])
    prov = json.loads((created / "conda-meta" / "conda-torch.provenance").read_text())
    assert prov["plan"]["torch"] == plan["torch"] and prov["plan"]["python"] == plan["python"]
    # conda knows it by name
    listed = json.loads(forge.conda_run("env", "list", "--json").stdout)["envs"]
    assert str(created) in listed


def test_validate_by_name(forge: Forge, created: Path) -> None:
    doc = _validates(forge, "-n", "ml")
    checks = {c["id"]: c["status"] for c in doc["checks"]}
    assert checks["planned-build"] == "pass"
    assert checks["torchvision-ops"] == "pass"
    assert checks["device-cpu"] == "pass"
    assert doc["prefix"] == str(created)


def test_doctor_by_name(forge: Forge, created: Path) -> None:
    proc = forge.torch("doctor", "-n", "ml", "--json")
    doc = json.loads(proc.stdout)
    errors = [f for f in doc["findings"] if f["severity"] == "error"]
    assert proc.returncode == 0 and not errors, errors or proc.stderr[-3000:]


def test_recreate_from_provenance(forge: Forge, created: Path) -> None:
    marker = created / "conda-meta" / "old-one"
    marker.write_text("the environment before the rebuild\n")
    proc = forge.torch("recreate", "-n", "ml", "-y")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "Done: ml rebuilt" in proc.stdout
    assert not marker.exists()  # a new environment, not the old one
    _validates(forge, "-n", "ml")


def test_recreate_regenerate(forge: Forge, created: Path) -> None:
    proc = forge.torch("recreate", "-n", "ml", "--regenerate", "-y")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    _validates(forge, "-n", "ml")


def test_create_from_a_team_file(forge: Forge, tmp_path: Path) -> None:
    team = tmp_path / "team.yml"
    team.write_text(TEAM)
    proc = forge.torch("create", "-f", str(team), "-y")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    prefix = forge.envs / "team"
    assert team.read_text() == TEAM
    records = _records(prefix)
    # the team's own package, and the stack it lists (a team file gets exactly what it lists:
    # the default stack here, so the stand-in made from the default plan serves it)
    assert "alpha" in records and "torchaudio" in records
    _validates(forge, "-n", "team")
    assert os.listdir(tmp_path) == ["team.yml"]  # nothing left beside the team's file


def test_conda_env_create_format_conda_torch(forge: Forge, tmp_path: Path) -> None:
    team = tmp_path / "team.yml"
    team.write_text(TEAM)
    prefix = tmp_path / "env"
    proc = forge.conda_run(
        "env", "create", "-f", str(team), "-p", str(prefix), "--format", "conda-torch", "-y"
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert team.read_text() == TEAM
    records = _records(prefix)
    assert records["pytorch"][1].startswith(e2e._variant(forge.plan)[0])
    _validates(forge, "-p", str(prefix))
