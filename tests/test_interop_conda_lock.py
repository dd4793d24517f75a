"""conda-lock reads the files ``generate`` writes, and the ``Lock:`` header line is true.

Runs the real conda-lock (a test dependency, no network needed): its environment.yml parser,
its own MatchSpec, its default virtual packages and its ``lock`` command's option parser.
Every committed ``environments/`` file, every golden file, one file per source and a team's
file with its own pip lines are checked. Where a conda is found (``CONDA_EXE`` / ``PATH``),
conda-lock also locks for real through it, over a local channel.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conda_torch import envfile, specs
from conda_torch.cli import main

from .helpers.paths import ROOT
from .helpers.samples import TEAM

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


PIP_BLOCKED = "not as it is: conda-lock reads pip's option lines"
VIRTUAL_BLOCKED = "not as it is: conda-lock fails on a virtual package"


def _cuda_of(conda_specs: list[str]) -> str | None:
    """The CUDA the file's build is for: cuda-version, pytorch-cuda or cudatoolkit's pin."""
    for text in conda_specs:
        if specs.conda_name(text) in ("cuda-version", "pytorch-cuda", "cudatoolkit"):
            return str(MatchSpec(text).version).rstrip("*").rstrip(".")
    return None


def _check(path: Path) -> None:
    subdir, lock = _header(path)
    doc = envfile.loads(path.read_text(encoding="utf-8"), str(path))
    conda_specs = [d for d in doc.dependencies if isinstance(d, str)]
    virtual = [s for s in conda_specs if s.startswith("__")]
    if lock.startswith(PIP_BLOCKED):
        # What the header says: conda-lock reads pip's option lines as packages. Should a
        # conda-lock release learn them, this fails and the header must change.
        assert any(line.startswith("--") for line in doc.pip or ())
        with pytest.raises(Exception, match="package name"):
            parse_environment_file(path, [subdir], mapping_url=MAPPING[0])
        return

    spec = parse_environment_file(path, [subdir], mapping_url=MAPPING[0])
    seen = {d.name: d for d in spec.dependencies[subdir] if d.manager == "conda"}
    assert set(seen) == {specs.conda_name(s) for s in conda_specs}
    assert [c.url for c in spec.channels] == list(doc.data.get("channels") or [])
    for text in conda_specs:
        ours = MatchSpec(text)
        theirs = seen[ours.name]
        assert theirs.build == ours.get("build"), text
        if ours.name == "pytorch" and ours.get("build"):
            assert theirs.version == str(ours.version), text  # an exact version, not a series

    if lock.startswith(VIRTUAL_BLOCKED):
        assert virtual, "the header blames a virtual package the file does not list"
        command, token = lock.split("lock a copy without that line: ", 1)[1], "COPY"
    else:
        assert not virtual, f"{virtual} would make conda-lock fail (see the test below)"
        command, token = lock, "THIS_FILE"
    argv = shlex.split(command)
    assert argv[:4] == ["conda-lock", "lock", "-f", token]
    argv[3] = str(path)
    ctx = cl.lock.make_context("lock", argv[2:])  # conda-lock's own option parser
    assert ctx.params["platform"] == (subdir,)
    cuda = _cuda_of(conda_specs)
    if cuda is None or subdir.startswith("osx-"):
        assert ctx.params["with_cuda"] in (None, "")  # --without-cuda, or nothing on macOS
        assert "--without-cuda" in argv or subdir.startswith("osx-")
    else:
        assert ctx.params["with_cuda"] == cuda  # conda-lock's __cuda is the build's CUDA


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
    ).replace("pytorch=2.5 ", "pytorch>=2.5 ")  # --torch 2.9 within the file's own pin
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


# -- a real lock: conda-lock driving a real conda over a local channel ---------------------


@pytest.fixture(scope="module")
def forge(tmp_path_factory) -> tuple[Path, dict[str, str], str]:
    """The stand-in conda-forge (``helpers/condabox.stand_in_forge``) and a real conda."""
    from .helpers.condabox import stand_in_forge
    from .helpers.realconda import require_conda

    conda = require_conda()
    root = tmp_path_factory.mktemp("forge")
    env = stand_in_forge(root)
    return root, env, conda.exe


def _conda_lock(
    forge, env_file: Path, lockfile: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """Run conda-lock; a fresh ``lockfile`` (an existing one may be taken as up to date)."""
    root, env, conda = forge
    assert not lockfile.exists()
    return subprocess.run(
        [sys.executable, "-m", "conda_lock", "lock", "-f", str(env_file), *args]
        + ["--conda", conda, "--lockfile", str(lockfile)],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=600,
    )


def test_a_cuda_file_locks_as_its_header_says(tmp_path: Path, capsys, forge):
    from ruamel.yaml import YAML

    from .helpers.samples import machine_args

    out = tmp_path / "env.yml"
    assert main(["generate", *machine_args(tmp_path, "h100-driver580"), "-o", str(out)]) == 0
    capsys.readouterr()
    _subdir, lock = _header(out)
    assert lock.startswith(VIRTUAL_BLOCKED) and "(__cuda>=13;" in lock
    command = shlex.split(lock.split("lock a copy without that line: ", 1)[1])
    assert command[:4] == ["conda-lock", "lock", "-f", "COPY"]
    assert command[4:] == ["-p", "linux-64", "--with-cuda", "13.0"]

    # As it is: the listed virtual package makes conda-lock fail after the solve. Should a
    # conda-lock release learn to skip it, this fails: drop the blocker and its header text.
    done = _conda_lock(forge, out, tmp_path / "as-is.lock.yml", *command[4:])
    assert done.returncode != 0
    assert "KeyError: '--cuda'" in done.stderr

    # A copy without that line locks, with the builds the file pins.
    text = out.read_text(encoding="utf-8")
    copy = tmp_path / "copy.yml"
    copy.write_text(
        "".join(ln for ln in text.splitlines(True) if not ln.lstrip().startswith("- __cuda")),
        encoding="utf-8",
    )
    assert copy.read_text(encoding="utf-8") != text
    done = _conda_lock(forge, copy, tmp_path / "copy.lock.yml", *command[4:])
    assert done.returncode == 0, done.stderr[-3000:]
    locked = YAML(typ="safe").load((tmp_path / "copy.lock.yml").read_text(encoding="utf-8"))
    builds = {p["name"]: p["url"].rsplit("/", 1)[1] for p in locked["package"]}
    # conda-forge's own builds (tests/helpers/standin.py from data/conda-forge/builds.yaml): the
    # companions made for pytorch 2.10, all of the CUDA 13.0 kind
    assert builds["pytorch"].startswith("pytorch-2.10.0-cuda130_")
    assert builds["torchvision"].startswith("torchvision-0.26.0-cuda130_")
    assert builds["torchaudio"].startswith("torchaudio-2.11.0-cuda130_")
    assert builds["cuda-version"] == "cuda-version-13.0-0.tar.bz2"


def test_a_cpu_file_locks_as_it_is(tmp_path: Path, capsys, forge):
    from .helpers.samples import machine_args

    out = tmp_path / "env.yml"
    assert (
        main(
            ["generate", *machine_args(tmp_path, "cpu-linux"), "--python", "3.13"]
            + ["--torch", "2.13", "--without", "torchaudio", "-o", str(out)]
        )
        == 0
    )
    capsys.readouterr()
    _subdir, lock = _header(out)
    command = shlex.split(lock)
    assert command[:4] == ["conda-lock", "lock", "-f", "THIS_FILE"]
    done = _conda_lock(forge, out, tmp_path / "cpu.lock.yml", *command[4:])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "/pytorch-2.13.0-cpu_" in (tmp_path / "cpu.lock.yml").read_text()


def test_the_listed_cuda_line_is_the_driver_check_conda_enforces(tmp_path: Path, capsys, forge):
    """Why CUDA files keep ``__cuda>=X.Y`` although conda-lock fails on it (DESIGN.md)."""
    from .helpers.samples import machine_args

    root, env, conda = forge
    out = tmp_path / "env.yml"
    assert main(["generate", *machine_args(tmp_path, "h100-driver580"), "-o", str(out)]) == 0
    capsys.readouterr()
    copy = tmp_path / "copy.yml"
    copy.write_text(
        "".join(
            ln
            for ln in out.read_text(encoding="utf-8").splitlines(True)
            if not ln.lstrip().startswith("- __cuda")
        ),
        encoding="utf-8",
    )

    def solves(path: Path, driver_cuda: str) -> bool:
        done = subprocess.run(
            [conda, "env", "create", "-f", str(path), "-p", str(tmp_path / "never")]
            + ["--dry-run", "--json"],
            capture_output=True,
            text=True,
            env={**env, "CONDA_OVERRIDE_CUDA": driver_cuda},
            timeout=600,
        )
        assert not (tmp_path / "never").exists()
        if done.returncode:
            assert "__cuda[version='>=13']" in done.stdout + done.stderr
        return done.returncode == 0

    assert solves(out, "13.0")
    assert not solves(out, "12.4")  # a driver too old for the build: refused
    # Without the line, cuda-version's own ``__cuda >=13`` constraint was not enforced by this
    # conda (26.7.1, classic solver). Should it be, this fails and the line may go.
    assert solves(copy, "12.4")
