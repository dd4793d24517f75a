"""The default ``nvidia-smi`` table, in every layout NVIDIA has printed, and its error outputs.

Layouts seen in the fixture corpus (``tests/data/fixtures/nvidia-smi``):

* the 79-column table of drivers up to R510 (``| NVIDIA-SMI 418.74  Driver Version: 418.74
  CUDA Version: 10.1 |``), with no ``CUDA Version`` before R410 and a ``MIG M.`` row from R450;
* the 87/89/91-column tables of R530 and later;
* the R610 header, which renames the fields ``KMD Version`` / ``CUDA UMD Version``;
* Windows' ``nvidia-smi.exe``, whose first column shows the driver model (``TCC/WDDM`` or
  ``Driver-Model``) where Linux shows ``Persistence-M``;
* WSL2, where the Linux ``nvidia-smi`` build differs from the Windows host ``Driver Version``;
* Jetson (``Orin (nvgpu)``) with ``N/A`` / ``Not Supported`` cells.

Names wider than the column end in ``...``; they are kept as printed (``machine.merge`` replaces
them with a full name from ``-L`` / ``--query-gpu``). The ``MIG devices`` and ``Processes``
boxes are not GPUs.

This module also holds the small helpers the other NVIDIA parsers share.
"""

from __future__ import annotations

import re

from ...machine import Observation
from .capture import Kind, lazy_re

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from typing import Any

    from .capture import Capture

#: Values nvidia-smi prints for "no value here".
MISSING_VALUES = frozenset(
    {
        "",
        "n/a",
        "[n/a]",
        "not supported",
        "[not supported]",
        "not found",
        "unknown",
        "[unknown error]",
        "err!",
        "none",
    }
)

_VERSION = lazy_re(r"^\d+(?:\.\d+)+$")
_UUID = lazy_re(r"^(?:GPU|MIG)-[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")

#: Driver models the Windows kernel driver reports (TCC, WDDM, and MCDM since R550).
WINDOWS_DRIVER_MODELS = ("WDDM", "TCC", "MCDM")

NOTE_TRUNCATED = "GPU name truncated by nvidia-smi; run `nvidia-smi -L` for the full name"
NOTE_JETSON_DRIVER = "Driver Version N/A on Jetson; read /proc/driver/nvidia/version"


# -- helpers shared by the NVIDIA parsers ---------------------------------------------------


def value(text: str | None) -> str | None:
    """A cell or field value; None for nvidia-smi's placeholders (N/A, [N/A], Not Supported)."""
    if text is None:
        return None
    text = text.strip()
    if text.lower() in MISSING_VALUES or (text.startswith("[") and text.endswith("]")):
        return None
    return text


def version(text: str | None) -> str | None:
    """A dotted version number from a field such as ``610.62 [Deprecated; ...]``, else None."""
    text = value(text)
    if text is None:
        return None
    first = text.split()[0]
    return first if _VERSION.match(first) else None


def uuid(text: str | None) -> str | None:
    """A GPU UUID, or None when it is absent, redacted (``[removed]``) or masked (all zeros)."""
    text = value(text)
    if text is None or not _UUID.match(text):
        return None
    if set(text[4:].replace("-", "")) <= {"0"}:
        return None
    return text


def mib(text: str | None) -> int | None:
    """``81559 MiB`` / ``81559`` -> 81559."""
    text = value(text)
    if text is None:
        return None
    m = re.match(r"^(\d+)\s*(?:MiB)?$", text)
    return int(m.group(1)) if m else None


def pci_device_id(text: str | None) -> str | None:
    """NVML's combined id ``0x233010DE`` (device << 16 | vendor) -> ``10de:2330``."""
    text = value(text)
    if text is None:
        return None
    m = re.match(r"^(?:0x)?([0-9a-fA-F]{4})([0-9a-fA-F]{4})$", text)
    if not m:
        return None
    return f"{m.group(2).lower()}:{m.group(1).lower()}"


def is_truncated(name: str | None) -> bool:
    return bool(name) and (name.endswith("...") or name.endswith("…"))


def jetson_platform(name: str | None) -> dict[str, Any]:
    """``Orin (nvgpu)``: nvgpu is the integrated-GPU driver of Jetson (Tegra) boards only."""
    if name and "(nvgpu)" in name:
        return {"os": "linux", "machine": "aarch64", "jetson": True}
    return {}


def windows_exe(capture: Capture) -> bool:
    """Whether the capture shows ``nvidia-smi.exe`` being run (so it came from Windows)."""
    return any("nvidia-smi.exe" in line.lower() for line in capture.lines)


