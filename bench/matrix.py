"""Time the compatibility matrix: ``load()`` plus one query, in a fresh process, beside
``python -c pass`` (issue 3's target: load + one query under 20 ms in-process).

    python bench/matrix.py [--json]

One run of each, no assertions. The in-process figures come from a new interpreter so that
nothing is cached: it times ``import conda_torch.matrix`` and then ``load()`` followed by one
``candidates()`` query and one ``evaluate()`` against a machine built from a real capture.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

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
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    opts = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}

    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], env=env, cwd=ROOT, check=True)
    python_pass_ms = (time.perf_counter() - start) * 1000

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
    }
    if opts.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"python -c pass (whole process)         {results['python_c_pass_ms']:8.2f} ms")
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
