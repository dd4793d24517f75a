"""``python -m conda_torch validate``, run as a user runs it: a separate process."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from typing import TYPE_CHECKING

import pytest

from conda_torch import provenance as prov

from .helpers import venvs as tv
from .helpers.cli import cli

if TYPE_CHECKING:
    from pathlib import Path


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("CONDA_EXE", "PYTHONPATH")}
    full.update(env or {})
    return cli("validate", *args, env=full)


def one_clear_line(done: subprocess.CompletedProcess[str], words: str) -> None:
    """A non-zero exit, no traceback, and the error on one line of stderr (hints may follow)."""
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert lines, done.stdout
    assert words in lines[0], done.stderr
    assert all(ln.startswith("Hint: ") for ln in lines[1:]), done.stderr


def test_help():
    done = cli("validate", "--help", timeout=60)
    assert done.returncode == 0
    for option in ("--name", "--prefix", "--python", "--json"):
        assert option in done.stdout


# -- real environments ---------------------------------------------------------------------


@pytest.mark.torch
def test_torch_alone_human_output(session_torch_venv: Path):
    prefix = session_torch_venv
    done = run("-p", str(prefix))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"Validating {prefix} (Python ")
    by_id = {
        ln.split()[1]: ln
        for ln in lines[1:-1]
        if ln.split() and ln.split()[0] in ("pass", "warn", "FAIL")
    }
    assert (
        by_id["torch-import"].split()[0] == "pass"
        and f"torch {tv.TORCH}+cpu" in by_id["torch-import"]
    )
    assert " ms " in by_id["torch-import"]
    assert by_id["torchvision-import"].split()[0] == "warn"
    assert by_id["device-cpu"].split()[0] == "pass"
    assert lines[-1].startswith("OK: ") and " 0 failed in " in lines[-1]


@pytest.mark.torch
def test_pypi_torchvision_json_fails(vision_venv: Path):
    prefix = vision_venv
    done = run("--python", str(tv.venv_python(prefix)), "--json")
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    assert doc["success"] is False
    checks = {c["id"]: c for c in doc["checks"]}
    for check_id in ("torchvision-import", "torchvision-ops"):
        assert checks[check_id]["status"] == "fail"
        assert "operator torchvision::nms does not exist" in checks[check_id]["message"]
        assert "--index-url https://download.pytorch.org/whl/cpu" in checks[check_id]["fix"]
    assert checks["build-agreement"]["status"] == "fail"
    assert doc["summary"]["fail"] == sum(1 for c in doc["checks"] if c["status"] == "fail") >= 3


@pytest.mark.torch
def test_prefix_provenance_is_read(
    tmp_path_factory: pytest.TempPathFactory, session_torch_venv: Path
):
    prefix = tv.conda_like(tmp_path_factory, session_torch_venv, "cli-provenance")
    plan = {
        "torch": tv.TORCH,
        "torchvision": None,
        "torchaudio": "2.11.0",
        "python": "3",
        "backend": "cu129",
        "source": "pip",
    }
    prov.write(prefix, plan=plan, environment_file="name: x\n")
    done = run("-p", str(prefix))
    assert done.returncode == 1
    assert f"provenance: {prefix / prov.RELPATH}" in done.stdout
    fails = [ln for ln in done.stdout.splitlines() if ln.lstrip().startswith("FAIL")]
    assert any("planned-build" in ln and "planned CUDA 12.9 build, found CPU" in ln for ln in fails)
    assert any("torchaudio-import" in ln for ln in fails)
    assert f"fix: conda torch recreate -p {prefix}" in done.stdout
    assert done.stdout.splitlines()[-1].startswith("FAILED: ")


# -- bad input: one clear line, non-zero exit, no traceback, nothing lost -----------------------


def test_missing_prefix(tmp_path: Path):
    one_clear_line(run("-p", str(tmp_path / "nope")), "does not exist")


def test_directory_that_is_not_an_environment(tmp_path: Path):
    (tmp_path / "keep.txt").write_text("mine\n", encoding="utf-8")
    one_clear_line(run("-p", str(tmp_path)), "is not a conda environment")
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
    assert (tmp_path / "keep.txt").read_text(encoding="utf-8") == "mine\n"


def test_python_that_is_not_executable(tmp_path: Path):
    py = tmp_path / "python"
    py.write_text("#!/bin/sh\n", encoding="utf-8")
    py.chmod(stat.S_IRUSR | stat.S_IWUSR)
    one_clear_line(run("--python", str(py)), "is not executable")


def test_python_that_does_not_exist(tmp_path: Path):
    one_clear_line(run("--python", str(tmp_path / "bin" / "python")), "does not exist")


def test_python_name_not_on_path():
    one_clear_line(run("--python", "no-such-python-3.99"), "no Python named")


def test_environment_without_torch(bare_venv: Path):
    prefix = bare_venv
    before = sorted(str(p) for p in prefix.rglob("*"))
    done = run("-p", str(prefix))
    one_clear_line(done, "torch is not installed in")
    assert "Hint: Fix: " in done.stderr
    assert sorted(str(p) for p in prefix.rglob("*")) == before


def test_environment_without_torch_json(bare_venv: Path):
    prefix = bare_venv
    done = run("-p", str(prefix), "--json")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    doc = json.loads(done.stdout)
    assert doc["success"] is False and doc["checks"][0]["id"] == "torch-import"


@pytest.mark.parametrize("name", ["a/b", "../x", "x\\y"], ids=["slash", "dotdot", "backslash"])
def test_name_with_path_characters(name: str):
    one_clear_line(run("-n", name), f"invalid environment name {name!r}")


def test_name_without_conda(tmp_path: Path):
    # No CONDA_EXE, no conda on PATH, and this Python cannot import conda.
    done = run("-n", "ml", env={"PATH": str(tmp_path)})
    if done.returncode != 0 and "conda was not found" not in done.stderr:
        pytest.skip("conda is importable by this Python")
    one_clear_line(done, "conda was not found")
    assert "-p PREFIX" in done.stderr


def _fake_conda(tmp_path: Path, body: str) -> Path:
    exe = tmp_path / "conda"
    exe.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    exe.chmod(0o755)
    return exe


def test_conda_that_fails(tmp_path: Path):
    exe = _fake_conda(tmp_path, "echo 'CondaError: something broke' >&2\nexit 1\n")
    done = run("-n", "ml", env={"CONDA_EXE": str(exe)})
    one_clear_line(done, "failed")
    assert "something broke" in done.stderr


def test_name_resolved_by_conda(tmp_path: Path, bare_venv: Path):
    # Argument handling only: a stand-in conda answers 'info --json' with an envs dir that
    # holds a real (torch-less) environment; the rest is the real validate.
    envs = tmp_path / "envs"
    env = tv.clone(bare_venv, envs / "ml")
    (env / "conda-meta").mkdir()
    (env / "conda-meta" / "history").write_text("", encoding="utf-8")
    info = json.dumps(
        {
            "envs_dirs": [str(envs)],
            "root_prefix": str(tmp_path / "root"),
            "envs": [str(env)],
            "conda_version": "26.7.1",
        }
    )
    exe = _fake_conda(
        tmp_path, f"case \"$1\" in --version) echo 'conda 26.7.1';; *) echo '{info}';; esac\n"
    )
    done = run("-n", "ml", env={"CONDA_EXE": str(exe)})
    one_clear_line(done, "torch is not installed in ml")
    missing = run("-n", "other", env={"CONDA_EXE": str(exe)})
    one_clear_line(missing, "no conda environment named 'other'")


def test_no_target_given():
    one_clear_line(run(), "none given")
