"""A real conda over a local channel whose packages hold real files, for the doctor/recreate/
health/faults tests (the ``condabox`` fixture of ``tests/conftest.py``, made once per session).

* :class:`CondaBox` -- a real conda (``require_conda``) with its own condarc, package cache and
  a local channel served as ``conda-forge`` (``channel_alias`` points at a folder). Its
  ``python`` package is a venv-style interpreter (``pyvenv.cfg`` + a link to this machine's
  Python, so ``sys.prefix`` is the environment); its ``pytorch`` package holds the torch files
  of the session's torch venv, so validation runs a real torch inside a real conda
  environment. Building a 750 MB package archive would take minutes, so the package
  cache gets the extracted folder (hard links to the venv's files) next to a small archive: conda
  finds it extracted and links the real files into each environment, as it does for any
  cached package.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import standin
from .cli import cli
from .realconda import plugin_environ, require_conda
from .venvs import BASE_PYTHON, TORCH, clone, pip, run, site_packages
from .venvs import TORCHVISION_FROM_PYPI as TORCHVISION

if TYPE_CHECKING:
    from .cli import Run
    from .realconda import RealConda

# ---------------------------------------------------------------------------------------------
# a local channel


def _tar(members: list[tuple[str, bytes | None, str | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:bz2") as tar:
        for arc, data, link in members:
            info = tarfile.TarInfo(arc)
            info.mtime = 0
            if link is not None:
                info.type = tarfile.SYMTYPE
                info.linkname = link
                tar.addfile(info)
            else:
                assert data is not None
                info.size = len(data)
                info.mode = 0o755 if arc.startswith("bin/") else 0o644
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@dataclass
class Channel:
    """A conda channel folder; :meth:`add` makes a package, :meth:`index` writes repodata."""

    root: Path
    pkgs: Path
    records: dict[str, dict[str, dict]] = field(default_factory=dict)

    def add(
        self,
        name: str,
        version: str,
        build: str = "0",
        *,
        subdir: str = "noarch",
        files: dict[str, bytes] | None = None,
        links: dict[str, str] | None = None,
        depends: tuple[str, ...] = (),
        constrains: tuple[str, ...] = (),
        cached_tree: dict[str, Path] | None = None,
    ) -> str:
        """Add a package. ``cached_tree`` (relpath -> file) goes only into the extracted copy
        placed in the package cache (hard links), not into the archive."""
        files = dict(files or {})
        links = dict(links or {})
        if not files and not links and not cached_tree:
            files = {f"share/{name}/{name}.txt": f"{name} {version}\n".encode()}
        index = {
            "name": name,
            "version": version,
            "build": build,
            "build_number": 0,
            "depends": list(depends),
            "constrains": list(constrains),
            "subdir": subdir,
            "license": "BSD-3-Clause",
        }
        if subdir == "noarch":
            index["noarch"] = "generic"
        paths = [
            {
                "_path": p,
                "path_type": "hardlink",
                "sha256": hashlib.sha256(d).hexdigest(),
                "size_in_bytes": len(d),
            }
            for p, d in files.items()
        ]
        paths += [{"_path": p, "path_type": "softlink"} for p in links]
        for rel, src in (cached_tree or {}).items():
            paths.append(
                {"_path": rel, "path_type": "hardlink", "size_in_bytes": src.stat().st_size}
            )
        paths_json = json.dumps({"paths": paths, "paths_version": 1}).encode()
        members: list[tuple[str, bytes | None, str | None]] = [
            ("info/index.json", json.dumps(index).encode(), None),
            ("info/paths.json", paths_json, None),
            (
                "info/files",
                ("\n".join([*files, *links, *(cached_tree or {})]) + "\n").encode(),
                None,
            ),
        ]
        members += [(p, d, None) for p, d in files.items()]
        members += [(p, None, t) for p, t in links.items()]
        data = _tar(members)
        fn = f"{name}-{version}-{build}.tar.bz2"
        folder = self.root / subdir
        folder.mkdir(parents=True, exist_ok=True)
        (folder / fn).write_bytes(data)
        record = {
            **index,
            "md5": hashlib.md5(data).hexdigest(),
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
        }
        self.records.setdefault(subdir, {})[fn] = record
        if cached_tree:
            self._cache(fn, record, data, files, links, cached_tree, index, paths_json, subdir)
        return fn

    def _cache(
        self,
        fn: str,
        record: dict,
        data: bytes,
        files: dict[str, bytes],
        links: dict[str, str],
        tree: dict[str, Path],
        index: dict,
        paths_json: bytes,
        subdir: str,
    ) -> None:
        self.pkgs.mkdir(parents=True, exist_ok=True)
        (self.pkgs / fn).write_bytes(data)
        extracted = self.pkgs / fn[: -len(".tar.bz2")]
        if extracted.exists():
            shutil.rmtree(extracted)
        (extracted / "info").mkdir(parents=True)
        for rel, blob in files.items():
            (extracted / rel).parent.mkdir(parents=True, exist_ok=True)
            (extracted / rel).write_bytes(blob)
        for rel, target in links.items():
            (extracted / rel).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(target, extracted / rel)
        for rel, src in tree.items():
            (extracted / rel).parent.mkdir(parents=True, exist_ok=True)
            os.link(src, extracted / rel)
        (extracted / "info" / "index.json").write_text(json.dumps(index))
        (extracted / "info" / "paths.json").write_bytes(paths_json)
        url = f"{self.root.as_uri()}/{subdir}/{fn}"
        (extracted / "info" / "repodata_record.json").write_text(
            json.dumps({**record, "fn": fn, "url": url, "channel": self.root.as_uri()})
        )

    def index(self) -> None:
        for subdir in ("noarch", "linux-64"):
            standin.write_repodata(self.root, subdir, self.records.get(subdir, {}))


def _conda_installers(tree: dict[str, Path]) -> dict[str, bytes]:
    """Take the ``*.dist-info/INSTALLER`` files out of ``tree`` and give them as ``conda``:
    conda-built packages say so in their metadata, as conda-forge's do."""
    installers = {rel: b"conda\n" for rel in tree if rel.endswith(".dist-info/INSTALLER")}
    for rel in installers:
        tree.pop(rel)
    return installers


