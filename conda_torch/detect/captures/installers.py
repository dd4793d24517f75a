"""What installers say in a paste: the commands run (``pip install … --index-url …/cu118``,
``conda install … -c pytorch``, ``mamba create … conda-forge::pytorch pytorch::torchvision``,
``uv add``) and why they failed (pip's ``No matching distribution found for torch==2.3.0 (from
versions: …)``, uv's ``doesn't have a source distribution or wheel for the current platform``
with its ``You're on macOS (`macosx_15_0_arm64`)`` hint, Poetry's ``Unable to find installation
candidates``, conda's ``PackagesNotFoundError`` with the channels it searched, a wheel pip calls
``not a supported wheel on this platform``).

Each becomes an event in ``Observation.events``. The platform an installer names is a fact: a
wheel tag uv says you are on, the subdir of the conda channels searched, the tag of a wheel pip
downloaded (pip downloads only wheels that install here).
"""

from __future__ import annotations

import re
import shlex

from ...machine import Observation
from .capture import Kind, compile_table, lazy_re, message_events

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from typing import Any

    from .capture import Capture

_REQ = r"[A-Za-z0-9][\w.-]*(?:\[[^\]]*\])?(?:\s*(?:===|==|>=|<=|~=|!=|<|>)\s*[\w.*+!-]+)?"

#: (event id, pattern) over the joined text.
FAILURES: tuple[tuple[str, re.Pattern[str]], ...] = compile_table(
    (
        (
            "pip_no_match",
            (
                rf"Could not find a version that satisfies the requirement (?P<requirement>{_REQ})"
                r"(?:\s*\(from versions:\s*(?P<versions>[^)]*)\))?"
            ),
        ),
        ("pip_no_distribution", rf"No matching distribution found for (?P<requirement>{_REQ})"),
        (
            "pip_unsupported_wheel",
            r"(?P<wheel>[\w.+%-]+\.whl) is not a supported wheel on this platform",
        ),
        (
            "uv_no_wheel",
            (
                r"Distribution `(?P<requirement>[^`@ ]+)(?: @ (?P<index>[^`]+))?` can't be "
                r"installed because it doesn't have a source distribution or wheel for the "
                r"current platform"
            ),
        ),
        (
            "uv_platform_hint",
            (
                r"You're on (?P<os>macOS|Linux|Windows) \(`(?P<tag>[^`]+)`\), but "
                r"`(?P<package>[^`]+)`"
                r" \(v(?P<version>[^)]+)\) only has wheels for(?: the following platforms?)?[:.…]*"
                r"(?P<tags>(?:\s*,?\s*`[\w.-]+`)*)"
            ),
        ),
        (
            "uv_no_matching_tag",
            (
                r"(?P<package>[\w.-]+)(?:\{[^}]*\})?==(?P<version>[\w.+]+) has no wheels with a "
                r"matching platform tag \(e\.g\., `(?P<tag>[^`]+)`\)"
            ),
        ),
        (
            "uv_wheels_available",
            (
                r"Wheels are available for `(?P<package>[^`]+)` \(v(?P<version>[^)]+)\) on the "
                r"following platforms?:?(?P<tags>(?:\s*,?\s*`[\w.-]+`)*)"
            ),
        ),
        (
            "poetry_no_candidates",
            (
                r"Unable to find installation candidates for (?P<package>[\w.-]+) "
                r"\((?P<version>[^)]+)\)"
            ),
        ),
        (
            "abi_tags_skipped",
            (
                r"wheel\(s\) were skipped as your project's environment does not support the "
                r"identified abi tags"
            ),
        ),
        (
            "conda_not_found",
            (
                r"PackagesNotFoundError: The following packages are not available from current "
                r"channels:?\s*(?P<packages>[\w.=<>*!\s-]{1,300}?)"
                r"(?:\s+Current channels:(?P<channels>(?:\s*-?\s*https?://\S+)+)|\s{2,}|$)"
            ),
        ),
        (
            "conda_needs_virtual",
            r"nothing provides (?:requested )?(?P<virtual>__cuda|__osx|__glibc)(?P<spec>[^\s,]*)",
        ),
    )
)

