"""The NVIDIA probes: /proc/driver/nvidia, then NVML, libcuda or nvidia-smi; NVML's lifetime.

:func:`probe_nvidia` reads ``/proc/driver/nvidia/version`` and ``/proc/driver/nvidia/gpus``,
and looks for anything that points to an NVIDIA driver or GPU (those files, a PCI device,
``/sys/module/nvidia``, WSL, Jetson, Windows). Only then does it load a library: NVML through
ctypes (initialised once and kept for the process: :func:`release_nvml`), then libcuda
through ctypes if NVML failed, then ``nvidia-smi --query-gpu`` if both failed. Each library
probe runs under :data:`LIBRARY_TIMEOUT_S`.
"""

from __future__ import annotations

import os
import sys
import time

from ..exceptions import CondaTorchError
from ..machine import Observation
from .pci import PCI_NVIDIA, pci_observation
from .probing import (
    NOT_FOUND,
    RANK_LIBCUDA,
    RANK_NVML,
    RANK_PCI,
    RANK_PROC_GPUS,
    RANK_PROC_VERSION,
    RANK_SMI,
)

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

    from .probing import LiveRun

#: Seconds each in-process library probe (NVML, libcuda) may take before it is abandoned.
LIBRARY_TIMEOUT_S = 5.0
#: Seconds ``nvidia-smi`` may take.
NVIDIA_SMI_TIMEOUT_S = 5.0

#: Where NVIDIA's libraries live when the loader's default search fails (conda's ``__cuda``
#: probe and rattler search the same places).
_LIB_DIRS = (
    "/usr/lib/wsl/lib",
    "/usr/lib64/nvidia",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
)
_NVML_NAMES = ("libnvidia-ml.so.1",) + tuple(f"{d}/libnvidia-ml.so.1" for d in _LIB_DIRS)
_LIBCUDA_NAMES = ("libcuda.so.1",) + tuple(f"{d}/libcuda.so.1" for d in _LIB_DIRS)

#: The NVML library this process holds one initialisation of, or None. Detection keeps NVML
#: initialised for the life of the process, as torch and pynvml users do: ``nvmlShutdown``
#: costs about 2.7 ms on an H100 (a fifth of the whole probe) and process exit releases it.
#: NVML counts initialisations, so one held reference never stops anyone else's shutdown.
_NVML: Any = None


def release_nvml() -> None:
    """Release the NVML initialisation this process holds, if any."""
    global _NVML
    lib, _NVML = _NVML, None
    if lib is not None:
        lib.nvmlShutdown()


