"""Time ``conda-torch doctor --from PASTE`` as a whole process, against ``python -c pass``.

    python bench/paste.py [--runs N] [--json] [--check]

N alternating pairs (default 15) against ``python -c pass`` of the same interpreter, after one
warm-up of each (``bench/_pairs.py``); the figure is the median of the N per-pair ratios, with
their spread, so a burst of load on a shared machine moves both halves of a pair. The command is
the ``conda-torch`` console script (``_pairs.console_command``). The paste is a real one from
tests/data/reports (a partial collect_env with torch's driver warning), read from its file.
Target (issues 12 and 13): at most 3x.
``--check`` exits 1 above it.

It also times, in this process, the parts of one diagnosis (imports, reading, the checks), so a
slow figure says where the time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _pairs import ROOT, console_command, environ, heading, pairs

REPORT = (
    ROOT
    / "tests"
    / "data"
    / "reports"
    / "driver_too_old-pytorch-112553-collect-env-cu121-driver470.txt"
)
TARGET = 3.0

#: One diagnosis in a fresh interpreter, its parts timed, with the cyclic collector off as the
#: command runs (``cli.main``): with it on, collections during the imports inflate every part.
PARTS = r"""
import gc; gc.disable()
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15, help="pairs of runs (default 15)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--check", action="store_true", help=f"exit 1 above {TARGET}x")
    opts = ap.parse_args()
    folder = tempfile.mkdtemp(prefix="conda-torch-bench-paste-")
    paste = _paste(folder)
    env = environ(folder)
    cmd = console_command(env, "doctor", "--from", paste)
    whole = pairs(
        "conda-torch doctor --from PASTE", cmd, runs=opts.runs, target=TARGET, env=env, codes=(0, 1)
    )
    parts = json.loads(
        subprocess.run(
            [sys.executable, "-c", PARTS, paste], capture_output=True, text=True, env=env, cwd=ROOT
        ).stdout
    )
    results = {
        "python": sys.version.split()[0],
        **whole.as_dict(),
        "in_process_ms": {k: round(v, 1) for k, v in parts.items()},
    }
    if opts.json:
        print(json.dumps(results, indent=2))
    else:
        print(heading("conda-torch doctor --from benchmark", opts.runs))
        print("  " + whole.line())
        print(
            "  in-process parts: "
            + ", ".join(f"{k} {v:.1f}" for k, v in results["in_process_ms"].items())
        )
    return 1 if opts.check and not whole.ok else 0


if __name__ == "__main__":
    sys.exit(main())
