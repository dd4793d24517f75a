"""Stand-in channels generated from the channels' own per-build data, for real solves.

``conda_forge(root)`` writes a local ``conda-forge`` whose repodata holds one record per build
and Python in ``data/conda-forge/builds.yaml`` (conda-forge's feedstocks, read by
``tools/feedstock_builds.py``), declaring what the real build declares:

* its name, version, build number and a build string of the recipe's pattern
  (``cuda129_py312_h1a2b3c4_0``);
* ``python >=X.Y,<X.(Y+1).0a0`` (``pin_run_as_build`` python ``x.x``);
* pytorch CUDA builds: ``__cuda`` (fact ``pytorch_cuda_run_dep``);
* every CUDA build: ``cuda-version >=X.Y,<X+1`` for its own compiler (``nvcc_strong_run_export``);
* torchvision/torchaudio: ``pytorch >=M,<M+1`` for the minor it was built against (pytorch's
  ``run_exports``, fact ``pytorch_run_exports``) and ``pytorch * cuda*``/``cpu*`` (their run
  requirement);
* ``__glibc >=X`` / ``__osx >=X`` where the variant sets a C library floor.

``cuda-version`` stand-ins constrain ``__cuda >=<major>`` (``cuda_version_run_constrained``).
The packages have no files: the tests only solve (``--dry-run``), which reads repodata alone.
Other run requirements (libtorch, blas, triton, ...) are left out: they do not decide whether
the torch stack is co-installable.

``pytorch_channel(root)`` does the same for the frozen ``pytorch`` channel (and the
``nvidia``/``defaults`` packages it leans on) from ``data/pytorch-channel/builds.yaml``: what
pytorch/builder's recipe declares, ``mkl >=2018`` open-ended, and mkl stand-ins 2023.1, 2024.0
and 2024.2 so a file that does not cap mkl would take the one that breaks ``import torch``.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from .paths import ROOT

CF_BUILDS = ROOT / "data" / "conda-forge" / "builds.yaml"
PYTORCH_CHANNEL = ROOT / "data" / "pytorch-channel" / "builds.yaml"

SUBDIRS = ("linux-64", "linux-aarch64", "osx-64", "osx-arm64", "win-64")
PYTHONS = ("3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14")
CUDA_VERSIONS = (
    "10.2", "11.0", "11.1", "11.2", "11.3", "11.6", "11.7", "11.8",
    "12.0", "12.1", "12.4", "12.6", "12.8", "12.9", "13.0", "13.1", "13.2",
)  # fmt: skip


def _load(path: Path) -> Any:
    return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))


def _vt(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v))


def _next_minor(v: str) -> str:
    major, minor = _vt(v)[:2]
    return f"{major}.{minor + 1}"


def _hash(*parts: str) -> str:
    return "h" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:8]


class Repo:
    """Records per subdir, written as ``repodata.json`` files under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.records: dict[str, dict[str, dict[str, Any]]] = {}

    def add(
        self,
        subdir: str,
        name: str,
        version: str,
        build: str,
        number: int = 0,
        depends: list[str] | None = None,
        constrains: list[str] | None = None,
    ) -> None:
        fn = f"{name}-{version}-{build}.tar.bz2"
        record = {
            "name": name,
            "version": version,
            "build": build,
            "build_number": number,
            "depends": list(depends or ()),
            "constrains": list(constrains or ()),
            "subdir": subdir,
            "md5": hashlib.md5(fn.encode()).hexdigest(),
            "size": 1,
        }
        if subdir == "noarch":
            record["noarch"] = "generic"
        self.records.setdefault(subdir, {})[fn] = record

    def write(self) -> str:
        for subdir in {*SUBDIRS, "noarch"}:
            write_repodata(self.root, subdir, self.records.get(subdir, {}))
        return self.root.as_uri()


def write_repodata(root: Path, subdir: str, packages: dict[str, dict[str, Any]]) -> None:
    """``root/subdir/repodata.json`` listing ``packages`` (file name -> record): what a local
    ``file://`` channel needs for conda to solve from it."""
    folder = root / subdir
    folder.mkdir(parents=True, exist_ok=True)
    doc = {
        "info": {"subdir": subdir},
        "packages": packages,
        "packages.conda": {},
        "repodata_version": 1,
    }
    (folder / "repodata.json").write_text(json.dumps(doc), encoding="utf-8")


def _pythons(repo: Repo) -> None:
    for subdir in SUBDIRS:
        for py in PYTHONS:
            repo.add(subdir, "python", f"{py}.0", f"0_{py.replace('.', '')}")


