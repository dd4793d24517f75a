"""``conda torch recreate``: rebuild a broken environment without ever losing it.

:func:`plan_recreate` decides what the new environment is, changing nothing:

* ``from_file``: an environment file, taken as it is written;
* otherwise the environment's provenance (``conda-meta/conda-torch.provenance``): the file it was
  created from, with ``regenerate`` re-planned for this machine (generate's options apply);
* an environment conda-torch did not make: what the user asked for, reconstructed from conda's
  history of explicit requests (``conda-meta/history``, the ``# update specs:`` lines conda's
  ``env export --from-history`` reads) and the pip packages they installed, with the torch stack
  planned for this machine.

In the last two cases the user's other packages come back: every explicit conda request and
every pip package that is not part of the torch stack and not already in the file is added,
and ``conda env config vars`` are kept (``variables:``). :class:`RecreatePlan` says what
changes in the torch stack and what is not carried over.

:func:`recreate` hands the plan to :func:`conda_torch.create.create` with ``force``: the old
environment is moved aside, the new one is built at its path, its provenance is written and it
is validated; only then is the old one deleted (or, with ``keep_backup``, kept at
:func:`backup_path`). Any failure, an invalid result or an interruption removes the new one and
puts the old one back. The library never prints.
"""

from __future__ import annotations

import os
import re
import shlex
import stat

from . import conda_cli as cd
from . import prefix as pf
from .builds import conda_build, pip_build
from .conda_api import requested_specs
from .constants import (
    COMPANIONS,
    CONDA_CARRIERS,
    CONDA_TORCH_SPECS,
    PIP_STACK,
    STACK_CONDA,
    STACK_PIP_PREFIXES,
    TORCH_CONDA_PACKAGES,
    TORCH_PIP_PACKAGES,
)
from .exceptions import CondaTorchError, CondaTorchValueError, EnvironmentNotFoundError
from .inventory import inventory
from .prepare import from_provenance, prepare, replan_provenance
from .values import field, replace, value_class

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any, Final

    from .create import CreateResult, Step
    from .inventory import Inventory
    from .machine import Machine
    from .prepare import Prepared

#: Version of ``recreate --json``. Bump the number on an incompatible change.
SCHEMA: Final = "conda-torch.recreate/1"

#: Oldest conda recreate drives: the first with the plugin system conda-torch is (conda
#: 22.11.0 added ``conda_subcommands``; docs/conda-notes.md 1). Older ones are refused.
MIN_CONDA: Final = (22, 11)

#: Where ``--keep-backup`` keeps the old environment: ``<parent>/<name>.conda-torch-backup``.
KEPT_SUFFIX: Final = ".conda-torch-backup"

#: What the new environment is made from.
ORIGINS: Final = ("file", "provenance", "regenerate", "history")


# ---------------------------------------------------------------------------------------------
# what comes back


def _is_stack_conda(name: str) -> bool:
    return name in TORCH_CONDA_PACKAGES or name in STACK_CONDA


def _is_stack_pip(name: str) -> bool:
    return name in TORCH_PIP_PACKAGES or name.startswith(STACK_PIP_PREFIXES)


#: Channels whose packages the new file's channels serve as well (a spec without ``channel::``).
_PLAIN_CHANNELS: Final = frozenset(
    {"conda-forge", "pytorch", "nvidia", "pkgs/main", "pkgs/r", "pkgs/msys2", "defaults"}
)


@value_class
class Extras:
    """The user's own packages, to be added to the new environment file."""

    conda: tuple[str, ...] = ()
    pip: tuple[str, ...] = ()
    #: ``conda env config vars`` of the old environment.
    variables: tuple[tuple[str, str], ...] = ()
    #: What is deliberately not carried over, with why.
    left_out: tuple[str, ...] = ()


