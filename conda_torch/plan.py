"""The resolved request: which torch stack, from where, for which Python, and why.

:func:`make_plan` asks the matrix (:meth:`conda_torch.matrix.Matrix.evaluate`) for every
candidate and its verdict on the machine, then applies conda-torch's policy:

1. a build that uses the machine's accelerator beats a CPU build (CPU only when no accelerator
   can be served, and the plan says why);
2. a verified matrix entry beats an unverified one;
3. a source that serves the whole stack asked for (torch, torchvision, torchaudio, minus
   ``--without``) together beats one that does not;
4. conda-forge beats pip, and pip beats the frozen ``pytorch`` channel (pip only when
   conda-forge cannot serve the request, and the plan says so);
5. the newest torch, then the newest CUDA (or ROCm) that the GPUs and the driver support.

A newer release passed over (it lacks a companion, or comes from another source) is named in
the plan with the flag that gets it.

This module decides only: :mod:`conda_torch.render` writes a plan down as an environment file
(its lines, header and ``Lock:`` advice) and :mod:`conda_torch.prepare` runs the whole
"plan, then write or specialize the file" for every command.
:func:`generic_machine` describes a platform other than this machine, for ``--platform``.
"""

from __future__ import annotations

import re

from . import __version__
from .constants import COMPANIONS, CONDA_OVERRIDE_CUDA
from .exceptions import CondaTorchValueError, IncompatibleError, suggest
from .machine import GPU, AppleInfo, Machine, NvidiaInfo, PlatformInfo
from .matrix import load as load_matrix
from .models import Backend, Subdir, version_tuple
from .patterns import lazy_re
from .specs import conda_name, pip_name
from .values import field, replace, to_plain, value_class

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, Final

    from .matrix import Candidate, Matrix, Verdict

#: Default Python ceiling: the newest Python a default environment gets, so that the packages a
#: team adds next to torch have wheels/builds for it (new Pythons lag in the ecosystem).
DEFAULT_PYTHON_CEILING: Final = "3.13"

#: Source preference when none is asked for: conda-forge first for conda users; pip only when
#: conda-forge cannot serve the request; the ``pytorch`` channel stops at 2.5
#: (data/reference/pytorch/NOTES.md 1).
SOURCE_PREFERENCE: Final = ("conda-forge", "pip", "pytorch")

#: Compute capabilities of the "common GPUs" a generic CUDA file targets: Turing (7.5) to
#: Blackwell (12.0). CUDA 13 builds start at sm_75, so this keeps the newest CUDA in reach;
#: Volta (7.0) and older need a 12.x build and a file generated on that machine
#: (data/reference/pytorch/NOTES.md 8; cuda.yaml arch lists).
COMMON_GPU_ARCHS: Final = (
    ("7.5", "Turing, e.g. T4 / RTX 20xx"),
    ("8.0", "Ampere, e.g. A100"),
    ("8.6", "Ampere, e.g. RTX 30xx / A10"),
    ("8.9", "Ada, e.g. L4 / RTX 40xx"),
    ("9.0", "Hopper, e.g. H100"),
    ("10.0", "Blackwell, e.g. B200"),
    ("12.0", "Blackwell, e.g. RTX 50xx"),
)

#: A driver new enough for every CUDA the matrix knows: what a generic machine "has", so that
#: the plan picks the newest CUDA and the header states the real floor from the candidate.
GENERIC_DRIVER: Final = "999.0"
GENERIC_DRIVER_CUDA: Final = "99.9"

PLAN_SCHEMA: Final = "conda-torch.plan/1"


@value_class
class GPUSummary:
    """One GPU as a plan shows it."""

    index: int | None
    name: str | None
    vendor: str
    compute_capability: str | None = None
    inferred: bool = False
    gfx: str | None = None

    def describe(self) -> str:
        parts = [
            f"GPU {self.index}: " if self.index is not None else "GPU: ",
            self.name or "unknown",
        ]
        if self.compute_capability:
            parts.append(f", compute capability {self.compute_capability}")
            if self.inferred:
                parts.append(" (from its name)")
        if self.gfx:
            parts.append(f", {self.gfx}")
        return "".join(parts)


@value_class
class MachineSummary:
    """What the plan was made for, as the header and ``--json`` show it."""

    subdir: str
    generic: bool = False
    os: str | None = None
    os_version: str | None = None
    nvidia_driver: str | None = None
    driver_cuda: str | None = None
    rocm: str | None = None
    apple_chip: str | None = None
    mps: bool | None = None
    gpus: tuple[GPUSummary, ...] = ()
    #: For a generic machine: who it stands for.
    description: str | None = None


@value_class
class NodeSummary:
    """One node type of a fleet plan (:func:`conda_torch.fleet.plan_fleet`): its label, where its
    picture came from (a file, a folder of captures, a launcher) and what it has."""

    label: str
    source: str
    machine: MachineSummary
    #: The host that answered, where the picture names one (``detect --via``).
    hostname: str | None = None


@value_class
class Rejected:
    """An alternative the plan did not take, and why."""

    label: str
    reasons: tuple[str, ...]

    def describe(self) -> str:
        return f"{self.label}: {'; '.join(self.reasons) if self.reasons else 'ranked lower'}"