def platform_from_driver_model(
    driver_models: list[str], persistence: list[str], capture: Capture
) -> dict[str, Any]:
    """Windows or WSL2 from ``-q`` / ``--query-gpu`` facts.

    A WDDM/TCC/MCDM driver model means the Windows kernel driver drives the GPU: either
    ``nvidia-smi.exe`` on Windows or the Linux ``nvidia-smi`` inside WSL2. Persistence mode is
    a Linux-only setting: Windows' nvidia-smi reports it as N/A, the Linux build in WSL2 reports
    Enabled/Disabled. So a Windows driver model with a persistence mode proves WSL2.
    """
    if windows_exe(capture):
        return {"os": "windows"}
    if not any(m in WINDOWS_DRIVER_MODELS for m in driver_models):
        return {}
    if any(p in ("Enabled", "Disabled") for p in persistence):
        return {"os": "linux", "wsl": True}
    if persistence:
        return {"os": "windows"}
    return {}


def new_observation(kind: str) -> Observation:
    return Observation(kind=kind)


def add_note(obs: Observation, note: str) -> None:
    if note not in obs.notes:
        obs.notes.append(note)


def add_error(obs: Observation, code: str) -> None:
    if code not in obs.errors:
        obs.errors.append(code)


def cuda_unavailable(obs: Observation, shown: str, where: str) -> None:
    add_error(obs, "nvidia.cuda_version_unavailable")
    add_note(
        obs,
        f"the '{where}' line shows {shown}: the newest CUDA version the driver supports "
        "is not known from this output",
    )


# -- the default table ----------------------------------------------------------------------

_HEADER = lazy_re(
    r"NVIDIA-SMI\s+(?P<smi>\S+)\s+(?P<dkey>Driver Version|KMD Version):\s*(?P<driver>\S+)"
    r"(?:\s+(?P<ckey>CUDA Version|CUDA UMD Version):\s*(?P<cuda>\S+))?"
)
_GPU_ROW = lazy_re(
    r"^\|\s*(?P<index>\d+)\s+(?P<name>\S.*?)\s+(?P<mode>On|Off|N/A|WDDM|TCC|MCDM)\s*\|\s*(?P<bus>\S+)"
)
_MEMORY = lazy_re(r"(\d+)MiB\s*/\s*(\d+)MiB")
_MIG_ROW = lazy_re(r"^\|\s*(?P<gpu>\d+)\s+(?:\d+|N/A)\s+(?:\d+|N/A)\s+\d+\s*\|")

_ERRORS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (
        lazy_re(r"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver"),
        "nvidia.driver_not_loaded",
        (
            "nvidia-smi could not communicate with the NVIDIA kernel driver: it is not loaded or "
            "not installed (often after a driver upgrade without a reboot)"
        ),
    ),
    (
        lazy_re(r"^No devices were found\s*$"),
        "nvidia.no_devices",
        "nvidia-smi found no usable NVIDIA GPU: the driver is loaded but no GPU initialised",
    ),
    (
        lazy_re(r"Failed to initialize NVML: Driver/library version mismatch"),
        "nvidia.driver_library_mismatch",
        (
            "the NVIDIA kernel module and the user-space driver libraries have different versions "
            "(reboot, or reinstall the driver); read /proc/driver/nvidia/version for the kernel "
            "driver"
        ),
    ),
)
_NVML_FAILED = lazy_re(r"Failed to initialize NVML: (?P<why>.+)$")
_NVML_LIBRARY = lazy_re(r"NVML library version:\s*(?P<v>\d+(?:\.\d+)+)")


def recognise_table(capture: Capture) -> bool:
    for line in capture.lines:
        if _HEADER.search(line) or _NVML_FAILED.search(line):
            return True
        if any(pattern.search(line.strip()) for pattern, _, _ in _ERRORS):
            return True
    return False


def parse_table(capture: Capture) -> Observation:
    obs = new_observation("nvidia-smi")
    lines = [ln.strip() for ln in capture.lines]
    _parse_errors(lines, obs)

    header_at = next((i for i, ln in enumerate(lines) if _HEADER.search(ln)), None)
    if header_at is None:
        return obs
    header = _HEADER.search(lines[header_at])
    assert header is not None
    smi_version = version(header.group("smi"))
    driver_text = header.group("driver").rstrip("|")
    driver = version(driver_text)
    if driver:
        obs.nvidia["driver_version"] = driver
    cuda_text = (header.group("cuda") or "").rstrip("|")
    if header.group("ckey"):
        cuda = version(cuda_text)
        if cuda:
            obs.nvidia["cuda_version"] = cuda
        else:
            cuda_unavailable(obs, cuda_text, header.group("ckey"))
    else:
        add_note(
            obs, "the nvidia-smi header shows no CUDA version (drivers before R410 do not print it)"
        )

    windows_table = False
    gpus = _parse_gpu_section(lines, header_at, obs)
    for line in lines[header_at:]:
        if line.startswith("| GPU") and "Name" in line:
            windows_table = "TCC/WDDM" in line or "Driver-Model" in line
            break
    if windows_table:
        obs.platform["os"] = "windows"
        for gpu in gpus:
            mode = gpu.pop("_mode", None)
            if mode in WINDOWS_DRIVER_MODELS:
                gpu["driver_model"] = mode
    for gpu in gpus:
        gpu.pop("_mode", None)
    obs.gpus.extend(gpus)

    for gpu in gpus:
        obs.platform.update(jetson_platform(gpu.get("name")))
        if is_truncated(gpu.get("name")):
            add_note(obs, NOTE_TRUNCATED)
    if driver_text.upper() == "N/A" and obs.platform.get("jetson"):
        add_note(obs, NOTE_JETSON_DRIVER)
    elif driver is None:
        add_note(obs, f"the nvidia-smi header shows no driver version ({driver_text})")

    # WSL2: the Linux nvidia-smi build talks to the Windows host driver, so the two numbers
    # differ (on Linux and Windows they are the same build; a mismatch there fails NVML).
    if driver and smi_version and driver != smi_version and not windows_table:
        obs.platform.update({"os": "linux", "wsl": True})
        add_note(
            obs, f"nvidia-smi {smi_version} reports the Windows host driver {driver}: this is WSL2"
        )
    return obs


