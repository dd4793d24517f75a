"""conda-lock reads the files ``generate`` writes, and the ``Lock:`` header line is true.

Runs the real conda-lock (a test dependency, no network needed): its environment.yml parser,
its own MatchSpec, its default virtual packages and its ``lock`` command's option parser.
Every committed ``environments/`` file, every golden file and one file per source are checked.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from conda_torch import envfile
from conda_torch.cli import main

from .conftest import ROOT
from .test_envfile import TEAM

# conda_lock.conda_lock first: importing a submodule alone hits a circular import (4.0.3).
cl = pytest.importorskip("conda_lock.conda_lock")
from conda_lock._vendor.conda.models.match_spec import MatchSpec  # noqa: E402
from conda_lock.src_parser.environment_yaml import parse_environment_file  # noqa: E402

GOLDEN = Path(__file__).parent / "data" / "golden"
FILES = sorted((ROOT / "environments").glob("*.yml")) + sorted(GOLDEN.glob("*.yml"))
#: conda-lock maps pip names to conda names from a file it downloads; an empty local one
#: (names map to themselves) keeps the tests offline.
MAPPING: list[str] = []


@pytest.fixture(autouse=True, scope="module")
def _offline_mapping(tmp_path_factory):
    path = tmp_path_factory.mktemp("conda-lock") / "pypi-mapping.json"
    path.write_text("{}", encoding="utf-8")
    MAPPING[:] = [str(path)]


def _generated(tmp_path: Path, name: str, *argv: str) -> Path:
    out = tmp_path / name
    assert main(["generate", *argv, "-o", str(out)]) == 0
    return out


@pytest.fixture
def sources(tmp_path: Path, capsys) -> list[Path]:
    """One file per source and backend kind, for the platforms that have them."""
    files = [
        _generated(tmp_path, "cf-cpu.yml", "--platform", "linux-64"),
        _generated(tmp_path, "pip-cpu.yml", "--platform", "linux-64", "--source", "pip"),
        _generated(tmp_path, "pt-cpu.yml", "--platform", "linux-64", "--source", "pytorch"),
        _generated(tmp_path, "osx.yml", "--platform", "osx-arm64"),
    ]
    capsys.readouterr()
    return files


def _header(path: Path) -> tuple[str, str]:
    """The platform the file is for, and its ``Lock:`` line (continuation lines joined)."""
    text = path.read_text(encoding="utf-8")
    subdir = re.search(r"^# (?:Generated|Specialized) by .* for (\S+)\.$", text, re.M)
    assert subdir, f"{path.name}: no platform in the header"
    lock = re.search(r"^# Lock: (.*(?:\n#       .*)*)", text, re.M)
    assert lock, f"{path.name}: no Lock: line in the header"
    parts = (part.lstrip("# ").strip() for part in lock.group(1).split("\n"))
    return subdir.group(1), " ".join(parts)


def _check(path: Path) -> None:
    subdir, lock = _header(path)
    doc = envfile.loads(path.read_text(encoding="utf-8"), str(path))
    conda_specs = [d for d in doc.dependencies if isinstance(d, str)]
    if lock.startswith("not with conda-lock"):
        # What the header says: conda-lock reads pip's option lines as packages. Should a
        # conda-lock release learn them, this fails and the header must change.
        assert any(line.startswith("--") for line in doc.pip or ())
        with pytest.raises(Exception, match="package name"):
            parse_environment_file(path, [subdir], mapping_url=MAPPING[0])
        return

    spec = parse_environment_file(path, [subdir], mapping_url=MAPPING[0])
    seen = {d.name: d for d in spec.dependencies[subdir] if d.manager == "conda"}
    assert set(seen) == {envfile.conda_name(s) for s in conda_specs}
    assert [c.url for c in spec.channels] == list(doc.data.get("channels") or [])
    for text in conda_specs:
        ours = MatchSpec(text)
        theirs = seen[ours.name]
        assert theirs.build == ours.get("build"), text
        if ours.name == "pytorch" and ours.get("build"):
            assert theirs.version == str(ours.version), text  # an exact version, not a series

    argv = shlex.split(lock)
    assert argv[:4] == ["conda-lock", "lock", "-f", "THIS_FILE"]
    argv[3] = str(path)
    ctx = cl.lock.make_context("lock", argv[2:])  # conda-lock's own option parser
    assert ctx.params["platform"] == (subdir,)
    cuda = ctx.params["with_cuda"]
    needs = next((MatchSpec(s) for s in conda_specs if s.startswith("__cuda")), None)
    if needs is None:
        assert cuda in (None, "")  # --without-cuda, or nothing on macOS
        assert "--without-cuda" in argv or subdir.startswith("osx-")
        return
    # conda-lock's virtual __cuda is --with-cuda's value: it must meet the file's own __cuda.
    assert needs.match({"name": "__cuda", "version": cuda, "build": "0", "build_number": 0})
    # ...which its default (what the header warns about) does not.
    default = _default_cuda(subdir)
    assert not needs.match({"name": "__cuda", "version": default, "build": "0", "build_number": 0})


def _default_cuda(subdir: str) -> str:
    from importlib.resources import files

    from ruamel.yaml import YAML

    text = (files("conda_lock") / "default-virtual-packages.yaml").read_text(encoding="utf-8")
    return str(YAML(typ="safe").load(text)["subdirs"][subdir]["packages"]["__cuda"])


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_committed_and_golden_files(path: Path):
    _check(path)


def test_one_file_per_source(sources: list[Path]):
    kinds = []
    for path in sources:
        _check(path)
        kinds.append(_header(path)[1].split(" ")[0])
    assert kinds == ["conda-lock", "not", "conda-lock", "conda-lock"]


def test_cuda_files_are_among_those_checked():
    assert any("--with-cuda" in _header(p)[1] for p in FILES)
    assert _default_cuda("linux-64") == "11.4"  # why the header passes --with-cuda


@pytest.mark.parametrize(
    ("pip_lines", "lockable"),
    [
        (["rich  # pretty output"], True),
        (["rich", "-e ."], True),  # conda-lock skips -e lines with a warning
        (["--extra-index-url https://pypi.example.org/simple", "rich"], False),
        (["--pre", "rich"], False),
    ],
    ids=["plain", "editable", "own-index", "pre"],
)
def test_a_teams_file_keeps_its_pip_lines_and_the_header_follows(
    tmp_path: Path, capsys, pip_lines: list[str], lockable: bool
):
    team = TEAM.replace(
        "      - --extra-index-url https://download.pytorch.org/whl/cu121\n"
        "      - rich  # pretty output\n",
        "".join(f"      - {line}\n" for line in pip_lines),
    )
    assert team != TEAM
    src = tmp_path / "team.yml"
    src.write_text(team, encoding="utf-8")
    out = tmp_path / "mine.yml"
    argv = ["generate", "-f", str(src), "--platform", "linux-64", "--torch", "2.9"]
    assert main([*argv, "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert ("Lock it with:   conda-lock lock -f " in printed) is lockable
    assert _header(out)[1].startswith("conda-lock lock") is lockable
    _check(out)