def site_tree(site: Path, names: list[str]) -> dict[str, Path]:
    """relpath in an environment -> file, for the given top-level entries of a site-packages."""
    rel_site = Path("lib") / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    out: dict[str, Path] = {}
    for entry in names:
        src = site / entry
        if src.is_dir():
            for root, _dirs, files in os.walk(src):
                if "__pycache__" in Path(root).parts:
                    continue
                for f in files:
                    full = Path(root) / f
                    out[str(rel_site / full.relative_to(site))] = full
        elif src.is_file():
            out[str(rel_site / entry)] = src
    return out


@dataclass
class CondaBox:
    """A real conda with a private configuration and a local ``conda-forge``."""

    conda: RealConda
    root: Path
    condarc: Path
    channel: Channel

    def environ(self, **extra: str) -> dict[str, str]:
        # this machine's package mirrors only (torch/torchvision are in pypi-more)
        mirrors = {
            "PIP_INDEX_URL": "file:///opt/pypi-more/simple",
            "PIP_EXTRA_INDEX_URL": "file:///opt/pypi/simple",
        }
        return box_environ(self.root, self.condarc, self.channel.pkgs, **{**mirrors, **extra})

    def conda_run(
        self,
        *args: str,
        check: bool = True,
        env: dict[str, str] | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        """conda ARGS (the box's environment, this checkout as its plugin, unless ``env``)."""
        env = env or self.environ()
        return run([self.conda.exe, *args], env=env, check=check, timeout=timeout)

    def create(self, prefix: Path, *specs: str, env: dict[str, str] | None = None) -> Path:
        args = ["create", "-y", "-q", "-p", str(prefix), "--override-channels", "-c", "conda-forge"]
        self.conda_run(*args, *specs, env=env)
        return prefix

    def pip_install_into(self, prefix: Path, *requirements: str) -> None:
        """``pip install`` into an environment's site-packages, as a user breaking it would.

        ``--target``, not ``--prefix``: a distribution's Python (Debian's ``/usr/bin/python3``)
        may put a ``--prefix`` install under ``local/lib/python3.X/dist-packages``, where the
        environment's Python never looks."""
        run(
            [str(BASE_PYTHON), "-m", "pip", "install", "-q", "--no-deps", "--target",
             str(site_packages(prefix)), *requirements],
            env=self.environ(),
        )  # fmt: skip

    def torch_cli(
        self,
        *args: str,
        check: bool = False,
        env: dict[str, str] | None = None,
        timeout: float = 600,
    ) -> Run:
        """``python -m conda_torch ARGS`` (:func:`cli`) with this box's environment unless
        ``env`` is given."""
        return cli(*args, env=env or self.environ(), check=check, timeout=timeout)


def box_layout(base: Path, name: str, *extra: str) -> tuple[Path, Channel, Path]:
    """``(root, channel, condarc)`` of a private conda setup under ``base/name``: a local channel
    served as ``conda-forge`` (``channel_alias``), its own package cache, envs folder and home,
    offline, classic solver; ``extra`` condarc lines on top."""
    root = base / name
    if root.exists():
        shutil.rmtree(root)
    channels = root / "channels"
    chan = Channel(root=channels / "conda-forge", pkgs=root / "pkgs")
    (root / "home").mkdir(parents=True)
    condarc = root / "condarc.yml"
    lines = [
        "solver: classic", "offline: true", "channels: [conda-forge]",
        f"channel_alias: {channels.as_uri()}", f"pkgs_dirs: [{chan.pkgs}]",
        f"envs_dirs: [{root / 'envs'}]", "add_pip_as_python_dependency: false",
        "notify_outdated_conda: false", "auto_activate: false", *extra,
    ]  # fmt: skip
    condarc.write_text("\n".join(lines) + "\n")
    return root, chan, condarc


def box_environ(root: Path, condarc: Path, pkgs: Path, **extra: str) -> dict[str, str]:
    """Our environment without the caller's conda, pip or PYTHONPATH settings, pointed at a
    :func:`box_layout`, with this checkout as conda's plugin."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CONDA_", "_CE_", "PIP_")) and k not in ("PYTHONPATH", "CONDARC")
    }
    env.update(
        {
            "CONDARC": str(condarc),
            "CONDA_EXE": require_conda().exe,
            "CONDA_PKGS_DIRS": str(pkgs),
            "PIP_NO_INPUT": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "HOME": str(root / "home"),
            **extra,
        }
    )
    return plugin_environ(root, env)


def make_condabox(base: Path, venv: Path) -> CondaBox:
    conda = require_conda()
    root, chan, condarc = box_layout(base, "condabox", "register_envs: false")
    home = BASE_PYTHON.resolve().parent
    py = f"{sys.version_info[0]}.{sys.version_info[1]}"
    full = ".".join(map(str, sys.version_info[:3]))
    pyvenv = f"home = {home}\ninclude-system-site-packages = false\nversion = {full}\n"
    chan.add(
        "python",
        full,
        "0_venv",
        subdir="linux-64",
        files={"pyvenv.cfg": pyvenv.encode()},
        links={
            f"bin/python{py}": str(BASE_PYTHON.resolve()),
            "bin/python": f"python{py}",
            "bin/python3": f"python{py}",
        },
    )
    base_site = Path(
        subprocess.check_output(
            [
                str(BASE_PYTHON),
                "-c",
                "import pip, os; print(os.path.dirname(os.path.dirname(pip.__file__)))",
            ],
            text=True,
        ).strip()
    )
    # this machine's own pip, linked from the package cache like the torch files
    pip_tree = site_tree(base_site, ["pip"])
    chan.add("pip", "24.0", "0_local", cached_tree=pip_tree, depends=("python",))
    site = site_packages(venv)
    torch_names = [
        e
        for e in os.listdir(site)
        if not e.startswith(
            (
                "pip",
                "setuptools",
                "_distutils_hack",
                "distutils-precedence",
                "__pycache__",
                "torchvision",
                "torchaudio",
            )
        )
    ]
    tree = site_tree(site, torch_names)
    installers = _conda_installers(tree)
    chan.add(
        "pytorch",
        TORCH,
        "cpu_0",
        subdir="linux-64",
        files=installers,
        depends=(f"python {py}.*",),
        cached_tree=tree,
    )
    tv_venv = base / "torchvision-venv"
    if not (tv_venv / ".tv").exists():
        if tv_venv.exists():
            shutil.rmtree(tv_venv)
        clone(venv, tv_venv)
        pip(tv_venv / "bin" / "python", "--no-deps", f"torchvision=={TORCHVISION}")
        (tv_venv / ".tv").write_text("ok\n")
    tv_site = site_packages(tv_venv)
    tv_tree = site_tree(tv_site, [e for e in os.listdir(tv_site) if e.startswith("torchvision")])
    tv_installers = _conda_installers(tv_tree)
    # PyPI's files (a CUDA build): beside the CPU torch its nms operator does not load
    chan.add(
        "torchvision",
        TORCHVISION,
        "cpu_0",
        subdir="linux-64",
        files=tv_installers,
        depends=(f"pytorch {TORCH}.*",),
        cached_tree=tv_tree,
    )
    chan.add("torchaudio", "2.11.0", "0", depends=("pytorch",))
    chan.add("alpha", "1.0")
    chan.add("beta", "2.0", depends=("alpha",))
    # Fails while conda links it (post-link script exit 1): "creation fails midway".
    chan.add(
        "breaker",
        "1.0",
        files={
            "bin/.breaker-post-link.sh": b"#!/bin/sh\necho breaking >&2\nexit 1\n",
            "share/breaker/readme.txt": b"breaker\n",
        },
    )
    # Takes its time while conda links it: a window to interrupt conda-torch in.
    chan.add(
        "slowpoke",
        "1.0",
        files={
            "bin/.slowpoke-post-link.sh": b"#!/bin/sh\nsleep 60\n",
            "share/slowpoke/readme.txt": b"slowpoke\n",
        },
    )
    chan.index()
    return CondaBox(conda=conda, root=root, condarc=condarc, channel=chan)


def stand_in_forge(root: Path) -> dict[str, str]:
    """A local ``conda-forge`` generated from conda-forge's own per-build data, for solves.

    ``helpers/standin.py`` writes one repodata record per build and Python of
    ``data/conda-forge/builds.yaml``, each declaring what the real build declares (its pytorch
    pin, ``cuda-version`` range, Python, ``__cuda``); the packages have no files, so it serves
    ``--dry-run`` solves and conda-lock. Returns the environment to run conda with: its own
    condarc, offline, none of the caller's ``CONDA_*`` variables, this checkout as a plugin
    (``realconda.plugin_environ``).
    """
    url = standin.conda_forge(root / "channels")
    condarc = root / "condarc.yml"
    condarc.write_text(
        f"solver: classic\noffline: true\nchannels: [{url}]\n"
        f"channel_alias: {(root / 'channels').as_uri()}\npkgs_dirs: [{root / 'pkgs'}]\n"
        "notify_outdated_conda: false\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONDA_") and k != "CONDARC"}
    env.update(
        {
            "CONDARC": str(condarc),
            "HOME": str(root),
            "CONDA_ADD_PIP_AS_PYTHON_DEPENDENCY": "false",
        }
    )
    return plugin_environ(root, env)