@value_class
class Plan:
    """A resolved request: the chosen candidate, the Python, the name, and the reasons."""

    candidate: Candidate
    python: str
    name: str
    machine: MachineSummary
    why: tuple[str, ...]
    rejected: tuple[Rejected, ...] = ()
    fallbacks: tuple[str, ...] = ()
    matrix_date: str | None = None
    #: What was asked (None = default): torch, python, backend, source, subdir.
    request: tuple[tuple[str, str | None], ...] = ()
    #: Put the conda-torch version in the header (off for the committed environments/ files).
    stamp_version: bool = True
    notes: tuple[str, ...] = field(default=())
    #: The ``__cuda`` line the file lists: ``__cuda>=12`` where CUDA minor-version
    #: compatibility carries the build on the target machines, ``__cuda>=12.9`` where a GPU
    #: needs PTX JIT (:func:`conda_torch.compat.cuda_requirement`); None without CUDA.
    requires_cuda: str | None = None
    #: The NVIDIA driver floor that goes with :attr:`requires_cuda`.
    min_driver: str | None = None
    #: What the user must see on the terminal, not only in the file: assumptions about the
    #: platform and the chosen build's warnings (an unknown compute capability, PTX JIT).
    warnings: tuple[str, ...] = ()
    #: A fleet plan's node types (``--node``), and what bound its choice: for each node type
    #: that rules out a build the others would rank higher, the constraint, in words.
    nodes: tuple[NodeSummary, ...] = ()
    bound: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        return _source_name(self.candidate.source)

    @property
    def subdir(self) -> str:
        return str(self.candidate.subdir)

    @property
    def backend(self) -> str:
        return str(self.candidate.backend)

    @property
    def variant(self) -> str:
        """``cuda``, ``cpu``, ``rocm``, ``mps`` or ``xpu``: the backend's kind."""
        return self.candidate.backend.kind

    def label(self) -> str:
        return candidate_label(self.candidate)

    def to_json(self) -> dict[str, Any]:
        c = self.candidate
        return {
            "schema": PLAN_SCHEMA,
            "conda_torch_version": __version__,
            "matrix_date": self.matrix_date,
            "name": self.name,
            "subdir": self.subdir,
            "source": self.source,
            "backend": self.backend,
            "backend_kind": self.variant,
            "python": self.python,
            "torch": c.torch,
            "torchvision": c.torchvision,
            "torchaudio": c.torchaudio,
            "channels": list(c.channels),
            "conda_specs": list(c.specs),
            "pip_index": c.pip_index,
            "pip_specs": list(c.pip_specs),
            "requires_cuda": self.requires_cuda,
            "min_driver": self.min_driver,
            "min_driver_toolkit": c.min_driver,
            "min_driver_compat": c.min_driver_compat,
            "gpu_archs": list(c.gpu_archs or ()),
            "unverified": list(c.unverified),
            "sources": list(c.sources or ()),
            "request": {k: v for k, v in self.request},
            "machine": to_plain(self.machine),
            "why": list(self.why),
            "notes": list(self.notes),
            "warnings": list(self.warnings),
            "fallbacks": list(self.fallbacks),
            "nodes": [to_plain(n) for n in self.nodes],
            "bound": list(self.bound),
            "rejected": [
                {"alternative": r.label, "reasons": list(r.reasons)} for r in self.rejected
            ],
        }


def _source_name(source: Any) -> str:
    return str(getattr(source, "value", source))


def _short(note: str, width: int = 110) -> str:
    """``"field: explanation; more"`` -> its first clause, about ``width`` characters at most."""
    field_, _, text = note.partition(":")
    text = text.strip() or field_
    first = text.split("; ")[0].split(". ")[0].strip().rstrip(".")
    out = f"{field_.strip()}: {first}" if text != field_ else first
    if len(out) <= width:
        return out
    for sep in (" (", ", ", " "):
        cut = out.rfind(sep, 0, width)
        if cut > width // 2:
            return out[:cut].rstrip(",;:") + " …"
    return out[:width].rstrip() + " …"


def _unchecked(notes: Sequence[str]) -> list[str]:
    """One short line per unverified field (the first note, and how many more)."""
    by_field: dict[str, list[str]] = {}
    for n in notes:
        by_field.setdefault(n.partition(":")[0].strip(), []).append(n)
    out = []
    for items in by_field.values():
        more = f" (+{len(items) - 1} more)" if len(items) > 1 else ""
        out.append(_short(items[0]) + more)
    return out


def candidate_label(c: Candidate) -> str:
    """``torch 2.9.1 (conda-forge, cuda 12.9 build)``, ``torch 2.9.1 (pip, cu128)``."""
    return f"torch {c.torch} ({_source_name(c.source)}, {c.label or c.backend})"


# -- policy ------------------------------------------------------------------------------------


