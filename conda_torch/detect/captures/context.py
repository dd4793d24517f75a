"""The platform a paste shows around the outputs: Python's start-up banner (``[GCC 9.4.0] on
linux``, ``[MSC v.1942 64 bit (AMD64)]``), the paths in tracebacks and warnings (``C:\\Users\\…``,
``/Library/Frameworks/Python.framework``, ``…-x86_64-linux-gnu.so``, ``lib/python3.10/``),
labelled lines of a hand-written environment list (``- **PyTorch Version**: 2.2.0+cu121``,
``GPU: Radeon RX 580 Series``, ``Driver Version 435.21``, ComfyUI's ``Pytorch Version`` with the
value on the next line), and the hardware the text names (``MacBook Pro … M1 Pro chip``, ``RTX
5090``, ``Radeon 5700XT``, ``macOS 15.0 (ARM64)``, ``Ubuntu 20.04``, a ``…-MacBook-Pro`` prompt).

These are the weakest facts a paste has: every one keeps the line it came from as evidence, the
observation ranks below every capture, a GPU model is taken only when the text names one model
(``changed the RTX 3090 for an RTX 5090`` names two: only a note), and an OS only when the text
points to one.
"""

from __future__ import annotations

import re

from ...machine import Observation
from .apple import platform_facts
from .capture import Kind, joined, lazy_re, match_line

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from typing import Any

    from .capture import Capture

_BANNER = lazy_re(
    r"\bPython (?P<v>\d+\.\d+\.\d+)\S*\s+\([^)]*\)\s*\[(?P<compiler>[^\]]*)\]"
    r"(?:\s*::\s*[\w ,.]+?)?\s+on\s+(?P<os>linux|darwin|win32|cygwin)\b"
)
_MSC = lazy_re(
    r"\b(?P<v>\d+\.\d+\.\d+)\S*\s+\([^)]*\)\s*"
    r"\[MSC v\.\d+ (?:64|32) bit \((?P<arch>AMD64|ARM64|Intel)\)\]"
)
_PLATFORM_STRING = lazy_re(r"\b(?:macOS|Darwin|Linux|Windows)-\d[\w.+-]*\d(?:bit)?\b")
_BANNER_OS = {"linux": "linux", "darwin": "macos", "win32": "windows", "cygwin": "windows"}

#: (os, pattern) of paths and file names only one OS has.
_PATHS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "windows",
        lazy_re(r"(?<![\w/])[A-Za-z]:\\(?:[^\\\s\"'<>|]+\\)+|\\site-packages\\|\.dll\b|\.pyd\b"),
    ),
    (
        "macos",
        lazy_re(
            r"(?<![\w.])/Users/\w|/Library/Frameworks/Python\.framework|/opt/homebrew/|\.dylib\b"
            r"|cpython-\d+-darwin\.so"
        ),
    ),
    (
        "linux",
        lazy_re(
            r"(?<![\w.])/home/\w|/usr/(?:local/)?lib/python\d\.\d+/dist-packages"
            r"|-linux-gnu\.so\b|(?<![\w.])/root/|(?<![\w.])/opt/conda/"
        ),
    ),
)
_PATH_PYTHON = lazy_re(
    r"(?:lib/python|Python\.framework/Versions/|[\\/]Python)(?P<major>3)\.?(?P<minor>\d{1,2})\b"
    r"(?:[/\\](?:site|dist)-packages)?"
)
_SO_ARCH = lazy_re(r"cpython-\d+m?-(?P<machine>x86_64|aarch64|ppc64le|s390x)-linux-gnu\.so")