def user_extras(prefix: str, inv: Inventory, channels: Sequence[str] = ()) -> Extras:
    """Explicit conda requests and pip packages of ``prefix`` that are not the torch stack.

    A request keeps ``channel::`` when its package came from a channel the new file does not
    list (``channels``): a mirror or ``channel_alias`` URL ending in a listed channel's name
    counts as that channel.
    """
    plain = set(_PLAIN_CHANNELS) | set(channels)
    installed = {r.name for r in inv.records}
    by_name = {r.name: r for r in inv.records}
    specs = requested_specs(prefix, installed)
    conda_specs: list[str] = []
    left_out: list[str] = []
    for name, spec in specs.items():
        if name == "python":
            continue  # the plan (or the file) decides Python
        if _is_stack_conda(name):
            left_out.append(f"{spec} (torch stack: replaced by the new plan)")
            continue
        rec = by_name.get(name)
        if (
            "::" not in spec
            and rec is not None
            and rec.channel not in plain
            and rec.channel.rstrip("/").rsplit("/", 1)[-1] not in plain
        ):
            spec = f"{rec.channel}::{spec}"
        conda_specs.append(spec)
    pip_dists = [d for d in inv.dists if d.by_pip]
    requested = [d for d in pip_dists if _requested(d)]
    chosen = requested if requested else pip_dists
    pip_lines: list[str] = []
    conda_names = set(installed)
    for d in chosen:
        if d.name in ("pip", "setuptools", "wheel"):
            continue
        if _is_stack_pip(d.name):
            left_out.append(f"{d.name}=={d.version} (pip; torch stack: replaced by the new plan)")
            continue
        if d.name in conda_names:
            continue
        pip_lines.append(d.requirement())
    variables = tuple(sorted(_state_vars(prefix).items()))
    return Extras(
        conda=tuple(conda_specs),
        pip=tuple(pip_lines),
        variables=variables,
        left_out=tuple(left_out),
    )


def _requested(dist: Any) -> bool:
    """pip writes ``REQUESTED`` into the metadata of what was asked for by name (PEP 376)."""
    return os.path.isfile(os.path.join(dist.path, "REQUESTED"))


def _state_vars(prefix: str) -> dict[str, str]:
    return pf.state_env_vars(prefix)