def _version(v: str | None) -> tuple[int, ...]:
    """The order key of a torch, CUDA or Python version of the matrix: its release numbers
    with trailing zeros dropped, which is packaging's PEP 440 order for plain releases (``2.9``
    equals ``2.9.0``), without importing packaging (``typing`` and its version pattern: about
    a tenth of ``generate``'s time). Every version in the matrix is a plain release
    (``tests/test_matrix.py`` says so); ``None`` or ``""`` is the lowest."""
    key = version_tuple(v)
    while key and key[-1] == 0:
        key = key[:-1]
    return key


#: Unverified matrix fields that make a candidate a guess, not a fact: the release itself
#: (published after every source snapshot read). Such candidates are chosen only when nothing
#: verified fits (or when --torch asks for them), and the plan says so. Other unverified
#: fields (a torchvision patch, an arch list detail) are listed under ``why`` as unchecked.
SERIOUS_UNVERIFIED: Final = frozenset({"release"})


def serious_unverified(c: Candidate) -> tuple[str, ...]:
    return tuple(u for u in c.unverified if u.split(":", 1)[0].strip() in SERIOUS_UNVERIFIED)


def missing_companions(c: Candidate, wanted: Sequence[str] = COMPANIONS) -> tuple[str, ...]:
    """The ``wanted`` companions the candidate's source does not serve beside its torch."""
    return tuple(p for p in wanted if getattr(c, p) is None)


def _rank_key(
    c: Candidate,
    preference: Sequence[str],
    warnings: Sequence[str] = (),
    wanted: Sequence[str] = COMPANIONS,
) -> tuple[Any, ...]:
    """Sort key, smaller = better: accelerator, verified, the whole stack, no warnings, source,
    newest torch.

    ``warnings`` are the reasons of an accepted verdict (PTX JIT only, an unverified macOS
    floor for MPS, ...): a build the machine runs without them is what it "fully supports".
    ``wanted`` are the companions asked for (the stack minus ``--without``): a source serves a
    release only with all of them. The source comes before the release: conda-forge's newest
    whole stack beats a newer pip one (one solve for the whole environment), and the plan names
    the newer one and the flag that gets it. Ties keep the matrix's order (native GPU code
    before PTX JIT, then the newest CUDA).
    """
    src = _source_name(c.source)
    return (
        c.backend.kind == "cpu",
        bool(serious_unverified(c)),
        bool(missing_companions(c, wanted)),
        bool(warnings),
        preference.index(src) if src in preference else len(preference),
        tuple(-x for x in version_tuple(c.torch) or (0,)),
    )


def rank(
    verdicts: Sequence[Verdict], *, source: str | None = None, without: Sequence[str] = ()
) -> list[Verdict]:
    """The verdicts in the plan's order: accepted ones by the policy (:func:`_rank_key`), best
    first, then the rejected ones in the matrix's order. ``matrix --explain`` shows this order,
    so its "Best" is the build ``generate`` writes for the same request."""
    preference = SOURCE_PREFERENCE if source is None else (source,)
    wanted = tuple(p for p in COMPANIONS if p not in without)
    indexed = list(enumerate(verdicts))
    accepted = sorted(
        (iv for iv in indexed if iv[1].accepted),
        key=lambda iv: (_rank_key(iv[1].candidate, preference, iv[1].reasons, wanted), iv[0]),
    )
    return [v for _, v in accepted] + [v for v in verdicts if not v.accepted]


def without_companions(c: Candidate, without: Sequence[str]) -> Candidate:
    """``c`` with the ``without`` companions taken out of its versions and install lines."""
    drop = {p for p in without if getattr(c, p) is not None}
    if not drop:
        return c
    return replace(
        c,
        torchvision=None if "torchvision" in drop else c.torchvision,
        torchaudio=None if "torchaudio" in drop else c.torchaudio,
        specs=tuple(s for s in c.specs if conda_name(s) not in drop),
        pip_specs=tuple(s for s in c.pip_specs if pip_name(s) not in drop),
    )


def _pick_python(
    c: Candidate,
    asked: str | None,
    asked_by: str | None = None,
    preferred: str | None = None,
    wanted: Sequence[str] = COMPANIONS,
) -> tuple[str, str]:
    """The plan's Python: what was asked, else conda's configured ``default_python``
    (``preferred``) when the release supports it, else the newest up to the ceiling; among
    the Pythons torch and every companion in the stack (``wanted``) cover."""
    pythons = sorted({str(p) for p in c.pythons_for(wanted) or ()}, key=_version)
    if asked:
        return asked, f"Python {asked}, as {asked_by or '--python'} asks."
    if not pythons:
        raise IncompatibleError(f"the matrix lists no Python for {candidate_label(c)}")
    if preferred and preferred in pythons:
        return preferred, f"Python {preferred}: conda's default_python setting."
    not_default = (
        f" (conda's default_python {preferred} is not one torch {c.torch} supports from "
        f"{_source_name(c.source)})"
        if preferred
        else ""
    )
    ceiling = _version(DEFAULT_PYTHON_CEILING)
    fit = [p for p in pythons if _version(p) <= ceiling]
    if fit:
        chosen = fit[-1]
        newer = [p for p in pythons if _version(p) > ceiling]
        extra = (
            f" so that other packages have builds for it "
            f"({', '.join(newer)} also works: --python {newer[-1]})"
            if newer
            else ""
        )
        return chosen, (
            f"Python {chosen}: the newest that torch {c.torch} supports from "
            f"{_source_name(c.source)}, "
            f"up to {DEFAULT_PYTHON_CEILING}{extra}{not_default}."
        )
    chosen = pythons[0]
    return chosen, f"Python {chosen}: the oldest Python torch {c.torch} supports{not_default}."


