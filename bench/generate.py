"""Time ``conda-torch generate`` as a whole process, as a ratio to ``python -c pass``.

Usage: python bench/generate.py [--runs N] [--check]

Each command runs N times (default 15) after one warm-up (which also writes the bytecode
cache, into a temporary folder, as an installed package has it); the best run counts, since
the slower ones measure the machine's other load, not the command. Target (issue 4): at most
6x ``python -c pass``. ``--check`` exits 1 above the target.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests/data/fixtures/nvidia-smi/h100-80gb-hbm3-580.159.04-cuda13.0-vm.txt"
TARGET = 6.0


def best(cmd: list[str], runs: int, cache: str) -> float:
    # Bytecode caches on, as in any installed package, but kept out of the checkout.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPATH=str(ROOT), PYTHONPYCACHEPREFIX=cache)
    subprocess.run(cmd, check=True, capture_output=True, env=env, cwd=ROOT)  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env, cwd=ROOT)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--check", action="store_true", help=f"exit 1 above {TARGET}x")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        capture = Path(tmp) / "nvidia-smi.txt"
        capture.write_text(
            FIXTURE.read_text(encoding="utf-8").partition("\n# ---\n")[2], encoding="utf-8"
        )
        py = sys.executable
        cache = str(Path(tmp) / "pycache")
        base = best([py, "-c", "pass"], args.runs, cache)
        cases = {
            "generate (live detection)": [py, "-m", "conda_torch", "generate", "-o", "-"],
            "generate --from nvidia-smi capture": [
                py,
                "-m",
                "conda_torch",
                "generate",
                "--from",
                str(capture),
                "--platform",
                "linux-64",
                "-o",
                "-",
            ],
        }
        print(f"python -c pass: {base * 1000:.1f} ms (best of {args.runs})")
        worst = 0.0
        for label, cmd in cases.items():
            t = best(cmd, args.runs, cache)
            ratio = t / base
            worst = max(worst, ratio)
            print(
                f"{label}: {t * 1000:.1f} ms = {ratio:.2f}x python -c pass (target <= {TARGET:g}x)"
            )
    return 1 if args.check and worst > TARGET else 0


if __name__ == "__main__":
    sys.exit(main())
