"""``conda torch doctor``: findings on real broken environments.

Python-level breakage uses virtual environments with the real torch 2.13.0 CPU wheel
(the ``session_torch_venv`` fixture) broken the way users break them: PyPI's torchvision beside the CPU
torch, a torchvision made for another torch, a torch shadowing through PYTHONPATH or
``~/.local``. Conda-level findings use prefixes built from ``conda-meta/*.json`` records (as
conda-lockfiles' tests do) and, where a conda is installed, real conda environments.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from conda_torch import doctor, values
from conda_torch.doctor import diagnose
from conda_torch.exceptions import EnvironmentNotFoundError
from conda_torch.inventory import Inventory, installed_torch, inventory
from conda_torch.models import channel_name

from .helpers.cli import cli
from .helpers.paths import FIXTURES
from .helpers.prefixes import (
    FORGE,
    MAIN,
    PYTORCH,
    clean_env,
    conda_torch_prefix,
    dist_info,
    record,
)
from .helpers.venvs import BASE_PYTHON, make_venv, pip, run, site_packages
from .helpers.venvs import TORCHVISION_FROM_PYPI as TORCHVISION
from .helpers.venvs import TORCHVISION_MISPAIRED as TORCHVISION_WRONG
from .helpers.venvs import clone as clone_venv

PY = f"{sys.version_info[0]}.{sys.version_info[1]}"


def ids(d: doctor.Diagnosis) -> set[str]:
    return {f.id for f in d.findings}


# ---------------------------------------------------------------------------------------------
# real virtual environments with real torch


@pytest.fixture(scope="module")
def venvs(tmp_path_factory: pytest.TempPathFactory, session_torch_venv: Path) -> dict[str, Path]:
    """Hard-linked copies of the torch venv, each broken one way."""
    base = tmp_path_factory.mktemp("doctor-venvs")
    out = {"healthy": clone_venv(session_torch_venv, base / "healthy")}
    out["pypi-torchvision"] = clone_venv(session_torch_venv, base / "pypi-torchvision")
    pip(out["pypi-torchvision"] / "bin" / "python", "--no-deps", f"torchvision=={TORCHVISION}")
    out["wrong-pair"] = clone_venv(session_torch_venv, base / "wrong-pair")
    pip(out["wrong-pair"] / "bin" / "python", "--no-deps", f"torchvision=={TORCHVISION_WRONG}")
    out["empty"] = make_venv(base / "empty")
    return out


@pytest.mark.torch
def test_healthy_venv_has_no_errors(venvs: dict[str, Path]) -> None:
    d = diagnose(prefix=venvs["healthy"], environ=clean_env())
    assert d.ok, [f.to_json() for f in d.findings]
    assert not d.by_severity("warning")
    assert d.report is not None and d.report.check("torch-import").status == "pass"
    assert d.has_torch


@pytest.mark.torch
def test_pypi_torchvision_beside_cpu_torch_is_an_error_with_its_fix(venvs: dict[str, Path]) -> None:
    """The classic: `pip install torchvision` brings a CUDA torchvision for a CPU torch."""
    d = diagnose(prefix=venvs["pypi-torchvision"], environ=clean_env())
    assert not d.ok
    errors = {f.id: f for f in d.by_severity("error")}
    assert "validate.torchvision-import" in errors
    assert "torchvision::nms does not exist" in errors["validate.torchvision-import"].message
    fix = errors["validate.torchvision-import"].fix or ""
    assert f"torchvision=={TORCHVISION}" in fix and "whl/cpu" in fix
    assert str(venvs["pypi-torchvision"] / "bin" / "python") in fix
    # it pairs by version (0.28 is torchvision for torch 2.13): no pair finding
    assert "pair-mismatch" not in ids(d)


@pytest.mark.torch
def test_torchvision_for_another_torch_is_a_pair_mismatch(venvs: dict[str, Path]) -> None:
    d = diagnose(prefix=venvs["wrong-pair"], environ=clean_env())
    f = d.finding("pair-mismatch")
    assert f is not None and f.severity == "error"
    assert f"torchvision {TORCHVISION}, not {TORCHVISION_WRONG}" in f.message
    # the pip fix pins the pairing torchvision from the CPU index
    assert f.fix is not None and f"torchvision=={TORCHVISION}" in f.fix and "whl/cpu" in f.fix
    # validate's own pairing check is folded into the finding, not repeated
    assert "validate.pairing" not in ids(d)
    # what fails because of the wrong torchvision is fixed by the pairing one, never by
    # reinstalling the wrong version
    for e in d.by_severity("error"):
        assert e.fix is not None and f"=={TORCHVISION_WRONG}" not in e.fix, e


@pytest.mark.torch
def test_pythonpath_shadowing(venvs: dict[str, Path], session_torch_venv: Path) -> None:
    """An environment without torch imports one from PYTHONPATH."""
    shadow = str(site_packages(session_torch_venv))
    d = diagnose(prefix=venvs["empty"], environ=clean_env(PYTHONPATH=shadow))
    f = d.finding("pythonpath-shadow")
    assert f is not None and f.severity == "error"
    assert shadow in f.message and "torch" in f.message
    assert f.fix == "unset PYTHONPATH"
    assert "validate.shadowing" not in ids(d)  # the finding explains it
    # without the variable there is nothing to check, and no probe is started
    clean = diagnose(prefix=venvs["empty"], environ=clean_env())
    assert ids(clean) == {"no-torch"} and clean.report is None and clean.ok


@pytest.mark.torch
def test_pythonpath_fix_keeps_other_entries(
    venvs: dict[str, Path], session_torch_venv: Path, tmp_path: Path
) -> None:
    other = tmp_path / "mine"
    other.mkdir()
    value = os.pathsep.join([str(other), str(site_packages(session_torch_venv))])
    d = diagnose(prefix=venvs["healthy"], environ=clean_env(PYTHONPATH=value), run_probe=False)
    f = d.finding("pythonpath-shadow")
    assert f is not None and f.fix == f"export PYTHONPATH={other}"


@pytest.mark.torch
def test_user_site_shadowing(tmp_path: Path, session_torch_venv: Path) -> None:
    """A torch under ~/.local wins over the interpreter's own site-packages."""
    probe = run(
        [str(BASE_PYTHON), "-c", "import importlib.util as u; print(u.find_spec('torch') is None)"]
    )
    if probe.stdout.strip() != "True":
        pytest.skip(f"{BASE_PYTHON} has a torch of its own")
    home = tmp_path / "home"
    user_site = home / ".local" / "lib" / f"python{PY}" / "site-packages"
    user_site.mkdir(parents=True)
    # a hard-linked copy of a real torch, as `pip install --user torch` leaves it
    src = site_packages(session_torch_venv)
    for entry in os.listdir(src):
        if not entry.startswith(("pip", "setuptools", "_distutils")):
            run(["cp", "-al", str(src / entry), str(user_site / entry)])
    env = clean_env(HOME=str(home))
    env.pop("PYTHONUSERBASE", None)
    d = diagnose(python=BASE_PYTHON, environ=env, home=home)
    f = d.finding("user-site-shadow")
    assert f is not None and f.severity == "error", [x.to_json() for x in d.findings]
    assert str(user_site) in f.message
    assert f.fix is not None and "uninstall" in f.fix and "torch" in f.fix
    # PYTHONNOUSERSITE turns the user site off: the same interpreter then has no torch at all
    env["PYTHONNOUSERSITE"] = "1"
    d2 = diagnose(python=BASE_PYTHON, environ=env, home=home)
    assert "user-site-shadow" not in ids(d2)


