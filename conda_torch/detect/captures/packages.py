"""Package listings, wherever a paste shows them: ``pip list`` (with or without its header, as
``pip list | grep torch`` prints it), ``pip freeze``, ``pip show``, ``conda list`` (channel
column and build strings: ``py3.7_cuda10.1.243_cudnn7.6.3_0``, ``cpu_py38h92724a6_0``,
``cuda126_py312h…``, ``pypi_0``), collect_env's ``[pip3]``/``[conda]`` lines, a conda plan
(``pytorch/linux-64::pytorch-1.2.0-py3.7_cpu_0``, the download table), pip's ``Successfully
installed torch-2.1.1 …`` and a hand-typed ``torch-2.1.1`` list.

Each package becomes a dict in ``Observation.packages``: ``name`` (PEP 503), ``version``,
``build`` and ``channel`` (conda; ``channel`` is ``pypi`` for pip-installed rows of a conda
listing and ``defaults`` for a conda list row without one, which is how ``conda list`` prints
defaults' packages), ``installer`` (``pip`` or ``conda``), ``format``, ``listing`` (packages of
one listing share it: one environment), ``location`` (``pip show``) and ``line``. Only packages
that tell about the torch stack are kept (``TRACKED``). The torch stack they show also goes into
``Observation.torch``; the installed Python into ``platform.python_version``; the subdir of a
conda plan (``pytorch/linux-64::``) into ``platform.subdir``.
"""

from __future__ import annotations

import re

from ...builds import CondaRecord, PipDist, conda_build, pip_build
from ...machine import Observation
from ...models import channel_name, normalize
from .capture import Kind, lazy_re

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from typing import Any

    from .capture import Capture

#: Package names (PEP 503) a listing is read for: the stack, the packages that pick or break its
#: build (metapackages, CUDA and MKL runtimes), and the interpreter.
TRACKED = frozenset({
    "torch", "torchvision", "torchaudio", "pytorch", "pytorch-nightly", "torch-nightly",
    "torchvision-nightly", "torchaudio-nightly", "libtorch", "pytorch-cpu", "pytorch-gpu",
    "pytorch-cuda", "pytorch-mutex", "cpuonly", "cudatoolkit", "cuda-version", "cuda-runtime",
    "cuda-cudart", "mkl", "intel-openmp", "llvm-openmp", "triton", "pytorch-triton",
    "pytorch-triton-rocm", "xformers", "python",
})  # fmt: skip
#: ... and every ``nvidia-*`` CUDA wheel (their names carry the CUDA major: ``-cu12``).
_TRACKED_PREFIX = ("nvidia-",)

#: conda package name -> the pip distribution it carries (what ``import`` sees).
CARRIES = {
    "pytorch": "torch",
    "pytorch-nightly": "torch",
    "torch-nightly": "torch",
    "pytorch-cpu": "torch",
    "pytorch-gpu": "torch",
    "torchvision-nightly": "torchvision",
    "torchaudio-nightly": "torchaudio",
}

