"""``conda torch recreate``: rebuild beside the old environment, never lose it.

Reconstruction (history, pip, variables) and the plan are tested on prefixes made of
``conda-meta`` records and pip metadata; the flow runs a real conda (skipped where none is
installed) against a local channel served as ``conda-forge`` whose ``pytorch`` holds the real
torch 2.13.0 files (``helpers/condabox.CondaBox``), with the real validator. Faults are injected the way
they happen: a package whose post-link script fails (creation fails midway), PyPI's torchvision
inside the new environment (validation fails: its nms operator does not load), and the process
killed (SIGKILL) or interrupted (SIGINT) while conda builds the new environment, between moving
the old one aside and committing. Afterwards the original is intact and usable, or the new one
is complete and the old one kept as a backup; never neither.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from conda_torch import recreate as rc
from conda_torch.exceptions import CondaTorchError, EnvironmentNotFoundError
from conda_torch.inventory import inventory
from conda_torch.machine import Machine, PlatformInfo

from .helpers.cli import cli, cli_command
from .helpers.paths import ROOT as ROOT_DIR
from .helpers.prefixes import (
    FORGE,
    MAIN,
    clean_env,
    conda_torch_prefix,
    dist_info,
    env_file,
    history,
    record,
    siblings,
    snapshot,
)
from .helpers.venvs import TORCH, run, site_packages
from .helpers.venvs import TORCHVISION_FROM_PYPI as TORCHVISION

if TYPE_CHECKING:
    from .helpers.condabox import CondaBox

PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
CPU_MACHINE = Machine(platform=PlatformInfo(subdir="linux-64", os="linux"))


def usable(box: CondaBox, prefix: Path, code: str = "import sys; print(sys.prefix)") -> str:
    proc = run([str(prefix / "bin" / "python"), "-c", code], env=box.environ())
    return proc.stdout.strip()


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr and "ERROR REPORT" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("Hint:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


# ---------------------------------------------------------------------------------------------
# conda's history and pip's list


def test_requested_specs_follow_condas_rules(tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    history(
        prefix,
        ("conda create -n x python=3.11 numpy", ["update specs: ['python=3.11', 'numpy']"]),
        (
            "conda install -c conda-forge scipy 'pandas<3'",
            ["update specs: ['conda-forge::scipy', 'pandas<3']"],
        ),
        ("conda remove scipy", ["remove specs: ['scipy']"]),
        ("conda install numpy=1.26", ["neutered specs: ['numpy=1.26']"]),
        ("", ["update specs: ['ignored']"]),  # no cmd line: not a user request
    )
    (prefix / "conda-meta" / "history").write_text(
        (prefix / "conda-meta" / "history").read_text().replace("# cmd: \n", "")
    )
    assert rc.requested_specs(prefix) == {
        "python": "python=3.11",
        "numpy": "numpy=1.26",
        "pandas": "pandas<3",
    }
    assert rc.requested_specs(prefix, {"python", "pandas"}) == {
        "python": "python=3.11",
        "pandas": "pandas<3",
    }


def test_old_history_format(tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    history(prefix, ("conda install", ["install specs: python>=3.5.1,jupyter >=1.0.0,<2.0"]))
    assert rc.requested_specs(prefix) == {
        "python": "python>=3.5.1",
        "jupyter": "jupyter >=1.0.0,<2.0",
    }


def broken_user_env(tmp_path: Path) -> Path:
    """An environment a user made with conda, then broke with pip."""
    prefix = conda_torch_prefix(tmp_path / "env", version="2.5.1", build="cuda126_py311_h1_300")
    history(
        prefix,
        (
            "conda create -n env python=3.11 pytorch=2.5 numpy",
            ["update specs: ['python=3.11', 'pytorch=2.5', 'numpy']"],
        ),
        ("conda install -c bioconda samtools", ["update specs: ['samtools']"]),
    )
    record(prefix, "numpy", "1.26.4", "py311_h1_0", MAIN)
    record(prefix, "samtools", "1.21", "h1_0", "https://conda.anaconda.org/bioconda/linux-64")
    dist_info(prefix, "torch", "2.13.0", "pip", requested=True)  # pip on top of conda
    dist_info(prefix, "nvidia-cublas-cu12", "12.4.5.8", "pip")  # came with pip's torch
    dist_info(prefix, "six", "1.17.0", "pip", requested=True)  # the user's own
    dist_info(prefix, "idna", "3.20", "pip")  # a dependency of something
    state = {"env_vars": {"MY_SETTING": "on"}}
    (prefix / "conda-meta" / "state").write_text(json.dumps(state))
    return prefix


def test_user_extras_keep_the_users_packages_and_drop_the_stack(tmp_path: Path) -> None:
    prefix = broken_user_env(tmp_path)
    extras = rc.user_extras(str(prefix), inventory(prefix))
    assert extras.conda == ("numpy", "bioconda::samtools")
    assert extras.pip == (
        "six==1.17.0",
    )  # REQUESTED ones only; torch stack and CUDA wheels dropped
    assert extras.variables == (("MY_SETTING", "on"),)
    left = " ".join(extras.left_out)
    assert "pytorch=2.5" in left and "torch==2.13.0" in left
    assert not any("nvidia" in p or "idna" in p for p in extras.pip)


def test_history_plan_reconstructs_and_says_what_changes(tmp_path: Path) -> None:
    prefix = broken_user_env(tmp_path)
    plan = rc.plan_recreate(prefix=str(prefix), machine=CPU_MACHINE)
    assert plan.origin == "history"
    text = plan.environment_file
    for needed in ("- numpy", "- bioconda::samtools", "- six==1.17.0", "MY_SETTING", "- pip"):
        assert needed in text, text
    assert "nvidia-cublas" not in text and "torch==2.13.0" not in text
    assert "pytorch=2.5" in text  # the user's torch request (2.5) is what the plan honours
    assert "python=3.11" in text
    torch = next(c for c in plan.changes if c.package == "torch")
    assert torch.before is not None and "2.5.1 (conda, conda-forge, CUDA 12.6)" in torch.before
    assert "2.13.0 (pip" in torch.before
    assert torch.after is not None and torch.after.startswith("2.5") and "CPU" in torch.after
    assert plan.keep_backup is None
    # nothing was touched
    assert not siblings(prefix)


def test_from_file_is_taken_as_written_and_lists_what_is_lost(tmp_path: Path) -> None:
    prefix = broken_user_env(tmp_path)
    f = env_file(tmp_path / "team.yml", "python=3.11", "pytorch=2.13.0", "numpy")
    plan = rc.plan_recreate(prefix=str(prefix), from_file=str(f), keep_backup=True)
    assert plan.origin == "file" and plan.environment_file == f.read_text()
    lost = " ".join(plan.left_out)
    assert (
        "bioconda::samtools (conda; not in the file)" in lost
        and "six==1.17.0 (pip; not in the file)" in lost
    )
    assert plan.keep_backup == str(prefix) + ".conda-torch-backup"
    with pytest.raises(CondaTorchError, match="does not combine"):
        rc.plan_recreate(prefix=str(prefix), from_file=str(f), regenerate=True)


def test_provenance_plan_needs_regenerate_for_new_options(tmp_path: Path) -> None:
    from conda_torch import provenance

    prefix = conda_torch_prefix(tmp_path / "env")
    history(prefix, ("conda create", ["update specs: ['python=3.11', 'pytorch']"]))
    text = "channels:\n  - conda-forge\ndependencies:\n  - python=3.11\n  - pytorch=2.13.0=cpu*\n"
    provenance.write(
        prefix,
        plan={
            "torch": "2.13.0",
            "torchvision": None,
            "torchaudio": None,
            "python": "3.11",
            "backend": "cpu",
            "source": "conda-forge",
        },
        environment_file=text,
    )
    plan = rc.plan_recreate(prefix=str(prefix))
    assert plan.origin == "provenance" and "pytorch=2.13.0=cpu*" in plan.environment_file
    with pytest.raises(CondaTorchError, match="need --regenerate"):
        rc.plan_recreate(prefix=str(prefix), torch="2.12")


def test_regenerate_replans_the_provenance_file_and_keeps_the_rest(tmp_path: Path) -> None:
    from conda_torch import provenance

    prefix = conda_torch_prefix(tmp_path / "env")
    history(prefix, ("conda create", ["update specs: ['python=3.11', 'pytorch', 'numpy']"]))
    record(prefix, "numpy", "2.3.0", "py311_h1_0", FORGE)
    text = (
        "channels:\n  - conda-forge\ndependencies:\n  - python=3.11\n"
        "  - pytorch=2.13.0=cpu*\n  - numpy  # our team's\n"
    )
    plan = {"torch": "2.13.0", "torchvision": None, "torchaudio": None, "python": "3.11",
            "backend": "cpu", "source": "conda-forge"}  # fmt: skip
    provenance.write(prefix, plan=plan, environment_file=text)
    new = rc.plan_recreate(prefix=str(prefix), regenerate=True, torch="2.12", machine=CPU_MACHINE)
    assert new.origin == "regenerate"
    assert "pytorch=2.12" in new.environment_file and "pytorch=2.13.0" not in new.environment_file
    assert "numpy  # our team's" in new.environment_file  # the team's lines and comments stay
    torch = next(c for c in new.changes if c.package == "torch")
    assert torch.changed and torch.after is not None and torch.after.startswith("2.12")
    # the JSON a user (or a script) sees for --dry-run
    proc = cli("recreate", "-p", str(prefix), "--regenerate", "--torch", "2.12", "--dry-run",
                "--json", env=clean_env(CONDA_OVERRIDE_CUDA=""))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["dry_run"] is True and doc["origin"] == "regenerate" and doc["success"] is True
    assert any(c["package"] == "torch" and c["changed"] for c in doc["torch_stack"])
    assert not siblings(prefix)


# ---------------------------------------------------------------------------------------------
# bad input: one clear line, non-zero exit, nothing lost


def test_bad_targets_are_refused_before_anything_changes(tmp_path: Path) -> None:
    env = clean_env()
    missing = tmp_path / "missing"
    assert str(missing) in one_line_error(cli("recreate", "-p", str(missing), "-y", env=env))
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    assert "not a conda environment" in one_line_error(
        cli("recreate", "-p", str(venv), "-y", env=env)
    )
    assert (venv / "pyvenv.cfg").read_text() == "home = /usr/bin\n"
    with pytest.raises(EnvironmentNotFoundError):
        rc.plan_recreate(prefix=str(venv))


def test_read_only_prefix_is_refused(tmp_path: Path) -> None:
    prefix = broken_user_env(tmp_path)
    before = snapshot(prefix)
    prefix.chmod(0o555)
    try:
        line = one_line_error(cli("recreate", "-p", str(prefix), "--dry-run", env=clean_env()))
        assert "read-only" in line
    finally:
        prefix.chmod(0o755)
    assert snapshot(prefix) == before


@pytest.mark.parametrize("which", ["keep-backup", "leftover"], ids=["keep-backup", "leftover"])
def test_backup_name_clash_is_refused(tmp_path: Path, which: str) -> None:
    from conda_torch.create import backup_path

    prefix = broken_user_env(tmp_path)
    clash = Path(
        rc.backup_path(str(prefix)) if which == "keep-backup" else backup_path(str(prefix))
    )
    clash.mkdir()
    (clash / "mine.txt").write_text("do not touch\n")
    before = snapshot(prefix)
    args = ["recreate", "-p", str(prefix), "--dry-run"] + (
        ["--keep-backup"] if which == "keep-backup" else []
    )
    line = one_line_error(cli(*args, env=clean_env()))
    assert str(clash) in line
    assert (clash / "mine.txt").read_text() == "do not touch\n" and snapshot(prefix) == before


def test_unsupported_conda_version_is_refused(tmp_path: Path) -> None:
    prefix = broken_user_env(tmp_path)
    fake = tmp_path / "old-conda"
    fake.write_text(
        "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'conda 4.8.3'; exit 0; fi\n"
        'echo "old conda cannot $1" >&2; exit 2\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    before = snapshot(prefix)
    line = one_line_error(
        cli("recreate", "-p", str(prefix), "-y", env=clean_env(CONDA_EXE=str(fake)))
    )
    assert "conda 4.8.3 is not supported" in line
    assert snapshot(prefix) == before and not siblings(prefix)


# ---------------------------------------------------------------------------------------------
# a real conda


@pytest.mark.conda
@pytest.mark.torch
def test_recreate_from_provenance_repairs_and_keeps_a_backup(
    condabox: CondaBox, tmp_path: Path
) -> None:
    box = condabox
    prefix = box.root / "envs" / "rc-prov"
    team = env_file(tmp_path / "environment.yml", f"python={PY}", f"pytorch={TORCH}", "alpha")
    made = box.torch_cli("create", "-p", str(prefix), "-f", str(team), "--as-is", "-y")
    assert made.returncode == 0, made.stdout + made.stderr
    # the user's `pip install torchvision` breaks it
    box.pip_install_into(prefix, f"torchvision=={TORCHVISION}")
    dry = box.torch_cli("recreate", "-p", str(prefix), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "from its provenance" in dry.stdout
    assert f"not carried over: torchvision=={TORCHVISION} (pip; torch stack" in dry.stdout
    assert not siblings(prefix)
    fixed = box.torch_cli("recreate", "-p", str(prefix), "-y", "--keep-backup")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "Done:" in fixed.stdout
    healthy = box.torch_cli("doctor", "-p", str(prefix), "--json")
    assert healthy.returncode == 0, healthy.stdout
    assert json.loads(healthy.stdout)["success"] is True
    assert usable(box, prefix, "import torch; print(torch.__version__)").startswith(TORCH)
    kept = Path(rc.backup_path(str(prefix)))
    assert siblings(prefix) == [kept.name]
    assert list(site_packages(kept).glob("torchvision-*.dist-info")), (
        "the backup is the old environment"
    )
    assert not list(site_packages(prefix).glob("torchvision*"))


@pytest.mark.conda
@pytest.mark.torch
def test_validation_failure_rolls_back_a_history_rebuild(condabox: CondaBox) -> None:
    """No provenance: the user's requests come back, the torch stack is planned anew; the new
    environment fails validation (PyPI's torchvision), so the original stays as it was."""
    box = condabox
    prefix = box.create(box.root / "envs" / "rc-hist", f"python={PY}", "pytorch", "beta")
    box.pip_install_into(prefix, "six==1.17.0")
    before = snapshot(prefix)
    dry = box.torch_cli("recreate", "-p", str(prefix), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "from conda's history" in dry.stdout
    assert "carried over: beta, pip, pip: six==1.17.0" in dry.stdout
    # the environment held torch alone: the rebuild adds no companion it did not hold
    assert "torchvision" not in dry.stdout.split("dependencies:")[-1].split("variables:")[0]
    # planned anew with torchvision (the stand-in holds PyPI's files: validation will fail)
    again = ("--regenerate", "--torch", "2.13", "--without", "torchaudio")
    dry = box.torch_cli("recreate", "-p", str(prefix), "--dry-run", *again)
    assert dry.returncode == 0, dry.stderr
    assert "torchvision: (none) -> 0.28.0" in dry.stdout
    proc = box.torch_cli("recreate", "-p", str(prefix), "-y", *again)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "recreate invalid" in proc.stderr and "nms" in proc.stderr + proc.stdout
    assert "the existing environment" in proc.stderr and "is unchanged" in proc.stderr
    assert snapshot(prefix) == before and not siblings(prefix)
    assert usable(box, prefix, "import torch, six; print(torch.__file__)").startswith(str(prefix))


@pytest.mark.conda
@pytest.mark.torch
def test_creation_failing_midway_keeps_the_original(condabox: CondaBox, tmp_path: Path) -> None:
    box = condabox
    prefix = box.create(box.root / "envs" / "rc-midway", f"python={PY}", "alpha")
    before = snapshot(prefix)
    bad = env_file(tmp_path / "bad.yml", f"python={PY}", "alpha", "breaker")
    # by name, as users do (conda resolves it)
    proc = box.torch_cli("recreate", "-n", "rc-midway", "-f", str(bad), "-y")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "recreate failed" in proc.stderr and "breaker" in proc.stdout + proc.stderr
    assert snapshot(prefix) == before and not siblings(prefix)
    assert usable(box, prefix) == str(prefix)


def _start(box: CondaBox, *args: str) -> subprocess.Popen[str]:
    command, environ = cli_command(*args, env=box.environ())
    return subprocess.Popen(
        command,
        cwd=ROOT_DIR,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for_conda(prefix: Path, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    """Until the old environment is aside and conda is linking the new one (slowpoke sleeps)."""
    from conda_torch.create import backup_path

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if os.path.isdir(backup_path(str(prefix))) and (prefix / "share" / "slowpoke").is_dir():
            return
        time.sleep(0.2)
    raise AssertionError("conda never started linking")


@pytest.mark.conda
@pytest.mark.torch
def test_killed_between_the_renames_never_loses_the_original(
    condabox: CondaBox, tmp_path: Path
) -> None:
    from conda_torch.create import backup_path, lock_holder
    from conda_torch.procs import group_alive

    box = condabox
    prefix = box.create(box.root / "envs" / "rc-killed", f"python={PY}", "alpha")
    before = snapshot(prefix)
    slow = env_file(tmp_path / "slow.yml", f"python={PY}", "alpha", "slowpoke")
    proc = _start(box, "recreate", "-p", str(prefix), "-f", str(slow), "-y")
    _wait_for_conda(prefix, proc)
    # conda-torch and the conda it runs (its own process group, named in the lock): no chance
    # to clean up
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    conda = lock_holder(str(prefix))
    assert conda is not None and conda.orphan
    os.killpg(conda.pid, signal.SIGKILL)
    while group_alive(conda.pid):
        time.sleep(0.05)
    proc.communicate()
    backup = Path(backup_path(str(prefix)))
    # the original is whole, aside; nothing of it was deleted
    assert snapshot(backup) == before
    # doctor and recreate say what happened and how to get it back
    diag = box.torch_cli("doctor", "-p", str(prefix), "--no-probe", "--json")
    found = {f["id"]: f for f in json.loads(diag.stdout)["findings"]}
    assert "interrupted-replace" in found, diag.stdout
    again = box.torch_cli("recreate", "-p", str(prefix), "-y")
    assert "was interrupted" in one_line_error(again)
    assert snapshot(backup) == before
    # the fix doctor prints brings it back, usable at its own path
    run(["sh", "-c", found["interrupted-replace"]["fix"]])
    assert snapshot(prefix) == before and usable(box, prefix) == str(prefix)
    assert not backup.exists()


@pytest.mark.conda
@pytest.mark.torch
def test_interrupted_rebuild_rolls_back(condabox: CondaBox, tmp_path: Path) -> None:
    box = condabox
    prefix = box.create(box.root / "envs" / "rc-sigint", f"python={PY}", "alpha")
    before = snapshot(prefix)
    slow = env_file(tmp_path / "slow.yml", f"python={PY}", "alpha", "slowpoke")
    proc = _start(box, "recreate", "-p", str(prefix), "-f", str(slow), "-y")
    _wait_for_conda(prefix, proc)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert "interrupted" in err and "Traceback" not in err
    assert snapshot(prefix) == before and not siblings(prefix)
    assert usable(box, prefix) == str(prefix)