@pytest.mark.torch
def test_cli_prints_findings_and_fails(venvs: dict[str, Path]) -> None:
    proc = cli("doctor", "-p", str(venvs["pypi-torchvision"]), env=clean_env())
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "ERROR  validate.torchvision-import" in proc.stdout
    assert "fix: " in proc.stdout and "PROBLEMS:" in proc.stdout
    ok = cli("doctor", "-p", str(venvs["healthy"]), "--json", env=clean_env())
    assert ok.returncode == 0, ok.stdout + ok.stderr
    doc = json.loads(ok.stdout)
    assert doc["success"] is True and doc["schema"] == doctor.SCHEMA
    assert any(c["id"] == "device-cpu" and c["status"] == "pass" for c in doc["checks"])


@pytest.mark.torch
def test_cli_python_option(venvs: dict[str, Path]) -> None:
    proc = cli(
        "doctor", "--python", str(venvs["wrong-pair"] / "bin" / "python"), "--json", env=clean_env()
    )
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert "pair-mismatch" in {f["id"] for f in doc["findings"]}


# ---------------------------------------------------------------------------------------------
# fake conda prefixes: conda-meta records and pip metadata, nothing run


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (FORGE, "conda-forge"),
        ("https://conda.anaconda.org/conda-forge/noarch/", "conda-forge"),
        ("conda-forge", "conda-forge"),
        (MAIN, "pkgs/main"),
        ("pkgs/main", "pkgs/main"),
        ("https://repo.anaconda.com/pkgs/r/noarch", "pkgs/r"),
        (PYTORCH + "/pytorch-2.5.1-py3.11_cuda12.4_cudnn9.1.0_0.tar.bz2", "pytorch"),
        ("file:///srv/chan/linux-64", "file:///srv/chan"),
        ("", "<unknown>"),
    ],
    ids=[
        "forge-url",
        "forge-noarch",
        "forge-name",
        "main-url",
        "main-name",
        "r",
        "pytorch-fn",
        "file",
        "empty",
    ],
)
def test_channel_name(raw: str, expected: str) -> None:
    assert channel_name(raw) == expected


