"""The plugin entry point stays light: conda imports it on every ``conda`` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from .helpers.paths import ROOT as ROOT_DIR
from .helpers.realconda import plugin_environ, require_conda

#: Modules that must never be loaded by importing the plugin (or configuring its parser).
HEAVY = (
    "ruamel",
    "ruamel.yaml",
    "packaging",
    "packaging.version",
    "packaging.specifiers",
    "torch",
    "requests",
    "xml",
    "ctypes",
)

#: What importing the plugin may add to the modules of ``conda_torch`` itself.
PLUGIN_MODULES = {"conda_torch", "conda_torch._version", "conda_torch.plugin"}


def _run(python: str, code: str, *, path: list[str] | None = None) -> dict:
    env = None
    if path is not None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    proc = subprocess.run(
        [python, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT_DIR,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


GUARD = """
    import json, sys
    import conda.plugins
    before = set(sys.modules)
    import conda_torch.plugin
    added = sorted(set(sys.modules) - before)
    print(json.dumps({"added": added}))
"""

PARSER_GUARD = """
    import argparse, json, sys
    import conda.plugins
    before = set(sys.modules)
    from conda_torch.cli import configure_parser
    configure_parser(argparse.ArgumentParser(prog="conda torch"))
    added = sorted(set(sys.modules) - before)
    print(json.dumps({"added": added}))
"""


@pytest.fixture
def stand_in_conda(tmp_path):
    """A stand-in ``conda.plugins`` exposing only ``hookimpl`` (pluggy), for CI without conda."""
    pkg = tmp_path / "conda" / "plugins"
    pkg.mkdir(parents=True)
    (tmp_path / "conda" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("import pluggy\nhookimpl = pluggy.HookimplMarker('conda')\n")
    return [str(tmp_path), str(ROOT_DIR)]


def _heavy(added: list[str]) -> list[str]:
    return [m for m in added if m in HEAVY or m.split(".")[0] in ("ruamel", "packaging", "torch")]


def test_plugin_import_is_light_without_conda(stand_in_conda):
    added = _run(sys.executable, GUARD, path=stand_in_conda)["added"]
    assert _heavy(added) == []
    assert {m for m in added if m.startswith("conda_torch")} == PLUGIN_MODULES


def test_configure_parser_is_light(stand_in_conda):
    """conda builds every plugin's parser on every command: that must stay cheap too."""
    added = _run(sys.executable, PARSER_GUARD, path=stand_in_conda)["added"]
    assert _heavy(added) == []
    library = {
        m for m in added if m.startswith("conda_torch.") and not m.startswith("conda_torch.cli")
    }
    assert library <= {"conda_torch._version", "conda_torch.constants"}, library


@pytest.mark.conda
def test_plugin_import_is_light_with_real_conda():
    conda = require_conda()
    added = _run(conda.python, GUARD, path=[str(ROOT_DIR)])["added"]
    assert set(added) == PLUGIN_MODULES


@pytest.mark.conda
def test_hooks_yield_records_with_real_conda():
    conda = require_conda()
    out = _run(
        conda.python,
        """
        import json
        from conda_torch import plugin
        subs = {s.name: s for s in plugin.conda_subcommands()}
        settings = sorted(s.name for s in plugin.conda_settings())
        print(json.dumps({"subs": sorted(subs), "settings": settings,
                          "configure": subs["torch"].configure_parser is not None}))
    """,
        path=[str(ROOT_DIR)],
    )
    assert out["subs"] == ["torch"]
    assert out["configure"] is True
    assert "torch_source" in out["settings"]


