"""Plan, then write the file: the one road from a machine and a request to an environment file.

Every command that turns a request into an environment file comes through here: ``generate``
(:func:`generate`: one file, a file per platform, a fleet's file, a team's file specialized),
``create`` and the ``--format conda-torch`` hook (:func:`prepare`), ``recreate``
(:func:`prepare`, :func:`from_provenance`, :func:`replan_provenance`) and
``tools/regen_environments`` (:func:`generate` without a machine). So a request reads the same
everywhere: a team's file pins are the request, :func:`team_request` says where each came from
(the plan's ``why``), and the file's pins that contradict the plan are refused
(:func:`check_pins`) by every command.

The steps: :mod:`conda_torch.plan` decides (a :class:`~conda_torch.plan.Plan`),
:mod:`conda_torch.render` writes the decision down (an :class:`~conda_torch.envfile.EnvSpec` and
its header), :mod:`conda_torch.envfile` edits a team's file (:func:`specialize`). The result is a
:class:`Prepared` (what ``create`` builds) or a :class:`Generated` (what ``generate`` writes).
Nothing here prints.
"""

from __future__ import annotations

import os
import re

from . import envfile, render
from .constants import PIP_STACK
from .detect import detect
from .exceptions import CondaTorchError, CondaTorchValueError, IncompatibleError
from .machine import Machine
from .matrix import load as load_matrix
from .models import Subdir
from .plan import generic_machine, implied_subdir, make_plan
from .values import replace, value_class

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any, Final

    from .fleet import FleetGroup
    from .matrix import Matrix
    from .plan import Plan

#: ``--all-platforms``: (subdir, variant). Files are named ``<subdir>-<variant>.yml``, or
#: ``<subdir>.yml`` where the variant is ``None`` (macOS has one build per platform).
ALL_TARGETS: Final = (
    ("linux-64", "cuda"),
    ("linux-64", "cpu"),
    ("linux-aarch64", "cuda"),
    ("linux-aarch64", "cpu"),
    ("osx-arm64", None),
    ("osx-64", None),
    ("win-64", "cuda"),
    ("win-64", "cpu"),
)


# -- values ------------------------------------------------------------------------------------


@value_class
class Prepared:
    """What is to be created: the environment file's text and the plan behind it."""

    text: str
    #: The plan the file was made from; None for a file taken as it is written (``--as-is``,
    #: or an environment's recorded file rebuilt as it was).
    plan: Plan | None
    channels: tuple[str, ...]
    #: ``plan`` (from this machine), ``file`` (a team's file specialized), ``file-as-is``,
    #: ``provenance`` (the recorded file, as it was).
    origin: str
    #: What the provenance records as the plan: ``Plan.to_json()`` (with the solve's variables),
    #: or, for a file taken as it is, what it pins.
    record: Mapping[str, Any]
    machine: Machine | None = None
    #: The ``name:`` in the file, used when neither -n nor -p is given.
    file_name: str | None = None
    #: The user's file (when there was one). Its pip section's relative paths (``-e ./pkg``)
    #: are made absolute in ``text`` (``envfile.absolute_pip_paths``): conda reads ``text`` from
    #: a temporary folder, never one beside the user's file.
    source_path: str | None = None
    #: One line saying what was planned (``torch 2.9.1 (conda-forge, cu129) for Python 3.12``).
    summary: str = ""
    why: tuple[str, ...] = ()
    #: Variables the solve runs with, and why: ``(("CONDA_OVERRIDE_CUDA", "12.2", "the CUDA
    #: of the oldest driver among the node types (quadro)"),)`` for a plan made for other
    #: machines (``--node``), so that it solves here without their driver.
    solve_environ: tuple[tuple[str, str, str], ...] = ()


