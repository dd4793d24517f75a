"""The resolved request: which torch stack, from where, for which Python, and why.

:func:`make_plan` asks the matrix (:meth:`conda_torch.matrix.Matrix.evaluate`) for every
candidate and its verdict on the machine, then applies conda-torch's policy:

1. a build that uses the machine's accelerator beats a CPU build (CPU only when no accelerator
   can be served, and the plan says why);
2. a verified matrix entry beats an unverified one;
3. conda-forge beats pip, and pip beats the frozen ``pytorch`` channel (pip only when
   conda-forge cannot serve the request, and the plan says so);
4. the newest torch, then the newest CUDA (or ROCm) that the GPUs and the driver support.

:func:`plan_to_envspec` turns the plan into an :class:`conda_torch.envfile.EnvSpec`.
:func:`generic_machine` describes a platform other than this machine, for ``--platform``.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .exceptions import CondaTorchValueError, IncompatibleError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, Final

    from .envfile import EnvSpec
    from .machine import Machine
    from .matrix import Candidate, Matrix, Verdict

#: Default Python ceiling: the newest Python a default environment gets, so that the packages a
#: team adds next to torch have wheels/builds for it (new Pythons lag in the ecosystem).
DEFAULT_PYTHON_CEILING: Final = "3.13"

#: Source preference when none is asked for: conda-forge first for conda users; pip only when
#: conda-forge cannot serve the request; the ``pytorch`` channel stops at 2.5
#: (shared/reference/pytorch/NOTES.md 1).
SOURCE_PREFERENCE: Final = ("conda-forge", "pip", "pytorch")

#: Compute capabilities of the "common GPUs" a generic CUDA file targets: Turing (7.5) to
#: Blackwell (12.0). CUDA 13 builds start at sm_75, so this keeps the newest CUDA in reach;
#: Volta (7.0) and older need a 12.x build and a file generated on that machine
#: (shared/reference/pytorch/NOTES.md 8; cuda.yaml arch lists).
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

#: Variables written into every file, with why (conda-api.md 7: applied on activation).
VARIABLES: Final = (
    # A torch in ~/.local (pip install --user) shadows the environment's own and breaks it.
    ("PYTHONNOUSERSITE", "1"),
)

#: Channels for Python and pip where the torch stack comes from pip: conda-forge.
PIP_BASE_CHANNELS: Final = ("conda-forge",)

#: The base channel behind the ``pytorch`` channel: its builds link against Anaconda's
#: ``defaults`` (mkl, intel-openmp), and conda >= 25.9 no longer adds ``defaults`` implicitly
#: (shared/reference/conda-api.md 7), so the file must name it.
PYTORCH_BASE_CHANNEL: Final = "defaults"

PLAN_SCHEMA: Final = "conda-torch.plan/1"


@dataclass(frozen=True)
class GPUSummary:
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


@dataclass(frozen=True)
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

    def lines(self) -> list[str]:
        if self.generic:
            return [self.description or f"a generic {self.subdir} machine"]
        out = []
        osv = " ".join(x for x in (self.os, self.os_version) if x)
        out.append(f"{self.subdir}" + (f" ({osv})" if osv else ""))
        if self.nvidia_driver:
            cuda = f", supports CUDA up to {self.driver_cuda}" if self.driver_cuda else ""
            out.append(f"NVIDIA driver {self.nvidia_driver}{cuda}")
        if self.rocm:
            out.append(f"ROCm {self.rocm}")
        if self.apple_chip:
            out.append(self.apple_chip + (", Metal (MPS)" if self.mps else ""))
        out.extend("  " + g.describe() for g in self.gpus)
        if len(out) == 1 and not self.gpus:
            out.append("no GPU detected")
        return out


@dataclass(frozen=True)
class Rejected:
    """An alternative the plan did not take, and why."""

    label: str
    reasons: tuple[str, ...]

    def describe(self) -> str:
        return f"{self.label}: {'; '.join(self.reasons) if self.reasons else 'ranked lower'}"


@dataclass(frozen=True)
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

    def conda_lock_args(self) -> tuple[str, ...]:
        """``conda-lock lock`` options (after ``-f FILE``) that lock this plan's file as planned.

        conda-lock solves against its own virtual packages, which give every Linux and Windows
        platform CUDA 11.4 (``conda_lock/default-virtual-packages.yaml``, conda-lock 4.0.3);
        ``--with-cuda`` makes its ``__cuda`` the build's CUDA, so a solver that checks
        ``cuda-version``'s ``__cuda >=<major>`` constraint does not refuse a CUDA 12/13 build.
        Whether conda-lock can read the file at all is :func:`conda_lock_blocker`'s question.
        """
        args: tuple[str, ...] = ("-p", self.subdir)
        if self.subdir.startswith("osx-"):
            return args
        cuda = self.candidate.backend.cuda_version
        if self.variant == "cuda" and cuda:
            return (*args, "--with-cuda", cuda)
        return (*args, "--without-cuda")

    def conda_lock_command(self, path: str) -> str:
        """The whole ``conda-lock lock`` command line for ``path`` (see above)."""
        return shlex.join(("conda-lock", "lock", "-f", path, *self.conda_lock_args()))

    def to_json(self) -> dict[str, Any]:
        from . import __version__

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
            "requires_cuda": c.requires_cuda,
            "min_driver": c.min_driver,
            "min_driver_compat": c.min_driver_compat,
            "gpu_archs": list(c.gpu_archs or ()),
            "unverified": list(c.unverified),
            "sources": list(c.sources or ()),
            "request": {k: v for k, v in self.request},
            "machine": _to_json(self.machine),
            "why": list(self.why),
            "fallbacks": list(self.fallbacks),
            "rejected": [
                {"alternative": r.label, "reasons": list(r.reasons)} for r in self.rejected
            ],
        }


def _to_json(obj: Any) -> Any:
    import dataclasses

    if dataclasses.is_dataclass(obj):
        return {f.name: _to_json(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [_to_json(x) for x in obj]
    return obj


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


def _version(v: str | None) -> Any:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(str(v).split("+")[0]) if v else Version("0")
    except InvalidVersion:
        return Version("0")


#: Unverified matrix fields that make a candidate a guess, not a fact: the release itself
#: (published after every source snapshot read). Such candidates are chosen only when nothing
#: verified fits (or when --torch asks for them), and the plan says so. Other unverified
#: fields (a torchvision patch, an arch list detail) are listed under ``why`` as unchecked.
SERIOUS_UNVERIFIED: Final = frozenset({"release"})


def serious_unverified(c: Candidate) -> tuple[str, ...]:
    return tuple(u for u in c.unverified if u.split(":", 1)[0].strip() in SERIOUS_UNVERIFIED)


def _rank_key(
    c: Candidate, preference: Sequence[str], warnings: Sequence[str] = ()
) -> tuple[Any, ...]:
    """Sort key, smaller = better: accelerator, verified, no warnings, newest torch, source.

    ``warnings`` are the reasons of an accepted verdict (PTX JIT only, an unverified macOS
    floor for MPS, ...): a build the machine runs without them is what it "fully supports".
    The newest such release comes from the first source in ``preference`` that serves it.
    Ties keep the matrix's order (native GPU code before PTX JIT, then the newest CUDA).
    """
    src = _source_name(c.source)
    return (
        c.backend.kind == "cpu",
        bool(serious_unverified(c)),
        bool(warnings),
        tuple(-x for x in _version(c.torch).release),
        preference.index(src) if src in preference else len(preference),
    )


def _pick_python(
    c: Candidate, asked: str | None, asked_by: str | None = None, preferred: str | None = None
) -> tuple[str, str]:
    """The plan's Python: what was asked, else conda's configured ``default_python``
    (``preferred``) when the release supports it, else the newest up to the ceiling."""
    pythons = sorted({str(p) for p in c.pythons or ()}, key=_version)
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
    default_python: str | None = None,
) -> Plan:
    """Resolve a request against ``machine`` and the matrix (see the module docstring).

    ``description`` marks a generic machine (``--platform`` other than this one) and says what
    it stands for. ``asked_by`` says where a ``torch``/``python`` request came from when not
    from the flags (``{"torch": "team.yml's 'pytorch=2.5'"}``). ``default_python`` is conda's
    configured ``default_python`` (:func:`conda_torch.settings.default_python`): the Python
    when none is asked and the chosen release supports it. Raises
    :class:`IncompatibleError` when nothing fits, with the best reasons.
    """
    asked_by = dict(asked_by or {})
    from .models import Backend, Subdir

    if matrix is None:
        from .matrix import load

        matrix = load()
    target = subdir or machine.platform.subdir or implied_subdir(machine)
    if not target:
        raise CondaTorchValueError(
            "cannot tell this machine's platform",
            hints=["Pass --platform (e.g. linux-64), or add a capture that shows it with --from."],
        )
    target = str(Subdir.parse(target))
    backend_obj = None if backend in (None, "", "auto") else Backend.parse(backend)
    if source is not None and source not in SOURCE_PREFERENCE:
        from .exceptions import suggest

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
        matrix.evaluate(
            machine,
            python=python,
            source=source,
            torch=torch,
            backend=backend_obj,
            subdir=target,
            strict=True,
        )
    )
    accepted = [v for v in verdicts if v.accepted]
    preference = SOURCE_PREFERENCE if source is None else (source,)
    if not accepted:
        raise _nothing_fits(
            verdicts, target, torch=torch, python=python, backend=backend_obj, source=source
        )

    order = sorted(
        range(len(accepted)),
        key=lambda i: (_rank_key(accepted[i].candidate, preference, accepted[i].reasons), i),
    )
    chosen = accepted[order[0]].candidate
    py, py_reason = _pick_python(chosen, python, asked_by.get("python"), default_python)

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
            f"{'this platform' if description else 'this machine'} fully supports."
        )
    pairs = [f"torchvision {chosen.torchvision}" if chosen.torchvision else None,
             f"torchaudio {chosen.torchaudio}" if chosen.torchaudio else None]  # fmt: skip
    named = [p for p in pairs if p]
    if named:
        verb = "pair" if len(named) > 1 else "pairs"
        why.append(
            f"{' and '.join(named)} {verb} with torch {chosen.torch} (matrix of {matrix.date})."
        )
    for package, have in (("torchvision", chosen.torchvision), ("torchaudio", chosen.torchaudio)):
        if not have:
            why.append(
                f"{src} has no {package} for torch {chosen.torch} on {target}; it is left out."
            )

    # -- the backend --
    if kind == "cuda":
        archs = ", ".join(chosen.gpu_archs or ())
        why.append(
            f"{chosen.label or chosen.backend}: the newest CUDA whose build runs "
            + ("every GPU here" if not description else "all of those GPUs")
            + (f" (it has kernels for {archs})" if archs else "")
            + (
                f" and that NVIDIA driver {machine.nvidia.driver_version} supports."
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
            why.append(
                "CPU build: no GPU was detected"
                + (" on this platform." if description else " on this machine.")
            )
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
        msg = f"From {src}: " + _why_not_conda_forge(verdicts, chosen, target) + "."
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
    for warning in dict.fromkeys(accepted[order[0]].reasons):
        why.append(f"Warning: {warning}.")
    # A newer torch that the policy passed over (another source, or one with warnings).
    newer = [
        v for v in accepted
        if _version(v.candidate.torch) > _version(chosen.torch)
        and not serious_unverified(v.candidate)
        and (v.candidate.backend.kind == "cpu") == (kind == "cpu")
    ]  # fmt: skip
    if newer and not torch:
        best = max(newer, key=lambda v: _version(v.candidate.torch))
        bc = best.candidate
        if best.reasons:
            why.append(
                f"Newer: {candidate_label(bc)} also installs, but "
                f"{'; '.join(dict.fromkeys(best.reasons))}; ask for it with --torch {bc.torch}."
            )
        elif not source:
            why.append(
                f"Newer: {candidate_label(bc)}; ask for it with --source {_source_name(bc.source)}."
            )
    why.append(py_reason)

    rejected = _rejected(verdicts, chosen, preference)

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
    )


def implied_subdir(machine: Machine) -> str | None:
    """The platform the inputs imply without naming it: Windows means win-64, the only one."""
    if machine.platform.os == "windows":
        return "win-64"
    return None


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
    verdicts: Sequence[Verdict], chosen: Candidate, preference: Sequence[str], limit: int = 6
) -> tuple[Rejected, ...]:
    """The alternatives that would have been preferred, and why they were not taken.

    One per (source, backend): rejected by the matrix for this machine, or not verified.
    """
    out: list[Rejected] = []
    seen: set[tuple[str, str]] = set()
    for v in verdicts:  # the matrix's order: best first
        c = v.candidate
        if c is chosen or not _more_attractive(c, chosen, preference):
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
    import re

    m = re.fullmatch(r"\s*(?:python)?\s*=*\s*(3)\.(\d+)(?:\.\d+)?\s*", python)
    if not m:
        raise CondaTorchValueError(
            f"--python {python!r} is not a Python version",
            hints=["Give it as X.Y, e.g. --python 3.12."],
        )
    return f"{m.group(1)}.{m.group(2)}"


def default_name(c: Candidate) -> str:
    """``torch2.9-cu129``: the release and the backend, so two envs do not collide."""
    minor = ".".join(str(c.torch).split(".")[:2])
    return f"torch{minor}-{c.backend}"


def _why_not_conda_forge(verdicts: Sequence[Verdict], chosen: Candidate, subdir: str) -> str:
    """Why conda-forge does not serve ``chosen``'s release here (a clause)."""

    def is_cf(c: Candidate) -> bool:
        return _source_name(c.source) == "conda-forge" and (c.backend.kind == "cpu") == (
            chosen.backend.kind == "cpu"
        )

    same = [v for v in verdicts if is_cf(v.candidate) and v.candidate.torch == chosen.torch]
    if same:
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
    older = [v for v in verdicts if v.accepted and is_cf(v.candidate) and not v.reasons]
    if older:
        best = max(older, key=lambda v: _version(v.candidate.torch))
        text += (
            f"; conda-forge's newest that fits is torch {best.candidate.torch} "
            "(--source conda-forge)"
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
    from .machine import GPU, AppleInfo, Machine, NvidiaInfo, PlatformInfo

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


def target_filename(subdir: str, variant: str | None) -> str:
    return f"{subdir}-{variant}.yml" if variant else f"{subdir}.yml"


# -- plan -> environment file ------------------------------------------------------------------


def conda_lock_blocker(
    dependencies: Sequence[Any], pip: Sequence[Any] = (), args: Sequence[str] = ()
) -> str | None:
    """Why conda-lock cannot lock an environment file, or None.

    ``dependencies``: the file's conda lines; ``pip``: its ``pip:`` subsection; ``args``: the
    ``conda-lock lock`` options for the file, quoted in the advice.

    Found with conda-lock 4.0.3: it parses every pip line but ``-e ...`` as a requirement, so
    an option line (``--index-url URL``) fails (``src_parser/environment_yaml.py``;
    conda/conda-lock#171); and a virtual package listed as a dependency (``__cuda>=12.4``)
    solves but then fails with ``KeyError: '--cuda'`` (``lockfile/__init__.py``,
    ``apply_categories`` skips virtual packages only among dependencies of dependencies).
    """
    for line in pip:
        text = line.lstrip() if isinstance(line, str) else ""
        if text.startswith("-") and not re.match(r"-e\s", text):
            return (
                "conda-lock reads pip's option lines (--index-url ...) as packages "
                "(conda/conda-lock#171): lock a --source conda-forge file without them"
            )
    for item in dependencies:
        if isinstance(item, str) and item.strip().startswith("__"):
            return (
                f"conda-lock fails on a virtual package listed as a dependency ({item.strip()}; "
                "conda-lock 4.0.3): lock a copy without that line: "
                + shlex.join(("conda-lock", "lock", "-f", "COPY", *args))
            )
    return None


def header_lines(
    plan: Plan,
    *,
    specialized_from: str | None = None,
    dependencies: Sequence[Any] = (),
    pip: Sequence[Any] = (),
) -> list[str]:
    """The header's lines; the file's ``dependencies`` and ``pip`` lines decide ``Lock:``."""
    from . import __version__

    c = plan.candidate
    by = f"conda-torch {__version__}" if plan.stamp_version else "conda-torch"
    matrix = f" (matrix of {plan.matrix_date})" if plan.matrix_date else ""
    if specialized_from:
        first = f"Specialized by {by}{matrix} from {specialized_from} for {plan.subdir}."
    else:
        first = f"Generated by {by}{matrix} for {plan.subdir}."
    lines = [first, ""]
    m = plan.machine.lines()
    first_lines = _wrap([m[0]], "For: ")
    lines.extend(first_lines)
    lines.extend("     " + ln for ln in m[1:])
    stack = ", ".join(
        f"{n} {v}"
        for n, v in (
            ("torch", c.torch),
            ("torchvision", c.torchvision),
            ("torchaudio", c.torchaudio),
        )
        if v
    )
    lines.append(f"Chose: {stack}")
    lines.append(f"       {c.label or c.backend} from {plan.source}, Python {plan.python}")
    if c.backend.kind == "cuda" and c.min_driver:
        compat = (
            f" (>= {c.min_driver_compat} with CUDA minor-version compatibility)"
            if c.min_driver_compat
            else ""
        )
        lines.append(f"Needs: NVIDIA driver >= {c.min_driver}{compat}")
    elif c.backend.kind == "cuda" and c.backend.cuda_version:
        lines.append(
            f"Needs: an NVIDIA driver for CUDA {c.backend.cuda_version} "
            f"(nvidia-smi shows 'CUDA Version: {c.backend.cuda_version}' or newer)"
        )
    blocker = conda_lock_blocker(dependencies, pip, plan.conda_lock_args())
    lock = f"not as it is: {blocker}" if blocker else plan.conda_lock_command("THIS_FILE")
    lines.extend(_wrap([lock], "Lock: "))
    lines.append("Why:")
    lines.extend(_wrap(plan.why, "  - "))
    if plan.rejected:
        lines.append("Rejected:")
        lines.extend(_wrap([r.describe() for r in plan.rejected], "  - "))
    return lines


def _wrap(items: Sequence[str], bullet: str, width: int = 94) -> list[str]:
    import textwrap

    out: list[str] = []
    for item in items:
        out.extend(
            textwrap.wrap(
                item,
                width,
                initial_indent=bullet,
                subsequent_indent=" " * len(bullet),
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    return out


def plan_to_envspec(plan: Plan) -> EnvSpec:
    """The environment file for ``plan``: pins, CUDA selection, channels, pip, variables, header."""
    from .envfile import EnvSpec, conda_name

    c = plan.candidate
    src = plan.source
    comments: dict[str, str] = {}
    python = f"python={plan.python}"
    deps: list[str] = [python]
    pip_lines: list[str] = []
    if src == "pip":
        deps.append("pip")
        if c.requires_cuda:
            deps.append(c.requires_cuda)
        if c.pip_index:
            pip_lines.append(f"--index-url {c.pip_index}")
            comments[f"--index-url {c.pip_index}"] = f"{c.backend} wheels"
        pip_lines.extend(c.pip_specs)
    else:
        specs = [s for s in c.specs if conda_name(s) != "python"]
        names = {conda_name(s) for s in specs}
        # exact pins for the pair, when the matrix gave the release but not the line
        if c.torchvision and "torchvision" not in names:
            specs.append(f"torchvision={c.torchvision}")
        if c.torchaudio and "torchaudio" not in names:
            specs.append(f"torchaudio={c.torchaudio}")
        deps.extend(specs)
        if c.requires_cuda and not any(conda_name(s) == "__cuda" for s in specs):
            deps.append(c.requires_cuda)
    for d in deps:
        n = conda_name(d)
        if n == "cuda-version":
            comments[d] = f"CUDA {d.split('=')[-1]} runtime from {src}"
        elif n == "__cuda":
            comments[d] = (
                "needs an NVIDIA driver for this CUDA (set CONDA_OVERRIDE_CUDA to solve elsewhere)"
            )
        elif n == "pytorch-cuda":
            comments[d] = "CUDA runtime from the nvidia channel"
        elif n == "cudatoolkit":
            comments[d] = "CUDA runtime (torch 1.12 and older)"
        elif n == "cpuonly":
            comments[d] = "CPU build"
    return EnvSpec(
        name=plan.name,
        channels=plan_channels(plan),
        dependencies=tuple(deps),
        pip=tuple(pip_lines),
        variables=VARIABLES,
        header=tuple(header_lines(plan, dependencies=deps, pip=pip_lines)),
        comments=tuple(comments.items()),
    )


def plan_channels(plan: Plan) -> tuple[str, ...]:
    """The file's channels, in order: the matrix's for the source, plus the base it needs."""
    channels = [ch for ch in plan.candidate.channels if ch != "nodefaults"]
    if plan.source == "pip":
        channels = channels or list(PIP_BASE_CHANNELS)
    elif plan.source == "pytorch" and not {"conda-forge", "defaults"} & set(channels):
        channels.append(PYTORCH_BASE_CHANNEL)
    return tuple(dict.fromkeys(channels))


def render(plan: Plan) -> str:
    """The environment.yml text for ``plan``."""
    from .envfile import dump

    return dump(plan_to_envspec(plan))