def add_extras(text: str, extras: Extras) -> tuple[str, tuple[str, ...]]:
    """``text`` with ``extras`` added where the file does not name them yet; what was added."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    from .envfile import loads
    from .specs import conda_name, pip_name

    doc = loads(text, "<recreate>")
    deps = doc.dependencies
    have_conda = {conda_name(d) for d in deps if isinstance(d, str)}
    pip_seq = doc.pip
    have_pip = {pip_name(p) for p in (pip_seq or ()) if isinstance(p, str)}
    added: list[str] = []
    insert_at = next((i for i, d in enumerate(deps) if not isinstance(d, str)), len(deps))
    for spec in extras.conda:
        if conda_name(spec) in have_conda:
            continue
        deps.insert(insert_at, spec)
        insert_at += 1
        have_conda.add(conda_name(spec))
        added.append(spec)
    new_pip = [p for p in extras.pip if (pip_name(p) or p) not in have_pip]
    if new_pip:
        if pip_seq is None:
            if "pip" not in have_conda:
                deps.insert(insert_at, "pip")
                added.append("pip")
            pip_seq = CommentedSeq()
            deps.append(CommentedMap([("pip", pip_seq)]))
        for line in new_pip:
            pip_seq.append(line)
            added.append(f"pip: {line}")
    if extras.variables:
        variables = doc.data.get("variables")
        if variables is None:
            variables = CommentedMap()
            doc.data["variables"] = variables
        for key, value in extras.variables:
            if key not in variables:
                variables[key] = value
                added.append(f"variable {key}")
    return (doc.dump() if added else text), tuple(added)


# ---------------------------------------------------------------------------------------------
# the torch stack, before and after


@value_class
class Change:
    """One package whose version a rebuild changes."""

    package: str
    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def describe(self) -> str:
        if self.before is None:
            return f"{self.package}: (none) -> {self.after}"
        if self.after is None:
            return f"{self.package}: {self.before} -> (none)"
        if not self.changed:
            return f"{self.package}: {self.before} (unchanged)"
        return f"{self.package}: {self.before} -> {self.after}"

    def to_json(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "before": self.before,
            "after": self.after,
            "changed": self.changed,
        }


def current_stack(inv: Inventory) -> dict[str, str | None]:
    """``torch``/``torchvision``/``torchaudio`` -> "2.5.1 (conda-forge, cuda126_...)"."""
    out: dict[str, str | None] = {}
    for package in PIP_STACK:
        parts: list[str] = []
        rec = inv.record(*CONDA_CARRIERS[package])
        if rec is not None:
            words = f"{rec.version} (conda, {rec.channel}, {rec.build})"
            if package == "torch":
                b = conda_build(rec, inv)
                words = f"{rec.version} (conda, {rec.channel}, {_kind_words(b.kind, b.cuda)})"
            parts.append(words)
        for d in inv.dist(package):
            if d.by_pip:
                kind = pip_build(d) if package == "torch" else None
                extra = f", {_kind_words(kind.kind, kind.cuda)}" if kind is not None else ""
                parts.append(f"{d.version} (pip{extra})")
        out[package] = " + ".join(parts) if parts else None
    return out


def _kind_words(kind: str, cuda: str | None) -> str:
    if kind == "cuda":
        return f"CUDA {cuda}" if cuda else "CUDA"
    return {"cpu": "CPU", "rocm": "ROCm"}.get(kind, "unknown build")


def planned_stack(plan: Mapping[str, Any]) -> dict[str, str | None]:
    """The stack a plan (``Plan.to_json()`` or create's as-is pins) installs, in the same words."""
    source = str(plan.get("source") or "")
    backend = str(plan.get("backend") or "")
    how = (
        "pip"
        if source == "pip"
        else ("conda, " + source if source and source != "file" else "conda")
    )
    if source == "file":
        how = "as the file says"
    kind = _backend_words(backend)
    out: dict[str, str | None] = {}
    for package in PIP_STACK:
        version = plan.get(package)
        if not version:
            out[package] = None
            continue
        words = f"{version} ({how}" + (f", {kind}" if kind and package == "torch" else "") + ")"
        out[package] = words
    return out


def _backend_words(backend: str) -> str | None:
    b = backend.lower()
    m = re.match(r"cu(\d+)$", b)
    if m:
        digits = m.group(1)
        return f"CUDA {int(digits[:-1])}.{digits[-1]}"
    if b.startswith("cuda"):
        return "CUDA " + b[4:].lstrip("=") if len(b) > 4 else "CUDA"
    if b.startswith("rocm"):
        return "ROCm " + b[4:]
    return {"cpu": "CPU", "mps": "CPU + MPS", "xpu": "XPU"}.get(b)


# ---------------------------------------------------------------------------------------------
# the plan


@value_class
class RecreatePlan:
    """What :func:`recreate` will do; nothing has been changed yet."""

    prefix: str
    name: str | None
    origin: str
    prepared: Prepared
    #: The user's packages added to the file, and what is not carried over.
    added: tuple[str, ...] = ()
    left_out: tuple[str, ...] = ()
    changes: tuple[Change, ...] = ()
    #: Where ``--keep-backup`` keeps the old environment (None: it is deleted).
    keep_backup: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def environment_file(self) -> str:
        return self.prepared.text

    @property
    def label(self) -> str:
        return self.name or self.prefix

    def change_lines(self) -> list[str]:
        """What the rebuild changes, one line each (the plan, the torch stack, what is carried)."""
        lines = [f"plan: {self.prepared.summary}"]
        if self.changes:
            lines.append("torch stack:")
            lines.extend(f"  {c.describe()}" for c in self.changes)
        if self.added:
            lines.append("carried over: " + ", ".join(self.added))
        lines.extend(f"not carried over: {item}" for item in self.left_out)
        return lines

    def to_json(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "name": self.name,
            "origin": self.origin,
            "summary": self.prepared.summary,
            "torch_stack": [c.to_json() for c in self.changes],
            "added": list(self.added),
            "left_out": list(self.left_out),
            "keep_backup": self.keep_backup,
            "environment_file": self.prepared.text,
            "plan": dict(self.prepared.record),
            "notes": list(self.notes),
        }


def backup_path(prefix: str) -> str:
    """Where ``--keep-backup`` puts the old environment: ``<name>.conda-torch-backup`` beside it."""
    parent, base = os.path.split(os.path.abspath(prefix))
    return os.path.join(parent, base + KEPT_SUFFIX)


def check_conda(conda: cd.Conda) -> str:
    """conda's version, or :class:`CondaTorchError` when it is too old or says none."""
    if conda.frontend != "conda":
        return conda.version or "?"
    version = conda.version
    if not version:
        raise CondaTorchError(
            f"cannot tell the version of conda ({' '.join(conda.argv)} --version failed)",
            hints=["Check that `conda --version` works, or set CONDA_EXE to a working conda."],
        )
    if conda.version_tuple()[:2] < MIN_CONDA:
        raise CondaTorchError(
            f"conda {version} is not supported by conda torch recreate "
            f"(needs conda {'.'.join(map(str, MIN_CONDA))} or later)",
            hints=["Update conda: conda update -n base conda"],
        )
    return version


def _read_only(path: str) -> bool:
    """No write permission, or no write bit at all (root may write anyway: respect the mode)."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return False
    return not os.access(path, os.W_OK) or not (mode & 0o222)


def check_target(prefix: str) -> None:
    """Refuse what recreate cannot replace safely, before anything changes."""
    from .create import backup_path as create_backup
    from .create import busy_error, foreign_backup_error, leftover_advice, lock_holder

    holder = lock_holder(prefix)
    if holder is not None:  # first: what is at the prefix is another run's unfinished work
        raise busy_error(prefix, holder)
    advice = leftover_advice(prefix)
    if advice is not None:  # a killed run may have left a half-built prefix
        raise CondaTorchError(
            f"an earlier create or recreate of {prefix} was interrupted: the environment that "
            f"was there is at {create_backup(prefix)}",
            hints=advice[1],
        )
    if os.path.lexists(create_backup(prefix)):
        raise foreign_backup_error(prefix)
    if not os.path.exists(prefix):
        raise EnvironmentNotFoundError(
            f"environment {prefix} does not exist",
            hints=["List environments with `conda env list`."],
        )
    if not pf.is_conda_env(prefix):
        raise EnvironmentNotFoundError(
            f"{prefix} is not a conda environment (no conda-meta/history)",
            hints=[
                (
                    "recreate rebuilds conda environments; for a virtual environment, use "
                    "`conda torch doctor --python PATH` and its pip fix commands."
                )
            ],
        )
    parent = os.path.dirname(os.path.abspath(prefix))
    for path, what in (
        (prefix, "the environment"),
        (os.path.join(prefix, "conda-meta"), "its conda-meta"),
        (parent, "its parent folder"),
    ):
        if _read_only(path):
            raise CondaTorchError(
                f"{prefix} is read-only ({what}, {path}, cannot be written): it cannot be replaced",
                hints=[
                    (
                        "Recreate it where you can write (conda torch create -p NEW_PATH ...), "
                        "or ask whoever owns it."
                    )
                ],
            )


def plan_recreate(
    *,
    prefix: str,
    name: str | None = None,
    from_file: str | None = None,
    regenerate: bool = False,
    machine: Machine | None = None,
    torch: str | None = None,
    python: str | None = None,
    backend: str | None = "auto",
    source: str | None = None,
    keep_backup: bool = False,
    without: Sequence[str] = (),
    default_python: str | None = None,
    default_backend: str | None = None,
    default_source: str | None = None,
) -> RecreatePlan:
    """Decide what the environment at ``prefix`` becomes (see the module docstring).

    Raises for a prefix that cannot be recreated (:func:`check_target`), a ``keep_backup``
    path that is taken, an unreadable file or provenance, and a plan that cannot be made.
    ``torch``/``python``/``backend``/``source`` are what the command line asked for;
    ``default_*`` are the settings (``.condarc``, :mod:`conda_torch.settings`), used only when a
    plan is made anew.
    """
    from . import provenance as provenance_mod

    prefix = os.path.abspath(os.path.expanduser(prefix))
    check_target(prefix)
    kept = backup_path(prefix) if keep_backup else None
    if kept is not None and os.path.lexists(kept):
        raise _backup_taken(kept)
    inv = inventory(prefix)
    prov = provenance_mod.read(prefix)
    notes: list[str] = []
    extras: Extras | None = None
    options = {"torch": torch, "python": python, "backend": backend, "source": source}
    asked = {k: v for k, v in options.items() if v not in (None, "", "auto")}
    # the settings (.condarc) are defaults for a new plan, never flags that need --regenerate
    if backend in (None, "", "auto") and default_backend:
        backend = options["backend"] = default_backend
    if source is None and default_source:
        source = options["source"] = default_source

    if from_file is not None:
        if regenerate or asked:
            raise CondaTorchValueError(
                "-f FILE is taken as it is written; it does not combine with --regenerate, "
                "--torch, --python, --backend or --source",
                hints=["Use `conda torch generate -f FILE` first to plan a file for this machine."],
            )
        prepared = prepare(file=from_file, as_is=True)
        origin = "file"
    elif prov is not None and not regenerate:
        if asked:
            raise CondaTorchValueError(
                f"{', '.join('--' + k for k in asked)} need --regenerate (without it the "
                "environment is rebuilt from its provenance, as it was planned)",
                hints=["Add --regenerate to plan it anew for this machine."],
            )
        prepared = from_provenance(prov)
        origin = "provenance"
        extras = user_extras(prefix, inv, prepared.channels)
    elif prov is not None:
        prepared = replan_provenance(
            prov, machine, name=name, without=without, default_python=default_python, **options
        )
        origin = "regenerate"
        extras = user_extras(prefix, inv, prepared.channels)
    else:
        hist = requested_specs(prefix, {r.name for r in inv.records})
        if torch is None and not regenerate:
            torch = _asked_torch(hist)  # what the user asked for, unless told to plan anew
        if python is None:
            python = inv.python_version
        # the stack the environment had: no companion it did not hold is added unasked
        # (--regenerate plans the whole stack anew)
        had = current_stack(inv)
        if had.get("torch") and not regenerate:
            without = (*without, *(p for p in COMPANIONS if not had.get(p)))
        prepared = prepare(
            machine,
            torch=torch,
            python=python,
            backend=backend,
            source=source,
            name=name,
            without=tuple(dict.fromkeys(without)),
            default_python=default_python,
        )
        origin = "regenerate" if regenerate else "history"
        extras = user_extras(prefix, inv, prepared.channels)
        if not hist:
            notes.append(
                "conda's history names no explicit requests: only pip packages and the "
                "torch stack are carried over"
            )
    added: tuple[str, ...] = ()
    left_out: tuple[str, ...] = ()
    if extras is not None:
        text, added = add_extras(prepared.text, extras)
        prepared = replace(prepared, text=text)
        left_out = extras.left_out
    else:
        left_out = _not_in_file(prefix, inv, prepared.text)
    before = current_stack(inv)
    after = planned_stack(prepared.record)
    changes = tuple(
        Change(p, before.get(p), after.get(p))
        for p in PIP_STACK
        if before.get(p) or after.get(p)
    )
    notes.append(
        "files in the environment that neither conda nor pip installed are not carried over"
        + ("" if kept else " (--keep-backup keeps the old environment)")
    )
    return RecreatePlan(
        prefix=prefix,
        name=name,
        origin=origin,
        prepared=prepared,
        added=added,
        left_out=left_out,
        changes=changes,
        keep_backup=kept,
        notes=tuple(notes),
    )


def _backup_taken(path: str) -> CondaTorchError:
    return CondaTorchError(
        f"the backup path {path} already exists: --keep-backup will not overwrite it",
        hints=[
            f"Move or delete it first (rm -rf {shlex.quote(path)}), or leave out --keep-backup."
        ],
    )


def _asked_torch(hist: Mapping[str, str]) -> str | None:
    """The torch version the user pinned in an explicit request (``pytorch=2.5`` -> ``2.5``)."""
    from .envfile import conda_version_spec, pinned_version

    for name in CONDA_TORCH_SPECS:
        spec = hist.get(name)
        if spec:
            version = pinned_version(conda_version_spec(spec))
            if version and re.fullmatch(r"\d+(\.\d+){0,2}", version):
                return version
    return None


def _not_in_file(prefix: str, inv: Inventory, text: str) -> tuple[str, ...]:
    """The user's requests and pip packages that ``text`` (a --from file) does not name."""
    from .envfile import loads
    from .specs import conda_name, pip_name

    doc = loads(text)
    extras = user_extras(prefix, inv, [str(c) for c in doc.data.get("channels") or ()])
    have = {conda_name(d) for d in doc.dependencies if isinstance(d, str)}
    have_pip = {pip_name(p) for p in (doc.pip or ()) if isinstance(p, str)}
    out = [f"{s} (conda; not in the file)" for s in extras.conda if conda_name(s) not in have]
    out += [f"{p} (pip; not in the file)" for p in extras.pip if (pip_name(p) or p) not in have_pip]
    return tuple(out) + extras.left_out


# ---------------------------------------------------------------------------------------------
# doing it


@value_class
class RecreateResult:
    """What ``recreate`` planned and, unless a dry run, did."""

    plan: RecreatePlan
    result: CreateResult | None = None
    dry_run: bool = False
    extra_notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.dry_run or (self.result is not None and self.result.ok)

    @property
    def exit_code(self) -> int:
        if self.dry_run:
            return 0
        return self.result.exit_code if self.result is not None else 1

    @property
    def kept(self) -> str | None:
        """Where the old environment is now, when it was kept."""
        if (
            self.plan.keep_backup
            and os.path.isdir(self.plan.keep_backup)
            and self.result is not None
            and self.result.ok
        ):
            return self.plan.keep_backup
        return None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema": SCHEMA,
            "success": self.ok,
            "dry_run": self.dry_run,
            **self.plan.to_json(),
            "kept_backup": self.kept,
        }
        if self.result is not None:
            r = self.result.to_json()
            out.update(
                {
                    k: r[k]
                    for k in (
                        "status",
                        "error",
                        "hints",
                        "backup_left",
                        "steps",
                        "validation",
                        "conda_command",
                        "activate",
                        "seconds",
                    )
                }
            )
            out["notes"] = list(self.plan.notes) + list(r.get("notes") or ())
        return out


