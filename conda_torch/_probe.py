"""The validation probe: run by an environment's own Python, prints one JSON object.

Standalone on purpose: standard library only, runs on Python 3.8 and later, and imports nothing
from conda-torch (which need not be installed in the environment it inspects). It is executed as
``<python> _probe.py`` (or fed on standard input); ``conda_torch.validate`` turns its facts into
checks. One interpreter start, no subprocesses: the whole probe must cost little more than
``import torch, torchvision, torchaudio`` itself.

Output: the JSON object is written to standard output on one line after ``MARKER``, so that
anything a library prints while importing cannot corrupt it. Every step catches its own
failure and records it as text; the probe itself never fails because torch is broken.
"""

# Keep to Python 3.8 syntax and the standard library: this file runs in foreign interpreters.
from __future__ import annotations

import sys

# Running as a script puts this file's folder (or, on stdin, the working directory) first on
# sys.path; drop it so that nothing beside the probe can stand in for a package it inspects.
if sys.path and sys.path[0] in ("", __import__("os").path.dirname(globals().get("__file__") or "")):
    del sys.path[0]

import json
import os
import re
import time

MARKER = "@@conda-torch-probe@@"
#: Marks the short lines of an answer sent through a launcher (``write_parts``).
PART = "@@conda-torch-part@@"
SCHEMA = "conda-torch.probe/1"
PACKAGES = ("torch", "torchvision", "torchaudio")
#: conda package names that install a copy of torch (pytorch-cpu/-gpu are metapackages).
CONDA_TORCH_NAMES = ("pytorch", "torch")
CONDA_NAMES = CONDA_TORCH_NAMES + ("torchvision", "torchaudio")


def _err(exc):
    """One line of text for an exception: the message, else its type."""
    text = str(exc).strip().splitlines()
    line = text[0] if text else ""
    return line or type(exc).__name__


def _ms(start):
    return round((time.perf_counter() - start) * 1000.0, 1)


