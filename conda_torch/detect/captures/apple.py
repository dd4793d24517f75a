"""macOS / Apple Silicon / Rosetta captures, and ``platform.platform()`` strings of any OS.

Kinds: ``sw_vers``; ``sysctl machdep.cpu`` and ``uname`` shell output (read together, because
Rosetta 2 only shows when both are in one paste: an x86_64 process on an Apple CPU);
``python -m platform`` / ``platform.platform()``; and ``system_profiler``
(``SPDisplaysDataType`` JSON or text, ``SPHardwareDataType``).

Facts derived here are the ones the output proves: an arm64 process on macOS is Apple Silicon;
an x86_64 process whose CPU brand is "Apple ..." runs under Rosetta 2; macOS 10.15 or older
(Darwin < 20) never ran on Apple Silicon; ``macOS-10.16`` is the compatibility version an
old-SDK Python reports on macOS 11 or later, not a real version. MPS is recorded only where a
capture shows ``torch.backends.mps.is_available()`` on macOS.

:func:`platform_facts` and :func:`subdir_for` are shared with the ``collect_env`` and
``conda info`` parsers.
"""

from __future__ import annotations

import json
import re

from ...machine import Observation
from .capture import Kind, lazy_re

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from typing import Any

    from .capture import Capture

#: (os, machine) -> conda subdir. Source: conda's ``context.subdir``
#: (``conda/base/context.py``: ``_platform_map`` and ``_arch_names``; ``arm64`` on macOS is
#: ``osx-arm64``, ``aarch64``/``arm64`` on Linux is ``linux-aarch64``, AMD64 on Windows ``win-64``).
_SUBDIRS: dict[tuple[str, str], str] = {
    ("linux", "x86_64"): "linux-64",
    ("linux", "aarch64"): "linux-aarch64",
    ("linux", "arm64"): "linux-aarch64",
    ("linux", "ppc64le"): "linux-ppc64le",
    ("linux", "s390x"): "linux-s390x",
    ("linux", "armv7l"): "linux-armv7l",
    ("linux", "riscv64"): "linux-riscv64",
    ("macos", "x86_64"): "osx-64",
    ("macos", "arm64"): "osx-arm64",
    ("windows", "amd64"): "win-64",
    ("windows", "x86_64"): "win-64",
    ("windows", "arm64"): "win-arm64",
}

#: The first Darwin (kernel) major version of macOS 11, the first macOS on Apple Silicon.
#: Source: Apple's Darwin releases (Darwin 20.x = macOS 11 Big Sur).
_FIRST_APPLE_SILICON_DARWIN = 20

_MACHINES = r"x86_64|aarch64|arm64|ppc64le|s390x|armv7l|riscv64|i686|AMD64|ARM64"


def subdir_for(os_name: str | None, machine: str | None) -> str | None:
    """The conda subdir of a process on ``os_name`` (linux, macos, windows) and ``machine``."""
    if not os_name or not machine:
        return None
    return _SUBDIRS.get((os_name, machine.lower()))


def rosetta_note(what: str, chip: str) -> str:
    return f"{what} runs under Rosetta 2 (x86_64 on {chip}): install an osx-arm64 Python"


def linuxkit_note(kernel: str, machine: str) -> str:
    return (
        f"kernel {kernel} is Docker Desktop's LinuxKit VM: this is Linux in a container, so "
        f"packages are {subdir_for('linux', machine) or 'linux'} (no MPS, even on a Mac host)"
    )


def macos_compat_note(version: str) -> str:
    return (
        f"macOS {version} is the compatibility version an old-SDK (x86_64) Python reports on "
        "macOS 11 or later, not the real macOS version"
    )


_PLATFORM_MAC = lazy_re(rf"^macOS-(?P<ver>\d+(?:\.\d+)*)-(?P<machine>{_MACHINES})-\w+-\d+bit$")
_PLATFORM_DARWIN = lazy_re(
    rf"^Darwin-(?P<kernel>\d+\.\d+(?:\.\d+)?)-(?P<machine>{_MACHINES})-\w+-\d+bit$"
)
_PLATFORM_LINUX = lazy_re(
    rf"^Linux-(?P<kernel>.+?)-(?P<machine>{_MACHINES})(?:-with-(?P<libc>.*))?$"
)
_PLATFORM_WINDOWS = lazy_re(r"^Windows-(?P<release>[\w.]+)-(?P<ver>\d+\.\d+\.\d+)(?:-SP\d+)?$")


