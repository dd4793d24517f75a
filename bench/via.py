"""Time ``conda-torch detect --via LAUNCHER`` against the launcher alone (``LAUNCHER true``).

    python bench/via.py [--launcher 'srun -N1'] [--runs N] [--json]

``--via`` should add nothing but the launcher's own latency: what runs on the node is the same
detection ``conda-torch detect`` runs here. So each round times, as whole processes:

* ``LAUNCHER true``: the launcher alone;
* ``conda-torch detect --via LAUNCHER --json``;
* ``conda-torch detect --json``: the same detection here, no launcher;
* ``LAUNCHER python -m conda_torch detect --json``: the detection through the launcher where
  conda-torch is installed on the node (here it is: the launcher lands on this machine), which
  ``--via`` does not need;

in an order that alternates from round to round (N rounds, default 15, after one warm-up of
each, which also writes the bytecode cache into a temporary folder as an installed package
has it). It prints the medians, the median of the per-round ratios ``detect --via`` /
``LAUNCHER true``, what ``--via`` costs beyond the launcher and a detection
(``via - launcher - detect``), and beyond the launcher running an installed conda-torch on the
node (``via - installed``: the login side's own start and the script on standard input).

Needs a launcher that works here (CI starts a local single-node Slurm where it can).
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _pairs import environ, wall_ms


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--launcher", default="srun -N1", help="the launcher (default 'srun -N1')")
    ap.add_argument("--runs", type=int, default=15, help="rounds (default 15)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    opts = ap.parse_args()
    folder = tempfile.mkdtemp(prefix="conda-torch-bench-via-")
    env = environ(folder)
    cmds = {
        "launcher_true": [*shlex.split(opts.launcher), "true"],
        "detect_via": [
            sys.executable,
            "-m",
            "conda_torch",
            "detect",
            "--via",
            opts.launcher,
            "--json",
        ],  # fmt: skip
        "detect_here": [sys.executable, "-m", "conda_torch", "detect", "--json"],
        "launcher_detect_installed": [
            *shlex.split(opts.launcher),
            sys.executable,
            "-m",
            "conda_torch",
            "detect",
            "--json",
        ],  # fmt: skip
    }
    for cmd in cmds.values():
        wall_ms(cmd, env)
    times: dict[str, list[float]] = {k: [] for k in cmds}
    names = list(cmds)
    for i in range(max(3, opts.runs)):
        order = names if i % 2 == 0 else names[::-1]
        for name in order:
            times[name].append(wall_ms(cmds[name], env))
    ratios = [v / t for v, t in zip(times["detect_via"], times["launcher_true"])]
    extra = [
        v - t - d
        for v, t, d in zip(times["detect_via"], times["launcher_true"], times["detect_here"])
    ]
    shipped = [v - i for v, i in zip(times["detect_via"], times["launcher_detect_installed"])]
    results = {
        "launcher": opts.launcher,
        "rounds": len(ratios),
        "launcher_true_ms": round(statistics.median(times["launcher_true"]), 1),
        "detect_via_ms": round(statistics.median(times["detect_via"]), 1),
        "detect_here_ms": round(statistics.median(times["detect_here"]), 1),
        "launcher_detect_installed_ms": round(
            statistics.median(times["launcher_detect_installed"]), 1
        ),
        "ratio_via_to_launcher": round(statistics.median(ratios), 2),
        "via_beyond_launcher_and_detect_ms": round(statistics.median(extra), 1),
        "via_beyond_installed_ms": round(statistics.median(shipped), 1),
    }
    if opts.json:
        print(json.dumps(results, indent=2))
    else:
        for key, value in results.items():
            print(f"{key:35} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
