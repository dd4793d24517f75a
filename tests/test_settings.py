"""``.condarc`` settings (``plugins.torch_source``, ``plugins.torch_backend``) change the plan."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .helpers.paths import ROOT as ROOT_DIR
from .helpers.realconda import plugin_environ, require_conda


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


def _inside_conda(tmp_path, condarc_text: str) -> subprocess.CompletedProcess:
    """``python -m conda torch generate`` (the plugin, inside conda) with this condarc."""
    conda = require_conda()
    condarc = tmp_path / "condarc.yml"
    condarc.write_text(condarc_text)
    env = plugin_environ(tmp_path, {"CONDARC": str(condarc)})
    return _generate(env, python=conda.python, prefix=("-m", "conda", "torch"))


def test_condarc_setting_inside_conda(tmp_path):
    proc = _inside_conda(tmp_path, "solver: classic\nplugins:\n  torch_source: pip\n")
    assert proc.returncode == 0, proc.stderr
    assert "--index-url https://download.pytorch.org/whl/cpu" in proc.stdout


def test_default_python_inside_conda(tmp_path):
    """conda's own ``default_python``, set in a .condarc, is the plan's Python."""
    proc = _inside_conda(tmp_path, "solver: classic\ndefault_python: '3.11'\n")
    assert proc.returncode == 0, proc.stderr
    assert "  - python=3.11\n" in proc.stdout
    assert "conda's default_python setting" in proc.stdout
    # conda's built-in default (its own Python) is not a request: the usual newest Python
    proc = _inside_conda(tmp_path, "solver: classic\n")
    assert proc.returncode == 0, proc.stderr
    assert "  - python=3.11\n" not in proc.stdout


def test_default_python_standalone_and_unsupported():
    proc = _generate({"CONDA_DEFAULT_PYTHON": "3.12"})
    assert proc.returncode == 0, proc.stderr
    assert "  - python=3.12\n" in proc.stdout
    # a Python the release does not support: the usual choice, and the header says why
    proc = _generate({"CONDA_DEFAULT_PYTHON": "2.7"})
    assert proc.returncode == 0, proc.stderr
    assert "  - python=2.7" not in proc.stdout
    header = " ".join(proc.stdout.replace("#", " ").split())
    assert "default_python 2.7 is not one torch" in header
    bad = _generate({"CONDA_DEFAULT_PYTHON": "three"})
    assert bad.returncode == 1 and "default_python" in bad.stderr
    assert "Traceback" not in bad.stderr
