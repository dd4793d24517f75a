"""``conda torch create``: plan -> environment file -> conda -> provenance -> validate -> report.

:func:`create` runs the flow and returns a :class:`CreateResult`; it never prints (each step is
handed to a ``progress`` callback as it starts and ends, and conda's own output passes through
to the terminal unless the caller asked for JSON). Checks that need nothing changed (a bad
name, an existing environment without ``force``, a missing conda) raise a
:class:`~conda_torch.exceptions.CondaTorchError` before anything is touched.

How an environment is replaced, and why it is not built under a temporary name
-------------------------------------------------------------------------------
conda writes an environment's own path into files as it links them (script shebangs,
``activate.d`` scripts, ``sysconfigdata``, pip entry points), so an environment only works at
the path it was built at, and moving a finished one means conda's clone (``conda rename``),
which copies pip-installed files (gigabytes for CUDA wheels) and drops ``conda-meta/state``
(``variables:``) and the provenance (see :func:`conda_torch.conda_cli.move_aside`). So the new
environment is built at the requested path itself, while the old one waits beside it:

1. nothing is changed until the target has been checked: a name that exists is refused
   without ``force``; a path that holds anything but a conda environment is always refused;
   the base environment and the environment running conda-torch are never replaced;
2. a lock file beside the target (``.<name>.conda-torch-lock``) keeps two creations apart and
   lets the next run say what an interrupted (killed) run left behind;
3. with ``force``, the existing environment is renamed to ``.<name>.conda-torch-backup``
   in the same folder (atomic, and it is only ever renamed back to its own path);
4. conda creates the environment at the target path, the provenance is written into it and
   the validator runs the environment's own Python;
5. only when all of that succeeded is the backup deleted. On any failure, an invalid result or
   an interruption (``KeyboardInterrupt`` included; further Ctrl-C are ignored while
   rolling back) the new environment is removed and the backup renamed back, so nothing is
   left under the requested name and the old environment is exactly as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import stat
import sys
import tempfile
import threading
import time
from pathlib import Path

from . import conda_cli as cd
from . import prefix as pf
from . import procs
from .exceptions import (
    CondaTorchError,
    CondaTorchValueError,
    OutputExistsError,
    os_error_line,
)
from .values import replace, value_class

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from typing import Any

    from .prepare import Prepared

#: Result statuses.
CREATED, DRY_RUN, FAILED, INVALID, INTERRUPTED = (
    "created", "dry-run", "failed", "invalid", "interrupted",
)  # fmt: skip

#: Exit codes per status (130 = interrupted by SIGINT, the shell convention).
EXIT_CODES: dict[str, int] = {CREATED: 0, DRY_RUN: 0, FAILED: 1, INVALID: 1, INTERRUPTED: 130}

#: Result schema for ``--json``.
SCHEMA = "conda-torch.create/1"


# --------------------------------------------------------------------------------------------
# values


@value_class
class Step:
    """One step of the flow, as reported to the ``progress`` callback and in the result."""

    #: plan | solve | file | target | backup | conda | provenance | validate | finish | rollback
    name: str
    status: str  # start | ok | failed | skipped | note
    message: str
    seconds: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"step": self.name, "status": self.status, "message": self.message}
        if self.seconds is not None:
            out["seconds"] = round(self.seconds, 3)
        return out


@value_class
class Destination:
    """Where the environment goes."""

    prefix: str
    #: The name ``conda activate`` knows it by (None: only its path works).
    name: str | None
    exists: bool
    #: conda found, or None (dry run without conda).
    conda: cd.Conda | None = None

    def activate_command(self, frontend: str = "conda") -> str:
        return f"{frontend} activate {shlex.quote(self.name or self.prefix)}"


@value_class
class CreateResult:
    """What creating an environment did."""

    status: str
    prefix: str | None
    name: str | None
    environment_file: str
    plan: Mapping[str, Any]
    origin: str
    activate: str | None = None
    replaced: bool = False
    conda_command: str | None = None
    conda: Mapping[str, Any] | None = None
    conda_output: Mapping[str, Any] | None = None
    validation: Mapping[str, Any] | None = None
    error: str | None = None
    hints: tuple[str, ...] = ()
    steps: tuple[Step, ...] = ()
    notes: tuple[str, ...] = ()
    seconds: float = 0.0
    #: Where the old environment is when it could not be put back (needs the user).
    backup_left: str | None = None
    summary: str = ""

    @property
    def ok(self) -> bool:
        return self.status in (CREATED, DRY_RUN)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.status, 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "success": self.ok,
            "status": self.status,
            "name": self.name,
            "prefix": self.prefix,
            "activate": self.activate,
            "replaced": self.replaced,
            "origin": self.origin,
            "summary": self.summary,
            "plan": dict(self.plan),
            "environment_file": self.environment_file,
            "conda": dict(self.conda) if self.conda else None,
            "conda_command": self.conda_command,
            "conda_output": dict(self.conda_output) if self.conda_output else None,
            "validation": dict(self.validation) if self.validation is not None else None,
            "error": self.error,
            "hints": list(self.hints),
            "backup_left": self.backup_left,
            "notes": list(self.notes),
            "steps": [s.to_json() for s in self.steps],
            "seconds": round(self.seconds, 3),
        }


# --------------------------------------------------------------------------------------------
# the target


def resolve_destination(
    conda: cd.Conda | None,
    *,
    name: str | None,
    prefix: str | None,
    force: bool,
    environ: Mapping[str, str] | None = None,
    check_exists: bool = True,
) -> Destination:
    """Check ``-n``/``-p`` and find where the environment goes; changes nothing.

    Raises for a bad name, a path that holds something other than a conda environment, the
    base or running environment, and (unless ``force``) an environment that exists.
    """
    if name and prefix:
        raise CondaTorchValueError(
            "give -n NAME or -p PREFIX, not both", hints=["conda create takes one of them too."]
        )
    if not name and not prefix:
        raise CondaTorchValueError("no environment name", hints=["Pass -n NAME (or -p PREFIX)."])
    env = os.environ if environ is None else environ
    info: cd.CondaInfo | None = None
    if name:
        pf.check_env_name(name, new=True)
        if conda is None:
            return Destination(prefix="", name=name, exists=False, conda=None)
        info = cd.conda_info(conda, environ=environ)
        found = info.locate(name)
        target = found or info.new_prefix(name)
        shown_name: str | None = name
    else:
        assert prefix is not None
        target = os.path.abspath(os.path.expanduser(prefix))
        if conda is not None and check_exists:
            info = cd.conda_info(conda, environ=environ)
        shown_name = info.name_of(target) if info is not None else None
    target = _through_link(target)
    pf.check_sibling_room(target)
    holder = lock_holder(target)
    if holder is not None:  # what is there is another run's unfinished work
        raise busy_error(target, holder)
    exists = pf.is_conda_env(target)
    _refuse_protected(target, info, env)
    if not exists and os.path.lexists(target):
        if not os.path.isdir(target) or os.listdir(target):
            raise OutputExistsError(
                target,
                "a path that is not a conda environment,",
                hint="conda-torch only replaces conda environments: choose another path.",
            )
    if exists and not force:
        label = f"'{name}' ({target})" if name else target
        raise OutputExistsError(label, "environment")
    return Destination(prefix=target, name=shown_name, exists=exists, conda=conda)


def _through_link(target: str) -> str:
    """A symlinked prefix means the folder it points to: that is what is replaced (the link is
    kept). A link to nothing is refused."""
    if not os.path.islink(target):
        return target
    real = os.path.realpath(target)
    if not os.path.exists(real):
        raise CondaTorchValueError(
            f"{target} is a symlink to {real}, which does not exist",
            hints=["Point it at a folder, or give the real path with -p."],
        )
    return real


def _refuse_protected(target: str, info: cd.CondaInfo | None, env: Mapping[str, str]) -> None:
    protected = {
        "the base environment": info.root_prefix if info else None,
        "the environment conda-torch runs in": sys.prefix,
        "the active environment": env.get("CONDA_PREFIX"),
    }
    for what, path in protected.items():
        if path and pf.same_path(target, path):
            raise CondaTorchValueError(
                f"{target} is {what}; conda-torch does not replace it",
                hints=["Choose another name or path."],
            )


# --------------------------------------------------------------------------------------------
# the lock and leftovers of an earlier, killed run


def lock_path(prefix: str) -> str:
    return pf.sibling(prefix, "lock")


def backup_path(prefix: str) -> str:
    return pf.sibling(prefix, "backup")


def trash_path(prefix: str) -> str:
    """Where a replaced environment goes to be deleted (a leftover is deleted next time)."""
    return pf.sibling(prefix, "trash")


def marker_path(prefix: str) -> str:
    """The marker that proves a backup is conda-torch's: written beside the environment just
    before it is moved aside, naming the folder by device and inode (a rename keeps both), so
    that only that very folder is ever taken for the backup, renamed back or deleted. Outside
    the environment, which stays byte-identical while it waits."""
    return pf.sibling(prefix, "marker")


@value_class
class Holder:
    """A conda-torch run that holds an environment's lock right now."""

    pid: int
    command: str
    #: A conda left running by a conda-torch that was killed outright.
    orphan: bool = False

    def describe(self) -> str:
        return f"pid {self.pid}: {self.command}" if self.command else f"pid {self.pid}"

    def sentence(self, prefix: str) -> str:
        """``another conda-torch (pid 12: ...) is replacing PREFIX right now``."""
        if self.orphan:
            return (f"a conda ({self.describe()}) that a killed conda-torch left running is "
                    f"still writing {prefix}")  # fmt: skip
        return f"another conda-torch ({self.describe()}) is replacing {prefix} right now"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if sys.platform == "win32":  # pragma: no cover - no os.kill(pid, 0) semantics
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cmdline(pid: int) -> list[str] | None:
    """A process's command line (``/proc/PID/cmdline``), None where it cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0")[:-1]]


def _same_process(pid: int, recorded: list[str] | None) -> bool:
    """``pid`` runs and is the process recorded (not a zombie, not a reused pid): its command
    line ends with the recorded arguments (how the program itself is named may differ: a
    script's interpreter, ``conda`` re-running as ``python -m conda``)."""
    if not _pid_alive(pid):
        return False
    now = _cmdline(pid)
    if now is None:
        return True
    if not now:
        return False  # a zombie
    if recorded is None:
        return True
    args = recorded[1:]
    return now == recorded or (bool(args) and now[len(now) - len(args) :] == args)


def lock_holder(prefix: str) -> Holder | None:
    """The live run that holds ``prefix``'s lock, None when none does.

    The lock names its process and command line; a pid that is gone, a zombie or a pid reused
    by another program (its command line differs) holds nothing. It also names the conda that
    run started (its own process group): a conda-torch killed outright (SIGKILL) leaves conda
    running, and as long as any process of that group runs, the environment is being written.
    """
    try:
        lines = Path(lock_path(prefix)).read_text(encoding="utf-8").splitlines()
        pid = int(lines[0].split()[0])
    except (OSError, ValueError, IndexError):
        return None
    doc: dict[str, Any] = {}
    with contextlib.suppress(ValueError, IndexError):
        loaded = json.loads(lines[1])
        doc = loaded if isinstance(loaded, dict) else {}
    recorded = list(doc.get("cmdline") or ()) or None
    if _same_process(pid, recorded):
        return Holder(pid, shlex.join(recorded or _cmdline(pid) or ()))
    child = doc.get("conda") if isinstance(doc.get("conda"), dict) else {}
    try:
        group = int(child.get("pid") or 0)
    except (TypeError, ValueError):
        group = 0
    command = list(child.get("cmdline") or ()) or None
    if group > 0 and procs.group_alive(group):
        leader_gone = not _pid_alive(group)
        if leader_gone or _same_process(group, command):
            return Holder(group, shlex.join(command or ()), orphan=True)
    return None


def busy_error(prefix: str, holder: Holder) -> CondaTorchError:
    """Another run is replacing ``prefix``: wait (nothing is advised against it)."""
    return CondaTorchError(
        holder.sentence(prefix), hints=["Wait for it to finish, then run this again."]
    )


def is_backup_of(backup: str, prefix: str) -> bool:
    """Whether ``backup`` is the environment conda-torch moved aside from ``prefix``."""
    try:
        doc = json.loads(Path(marker_path(prefix)).read_text(encoding="utf-8"))
        st = os.lstat(backup)
    except (OSError, ValueError):
        return False
    return (
        isinstance(doc, dict)
        and stat.S_ISDIR(st.st_mode)
        and (doc.get("dev"), doc.get("ino")) == (st.st_dev, st.st_ino)
    )


def leftover_advice(prefix: str) -> tuple[str, list[str]] | None:
    """What a killed run left beside ``prefix`` and the commands that put it back or drop it
    (None when no backup of conda-torch's is there)."""
    backup = backup_path(prefix)
    if not is_backup_of(backup, prefix):
        return None
    q = shlex.quote
    marker = q(marker_path(prefix))
    back = f"rm -rf {q(prefix)} && mv {q(backup)} {q(prefix)} && rm -f {marker}"
    return back, [f"To get it back: {back}", f"To drop it: rm -rf {q(backup)} {marker}"]


def mark_backup(prefix: str, folder: str | None = None) -> None:
    """Write the marker for ``folder`` (default: ``prefix`` itself, about to be moved aside)."""
    st = os.lstat(folder or prefix)
    doc = {"schema": "conda-torch.backup/1", "prefix": prefix, "backup": backup_path(prefix),
           "dev": st.st_dev, "ino": st.st_ino, "pid": os.getpid()}  # fmt: skip
    Path(marker_path(prefix)).write_text(json.dumps(doc) + "\n", encoding="utf-8")


def foreign_backup_error(prefix: str) -> CondaTorchError:
    """The backup name is taken by a folder conda-torch did not make."""
    return CondaTorchError(
        f"{backup_path(prefix)} exists and is not a conda-torch backup: conda-torch needs that "
        "name to keep the environment aside while it builds the new one",
        hints=["Rename that folder (it is not conda-torch's), then run this again."],
    )


def _unmark(prefix: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(marker_path(prefix))


def _lock_text(doc: Mapping[str, Any]) -> str:
    return f"{doc['pid']}\n{json.dumps(doc)}\n"


@contextlib.contextmanager
def _locked(prefix: str) -> Iterator[Callable[[Any], None]]:
    """Hold ``prefix``'s lock; yields ``note_conda(proc)``, which records the conda this run
    started in the lock (see :func:`lock_holder`)."""
    path = lock_path(prefix)
    backup = backup_path(prefix)
    for _attempt in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            holder = lock_holder(prefix)
            if holder is not None:
                raise busy_error(prefix, holder) from None
            with contextlib.suppress(OSError):
                os.unlink(path)
        except OSError as exc:  # a read-only folder, a full disk
            raise CondaTorchError(
                os_error_line(exc, "cannot create the lock") + "; nothing was changed",
                hints=["conda-torch writes beside the environment: choose a writable folder."],
            ) from None
    else:  # pragma: no cover - lost a race twice
        raise CondaTorchError(f"cannot lock {prefix}", hints=["Try again."])
    me = _cmdline(os.getpid()) or [sys.executable, *sys.argv]
    doc: dict[str, Any] = {"pid": os.getpid(), "cmdline": me}

    def note_conda(proc: Any) -> None:
        doc["conda"] = {"pid": proc.pid, "cmdline": [str(a) for a in proc.args]}
        with contextlib.suppress(OSError):
            Path(path).write_text(_lock_text(doc), encoding="utf-8")

    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(_lock_text(doc))
        trash = trash_path(prefix)
        if os.path.lexists(trash):  # a replaced environment whose deletion was cut short
            pf.remove_tree(trash)
        advice = leftover_advice(prefix)
        if advice is not None:
            raise CondaTorchError(
                f"an earlier conda-torch create was killed while replacing {prefix}: the "
                f"environment that was there is now at {backup}",
                hints=advice[1],
            )
        if os.path.lexists(backup):
            raise foreign_backup_error(prefix)
        _unmark(prefix)  # a killed run's marker whose backup is no longer there
        yield note_conda
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


@contextlib.contextmanager
def _no_interrupts() -> Iterator[None]:
    """Ignore SIGINT, SIGTERM and SIGHUP while rolling back; children started meanwhile
    inherit it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {}
    for sig in (signal.SIGINT, getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)):
        if sig is None:
            continue
        with contextlib.suppress(ValueError, OSError):
            saved[sig] = signal.signal(sig, signal.SIG_IGN)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, handler)


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP (a closed terminal) into KeyboardInterrupt while creating, so
    that they roll back too (conda, in its own process group, hears of them from us)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    saved = {}
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        with contextlib.suppress(ValueError, OSError):
            saved[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in saved.items():
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, old)


# --------------------------------------------------------------------------------------------
# the flow


class _Invalid(Exception):
    def __init__(self, report: Any) -> None:
        self.report = report
        super().__init__("validation failed")


def _report_json(report: Any, *, without_fixes: bool = False) -> dict[str, Any] | None:
    """The report as JSON; ``without_fixes`` drops the fix commands (they name an environment
    that was removed again: a failed creation's)."""
    if report is None:
        return None
    doc = report.to_json() if hasattr(report, "to_json") else dict(report)
    if without_fixes:
        doc["checks"] = [{**c, "fix": None} for c in doc.get("checks") or ()]
    return doc


def _report_failures(report: Any) -> list[str]:
    out = []
    for check in getattr(report, "checks", ()) or ():
        if getattr(check, "status", None) == "fail":
            ident = getattr(check, "id", "?")
            msg = getattr(check, "message", "")
            out.append(f"{ident}: {msg}" if msg else str(ident))
    return out


def default_validator(timeout: float | None = None) -> Callable[..., Any]:
    """:func:`conda_torch.validate.validate`, its probe bounded by ``timeout`` (None: the
    default bound)."""

    def run(
        *, python: str, prefix: str, environ: Mapping[str, str], provenance: Any, name: str | None
    ) -> Any:
        from .validate import validate

        extra = {"timeout": timeout} if timeout else {}
        return validate(python=python, prefix=prefix, environ=environ, provenance=provenance,
                        name=name, **extra)  # fmt: skip

    return run


def create(
    prepared: Prepared,
    *,
    name: str | None = None,
    prefix: str | None = None,
    force: bool = False,
    dry_run: bool = False,
    json_output: bool = False,
    frontend: str = "conda",
    conda: cd.Conda | None = None,
    environ: Mapping[str, str] | None = None,
    progress: Callable[[Step], None] | None = None,
    confirm: Callable[[Destination, Prepared], bool] | None = None,
    validator: Callable[..., Any] | None = None,
    keep_backup: str | None = None,
) -> CreateResult:
    """Create the environment ``prepared`` describes at ``-n name`` / ``-p prefix``.

    ``json_output`` captures conda's output (its ``--json`` answer goes into the result)
    instead of letting it through. ``confirm`` is asked once the target is known and before
    anything changes; returning False ends with status ``failed`` ("cancelled"), nothing
    touched. ``validator(python=, prefix=, environ=, provenance=, name=)`` returns a report
    with ``.ok`` and ``.to_json()`` (default: :func:`conda_torch.validate.validate`); it runs
    with the environment activated over ``environ`` and the provenance just written.
    ``keep_backup``: a path the replaced environment is renamed to once the new one validated,
    instead of being deleted (``conda torch recreate --keep-backup``).
    """
    started = time.perf_counter()
    steps: list[Step] = []

    def emit(step: Step) -> None:
        if step.status != "start":
            steps.append(step)
        if progress is not None:
            progress(step)

    name = name if name is not None else (None if prefix else prepared.file_name)
    base = CreateResult(
        status=DRY_RUN,
        prefix=None,
        name=name,
        environment_file=prepared.text,
        plan=prepared.record,
        origin=prepared.origin,
        summary=prepared.summary,
    )
    emit(Step("plan", "ok", prepared.summary or "environment file ready"))

    # conda is needed to know the target; a dry run goes on without it.
    notes: list[str] = []
    if prepared.solve_environ:  # a plan for other machines: the solve sees theirs
        environ, said = _solve_environ(prepared, environ)
        emit(Step("solve", "note", said))
    if conda is None:
        try:
            conda = cd.find_conda(frontend, environ=environ)
        except CondaTorchError as exc:
            if not dry_run:
                raise
            notes.append(f"{exc.line} (a real run needs it)")
    dest = resolve_destination(
        conda,
        name=name,
        prefix=prefix,
        force=force or dry_run,
        environ=environ,
    )
    if dry_run:
        would = (
            "replace the existing environment (needs --force)"
            if dest.exists and not force
            else ("replace the existing environment" if dest.exists else "create a new environment")
        )
        command = None
        if conda is not None:
            args, _pinned = cd.create_command(
                conda, dest.prefix, "environment.yml", prepared.channels, json_out=json_output
            )
            command = conda.display(*args)
        notes.append(f"would {would} at {dest.prefix or '(the envs directory conda picks)'}")
        return replace(
            base,
            prefix=dest.prefix or None,
            name=dest.name,
            activate=dest.activate_command(frontend) if dest.name or dest.prefix else None,
            replaced=dest.exists,
            conda_command=command,
            conda=conda.to_json() if conda else None,
            notes=tuple(notes),
            steps=tuple(steps),
            seconds=time.perf_counter() - started,
        )
    assert conda is not None
    emit(
        Step(
            "target",
            "ok",
            f"{'replacing' if dest.exists else 'new environment'} {dest.name or dest.prefix}"
            + (f" at {dest.prefix}" if dest.name else ""),
        )
    )
    if confirm is not None and not confirm(dest, prepared):
        return replace(
            base,
            status=FAILED,
            prefix=dest.prefix,
            name=dest.name,
            error="cancelled; nothing changed",
            steps=tuple(steps),
            seconds=time.perf_counter() - started,
        )
    if keep_backup and os.path.lexists(keep_backup):
        raise OutputExistsError(
            keep_backup, "backup path", hint="Move it away first, or leave out --keep-backup."
        )
    return _run(prepared, dest, conda=conda, frontend=frontend, json_output=json_output,
                environ=environ, emit=emit, steps=steps, base=base, started=started,
                validator=validator or default_validator(), keep_backup=keep_backup)  # fmt: skip


def _solve_environ(
    prepared: Prepared, environ: Mapping[str, str] | None
) -> tuple[dict[str, str], str]:
    """``environ`` with the plan's solve variables (a value the user set wins), and a sentence
    saying what the solve sees."""
    env = dict(os.environ if environ is None else environ)
    said = []
    for variable, value, why in prepared.solve_environ:
        if env.get(variable) not in (None, value):
            yours = f"{variable}={env[variable]}"
            said.append(f"{yours} (yours; the node types suggest {value}: {why})")
            continue
        env[variable] = value
        said.append(f"{variable}={value} ({why})")
    return env, "conda solves for the node types, not this machine: " + "; ".join(said)


def _run(
    prepared: Prepared,
    dest: Destination,
    *,
    conda: cd.Conda,
    frontend: str,
    json_output: bool,
    environ: Mapping[str, str] | None,
    emit: Callable[[Step], None],
    steps: list[Step],
    base: CreateResult,
    started: float,
    validator: Callable[..., Any],
    keep_backup: str | None = None,
) -> CreateResult:
    from . import provenance

    target = dest.prefix
    backup = backup_path(target)
    parent = os.path.dirname(target)
    made_dirs = _missing_parents(parent)
    moved = False
    conda_started = False
    conda_doc: dict[str, Any] | None = None
    command: str | None = None
    report: Any = None
    notes: list[str] = []
    status, error, hints = CREATED, None, ()
    #: an empty folder (or mount point) the new environment goes into: it stays a folder
    empty_dir = not dest.exists and os.path.isdir(target)

    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as exc:
        raise CondaTorchError(
            os_error_line(exc, "cannot make the folder") + "; nothing was changed",
            hints=["Choose a path where you can create folders."],
        ) from None
    try:
        with _locked(target) as note_conda, _sigterm_interrupts():
            _check_unchanged(dest)
            try:
                if dest.exists:
                    emit(
                        Step(
                            "backup", "start", f"moving the existing environment aside to {backup}"
                        )
                    )
                    try:
                        mark_backup(target)
                        cd.move_aside(target, backup)
                    except OSError as exc:
                        _unmark(target)
                        raise CondaTorchError(
                            f"cannot move {target} aside: {exc.strerror or exc}",
                            hints=[
                                "Check that nothing uses the environment and that it is writable."
                            ],
                        ) from None
                    moved = True
                    emit(
                        Step(
                            "backup",
                            "ok",
                            f"existing environment kept at {backup} until the new one validates",
                        )
                    )
                with tempfile.TemporaryDirectory(prefix="conda-torch-") as tmp:
                    env_file = os.path.join(tmp, "environment.yml")
                    text = prepared.text
                    Path(env_file).write_text(text, encoding="utf-8")
                    args, pinned = cd.create_command(
                        conda, target, env_file, prepared.channels, json_out=json_output
                    )
                    if not pinned and prepared.channels:
                        notes.append(
                            "this conda merges .condarc channels with the file's "
                            "(conda < 26.7 cannot pin them with --override-channels)"
                        )
                    elif not prepared.channels:
                        notes.append("the file names no channels: conda uses the configured ones")
                    command = conda.display(*args)
                    emit(Step("conda", "start", command))
                    t0 = time.perf_counter()
                    conda_started = True
                    run = cd.run_conda(
                        conda, args, capture=json_output, environ=environ, check=False,
                        started=note_conda,
                    )  # fmt: skip
                    conda_doc = run.json() if json_output else None
                    if not run.ok:
                        emit(
                            Step(
                                "conda",
                                "failed",
                                run.error_line() or f"exit status {run.returncode}",
                                time.perf_counter() - t0,
                            )
                        )
                        raise cd.command_error(run)
                    if not pf.is_conda_env(target):
                        raise CondaTorchError(
                            f"`{command}` succeeded but left no environment at {target}",
                            hints=["Run the command yourself to see what conda did."],
                        )
                    emit(
                        Step(
                            "conda",
                            "ok",
                            f"environment built at {target}",
                            time.perf_counter() - t0,
                        )
                    )
                t0 = time.perf_counter()
                emit(Step("provenance", "start", "recording what the environment was built from"))
                provenance.write(target, plan=prepared.record, environment_file=text,
                                 machine=prepared.machine)  # fmt: skip
                emit(
                    Step(
                        "provenance",
                        "ok",
                        str(provenance.path_for(target)),
                        time.perf_counter() - t0,
                    )
                )
                t0 = time.perf_counter()
                start = getattr(validator, "start", None)  # a validator may say where it runs
                start = start or f"validating with {pf.python_in(target)}"
                emit(Step("validate", "start", start))
                report = validator(
                    python=str(pf.python_in(target)),
                    prefix=target,
                    environ=pf.activated_environ(target, name=dest.name, environ=environ),
                    provenance=provenance.read(target),
                    name=dest.name,
                )
                if not getattr(report, "ok", False):
                    fails = _report_failures(report)
                    emit(
                        Step(
                            "validate",
                            "failed",
                            "; ".join(fails) or "validation failed",
                            time.perf_counter() - t0,
                        )
                    )
                    raise _Invalid(report)
                skipped = getattr(report, "reason", None)  # validate.Skipped
                took = time.perf_counter() - t0
                emit(Step("validate", "skipped" if skipped else "ok",
                          skipped or "the environment works", took))  # fmt: skip
                if moved and keep_backup:  # committed; the old one is kept (recreate --keep-backup)
                    with _no_interrupts():
                        try:
                            os.rename(backup, keep_backup)
                            _unmark(target)
                            emit(Step("finish", "ok", f"old environment kept at {keep_backup}"))
                        except OSError as exc:
                            notes.append(
                                f"the old environment stays at {backup}: cannot move it "
                                f"to {keep_backup} ({exc.strerror or exc})"
                            )
                        moved = False
                if moved:  # committed: from here on the new environment stays
                    with _no_interrupts():
                        trash = trash_path(target)
                        try:
                            os.rename(backup, trash)
                        except OSError:
                            trash = backup
                        _unmark(target)
                        moved = False
                        pf.remove_tree(trash)
                    if os.path.lexists(trash):
                        notes.append(f"could not delete the old environment at {trash}")
                    emit(Step("finish", "ok", "old environment replaced"))
            except _Invalid as inv:
                status, error = INVALID, "the new environment failed validation"
                fails = _report_failures(inv.report)
                if fails:
                    error += ": " + "; ".join(fails)
                hints = (
                    (
                        "The report says what failed in the environment that was removed "
                        "again: change what the file or the plan asks for (--torch, --backend, "
                        "--source), then run this again."
                    ),
                )
            except KeyboardInterrupt:
                status, error = INTERRUPTED, "stopped by an interrupt (Ctrl-C or SIGTERM)"
            except CondaTorchError as exc:
                status, error, hints = FAILED, exc.line, tuple(exc.hints)
            except OSError as exc:  # after conda: a provenance that cannot be written, ...
                status, error, hints = FAILED, os_error_line(exc), ()
            except BaseException:
                _rollback(conda, target, backup, moved=moved, built=conda_started,
                          empty_dir=empty_dir, environ=environ, notes=notes, emit=emit)  # fmt: skip
                raise
            if status != CREATED:
                left = _rollback(conda, target, backup, moved=moved, built=conda_started,
                                 empty_dir=empty_dir, environ=environ, notes=notes,
                                 emit=emit)  # fmt: skip
                what = _what_is_left(dest, left)
                error = f"{error}; {what}" if error else what
                failed = replace(
                    base, status=status, prefix=target, name=dest.name, error=error, hints=hints,
                    conda_command=command, conda=conda.to_json(), conda_output=conda_doc,
                    validation=_report_json(report, without_fixes=True), replaced=False,
                    notes=tuple(notes),
                    steps=tuple(steps), seconds=time.perf_counter() - started,
                    backup_left=backup if left == _BACKUP_LEFT else None,
                )  # fmt: skip
    except BaseException:
        _remove_empty(made_dirs)  # folders made for the lock, now empty again
        raise
    if status != CREATED:
        _remove_empty(made_dirs)
        return failed
    return replace(
        base, status=CREATED, prefix=target, name=dest.name,
        activate=dest.activate_command(frontend), replaced=dest.exists,
        conda_command=command, conda=conda.to_json(), conda_output=conda_doc,
        validation=_report_json(report), notes=tuple(notes), steps=tuple(steps),
        seconds=time.perf_counter() - started,
    )  # fmt: skip


def _missing_parents(path: str) -> list[str]:
    missing = []
    path = os.path.abspath(path)
    while path and not os.path.exists(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return missing


def _remove_empty(dirs: Sequence[str]) -> None:
    for d in dirs:  # deepest first
        with contextlib.suppress(OSError):
            os.rmdir(d)


#: What a rollback could not do: the old environment is still at the backup path / the backup
#: was gone (or not conda-torch's) so the new environment was kept.
_BACKUP_LEFT, _KEPT_NEW = "backup-left", "kept-new"


def _rollback(
    conda: cd.Conda,
    target: str,
    backup: str,
    *,
    moved: bool,
    built: bool,
    empty_dir: bool = False,
    environ: Mapping[str, str] | None,
    notes: list[str],
    emit: Callable[[Step], None],
) -> str | None:
    """Remove what was built and put the old environment back.

    The backup is checked first: when it is gone or is not the one this run moved aside, the
    new environment is the only one left and stays (:data:`_KEPT_NEW`). With a backup to put
    back, the new environment is deleted without ``conda remove``, which would unregister the
    path the old environment comes back to (``environments.txt``). An empty folder the new
    environment was built in (a mount point, a symlinked folder) is left a folder.
    Returns None, :data:`_BACKUP_LEFT` or :data:`_KEPT_NEW`.
    """
    with _no_interrupts():
        t0 = time.perf_counter()
        if moved and not is_backup_of(backup, target):
            _unmark(target)
            notes.append(
                f"the old environment is no longer at {backup}: the new one at {target} was kept"
            )
            emit(Step("rollback", "failed", notes[-1]))
            return _KEPT_NEW
        if built and os.path.lexists(target):
            if moved:
                pf.remove_tree(target)
            else:
                notes.extend(cd.remove_env(conda, target, environ=environ))
            if empty_dir and not os.path.lexists(target):
                with contextlib.suppress(OSError):
                    os.mkdir(target)
            elif empty_dir and os.path.isdir(target):  # a mount point: empty it
                for entry in os.listdir(target):
                    pf.remove_tree(os.path.join(target, entry))
            emit(
                Step(
                    "rollback",
                    "ok",
                    f"removed the new environment at {target}",
                    time.perf_counter() - t0,
                )
            )
        if moved:
            try:
                cd.restore(backup, target)
                _unmark(target)
                emit(Step("rollback", "ok", f"old environment restored at {target}"))
            except OSError as exc:
                notes.append(f"could not move {backup} back to {target}: {exc.strerror or exc}")
                emit(Step("rollback", "failed", notes[-1]))
                return _BACKUP_LEFT
    return None


def _what_is_left(dest: Destination, left: str | None) -> str:
    label = f"'{dest.name}'" if dest.name else dest.prefix
    if left == _BACKUP_LEFT:
        return (f"the old environment could not be put back and is at {backup_path(dest.prefix)}; "
                f"move it to {dest.prefix} by hand")  # fmt: skip
    if left == _KEPT_NEW:
        return (f"the environment that was there was gone from {backup_path(dest.prefix)}, so "
                f"the new one was kept at {dest.prefix}")  # fmt: skip
    if not dest.exists and os.path.lexists(dest.prefix):
        if os.path.isdir(dest.prefix) and not os.listdir(dest.prefix):
            return f"{dest.prefix} is an empty folder again"
        return f"{dest.prefix} could not be removed completely; delete it by hand"
    if dest.exists:
        return f"the existing environment {label} is unchanged"
    return f"nothing was left under {label}"


def _check_unchanged(dest: Destination) -> None:
    """Under the lock: the target is still what was checked (another run may have created an
    environment there while the user was asked to confirm)."""
    target = dest.prefix
    if pf.is_conda_env(target) == dest.exists and (
        dest.exists
        or not os.path.lexists(target)
        or (os.path.isdir(target) and not os.listdir(target))
    ):
        return
    raise CondaTorchError(
        f"{target} changed while this run waited"
        + (" (another run created an environment there)" if pf.is_conda_env(target) else "")
        + "; nothing was changed",
        hints=["Check what is there now, then run this again (with --force to replace it)."],
    )


__all__ = [
    "CREATED", "DRY_RUN", "FAILED", "INTERRUPTED", "INVALID", "CreateResult", "Destination",
    "Step", "create", "resolve_destination",
]  # fmt: skip
