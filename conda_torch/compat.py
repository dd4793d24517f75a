"""The two hardware rules, defined once: does an NVIDIA driver run a CUDA build, and does a GPU
run the architectures compiled into it.

``matrix`` (choosing a build), ``validate`` (the probe's facts) and ``doctor`` (an environment or
a paste) all ask these two questions; they ask them here so they cannot disagree.

Sources:

* GPU code: the CUDA C++ Programming Guide, "Binary Compatibility" and "PTX Compatibility"
  (https://docs.nvidia.com/cuda/cuda-c-programming-guide/#binary-compatibility). A cubin for
  ``sm_XY`` runs on compute capability ``X.Z`` for every ``Z >= Y`` (same major); an
  architecture-specific cubin (``sm_90a``) runs on ``X.Y`` alone; a family cubin (``sm_100f``)
  on the same major from ``X.Y`` on; PTX (``compute_XY``) is compiled by the driver at first
  use on any ``X.Y`` or later.
* Drivers: NVIDIA's CUDA Compatibility guide, "Minor Version Compatibility"
  (https://docs.nvidia.com/deploy/cuda-compatibility/#minor-version-compatibility). A build
  for CUDA ``X.Y`` runs on a driver that supports ``X.Z`` (``Z < Y``) of the same major and
  meets that major's floor (12.x: 525.60.13 on Linux, 527.41 on Windows; 13.x: 580), as long
  as nothing needs the newer driver: in particular PTX JIT of the build's PTX needs a driver
  for the build's own CUDA. conda-forge relies on this: its ``cuda-version`` package constrains
  only ``__cuda >=<major>`` (conda-forge/cuda-version-feedstock ``recipe/meta.yaml``).

Everything here is standard library and pure: values in, a frozen verdict out.
"""

from __future__ import annotations

import functools
import re

from .models import version_tuple
from .patterns import lazy_re
from .values import value_class

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = [
    "Arch",
    "Coverage",
    "DriverSupport",
    "arch_coverage",
    "arch_span",
    "cuda_requirement",
    "driver_support",
    "parse_arch",
]


# -- GPU architectures ---------------------------------------------------------------------


@value_class(order=True)
class Arch:
    """One compiled architecture: SASS (``sm``) or PTX (``compute``) for ``major.minor``.

    ``suffix`` is ``""``, ``"a"`` (architecture-specific: that exact capability only) or
    ``"f"`` (family: the same major from this minor on).
    """

    major: int
    minor: int
    kind: str = "sm"
    suffix: str = ""

    @property
    def capability(self) -> str:
        return f"{self.major}.{self.minor}"

    def __str__(self) -> str:
        return f"{self.kind}_{self.major}{self.minor}{self.suffix}"


_ARCH_RE = lazy_re(
    r"^(?:(?P<kind>sm|compute)_(?P<digits>\d{2,3})(?P<sfx>[af]?)"
    r"|(?P<major>\d+)\.(?P<minor>\d)(?P<dsfx>[af]?)(?P<ptx>\+PTX)?)$",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=512)
def parse_arch(entry: str) -> tuple[Arch, ...]:
    """Every :class:`Arch` one entry names: ``sm_90``, ``sm_90a``, ``compute_120``, ``9.0``,
    ``12.0+PTX`` (SASS and PTX for 12.0), ``10.0f``. Unknown text gives ``()``. Cached: ranking
    reads the same few dozen entries for every build (the answer is immutable)."""
    m = _ARCH_RE.match(str(entry).strip())
    if not m:
        return ()
    if m.group("kind"):
        digits = m.group("digits")
        major, minor = int(digits[:-1]), int(digits[-1])
        return (Arch(major, minor, m.group("kind").lower(), m.group("sfx").lower()),)
    major, minor = int(m.group("major")), int(m.group("minor"))
    out = [Arch(major, minor, "sm", m.group("dsfx").lower())]
    if m.group("ptx"):
        out.append(Arch(major, minor, "compute"))
    return tuple(out)


def _archs(archs: Iterable[str], ptx: str | None = None) -> list[Arch]:
    out = [a for entry in archs for a in parse_arch(entry)]
    if ptx:
        out += [Arch(a.major, a.minor, "compute") for a in parse_arch(ptx)]
    return out


def _capability(capability: str | tuple[int, int]) -> tuple[int, int] | None:
    if isinstance(capability, tuple):
        return (int(capability[0]), int(capability[1])) if len(capability) >= 2 else None
    parts = version_tuple(capability)
    return (parts[0], parts[1]) if len(parts) >= 2 else None


