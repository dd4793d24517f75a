"""The timing loop every whole-process bench shares: a command against ``python -c pass``.

Both run with the same interpreter (``sys.executable``), in alternating pairs (``python -c pass``
then the command, the next pair the other way round), after one warm-up of each that also writes
the bytecode cache, into a temporary folder as an installed package has it. A burst of load on a
shared machine then moves both halves of a pair, so the ratio of each pair is the figure: the
median of the per-pair ratios, with its spread (lowest and highest pair), beside the medians and
the ranges of the two commands in milliseconds.
"""

from __future__ import annotations

import datetime
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def environ(folder: str | None = None) -> dict[str, str]:
    """The environment for timed runs: this checkout first, bytecode cached outside it."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONPYCACHEPREFIX"] = os.path.join(
        folder or tempfile.mkdtemp(prefix="conda-torch-bench-"), "pyc"
    )
    return env


#: The ``conda-torch`` command as pip installs it (``[project.scripts]`` in pyproject.toml): the
#: launcher pip writes, run by this interpreter, with this checkout first on ``PYTHONPATH``. It
#: is what a user runs; ``python -m conda_torch`` also loads ``runpy`` (with ``importlib.util``
#: and ``contextlib``), about 3 ms more.
CONSOLE_SCRIPT = """\
# -*- coding: utf-8 -*-
import re
import sys
from conda_torch.cli import main
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit(main())
"""


def console_command(env: dict[str, str], *args: str) -> list[str]:
    """The command line that runs ``conda-torch ARGS`` as its console script does, written
    beside the bytecode cache of ``env`` (:func:`environ`)."""
    script = os.path.join(os.path.dirname(env["PYTHONPYCACHEPREFIX"]), "conda-torch")
    if not os.path.exists(script):
        with open(script, "w", encoding="utf-8") as fh:
            fh.write(CONSOLE_SCRIPT)
    return [sys.executable, script, *args]


def wall_ms(cmd: list[str], env: dict[str, str], codes: tuple[int, ...] = (0,)) -> float:
    """One whole process, in milliseconds; an exit status not in ``codes`` stops the bench."""
    start = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    took = (time.perf_counter() - start) * 1000
    if done.returncode not in codes:
        tail = done.stderr.decode(errors="replace")[-300:]
        raise SystemExit(f"bench: {shlex.join(cmd)} exited {done.returncode}: {tail}")
    return took


@dataclass(frozen=True)
class Pairs:
    """What ``pairs`` measured: both commands' times and the ratio of each pair."""

    label: str
    base_ms: tuple[float, ...]
    cmd_ms: tuple[float, ...]
    target: float

    @property
    def ratios(self) -> list[float]:
        return [c / b for b, c in zip(self.base_ms, self.cmd_ms)]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def ok(self) -> bool:
        return self.ratio <= self.target

    def as_dict(self) -> dict[str, object]:
        ratios = self.ratios
        return {
            "label": self.label,
            "pairs": len(ratios),
            "python_c_pass_ms": _figures(self.base_ms),
            "command_ms": _figures(self.cmd_ms),
            "ratio_median": round(self.ratio, 2),
            "ratio_min": round(min(ratios), 2),
            "ratio_max": round(max(ratios), 2),
            "target": self.target,
            "pass": self.ok,
        }

    def line(self) -> str:
        """One line: ratio (spread), both medians (ranges), verdict."""
        ratios = self.ratios
        return (
            f"{self.label}: {self.ratio:.2f}x (pairs {min(ratios):.2f}-{max(ratios):.2f}x); "
            f"{_ms(self.cmd_ms)} vs python -c pass {_ms(self.base_ms)}; "
            f"target <= {self.target:g}x {'PASS' if self.ok else 'FAIL'}"
        )


def _figures(values: tuple[float, ...]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 1),
        "min": round(min(values), 1),
        "max": round(max(values), 1),
    }


def _ms(values: tuple[float, ...]) -> str:
    return f"{statistics.median(values):.1f} ms ({min(values):.1f}-{max(values):.1f})"


def pairs(
    label: str,
    cmd: list[str],
    *,
    runs: int,
    target: float,
    env: dict[str, str] | None = None,
    codes: tuple[int, ...] = (0,),
) -> Pairs:
    """Time ``cmd`` against ``python -c pass`` of the same interpreter, ``runs`` pairs;
    ``codes``: the exit statuses that count as a run (a diagnosis that finds a problem is 1)."""
    env = env or environ()
    base = [sys.executable, "-c", "pass"]
    wall_ms(base, env)
    wall_ms(cmd, env, codes)
    base_ms: list[float] = []
    cmd_ms: list[float] = []
    for i in range(max(3, runs)):
        if i % 2 == 0:
            b = wall_ms(base, env)
            c = wall_ms(cmd, env, codes)
        else:
            c = wall_ms(cmd, env, codes)
            b = wall_ms(base, env)
        base_ms.append(b)
        cmd_ms.append(c)
    return Pairs(label, tuple(base_ms), tuple(cmd_ms), target)


def heading(what: str, runs: int) -> str:
    """The first line every bench prints: what, when, which interpreter."""
    today = datetime.date.today().isoformat()
    return (
        f"{what} ({today}, Python {sys.version.split()[0]} {sys.executable}, "
        f"{runs} alternating pairs against python -c pass)"
    )
