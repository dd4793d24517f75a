"""``--via LAUNCHER``: detection on a node a launcher reaches, with real processes.

Launchers here are real commands: ``env`` (runs ``sh -s`` on this machine, like a scheduler
that lands on the same host), shell one-liners that fail or hang like a launcher does, and,
where a Slurm runs (``.ci/run`` starts a local one; see ``tests/helpers/slurm.py``), ``srun``
itself: a partition that does not exist, a job that waits for resources past the bound.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conda_torch.detect import clear_cache, detect, load_machine
from conda_torch.via import DETECT_MODULES, detect_via

from .helpers.cli import cli as run_cli
from .helpers.slurm import require_slurm, squeue_jobs

ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONDA_", "_CE_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=cwd, env=_env(), timeout=timeout)


def one_clear_line(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("Hint:")]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def srun_host() -> str:
    """The host ``srun -N1`` lands on, as the node itself names it."""
    return subprocess.run(
        ["srun", "-N1", "uname", "-n"], capture_output=True, text=True, timeout=60, check=True
    ).stdout.strip()


def isolated_python(tmp_path: Path) -> str:
    """This interpreter without site-packages, PYTHONPATH or the current folder's packages:
    conda-torch is not importable there, so only what the script ships can run."""
    shim = tmp_path / "bare-python"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -S -E "$@"\n')
    shim.chmod(0o755)
    probe = subprocess.run(
        [str(shim), "-c", "import conda_torch"], capture_output=True, cwd=tmp_path, timeout=60
    )
    assert probe.returncode != 0, "conda_torch is importable without site-packages"
    return str(shim)


def processes_with(tag: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if tag.encode() in cmd and state != "Z":
            found.append(int(entry))
    return found


# -- the shipped detection ------------------------------------------------------------------


def test_the_node_runs_the_shipped_detection_and_sees_what_detect_sees(tmp_path: Path) -> None:
    launcher = f"env -C {tmp_path}"  # the node's working folder holds no conda_torch
    machine, run = detect_via(launcher, node_python=isolated_python(tmp_path), timeout=120)
    clear_cache()
    here = detect(environ={k: v for k, v in os.environ.items() if k != "CONDA_OVERRIDE_CUDA"})
    assert run.hosts == (os.uname().nodename,)
    assert machine.platform.hostname == here.platform.hostname == os.uname().nodename
    for key in ("subdir", "os", "machine", "glibc", "kernel", "distro", "container"):
        assert getattr(machine.platform, key) == getattr(here.platform, key), key
    assert machine.nvidia == here.nvidia and machine.rocm == here.rocm
    assert machine.mode == "live"


def test_the_shipped_modules_exist() -> None:
    package = ROOT / "conda_torch"
    for entry in DETECT_MODULES:
        assert (package / entry).exists(), entry


def test_login_node_overrides_do_not_reach_the_node(tmp_path: Path) -> None:
    launcher = f"env -C {tmp_path} CONDA_OVERRIDE_CUDA=12.4 CONDA_SUBDIR=osx-arm64"
    machine, _run = detect_via(launcher, node_python=sys.executable, timeout=120)
    clear_cache()
    here = detect(environ={})
    assert machine.platform.subdir == here.platform.subdir
    assert (machine.nvidia is None) == (here.nvidia is None)
    assert not machine.overrides


# -- the launcher's failures ------------------------------------------------------------------


def test_launcher_not_found(tmp_path: Path) -> None:
    proc = cli("detect", "--via", "no-such-launcher-x -N1", cwd=tmp_path)
    one_clear_line(proc, "launcher not found: no-such-launcher-x")


def test_launcher_failure_is_its_own_message(tmp_path: Path) -> None:
    launcher = "sh -c 'echo \"launcher: error: job refused by policy\" >&2; exit 1' launcher"
    proc = cli("detect", "--via", launcher, cwd=tmp_path)
    one_clear_line(proc, "failed: launcher: error: job refused by policy")


def test_a_node_without_that_python(tmp_path: Path) -> None:
    proc = cli("detect", "--via", "env", "--node-python", "/nonexistent/python3", cwd=tmp_path)
    line = one_clear_line(proc, f"node {os.uname().nodename}", "no Python on the node")
    assert "/nonexistent/python3" in line


def test_a_hanging_launcher_is_stopped_with_its_process_group(tmp_path: Path) -> None:
    """A launcher that hangs, with a child of its own: both are gone after the bound."""
    tag = f"conda-torch-test-{uuid.uuid4().hex[:8]}"
    script = tmp_path / f"{tag}.sh"
    script.write_text(
        f"{sys.executable} -c 'import time; time.sleep(600)' {tag}-child &\nsleep 600\n"
    )
    proc = cli("detect", "--via", f"sh {script}", "--timeout", "2", cwd=tmp_path)
    one_clear_line(proc, "gave no answer in 2 s", "stopped")
    assert processes_with(tag) == []


def test_bad_via_values(tmp_path: Path) -> None:
    one_clear_line(cli("detect", "--via", "", cwd=tmp_path), "--via needs a launcher")
    one_clear_line(cli("detect", "--via", "srun 'unclosed", cwd=tmp_path), "not a command line")
    one_clear_line(
        cli("detect", "--via", "env", "--from", "x.txt", cwd=tmp_path), "would describe another"
    )
    one_clear_line(cli("detect", "-o", "x.json", cwd=tmp_path), "-o goes with --via")


# -- a real Slurm -------------------------------------------------------------------------------


@pytest.mark.slurm
def test_detect_via_srun_names_the_node_and_saves_its_picture(tmp_path: Path) -> None:
    require_slurm()
    host = srun_host()
    proc = cli("detect", "--via", "srun -N1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"Node {host}, probed live through `srun -N1` in ")
    saved = tmp_path / "node.json"
    proc = cli("detect", "--via", "srun -N1", "-o", str(saved), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"Saved the picture of node {host}" in proc.stdout
    machine = load_machine(str(saved))
    assert machine.platform.hostname == host and machine.platform.subdir
    again = cli("detect", "--via", "srun -N1", "-o", str(saved), cwd=tmp_path)
    one_clear_line(again, "already exists")
    doc = json.loads(cli("detect", "--via", "srun -N1", "--json", cwd=tmp_path).stdout)
    assert doc["platform"]["hostname"] == host
    # the saved picture plans like any node type
    plan = cli("generate", "--node", f"login={saved}", "-o", "-", cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    assert f"#        login (node.json, {host}): " in plan.stdout


@pytest.mark.slurm
def test_srun_with_a_partition_that_does_not_exist(tmp_path: Path) -> None:
    require_slurm()
    proc = cli("detect", "--via", "srun -p no-such-partition -N1", cwd=tmp_path)
    one_clear_line(proc, "`srun -p no-such-partition -N1` failed: srun: error:", "partition")


@pytest.mark.slurm
def test_srun_waiting_past_the_bound_is_cancelled(tmp_path: Path) -> None:
    require_slurm()
    name = f"ct-{uuid.uuid4().hex[:8]}"
    launcher = f"srun -J {name} --begin=now+3600 -N1"
    proc = cli("detect", "--via", launcher, "--timeout", "3", cwd=tmp_path)
    one_clear_line(proc, "gave no answer in 3 s")
    assert processes_with(name) == []  # srun itself is gone
    for _ in range(60):  # slurmctld forgets the cancelled job within seconds
        if not [j for j in squeue_jobs() if name in j]:
            break
        time.sleep(0.5)
    assert not [j for j in squeue_jobs() if name in j]


# -- validate --via --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch_env(session_torch_venv: Path) -> Path:
    """A real virtual environment with torch 2.13.0 (the CPU wheel on this machine's disk)."""
    return session_torch_venv


def sleeping_env(tmp_path: Path, tag: str) -> Path:
    """An environment whose Python hangs as it starts (and has started a child that hangs)."""
    prefix = tmp_path / f"env-{tag}"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "pyvenv.cfg").write_text("home = /usr/bin\n")
    python = prefix / "bin" / "python"
    python.write_text(f"#!/bin/sh\nsleep 600 &\nexec sleep 601 # {tag}\n")
    python.chmod(0o755)
    return prefix


