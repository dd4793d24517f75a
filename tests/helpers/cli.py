"""The one way tests run the command line as a user does: a real process.

:func:`cli` runs ``python -m conda_torch ARGS`` (the stand-alone ``conda-torch``) from this
checkout; :func:`conda_cli` runs ``conda torch ARGS`` through a real conda with this checkout
as its plugin (skipped where no conda is found). Both return the finished process (:class:`Run`),
with its output as text. Tests that must signal a running process
(Ctrl-C) start :func:`cli_command` themselves.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .paths import ROOT

if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True)
class Run:
    """A finished command: exit status, standard output and error."""

    rc: int
    out: str
    err: str

    @property
    def first_error_line(self) -> str:
        """The first line on standard error (an error's own line comes first)."""
        return self.err.split("\n", 1)[0]

    # the names of subprocess.CompletedProcess, which many tests read
    @property
    def returncode(self) -> int:
        return self.rc

    @property
    def stdout(self) -> str:
        return self.out

    @property
    def stderr(self) -> str:
        return self.err


def cli_command(*argv: str, env: dict[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    """``(command, environment)`` of ``python -m conda_torch ARGV``: ``env`` (default: ours)
    with this checkout first on ``PYTHONPATH``."""
    environ = dict(os.environ if env is None else env)
    environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), environ.get("PYTHONPATH", "")) if p
    )
    return [sys.executable, "-m", "conda_torch", *argv], environ


def cli(
    *argv: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | str | None = None,
    timeout: float = 600,
    check: bool = False,
) -> Run:
    """``python -m conda_torch ARGV`` as a process (:func:`cli_command`), in ``cwd`` (default:
    the checkout); ``check``: fail the test, showing the output, unless it exits 0."""
    command, environ = cli_command(*argv, env=env)
    return _run(command, environ, stdin, cwd, timeout, check)


def conda_cli(base: Path, *argv: str, cwd: Path | str | None = None, timeout: float = 180) -> Run:
    """``conda torch ARGV`` through the real conda the tests find (``realconda``), with this
    checkout as its plugin; ``base`` is a scratch folder for the plugin's registration."""
    from .realconda import plugin_environ, require_conda

    conda = require_conda()
    return _run([conda.exe, "torch", *argv], plugin_environ(base), None, cwd, timeout, False)


def _run(
    command: list[str],
    environ: dict[str, str],
    stdin: str | None,
    cwd: Path | str | None,
    timeout: float,
    check: bool,
) -> Run:
    proc = subprocess.run(
        command,
        input=stdin,
        capture_output=True,
        text=True,
        env=environ,
        cwd=cwd or ROOT,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{command} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return Run(proc.returncode, proc.stdout, proc.stderr)
