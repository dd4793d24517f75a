"""conda as a subprocess: find it, run it, read `conda info`, create, remove, move aside.

conda-torch drives conda (or mamba/micromamba) as a **subprocess** and never imports conda's
solver or transaction code: a subprocess isolates conda's global state, passes conda's own
progress straight to the user's terminal (stdout/stderr inherited) or gives back its ``--json``
answer (captured), and ends with a plain exit status (docs/conda-notes.md 2, "Options for a
plugin").

Finding conda (:func:`find_conda`), first hit wins:

1. ``CONDA_EXE`` (set by ``conda activate``/``conda init``), with ``_CE_M``/``_CE_CONDA`` when
   conda runs from a development checkout (``CONDA_EXE=python``, ``_CE_M=-m``, ``_CE_CONDA=conda``);
2. ``python -m conda`` with the running interpreter, when ``import conda`` works there (inside
   ``conda torch`` this is the interpreter that runs conda itself);
3. ``conda`` on ``PATH``.

A ``conda`` console script made by ``pip install conda`` refuses every command but
``init``/``info`` (docs/conda-notes.md 6); where one is found it is replaced by
``<its python> -m conda``. ``--frontend mamba|micromamba`` uses ``mamba``/``micromamba``
(``MAMBA_EXE`` first for micromamba) instead.

Channels are pinned exactly: conda 26.7 merges the file's channels with ``.condarc``'s and
mishandles ``nodefaults`` (docs/conda-notes.md 3), so conda >= 26.7, mamba and micromamba get
``create --file F --override-channels -c CH ...`` with the file's channels repeated as ``-c``
(26.7's ``create --file`` is the ``env create`` code path, so ``pip:`` sections and
``variables:`` are installed too). Older conda cannot read an environment.yml through
``create --file``: it gets ``env create --file F``, whose old installer honours ``nodefaults``
(added to the file for it; unverified on a real conda older than 26.7).

Moving environments: see :func:`move_aside`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from functools import lru_cache

from . import procs
from .constants import FRONTENDS
from .exceptions import (
    CondaCommandError,
    CondaNotFoundError,
    CondaTorchValueError,
)
from .models import version_tuple
from .prefix import RESERVED_NAMES, is_conda_env, remove_tree, same_path
from .values import field, replace, value_class

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any


#: First conda whose ``create --file`` reads an environment.yml (``env create`` became an
#: alias of ``create``: conda#16210, released in 26.7.0; docs/conda-notes.md 2).
CREATE_READS_ENV_FILE = (26, 7)


#: Seconds an interrupted conda's process group is given after SIGINT (conda rolls back), after
#: SIGTERM and after SIGKILL to be gone.
STOP_GRACE = (15.0, 10.0, 10.0)


# --------------------------------------------------------------------------------------------
# finding conda


@value_class
class Conda:
    """A conda (or mamba/micromamba) command line that works, and how it was found."""

    #: The command prefix: ``("/opt/conda/bin/conda",)`` or ``("/usr/bin/python3", "-m", "conda")``.
    argv: tuple[str, ...]
    frontend: str = "conda"
    #: How it was found: ``CONDA_EXE``, ``python -m conda``, ``PATH``, ``MAMBA_EXE``.
    found_by: str = "PATH"

    def command(self, *args: str) -> list[str]:
        return [*self.argv, *args]

    def display(self, *args: str) -> str:
        """The command as a user would type it (``conda create ...``), for messages."""
        return shlex.join([self.frontend, *args])

    @property
    def version(self) -> str | None:
        return _version(self.argv)

    def version_tuple(self) -> tuple[int, ...]:
        return version_tuple(self.version)

    def to_json(self) -> dict[str, Any]:
        return {
            "frontend": self.frontend,
            "argv": list(self.argv),
            "found_by": self.found_by,
            "version": self.version,
        }


def _is_executable(path: str | None) -> bool:
    return bool(path) and os.path.isfile(path) and os.access(path, os.X_OK)  # type: ignore[arg-type]


#: The line pip's ``conda`` console script is made of (``conda.cli.main_pip:main``).
_PIP_ENTRY = re.compile(rb"^from conda\.cli\.main_pip import main\s*$", re.M)


def _pip_gated(path: str) -> tuple[str, ...] | None:
    """``(python, "-m", "conda")`` for a ``pip install conda`` console script, else None.

    That script calls ``conda.cli.main_pip:main``, which refuses every command but
    ``init``/``info`` ("Conda has not been initialized", docs/conda-notes.md 6). It is recognised by
    its shape: a shebang naming a Python and the line ``from conda.cli.main_pip import main``;
    a shell wrapper that merely mentions ``main_pip`` is run as it is.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return None
    if not head.startswith(b"#!") or not _PIP_ENTRY.search(head):
        return None
    shebang = head[2:].split(b"\n", 1)[0].decode(errors="replace").strip()
    try:
        words = shlex.split(shebang)
    except ValueError:
        return None
    if len(words) > 1 and os.path.basename(words[0]) == "env":
        words = [shutil.which(words[1]) or words[1], *words[2:]]
    python = words[0] if words else ""
    if not re.fullmatch(r"python[\d.]*", os.path.basename(python)):
        return None
    return (python, "-m", "conda") if _is_executable(python) else None


