"""``conda torch generate`` end to end: golden files for real machines, outputs, bad input.

Golden files live in tests/data/golden/<machine>.yml with the conda-torch version replaced by
``{VERSION}``. After an intended change, regenerate them with
``CONDA_TORCH_UPDATE_GOLDEN=1 python -m pytest tests/test_cli_generate.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conda_torch import __version__, envfile, specs
from conda_torch.cli import main

from .helpers.cli import cli
from .helpers.paths import ROOT
from .helpers.samples import MACHINES, TEAM, capture_files, machine_args

GOLDEN = Path(__file__).parent / "data" / "golden"
UPDATE = os.environ.get("CONDA_TORCH_UPDATE_GOLDEN") == "1"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["generate", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _normalize(text: str) -> str:
    return text.replace(f"conda-torch {__version__} ", "conda-torch {VERSION} ")


@pytest.mark.parametrize("key", list(MACHINES), ids=list(MACHINES))
def test_golden_files(tmp_path, capsys, key):
    rc, out, err = run(capsys, *machine_args(tmp_path, key), "-o", "-")
    assert rc == 0, err
    golden = GOLDEN / f"{key}.yml"
    text = _normalize(out)
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), f"no golden file {golden.name}: run with CONDA_TORCH_UPDATE_GOLDEN=1"
    assert text == golden.read_text(encoding="utf-8")
    # and it is a valid environment file with exact pins
    doc = envfile.loads(out)
    deps = [d for d in doc.dependencies if isinstance(d, str)]
    assert any(d.startswith("python=3.") for d in deps)
    pinned = [d for d in deps if specs.conda_name(d) == "pytorch"] + [
        p for p in (doc.pip or []) if specs.pip_name(p) == "torch"
    ]
    assert len(pinned) == 1 and any(ch.isdigit() for ch in pinned[0])


def test_default_output_file_and_force(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = machine_args(tmp_path, "cpu-linux")
    rc, out, _ = run(capsys, *args)
    assert rc == 0
    target = tmp_path / "environment.yml"
    first = target.read_text()
    assert "Wrote environment.yml" in out and "conda env create -f environment.yml" in out
    target.write_text("mine\n")
    rc, _, err = run(capsys, *args)
    assert rc == 1
    assert "OutputExistsError" in err and "--force" in err and "Traceback" not in err
    assert target.read_text() == "mine\n"
    rc, _, _ = run(capsys, *args, "--force")
    assert rc == 0 and target.read_text() == first
    assert sorted(os.listdir(tmp_path)) == ["captures", "environment.yml"]


def test_json_prints_the_plan(tmp_path, capsys):
    rc, out, _ = run(
        capsys, *machine_args(tmp_path, "v100-driver580"), "--json", "-o", str(tmp_path / "e.yml")
    )
    assert rc == 0
    data = json.loads(out)
    assert data["success"] is True and data["path"] == str(tmp_path / "e.yml")
    assert data["plan"]["backend"].startswith("cu12")
    assert (tmp_path / "e.yml").read_text().count(data["plan"]["torch"]) >= 1


def test_machine_json_gives_the_same_file(tmp_path, capsys):
    from conda_torch.detect import detect

    key = "h100-driver580"
    machine = detect(from_files=capture_files(tmp_path, key), environ={})
    (tmp_path / "detect.json").write_text(json.dumps(machine.to_json()))
    rc1, from_files, _ = run(capsys, *machine_args(tmp_path, key), "-o", "-")
    rc2, from_json, _ = run(
        capsys, "--machine", str(tmp_path / "detect.json"), "--platform", "linux-64", "-o", "-"
    )
    assert rc1 == rc2 == 0
    assert from_json == from_files


def test_several_platforms_write_a_folder(tmp_path, capsys):
    out_dir = tmp_path / "envs"
    args = [
        *machine_args(tmp_path, "apple-m1"),
        "--platform",
        "linux-64",
        "--platform",
        "osx-arm64",
        "-o",
        str(out_dir),
    ]
    rc, out, err = run(capsys, *args)
    assert rc == 0, err
    names = sorted(os.listdir(out_dir))
    assert names == ["linux-64-cpu.yml", "linux-64-cuda.yml", "osx-arm64.yml"]
    # this machine's own platform gets its own plan; the other one a generic machine's
    assert "Apple M1 Pro" in (out_dir / "osx-arm64.yml").read_text()
    assert "any linux-64 machine with an NVIDIA GPU" in (out_dir / "linux-64-cuda.yml").read_text()
    # nothing is written when any target exists, without --force
    (out_dir / "linux-64-cuda.yml").unlink()
    (out_dir / "linux-64-cpu.yml").write_text("mine\n")
    (out_dir / "osx-arm64.yml").unlink()
    rc, _, err = run(capsys, *args)
    assert rc == 1 and "linux-64-cpu.yml already exists" in err
    assert not (out_dir / "linux-64-cuda.yml").exists()
    assert not (out_dir / "osx-arm64.yml").exists()
    rc, _, _ = run(capsys, *args, "--force")
    assert rc == 0 and (out_dir / "linux-64-cpu.yml").read_text() != "mine\n"


def test_all_platforms(tmp_path, capsys):
    rc, out, err = run(
        capsys, *machine_args(tmp_path, "cpu-linux"), "--all-platforms", "-o", str(tmp_path / "all")
    )
    assert rc == 0, err
    names = set(os.listdir(tmp_path / "all"))
    assert {
        "linux-64-cpu.yml",
        "osx-arm64.yml",
        "osx-64.yml",
        "win-64-cuda.yml",
        "win-64-cpu.yml",
    } <= names
    assert "linux-64-cuda.yml" not in names  # linux-64 is this machine: one file, its own plan


def test_specialize_a_team_file(tmp_path, capsys):
    team = tmp_path / "team.yml"
    team.write_text(TEAM)
    rc, out, err = run(
        capsys, *machine_args(tmp_path, "h100-driver580"), "-f", str(team), "-o", "-"
    )
    assert rc == 0, err
    assert out.startswith("# Specialized by conda-torch")
    assert "# Our team's environment: keep this comment" in out
    assert "team.yml's 'pytorch=2.5'" in out
    assert team.read_text() == TEAM  # the team's file is not touched


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("name: x\ndependencies: [python\n", "malformed YAML at line 3, column 1"),
        ("- python\n", "not an environment file"),
        (
            TEAM.replace("  - torchvision\n", "  - torchvision=0.15\n"),
            "'torchvision=0.15' contradicts",
        ),
    ],
    ids=["malformed", "not-an-env-file", "contradictory-pin"],
)
def test_bad_team_files(tmp_path, capsys, content, needle):
    team = tmp_path / "team.yml"
    team.write_text(content)
    out_file = tmp_path / "out.yml"
    rc, out, err = run(
        capsys, *machine_args(tmp_path, "h100-driver580"), "-f", str(team), "-o", str(out_file)
    )
    assert rc == 1
    assert needle in err and "Traceback" not in err
    assert not out_file.exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--platform", "linux-65"], "unknown platform 'linux-65'"),
        (["--python", "2"], "not a Python version"),
        (["--backend", "tpu"], "unknown backend"),
        (["--torch", "9.9"], "unknown torch '9.9'"),
        (["-o", "/nonexistent-folder/e.yml"], "does not exist"),
        (["--machine", "/nonexistent/detect.json"], "no such file"),
    ],
    ids=["platform", "python", "backend", "torch", "unwritable", "machine-json"],
)
def test_bad_arguments_are_one_line(tmp_path, capsys, args, needle):
    base = [] if "--machine" in args else machine_args(tmp_path, "cpu-linux")
    rc, _, err = run(capsys, *base, *args)
    assert rc == 1
    assert needle in err and "Traceback" not in err


def test_stdout_refused_for_several_files(tmp_path, capsys):
    rc, _, err = run(capsys, *machine_args(tmp_path, "cpu-linux"), "--all-platforms", "-o", "-")
    assert rc == 1 and "-o DIR" in err


#: Reads environment files with conda's own reader; prints {path: [names, pip, channels, vars]}.
CONDA_READER = """
import json, sys


