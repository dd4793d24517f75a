"""The machine picture: live probes, or captured outputs, then flags and overrides.

:func:`detect` is the one entry point. Without ``from_files`` it probes the running machine,
cheapest first, every probe timed, bounded by a timeout and allowed to fail:

1. platform: ``sys.platform``, ``os.uname``, ``os.confstr``, ``/etc/os-release``, WSL,
   container and Jetson marker files; on macOS ``sysctl`` through ctypes (real macOS version,
   Rosetta 2 translation);
2. NVIDIA: ``/proc/driver/nvidia/version``, ``/proc/driver/nvidia/gpus/*/information`` and the
   PCI display devices in sysfs; only when one of those (or WSL, Jetson, Windows) points to an
   NVIDIA driver or GPU: NVML through ctypes (initialised once and kept for the process; see
   :func:`clear_cache`), then libcuda through ctypes if NVML failed, then
   ``nvidia-smi --query-gpu`` if both failed;
3. AMD ROCm: ``/opt/rocm/.info/version`` and the KFD topology in sysfs (gfx targets without
   ``rocminfo``); Intel XPU: discrete Intel display devices in sysfs;
4. Apple: ``sysctl`` (chip, Apple silicon); MPS needs arm64 hardware and macOS 12.3+.

With ``from_files`` the picture comes only from those captured outputs (nothing is probed).
Either way, a :class:`Description` (flags describing another machine) and
``CONDA_OVERRIDE_CUDA`` are applied next, then compute capabilities missing from the inputs
may be looked up by GPU name (marked as inferred). The library never prints: facts that were
not found are explained in :attr:`Machine.notes` (sentences starting with
:data:`NOT_FOUND`) and in the :class:`Probe` records.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, replace

from ..constants import CONDA_OVERRIDE_CUDA, SUBDIRS
from ..exceptions import (
    CondaTorchError,
    CondaTorchValueError,
    InputFileError,
    OverrideError,
    UnknownPlatformError,
)
from ..machine import GPU, NvidiaInfo, Observation, PlatformInfo, Probe, merge

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from typing import Any

    from ..machine import Machine

__all__ = [
    "NOT_FOUND",
    "Description",
    "apply_visible_devices",
    "clear_cache",
    "detect",
    "parse_cuda_override",
    "read_proc_version",
]

#: Notes that say what was not found, and why, start with this.
NOT_FOUND = "Not found: "

#: Seconds each in-process library probe (NVML, libcuda) may take before it is abandoned.
LIBRARY_TIMEOUT_S = 5.0
#: Seconds ``nvidia-smi`` may take.
NVIDIA_SMI_TIMEOUT_S = 5.0

#: PCI vendor ids (https://pcisig.com/membership/member-companies; ``lspci -n``).
PCI_NVIDIA, PCI_AMD, PCI_INTEL = "0x10de", "0x1002", "0x8086"
#: PCI base class 03 (display): 0300 VGA, 0302 3D controller, 0380 other display.
PCI_DISPLAY_CLASSES = ("0x0300", "0x0302", "0x0380")
#: Intel puts its integrated GPU at PCI 00:02.0 on every platform (the Linux kernel's GVT-g
#: documentation addresses it as 0000:00:02.0); any other Intel display device is discrete.
INTEL_IGPU_SLOT = "00:02.0"

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

#: conda subdir pieces (conda's ``context.subdir``: platform + machine, or platform + bits).
_OS_PREFIX = {"linux": "linux", "darwin": "osx", "win32": "win", "cygwin": "win"}
_NON_X86 = ("armv6l", "armv7l", "aarch64", "arm64", "ppc64", "ppc64le", "riscv64", "s390x")
_X86 = ("x86_64", "amd64", "i386", "i686", "x86")
_SUBDIR_FACTS = {  # subdir -> (os, machine) it implies
    "linux-64": ("linux", "x86_64"),
    "linux-aarch64": ("linux", "aarch64"),
    "linux-ppc64le": ("linux", "ppc64le"),
    "osx-64": ("macos", "x86_64"),
    "osx-arm64": ("macos", "arm64"),
    "win-64": ("windows", "x86_64"),
}

#: MPS first shipped in torch 1.12 for macOS 12.3+ (Apple, "Accelerated PyTorch training on
#: Mac"); newer torch releases raise the floor, which is the matrix's business.
MPS_MIN_MACOS = (12, 3)


# -- flags that describe another machine ----------------------------------------------------


def _numeric(value: str, parts: tuple[int, int]) -> bool:
    pieces = value.split(".")
    return parts[0] <= len(pieces) <= parts[1] and all(p.isdigit() and p.isascii() for p in pieces)


@dataclass(frozen=True)
class Description:
    """What flags say about a machine (``--platform``, ``--driver``, ``--cuda``, ``--gpu``).

    ``gpus`` holds ``(name, compute capability or None)``; without a compute capability it is
    looked up by name later and marked as inferred. Invalid values raise at construction.
    """

    platform: str | None = None
    driver_version: str | None = None
    cuda_version: str | None = None
    gpus: tuple[tuple[str, str | None], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "gpus", tuple((n, c) for n, c in self.gpus))
        if self.platform is not None and self.platform not in SUBDIRS:
            raise UnknownPlatformError(self.platform, SUBDIRS)
        if self.driver_version is not None and not _numeric(self.driver_version, (2, 4)):
            raise CondaTorchValueError(
                f"--driver {self.driver_version!r} is not an NVIDIA driver version: expected "
                "e.g. 580.159.04 or 551.88",
                hints=["Copy 'Driver Version' from nvidia-smi."],
            )
        if self.cuda_version is not None and not _numeric(self.cuda_version, (2, 2)):
            raise CondaTorchValueError(
                f"--cuda {self.cuda_version!r} is not a CUDA version: expected X.Y, e.g. 12.6",
                hints=["Copy 'CUDA Version' from the nvidia-smi header."],
            )
        for name, cc in self.gpus:
            if not name.strip():
                raise CondaTorchValueError(
                    "--gpu needs a GPU name: expected NAME or NAME=CC, "
                    "e.g. 'GeForce GTX 1080 Ti=6.1'"
                )
            if cc is not None and not _numeric(cc, (2, 2)):
                raise CondaTorchValueError(
                    f"--gpu {name}={cc}: {cc!r} is not a compute capability: "
                    "expected X.Y, e.g. 8.6",
                    hints=["Leave '=CC' out to look it up by name."],
                )

    @property
    def empty(self) -> bool:
        return not (self.platform or self.driver_version or self.cuda_version or self.gpus)

    @staticmethod
    def parse_gpu(text: str) -> tuple[str, str | None]:
        """``"GeForce GTX 1080 Ti=6.1"`` -> ``("GeForce GTX 1080 Ti", "6.1")``."""
        name, sep, cc = text.rpartition("=")
        if not sep:
            return text.strip(), None
        return name.strip(), cc.strip()


def parse_cuda_override(value: str | None) -> str | None:
    """``CONDA_OVERRIDE_CUDA`` as conda reads it: ``None`` unset, ``""`` no CUDA, else X.Y.

    Returns the normalised version ("12" -> "12.0", "12.6.1" -> "12.6"), ``""`` for "no CUDA",
    ``None`` when unset; raises :class:`OverrideError` on anything else.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return ""
    if not _numeric(text, (1, 3)):
        raise OverrideError(
            CONDA_OVERRIDE_CUDA, value, "a CUDA version such as 12.6, or empty for no CUDA"
        )
    pieces = text.split(".")
    return f"{int(pieces[0])}.{int(pieces[1]) if len(pieces) > 1 else 0}"