#: Labels of a hand-written list -> the fact they give.
_LABELS = {
    "pytorch version": "torch",
    "torch version": "torch",
    "pytorch": "torch",
    "torch": "torch",
    "torchvision version": "torchvision",
    "torchvision": "torchvision",
    "torchaudio version": "torchaudio",
    "torchaudio": "torchaudio",
    "python version": "python",
    "python": "python",
    "gpu": "gpu",
    "gpus": "gpu",
    "gpu model": "gpu",
    "gpu type": "gpu",
    "graphics card": "gpu",
    "video card": "gpu",
    "driver": "driver",
    "driver version": "driver",
    "nvidia driver": "driver",
    "nvidia driver version": "driver",
    "gpu driver": "driver",
    "os": "os",
    "operating system": "os",
}
_LABEL_LINE = lazy_re(
    r"^(?P<label>[A-Za-z][A-Za-z ]{0,60}?)\**\s*(?:[:：=]|\s{2,})\s*\**\s*(?P<value>\S.*?)\s*$"
)
_VERSION = lazy_re(r"^v?(?P<v>\d+\.\d+(?:\.\d+)?(?:[\w.+]*))\b")
_DRIVER = lazy_re(
    r"\b[Dd]river(?:\s+[Vv]ersion)?\s*[:：]?\s*(?P<d>\d{3}\.\d{1,3}(?:\.\d{1,3})?)\b"
)

#: GPU models named in text, kept as written (with "NVIDIA " before a bare model): NVIDIA
#: GeForce numbers alone (``3060ti``, ``1080 Ti``) only with a Ti/SUPER suffix, written out as
#: the GeForce model they name; data-centre parts only after "NVIDIA" or "Tesla".
_GPU_NAMES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "nvidia",
        lazy_re(
            r"\b(?:NVIDIA\s+)?(?:(?:GeForce|Quadro|TITAN)\s+)?(?:RTX|GTX)\s?-?\d{3,4}"
            r"(?:\s?(?:Ti|TI|ti|SUPER|Super)\b)?(?:\s+(?:Laptop GPU|Ada Generation))?(?![\w.])"
        ),
    ),
    ("nvidia", lazy_re(r"(?<![\w.])(?P<num>[1-5]0[5-9]0)\s?(?P<suf>ti|Ti|TI|super|Super)\b")),
    (
        "nvidia",
        lazy_re(r"\b(?:NVIDIA|Tesla)\s+(?:[ABHLKPTV]\d{1,3}[A-Z]?|GH200|GB200)\b"),
    ),
    (
        "amd",
        lazy_re(
            r"\b(?:AMD\s+)?Radeon\s+(?:RX\s*)?\d{3,4}\s?(?:XTX|XT|GRE)?\b"
            r"|\bRX\s?[4-9]\d{2,3}\s?(?:XTX|XT|GRE)?\b"
            r"|\b(?:AMD\s+)?Instinct\s+MI\d{2,3}\w*"
        ),
    ),
)
_MAC_MODEL = lazy_re(
    r"\b(?:MacBook(?:\s?(?:Pro|Air))?|Mac\s?mini|Mac\s?Studio|iMac|Mac\s?Pro)\b"
)
_APPLE_CHIP = lazy_re(
    r"\bApple\s+M(?P<n>[1-9])(?:\s+(?P<tier>Pro|Max|Ultra))?\b"
    r"|\bM(?P<n2>[1-9])(?:\s+(?P<tier2>Pro|Max|Ultra))?\s+(?:[Cc]hip|Mac|MacBook|[Pp]rocessor)\b"
    r"|\bApple [Ss]ilicon\b"
)
_INTEL_MAC = lazy_re(r"\bIntel(?:-based)?\s+Mac\b|\bMac\b[^.\n]{0,20}?\bx86(?:_64)? CPU\b")
_PROMPT_HOST = lazy_re(r"@(?P<host>[\w.-]*(?:MacBook|MBP|iMac|Mac-mini|Mac-Studio)[\w.-]*)")
_MACOS = lazy_re(
    r"\b(?:macOS|MacOS|Mac OS X|Mac OSX|OS X|OSX)\s+"
    r"(?P<v>(?:1[0-5]|2[6-9])(?:\.\d+){0,2})(?![\d.]*\+)"
    r"(?:\s*\((?P<arch>ARM64|arm64|x86_64|Intel)\))?"
)
_NOT_THIS_MAC = lazy_re(r"(?:built for|supported on|requires?|needs?|than)\s*$", re.IGNORECASE)
_WINDOWS = lazy_re(r"\bwin(?:dows)?\s?(?:1[01]|7|8(?:\.1)?)\b", re.IGNORECASE)
_DISTRO = lazy_re(
    r"\b(?P<d>Ubuntu|Debian|CentOS|Fedora|Arch Linux|Rocky Linux|RHEL|openSUSE|Linux Mint)"
    r"\s?(?P<v>\d{2}\.?\d{2}(?:\.\d+)?|\d+(?:\.\d+)?)?"
)