@pytest.mark.parametrize("package", ["torch", "torchvision"], ids=["torch", "torchvision"])
def test_pip_on_top_of_conda(tmp_path: Path, package: str) -> None:
    prefix = conda_torch_prefix(tmp_path / "env")
    if package == "torchvision":
        meta = dist_info(prefix, "torchvision", "0.28.0", "conda")
        record(
            prefix, "torchvision", "0.28.0", "cpu_py311_h1_0", FORGE, files=(f"{meta}/INSTALLER",)
        )
    # pip's copy beside conda's: its own dist-info, INSTALLER pip
    dist_info(prefix, package, "9.9.9", "pip", requested=True)
    d = diagnose(prefix=prefix, run_probe=False, environ=clean_env(), matrix=None)
    f = d.finding("pip-and-conda")
    assert f is not None and f.severity == "error"
    assert f.message.startswith(package)
    assert f.fix == f"conda torch recreate -p {prefix}"
    assert any("9.9.9" in line and "pip" in line for line in f.details)
    assert not d.ok


def test_conda_owned_metadata_is_not_a_duplicate(tmp_path: Path) -> None:
    prefix = conda_torch_prefix(tmp_path / "env")
    d = diagnose(prefix=prefix, run_probe=False, environ=clean_env())
    assert "pip-and-conda" not in ids(d)
    inv = inventory(prefix)
    assert [x.conda_owned for x in inv.dist("torch")] == [True]


@pytest.mark.parametrize(
    ("torch_channel", "vision_channel", "python_channel", "expected", "absent"),
    [
        (PYTORCH, FORGE, FORGE, {"mixed-channels", "pytorch-beside-forge"}, set()),
        (PYTORCH, PYTORCH, FORGE, {"pytorch-beside-forge"}, {"mixed-channels"}),
        (FORGE, FORGE, MAIN, {"defaults-beside-forge"}, {"mixed-channels", "pytorch-beside-forge"}),
        (
            FORGE,
            FORGE,
            FORGE,
            set(),
            {"mixed-channels", "pytorch-beside-forge", "defaults-beside-forge"},
        ),
    ],
    ids=[
        "pytorch-torch-forge-vision",
        "pytorch-stack-forge-python",
        "defaults-python",
        "all-forge",
    ],
)
def test_channel_mixing(
    tmp_path: Path,
    torch_channel: str,
    vision_channel: str,
    python_channel: str,
    expected: set[str],
    absent: set[str],
) -> None:
    prefix = conda_torch_prefix(
        tmp_path / "env", torch_channel=torch_channel, python_channel=python_channel
    )
    meta = dist_info(prefix, "torchvision", "0.28.0", "conda")
    record(
        prefix,
        "torchvision",
        "0.28.0",
        "cpu_py311_h1_0",
        vision_channel,
        files=(f"{meta}/INSTALLER",),
    )
    record(prefix, "libstdcxx", "15.1.0", "h1_5", FORGE)
    d = diagnose(prefix=prefix, run_probe=False, environ=clean_env())
    found = ids(d)
    assert expected <= found, found
    assert not (absent & found), found
    if "mixed-channels" in found:
        f = d.finding("mixed-channels")
        assert f is not None and "pytorch" in f.message and "conda-forge" in f.message
        assert f.fix == f"conda torch recreate -p {prefix}"


def machine_from(capture: str, subdir: str = "linux-64"):
    """The machine a real capture describes, on ``subdir`` (the capture does not show it)."""
    from conda_torch.detect import detect
    from conda_torch.machine import PlatformInfo

    m = detect(from_files=[str(FIXTURES / capture)], environ={})
    return values.replace(m, platform=PlatformInfo(subdir=subdir, os=subdir.split("-")[0]))


