"""Benchmark: ``conda torch validate`` against a bare ``import torch, torchvision, torchaudio``.

Issue 5 asks that validate cost at most 1.15x the bare import in the same environment. Both
commands run alternately in the same interpreter's environment (the first run of each is a
warm-up, not counted), and the medians and their ratio are printed::

    python bench/validate.py --python /path/to/env/bin/python [-r 5] [--json]

The bare command imports whichever of the three packages are installed there (an import that
fails, like PyPI's torchvision beside a CPU torch, is still timed: it is what a user pays).
Exit status 1 when the ratio exceeds ``--limit`` (default 1.15).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 1.15


def installed(python: str) -> list[str]:
    code = (
        "import importlib.util as u; print(' '.join(n for n in ('torch', 'torchvision', "
        "'torchaudio') if u.find_spec(n)))"
    )
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout
    return out.split()


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start, proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=sys.executable, help="The environment's interpreter.")
    parser.add_argument(
        "-r", "--repeat", type=int, default=5, help="Timed runs of each (default 5)."
    )
    parser.add_argument("--limit", type=float, default=LIMIT, help="Largest acceptable ratio.")
    parser.add_argument("--json", action="store_true", help="Print the result as JSON.")
    args = parser.parse_args(argv)

    packages = installed(args.python)
    if "torch" not in packages:
        print(f"torch is not installed for {args.python}", file=sys.stderr)
        return 2
    bare = [args.python, "-c", "import " + ", ".join(packages)]
    validate = [sys.executable, "-m", "conda_torch", "validate", "--python", args.python]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    bare_env = dict(os.environ)
    check = subprocess.run([*validate, "--json"], capture_output=True, text=True, env=env)
    try:
        report = json.loads(check.stdout)
        summary = report["summary"]
    except (ValueError, KeyError, TypeError):
        tail = (check.stderr or check.stdout).strip().splitlines()[-3:]
        print("validate did not produce a report:\n" + "\n".join(tail), file=sys.stderr)
        return 2

    times: dict[str, list[float]] = {"bare": [], "validate": []}
    codes: dict[str, int] = {}
    for i in range(args.repeat + 1):
        for key, cmd, e in (("bare", bare, bare_env), ("validate", validate, env)):
            seconds, rc = timed(cmd, e)
            codes[key] = rc
            if i:  # the first round warms the page cache
                times[key].append(seconds)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["validate"] / med["bare"]
    result = {
        "python": args.python,
        "bare_command": " ".join(bare[1:]),
        "packages": packages,
        "repeat": args.repeat,
        "bare_s": times["bare"],
        "validate_s": times["validate"],
        "bare_median_s": round(med["bare"], 3),
        "validate_median_s": round(med["validate"], 3),
        "validate_exit_status": codes["validate"],
        "validate_summary": summary,
        "ratio": round(ratio, 3),
        "limit": args.limit,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"python:   {args.python}")
        print(
            f"bare:     python -c '{bare[2]}'   median {med['bare']:.3f} s "
            f"({', '.join(f'{t:.2f}' for t in times['bare'])})"
        )
        print(
            f"validate: conda-torch validate --python   median {med['validate']:.3f} s "
            f"({', '.join(f'{t:.2f}' for t in times['validate'])}; exit {codes['validate']}, "
            f"{summary['pass']} passed, {summary['warn']} warnings, {summary['fail']} failed)"
        )
        print(f"ratio:    {ratio:.3f} (limit {args.limit})")
    return 0 if ratio <= args.limit else 1


if __name__ == "__main__":
    sys.exit(main())