def _version_file_version(path):
    """``__version__`` read from a package's version.py text (when the import itself failed)."""
    try:
        with open(os.path.join(path, "version.py"), encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    m = re.search(r"""^__version__\s*=\s*['"]([^'"]+)['"]""", text, re.M)
    return m.group(1) if m else None


def import_package(name):
    """Import one package, timed. Returns (module or None, facts)."""
    import importlib
    import importlib.util

    facts = {
        "installed": False,
        "imported": False,
        "ms": None,
        "error": None,
        "version": None,
        "file": None,
    }
    start = time.perf_counter()
    try:
        spec = importlib.util.find_spec(name)
    except Exception as exc:  # a broken parent path entry
        spec = None
        facts["error"] = _err(exc)
    if spec is None:
        facts["ms"] = _ms(start)
        return None, facts
    facts["installed"] = True
    facts["file"] = spec.origin
    try:
        module = importlib.import_module(name)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        facts["ms"] = _ms(start)
        facts["error"] = _err(exc)
        facts["error_type"] = type(exc).__name__
        locations = list(spec.submodule_search_locations or ())
        if locations:
            facts["version"] = _version_file_version(locations[0])
        return None, facts
    facts["ms"] = _ms(start)
    facts["imported"] = True
    facts["file"] = getattr(module, "__file__", None) or spec.origin
    version = getattr(module, "__version__", None)
    facts["version"] = str(version) if version is not None else None
    sub = getattr(module, "version", None)
    for key in ("cuda", "hip", "xpu", "git_version"):
        value = getattr(sub, key, None) if sub is not None else None
        if value is not None and not callable(value):
            facts[key] = str(value)
    return module, facts


def probe_torch(torch, out):
    """Build facts of an imported torch: CUDA/ROCm/XPU/MPS, arch list, cuDNN, devices."""
    info = out["torch"]
    version_mod = getattr(torch, "version", None)
    info["cuda"] = getattr(version_mod, "cuda", None)
    info["hip"] = getattr(version_mod, "hip", None)
    info["xpu"] = getattr(version_mod, "xpu", None)

    cuda = getattr(torch, "cuda", None)
    try:
        # get_arch_list() answers [] without a usable device; the compiled flags do not.
        flags = torch._C._cuda_getArchFlags() if hasattr(torch._C, "_cuda_getArchFlags") else None
        info["arch_list"] = flags.split() if flags else (cuda.get_arch_list() if cuda else [])
    except Exception as exc:
        info["arch_list"] = None
        info["arch_list_error"] = _err(exc)

    devices = out["devices"]
    # -- CUDA / ROCm ------------------------------------------------------------------
    if cuda is not None:
        start = time.perf_counter()
        try:
            available = bool(cuda.is_available())
            count = cuda.device_count() if available else 0
            devices["cuda"] = {"available": available, "count": count, "ms": _ms(start)}
        except Exception as exc:
            devices["cuda"] = {"available": False, "count": 0, "error": _err(exc), "ms": _ms(start)}
        for index in range(devices["cuda"]["count"]):
            devices.setdefault("cuda_devices", []).append(_cuda_device(torch, index))
    if info["cuda"] and devices.get("cuda", {}).get("available"):
        start = time.perf_counter()
        try:
            info["cudnn"] = torch.backends.cudnn.version()
        except Exception as exc:
            info["cudnn"] = None
            info["cudnn_error"] = _err(exc)
        info["cudnn_ms"] = _ms(start)
    elif info["cuda"]:
        try:  # without a device: was cuDNN compiled in at all?
            info["cudnn_built"] = bool(torch.backends.cudnn.is_available())
        except Exception as exc:
            info["cudnn_error"] = _err(exc)

    # -- Apple MPS --------------------------------------------------------------------
    mps = getattr(getattr(torch, "backends", None), "mps", None)
    if mps is not None:
        try:
            entry = {"built": bool(mps.is_built()), "available": bool(mps.is_available())}
        except Exception as exc:
            entry = {"built": None, "available": False, "error": _err(exc)}
        if entry["available"]:
            entry.update(_tensor_op(torch, "mps", lambda: torch.mps.synchronize()))
        devices["mps"] = entry

    # -- Intel XPU --------------------------------------------------------------------
    xpu = getattr(torch, "xpu", None)
    if xpu is not None:
        try:
            available = bool(xpu.is_available())
            entry = {"available": available, "count": xpu.device_count() if available else 0}
        except Exception as exc:
            entry = {"available": False, "count": 0, "error": _err(exc)}
        entry["devices"] = []
        for index in range(entry["count"]):
            dev = {"index": index}
            try:
                dev["name"] = xpu.get_device_name(index)
            except Exception:
                pass
            dev.update(_tensor_op(torch, f"xpu:{index}", lambda i=index: xpu.synchronize(i)))
            entry["devices"].append(dev)
        devices["xpu"] = entry

    # -- CPU --------------------------------------------------------------------------
    devices["cpu"] = _tensor_op(torch, "cpu", None)


def _cuda_device(torch, index):
    dev = {"index": index}
    try:
        props = torch.cuda.get_device_properties(index)
        dev["name"] = props.name
        dev["capability"] = [props.major, props.minor]
        dev["memory_mib"] = int(props.total_memory // (1024 * 1024))
        gcn = getattr(props, "gcnArchName", None) if torch.version.hip else None
        if gcn:
            dev["gcn_arch"] = gcn
    except Exception as exc:
        dev["error"] = _err(exc)
    dev.update(_tensor_op(torch, f"cuda:{index}", lambda: torch.cuda.synchronize(index)))
    return dev


def _tensor_op(torch, device, sync):
    """A small elementwise op and reduction on ``device``; its result is checked."""
    start = time.perf_counter()
    try:
        x = torch.arange(64, dtype=torch.float32, device=device)
        y = (x * 2.0 + 1.0).sum()
        if sync is not None:
            sync()
        value = float(y.item())
        ok = value == 4096.0  # sum(2i + 1, i < 64) = 64**2
        res = {"op_ok": ok, "op_ms": _ms(start)}
        if not ok:
            res["op_error"] = f"wrong result {value!r} (expected 4096.0)"
        return res
    except Exception as exc:
        return {"op_ok": False, "op_ms": _ms(start), "op_error": _err(exc)}


def probe_torchvision_ops(torch, torchvision, out):
    start = time.perf_counter()
    try:
        boxes = torch.tensor(
            [[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]]
        )
        scores = torch.tensor([0.9, 0.8, 0.7])
        keep = torchvision.ops.nms(boxes, scores, 0.5).tolist()
        out["torchvision"]["nms"] = {"ok": keep == [0, 2], "ms": _ms(start), "result": keep}
        if keep != [0, 2]:
            out["torchvision"]["nms"]["error"] = f"nms returned {keep!r}, expected [0, 2]"
    except Exception as exc:
        out["torchvision"]["nms"] = {"ok": False, "ms": _ms(start), "error": _err(exc)}


def driver_cuda_version():
    """The newest CUDA the NVIDIA driver supports (cuDriverGetVersion), and its device count.

    Returns None when no driver library loads. Cheap: torch has usually loaded libcuda already.
    """
    import ctypes

    names = ("nvcuda.dll",) if os.name == "nt" else ("libcuda.so.1", "libcuda.so", "libcuda.dylib")
    lib = None
    for name in names:
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            continue
    if lib is None:
        return None
    out = {}
    version = ctypes.c_int(0)
    try:
        rc = lib.cuDriverGetVersion(ctypes.byref(version))
        out["version_rc"] = rc
        if rc == 0:
            out["cuda"] = f"{version.value // 1000}.{version.value % 1000 // 10}"
        out["init_rc"] = lib.cuInit(0)
        count = ctypes.c_int(0)
        if out["init_rc"] == 0 and lib.cuDeviceGetCount(ctypes.byref(count)) == 0:
            out["count"] = count.value
        else:
            out["count"] = 0
    except Exception as exc:  # a library without those symbols
        out["error"] = _err(exc)
    return out


def installed_copies(prefix):
    """Every installed torch distribution on sys.path, and conda records in ``prefix``."""
    import importlib.metadata as md  # Python 3.8+

    dists = []
    for name in PACKAGES:
        try:
            found = list(md.distributions(name=name))
        except Exception:
            found = []
        for dist in found:
            entry = {"name": name, "version": dist.version}
            try:
                entry["location"] = str(dist.locate_file(""))
            except Exception:
                entry["location"] = None
            try:
                entry["installer"] = (dist.read_text("INSTALLER") or "").strip() or None
            except Exception:
                entry["installer"] = None
            path = getattr(dist, "_path", None)
            entry["metadata"] = str(path) if path is not None else None
            dists.append(entry)
    records = []
    meta = os.path.join(prefix, "conda-meta")
    try:
        names = os.listdir(meta)
    except OSError:
        names = []
    for fname in names:
        if not fname.endswith(".json"):
            continue
        parts = fname[:-5].rsplit("-", 2)
        if len(parts) != 3 or parts[0] not in CONDA_NAMES:
            continue
        entry = {"name": parts[0], "version": parts[1], "build": parts[2], "file": fname}
        try:
            with open(os.path.join(meta, fname), encoding="utf-8") as f:
                rec = json.load(f)
            for key in ("version", "build", "channel", "subdir"):
                if rec.get(key):
                    entry[key] = rec[key]
        except (OSError, ValueError):
            pass
        records.append(entry)
    return dists, records


def main(argv=None):
    total = time.perf_counter()
    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # whatever imports print must not corrupt the JSON
    out = {
        "schema": SCHEMA,
        "python": {
            "executable": sys.executable,
            "version": "{}.{}.{}".format(*sys.version_info[:3]),
            "prefix": sys.prefix,
            "base_prefix": getattr(sys, "base_prefix", sys.prefix),
            "platform": sys.platform,
            "path": list(sys.path),
        },
        "env": {
            k: os.environ.get(k)
            for k in (
                "PYTHONPATH",
                "PYTHONNOUSERSITE",
                "CONDA_PREFIX",
                "CUDA_VISIBLE_DEVICES",
                "PYTHONHOME",
            )
        },
        "devices": {},
    }
    try:  # which node answered (validate --via runs the probe on another machine)
        import socket

        out["host"] = {"name": socket.gethostname()}
    except Exception:
        out["host"] = {"name": None}
    try:
        import site

        out["python"]["user_site"] = site.getusersitepackages()
        out["python"]["user_site_enabled"] = bool(site.ENABLE_USER_SITE)
    except Exception:
        out["python"]["user_site"] = None

    modules = {}
    for name in PACKAGES:
        modules[name], out[name] = import_package(name)
    torch = modules["torch"]
    if torch is not None:
        for step in (probe_torch,):
            try:
                step(torch, out)
            except Exception as exc:  # pragma: no cover - guards against odd torch builds
                out["torch"].setdefault("errors", []).append(_err(exc))
        if modules["torchvision"] is not None:
            probe_torchvision_ops(torch, modules["torchvision"], out)
    try:
        out["driver"] = driver_cuda_version()
    except Exception as exc:
        out["driver"] = {"error": _err(exc)}
    try:
        out["dists"], out["conda_records"] = installed_copies(sys.prefix)
    except Exception as exc:
        out["dists"], out["conda_records"] = [], []
        out["dists_error"] = _err(exc)
    out["ms"] = _ms(total)
    sys.stdout = real_stdout
    if "--parts" in (argv or ()):
        write_parts("probe", out, sys.stdout)
        return 0
    sys.stdout.write("\n" + MARKER + json.dumps(out, default=str) + "\n")
    sys.stdout.flush()
    return 0


def write_parts(kind, doc, stream, width=900):
    """``doc`` as short marked lines, ``PART KIND TASK I N DATA`` (compressed JSON, base64, in
    pieces of ``width``): a launcher that splits or labels long lines (``srun -l`` prefixes
    ``0: ``) cannot break them, and ``TASK`` (``CONDA_TORCH_TASK``, else host/pid) keeps the
    answers of several tasks apart. ``conda torch detect --via`` and ``validate --via`` read
    them back."""
    import base64
    import socket
    import zlib

    raw = json.dumps(doc, default=str).encode("utf-8")
    data = base64.b64encode(zlib.compress(raw)).decode("ascii")
    parts = [data[i : i + width] for i in range(0, len(data), width)] or [""]
    task = os.environ.get("CONDA_TORCH_TASK") or f"{socket.gethostname()}/{os.getpid()}"
    for i, part in enumerate(parts):
        stream.write(f"{PART} {kind} {task} {i} {len(parts)} {part}\n")
    stream.flush()


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stderr.flush()
    # Skip interpreter teardown: unloading torch (thread pools, a CUDA context) takes up to a
    # second and proves nothing; everything the probe says is already written and flushed.
    os._exit(code)
