"""The thin conda adapter: find conda, run it, list and locate environments, activate them.

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
import dataclasses
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
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from . import procs
from .constants import FRONTENDS
from .exceptions import (
    CondaCommandError,
    CondaNotFoundError,
    CondaTorchValueError,
    EnvironmentNotFoundError,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any


#: First conda whose ``create --file`` reads an environment.yml (``env create`` became an
#: alias of ``create``: conda#16210, released in 26.7.0; docs/conda-notes.md 2).
CREATE_READS_ENV_FILE = (26, 7)

#: Characters conda refuses in an environment name (``PREFIX_NAME_DISALLOWED_CHARS`` in
#: conda/base/constants.py), plus the Windows path separator and control characters.
NAME_DISALLOWED = frozenset("/ :#\\")

#: Names conda reserves for its base environment (``RESERVED_ENV_NAMES``, conda/base/constants.py).
RESERVED_NAMES = frozenset({"base", "root"})

#: Marker conda uses to decide that a directory is an environment (``PrefixData.is_environment``).
HISTORY = Path("conda-meta") / "history"

ON_WIN = sys.platform == "win32"

#: Seconds an interrupted conda's process group is given after SIGINT (conda rolls back), after
#: SIGTERM and after SIGKILL to be gone.
STOP_GRACE = (15.0, 10.0, 10.0)


# --------------------------------------------------------------------------------------------
# finding conda


@dataclass(frozen=True)
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
        return _version_tuple(self.version)

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


def _version_tuple(version: str | None) -> tuple[int, ...]:
    if not version:
        return ()
    parts: list[int] = []
    for piece in version.split("."):
        digits = re.match(r"\d+", piece)
        if not digits:
            break
        parts.append(int(digits.group()))
    return tuple(parts)


# --------------------------------------------------------------------------------------------
# running conda


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class EnvInfo:
    prefix: str
    name: str | None


@dataclass(frozen=True)
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
        if self.root_prefix and _same_path(prefix, self.root_prefix):
            return "base"
        parent, base = os.path.split(prefix)
        for envs_dir in self.envs_dirs:
            if _same_path(parent, envs_dir):
                return base
        return None


def _same_path(a: str, b: str) -> bool:
    return os.path.normcase(os.path.abspath(a)) == os.path.normcase(os.path.abspath(b))


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
    return dataclasses.replace(info, envs=envs)


def list_envs_raw(conda: Conda, *, environ: Mapping[str, str] | None = None) -> list[str]:
    doc = run_json(conda, ["env", "list"], environ=environ)
    return [str(p) for p in doc.get("envs", [])]


def list_envs(conda: Conda, *, environ: Mapping[str, str] | None = None) -> list[EnvInfo]:
    """Every environment conda knows (``conda info --json``), with its name where it has one."""
    return list(conda_info(conda, environ=environ).envs)


def locate(conda: Conda, name: str, *, environ: Mapping[str, str] | None = None) -> str | None:
    """The prefix of environment ``name``, or None."""
    check_env_name(name)
    return conda_info(conda, environ=environ).locate(name)


def is_conda_env(prefix: str | os.PathLike[str]) -> bool:
    """True for a directory conda treats as an environment (it has ``conda-meta/history``)."""
    return (Path(prefix) / HISTORY).is_file()


def check_env_name(name: str) -> str:
    """``name`` if conda accepts it as an environment name; else a CondaTorchValueError."""
    bad = sorted(set(name) & NAME_DISALLOWED)
    if not name.strip() or name in (".", "..") or bad or any(ord(c) < 32 for c in name):
        what = f" (it contains {' '.join(repr(c) for c in bad)})" if bad else ""
        raise CondaTorchValueError(
            f"invalid environment name {name!r}{what}",
            hints=["A name is one word without / \\ : # or spaces; give a path with -p PREFIX."],
        )
    if name in RESERVED_NAMES:
        raise CondaTorchValueError(
            f"'{name}' is conda's own base environment; conda-torch does not create or replace it",
            hints=["Choose another name, e.g. -n torch."],
        )
    check_not_sibling(name)
    return name


#: The names conda-torch gives its own files beside an environment (:func:`sibling`).
SIBLING_TAGS = ("lock", "backup", "trash", "marker")
_SIBLING = re.compile(r"^\..+\.conda-torch-(?:" + "|".join(SIBLING_TAGS) + r")$")


def check_not_sibling(name: str) -> None:
    """Refuse a name of the shape of conda-torch's own files (``.ml.conda-torch-backup``): an
    environment so named would be taken for another's backup or lock."""
    if _SIBLING.match(name):
        raise CondaTorchValueError(
            f"{name!r} has the shape of conda-torch's own files beside an environment "
            "(.NAME.conda-torch-backup, -lock, -trash, -marker); conda-torch does not use it "
            "for an environment",
            hints=["Choose another name."],
        )


