"""Time ``conda-torch doctor --from PASTE`` as a whole process, against ``python -c pass``.

    python bench/paste.py [--runs N] [--json] [--check]

Paired, alternating runs (``python -c pass``, then the command, N times, default 15) after one
warm-up of each, which also writes the bytecode cache into a temporary folder, as an installed
package has it; the figure is the median of the N per-pair ratios, so a burst of load on a shared
machine moves both halves of a pair. The paste is a real one from tests/data/reports (a partial
collect_env with torch's driver warning), read from its file. Issue 13's target: at most 3x.
``--check`` exits 1 above it.

It also times, in this process, the parts of one diagnosis (imports, reading, the checks), so a
slow figure says where the time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORT = (
    ROOT
    / "tests"
    / "data"
    / "reports"
    / "driver_too_old-pytorch-112553-collect-env-cu121-driver470.txt"
)
TARGET = 3.0

#: One diagnosis in a fresh interpreter, its parts timed.
PARTS = r"""
import json, sys, time
t0 = time.perf_counter()
import conda_torch.paste as paste
t1 = time.perf_counter()
items = paste.read_files([sys.argv[1]])
reading = paste.read(items)
t2 = time.perf_counter()
paste.diagnose_texts(items)
t3 = time.perf_counter()
print(json.dumps({"import_ms": (t1 - t0) * 1e3, "read_ms": (t2 - t1) * 1e3,
                  "diagnose_ms": (t3 - t2) * 1e3}))
"""


def _paste(folder: str) -> str:
    text = REPORT.read_text(encoding="utf-8").partition("\n# ---\n")[2]
    path = os.path.join(folder, "report.txt")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path


def _wall(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    return (time.perf_counter() - start) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15, help="pairs of runs (default 15)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--check", action="store_true", help=f"exit 1 above {TARGET}x")
    opts = ap.parse_args()
    folder = tempfile.mkdtemp(prefix="conda-torch-bench-paste-")
    paste = _paste(folder)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPATH=str(ROOT), PYTHONPYCACHEPREFIX=os.path.join(folder, "pyc"))
    base_cmd = [sys.executable, "-c", "pass"]
    cmd = [sys.executable, "-m", "conda_torch", "doctor", "--from", paste]
    for warm in (base_cmd, cmd):
        _wall(warm, env)
    base, full, ratios = [], [], []
    for _ in range(max(3, opts.runs)):
        b, f = _wall(base_cmd, env), _wall(cmd, env)
        base.append(b)
        full.append(f)
        ratios.append(f / b)
    parts = json.loads(
        subprocess.run(
            [sys.executable, "-c", PARTS, paste], capture_output=True, text=True, env=env, cwd=ROOT
        ).stdout
    )
    results = {
        "python": sys.version.split()[0],
        "pairs": len(ratios),
        "python_c_pass_ms": round(statistics.median(base), 1),
        "doctor_from_ms": round(statistics.median(full), 1),
        "ratio_median": round(statistics.median(ratios), 2),
        "target": TARGET,
        **{k: round(v, 1) for k, v in parts.items()},
    }
    if opts.json:
        print(json.dumps(results, indent=2))
    else:
        for key, value in results.items():
            print(f"{key:20} {value}")
    return 1 if opts.check and results["ratio_median"] > TARGET else 0


if __name__ == "__main__":
    sys.exit(main())