@value_class
class TeamAsk:
    """What a team's file asks, merged with the flags: the request ``make_plan`` gets."""

    torch: str | None
    python: str | None
    without: tuple[str, ...]
    #: Where a torch/Python request came from when not from the flags (``make_plan``'s
    #: ``asked_by``): ``{"torch": "team.yml's 'pytorch=2.5'"}``.
    asked_by: Mapping[str, str]
    #: Sentences the plan's ``why`` gains (``--torch 2.9 replaces the file's 'pytorch=2.5'``).
    notes: tuple[str, ...] = ()


@value_class
class FileOut:
    """One file ``generate`` writes: the plan, the text, its name in a folder."""

    plan: Plan
    text: str
    filename: str
    #: Why conda-lock cannot lock the file (None when it can).
    lock_blocker: str | None
    #: The fleet group it serves (``--node``), else None.
    group: FleetGroup | None = None


@value_class
class Generated:
    """What ``generate`` makes, before anything is written."""

    files: tuple[FileOut, ...]
    #: Several targets (or ``--split``): ``-o`` names a folder.
    multi: bool
    #: ``--all-platforms`` targets no plan fits: ``"<file name>: <reason>"``.
    skipped: tuple[str, ...] = ()
    #: ``--node``: one file for several node types (and why they split, if they do).
    fleet: bool = False
    split: str | None = None


# -- the request -------------------------------------------------------------------------------


def team_request(
    request: envfile.TeamRequest | None,
    source: str,
    *,
    torch: str | None = None,
    python: str | None = None,
    without: Sequence[str] = (),
) -> TeamAsk:
    """The flags merged with a team file's pins (``request``; ``source`` names the file in the
    plan's sentences). The flags win; the file's torch pin still bounds ``--torch``
    (:func:`check_pins`)."""
    if request is None:
        return TeamAsk(torch, python, tuple(dict.fromkeys(without)), {})
    asked_by: dict[str, str] = {}
    if request.torch and not torch:
        asked_by["torch"] = f"{source}'s '{request.torch_line}'"
    if request.python and not python:
        asked_by["python"] = f"{source}'s '{request.python_line}'"
    notes: tuple[str, ...] = ()
    if request.torch_line and torch:
        notes = (f"--torch {torch} replaces the file's '{request.torch_line}'.",)
    return TeamAsk(
        torch=torch or request.torch,
        python=python or request.python,
        without=tuple(dict.fromkeys([*without, *request.without])),
        asked_by=asked_by,
        notes=notes,
    )


def _ask(doc: envfile.EnvDocument | None, **flags: Any) -> TeamAsk:
    """The flags merged with the pins of ``doc`` (a team's file, named by its file name)."""
    if doc is None:
        return team_request(None, "", **flags)
    return team_request(envfile.team_request(doc), os.path.basename(doc.path), **flags)


def _with_notes(plan: Plan, ask: TeamAsk) -> Plan:
    return replace(plan, why=(*plan.why, *ask.notes)) if ask.notes else plan


def _plan(machine: Machine, ask: TeamAsk, matrix: Matrix, **kw: Any) -> Plan:
    """``make_plan`` for the merged request ``ask`` (its notes added to the plan's ``why``)."""
    plan = make_plan(
        machine,
        torch=ask.torch,
        python=ask.python,
        matrix=matrix,
        without=ask.without,
        asked_by=ask.asked_by,
        **kw,
    )
    return _with_notes(plan, ask)


# -- a team's file -----------------------------------------------------------------------------


def specialize(
    doc: envfile.EnvDocument, plan: Plan, *, matrix: Any = None, name: str | None = None
) -> str:
    """The text of ``doc`` with its torch stack, channels and variables set from ``plan``.

    Every other line, comment and the key order are kept. Raises :class:`IncompatibleError`
    for a pin in the file that contradicts the plan's release. ``doc`` is modified.
    """
    check_pins(envfile.team_request(doc), plan, matrix)
    envfile.set_stack(doc, render.plan_to_envspec(plan), python=plan.python, name=name)
    header = render.header_lines(
        plan,
        specialized_from=os.path.basename(doc.path),
        dependencies=doc.dependencies,
        pip=doc.pip or (),
    )
    return envfile.with_header(doc, header)


