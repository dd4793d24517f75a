"""A stand-in conda-forge made from conda-torch's own plan for this machine, holding a real
torch stack that passes validation, for the end-to-end tests (``tests/test_e2e.py``).

What is real and what stands in
-------------------------------
* **conda is real** (``require_conda``), with its own condarc, package cache and envs folder;
  conda-torch runs as conda's plugin (``realconda.plugin_environ``).
* **The plan is conda-torch's own**: ``conda torch generate --json`` for this machine, through
  the same conda and settings, decides what the channel holds. Nothing is pinned to today's
  release: when the planner or its data change, the channel follows.
* **The package metadata is what conda-forge's builds declare** (the recipes of
  conda-forge/pytorch-cpu-, torchvision- and torchaudio-feedstock): names, versions, build
  strings (``cpu_mkl_py311_h…_0``, ``cuda130_py311_h…_0``, ``cpu_py311h…_0``), the Python pin
  (``python >=3.11,<3.12.0a0``), companions pinned to one torch minor (``pytorch >=X.Y,<X.Y+1.0a0``,
  pytorch's run export) and to its variant (``pytorch * cpu*``), torchvision's ``pillow``, and for
  CUDA builds ``__cuda`` and ``cuda-version >=X.Y,<X+1.0a0``.
* **Python** is this machine's interpreter (``pyvenv.cfg`` and a link, like ``CondaBox``'s), and
  the condarc sets conda's ``default_python`` to its ``X.Y``, so that the plan asks for it
  (conda-torch honours an explicit ``default_python``).
* **The files are a real, matched stack**: torch 2.14.1 (PyPI's CUDA 13.0 wheel, which imports and
  runs on a CPU), the NVIDIA libraries it links, torchvision 0.29.1 and torchaudio 2.11.0 made for
  it, pillow; installed once per test session into a virtual environment (``pip``, from this
  machine's wheel folder and PyPI) and hard-linked into the package cache and from there into
  every environment conda creates. triton is left out (only ``torch.compile`` uses it).
  The CPU torch 2.13.0 on disk cannot stand in: no torchvision whose operators load beside it
  exists on PyPI (PyPI's are CUDA builds: ``operator torchvision::nms does not exist``).

The relabelling, and why
------------------------
The plan names other versions (today torch 2.13.0, torchvision 0.28.*, torchaudio 2.11.*) and,
on a machine without a GPU, the CPU build, so the files are relabelled to what the plan's
packages are, exactly where a build says what it is and nothing else:

* ``torch/version.py``: ``__version__`` becomes the planned torch version; for a CPU plan
  ``cuda`` becomes ``None`` (what a CPU build has; torch's compiled code is unchanged and runs on
  the CPU either way);
* ``torchvision/version.py``: ``__version__`` becomes the planned version (a series ``0.28.*`` is
  its ``.0`` release); for a CPU plan the lines that set ``cuda`` from the compiled operators are
  dropped (a CPU torchvision has none);
* ``torchaudio/version.py``: ``__version__``;
* each ``.dist-info``: its folder name and ``Version:``; ``INSTALLER`` says ``conda``, as
  conda-forge's packages do; ``RECORD`` (pip's uninstall list) is left out.

A plan for a CUDA other than 13.0 cannot be stood in for by these files (torchvision refuses a
torch whose CUDA differs from its own), nor a pip plan: the tests skip, saying so.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .condabox import box_environ, box_layout, site_tree
from .realconda import require_conda
from .venvs import BASE_PYTHON, run

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from .condabox import Channel
    from .realconda import RealConda

#: The real stack whose files stand in (a matched set: torchvision and torchaudio made for it).
STACK = {"torch": "2.14.1", "torchvision": "0.29.1", "torchaudio": "2.11.0"}
#: The build those files are: PyPI's torch 2.14.1 is a CUDA 13.0 build.
FILES_CUDA = "13.0"
#: Where the wheels lie on this machine (torchaudio comes from PyPI).
WHEEL_DIRS = ("/opt/pypi-more/files", "/opt/wheels")

PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
PY_TAG = f"{sys.version_info[0]}{sys.version_info[1]}"
PY_PIN = f"python >={PY},<{sys.version_info[0]}.{sys.version_info[1] + 1}.0a0"
#: A stand-in build hash (conda-forge's are hashes of the build's variant).
HASH = "h0e2e000"

def _wheel_dirs() -> list[str]:
    dirs = [d.removeprefix("file://") for d in os.environ.get("PIP_FIND_LINKS", "").split() if d]
    return [d for d in (*dirs, *WHEEL_DIRS) if os.path.isdir(d)]


def make_real_stack_venv(factory: pytest.TempPathFactory) -> Path:
    """A virtual environment with :data:`STACK` (about 2 minutes and 4.5 GB, most of it the
    NVIDIA libraries; the ``real_stack_venv`` fixture makes it once per session)."""
    if sys.version_info[:2] != (3, 11):
        pytest.skip(f"the torch {STACK['torch']} wheel on this machine is for Python 3.11")
    wheel = next(
        (w for d in _wheel_dirs() for w in Path(d).glob(f"torch-{STACK['torch']}-cp311-*.whl")),
        None,
    )
    if wheel is None:
        pytest.skip(f"no torch {STACK['torch']} wheel on this machine ({', '.join(WHEEL_DIRS)})")
    prefix = factory.mktemp("real-stack") / "env"
    run([str(BASE_PYTHON), "-m", "venv", str(prefix)])
    python = str(prefix / "bin" / "python")
    links = [arg for d in _wheel_dirs() for arg in ("--find-links", d)]
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    pip = [python, "-m", "pip", "install", "-q", "--no-compile", *links]
    proc = run([*pip, "--no-deps", *(f"{k}=={v}" for k, v in STACK.items())],
               env=env, timeout=1800, check=False)  # fmt: skip
    if proc.returncode == 0:  # their dependencies, but triton (only torch.compile needs it)
        script = (
            "from importlib.metadata import requires as r; "
            "print('\\n'.join(q for p in ('torch', 'torchvision', 'torchaudio') "
            "for q in r(p) or () if 'extra ==' not in q))"
        )
        needs = run([python, "-c", script], env=env).stdout.split("\n")
        wanted = [q for q in needs if q.strip() and not q.startswith(("triton", *STACK))]
        proc = run([*pip, *wanted], env=env, timeout=1800, check=False)
    if proc.returncode != 0:
        pytest.skip(f"cannot install the real torch stack: {proc.stderr.strip()[-300:]}")
    return prefix


def _site(prefix: Path) -> Path:
    return prefix / "lib" / f"python{PY}" / "site-packages"


def _dists(site: Path) -> dict[str, tuple[str, str]]:
    """dist-info folder -> (normalized name, version) of every distribution in ``site``."""
    out = {}
    for entry in os.listdir(site):
        m = re.match(r"(.+?)-([^-]+)\.dist-info$", entry)
        if m:
            out[entry] = (re.sub(r"[-_.]+", "-", m.group(1)).lower(), m.group(2))
    return out


def _top_level(site: Path, info: str) -> list[str]:
    """The site-packages entries one distribution installed (from its RECORD)."""
    entries: set[str] = set()
    for line in (site / info / "RECORD").read_text().splitlines():
        path = line.split(",", 1)[0]
        if path and not path.startswith(".."):
            entries.add(path.split("/", 1)[0])
    return sorted(entries)


@dataclass(frozen=True)
class Relabel:
    """What one stand-in package is, and what its files become."""

    name: str  # conda package name
    dist: str  # pip distribution name
    version: str  # the version the package declares (and its files now say)


def _concrete(version: str) -> str:
    """A release of a planned version: ``0.28.*`` -> ``0.28.0``; ``2.13.0`` stays."""
    return version[:-2] + ".0" if version.endswith(".*") else version


def _package_files(
    site: Path, rel_site: str, dist_infos: list[str], relabel: Relabel | None, cpu: bool
) -> tuple[dict[str, Path], dict[str, bytes]]:
    """(hard-linked files, rewritten files) of the distributions ``dist_infos``."""
    tree: dict[str, Path] = {}
    written: dict[str, bytes] = {}
    for info in dist_infos:
        tree.update(site_tree(site, [e for e in _top_level(site, info) if e != info]))
        name, old = _dists(site)[info]
        new_info = info
        if relabel is not None and name == relabel.dist:
            new_info = info.replace(f"-{old}.dist-info", f"-{relabel.version}.dist-info")
        for f in sorted((site / info).iterdir()):
            rel = f"{rel_site}/{new_info}/{f.name}"
            if f.name in ("RECORD", "REQUESTED", "direct_url.json"):
                continue
            if f.name == "INSTALLER":
                written[rel] = b"conda\n"
            elif f.name == "METADATA" and relabel is not None and new_info != info:
                version = f"Version: {relabel.version}"
                written[rel] = re.sub(r"(?m)^Version: .*$", version, f.read_text()).encode()
            elif f.is_file():
                tree[rel] = f
    if relabel is not None:
        rel = f"{rel_site}/{relabel.dist}/version.py"
        text = (site / relabel.dist / "version.py").read_text()
        text = re.sub(r"(?m)^__version__ = .*$", f"__version__ = '{relabel.version}'", text)
        if cpu and relabel.dist == "torch":
            text = re.sub(r"(?m)^cuda(: Optional\[str\])? = .*$", r"cuda\1 = None", text)
        if cpu and relabel.dist == "torchvision":
            text = "\n".join(ln for ln in text.splitlines() if "cuda" not in ln) + "\n"
        tree.pop(rel, None)
        written[rel] = text.encode()
    return tree, written


@dataclass
class Forge:
    """A real conda, a stand-in conda-forge made from the plan, and the environment to run in."""

    conda: RealConda
    root: Path
    condarc: Path
    channel: Channel
    plan: Mapping[str, Any]
    base_environ: dict[str, str]

    @property
    def envs(self) -> Path:
        return self.root / "envs"

    def environ(self, **extra: str) -> dict[str, str]:
        return {**self.base_environ, **extra}

    def conda_run(self, *args: str, check: bool = False, timeout: float = 900, **env: str) -> Any:
        return run([self.conda.exe, *args], env=self.environ(**env), check=check, timeout=timeout)

    def torch(self, *args: str, check: bool = False, timeout: float = 900, **env: str) -> Any:
        """``conda torch ARGS``: conda-torch as conda's plugin, as a user runs it."""
        return self.conda_run("torch", *args, check=check, timeout=timeout, **env)


