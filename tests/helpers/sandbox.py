"""Throw-away conda environments for the create/run/shell tests: a fake conda and a real one.

* a **fake conda** (:func:`fake_conda`, a small script): how conda-torch finds conda, which
  arguments it passes, how it reads conda's failures;
* a **real conda** over a local ``file://`` channel (:func:`build_channel`) with a condarc under
  a test's ``tmp_path`` (classic solver, offline, no channels, pkgs/envs dirs there):
  :func:`make_sandbox`, served by the ``sandbox`` fixture of ``tests/conftest.py``;
* the create flow's stand-ins: a team file (:func:`fake_file`), a validator that checks real
  facts (:class:`Recorder`), and the hidden files left beside an environment (:func:`siblings`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import stat
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from conda_torch import conda_cli as cd
from conda_torch.exceptions import CondaNotFoundError
from conda_torch.validate import Check, Report

from .standin import conda_tarball, write_repodata

if TYPE_CHECKING:
    from typing import Any


FAKE_CONDA = r'''#!{python}
"""Fake conda for conda-torch's tests: logs its arguments, acts per FAKE_CONDA_MODE."""
import json, os, shutil, signal, sys, time

args = sys.argv[1:]
log = os.environ.get("FAKE_CONDA_LOG")
if log:
    with open(log, "a") as fh:
        fh.write(json.dumps(args) + "\n")
mode = os.environ.get("FAKE_CONDA_MODE", "ok")
version = {version!r}
envs_dir = os.environ.get("FAKE_CONDA_ENVS", "/nonexistent")
root = os.environ.get("FAKE_CONDA_ROOT", "/nonexistent-root")
as_json = "--json" in args


def opt(*names):
    for i, a in enumerate(args):
        if a in names and i + 1 < len(args):
            return args[i + 1]
    return None


def fail(message, code=1):
    if as_json:
        print(json.dumps({{"exception_name": "FakeCondaError", "message": message,
                          "error": "FakeCondaError: " + message}}))
    else:
        print("FakeCondaError: " + message, file=sys.stderr)
    sys.exit(code)


if args == ["--version"]:
    print("conda " + version)
    sys.exit(0)
if args[:1] == ["info"]:
    envs = [root]
    if os.path.isdir(envs_dir):
        envs += [os.path.join(envs_dir, d) for d in sorted(os.listdir(envs_dir))
                 if os.path.isfile(os.path.join(envs_dir, d, "conda-meta", "history"))]
    print(json.dumps({{"envs_dirs": [envs_dir], "envs": envs, "root_prefix": root,
                      "conda_version": version, "active_prefix": None}}))
    sys.exit(0)
signal.signal(signal.SIGINT, lambda *_: sys.exit(1))  # like conda: roll back, exit 1
if args[:1] == ["create"] or args[:2] == ["env", "create"]:
    prefix = opt("--prefix", "-p")
    envfile = opt("--file", "-f")
    if mode == "fail":
        os.makedirs(os.path.join(prefix, "conda-meta"), exist_ok=True)
        open(os.path.join(prefix, "half-built"), "w").write("x")
        fail("PackagesNotFoundError: nosuchpkg is not available from current channels")
    if mode == "hang":
        os.makedirs(os.path.join(prefix, "conda-meta"), exist_ok=True)
        open(os.path.join(prefix, "conda-meta", "history"), "w").write("")
        open(os.environ["FAKE_CONDA_MARKER"], "w").write(str(os.getpid()))
        if os.environ.get("FAKE_CONDA_IGNORE_INT"):
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        time.sleep(60)
        sys.exit(0)
    if mode == "empty":
        sys.exit(0)
    os.makedirs(os.path.join(prefix, "conda-meta"), exist_ok=True)
    os.makedirs(os.path.join(prefix, "bin"), exist_ok=True)
    open(os.path.join(prefix, "conda-meta", "history"), "w").write("==> fake <==\n")
    os.symlink(sys.executable, os.path.join(prefix, "bin", "python"))
    shutil.copy(envfile, os.path.join(prefix, "environment-used.yml"))
    if as_json:
        print(json.dumps({{"success": True, "prefix": prefix, "actions": {{"LINK": []}}}}))
    else:
        print("fake conda: created " + prefix)
    sys.exit(0)
if args[:1] == ["remove"]:
    prefix = opt("--prefix", "-p")
    if mode == "remove-fail":
        fail("cannot remove")
    shutil.rmtree(prefix, ignore_errors=True)
    print(json.dumps({{"success": True}}))
    sys.exit(0)
if args[:1] and args[0].startswith("shell.") and args[1:2] == ["activate"]:
    prefix = args[2]
    print("export CONDA_PREFIX='%s'" % prefix)
    print("export PATH='%s/bin:%s'" % (prefix, os.environ.get("PATH", "")))
    print("export FAKE_ACTIVATED=1")
    sys.exit(0)