def check_pins(request: envfile.TeamRequest, plan: Plan, matrix: Any = None) -> None:
    """Refuse the file's torch-stack pins that the plan's release contradicts.

    ``--torch`` may replace the file's torch pin only with a release the pin admits (a
    ``--torch 2.3`` against ``pytorch>=2.4`` is refused: the file's own pin wins).
    :class:`IncompatibleError` names the line and the matrix's reason (``Matrix.pairing_ok``).
    """
    cand = plan.candidate
    asked_torch = dict(plan.request).get("torch")
    chosen = {"torch": cand.torch, "torchvision": cand.torchvision, "torchaudio": cand.torchaudio}
    for package, vspec, line, kind in request.pins:
        if package == "torch" and asked_torch is not None and asked_torch != request.torch:
            # --torch replaces the file's torch line only within what the line allows
            if not _pin_fits(vspec, cand.torch, kind, package):
                raise IncompatibleError(
                    f"--torch {asked_torch} contradicts the file's '{line}' (torch "
                    f"{cand.torch} is outside it)",
                    hints=["Drop --torch to take the file's pin, or change that line."],
                )
            continue
        version = chosen.get(package)
        if version is None:
            raise IncompatibleError(
                f"'{line}' asks for {package}, but {plan.source} has no {package} for torch "
                f"{cand.torch} on {plan.subdir}",
                hints=[f"Remove the {package} line, or pick another torch with --torch."],
            )
        if _pin_fits(vspec, version, kind, package):
            continue
        reasons: list[str] = []
        pinned = envfile.pinned_version(vspec.lstrip("="))
        if matrix is not None and pinned and package != "torch":
            try:
                reasons = list(
                    matrix.pairing_ok(
                        cand.torch,
                        pinned if package == "torchvision" else None,
                        pinned if package == "torchaudio" else None,
                    )
                )
            except Exception:
                reasons = []
        want = version if not version.endswith(".*") else version[:-2]
        why = "; ".join(reasons) if reasons else f"torch {cand.torch} pairs with {package} {want}"
        if package == "torch":
            why = f"this machine's plan is torch {cand.torch}"
        raise IncompatibleError(
            f"'{line}' contradicts the torch stack for this machine: {why}",
            hints=[
                (
                    f"Change the line to {package}={want}, remove its version, or ask for "
                    "another torch with --torch."
                )
            ],
        )


def _pin_fits(vspec: str, version: str, kind: str, package: str) -> bool:
    """Whether a file's pin admits the plan's version (or, for a series ``0.24.*``, part of it)."""
    if version.endswith(".*"):
        base = version[:-2]
        pinned = (
            envfile.pinned_version(vspec.lstrip("=")) if kind == "conda" else _pip_pinned(vspec)
        )
        if pinned:
            return pinned.split(".")[: len(base.split("."))] == base.split(".") or pinned == base
        return (
            envfile.conda_pin_fits(vspec, base + ".0")
            if kind == "conda"
            else envfile.pip_version_matches(package + vspec, base + ".0")
        )
    if kind == "pip":
        return envfile.pip_version_matches(package + vspec, version)
    return envfile.conda_pin_fits(vspec, version)


def _pip_pinned(spec: str) -> str | None:
    m = re.fullmatch(r"\s*===?\s*([\w.]+?)(?:\.\*)?(?:\+[\w.]+)?\s*", spec)
    return m.group(1) if m else None


def file_for(
    plan: Plan,
    doc: envfile.EnvDocument | None = None,
    *,
    matrix: Any = None,
    name: str | None = None,
) -> tuple[str, str | None]:
    """The file for ``plan``: ``doc`` (a team's file) specialized, else a new one; and why
    conda-lock cannot lock it (None when it can)."""
    if doc is not None:
        text = specialize(doc, plan, matrix=matrix, name=name)
        listed, pip = doc.dependencies, doc.pip or ()
    else:
        spec = render.plan_to_envspec(plan)
        text = envfile.dump(spec)
        listed, pip = spec.dependencies, spec.pip
    return text, render.conda_lock_blocker(listed, pip, render.conda_lock_args(plan))


