"""Time ``conda-torch generate`` as a whole process, as a ratio to ``python -c pass``.

Usage: python bench/generate.py [--runs N] [--json] [--check]

Each case runs in N alternating pairs (default 15) against ``python -c pass`` of the same
interpreter, after one warm-up of each (``bench/_pairs.py``); it prints the median of the
per-pair ratios, their spread and both commands' medians. Target (issue 4): at most 6x
``python -c pass``. ``--check`` exits 1 above the target.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _pairs import ROOT, console_command, environ, heading, pairs

FIXTURE = ROOT / "tests/data/fixtures/nvidia-smi/h100-80gb-hbm3-580.159.04-cuda13.0-vm.txt"
TARGET = 6.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15, help="pairs of runs (default 15)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--check", action="store_true", help=f"exit 1 above {TARGET}x")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        capture = Path(tmp) / "nvidia-smi.txt"
        capture.write_text(
            FIXTURE.read_text(encoding="utf-8").partition("\n# ---\n")[2], encoding="utf-8"
        )
        env = environ(tmp)
        cases = {
            "generate -o - (live detection)": console_command(env, "generate", "-o", "-"),
            "generate --from nvidia-smi capture -o -": console_command(
                env, "generate", "--from", str(capture), "--platform", "linux-64", "-o", "-"
            ),
        }
        measured = [
            pairs(label, cmd, runs=args.runs, target=TARGET, env=env)
            for label, cmd in cases.items()
        ]
    if args.json:
        print(json.dumps([m.as_dict() for m in measured], indent=2))
    else:
        print(heading("conda-torch generate benchmark", args.runs))
        for m in measured:
            print("  " + m.line())
    return 1 if args.check and not all(m.ok for m in measured) else 0


if __name__ == "__main__":
    sys.exit(main())