def find_conda(frontend: str = "conda", *, environ: Mapping[str, str] | None = None) -> Conda:
    """The conda to run (see the module docstring for the order); raises CondaNotFoundError."""
    env = os.environ if environ is None else environ
    path = env.get("PATH", os.defpath)
    if frontend not in FRONTENDS:
        raise CondaTorchValueError(
            f"unknown frontend {frontend!r}", hints=[f"Use one of: {', '.join(FRONTENDS)}."]
        )
    if frontend == "conda":
        exe = env.get("CONDA_EXE")
        if exe and _is_executable(exe):
            ce_m, ce_conda = env.get("_CE_M", ""), env.get("_CE_CONDA", "")
            argv: tuple[str, ...] = (exe, ce_m, ce_conda) if ce_m and ce_conda else (exe,)
            return Conda(_pip_gated(exe) or argv, "conda", "CONDA_EXE")
        spec = importlib.util.find_spec("conda")
        if spec is not None and spec.origin and importlib.util.find_spec("conda.cli") is not None:
            return Conda((sys.executable, "-m", "conda"), "conda", "python -m conda")
        exe = shutil.which("conda", path=path)
        if exe:
            return Conda(_pip_gated(exe) or (exe,), "conda", "PATH")
        raise CondaNotFoundError(
            "conda was not found (no CONDA_EXE, no 'import conda' in "
            f"{sys.executable}, no conda on PATH)",
            hints=[
                (
                    "Run this from a shell where 'conda activate' works, or set CONDA_EXE to "
                    "your conda executable."
                )
            ],
        )
    if frontend == "micromamba":
        exe = env.get("MAMBA_EXE")
        if exe and _is_executable(exe) and "micromamba" in os.path.basename(exe):
            return Conda((exe,), "micromamba", "MAMBA_EXE")
    exe = shutil.which(frontend, path=path)
    if exe:
        return Conda((exe,), frontend, "PATH")
    raise CondaNotFoundError(
        f"{frontend} was not found on PATH",
        hints=[f"Install {frontend}, or leave out --frontend to use conda."],
    )