# -- the entry point ------------------------------------------------------------------------

#: Live probe results by the inputs that change them (see :func:`_live`); overrides and flags
#: are applied after, on every call.
_CACHE: dict[tuple[Any, ...], tuple[list[Observation], list[Probe], list[str]]] = {}

#: The NVML library this process holds one initialisation of, or None. Detection keeps NVML
#: initialised for the life of the process, as torch and pynvml users do: ``nvmlShutdown``
#: costs about 2.7 ms on an H100 (a fifth of the whole probe) and process exit releases it.
#: NVML counts initialisations, so one held reference never stops anyone else's shutdown.
_NVML: Any = None


def clear_cache() -> None:
    """Forget cached live probe results and release NVML (the next :func:`detect` starts afresh)."""
    global _NVML
    _CACHE.clear()
    lib, _NVML = _NVML, None
    if lib is not None:
        lib.nvmlShutdown()


def detect(
    *,
    from_files: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    describe: Description | None = None,
    nvidia_smi: bool = True,
    root: str = "/",
) -> Machine:
    """The machine picture, live or from captured outputs; see the module docstring.

    ``environ`` defaults to ``os.environ`` (``CONDA_OVERRIDE_CUDA``, ``CUDA_VISIBLE_DEVICES``,
    container variables). ``root`` prefixes every file the live probes read (tests point it
    at a tree built from real captures). Raises :class:`InputFileError` for an unusable input
    and :class:`OverrideError` for a garbage override; a failing probe never raises.
    """
    env = os.environ if environ is None else environ
    override = parse_cuda_override(env.get(CONDA_OVERRIDE_CUDA))
    if from_files:
        machine = _from_files(list(from_files))
    else:
        machine = _live(env, nvidia_smi=nvidia_smi, root=root)
    if describe is not None and not describe.empty:
        machine = _apply_description(machine, describe)
    if override is not None:
        machine = _apply_cuda_override(machine, env[CONDA_OVERRIDE_CUDA], override, describe)
    # This process's CUDA_VISIBLE_DEVICES applies to this machine, not to one described by
    # inputs or by --platform/--gpu; an input may show its own (nvidia.cuda_visible_devices).
    own = not from_files and (describe is None or not (describe.gpus or describe.platform))
    machine = _apply_visible_devices(machine, env if own else None)
    machine = _infer_missing(machine)
    return machine


