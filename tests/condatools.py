"""Find a real conda for the tests that need one; they skip cleanly where there is none.

A conda is looked for through ``CONDA_EXE`` and then ``conda`` on ``PATH``; its base
environment's Python (which can ``import conda``) is found from ``conda info --json``.

That conda need not have conda-torch installed: :func:`with_plugin` gives a subprocess's
environment the checkout and a copy of this Python's own conda-torch metadata (its ``conda``
entry point) on ``PYTHONPATH``, which is how conda finds the plugin (it reads the entry points
of every distribution on its path), without installing anything into that conda.
"""

from __future__ import annotations

import atexit
import functools
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Mapping

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


@functools.cache
def _plugin_metadata() -> str | None:
    """A folder holding a copy of this Python's conda-torch metadata, or None if not installed.

    README's test command installs the checkout (``pip install -e .``), so the metadata is the
    one pip wrote: ``METADATA`` and ``entry_points.txt`` with the ``conda`` entry point.
    """
    try:
        dist = importlib.metadata.distribution("conda-torch")
    except importlib.metadata.PackageNotFoundError:
        return None
    folder = Path(tempfile.mkdtemp(prefix="conda-torch-plugin-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    info = folder / f"conda_torch-{dist.version}.dist-info"
    info.mkdir()
    for name in ("METADATA", "entry_points.txt"):
        (info / name).write_text(dist.read_text(name) or "", encoding="utf-8")
    return str(folder)


def with_plugin(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` with this checkout on ``PYTHONPATH`` as a conda plugin, for a real conda.

    Skips where this Python has no conda-torch metadata to give conda (the checkout is not
    installed: ``pip install -e .``).
    """
    metadata = _plugin_metadata()
    if metadata is None:
        pytest.skip(
            "conda-torch is not installed in this Python (pip install -e .), so a real "
            "conda cannot find it as a plugin"
        )
    path = [str(ROOT_DIR), metadata, *filter(None, [environ.get("PYTHONPATH")])]
    return {**environ, "PYTHONPATH": os.pathsep.join(path)}