#: Where a command starts, inside a line or a backtick span.
_COMMAND = lazy_re(
    r"(?:^|`|^.*?[$#%>]\s+)(?P<cmd>(?:python[\d.]*\s+-m\s+)?pip3?\s+install"
    r"|uv\s+(?:pip\s+install|add|sync)|(?:conda|mamba|micromamba)\s+(?:install|create))\b"
    r"(?P<args>[^`\n]*)"
)
#: A PyTorch wheel index: ``https://download.pytorch.org/whl/cu118``, ``…/whl/nightly/rocm6.2``.
_INDEX_VARIANT = lazy_re(
    r"download\.pytorch\.org/whl/(?:nightly/|test/)?(?P<variant>cu\d+|rocm[\d.]+|cpu|xpu)\b"
)
_CONDA_CHANNEL_URL = lazy_re(
    r"https?://conda\.anaconda\.org/(?P<channel>[\w.-]+)/(?P<subdir>(?:linux|osx|win)-[\w]+)"
)
_DOWNLOADED_WHEEL = lazy_re(
    r"^(?:Downloading|Using cached)\s+(?:\S*/)?(?P<name>[\w.]+)-(?P<version>[\w.+%!]+)-"
    r"(?P<python>c?p\d+|py\d)-\w+-(?P<tag>[\w.]+)\.whl"
)


def platform_from_tag(tag: str) -> dict[str, Any]:
    """Platform facts (``PlatformInfo`` names) of a wheel platform tag: ``macosx_15_0_arm64``,
    ``manylinux_2_28_x86_64``, ``linux_x86_64``, ``win_amd64``. ``{}`` for ``any``."""
    from .apple import subdir_for

    facts: dict[str, Any] = {}
    if m := re.match(r"^macosx_(\d+)_(\d+)_(\w+)$", tag):
        machine = {"universal2": None, "intel": "x86_64"}.get(m[3], m[3])
        facts.update(os="macos", macos_version=f"{m[1]}.{m[2]}", machine=machine)
    elif m := re.match(r"^(?:many|musl)?linux(?:\d+|_\d+_\d+)?_(\w+)$", tag):
        facts.update(os="linux", machine=m[1])
    elif m := re.match(r"^win_(\w+)$", tag):
        facts.update(os="windows", machine={"amd64": "AMD64", "arm64": "ARM64"}.get(m[1], m[1]))
    facts = {k: v for k, v in facts.items() if v}
    if subdir := subdir_for(facts.get("os"), facts.get("machine")):
        facts["subdir"] = subdir
    return facts


def _tags(text: str | None) -> list[str]:
    return re.findall(r"`([^`]+)`", text or "")


def _words(args: str) -> list[str]:
    try:
        return shlex.split(args, posix=True)
    except ValueError:
        return args.split()