_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_VER = r"\d[\w.!+]*"
_CMD_LINE = lazy_re(
    r"^(?:\(\S+\)\s+)?(?:\S+[$#%>]\s+)?(?:conda|mamba|micromamba|pip3?|uv|python[\d.]*)\s"
)
_TAGGED = lazy_re(r"^\[(?P<tool>pip3?|conda)\]\s+(?P<rest>.+)$")
_FREEZE = lazy_re(rf"^(?P<name>{_NAME})\s*==\s*(?P<version>{_VER})$")
_FREEZE_URL = lazy_re(rf"^(?P<name>{_NAME})\s+@\s+\S*/(?P<file>[^/\s]+\.whl)\S*$")
_OLD_PIP = lazy_re(rf"^(?P<name>{_NAME})\s+\((?P<version>{_VER})\)$")  # old collect_env
_TWO_COLS = lazy_re(rf"^(?P<name>{_NAME})\s+(?P<version>{_VER})(?P<rest>(?:\s+\S+){{0,3}})$")
_PIP_HEADER = lazy_re(r"^Package\s+Version(?:\s+(?:Editable project location|Location))?")
_CONDA_HEADER = lazy_re(r"^#\s*Name\s+Version\s+Build(?:\s+Channel)?\s*$")
#: conda 4.3's plan: "pytorch:     1.0.0-py3.7_cuda10.0.130_cudnn7.4.1_1 pytorch".
_OLD_PLAN = lazy_re(
    rf"^(?P<name>{_NAME}):\s+(?P<version>{_VER})-(?P<build>[\w.+]+)(?:\s+(?P<channel>[\w./-]+))?$"
)
_DOWNLOAD = lazy_re(
    r"^(?P<spec>[\w.+!-]+?-\d[\w.!+]*)\s*\|\s*(?P<build>[\w.+]+)\s+[\d.]+\s*[KMG]?B"
    r"(?:\s+(?P<channel>[\w./-]+))?$"
)
_INSTALLED = lazy_re(r"^Successfully installed\s+(?P<list>.+)$")
_DASHED = lazy_re(
    r"^(?P<name>torch|torchvision|torchaudio|pytorch)-(?P<version>\d+\.\d+[\w.+!]*)$"
)
_WHEEL = lazy_re(rf"^(?P<name>{_NAME}?)-(?P<version>{_VER})-")
_SHOW = lazy_re(r"^(?P<key>Name|Version|Location|Installer|Requires):\s*(?P<value>.*)$")
#: A conda build string: ``py3.7_cuda10.1.243_cudnn7.6.3_0``, ``h12debd9_1``, ``pypi_0``, ``0``.
_BUILD = lazy_re(r"^[\w.+]+$")
_PYTHON_IN_BUILD = lazy_re(r"(?:^|_)py(\d)\.?(\d{1,2})(?:_|h|$)")
_PATH = lazy_re(r"^(?:/|~|[A-Za-z]:\\)")
_SUBDIRS = ("linux-64", "linux-aarch64", "linux-ppc64le", "osx-64", "osx-arm64", "win-64")


def tracked(name: str) -> bool:
    key = normalize(name)
    return key in TRACKED or key.startswith(_TRACKED_PREFIX)


def _split_spec(spec: str) -> tuple[str, str, str] | None:
    """``pytorch-nightly-1.2.0.dev20190805+cpu-py3.7_cpu_0`` -> (name, version, build)."""
    head, _, build = spec.rpartition("-")
    name, _, version = head.rpartition("-")
    if not name or not version or not re.match(r"\d", version):
        return None
    return name, version, build


