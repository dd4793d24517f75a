"""Inputs several test modules share: captures of representative machines (written where a
user's file would be), a team's environment file, and facts about this machine read
independently of conda-torch's own detection."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .paths import FIXTURES, read_fixture

#: The four captures of one H100 machine (issue 2's merge example).
H100 = (
    "nvidia-smi/h100-80gb-hbm3-580.159.04-cuda13.0-vm.txt",
    "nvidia-smi-query/csv-full-h100-580.159.04.txt",
    "proc-driver-version/open-580.159.04-x86_64-vm.txt",
    "collect-env/h100-cu130-torch2.11.0-pip.txt",
)


def body(tmp_path: Path, relpath: str) -> str:
    """Write a fixture's verbatim output (without its header) where a user's file would be."""
    out = tmp_path / Path(relpath).name
    out.write_text(read_fixture(FIXTURES / relpath)[1], encoding="utf-8")
    return str(out)


def nvidia_hardware_here() -> bool:
    """Whether this machine has an NVIDIA driver or PCI device (read independently of detect)."""
    if os.path.exists("/proc/driver/nvidia/version"):
        return True
    base = Path("/sys/bus/pci/devices")
    if base.is_dir():
        for dev in base.iterdir():
            try:
                if (dev / "vendor").read_text().strip() == "0x10de":
                    return True
            except OSError:
                continue
    return False


def expected_subdir() -> str:
    """The conda subdir of this interpreter, from the platform module (not detect's code)."""
    import platform

    machine = platform.machine().lower()
    system = {"linux": "linux", "darwin": "osx", "win32": "win"}[sys.platform]
    if machine in ("x86_64", "amd64"):
        return f"{system}-64"
    return f"{system}-{machine}"


#: Representative machines: id -> (captures, --platform when the captures do not show it).
MACHINES: dict[str, tuple[tuple[str, ...], str | None]] = {
    "h100-driver580": (("nvidia-smi/h100-80gb-hbm3-580.159.04-cuda13.0-vm.txt",), "linux-64"),
    "v100-driver580": (("nvidia-smi/v100-sxm2-x2-580.126.09-cuda13.0.txt",), "linux-64"),
    "gtx1080ti-windows": (("nvidia-smi/windows-gtx1080ti-531.14-cuda12.1-quoted.txt",), None),
    "rtx5090": (("nvidia-smi/rtx5090-595.71.05-cuda13.2.txt",), "linux-64"),
    "apple-m1": (
        (
            "apple/sysctl-machdep-cpu-m1-pro.txt",
            "apple/python-platform-platform-macos-12.3.1-arm64.txt",
        ),
        None,
    ),
    "intel-mac": (("apple/sysctl-brand-string-intel-mac.txt",), None),
    "rtx3050-windows": (("nvidia-smi/windows-rtx3050-laptop-546.12-cuda12.3-wddm.txt",), None),
    "cpu-linux": (("conda-info/conda_json-env-ignored-conda23.7.2-linux-no-cuda-aws.txt",), None),
}


def capture_files(folder: Path, key: str) -> list[str]:
    """Each capture's verbatim output (the part after ``# ---``), written into ``folder``."""
    paths = []
    for rel in MACHINES[key][0]:
        path = folder / Path(rel).name
        path.write_text(read_fixture(FIXTURES / rel)[1], encoding="utf-8")
        paths.append(str(path))
    return paths


def machine_args(tmp_path: Path, key: str) -> list[str]:
    folder = tmp_path / "captures"
    folder.mkdir(exist_ok=True)
    args: list[str] = []
    for path in capture_files(folder, key):
        args += ["--from", path]
    if MACHINES[key][1]:
        args += ["--platform", MACHINES[key][1]]
    return args


TEAM = """\
# Our team's environment: keep this comment
name: vision-team  # the team name
channels:
  - pytorch
  - nvidia
  - conda-forge
dependencies:
  # core tools
  - python=3.10
  - numpy>=1.26  # numbers
  # the torch stack
  - pytorch=2.5  # keep in sync with CI
  - torchvision
  - pytorch-cuda=12.1
  # data tools, after torch
  - pandas
  - pip
  - pip:
      - --extra-index-url https://download.pytorch.org/whl/cu121
      - rich  # pretty output
variables:
  MY_FLAG: "on"
"""
