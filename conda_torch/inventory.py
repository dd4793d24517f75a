"""What is installed in an environment: conda records, pip distributions, the torch ``Build``.

Read from disk only (``conda-meta/*.json``, ``*.dist-info``/``*.egg-info``): no conda, no Python
run. :func:`inventory` gives an :class:`Inventory`; :func:`installed_torch` says what its torch
was built for. ``doctor`` judges what this module reads; ``recreate`` carries it over;
``parsers.packages`` reads the same :class:`Build` from a pasted listing.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .constants import CONDA_ABI_STACK, CONDA_CARRIERS, DEFAULTS_CHANNELS, PIP_STACK
from .models import channel_name

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "Build",
    "CondaRecord",
    "Inventory",
    "PipDist",
    "conda_build",
    "cuda_from_digits",
    "installed_torch",
    "inventory",
    "normalize",
    "pip_build",
    "site_packages_dirs",
]

_CUDA_IN_BUILD = re.compile(r"(?<![a-z])(?:cuda|cu)(\d+)(?:\.(\d+))?", re.I)
_ROCM_IN_BUILD = re.compile(r"rocm(\d+(?:\.\d+)*)", re.I)


def normalize(name: str) -> str:
    """PEP 503 name: ``Torch_Vision`` -> ``torch-vision``."""
    return re.sub(r"[-_.]+", "-", name).lower()


# ---------------------------------------------------------------------------------------------
# what is installed: conda records and pip metadata, read from disk (no conda, no Python run)


@dataclass(frozen=True)
class CondaRecord:
    """One ``conda-meta/<name>-<version>-<build>.json`` record."""

    name: str
    version: str
    build: str
    #: Where it came from, as a channel name: ``conda-forge``, ``pytorch``, ``pkgs/main``, a URL.
    channel: str
    subdir: str | None = None
    depends: tuple[str, ...] = ()

    @property
    def defaults(self) -> bool:
        return self.channel in DEFAULTS_CHANNELS

    def label(self) -> str:
        return f"{self.name} {self.version} {self.build} ({self.channel})"


@dataclass(frozen=True)
class PipDist:
    """One ``*.dist-info`` (or ``*.egg-info``) directory in a site-packages."""

    name: str
    version: str
    #: The dist-info directory.
    path: str
    #: ``INSTALLER`` file's content (``pip``, ``conda``, ``uv``, ...), None when absent.
    installer: str | None
    #: True when a conda record lists this metadata directory among its files.
    conda_owned: bool = False
    #: ``Requires-Dist`` lines (read for the stack only: they name the CUDA wheels).
    requires: tuple[str, ...] = ()
    #: ``direct_url.json``'s url (a local path or VCS URL the user installed from).
    direct_url: str | None = None
    editable: bool = False

    @property
    def by_pip(self) -> bool:
        """Installed by a Python installer, not by conda."""
        return not self.conda_owned and (self.installer or "pip").lower() != "conda"

    def requirement(self) -> str:
        """A pip requirement line that reinstalls this distribution."""
        if self.direct_url:
            return f"-e {self.direct_url}" if self.editable else self.direct_url
        return f"{self.name}=={self.version}"


@dataclass(frozen=True)
class Inventory:
    """What an environment holds according to its metadata."""

    prefix: str
    records: tuple[CondaRecord, ...] = ()
    dists: tuple[PipDist, ...] = ()
    site_packages: tuple[str, ...] = ()

    @property
    def conda(self) -> bool:
        return (Path(self.prefix) / "conda-meta").is_dir()

    def record(self, *names: str) -> CondaRecord | None:
        for r in self.records:
            if r.name in names:
                return r
        return None

    def dist(self, name: str) -> list[PipDist]:
        key = normalize(name)
        return [d for d in self.dists if d.name == key]

    @property
    def python_version(self) -> str | None:
        rec = self.record("python")
        if rec is not None:
            return ".".join(rec.version.split(".")[:2])
        for sp in self.site_packages:
            m = re.search(r"python(\d+\.\d+)t?[/\\]site-packages$", sp)
            if m:
                return m.group(1)
        return None

    @property
    def has_stack(self) -> bool:
        return bool(self.record(*CONDA_ABI_STACK) or any(self.dist(n) for n in PIP_STACK))


def site_packages_dirs(prefix: str | os.PathLike[str]) -> list[Path]:
    root = Path(prefix)
    found = sorted(root.glob("lib/python*/site-packages"))
    win = root / "Lib" / "site-packages"
    if win.is_dir():
        found.append(win)
    return [p for p in found if p.is_dir()]


def _read_records(meta: Path) -> tuple[list[CondaRecord], set[str]]:
    """Records of ``conda-meta``, and every ``*.dist-info``/``*.egg-info`` path they own."""
    records: list[CondaRecord] = []
    owned: set[str] = set()
    try:
        names = sorted(os.listdir(meta))
    except OSError:
        return records, owned
    for fname in names:
        if not fname.endswith(".json") or fname[:-5].count("-") < 2:
            continue
        try:
            doc = json.loads((meta / fname).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(doc, dict):
            continue
        name, version, build = fname[:-5].rsplit("-", 2)
        channel = doc.get("channel") or doc.get("schannel") or doc.get("url") or ""
        records.append(
            CondaRecord(
                name=str(doc.get("name") or name),
                version=str(doc.get("version") or version),
                build=str(doc.get("build") or build),
                channel=channel_name(str(channel)),
                subdir=doc.get("subdir"),
                depends=tuple(str(d) for d in doc.get("depends") or ()),
            )
        )
        for f in doc.get("files") or ():
            if not isinstance(f, str):
                continue
            m = re.match(
                r"^(.*?site-packages/[^/]+\.(?:dist-info|egg-info))(?:/|$)", f.replace("\\", "/")
            )
            if m:
                owned.add(m.group(1))
    return records, owned


def _metadata_headers(path: Path) -> dict[str, list[str]]:
    """RFC 822 headers of a METADATA/PKG-INFO file (up to the first blank line)."""
    out: dict[str, list[str]] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.strip():
                    break
                if line[:1] in " \t" or ":" not in line:
                    continue
                key, _, value = line.partition(":")
                out.setdefault(key.strip().lower(), []).append(value.strip())
    except OSError:
        pass
    return out


def _read_dists(site: Path, prefix: Path, owned: set[str]) -> list[PipDist]:
    dists: list[PipDist] = []
    try:
        entries = sorted(os.listdir(site))
    except OSError:
        return dists
    for entry in entries:
        if not entry.endswith((".dist-info", ".egg-info")):
            continue
        folder = site / entry
        meta_file = folder / ("METADATA" if entry.endswith(".dist-info") else "PKG-INFO")
        if not folder.is_dir() or not meta_file.is_file():
            continue
        headers = _metadata_headers(meta_file)
        stem = entry.rsplit(".", 1)[0]
        name = (headers.get("name") or [stem.split("-")[0]])[0]
        version = (headers.get("version") or [stem.split("-")[1] if "-" in stem else "?"])[0]
        try:
            installer = (folder / "INSTALLER").read_text(encoding="utf-8").strip() or None
        except OSError:
            installer = None
        try:
            rel = folder.relative_to(prefix).as_posix()
        except ValueError:
            rel = folder.as_posix()
        direct_url = None
        editable = False
        try:
            doc = json.loads((folder / "direct_url.json").read_text(encoding="utf-8"))
            if isinstance(doc, dict) and isinstance(doc.get("url"), str):
                direct_url = doc["url"]
                editable = bool((doc.get("dir_info") or {}).get("editable"))
        except (OSError, ValueError):
            pass
        norm = normalize(name)
        dists.append(
            PipDist(
                name=norm,
                version=version,
                path=str(folder),
                installer=installer,
                conda_owned=rel in owned,
                requires=tuple(headers.get("requires-dist", ())) if norm in PIP_STACK else (),
                direct_url=direct_url,
                editable=editable,
            )
        )
    return dists


def inventory(prefix: str | os.PathLike[str], *, site_packages: Sequence[str] = ()) -> Inventory:
    """Read ``prefix``'s conda records and the pip metadata in its site-packages.

    ``site_packages`` adds folders to scan (a venv's, as its Python reports them).
    """
    root = Path(prefix)
    records, owned = _read_records(root / "conda-meta")
    sites = site_packages_dirs(root)
    for extra in site_packages:
        p = Path(extra)
        if p.is_dir() and p not in sites:
            sites.append(p)
    dists: list[PipDist] = []
    for site in sites:
        dists.extend(_read_dists(site, root, owned))
    return Inventory(
        prefix=str(root),
        records=tuple(records),
        dists=tuple(dists),
        site_packages=tuple(str(s) for s in sites),
    )


# ---------------------------------------------------------------------------------------------
# what the installed torch is built for, read from metadata


@dataclass(frozen=True)
class Build:
    """An installed torch, as its metadata describes it."""

    #: ``conda`` or ``pip``.
    installer: str
    version: str
    #: ``cuda``, ``rocm``, ``cpu`` or ``unknown``.
    kind: str
    cuda: str | None = None
    rocm: str | None = None
    channel: str | None = None
    build: str | None = None

    @property
    def base_version(self) -> str:
        return self.version.split("+")[0]

    def describe(self) -> str:
        what = {
            "cuda": f"CUDA {self.cuda}" if self.cuda else "CUDA",
            "rocm": f"ROCm {self.rocm or ''}".strip(),
            "cpu": "CPU",
            "unknown": "unknown build",
        }[self.kind]
        where = f"conda, {self.channel}" if self.installer == "conda" else "pip"
        return f"torch {self.base_version} ({what}; {where})"


def cuda_from_digits(major: str, minor: str | None) -> str:
    if minor is not None:
        return f"{int(major)}.{int(minor)}"
    # cuda129 -> 12.9, cu118 -> 11.8, cuda92 -> 9.2, cu130 -> 13.0
    if len(major) >= 3:
        return f"{int(major[:-1])}.{int(major[-1])}"
    if len(major) == 2:
        return f"{int(major[0])}.{int(major[1])}"
    return f"{int(major)}.0"


def conda_build(record: CondaRecord, inv: Inventory | None = None) -> Build:
    """What a conda ``pytorch`` record was built for, from its build string and dependencies."""
    b = record.build.lower()
    kind, cuda, rocm = "unknown", None, None
    m = _CUDA_IN_BUILD.search(b)
    r = _ROCM_IN_BUILD.search(b)
    if m and "cpu" not in b.split("_")[:1]:
        kind, cuda = "cuda", cuda_from_digits(m.group(1), m.group(2))
    elif r:
        kind, rocm = "rocm", r.group(1)
    elif "cpu" in b or "generic" in b:
        kind = "cpu"
    else:
        deps = " ".join(record.depends)
        if "__cuda" in deps or "cuda-version" in deps or "pytorch-cuda" in deps:
            kind = "cuda"
    if kind == "cuda" and inv is not None:
        cv = inv.record("cuda-version")
        if cv is not None and not cuda:
            cuda = ".".join(cv.version.split(".")[:2])
    return Build(
        "conda",
        record.version,
        kind,
        cuda=cuda,
        rocm=rocm,
        channel=record.channel,
        build=record.build,
    )


def pip_build(dist: PipDist) -> Build:
    """What a pip ``torch`` was built for: its local version tag, else the CUDA wheels it needs."""
    local = dist.version.split("+", 1)[1].lower() if "+" in dist.version else ""
    if local.startswith("cpu"):
        return Build("pip", dist.version, "cpu")
    if local.startswith("rocm"):
        return Build("pip", dist.version, "rocm", rocm=local[4:] or None)
    m = re.match(r"cu(\d+)$", local)
    if m:
        return Build("pip", dist.version, "cuda", cuda=cuda_from_digits(m.group(1), None))
    for req in dist.requires:
        mm = re.match(r"nvidia-cuda-runtime(?:-cu(\d+))?\s*[=~<>!]=?\s*(\d+)\.(\d+)", req, re.I)
        if mm:
            return Build("pip", dist.version, "cuda", cuda=f"{int(mm.group(2))}.{int(mm.group(3))}")
        if re.match(r"nvidia-", req, re.I) and "extra ==" not in req:
            return Build("pip", dist.version, "cuda")
    if not local:
        # A PyPI wheel without a local tag and without CUDA wheels: CPU on macOS/Windows/
        # aarch64 before 2.11; on Linux x86_64 it always needs nvidia-* wheels.
        return Build("pip", dist.version, "cpu" if dist.requires else "unknown")
    return Build("pip", dist.version, "unknown")


def installed_torch(inv: Inventory) -> Build | None:
    """The torch the environment's site-packages holds (pip's copy wins: it was written last)."""
    pip = [d for d in inv.dist("torch") if d.by_pip]
    if pip:
        return pip_build(pip[0])
    rec = inv.record(*CONDA_CARRIERS["torch"])
    if rec is not None:
        return conda_build(rec, inv)
    any_dist = inv.dist("torch")
    return pip_build(any_dist[0]) if any_dist else None
