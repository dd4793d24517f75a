"""What torch itself says in a paste: its warnings and errors, values printed in a REPL, and the
start-up banners of applications that print torch's version and device.

The messages are torch's, CUDA's and HIP's own wording, found anywhere in a line (after
``UserWarning:``, inside prose, wrapped over lines: the text is read joined). Each message
becomes an event in ``Observation.events`` (``id``, ``line`` and what it names); the facts a
message states go into the observation:

* ``NVIDIA GeForce RTX 5090 with CUDA capability sm_120 is not compatible with the current
  PyTorch installation.`` -> a GPU and its compute capability;
* ``The current PyTorch install supports CUDA capabilities sm_50 … compute_37.`` -> the build's
  architectures (``torch.arch_list``);
* ``The NVIDIA driver on your system is too old (found version 11040)`` -> the newest CUDA the
  driver supports (11.4: the number is ``cudaDriverGetVersion``'s);
* ``torch.__version__``, ``torch.version.cuda``, ``torch.version.hip``,
  ``torch.cuda.is_available()``, ``torch.cuda.get_arch_list()``, ``get_device_name()``,
  ``get_device_capability()``, ``device_count()`` with the value printed after them (``>>>``,
  ``In [1]:``/``Out[1]:``, ``print(...)`` and its output line, ``expr: value``, ``# returns``);
* ``… torch-2.0.0+cpu CPU`` / ``torch 1.10.0+cu113 CUDA:0 (Tesla T4, 15110MiB)`` (the banner
  Ultralytics and YOLOv5 print), ``Device: cuda:0 NVIDIA GeForce RTX 3060 Ti : cudaMallocAsync``
  (ComfyUI's);
* where torch was imported from (a traceback's ``File ".../torch/__init__.py"``, a warning's
  ``.../site-packages/torch/cuda/__init__.py:235:``).

Symptoms (``operator torchvision::nms does not exist``, ``undefined symbol``, out of memory, a
device-side assert, ``WinError 1455``) are events only: what they mean is for ``doctor --from``
to say, with the facts around them.
"""

from __future__ import annotations

import re

from ...machine import Observation
from .capture import Kind, compile_table, lazy_re, message_events

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from .capture import Capture

_ARCH = r"(?:sm|compute)_\d{2,3}[af]?"

