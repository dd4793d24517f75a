"""What a torch build is: conda records, pip distributions and the build their metadata describes.

Values and pure readers only (no disk, no conda): :mod:`conda_torch.inventory` fills them from an
environment, :mod:`conda_torch.detect.captures.packages` from a pasted listing.
"""

from __future__ import annotations

import re

from .constants import DEFAULTS_CHANNELS
from .models import normalize
from .patterns import lazy_re
from .values import value_class

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from .inventory import Inventory

__all__ = [
    "Build",
    "CondaRecord",
    "PipDist",
    "conda_build",
    "cuda_from_digits",
    "normalize",
    "pip_build",
]

_CUDA_IN_BUILD = lazy_re(r"(?<![a-z])(?:cuda|cu)(\d+)(?:\.(\d+))?", re.I)
_ROCM_IN_BUILD = lazy_re(r"rocm(\d+(?:\.\d+)*)", re.I)


@value_class
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


@value_class
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


@value_class
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
