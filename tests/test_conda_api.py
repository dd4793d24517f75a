"""conda_torch.conda_api: the readings made without conda answer as conda's own API does.

conda's answers come from conda's own Python (``History``, ``MatchSpec``,
``locate_prefix_by_name``), run on the same files: a history a real conda wrote while creating,
installing into and removing from an environment (offline, from a local channel), and histories
in the shapes older condas wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import TYPE_CHECKING

import pytest

from conda_torch import conda_api, values

from .helpers.condabox import box_environ, box_layout
from .helpers.paths import ROOT as ROOT_DIR
from .helpers.realconda import require_conda
from .helpers.venvs import run

if TYPE_CHECKING:
    from pathlib import Path

#: Run by conda's Python: conda's reading of each history, our fallback's specs read by conda's
#: MatchSpec (so that ``numpy >=1.20`` and ``numpy>=1.20`` compare equal), and the public
#: ``conda_api`` functions, which use conda's API there.
_CONDA_SIDE = r"""
import json, sys
from conda.history import History
from conda.models.match_spec import MatchSpec
from conda.base.context import context, locate_prefix_by_name
from conda_torch import conda_api, values
assert conda_api.conda_importable()
out = []
for prefix, ours in json.load(sys.stdin):
    try:
        conda = {n: str(s) for n, s in History(prefix).get_requested_specs_map().items()}
    except Exception as exc:  # CorruptedEnvironmentError: conda refuses the environment
        conda = type(exc).__name__
    out.append({
        "conda": conda,
        "ours_read_by_conda": {n: str(MatchSpec(s)) for n, s in ours.items()},
        "adapter": conda_api.requested_specs(prefix),
        "adapter_installed": conda_api.requested_specs(prefix, {"alpha", "python"}),
        "records": [[getattr(r, f.name) for f in values.fields(r)]
                    for r in conda_api.prefix_records(prefix)],
    })
print(json.dumps(out))
"""


def _installed(prefix: Path) -> set[str]:
    """The names of the packages installed, by the file names of their records."""
    return {f.stem.rsplit("-", 2)[0] for f in (prefix / "conda-meta").glob("*-*-*.json")}


def _conda_answers(prefixes: list[Path]) -> list[dict[str, dict[str, str]]]:
    conda = require_conda()
    cases = [[str(p), conda_api.history_requested_specs(p, _installed(p))] for p in prefixes]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONDA_", "_CE_"))}
    proc = subprocess.run(
        [conda.python, "-c", _CONDA_SIDE],
        input=json.dumps(cases), capture_output=True, text=True, timeout=300, check=False,
        env={**env, "PYTHONPATH": str(ROOT_DIR)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def real_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An environment a real conda made and changed: create, install (a series, a range, a
    channel), remove, and an update of a request, from a local offline channel."""
    conda = require_conda()
    base = tmp_path_factory.mktemp("history")
    root, chan, condarc = box_layout(base, "box", "register_envs: false")
    for name, version in (("alpha", "1.0"), ("alpha", "1.1"), ("beta", "2.0"), ("gamma", "1.1.1k")):
        chan.add(name, version)
    chan.add("delta", "2.5.1", "cuda126_0")
    chan.add("delta", "2.5.1", "cpu_0")
    chan.index()
    env = box_environ(root, condarc, chan.pkgs)
    prefix = root / "envs" / "h"
    channel = ["--override-channels", "-c", "conda-forge"]
    for args in (
        ["create", "-p", str(prefix), "alpha=1.0"],
        ["install", "-p", str(prefix), "beta>=2.0,<3", "gamma=1.1.1"],
        ["install", "-p", str(prefix), "conda-forge::delta=2.5.*=cuda*"],
        ["remove", "-p", str(prefix), "beta"],
        ["install", "-p", str(prefix), "alpha >=1.1"],
    ):
        run([conda.exe, *args, "-y", "-q", *channel], env=env, timeout=300)
    return prefix


#: Packages "installed" beside the hand-written histories (conda leaves out what is not).
INSTALLED = ("python", "jupyter", "numpy", "scipy", "pandas", "pytorch", "ignored")