def _parse_errors(lines: list[str], obs: Observation) -> None:
    for line in lines:
        matched = False
        for pattern, code, note in _ERRORS:
            if pattern.search(line):
                add_error(obs, code)
                add_note(obs, note)
                matched = True
        m = _NVML_FAILED.search(line)
        if m and not matched:
            add_error(obs, "nvidia.nvml_error")
            add_note(obs, f"nvidia-smi could not initialise NVML: {m.group('why').strip()}")
        m = _NVML_LIBRARY.search(line)
        if m:
            obs.nvidia["nvml_version"] = m.group("v")


def _parse_gpu_section(lines: list[str], start: int, obs: Observation) -> list[dict[str, Any]]:
    """GPU boxes between the ``|===|`` rule under the column header and the first blank line."""
    rows_per_gpu = 2
    body_at = None
    for i in range(start, len(lines)):
        if lines[i].startswith("|") and "MIG M." in lines[i]:
            rows_per_gpu = 3
        if lines[i].startswith("|=") or lines[i].startswith("+="):
            body_at = i + 1
            break
    if body_at is None:
        return []
    gpus: list[dict[str, Any]] = []
    block: list[str] = []
    end = len(lines)
    for i in range(body_at, len(lines)):
        line = lines[i]
        if not line or line[0] not in "|+" or "MIG devices:" in line or "Processes:" in line:
            end = i
            break
        if line.startswith("+") or line.startswith("|-"):
            _add_gpu(block, rows_per_gpu, gpus)
            block = []
            continue
        block.append(line)
    else:
        end = len(lines)
    _add_gpu(block, rows_per_gpu, gpus)
    _count_mig_devices(lines[end:], gpus)
    return gpus


def _add_gpu(block: list[str], rows_per_gpu: int, gpus: list[dict[str, Any]]) -> None:
    if not block:
        return
    m = _GPU_ROW.match(block[0])
    if not m:
        return
    gpu: dict[str, Any] = {
        "vendor": "nvidia",
        "index": int(m.group("index")),
        "name": m.group("name").strip(),
    }
    bus = value(m.group("bus"))
    if bus and ":" in bus:
        gpu["bus_id"] = bus
    gpu["_mode"] = m.group("mode")
    if len(block) > 1:
        mem = _MEMORY.search(block[1])
        if mem:
            gpu["memory_mib"] = int(mem.group(2))
    if rows_per_gpu == 3 and len(block) > 2:
        cells = [c.strip() for c in block[2].strip("|").split("|")]
        mode = cells[-1].rstrip("*") if cells else ""  # "Disabled*": a change is pending
        if mode in ("Enabled", "Disabled"):
            gpu["mig_mode"] = mode
    gpus.append(gpu)


def _count_mig_devices(rest: list[str], gpus: list[dict[str, Any]]) -> None:
    """Count the rows of a ``MIG devices:`` box (one per MIG device) under their parent GPU."""
    in_mig = False
    in_body = False
    counts: dict[int, int] = {}
    for line in rest:
        if "MIG devices:" in line:
            in_mig, in_body = True, False
            continue
        if "Processes:" in line:
            break
        if not in_mig:
            continue
        if line.startswith("|=") or line.startswith("+="):
            in_body = True
            continue
        if in_body:
            m = _MIG_ROW.match(line)
            if m:
                counts[int(m.group("gpu"))] = counts.get(int(m.group("gpu")), 0) + 1
    for gpu in gpus:
        if gpu["index"] in counts:
            gpu["mig_devices"] = counts[gpu["index"]]


KINDS: tuple[Kind, ...] = (
    Kind(name="nvidia-smi", recognise=recognise_table, parse=parse_table, rank=40),
)
