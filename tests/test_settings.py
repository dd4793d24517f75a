"""``.condarc`` settings (``plugins.torch_source``, ``plugins.torch_backend``) change the plan."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .condatools import ROOT_DIR, require_conda, with_plugin


def _generate(
    env_extra: dict[str, str],
    *argv: str,
    python: str = sys.executable,
    prefix: tuple[str, ...] = ("-m", "conda_torch"),
) -> subprocess.CompletedProcess:
    env = {**os.environ, **env_extra}
    env.pop("CONDA_OVERRIDE_CUDA", None)
    return subprocess.run(
        [python, *prefix, "generate", "-o", "-", "--platform", "linux-64", *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT_DIR,
        timeout=120,
    )


def test_default_source_is_conda_forge():
    proc = _generate({})
    assert proc.returncode == 0, proc.stderr
    assert "pytorch=" in proc.stdout and "--index-url" not in proc.stdout


def test_source_setting_from_the_environment_variable():
    proc = _generate({"CONDA_PLUGINS_TORCH_SOURCE": "pip"})
    assert proc.returncode == 0, proc.stderr
    assert "--index-url https://download.pytorch.org/whl/cpu" in proc.stdout
    assert "torch==" in proc.stdout


def test_command_line_beats_the_setting():
    proc = _generate({"CONDA_PLUGINS_TORCH_SOURCE": "pip"}, "--source", "conda-forge")
    assert proc.returncode == 0, proc.stderr
    assert "--index-url" not in proc.stdout


def test_backend_setting_applies_and_gives_the_generic_cuda_file_without_a_gpu():
    """plugins.torch_backend=cuda on a machine without a GPU (a login node, CI): this
    platform's generic CUDA file, with a warning on the terminal instead of an error."""
    proc = _generate({"CONDA_PLUGINS_TORCH_BACKEND": "cuda"})
    assert proc.returncode == 0, proc.stderr
    assert "=cuda" in proc.stdout and "__cuda>=" in proc.stdout
    assert "no NVIDIA GPU or driver was found here" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("value", ["bogus", "conda_forge"], ids=["bogus", "underscore"])
def test_invalid_setting_is_one_clear_line(value):
    proc = _generate({"CONDA_PLUGINS_TORCH_SOURCE": value})
    assert proc.returncode == 1
    assert "plugins.torch_source" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.conda
def test_condarc_setting_inside_conda(tmp_path):
    conda = require_conda()
    condarc = tmp_path / "condarc.yml"
    condarc.write_text("solver: classic\nplugins:\n  torch_source: pip\n")
    proc = _generate(
        with_plugin({"CONDARC": str(condarc)}), python=conda.python, prefix=("-m", "conda", "torch")
    )
    assert proc.returncode == 0, proc.stderr
    assert "--index-url https://download.pytorch.org/whl/cpu" in proc.stdout