def _hand_written(folder: Path, name: str, text: str) -> Path:
    prefix = folder / name
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "conda-meta" / "history").write_text(text, encoding="utf-8")
    for package in INSTALLED:
        record = {"name": package, "version": "1.0", "build": "0", "build_number": 0}
        (prefix / "conda-meta" / f"{package}-1.0-0.json").write_text(json.dumps(record))
    return prefix


#: Histories in the shapes conda has written over the years (and one a user edited).
HAND_WRITTEN = {
    "old-format": (
        "==> 2017-01-01 10:00:00 <==\n# cmd: conda install python jupyter\n"
        "# install specs: python>=3.5.1,jupyter >=1.0.0,<2.0\n"
    ),
    "neutered-and-removed": (
        "==> 2026-01-01 10:00:00 <==\n# cmd: conda create -n x python=3.11 numpy scipy\n"
        "# conda version: 26.7.1\n# update specs: ['python=3.11', 'numpy', 'scipy']\n"
        "==> 2026-01-02 10:00:00 <==\n# cmd: conda remove scipy\n# remove specs: ['scipy']\n"
        "==> 2026-01-03 10:00:00 <==\n# cmd: conda install numpy=1.26\n"
        "# neutered specs: ['numpy=1.26']\n"
    ),
    "no-cmd-line": (
        "==> 2026-01-01 10:00:00 <==\n# update specs: ['ignored']\n"
        "==> 2026-01-02 10:00:00 <==\n# cmd: conda install pandas<3\n"
        "# update specs: ['pandas<3', 'conda-forge::pytorch=2.5.*=cuda*']\n"
    ),
    "empty": "",
}


def test_history_read_without_conda_answers_as_condas_history(
    real_history: Path, tmp_path: Path
) -> None:
    prefixes = [real_history]
    prefixes += [_hand_written(tmp_path, name, text) for name, text in HAND_WRITTEN.items()]
    answers = _conda_answers(prefixes)
    for prefix, answer in zip(prefixes, answers):
        assert answer["ours_read_by_conda"] == answer["conda"], prefix.name
        assert answer["adapter"] == answer["conda"], prefix.name
        assert answer["adapter_installed"] == {
            n: s for n, s in answer["conda"].items() if n in ("alpha", "python")
        }
    real = answers[0]["conda"]
    assert set(real) == {"alpha", "gamma", "delta"}  # beta was removed; alpha re-requested
    assert set(answers[2]["conda"]) == {"python", "numpy"}  # scipy removed, numpy neutered
    assert set(answers[3]["conda"]) == {"pandas", "pytorch"}  # no "# cmd:": not a request


def test_records_read_without_conda_are_condas_prefix_data(
    real_history: Path, tmp_path: Path
) -> None:
    """``PrefixData`` and the reading of ``conda-meta/*.json`` list the same packages with the
    same facts (doctor's inventory and recreate's extras rest on them)."""
    prefixes = [real_history, _hand_written(tmp_path, "records", "")]
    (prefixes[1] / "conda-meta" / "broken-1.0-0.json").write_text("{not json")
    answers = _conda_answers(prefixes)
    for prefix, answer in zip(prefixes, answers):
        ours = [[getattr(r, f.name) for f in values.fields(r)]
                for r in conda_api.read_prefix_records(prefix)]
        ours = json.loads(json.dumps(ours))  # as the answers came: through JSON
        assert ours == answer["records"], prefix.name
    # conda refuses an environment with a broken record; the adapter still lists the others
    assert answers[1]["conda"] == "CorruptedEnvironmentError"
    assert len(answers[1]["records"]) == len(INSTALLED)
    names = [r[0] for r in answers[0]["records"]]
    assert names == ["alpha", "delta", "gamma"]
    assert answers[0]["records"][1][2] == "cuda126_0"


def test_requested_specs_without_conda_is_the_history_reading(real_history: Path) -> None:
    if conda_api.conda_importable():
        pytest.skip("this interpreter can import conda")
    ours = conda_api.requested_specs(real_history)
    assert ours == conda_api.history_requested_specs(real_history)
    assert conda_api.requested_specs(real_history, {"alpha"}) == {"alpha": ours["alpha"]}
    assert conda_api.locate_prefix_by_name("h") is None


