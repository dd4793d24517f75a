"""One plan for several machines: the node types of a cluster, planned for on its login node.

A cluster's login node has no GPU; its compute nodes have GPUs of several generations behind
drivers of several ages, and they share one filesystem. :func:`plan_fleet` takes one machine
picture per node type (:func:`load_node`: a ``detect --json`` file, a captured output, or a
folder of captures of one node) and chooses one stack that runs on every one of them:

* **the platform they share**: node types of different platforms (osx-arm64 beside linux-64)
  cannot share a file; they are refused with the grouping, or (``split``) planned apart;
* **every node judged on its own**, by the same :meth:`Matrix.evaluate` (so by
  :func:`compat.driver_support` and :func:`compat.arch_coverage`, the two rules defined once):
  a build is accepted for the fleet when every node type accepts it, and its reasons name the
  node types they come from. So the oldest driver and every GPU architecture bound the choice,
  and CUDA minor-version compatibility applies per node (a node that needs PTX JIT does not
  hold back one that does not);
* **ranked as for one machine** (:func:`plan.rank` through :func:`plan.make_plan`), so a fleet
  of one node gets exactly that node's plan;
* **what bound the choice**: every build the fleet would have ranked higher, the node types
  that rule it out and the constraint, in words ("driver 535.129.03 on quadro caps CUDA at
  12.x"): :attr:`Plan.bound`;
* **a split when no one build serves them all**: when the best build every node runs is a CPU
  build while some node type alone gets a GPU build (or nothing runs on them all), the node
  types are grouped (greedily: the build that runs the GPUs of the most node types first) and
  each group gets its own plan. Without ``split`` that is an error that names the groups.

The environment file's ``__cuda`` line is the weakest requirement every node type meets: a
node that needs PTX JIT has a driver for the build's own CUDA (it was accepted), the others
run it through minor-version compatibility. :attr:`FleetGroup.oldest_cuda` is the CUDA of the
oldest driver among the node types: what a login node without a driver solves for
(``CONDA_OVERRIDE_CUDA``).
"""

from __future__ import annotations

import os
import re

from .exceptions import CondaTorchValueError, IncompatibleError, InputFileError
from .values import replace, value_class

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from .machine import Machine
    from .matrix import Candidate, Matrix, Verdict
    from .plan import Plan

__all__ = [
    "Explanation", "Fleet", "FleetGroup", "FleetSplitError", "Node", "explain", "load_node",
    "plan_fleet",
]  # fmt: skip

#: ``--node NAME=FILE``: the name a node type is given, else the file's (or folder's) stem.
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}")

#: How every node type is named in the plan's sentences.
SCOPE = "every node type"


@value_class
class Node:
    """One node type: its label, the machine picture, and where the picture came from."""

    label: str
    machine: Machine
    source: str

    @property
    def hostname(self) -> str | None:
        return self.machine.platform.hostname


class FleetSplitError(IncompatibleError):
    """No one build runs the GPUs of every node type; ``fleet`` holds the groups that work."""

    def __init__(self, message: str, fleet: Fleet, hints: Sequence[str] = ()) -> None:
        super().__init__(message, hints=list(hints))
        self.fleet = fleet