@value_class
class Coverage:
    """How a GPU of ``capability`` runs a build: ``"sass"`` (compiled code for it),
    ``"ptx"`` (only through JIT of PTX: slow first start, and the driver must support the
    build's own CUDA), or ``None`` (it does not). ``via`` is the architecture used."""

    capability: str
    how: str | None
    via: Arch | None = None

    @property
    def native(self) -> bool:
        return self.how == "sass"

    def describe(self) -> str:
        name = f"sm_{self.capability.replace('.', '')}"
        if self.how == "sass" and self.via is not None:
            if self.via.capability == self.capability:
                return f"{name} is in the build"
            return f"{name} runs the build's {self.via} code (binary compatible)"
        if self.how == "ptx" and self.via is not None:
            return (
                f"{name} is not compiled in; the driver JIT-compiles {self.via} PTX at first "
                "use (slow start; needs a driver for the build's own CUDA)"
            )
        return f"{name} is not in the build's architectures"


def arch_coverage(
    capability: str | tuple[int, int], archs: Sequence[str], ptx: str | None = None
) -> Coverage:
    """Whether a GPU of ``capability`` runs code compiled for ``archs`` (+ ``ptx``).

    ``archs`` may mix torch's spelling (``sm_90``, ``compute_120``) and the build scripts'
    (``9.0``, ``12.0+PTX``); ``ptx`` is an extra PTX capability (``"12.0"``).
    """
    cap = _capability(capability)
    text = f"{cap[0]}.{cap[1]}" if cap else str(capability)
    if cap is None:
        return Coverage(text, None)
    major, minor = cap
    parsed = _archs(archs, ptx)
    sass = [
        a
        for a in parsed
        if a.kind == "sm"
        and a.major == major
        and (a.minor == minor if a.suffix == "a" else a.minor <= minor)
    ]
    if sass:
        return Coverage(text, "sass", max(sass, key=lambda a: (a.minor, a.suffix == "")))
    jit = [
        a for a in parsed if a.kind == "compute" and a.suffix == "" and (a.major, a.minor) <= cap
    ]
    if jit:
        return Coverage(text, "ptx", max(jit))
    return Coverage(text, None)


def arch_span(archs: Sequence[str], ptx: str | None = None) -> str:
    """``sm_50-sm_120 + compute_120 PTX``: a short description of a build's architectures."""
    parsed = _archs(archs, ptx)
    sass = sorted({a for a in parsed if a.kind == "sm"})
    jit = sorted({a for a in parsed if a.kind == "compute"})
    if not sass and not jit:
        return "none recorded"
    text = ""
    if sass:
        text = f"{sass[0]}-{sass[-1]}" if len(sass) > 1 else str(sass[0])
    if jit:
        text += (" + " if text else "") + ", ".join(str(a) for a in jit) + " PTX"
    return text


# -- drivers -----------------------------------------------------------------------------------


@value_class
class DriverSupport:
    """Whether a driver runs a CUDA ``build``.

    ``runs`` is True, False or None (nothing known about the driver). ``mode`` is ``"full"``
    (the driver supports the build's CUDA), ``"minor"`` (through CUDA minor-version
    compatibility: same major, the major's floor met, no PTX JIT needed) or ``None``.
    ``reason`` is one clause for a sentence; ``floor``/``compat_floor`` the driver minimums
    used (or ``None`` where NVIDIA publishes none).
    """

    build: str
    runs: bool | None
    mode: str | None
    reason: str
    floor: str | None = None
    compat_floor: str | None = None

    @property
    def minor_compat(self) -> bool:
        return self.mode == "minor"


#: CUDA minor-version compatibility exists from CUDA 11 on (NVIDIA's CUDA Compatibility guide:
#: "Starting with CUDA 11, applications built with any CUDA minor version ... run on a driver
#: of the same major"): a 10.2 build needs a 10.2 driver.
MINOR_COMPAT_FROM_MAJOR = 11


