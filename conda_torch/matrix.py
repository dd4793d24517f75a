"""The compatibility matrix: which torch builds exist, what pairs with what, what runs here.

The data is one dated JSON file, ``conda_torch/data/matrix.json``, generated from the sourced
reference in ``data/reference/pytorch`` by ``tools/build_matrix.py`` (declared once there;
every row cites the keys of :attr:`Matrix.sources`). :func:`load` reads it (cached); nothing
here parses YAML or touches the machine.

Questions it answers:

* :meth:`Matrix.torch_versions`, :meth:`Matrix.resolve_torch` -- which releases exist;
* :meth:`Matrix.companions`, :meth:`Matrix.pairing_ok` -- torchvision/torchaudio pairings;
* :meth:`Matrix.candidates` -- every build that exists for a subdir/Python/source/backend,
  each a :class:`Candidate` with the exact conda specs or pip specs that install it;
* :meth:`Matrix.evaluate` -- which of those run on a :class:`~conda_torch.machine.Machine`
  (NVIDIA driver floor, compute capability against the compiled architectures and PTX, ROCm,
  XPU, Apple silicon and macOS floors), ranked best first, with a reason for every rejection.

What the reference marks unverified is either left out (see :attr:`Matrix.left_out`) or kept
and named in :attr:`Candidate.unverified` as ``"field: reason"``.
"""

from __future__ import annotations

import functools
import json
import os
import re
import time

from . import compat
from .constants import CONDA_OVERRIDE_CUDA, SUBDIRS
from .exceptions import CondaTorchValueError, IncompatibleError, UnknownVersionError
from .models import Backend, Source, Subdir, version_tuple
from .patterns import lazy_re
from .values import field, value_class

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    import datetime
    from collections.abc import Callable, Sequence
    from typing import Any

    from .machine import GPU, Machine

__all__ = ["Candidate", "Limit", "Matrix", "Verdict", "load"]

#: Schema of ``data/matrix.json`` this module reads.
SCHEMA = "conda-torch.matrix/1"

#: After this many months the dataset is called stale (newer releases may exist).
STALE_MONTHS = 6

#: Where PyTorch's pip indexes live: ``<INDEX><backend>`` (``.../whl/cu126``).
INDEX = "https://download.pytorch.org/whl/"

#: Tie-break order of sources when everything else is equal.
SOURCE_ORDER = (Source.CONDA_FORGE, Source.PIP, Source.PYTORCH)


# -- values -------------------------------------------------------------------------------


@value_class
class Candidate:
    """One installable build: a torch release from one source, for one subdir and backend.

    ``torchvision``/``torchaudio`` are the exact versions for pip and the ``pytorch`` channel;
    for conda-forge they are the series (``"0.24.*"``), because conda-forge rebuilds a
    torchvision patch release against each pytorch (its torchvision 0.24.0 was built for
    pytorch 2.9.1) and the solver picks the build made for the pinned pytorch. ``None`` means
    the source has none for this build.

    ``specs`` are the conda ``dependencies:`` entries (without ``python``) for conda sources,
    in install order; ``channels`` are the channels in the order to list them. For pip,
    ``specs`` is empty and ``pip_specs`` (with ``+cuXXX``-style local tags when the wheels come
    from ``pip_index``) are the ``pip:`` entries; ``pip_index`` is ``None`` for plain PyPI.
    The local tags make the specs safe with ``--extra-index-url`` as well as ``--index-url``.

    ``min_driver`` is the NVIDIA driver floor of this build's CUDA toolkit on this subdir's OS
    (NVIDIA Table 3); ``min_driver_compat`` the lower floor that CUDA minor-version
    compatibility allows (no PTX JIT of newer PTX). ``requires_cuda`` is the virtual-package
    spec the build needs where minor-version compatibility carries it (``"__cuda>=12"``);
    :attr:`Verdict.requires_cuda` says what it needs on one machine (the full ``X.Y`` where a
    GPU needs PTX JIT).

    ``unverified`` holds ``"field: reason"`` strings for data the sources could not confirm;
    ``sources`` are citation keys of :attr:`Matrix.sources`.
    """

    torch: str
    torchvision: str | None
    torchaudio: str | None
    source: Source
    subdir: Subdir
    backend: Backend
    pythons: tuple[str, ...]
    gpu_archs: tuple[str, ...] = ()
    ptx: str | None = None
    min_driver: str | None = None
    min_driver_compat: str | None = None
    channels: tuple[str, ...] = ()
    specs: tuple[str, ...] = ()
    pip_index: str | None = None
    pip_specs: tuple[str, ...] = ()
    requires_cuda: str | None = None
    unverified: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    #: How the build is named in sentences: "cu128", "cuda 12.9 build", "pytorch-cuda 12.4".
    label: str = ""
    notes: tuple[str, ...] = ()
    #: Pythons a companion covers where it covers fewer than torch: ``(("torchaudio", (...)),)``.
    companion_pythons: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: GPU architectures of a companion's own CUDA build (conda-forge's torchvision compiles its
    #: own list): ``(("torchvision", archs, ptx),)``; a GPU needs code in each.
    companion_archs: tuple[tuple[str, tuple[str, ...], str | None], ...] = ()
    #: The OS floors of the builds (conda-forge's ``__glibc >=X`` / ``__osx >=X`` run exports).
    glibc: str | None = None
    macos: str | None = None
    #: Where each build of the row was read (``repo@commit:path``), for conda-forge rows.
    feedstock: tuple[str, ...] = ()

    def pythons_for(self, wanted: Sequence[str] = ("torchvision", "torchaudio")) -> tuple[str, ...]:
        """The Pythons torch and every ``wanted`` companion it carries all cover."""
        covered = set(self.pythons)
        for name, pys in self.companion_pythons:
            if name in wanted and getattr(self, name) is not None:
                covered &= set(pys)
        return tuple(p for p in self.pythons if p in covered)

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.torch, str(self.source), str(self.subdir), str(self.backend))

    @property
    def minor(self) -> str:
        return ".".join(self.torch.split(".")[:2])

    @property
    def pypi(self) -> bool:
        """Whether this is the wheel a plain ``pip install torch`` gets (no extra index)."""
        return self.source is Source.PIP and self.pip_index is None

    @property
    def unverified_fields(self) -> frozenset[str]:
        return frozenset(u.split(":", 1)[0] for u in self.unverified)

    def to_json(self) -> dict[str, Any]:
        return {
            "torch": self.torch,
            "torchvision": self.torchvision,
            "torchaudio": self.torchaudio,
            "source": str(self.source),
            "subdir": str(self.subdir),
            "backend": str(self.backend),
            "label": self.label,
            "pythons": list(self.pythons),
            "gpu_archs": list(self.gpu_archs),
            "ptx": self.ptx,
            "min_driver": self.min_driver,
            "min_driver_compat": self.min_driver_compat,
            "requires_cuda": self.requires_cuda,
            "channels": list(self.channels),
            "specs": list(self.specs),
            "pip_index": self.pip_index,
            "pip_specs": list(self.pip_specs),
            "unverified": list(self.unverified),
            "notes": list(self.notes),
            "sources": list(self.sources),
            "glibc": self.glibc,
            "macos": self.macos,
            "feedstock": list(self.feedstock),
        }