@value_class
class FleetGroup:
    """Node types that share one environment file, and its plan."""

    nodes: tuple[Node, ...]
    plan: Plan
    #: Their verdicts (accepted = on every node type of the group), in the plan's order.
    verdicts: tuple[Verdict, ...] = ()

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(n.label for n in self.nodes)

    @property
    def filename(self) -> str:
        """``h100+quadro.yml``: the group's file name in a ``--split`` folder."""
        return "+".join(self.labels) + ".yml"

    @property
    def oldest_cuda(self) -> tuple[str, str] | None:
        """(CUDA version, node label) of the oldest NVIDIA driver among the node types, else
        None: the ``__cuda`` a solve without a driver should see."""
        return _oldest_cuda(self.nodes)

    def solve_environ(self) -> tuple[tuple[str, str, str], ...]:
        """conda's overrides that make a solve elsewhere (a login node) see what these node
        types have: ``CONDA_OVERRIDE_CUDA`` (the oldest driver's CUDA, for a CUDA plan) and
        ``CONDA_OVERRIDE_GLIBC`` (the oldest glibc, where the pictures show one): (variable,
        value, why)."""
        from .constants import CONDA_OVERRIDE_CUDA
        from .models import version_tuple

        out = []
        oldest = self.oldest_cuda
        if oldest is not None and self.plan.variant == "cuda":
            out.append((
                CONDA_OVERRIDE_CUDA, oldest[0],
                f"the CUDA of the oldest NVIDIA driver among the node types, on {oldest[1]}",
            ))  # fmt: skip
        elif self.plan.variant == "cuda" and self.plan.requires_cuda:
            need = self.plan.requires_cuda.split(">=", 1)[-1]
            need = need if "." in need else f"{need}.0"
            out.append((
                CONDA_OVERRIDE_CUDA, need,
                "no node type's picture shows its driver's CUDA: the build's own requirement",
            ))  # fmt: skip
        glibcs = [
            (n.machine.platform.glibc, n.label)
            for n in self.nodes
            if n.machine.platform.glibc and version_tuple(n.machine.platform.glibc) > (0,)
        ]
        if glibcs and self.plan.subdir.startswith("linux-"):
            value, who = min(glibcs, key=lambda g: version_tuple(g[0]))
            out.append(
                ("CONDA_OVERRIDE_GLIBC", value, f"the oldest glibc among the node types, on {who}")
            )
        return tuple(out)


@value_class
class Fleet:
    """The result of :func:`plan_fleet`: one group, or (split) several."""

    groups: tuple[FleetGroup, ...]
    #: Why the node types do not share one file (None when they do).
    split: str | None = None

    @property
    def plan(self) -> Plan:
        """The one plan (raises when the node types split)."""
        if len(self.groups) != 1:
            raise IncompatibleError(self.split or "the node types need several files")
        return self.groups[0].plan


@value_class
class Explanation:
    """``matrix --explain --node``: every build judged on every node type."""

    nodes: tuple[Node, ...]
    subdir: str
    #: One verdict per build, accepted when every node type accepts it, in the plan's order.
    verdicts: tuple[Verdict, ...]
    #: The plan (or the groups) :func:`plan_fleet` makes for these node types; None when none.
    fleet: Fleet | None
    #: Why there is no plan, when there is none.
    problem: str | None = None


# -- node pictures ----------------------------------------------------------------------------


def load_node(spec: str) -> Node:
    """A node type from ``[NAME=]PATH``: a ``detect --json`` file, one captured output (as
    ``detect --from`` reads), or a folder of captured outputs of one node. The label is NAME,
    else the file's name without its extension (the folder's name). Raises
    :class:`InputFileError` naming the file."""
    label, path = _split_spec(spec)
    if not os.path.exists(path):
        raise InputFileError(path, "no such file or folder")
    if os.path.isdir(path):
        files = sorted(
            os.path.join(path, f)
            for f in os.listdir(path)
            if not f.startswith(".") and os.path.isfile(os.path.join(path, f))
        )
        if not files:
            raise InputFileError(path, "is a folder without captured outputs")
        detect_docs = [f for f in files if _detect_document(f) is not None]
        if detect_docs:
            raise InputFileError(
                detect_docs[0],
                "is a detect --json file inside a folder of captures",
                hints=["Pass a detect --json file as --node FILE on its own."],
            )
        machine = _from_captures(files)
    elif _detect_document(path) is not None:
        from .detect import load_machine

        machine = load_machine(path)
    else:
        machine = _from_captures([path])
    base = os.path.basename(os.path.normpath(path))
    return Node(label or _default_label(base), machine, path)


def _split_spec(spec: str) -> tuple[str | None, str]:
    name, sep, rest = spec.partition("=")
    if sep and rest and _LABEL.fullmatch(name) and not os.path.exists(spec):
        return name, rest
    return None, spec


def _default_label(base: str) -> str:
    stem = base.rsplit(".", 1)[0] if "." in base.lstrip(".") else base
    return re.sub(r"[^A-Za-z0-9_.+-]+", "-", stem).strip("-") or "node"


