"""``conda_torch.prepare``: one road from a request to a file, the same for every command.

``generate -f`` and ``create -f`` (and the ``--format conda-torch`` hook, which calls
:func:`conda_torch.prepare.prepare` as ``create`` does) once planned a team's file in separate
copies that differed: only ``generate`` said where the request came from. These tests run the
real CLI on real captures and hold the two to the same plan and the same file.
"""

from __future__ import annotations

import json

import pytest

from conda_torch.cli import main
from conda_torch.prepare import generate, prepare

from .helpers.paths import FIXTURES, read_fixture

#: A team's file: its own torch and Python pins are the request.
TEAM = """\
# the team's environment
name: vision-team
channels:
  - conda-forge
dependencies:
  - python=3.11
  - numpy>=1.26  # numbers
  - pytorch=2.5
  - torchvision
  - pip
  - pip:
      - rich
"""

#: An H100 machine behind driver 580 (nvidia-smi's table), on linux-64.
CAPTURE = "nvidia-smi/h100-80gb-hbm3-580.159.04-cuda13.0-vm.txt"


@pytest.fixture
def inputs(tmp_path):
    capture = tmp_path / "nvidia-smi.txt"
    capture.write_text(read_fixture(FIXTURES / CAPTURE)[1], encoding="utf-8")
    team = tmp_path / "team.yml"
    team.write_text(TEAM, encoding="utf-8")
    return ["--from", str(capture)], team


def _cli(capsys, *argv: str) -> dict:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    assert rc == 0, err
    return json.loads(out)


@pytest.mark.parametrize("extra", [(), ("--torch", "2.5.1"), ("--python", "3.12")],
                         ids=["file-pins", "torch-flag", "python-flag"])  # fmt: skip
def test_generate_f_and_create_f_plan_the_same_file(tmp_path, capsys, inputs, extra):
    machine, team = inputs
    gen = _cli(
        capsys, "generate", *machine, "-f", str(team), "-n", "ml", "-o", "-", "--json", *extra
    )
    made = _cli(
        capsys, "create", *machine, "-f", str(team), "-n", "ml", "--dry-run", "--json", *extra
    )
    assert made["status"] == "dry-run" and made["origin"] == "file"
    assert made["environment_file"] == gen["text"]
    assert made["plan"] == gen["plan"]
    # where the request came from is said the same way by both
    why = "\n".join(gen["plan"]["why"])
    if "--torch" in extra:
        assert "--torch 2.5.1 replaces the file's 'pytorch=2.5'." in why
    else:
        assert "torch 2.5.1: the newest release matching team.yml's 'pytorch=2.5'" in why
    if "--python" in extra:
        assert "Python 3.12, as --python asks." in why
    else:
        assert "Python 3.11, as team.yml's 'python=3.11' asks." in why


def test_library_roads_agree(tmp_path, inputs):
    """The library calls behind the two commands give one plan and one text."""
    from conda_torch.detect import detect

    _machine, team = inputs
    capture = str(tmp_path / "nvidia-smi.txt")
    machine = detect(from_files=[capture], environ={})
    one = generate(machine, file=str(team), name="ml").files[0]
    two = prepare(machine, file=str(team), name="ml")
    assert two.plan == one.plan and two.text == one.text
    assert two.record == one.plan.to_json()
    assert team.read_text(encoding="utf-8") == TEAM  # the team's file is never touched


def test_generate_without_a_machine_plans_every_target_generic():
    """tools/regen_environments' road: no machine, every target a generic one of its platform."""
    made = generate(None, all_platforms=True, stamp_version=False)
    assert [f.filename for f in made.files][:2] == ["linux-64-cuda.yml", "linux-64-cpu.yml"]
    assert all(f.plan.machine.generic for f in made.files) and not made.skipped
    assert all("conda-torch (matrix of" in f.text.splitlines()[0] for f in made.files)


def test_to_stdout_refuses_several_files(tmp_path):
    from conda_torch.exceptions import CondaTorchValueError

    with pytest.raises(CondaTorchValueError, match="-o - prints one file"):
        generate(None, all_platforms=True, to_stdout=True)