def probe_nvidia(
    run: LiveRun,
    system: str | None,
    plat: dict[str, Any],
    pci: dict[str, list[dict[str, Any]]],
    *,
    nvidia_smi: bool,
) -> None:
    pointers: list[str] = []
    absent: list[str] = []
    if system == "linux":
        version = run.probe("nvidia: /proc/driver/nvidia/version", _probe_proc_version, run)
        if version:
            pointers.append("/proc/driver/nvidia/version")
        else:
            absent.append("/proc/driver/nvidia/version absent")
        gpus = run.probe("nvidia: /proc/driver/nvidia/gpus", _probe_proc_gpus, run)
        if gpus:
            pointers.append("/proc/driver/nvidia/gpus")
        nv_pci = pci.get(PCI_NVIDIA, [])
        if nv_pci:
            pointers.append("NVIDIA device on the PCI bus")
        else:
            absent.append("no NVIDIA device on the PCI bus")
        for marker in ("/sys/module/nvidia", "/dev/nvidiactl"):
            if run.exists(marker):
                pointers.append(marker)
        if plat.get("wsl") or run.exists("/dev/dxg"):
            pointers.append("WSL2 (/dev/dxg)")
        if plat.get("jetson") or run.exists("/etc/nv_tegra_release"):
            pointers.append("Jetson (/etc/nv_tegra_release)")
    elif system == "windows":
        pointers.append("Windows")
    else:
        why = (
            "not probed on macOS (no CUDA on macOS)"
            if system == "macos"
            else f"not probed on {system}"
        )
        for name in ("NVML", "libcuda", "nvidia-smi"):
            run.skip(f"nvidia: {name}", why)
        run.notes.append(NOT_FOUND + f"NVIDIA: {why}.")
        return

    if not pointers:
        why = "nothing points to an NVIDIA driver or GPU"
        for name in ("NVML", "libcuda", "nvidia-smi"):
            run.skip(f"nvidia: {name}", why)
        run.notes.append(
            NOT_FOUND
            + "NVIDIA driver or GPU: "
            + "; ".join(absent)
            + " (NVML, libcuda and nvidia-smi not tried)."
        )
        return

    nvml = run.probe("nvidia: NVML", _with_timeout, _probe_nvml, run, system)
    if nvml:
        run.skip("nvidia: libcuda", "NVML answered")
        run.skip("nvidia: nvidia-smi", "NVML answered")
    else:
        cuda = run.probe("nvidia: libcuda", _with_timeout, _probe_libcuda, run, system)
        if not nvidia_smi:
            run.skip("nvidia: nvidia-smi", "--no-nvidia-smi")
        else:
            smi = run.probe("nvidia: nvidia-smi", _probe_nvidia_smi, run, system)
            if not smi and not cuda:
                failed = [
                    f"{p.name.split(': ', 1)[1]}: {p.detail}"
                    for p in run.probes
                    if p.name in ("nvidia: NVML", "nvidia: libcuda", "nvidia: nvidia-smi")
                ]
                run.notes.append(
                    NOT_FOUND
                    + "NVIDIA GPU details: "
                    + ", ".join(pointers)
                    + " point to NVIDIA, but "
                    + "; ".join(failed)
                    + "."
                )
    # PCI devices are listed only when no driver-side probe named the GPUs.
    have_gpus = any(
        o.gpus
        and o.kind in ("NVML", "libcuda", "nvidia-smi --query-gpu", "/proc/driver/nvidia/gpus")
        for _, _, o in run.ranked
    )
    nv_pci = pci.get(PCI_NVIDIA, [])
    if nv_pci and not have_gpus:
        run.add(RANK_PCI, pci_observation("nvidia", "10de", nv_pci))
        if "/proc/driver/nvidia/version" not in pointers:
            run.notes.append(
                f"{len(nv_pci)} NVIDIA device(s) on the PCI bus, but no NVIDIA kernel module "
                "is loaded: is the NVIDIA driver installed?"
            )


def _probe_proc_version(run: LiveRun) -> tuple[bool, str]:
    text = run.read("/proc/driver/nvidia/version")
    if text is None:
        return False, "absent"
    facts = read_proc_version(text)
    if not facts.get("driver_version"):
        return False, "no driver version in it"
    run.add(RANK_PROC_VERSION, Observation(kind="/proc/driver/nvidia/version", nvidia=facts))
    return True, f"{facts['driver_version']} ({facts['driver_flavor']})"


def read_proc_version(text: str) -> dict[str, str]:
    """Driver version and module flavour from ``/proc/driver/nvidia/version``.

    The kernel writes one fixed line, ``NVRM version: NVIDIA UNIX [<arch>] [Open ]Kernel
    Module [for <arch>]  <version>  ...``; reading it here costs microseconds, where importing
    the capture parser (``conda_torch.detect.captures.proc``, which tests hold this to) costs
    milliseconds on every live detection.
    """
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("NVRM version:") or "Kernel Module" not in line:
            continue
        tail = line.split("Kernel Module", 1)[1].split()
        if tail[:1] == ["for"]:
            tail = tail[2:]
        if tail and tail[0][:1].isdigit() and "." in tail[0]:
            flavor = "open" if "Open Kernel Module" in line else "proprietary"
            return {"driver_version": tail[0], "driver_flavor": flavor}
    return {}


