"""``conda info`` (text) and ``conda info --json`` captures.

conda's virtual packages are read as conda reported them (``__cuda=12.0=0`` and the old
``__cuda=10.0`` form both give ``{"__cuda": "12.0"}``). ``__cuda`` is conda's reading of the
newest CUDA the driver supports, so it becomes ``nvidia.cuda_version``; ``__glibc`` gives
``platform.glibc`` and ``__osx`` the macOS version (except ``10.16``, the compatibility
version an old-SDK Python sees on macOS 11 or later). The subdir is the ``platform`` line, or,
where a capture lacks it, the one subdir that every channel URL names.

JSON that does not load (cut by a paste, or mixed with other text) is scanned as text, with the
error code ``platform.conda_info_json_invalid`` and a note.
"""

from __future__ import annotations

import json
import re

from ...machine import Observation
from .apple import darwin_major, derive_apple, macos_compat_note
from .capture import Kind, lazy_re

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from typing import Any

    from .capture import Capture

_KEY = lazy_re(r"^\s*(?P<key>[A-Za-z][\w .:/-]*?)\s+:\s?(?P<value>.*?)\s*$")
_CONT = lazy_re(r"^\s+(?P<value>\S.*?)\s*$")
_VPKG = lazy_re(r"^(?P<name>__\w+)=(?P<version>[^=\s]+)(?:=(?P<build>\S+))?$")
_CHANNEL_SUBDIR = lazy_re(r"/(?P<subdir>(?:linux|osx|win|freebsd|zos)-[\w]+)/?$")

#: Keys of the text report; a capture needs several of them to be one.
_TEXT_KEYS = {
    "active environment",
    "shell level",
    "user config file",
    "populated config files",
    "conda version",
    "conda-build version",
    "python version",
    "virtual packages",
    "base environment",
    "channel URLs",
    "package cache",
    "envs directories",
    "platform",
    "user-agent",
    "UID:GID",
    "netrc file",
    "offline mode",
}

#: ``__archspec`` builds that name a machine outright (others name a microarchitecture).
_ARCHSPEC_MACHINE = {
    "x86_64": "x86_64",
    "arm64": "arm64",
    "aarch64": "aarch64",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
}

_OS_BY_SUBDIR = {"linux": "linux", "osx": "macos", "win": "windows", "freebsd": "freebsd"}


# -- reading -----------------------------------------------------------------------------


def _text_fields(capture: Capture) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in capture.lines:
        if (m := _KEY.match(line)) and m["key"].strip() in _TEXT_KEYS:
            current = fields.setdefault(m["key"].strip(), [])
            if m["value"]:
                current.append(m["value"])
        elif current is not None and (c := _CONT.match(line)) and " : " not in line:
            current.append(c["value"])
        else:
            current = None
    return fields


# -- facts -------------------------------------------------------------------------------


def _facts(
    obs: Observation,
    *,
    subdir: str | None,
    conda_version: str | None,
    vpkgs: dict[str, str] | None,
    channels: list[str],
    user_agent: str | None,
    archspec: str | None,
) -> None:
    platform: dict[str, Any] = {}
    apple: dict[str, Any] = {}
    notes: list[str] = []
    if not subdir:
        subdirs = {m["subdir"] for url in channels if (m := _CHANNEL_SUBDIR.search(url.strip()))}
        if len(subdirs) == 1:
            subdir = subdirs.pop()
            notes.append(
                f"platform {subdir} is read from conda's channel URLs "
                "(no platform line in this capture)"
            )
    if subdir:
        platform["subdir"] = subdir
        platform["os"] = _OS_BY_SUBDIR.get(subdir.split("-")[0])
    if conda_version:
        platform["conda_version"] = conda_version
    if vpkgs is not None:
        platform["virtual_packages"] = dict(vpkgs)
        if "__cuda" in vpkgs:
            obs.nvidia["cuda_version"] = vpkgs["__cuda"]
        if "__glibc" in vpkgs:
            platform["glibc"] = vpkgs["__glibc"]
        if "__osx" in vpkgs:
            if vpkgs["__osx"] == "10.16":
                notes.append(macos_compat_note("10.16"))
            else:
                platform["macos_version"] = vpkgs["__osx"]
        if "__linux" in vpkgs:
            platform.setdefault("os", "linux")
        if "__win" in vpkgs:
            platform.setdefault("os", "windows")
    if user_agent:
        tokens = dict(t.split("/", 1) for t in user_agent.split() if "/" in t)
        for system in ("Linux", "Darwin"):
            if system in tokens:
                platform["kernel"] = tokens[system]
        for distro in (
            "ubuntu",
            "debian",
            "centos",
            "rhel",
            "fedora",
            "rocky",
            "almalinux",
            "opensuse",
            "sles",
            "amzn",
            "arch",
            "alpine",
        ):
            if distro in tokens:
                platform["distro"] = f"{distro} {tokens[distro]}"
        if "glibc" in tokens and re.match(r"^\d+\.\d+$", tokens["glibc"]):
            platform.setdefault("glibc", tokens["glibc"])
        if tokens.get("OSX") and tokens["OSX"] != "10.16":
            platform.setdefault("macos_version", tokens["OSX"])
    if archspec:
        machine = _ARCHSPEC_MACHINE.get(archspec) or (
            "arm64" if re.fullmatch(r"m\d+", archspec) else None
        )
        if machine == "aarch64" and platform.get("os") == "macos":
            machine = "arm64"
        if machine:
            platform["machine"] = machine
    derive_apple(platform, apple, notes, what="this conda")
    darwin = darwin_major(platform.get("kernel"))
    if subdir == "osx-64" and darwin is not None and darwin >= 20 and apple.get("rosetta") is None:
        notes.append(
            f"conda is osx-64 on macOS 11 or later (Darwin {platform['kernel']}): if this Mac has "
            "Apple Silicon, this conda runs under Rosetta 2 and an osx-arm64 conda would be native "
            "(`sysctl -n machdep.cpu.brand_string` tells)"
        )
    obs.platform.update({k: v for k, v in platform.items() if v is not None})
    obs.apple.update(apple)
    obs.notes.extend(n for n in notes if n not in obs.notes)