def recreate(
    rplan: RecreatePlan,
    *,
    dry_run: bool = False,
    conda: cd.Conda | None = None,
    environ: Mapping[str, str] | None = None,
    json_output: bool = False,
    progress: Callable[[Step], None] | None = None,
    validator: Callable[..., Any] | None = None,
) -> RecreateResult:
    """Rebuild ``rplan.prefix`` as planned (see the module docstring); never prints.

    ``dry_run`` changes nothing and needs no conda. Otherwise conda must be
    :data:`MIN_CONDA` or newer. The old environment is deleted only after the new one validated
    (kept at ``rplan.keep_backup`` when that is set); on failure it is back at its path.
    """
    from .create import create

    if dry_run:
        return RecreateResult(plan=rplan, dry_run=True)
    if conda is None:
        conda = cd.find_conda(environ=environ)
    check_conda(conda)
    check_target(rplan.prefix)
    if rplan.keep_backup and os.path.lexists(rplan.keep_backup):
        raise _backup_taken(rplan.keep_backup)
    result = create(
        rplan.prepared,
        prefix=rplan.prefix,
        force=True,
        conda=conda,
        environ=environ,
        json_output=json_output,
        progress=progress,
        validator=validator,
        keep_backup=rplan.keep_backup,
    )
    return RecreateResult(plan=rplan, result=result)


__all__ = [
    "Change", "Extras", "RecreatePlan", "RecreateResult", "add_extras", "backup_path",
    "check_conda", "check_target", "current_stack", "plan_recreate", "planned_stack",
    "recreate", "requested_specs", "user_extras",
]  # fmt: skip