@pytest.mark.conda
def test_conda_torch_help_lists_subcommands_with_real_conda(tmp_path):
    conda = require_conda()
    proc = subprocess.run(
        [conda.exe, "torch", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env=plugin_environ(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    from conda_torch.cli import SUBCOMMANDS

    for name in SUBCOMMANDS:
        assert name in proc.stdout


SPECIFIER_GUARD = """
    import json, sys
    import conda.plugins
    try:  # conda's own specifiers load its plugin types before any plugin's hook runs
        import conda.plugins.types
    except ImportError:  # the stand-in
        pass
    from conda_torch import plugin
    before = set(sys.modules)
    specs = list(plugin.conda_environment_specifiers())
    added = sorted(set(sys.modules) - before)
    print(json.dumps({"added": added, "names": [s.name for s in specs],
                      "detect": [s.environment_spec.detection_supported for s in specs]}))
"""


def test_environment_specifier_hook_is_light_without_conda(stand_in_conda):
    """A conda without the specifier API (older than 25.5): the hook yields nothing."""
    out = _run(sys.executable, SPECIFIER_GUARD, path=stand_in_conda)
    assert out["names"] == [] and out["added"] == []


@pytest.mark.conda
def test_environment_specifier_hook_is_light_with_real_conda():
    """conda calls this hook while building most parsers (``--format`` choices, help)."""
    conda = require_conda()
    out = _run(conda.python, SPECIFIER_GUARD, path=[str(ROOT_DIR)])
    assert out["names"] == ["conda-torch"]
    assert out["detect"] == [False]  # only with --format conda-torch
    assert _heavy(out["added"]) == []
    assert {m for m in out["added"] if m.startswith("conda_torch")} == {"conda_torch.envspec"}


# -- the stand-alone commands' start-up ----------------------------------------------------------

#: A real paste (collect_env with torch's driver warning), the one bench/paste.py times.
PASTE = ROOT_DIR / "tests/data/reports/driver_too_old-pytorch-112553-collect-env-cu121-driver470.txt"

#: command -> (modules it must not load, its cli module). What each would cost (DESIGN.md,
#: "Start-up time"): typing 3 ms; dataclasses (with copy and inspect: ast, dis, tokenize; the
#: library's values are conda_torch.values classes); difflib (only for "did you mean", on an
#: error); ruamel and packaging (YAML and PEP 440: a team file, validate; ranking builds);
#: xml.etree (only an XML capture); platform (os.uname answers); pathlib (doctor's reading of a
#: prefix, not a paste); fleet (only --node: conda_torch.prepare imports it there). Live
#: detection loads no capture reader (detect.captures: only when NVML and libcuda fail), and a
#: paste no live probe (detect.live and the probes it runs), nor the file format (envfile: the
#: fix is planned, not written).
#: shutil (with bz2, lzma, fnmatch): argparse's formatter asks it for the terminal's width, on
#: every add_argument (cli.help_formatter answers without it).
LIGHT = ("dataclasses", "inspect", "ast", "dis", "tokenize", "difflib", "ruamel", "xml", "platform",
         "pathlib")  # fmt: skip
#: What no paste reading or build ranking needs (plan ranks by models.version_tuple).
NO_RANKING_IMPORTS = ("typing", "packaging", "shutil", "bz2", "lzma")
START_UP = {
    "detect": (
        (*LIGHT, "typing", "packaging", "conda", "json", "datetime", "conda_torch.matrix",
         "conda_torch.detect.captures"),
        "main_detect",
    ),
    "matrix --torch 2.9.1 --json": (
        (*LIGHT, *NO_RANKING_IMPORTS, "conda", "conda_torch.detect", "conda_torch.machine"),
        "main_matrix",
    ),
    "generate -o -": (
        (*LIGHT, "typing", "packaging", "tempfile", "conda_torch.doctor", "conda_torch.fleet"),
        "main_generate",
    ),
    "doctor --from PASTE": (
        (*LIGHT, *NO_RANKING_IMPORTS, "conda_torch.doctor", "conda_torch.detect.live",
         "conda_torch.detect.nvidia", "conda_torch.envfile"),
        "main_doctor",
    ),
}

LOADED = """
    import io, runpy, sys, contextlib
    sys.argv = ["conda-torch", *sys.argv[1:]]
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            runpy.run_module("conda_torch", run_name="__main__")
        except SystemExit as exc:
            code = exc.code
    modules = sorted(sys.modules)
    import json
    print(json.dumps({"code": code, "modules": modules}))
"""


@pytest.mark.parametrize("command", list(START_UP))
def test_command_start_up_loads_nothing_it_does_not_use(command):
    """What a command loads decides most of its time (no timing here: bench/ measures it)."""
    args = [str(PASTE) if word == "PASTE" else word for word in command.split()]
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(LOADED), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT_DIR)},
        cwd=ROOT_DIR,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["code"] in (0, 1), proc.stderr  # doctor exits 1: the paste shows a problem
    modules = set(out["modules"])
    forbidden, cli_module = START_UP[command]
    assert sorted(m for m in modules if m in forbidden or m.split(".")[0] in forbidden) == []
    # the stand-alone CLI builds (and imports) only the subcommand it runs
    assert {m for m in modules if m.startswith("conda_torch.cli.main_")} == {
        f"conda_torch.cli.{cli_module}"
    }


@pytest.mark.parametrize("columns", [None, "120", "45", "0", "-3", "wide"])
def test_help_width_is_shutils_without_importing_it(monkeypatch, columns):
    """argparse's formatter asks shutil for the terminal's width on every add_argument; the
    CLI's formatter computes the same width without importing shutil (DESIGN.md)."""
    import argparse
    import shutil

    from conda_torch.cli import _terminal_columns, help_formatter

    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert _terminal_columns() == shutil.get_terminal_size().columns
    ours = help_formatter()("prog")
    theirs = argparse.HelpFormatter("prog")
    assert (ours._width, ours._max_help_position) == (theirs._width, theirs._max_help_position)
