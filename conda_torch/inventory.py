"""What is installed in an environment: its conda records, pip distributions and torch build.

Read from disk (``conda-meta`` through :func:`conda_api.prefix_records`, ``*.dist-info``/
``*.egg-info``): no Python run. :func:`inventory` gives an :class:`Inventory`;
:func:`installed_torch` says what its torch was built for (values from :mod:`.builds`).
``doctor`` judges what this module reads; ``recreate`` carries it over.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from .builds import CondaRecord, PipDist, conda_build, normalize, pip_build
from .conda_api import prefix_records
from .constants import CONDA_ABI_STACK, CONDA_CARRIERS, PIP_STACK
from .models import channel_name
from .values import value_class

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Sequence

    from .builds import Build

__all__ = ["Inventory", "installed_torch", "inventory", "site_packages_dirs"]

# ---------------------------------------------------------------------------------------------
# what is installed: conda records and pip metadata, read from disk (no conda, no Python run)


@value_class
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
    """Records of ``conda-meta`` (conda's ``PrefixData`` where conda imports), and every
    ``*.dist-info``/``*.egg-info`` path they own."""
    records: list[CondaRecord] = []
    owned: set[str] = set()
    for rec in prefix_records(meta.parent):
        records.append(
            CondaRecord(
                name=rec.name,
                version=rec.version,
                build=rec.build,
                channel=channel_name(rec.channel),
                subdir=rec.subdir,
                depends=rec.depends,
            )
        )
        for f in rec.files:
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