def driver_support(
    build: str,
    *,
    driver: str | None = None,
    driver_cuda: str | None = None,
    floor: str | None = None,
    compat_floor: str | None = None,
    needs_jit: bool = False,
    label: str | None = None,
) -> DriverSupport:
    """Does a driver (its version ``driver`` and/or the CUDA it reports, ``driver_cuda``) run
    a build for CUDA ``build``?

    ``floor`` is the driver minimum of the build's CUDA toolkit on this OS, ``compat_floor``
    the minimum of the major's minor-version compatibility (both from NVIDIA's tables, in the
    matrix data). ``needs_jit``: some GPU runs the build only through PTX JIT, which
    minor-version compatibility does not allow. The CUDA version the driver reports wins over
    its version number when both are known (it is what conda's ``__cuda`` is).
    """
    what = label or f"CUDA {build}"
    bv = version_tuple(build)[:2]
    if bv and bv[0] < MINOR_COMPAT_FROM_MAJOR:
        compat_floor = None
    if driver_cuda and version_tuple(driver_cuda):
        hv = version_tuple(driver_cuda)[:2]
        if hv >= bv:
            return DriverSupport(
                build, True, "full", f"the driver supports CUDA {driver_cuda}", floor, compat_floor
            )
        below_floor = bool(
            driver and compat_floor and version_tuple(driver) < version_tuple(compat_floor)
        )
        minor_ok = bool(bv) and bv[0] >= MINOR_COMPAT_FROM_MAJOR
        if hv[:1] == bv[:1] and not minor_ok:
            return DriverSupport(
                build,
                False,
                None,
                f"{what} needs a driver for CUDA {build} (no minor-version compatibility "
                f"before CUDA {MINOR_COMPAT_FROM_MAJOR}); the driver supports CUDA {driver_cuda}",
                floor,
                compat_floor,
            )
        if hv[:1] == bv[:1] and not needs_jit and not below_floor:
            return DriverSupport(
                build,
                True,
                "minor",
                f"the driver supports CUDA {driver_cuda}; {what} runs there through CUDA "
                f"minor-version compatibility (same major {bv[0]})",
                floor,
                compat_floor,
            )
        if hv[:1] == bv[:1] and below_floor:
            return DriverSupport(
                build,
                False,
                None,
                f"CUDA {bv[0]}.x minor-version compatibility needs driver >= {compat_floor}, "
                f"this machine has {driver} (CUDA {driver_cuda})",
                floor,
                compat_floor,
            )
        if hv[:1] == bv[:1]:
            return DriverSupport(
                build,
                False,
                None,
                f"{what} runs on this GPU only through PTX JIT, which needs a driver for CUDA "
                f"{build}; the driver supports CUDA {driver_cuda}",
                floor,
                compat_floor,
            )
        return DriverSupport(
            build,
            False,
            None,
            f"{what} needs a driver for CUDA {bv[0]}.x; the driver supports CUDA {driver_cuda}",
            floor,
            compat_floor,
        )
    if driver and version_tuple(driver):
        dv = version_tuple(driver)
        if floor and dv >= version_tuple(floor):
            return DriverSupport(
                build, True, "full", f"driver {driver} >= {floor}", floor, compat_floor
            )
        if compat_floor and dv >= version_tuple(compat_floor) and not needs_jit:
            return DriverSupport(
                build,
                True,
                "minor",
                f"driver {driver} runs {what} through CUDA minor-version compatibility "
                f"(>= {compat_floor} for CUDA {bv[0]}.x)",
                floor,
                compat_floor,
            )
        if not floor and not compat_floor:
            return DriverSupport(
                build,
                None,
                None,
                f"NVIDIA publishes no driver minimum for CUDA {build} here",
                floor,
                compat_floor,
            )
        if compat_floor and dv >= version_tuple(compat_floor):
            why = f"{what} runs on this GPU only through PTX JIT, which needs driver >= {floor}"
        else:
            why = f"{what} needs driver >= {compat_floor or floor}"
        return DriverSupport(
            build, False, None, f"{why}, this machine has {driver}", floor, compat_floor
        )
    return DriverSupport(
        build, None, None, "the NVIDIA driver version is unknown", floor, compat_floor
    )


def cuda_requirement(build: str, *, needs_jit: bool = False) -> str:
    """The virtual-package spec a CUDA ``build`` needs on the machines it targets.

    ``__cuda>=<major>`` where minor-version compatibility carries it (conda-forge's own rule:
    ``cuda-version`` constrains ``__cuda >=<major>``); the full ``__cuda>=X.Y`` where a GPU
    needs PTX JIT.
    """
    parts = version_tuple(build)
    if needs_jit and len(parts) >= 2:
        return f"__cuda>={parts[0]}.{parts[1]}"
    return f"__cuda>={parts[0]}" if parts else "__cuda"