if args[:1] == ["run"]:
    rest = [a for a in args[1:]]
    prefix = opt("--prefix", "-p")
    cmd = rest[rest.index(prefix) + 1:]
    while cmd and cmd[0].startswith("--"):
        cmd = cmd[1:]
    env = dict(os.environ, CONDA_PREFIX=prefix, FAKE_CONDA_RUN="1")
    os.execvpe(cmd[0], cmd, env)
fail("fake conda: unsupported command " + " ".join(args), 2)
'''


@dataclass
class FakeConda:
    exe: Path
    log: Path
    envs: Path
    root: Path
    environ: dict[str, str]

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def commands(self) -> list[str]:
        return [" ".join(c[:2]) for c in self.calls()]

    def set(self, **values: str) -> None:
        for key, value in values.items():
            self.environ[f"FAKE_CONDA_{key.upper()}"] = value


def clean_environ(**extra: str) -> dict[str, str]:
    """os.environ without conda's activation variables (tests must not see the caller's conda)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CONDA_", "_CE_", "MAMBA_", "FAKE_CONDA")) and k not in ("CONDARC",)
    }
    env.update(extra)
    return env


def fake_conda(tmp_path: Path, *, version: str = "26.7.1", mode: str = "ok") -> FakeConda:
    folder = tmp_path / "fakebin"
    folder.mkdir(exist_ok=True)
    exe = folder / "conda"
    exe.write_text(FAKE_CONDA.format(python=sys.executable, version=version))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    envs = tmp_path / "envs"
    envs.mkdir(exist_ok=True)
    root = tmp_path / "base"
    (root / "conda-meta").mkdir(parents=True, exist_ok=True)
    (root / "conda-meta" / "history").write_text("")
    log = tmp_path / "fake-conda.log"
    environ = clean_environ(
        CONDA_EXE=str(exe),
        FAKE_CONDA_LOG=str(log),
        FAKE_CONDA_ENVS=str(envs),
        FAKE_CONDA_ROOT=str(root),
        FAKE_CONDA_MODE=mode,
    )
    return FakeConda(exe=exe, log=log, envs=envs, root=root, environ=environ)


def make_env(prefix: Path, *, marker: str = "old") -> Path:
    """A directory conda would call an environment (conda-meta/history), with a marker file."""
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "conda-meta" / "history").write_text("==> old <==\n")
    (prefix / "marker.txt").write_text(marker)
    return prefix


@dataclass(frozen=True)
class CondaSandbox:
    conda: cd.Conda
    root: Path
    envs: Path
    pkgs: Path
    environ: dict[str, str]
    channel: Path | None = None

    @property
    def channel_url(self) -> str:
        assert self.channel is not None
        return self.channel.as_uri()

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.conda.command(*args),
            env=self.environ,
            capture_output=True,
            text=True,
            check=check,
            timeout=300,
        )

    def list_names(self, prefix: Path) -> dict[str, str]:
        out = self.run("list", "--prefix", str(prefix), "--json").stdout
        return {p["name"]: p["version"] for p in json.loads(out)}


def find_real_conda() -> cd.Conda | None:
    """conda via CONDA_EXE, ``python -m conda`` or PATH, if ``<conda> --version`` answers."""
    try:
        conda = cd.find_conda()
    except CondaNotFoundError:
        return None
    return conda if conda.version else None


def package(
    name: str,
    version: str,
    files: dict[str, bytes | str],
    *,
    depends: tuple[str, ...] = (),
    executable: tuple[str, ...] = (),
) -> tuple[str, bytes, dict]:
    """A noarch (generic) conda package: ``(filename, .tar.bz2 bytes, repodata record)``."""
    index = {
        "name": name,
        "version": version,
        "build": "0",
        "build_number": 0,
        "depends": list(depends),
        "subdir": "noarch",
        "noarch": "generic",
        "license": "BSD-3-Clause",
        "timestamp": 0,
    }
    data = conda_tarball(index, files, executable)
    filename = f"{name}-{version}-0.tar.bz2"
    record = dict(
        index,
        md5=hashlib.md5(data).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
    )
    return filename, data, record


def build_channel(folder: Path, packages: list[tuple[str, bytes, dict]]) -> Path:
    """A ``file://`` channel: noarch/ with the packages and repodata.json, an empty linux-64/."""
    (folder / "noarch").mkdir(parents=True, exist_ok=True)
    records = {}
    for filename, data, record in packages:
        (folder / "noarch" / filename).write_bytes(data)
        records[filename] = record
    for subdir, recs in (("noarch", records), (_native_subdir(), {})):
        write_repodata(folder, subdir, recs)
    return folder


def _native_subdir() -> str:
    import platform

    machine = platform.machine().lower()
    if sys.platform.startswith("linux"):
        return "linux-64" if machine in ("x86_64", "amd64") else f"linux-{machine}"
    if sys.platform == "darwin":
        return "osx-arm64" if machine == "arm64" else "osx-64"
    return "win-64"


def python_shim() -> str:
    """``bin/python`` for a test package: runs this interpreter (the env has no real Python)."""
    return f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n'


def standard_packages(marker_dir: Path | None = None) -> list[tuple[str, bytes, dict]]:
    """tinypkg 1.0 and 2.0 (with a python shim), brokenpkg (depends on a missing package) and
    slowpkg (its post-link script touches ``marker_dir/post-link-started`` and sleeps)."""
    pkgs = [
        package(
            "tinypkg", "1.0", {"share/tinypkg/version.txt": "1.0\n", "bin/python": python_shim()}
        ),
        package(
            "tinypkg", "2.0", {"share/tinypkg/version.txt": "2.0\n", "bin/python": python_shim()}
        ),
        package("brokenpkg", "1.0", {"share/brokenpkg.txt": "x\n"}, depends=("doesnotexist",)),
    ]
    if marker_dir is not None:
        script = (
            f"#!/bin/sh\ntouch {shlex.quote(str(marker_dir / 'post-link-started'))}\nsleep 60\n"
        )
        pkgs.append(package("slowpkg", "1.0", {"bin/.slowpkg-post-link.sh": script}))
    return pkgs


def make_sandbox(real_conda: cd.Conda, tmp_path: Path) -> CondaSandbox:
    """A condarc (classic solver, offline, no channels), pkgs/envs dirs and HOME under tmp_path,
    and a local channel with :func:`standard_packages`."""
    envs, pkgs, home = tmp_path / "envs", tmp_path / "pkgs", tmp_path / "home"
    for d in (envs, pkgs, home):
        d.mkdir()
    condarc = tmp_path / "condarc.yml"
    condarc.write_text(
        textwrap.dedent(f"""\
        solver: classic
        channels: []
        offline: true
        notify_outdated_conda: false
        auto_update_conda: false
        pkgs_dirs:
          - {pkgs}
        envs_dirs:
          - {envs}
        """)
    )
    environ = clean_environ(
        CONDARC=str(condarc), HOME=str(home), CONDA_PKGS_DIRS=str(pkgs), CONDA_ENVS_DIRS=str(envs)
    )
    if real_conda.found_by == "CONDA_EXE":
        environ["CONDA_EXE"] = os.environ["CONDA_EXE"]
    channel = build_channel(tmp_path / "channel", standard_packages(tmp_path))
    return CondaSandbox(
        conda=real_conda, root=tmp_path, envs=envs, pkgs=pkgs, environ=environ, channel=channel
    )


def env_file(
    path: Path,
    channel_url: str,
    *specs: str,
    variables: dict[str, str] | None = None,
    name: str | None = None,
) -> Path:
    lines = [f"name: {name}"] if name else []
    lines += ["channels:", f"  - {channel_url}", "dependencies:"] + [f"  - {s}" for s in specs]
    if variables:
        lines.append("variables:")
        lines += [f"  {k}: {json.dumps(v)}" for k, v in variables.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


CHANNELS = ("https://example.invalid/chan-a", "https://example.invalid/chan-b")


def fake_file(tmp_path: Path, *specs: str, name: str | None = None) -> Path:
    lines = [f"name: {name}"] if name else []
    lines += ["channels:"] + [f"  - {c}" for c in CHANNELS] + ["dependencies:"]
    lines += [f"  - {s}" for s in specs or ("tinypkg",)]
    path = tmp_path / "team" / "environment.yml"
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


class Recorder:
    """A validator that checks real facts and records how it was called."""

    def __init__(self, *, fail: bool = False, interrupt: bool = False) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail = fail
        self.interrupt = interrupt

    def __call__(
        self,
        *,
        python: str,
        prefix: str,
        environ: dict[str, str],
        provenance: Any,
        name: str | None,
    ) -> Report:
        self.calls.append(
            {"python": python, "prefix": prefix, "provenance": provenance, "name": name}
        )
        if self.interrupt:
            raise KeyboardInterrupt
        proc = subprocess.run(
            [python, "-c", "import os; print(os.environ.get('CONDA_PREFIX'))"],
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
        )
        ran = proc.returncode == 0 and proc.stdout.strip() == prefix
        checks = (
            Check(
                "env-python",
                "pass" if ran else "fail",
                f"{python} ran with CONDA_PREFIX={proc.stdout.strip()}",
            ),
            Check("provenance", "pass" if provenance is not None else "fail", "provenance read"),
        )
        if self.fail:
            checks += (
                Check("torch-import", "fail", "torch is not installed (test)", "recreate it"),
            )
        return Report(python=python, prefix=prefix, checks=checks)


def siblings(prefix: Path) -> list[str]:
    """conda-torch's hidden files beside an environment (lock, backup, trash)."""
    return sorted(p.name for p in prefix.parent.glob(f".{prefix.name}.conda-torch-*"))