def summarize_machine(
    machine: Machine, subdir: str, *, description: str | None = None
) -> MachineSummary:
    gpus: list[GPUSummary] = []
    for g in machine.visible_nvidia_gpus:
        gpus.append(
            GPUSummary(
                g.index, g.name, "nvidia", g.compute_capability, g.compute_capability_inferred
            )
        )
    if machine.rocm:
        gpus.extend(
            GPUSummary(g.index, g.name, "amd", gfx=g.gfx) for g in machine.rocm.gpus if not g.hidden
        )
    if machine.xpu:
        gpus.extend(GPUSummary(g.index, g.name, "intel") for g in machine.xpu.gpus if not g.hidden)
    p = machine.platform
    return MachineSummary(
        subdir=subdir,
        generic=description is not None,
        os=p.os,
        os_version=p.macos_version or p.os_version,
        nvidia_driver=machine.nvidia.driver_version if machine.nvidia else None,
        driver_cuda=machine.nvidia.cuda_version if machine.nvidia else None,
        rocm=machine.rocm.version if machine.rocm else None,
        apple_chip=machine.apple.chip if machine.apple else None,
        mps=machine.apple.mps if machine.apple else None,
        gpus=tuple(gpus),
        description=description,
    )


def _has_accelerator(machine: Machine) -> str | None:
    """A sentence naming the machine's accelerator, or None."""
    if machine.visible_nvidia_gpus:
        names = sorted({g.name or "NVIDIA GPU" for g in machine.visible_nvidia_gpus})
        return "an NVIDIA GPU (" + ", ".join(names) + ")"
    if machine.rocm and machine.rocm.gpus:
        return "an AMD GPU"
    if machine.apple and (machine.apple.mps or machine.apple.apple_silicon):
        return "Apple silicon (MPS)"
    if machine.xpu and machine.xpu.gpus:
        return "an Intel GPU"
    return None