def platform_facts(value: str) -> tuple[dict[str, Any], list[str]]:
    """Platform facts (``PlatformInfo`` names) and notes from a ``platform.platform()`` string.

    Returns ``({}, [])`` when ``value`` is not one.
    """
    value = value.strip()
    facts: dict[str, Any] = {}
    notes: list[str] = []
    if m := _PLATFORM_MAC.match(value):
        facts.update(os="macos", machine=m["machine"])
        if m["ver"] == "10.16":
            notes.append(macos_compat_note("10.16"))
        else:
            facts["macos_version"] = m["ver"]
    elif m := _PLATFORM_DARWIN.match(value):
        facts.update(os="macos", machine=m["machine"], kernel=m["kernel"])
    elif m := _PLATFORM_LINUX.match(value):
        facts.update(os="linux", machine=m["machine"], kernel=m["kernel"])
        libc = m["libc"] or ""
        if g := re.match(r"^glibc(\d+\.\d+)", libc):
            facts["glibc"] = g.group(1)
        kernel = m["kernel"].lower()
        if "microsoft" in kernel:
            facts["wsl"] = True
        if "tegra" in kernel:
            facts["jetson"] = True
        if "linuxkit" in kernel:
            notes.append(linuxkit_note(m["kernel"], m["machine"]))
    elif m := _PLATFORM_WINDOWS.match(value):
        facts.update(os="windows", os_version=m["ver"])
    else:
        return {}, []
    subdir = subdir_for(facts["os"], facts.get("machine"))
    if subdir:
        facts["subdir"] = subdir
    return facts, notes


def darwin_major(kernel: str | None) -> int | None:
    if kernel and (m := re.match(r"^(\d+)\.", kernel)):
        return int(m.group(1))
    return None


def _macos_major(version: str | None) -> tuple[int, int] | None:
    if version and (m := re.match(r"^(\d+)(?:\.(\d+))?", version)):
        return int(m.group(1)), int(m.group(2) or 0)
    return None


def derive_apple(
    platform: dict[str, Any], apple: dict[str, Any], notes: list[str], *, what: str
) -> None:
    """Fill the Apple facts that the collected ``platform``/``apple`` facts prove (in place)."""
    if platform.get("os") != "macos":
        return
    machine = (platform.get("machine") or "").lower()
    chip = apple.get("chip")
    if machine == "arm64":
        apple.setdefault("apple_silicon", True)
        apple.setdefault("rosetta", False)
    mac = _macos_major(platform.get("macos_version"))
    darwin = darwin_major(platform.get("kernel"))
    if apple.get("apple_silicon") is None and (
        (mac is not None and mac < (11, 0))
        or (darwin is not None and darwin < _FIRST_APPLE_SILICON_DARWIN)
    ):
        apple["apple_silicon"] = False  # macOS 10.15 and older never ran on Apple Silicon
    if apple.get("apple_silicon") is True:
        platform.setdefault("native_subdir", "osx-arm64")
        if machine == "x86_64":
            apple["rosetta"] = True
            notes.append(rosetta_note(what, chip or "Apple Silicon"))
    elif apple.get("apple_silicon") is False:
        # An Intel Mac runs only x86_64 code: the process and the hardware are both osx-64.
        platform.setdefault("native_subdir", "osx-64")
        platform.setdefault("subdir", "osx-64")


def _observation(
    kind: str,
    platform: dict[str, Any],
    apple: dict[str, Any],
    gpus: list[dict[str, Any]],
    notes: list[str],
    errors: list[str] | None = None,
) -> Observation:
    return Observation(
        kind=kind,
        platform={k: v for k, v in platform.items() if v is not None},
        apple={k: v for k, v in apple.items() if v is not None},
        gpus=gpus,
        notes=list(dict.fromkeys(notes)),
        errors=errors or [],
    )


def _set_brand(apple: dict[str, Any], platform: dict[str, Any], brand: str) -> None:
    platform.setdefault("os", "macos")  # machdep.cpu / system_profiler exist only on macOS
    if brand.startswith("Apple"):
        apple.setdefault("chip", brand)
        apple.setdefault("apple_silicon", True)
    elif "Intel" in brand:
        apple.setdefault("apple_silicon", False)


# -- sysctl machdep.cpu / uname ----------------------------------------------------------