def _probe_proc_gpus(run: LiveRun) -> tuple[bool, str]:
    base = "/proc/driver/nvidia/gpus"
    entries = run.listdir(base)
    if not entries:
        return False, "absent"
    gpus = []
    for entry in entries:
        text = run.read(f"{base}/{entry}/information") or ""
        kv = {}
        for line in text.splitlines():
            k, sep, v = line.partition(":")
            if sep:
                kv[k.strip()] = v.strip()
        gpus.append(
            {
                "vendor": "nvidia",
                "name": kv.get("Model") or None,
                "uuid": kv.get("GPU UUID") or None,
                "bus_id": kv.get("Bus Location") or entry,
            }
        )
    run.add(RANK_PROC_GPUS, Observation(kind="/proc/driver/nvidia/gpus", gpus=gpus))
    return True, f"{len(gpus)} GPU(s)"


def _load_library(names: Iterable[str], windows: Iterable[str] = ()) -> tuple[Any, str]:
    import ctypes

    tried = []
    for name in windows if sys.platform == "win32" else names:
        try:
            return ctypes.CDLL(name), name
        except OSError:
            tried.append(name)
    return None, "not loadable (tried " + ", ".join(tried[:2]) + (
        " ..." if len(tried) > 2 else ""
    ) + ")"


def _with_timeout(fn: Callable[..., tuple[Any, str]], *args: Any) -> tuple[Any, str]:
    """Run a library probe in a daemon thread; give up after :data:`LIBRARY_TIMEOUT_S`."""
    import threading

    box: list[Any] = []

    def target() -> None:
        try:
            box.append(fn(*args))
        except Exception as exc:
            box.append((None, f"failed: {type(exc).__name__}: {exc}"))

    thread = threading.Thread(target=target, name=f"conda-torch {fn.__name__}", daemon=True)
    thread.start()
    thread.join(LIBRARY_TIMEOUT_S)
    if not box:
        return None, f"timed out after {LIBRARY_TIMEOUT_S:g} s"
    return box[0]


def _cuda_version(value: int) -> str:
    """NVML/libcuda encode CUDA versions as 1000*major + 10*minor: 12060 -> "12.6"."""
    return f"{value // 1000}.{(value % 1000) // 10}"


#: NVML return codes used in messages (nvml.h, ``nvmlReturn_t``).
_NVML_ERRORS = {
    1: "uninitialized",
    2: "invalid argument",
    3: "not supported",
    4: "no permission",
    9: "driver not loaded",
    12: "library not found",
    13: "function not found",
    15: "GPU is lost",
    18: "driver/library version mismatch",
    999: "unknown error",
}
_NVML_ERROR_CODES = {
    9: "nvidia.driver_not_loaded",
    18: "nvidia.driver_library_mismatch",
    4: "nvidia.no_permission",
}