def _record(
    name: str,
    version: str,
    line: str,
    fmt: str,
    *,
    build: str | None = None,
    channel: str | None = None,
    installer: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    if build == "pypi_0" or channel == "pypi":
        installer = "pip"
    elif installer is None and (build or channel):
        installer = "conda"
    return {
        "name": normalize(name),
        "version": version,
        "build": build,
        "channel": channel,
        "installer": installer,
        "format": fmt,
        "line": line,
        **{k: v for k, v in extra.items() if v is not None},
    }


def _conda_build(rest: list[str]) -> bool:
    """Whether the columns after a version are a conda build (and channel), not words: a build
    has an underscore or a hash (``h12debd9_1``), or is ``cpu``/``cuda``/a number before a
    channel (``pytorch-mutex 1.0 cpu pytorch``)."""
    build = rest[0]
    if not _BUILD.match(build):
        return False
    if "_" in build or re.match(r"^h[0-9a-f]{7}", build):
        return True
    return len(rest) > 1 and (build in ("cpu", "cuda") or build.isdigit())


def _conda_row(rest: str, line: str, fmt: str) -> dict[str, Any] | None:
    """``pytorch 1.12.1 py3.9_cuda11.3_cudnn8.3.2_0 pytorch`` (conda list's columns)."""
    parts = rest.split()
    if len(parts) < 3 or not re.match(r"\d", parts[1]) or not _conda_build(parts[2:]):
        return None
    channel = parts[3] if len(parts) > 3 else "defaults"
    return _record(parts[0], parts[1], line, fmt, build=parts[2], channel=channel)


def scan(capture: Capture) -> list[dict[str, Any]]:
    """Every tracked package any listing in the paste shows, in order."""
    found: list[dict[str, Any]] = []
    listing = 0
    fmt_of_block: str | None = None
    show: dict[str, str] = {}
    show_line = ""
    in_pip_table = in_conda_table = False

    def add(rec: dict[str, Any] | None) -> None:
        nonlocal fmt_of_block, listing
        if rec is None or not tracked(rec["name"]):
            return
        family = "collect_env" if rec["format"] == "collect_env" else rec["format"]
        if fmt_of_block not in (None, family):
            listing += 1
        fmt_of_block = family
        rec["listing"] = listing
        found.append(rec)

    def flush_show() -> None:
        nonlocal show, show_line
        if show.get("Name") and show.get("Version") and re.match(r"\d", show["Version"]):
            add(
                _record(
                    show["Name"],
                    show["Version"],
                    show_line,
                    "pip show",
                    installer="pip",
                    location=show.get("Location") or None,
                )
            )
        show, show_line = {}, ""

    for raw, line in zip(capture.lines, capture.plain):
        if not line:
            in_pip_table = in_conda_table = False
            continue
        if _CMD_LINE.match(line):  # a command starts a new listing
            flush_show()
            listing += 1 if fmt_of_block else 0
            fmt_of_block = None
            in_pip_table = in_conda_table = False
            continue
        if m := _SHOW.match(line):
            if m["key"] == "Name":
                flush_show()
                show_line = line
            show[m["key"]] = m["value"].strip()
            continue
        if _PIP_HEADER.match(line):
            in_pip_table, in_conda_table = True, False
            continue
        if _CONDA_HEADER.match(line):
            in_conda_table, in_pip_table = True, False
            continue
        if m := _TAGGED.match(line):
            rest = m["rest"].strip()
            if m["tool"].startswith("pip"):
                mm = _FREEZE.match(rest) or _OLD_PIP.match(rest)
                if mm:
                    add(_record(mm["name"], mm["version"], line, "collect_env", installer="pip"))
            else:
                add(_conda_row(rest, line, "collect_env"))
            continue
        if m := _FREEZE.match(line):
            add(_record(m["name"], m["version"], line, "pip freeze", installer="pip"))
            continue
        if m := _FREEZE_URL.match(line):
            if w := _WHEEL.match(m["file"].replace("%2B", "+")):
                add(_record(m["name"], w["version"], line, "pip freeze", installer="pip"))
            continue
        if m := _INSTALLED.match(line):
            for token in m["list"].split():
                name, _, version = token.rpartition("-")
                if name and re.match(r"\d", version):
                    add(_record(name, version, line, "pip install", installer="pip"))
            continue
        if m := _DOWNLOAD.match(line):
            parts = _split_spec(f"{m['spec']}-{m['build']}")
            if parts:
                add(
                    _record(
                        parts[0],
                        parts[1],
                        line,
                        "conda plan",
                        build=parts[2],
                        channel=m["channel"] or "defaults",
                    )
                )
            continue
        if "::" in line:
            rec = _plan_row(line)
            if rec is not None:
                add(rec)
                continue
        if m := _OLD_PLAN.match(line):
            add(
                _record(
                    m["name"],
                    m["version"],
                    line,
                    "conda plan",
                    build=m["build"],
                    channel=m["channel"] or "defaults",
                )
            )
            continue
        if m := _DASHED.match(line):
            add(_record(m["name"], m["version"], line, "version list", installer=None))
            continue
        if m := _TWO_COLS.match(line):
            rest = m["rest"].split()
            if in_conda_table or (not in_pip_table and rest and _conda_build(rest)):
                add(_conda_row(line, line, "conda list"))
            elif in_pip_table or not rest or _PATH.match(rest[0]):
                add(
                    _record(
                        m["name"],
                        m["version"],
                        line,
                        "pip list",
                        installer=rest[1] if len(rest) > 1 else "pip",
                        location=rest[0] if rest and _PATH.match(rest[0]) else None,
                    )
                )
    flush_show()
    return found


def _plan_row(line: str) -> dict[str, Any] | None:
    """A conda plan row: ``pytorch  pytorch/linux-64::pytorch-1.12.1-py3.9_cuda11.3_0`` (with
    ``-->`` the package it becomes is read)."""
    text = line.split("-->")[-1].strip()
    m = re.search(
        r"(?:^|\s)(?P<channel>[\w./-]+?)(?:/(?P<subdir>(?:linux|osx|win|noarch)[\w-]*))?::"
        r"(?P<spec>[\w.+!-]+)(?:\s|$)",
        text,
    )
    if not m:
        return None
    parts = _split_spec(m["spec"])
    if parts is None:
        return None
    return _record(
        parts[0],
        parts[1],
        line,
        "conda plan",
        build=parts[2],
        channel=m["channel"],
        subdir=m["subdir"] if m["subdir"] in _SUBDIRS else None,
    )


def carried(package: dict[str, Any]) -> str:
    """The pip distribution a listed package puts on ``sys.path`` (``pytorch`` -> ``torch``)."""
    return CARRIES.get(package["name"], package["name"])


def installed(packages: list[dict[str, Any]], dist: str) -> dict[str, Any] | None:
    """The listed package that ``import dist`` loads: pip's copy wins (written last)."""
    found = [p for p in packages if carried(p) == dist]
    return next((p for p in found if p["installer"] == "pip"), None) or (
        found[0] if found else None
    )


def build_of(package: dict[str, Any]) -> Any:
    """What a listed package was built for (``builds.Build``), from its build string or local
    version tag (inventory's rules)."""
    if package["installer"] == "pip" or not package.get("build"):
        return pip_build(PipDist(package["name"], package["version"], "", "pip"))
    channel = channel_name(package.get("channel") or "")
    return conda_build(CondaRecord(package["name"], package["version"], package["build"], channel))


def _stack_facts(packages: list[dict[str, Any]], obs: Observation) -> None:
    """The torch stack the listing shows (the pip copy of torch wins: it was written last)."""
    chosen = installed(packages, "torch")
    if chosen is not None:
        b = build_of(chosen)
        obs.torch["version"] = chosen["version"]
        obs.evidence["torch.version"] = chosen["line"]
        if b.kind == "cuda" and b.cuda and b.cuda not in ("0.0",):
            obs.torch["cuda"] = b.cuda
            obs.evidence["torch.cuda"] = chosen["line"]
        elif b.kind == "rocm" and b.rocm:
            obs.torch["rocm"] = b.rocm
            obs.evidence["torch.rocm"] = chosen["line"]
        if m := _PYTHON_IN_BUILD.search(chosen.get("build") or ""):
            obs.platform["python_version"] = f"{m.group(1)}.{m.group(2)}"
            obs.evidence["platform.python_version"] = chosen["line"]
    for name in ("torchvision", "torchaudio"):
        pick = installed(packages, name)
        if pick is not None:
            obs.torch[name] = pick["version"]
            obs.evidence[f"torch.{name}"] = pick["line"]
    python = next((p for p in packages if p["name"] == "python"), None)
    if python is not None and re.match(r"^\d+\.\d+", python["version"]):
        obs.platform["python_version"] = ".".join(python["version"].split(".")[:3])
        obs.evidence["platform.python_version"] = python["line"]
    subdir = next((p["subdir"] for p in packages if p.get("subdir")), None)
    if subdir:
        obs.platform["subdir"] = subdir
        obs.evidence["platform.subdir"] = next(p["line"] for p in packages if p.get("subdir"))


def _parse(capture: Capture) -> Observation:
    obs = Observation(kind="package listing")
    obs.packages = scan(capture)
    _stack_facts(obs.packages, obs)
    return obs


KINDS: tuple[Kind, ...] = (Kind("package listing", None, _parse, rank=45, lenient=True),)