def make_plan(
    machine: Machine,
    *,
    torch: str | None = None,
    python: str | None = None,
    backend: str | None = "auto",
    source: str | None = None,
    subdir: str | None = None,
    name: str | None = None,
    matrix: Matrix | None = None,
    description: str | None = None,
    stamp_version: bool = True,
    asked_by: dict[str, str] | None = None,
    without: Sequence[str] = (),
    default_python: str | None = None,
    evaluate: Callable[..., list[Verdict]] | None = None,
    scope: str | None = None,
) -> Plan:
    """Resolve a request against ``machine`` and the matrix (see the module docstring).

    ``evaluate(machine, python=, source=, torch=, backend=, subdir=, strict=)`` judges the
    candidates (default: :meth:`Matrix.evaluate`); :func:`conda_torch.fleet.plan_fleet` passes
    one that judges every node type, with ``scope`` naming them for the sentences ("every
    node type") and ``machine`` standing for the fleet (the oldest driver, every GPU).

    ``description`` marks a generic machine (``--platform`` other than this one) and says what
    it stands for. ``asked_by`` says where a ``torch``/``python`` request came from when not
    from the flags (``{"torch": "team.yml's 'pytorch=2.5'"}``). ``without`` names
    companions to leave out of the stack (``--without``, or a team file that does not list
    them). ``default_python`` is conda's configured ``default_python``
    (:func:`conda_torch.settings.default_python`): the Python when none is asked and the
    chosen release supports it. Raises :class:`IncompatibleError` when nothing fits, with the
    best reasons.
    """
    asked_by = dict(asked_by or {})

    if matrix is None:
        matrix = load_matrix()
    notes: list[str] = []
    if subdir:
        target = subdir
    else:
        target, assumed = target_platform(machine)
        if assumed:
            notes.append(assumed)
    if not target:
        raise CondaTorchValueError(
            "cannot tell this machine's platform",
            hints=["Pass --platform (e.g. linux-64), or add a capture that shows it with --from."],
        )
    target = str(Subdir.parse(target))
    backend_obj = None if backend in (None, "", "auto") else Backend.parse(backend)
    if (
        backend_obj is not None
        and backend_obj.kind == "cuda"
        and description is None
        and evaluate is None
        and not _has_cuda_driver(machine)
        and not target.startswith("osx-")
    ):
        # a login node or CI: the platform's generic CUDA file, not an error
        machine, description = generic_machine(target, "cuda")
        notes.append(
            f"no NVIDIA GPU or driver was found here: this is the generic {target} CUDA file "
            f"({description}); validate it where it will run"
        )
    if source is not None and source not in SOURCE_PREFERENCE:
        near = suggest(source, SOURCE_PREFERENCE)
        raise CondaTorchValueError(
            f"unknown source {source!r}",
            hints=[
                f"Did you mean {near[0]}?" if near else "",
                f"Sources: {', '.join(SOURCE_PREFERENCE)}.",
            ],
        )
    if python is not None:
        python = _normalize_python(python)

    verdicts: list[Verdict] = list(
        # strict: when no build exists at all, the matrix names the constraint that fails
        (evaluate or matrix.evaluate)(
            machine,
            python=python,
            source=source,
            torch=torch,
            backend=backend_obj,
            subdir=target,
            strict=True,
        )
    )
    unknown = [w for w in without if w not in COMPANIONS]
    if unknown:
        raise CondaTorchValueError(
            f"--without {unknown[0]}: only {' or '.join(COMPANIONS)} can be left out"
        )
    wanted = tuple(p for p in COMPANIONS if p not in without)
    if without:
        verdicts = [
            replace(v, candidate=without_companions(v.candidate, without)) for v in verdicts
        ]
    preference = SOURCE_PREFERENCE if source is None else (source,)
    ranked = rank(verdicts, source=source, without=without)
    accepted = [v for v in ranked if v.accepted]
    if not accepted:
        raise _nothing_fits(
            verdicts, target, torch=torch, python=python, backend=backend_obj, source=source
        )
    chosen_verdict = accepted[0]
    chosen = chosen_verdict.candidate
    py, py_reason = _pick_python(
        chosen, python, asked_by.get("python"), default_python, wanted
    )

    why: list[str] = []
    fallbacks: list[str] = []
    accel = _has_accelerator(machine)
    src = _source_name(chosen.source)
    kind = chosen.backend.kind

    # -- the release --
    if torch:
        why.append(
            f"torch {chosen.torch}: the newest release matching "
            f"{asked_by.get('torch', f'--torch {torch}')} that fits."
        )
    else:
        why.append(
            f"torch {chosen.torch}: the newest release "
            f"{scope or ('this platform' if description else 'this machine')} fully supports."
        )
    pairs = [f"torchvision {chosen.torchvision}" if chosen.torchvision else None,
             f"torchaudio {chosen.torchaudio}" if chosen.torchaudio else None]  # fmt: skip
    named = [p for p in pairs if p]
    if named:
        verb = "pair" if len(named) > 1 else "pairs"
        why.append(
            f"{' and '.join(named)} {verb} with torch {chosen.torch} (matrix of {matrix.date})."
        )
    for package in missing_companions(chosen, wanted):
        why.append(
            f"{src} has no {package} for torch {chosen.torch} on {target}, and no source "
            f"serves one with a torch that fits here; it is left out (--without {package} "
            "says so outright)."
        )
    for package in without:
        why.append(f"{package} left out, as asked.")

    # -- the backend --
    if kind == "cuda":
        archs = ", ".join(chosen.gpu_archs or ())
        why.append(
            f"{chosen.label or chosen.backend}: the newest CUDA whose build runs "
            + (
                f"every GPU of {scope}"
                if scope
                else ("every GPU here" if not description else "all of those GPUs")
            )
            + (f" (it has kernels for {archs})" if archs else "")
            + (
                f" and that NVIDIA driver {machine.nvidia.driver_version} supports"
                + (" (the oldest driver among them)." if scope else ".")
                if machine.nvidia and machine.nvidia.driver_version and not description
                else "."
            )
        )
    elif kind == "cpu":
        if backend_obj is not None and backend_obj.kind == "cpu":
            why.append(
                "CPU build: the CPU-only file for this platform."
                if description
                else "CPU build, as asked."
            )
        elif accel:
            best_accel = _best_rejected(verdicts, lambda c: c.backend.kind != "cpu", preference)
            reason = (
                "; ".join(best_accel.reasons)
                if best_accel
                else "no accelerator build exists for this platform"
            )
            msg = f"CPU build: no build for {accel} can be served ({reason})."
            why.append(msg)
            fallbacks.append(msg)
        else:
            where = scope or ("this platform" if description else "this machine")
            why.append(f"CPU build: no GPU was detected on {where}.")
    elif kind == "mps":
        why.append("Metal (MPS) acceleration comes with the macOS arm64 build.")
    else:
        why.append(f"{chosen.backend} build for {accel or 'this machine'}.")

    # -- the source --
    if source:
        why.append(f"From {src}, as asked.")
    elif src == "conda-forge":
        why.append(
            "From conda-forge: conda packages that share one solve with the rest of the "
            "environment."
        )
    else:
        msg = f"From {src}: " + _why_not_conda_forge(verdicts, chosen, target, wanted) + "."
        why.append(msg)
        fallbacks.append(msg)
    guesses = serious_unverified(chosen)
    if guesses:
        msg = (
            f"{candidate_label(chosen)} is not verified in the matrix ({'; '.join(guesses)}); "
            "check it before sharing the file."
        )
        why.append(msg)
        fallbacks.append(msg)
    unchecked = _unchecked([n for n in chosen.unverified if n not in guesses])
    if unchecked:
        text = "Not confirmed by the matrix's sources: " + "; ".join(unchecked)
        why.append(text if text.endswith("…") else text + ".")
    for note in chosen_verdict.notes:
        why.append(f"{note[0].upper()}{note[1:]}.")
    for warning in dict.fromkeys(chosen_verdict.reasons):
        why.append(f"Warning: {warning}.")
    # Newer torch releases the policy passed over: one without a companion (same source),
    # one from another source, one with warnings. Each with the flag that gets it.
    if not torch:
        why.extend(
            _newer(accepted, chosen, wanted=wanted, source=source, subdir=target)
        )
    newest_note = next((w for w in why if w.startswith("Newer:")), None)
    why.append(py_reason)

    kinds = {
        kind
        for kind, present in (
            ("cuda", bool(machine.visible_nvidia_gpus or machine.nvidia)),
            ("rocm", bool(machine.rocm and machine.rocm.gpus)),
            ("xpu", bool(machine.xpu and machine.xpu.gpus)),
            ("mps", bool(machine.apple and (machine.apple.mps or machine.apple.apple_silicon))),
        )
        if present
    }
    rejected = _rejected(verdicts, chosen, preference, kinds=kinds | {chosen.backend.kind})

    request = (
        ("torch", torch),
        ("python", python),
        ("backend", backend or "auto"),
        ("source", source),
        ("subdir", subdir),
    )
    env_name = name or default_name(chosen)
    return Plan(
        candidate=chosen,
        python=py,
        name=env_name,
        machine=summarize_machine(machine, target, description=description),
        why=tuple(why),
        rejected=tuple(rejected),
        fallbacks=tuple(fallbacks),
        matrix_date=str(matrix.date) if getattr(matrix, "date", None) else None,
        request=request,
        stamp_version=stamp_version,
        requires_cuda=chosen_verdict.requires_cuda,
        min_driver=chosen_verdict.min_driver if kind == "cuda" else None,
        notes=tuple(notes),
        warnings=tuple(notes)
        + tuple(dict.fromkeys(chosen_verdict.reasons))
        + ((newest_note,) if newest_note else ()),
    )