def check_sibling_room(prefix: str) -> None:
    """Refuse a prefix whose name leaves no room for conda-torch's files beside it (the longest
    is ``.NAME.conda-torch-backup``: 20 characters more than NAME, within the filesystem's
    limit for one name)."""
    parent, base = os.path.split(os.path.abspath(prefix))
    check_not_sibling(base)
    probe = parent
    while not os.path.isdir(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    try:
        limit = os.pathconf(probe, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        limit = 255
    longest = len(os.path.basename(sibling(prefix, "backup")).encode())
    if longest > limit:
        room = limit - (longest - len(base.encode()))
        raise CondaTorchValueError(
            f"the name {base[:20]}... is too long ({len(base)} characters): conda-torch keeps "
            f".NAME.conda-torch-backup beside the environment, and this filesystem allows "
            f"{limit} characters in a name",
            hints=[f"Choose a name of at most {room} characters."],
        )


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
        _rmtree(prefix)
    if os.path.lexists(prefix):
        notes.append(f"could not delete {prefix} completely")
    return notes


def _rmtree(path: str) -> None:
    def onerror(func: Any, p: str, _exc: Any) -> None:  # read-only files (Windows, .git)
        with contextlib.suppress(OSError):
            os.chmod(p, 0o700)
            func(p)

    if os.path.islink(path) or os.path.isfile(path):
        with contextlib.suppress(OSError):
            os.unlink(path)
        return
    shutil.rmtree(path, onerror=onerror)


def sibling(prefix: str, tag: str) -> str:
    """A hidden path next to ``prefix``: ``<dir>/.<name>.conda-torch-<tag>``."""
    parent, base = os.path.split(os.path.abspath(prefix))
    return os.path.join(parent, f".{base}.conda-torch-{tag}")


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
        _rmtree(prefix)
    os.rename(backup, prefix)


# --------------------------------------------------------------------------------------------
# activation


def env_python(prefix: str | os.PathLike[str]) -> Path:
    """The environment's Python executable."""
    return Path(prefix) / ("python.exe" if ON_WIN else os.path.join("bin", "python"))


def path_dirs(prefix: str) -> list[str]:
    """The directories activation puts first on PATH (conda's ``_get_path_dirs``)."""
    if ON_WIN:
        subs = ("", "Library/mingw-w64/bin", "Library/usr/bin", "Library/bin", "Scripts", "bin")
        return [os.path.normpath(os.path.join(prefix, s)) for s in subs]
    return [os.path.join(prefix, "bin")]


def state_env_vars(prefix: str) -> dict[str, str]:
    """``variables:`` conda stored for the environment (``conda-meta/state``)."""
    path = Path(prefix) / "conda-meta" / "state"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    env_vars = doc.get("env_vars") if isinstance(doc, dict) else None
    if not isinstance(env_vars, dict):
        return {}
    return {str(k): str(v) for k, v in env_vars.items()}


def activate_scripts(prefix: str) -> list[Path]:
    """Package activation scripts (``etc/conda/activate.d``) for this platform's shells."""
    folder = Path(prefix) / "etc" / "conda" / "activate.d"
    if not folder.is_dir():
        return []
    suffixes = (".bat",) if ON_WIN else (".sh",)
    return sorted(p for p in folder.iterdir() if p.suffix in suffixes)


def activated_environ(
    prefix: str, *, name: str | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment variables ``conda activate PREFIX`` sets, computed without conda.

    Covers PATH (the environment's directories first, a previously active environment's
    removed), ``CONDA_PREFIX``, ``CONDA_DEFAULT_ENV``, ``CONDA_SHLVL``/``CONDA_PREFIX_N``,
    ``CONDA_PROMPT_MODIFIER`` and the environment's ``variables:``. It does **not** run
    ``etc/conda/activate.d`` scripts: callers check :func:`activate_scripts` and use conda's own
    activator when there are any.
    """
    env = dict(os.environ if environ is None else environ)
    prefix = os.path.abspath(prefix)
    old_prefix = env.get("CONDA_PREFIX")
    path = env.get("PATH", "").split(os.pathsep) if env.get("PATH") else []
    if old_prefix:
        stale = {os.path.normcase(d) for d in path_dirs(old_prefix)}
        path = [p for p in path if os.path.normcase(p) not in stale]
    env["PATH"] = os.pathsep.join([*path_dirs(prefix), *path])
    try:
        shlvl = int(env.get("CONDA_SHLVL", "0") or 0)
    except ValueError:
        shlvl = 0
    if old_prefix and shlvl > 0:
        env[f"CONDA_PREFIX_{shlvl}"] = old_prefix
    env["CONDA_SHLVL"] = str(shlvl + 1)
    env["CONDA_PREFIX"] = prefix
    label = name or prefix
    env["CONDA_DEFAULT_ENV"] = label
    env["CONDA_PROMPT_MODIFIER"] = f"({label}) "
    env.update(state_env_vars(prefix))
    return env


def activation_script(
    conda: Conda, prefix: str, shell: str = "posix", *, environ: Mapping[str, str] | None = None
) -> str:
    """conda's own activation script for ``shell`` (``conda shell.<shell> activate PREFIX``).

    For posix shells and fish conda prints the script itself; for cmd.exe it prints the path of
    a temporary batch file.
    """
    result = run_conda(conda, [f"shell.{shell}", "activate", prefix], capture=True, environ=environ)
    return result.stdout or ""


def spawn_available(conda: Conda) -> bool:
    """True when the conda-spawn plugin is installed beside this conda (``conda spawn``)."""
    if conda.frontend != "conda":
        return False
    python = conda.argv[0] if len(conda.argv) > 1 and conda.argv[1] == "-m" else None
    if python and _same_path(python, sys.executable):
        return importlib.util.find_spec("conda_spawn") is not None
    exe = Path(python or conda.argv[0]).resolve()
    # <root>/bin/conda (or <root>/condabin/conda) -> <root>/lib/python3.X/site-packages
    for root in (exe.parent.parent, exe.parent.parent.parent):
        patterns = (
            ("Lib/site-packages/conda_spawn",)
            if ON_WIN
            else ("lib/python3*/site-packages/conda_spawn",)
        )
        for pattern in patterns:
            if any(root.glob(pattern)):
                return True
    return False


def require_env(prefix: str) -> str:
    """``prefix`` (absolute) if it is a conda environment, else EnvironmentNotFoundError."""
    path = os.path.abspath(os.path.expanduser(prefix))
    if not is_conda_env(path):
        what = "does not exist" if not os.path.exists(path) else "is not a conda environment"
        raise EnvironmentNotFoundError(
            f"{path} {what}",
            hints=["List environments with `conda env list`."],
        )
    return path


def resolve_env(
    conda: Conda | None,
    *,
    name: str | None = None,
    prefix: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[str, str | None]:
    """``(prefix, name)`` of an existing environment given ``-n NAME`` or ``-p PREFIX``."""
    if prefix:
        path = require_env(prefix)
        return path, None
    if not name:
        raise CondaTorchValueError("no environment given", hints=["Pass -n NAME or -p PREFIX."])
    bad = sorted(set(name) & NAME_DISALLOWED)
    if bad:
        check_env_name(name)
    if environ is None:
        quick = _locate_in_process(name)
        if quick:
            return quick, name
    if conda is None:
        raise CondaNotFoundError(
            f"cannot look up environment '{name}' without conda",
            hints=["Pass -p PREFIX instead."],
        )
    info = conda_info(conda, environ=environ)
    found = info.locate(name)
    if found is None:
        raise EnvironmentNotFoundError(
            f"no environment named '{name}'",
            hints=[f"Known: {', '.join(e.name for e in info.envs if e.name) or '(none)'}."],
        )
    return found, name


def _locate_in_process(name: str) -> str | None:
    """conda's own ``locate_prefix_by_name`` where conda is importable here (0.2 s instead of
    a conda start); None when it is not, or does not know the name."""
    if importlib.util.find_spec("conda") is None:
        return None
    try:
        from conda.base.context import locate_prefix_by_name  # type: ignore[import-not-found]

        found = locate_prefix_by_name(name)
    except Exception:
        return None
    return str(found) if found and is_conda_env(found) else None


# --------------------------------------------------------------------------------------------
# running a command or a shell inside an environment


@dataclass(frozen=True)
class Launch:
    """A process to start inside an environment: its command line and variables."""

    argv: tuple[str, ...]
    env: dict[str, str] = field(compare=False)
    #: How the environment is activated: ``direct``, ``conda run``, ``conda spawn``,
    #: ``conda activator (bash)``, ...
    how: str = "direct"
    #: Temporary files and folders to delete once the process has ended.
    cleanup: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def run_launch(
    prefix: str,
    command: Sequence[str],
    *,
    name: str | None = None,
    conda: Conda | None = None,
    use_conda_run: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Launch:
    """How to run ``command`` inside the environment at ``prefix``.

    Directly, with the variables activation sets (:func:`activated_environ`: no conda start at
    all), unless the environment has ``activate.d`` scripts (which only conda's activator runs)
    or ``use_conda_run``: then ``conda run --no-capture-output`` (output streams as it comes).
    """
    if not command:
        raise CondaTorchValueError(
            "no command to run", hints=["conda torch run -n NAME -- CMD ARGS"]
        )
    base_env = dict(os.environ if environ is None else environ)
    scripts = activate_scripts(prefix)
    if use_conda_run or scripts:
        if conda is None:
            raise CondaNotFoundError(
                f"{prefix} has activation scripts that need conda to run"
                if scripts
                else "--conda-run needs conda",
                hints=["Set CONDA_EXE, or run from a shell where conda works."],
            )
        if conda.frontend == "conda":
            args = ["run", "--prefix", prefix, "--no-capture-output", *command]
        else:
            args = ["run", "--prefix", prefix, *command]
        why = (f"{len(scripts)} activate.d script(s)",) if scripts and not use_conda_run else ()
        return Launch(tuple(conda.command(*args)), base_env, f"{conda.frontend} run", notes=why)
    env = activated_environ(prefix, name=name, environ=base_env)
    exe = command[0]
    found = shutil.which(exe, path=env.get("PATH")) if os.sep not in exe else exe
    if found is None:
        err = CondaTorchValueError(
            f"{exe}: command not found in {prefix} or on PATH",
            hints=["Install it into the environment, or give its full path."],
        )
        err.return_code = 127
        raise err
    return Launch((found, *command[1:]), env, "direct")


#: Shells whose activation script conda writes (``conda shell.<name> activate``).
_POSIX_SHELLS = ("sh", "dash", "ash", "ksh", "mksh", "bash", "zsh")


def default_shell(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    if ON_WIN:
        return env.get("COMSPEC", "cmd.exe")
    return env.get("SHELL") or "/bin/sh"


def shell_launch(
    prefix: str,
    *,
    name: str | None = None,
    conda: Conda | None = None,
    shell: str | None = None,
    spawn: bool | None = None,
    environ: Mapping[str, str] | None = None,
    tmpdir: str | None = None,
) -> Launch:
    """How to start an interactive shell with the environment at ``prefix`` activated.

    1. ``conda spawn PREFIX`` when the conda-spawn plugin is installed (and no ``shell`` was
       asked for; ``spawn=False`` skips it);
    2. otherwise ``$SHELL`` (or ``shell``), with conda's own activation script
       (``conda shell.<shell> activate PREFIX``) run after the user's startup files: bash gets
       an ``--rcfile`` that sources ``~/.bashrc`` first, zsh a ``ZDOTDIR`` whose files source
       the user's, sh/dash/ksh an ``ENV`` file, fish an ``-C`` init command;
    3. without conda, or for other shells: the variables of :func:`activated_environ`.
    """
    import tempfile

    base_env = dict(os.environ if environ is None else environ)
    if conda is not None and shell is None and spawn is not False and spawn_available(conda):
        return Launch(tuple(conda.command("spawn", prefix)), base_env, "conda spawn")
    shell_path = shell or default_shell(base_env)
    resolved = shutil.which(shell_path, path=base_env.get("PATH")) or shell_path
    kind = os.path.basename(resolved).lower().removesuffix(".exe")
    direct = activated_environ(prefix, name=name, environ=base_env)
    if conda is None:
        notes = ("conda was not found: activated with PATH/CONDA_PREFIX/variables only",)
        if activate_scripts(prefix):
            notes += ("the environment's activate.d scripts were not run",)
        return Launch(
            (resolved, "-i") if not ON_WIN else (resolved,), direct, "direct", notes=notes
        )
    folder = tempfile.mkdtemp(prefix="conda-torch-shell-", dir=tmpdir)
    env = dict(base_env)
    if kind in _POSIX_SHELLS:
        script = activation_script(
            conda, prefix, "posix" if kind not in ("bash", "zsh") else kind, environ=base_env
        )
        act = os.path.join(folder, "activate.sh")
        Path(act).write_text(script, encoding="utf-8")
        if kind == "bash":
            rc = os.path.join(folder, "bashrc")
            Path(rc).write_text(
                f'[ -f "$HOME/.bashrc" ] && . "$HOME/.bashrc"\n. {shlex.quote(act)}\n',
                encoding="utf-8",
            )
            return Launch(
                (resolved, "--rcfile", rc, "-i"), env, "conda activator (bash)", cleanup=(folder,)
            )
        if kind == "zsh":
            orig = base_env.get("ZDOTDIR") or base_env.get("HOME", "")
            env["ZDOTDIR"] = folder
            env["_CONDA_TORCH_ZDOTDIR"] = orig
            for fname, last in (
                (".zshenv", ""),
                (".zprofile", ""),
                (".zlogin", ""),
                (".zshrc", f". {shlex.quote(act)}\n"),
            ):
                restore = 'ZDOTDIR="$_CONDA_TORCH_ZDOTDIR"; ' if fname == ".zshrc" else ""
                user = f'"$_CONDA_TORCH_ZDOTDIR/{fname}"'
                Path(folder, fname).write_text(
                    f"{restore}[ -f {user} ] && . {user}\n{last}", encoding="utf-8"
                )
            return Launch((resolved, "-i"), env, "conda activator (zsh)", cleanup=(folder,))
        rc = os.path.join(folder, "env.sh")
        user_env = base_env.get("ENV")
        Path(rc).write_text(
            (f"[ -f {shlex.quote(user_env)} ] && . {shlex.quote(user_env)}\n" if user_env else "")
            + f". {shlex.quote(act)}\n",
            encoding="utf-8",
        )
        env["ENV"] = rc
        return Launch((resolved, "-i"), env, f"conda activator ({kind})", cleanup=(folder,))
    if kind == "fish":
        script = activation_script(conda, prefix, "fish", environ=base_env)
        act = os.path.join(folder, "activate.fish")
        Path(act).write_text(script, encoding="utf-8")
        return Launch(
            (resolved, "-i", "-C", f"source {shlex.quote(act)}"),
            env,
            "conda activator (fish)",
            cleanup=(folder,),
        )
    if kind in ("cmd",) and ON_WIN:  # pragma: no cover - Windows
        bat = activation_script(conda, prefix, "cmd.exe", environ=base_env).strip()
        return Launch(
            (resolved, "/K", bat), env, "conda activator (cmd.exe)", cleanup=(folder, bat)
        )
    if kind in ("powershell", "pwsh"):  # pragma: no cover - Windows / pwsh on Unix
        script = activation_script(conda, prefix, "powershell", environ=base_env)
        ps1 = os.path.join(folder, "activate.ps1")
        Path(ps1).write_text(script, encoding="utf-8")
        return Launch(
            (resolved, "-NoExit", "-File", ps1),
            env,
            "conda activator (powershell)",
            cleanup=(folder,),
        )
    _rmtree(folder)
    notes = (
        (
            f"{kind}: started with PATH/CONDA_PREFIX/variables set (conda's activator does not "
            "cover this shell here)"
        ),
    )
    if activate_scripts(prefix):
        notes += ("the environment's activate.d scripts were not run",)
    return Launch((resolved, "-i"), direct, "direct", notes=notes)


def start(launch: Launch, *, cwd: str | None = None) -> int:
    """Run ``launch`` in the foreground and return its exit status (Ctrl-C goes to it)."""
    try:
        proc = subprocess.Popen(list(launch.argv), env=launch.env, cwd=cwd)
    except OSError as exc:
        err = CondaTorchValueError(
            f"cannot start {launch.argv[0]}: {exc.strerror or exc}",
            hints=["Check the command and its permissions."],
        )
        err.return_code = 126 if isinstance(exc, PermissionError) else 127
        raise err from None
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:  # the child got the terminal's SIGINT too: let it decide
                continue
    finally:
        for path in launch.cleanup:
            with contextlib.suppress(OSError):
                _rmtree(path) if os.path.isdir(path) else os.unlink(path)