#: (event id, pattern) over the joined text. Named groups become the event's fields.
MESSAGES: tuple[tuple[str, re.Pattern[str]], ...] = compile_table(
    (
        (
            "arch_incompatible",
            (
                r"(?P<name>[^:.!?]{0,80}?)\s+with CUDA capability sm_(?P<sm>\d{2,3})\s+is not "
                r"compatible with the current PyTorch installation"
            ),
        ),
        (
            "arch_list",
            (
                r"The current PyTorch install supports CUDA capabilities\s+"
                rf"(?P<archs>{_ARCH}(?:\s+{_ARCH})*)"
            ),
        ),
        (
            "gpu_too_old",
            (
                r"Found GPU\s?(?P<index>\d+)\s+(?P<name>.+?)\s+which is of cuda capability\s+"
                r"(?P<cc>\d+\.\d+)\.?\s+PyTorch no longer supports this GPU because it is too old"
            ),
        ),
        (
            "gpu_needs_newer_cuda",
            (
                r"Found GPU\s?(?P<index>\d+)\s+(?P<name>.+?)\s+which requires CUDA_VERSION >= "
                r"(?P<need>\d+) to work properly, but your PyTorch was compiled with CUDA_VERSION "
                r"(?P<have>\d+)"
            ),
        ),
        (
            "no_kernel_image",
            (
                r"no kernel image is available for execution on the device"
                r"|cudaErrorNoKernelImageForDevice"
            ),
        ),
        (
            "driver_too_old",
            r"NVIDIA driver on your system is too old \(found version (?P<found>\d+)\)",
        ),
        (
            "driver_insufficient",
            (
                r"CUDA driver version is insufficient for CUDA runtime version"
                r"|cudaErrorInsufficientDriver"
            ),
        ),
        ("no_driver", r"Found no NVIDIA driver on your system"),
        ("not_compiled_cuda", r"Torch not compiled with CUDA enabled"),
        ("nms_missing", r"operator torchvision::(?P<op>\w+) does not exist"),
        (
            "vision_ops_failed",
            r"Couldn't load custom C\+\+ ops|Failed to load image Python extension",
        ),
        (
            "cuda_versions_differ",
            (
                r"Detected that PyTorch and torchvision were compiled with different CUDA "
                r"(?:major )?"
                r"versions\.?\s*PyTorch has CUDA Version=(?P<torch>[\d.]+) and torchvision has CUDA"
                r" "
                r"Version=(?P<vision>[\d.]+)"
            ),
        ),
        (
            "undefined_symbol",
            (
                r"(?:(?P<lib>[^\s:'\"`“”]+\.(?:so|pyd|dll|dylib)(?:\.[\d]+)*)\S*:\s*)?"
                r"undefined symbol:\s*(?P<symbol>[\w$@.]+)"
            ),
        ),
        ("missing_library", r"(?P<lib>lib[\w.+-]+\.so[.\d]*): cannot open shared object file"),
        (
            "macos_symbol",
            (
                r"Symbol not found:\s*(?P<symbol>\S+).{0,300}?\(which was built for Mac OS X "
                r"(?P<built>\d+\.\d+)\)"
            ),
        ),
        (
            "macos_built_newer",
            (
                r"was built for newer (?:macOS|OSX|OS X) version \((?P<built>[\d.]+)\) than being "
                r"linked \((?P<have>[\d.]+)\)"
            ),
        ),
        (
            "mps_unavailable",
            (
                r"MPS backend is supported on MacOS (?P<min>[\d.]+)\+|MPS backend is not available"
                r"|MPS not available because the current MacOS version is not (?P<min2>[\d.]+)\+"
            ),
        ),
        (
            "hip_no_binary",
            (
                r"hipErrorNoBinaryForGpu|HIP error: invalid device function|Unable to find code "
                r"object for all current devices|HIP error: no kernel image"
            ),
        ),
        (
            "oom",
            (
                r"CUDA out of memory|OutOfMemoryError(?:.{0,200}?GPU (?P<index>\d+) has a total "
                r"capac(?:i)?ty of (?P<gib>[\d.]+) GiB)?"
            ),
        ),
        ("paging_file", r"\[WinError 1455\]|paging file is too small"),
        ("device_assert", r"device-side assert triggered"),
        ("dll_load_failed", r"\[WinError 126\]|DLL load failed while importing"),
        (
            "torch_c_missing",
            (
                r"cannot import name '\w+' from 'torch\._C' \(unknown location\)"
                r"|No module named '?(?:torch\.)?_C'?\b"
            ),
        ),
        (
            "source_tree",
            (
                r"You appear to be importing PyTorch from a clone of the git repo"
                r"|PyTorch has loaded the `torch/_C` folder of the PyTorch repository"
            ),
        ),
        (
            "torch_attr_missing",
            r"(?:module 'torch(?:\._C)?'|'module' object) has no attribute '(?P<attr>\w+)'",
        ),
    )
)

