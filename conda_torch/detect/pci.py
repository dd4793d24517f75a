"""The PCI probes: display devices in sysfs, AMD ROCm (version, KFD topology), Intel XPU.

One scan of ``/sys/bus/pci/devices`` (:func:`probe_pci`) serves every vendor: NVIDIA's probes
fall back to it when no driver-side probe names the GPUs, AMD's when the KFD topology shows
none, and Intel's discrete GPUs are only known from it. ROCm's version comes from
``/opt/rocm*/.info/version`` and its gfx targets from the KFD topology, without ``rocminfo``.
"""

from __future__ import annotations

import os

from ..machine import Observation
from .probing import NOT_FOUND, RANK_PCI, RANK_PROC_GPUS, RANK_PROC_VERSION

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from typing import Any

    from .probing import LiveRun

#: PCI vendor ids (https://pcisig.com/membership/member-companies; ``lspci -n``).
PCI_NVIDIA, PCI_AMD, PCI_INTEL = "0x10de", "0x1002", "0x8086"
#: PCI base class 03 (display): 0300 VGA, 0302 3D controller, 0380 other display.
PCI_DISPLAY_CLASSES = ("0x0300", "0x0302", "0x0380")
#: Intel puts its integrated GPU at PCI 00:02.0 on every platform (the Linux kernel's GVT-g
#: documentation addresses it as 0000:00:02.0); any other Intel display device is discrete.
INTEL_IGPU_SLOT = "00:02.0"


def pci_observation(vendor: str, vendor_id: str, devices: list[dict[str, Any]]) -> Observation:
    """GPUs seen only on the PCI bus: where they sit and their device ids, nothing more."""
    gpus = [
        {"vendor": vendor, "bus_id": d["slot"], "pci_device_id": f"{vendor_id}:{d['device'][2:]}"}
        for d in devices
    ]
    return Observation(kind="sysfs PCI", gpus=gpus)


def probe_pci(run: LiveRun) -> tuple[dict[str, list[dict[str, Any]]], str]:
    """Display-class PCI devices from sysfs, by vendor id."""
    base = "/sys/bus/pci/devices"
    slots = run.listdir(base)
    found: dict[str, list[dict[str, Any]]] = {}
    for slot in slots:
        cls = (run.read(f"{base}/{slot}/class", 64) or "").strip().lower()
        if cls[:6] not in PCI_DISPLAY_CLASSES:
            continue
        vendor = (run.read(f"{base}/{slot}/vendor", 64) or "").strip().lower()
        device = (run.read(f"{base}/{slot}/device", 64) or "").strip().lower()
        found.setdefault(vendor, []).append({"slot": slot, "class": cls, "device": device})
    listed = sum(len(v) for v in found.values())
    detail = f"{len(slots)} devices, {listed} display" + "".join(
        f", {v}:{d['device'][2:]}" for v, ds in found.items() for d in ds
    )
    if not slots:
        return {}, "no PCI devices listed"
    return found, detail


# AMD --------------------------------------------------------------------------------------


def probe_amd(run: LiveRun, pci: dict[str, list[dict[str, Any]]]) -> None:
    version = run.probe("rocm: version", probe_rocm_version, run)
    kfd = run.probe("rocm: /sys/class/kfd topology", probe_kfd, run)
    amd_pci = pci.get(PCI_AMD, [])
    if not kfd and amd_pci:
        run.add(
            RANK_PCI,
            Observation(
                kind="sysfs PCI",
                gpus=[
                    {"vendor": "amd", "bus_id": d["slot"], "pci_device_id": d["device"]}
                    for d in amd_pci
                ],
            ),
        )
        run.notes.append(
            f"{len(amd_pci)} AMD display device(s) on the PCI bus, but no GPU in the KFD "
            "topology: is the amdgpu driver loaded?"
        )
    if not version and not kfd and not amd_pci:
        run.notes.append(
            NOT_FOUND + "AMD ROCm: no /opt/rocm, no GPU in /sys/class/kfd, no AMD device "
            "on the PCI bus."
        )
    elif not version:
        run.notes.append(
            NOT_FOUND + "ROCm version: no /opt/rocm/.info/version (ROCm user space not "
            "installed; torch's ROCm wheels bring their own)."
        )


def probe_rocm_version(run: LiveRun) -> tuple[bool, str]:
    candidates = [run.env["ROCM_PATH"]] if run.env.get("ROCM_PATH") else []
    candidates.append("/opt/rocm")
    versioned = [d for d in run.listdir("/opt") if d.startswith("rocm-")]
    if versioned:
        # Imported only when needed: models costs about 3 ms to import (its Enum and
        # dataclasses), a tenth of `conda torch detect`'s budget (bench/detect.py).
        from ..models import version_tuple

        versioned.sort(key=lambda d: version_tuple(d[5:]), reverse=True)
    candidates.extend(f"/opt/{d}" for d in versioned)
    for base in candidates:
        text = run.read(f"{base}/.info/version", 256)
        version = text.strip().split("-")[0] if text and text.strip() else None
        if version is None and os.path.basename(base).startswith("rocm-") and run.exists(base):
            version = base.rsplit("rocm-", 1)[1] or None
        if version:
            real = os.path.realpath(run.path(base))
            path = real if run.root == "/" else "/" + os.path.relpath(real, run.root)
            run.add(
                RANK_PROC_VERSION,
                Observation(kind=f"{base}/.info/version", rocm={"version": version, "path": path}),
            )
            return True, f"{version} at {path}"
    return False, "no /opt/rocm*/.info/version"


def probe_kfd(run: LiveRun) -> tuple[bool, str]:
    base = "/sys/class/kfd/kfd/topology/nodes"
    gpus = []
    for node in run.listdir(base):
        props: dict[str, int] = {}
        for line in (run.read(f"{base}/{node}/properties") or "").splitlines():
            key, _, value = line.partition(" ")
            if value.strip().lstrip("-").isdigit():
                props[key] = int(value)
        target = props.get("gfx_target_version", 0)
        if not target:  # CPU nodes
            continue
        gpu: dict[str, Any] = {"vendor": "amd", "gfx": _gfx(target)}
        if props.get("device_id"):
            gpu["pci_device_id"] = f"0x{props['device_id']:04x}"
        loc = props.get("location_id")
        if loc:  # bus << 8 | device << 3 | function
            gpu["bus_id"] = (
                f"{props.get('domain', 0):04x}:{loc >> 8:02x}:{(loc >> 3) & 0x1F:02x}.{loc & 7}"
            )
        gpus.append(gpu)
    if not gpus:
        return False, "absent" if not run.exists(base) else "no GPU node"
    run.add(RANK_PROC_GPUS, Observation(kind="KFD topology", gpus=gpus))
    return True, ", ".join(g["gfx"] for g in gpus)


def _gfx(target: int) -> str:
    """KFD ``gfx_target_version`` (major*10000 + minor*100 + stepping) -> name: 90010 -> gfx90a."""
    return f"gfx{target // 10000}{(target // 100) % 100}{target % 100:x}"


# Intel ------------------------------------------------------------------------------------


def probe_intel(run: LiveRun, pci: dict[str, list[dict[str, Any]]]) -> None:
    """Discrete Intel GPUs (XPU) from the PCI scan: any Intel display device but the iGPU."""
    intel = [d for d in pci.get(PCI_INTEL, []) if not d["slot"].endswith(INTEL_IGPU_SLOT)]
    if intel:
        run.add(RANK_PCI, pci_observation("intel", "8086", intel))
    else:
        run.notes.append(NOT_FOUND + "Intel XPU: no discrete Intel GPU on the PCI bus.")