def _detect_document(path: str) -> dict[str, Any] | None:
    """The file's JSON when it is a ``detect --json`` document (by its schema), else None."""
    import json

    try:
        with open(path, encoding="utf-8") as fh:
            head = fh.read(1)
            if head != "{":
                return None
            data = json.loads(head + fh.read())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    schema = data.get("schema") if isinstance(data, dict) else None
    return data if isinstance(schema, str) and schema.startswith("conda-torch.detect/") else None


def _from_captures(paths: list[str]) -> Machine:
    """The node these captures show. Each file must be a captured output (``nvidia-smi``,
    ``/proc/driver/nvidia/version``, ``conda info``, ...): a pasted report, which ``detect
    --from`` reads for the few facts it shows, is no picture of a node. This process's
    variables (``CONDA_OVERRIDE_CUDA``, ``CUDA_VISIBLE_DEVICES``) describe the login node, not
    the node."""
    from .detect import captures, detect

    lenient = captures.lenient_kinds()
    for path in paths:
        try:
            kinds = {o.kind for o in captures.parse_file(path)}
        except InputFileError:
            raise
        except Exception as exc:  # a parser bug must still end in one clear line
            raise InputFileError(
                path, f"could not be parsed ({type(exc).__name__}: {exc})"
            ) from None
        if kinds <= lenient:
            raise InputFileError(
                path,
                "is no picture of a node: not a detect --json file nor a captured output "
                "(nvidia-smi, /proc/driver/nvidia/version, conda info, ...)",
                hints=["Save one on the node: conda torch detect --via LAUNCHER -o FILE."],
            )
    return detect(from_files=paths, environ={})


def _oldest_cuda(nodes: Sequence[Node]) -> tuple[str, str] | None:
    from .models import version_tuple

    known = [
        (n.machine.nvidia.cuda_version, n.label)
        for n in nodes
        if n.machine.nvidia and n.machine.nvidia.cuda_version
        and version_tuple(n.machine.nvidia.cuda_version) > (0,)
    ]  # fmt: skip
    if not known:
        return None
    return min(known, key=lambda k: version_tuple(k[0]))


# -- planning ---------------------------------------------------------------------------------


def plan_fleet(
    nodes: Sequence[Node | str],
    *,
    split: bool = False,
    torch: str | None = None,
    python: str | None = None,
    backend: str | None = "auto",
    source: str | None = None,
    subdir: str | None = None,
    name: str | None = None,
    matrix: Matrix | None = None,
    without: Sequence[str] = (),
    asked_by: Mapping[str, str] | None = None,
    stamp_version: bool = True,
    default_python: str | None = None,
) -> Fleet:
    """One plan for every node type in ``nodes`` (see the module docstring): :class:`Node`
    values, or ``[NAME=]PATH`` texts read with :func:`load_node`.

    ``subdir`` is the platform they run (default: what each picture shows or implies).
    ``split``: when no one build runs the GPUs of every node type, or they are of different
    platforms, plan each group apart (else :class:`FleetSplitError`, naming the groups).
    Raises :class:`IncompatibleError` when some node type has no build at all.
    """
    if not nodes:
        raise CondaTorchValueError("no node types given", hints=["Pass --node FILE, repeated."])
    nodes = [load_node(n) if isinstance(n, str) else n for n in nodes]
    labels = [n.label for n in nodes]
    twice = next((lb for lb in labels if labels.count(lb) > 1), None)
    if twice:
        raise CondaTorchValueError(
            f"two node types are labelled {twice!r}",
            hints=["Name them: --node NAME=FILE."],
        )
    if matrix is None:
        from .matrix import load

        matrix = load()
    request = {
        "torch": torch, "python": python, "backend": backend, "source": source, "name": name,
        "without": tuple(without), "asked_by": dict(asked_by or {}),
        "stamp_version": stamp_version, "default_python": default_python,
    }  # fmt: skip

    by_platform: dict[str, list[Node]] = {}
    notes: dict[str, list[str]] = {}
    for node in nodes:
        target, note = (subdir, None) if subdir else _platform(node)
        by_platform.setdefault(target, []).append(node)
        if note:
            notes.setdefault(note, []).append(node.label)
    node_notes = tuple((note, tuple(who)) for note, who in notes.items())
    if len(by_platform) > 1:
        grouping = "; ".join(
            f"{sd}: {', '.join(n.label for n in g)}" for sd, g in by_platform.items()
        )
        message = f"these node types cannot share one environment file ({grouping})"
        if not split:
            raise IncompatibleError(
                message,
                hints=[
                    (
                        "Pass --split to write one file per platform group (-o DIR), or plan "
                        "each group on its own."
                    )
                ],
            )
        groups: list[FleetGroup] = []
        for sd, group in by_platform.items():
            sub = _plan_platform(group, sd, matrix, request, node_notes, split=True)
            groups.extend(sub.groups)
        return Fleet(tuple(groups), split=message)
    ((sd, group),) = by_platform.items()
    return _plan_platform(group, sd, matrix, request, node_notes, split=split)