#: ``Ultralytics YOLOv8.0.53 Python-3.9.1 torch-1.8.1+cu111 CUDA:0 (NVIDIA GeForce RTX 3070,
#: 8192MiB)``, ``YOLOv5 v4.0-14-gb75c432 torch 1.7.1 CPU``: torch's version after ``Python-X``,
#: or followed by the device the application chose.
_BANNER = lazy_re(
    r"(?:\bPython-\d+\.\d+(?:\.\d+)?\s+torch-(?P<version0>\d+\.\d+[\w.+]*)"
    r"|\btorch[- ](?P<version>\d+\.\d+[\w.+]*)(?=\s+(?:CPU|MPS|CUDA:\d)))"
    r"(?:\s+(?:(?P<cpu>CPU)|(?P<mps>MPS)"
    r"|CUDA:(?P<index>\d+)\s*\((?P<name>[^,()]+),\s*(?P<mib>\d+)\s*MiB\)))?"
)
_BANNER_PYTHON = lazy_re(r"\bPython-(?P<py>\d+\.\d+(?:\.\d+)?)\b")
#: ComfyUI: ``Device: cuda:0 NVIDIA GeForce RTX 3060 Ti : cudaMallocAsync``.
_DEVICE = lazy_re(
    r"\bcuda:(?P<index>\d+)\s+(?P<name>(?:NVIDIA|GeForce|Tesla|Quadro)\b[^:]*?)\s*:\s*\w+"
)
#: Where torch was imported from: a traceback frame or a warning's location.
_TORCH_FILE = lazy_re(
    r"(?:File \"|^|[\s(`'])(?P<path>(?:[A-Za-z]:\\|/|~|\.{1,2}[/\\])?[^\"\s:]*?)torch[/\\]"
    r"(?:__init__\.pyc?|cuda[/\\]__init__\.py|lib[/\\])"
)

#: (fact, expression pattern, value pattern) for values printed in a REPL or by print().
_PRINTED: tuple[tuple[str, re.Pattern[str], re.Pattern[str]], ...] = tuple(
    (fact, lazy_re(expr), lazy_re(value))
    for fact, expr, value in (
        ("version", r"\btorch\.(?:version\.)?__version__\b", r"^'?(?P<v>\d+\.\d+[\w.+]*)'?$"),
        (
            "cuda",
            r"\btorch\.version\.cuda\b",
            r"^(?:'(?P<v>\d+\.\d+)'|(?P<v2>\d+\.\d+)|(?P<none>None))$",
        ),
        (
            "hip",
            r"\btorch\.version\.hip\b",
            r"^(?:'(?P<v>[\d.]+[\w.-]*)'|(?P<v2>\d[\w.-]*)|(?P<none>None))$",
        ),
        ("cuda_available", r"\btorch\.cuda\.is_available\(\)", r"^(?P<v>True|False)$"),
        ("device_count", r"\btorch\.cuda\.device_count\(\)", r"^(?P<v>\d+)$"),
        ("arch_list", r"\btorch\.cuda\.get_arch_list\(\)", r"^(?P<v>\[.*\])$"),
        ("device_name", r"\btorch\.cuda\.get_device_name\(\d*\)", r"^'?(?P<v>[^'()]+?)'?$"),
        (
            "capability",
            r"\btorch\.cuda\.get_device_capability\(\d*\)",
            r"^\((?P<major>\d+),\s*(?P<minor>\d+)\)$",
        ),
        ("torchvision", r"\btorchvision\.__version__\b", r"^'?(?P<v>\d+\.\d+[\w.+]*)'?$"),
        ("torchaudio", r"\btorchaudio\.__version__\b", r"^'?(?P<v>\d+\.\d+[\w.+]*)'?$"),
    )
)
#: A value on the expression's own line: ``expr: False``, ``expr = 2.1.0``, ``# Returns False``,
#: ``#=> 0.4.1``, ``expr -> False``.
_SAME_LINE = lazy_re(
    r"^\)*\s*(?:[:=]|->|=>|#\s*(?:=>|->|[Rr]eturns?:?)?)\s*(?P<value>\S.*?)\s*$"
)
_OUT = lazy_re(r"^Out\[\d+\]:\s*(?P<value>.+)$")
_CODE = lazy_re(r"^(?:>>>|\.\.\.|In \[\d+\]:|\$|#|import\b|from\b|print\(|python)")


def _cuda_from_int(number: str) -> str:
    """``cudaDriverGetVersion``'s integer (11040) -> ``"11.4"``."""
    n = int(number)
    return f"{n // 1000}.{(n % 1000) // 10}"


