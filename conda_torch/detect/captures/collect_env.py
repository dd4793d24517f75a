"""``python -m torch.utils.collect_env`` reports, every era (2020 format to the current one).

What the report says about the installed torch goes to ``torch``; the OS, ``Python platform``
and ``Libc`` lines to ``platform``; ``GPU models and configuration`` to ``gpus``;
``Nvidia driver version`` to ``nvidia``. The ``CUDA runtime version`` line is the *system*
CUDA toolkit, neither the CUDA torch was built with nor the newest CUDA the driver supports,
so it is not read into either. Placeholders ("N/A", "None", "Could not collect", "No CUDA")
mean the fact is absent.
"""

from __future__ import annotations

import re

from ...machine import Observation
from ..amd_names import gfx_for_device_id, normalise_device_id
from .apple import derive_apple, macos_compat_note, platform_facts, subdir_for
from .capture import Kind, lazy_re

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from typing import Any

    from .capture import Capture

#: Values collect_env prints when it has no answer.
_ABSENT = {"", "n/a", "none", "could not collect", "no cuda", "unknown"}

#: Labels of the report's header lines (``Label: value``).
_LABELS = (
    "PyTorch version",
    "Is debug build",
    "CUDA used to build PyTorch",
    "ROCM used to build PyTorch",
    "OS",
    "GCC version",
    "Clang version",
    "CMake version",
    "Libc version",
    "Python version",
    "Python platform",
    "Is CUDA available",
    "CUDA runtime version",
    "CUDA_MODULE_LOADING set to",
    "GPU models and configuration",
    "Nvidia driver version",
    "cuDNN version",
    "Is XPU available",
    "HIP runtime version",
    "MIOpen runtime version",
    "Is XNNPACK available",
)
_LINE = lazy_re(
    r"^(?P<label>" + "|".join(re.escape(x) for x in _LABELS) + r"):\s*(?P<value>.*?)\s*$"
)
_GPU = lazy_re(r"^GPU (?P<index>\d+): (?P<name>.+?)\s*$")
_LIB = lazy_re(r"^\[(?P<tool>pip3?|conda)\]\s+(?P<rest>.*)$")
_OS_LINUX = lazy_re(r"^(?P<distro>.+?)\s+\((?P<machine>[\w]+)\)$")
#: "macOS 15.3 (x86_64)"; older reports: "Mac OSX 10.15.7 (x86_64)", "Mac OSX 10.13.6".
_OS_MAC = lazy_re(
    r"^(?:macOS|Mac OSX|Mac OS X)\s+(?P<ver>\d+(?:\.\d+)*)(?:\s+\((?P<machine>\w+)\))?$"
)
#: "Microsoft Windows 11 Enterprise (10.0.22631 64-bit)"; older: "Microsoft Windows 10 Pro".
_OS_WIN = lazy_re(
    r"^(?P<distro>Microsoft Windows[^(]*?)\s*(?:\((?P<ver>\d+\.\d+\.\d+)[^)]*\))?$"
)
#: ROCm builds name the gfx target after the GPU: "AMD Instinct MI300X (gfx942:sramecc+:xnack-)".
_GPU_GFX = lazy_re(r"^(?P<name>.+?)\s*\((?P<gfx>gfx[0-9a-f]+)(?::[^)]*)?\)$")
_PY = lazy_re(r"^(?P<ver>\d+\.\d+(?:\.\d+)?)")
_MSC_ARCH = lazy_re(r"\[MSC v\.\d+ (?:64|32) bit \((?P<arch>AMD64|ARM64|Intel)\)\]")