# -- create, the conda-torch format, recreate ----------------------------------------------------


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
    default_python: str | None = None,
) -> Prepared:
    """The environment file to create, from a plan for ``machine`` or from ``file``.

    ``nodes`` (``--node``: :class:`conda_torch.fleet.Node` values or ``[NAME=]PATH`` texts)
    plans for those node types instead of ``machine`` (:func:`conda_torch.fleet.plan_fleet`),
    and the solve gets their virtual packages (:attr:`Prepared.solve_environ`).

    ``file`` alone is specialized exactly as ``conda torch generate -f`` does it (the same
    request, the same plan, the same text but for the pip section's relative paths, made
    absolute): its torch stack, channels and variables are set from the plan, everything else
    is kept. With ``as_is`` the file is taken exactly as written (for files ``generate`` already
    made); what it pins is recorded as the plan. ``default_python`` is conda's configured
    ``default_python`` (see ``make_plan``).
    """
    folder = os.path.dirname(os.path.abspath(file)) if file is not None else ""
    if file is not None and as_is:
        doc = envfile.load(file)
        if envfile.absolute_pip_paths(doc, folder):
            doc = envfile.loads(doc.dump(), file)
        return _prepared_as_is(doc, file, origin="file-as-is")
    if as_is:
        raise CondaTorchValueError("--as-is needs -f FILE", hints=["Pass -f environment.yml."])
    if machine is None and not nodes:
        machine = detect()
    doc = envfile.load(file) if file is not None else None
    if doc is not None:
        envfile.absolute_pip_paths(doc, folder)
    assert file is None or doc is not None
    ask = _ask(doc, torch=torch, python=python, without=without)
    matrix = load_matrix()
    solve_environ: tuple[tuple[str, str, str], ...] = ()
    if nodes:
        from .fleet import plan_fleet  # here: only --node needs it (generate's start-up budget)

        group = plan_fleet(
            nodes, torch=ask.torch, python=ask.python, backend=backend, source=source, name=name,
            matrix=matrix, without=ask.without, asked_by=ask.asked_by,
            default_python=default_python,
        ).groups[0]  # fmt: skip
        plan, machine = _with_notes(group.plan, ask), None
        solve_environ = group.solve_environ()
    else:
        assert machine is not None
        plan = _plan(machine, ask, matrix, backend=backend, source=source, name=name,
                     default_python=default_python)  # fmt: skip
    text, _blocker = file_for(plan, doc, matrix=matrix, name=name)
    return _prepared(
        plan,
        text,
        origin="file" if doc is not None else "plan",
        machine=machine,
        source_path=os.path.abspath(file) if file else None,
        solve_environ=solve_environ,
    )


def _prepared(
    plan: Plan,
    text: str,
    *,
    origin: str,
    machine: Machine | None,
    source_path: str | None = None,
    solve_environ: tuple[tuple[str, str, str], ...] = (),
) -> Prepared:
    record = plan.to_json()
    if solve_environ:  # what a rebuild elsewhere needs to solve the same way
        record["solve_environ"] = {var: value for var, value, _why in solve_environ}
    parsed = envfile.loads(text, source_path or "<plan>")
    nodes = (
        f", for {len(plan.nodes)} node type{'s' if len(plan.nodes) > 1 else ''} "
        f"({', '.join(n.label for n in plan.nodes)})"
        if plan.nodes
        else ""
    )
    return Prepared(
        text=text,
        plan=plan,
        channels=_channels(parsed),
        origin=origin,
        record=record,
        machine=machine,
        file_name=_doc_name(parsed),
        source_path=source_path,
        summary=f"{plan.label()} for Python {plan.python}{nodes}",
        why=tuple(plan.bound) + tuple(plan.why),
        solve_environ=solve_environ,
    )