_CMD = lazy_re(
    r"^(?:.*?[$%#>]\s+)?(?P<cmd>(?:/usr/s?bin/)?(?:uname|sysctl|system_profiler|python[\d.]*|ipython)\b.*)$"
)
_BRAND_KEY = lazy_re(r"^\s*machdep\.cpu\.brand_string\s*[:=]\s*(?P<brand>\S.*?)\s*$")
_UNAME_A = lazy_re(
    rf"^(?P<os>Darwin|Linux)\s+\S+\s+(?P<release>\d\S*)\s+.*?\b(?P<machine>{_MACHINES})(?:\s+GNU/Linux)?\s*$"
)
_UNAME_SM = lazy_re(rf"^(?P<os>Darwin|Linux)\s+(?P<machine>{_MACHINES})\s*$")


def _command_blocks(capture: Capture) -> list[tuple[str, list[str]]]:
    """(command, output lines) for each command line the paste shows, prompt or not."""
    blocks: list[tuple[str, list[str]]] = [("", [])]
    for line in capture.lines:
        m = _CMD.match(line.strip())
        if m and not _BRAND_KEY.match(line):
            blocks.append((m.group("cmd").strip(), []))
        else:
            blocks[-1][1].append(line.strip())
    return blocks


def _recognise_shell(capture: Capture) -> bool:
    for cmd, out in _command_blocks(capture):
        if "machdep.cpu" in cmd or cmd.startswith("uname") or cmd.endswith("/uname"):
            return True
        if any(_BRAND_KEY.match(ln) or _UNAME_A.match(ln) for ln in out):
            return True
    return False


def _parse_shell(capture: Capture) -> Observation:
    platform: dict[str, Any] = {}
    apple: dict[str, Any] = {}
    notes: list[str] = []
    kernel_arm64: bool | None = None
    for cmd, out in _command_blocks(capture):
        lines = [ln for ln in out if ln]
        for ln in out:
            if m := _BRAND_KEY.match(ln):
                _set_brand(apple, platform, m["brand"])
            elif m := _UNAME_A.match(ln):
                platform.setdefault("os", "macos" if m["os"] == "Darwin" else "linux")
                platform.setdefault("kernel", m["release"])
                platform.setdefault("machine", m["machine"])
                if "RELEASE_ARM64" in ln:
                    kernel_arm64 = True
                elif "RELEASE_X86_64" in ln:
                    kernel_arm64 = False
        if not lines:
            continue
        words = cmd.split()
        if (
            words
            and words[0].startswith("sysctl")
            and "-n" in words
            and "machdep.cpu.brand_string" in cmd
        ):
            _set_brand(apple, platform, lines[0])
        elif words and words[0].endswith("uname") and not _UNAME_A.match(lines[0]):
            flags = "".join(w.lstrip("-") for w in words[1:] if w.startswith("-"))
            first = lines[0]
            if m := _UNAME_SM.match(first):
                platform.setdefault("os", "macos" if m["os"] == "Darwin" else "linux")
                platform.setdefault("machine", m["machine"])
            elif flags == "m" and re.fullmatch(_MACHINES, first):
                platform.setdefault("machine", first)
            elif flags == "s" and first in ("Darwin", "Linux"):
                platform.setdefault("os", "macos" if first == "Darwin" else "linux")
            elif flags == "r" and re.match(r"^\d+\.\d+", first):
                platform.setdefault("kernel", first)
            elif "v" in flags or "ARM64" in cmd:
                if "ARM64" in first:
                    kernel_arm64 = True
                elif "X86_64" in first:
                    kernel_arm64 = False
    if kernel_arm64 is not None:
        platform.setdefault("os", "macos")
        apple.setdefault("apple_silicon", kernel_arm64)
    if platform.get("os") == "macos":
        subdir = subdir_for("macos", platform.get("machine"))
        if subdir:
            platform["subdir"] = subdir
        derive_apple(platform, apple, notes, what="this process")
        if kernel_arm64 and apple.get("rosetta"):
            notes.append("the Darwin kernel is RELEASE_ARM64 while uname -m says x86_64")
    elif platform.get("os") == "linux":
        subdir = subdir_for("linux", platform.get("machine"))
        if subdir:
            platform["subdir"] = subdir
        if "linuxkit" in (platform.get("kernel") or ""):
            notes.append(linuxkit_note(platform["kernel"], platform.get("machine") or ""))
    return _observation("sysctl / uname", platform, apple, [], notes)


# -- python -m platform / platform.platform() --------------------------------------------

_QUOTED = lazy_re(r"""^(?:Out\[\d+\]:\s*)?(?P<q>['"]?)(?P<value>[A-Za-z]+-[^'"\s]+)(?P=q)$""")
_PY_BANNER = lazy_re(r"^Python (\d+\.\d+\.\d+)\S* \(")
_MPS = lazy_re(r"torch\.backends\.mps\.is_available\(\)")