#: GPUs that exist only beside an Arm CPU: Grace Hopper / Grace Blackwell superchips, DGX
#: Spark's GB10, Jetson modules (their nvidia-smi reports "Orin (nvgpu)").
AARCH64_GPUS: Final = lazy_re(
    r"\b(GH200|GB200|GB300|GB10|Jetson|Orin|Xavier|Thor|Tegra)\b", re.I
)


def target_platform(machine: Machine) -> tuple[str | None, str | None]:
    """The subdir to plan for, and a note when it is not what the inputs show outright.

    The native subdir wins (an x86_64 Python under Rosetta on Apple silicon gets osx-arm64,
    with a note); then the subdir the inputs show; then what they imply: Windows is win-64;
    Linux on x86_64 (``/proc/driver/nvidia/version``) linux-64, on aarch64 linux-aarch64; a
    paste showing no CPU architecture (an ``nvidia-smi`` table, ``rocm-smi``) is assumed to
    come from linux-64, said in the note, unless a GPU exists only beside an Arm CPU (Grace
    Hopper, Jetson, DGX Spark). ``(None, None)`` when nothing shows the platform.
    """
    p = machine.platform
    if p.native_subdir and p.subdir and p.native_subdir != p.subdir:
        return p.native_subdir, (
            f"the inputs show a {p.subdir} Python on {p.native_subdir} hardware "
            f"(Rosetta 2 on Apple silicon): this file is for {p.native_subdir}; create it "
            f"with a native {p.native_subdir} conda"
        )
    if p.subdir or p.native_subdir:
        return p.subdir or p.native_subdir, None
    arch = (p.machine or "").lower()
    if p.os == "windows":
        return "win-64", None
    if p.os == "macos":
        if arch in ("arm64", "aarch64") or (machine.apple and machine.apple.apple_silicon):
            return "osx-arm64", None
        if arch == "x86_64" or (machine.apple and machine.apple.apple_silicon is False):
            return "osx-64", None
        return None, None
    if arch in ("x86_64", "amd64"):
        return "linux-64", None
    if arch in ("aarch64", "arm64"):
        return "linux-aarch64", None
    gpus = [g.name or "" for g in machine.visible_nvidia_gpus]
    arm = next((n for n in gpus if AARCH64_GPUS.search(n)), None)
    if arm:
        return "linux-aarch64", (
            f"the inputs do not show the CPU architecture; {arm} exists only beside an Arm "
            "CPU, so this file is for linux-aarch64 (pass --platform to choose another)"
        )
    if gpus or machine.nvidia or machine.rocm or p.os == "linux":
        what = "an NVIDIA GPU" if (gpus or machine.nvidia) else (
            "an AMD GPU" if machine.rocm else "Linux"
        )
        return "linux-64", (
            f"the inputs show {what} but not the CPU architecture: assumed linux-64 "
            "(x86_64); pass --platform linux-aarch64 for an Arm machine"
        )
    return None, None