def _channels(doc: envfile.EnvDocument) -> tuple[str, ...]:
    return tuple(str(c) for c in (doc.data.get("channels") or ()))


def _doc_name(doc: envfile.EnvDocument) -> str | None:
    value = doc.data.get("name")
    return str(value) if value else None


def _prepared_as_is(doc: envfile.EnvDocument, path: str, *, origin: str) -> Prepared:
    """A file created exactly as written; its pins stand in for the plan."""
    request = envfile.team_request(doc)
    pins: dict[str, str | None] = dict.fromkeys(PIP_STACK)
    for package, vspec, _line, _kind in request.pins:
        if pins.get(package) is None:
            pins[package] = envfile.pinned_version(vspec.lstrip("=")) or vspec
    channels = _channels(doc)
    record: dict[str, Any] = {
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
        plan=None,
        channels=channels,
        origin=origin,
        record=record,
        file_name=_doc_name(doc),
        source_path=os.path.abspath(path),
        summary=f"{os.path.basename(path)} as written ({stack})",
    )


def from_provenance(prov: Any) -> Prepared:
    """The environment's recorded file, rebuilt as it was (``recreate`` without
    ``--regenerate``); the recorded plan stands for the plan."""
    doc = envfile.loads(prov.environment_file, str(prov.path))
    record = dict(prov.plan)
    stack = ", ".join(f"{k} {record[k]}" for k in PIP_STACK if record.get(k))
    machine = None
    if prov.machine:
        try:
            machine = Machine.from_json(dict(prov.machine))
        except (ValueError, TypeError):
            machine = None
    return Prepared(
        text=prov.environment_file,
        plan=None,
        channels=_channels(doc),
        origin="provenance",
        record=record,
        machine=machine,
        file_name=None,
        summary=f"as created ({stack or 'no torch pins'})",
    )


def replan_provenance(
    prov: Any,
    machine: Machine | None,
    *,
    name: str | None,
    torch: str | None,
    python: str | None,
    backend: str | None,
    source: str | None,
    without: Sequence[str] = (),
    default_python: str | None = None,
) -> Prepared:
    """The environment's recorded file with its torch stack planned anew for this machine
    (``recreate --regenerate``).

    The recorded file is conda-torch's own earlier plan, not a team's request: its torch pin
    is dropped (re-planned freely unless ``torch`` says otherwise), its Python pin and the
    companions it lists carry over, said in the plan's ``why`` as a team file's are.
    """
    if machine is None:
        machine = detect()
    doc = envfile.loads(prov.environment_file, str(prov.path))
    request = envfile.team_request(doc)
    ask = team_request(
        replace(request, torch=None, torch_line=None),
        "the recorded file",
        torch=torch,
        python=python,
        without=without,
    )
    matrix = load_matrix()
    plan = _plan(machine, ask, matrix, backend=backend, source=source, name=name,
                 default_python=default_python)  # fmt: skip
    if request.pins:
        # The old file pinned the old stack (conda-torch's plan then, not a team's request):
        # re-plan freely, as --torch says when given (a pin left in would bound it).
        doc = envfile.drop_stack_pins(doc)
    text = specialize(doc, plan, matrix=matrix, name=name)
    return _prepared(plan, text, origin="plan", machine=machine)


# -- generate ----------------------------------------------------------------------------------