def gpu_name(vendor: str, m: re.Match[str]) -> str:
    """The model a match names: as written, after "NVIDIA " where no vendor word is; a bare
    GeForce number (``3060ti``) written out (``NVIDIA GeForce RTX 3060 Ti``)."""
    g = m.groupdict()
    if g.get("num"):
        num, suf = g["num"], g["suf"].lower()
        series = "GTX" if num.startswith("1") else "RTX"
        return f"NVIDIA GeForce {series} {num}" + (" Ti" if suf == "ti" else " SUPER")
    text = re.sub(r"\s+", " ", m.group().strip())
    if vendor == "nvidia" and not re.match(r"(?i)nvidia|tesla", text):
        text = f"NVIDIA {text}"
    return text


def _os_votes(capture: Capture) -> dict[str, str]:
    """OS -> the first line whose paths or names only that OS has."""
    votes: dict[str, str] = {}
    for line in capture.plain:
        for os_name, pattern in _PATHS:
            if os_name not in votes and pattern.search(line):
                votes[os_name] = line
    return votes


def _scan(capture: Capture) -> Observation:
    obs = Observation(kind="paste context")
    platform, ev = obs.platform, obs.evidence
    text, starts = joined(capture)

    def put(section: dict[str, Any], prefix: str, key: str, value: Any, line: str) -> None:
        if value is not None and key not in section:
            section[key] = value
            ev[f"{prefix}.{key}"] = line

    # -- Python's banner
    for m in _BANNER.finditer(text):
        line = match_line(capture, starts, m)
        put(platform, "platform", "python_version", m["v"], line)
        put(platform, "platform", "os", _BANNER_OS[m["os"]], line)
    for m in _MSC.finditer(text):
        line = match_line(capture, starts, m)
        put(platform, "platform", "python_version", m["v"], line)
        put(platform, "platform", "os", "windows", line)
        put(platform, "platform", "machine", m["arch"], line)

    # -- platform.platform() strings inside a sentence ("I have a MacBook M1
    # (macOS-12.7.6-arm64-arm-64bit)"); a line holding only one is the platform kind's
    for line in capture.plain:
        for m in _PLATFORM_STRING.finditer(line):
            facts, more = platform_facts(m.group())
            for key, value in facts.items():
                put(platform, "platform", key, value, line)
            obs.notes.extend(more)

    # -- paths
    votes = _os_votes(capture)
    if len(votes) == 1:
        ((os_name, line),) = votes.items()
        put(platform, "platform", "os", os_name, line)
    elif len(votes) > 1:
        obs.notes.append(
            f"the paste holds paths of {' and '.join(sorted(votes))}: its OS is not taken from them"
        )
    for line in capture.plain:
        if m := _SO_ARCH.search(line):
            put(platform, "platform", "machine", m["machine"], line)
        if m := _PATH_PYTHON.search(line):
            put(platform, "platform", "python_version", f"{m['major']}.{m['minor']}", line)

    # -- labelled lines (value on the line, or alone on the next one)
    lines = [ln for ln in capture.plain]
    gpus_named: dict[str, tuple[str, str]] = {}
    for i, line in enumerate(lines):
        label = value = None
        if m := _LABEL_LINE.match(line):
            label, value = m["label"].strip().lower(), m["value"]
        elif line.strip().lower() in _LABELS and i + 1 < len(lines) and lines[i + 1]:
            label, value = line.strip().lower(), lines[i + 1]
        fact = _LABELS.get(label or "")
        if (
            fact is None
            and label
            and re.search(r"\b(?:py)?torch\b", label)
            and re.search(r"\bversion\b|\binstalled\b", label)
        ):  # "The version of pytorch installed on my computer: torch==1.8.1+rocm4.0.1"
            fact = "torch"
            value = re.sub(r"^(?:py)?torch\s*={1,3}\s*", "", value or "")
        if fact is None or value is None:
            pass
        elif fact in ("torch", "torchvision", "torchaudio"):
            if v := _VERSION.match(value.strip("`'\" ")):
                key = "version" if fact == "torch" else fact
                put(obs.torch, "torch", key, v["v"], line)
        elif fact == "python":
            if v := re.match(r"^(\d+\.\d+(?:\.\d+)?)\b", value.strip("`'\" ")):
                put(platform, "platform", "python_version", v[1], line)
        elif fact == "driver":
            if v := re.match(r"^(\d{3}\.\d{1,3}(?:\.\d{1,3})?)\b", value):
                put(obs.nvidia, "nvidia", "driver_version", v[1], line)
        if m := _DRIVER.search(line):
            put(obs.nvidia, "nvidia", "driver_version", m["d"], line)
        for vendor, pattern in _GPU_NAMES:
            for g in pattern.finditer(line):
                if line[g.end() :].lstrip().startswith(("...", "…", "/")):
                    continue  # a name nvidia-smi cut short is not this model's whole name
                gpus_named.setdefault(gpu_name(vendor, g), (vendor, line))

    if len(gpus_named) == 1:
        ((name, (vendor, line)),) = gpus_named.items()
        obs.gpus.append({"vendor": vendor, "name": name})
        ev["gpus.0.name"] = line
    elif len(gpus_named) > 1:
        obs.notes.append(
            "the text names several GPU models ("
            + ", ".join(sorted(gpus_named))
            + "): none is taken as this machine's"
        )

    # -- hardware and OS named in the text
    for line in capture.plain:
        if m := _APPLE_CHIP.search(line):
            n, tier = m["n"] or m["n2"], m["tier"] or m["tier2"]
            put(platform, "platform", "os", "macos", line)
            put(obs.apple, "apple", "apple_silicon", True, line)
            if n:
                put(obs.apple, "apple", "chip", f"Apple M{n}" + (f" {tier}" if tier else ""), line)
        if _INTEL_MAC.search(line):
            put(platform, "platform", "os", "macos", line)
            put(obs.apple, "apple", "apple_silicon", False, line)
        if _MAC_MODEL.search(line) or _PROMPT_HOST.search(line):
            put(platform, "platform", "os", "macos", line)
        for m in _MACOS.finditer(line):
            if _NOT_THIS_MAC.search(line[: m.start()]):
                continue
            put(platform, "platform", "os", "macos", line)
            if platform.get("os") == "macos":
                put(platform, "platform", "macos_version", m["v"], line)
                if m["arch"]:
                    machine = "x86_64" if m["arch"] in ("x86_64", "Intel") else "arm64"
                    put(platform, "platform", "machine", machine, line)
        if (m := _DISTRO.search(line)) and not re.search(r"(?i)gcc|clang|compiler", line):
            put(platform, "platform", "os", "linux", line)
            if platform.get("os") == "linux":
                version = m["v"] or ""
                if re.fullmatch(r"\d{4}", version):  # "Ubuntu1804"
                    version = f"{version[:2]}.{version[2:]}"
                put(platform, "platform", "distro", f"{m['d']} {version}".strip(), line)
        if _WINDOWS.search(line) and not any(p.search(line) for _, p in _PATHS[1:]):
            put(platform, "platform", "os", "windows", line)

    _finish(obs)
    return obs


def _finish(obs: Observation) -> None:
    from .apple import derive_apple, subdir_for

    platform = obs.platform
    derive_apple(platform, obs.apple, obs.notes, what="this Python")
    if "subdir" not in platform and (sd := subdir_for(platform.get("os"), platform.get("machine"))):
        platform["subdir"] = sd
        obs.evidence["platform.subdir"] = obs.evidence.get("platform.machine", "")


KINDS: tuple[Kind, ...] = (Kind("paste context", None, _scan, rank=90, lenient=True),)