def load_machine(path: str) -> Machine:
    """A machine picture saved with ``conda torch detect --json > FILE`` (``--machine FILE``)."""
    import json

    from ..machine import Machine

    hint = "Write it with: conda torch detect --json > FILE"
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise InputFileError(path, "no such file") from None
    except IsADirectoryError:
        raise InputFileError(path, "is a directory, not a detect --json file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"cannot be read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise InputFileError(
            path, f"is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})", hints=[hint]
        ) from None
    if not isinstance(data, dict):
        raise InputFileError(path, "is not a conda-torch detect document", hints=[hint])
    try:
        return Machine.from_json(data)
    except (ValueError, TypeError) as exc:
        raise InputFileError(path, str(exc), hints=[hint]) from None


# -- captured outputs -----------------------------------------------------------------------


def _from_files(paths: list[str]) -> Machine:
    from . import captures

    found: list[Observation] = []
    probes: list[Probe] = []
    lenient = captures.lenient_kinds()
    partial: list[str] = []
    for path in paths:
        start = time.perf_counter()
        try:
            observations = captures.parse_file(path)
        except CondaTorchError:
            raise
        except Exception as exc:  # a parser bug must still end in one clear line
            raise InputFileError(
                path,
                f"could not be parsed ({type(exc).__name__}: {exc})",
                hints=[
                    "Check the file holds one complete, unmodified output; report this as a bug."
                ],
            ) from None
        ms = (time.perf_counter() - start) * 1000
        probes.append(
            Probe(f"input: {path}", True, ", ".join(o.kind for o in observations), round(ms, 3))
        )
        found.extend(observations)
        if all(o.kind in lenient for o in observations):
            kinds = ", ".join(dict.fromkeys(o.kind for o in observations))
            partial.append(
                f"{observations[0].source}: no complete capture; read as a pasted report "
                f"({kinds}): only the facts it shows, nothing else assumed."
            )
    machine = merge(captures.ranked(found), mode="files", inputs=tuple(paths), probes=tuple(probes))
    notes = list(partial)
    if machine.nvidia is None:
        notes.append(NOT_FOUND + "NVIDIA: no input shows an NVIDIA driver or GPU.")
    if machine.rocm is None:
        notes.append(NOT_FOUND + "AMD ROCm: no input shows ROCm or an AMD GPU.")
    if machine.apple is None and machine.platform.os == "macos":
        notes.append(NOT_FOUND + "Apple: no input shows an Apple chip.")
    if machine.platform.subdir is None:
        notes.append(NOT_FOUND + "platform: no input shows the conda platform; pass --platform.")
    return replace(machine, notes=machine.notes + tuple(notes))


# -- live probing ---------------------------------------------------------------------------


class _Run:
    """Collects the observations, probe records and notes of one live detection."""

    def __init__(self, env: Mapping[str, str], root: str) -> None:
        self.env = env
        self.root = root
        self.ranked: list[tuple[int, int, Observation]] = []
        self.probes: list[Probe] = []
        self.notes: list[str] = []

    def path(self, p: str) -> str:
        return p if self.root == "/" else os.path.join(self.root, p.lstrip("/"))

    def read(self, p: str, limit: int = 1 << 16) -> str | None:
        try:
            with open(self.path(p), "rb") as fh:
                return fh.read(limit).decode("utf-8", "replace")
        except OSError:
            return None

    def exists(self, p: str) -> bool:
        return os.path.exists(self.path(p))

    def listdir(self, p: str) -> list[str]:
        try:
            return sorted(os.listdir(self.path(p)))
        except OSError:
            return []

    def add(self, rank: int, obs: Observation | None) -> None:
        if obs is not None:
            self.ranked.append((rank, len(self.ranked), obs))

    def probe(self, name: str, fn: Callable[..., tuple[Any, str]], *args: Any) -> Any:
        """Run one probe, time it, record it; a probe that raises counts as failed."""
        start = time.perf_counter()
        try:
            result, detail = fn(*args)
        except Exception as exc:  # never let a probe break detection
            result, detail = None, f"failed: {type(exc).__name__}: {exc}"
        ms = (time.perf_counter() - start) * 1000
        self.probes.append(Probe(name, bool(result), detail, round(ms, 3)))
        return result

    def skip(self, name: str, why: str) -> None:
        self.probes.append(Probe(name, False, f"not tried: {why}", None))


#: Merge order of live observations (lower wins): the kernel module is the authority for the
#: driver version; NVML for GPUs and the newest CUDA; files and PCI fill what is left.
_RANK_PROC_VERSION, _RANK_NVML, _RANK_SMI, _RANK_LIBCUDA, _RANK_PROC_GPUS, _RANK_PCI = (
    1,
    2,
    3,
    4,
    5,
    6,
)


def _live(env: Mapping[str, str], *, nvidia_smi: bool, root: str) -> Machine:
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
        run = _Run(env, root)
        _probe_all(run, nvidia_smi=nvidia_smi)
        run.ranked.sort(key=lambda item: (item[0], item[1]))
        # Copies: a library probe abandoned after its timeout must not change a cached picture.
        cached = ([o for _, _, o in run.ranked], list(run.probes), list(run.notes))
        _CACHE[key] = cached
    observations, probes, notes = cached
    return merge(list(observations), mode="live", probes=tuple(probes), notes=tuple(notes))


def _probe_all(run: _Run, *, nvidia_smi: bool) -> None:
    plat = run.probe("platform", _probe_platform, run)
    system = plat["os"] if plat else None
    linux = system == "linux"

    # PCI display devices: one scan serves NVIDIA, AMD and Intel.
    pci: dict[str, list[dict[str, Any]]] = {}
    if linux:
        pci = run.probe("pci: /sys/bus/pci/devices", _probe_pci, run) or {}
    else:
        run.skip("pci: /sys/bus/pci/devices", "not Linux")

    _probe_nvidia(run, system, plat or {}, pci, nvidia_smi=nvidia_smi)

    if linux:
        _probe_amd(run, pci)
        intel = [d for d in pci.get(PCI_INTEL, []) if not d["slot"].endswith(INTEL_IGPU_SLOT)]
        if intel:
            run.add(_RANK_PCI, _pci_observation("intel", "8086", intel))
        else:
            run.notes.append(NOT_FOUND + "Intel XPU: no discrete Intel GPU on the PCI bus.")
    elif system == "windows":
        run.notes.append(NOT_FOUND + "AMD ROCm: ROCm builds of torch are Linux only.")
    if system == "macos":
        run.probe("apple: sysctl", _probe_apple, run, plat or {})
    else:
        run.skip("apple: sysctl", "not macOS")
        run.notes.append(NOT_FOUND + "Apple MPS: not macOS.")


# platform --------------------------------------------------------------------------------


def _conda_subdir() -> tuple[str | None, str | None]:
    """conda's own ``context.subdir``, only when conda is already loaded (never import it)."""
    ctx_mod = sys.modules.get("conda.base.context")
    conda = sys.modules.get("conda")
    version = getattr(conda, "__version__", None) if conda else None
    if ctx_mod is None:
        return None, version
    try:
        return str(ctx_mod.context.subdir), version
    except Exception:  # conda's context failed to load its configuration
        return None, version


def _subdir_for(system_prefix: str | None, machine: str, bits64: bool) -> str | None:
    if system_prefix is None:
        return None
    m = machine.lower()
    if m in _X86:
        return f"{system_prefix}-{64 if bits64 else 32}"
    if m in _NON_X86:
        return f"{system_prefix}-{m}"
    return None


#: Platform sources, most authoritative first: conda's own answer, then its override variable,
#: then the kernel's view of the hardware (``sysctl`` sees through Rosetta 2), then the rest.
_PLATFORM_SOURCES = ("conda context", "CONDA_SUBDIR", "sysctl", "sys.platform, os.uname")


def _probe_platform(run: _Run) -> tuple[dict[str, Any] | None, str]:
    facts: dict[str, dict[str, Any]] = {}  # source -> platform facts

    def put(source: str, **kv: Any) -> None:
        facts.setdefault(source, {}).update({k: v for k, v in kv.items() if v is not None})

    sysplat = sys.platform
    prefix = _OS_PREFIX.get(sysplat) or ("freebsd" if sysplat.startswith("freebsd") else None)
    system = {"linux": "linux", "osx": "macos", "win": "windows", "freebsd": "freebsd"}.get(
        prefix or ""
    )
    if system == "windows":  # platform.machine() may start a process on Windows
        arch_vars = ("PROCESSOR_ARCHITEW6432", "PROCESSOR_ARCHITECTURE")
        machine = next(
            (e[v] for v in arch_vars for e in (run.env, os.environ) if e.get(v)), ""
        ).lower()
        kernel = None
        hostname = os.environ.get("COMPUTERNAME")
    else:
        uname = os.uname()
        machine, kernel, hostname = uname.machine, uname.release, uname.nodename
    vi = sys.version_info
    subdir = _subdir_for(prefix, machine, sys.maxsize > 2**32)
    put(
        "sys.platform, os.uname",
        os=system or sysplat,
        machine=machine or None,
        kernel=kernel,
        hostname=hostname or None,
        python_version=f"{vi.major}.{vi.minor}.{vi.micro}",
        subdir=subdir,
        native_subdir=subdir,
    )

    conda_subdir, conda_version = _conda_subdir()
    if conda_subdir:
        put("conda context", subdir=conda_subdir)
    elif run.env.get("CONDA_SUBDIR"):
        put("CONDA_SUBDIR", subdir=run.env["CONDA_SUBDIR"])
        run.notes.append(
            f"CONDA_SUBDIR={run.env['CONDA_SUBDIR']} is set: conda installs packages for "
            "that platform."
        )
    if conda_version:
        put("conda", conda_version=conda_version)

    if system == "linux":
        try:
            libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
        except (ValueError, OSError):
            libc = ""
        if libc.startswith("glibc "):
            put("os.confstr", glibc=libc.split()[1])
        release = run.read("/etc/os-release") or run.read("/usr/lib/os-release")
        if release:
            kv = {}
            for line in release.splitlines():
                k, sep, v = line.partition("=")
                if sep:
                    kv[k.strip()] = v.strip().strip("'\"")
            put(
                "/etc/os-release",
                distro=kv.get("PRETTY_NAME") or kv.get("NAME"),
                os_version=kv.get("VERSION_ID"),
            )
        osrelease = run.read("/proc/sys/kernel/osrelease") or ""
        if "microsoft" in osrelease.lower():
            put("/proc/sys/kernel/osrelease", wsl=True)
        elif run.exists("/dev/dxg"):
            put("/dev/dxg", wsl=True)
        else:
            put("/proc/sys/kernel/osrelease", wsl=False)
        container = _container(run)
        if container:
            put(container[1], container=container[0])
        put("/etc/nv_tegra_release", jetson=run.exists("/etc/nv_tegra_release"))
    elif system == "windows":
        try:
            wv = sys.getwindowsversion()  # type: ignore[attr-defined]
            put("sys.getwindowsversion", os_version=f"{wv.major}.{wv.minor}.{wv.build}")
        except (AttributeError, OSError):
            pass
    elif system == "macos":
        _platform_macos(run, put, subdir)

    order = [s for s in _PLATFORM_SOURCES if s in facts] + [
        s for s in facts if s not in _PLATFORM_SOURCES
    ]
    summary: dict[str, Any] = {}
    for source in order:
        run.add(0, Observation(kind=source, platform=facts[source]))
        for key, value in facts[source].items():
            summary.setdefault(key, value)
    summary["os"] = system
    detail = ", ".join(str(v) for v in (summary.get("subdir"), system, machine) if v)
    return summary, detail


def _container(run: _Run) -> tuple[str, str] | None:
    if run.env.get("KUBERNETES_SERVICE_HOST"):
        return "kubernetes", "KUBERNETES_SERVICE_HOST"
    if run.exists("/.dockerenv"):
        return "docker", "/.dockerenv"
    if run.exists("/run/.containerenv"):
        return "podman", "/run/.containerenv"
    cgroup = run.read("/proc/1/cgroup") or ""
    for word in ("kubepods", "docker", "containerd", "libpod", "lxc"):
        if word in cgroup:
            return {"kubepods": "kubernetes", "libpod": "podman"}.get(word, word), "/proc/1/cgroup"
    if run.env.get("NVIDIA_VISIBLE_DEVICES"):
        return "container (NVIDIA_VISIBLE_DEVICES set)", "NVIDIA_VISIBLE_DEVICES"
    return None


# macOS sysctl -----------------------------------------------------------------------------


def _sysctl(name: str, kind: str = "str") -> Any:
    """``sysctlbyname`` through ctypes (no subprocess); ``None`` when the name is unknown."""
    import ctypes

    libc = _libc()
    if libc is None:
        return None
    if kind == "int":
        value = ctypes.c_int64(0)
        size = ctypes.c_size_t(ctypes.sizeof(value))
        if libc.sysctlbyname(name.encode(), ctypes.byref(value), ctypes.byref(size), None, 0) != 0:
            return None
        return int(value.value) if size.value == 8 else int(ctypes.c_int32.from_buffer(value).value)
    size = ctypes.c_size_t(0)
    if libc.sysctlbyname(name.encode(), None, ctypes.byref(size), None, 0) != 0 or not size.value:
        return None
    buf = ctypes.create_string_buffer(size.value)
    if libc.sysctlbyname(name.encode(), buf, ctypes.byref(size), None, 0) != 0:
        return None
    return buf.value.decode("utf-8", "replace").strip()


_LIBC: list[Any] = []


def _libc() -> Any:
    if not _LIBC:
        import ctypes

        lib = None
        for name in (None, "/usr/lib/libSystem.B.dylib", "/usr/lib/libc.dylib"):
            try:
                lib = ctypes.CDLL(name)
                getattr(lib, "sysctlbyname")  # raises AttributeError when absent
                break
            except (OSError, AttributeError):
                lib = None
        _LIBC.append(lib)
    return _LIBC[0]


def _platform_macos(run: _Run, put: Callable[..., None], subdir: str | None) -> None:
    version = _sysctl("kern.osproductversion")  # the real version, even for old-SDK Pythons
    source = "sysctl"
    if not version:
        import platform

        version, source = platform.mac_ver()[0] or None, "platform.mac_ver"
    put(source, os_version=version, macos_version=version)
    arm64_hw = _sysctl("hw.optional.arm64", "int") == 1
    translated = _sysctl("sysctl.proc_translated", "int") == 1
    if arm64_hw:
        put("sysctl", native_subdir="osx-arm64")
    if translated:
        put("sysctl", native_subdir="osx-arm64")
        run.notes.append(
            "This Python is an x86_64 program running under Rosetta 2 on Apple silicon: conda "
            f"installs {subdir or 'osx-64'} packages, which have no MPS (and recent torch releases "
            "are not built for osx-64). Install an osx-arm64 conda (e.g. Miniforge for arm64) "
            "and create the environment with it."
        )


def _probe_apple(run: _Run, plat: dict[str, Any]) -> tuple[bool, str]:
    chip = _sysctl("machdep.cpu.brand_string")
    model = _sysctl("hw.model")
    arm64_hw = _sysctl("hw.optional.arm64", "int") == 1
    translated = _sysctl("sysctl.proc_translated", "int") == 1
    apple: dict[str, Any] = {
        "chip": chip,
        "model": model,
        "apple_silicon": arm64_hw,
        "rosetta": translated if arm64_hw else False,
    }
    from ..models import version_tuple  # here, not at the top: see _probe_rocm_version

    version = version_tuple(plat.get("macos_version") or "")
    if arm64_hw and version:
        apple["mps"] = version >= MPS_MIN_MACOS
        if not apple["mps"]:
            run.notes.append(
                f"MPS needs macOS {'.'.join(map(str, MPS_MIN_MACOS))} or newer; this is "
                f"macOS {plat.get('macos_version')}."
            )
    elif not arm64_hw:
        run.notes.append(
            NOT_FOUND + "Apple silicon: this Mac has an Intel CPU (no MPS on the CPU's "
            "GPU for current torch releases)."
        )
    run.add(0, Observation(kind="sysctl", apple={k: v for k, v in apple.items() if v is not None}))
    return True, ", ".join(str(x) for x in (chip, model) if x) or "sysctl"


# PCI --------------------------------------------------------------------------------------


def _pci_observation(vendor: str, vendor_id: str, devices: list[dict[str, Any]]) -> Observation:
    """GPUs seen only on the PCI bus: where they sit and their device ids, nothing more."""
    gpus = [
        {"vendor": vendor, "bus_id": d["slot"], "pci_device_id": f"{vendor_id}:{d['device'][2:]}"}
        for d in devices
    ]
    return Observation(kind="sysfs PCI", gpus=gpus)


def _probe_pci(run: _Run) -> tuple[dict[str, list[dict[str, Any]]], str]:
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


# NVIDIA -----------------------------------------------------------------------------------


def _probe_nvidia(
    run: _Run,
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
        run.add(_RANK_PCI, _pci_observation("nvidia", "10de", nv_pci))
        if "/proc/driver/nvidia/version" not in pointers:
            run.notes.append(
                f"{len(nv_pci)} NVIDIA device(s) on the PCI bus, but no NVIDIA kernel module "
                "is loaded: is the NVIDIA driver installed?"
            )


def _probe_proc_version(run: _Run) -> tuple[bool, str]:
    text = run.read("/proc/driver/nvidia/version")
    if text is None:
        return False, "absent"
    facts = read_proc_version(text)
    if not facts.get("driver_version"):
        return False, "no driver version in it"
    run.add(_RANK_PROC_VERSION, Observation(kind="/proc/driver/nvidia/version", nvidia=facts))
    return True, f"{facts['driver_version']} ({facts['driver_flavor']})"


def read_proc_version(text: str) -> dict[str, str]:
    """Driver version and module flavour from ``/proc/driver/nvidia/version``.

    The kernel writes one fixed line, ``NVRM version: NVIDIA UNIX [<arch>] [Open ]Kernel
    Module [for <arch>]  <version>  ...``; reading it here costs microseconds, where importing
    the capture parser (``conda_torch.parsers.proc``, which tests hold this to) costs
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


def _probe_proc_gpus(run: _Run) -> tuple[bool, str]:
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
    run.add(_RANK_PROC_GPUS, Observation(kind="/proc/driver/nvidia/gpus", gpus=gpus))
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


def _probe_nvml(run: _Run, system: str | None) -> tuple[bool, str]:
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
                run.add(_RANK_NVML, Observation(kind="NVML", errors=[code]))
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
    run.add(_RANK_NVML, Observation(kind="NVML", nvidia=nvidia, gpus=gpus))
    return True, (
        f"driver {nvidia.get('driver_version')}, CUDA {nvidia.get('cuda_version')}, "
        f"{len(gpus)} GPU(s); {opened}, queries "
        f"{(time.perf_counter() - queried) * 1000:.1f} ms"
    )


def _nvml_windows_names(run: _Run) -> list[str]:
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


def _probe_libcuda(run: _Run, system: str | None) -> tuple[bool, str]:
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
    run.add(_RANK_LIBCUDA, Observation(kind="libcuda", nvidia=nvidia, gpus=gpus))
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


def _probe_nvidia_smi(run: _Run, system: str | None) -> tuple[bool, str]:
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
        from . import captures

        observations = captures.parse_text(out, source="nvidia-smi --query-gpu")
    except CondaTorchError as exc:
        return False, f"output not understood: {exc.line}"
    for obs in observations:
        obs.kind, obs.source = "nvidia-smi --query-gpu", ""
        run.add(_RANK_SMI, obs)
    gpus = sum(len(o.gpus) for o in observations)
    return True, f"{gpus} GPU(s)"


# AMD --------------------------------------------------------------------------------------


def _probe_amd(run: _Run, pci: dict[str, list[dict[str, Any]]]) -> None:
    version = run.probe("rocm: version", _probe_rocm_version, run)
    kfd = run.probe("rocm: /sys/class/kfd topology", _probe_kfd, run)
    amd_pci = pci.get(PCI_AMD, [])
    if not kfd and amd_pci:
        run.add(
            _RANK_PCI,
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


def _probe_rocm_version(run: _Run) -> tuple[bool, str]:
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
                _RANK_PROC_VERSION,
                Observation(kind=f"{base}/.info/version", rocm={"version": version, "path": path}),
            )
            return True, f"{version} at {path}"
    return False, "no /opt/rocm*/.info/version"


def _probe_kfd(run: _Run) -> tuple[bool, str]:
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
    run.add(_RANK_PROC_GPUS, Observation(kind="KFD topology", gpus=gpus))
    return True, ", ".join(g["gfx"] for g in gpus)


def _gfx(target: int) -> str:
    """KFD ``gfx_target_version`` (major*10000 + minor*100 + stepping) -> name: 90010 -> gfx90a."""
    return f"gfx{target // 10000}{(target // 100) % 100}{target % 100:x}"


# -- flags, overrides, CUDA_VISIBLE_DEVICES, inference --------------------------------------


def _apply_description(machine: Machine, d: Description) -> Machine:
    notes = list(machine.notes)
    overrides = dict(machine.overrides)
    plat = machine.platform
    nvidia, rocm, apple, xpu = machine.nvidia, machine.rocm, machine.apple, machine.xpu
    if d.platform is not None:
        overrides["--platform"] = d.platform
        os_name, arch = _SUBDIR_FACTS[d.platform]
        if machine.mode == "live" and d.platform != plat.subdir:
            plat = PlatformInfo(
                subdir=d.platform,
                native_subdir=d.platform,
                os=os_name,
                machine=arch,
                sources={k: "--platform" for k in ("subdir", "native_subdir", "os", "machine")},
            )
            nvidia = rocm = apple = xpu = None
            notes = [n for n in notes if not n.startswith(NOT_FOUND)]
            notes.append(
                f"Describing another machine (--platform {d.platform}): this machine's "
                "hardware is not used; only the flags describe it."
            )
        else:
            if plat.subdir not in (None, d.platform):
                notes.append(
                    f"--platform {d.platform} replaces {plat.subdir} (from "
                    f"{plat.sources.get('subdir', 'the inputs')})."
                )
            src = {**plat.sources, "subdir": "--platform"}
            kv: dict[str, Any] = {"subdir": d.platform}
            if plat.native_subdir is None:
                kv["native_subdir"], src["native_subdir"] = d.platform, "--platform"
            for key, value in (("os", os_name), ("machine", arch)):
                if getattr(plat, key) is None:
                    kv[key], src[key] = value, "--platform"
            plat = replace(plat, **kv, sources=src)
            notes = [n for n in notes if not n.startswith(NOT_FOUND + "platform")]
    if d.driver_version or d.cuda_version or d.gpus:
        base = nvidia or NvidiaInfo()
        src = dict(base.sources)
        kv = {}
        if d.driver_version:
            overrides["--driver"] = d.driver_version
            if (
                base.driver_version not in (None, d.driver_version)
                and not d.cuda_version
                and base.cuda_version
            ):
                kv["cuda_version"] = None
                src.pop("cuda_version", None)
                notes.append(
                    f"--driver {d.driver_version}: the CUDA version {base.cuda_version} read for "
                    f"driver {base.driver_version} no longer applies; pass --cuda X.Y."
                )
            kv["driver_version"], src["driver_version"] = d.driver_version, "--driver"
            kv["driver_flavor"] = None
            src.pop("driver_flavor", None)
        if d.cuda_version:
            overrides["--cuda"] = d.cuda_version
            kv["cuda_version"], src["cuda_version"] = d.cuda_version, "--cuda"
        if d.gpus:
            overrides["--gpu"] = "; ".join(f"{n}={c}" if c else n for n, c in d.gpus)
            kv["gpus"] = tuple(
                GPU(
                    vendor="nvidia",
                    index=i,
                    name=name,
                    compute_capability=cc,
                    sources={
                        "name": "--gpu",
                        "index": "--gpu",
                        **({"compute_capability": "--gpu"} if cc else {}),
                    },
                )
                for i, (name, cc) in enumerate(d.gpus)
            )
        nvidia = replace(base, **kv, sources=src)
        notes = [n for n in notes if not n.startswith(NOT_FOUND + "NVIDIA")]
    return replace(
        machine,
        platform=plat,
        nvidia=nvidia,
        rocm=rocm,
        apple=apple,
        xpu=xpu,
        overrides=overrides,
        notes=tuple(notes),
    )


def _apply_cuda_override(
    machine: Machine, raw: str, value: str, describe: Description | None
) -> Machine:
    overrides = {**machine.overrides, CONDA_OVERRIDE_CUDA: raw}
    notes = list(machine.notes)
    if describe is not None and describe.cuda_version:
        notes.append(
            f"{CONDA_OVERRIDE_CUDA}={raw!r} is ignored: --cuda {describe.cuda_version} wins."
        )
        return replace(machine, overrides=overrides, notes=tuple(notes))
    nvidia = machine.nvidia
    if value == "":
        notes.append(
            f"{CONDA_OVERRIDE_CUDA} is set and empty: treated as no CUDA, as conda does (no "
            "__cuda virtual package)"
            + (
                f"; the driver's CUDA {nvidia.cuda_version} is ignored."
                if nvidia and nvidia.cuda_version
                else "."
            )
        )
        if nvidia is not None:
            nvidia = replace(
                nvidia,
                cuda_version=None,
                sources={**nvidia.sources, "cuda_version": CONDA_OVERRIDE_CUDA},
            )
    else:
        before = nvidia.cuda_version if nvidia else None
        notes.append(
            f"{CONDA_OVERRIDE_CUDA}={value}: the driver is treated as supporting CUDA {value}, "
            "as conda does" + (f" (it reports {before})." if before and before != value else ".")
        )
        base = nvidia or NvidiaInfo()
        nvidia = replace(
            base, cuda_version=value, sources={**base.sources, "cuda_version": CONDA_OVERRIDE_CUDA}
        )
    return replace(machine, nvidia=nvidia, overrides=overrides, notes=tuple(notes))


def _apply_visible_devices(machine: Machine, env: Mapping[str, str] | None) -> Machine:
    if env is None:  # a picture of another machine: only what its inputs showed
        return apply_visible_devices(machine)
    value = env.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return machine
    if machine.nvidia is None:
        return replace(
            machine,
            notes=machine.notes
            + (f"CUDA_VISIBLE_DEVICES={value!r} is set, but no NVIDIA GPU was found.",),
        )
    return apply_visible_devices(machine, value, device_order=env.get("CUDA_DEVICE_ORDER"))


def apply_visible_devices(
    machine: Machine, value: str | None = None, *, device_order: str | None = None
) -> Machine:
    """Mark the NVIDIA GPUs that ``CUDA_VISIBLE_DEVICES=value`` hides from CUDA programs.

    ``value`` ``None`` means the value the picture already holds (an input may show one).
    CUDA reads a comma-separated list of ordinals or GPU UUID prefixes, keeps them in that
    order and stops at the first entry that names no device, so ``""``, an ordinal past the
    last GPU or an unknown UUID first in the list hide every GPU (CUDA C Programming Guide,
    "CUDA Environment Variables"). torch follows libcuda; NVML and nvidia-smi ignore the
    variable (the H100 capture in fixtures/torch-runtime shows libcuda and torch seeing 0
    devices for ``""``, ``"1"`` and ``"GPU-nonexistent"`` while NVML sees the GPU).
    """
    nvidia = machine.nvidia
    if nvidia is None:
        return machine
    if value is None:
        value = nvidia.cuda_visible_devices
        if value is None:
            return machine
    else:
        nvidia = replace(
            nvidia,
            cuda_visible_devices=value,
            sources={**nvidia.sources, "cuda_visible_devices": "CUDA_VISIBLE_DEVICES"},
        )
    gpus = nvidia.gpus
    if not gpus:
        return replace(machine, nvidia=nvidia)
    entries = [e.strip() for e in value.split(",")] if value.strip() else []
    visible: list[int] = []
    uncertain = ""
    for entry in entries:
        if entry.upper().startswith("MIG-"):
            uncertain = "it names MIG instances, whose GPUs are not resolved here"
            break
        if entry.isdigit() or (entry.startswith("-") and entry[1:].isdigit()):
            n = int(entry)
            if not 0 <= n < len(gpus) or n in visible:
                break
            visible.append(n)
            continue
        if not any(g.uuid for g in gpus):
            uncertain = "it names GPUs by UUID and no UUID is known"
            break
        matches = [
            i for i, g in enumerate(gpus) if g.uuid and g.uuid.lower().startswith(entry.lower())
        ]
        if len(matches) != 1 or matches[0] in visible:
            break
        visible.append(matches[0])
    notes = list(machine.notes)
    if uncertain:
        notes.append(
            f"CUDA_VISIBLE_DEVICES={value!r}: which GPUs CUDA sees is not known ({uncertain})."
        )
        return replace(machine, nvidia=nvidia, notes=tuple(notes))
    if (
        len({g.name for g in gpus}) > 1
        and device_order != "PCI_BUS_ID"
        and any(e.isdigit() for e in entries)
    ):
        notes.append(
            "CUDA numbers different GPU models fastest first unless CUDA_DEVICE_ORDER=PCI_BUS_ID; "
            "the numbers in CUDA_VISIBLE_DEVICES are read here in nvidia-smi's (PCI) order."
        )
    new = tuple(
        replace(
            g,
            hidden=i not in visible,
            sources={**g.sources, "hidden": "CUDA_VISIBLE_DEVICES"}
            if i not in visible
            else {k: v for k, v in g.sources.items() if k != "hidden"},
        )
        for i, g in enumerate(gpus)
    )
    hidden = sum(1 for g in new if g.hidden)
    if hidden == len(new):
        notes.append(
            f"CUDA_VISIBLE_DEVICES={value!r} hides every NVIDIA GPU from CUDA programs: torch "
            "will see no GPU (NVML and nvidia-smi still list them). Unset it to use them."
        )
    elif hidden:
        notes.append(
            f"CUDA_VISIBLE_DEVICES={value!r} hides {hidden} of {len(new)} NVIDIA GPUs from CUDA "
            "programs."
        )
    return replace(machine, nvidia=replace(nvidia, gpus=new), notes=tuple(notes))


def _infer_missing(machine: Machine) -> Machine:
    """Fill compute capabilities from GPU names (``conda_torch.gpu_names``), when it exists."""
    import importlib

    try:
        gpu_names = importlib.import_module("conda_torch.detect.gpu_names")
    except ModuleNotFoundError as exc:  # not written yet / trimmed install
        if exc.name != "conda_torch.detect.gpu_names":
            raise
        return machine
    return gpu_names.infer_missing(machine)