def test_cpu_build_on_a_gpu_machine(tmp_path: Path) -> None:
    prefix = conda_torch_prefix(tmp_path / "env")
    h100 = machine_from("nvidia-smi/exporter-linux-h100-80gb-hbm3-590.48.01.txt")
    d = diagnose(prefix=prefix, run_probe=False, machine=h100, environ=clean_env())
    f = d.finding("cpu-build-on-gpu")
    assert f is not None and f.severity == "warning"
    assert "H100" in f.message and "CPU build" in f.message
    assert f.fix == f"conda torch recreate -p {prefix} --regenerate"
    # on a machine without a GPU the CPU build is right
    from conda_torch.machine import Machine, PlatformInfo

    cpu_only = Machine(platform=PlatformInfo(subdir="linux-64", os="linux"))
    d2 = diagnose(prefix=prefix, run_probe=False, machine=cpu_only, environ=clean_env())
    assert "cpu-build-on-gpu" not in ids(d2)


@pytest.mark.parametrize(
    ("build", "capture", "severity"),
    [
        ("cuda130_generic_py311_h1_200", "nvidia-smi/rtx4070-550.40.07-cuda12.4.txt", "error"),
        # CUDA minor-version compatibility: a 12.9 build runs on a 12.4 driver (same major,
        # >= 525.60.13) when the GPU's native code is in it -- no finding at all
        # (https://docs.nvidia.com/deploy/cuda-compatibility/#minor-version-compatibility)
        ("cuda129_generic_py311_h1_200", "nvidia-smi/rtx4070-550.40.07-cuda12.4.txt", None),
        (
            "cuda129_generic_py311_h1_200",
            "nvidia-smi/exporter-linux-h100-80gb-hbm3-590.48.01.txt",
            None,
        ),
    ],
    ids=["cuda13-on-12.4-driver", "cuda12.9-on-12.4-driver", "cuda12.9-on-13.1-driver"],
)
def test_driver_too_old(tmp_path: Path, build: str, capture: str, severity: str | None) -> None:
    prefix = conda_torch_prefix(tmp_path / "env", build=build)
    d = diagnose(prefix=prefix, run_probe=False, machine=machine_from(capture), environ=clean_env())
    f = d.finding("driver-too-old")
    if severity is None:
        assert f is None
        return
    assert f is not None and f.severity == severity
    assert "550.40.07" in f.message and "12.4" in f.message


def test_gpu_architecture_missing_from_the_build(tmp_path: Path) -> None:
    """conda-forge's CUDA 13.0 build starts at sm_75; a V100 is sm_70."""
    prefix = conda_torch_prefix(tmp_path / "env", build="cuda130_generic_py311_h1_200")
    v100 = machine_from("nvidia-smi/v100-sxm2-x2-580.126.09-cuda13.0.txt")
    d = diagnose(prefix=prefix, run_probe=False, machine=v100, environ=clean_env())
    f = d.finding("arch-missing")
    assert f is not None and f.severity == "error"
    assert "sm_70" in " ".join(f.details) and "V100" in " ".join(f.details)
    h100 = machine_from("nvidia-smi/exporter-linux-h100-80gb-hbm3-590.48.01.txt")
    assert "arch-missing" not in ids(
        diagnose(prefix=prefix, run_probe=False, machine=h100, environ=clean_env())
    )


def planned(prefix: Path, **over: str) -> None:
    """Provenance of a conda-forge plan: torch 2.13.0, torchvision 0.28.*, Python 3.11."""
    from conda_torch import provenance

    plan = {"torch": "2.13.0", "torchvision": "0.28.*", "torchaudio": None, "python": "3.11",
            "backend": "cpu", "backend_kind": "cpu", "source": "conda-forge", **over}  # fmt: skip
    provenance.write(prefix, plan=plan, environment_file="dependencies: []\n")


def test_drift_from_provenance(tmp_path: Path) -> None:
    prefix = conda_torch_prefix(tmp_path / "env", version="2.12.0", build="cpu_generic_py311_h1_0")
    planned(prefix, backend="cu130", backend_kind="cuda")
    d = diagnose(prefix=prefix, run_probe=False, environ=clean_env())
    f = d.finding("drift")
    assert f is not None and f.severity == "error"
    text = " ".join(f.details)
    assert "torch: planned 2.13.0, installed 2.12.0" in text
    assert "torchvision 0.28.* is planned but not installed" in text
    assert "planned a CUDA build" in text
    assert f.fix == f"conda torch recreate -p {prefix}"


def test_a_planned_series_is_no_drift(tmp_path: Path) -> None:
    """A conda-forge plan records ``torchvision 0.28.*``; conda installed 0.28.0 (issue 11)."""
    prefix = conda_torch_prefix(tmp_path / "env", version="2.13.0", build="cpu_generic_py311_h1_0")
    dist_info(prefix, "torchvision", "0.28.0", "conda")
    planned(prefix)
    d = diagnose(prefix=prefix, run_probe=False, environ=clean_env())
    assert d.finding("drift") is None, d.finding("drift")