def gpu_name_in(text: str) -> str:
    """The GPU name at the end of a phrase (``facing issue like NVIDIA GeForce RTX 5080``)."""
    text = text.strip().strip("`'\"")
    starts = [m.start() for m in re.finditer(r"\b(?:NVIDIA|GeForce|Tesla|Quadro|TITAN)\b", text)]
    if starts:
        return text[starts[0] :].strip()
    return text.rsplit(": ", 1)[-1].strip()


def _printed(capture: Capture) -> list[tuple[str, re.Match[str], str, str | None]]:
    """(fact, value match, the expression's line, the value's line when another one) for every
    printed value the paste shows."""
    out: list[tuple[str, re.Match[str], str, str | None]] = []
    lines = capture.plain
    for i, line in enumerate(lines):
        exprs = [(f, e.search(line), v) for f, e, v in _PRINTED]
        hits = [(f, m, v) for f, m, v in exprs if m]
        if not hits:
            continue
        hits.sort(key=lambda h: h[1].start())
        # the value after the last expression on this line
        fact, m, value_re = hits[-1]
        tail = line[m.end() :]
        if (s := _SAME_LINE.match(tail)) and (v := value_re.match(s["value"].strip().rstrip(")"))):
            out.append((fact, v, line, None))
            continue
        if (s := _SAME_LINE.match(tail)) and (v := value_re.match(s["value"].strip())):
            out.append((fact, v, line, None))
            continue
        following = value_line = next((x for x in lines[i + 1 : i + 3] if x), "")
        if o := _OUT.match(following):
            following = o["value"].strip()
        elif _CODE.match(following):
            continue
        tokens = following.split() if len(hits) > 1 else [following]
        if len(hits) > 1 and len(tokens) != len(hits):
            continue
        for (f, _, vre), token in zip(hits, tokens):
            if v := vre.match(token.strip()):
                out.append((f, v, line, value_line))
    return out


def scan(capture: Capture) -> list[dict[str, Any]]:
    """Every torch message, banner and printed value the paste shows, as events."""
    events = message_events(capture, MESSAGES)
    for line in capture.plain:
        for m in _BANNER.finditer(line):
            fields = {k: v for k, v in m.groupdict().items() if v is not None}
            fields["version"] = fields.pop("version0", None) or fields["version"]
            py = _BANNER_PYTHON.search(line)
            events.append(
                {"id": "banner", "line": line, **fields, **({"python": py["py"]} if py else {})}
            )
        if m := _DEVICE.search(line):
            events.append({"id": "device", "line": line, "index": m["index"], "name": m["name"]})
        for m in _TORCH_FILE.finditer(line):
            path = m["path"]
            if path in ("`", "'"):
                continue
            event = {"id": "torch_path", "line": line, "path": path}
            if not path and line[: m.start("path")].endswith('File "'):
                event["relative"] = True  # File "torch/__init__.py": a torch/ folder in the cwd
            events.append(event)
    for fact, m, line, value_line in _printed(capture):
        event = {"id": "printed", "fact": fact, "line": line}
        if value_line:
            event["value_line"] = value_line  # the output line under the expression
        event.update({k: v for k, v in m.groupdict().items() if v is not None})
        events.append(event)
    return events