def explain(
    nodes: Sequence[Node | str],
    *,
    torch: str | None = None,
    python: str | None = None,
    backend: str | None = None,
    source: str | None = None,
    subdir: str | None = None,
    matrix: Matrix | None = None,
) -> Explanation:
    """Every build judged on every node type (as :meth:`Matrix.evaluate` judges one machine),
    ranked as :func:`plan_fleet` ranks them, and the plan it makes. The node types must share
    a platform."""
    from .plan import rank

    nodes = [load_node(n) if isinstance(n, str) else n for n in nodes]
    if matrix is None:
        from .matrix import load

        matrix = load()
    platforms: dict[str, list[str]] = {}
    for node in nodes:
        platforms.setdefault(subdir or _platform(node)[0], []).append(node.label)
    if len(platforms) > 1:
        grouping = "; ".join(f"{sd}: {', '.join(lbs)}" for sd, lbs in platforms.items())
        raise IncompatibleError(
            f"these node types do not share a platform ({grouping})",
            hints=["Explain each group on its own."],
        )
    (target,) = platforms
    problem = None
    try:
        fleet: Fleet | None = plan_fleet(
            nodes, split=True, torch=torch, python=python, backend=backend, source=source,
            subdir=target, matrix=matrix,
        )  # fmt: skip
    except IncompatibleError as exc:
        fleet, problem = None, exc.line
    judged = {
        n.label: matrix.evaluate(
            n.machine,
            subdir=target,
            strict=True,
            python=python,
            source=source,
            torch=torch,
            backend=backend,
        )  # fmt: skip
        for n in nodes
    }
    verdicts = rank(_combine(nodes, judged), source=source)
    return Explanation(tuple(nodes), target, tuple(verdicts), fleet, problem)


def _platform(node: Node) -> tuple[str, str | None]:
    from .plan import target_platform

    target, note = target_platform(node.machine)
    if not target:
        raise CondaTorchValueError(
            f"{node.source}: the picture of node type {node.label} does not show its platform",
            hints=["Pass --platform (e.g. linux-64), or add a capture that shows it."],
        )
    return target, note


def _plan_platform(
    nodes: Sequence[Node],
    subdir: str,
    matrix: Matrix,
    request: dict[str, Any],
    node_notes: tuple[tuple[str, tuple[str, ...]], ...],
    *,
    split: bool,
) -> Fleet:
    """The fleet's plan on one platform, or its groups."""
    judged: dict[str, list[Verdict]] = {}
    try:
        group = _plan_group(nodes, subdir, matrix, request, node_notes, judged)
    except IncompatibleError:
        if not judged:
            raise
        group = None
    if group is not None and not _needs_split(group.plan, nodes, judged, request):
        return Fleet((group,))
    if len(nodes) == 1:
        if group is None:
            raise _nothing_for(nodes[0], subdir, matrix, request)
        return Fleet((group,))
    parts = _partition(nodes, judged, request)
    groups = []
    for part in parts:
        if len(part) == len(nodes):  # no GPU build runs on any two of them: keep them together
            if group is None:
                raise _nothing_for(nodes[0], subdir, matrix, request)
            return Fleet((group,))
        groups.append(_plan_platform(part, subdir, matrix, request, node_notes, split=True))
    flat = tuple(g for sub in groups for g in sub.groups)
    message = "no one build serves the GPUs of every node type: " + "; ".join(
        f"{', '.join(g.labels)}: {g.plan.label()}" for g in flat
    )
    fleet = Fleet(flat, split=message)
    if not split:
        raise FleetSplitError(
            message,
            fleet,
            hints=[
                (
                    "Write one file per group with generate --split -o DIR (and create one "
                    "environment per group), or leave a node type out."
                )
            ],
        )
    return fleet