def read(path):
    try:  # conda >= 25.5: the environment-specifier plugins (what `conda env create -f` uses)
        from conda.base.context import context

        spec_type = context.plugin_manager.get_environment_specifier(path)
        spec = spec_type.environment_spec(path)
        env = spec.env_for(context.subdir) if hasattr(spec, "env_for") else spec.env
        names = [s.name for s in env.requested_packages]
        pip = list((env.external_packages or {}).get("pip", []))
        channels = [str(getattr(c, "canonical_name", c)) for c in (env.config.channels or ())]
        return names, pip, channels, dict(env.variables or {})
    except (ImportError, AttributeError):
        from conda.env.env import from_file  # the legacy reader

        env = from_file(path)
        from conda.models.match_spec import MatchSpec

        names = [MatchSpec(s).name for s in env.dependencies.get("conda", [])]
        pip = list(env.dependencies.get("pip", []))
        return names, pip, list(env.channels), dict(env.variables or {})


print(json.dumps({p: read(p) for p in sys.argv[1:]}))
"""


def _conda_read(paths: list[Path]) -> dict[str, list]:
    """What conda's own reader sees in each file: in this process, or in a real conda's Python."""
    try:
        import conda  # noqa: F401
    except ImportError:
        from .helpers.realconda import require_conda

        python = require_conda().python  # skips cleanly where there is no conda
    else:
        python = sys.executable
    proc = subprocess.run(
        [python, "-c", CONDA_READER, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.conda
def test_generated_files_load_with_condas_reader(tmp_path, capsys):
    """Where conda is installed: conda's own environment-file reader yields the intended specs."""
    rc, _, _ = run(
        capsys, *machine_args(tmp_path, "gtx1080ti-windows"), "-o", str(tmp_path / "pip.yml")
    )
    assert rc == 0
    paths = [*sorted((ROOT / "environments").glob("*.yml")), tmp_path / "pip.yml"]
    seen = _conda_read(paths)
    for path in paths:
        names, pip, channels, variables = seen[str(path)]
        doc = envfile.load(path)
        want = [specs.conda_name(d) for d in doc.dependencies if isinstance(d, str)]
        assert [n for n in names if n in want] == [n for n in want if n in names], path.name
        assert set(want) <= set(names), path.name
        assert pip == list(doc.pip or []), path.name
        # conda may expand "defaults" into its member channels
        assert {c for c in doc.data["channels"] if c != "defaults"} <= set(channels), path.name
        assert variables.get("PYTHONNOUSERSITE") == "1", path.name


def test_process_runs_stand_alone(tmp_path):
    """``python -m conda_torch generate ... -o -`` as a process (bench/generate.py times the
    same command through the ``conda-torch`` console script)."""
    args = machine_args(tmp_path, "rtx5090")
    proc = cli("generate", *args, "-o", "-", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert _normalize(proc.stdout) == (GOLDEN / "rtx5090.yml").read_text(encoding="utf-8")
