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
(``variables:``) and the provenance (see :func:`conda_torch.conda.move_aside`). So the new
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
import os
import shlex
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from . import conda as cd
from .exceptions import (
    CondaTorchError,
    CondaTorchValueError,
    OutputExistsError,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from typing import Any

    from .machine import Machine

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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class Prepared:
    """What is to be created: the environment file's text and the plan behind it."""

    text: str
    #: ``Plan.to_json()`` (or, for a file taken as it is, what it pins), for the provenance.
    plan: Mapping[str, Any]
    channels: tuple[str, ...]
    #: ``plan`` (from this machine), ``file`` (a team's file specialized), ``file-as-is``.
    origin: str
    machine: Machine | None = None
    #: The ``name:`` in the file, used when neither -n nor -p is given.
    file_name: str | None = None
    #: The user's file (when there was one): pip's relative paths (``-e ./pkg``) are relative
    #: to it, so conda reads the final text from a file in the same folder.
    source_path: str | None = None
    #: One line saying what was planned (``torch 2.9.1 (conda-forge, cu129) for Python 3.12``).
    summary: str = ""
    why: tuple[str, ...] = ()
    #: Variables the solve runs with, and why: ``(("CONDA_OVERRIDE_CUDA", "12.2", "the CUDA
    #: of the oldest driver among the node types (quadro)"),)`` for a plan made for other
    #: machines (``--node``), so that it solves here without their driver.
    solve_environ: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class CreateResult:
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
# preparing: plan and file


def prepare(
    machine: Machine | None = None,
    *,
    file: str | None = None,
    as_is: bool = False,
    name: str | None = None,
    torch: str | None = None,
    python: str | None = None,
    backend: str | None = "auto",
    source: str | None = None,
    without: Sequence[str] = (),
    nodes: Sequence[Any] = (),
) -> Prepared:
    """The environment file to create, from a plan for ``machine`` or from ``file``.

    ``nodes`` (``--node``: :class:`conda_torch.fleet.Node` values or ``[NAME=]PATH`` texts)
    plans for those node types instead of ``machine`` (:func:`conda_torch.fleet.plan_fleet`),
    and the solve gets their virtual packages (:attr:`Prepared.solve_environ`).

    ``file`` alone is specialized like ``conda torch generate -f``: its torch stack, channels and
    variables are set from the plan, everything else is kept. With ``as_is`` the file is taken
    exactly as written (for files ``generate`` already made); what it pins is recorded as the
    plan.
    """
    from . import envfile

    if file is not None and as_is:
        doc = envfile.load(file)
        return _prepared_as_is(doc, file)
    if as_is:
        raise CondaTorchValueError("--as-is needs -f FILE", hints=["Pass -f environment.yml."])
    from .plan import make_plan, plan_to_envspec

    if machine is None and not nodes:
        from .detect import detect

        machine = detect()
    doc = envfile.load(file) if file is not None else None
    if doc is not None:
        request = envfile.team_request(doc)
        torch = torch or request.torch
        python = python or request.python
        without = (*without, *request.without)
    solve_environ: tuple[tuple[str, str, str], ...] = ()
    if nodes:
        from .fleet import plan_fleet

        group = plan_fleet(
            nodes, torch=torch, python=python, backend=backend, source=source, name=name,
            without=tuple(dict.fromkeys(without)),
        ).groups[0]  # fmt: skip
        plan, machine, solve_environ = group.plan, None, group.solve_environ()
    else:
        assert machine is not None
        plan = make_plan(
            machine,
            torch=torch,
            python=python,
            backend=backend,
            source=source,
            name=name,
            without=tuple(dict.fromkeys(without)),
        )
    if doc is not None:
        from .matrix import load as load_matrix

        text = envfile.specialize(doc, plan, matrix=load_matrix(), name=name)
        origin = "file"
    else:
        text = envfile.dump(plan_to_envspec(plan))
        origin = "plan"
    plan_json = plan.to_json()
    if solve_environ:  # what a rebuild elsewhere needs to solve the same way
        plan_json["solve_environ"] = {var: value for var, value, _why in solve_environ}
    parsed = envfile.loads(text, file or "<plan>")
    channels = tuple(str(c) for c in (parsed.data.get("channels") or ()))
    return Prepared(
        text=text,
        plan=plan_json,
        channels=channels,
        origin=origin,
        machine=machine,
        file_name=_doc_name(parsed),
        source_path=os.path.abspath(file) if file else None,
        summary=f"{plan.label()} for Python {plan.python}"
        + (f", for {len(plan.nodes)} node type{'s' if len(plan.nodes) > 1 else ''} "
           f"({', '.join(n.label for n in plan.nodes)})" if plan.nodes else ""),
        why=tuple(plan.bound) + tuple(plan.why),
        solve_environ=solve_environ,
    )


def _doc_name(doc: Any) -> str | None:
    value = doc.data.get("name")
    return str(value) if value else None


def _prepared_as_is(doc: Any, path: str) -> Prepared:
    """A file created exactly as written; its pins stand in for the plan."""
    from . import envfile

    request = envfile.team_request(doc)
    pins: dict[str, str | None] = {"torch": None, "torchvision": None, "torchaudio": None}
    for package, vspec, _line, _kind in request.pins:
        if pins.get(package) is None:
            pins[package] = envfile.pinned_version(vspec.lstrip("=")) or vspec
    channels = tuple(str(c) for c in (doc.data.get("channels") or ()))
    plan: dict[str, Any] = {
        **pins,
        "python": request.python,
        "backend": None,
        "source": "file",
        "channels": list(channels),
        "file": os.path.abspath(path),
    }
    stack = ", ".join(f"{k} {v}" for k, v in pins.items() if v) or "no torch pins"
    return Prepared(
        text=doc.text,
        plan=plan,
        channels=channels,
        origin="file-as-is",
        file_name=_doc_name(doc),
        source_path=os.path.abspath(path),
        summary=f"{os.path.basename(path)} as written ({stack})",
    )


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
        cd.check_env_name(name)
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
    exists = cd.is_conda_env(target)
    _refuse_protected(target, info, env)
    if not exists and os.path.lexists(target):
        if not os.path.isdir(target) or os.listdir(target):
            raise OutputExistsError(target, "a path that is not a conda environment,")
    if exists and not force:
        label = f"'{name}' ({target})" if name else target
        raise OutputExistsError(label, "environment")
    return Destination(prefix=target, name=shown_name, exists=exists, conda=conda)


def _refuse_protected(target: str, info: cd.CondaInfo | None, env: Mapping[str, str]) -> None:
    protected = {
        "the base environment": info.root_prefix if info else None,
        "the environment conda-torch runs in": sys.prefix,
        "the active environment": env.get("CONDA_PREFIX"),
    }
    for what, path in protected.items():
        if path and cd._same_path(target, path):
            raise CondaTorchValueError(
                f"{target} is {what}; conda-torch does not replace it",
                hints=["Choose another name or path."],
            )


# --------------------------------------------------------------------------------------------
# the lock and leftovers of an earlier, killed run


def lock_path(prefix: str) -> str:
    return cd.sibling(prefix, "lock")


def backup_path(prefix: str) -> str:
    return cd.sibling(prefix, "backup")


def trash_path(prefix: str) -> str:
    """Where a replaced environment goes to be deleted (a leftover is deleted next time)."""
    return cd.sibling(prefix, "trash")


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


@contextlib.contextmanager
def _locked(prefix: str) -> Iterator[None]:
    path = lock_path(prefix)
    backup = backup_path(prefix)
    for _attempt in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            try:
                pid = int(Path(path).read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pid = -1
            if _pid_alive(pid):
                raise CondaTorchError(
                    f"another conda-torch (pid {pid}) is creating {prefix}",
                    hints=[f"Wait for it to finish; if it is gone, delete {path}."],
                ) from None
            with contextlib.suppress(OSError):
                os.unlink(path)
    else:  # pragma: no cover - lost a race twice
        raise CondaTorchError(f"cannot lock {prefix}", hints=[f"Delete {path} and retry."])
    trash = trash_path(prefix)
    if os.path.lexists(trash):  # a replaced environment whose deletion was cut short
        cd._rmtree(trash)
    if os.path.lexists(backup):
        os.close(fd)
        os.unlink(path)
        raise CondaTorchError(
            f"an earlier conda-torch create was killed while replacing {prefix}: the environment "
            f"that was there is now at {backup}",
            hints=[
                (
                    f"To get it back: rm -rf {shlex.quote(prefix)} && "
                    f"mv {shlex.quote(backup)} {shlex.quote(prefix)}"
                ),
                f"To drop it: rm -rf {shlex.quote(backup)}",
            ],
        )
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{os.getpid()}\n")
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


@contextlib.contextmanager
def _no_interrupts() -> Iterator[None]:
    """Ignore SIGINT (and SIGTERM) while rolling back; children started meanwhile inherit it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {}
    for sig in (signal.SIGINT, getattr(signal, "SIGTERM", None)):
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
    """Turn SIGTERM into KeyboardInterrupt while creating, so that it rolls back too."""
    sigterm = getattr(signal, "SIGTERM", None)
    if sigterm is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        saved = signal.signal(sigterm, handler)
    except (ValueError, OSError):  # pragma: no cover
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(ValueError, OSError):
            signal.signal(sigterm, saved)


# --------------------------------------------------------------------------------------------
# the flow


class _Invalid(Exception):
    def __init__(self, report: Any) -> None:
        self.report = report
        super().__init__("validation failed")


def _report_json(report: Any) -> dict[str, Any] | None:
    if report is None:
        return None
    if hasattr(report, "to_json"):
        return report.to_json()
    return dict(report)


def _report_failures(report: Any) -> list[str]:
    out = []
    for check in getattr(report, "checks", ()) or ():
        if getattr(check, "status", None) == "fail":
            ident = getattr(check, "id", "?")
            msg = getattr(check, "message", "")
            out.append(f"{ident}: {msg}" if msg else str(ident))
    return out


def _default_validator(
    *, python: str, prefix: str, environ: Mapping[str, str], provenance: Any, name: str | None
) -> Any:
    from .validate import validate

    return validate(python=python, prefix=prefix, environ=environ, provenance=provenance, name=name)


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
        plan=prepared.plan,
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
        raise OutputExistsError(keep_backup, "backup path")
    return _run(prepared, dest, conda=conda, frontend=frontend, json_output=json_output,
                environ=environ, emit=emit, steps=steps, base=base, started=started,
                validator=validator or _default_validator, keep_backup=keep_backup)  # fmt: skip


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

    os.makedirs(parent, exist_ok=True)
    try:
        with _locked(target), _sigterm_interrupts():
            try:
                if os.path.isdir(target) and not dest.exists:  # an empty folder: conda's to fill
                    os.rmdir(target)
                if dest.exists:
                    emit(
                        Step(
                            "backup", "start", f"moving the existing environment aside to {backup}"
                        )
                    )
                    try:
                        cd.move_aside(target, backup)
                    except OSError as exc:
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
                with tempfile.TemporaryDirectory(
                    prefix=".conda-torch-", dir=_file_dir(prepared)
                ) as tmp:
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
                        conda, args, capture=json_output, environ=environ, check=False
                    )
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
                    if not cd.is_conda_env(target):
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
                provenance.write(target, plan=prepared.plan, environment_file=text,
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
                start = start or f"validating with {cd.env_python(target)}"
                emit(Step("validate", "start", start))
                report = validator(
                    python=str(cd.env_python(target)),
                    prefix=target,
                    environ=cd.activated_environ(target, name=dest.name, environ=environ),
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
                emit(Step("validate", "skipped" if skipped else "ok",
                          skipped or "the environment works", time.perf_counter() - t0))  # fmt: skip
                if moved and keep_backup:  # committed; the old one is kept (recreate --keep-backup)
                    with _no_interrupts():
                        try:
                            os.rename(backup, keep_backup)
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
                        moved = False
                        cd._rmtree(trash)
                    if os.path.lexists(trash):
                        notes.append(f"could not delete the old environment at {trash}")
                    emit(Step("finish", "ok", "old environment replaced"))
            except _Invalid as inv:
                status, error = INVALID, "the new environment failed validation"
                fails = _report_failures(inv.report)
                if fails:
                    error += ": " + "; ".join(fails)
                hints = ("The validation report says what to fix.",)
            except KeyboardInterrupt:
                status, error = INTERRUPTED, "stopped by an interrupt (Ctrl-C or SIGTERM)"
            except CondaTorchError as exc:
                status, error, hints = FAILED, exc.line, tuple(exc.hints)
            except BaseException:
                _rollback(conda, target, backup, moved=moved, built=conda_started,
                          environ=environ, notes=notes, emit=emit)  # fmt: skip
                raise
            if status != CREATED:
                left = _rollback(conda, target, backup, moved=moved, built=conda_started,
                                 environ=environ, notes=notes, emit=emit)  # fmt: skip
                what = _what_is_left(dest, left)
                error = f"{error}; {what}" if error else what
                failed = replace(
                    base, status=status, prefix=target, name=dest.name, error=error, hints=hints,
                    conda_command=command, conda=conda.to_json(), conda_output=conda_doc,
                    validation=_report_json(report), replaced=False, notes=tuple(notes),
                    steps=tuple(steps), seconds=time.perf_counter() - started,
                    backup_left=backup if left else None,
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


def _file_dir(prepared: Prepared) -> str | None:
    """Where conda reads the file from: beside the user's file (pip's ``-e ./pkg`` paths)."""
    if prepared.source_path:
        folder = os.path.dirname(prepared.source_path)
        if os.access(folder, os.W_OK):
            return folder
    return None


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


def _rollback(
    conda: cd.Conda,
    target: str,
    backup: str,
    *,
    moved: bool,
    built: bool,
    environ: Mapping[str, str] | None,
    notes: list[str],
    emit: Callable[[Step], None],
) -> bool:
    """Remove what was built and put the old environment back. True if the backup is left."""
    with _no_interrupts():
        t0 = time.perf_counter()
        if built and os.path.lexists(target):
            notes.extend(cd.remove_env(conda, target, environ=environ))
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
                emit(Step("rollback", "ok", f"old environment restored at {target}"))
            except OSError as exc:
                notes.append(f"could not move {backup} back to {target}: {exc.strerror or exc}")
                emit(Step("rollback", "failed", notes[-1]))
                return True
    return False


def _what_is_left(dest: Destination, backup_left: bool) -> str:
    label = f"'{dest.name}'" if dest.name else dest.prefix
    if backup_left:
        return (f"the old environment could not be put back and is at {backup_path(dest.prefix)}; "
                f"move it to {dest.prefix} by hand")  # fmt: skip
    if os.path.lexists(dest.prefix) and not dest.exists:
        return f"{dest.prefix} could not be removed completely; delete it by hand"
    if dest.exists:
        return f"the existing environment {label} is unchanged"
    return f"nothing was left under {label}"


__all__ = [
    "CREATED", "DRY_RUN", "FAILED", "INTERRUPTED", "INVALID", "CreateResult", "Destination",
    "Prepared", "Step", "create", "prepare", "resolve_destination",
]  # fmt: skip