def _plan_group(
    nodes: Sequence[Node],
    subdir: str,
    matrix: Matrix,
    request: dict[str, Any],
    node_notes: tuple[tuple[str, tuple[str, ...]], ...],
    judged: dict[str, list[Verdict]],
) -> FleetGroup:
    """One plan for ``nodes`` (through :func:`plan.make_plan`); fills ``judged`` with every
    node type's own verdicts (by label) before anything can fail."""
    from .plan import make_plan, rank

    combined: list[Verdict] = []

    def evaluate(_machine: Machine, **kw: Any) -> list[Verdict]:
        for node in nodes:
            judged[node.label] = matrix.evaluate(node.machine, **kw)
        combined[:] = _combine(nodes, judged)
        return list(combined)

    plan = make_plan(
        _fleet_machine(nodes, subdir),
        torch=request["torch"],
        python=request["python"],
        backend=request["backend"],
        source=request["source"],
        subdir=subdir,
        name=request["name"],
        matrix=matrix,
        stamp_version=request["stamp_version"],
        asked_by=request["asked_by"],
        without=request["without"],
        default_python=request["default_python"],
        evaluate=evaluate,
        scope=SCOPE if len(nodes) > 1 else None,
    )
    from .plan import summarize_machine

    mine = set(_labels(nodes))
    own = tuple(
        note if len(nodes) == 1 else f"{', '.join(lb for lb in who if lb in mine)}: {note}"
        for note, who in node_notes
        if mine & set(who)
    )

    summaries = tuple(_summary(n, subdir) for n in nodes)
    plan = replace(
        plan,
        machine=replace(
            summarize_machine(_fleet_machine(nodes, subdir), subdir),
            generic=True,
            description=f"{len(nodes)} node type{'s' if len(nodes) > 1 else ''}: "
            + ", ".join(_labels(nodes)),
        ),
        nodes=summaries,
        bound=_bound(plan.candidate, nodes, judged, request),
        notes=own + plan.notes,
        warnings=own + plan.warnings,
    )
    ranked = rank(combined, source=request["source"], without=request["without"])
    return FleetGroup(tuple(nodes), plan, tuple(ranked))


def _labels(nodes: Sequence[Node]) -> list[str]:
    return [n.label for n in nodes]


def _summary(node: Node, subdir: str) -> Any:
    from .plan import NodeSummary, summarize_machine

    return NodeSummary(
        node.label, node.source, summarize_machine(node.machine, subdir), node.hostname
    )


def _combine(nodes: Sequence[Node], judged: Mapping[str, list[Verdict]]) -> list[Verdict]:
    """One verdict per candidate: accepted when every node type accepts it; its reasons and
    notes each name the node types they come from (all of them: no name)."""
    from .matrix import Verdict

    by_node = {n.label: {v.candidate: v for v in judged[n.label]} for n in nodes}
    first = judged[nodes[0].label]
    out = []
    for v0 in first:
        c = v0.candidate
        vs = [(n.label, by_node[n.label][c]) for n in nodes]
        accepted = all(v.accepted for _, v in vs)
        # a rejected build: why each node that rejects it does; an accepted one: every warning
        speaking = [(lb, v) for lb, v in vs if accepted or not v.accepted]
        out.append(
            Verdict(
                candidate=c,
                accepted=accepted,
                reasons=_attributed([(lb, v.reasons) for lb, v in speaking], len(nodes)),
                notes=_attributed([(lb, v.notes) for lb, v in vs], len(nodes)),
                # the weakest __cuda every node meets: one that needs JIT has the full driver
                needs_jit=all(v.needs_jit for _, v in vs),
                limits=tuple(lim for _, v in speaking for lim in v.limits),
            )
        )
    return out


def _attributed(items: Sequence[tuple[str, Sequence[str]]], total: int) -> tuple[str, ...]:
    """``on quadro, p4: TEXT`` for each text, naming the node types that say it (none when all
    of them do)."""
    who: dict[str, list[str]] = {}
    for label, texts in items:
        for text in dict.fromkeys(texts):
            who.setdefault(text, []).append(label)
    if total == 1:
        return tuple(who)
    return tuple(
        text if len(labels) == total else f"on {', '.join(labels)}: {text}"
        for text, labels in who.items()
    )