def _facts(obs: Observation) -> None:
    torch, ev = obs.torch, obs.evidence
    gpus: dict[int, dict[str, Any]] = {}

    def gpu(index: int | None) -> dict[str, Any]:
        key = 0 if index is None else index
        return gpus.setdefault(key, {"vendor": "nvidia", "index": key})

    def put(section: dict[str, Any], key: str, value: Any, line: str, prefix: str) -> None:
        section[key] = value
        ev[f"{prefix}.{key}"] = line

    for e in obs.events:
        kind, line = e["id"], e["line"]
        if kind == "arch_incompatible":
            g = gpu(None)
            name = gpu_name_in(e.get("name", ""))
            if name:
                g.setdefault("name", name)
                ev.setdefault("gpus.0.name", line)
            sm = e["sm"]
            g["compute_capability"] = f"{sm[:-1]}.{sm[-1]}"
            ev["gpus.0.compute_capability"] = line
        elif kind == "arch_list":
            put(torch, "arch_list", tuple(e["archs"].split()), line, "torch")
        elif kind == "gpu_too_old":
            g = gpu(int(e["index"]))
            g.setdefault("name", e["name"].strip())
            g["compute_capability"] = e["cc"]
            ev[f"gpus.{g['index']}.compute_capability"] = line
        elif kind == "gpu_needs_newer_cuda":
            have = int(e["have"])
            put(torch, "cuda", _cuda_from_int(str(have)), line, "torch")
            gpu(int(e["index"])).setdefault("name", e["name"].strip())
        elif kind == "driver_too_old":
            put(obs.nvidia, "cuda_version", _cuda_from_int(e["found"]), line, "nvidia")
        elif kind == "oom" and e.get("gib"):
            g = gpu(int(e["index"]))
            g.setdefault("memory_mib", int(float(e["gib"]) * 1024))
        elif kind == "banner":
            put(torch, "version", e["version"], line, "torch")
            local = e["version"].partition("+")[2]
            torch.pop("cuda", None)  # the last banner's torch is the one described
            if m := re.match(r"cu(\d+)(\d)$", local):
                put(torch, "cuda", f"{int(m[1])}.{m[2]}", line, "torch")
            if e.get("python"):
                put(obs.platform, "python_version", e["python"], line, "platform")
            if e.get("name"):
                g = gpu(int(e["index"]))
                g["name"] = e["name"].strip()
                g["memory_mib"] = int(e["mib"])
                ev[f"gpus.{g['index']}.name"] = line
        elif kind == "device":
            g = gpu(int(e["index"]))
            g.setdefault("name", e["name"].strip())
            ev.setdefault(f"gpus.{g['index']}.name", line)
            put(torch, "cuda_available", True, line, "torch")
        elif kind == "printed":
            _printed_fact(e, torch, gpu, put)
        elif kind == "not_compiled_cuda":
            torch.setdefault("cuda_available", False)
            ev.setdefault("torch.cuda_available", line)
    obs.gpus.extend(gpus[k] for k in sorted(gpus))
    for g in obs.gpus:
        if "name" in g and f"gpus.{g['index']}.name" not in ev:
            ev[f"gpus.{g['index']}.name"] = next(
                (e["line"] for e in obs.events if g["name"] in e["line"]), ""
            )


def _printed_fact(
    e: dict[str, Any],
    torch: dict[str, Any],
    gpu: Callable[[int | None], dict[str, Any]],
    put: Callable[[dict[str, Any], str, Any, str, str], None],
) -> None:
    fact, line = e["fact"], e["line"]
    value = e.get("v") or e.get("v2")
    if fact in ("version", "torchvision", "torchaudio") and value:
        put(torch, fact, value, line, "torch")
    elif fact == "cuda":
        if value:
            put(torch, "cuda", value, line, "torch")
        else:  # a CPU (or ROCm) build: no CUDA version is a fact, said by the event
            torch.pop("cuda", None)
    elif fact == "hip" and value:
        put(torch, "rocm", value, line, "torch")
    elif fact == "cuda_available":
        put(torch, "cuda_available", value == "True", line, "torch")
    elif fact == "arch_list" and value:
        import ast  # here: every --from imports this parser, few inputs need ast

        try:
            archs = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return
        if isinstance(archs, list) and all(isinstance(a, str) for a in archs):
            put(torch, "arch_list", tuple(archs), line, "torch")
    elif fact == "device_name" and value:
        gpu(None).setdefault("name", value.strip())
    elif fact == "capability":
        gpu(None)["compute_capability"] = f"{e['major']}.{e['minor']}"


def _parse(capture: Capture) -> Observation:
    obs = Observation(kind="torch messages")
    obs.events = scan(capture)
    _facts(obs)
    return obs


KINDS: tuple[Kind, ...] = (Kind("torch messages", None, _parse, rank=36, lenient=True),)
