"""The platform probe: OS, conda subdir, glibc, WSL, container, Jetson; on macOS sysctl.

:func:`probe_platform` reads conda's own ``context.subdir`` (only when conda is already
loaded), ``CONDA_SUBDIR``, ``sys.platform`` and ``os.uname``, ``os.confstr``,
``/etc/os-release``, the WSL, container and Jetson marker files; on macOS ``sysctl`` through
ctypes (the real macOS version, Rosetta 2 translation). :func:`probe_apple` reads the Apple
chip through ``sysctl``: MPS needs arm64 hardware and macOS 12.3+.
"""

from __future__ import annotations

import os
import sys

from ..machine import Observation
from .probing import NOT_FOUND

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from .probing import LiveRun

#: conda subdir pieces (conda's ``context.subdir``: platform + machine, or platform + bits).
_OS_PREFIX = {"linux": "linux", "darwin": "osx", "win32": "win", "cygwin": "win"}
_NON_X86 = ("armv6l", "armv7l", "aarch64", "arm64", "ppc64", "ppc64le", "riscv64", "s390x")
_X86 = ("x86_64", "amd64", "i386", "i686", "x86")

#: MPS first shipped in torch 1.12 for macOS 12.3+ (Apple, "Accelerated PyTorch training on
#: Mac"); newer torch releases raise the floor, which is the matrix's business.
MPS_MIN_MACOS = (12, 3)


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


def probe_platform(run: LiveRun) -> tuple[dict[str, Any] | None, str]:
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


def _container(run: LiveRun) -> tuple[str, str] | None:
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


def _platform_macos(run: LiveRun, put: Callable[..., None], subdir: str | None) -> None:
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


def probe_apple(run: LiveRun, plat: dict[str, Any]) -> tuple[bool, str]:
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
    from ..models import version_tuple  # here, not at the top: see pci.probe_rocm_version

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