def _platform_strings(capture: Capture) -> list[str]:
    found = []
    for line in capture.lines:
        m = _QUOTED.match(line.strip())
        if m and platform_facts(m["value"])[0]:
            found.append(m["value"])
    return found


def _recognise_platform(capture: Capture) -> bool:
    return bool(_platform_strings(capture))


def _parse_platform(capture: Capture) -> Observation:
    platform: dict[str, Any] = {}
    apple: dict[str, Any] = {}
    notes: list[str] = []
    for value in _platform_strings(capture):
        facts, more = platform_facts(value)
        if platform.get("os") not in (None, facts.get("os")):
            notes.append(
                f"this capture holds platform strings of different systems; {value!r} is ignored"
            )
            continue
        for key, fact in facts.items():
            platform.setdefault(key, fact)
        notes.extend(more)
    lines = [ln.strip() for ln in capture.lines]
    for i, line in enumerate(lines):
        if m := _PY_BANNER.match(line):
            platform.setdefault("python_version", m.group(1))
        if _MPS.search(line):
            answer = next((x for x in lines[i + 1 :] if x), "")
            if answer in ("True", "False"):
                if platform.get("os") == "macos":
                    apple["mps"] = answer == "True"
                elif answer == "False":
                    notes.append(
                        "torch.backends.mps.is_available() is False: MPS exists only on macOS"
                    )
    derive_apple(platform, apple, notes, what="this Python")
    return _observation("platform.platform()", platform, apple, [], notes)


# -- system_profiler ---------------------------------------------------------------------

_KHW = lazy_re(r"^kHW_Apple(?P<chip>\w+?)Item$")
_JSON_NAME = lazy_re(r'^(?P<indent>\s*)"(?P<key>_name|sppci_model)"\s*:\s*"(?P<value>[^"]*)"')
_CHIPSET = lazy_re(r"^\s*Chipset Model:\s*(?P<value>\S.*?)\s*$")


def apple_gpu_name(raw: str) -> str:
    """``kHW_AppleM1Item`` (an untranslated system_profiler key) -> ``Apple M1``; else unchanged."""
    if m := _KHW.match(raw):
        spaced = re.sub(r"(?<=[0-9a-z])(?=[A-Z])", " ", m["chip"])
        return f"Apple {spaced}"
    return raw


def _recognise_displays(capture: Capture) -> bool:
    text = "\n".join(capture.lines)
    return "SPDisplaysDataType" in text or (
        "Graphics/Displays:" in text and "Chipset Model:" in text
    )


def _parse_displays(capture: Capture) -> Observation:
    platform: dict[str, Any] = {"os": "macos"}
    apple: dict[str, Any] = {}
    notes: list[str] = []
    errors: list[str] = []
    text = "\n".join(capture.lines)
    names: list[str] = []
    complete = False
    start = text.find("{")
    data: Any = None
    if start >= 0:
        try:
            data = json.loads(text[start:])
        except ValueError:
            data = None
    if isinstance(data, dict) and isinstance(data.get("SPDisplaysDataType"), list):
        complete = True
        for item in data["SPDisplaysDataType"]:
            if isinstance(item, dict):
                raw = item.get("sppci_model") or item.get("_name")
                if isinstance(raw, str) and raw:
                    names.append(apple_gpu_name(raw))
    elif start >= 0:
        # Cut or mixed JSON: GPU entries are the shallowest "_name" keys (displays nest deeper).
        matches = [m for ln in capture.lines if (m := _JSON_NAME.match(ln))]
        if matches:
            indent = min(len(m["indent"]) for m in matches)
            for m in matches:
                if len(m["indent"]) == indent and m["key"] == "_name":
                    names.append(apple_gpu_name(m["value"]))
        notes.append(
            "this system_profiler JSON is cut or mixed with other text; read what it shows"
        )
    else:
        names = [m["value"] for ln in capture.lines if (m := _CHIPSET.match(ln))]
        complete = bool(names)
    gpus: list[dict[str, Any]] = []
    others: list[str] = []
    for name in names:
        if name.startswith("Apple"):
            gpus.append({"vendor": "apple", "index": len(gpus), "name": name})
            apple.setdefault("chip", name)
            apple["apple_silicon"] = True
        else:
            others.append(name)
    if others:
        notes.append(
            f"system_profiler lists non-Apple graphics ({', '.join(others)}): not usable by MPS"
        )
        if complete and not gpus:
            apple["apple_silicon"] = False
    if not names:
        errors.append("apple.no_gpu_in_system_profiler")
    derive_apple(platform, apple, notes, what="this Mac")
    return _observation("system_profiler SPDisplaysDataType", platform, apple, gpus, notes, errors)