def test_unreadable_provenance_is_a_warning(tmp_path: Path) -> None:
    from conda_torch import provenance

    prefix = conda_torch_prefix(tmp_path / "env")
    provenance.path_for(prefix).write_text("{not json")
    d = diagnose(prefix=prefix, run_probe=False, environ=clean_env())
    assert d.finding("provenance-unreadable") is not None


def test_no_torch_is_ok(tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    record(prefix, "python", "3.11.9", "h1_0_cpython", FORGE)
    d = diagnose(prefix=prefix, environ=clean_env())
    assert ids(d) == {"no-torch"} and d.ok and not d.has_torch and d.report is None


def test_leftover_backup_from_a_killed_replace(tmp_path: Path) -> None:
    from conda_torch.create import backup_path, mark_backup

    prefix = conda_torch_prefix(tmp_path / "env")
    os.makedirs(os.path.join(backup_path(str(prefix)), "conda-meta"))
    mark_backup(str(prefix), backup_path(str(prefix)))
    d = diagnose(prefix=prefix, run_probe=False, environ=clean_env())
    f = d.finding("interrupted-replace")
    assert f is not None and f.severity == "error"
    assert (
        f.fix is not None
        and f.fix.startswith("rm -rf ")
        and f"mv {backup_path(str(prefix))}" in f.fix
    )


def test_inventory_reads_pip_builds(tmp_path: Path) -> None:
    prefix = tmp_path / "venv"
    (prefix / "pyvenv.cfg").parent.mkdir(parents=True)
    (prefix / "pyvenv.cfg").write_text("home = /usr/bin\n")
    dist_info(
        prefix,
        "torch",
        "2.13.0",
        "pip",
        requires=("nvidia-cuda-runtime-cu13==13.0.96; platform_system == 'Linux'", "filelock"),
    )
    inv = inventory(prefix)
    b = installed_torch(inv)
    assert b is not None and (b.installer, b.kind, b.cuda) == ("pip", "cuda", "13.0")
    assert isinstance(inv, Inventory) and inv.python_version == PY


# ---------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    "kind", ["missing", "not-an-env", "file"], ids=["missing", "not-an-env", "file"]
)
def test_bad_prefix_is_one_clear_line(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "x"
    if kind == "not-an-env":
        target.mkdir()
        (target / "hello.txt").write_text("mine\n")
    elif kind == "file":
        target.write_text("mine\n")
    with pytest.raises(EnvironmentNotFoundError):
        diagnose(prefix=target)
    proc = cli("doctor", "-p", str(target), env=clean_env())
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert str(target) in proc.stderr
    assert (
        len([ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("Hint:")])
        == 1
    )
    if kind != "missing":  # nothing touched
        assert (
            (target / "hello.txt").read_text() == "mine\n"
            if kind == "not-an-env"
            else target.read_text() == "mine\n"
        )


def test_no_target_is_refused() -> None:
    proc = cli("doctor", env=clean_env())
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and "-n NAME" in proc.stderr


# ---------------------------------------------------------------------------------------------
# a real conda


@pytest.mark.conda
@pytest.mark.torch
def test_conda_env_with_pypi_torchvision_and_all(condabox, tmp_path: Path) -> None:
    # an envs folder of its own: --all sees these two beside whatever else conda knows
    envs = tmp_path / "envs"
    environ = condabox.environ(CONDA_ENVS_DIRS=str(envs))
    env = condabox.create(envs / "doctor-broken", f"python={PY}", "pytorch", "alpha", env=environ)
    condabox.create(envs / "doctor-plain", f"python={PY}", "alpha", env=environ)
    # the user's `pip install torchvision` into the conda environment
    condabox.pip_install_into(env, f"torchvision=={TORCHVISION}")
    proc = condabox.torch_cli("doctor", "-n", "doctor-broken", env=environ)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "torchvision::nms does not exist" in proc.stdout
    assert "Diagnosis of doctor-broken" in proc.stdout
    # every environment conda knows: the broken one fails the run, the plain one has no torch
    proc = condabox.torch_cli("doctor", "--all", "--json", env=environ)
    assert proc.returncode == 1, proc.stderr
    docs = {Path(d["prefix"]).name: d for d in json.loads(proc.stdout)["environments"]}
    assert docs["doctor-broken"]["success"] is False
    assert [f["id"] for f in docs["doctor-plain"]["findings"]] == ["no-torch"]
    missing = condabox.torch_cli("doctor", "-n", "no-such-env", env=environ)
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert "no-such-env" in missing.stderr
