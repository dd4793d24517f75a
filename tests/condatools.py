"""Find a real conda for the tests that need one; they skip cleanly where there is none.

A conda is looked for through ``CONDA_EXE`` and then ``conda`` on ``PATH``; its base
environment's Python (which can ``import conda``) is found from ``conda info --json``.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

#: The repository root (so subprocesses import this checkout).
ROOT_DIR = Path(__file__).resolve().parents[1]
#: How every skip for want of a conda begins (conftest counts them in the summary).
NO_CONDA = "no conda found"


@dataclass(frozen=True)
class RealConda:
    exe: str
    python: str
    version: str


@functools.cache
def find_conda() -> RealConda | None:
    candidates = [os.environ.get("CONDA_EXE"), shutil.which("conda")]
    for exe in filter(None, candidates):
        try:
            out = subprocess.run(
                [exe, "info", "--json"], capture_output=True, text=True, timeout=60, check=True
            ).stdout
            info = json.loads(out)
        except (OSError, subprocess.SubprocessError, ValueError):
            continue
        root = Path(info.get("root_prefix") or info.get("conda_prefix") or "")
        python = root / ("python.exe" if sys.platform == "win32" else "bin/python")
        if python.exists():
            return RealConda(exe=exe, python=str(python), version=info.get("conda_version", "?"))
    return None


def require_conda() -> RealConda:
    conda = find_conda()
    if conda is None:
        pytest.skip(f"{NO_CONDA} (CONDA_EXE, PATH)")
    return conda