def make_forge(base: Path, venv: Path) -> Forge:
    """The stand-in conda-forge for the plan conda-torch makes for this machine (see above)."""
    conda = require_conda()
    root, chan, condarc = box_layout(base, "forge", f"default_python: '{PY}'")
    environ = box_environ(root, condarc, chan.pkgs)
    chan.index()  # an empty channel is enough to plan
    asked = run([conda.exe, "torch", "generate", "--json", "-o", "-"], env=environ, check=False)
    if asked.returncode != 0:
        raise AssertionError(f"conda torch generate failed:\n{asked.stdout}\n{asked.stderr}")
    plan = json.loads(asked.stdout)["plan"]
    _fill(chan, plan, venv)
    chan.index()
    return Forge(conda, root, condarc, chan, plan, environ)


def _variant(plan: Mapping[str, Any]) -> tuple[str, bool]:
    """(build-string prefix, is CPU) of a conda-forge plan; skips what these files cannot be."""
    if plan.get("source") != "conda-forge":
        pytest.skip(f"this machine's plan takes torch from {plan.get('source')}, not conda-forge")
    if plan.get("python") != PY:
        pytest.skip(f"the plan's Python is {plan.get('python')}; the stand-in Python is {PY}")
    kind = plan.get("backend_kind")
    if kind == "cpu":
        return "cpu", True
    cuda = re.fullmatch(r"cu(\d+)", str(plan.get("backend")))
    if kind == "cuda" and cuda and cuda.group(1) == FILES_CUDA.replace(".", ""):
        return f"cuda{cuda.group(1)}", False
    pytest.skip(f"the files are a CUDA {FILES_CUDA} build; the plan is {plan.get('backend')}")
    raise AssertionError  # pragma: no cover


