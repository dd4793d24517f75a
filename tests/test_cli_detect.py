"""``python -m conda_torch detect``, run as a user runs it: a separate process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conda_torch.machine import SCHEMA

from .helpers.cli import cli
from .helpers.paths import FIXTURES, read_fixture
from .helpers.samples import H100, body, expected_subdir, nvidia_hardware_here


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CONDA_OVERRIDE_CUDA", "CUDA_VISIBLE_DEVICES")
    }
    full.update(env or {})
    return cli("detect", *args, env=full, cwd=cwd, timeout=120)


def fits_80_columns(text: str) -> bool:
    return all(len(line) <= 80 for line in text.splitlines())


def test_help_lists_the_options():
    done = cli("detect", "--help", timeout=60)
    assert done.returncode == 0
    for option in (
        "--json",
        "--from",
        "--platform",
        "--driver",
        "--cuda",
        "--gpu",
        "--no-nvidia-smi",
        "--verbose",
    ):
        assert option in done.stdout


def test_live_human_output():
    done = run()
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert fits_80_columns(out)
    assert out.splitlines()[2].startswith("Platform")
    assert expected_subdir() in out
    assert "from: " in out
    if not nvidia_hardware_here() and sys.platform == "linux":
        assert "Not found:" in out
        assert "/proc/driver/nvidia/version absent" in out
        assert "NVML, libcuda and nvidia-smi not tried" in out


def test_live_verbose_shows_every_source_and_probe():
    done = run("-v")
    assert done.returncode == 0, done.stderr
    assert fits_80_columns(done.stdout)
    assert f"subdir = {expected_subdir()}  [" in done.stdout
    assert "Probes:" in done.stdout
    assert " ms  platform: " in done.stdout


def test_live_json():
    done = run("--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["schema"] == SCHEMA
    assert data["mode"] == "live"
    assert data["platform"]["subdir"] == expected_subdir()
    assert data["platform"]["sources"]["subdir"]
    assert {p["name"] for p in data["probes"]} >= {"platform", "nvidia: NVML"}
    if not nvidia_hardware_here():
        assert data["nvidia"] is None


def test_override_shows_in_json_and_text():
    done = run("--json", env={"CONDA_OVERRIDE_CUDA": "12.6"})
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["nvidia"]["cuda_version"] == "12.6"
    assert data["nvidia"]["sources"]["cuda_version"] == "CONDA_OVERRIDE_CUDA"
    assert data["overrides"] == {"CONDA_OVERRIDE_CUDA": "12.6"}
    text = run(env={"CONDA_OVERRIDE_CUDA": "12.6"}).stdout
    assert "supports CUDA up to 12.6" in text and "CONDA_OVERRIDE_CUDA=12.6" in text


def test_from_h100_captures(tmp_path: Path):
    files = [body(tmp_path, p) for p in H100]
    done = run("--from", *files, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert fits_80_columns(out)
    assert out.startswith("Picture built from 4 captured outputs")
    assert "driver 580.159.04 (open), supports CUDA up to 13.0" in out
    assert "NVIDIA H100 80GB HBM3" in out
    assert "compute capability 9.0, 81559 MiB, MIG disabled" in out
    assert "torch 2.11.0+cu130 (CUDA 13.0)" in out
    assert "torchvision 0.26.0, torchaudio 2.11.0" in out
    assert "(inferred from name)" not in out
    for f in files:
        assert Path(f).name in out


def test_from_repeated_flag_equals_one_flag_with_many_files(tmp_path: Path):
    files = [body(tmp_path, p) for p in H100]
    one = json.loads(run("--json", "--from", *files).stdout)
    repeated = json.loads(run("--json", *[x for f in files for x in ("--from", f)]).stdout)
    assert one["nvidia"] == repeated["nvidia"]
    assert one["inputs"] == repeated["inputs"] == files


def test_from_table_marks_inferred_compute_capability(tmp_path: Path):
    f = body(tmp_path, "nvidia-smi/k80-410.104-cuda10.0-gce.txt")
    done = run("--from", f)
    assert done.returncode == 0, done.stderr
    assert "Tesla K80" in done.stdout
    data = json.loads(run("--json", "--from", f).stdout)
    (gpu,) = data["nvidia"]["gpus"]
    if gpu["compute_capability"] is not None:  # conda_torch.detect.gpu_names filled it
        assert gpu["compute_capability_inferred"] is True
        assert f"compute capability {gpu['compute_capability']} (inferred from name)" in done.stdout


def test_describe_flags(tmp_path: Path):
    done = run(
        "--json",
        "--platform",
        "linux-64",
        "--driver",
        "550.54.15",
        "--cuda",
        "12.4",
        "--gpu",
        "GeForce GTX 1080 Ti=6.1",
        "--gpu",
        "NVIDIA H100 80GB HBM3",
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["platform"]["subdir"] == "linux-64"
    nv = data["nvidia"]
    assert (nv["driver_version"], nv["cuda_version"]) == ("550.54.15", "12.4")
    first, second = nv["gpus"]
    assert (first["name"], first["compute_capability"], first["compute_capability_inferred"]) == (
        "GeForce GTX 1080 Ti",
        "6.1",
        False,
    )
    assert second["name"] == "NVIDIA H100 80GB HBM3"
    assert data["overrides"]["--gpu"] == "GeForce GTX 1080 Ti=6.1; NVIDIA H100 80GB HBM3"
    text = run("--platform", "linux-64", "--gpu", "GeForce GTX 1080 Ti=6.1").stdout
    assert "compute capability 6.1" in text and "GeForce GTX 1080 Ti" in text


# -- bad input: one clear line, non-zero exit, no traceback ----------------------------------


def _bad(tmp_path: Path) -> dict[str, tuple[list[str], dict[str, str], str]]:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    binary = tmp_path / "binary.bin"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 16)
    huge = tmp_path / "huge.txt"
    with open(huge, "wb") as fh:
        fh.truncate(100 * 1024 * 1024)  # sparse: costs no disk
    unknown = tmp_path / "unknown.txt"
    unknown.write_text("Hello,\nmy torch does not see the GPU.\n")
    cut = tmp_path / "cut.txt"
    cut.write_text(read_fixture(FIXTURES / "nvidia-smi/rtx4070-550.40.07-cuda12.4.txt")[1][:30])
    good = body(tmp_path, "nvidia-smi/rtx4070-550.40.07-cuda12.4.txt")
    return {
        "empty": (["--from", str(empty)], {}, str(empty)),
        "binary": (["--from", str(binary)], {}, str(binary)),
        "huge-100MB": (["--from", str(huge)], {}, str(huge)),
        "unrecognised": (["--from", str(unknown)], {}, str(unknown)),
        "truncated": (["--from", str(cut)], {}, str(cut)),
        "directory": (["--from", str(tmp_path)], {}, str(tmp_path)),
        "missing": (["--from", str(tmp_path / "missing.txt")], {}, str(tmp_path / "missing.txt")),
        "bad-after-good": (["--from", good, "--from", str(empty)], {}, str(empty)),
        "override-abc": ([], {"CONDA_OVERRIDE_CUDA": "abc"}, "CONDA_OVERRIDE_CUDA"),
        "override-12.x": ([], {"CONDA_OVERRIDE_CUDA": "12.x"}, "CONDA_OVERRIDE_CUDA"),
        "override--1": ([], {"CONDA_OVERRIDE_CUDA": "-1"}, "CONDA_OVERRIDE_CUDA"),
        "override-with-files": (
            ["--from", good],
            {"CONDA_OVERRIDE_CUDA": "twelve"},
            "CONDA_OVERRIDE_CUDA",
        ),
        "platform": (["--platform", "linux-arm64"], {}, "linux-arm64"),
        "driver": (["--driver", "newest"], {}, "--driver"),
        "cuda": (["--cuda", "12"], {}, "--cuda"),
        "gpu-cc": (["--gpu", "GeForce GTX 1080 Ti=sm_61"], {}, "sm_61"),
    }


BAD_CASES = [
    "empty",
    "binary",
    "huge-100MB",
    "unrecognised",
    "truncated",
    "directory",
    "missing",
    "bad-after-good",
    "override-abc",
    "override-12.x",
    "override--1",
    "override-with-files",
    "platform",
    "driver",
    "cuda",
    "gpu-cc",
]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_is_one_clear_line(tmp_path: Path, case: str):
    args, env, named = _bad(tmp_path)[case]
    done = run(*args, env=env)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert lines, "no message"
    assert named in lines[0]
    assert all(ln.startswith("Hint: ") for ln in lines[1:])
    assert done.stdout == ""


@pytest.mark.parametrize("case", ["empty", "override-abc"])
def test_bad_input_with_json_prints_a_json_error(tmp_path: Path, case: str):
    args, env, named = _bad(tmp_path)[case]
    done = run("--json", *args, env=env)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    data = json.loads(done.stdout)
    assert data["success"] is False
    assert named in data["message"]


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads chmod 000 files"
)
def test_unreadable_file(tmp_path: Path):
    f = Path(body(tmp_path, "nvidia-smi/rtx4070-550.40.07-cuda12.4.txt"))
    f.chmod(0)
    try:
        done = run("--from", str(f))
    finally:
        f.chmod(0o644)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "permission denied" in done.stderr