def generate(
    machine: Machine | Callable[[], Machine] | None,
    *,
    platforms: Sequence[str] = (),
    all_platforms: bool = False,
    file: str | None = None,
    nodes: Sequence[Any] = (),
    split: bool = False,
    torch: str | None = None,
    python: str | None = None,
    backend: str | None = "auto",
    source: str | None = None,
    without: Sequence[str] = (),
    name: str | None = None,
    default_python: str | None = None,
    to_stdout: bool = False,
    stamp_version: bool = True,
) -> Generated:
    """Plan and write down every file ``generate`` makes (nothing is written here).

    ``machine`` is this machine (or a function that probes it: called after the cheap checks, so
    a bad ``--platform`` or team file fails first); None plans every target for a generic
    machine of its platform (``tools/regen_environments``). ``platforms``/``all_platforms``:
    one file per target (:data:`ALL_TARGETS`); ``nodes``: one file for every node type (or,
    ``split``, one per group); ``file``: a team's file, specialized. ``to_stdout``: the file is
    printed (``-o -``), so one file only. ``stamp_version`` puts conda-torch's version in the
    header. Raises before anything is written when a target cannot be planned (an
    ``--all-platforms`` generic target no build fits is skipped and named instead).
    """
    subdirs: list[str] = []
    for p in platforms:
        s = str(Subdir.parse(p))  # UnknownPlatformError, with the nearest names
        if s not in subdirs:
            subdirs.append(s)
    doc = envfile.load(file) if file else None
    ask = _ask(doc, torch=torch, python=python, without=without)
    if nodes:
        return _generate_fleet(
            nodes, ask, doc, platforms=subdirs, all_platforms=all_platforms, split=split,
            backend=backend, source=source, name=name, default_python=default_python,
            to_stdout=to_stdout, stamp_version=stamp_version,
        )  # fmt: skip
    own_machine = machine() if callable(machine) else machine
    matrix = load_matrix()
    targets = _targets(own_machine, subdirs, all_platforms=all_platforms, backend=backend)
    multi = all_platforms or len(subdirs) > 1 or len(targets) > 1
    if multi and to_stdout:
        raise CondaTorchValueError(
            "-o - prints one file; several platforms need a folder", hints=["Pass -o DIR."]
        )
    files: list[FileOut] = []
    skipped: list[str] = []
    for subdir, variant, generic in targets:
        target_machine, description = generic if generic else (own_machine, None)
        assert target_machine is not None
        target_backend = backend
        if generic and variant in ("cpu", "cuda") and backend in (None, "", "auto"):
            target_backend = variant
        try:
            plan = _plan(
                target_machine,
                ask,
                matrix,
                backend=target_backend,
                source=source,
                # this machine's own platform, when only inferred: the plan says so
                subdir=None if (generic is None and not subdirs) else subdir,
                name=name,
                description=description,
                stamp_version=stamp_version,
                default_python=None if generic else default_python,
            )
            text, blocker = file_for(plan, _copy(doc), matrix=matrix, name=name)
        except CondaTorchError as exc:
            if all_platforms and generic:
                skipped.append(f"{render.target_filename(subdir, variant)}: {exc.line}")
                continue
            raise
        filename = render.target_filename(subdir, variant if generic else _own_variant(plan))
        files.append(FileOut(plan, text, filename, blocker))
    if not files:
        raise CondaTorchValueError(
            "no environment file could be made for any target", hints=list(skipped[:3])
        )
    return Generated(files=tuple(files), multi=multi, skipped=tuple(skipped))


def _copy(doc: envfile.EnvDocument | None) -> envfile.EnvDocument | None:
    """A fresh copy of a team's document (specializing edits it; each target gets its own)."""
    return None if doc is None else envfile.loads(doc.text, doc.path)


def _targets(
    machine: Machine | None,
    subdirs: Sequence[str],
    *,
    all_platforms: bool,
    backend: str | None,
) -> list[tuple[str, str | None, tuple[Machine, str] | None]]:
    """(subdir, variant or None, generic machine and its description, or None for this machine),
    this machine's own first when it is one of them."""
    own = implied_subdir(machine) if machine is not None else None
    if machine is not None and own is None and len(subdirs) == 1 and not all_platforms:
        own = subdirs[0]  # the captures did not show the platform: --platform names it
    targets: list[tuple[str, str | None, Any]] = []
    if all_platforms:
        done: set[str] = set()
        for s, variant in ALL_TARGETS:
            if s == own:
                if s not in done:
                    targets.append((s, None, None))
                    done.add(s)
            else:
                targets.append((s, variant, generic_machine(s, variant)))
        for s in subdirs:  # extra platforms named next to --all-platforms
            if s not in {t[0] for t in targets}:
                targets.extend(_generic_targets(s, backend, both=True))
    elif subdirs:
        for s in subdirs:
            if s == own:
                targets.append((s, None, None))
            else:
                targets.extend(_generic_targets(s, backend, both=len(subdirs) > 1))
    else:
        if own is None:
            raise CondaTorchValueError(
                "cannot tell this machine's platform from the inputs",
                hints=["Pass --platform (e.g. --platform linux-64)."],
            )
        targets.append((own, None, None))
    return targets