def test_validate_via_runs_the_probe_with_the_environments_python(
    tmp_path: Path, torch_env: Path
) -> None:
    proc = cli("validate", "-p", str(torch_env), "--via", f"env -C {tmp_path}", "--json",
               cwd=tmp_path, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (node,) = json.loads(proc.stdout)["nodes"]
    assert node["host"] == os.uname().nodename and node["gpus"] == []
    checks = {c["id"]: c["status"] for c in node["report"]["checks"]}
    assert checks["torch-import"] == "pass" and checks["device-cpu"] == "pass"
    facts = node["report"]["facts"]
    assert facts["python"]["executable"].startswith(str(torch_env))
    assert facts["python"]["prefix"] == str(torch_env)
    assert facts["torch"]["version"].startswith("2.13.0")


@pytest.mark.slurm
def test_validate_via_srun_reports_the_node(tmp_path: Path, torch_env: Path) -> None:
    require_slurm()
    host = srun_host()
    proc = cli("validate", "-p", str(torch_env), "--via", "srun -N1", cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first.startswith(f"Node {host} (through `srun -N1`, ") and first.endswith("GPUs: none")
    assert f"Validating {torch_env} on node {host} (Python " in proc.stdout
    assert "  pass  torch-import" in proc.stdout and "  pass  device-cpu" in proc.stdout


@pytest.mark.slurm
def test_validate_via_each_node_type(tmp_path: Path, torch_env: Path) -> None:
    require_slurm()
    proc = cli("validate", "-p", str(torch_env), "--via", "srun -N1", "--via",
               "srun -p no-such-partition -N1", cwd=tmp_path, timeout=600)  # fmt: skip
    assert proc.returncode == 1
    assert "FAILED: `srun -p no-such-partition -N1` failed: srun: error:" in proc.stdout
    assert "  pass  torch-import" in proc.stdout
    assert proc.stdout.rstrip().endswith("FAILED: 1 of 2 nodes passed")


@pytest.mark.slurm
def test_validate_via_stops_a_hanging_python_at_the_timeout(tmp_path: Path) -> None:
    require_slurm()
    tag = f"ct-hang-{uuid.uuid4().hex[:8]}"
    prefix = sleeping_env(tmp_path, tag)
    proc = cli("validate", "-p", str(prefix), "--via", f"srun -J {tag} -N1", "--timeout", "3",
               cwd=tmp_path)  # fmt: skip
    one_clear_line(proc, "gave no answer in 3 s", "stopped")
    for _ in range(60):  # the job step's processes go with the cancelled job
        if not processes_with(tag) and not [j for j in squeue_jobs() if tag in j]:
            break
        time.sleep(0.5)
    assert processes_with(tag) == []
    assert not [j for j in squeue_jobs() if tag in j]


# -- doctor --via -----------------------------------------------------------------------------


@pytest.mark.slurm
def test_doctor_via_srun_diagnoses_on_the_node(tmp_path: Path, torch_env: Path) -> None:
    require_slurm()
    host = srun_host()
    proc = cli("doctor", "-p", str(torch_env), "--via", "srun -N1", cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith(f"Node {host} (through `srun -N1`, ")
    assert f"Diagnosis of {torch_env} on node {host}" in proc.stdout
    doc = json.loads(
        cli(
            "doctor", "-p", str(torch_env), "--via", "srun -N1", "--json", cwd=tmp_path, timeout=600
        ).stdout  # fmt: skip
    )
    (node,) = doc["nodes"]
    assert node["host"] == host and doc["success"]
    # the node's picture came back in the same run: no note that it is missing
    assert not [n for n in node["diagnosis"]["notes"] if "gave no picture" in n]


def test_doctor_judges_the_gpu_findings_against_the_node_given(torch_env: Path) -> None:
    """With a report made elsewhere and a node's picture (what --via brings back), the GPU
    findings are the node's: a CPU torch beside the H100 of a real capture is an error, though
    this machine has no GPU."""
    from conda_torch.doctor import diagnose
    from conda_torch.validate import validate
    from conda_torch.values import replace

    from .helpers.paths import FIXTURES, read_fixture

    paths = []
    for rel in ("nvidia-smi/h100-80gb-hbm3-580.159.04-cuda13.0-vm.txt",
                "proc-driver-version/open-580.159.04-x86_64-vm.txt"):  # fmt: skip
        paths.append(torch_env.parent / Path(rel).name)
        paths[-1].write_text(read_fixture(FIXTURES / rel)[1])
    node = detect(from_files=[str(p) for p in paths], environ={})
    assert node.platform.machine == "x86_64"
    # the conda subdir the live detection on that x86_64 Linux node records (detect --via)
    node = replace(node, platform=replace(node.platform, subdir="linux-64"))
    report = validate(python=torch_env / "bin" / "python", prefix=torch_env)
    d = diagnose(prefix=torch_env, machine=node, report=report)
    assert d.report is report
    assert d.finding("cpu-build-on-gpu") is not None
    assert "NVIDIA H100" in d.finding("cpu-build-on-gpu").message


def test_validate_via_one_launcher_that_fails_is_one_line(tmp_path: Path, torch_env: Path) -> None:
    proc = cli("validate", "-p", str(torch_env), "--via", "no-such-launcher-x", cwd=tmp_path)
    one_clear_line(proc, "launcher not found: no-such-launcher-x")
    proc = cli("doctor", "-p", str(torch_env), "--via", "no-such-launcher-x", cwd=tmp_path)
    one_clear_line(proc, "launcher not found: no-such-launcher-x")


def test_answers_survive_a_launcher_that_labels_and_folds_lines(tmp_path: Path) -> None:
    """A launcher that prefixes every line (as ``srun -l`` does) and breaks long ones."""
    launcher = 'sh -c \'"$@" | fold -w 1000 | sed "s/^/0: /"\' launcher'
    machine, run = detect_via(launcher, node_python=sys.executable, timeout=120)
    assert machine.platform.hostname == os.uname().nodename
    assert run.hosts == (os.uname().nodename,)


@pytest.mark.slurm
def test_several_tasks_give_one_report_each(tmp_path: Path, torch_env: Path) -> None:
    require_slurm()
    proc = cli("validate", "-p", str(torch_env), "--via", "srun -n2 -l", "--json", cwd=tmp_path,
               timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    nodes = json.loads(proc.stdout)["nodes"]
    assert len(nodes) == 2 and all(n["success"] for n in nodes)
