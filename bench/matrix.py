"""Time the compatibility matrix: a whole ``conda-torch matrix --torch 2.9.1 --json`` process
against ``python -c pass``, and ``load()`` plus one query in-process.

    python bench/matrix.py [--runs N] [--json] [--check]

The whole process runs in N alternating pairs (default 15) against ``python -c pass`` of the
same interpreter (``bench/_pairs.py``): the median of the per-pair ratios and its spread; target
(issue 12) at most 3x; ``--check`` exits 1 above it. The in-process figures (issue 3's target:
load + one query under 20 ms) come from one new interpreter, so that nothing is cached: it times
``import conda_torch.matrix`` and then ``load()`` followed by one ``candidates()`` query and one
``evaluate()`` against a machine built from a real capture.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _pairs import console_command, environ, heading, pairs  # noqa: E402

TARGET = 3.0

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import conda_torch.matrix as mm
t1 = time.perf_counter()
m = mm.load()
found = m.candidates(subdir="linux-64", torch="2.9", python="3.12")
t2 = time.perf_counter()
from conda_torch.machine import GPU, Machine, NvidiaInfo, PlatformInfo
# facts of tests/data/fixtures/nvidia-smi/quadro-rtx4000x2-535.129.03-cuda12.2-with-L.txt (INDEX.md)
machine = Machine(platform=PlatformInfo(subdir="linux-64"), nvidia=NvidiaInfo(
    driver_version="535.129.03", cuda_version="12.2",
    gpus=(GPU("nvidia", 0, "Quadro RTX 4000", "7.5"), GPU("nvidia", 1, "Quadro RTX 4000", "7.5"))))
t3 = time.perf_counter()
verdicts = m.evaluate(machine)
t4 = time.perf_counter()
print(json.dumps({"import_ms": (t1 - t0) * 1000, "load_query_ms": (t2 - t1) * 1000,
                  "evaluate_all_ms": (t4 - t3) * 1000, "candidates": len(found),
                  "verdicts": len(verdicts)}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15, help="pairs of runs (default 15)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--check", action="store_true", help=f"exit 1 above {TARGET}x")
    opts = ap.parse_args()
    env = environ()
    whole = pairs(
        "conda-torch matrix --torch 2.9.1 --json",
        console_command(env, "matrix", "--torch", "2.9.1", "--json"),
        runs=opts.runs,
        target=TARGET,
        env=env,
    )
    python_pass_ms = statistics.median(whole.base_ms)

    done = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, cwd=ROOT, check=True, capture_output=True, text=True
    )
    child = json.loads(done.stdout)
    results = {
        "python": sys.version.split()[0],
        "python_c_pass_ms": round(python_pass_ms, 2),
        "import_matrix_ms": round(child["import_ms"], 2),
        "load_plus_query_ms": round(child["load_query_ms"], 2),
        "evaluate_every_linux_64_build_ms": round(child["evaluate_all_ms"], 2),
        "ratio_load_query_to_python_c_pass": round(child["load_query_ms"] / python_pass_ms, 3),
        "candidates": child["candidates"],
        "verdicts": child["verdicts"],
        "whole_process": whole.as_dict(),
    }
    if opts.json:
        print(json.dumps(results, indent=2))
        return 1 if opts.check and not whole.ok else 0
    print(heading("conda-torch matrix benchmark", opts.runs))
    print("  " + whole.line())
    print(f"python -c pass (median of the pairs)   {results['python_c_pass_ms']:8.2f} ms")
    print(f"import conda_torch.matrix              {results['import_matrix_ms']:8.2f} ms")
    print(
        f"load() + one candidates() query        {results['load_plus_query_ms']:8.2f} ms"
        f"   (target < 20 ms; {child['candidates']} candidates)"
    )
    print(
        f"evaluate() every linux-64 build        "
        f"{results['evaluate_every_linux_64_build_ms']:8.2f} ms"
        f"   ({child['verdicts']} verdicts)"
    )
    print(
        f"ratio load+query / python -c pass      "
        f"{results['ratio_load_query_to_python_c_pass']:8.3f}"
    )
    return 1 if opts.check and not whole.ok else 0


if __name__ == "__main__":
    sys.exit(main())