@value_class
class Limit:
    """One constraint that rejected a build, for callers that word it (a fleet's ``Bound:``).

    ``kind``: ``"driver"`` (the NVIDIA driver), ``"gpu"`` (a GPU the build has no code for;
    ``subject`` names it, ``"Tesla P4 (sm_61)"``), ``"no-gpu"`` (no device of the build's kind),
    ``"os"`` (a glibc or macOS floor, or MPS on an Intel Mac), ``"override"``
    (``CONDA_OVERRIDE_CUDA=''``). ``reason`` is the rejection's own sentence, as in
    :attr:`Verdict.reasons`.
    """

    kind: str
    reason: str
    subject: str | None = None


@value_class
class Verdict:
    """Whether a :class:`Candidate` runs on a machine, and why (or why not).

    ``reasons`` of an accepted verdict are warnings (something could not be checked, or works
    only through PTX JIT); of a rejected one, every failed constraint, each also in ``limits``
    with its kind.
    """

    candidate: Candidate
    accepted: bool
    reasons: tuple[str, ...] = ()
    #: What an accepted verdict rests on that is no warning (CUDA minor-version compatibility).
    notes: tuple[str, ...] = ()
    #: Some GPU runs the build only through PTX JIT (the driver must support its own CUDA).
    needs_jit: bool = False
    #: The constraints that rejected it (empty for an accepted verdict).
    limits: tuple[Limit, ...] = ()

    @property
    def requires_cuda(self) -> str | None:
        """The ``__cuda`` spec this build needs on the judged machine (see
        :func:`compat.cuda_requirement`), or None for a build without CUDA."""
        cuda = self.candidate.backend.cuda_version
        return compat.cuda_requirement(cuda, needs_jit=self.needs_jit) if cuda else None

    @property
    def min_driver(self) -> str | None:
        """The driver floor that goes with :attr:`requires_cuda`: the major's minor-version
        compatibility floor, or the toolkit's own where PTX JIT is needed."""
        c = self.candidate
        if self.needs_jit:
            return c.min_driver
        return c.min_driver_compat or c.min_driver

    def to_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "reasons": list(self.reasons),
            "notes": list(self.notes),
            "requires_cuda": self.requires_cuda,
            "limits": [
                {"kind": lim.kind, "subject": lim.subject, "reason": lim.reason}
                for lim in self.limits
            ],
            "candidate": self.candidate.to_json(),
        }


# -- the matrix ---------------------------------------------------------------------------


def _public(version: str) -> str:
    return str(version).strip().split("+", 1)[0]


_ISO_DAY = lazy_re(r"(\d{4})-(\d{2})-(\d{2})")


def _day(text: str) -> tuple[int, int, int]:
    """``(year, month, day)`` of an ISO date (``2026-11-26``); ValueError if it is not one."""
    m = _ISO_DAY.fullmatch(text)
    year, month, day = (int(g) for g in m.groups()) if m else (0, 0, 0)
    if not (1 <= month <= 12 and 1 <= day <= _month_days(year, month)):
        raise ValueError(f"matrix data has date {text!r}, expected YYYY-MM-DD")
    return year, month, day