def _build_string(pattern: str, py: str, key: str) -> str:
    out = pattern.replace("py*", f"py{py.replace('.', '')}", 1)
    return out.replace("h*", _hash(key, py), 1).replace("*", "")


def _run_spec(spec: str) -> str | None:
    """A recipe run requirement as a repodata ``depends`` entry, or None where it is not one
    the stand-ins model. ``pytorch * [build=cuda*]`` -> ``pytorch * cuda*``."""
    spec = spec.strip()
    name = spec.split()[0] if spec else ""
    if name == "__cuda":
        return "__cuda"
    if name != "pytorch":
        return None
    m = re.fullmatch(r"pytorch \* \[build=([^\]]+)\]", spec)
    if m:
        return f"pytorch * {m.group(1)}"
    if re.fullmatch(r"pytorch \* (cuda|cpu)\S*", spec):
        return spec
    return None


def conda_forge(root: Path) -> str:
    """Write the stand-in conda-forge under ``root``; returns its ``file://`` URL."""
    data = _load(CF_BUILDS)
    repo = Repo(root / "conda-forge")
    _pythons(repo)
    for cuda in CUDA_VERSIONS:
        major = cuda.split(".")[0]
        repo.add("noarch", "cuda-version", cuda, "0", constrains=[f"__cuda >={major}"])
    repo.add("noarch", "pip", "25.0", "pyh0", depends=["python >=3.8"])
    for b in data["builds"]:
        if b.get("arm_variant") == "tegra":
            continue
        for py in b["python"]:
            depends = [f"python >={py},<{_next_minor(py)}.0a0"]
            if b.get("cuda"):
                cmaj = _vt(b["cuda"])[0]
                depends.append(f"cuda-version >={b['cuda']},<{cmaj + 1}")
            if b["package"] != "pytorch":
                minor = str(b["pytorch"])
                depends.append(f"pytorch >={minor},<{_next_minor(minor)}.0a0")
            for spec in b.get("run") or ():
                converted = _run_spec(str(spec))
                if converted and converted not in depends:
                    depends.append(converted)
            if b.get("glibc"):
                depends.append(f"__glibc >={b['glibc']}")
            if b.get("macos"):
                depends.append(f"__osx >={b['macos']}")
            key = f"{b['package']}-{b['version']}-{b['number']}-{b['subdir']}-{b.get('cuda')}"
            key += f"-{b.get('blas')}"
            repo.add(
                b["subdir"],
                b["package"],
                b["version"],
                _build_string(b["string"], py, key),
                int(b["number"]),
                depends,
            )
    return repo.write()


#: pytorch-channel releases -> the patch versions and companions published for them
#: (pytorch.org "Previous PyTorch Versions": the conda commands).
PYTORCH_CHANNEL_STACKS = {
    "2.5": ("2.5.1", "0.20.1", "2.5.1"),
    "2.4": ("2.4.1", "0.19.1", "2.4.1"),
    "2.3": ("2.3.1", "0.18.1", "2.3.1"),
    "2.2": ("2.2.2", "0.17.2", "2.2.2"),
    "2.1": ("2.1.2", "0.16.2", "2.1.2"),
    "2.0": ("2.0.1", "0.15.2", "2.0.2"),
    "1.13": ("1.13.1", "0.14.1", "0.13.1"),
    "1.12": ("1.12.1", "0.13.1", "0.12.1"),
}