def _newer(
    accepted: Sequence[Verdict],
    chosen: Candidate,
    *,
    wanted: Sequence[str],
    source: str | None,
    subdir: str,
) -> list[str]:
    """``Newer: ...`` sentences: the newest release past ``chosen`` that this machine runs
    (same CPU/GPU kind, verified), per reason it was passed over, with the flag that gets it."""
    def newest(pred: Any) -> Verdict | None:
        found = [
            v for v in accepted
            if _version(v.candidate.torch) > _version(chosen.torch)
            and not serious_unverified(v.candidate)
            and (v.candidate.backend.kind == "cpu") == (chosen.backend.kind == "cpu")
            and pred(v)
        ]  # fmt: skip
        return max(found, key=lambda v: _version(v.candidate.torch)) if found else None

    out: list[str] = []
    same = newest(
        lambda v: v.candidate.source == chosen.source
        and missing_companions(v.candidate, wanted)
        and not v.reasons
    )
    if same is not None:
        lacks = missing_companions(same.candidate, wanted)
        flags = " ".join(f"--without {p}" for p in lacks)
        out.append(
            f"Newer: {candidate_label(same.candidate)} exists, but {_source_name(chosen.source)} "
            f"has no {' or '.join(lacks)} for it on {subdir}: {flags} gets it."
        )
    other = newest(
        lambda v: v.candidate.source != chosen.source
        and not missing_companions(v.candidate, wanted)
        and not v.reasons
    )
    if other is not None and not source:
        out.append(
            f"Newer: {candidate_label(other.candidate)} with the whole stack; ask for it with "
            f"--source {_source_name(other.candidate.source)}."
        )
    warned = newest(lambda v: bool(v.reasons) and not missing_companions(v.candidate, wanted))
    if warned is not None and (other is None or _version(warned.candidate.torch) > _version(
        other.candidate.torch
    )):
        out.append(
            f"Newer: {candidate_label(warned.candidate)} also installs, but "
            f"{'; '.join(dict.fromkeys(warned.reasons))}; ask for it with "
            f"--torch {warned.candidate.torch}."
        )
    return out


def implied_subdir(machine: Machine) -> str | None:
    """The subdir :func:`target_platform` chooses (without its note)."""
    return target_platform(machine)[0]


def _has_cuda_driver(machine: Machine) -> bool:
    """Whether the machine shows an NVIDIA driver or GPU, or conda's ``__cuda`` override."""
    override = (machine.overrides or {}).get(CONDA_OVERRIDE_CUDA)
    return bool(machine.visible_nvidia_gpus or machine.nvidia or override)


def _more_attractive(c: Candidate, chosen: Candidate, preference: Sequence[str]) -> bool:
    """Whether ``c`` would have been preferred to ``chosen`` had it fit and been verified."""
    if c.backend.kind == "cpu" and chosen.backend.kind != "cpu":
        return False
    if c.backend.kind != "cpu" and chosen.backend.kind == "cpu":
        return True
    tc, tch = _version(c.torch), _version(chosen.torch)
    if tc != tch:
        return tc > tch
    pc = preference.index(_source_name(c.source)) if _source_name(c.source) in preference else 9
    pch = (
        preference.index(_source_name(chosen.source))
        if _source_name(chosen.source) in preference
        else 9
    )
    if pc != pch:
        return pc < pch
    bc, bch = c.backend.cuda_version, chosen.backend.cuda_version
    return bool(bc and bch and _version(bc) > _version(bch))


def _rejected(
    verdicts: Sequence[Verdict],
    chosen: Candidate,
    preference: Sequence[str],
    limit: int = 6,
    kinds: set[str] | frozenset[str] = frozenset(),
) -> tuple[Rejected, ...]:
    """The alternatives that would have been preferred, and why they were not taken.

    One per (source, backend): rejected by the matrix for this machine, or not verified.
    ``kinds`` are the backend kinds worth naming (the chosen one and the machine's
    accelerators): a ROCm wheel rejected on an NVIDIA machine says nothing.
    """
    out: list[Rejected] = []
    seen: set[tuple[str, str]] = set()
    for v in verdicts:  # the matrix's order: best first
        c = v.candidate
        if c is chosen or not _more_attractive(c, chosen, preference):
            continue
        if kinds and c.backend.kind not in kinds and c.backend.kind != "cpu":
            continue
        guesses = serious_unverified(c)
        if v.accepted and not guesses:
            continue  # it fits, with warnings: the "Newer:" sentence names the best such one
        group = (_source_name(c.source), str(c.backend))
        if group in seen:
            continue
        seen.add(group)
        if v.accepted:
            reasons = tuple(f"not verified: {_short(g)}" for g in guesses)
        else:
            reasons = tuple(dict.fromkeys(v.reasons))
        out.append(Rejected(candidate_label(c), reasons))
        if len(out) >= limit:
            break
    return tuple(out)


def _normalize_python(python: str) -> str:
    from .matrix import parse_python

    return str(parse_python(python))


def default_name(c: Candidate) -> str:
    """``torch2.9-cu129``: the release and the backend, so two envs do not collide."""
    minor = ".".join(str(c.torch).split(".")[:2])
    return f"torch{minor}-{c.backend}"