def _generic_targets(
    subdir: str, backend: str | None, *, both: bool
) -> list[tuple[str, str | None, tuple[Machine, str]]]:
    """Targets for a platform that is not this machine's: a generic machine for each variant.

    macOS has one build per platform; Linux and Windows get the CUDA variant (``both``: and
    the CPU one), or the CPU one alone with ``--backend cpu``.
    """
    if subdir.startswith("osx-"):
        return [(subdir, None, generic_machine(subdir, None))]
    if backend == "cpu":
        variants: tuple[str, ...] = ("cpu",)
    elif backend in (None, "", "auto"):
        variants = ("cuda", "cpu") if both else ("cuda",)
    else:
        variants = ("cuda",)
    return [(subdir, v, generic_machine(subdir, v)) for v in variants]


def _own_variant(plan: Plan) -> str | None:
    return None if plan.subdir.startswith("osx-") else plan.variant


def _generate_fleet(
    nodes: Sequence[Any],
    ask: TeamAsk,
    doc: envfile.EnvDocument | None,
    *,
    platforms: Sequence[str],
    all_platforms: bool,
    split: bool,
    backend: str | None,
    source: str | None,
    name: str | None,
    default_python: str | None,
    to_stdout: bool,
    stamp_version: bool,
) -> Generated:
    """``--node``: one file for every node type (or, ``split``, one per group)."""
    if all_platforms or len(platforms) > 1:
        raise CondaTorchValueError(
            "--node plans for the node types given, on their own platform",
            hints=["Drop --all-platforms; one --platform may name the nodes' platform."],
        )
    if split and to_stdout:
        raise CondaTorchValueError("--split writes a file per group: -o names a folder")
    from .fleet import plan_fleet  # here: only --node needs it (generate's start-up budget)

    matrix: Matrix = load_matrix()
    fleet = plan_fleet(
        nodes,
        split=split,
        torch=ask.torch,
        python=ask.python,
        backend=backend,
        source=source,
        subdir=platforms[0] if platforms else None,
        name=name,
        matrix=matrix,
        without=ask.without,
        asked_by=ask.asked_by,
        stamp_version=stamp_version,
        default_python=default_python,
    )
    files = []
    for group in fleet.groups:
        plan = _with_notes(group.plan, ask)
        text, blocker = file_for(plan, _copy(doc), matrix=matrix, name=name)
        files.append(FileOut(plan, text, group.filename, blocker, group=group))
    return Generated(files=tuple(files), multi=split, fleet=True, split=fleet.split)


def write(generated: Generated, output: str | None, *, force: bool) -> tuple[list[str], bool]:
    """Write ``generated``'s files: one to ``output`` (default ``environment.yml``), several into
    the folder ``output`` (default: the current one). Returns the paths and whether the one
    file went to a stream (``/dev/stdout``, a FIFO: the report then goes to stderr)."""
    if generated.multi:
        pairs = [(f.filename, f.text) for f in generated.files]
        return envfile.write_folder(output or ".", pairs, force=force), False
    path = output or DEFAULT_OUTPUT
    kind = envfile.write_atomic(path, generated.files[0].text, force=force)
    return [path], kind == "stream" and not generated.fleet


#: Default output file for one target.
DEFAULT_OUTPUT: Final = "environment.yml"