def _month_days(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _add_months(day: tuple[int, int, int], months: int) -> tuple[int, int, int]:
    """``day`` ``months`` later, on the month's last day where it has fewer days."""
    month = day[1] - 1 + months
    year, month = day[0] + month // 12, month % 12 + 1
    return year, month, min(day[2], _month_days(year, month))


class Matrix:
    """The loaded dataset. Build it with :func:`load`."""

    def __init__(self, data: dict[str, Any]) -> None:
        if data.get("schema") != SCHEMA:
            raise ValueError(f"matrix data has schema {data.get('schema')!r}, expected {SCHEMA}")
        self._data = data
        #: The day the dataset was built, ``YYYY-MM-DD`` (a string: what every caller prints;
        #: ``datetime`` is not imported for it).
        self.date: str = data["date"]
        self._day = _day(self.date)
        #: Citation key -> {"what", "url"/"repo"/"path"...}.
        self.sources: dict[str, dict[str, str]] = data["sources"]
        #: What the dataset deliberately does not offer, and why.
        self.left_out: list[dict[str, str]] = data["left_out"]
        self.drivers: dict[str, dict[str, Any]] = data["drivers"]
        #: conda-forge companion versions -> the pytorch minors their builds were made against.
        self.conda_forge_pairs: dict[str, dict[str, list[str]]] = data.get("conda_forge_pairs", {})
        self.macos: dict[str, Any] = data["macos"]
        self._releases: dict[str, dict[str, Any]] = {r["version"]: r for r in data["releases"]}
        self._versions: list[str] = sorted(self._releases, key=version_tuple)
        self._texts: list[str] = data.get("texts") or []
        self._compact: list[dict[str, Any]] = data["builds"]
        self._full: dict[int, dict[str, Any]] = {}
        self._by_subdir: dict[str, list[int]] = {}
        for i, row in enumerate(self._compact):
            self._by_subdir.setdefault(row["subdir"], []).append(i)
        self._with_builds = {v for row in self._compact for v in row["torch"]}
        self._cache: dict[tuple[int, str], Candidate] = {}
        self._backends: dict[str, Backend] = {}

    def rows(self) -> list[dict[str, Any]]:
        """Every build row in full (as ``tools/build_matrix.py`` made it, before compaction)."""
        return [self._row(i) for i in range(len(self._compact))]

    def _backend(self, text: str) -> Backend:
        hit = self._backends.get(text)
        if hit is None:
            hit = self._backends[text] = Backend.parse(text)
        return hit

    def _pythons(self, i: int) -> list[str]:
        full = self._full.get(i)
        if full is not None:
            return full["python"]
        value = self._compact[i]["python"]
        return self._texts[value].split() if self._data.get("compact") else value

    def _row(self, i: int) -> dict[str, Any]:
        full = self._full.get(i)
        if full is not None:
            return full
        row = dict(self._compact[i])
        if self._data.get("compact"):
            t = self._texts
            row["sources"] = t[row["sources"]].split(",") if t[row["sources"]] else []
            row["python"] = t[row["python"]].split()
            row["unverified"] = [t[k] for k in row["unverified"]]
            row["notes"] = [t[k] for k in row.get("notes") or ()]
            if "archs" in row:
                row["archs"] = t[row["archs"]].split()
            row["index"] = INDEX + row["backend"] if row.get("index") else None
            row["local"] = row["backend"] if row.get("local") else None
        row["minor"] = ".".join(row["torch"][0].split(".")[:2])
        self._full[i] = row
        return row

    # -- releases ---------------------------------------------------------------------

    def stale(self, today: datetime.date | None = None) -> bool:
        """Whether the dataset is more than six months old (newer releases may exist) on
        ``today`` (default: the local date)."""
        now = (today.year, today.month, today.day) if today else tuple(time.localtime()[:3])
        return now > _add_months(self._day, STALE_MONTHS)

    def torch_versions(self) -> list[str]:
        """Every torch release in the dataset, oldest first."""
        return list(self._versions)

    def release(self, torch: str) -> dict[str, Any]:
        """The raw release row for an exact version (``"2.5.1"``, ``"2.5.1+cu124"``)."""
        version = _public(torch)
        if version not in self._releases:
            raise UnknownVersionError("torch", str(torch), self._nearest(version))
        return self._releases[version]

    def has_builds(self, torch: str) -> bool:
        return _public(torch) in self._with_builds

    def matching_torch(self, spec: str | None) -> list[str]:
        """Every release matching ``spec``: ``"2.5"``, ``"2.5.*"``, ``"==2.5.1"``, ``">=2.4,<2.6"``.

        Oldest first; raises :class:`UnknownVersionError` (with the nearest releases) when none.
        """
        if spec is None or not str(spec).strip():
            return list(self._versions)
        text = str(spec).strip()
        found = self._match(text)
        if not found:
            raise UnknownVersionError("torch", text, self._nearest(text))
        return found

    def resolve_torch(self, spec: str | None) -> str:
        """The newest release matching ``spec``; ``None`` means the newest release with builds."""
        if spec is None or not str(spec).strip():
            return max(self._with_builds, key=version_tuple)
        return self.matching_torch(spec)[-1]

    def _match(self, text: str) -> list[str]:
        body = text.split("+", 1)[0].strip()
        m = re.fullmatch(r"(==|=)?\s*v?(\d+(?:\.\d+){0,2})(\.\*)?", body)
        if m:
            op, number, star = m.groups()
            parts = number.split(".")
            if len(parts) == 3 and not star:
                return [number] if number in self._releases else []
            if op == "==" and not star:
                # "==2.5" means 2.5.0 under PEP 440
                padded = ".".join(parts + ["0"] * (3 - len(parts)))
                return [padded] if padded in self._releases else []
            prefix = version_tuple(number)
            return [v for v in self._versions if version_tuple(v)[: len(prefix)] == prefix]
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        try:
            spec = SpecifierSet(body.replace(" ", ""))
        except InvalidSpecifier:
            return []
        return [v for v in self._versions if spec.contains(v, prereleases=True)]

    def _nearest(self, text: str) -> list[str]:
        """The releases :class:`UnknownVersionError` picks the nearest from (by version)."""
        return list(self._versions)

    # -- pairings ---------------------------------------------------------------------

    def arch_list(
        self, *, subdir: str | Subdir, torch: str, cuda: str, source: str | Source
    ) -> list[str] | None:
        """The GPU architectures (``sm_90``, ``compute_120``) the data records for a torch
        release's CUDA ``cuda`` build from ``source`` on ``subdir``; None when it records none."""
        try:
            cands = self.candidates(
                subdir=subdir, torch=torch, source=source, backend=f"cuda={cuda}"
            )
        except CondaTorchValueError:  # a release, CUDA or platform the data does not know
            return None
        for c in cands:
            if c.gpu_archs:
                archs = [f"sm_{a.replace('.', '')}" for a in c.gpu_archs]
                if c.ptx:
                    archs.append(f"compute_{str(c.ptx).replace('.', '')}")
                return archs
        return None

    def companions(self, torch_version: str) -> tuple[str | None, str | None]:
        """The exact (torchvision, torchaudio) that pair with a torch release on pip.

        torch 2.12 and later pair with torchaudio 2.11.0 (torchaudio stopped at 2.11; 2.11.x
        supports every later torch). ``None`` where no release is known.
        """
        rel = self.release(torch_version)
        return rel["torchvision"], rel["torchaudio"]

    def pairing_ok(
        self,
        torch: str,
        torchvision: str | None = None,
        torchaudio: str | None = None,
        *,
        source: Source | str | None = None,
    ) -> list[str]:
        """Why ``torch``/``torchvision``/``torchaudio`` do not pair (empty list: they do).

        Local tags (``+cu130``) are ignored. On pip any torchaudio 2.11.x pairs with torch >=
        2.11 (stable ABI). torch 2.0.0 also accepts the ``pytorch`` channel's 0.15.0/2.0.0. With
        ``source="conda-forge"`` a companion pairs with the pytorch minors its conda-forge builds
        were made against (conda-forge's per-build data: pytorch's ``run_exports`` pins each
        build to one minor, so its torchaudio 2.11.0 needs pytorch 2.10). ``None`` skips that
        package.
        """
        src = Source.parse(source) if source is not None else None
        version = _public(torch)
        if version not in self._releases:
            return [f"torch {version} is not in the dataset (known up to {self._versions[-1]})"]
        rel = self._releases[version]
        reasons: list[str] = []
        minor = ".".join(version.split(".")[:2])
        for name, got in (("torchvision", torchvision), ("torchaudio", torchaudio)):
            if got is None:
                continue
            got = _public(got)
            if src is Source.CONDA_FORGE:
                built_for = self.conda_forge_pairs.get(name, {}).get(got)
                if built_for is None:
                    reasons.append(f"conda-forge has no {name} {got} build")
                elif minor not in built_for:
                    reasons.append(
                        f"conda-forge's {name} {got} was built for pytorch "
                        f"{' or '.join(built_for)}, not {minor}"
                    )
                continue
            want = rel[name]
            allowed = {want} if want else set()
            for alt in (rel.get("alt") or {}).values():
                if alt.get(name):
                    allowed.add(alt[name])
            if name == "torchaudio" and version_tuple(version)[:2] >= (2, 11):
                if version_tuple(got)[:2] == (2, 11):
                    continue
                reasons.append(f"torch {version} pairs with torchaudio 2.11.x, not {got}")
                continue
            if not allowed:
                reasons.append(f"no {name} release is known to pair with torch {version}")
                continue
            if got in allowed:
                continue
            want_text = " or ".join(sorted(allowed, key=version_tuple))
            reasons.append(f"torch {version} pairs with {name} {want_text}, not {got}")
        return reasons

    # -- candidates -------------------------------------------------------------------

    def candidates(
        self,
        *,
        subdir: str | Subdir,
        python: str | None = None,
        source: str | Source | None = None,
        torch: str | None = None,
        backend: str | Backend | None = None,
        strict: bool = False,
    ) -> list[Candidate]:
        """Every build that exists for these filters, newest torch first.

        ``torch`` is a spec (:meth:`matching_torch`); ``backend`` a filter such as ``cuda``,
        ``cu126``, ``cuda=12.6``, ``rocm``, ``cpu`` (``cpu`` also selects the osx-arm64 build,
        whose backend is ``mps``). With ``strict=True`` an empty result raises
        :class:`IncompatibleError` naming the constraint that fails.
        """
        sd = Subdir.parse(subdir)
        src = Source.parse(source) if source is not None else None
        be = Backend.parse(backend) if backend is not None else None
        py = _python(python)
        versions = set(self.matching_torch(torch)) if torch else None
        out = self._select(sd, py, src, versions, be)
        if strict and not out:
            raise self._why_none(sd, py, src, torch, be)
        return out

    def _select(
        self,
        sd: Subdir,
        py: str | None,
        src: Source | None,
        versions: set[str] | None,
        be: Backend | None,
    ) -> list[Candidate]:
        out: list[Candidate] = []
        for i in self._by_subdir.get(sd.value, ()):
            row = self._compact[i]  # filter on the compact row; expand only what matches
            if src is not None and row["source"] != src.value:
                continue
            if versions is not None and versions.isdisjoint(row["torch"]):
                continue
            if be is not None and not be.matches(self._backend(row["backend"])):
                continue
            if py is not None and py not in self._pythons(i):
                continue
            row = self._row(i)
            for version in row["torch"]:
                if versions is not None and version not in versions:
                    continue
                out.append(self._candidate(i, row, version, py))
        out.sort(key=_listing_order)
        return out

    def _candidate(
        self, i: int, row: dict[str, Any], version: str, python: str | None = None
    ) -> Candidate:
        """The candidate of row ``i`` for one torch ``version``; with ``python``, a companion
        whose builds do not cover that Python is left out (as the solve would find)."""
        cache_key = (i, version, python)
        hit = self._cache.get(cache_key)
        if hit is not None:
            return hit
        rel = self._releases[version]
        source = Source(row["source"])
        subdir = Subdir(row["subdir"])
        backend = self._backend(row["backend"])
        alt = (rel.get("alt") or {}).get(source.value, {})
        tv = alt.get("torchvision", rel["torchvision"])
        ta = alt.get("torchaudio", rel["torchaudio"])
        if row.get("no_torchvision"):
            tv = None
        if row.get("no_torchaudio"):
            ta = None
        unverified = [u for u in rel["unverified"] if not u.startswith("date:")]
        if tv is None or source is Source.CONDA_FORGE:
            # conda-forge's companions come from its own per-build data, not pip's pairing
            unverified = [u for u in unverified if not u.startswith("torchvision:")]
        unverified += row["unverified"]
        sources = list(rel["sources"]) + list(row["sources"])
        notes = [] if source is Source.CONDA_FORGE else list(rel.get("notes") or [])
        notes += list(row.get("notes") or [])
        cuda = backend.cuda_version
        os_key = "win" if subdir.os == "win" else "linux"
        min_driver = min_compat = requires = None
        if cuda is not None:
            drv = self.drivers.get(cuda)
            if drv is None:
                unverified.append(f"min_driver: no driver floor is recorded for CUDA {cuda}")
            else:
                min_driver, min_compat = drv[os_key], drv[f"{os_key}_compat"]
                unverified += drv["unverified"][os_key]
                sources += drv["sources"]
            requires = compat.cuda_requirement(cuda)
        label = _label(row, backend)
        specs: tuple[str, ...] = ()
        pip_specs: tuple[str, ...] = ()
        pip_index = None
        channels: tuple[str, ...] = tuple(row.get("channels") or ())
        companion_pythons: list[tuple[str, tuple[str, ...]]] = []
        companion_archs: list[tuple[str, tuple[str, ...], str | None]] = []
        if source is Source.CONDA_FORGE:
            # conda-forge's own per-build data: the companions built against this pytorch
            # minor (tools/build_matrix.py conda_forge_rows), exact versions and build kinds
            tv, ta = row.get("torchvision"), row.get("torchaudio")
            for name in ("torchvision", "torchaudio"):
                pys = tuple(row.get(f"{name}_python") or ())
                if row.get(name) and pys:
                    if python is not None and python not in pys:
                        tv, ta = (None, ta) if name == "torchvision" else (tv, None)
                        continue
                    if set(pys) != set(row["python"]):
                        companion_pythons.append((name, pys))
                if row.get(name) and row.get(f"{name}_archs"):
                    companion_archs.append(
                        (name, tuple(row[f"{name}_archs"]), row.get(f"{name}_ptx"))
                    )
            build = row.get("build")
            specs = (f"pytorch={version}" + (f"={build}*" if build else ""),)
            for name, value in (("torchvision", tv), ("torchaudio", ta)):
                if value:
                    pick = row.get(f"{name}_build") if build else None
                    specs += (f"{name}={value}" + (f"={pick}" if pick else ""),)
            pin = row.get("cuda_version") or cuda
            if pin:
                specs += (f"cuda-version={pin}",)
        elif source is Source.PYTORCH:
            specs = (f"pytorch={version}",)
            specs += tuple(f"{n}={v}" for n, v in (("torchvision", tv), ("torchaudio", ta)) if v)
            mechanism, value = row.get("mechanism"), row.get("mechanism_value")
            if mechanism:
                specs += (f"{mechanism}={value}" if value else mechanism,)
            specs += tuple(row.get("pins") or ())
        else:
            pip_index = row.get("index")
            local = f"+{row['local']}" if row.get("local") else ""
            pip_specs = tuple(
                f"{n}=={v}{local}"
                for n, v in (("torch", version), ("torchvision", tv), ("torchaudio", ta))
                if v
            )
        cand = Candidate(
            torch=version,
            torchvision=tv,
            torchaudio=ta,
            source=source,
            subdir=subdir,
            backend=backend,
            pythons=tuple(row["python"]),
            gpu_archs=tuple(row.get("archs") or ()),
            ptx=row.get("ptx"),
            min_driver=min_driver,
            min_driver_compat=min_compat,
            channels=channels,
            specs=specs,
            pip_index=pip_index,
            pip_specs=pip_specs,
            requires_cuda=requires,
            unverified=tuple(dict.fromkeys(unverified)),
            sources=tuple(dict.fromkeys(sources)),
            label=label,
            notes=tuple(dict.fromkeys(notes)),
            companion_pythons=tuple(companion_pythons),
            companion_archs=tuple(companion_archs),
            glibc=row.get("glibc"),
            macos=row.get("macos"),
            feedstock=tuple(row.get("feedstock") or ()),
        )
        self._cache[cache_key] = cand
        return cand

    def _why_none(
        self, sd: Subdir, py: str | None, src: Source | None, torch: str | None, be: Backend | None
    ) -> IncompatibleError:
        versions = set(self.matching_torch(torch)) if torch else None
        shown = (
            ", ".join(
                x
                for x in (
                    f"torch {torch}" if torch else "",
                    f"python {py}" if py else "",
                    f"source {src}" if src else "",
                    f"backend {be}" if be else "",
                )
                if x
            )
            or "any build"
        )
        if be is not None and be.kind == "cuda" and sd.is_macos:
            return IncompatibleError(
                f"macOS has no CUDA builds ({sd})",
                hints=["Apple silicon uses MPS (--backend mps); Intel Macs get CPU builds."],
            )
        if be is not None and be.kind == "mps" and sd.value != "osx-arm64":
            return IncompatibleError(f"MPS exists only on Apple silicon (osx-arm64), not {sd}")
        if be is not None and be.kind in ("rocm", "xpu") and src is not None and src.is_conda:
            return IncompatibleError(
                f"{be.kind.upper()} builds are pip wheels only, not on {src}",
                hints=["Use --source pip."],
            )
        if be is not None and be.kind == "rocm" and sd.value != "linux-64":
            return IncompatibleError(f"ROCm builds exist only as linux-64 pip wheels, not for {sd}")
        if be is not None and be.kind == "xpu" and sd.value not in ("linux-64", "win-64"):
            return IncompatibleError(f"XPU wheels exist only for linux-64 and win-64, not for {sd}")
        if src is Source.PYTORCH and versions and min(version_tuple(v) for v in versions) >= (2, 6):
            return IncompatibleError(
                f"the pytorch channel stops at 2.5.x; torch {torch} is not on it",
                hints=[
                    (
                        "From 2.6, conda users get torch from conda-forge (--source conda-forge) "
                        "or from pip (--source pip)."
                    )
                ],
            )
        if (
            src is Source.PIP
            and sd.value == "osx-64"
            and versions
            and min(version_tuple(v) for v in versions) > (2, 2, 2)
        ):
            return IncompatibleError(
                f"x86 macOS pip wheels ended at 2.2.2; torch {torch} has none for osx-64",
                hints=["conda-forge still builds osx-64 CPU pytorch (--source conda-forge)."],
            )
        if not self._by_subdir.get(sd.value):
            return IncompatibleError(
                f"the dataset has no torch builds for {sd}",
                hints=[
                    "Platforms with builds: "
                    + ", ".join(s for s in SUBDIRS if s in self._by_subdir)
                    + "."
                ],
            )
        if versions and not (versions & self._with_builds):
            why = next(
                (
                    lo["why"]
                    for lo in self.left_out
                    if any(f"torch {v}" in lo["what"] for v in versions)
                ),
                "",
            )
            return IncompatibleError(
                f"torch {torch} has no builds in this dataset" + (f": {why}" if why else ""),
                hints=[f"Newest release with builds: {self.resolve_torch(None)}."],
            )
        # Generic: which filters, each dropped alone, give results? Name every one.
        filters = {"backend": be, "python": py, "source": src, "torch": versions}
        details = []
        for name, value in filters.items():
            if value is None:
                continue
            trial = dict(filters, **{name: None})
            found = self._select(
                sd, trial["python"], trial["source"], trial["torch"], trial["backend"]
            )
            if not found:
                continue
            if name == "python":
                pys = sorted({p for c in found for p in c.pythons}, key=version_tuple)
                details.append(f"python {py} is not supported; these builds support {_span(pys)}")
            elif name == "torch":
                tv = sorted({c.torch for c in found}, key=version_tuple)
                span = tv[0] if len(tv) == 1 else f"{tv[0]} to {tv[-1]}"
                details.append(f"the other filters match torch {span}")
            elif name == "backend":
                bes = sorted({str(c.backend) for c in found})
                details.append(f"no {be} build; available: {', '.join(bes)}")
            else:
                srcs = sorted({str(c.source) for c in found})
                details.append(f"not from {src}; available from: {', '.join(srcs)}")
        text = f"no build for {sd} matches {shown}"
        return IncompatibleError(text + (": " + "; or ".join(details) if details else ""))

    # -- machines ---------------------------------------------------------------------

    def driver_cuda_conflict(self, driver: str, cuda: str, *, windows: bool = False) -> str | None:
        """Why a driver version and the CUDA it is said to report cannot both be true (NVIDIA's
        Table 3: the driver reporting CUDA X.Y is at least X.Y's floor), or None.

        ``driver 550.54.14`` with ``CUDA 13.0``: 13.0 needs 580.65.06, and 550 reports 12.4.
        """
        os_key = "win" if windows else "linux"
        floor = (self.drivers.get(".".join(cuda.split(".")[:2])) or {}).get(os_key)
        if not floor or version_tuple(driver) >= version_tuple(floor):
            return None
        reports = [
            c
            for c, row in self.drivers.items()
            if row.get(os_key) and version_tuple(row[os_key]) <= version_tuple(driver)
        ]
        newest = max(reports, key=version_tuple) if reports else None
        why = f"driver {driver} cannot report CUDA {cuda}: CUDA {cuda} needs driver >= {floor}"
        return why + (f" (driver {driver} reports CUDA {newest})" if newest else "")

    def machine_subdir(self, machine: Machine, subdir: str | Subdir | None = None) -> Subdir:
        """The subdir to judge: ``subdir``, else the native one (Rosetta), else the platform's."""
        value = subdir or machine.platform.native_subdir or machine.platform.subdir
        if not value:
            raise IncompatibleError(
                "cannot tell this machine's platform from what was detected",
                hints=[f"Pass --platform with one of: {', '.join(SUBDIRS)}."],
            )
        return Subdir.parse(value)

    def evaluate(
        self,
        machine: Machine,
        *,
        python: str | None = None,
        source: str | Source | None = None,
        torch: str | None = None,
        backend: str | Backend | None = None,
        subdir: str | Subdir | None = None,
        strict: bool = False,
        prefer_gpu: bool = True,
    ) -> list[Verdict]:
        """Judge every candidate for the machine's subdir; best first.

        Order: accepted before rejected; then (``prefer_gpu``) builds that use the machine's
        accelerator before CPU builds; then newest torch; then native code before PTX JIT;
        then the newest CUDA; then conda-forge, pip, the pytorch channel; then fewer
        unverified fields. ``prefer_gpu=False`` puts newest torch before the accelerator.
        """
        sd = self.machine_subdir(machine, subdir)
        cands = self.candidates(
            subdir=sd, python=python, source=source, torch=torch, backend=backend, strict=strict
        )
        facts = _Facts.of(machine, sd)
        judged = [self._judge(c, facts) for c in cands]
        judged.sort(key=lambda j: _rank(j, facts, prefer_gpu))
        return [v for v, _ in judged]

    def _judge(self, c: Candidate, f: _Facts) -> tuple[Verdict, int]:
        """(verdict, coverage): coverage 2 = native code, 1 = PTX JIT, 0 = unchecked."""
        ok = True
        reasons: list[str] = []
        notes: list[str] = []
        limits: list[Limit] = []
        coverage = 2
        needs_jit = False
        kind = c.backend.kind

        def reject(limit_kind: str, reason: str, subject: str | None = None) -> None:
            nonlocal ok
            ok = False
            reasons.append(reason)
            limits.append(Limit(limit_kind, reason, subject))

        if kind == "cuda":
            cuda = c.backend.cuda_version or ""
            if not f.nvidia and f.cuda is None:
                if c.source is Source.CONDA_FORGE:
                    reject(
                        "no-gpu", f"cuda {cuda} build needs __cuda but no NVIDIA driver was found"
                    )
                else:
                    reject("no-gpu", f"{c.label} needs an NVIDIA driver, none was found")
                for err in f.errors:
                    reasons.append(f"NVIDIA probe reported {err}")
            else:
                coverage, needs_jit = self._judge_cuda(c, f, reasons, notes, reject)
            if f.no_cuda and c.source is Source.CONDA_FORGE:
                reject(
                    "override",
                    f"cuda {cuda} build needs __cuda, and "
                    f"{CONDA_OVERRIDE_CUDA}='' hides it from conda",
                )
        elif kind == "rocm":
            if not f.rocm:
                reject("no-gpu", f"{c.backend} needs an AMD GPU with ROCm, none was found")
        elif kind == "xpu":
            if not f.xpu:
                reject("no-gpu", "xpu needs an Intel GPU (XPU), none was found")
        elif kind == "mps":
            self._judge_mps(c, f, reasons, reject)
        elif f.accelerator and f.accelerator != "mps":
            reasons.append(f"CPU only: this machine's {f.accelerator_name} would not be used")
        for floor, have, what in ((c.glibc, f.glibc, "glibc"), (c.macos, f.macos, "macOS")):
            if floor and have and version_tuple(have) < version_tuple(floor):
                reject(
                    "os",
                    f"{c.source}'s builds of torch {c.torch} need {what} >= {floor}, this "
                    f"machine has {have}",
                )
        verdict = Verdict(
            candidate=c,
            accepted=ok,
            reasons=tuple(dict.fromkeys(reasons)),
            notes=tuple(dict.fromkeys(notes)),
            needs_jit=needs_jit,
            limits=tuple(dict.fromkeys(limits)),
        )
        return verdict, coverage

    def _judge_cuda(
        self,
        c: Candidate,
        f: _Facts,
        reasons: list[str],
        notes: list[str],
        reject: Callable[..., None],
    ) -> tuple[int, bool]:
        """(coverage, needs_jit) of a CUDA build on ``f``'s driver and GPUs; ``reject(kind,
        reason, subject)`` records each failed constraint.

        The GPUs first (:func:`compat.arch_coverage`): a GPU the build has no code for rejects
        it; one it runs only through PTX JIT needs the driver for the build's own CUDA. Then
        the driver (:func:`compat.driver_support`): minor-version compatibility is a full
        acceptance, said in ``notes``, not a warning.
        """
        cuda = c.backend.cuda_version or ""
        needs_jit = False
        coverage = 2
        if f.jetson:
            reasons.append(
                "Jetson (Tegra): these aarch64 CUDA builds target server GPUs; JetPack systems "
                "usually need NVIDIA's Jetson builds of torch, which this dataset does not cover"
            )
        if not f.gpus:
            coverage = 0
            if f.nvidia:
                reasons.append("no NVIDIA GPU was listed; cannot check compute capability")
            else:
                reasons.append(f"no GPU was detected; CUDA {f.cuda}{f.cuda_from} is assumed")
        unrecorded: list[str] = []
        for gpu in f.gpus:
            name = gpu.name or f"GPU {gpu.index if gpu.index is not None else '?'}"
            cc = gpu.compute_capability
            if not cc:
                reasons.append(
                    f"compute capability of {name} is unknown; cannot check it against "
                    f"{c.label}'s architectures"
                )
                coverage = 0
                continue
            if not c.gpu_archs:
                unrecorded.append(f"{name} (sm_{_sm(cc)})")
                coverage = 0
                continue
            builds = [(f"{c.label} in {c.minor}", c.gpu_archs, c.ptx)]
            builds += [
                (f"{package} {getattr(c, package)}'s {c.label}", archs, ptx)
                for package, archs, ptx in c.companion_archs
            ]
            for what, archs, ptx in builds:
                cov = compat.arch_coverage(cc, archs, ptx)
                if cov.how is None:
                    reject(
                        "gpu",
                        f"{what} has no sm_{_sm(cc)} code for {name} "
                        f"(compiled: {compat.arch_span(archs, ptx)})",
                        f"{name} (sm_{_sm(cc)})",
                    )
                elif cov.how == "ptx":
                    coverage = min(coverage, 1)
                    needs_jit = True
                    reasons.append(
                        f"{name} (sm_{_sm(cc)}) runs {what} only through PTX JIT from "
                        f"{cov.via} (slow first start)"
                    )
        if unrecorded:
            reasons.append(
                f"the architectures compiled into {c.label} in {c.minor} are not recorded; "
                f"cannot check {', '.join(dict.fromkeys(unrecorded))}"
            )
        drv = self.drivers.get(cuda) or {}
        support = compat.driver_support(
            cuda,
            driver=f.driver,
            driver_cuda=f.cuda,
            floor=drv.get(f.driver_os),
            compat_floor=drv.get(f"{f.driver_os}_compat"),
            needs_jit=needs_jit,
            label=c.label,
        )
        if support.runs is False:
            reject("driver", support.reason + (f"{f.cuda_from}" if f.cuda and f.cuda_from else ""))
        elif support.runs is None:
            if not drv.get(f.driver_os) and not drv.get(f"{f.driver_os}_compat") and f.driver:
                reasons.append(
                    f"no published {f.os_name} driver minimum for CUDA {cuda}; check that "
                    f"nvidia-smi shows CUDA >= {cuda.split('.')[0]}.0"
                )
            elif f.driver is None and f.cuda is None:
                floor = drv.get(f"{f.driver_os}_compat") or drv.get(f.driver_os)
                reasons.append(
                    f"the NVIDIA driver version is unknown; cannot check {c.label}'s floor "
                    f"(>= {floor})"
                    if floor
                    else "the NVIDIA driver version is unknown"
                )
        elif support.minor_compat:
            notes.append(support.reason)
        return coverage, needs_jit

    def _judge_mps(
        self, c: Candidate, f: _Facts, reasons: list[str], reject: Callable[..., None]
    ) -> None:
        if f.apple_silicon is False:
            reject("os", "MPS needs Apple silicon; this Mac has an Intel CPU")
        torch = version_tuple(c.torch)
        if f.macos is None:
            return
        if c.source is Source.PIP:
            for floor in self.macos["pip_install"]:
                if torch >= version_tuple(floor["from"]) and version_tuple(f.macos) < version_tuple(
                    floor["macos"]
                ):
                    reject(
                        "os",
                        f"torch {c.minor} pip wheels need macOS >= {floor['macos']}, "
                        f"this Mac runs {f.macos}",
                    )
        for floor in self.macos["mps"]:
            lo, hi = (
                version_tuple(floor["from"]),
                version_tuple(floor["until"]) if floor["until"] else None,
            )
            if torch[:2] < lo or (hi is not None and torch[:2] > hi):
                continue
            if version_tuple(f.macos) < version_tuple(floor["macos"]):
                if floor["unverified"]:
                    reasons.append(
                        f"MPS in torch {c.minor} may need macOS >= {floor['macos']} "
                        f"(unverified), this Mac runs {f.macos}"
                    )
                else:
                    reject(
                        "os",
                        f"MPS in torch {c.minor} needs macOS >= {floor['macos']}, "
                        f"this Mac runs {f.macos}",
                    )


# -- machine facts --------------------------------------------------------------------------


@value_class
class _Facts:
    """The facts of a machine that the matrix judges a build against."""

    subdir: Subdir
    driver: str | None
    driver_os: str  # "linux" | "win" (WSL uses the Windows host driver)
    cuda: str | None
    cuda_from: str
    #: CONDA_OVERRIDE_CUDA is set and empty: conda sees no __cuda.
    no_cuda: bool
    nvidia: bool
    gpus: tuple[GPU, ...]
    errors: tuple[str, ...]
    rocm: bool
    xpu: bool
    apple_silicon: bool | None
    macos: str | None
    jetson: bool
    glibc: str | None = None
    accelerator: str | None = field(default=None)

    @property
    def unknown_capability(self) -> bool:
        """Some visible NVIDIA GPU's compute capability is unknown."""
        return any(not g.compute_capability for g in self.gpus)

    @property
    def os_name(self) -> str:
        return "Windows" if self.driver_os == "win" else "Linux"

    @property
    def accelerator_name(self) -> str:
        return {
            "cuda": "NVIDIA GPU",
            "rocm": "AMD GPU",
            "xpu": "Intel GPU",
            "mps": "Apple GPU",
        }.get(self.accelerator or "", "GPU")

    @classmethod
    def of(cls, machine: Machine, sd: Subdir) -> _Facts:
        plat = machine.platform
        nv = machine.nvidia
        cuda = nv.cuda_version if nv else None
        cuda_from = ""
        override = (machine.overrides or {}).get(CONDA_OVERRIDE_CUDA)
        if nv is not None and nv.sources.get("cuda_version") == CONDA_OVERRIDE_CUDA:
            cuda_from = f" ({CONDA_OVERRIDE_CUDA})"
        elif cuda is None and override:
            cuda, cuda_from = override, f" ({CONDA_OVERRIDE_CUDA})"
        elif (
            cuda is None
            and override is None
            and plat.virtual_packages
            and plat.virtual_packages.get("__cuda")
        ):
            cuda, cuda_from = plat.virtual_packages["__cuda"], " (conda's __cuda)"
        if cuda is not None and not version_tuple(cuda):
            cuda = None
        if cuda is not None and version_tuple(cuda) == (0,):
            cuda = None
        driver = nv.driver_version if nv else None
        if driver is not None and not version_tuple(driver):
            driver = None
        gpus = machine.visible_nvidia_gpus
        nvidia = bool(driver or gpus)
        rocm = bool(machine.rocm and (machine.rocm.gpus or machine.rocm.version))
        xpu = bool(machine.xpu and machine.xpu.gpus)
        apple = machine.apple
        apple_silicon = apple.apple_silicon if apple else None
        if apple_silicon is None and sd.value == "osx-arm64":
            apple_silicon = True
        macos = plat.macos_version or (plat.os_version if plat.os == "macos" else None)
        accelerator = (
            "cuda"
            if nvidia or cuda
            else "rocm"
            if rocm
            else "xpu"
            if xpu
            else "mps"
            if apple_silicon
            else None
        )
        return cls(
            subdir=sd,
            driver=driver,
            driver_os="win" if (sd.os == "win" or plat.wsl) else "linux",
            cuda=cuda,
            cuda_from=cuda_from,
            no_cuda=override == "",
            nvidia=nvidia,
            gpus=gpus,
            errors=tuple(nv.errors) if nv else (),
            rocm=rocm,
            xpu=xpu,
            apple_silicon=apple_silicon,
            macos=macos,
            jetson=bool(plat.jetson),
            accelerator=accelerator,
            glibc=plat.glibc,
        )


# -- helpers --------------------------------------------------------------------------------


def parse_python(python: str | None) -> str | None:
    """``"3.12"`` from ``3.12``, ``3.12.4``, ``python=3.12``: the one reading of ``--python``
    (matrix, generate, create); whether builds exist for it is the matrix's answer, which names
    the range they support."""
    if python is None:
        return None
    text = str(python).strip()
    m = re.fullmatch(r"(?:python\s*=*\s*)?(\d+)\.(\d+)(?:\.\d+)?", text)
    if not m:
        raise CondaTorchValueError(
            f"--python {text!r} is not a Python version: expected X.Y",
            hints=["Give it as X.Y, e.g. --python 3.12."],
        )
    return f"{m.group(1)}.{m.group(2)}"


_python = parse_python


def _sm(cc: str) -> str:
    return cc.replace(".", "")


def _span(pys: list[str]) -> str:
    if not pys:
        return "no Python"
    keys = [version_tuple(p) for p in pys]
    contiguous = all(b[0] == a[0] and b[1] == a[1] + 1 for a, b in zip(keys, keys[1:]))
    if contiguous and len(pys) > 2:
        return f"{pys[0]}-{pys[-1]}"
    return ", ".join(pys)


def _label(row: dict[str, Any], backend: Backend) -> str:
    source = row["source"]
    if source == "conda-forge":
        return (
            f"cuda {backend.cuda_version} build" if backend.kind == "cuda" else f"{backend} build"
        )
    if source == "pytorch":
        if backend.kind == "cuda":
            return f"{row.get('mechanism')} {backend.cuda_version}"
        return str(row.get("mechanism") or backend)
    return str(backend)


def _listing_order(c: Candidate) -> tuple[Any, ...]:
    """Newest torch; then conda-forge, pip, pytorch; then cuda, rocm, xpu, mps, cpu; newest."""
    kind, version = c.backend.sort_key
    return (
        tuple(-x for x in version_tuple(c.torch)),
        SOURCE_ORDER.index(c.source),
        kind,
        tuple(-x for x in version),
    )


def _rank(judged: tuple[Verdict, int], f: _Facts, prefer_gpu: bool) -> tuple[Any, ...]:
    verdict, coverage = judged
    c = verdict.candidate
    uses = int(f.accelerator is not None and c.backend.kind == f.accelerator)
    torch = tuple(-x for x in version_tuple(c.torch))
    cuda = tuple(-x for x in version_tuple(c.backend.cuda_version or "0"))
    first = (-uses, torch) if prefer_gpu else (torch, -uses)
    # A GPU of unknown compute capability: the build that covers the most architectures.
    breadth = -_breadth(c) if f.unknown_capability and c.backend.kind == "cuda" else 0
    return (
        0 if verdict.accepted else 1,
        *first,
        breadth,
        -coverage,
        cuda,
        SOURCE_ORDER.index(c.source),
        len(c.unverified),
        str(c.backend),
    )


def _breadth(c: Candidate) -> int:
    """How many GPU architectures a build has code for (SASS, plus one for PTX)."""
    sass = {a.capability for e in c.gpu_archs for a in compat.parse_arch(e) if a.kind == "sm"}
    return len(sass) + (1 if c.ptx else 0)


def _read_data() -> str:
    """``conda_torch/data/matrix.json``: straight from the package folder when it is one (the
    fast path: ``importlib.resources`` alone costs 10-30 ms to import where nothing loaded it
    yet), else through :mod:`importlib.resources` (zip imports)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "matrix.json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    from importlib import resources

    return (
        resources.files("conda_torch")
        .joinpath("data")
        .joinpath("matrix.json")
        .read_text(encoding="utf-8")
    )


@functools.cache
def load() -> Matrix:
    """The embedded dataset (read once per process)."""
    try:
        text = _read_data()
    except (FileNotFoundError, OSError) as exc:  # pragma: no cover - broken install
        raise CondaTorchValueError(
            f"the compatibility matrix data is missing ({exc})",
            hints=[
                "Reinstall conda-torch; its package data conda_torch/data/matrix.json is absent."
            ],
        ) from None
    return Matrix(json.loads(text))
