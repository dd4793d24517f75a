"""A real Slurm for the tests, where one runs: ``srun`` on PATH and a controller that answers.

``.ci/run`` starts a single-node Slurm where the machine can (Debian's packages, root) and
exports ``SLURM_CONF``; elsewhere the tests that need it skip with one reason.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

import pytest

#: How every skip for want of a Slurm starts (the summary line counts them).
NO_SLURM = "no Slurm here"


@functools.lru_cache(maxsize=1)
def slurm_problem() -> str | None:
    """Why no Slurm can run jobs here (None when ``srun -N1 true`` works)."""
    if shutil.which("srun") is None:
        return f"{NO_SLURM}: srun is not on PATH (.ci/run starts a local one where it can)"
    if not os.environ.get("SLURM_CONF") and not os.path.exists("/etc/slurm/slurm.conf"):
        return f"{NO_SLURM}: neither SLURM_CONF nor /etc/slurm/slurm.conf"
    try:
        proc = subprocess.run(["srun", "-N1", "true"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{NO_SLURM}: srun -N1 true did not run ({exc})"
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        return f"{NO_SLURM}: srun -N1 true failed ({lines[-1] if lines else proc.returncode})"
    return None


def require_slurm() -> None:
    problem = slurm_problem()
    if problem:
        pytest.skip(problem)


def squeue_jobs() -> list[str]:
    proc = subprocess.run(["squeue", "-h", "-o", "%i %j %T"], capture_output=True, text=True,
                          timeout=30)  # fmt: skip
    return [ln for ln in proc.stdout.splitlines() if ln.strip()]
