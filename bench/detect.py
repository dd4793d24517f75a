"""Benchmark ``conda torch detect`` against issue 2's targets, every ratio measured in this run.

    python bench/detect.py [--runs N] [--json]

1. Live detection in-process (cache cleared before every call): median ms; target < 5 ms on a
   machine without an NVIDIA driver, where no subprocess may start (counted with an audit hook).
2. The whole ``conda-torch detect`` process (its console script: ``_pairs.console_command``),
   and with ``--json``, against ``python -c pass`` of the same interpreter, in alternating pairs
   (``bench/_pairs.py``): the median of the per-pair ratios and its spread; target at most 3x.
3. Where ``nvidia-smi`` exists: detection without nvidia-smi against one
   ``nvidia-smi --query-gpu`` call, side by side; target at most 0.5x. Measured twice: repeated
   in this process (before each timed call ``clear_cache()`` releases the NVML initialisation
   detection holds, so every call loads and initialises NVML again; that release is timed on
   its own) and as the first detection in a fresh interpreter (which also pays for
   ``import ctypes`` and NVML's first initialisation).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _pairs import console_command, environ, heading, pairs  # noqa: E402

TARGET = 3.0

SMI_QUERY = ["--query-gpu=name,driver_version,compute_cap,memory.total", "--format=csv"]

#: One detection in a fresh interpreter, timed from after importing the live detection code.
COLD = (
    "import time\n"
    "from conda_torch.detect import detect, live\n"
    "t = time.perf_counter()\n"
    "detect(nvidia_smi=False)\n"
    "print((time.perf_counter() - t) * 1000)\n"
)


def _spawns() -> list[str]:
    """Start counting process creations (audit events) from now on; returns the live list."""
    events: list[str] = []

    def hook(event: str, args: tuple) -> None:
        if event in (
            "subprocess.Popen",
            "os.posix_spawn",
            "os.spawn",
            "os.exec",
            "os.system",
            "os.fork",
        ):
            events.append(event)

    sys.addaudithook(hook)
    return events


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15, help="repetitions per measurement (default 15)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    opts = ap.parse_args()
    runs = max(3, opts.runs)
    results: dict[str, object] = {"python": sys.version.split()[0], "executable": sys.executable}

    # 1. in-process ------------------------------------------------------------------------
    events = _spawns()
    t0 = time.perf_counter()
    import conda_torch.detect.live  # noqa: F401 (detect() imports it on its first live call)
    from conda_torch import detect as det

    results["import_detect_ms"] = round((time.perf_counter() - t0) * 1000, 2)
    t0 = time.perf_counter()
    machine = det.detect()
    results["detect_first_call_ms"] = round((time.perf_counter() - t0) * 1000, 2)
    times = []
    for _ in range(max(runs, 30)):
        det.clear_cache()
        t0 = time.perf_counter()
        machine = det.detect()
        times.append((time.perf_counter() - t0) * 1000)
    results["detect_in_process_ms"] = round(statistics.median(times), 3)
    results["detect_in_process_min_ms"] = round(min(times), 3)
    results["subprocesses_started"] = len(events)
    has_nvidia = machine.nvidia is not None and bool(machine.nvidia.gpus)
    results["nvidia_gpus"] = len(machine.nvidia.gpus) if machine.nvidia else 0
    results["probes_ms"] = {p.name: p.ms for p in machine.probes if p.ms is not None}

    # 2. whole process -----------------------------------------------------------------------
    env = environ()
    whole = pairs(
        "conda-torch detect",
        console_command(env, "detect"),
        runs=runs,
        target=TARGET,
        env=env,
    )
    whole_json = pairs(
        "conda-torch detect --json",
        console_command(env, "detect", "--json"),
        runs=runs,
        target=TARGET,
        env=env,
    )
    results["whole_process"] = [whole.as_dict(), whole_json.as_dict()]

    # 3. GPU machine: in-process detection without nvidia-smi vs one nvidia-smi call ---------
    smi = shutil.which("nvidia-smi")
    if smi:
        live, smi_times, release = [], [], []
        for _ in range(runs):
            t0 = time.perf_counter()
            det.clear_cache()
            release.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            last = det.detect(nvidia_smi=False)
            live.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            subprocess.run([smi, *SMI_QUERY], capture_output=True, check=False)
            smi_times.append((time.perf_counter() - t0) * 1000)
        results["detect_no_smi_ms"] = round(statistics.median(live), 2)
        results["nvml_release_ms"] = round(statistics.median(release), 2)
        results["nvml_probe"] = next(
            (f"{p.ms} ms: {p.detail}" for p in last.probes if p.name == "nvidia: NVML"), None
        )
        results["nvidia_smi_query_ms"] = round(statistics.median(smi_times), 2)
        results["gpu_ratio"] = round(statistics.median(live) / statistics.median(smi_times), 3)
        # The first detection in a fresh process also pays for ctypes and NVML's first init.
        cold = []
        for _ in range(runs):
            done = subprocess.run(
                [sys.executable, "-c", COLD],
                capture_output=True,
                text=True,
                env=env,
                cwd=ROOT,
                check=False,
            )
            try:
                cold.append(float(done.stdout.strip().splitlines()[-1]))
            except (ValueError, IndexError):
                pass
        if cold:
            results["detect_no_smi_cold_ms"] = round(statistics.median(cold), 2)
            results["gpu_ratio_cold"] = round(
                statistics.median(cold) / statistics.median(smi_times), 3
            )

    if opts.json:
        print(json.dumps(results, indent=2))
        return 0
    rows = [
        (
            "detect() in-process, median",
            f"{results['detect_in_process_ms']} ms",
            "< 5 ms" + ("" if not has_nvidia else " (target is for machines without NVIDIA)"),
            results["detect_in_process_ms"] < 5 if not has_nvidia else None,
        ),
        ("  first call in this process", f"{results['detect_first_call_ms']} ms", "", None),
        (
            "  subprocesses started",
            str(results["subprocesses_started"]),
            "0 without NVIDIA" if not has_nvidia else "",
            results["subprocesses_started"] == 0 if not has_nvidia else None,
        ),
    ]
    if smi:
        rows += [
            ("detect(nvidia_smi=False)", f"{results['detect_no_smi_ms']} ms", "", None),
            ("  clear_cache() (NVML release)", f"{results['nvml_release_ms']} ms", "", None),
            ("nvidia-smi --query-gpu (1 call)", f"{results['nvidia_smi_query_ms']} ms", "", None),
            ("  ratio", f"{results['gpu_ratio']}x", "<= 0.5x", results["gpu_ratio"] <= 0.5),
        ]
        if "gpu_ratio_cold" in results:
            rows += [
                (
                    "  first call in a fresh process",
                    f"{results['detect_no_smi_cold_ms']} ms",
                    "",
                    None,
                ),
                (
                    "  ratio (fresh process)",
                    f"{results['gpu_ratio_cold']}x",
                    "<= 0.5x",
                    results["gpu_ratio_cold"] <= 0.5,
                ),
            ]
    else:
        rows.append(("GPU comparison", "skipped", "no nvidia-smi on PATH", None))
    print(heading("conda-torch detect benchmark", runs))
    for name, value, target, ok in rows:
        verdict = "" if ok is None else ("  PASS" if ok else "  FAIL")
        print(f"  {name:<34} {value:>10}  {target}{verdict}")
    for measured in (whole, whole_json):
        print("  " + measured.line())
    slow = sorted(results["probes_ms"].items(), key=lambda kv: -kv[1])[:4]  # type: ignore[union-attr]
    print("  slowest probes (last call): " + ", ".join(f"{k} {v:.2f} ms" for k, v in slow))
    if results.get("nvml_probe"):
        print(f"  NVML probe (last repeated call): {results['nvml_probe']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
