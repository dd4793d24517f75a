"""What torch and the driver libraries report at run time, as captured by two probes.

* ``torch runtime``: one ``key value`` line per fact (``torch 2.11.0+cu130 cuda 13.0 ...``,
  ``capability (9, 0) name ...``, ``arch_list [...]``), as printed by a short torch script.
* ``CUDA_VISIBLE_DEVICES probe``: one JSON object per line, each the answers of libcuda
  (``cuInit``, ``cuDriverGetVersion``, ``cuDeviceGetCount``), NVML and torch under one value of
  ``CUDA_VISIBLE_DEVICES`` (``null`` = unset). Facts come from the unset line (or the first);
  the other lines become notes on what the variable hides.
"""

from __future__ import annotations

import json

from ...machine import Observation
from .capture import Kind, lazy_re

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from typing import Any

    from .capture import Capture

# -- torch runtime -----------------------------------------------------------------------

_TORCH = lazy_re(
    r"^torch\s+(?P<version>\d\S*)(?:\s+cuda\s+(?P<cuda>\S+))?(?:\s+hip\s+(?P<hip>\S+))?"
)
_VISION = lazy_re(r"^(?:torchvision\s+(?P<vision>\S+))?\s*(?:torchaudio\s+(?P<audio>\S+))?\s*$")
_AVAILABLE = lazy_re(r"^is_available\s+(?P<avail>True|False)(?:\s+count\s+(?P<count>\d+))?")
_CAPABILITY = lazy_re(
    r"^capability\s+\((?P<major>\d+),\s*(?P<minor>\d+)\)(?:\s+name\s+(?P<name>.+?))?\s*$"
)
_ARCH_LIST = lazy_re(r"^arch_list\s+(?P<list>\[.*\])\s*$")
_FILE = lazy_re(r"^file\s+\S*/python(?P<py>\d+\.\d+)/(?:site|dist)-packages/torch/")
_HIDDEN = lazy_re(
    r"^CUDA_VISIBLE_DEVICES\s+(?P<value>empty|\S+)\s*->\s*is_available\s+(?P<avail>True|False)"
)


def _recognise_runtime(capture: Capture) -> bool:
    lines = [ln.strip() for ln in capture.lines]
    return any(_TORCH.match(ln) for ln in lines) and any(
        _ARCH_LIST.match(ln) or _CAPABILITY.match(ln) or _AVAILABLE.match(ln) for ln in lines
    )


def _parse_runtime(capture: Capture) -> Observation:
    obs = Observation(kind="torch runtime")
    torch = obs.torch
    for line in (ln.strip() for ln in capture.lines):
        if (m := _TORCH.match(line)) and "version" not in torch:
            torch["version"] = m["version"]
            if m["cuda"] and m["cuda"] != "None":
                torch["cuda"] = m["cuda"]
            if m["hip"] and m["hip"] != "None":
                torch["rocm"] = m["hip"]
        elif line.startswith(("torchvision", "torchaudio")) and (m := _VISION.match(line)):
            if m["vision"]:
                torch.setdefault("torchvision", m["vision"])
            if m["audio"]:
                torch.setdefault("torchaudio", m["audio"])
        elif m := _AVAILABLE.match(line):
            torch.setdefault("cuda_available", m["avail"] == "True")
        elif m := _CAPABILITY.match(line):
            gpu: dict[str, Any] = {
                "vendor": "nvidia",
                "index": 0,
                "compute_capability": f"{m['major']}.{m['minor']}",
            }
            if m["name"]:
                gpu["name"] = m["name"]
            obs.gpus.append(gpu)
        elif m := _ARCH_LIST.match(line):
            import ast  # here: every --from imports this parser, few inputs need ast

            try:
                arches = ast.literal_eval(m["list"])
            except (ValueError, SyntaxError):
                arches = None
            if isinstance(arches, list) and all(isinstance(a, str) for a in arches):
                torch["arch_list"] = tuple(arches)
        elif m := _FILE.match(line):
            torch.setdefault("python_version", m["py"])
        elif m := _HIDDEN.match(line):
            value = "" if m["value"] == "empty" else m["value"]
            if m["avail"] == "False":
                obs.notes.append(
                    f'with CUDA_VISIBLE_DEVICES="{value}" torch.cuda.is_available() is False: '
                    "the variable hides the GPU from libcuda and torch"
                )
    return obs


# -- CUDA_VISIBLE_DEVICES probe ----------------------------------------------------------


def _rows(capture: Capture) -> list[dict[str, Any]]:
    rows = []
    for line in capture.lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if (
            isinstance(row, dict)
            and "CUDA_VISIBLE_DEVICES" in row
            and ("libcuda" in row or "nvml" in row)
        ):
            rows.append(row)
    return rows


def _recognise_visible(capture: Capture) -> bool:
    return bool(_rows(capture))


def _cuda_from_int(value: Any) -> str | None:
    """CUDA's integer version, as ``cuDriverGetVersion`` gives it (13000) -> "13.0"."""
    if isinstance(value, int) and value > 0:
        return f"{value // 1000}.{(value % 1000) // 10}"
    return None


def _parse_visible(capture: Capture) -> Observation:
    obs = Observation(kind="CUDA_VISIBLE_DEVICES probe")
    rows = _rows(capture)
    if not rows:
        return obs
    base = next((r for r in rows if r.get("CUDA_VISIBLE_DEVICES") is None), rows[0])
    libcuda = base.get("libcuda") or {}
    nvml = base.get("nvml") or {}
    torch = base.get("torch") or {}
    if base.get("CUDA_VISIBLE_DEVICES") is not None:
        obs.nvidia["cuda_visible_devices"] = str(base["CUDA_VISIBLE_DEVICES"])
    cuda = _cuda_from_int(libcuda.get("driver_cuda")) or _cuda_from_int(nvml.get("cuda"))
    if cuda:
        obs.nvidia["cuda_version"] = cuda
    if isinstance(nvml.get("driver"), str):
        obs.nvidia["driver_version"] = nvml["driver"]
    if isinstance(nvml.get("count"), int):
        obs.gpus.extend({"vendor": "nvidia", "index": i} for i in range(nvml["count"]))
    if isinstance(torch.get("available"), bool):
        obs.torch["cuda_available"] = torch["available"]
    for row in rows:
        value = row.get("CUDA_VISIBLE_DEVICES")
        if value is None:
            continue
        lc = row.get("libcuda") or {}
        nv = row.get("nvml") or {}
        tc = row.get("torch") or {}
        if lc.get("count") == 0 and isinstance(nv.get("count"), int) and nv["count"] > 0:
            obs.notes.append(
                f'CUDA_VISIBLE_DEVICES="{value}" hides the GPU from libcuda/torch '
                f"(cuInit returns {lc.get('cuInit')}, 0 devices"
                + (", torch.cuda.is_available() False" if tc.get("available") is False else "")
                + f") while NVML still sees {nv['count']}"
            )
    return obs


KINDS: tuple[Kind, ...] = (
    Kind("torch runtime", _recognise_runtime, _parse_runtime, rank=35),
    Kind("CUDA_VISIBLE_DEVICES probe", _recognise_visible, _parse_visible, rank=35),
)