def _present(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in _ABSENT


def _fields(capture: Capture) -> tuple[dict[str, str], list[dict[str, Any]], list[str], str | None]:
    """Header values, GPU lines, library lines and the first line of the CPU section."""
    values: dict[str, str] = {}
    gpus: list[dict[str, Any]] = []
    libs: list[str] = []
    cpu_first: str | None = None
    in_gpus = False
    lines = [ln.strip() for ln in capture.lines]
    for i, line in enumerate(lines):
        if m := _LINE.match(line):
            label, value = m["label"], m["value"]
            values.setdefault(label, value)
            in_gpus = label == "GPU models and configuration"
            if in_gpus and (g := _GPU.match(value)):
                gpus.append({"index": int(g["index"]), "name": g["name"]})
            elif in_gpus and _present(value):
                gpus.append({"name": value})
            continue
        if in_gpus and (g := _GPU.match(line)):
            gpus.append({"index": int(g["index"]), "name": g["name"]})
            continue
        in_gpus = False
        if m := _LIB.match(line):
            libs.append(line)
        if line == "CPU:" and cpu_first is None:
            cpu_first = next((x for x in lines[i + 1 :] if x), None)
    return values, gpus, libs, cpu_first


def _recognise(capture: Capture) -> bool:
    labels = {m["label"] for ln in capture.lines if (m := _LINE.match(ln.strip()))}
    strong = {
        "PyTorch version",
        "CUDA used to build PyTorch",
        "Is CUDA available",
        "Python platform",
        "GPU models and configuration",
        "Nvidia driver version",
        "ROCM used to build PyTorch",
    }
    return len(labels & strong) >= 2


def _lib_version(libs: list[str], package: str) -> str | None:
    for line in libs:
        m = _LIB.match(line)
        if not m:
            continue
        rest = m["rest"].strip()
        if m["tool"].startswith("pip"):
            name, sep, version = rest.partition("==")
            if sep and name.strip().lower() == package:
                return version.strip()
        else:
            parts = rest.split()
            if len(parts) >= 2 and parts[0].lower() == package:
                return parts[1]
    return None


def _parse(capture: Capture) -> Observation:
    obs = Observation(kind="collect_env")
    values, gpu_lines, libs, cpu_first = _fields(capture)
    platform: dict[str, Any] = {}
    torch: dict[str, Any] = {}
    apple: dict[str, Any] = {}
    notes: list[str] = []

    # -- torch
    version = values.get("PyTorch version")
    if _present(version):
        torch["version"] = version
    if _present(cuda := values.get("CUDA used to build PyTorch")):
        torch["cuda"] = cuda
    if _present(rocm := values.get("ROCM used to build PyTorch")):
        torch["rocm"] = rocm
    built = values.get("CUDA used to build PyTorch")
    if torch.get("version") and built is not None and not _present(built) and "rocm" not in torch:
        # torch.version.cuda is None: a CPU build (a ROCm one names its ROCm on the next line)
        obs.events.append(
            {"id": "built_without_cuda", "line": f"CUDA used to build PyTorch: {built}"}
        )
    for label, key in (
        ("Is CUDA available", "cuda_available"),
        ("Is XPU available", "xpu_available"),
    ):
        if values.get(label) in ("True", "False", "Yes", "No"):
            torch[key] = values[label] in ("True", "Yes")
    for package in ("torchvision", "torchaudio"):
        if v := _lib_version(libs, package):
            torch[package] = v
    pip_torch = _lib_version([x for x in libs if x.startswith("[pip")], "torch")
    if pip_torch and torch.get("version") and "+" in pip_torch and pip_torch != torch["version"]:
        notes.append(
            f"pip lists torch=={pip_torch} but torch reports {torch['version']}: "
            "two torch installs may shadow each other"
        )

    # -- platform
    py = values.get("Python version", "")
    if m := _PY.match(py):
        platform["python_version"] = m["ver"]
        torch["python_version"] = m["ver"]
    os_line = values.get("OS", "")
    if m := _OS_MAC.match(os_line):
        platform.update(os="macos", macos_version=m["ver"], machine=m["machine"])
    elif m := _OS_WIN.match(os_line):
        platform.update(os="windows", os_version=m["ver"], distro=m["distro"].strip())
    elif _present(os_line) and (m := _OS_LINUX.match(os_line)):
        platform.update(os="linux", distro=m["distro"], machine=m["machine"])
    facts, more = platform_facts(values.get("Python platform", ""))
    notes.extend(more)
    for key, value in facts.items():
        if key == "os_version" and platform.get("os_version"):
            continue
        platform.setdefault(key, value)
    if platform.get("os") == "windows" and (m := _MSC_ARCH.search(py)):
        platform.setdefault("machine", m["arch"])
    libc = values.get("Libc version", "")
    if m := re.match(r"^glibc-(\d+\.\d+)", libc):
        platform.setdefault("glibc", m.group(1))
    subdir = subdir_for(platform.get("os"), platform.get("machine"))
    if subdir:
        platform["subdir"] = subdir
    if platform.get("os") == "macos" and platform.get("macos_version") == "10.16":
        notes.append(macos_compat_note("10.16"))
        del platform["macos_version"]

    # -- Apple CPU (macOS: the CPU section is sysctl's brand string)
    if platform.get("os") == "macos" and cpu_first:
        brand = cpu_first.removeprefix("Model name:").strip()
        if brand.startswith("Apple"):
            apple.update(chip=brand, apple_silicon=True)
        elif "Intel" in brand:
            apple["apple_silicon"] = False
    derive_apple(platform, apple, notes, what="this Python")

    # -- GPUs and driver
    vendor = "amd" if torch.get("rocm") else "nvidia"
    for gpu in gpu_lines:
        entry: dict[str, Any] = {"vendor": vendor, **gpu}
        if vendor == "amd" and (m := _GPU_GFX.match(gpu["name"])):
            entry.update(name=m["name"], gfx=m["gfx"])
        elif vendor == "amd" and (m := re.fullmatch(r"Device ([0-9a-fA-F]{4})", gpu["name"])):
            did = normalise_device_id(m.group(1))
            entry["pci_device_id"] = did
            if gfx := gfx_for_device_id(did):
                entry["gfx"] = gfx
                notes.append(
                    f'gfx target {gfx} of "{gpu["name"]}" is inferred from its PCI device ID {did} '
                    "(conda-torch's device-ID table); run rocminfo to confirm"
                )
        obs.gpus.append(entry)
    driver = values.get("Nvidia driver version")
    if _present(driver) and re.match(r"^\d+\.\d+", driver or ""):
        obs.nvidia["driver_version"] = driver
    if (
        torch.get("version")
        and not torch.get("cuda")
        and not torch.get("rocm")
        and any(g["vendor"] == "nvidia" for g in obs.gpus)
    ):
        notes.append(
            f"torch {torch['version']} was built without CUDA, but this machine has an NVIDIA GPU: "
            "install a CUDA build of torch"
        )

    obs.platform = {k: v for k, v in platform.items() if v is not None}
    obs.torch = torch
    obs.apple = apple
    obs.notes = list(dict.fromkeys(notes))
    return obs


KINDS: tuple[Kind, ...] = (Kind("collect_env", _recognise, _parse, rank=40),)
