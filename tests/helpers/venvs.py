"""Real virtual environments with a real torch, made once per test session.

``torch==2.13.0`` is installed from the CPU wheel that lies on this machine's disk (pip's
find-links folder), so the base environment takes seconds and downloads no torch. Variants are
hard-linked clones of it (``cp -al``: the same files, no copy) plus what each scenario adds,
e.g. PyPI's torchvision 0.28.0, whose compiled operators do not load beside a CPU torch.

The session-scoped fixtures of ``tests/conftest.py`` (``session_torch_venv``, ``vision_venv``,
``mispaired_vision_venv``, ``bare_venv``, ``fake_torch_dir``) call the ``make_*`` functions, so
each environment is made once per session and its cost shows as that fixture's setup; tests
that break an environment clone one (:func:`clone`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TORCH = "2.13.0"
#: PyPI's torchvision for torch 2.13 (a CUDA 13.0 build): beside the CPU torch its ``nms``
#: operator does not register, and ``import torchvision`` raises.
TORCHVISION_FROM_PYPI = "0.28.0"
#: torchvision for torch 2.14 (on this machine's disk too): it does not pair with torch 2.13.
TORCHVISION_MISPAIRED = "0.29.0"

#: The interpreter the venvs are made from (a real one, not a venv's link).
BASE_PYTHON = Path(getattr(sys, "_base_executable", sys.executable))

_PIP_ENV = {
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    "PIP_NO_INPUT": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
}


def _run(cmd: list[str], **kwargs: object) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, **kwargs)  # type: ignore[call-overload]
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )


def run(
    cmd: list[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    check: bool = True,
    cwd: str | os.PathLike[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """A command as a process (its output captured); ``check``: fail the test, showing it."""
    proc = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, env=env, timeout=timeout, cwd=cwd
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def pip(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run([str(python), "-m", "pip", "install", "-q", *args], env={**os.environ, **_PIP_ENV})


def site_packages(prefix: Path) -> Path:
    return prefix / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"


def make_venv(path: Path) -> Path:
    run([str(BASE_PYTHON), "-m", "venv", "--without-pip", str(path)])
    return path


def local_torch_wheel() -> Path | None:
    """The torch 2.13.0 wheel for this Python in pip's find-links folders, if there is one."""
    tag = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    dirs = [d for d in os.environ.get("PIP_FIND_LINKS", "").split() if d] + ["/opt/wheels"]
    for folder in dirs:
        folder = folder.removeprefix("file://")
        for wheel in sorted(Path(folder).glob(f"torch-{TORCH}*-{tag}-{tag}-*.whl")):
            return wheel
    return None


def venv_python(prefix: Path) -> Path:
    return prefix / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def make_torch_venv(factory: pytest.TempPathFactory) -> Path:
    """A venv with torch 2.13.0 (CPU) and its dependencies, nothing else of the stack (the
    ``session_torch_venv`` fixture makes it once per session)."""
    wheel = local_torch_wheel()
    if wheel is None:
        pytest.skip(f"no local torch {TORCH} wheel for this Python (pip find-links)")
    prefix = factory.mktemp("torch-venv") / "env"
    _run([sys.executable, "-m", "venv", str(prefix)])
    _run(
        [
            str(venv_python(prefix)),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-compile",
            "--disable-pip-version-check",
            str(wheel),
        ]
    )
    return prefix


def clone(src: Path, dst: Path) -> Path:
    """A hard-linked copy of an environment (instant; new files added to it stay its own)."""
    try:
        shutil.copytree(src, dst, symlinks=True, copy_function=os.link)
    except OSError:
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst, symlinks=True)
    return dst


def make_vision_venv(
    factory: pytest.TempPathFactory, torch_venv: Path, version: str = TORCHVISION_FROM_PYPI
) -> Path:
    """The torch venv plus PyPI's torchvision (``--no-deps``: torch stays the CPU one)."""
    prefix = clone(torch_venv, factory.mktemp(f"vision-{version}") / "env")
    python = str(venv_python(prefix))
    pip = [python, "-m", "pip", "install", "-q", "--no-compile", "--no-deps"]
    _run([*pip, "--disable-pip-version-check", f"torchvision=={version}"])
    return prefix


def conda_like(factory: pytest.TempPathFactory, torch_venv: Path, key: str) -> Path:
    """A clone of the torch venv that also has ``conda-meta/`` (what conda envs have)."""
    prefix = clone(torch_venv, factory.mktemp(f"conda-{key}") / "env")
    (prefix / "conda-meta").mkdir()
    (prefix / "conda-meta" / "history").write_text("", encoding="utf-8")
    return prefix


def make_bare_venv(factory: pytest.TempPathFactory) -> Path:
    """A venv without pip and without torch (seconds to make)."""
    prefix = factory.mktemp("bare-venv") / "env"
    _run([sys.executable, "-m", "venv", "--without-pip", str(prefix)])
    return prefix


def make_fake_torch_dir(factory: pytest.TempPathFactory) -> Path:
    """A folder holding a package named torch (``__version__ = "0.0.1"``), for PYTHONPATH."""
    folder = factory.mktemp("shadow")
    (folder / "torch").mkdir()
    (folder / "torch" / "__init__.py").write_text('__version__ = "0.0.1"\n', encoding="utf-8")
    return folder


def conda_record(prefix: Path, name: str, version: str, build: str, channel: str) -> Path:
    """A package record as conda writes it to ``conda-meta/NAME-VERSION-BUILD.json``."""
    path = prefix / "conda-meta" / f"{name}-{version}-{build}.json"
    path.write_text(
        json.dumps(
            {
                "name": name,
                "version": version,
                "build": build,
                "build_number": 0,
                "channel": f"https://conda.anaconda.org/{channel}/linux-64",
                "subdir": "linux-64",
                "files": [],
                "depends": [],
            }
        ),
        encoding="utf-8",
    )
    return path
