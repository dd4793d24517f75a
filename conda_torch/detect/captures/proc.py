"""Linux kernel-side views of NVIDIA GPUs: ``/proc/driver/nvidia/version``, ``lspci`` lines and a
PCI sysfs listing.

* ``/proc/driver/nvidia/version`` (fixtures in ``tests/data/fixtures/proc-driver-version``) names
  the kernel module that is loaded, which is the driver version that matters when user space and
  kernel disagree (``Driver/library version mismatch``)::

      NVRM version: NVIDIA UNIX x86_64 Kernel Module  384.98  Thu Oct 26 15:16:01 PDT 2017
      NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  565.57.01  Release Build  (...)

  The proprietary module names the architecture before ``Kernel Module``, the open module after
  ``for``. The build date is locale-dependent and is never read.
* ``lspci`` lines for NVIDIA display-class devices (``VGA compatible controller``,
  ``3D controller``, ``Display controller``), with or without ``-nn`` ids; the marketing name in
  the last ``[...]`` comes from the PCI ID database, not from the driver.
* The PCI sysfs listing ``slot class vendor device`` read from
  ``/sys/bus/pci/devices/*/{class,vendor,device}`` (``tests/data/fixtures/pci``): vendor ``0x10de``
  with a display class (``0x03xxxx``) is an NVIDIA GPU. It shows no name.
"""

from __future__ import annotations

import re

from .capture import Kind, lazy_re
from .nvidia_smi import add_note, new_observation

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from typing import Any

    from ...machine import Observation
    from .capture import Capture

#: CPU architectures the NVIDIA kernel module names in its version string.
_ARCHES = ("x86_64", "aarch64", "ppc64le", "arm64", "armv7l", "i386", "x86")

_NVRM = lazy_re(
    r"NVRM version:\s+NVIDIA\s+(?P<before>.*?)\s*(?P<open>Open\s+)?Kernel Module"
    r"(?:\s+for\s+(?P<arch>\S+))?\s+(?P<version>\d+(?:\.\d+)+)"
)


def recognise_proc(capture: Capture) -> bool:
    return any(_NVRM.search(line) for line in capture.lines)


def parse_proc(capture: Capture) -> Observation:
    obs = new_observation("/proc/driver/nvidia/version")
    for line in capture.lines:
        m = _NVRM.search(line)
        if not m:
            continue
        obs.nvidia["driver_version"] = m.group("version")
        obs.nvidia["driver_flavor"] = "open" if m.group("open") else "proprietary"
        arch = m.group("arch") or (m.group("before").split() or [""])[-1]
        if arch in _ARCHES:
            obs.platform["machine"] = arch
        obs.platform["os"] = "linux"  # the NVRM line is the Linux /proc file's format
        break
    return obs


# -- lspci ----------------------------------------------------------------------------------

_SLOT = r"(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]"
_LSPCI = lazy_re(
    rf"^\s*(?P<slot>{_SLOT})\s+(?P<cls>VGA compatible controller|3D controller|Display controller)"
    r"(?:\s+\[03[0-9a-fA-F]{2}\])?:\s+NVIDIA Corporation\s+(?P<desc>.*)$"
)
_NN_ID = lazy_re(r"\[10de:(?P<dev>[0-9a-fA-F]{4})\]")
_PLAIN_ID = lazy_re(r"^Device (?P<dev>[0-9a-fA-F]{4})\b")


def recognise_lspci(capture: Capture) -> bool:
    return any(_LSPCI.match(line) for line in capture.lines)


def parse_lspci(capture: Capture) -> Observation:
    obs = new_observation("lspci")
    for line in capture.lines:
        m = _LSPCI.match(line)
        if not m:
            continue
        gpu: dict[str, Any] = {"vendor": "nvidia", "bus_id": m.group("slot")}
        desc = m.group("desc")
        dev = _NN_ID.search(desc) or _PLAIN_ID.match(desc)
        if dev:
            gpu["pci_device_id"] = f"10de:{dev.group('dev').lower()}"
        # Drop the ids, "(rev a1)" and "(prog-if ...)"; the name is the last [...] left.
        desc = _NN_ID.sub("", desc)
        desc = re.sub(r"\((?:rev|prog-if)[^)]*(?:\[[^\]]*\])?[^)]*\)", "", desc)
        names = re.findall(r"\[([^\]]+)\]", desc)
        if names and " / " not in names[-1]:
            gpu["name"] = names[-1].strip()
        obs.gpus.append(gpu)
    if any("name" in g for g in obs.gpus):
        add_note(obs, "GPU names from lspci come from the PCI ID database, not from the driver")
    return obs


# -- PCI sysfs listing ----------------------------------------------------------------------

_SYSFS = lazy_re(
    r"^\s*(?P<slot>[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])\s+0x(?P<cls>[0-9a-fA-F]{6})"
    r"\s+0x(?P<vendor>[0-9a-fA-F]{4})\s+0x(?P<device>[0-9a-fA-F]{4})\s*$"
)

#: PCI vendor id of NVIDIA Corporation (pci.ids).
NVIDIA_PCI_VENDOR = "10de"


def _sysfs_nvidia(capture: Capture) -> list[re.Match[str]]:
    found = []
    for line in capture.lines:
        m = _SYSFS.match(line)
        if m and m.group("vendor").lower() == NVIDIA_PCI_VENDOR and m.group("cls").startswith("03"):
            found.append(m)
    return found


def recognise_sysfs(capture: Capture) -> bool:
    return bool(_sysfs_nvidia(capture))


def parse_sysfs(capture: Capture) -> Observation:
    obs = new_observation("PCI sysfs")
    for m in _sysfs_nvidia(capture):
        obs.gpus.append(
            {
                "vendor": "nvidia",
                "bus_id": m.group("slot"),
                "pci_device_id": f"{NVIDIA_PCI_VENDOR}:{m.group('device').lower()}",
            }
        )
    return obs


KINDS: tuple[Kind, ...] = (
    Kind(name="/proc/driver/nvidia/version", recognise=recognise_proc, parse=parse_proc, rank=25),
    Kind(name="lspci", recognise=recognise_lspci, parse=parse_lspci, rank=60),
    Kind(name="PCI sysfs", recognise=recognise_sysfs, parse=parse_sysfs, rank=70),
)