def _fleet_machine(nodes: Sequence[Node], subdir: str) -> Machine:
    """A stand-in for the fleet in the plan's sentences: the platform, the oldest NVIDIA
    driver, every GPU. (Never judged: each node type is.)"""
    from .machine import AppleInfo, Machine, NvidiaInfo, PlatformInfo, RocmInfo, XpuInfo
    from .models import version_tuple

    if len(nodes) == 1:
        return nodes[0].machine
    first = nodes[0].machine.platform
    platform = PlatformInfo(subdir=subdir, native_subdir=subdir, os=first.os, machine=first.machine)
    nvidia = [n.machine.nvidia for n in nodes if n.machine.nvidia is not None]
    oldest = (
        min(
            nvidia,
            key=lambda nv: (
                version_tuple(nv.cuda_version or "999") or (999,),
                version_tuple(nv.driver_version or "999") or (999,),
            ),
        )
        if nvidia
        else None
    )

    def distinct(gpus: Any) -> tuple[Any, ...]:
        seen: dict[tuple[Any, ...], Any] = {}
        for g in gpus:
            seen.setdefault((g.vendor, g.name, g.compute_capability, g.gfx), g)
        return tuple(replace(g, index=i) for i, g in enumerate(seen.values()))

    nv_gpus = distinct(g for n in nodes for g in n.machine.visible_nvidia_gpus)
    rocm = [n.machine.rocm for n in nodes if n.machine.rocm is not None]
    xpu = [n.machine.xpu for n in nodes if n.machine.xpu is not None]
    apple = next((n.machine.apple for n in nodes if n.machine.apple is not None), None)
    return Machine(
        platform=platform,
        nvidia=(
            NvidiaInfo(
                driver_version=oldest.driver_version, cuda_version=oldest.cuda_version, gpus=nv_gpus
            )
            if oldest is not None
            else None
        ),
        rocm=RocmInfo(version=rocm[0].version, gpus=distinct(g for r in rocm for g in r.gpus))
        if rocm
        else None,
        xpu=XpuInfo(gpus=distinct(g for x in xpu for g in x.gpus)) if xpu else None,
        apple=AppleInfo(chip=apple.chip, apple_silicon=apple.apple_silicon, mps=apple.mps)
        if apple
        else None,
        mode="files",
    )


# -- what bound the choice, and splits --------------------------------------------------------


def _union_ranked(
    nodes: Sequence[Node], judged: Mapping[str, list[Verdict]], request: dict[str, Any]
) -> list[Verdict]:
    """Every candidate that some node type accepts, in the plan's order (as if judged against
    that node type alone)."""
    from .plan import rank

    by_node = {n.label: {v.candidate: v for v in judged[n.label]} for n in nodes}
    union = []
    for v0 in judged[nodes[0].label]:
        vs = [by_node[n.label][v0.candidate] for n in nodes]
        ok = [v for v in vs if v.accepted]
        best = ok[0] if ok else v0
        union.append(
            replace(
                best,
                accepted=bool(ok),
                reasons=tuple(dict.fromkeys(r for v in ok for r in v.reasons))
                if ok
                else best.reasons,
            )
        )
    return [
        v for v in rank(union, source=request["source"], without=request["without"]) if v.accepted
    ]