def _vpkgs_from_strings(items: list[str]) -> tuple[dict[str, str], str | None]:
    """``{name: version}`` and the ``__archspec`` build (its machine/microarchitecture)."""
    out: dict[str, str] = {}
    archspec = None
    for item in items:
        for word in item.split():
            if m := _VPKG.match(word):
                out.setdefault(m["name"], m["version"])
                if m["name"] == "__archspec" and m["build"]:
                    archspec = m["build"]
    return out, archspec


# -- kinds -------------------------------------------------------------------------------


def _recognise_text(capture: Capture) -> bool:
    keys = {m["key"].strip() for ln in capture.lines if (m := _KEY.match(ln))}
    return len(keys & _TEXT_KEYS) >= 4 and ("conda version" in keys or "virtual packages" in keys)


def _parse_text(capture: Capture) -> Observation:
    obs = Observation(kind="conda info")
    fields = _text_fields(capture)

    def first(key: str) -> str | None:
        values = fields.get(key) or []
        return values[0] if values else None

    vpkgs, archspec = (
        _vpkgs_from_strings(fields["virtual packages"])
        if "virtual packages" in fields
        else (None, None)
    )
    _facts(
        obs,
        subdir=first("platform"),
        conda_version=first("conda version"),
        vpkgs=vpkgs,
        channels=fields.get("channel URLs", []),
        user_agent=first("user-agent"),
        archspec=archspec,
    )
    return obs


_JSON_STR = r'"(?P<v>(?:[^"\\]|\\.)*)"'


def _recognise_json(capture: Capture) -> bool:
    text = "\n".join(capture.lines)
    return bool(re.search(r"^\s*\{", text, re.M)) and bool(
        re.search(r'"(conda_version|virtual_pkgs|channels|conda_prefix|root_prefix)"\s*:', text)
    )


def _parse_json(capture: Capture) -> Observation:
    obs = Observation(kind="conda info --json")
    text = "\n".join(capture.lines)
    start = text.find("{")
    data: Any = None
    try:
        data = json.loads(text[start:])
    except ValueError:
        # A paste may add text after the document: try up to its last closing brace.
        end = text.rfind("}")
        try:
            data = json.loads(text[start : end + 1]) if end > start else None
        except ValueError:
            data = None
    if isinstance(data, dict):
        vpkgs = None
        archspec = None
        if isinstance(data.get("virtual_pkgs"), list):
            items = [p for p in data["virtual_pkgs"] if isinstance(p, list) and len(p) >= 2]
            vpkgs = {str(p[0]): str(p[1]) for p in items}
            archspec = next(
                (str(p[2]) for p in items if p[0] == "__archspec" and len(p) >= 3), None
            )
        _facts(
            obs,
            subdir=data.get("platform") if isinstance(data.get("platform"), str) else None,
            conda_version=data.get("conda_version")
            if isinstance(data.get("conda_version"), str)
            else None,
            vpkgs=vpkgs,
            channels=[c for c in data.get("channels") or [] if isinstance(c, str)],
            user_agent=data.get("user_agent") if isinstance(data.get("user_agent"), str) else None,
            archspec=archspec,
        )
        return obs
    obs.errors.append("platform.conda_info_json_invalid")
    obs.notes.append(
        "this conda info --json output does not load as JSON (cut or mixed with other text); "
        "read what it shows"
    )

    def scalar(key: str) -> str | None:
        m = re.search(rf'"{key}"\s*:\s*{_JSON_STR}', text)
        return m["v"] if m else None

    channels: list[str] = []
    if m := re.search(r'"channels"\s*:\s*\[(?P<body>[^\]]*)', text):
        channels = re.findall(r'"([^"]+)"', m["body"])
    vpkgs = None
    archspec = None
    if m := re.search(r'"virtual_pkgs"\s*:\s*\[(?P<body>.*?)\]\s*\]', text, re.S):
        triples = re.findall(r'\[\s*"(__\w+)"\s*,\s*"([^"]*)"(?:\s*,\s*"([^"]*)")?', m["body"])
        vpkgs = {n: v for n, v, _ in triples}
        archspec = next((b for n, _, b in triples if n == "__archspec" and b), None)
    _facts(
        obs,
        subdir=scalar("platform"),
        conda_version=scalar("conda_version"),
        vpkgs=vpkgs,
        channels=channels,
        user_agent=scalar("user_agent"),
        archspec=archspec,
    )
    return obs


KINDS: tuple[Kind, ...] = (
    Kind("conda info --json", _recognise_json, _parse_json, rank=44),
    Kind("conda info", _recognise_text, _parse_text, rank=45),
)