def _fill(chan: Channel, plan: Mapping[str, Any], venv: Path) -> None:
    prefix, cpu = _variant(plan)
    site = _site(venv)
    rel_site = f"lib/python{PY}/site-packages"
    dists = _dists(site)
    by_name = {name: info for info, (name, _v) in dists.items()}
    torch_v = _concrete(str(plan["torch"]))
    major, minor = (int(x) for x in torch_v.split(".")[:2])
    torch_pin = f"pytorch >={major}.{minor},<{major}.{minor + 1}.0a0"
    variant_pin = f"pytorch * {prefix}*"

    # python: this machine's interpreter, as a venv-style prefix
    full = ".".join(map(str, sys.version_info[:3]))
    home = BASE_PYTHON.resolve().parent
    chan.add(
        "python", full, "0_venv", subdir="linux-64",
        files={"pyvenv.cfg": f"home = {home}\ninclude-system-site-packages = false\n"
                             f"version = {full}\n".encode()},
        links={f"bin/python{PY}": str(BASE_PYTHON.resolve()), "bin/python": f"python{PY}",
               "bin/python3": f"python{PY}"},
    )  # fmt: skip
    depends_cuda: tuple[str, ...] = ()
    if not cpu:
        cuda = str(plan["backend"])[2:]
        cv = f"{cuda[:-1]}.{cuda[-1]}"
        chan.add("cuda-version", cv, "h0e2e000_3", constrains=(f"__cuda >={cuda[:-1]}",))
        depends_cuda = ("__cuda", f"cuda-version >={cv},<{int(cuda[:-1]) + 1}.0a0")

    companions = {"torchvision", "torchaudio", "pillow"}
    keep_out = {"pip", "setuptools", *companions}
    torch_infos = [info for info, (name, _v) in dists.items() if name not in keep_out]
    tree, written = _package_files(
        site, rel_site, torch_infos, Relabel("pytorch", "torch", torch_v), cpu
    )
    chan.add(
        "pytorch", torch_v, f"{prefix}_mkl_py{PY_TAG}_{HASH}_0", subdir="linux-64",
        files=written, cached_tree=tree, depends=(PY_PIN, *depends_cuda),
    )  # fmt: skip
    pillow_v = dists[by_name["pillow"]][1]
    tree, written = _package_files(site, rel_site, [by_name["pillow"]], None, cpu)
    chan.add(
        "pillow", pillow_v, f"py{PY_TAG}{HASH}_0", subdir="linux-64",
        files=written, cached_tree=tree, depends=(PY_PIN,),
    )  # fmt: skip
    for name, build, extra in (
        ("torchvision", f"{prefix}_py{PY_TAG}_{HASH}_0", ("pillow >=5.3.0,!=8.3.0,!=8.3.1",)),
        ("torchaudio", f"{prefix}_py{PY_TAG}{HASH}_0", ()),
    ):
        if not plan.get(name):
            continue
        version = _concrete(str(plan[name]))
        tree, written = _package_files(
            site, rel_site, [by_name[name]], Relabel(name, name, version), cpu
        )
        chan.add(
            name, version, build, subdir="linux-64", files=written, cached_tree=tree,
            depends=(PY_PIN, torch_pin, variant_pin, *extra),
        )  # fmt: skip
    # one package of a team's own, to see it carried through
    chan.add("alpha", "1.0")