_HW_KEY = lazy_re(
    r"^\s*(?P<key>Chip|Processor Name|Model Identifier|Model Name)\s*:\s*(?P<value>\S.*?)\s*$"
)
_HW_JSON = lazy_re(
    r'^\s*"(?P<key>chip_type|cpu_type|machine_model|machine_name)"\s*:\s*"(?P<value>[^"]*)"'
)
_HW_JSON_KEYS = {
    "chip_type": "Chip",
    "cpu_type": "Processor Name",
    "machine_model": "Model Identifier",
    "machine_name": "Model Name",
}


def _recognise_hardware(capture: Capture) -> bool:
    text = "\n".join(capture.lines)
    return ("Hardware Overview:" in text or "SPHardwareDataType" in text) and (
        "Model Identifier:" in text or '"machine_model"' in text
    )


def _parse_hardware(capture: Capture) -> Observation:
    platform: dict[str, Any] = {"os": "macos"}
    apple: dict[str, Any] = {}
    notes: list[str] = []
    machines: list[dict[str, str]] = []
    for line in capture.lines:
        m = _HW_KEY.match(line)
        key = m["key"] if m else None
        if not m and (j := _HW_JSON.match(line)):
            m, key = j, _HW_JSON_KEYS[j["key"]]
        if not m or key is None:
            continue
        if not machines or key in machines[-1] or (key == "Model Name" and machines[-1]):
            machines.append({})  # each report starts with "Model Name"
        machines[-1][key] = m["value"]
    machines = [mc for mc in machines if mc]
    if machines:
        first = machines[0]
        if "Chip" in first:
            _set_brand(apple, platform, first["Chip"])
        elif "Processor Name" in first:
            apple.setdefault("apple_silicon", False)  # Intel Macs list a processor, not a chip
        if "Model Identifier" in first:
            apple["model"] = first["Model Identifier"]
    if len(machines) > 1:
        shown = "; ".join(
            " ".join(
                v
                for v in (mc.get("Chip") or mc.get("Processor Name"), mc.get("Model Identifier"))
                if v
            )
            for mc in machines
        )
        notes.append(
            f"this capture holds {len(machines)} system_profiler reports ({shown}); "
            "facts are read from the first"
        )
    derive_apple(platform, apple, notes, what="this Mac")
    return _observation("system_profiler SPHardwareDataType", platform, apple, [], notes)


# -- sw_vers --------------------------------------------------------------------------------

#: ``ProductName:	macOS`` / ``ProductVersion:	12.7.6`` (``Mac OS X`` before macOS 11).
_SW_VERS = lazy_re(r"^\s*Product(?P<key>Name|Version):\s*(?P<value>\S.*?)\s*$")


def _sw_vers(capture: Capture) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in capture.lines:
        if m := _SW_VERS.match(line):
            found.setdefault(m["key"], m["value"])
    return found


def _recognise_sw_vers(capture: Capture) -> bool:
    found = _sw_vers(capture)
    return found.get("Name") in ("macOS", "Mac OS X") and bool(
        re.match(r"^\d+\.\d+", found.get("Version", ""))
    )


def _parse_sw_vers(capture: Capture) -> Observation:
    version = _sw_vers(capture)["Version"]
    platform: dict[str, Any] = {"os": "macos"}
    notes: list[str] = []
    if version == "10.16":  # an old-SDK process's view of macOS 11 or later
        notes.append(macos_compat_note(version))
    else:
        platform["macos_version"] = version
    apple: dict[str, Any] = {}
    derive_apple(platform, apple, notes, what="this Mac")
    return _observation("sw_vers", platform, apple, [], notes)


KINDS: tuple[Kind, ...] = (
    Kind("system_profiler SPHardwareDataType", _recognise_hardware, _parse_hardware, rank=20),
    Kind("sw_vers", _recognise_sw_vers, _parse_sw_vers, rank=22),
    Kind("system_profiler SPDisplaysDataType", _recognise_displays, _parse_displays, rank=20),
    Kind("sysctl / uname", _recognise_shell, _parse_shell, rank=25),
    Kind("platform.platform()", _recognise_platform, _parse_platform, rank=30),
)