def pytorch_channel(root: Path) -> dict[str, str]:
    """Stand-in ``pytorch``, ``nvidia`` and ``defaults`` channels; returns name -> URL."""
    data = _load(PYTORCH_CHANNEL)
    pt = Repo(root / "pytorch")
    nv = Repo(root / "nvidia")
    df = Repo(root / "defaults")
    _pythons(df)
    df.add("noarch", "pip", "25.0", "pyh0", depends=["python >=3.8"])
    for subdir in ("linux-64", "osx-64", "win-64"):
        for mkl in ("2023.1.0", "2024.0.0", "2024.2.2"):
            df.add(subdir, "mkl", mkl, "h0")
    for subdir in SUBDIRS:
        df.add(subdir, "cudatoolkit", "11.6.0", "h0")  # 11.6 came from conda-forge too
        for ct in ("10.2.89", "11.3.1"):
            pt.add(subdir, "cudatoolkit", ct, "h0")
    for variant in ("cpu", "cuda"):
        pt.add("noarch", "pytorch-mutex", "1.0", variant)
    pt.add("noarch", "cpuonly", "2.0", "0", depends=["pytorch-mutex 1.0 cpu"])
    for rel in data["releases"]:
        minor = str(rel["release"])
        if minor not in PYTORCH_CHANNEL_STACKS:
            continue
        torch, vision, audio = PYTORCH_CHANNEL_STACKS[minor]
        for cuda in rel.get("cuda") or ():
            version = str(cuda["cuda"])
            req = str(cuda["requires"])
            if req.startswith("pytorch-cuda"):
                pt.add(
                    "noarch",
                    "pytorch-cuda",
                    version,
                    "h0",
                    depends=[f"cuda-runtime >={version},<{_next_minor(version)}"],
                )
                nv.add("noarch", "cuda-runtime", f"{version}.0", "0")
        for subdir in ("linux-64", "osx-64", "osx-arm64", "win-64"):
            for py in PYTHONS[:-1]:
                base = [f"python >={py},<{_next_minor(py)}.0a0"]
                if subdir in ("linux-64", "osx-64"):
                    base.append("mkl >=2018")  # the recipe's open-ended "mkl >=2018 # [x86_64]"
                variants: list[tuple[str, list[str]]] = [("cpu", ["pytorch-mutex 1.0 cpu"])]
                if subdir.startswith("osx"):
                    variants = [("cpu", [])]
                elif subdir in ("linux-64", "win-64"):
                    for cuda in rel.get("cuda") or ():
                        variants.append(
                            (
                                f"cuda{cuda['cuda']}",
                                [str(cuda["requires"]), "pytorch-mutex 1.0 cuda"],
                            )
                        )
                for tag, deps in variants:
                    build = f"py{py}_{tag}_0"
                    pt.add(subdir, "pytorch", torch, build, 0, base + deps)
                vision_py = [f"python >={py},<{_next_minor(py)}.0a0", f"pytorch =={torch}"]
                pt.add(subdir, "torchvision", vision, f"py{py}_0", 0, vision_py)
                pt.add(subdir, "torchaudio", audio, f"py{py}_0", 0, vision_py)
    return {"pytorch": pt.write(), "nvidia": nv.write(), "defaults": df.write()}


def conda_tarball(
    index: dict[str, Any], files: dict[str, bytes | str], executable: tuple[str, ...] = ()
) -> bytes:
    """A ``.tar.bz2`` conda package: ``info/index.json`` (``index``), ``info/files``,
    ``info/paths.json`` and ``files`` (``bin/*`` and ``executable`` ones mode 755)."""
    blobs = {p: (d.encode() if isinstance(d, str) else d) for p, d in files.items()}
    paths = {
        "paths_version": 1,
        "paths": [
            {"_path": p, "path_type": "hardlink", "sha256": hashlib.sha256(d).hexdigest(),
             "size_in_bytes": len(d)}
            for p, d in blobs.items()
        ],
    }  # fmt: skip
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:bz2") as tf:

        def add(path: str, data: bytes, mode: int = 0o644) -> None:
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tf.addfile(info, io.BytesIO(data))

        add("info/index.json", json.dumps(index).encode())
        add("info/files", ("\n".join(blobs) + "\n").encode())
        add("info/paths.json", json.dumps(paths).encode())
        for p, d in blobs.items():
            add(p, d, 0o755 if p in executable or p.startswith("bin/") else 0o644)
    return buf.getvalue()


def make_installable(
    channel_url: str, linked: dict[str, dict[str, Any]], files: dict[str, dict[str, str]]
) -> None:
    """Turn the stand-in records a solve picked (``linked``: conda's ``LINK`` entries by name)
    into real packages, so that conda can install them: each gets a tarball whose
    ``info/index.json`` is its repodata record, holding ``files[name]`` (else one marker file),
    and its record the tarball's checksums and size."""
    root = Path(channel_url.removeprefix("file://"))
    changed: dict[str, dict[str, Any]] = {}
    for name, link in linked.items():
        subdir = link["platform"] if link.get("platform") else "noarch"
        folder = root / subdir
        doc = changed.get(subdir) or json.loads((folder / "repodata.json").read_text())
        filename = f"{link['dist_name']}.tar.bz2"
        record = doc["packages"][filename]
        index = {k: v for k, v in record.items() if k not in ("md5", "sha256", "size")}
        content = files.get(name) or {f"share/conda-torch-standin/{name}.txt": f"{name}\n"}
        data = conda_tarball(index, content)
        (folder / filename).write_bytes(data)
        record.update(md5=hashlib.md5(data).hexdigest(), sha256=hashlib.sha256(data).hexdigest(),
                      size=len(data))  # fmt: skip
        changed[subdir] = doc
    for subdir, doc in changed.items():
        (root / subdir / "repodata.json").write_text(json.dumps(doc), encoding="utf-8")