def _probe_nvml(run: LiveRun, system: str | None) -> tuple[bool, str]:
    """NVML in-process; the initialisation is kept for the process (see :data:`_NVML`)."""
    global _NVML
    import ctypes

    start = time.perf_counter()
    lib = _NVML
    if lib is None:
        lib, name = _load_library(_NVML_NAMES, _nvml_windows_names(run))
        if lib is None:
            return False, f"libnvidia-ml {name}"
        init = getattr(lib, "nvmlInit_v2", None) or lib.nvmlInit
        rc = init()
        if rc != 0:
            code = _NVML_ERROR_CODES.get(rc)
            if code:
                run.add(RANK_NVML, Observation(kind="NVML", errors=[code]))
            if rc == 18:
                run.notes.append(
                    "NVML (user space) and the loaded kernel module are different driver "
                    "versions: reboot, or reinstall the driver."
                )
            return False, f"nvmlInit failed: {_NVML_ERRORS.get(rc, rc)}"
        if _NVML is None:
            _NVML = lib
        else:  # another (abandoned) probe got there first: hold one reference, not two
            lib.nvmlShutdown()
        opened = f"load+init {(time.perf_counter() - start) * 1000:.1f} ms"
    else:
        opened = "initialised earlier in this process"

    def fn(symbol: str) -> Any:
        return getattr(lib, symbol, None)

    nvidia: dict[str, Any] = {}
    gpus: list[dict[str, Any]] = []
    queried = time.perf_counter()
    buf = ctypes.create_string_buffer(96)
    if fn("nvmlSystemGetDriverVersion") and lib.nvmlSystemGetDriverVersion(buf, 96) == 0:
        nvidia["driver_version"] = buf.value.decode()
    if fn("nvmlSystemGetNVMLVersion") and lib.nvmlSystemGetNVMLVersion(buf, 96) == 0:
        nvidia["nvml_version"] = buf.value.decode()
    version = ctypes.c_int(0)
    get_cuda = fn("nvmlSystemGetCudaDriverVersion_v2") or fn("nvmlSystemGetCudaDriverVersion")
    if get_cuda and get_cuda(ctypes.byref(version)) == 0 and version.value > 0:
        nvidia["cuda_version"] = _cuda_version(version.value)
    count = ctypes.c_uint(0)
    get_count = fn("nvmlDeviceGetCount_v2") or fn("nvmlDeviceGetCount")
    if get_count(ctypes.byref(count)) != 0:
        count.value = 0
    get_handle = fn("nvmlDeviceGetHandleByIndex_v2") or fn("nvmlDeviceGetHandleByIndex")
    for index in range(count.value):
        handle = ctypes.c_void_p()
        rc = get_handle(ctypes.c_uint(index), ctypes.byref(handle))
        gpu: dict[str, Any] = {"vendor": "nvidia", "index": index}
        gpus.append(gpu)
        if rc != 0:
            continue
        _nvml_device(lib, fn, handle, gpu, system)
    run.add(RANK_NVML, Observation(kind="NVML", nvidia=nvidia, gpus=gpus))
    return True, (
        f"driver {nvidia.get('driver_version')}, CUDA {nvidia.get('cuda_version')}, "
        f"{len(gpus)} GPU(s); {opened}, queries "
        f"{(time.perf_counter() - queried) * 1000:.1f} ms"
    )


def _nvml_windows_names(run: LiveRun) -> list[str]:
    root = run.env.get("SystemRoot", r"C:\Windows")
    program_files = run.env.get("ProgramFiles", r"C:\Program Files")
    return [
        "nvml.dll",
        os.path.join(root, "System32", "nvml.dll"),
        os.path.join(program_files, "NVIDIA Corporation", "NVSMI", "nvml.dll"),
    ]