@lru_cache(maxsize=16)
def _version(argv: tuple[str, ...]) -> str | None:
    try:
        proc = subprocess.run(
            [*argv, "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    match = re.search(r"(\d+(?:\.\d+)+\S*)", proc.stdout + proc.stderr)
    return match.group(1) if match else None


# --------------------------------------------------------------------------------------------
# running conda


@value_class
class CondaRun:
    """One finished conda command."""

    argv: tuple[str, ...]
    display: str
    returncode: int
    seconds: float
    stdout: str | None = None
    stderr: str | None = None
    #: The command in short (``conda create``), for messages.
    short: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def json(self) -> dict[str, Any] | None:
        """conda's ``--json`` answer: the last JSON object on stdout.

        With ``--json`` conda may first print NUL-separated progress objects
        (``{"fetch": ..., "progress": ...}``); the answer is the last document.
        """
        return parse_conda_json(self.stdout or "")

    def error_line(self) -> str:
        """conda's own error message in one line (from its JSON answer, else stderr)."""
        doc = self.json()
        text = (doc.get("message") or doc.get("error")) if isinstance(doc, dict) else None
        if doc is not None and text:
            name = doc.get("exception_name")
            # conda's messages are paragraphs; the first two say what failed and on what
            paragraphs = [p for p in re.split(r"\n\s*\n", str(text).strip()) if p.strip()]
            msg = " ".join(" ".join(paragraphs[:2]).split())
            return msg if not name or msg.startswith(str(name)) else f"{name}: {msg}"
        for stream in (self.stderr, None if doc is not None else self.stdout):
            lines = (stream or "").splitlines()
            # conda prints "\nSomeError: what failed\n\n  - on what\n\nmore help..."
            starts = [i for i, ln in enumerate(lines) if _ERROR_LINE.match(ln)]
            if starts:
                text = "\n".join(lines[starts[-1] :])
                paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
                return " ".join(" ".join(paragraphs[:2]).split())
            lines = [ln.strip() for ln in lines if ln.strip()]
            if lines:
                return lines[-1]
        return ""


_ERROR_LINE = re.compile(r"^[A-Z]\w*(Error|Exception|Interrupt|Exit): ")


def parse_conda_json(text: str) -> dict[str, Any] | None:
    text = text.strip()
    if not text:
        return None
    with contextlib.suppress(ValueError):
        doc = json.loads(text)
        return doc if isinstance(doc, dict) else {"value": doc}
    for chunk in reversed([c.strip() for c in text.split("\0")]):
        if not chunk:
            continue
        with contextlib.suppress(ValueError):
            doc = json.loads(chunk)
            return doc if isinstance(doc, dict) else {"value": doc}
    start = text.rfind("\n{")
    if start >= 0:
        with contextlib.suppress(ValueError):
            doc = json.loads(text[start:])
            return doc if isinstance(doc, dict) else None
    return None


def _stop(proc: subprocess.Popen[str]) -> None:
    """After Ctrl-C or SIGTERM: stop conda's whole process group (post-link scripts included)
    and wait until none of it is left: SIGINT first (conda rolls its transaction back), then
    SIGTERM, then SIGKILL (:data:`STOP_GRACE` seconds each)."""
    steps = zip((signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGKILL", signal.SIGTERM)),
                STOP_GRACE)  # fmt: skip
    procs.stop_group(proc, steps)


def run_conda(
    conda: Conda,
    args: Sequence[str],
    *,
    capture: bool = False,
    environ: Mapping[str, str] | None = None,
    check: bool = True,
    cwd: str | None = None,
    timeout: float | None = None,
    started: Callable[[subprocess.Popen[str]], None] | None = None,
) -> CondaRun:
    """Run ``conda ARGS``; conda's output passes through unless ``capture``.

    conda runs in its own process group; ``started(proc)`` is called as soon as it runs (the
    lock records it, so that a conda left running by a killed conda-torch is recognised).

    Raises :class:`CondaCommandError` when ``check`` and conda exits non-zero (the message
    carries conda's own error line), :class:`CondaNotFoundError` when the executable vanished,
    and re-raises ``KeyboardInterrupt`` only after conda has stopped (see :func:`_stop`).
    """
    argv = conda.command(*args)
    display = conda.display(*args)
    env = dict(os.environ if environ is None else environ)
    start = time.perf_counter()
    pipe = subprocess.PIPE if capture else None
    try:
        proc = procs.start(  # its own process group: stopped as a whole (see _stop)
            argv,
            stdout=pipe,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
    except OSError as exc:
        raise CondaNotFoundError(
            f"cannot run {argv[0]}: {exc.strerror or exc}",
            hints=["Check CONDA_EXE / PATH, or use --frontend."],
        ) from exc
    if started is not None:
        started(proc)
    tail: list[str] = []
    reader = None if capture else _tee(proc, tail)
    try:
        if capture:
            out, err = proc.communicate(timeout=timeout)
        else:
            proc.wait(timeout=timeout)
            out, err = None, None
    except subprocess.TimeoutExpired:
        _stop(proc)
        raise CondaCommandError(
            f"`{display}` did not finish within {timeout:.0f} s", hints=[]
        ) from None
    except BaseException:
        _stop(proc)
        raise
    finally:
        if reader is not None:
            reader.join(timeout=5)
    if not capture:
        err = "".join(tail)
    result = CondaRun(
        argv=tuple(argv),
        display=display,
        returncode=proc.returncode,
        seconds=time.perf_counter() - start,
        stdout=out,
        stderr=err,
        short=conda.display(*_subcommand(args)),
    )
    if check and not result.ok:
        raise command_error(result)
    return result


def _subcommand(args: Sequence[str]) -> list[str]:
    """``create`` / ``env create`` / ``remove``: the words before the first option."""
    words = []
    for arg in args:
        if arg.startswith("-") or len(words) == 2:
            break
        words.append(arg)
    return words


def _tee(proc: subprocess.Popen[str], tail: list[str], keep: int = 40) -> Any:
    """Pass conda's stderr through to ours as it comes, keeping its last lines for messages."""
    import threading

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write(line)
                sys.stderr.flush()
            tail.append(line)
            if len(tail) > keep:
                del tail[0]

    thread = threading.Thread(target=pump, name="conda-stderr", daemon=True)
    thread.start()
    return thread


def command_error(result: CondaRun) -> CondaCommandError:
    line = result.error_line()
    err = CondaCommandError(
        f"`{result.short or result.display}` failed (exit status {result.returncode})"
        + (f": {line}" if line else ""),
        hints=[] if line else ["conda's own output above says why."],
    )
    err.returncode = result.returncode  # type: ignore[attr-defined]
    return err


def run_json(
    conda: Conda, args: Sequence[str], *, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Run ``conda ARGS --json`` (captured) and return its JSON answer."""
    result = run_conda(conda, [*args, "--json"], capture=True, environ=environ)
    doc = result.json()
    if doc is None:
        raise CondaCommandError(
            f"`{result.display}` printed no JSON",
            hints=["Run it yourself to see what it printed."],
        )
    return doc


# --------------------------------------------------------------------------------------------
# environments


@value_class
class EnvInfo:
    """A conda environment: its prefix and, if it has one, its name."""

    prefix: str
    name: str | None


@value_class
class CondaInfo:
    """What conda says about its installation (``conda info --json``)."""

    root_prefix: str | None
    envs_dirs: tuple[str, ...]
    envs: tuple[EnvInfo, ...]
    conda_version: str | None = None
    active_prefix: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def locate(self, name: str) -> str | None:
        """The prefix of environment ``name`` (conda's order: base, then each envs dir)."""
        if name in RESERVED_NAMES:
            return self.root_prefix
        for envs_dir in self.envs_dirs:
            candidate = os.path.join(envs_dir, name)
            if is_conda_env(candidate):
                return os.path.abspath(candidate)
        for env in self.envs:
            if env.name == name and is_conda_env(env.prefix):
                return env.prefix
        return None

    def new_prefix(self, name: str) -> str:
        """Where ``-n name`` puts a new environment: the first writable envs dir.

        Mirrors conda's ``first_writable_envs_dir``: a directory that exists (or can be
        made) and accepts files.
        """
        for envs_dir in self.envs_dirs:
            if _writable_dir(envs_dir):
                return os.path.join(os.path.abspath(envs_dir), name)
        raise CondaCommandError(
            "no writable envs directory: " + ", ".join(self.envs_dirs or ("(none)",)),
            hints=["Set envs_dirs in .condarc (or CONDA_ENVS_DIRS), or use -p PREFIX."],
        )

    def name_of(self, prefix: str) -> str | None:
        """The name ``conda activate`` knows ``prefix`` by, None when only the path works."""
        prefix = os.path.abspath(prefix)
        if self.root_prefix and same_path(prefix, self.root_prefix):
            return "base"
        parent, base = os.path.split(prefix)
        for envs_dir in self.envs_dirs:
            if same_path(parent, envs_dir):
                return base
        return None


def _writable_dir(path: str) -> bool:
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK | os.X_OK)


def conda_info(conda: Conda, *, environ: Mapping[str, str] | None = None) -> CondaInfo:
    """``conda info --json`` (envs dirs, environments, base) read into :class:`CondaInfo`.

    conda's ``info`` probes the CUDA driver (about 0.5 s, docs/conda-notes.md 5); it answers
    nothing conda-torch needs here, so ``CONDA_OVERRIDE_CUDA`` is pinned for this call when the
    user has not set it.
    """
    env = dict(os.environ if environ is None else environ)
    env.setdefault("CONDA_OVERRIDE_CUDA", "")
    doc = run_json(conda, ["info"], environ=env)
    # conda: "envs_dirs"/"envs"/"root_prefix"; micromamba 2: "envs directories"/"base environment"
    envs_dirs = doc.get("envs_dirs") or doc.get("envs directories") or []
    root = doc.get("root_prefix") or doc.get("base environment")
    prefixes = doc.get("envs")
    if prefixes is None:
        prefixes = list_envs_raw(conda, environ=environ)
    info = CondaInfo(
        root_prefix=root,
        envs_dirs=tuple(str(d) for d in envs_dirs),
        envs=(),
        conda_version=doc.get("conda_version") or doc.get("micromamba version"),
        active_prefix=doc.get("active_prefix"),
        raw=doc,
    )
    envs = tuple(EnvInfo(prefix=str(p), name=info.name_of(str(p))) for p in prefixes or [])
    return replace(info, envs=envs)


def list_envs_raw(conda: Conda, *, environ: Mapping[str, str] | None = None) -> list[str]:
    doc = run_json(conda, ["env", "list"], environ=environ)
    return [str(p) for p in doc.get("envs", [])]


def list_envs(conda: Conda, *, environ: Mapping[str, str] | None = None) -> list[EnvInfo]:
    """Every environment conda knows (``conda info --json``), with its name where it has one."""
    return list(conda_info(conda, environ=environ).envs)


# --------------------------------------------------------------------------------------------
# creating, removing, moving


def create_command(
    conda: Conda, prefix: str, env_file: str, channels: Sequence[str], *, json_out: bool
) -> tuple[list[str], bool]:
    """Arguments (after the conda command) that create ``prefix`` from ``env_file``.

    Returns ``(args, pinned)``: ``pinned`` is True when the channels are pinned with
    ``--override-channels`` (see the module docstring); a file without channels falls back to
    the configured channels (``pinned`` False).
    """
    uses_create = conda.frontend != "conda" or conda.version_tuple() >= CREATE_READS_ENV_FILE
    tail = ["--json"] if json_out else []
    if uses_create:
        args = ["create", "--prefix", prefix, "--file", env_file, "--yes"]
        if channels:
            args.append("--override-channels")
            for ch in channels:
                args += ["--channel", ch]
        return args + tail, bool(channels)
    return ["env", "create", "--prefix", prefix, "--file", env_file, *tail], False


def remove_env(
    conda: Conda | None, prefix: str, *, environ: Mapping[str, str] | None = None
) -> list[str]:
    """Remove the environment at ``prefix`` and whatever is left of its directory.

    ``conda remove --all`` first (it also unregisters the prefix from environments.txt), then
    ``shutil.rmtree`` for what conda left or when conda failed (a half-built environment).
    Returns notes about what did not go as planned; raises nothing.
    """
    notes: list[str] = []
    if not os.path.lexists(prefix):
        return notes
    if conda is not None and is_conda_env(prefix):
        try:
            run_conda(
                conda,
                ["remove", "--prefix", prefix, "--all", "--yes", "--json"],
                capture=True,
                environ=environ,
                check=True,
            )
        except (CondaCommandError, CondaNotFoundError) as exc:
            notes.append(f"conda remove failed ({exc.line}); deleted the directory instead")
    if os.path.lexists(prefix):
        remove_tree(prefix)
    if os.path.lexists(prefix):
        notes.append(f"could not delete {prefix} completely")
    return notes


def move_aside(prefix: str, backup: str) -> None:
    """Move an environment out of the way (``os.rename`` into a sibling path).

    Why a filesystem rename and not ``conda rename``:

    * conda writes the prefix path into files at link time (script shebangs,
      ``etc/conda/activate.d`` scripts, ``sysconfigdata``, ``.pc`` files, pip's entry points).
      A renamed directory still carries its old path, so conda-torch only ever renames an
      environment *away and back to the same path*; a renamed environment is never run.
    * ``conda rename`` (conda/cli/main_rename.py) is clone + delete: ``clone_env`` re-links the
      packages and copies every untracked file through memory (all of a pip-installed torch,
      gigabytes), and skips ``conda-meta`` entirely, so ``variables:`` (``conda-meta/state``)
      and conda-torch's provenance would be lost.
    * A rename within one directory is atomic and instant; the sibling lives in the same
      directory, so the same filesystem. environments.txt keeps listing the original path,
      which is right again once the environment is back or replaced.
    """
    os.rename(prefix, backup)


def restore(backup: str, prefix: str) -> None:
    """Put an environment moved by :func:`move_aside` back where it was."""
    if os.path.lexists(prefix):
        remove_tree(prefix)
    os.rename(backup, prefix)