def _bound(
    chosen: Candidate,
    nodes: Sequence[Node],
    judged: Mapping[str, list[Verdict]],
    request: dict[str, Any],
) -> tuple[str, ...]:
    """For every build ranked above ``chosen`` that some node type runs: the node types that
    rule it out, and the constraint, one sentence per node type and kind of constraint."""
    from .models import version_tuple
    from .plan import candidate_label

    if len(nodes) < 2:
        return ()
    by_node = {n.label: {v.candidate.key: v for v in judged[n.label]} for n in nodes}
    out: dict[tuple[str, str, str | None], str] = {}
    for better in _union_ranked(nodes, judged, request):
        c = better.candidate
        if c.key == chosen.key:
            break
        for node in nodes:
            v = by_node[node.label][c.key]
            if v.accepted:
                continue
            for lim in v.limits:
                key = (node.label, lim.kind, lim.subject)
                if key in out:
                    continue
                what = candidate_label(c)
                nv = node.machine.nvidia
                if lim.kind == "driver" and nv is not None:
                    drv = nv.driver_version or f"for CUDA {nv.cuda_version}"
                    have = version_tuple(nv.cuda_version or "")
                    need = version_tuple(c.backend.cuda_version or "")
                    if have and need and have[0] < need[0]:
                        out[key] = (
                            f"driver {drv} on {node.label} caps CUDA at {have[0]}.x "
                            f"(rules out {what})"
                        )
                        continue
                    out[key] = f"driver {drv} on {node.label} rules out {what}: {lim.reason}"
                elif lim.kind == "gpu" and lim.subject:
                    out[key] = f"{lim.subject} on {node.label} rules out {what}: {lim.reason}"
                else:
                    out[key] = f"{node.label} rules out {what}: {lim.reason}"
    return tuple(out.values())


def _needs_split(
    plan: Plan, nodes: Sequence[Node], judged: Mapping[str, list[Verdict]], request: dict[str, Any]
) -> bool:
    """Some node type is not served by the fleet's build: it gets a CPU build where alone it
    would get a GPU build, or a build with warnings (PTX JIT, ...) where alone it would get
    one without."""
    if len(nodes) < 2:
        return False
    for node in nodes:
        own = _own_best(judged[node.label], request)
        if own is None:
            continue
        mine = next(v for v in judged[node.label] if v.candidate.key == plan.candidate.key)
        if plan.variant == "cpu" and own.candidate.backend.kind != "cpu":
            return True
        if mine.reasons and not own.reasons:
            return True
    return False


def _own_best(verdicts: Sequence[Verdict], request: dict[str, Any]) -> Verdict | None:
    """The build a node type gets alone."""
    from .plan import rank

    ranked = rank(verdicts, source=request["source"], without=request["without"])
    return ranked[0] if ranked and ranked[0].accepted else None


def _partition(
    nodes: Sequence[Node], judged: Mapping[str, list[Verdict]], request: dict[str, Any]
) -> list[list[Node]]:
    """Groups of node types that one GPU build serves: greedily, the build that serves the
    most remaining node types (ties: the plan's order), its node types a group; what no GPU
    build serves stays together. A build serves a node type when it accepts it without
    warnings, or with warnings where everything that node type runs has some."""
    order = {v.candidate.key: i for i, v in enumerate(_union_ranked(nodes, judged, request))}
    accepts: dict[str, set[Any]] = {}
    for n in nodes:
        own = _own_best(judged[n.label], request)
        clean = own is not None and not own.reasons
        accepts[n.label] = {
            v.candidate.key
            for v in judged[n.label]
            if v.accepted and v.candidate.backend.kind != "cpu" and not (clean and v.reasons)
        }
    remaining = list(nodes)
    parts: list[list[Node]] = []
    while remaining:
        counts: dict[Any, int] = {}
        for n in remaining:
            for key in accepts[n.label]:
                counts[key] = counts.get(key, 0) + 1
        if not counts:
            parts.append(remaining)
            break
        best = min(counts, key=lambda k: (-counts[k], order.get(k, len(order))))
        part = [n for n in remaining if best in accepts[n.label]]
        parts.append(part)
        remaining = [n for n in remaining if n not in part]
    return parts


def _nothing_for(
    node: Node, subdir: str, matrix: Matrix, request: dict[str, Any]
) -> IncompatibleError:
    """Why no build runs on ``node`` (its own plan's error), naming it."""
    from .plan import make_plan

    try:
        make_plan(
            node.machine, torch=request["torch"], python=request["python"],
            backend=request["backend"], source=request["source"], subdir=subdir,
            matrix=matrix, without=request["without"],
        )  # fmt: skip
    except IncompatibleError as exc:
        return IncompatibleError(
            f"node type {node.label} ({node.source}): {exc.line}", hints=list(exc.hints)
        )
    return IncompatibleError(
        f"no torch build runs on every node type given ({', '.join([node.label])})"
    )