def _conda_activated(prefix: Path, environ: dict[str, str]) -> dict[str, str]:
    """The variables after ``eval "$(conda shell.posix activate PREFIX)"`` in a POSIX shell."""
    conda = require_conda()
    script = 'eval "$("$CONDA_EXE" shell.posix activate "$1")" && env -0'
    proc = subprocess.run(
        ["/bin/sh", "-c", script, "sh", str(prefix)],
        env={**environ, "CONDA_EXE": conda.exe}, capture_output=True, text=True, timeout=120,
        check=True,
    )  # fmt: skip
    return dict(item.split("=", 1) for item in proc.stdout.split("\0") if "=" in item)


@pytest.mark.parametrize("stacked", [False, True], ids=["fresh", "over-another"])
def test_activation_variables_are_condas(real_history: Path, tmp_path: Path, stacked: bool):
    """What :func:`prefix.activated_environ` computes is what conda's activator sets, for the
    variables conda-torch relies on (the environment's ``variables:`` included)."""
    from conda_torch.prefix import activated_environ, path_dirs

    conda = require_conda()
    box = real_history.parents[1]
    env = box_environ(box, box / "condarc.yml", box / "pkgs")
    run([conda.exe, "env", "config", "vars", "set", "-p", str(real_history), "FOO=bar"], env=env)
    base = {
        "PATH": os.pathsep.join(["/usr/bin", "/bin"]), "HOME": str(tmp_path),
        "CONDARC": str(box / "condarc.yml"),
    }  # fmt: skip
    if stacked:
        other = _hand_written(tmp_path, "other", "")
        base |= {"CONDA_PREFIX": str(other), "CONDA_SHLVL": "1", "CONDA_DEFAULT_ENV": "other"}
        base["PATH"] = os.pathsep.join([*path_dirs(str(other)), base["PATH"]])
    theirs = _conda_activated(real_history, base)
    # conda names an environment of its envs dirs by its folder's name; conda-torch passes the
    # name it resolved (-n), and without one labels the prompt with the path
    ours = activated_environ(real_history, name=real_history.name, environ=base)
    for key in ("CONDA_PREFIX", "CONDA_SHLVL", "CONDA_DEFAULT_ENV", "CONDA_PROMPT_MODIFIER",
                "CONDA_PREFIX_1", "FOO"):  # fmt: skip
        assert ours.get(key) == theirs.get(key), key
    root = os.path.dirname(os.path.dirname(conda.exe))
    conda_bins = {os.path.dirname(conda.exe), os.path.join(root, "condabin")}
    theirs_path = [p for p in theirs["PATH"].split(os.pathsep) if p not in conda_bins]
    assert ours["PATH"].split(os.pathsep) == theirs_path


_CONDA_PARSERS = r"""
import argparse, json, sys
from conda.cli.helpers import add_output_and_prompt_options
from conda_torch.cli import _options
out = []
theirs, ours = argparse.ArgumentParser(), argparse.ArgumentParser()
add_output_and_prompt_options(theirs)
_options.declare_output_and_prompt_options(ours)
def flags(p):
    return sorted(s for a in p._actions for s in a.option_strings if s not in ("-h", "--help"))
for argv in json.load(sys.stdin):
    seen = []
    for parser in (theirs, ours):
        ns = parser.parse_args(argv)
        seen.append([bool(ns.json), bool(ns.dry_run), bool(ns.yes), bool(ns.quiet),
                     int(ns.verbosity or 0)])
    out.append(seen)
print(json.dumps({"answers": out, "theirs": flags(theirs), "ours": flags(ours)}))
"""


def test_output_and_prompt_options_are_declared_as_conda_declares_them() -> None:
    conda = require_conda()
    argvs = [[], ["--json"], ["-d", "-y"], ["--dry-run", "--yes", "--json", "-q"], ["-vv"],
             ["--verbose", "-d"]]  # fmt: skip
    proc = subprocess.run(
        [conda.python, "-c", _CONDA_PARSERS], input=json.dumps(argvs), capture_output=True,
        text=True, timeout=120, check=False, env={**os.environ, "PYTHONPATH": str(ROOT_DIR)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout)
    assert set(doc["ours"]) <= set(doc["theirs"])
    assert set(doc["theirs"]) - set(doc["ours"]) <= {"--console", "--debug", "--trace"}
    for argv, (theirs, ours) in zip(argvs, doc["answers"]):
        assert ours == theirs, argv