def _why_not_conda_forge(
    verdicts: Sequence[Verdict],
    chosen: Candidate,
    subdir: str,
    wanted: Sequence[str] = COMPANIONS,
) -> str:
    """Why conda-forge does not serve ``chosen``'s release here (a clause)."""

    def is_cf(c: Candidate) -> bool:
        return _source_name(c.source) == "conda-forge" and (c.backend.kind == "cpu") == (
            chosen.backend.kind == "cpu"
        )

    cf = [v for v in verdicts if is_cf(v.candidate)]
    # a companion conda-forge never builds for this platform (torchaudio on win-64)
    never = [p for p in wanted if cf and all(getattr(v.candidate, p) is None for v in cf)]
    same = [v for v in cf if v.candidate.torch == chosen.torch]
    fits = [v for v in same if v.accepted and not v.reasons]
    if never:
        text = f"conda-forge has no {' or '.join(never)} for {subdir}"
    elif fits and missing_companions(fits[0].candidate, wanted):
        lacks = missing_companions(fits[0].candidate, wanted)
        text = f"conda-forge has no {' or '.join(lacks)} for torch {chosen.torch} on {subdir}"
    elif same:
        parts: list[str] = []
        seen: set[str] = set()
        for v in same:
            if str(v.candidate.backend) in seen:
                continue
            seen.add(str(v.candidate.backend))
            reasons = list(dict.fromkeys(v.reasons)) or ["ranked lower"]
            parts.append(reasons[0])
            if len(parts) == 2:
                break
        text = f"conda-forge's torch {chosen.torch} builds do not fit ({'; '.join(parts)})"
    else:
        text = f"conda-forge has no torch {chosen.torch} build for {subdir}"
    whole = [
        v
        for v in cf
        if v.accepted and not v.reasons and not missing_companions(v.candidate, wanted)
    ]
    partial = [v for v in cf if v.accepted and not v.reasons]
    if whole:
        best = max(whole, key=lambda v: _version(v.candidate.torch))
        text += (
            f"; conda-forge's newest that fits is torch {best.candidate.torch} "
            "(--source conda-forge)"
        )
    elif partial:
        best = max(partial, key=lambda v: _version(v.candidate.torch))
        flags = " ".join(f"--without {p}" for p in missing_companions(best.candidate, wanted))
        text += (
            f"; {flags} --source conda-forge takes conda-forge's torch {best.candidate.torch}"
        )
    return text


def _best_rejected(
    verdicts: Sequence[Verdict], pred: Any, preference: Sequence[str]
) -> Rejected | None:
    rej = [v for v in verdicts if not v.accepted and pred(v.candidate)]
    if not rej:
        return None
    best = min(rej, key=lambda v: _rank_key(v.candidate, preference))
    return Rejected(candidate_label(best.candidate), tuple(dict.fromkeys(best.reasons)))


def _nothing_fits(verdicts: Sequence[Verdict], subdir: str, **asked: Any) -> IncompatibleError:
    what = ", ".join(f"{k} {v}" for k, v in asked.items() if v is not None)
    if not verdicts:
        return IncompatibleError(
            f"no torch build exists for {subdir}" + (f" with {what}" if what else ""),
            hints=["Relax --torch/--python/--backend/--source, or see `conda torch matrix`."],
        )
    best = min(verdicts, key=lambda v: _rank_key(v.candidate, SOURCE_PREFERENCE))
    reasons = "; ".join(dict.fromkeys(best.reasons)) or "rejected"
    return IncompatibleError(
        f"no torch build fits this machine ({subdir}{', ' + what if what else ''}): "
        f"the closest, {candidate_label(best.candidate)}, is rejected: {reasons}",
        hints=["Relax --torch/--python/--backend/--source, or pass --backend cpu."],
    )


# -- generic machines for other platforms ------------------------------------------------------


def generic_machine(subdir: str, variant: str | None) -> tuple[Machine, str]:
    """A stand-in machine for ``subdir`` (``variant`` cuda/cpu/None) and a sentence about it."""
    os_name = {"linux": "linux", "osx": "macos", "win": "windows"}.get(subdir.split("-")[0])
    arch = {"64": "x86_64", "aarch64": "aarch64", "arm64": "arm64", "ppc64le": "ppc64le"}.get(
        subdir.split("-")[-1]
    )
    platform = PlatformInfo(subdir=subdir, native_subdir=subdir, os=os_name, machine=arch)
    if variant == "cuda":
        gpus = tuple(
            GPU(
                vendor="nvidia",
                index=i,
                name=f"any {label.split(',')[0]} GPU",
                compute_capability=cc,
            )
            for i, (cc, label) in enumerate(COMMON_GPU_ARCHS)
        )
        nvidia = NvidiaInfo(
            driver_version=GENERIC_DRIVER, cuda_version=GENERIC_DRIVER_CUDA, gpus=gpus
        )
        lo, hi = COMMON_GPU_ARCHS[0][0], COMMON_GPU_ARCHS[-1][0]
        text = (
            f"any {subdir} machine with an NVIDIA GPU of compute capability {lo} to {hi} "
            f"(Turing to Blackwell); older GPUs need a file generated on that machine"
        )
        return Machine(platform=platform, nvidia=nvidia, mode="generic"), text
    if subdir == "osx-arm64":
        apple = AppleInfo(chip="Apple silicon", apple_silicon=True, mps=True)
        return Machine(
            platform=platform, apple=apple, mode="generic"
        ), "any Apple silicon Mac (osx-arm64)"
    return Machine(platform=platform, mode="generic"), f"any {subdir} machine, CPU only"
