"""Live detection: every probe of this machine in order, cheapest first, cached per process.

Platform first, then one PCI scan, then NVIDIA (:mod:`.nvidia`), AMD ROCm and Intel XPU
(:mod:`.pci`), and Apple (:mod:`.platform`) on macOS. Every probe is timed, bounded by a
timeout and allowed to fail (:class:`~.probing.LiveRun`). Results are cached by the inputs
that change them; :func:`clear` forgets them and releases NVML.
"""

from __future__ import annotations

from ..machine import merge
from .nvidia import probe_nvidia, release_nvml
from .pci import probe_amd, probe_intel, probe_pci
from .platform import probe_apple, probe_platform
from .probing import NOT_FOUND, LiveRun

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from ..machine import Machine, Observation, Probe

#: Live probe results by the inputs that change them (see :func:`picture`); overrides and flags
#: are applied after, on every call.
_CACHE: dict[tuple[Any, ...], tuple[list[Observation], list[Probe], list[str]]] = {}


def clear() -> None:
    """Forget cached live probe results and release NVML (the next probe starts afresh)."""
    _CACHE.clear()
    release_nvml()


def picture(env: Mapping[str, str], *, nvidia_smi: bool, root: str) -> Machine:
    """This machine's picture from its probes (cached: see the module docstring); flags and
    overrides are the caller's (:mod:`.adjust`)."""
    key = (
        nvidia_smi,
        root,
        env.get("CUDA_VISIBLE_DEVICES"),
        env.get("CONDA_SUBDIR"),
        env.get("KUBERNETES_SERVICE_HOST"),
        env.get("NVIDIA_VISIBLE_DEVICES"),
        env.get("ROCM_PATH"),
    )
    cached = _CACHE.get(key)
    if cached is None:
        run = LiveRun(env, root)
        _probe_all(run, nvidia_smi=nvidia_smi)
        run.ranked.sort(key=lambda item: (item[0], item[1]))
        # Copies: a library probe abandoned after its timeout must not change a cached picture.
        cached = ([o for _, _, o in run.ranked], list(run.probes), list(run.notes))
        _CACHE[key] = cached
    observations, probes, notes = cached
    return merge(list(observations), mode="live", probes=tuple(probes), notes=tuple(notes))


def _probe_all(run: LiveRun, *, nvidia_smi: bool) -> None:
    """Run every probe that applies to this OS, in order, into ``run``."""
    plat = run.probe("platform", probe_platform, run)
    system = plat["os"] if plat else None
    linux = system == "linux"

    # PCI display devices: one scan serves NVIDIA, AMD and Intel.
    pci: dict[str, list[dict[str, Any]]] = {}
    if linux:
        pci = run.probe("pci: /sys/bus/pci/devices", probe_pci, run) or {}
    else:
        run.skip("pci: /sys/bus/pci/devices", "not Linux")

    probe_nvidia(run, system, plat or {}, pci, nvidia_smi=nvidia_smi)

    if linux:
        probe_amd(run, pci)
        probe_intel(run, pci)
    elif system == "windows":
        run.notes.append(NOT_FOUND + "AMD ROCm: ROCm builds of torch are Linux only.")
    if system == "macos":
        run.probe("apple: sysctl", probe_apple, run, plat or {})
    else:
        run.skip("apple: sysctl", "not macOS")
        run.notes.append(NOT_FOUND + "Apple MPS: not macOS.")