def command(cmd: str, args: str) -> dict[str, Any]:
    """An install command's tool, requested packages (name -> spec), index, channels and what
    CUDA it asks for."""
    tool = (
        "conda"
        if cmd.split()[0] in ("conda", "mamba", "micromamba")
        else ("uv" if cmd.startswith("uv") else "pip")
    )
    words = _words(args)
    specs: list[str] = []
    channels: list[str] = []
    index: str | None = None
    i = 0
    while i < len(words):
        w = words[i]
        takes = {"-c", "--channel", "-n", "--name", "-p", "--prefix", "-i", "--index-url",
                 "--extra-index-url", "-f", "--find-links", "-r", "--requirement", "--file",
                 "--python", "--index", "--default-index"}  # fmt: skip
        if w in takes and i + 1 < len(words):
            value = words[i + 1]
            if w in ("-c", "--channel"):
                channels.append(value)
            elif w in (
                "-i",
                "--index-url",
                "--extra-index-url",
                "-f",
                "--find-links",
                "--index",
                "--default-index",
            ):
                index = index or value
            i += 2
            continue
        if w.startswith("--index-url=") or w.startswith("--extra-index-url="):
            index = index or w.split("=", 1)[1]
        elif (
            not w.startswith("-") and re.match(r"^[\w.'\"]", w) and not w.startswith(("http", "/"))
        ):
            specs.append(w.strip("'\""))
        i += 1
    packages: dict[str, str] = {}
    spec_channels: dict[str, str] = {}
    for spec in specs:
        chan, sep, rest = spec.partition("::")
        if not sep:
            chan, rest = "", spec
        name = re.split(r"[=<>!~\[ ]", rest, maxsplit=1)[0].lower()
        if not name:
            continue
        packages[name] = rest
        if sep:
            spec_channels[name] = chan
    wants = None
    if index and (m := _INDEX_VARIANT.search(index)):
        wants = m["variant"]
    for spec in packages.values():
        if m := re.search(r"\+(cu\d+|rocm[\d.]+|cpu)\b", spec):
            wants = wants or m[1]
    for name in ("pytorch-cuda", "cudatoolkit", "cuda-version", "pytorch-gpu"):
        if name in packages:
            v = re.search(r"[=<>]+\s*(\d+(?:\.\d+)?)", packages[name])
            wants = wants or ("cuda" + (f"={v[1]}" if v else ""))
    if any(re.search(r"=\*?cuda|cuda\*", s) for s in packages.values()):
        wants = wants or "cuda"
    return {
        "tool": tool,
        "packages": packages,
        "channels": channels,
        "spec_channels": spec_channels,
        "index": index,
        "wants": wants,
    }


def scan(capture: Capture) -> list[dict[str, Any]]:
    events = message_events(capture, FAILURES)
    for line in capture.plain:
        for m in _COMMAND.finditer(line):
            cmd = command(m["cmd"], m["args"])
            if cmd["packages"] or cmd["index"]:
                events.append({"id": "install_command", "line": line, **cmd})
        if m := _DOWNLOADED_WHEEL.match(line):
            events.append({"id": "wheel_downloaded", "line": line, **m.groupdict()})
    return events


def _put(obs: Observation, facts: dict[str, Any], line: str) -> None:
    for key, value in facts.items():
        if key not in obs.platform:
            obs.platform[key] = value
            obs.evidence[f"platform.{key}"] = line


def _parse(capture: Capture) -> Observation:
    obs = Observation(kind="installer output")
    obs.events = scan(capture)
    for e in obs.events:
        if e["id"] == "uv_platform_hint":
            e["tags"] = _tags(e.get("tags"))
            _put(obs, platform_from_tag(e["tag"]), e["line"])
        elif e["id"] == "uv_no_matching_tag":
            _put(obs, platform_from_tag(e["tag"]), e["line"])
        elif e["id"] == "uv_wheels_available":
            e["tags"] = _tags(e.get("tags"))
        elif e["id"] == "conda_not_found":
            e["packages"] = re.findall(r"[\w.][\w.=<>*!-]*", e.get("packages", ""))
            urls = e.get("channels", "")
            subdirs = {m["subdir"] for m in _CONDA_CHANNEL_URL.finditer(urls)}
            e["channels"] = sorted({m["channel"] for m in _CONDA_CHANNEL_URL.finditer(urls)})
            if len(subdirs) == 1:
                subdir = subdirs.pop()
                e["subdir"] = subdir
                os_name = {"linux": "linux", "osx": "macos", "win": "windows"}[subdir.split("-")[0]]
                _put(obs, {"subdir": subdir, "os": os_name}, e["line"])
        elif e["id"] == "wheel_downloaded":
            _put(obs, platform_from_tag(e["tag"].split(".")[0]), e["line"])
            if m := re.match(r"^c?p(\d)(\d+)$", e["python"]):
                _put(obs, {"python_version": f"{m[1]}.{m[2]}"}, e["line"])
        elif e["id"] in ("pip_no_match",) and e.get("versions") is not None:
            e["versions"] = [
                v.strip() for v in e["versions"].split(",") if v.strip() and v.strip() != "none"
            ]
    return obs


KINDS: tuple[Kind, ...] = (Kind("installer output", None, _parse, rank=50, lenient=True),)
