"""Find a real conda for the tests that need one; they skip cleanly where there is none.

A conda is looked for through ``CONDA_EXE`` and then ``conda`` on ``PATH``; its base
environment's Python (which can ``import conda``) is found from ``conda info --json``.

That conda need not have conda-torch installed: :func:`plugin_environ` gives a subprocess's
environment the checkout and, where that conda has no conda-torch plugin, a minimal
``conda_torch-0.dev0.dist-info`` (its ``conda`` entry point) on ``PYTHONPATH``, which is how
conda finds plugins (it reads the entry points of every distribution on its path), without
installing anything into that conda.
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

from .paths import ROOT

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


@functools.cache
@functools.cache
def _plugin_registered(conda: RealConda) -> bool:
    """Whether the conda found already has conda-torch installed as a plugin (asked once)."""
    proc = subprocess.run(
        [conda.exe, "torch", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    return proc.returncode == 0


@functools.cache
def _plugin_dir(base: str) -> str:
    """A folder holding only ``conda_torch-0.dev0.dist-info`` whose entry point is conda-torch's
    plugin: on ``PYTHONPATH`` beside the checkout, conda (which finds plugins through
    ``importlib.metadata``) loads this checkout's plugin, and nothing is installed into conda."""
    folder = Path(base) / "conda-torch-plugin"
    info = folder / "conda_torch-0.dev0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: conda-torch\nVersion: 0.dev0\n")
    (info / "entry_points.txt").write_text("[conda]\nconda-torch = conda_torch.plugin\n")
    return str(folder)


def plugin_environ(base: Path, environ: dict[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default: ours) with this checkout importable by conda's Python and, where
    the conda found has no conda-torch plugin installed, registered as one (``conda torch ...``,
    ``conda env create --format conda-torch``)."""
    conda = require_conda()
    env = dict(os.environ if environ is None else environ)
    paths = [str(ROOT)]
    if not _plugin_registered(conda):
        paths.append(_plugin_dir(str(base)))
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env