def _nvml_device(
    lib: Any, fn: Callable[[str], Any], handle: Any, gpu: dict[str, Any], system: str | None
) -> None:
    import ctypes

    buf = ctypes.create_string_buffer(96)
    if fn("nvmlDeviceGetName") and lib.nvmlDeviceGetName(handle, buf, 96) == 0:
        gpu["name"] = buf.value.decode("utf-8", "replace")
    if fn("nvmlDeviceGetUUID") and lib.nvmlDeviceGetUUID(handle, buf, 96) == 0:
        gpu["uuid"] = buf.value.decode()
    major, minor = ctypes.c_int(0), ctypes.c_int(0)
    if (
        fn("nvmlDeviceGetCudaComputeCapability")
        and lib.nvmlDeviceGetCudaComputeCapability(handle, ctypes.byref(major), ctypes.byref(minor))
        == 0
    ):
        gpu["compute_capability"] = f"{major.value}.{minor.value}"

    # nvmlMemory_t: unsigned long long total, free, used (plain arrays: no ctypes class to build)
    memory = (ctypes.c_ulonglong * 3)()
    if (
        fn("nvmlDeviceGetMemoryInfo")
        and lib.nvmlDeviceGetMemoryInfo(handle, ctypes.byref(memory)) == 0
    ):
        gpu["memory_mib"] = int(memory[0] // (1024 * 1024))

    current, pending = ctypes.c_uint(0), ctypes.c_uint(0)
    if (
        fn("nvmlDeviceGetMigMode")
        and lib.nvmlDeviceGetMigMode(handle, ctypes.byref(current), ctypes.byref(pending)) == 0
    ):
        gpu["mig_mode"] = "Enabled" if current.value == 1 else "Disabled"
        if (
            current.value == 1
            and fn("nvmlDeviceGetMaxMigDeviceCount")
            and fn("nvmlDeviceGetMigDeviceHandleByIndex")
        ):
            most = ctypes.c_uint(0)
            if lib.nvmlDeviceGetMaxMigDeviceCount(handle, ctypes.byref(most)) == 0:
                mig = ctypes.c_void_p()
                gpu["mig_devices"] = sum(
                    1
                    for i in range(most.value)
                    if lib.nvmlDeviceGetMigDeviceHandleByIndex(
                        handle, ctypes.c_uint(i), ctypes.byref(mig)
                    )
                    == 0
                )

    # nvmlPciInfo_t (v3): char busIdLegacy[16]; unsigned domain, bus, device, pciDeviceId,
    # pciSubSystemId; char busId[32]. Read from raw bytes: no ctypes class to build per call.
    pci = ctypes.create_string_buffer(68)
    get_pci = fn("nvmlDeviceGetPciInfo_v3") or fn("nvmlDeviceGetPciInfo_v2")
    if get_pci and get_pci(handle, pci) == 0:
        raw = pci.raw
        bus_id = raw[36:68].split(b"\0", 1)[0] or raw[0:16].split(b"\0", 1)[0]
        gpu["bus_id"] = bus_id.decode()
        ids = int.from_bytes(raw[28:32], sys.byteorder)  # device << 16 | vendor
        gpu["pci_device_id"] = f"{ids & 0xFFFF:04x}:{ids >> 16:04x}"
    if system == "windows":
        current_model, pending_model = ctypes.c_int(-1), ctypes.c_int(-1)
        get_model = fn("nvmlDeviceGetDriverModel_v2") or fn("nvmlDeviceGetDriverModel")
        if (
            get_model
            and get_model(handle, ctypes.byref(current_model), ctypes.byref(pending_model)) == 0
        ):
            gpu["driver_model"] = {0: "WDDM", 1: "TCC", 2: "MCDM"}.get(current_model.value)


def _probe_libcuda(run: LiveRun, system: str | None) -> tuple[bool, str]:
    """libcuda in-process, as conda's ``__cuda`` probe does in a spawned process."""
    import ctypes

    lib, name = _load_library(_LIBCUDA_NAMES, ["nvcuda.dll"])
    if lib is None:
        return False, f"libcuda {name}"
    nvidia: dict[str, Any] = {}
    version = ctypes.c_int(0)
    if lib.cuDriverGetVersion(ctypes.byref(version)) == 0 and version.value > 0:
        nvidia["cuda_version"] = _cuda_version(version.value)
    gpus: list[dict[str, Any]] = []
    rc = lib.cuInit(0)
    detail = f"CUDA {nvidia.get('cuda_version')}"
    if rc == 0:
        count = ctypes.c_int(0)
        if lib.cuDeviceGetCount(ctypes.byref(count)) == 0:
            for ordinal in range(count.value):
                dev = ctypes.c_int(0)
                if lib.cuDeviceGet(ctypes.byref(dev), ordinal) != 0:
                    continue
                gpu: dict[str, Any] = {"vendor": "nvidia"}
                buf = ctypes.create_string_buffer(256)
                if lib.cuDeviceGetName(buf, 256, dev) == 0:
                    gpu["name"] = buf.value.decode("utf-8", "replace")
                major, minor = ctypes.c_int(0), ctypes.c_int(0)
                # CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75, _MINOR = 76 (cuda.h)
                if (
                    lib.cuDeviceGetAttribute(ctypes.byref(major), 75, dev) == 0
                    and lib.cuDeviceGetAttribute(ctypes.byref(minor), 76, dev) == 0
                ):
                    gpu["compute_capability"] = f"{major.value}.{minor.value}"
                total = ctypes.c_size_t(0)
                total_mem = getattr(lib, "cuDeviceTotalMem_v2", None)
                if total_mem and total_mem(ctypes.byref(total), dev) == 0 and total.value:
                    gpu["memory_mib"] = int(total.value // (1024 * 1024))
                if lib.cuDeviceGetPCIBusId(buf, 64, dev) == 0:
                    gpu["bus_id"] = buf.value.decode()
                uuid = (ctypes.c_ubyte * 16)()
                if getattr(lib, "cuDeviceGetUuid", None) and lib.cuDeviceGetUuid(uuid, dev) == 0:
                    h = bytes(uuid).hex()
                    gpu["uuid"] = f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
                gpus.append(gpu)
        detail += f", {len(gpus)} device(s) visible to CUDA"
    else:
        # 100 = CUDA_ERROR_NO_DEVICE (also when CUDA_VISIBLE_DEVICES hides every GPU)
        detail += f", cuInit returned {rc}" + (" (no device visible)" if rc == 100 else "")
    if not nvidia and not gpus:
        return False, detail
    run.add(RANK_LIBCUDA, Observation(kind="libcuda", nvidia=nvidia, gpus=gpus))
    return True, detail


#: What ``nvidia-smi --query-gpu`` is asked for (compute_cap needs driver R510+).
SMI_FIELDS = (
    "index",
    "uuid",
    "pci.bus_id",
    "name",
    "driver_version",
    "compute_cap",
    "memory.total",
    "mig.mode.current",
)


def _probe_nvidia_smi(run: LiveRun, system: str | None) -> tuple[bool, str]:
    import shutil
    import subprocess

    extra = ["/usr/lib/wsl/lib"] if system == "linux" else []
    path = os.pathsep.join([run.env.get("PATH", os.defpath), *extra])
    exe = shutil.which("nvidia-smi", path=path)
    if exe is None:
        return False, "nvidia-smi not on PATH"
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    fields = list(SMI_FIELDS)
    for _ in range(2):
        try:
            done = subprocess.run(
                [exe, f"--query-gpu={','.join(fields)}", "--format=csv,nounits"],
                capture_output=True,
                text=True,
                timeout=NVIDIA_SMI_TIMEOUT_S,
                env=env,
            )
        except subprocess.TimeoutExpired:
            return False, f"timed out after {NVIDIA_SMI_TIMEOUT_S:g} s"
        except OSError as exc:
            return False, f"could not run: {exc.strerror or exc}"
        out = (done.stdout or "") + (done.stderr or "")
        if "compute_cap" in fields and "not a valid field" in out and "compute_cap" in out:
            fields.remove("compute_cap")  # drivers before R510
            continue
        break
    first = out.strip().splitlines()[:1]
    if done.returncode != 0:
        return False, f"exit status {done.returncode}: {first[0] if first else ''}".strip()
    try:
        # Here, not at the top: the capture readers cost more to import than a live detection
        # takes; they are needed only when NVML and libcuda both failed (tests/test_plugin.py).
        from . import captures

        observations = captures.parse_text(out, source="nvidia-smi --query-gpu")
    except CondaTorchError as exc:
        return False, f"output not understood: {exc.line}"
    for obs in observations:
        obs.kind, obs.source = "nvidia-smi --query-gpu", ""
        run.add(RANK_SMI, obs)
    gpus = sum(len(o.gpus) for o in observations)
    return True, f"{gpus} GPU(s)"
