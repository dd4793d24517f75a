"""A plan as an environment file: the file's lines, its header, and how to lock it.

:mod:`conda_torch.plan` decides; this module writes the decision down. It turns a
:class:`conda_torch.plan.Plan` into an :class:`conda_torch.envfile.EnvSpec` (pins, the CUDA
selection, channels, pip, variables: :func:`plan_to_envspec`) and the header that says what the
file was made for and why (:func:`header_lines`), including the ``Lock:`` line: the
``conda-lock`` options that lock the file as planned (:func:`conda_lock_args`) or why conda-lock
cannot (:func:`conda_lock_blocker`). :func:`target_filename` names the files of several targets.

It imports the planner's values and the file format, never the matrix: the file says what the
plan decided, it decides nothing.
"""

from __future__ import annotations

import os
import re
import shlex
import textwrap

from . import __version__
from .envfile import EnvSpec, dump
from .specs import conda_name

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, Final

    from .plan import MachineSummary, NodeSummary, Plan

#: Variables written into every file, with why (docs/conda-notes.md 3: applied on activation).
VARIABLES: Final = (
    # A torch in ~/.local (pip install --user) shadows the environment's own and breaks it.
    ("PYTHONNOUSERSITE", "1"),
)

#: Channels for Python and pip where the torch stack comes from pip: conda-forge.
PIP_BASE_CHANNELS: Final = ("conda-forge",)

#: The base channel behind the ``pytorch`` channel: its builds link against Anaconda's
#: ``defaults`` (mkl, intel-openmp), and conda >= 25.9 no longer adds ``defaults`` implicitly
#: (docs/conda-notes.md 3), so the file must name it.
PYTORCH_BASE_CHANNEL: Final = "defaults"


def machine_lines(m: MachineSummary) -> list[str]:
    """What a plan was made for, one line each (the header's ``For:``)."""
    if m.generic:
        return [m.description or f"a generic {m.subdir} machine"]
    out = []
    osv = " ".join(x for x in (m.os, m.os_version) if x)
    out.append(f"{m.subdir}" + (f" ({osv})" if osv else ""))
    if m.nvidia_driver:
        cuda = f", supports CUDA up to {m.driver_cuda}" if m.driver_cuda else ""
        out.append(f"NVIDIA driver {m.nvidia_driver}{cuda}")
    if m.rocm:
        out.append(f"ROCm {m.rocm}")
    if m.apple_chip:
        out.append(m.apple_chip + (", Metal (MPS)" if m.mps else ""))
    out.extend("  " + g.describe() for g in m.gpus)
    if len(out) == 1 and not m.gpus:
        out.append("no GPU detected")
    return out


def node_line(node: NodeSummary) -> str:
    """``quadro: NVIDIA driver 535.129.03 (CUDA 12.2); 2x Quadro RTX 4000 (7.5)``."""
    m = node.machine
    parts = []
    if m.nvidia_driver:
        parts.append(
            f"NVIDIA driver {m.nvidia_driver}"
            + (f" (CUDA {m.driver_cuda})" if m.driver_cuda else "")
        )
    if m.rocm:
        parts.append(f"ROCm {m.rocm}")
    if m.apple_chip:
        parts.append(m.apple_chip)
    counts: dict[str, int] = {}
    for g in m.gpus:
        name = (g.name or "GPU") + (
            f" ({g.compute_capability})" if g.compute_capability else ""
        ) + (f" ({g.gfx})" if g.gfx else "")
        counts[name] = counts.get(name, 0) + 1
    parts.extend(f"{n}x {name}" if n > 1 else name for name, n in counts.items())
    if not m.gpus and not m.apple_chip:
        parts.append("no GPU")
    host = f", {node.hostname}" if node.hostname else ""
    return f"{node.label} ({os.path.basename(node.source)}{host}): " + "; ".join(parts)


def conda_lock_args(plan: Plan) -> tuple[str, ...]:
    """``conda-lock lock`` options (after ``-f FILE``) that lock this plan's file as planned.

    conda-lock solves against its own virtual packages, which give every Linux and Windows
    platform CUDA 11.4 (``conda_lock/default-virtual-packages.yaml``, conda-lock 4.0.3);
    ``--with-cuda`` makes its ``__cuda`` the build's CUDA, so a solver that checks
    ``cuda-version``'s ``__cuda >=<major>`` constraint does not refuse a CUDA 12/13 build.
    Whether conda-lock can read the file at all is :func:`conda_lock_blocker`'s question.
    """
    args: tuple[str, ...] = ("-p", plan.subdir)
    if plan.subdir.startswith("osx-"):
        return args
    cuda = plan.candidate.backend.cuda_version
    if plan.variant == "cuda" and cuda:
        return (*args, "--with-cuda", cuda)
    return (*args, "--without-cuda")

def conda_lock_command(plan: Plan, path: str) -> str:
    """The whole ``conda-lock lock`` command line for ``path`` (see above)."""
    return shlex.join(("conda-lock", "lock", "-f", path, *conda_lock_args(plan)))


def target_filename(subdir: str, variant: str | None) -> str:
    """``linux-64-cuda.yml``; ``osx-arm64.yml`` where the variant is None."""
    return f"{subdir}-{variant}.yml" if variant else f"{subdir}.yml"


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
    c = plan.candidate
    by = f"conda-torch {__version__}" if plan.stamp_version else "conda-torch"
    matrix = f" (matrix of {plan.matrix_date})" if plan.matrix_date else ""
    if specialized_from:
        first = f"Specialized by {by}{matrix} from {specialized_from} for {plan.subdir}."
    else:
        first = f"Generated by {by}{matrix} for {plan.subdir}."
    lines = [first, ""]
    if plan.nodes:
        n = len(plan.nodes)
        lines.append(f"For: {n} node type{'s' if n > 1 else ''}, {plan.subdir}")
        lines.extend(_wrap([node_line(node) for node in plan.nodes], "       ", hang="         "))
    else:
        m = machine_lines(plan.machine)
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
    lines.extend(_wrap(plan.notes, "Note: "))
    lines.append(f"Chose: {stack}")
    lines.append(f"       {c.label or c.backend} from {plan.source}, Python {plan.python}")
    lines.extend(_wrap([needs] if (needs := needs_line(plan)) else [], "Needs: "))
    if len(plan.nodes) > 1:
        alone = " nothing: alone, each node type would get this build too"
        lines.append("Bound:" + ("" if plan.bound else alone))
        lines.extend(_wrap(plan.bound, "  - "))
    blocker = conda_lock_blocker(dependencies, pip, conda_lock_args(plan))
    lock = f"not as it is: {blocker}" if blocker else conda_lock_command(plan, "THIS_FILE")
    lines.extend(_wrap([lock], "Lock: "))
    lines.append("Why:")
    lines.extend(_wrap(plan.why, "  - "))
    if plan.rejected:
        lines.append("Rejected:")
        lines.extend(_wrap([r.describe() for r in plan.rejected], "  - "))
    return lines


def needs_line(plan: Plan) -> str | None:
    """What the file's ``__cuda`` line means for a driver, in words (the header's ``Needs:``).

    It says the same as the dependency line: ``__cuda>=12`` is any driver for CUDA 12.x (CUDA
    minor-version compatibility, from the major's floor); ``__cuda>=12.9`` the toolkit's own
    floor, where a GPU needs PTX JIT.
    """
    c = plan.candidate
    cuda = c.backend.cuda_version
    if c.backend.kind != "cuda" or not cuda or not plan.requires_cuda:
        return None
    major = cuda.split(".")[0]
    full = plan.requires_cuda != f"__cuda>={major}"
    if full:
        floor = f"NVIDIA driver >= {c.min_driver}" if c.min_driver else "an NVIDIA driver"
        return (
            f"{floor} for CUDA {cuda} itself ({plan.requires_cuda}): a GPU here runs this "
            "build only through PTX JIT, which minor-version compatibility does not cover"
        )
    floor = plan.min_driver
    own = f"; CUDA {cuda}'s own floor is {c.min_driver}" if c.min_driver else ""
    if not floor:
        return (
            f"any NVIDIA driver for CUDA {major}.x ({plan.requires_cuda}: CUDA minor-version "
            f"compatibility; NVIDIA publishes no driver minimum for it on this OS)"
        )
    return (
        f"NVIDIA driver >= {floor}, any driver for CUDA {major}.x ({plan.requires_cuda}: CUDA "
        f"minor-version compatibility{own})"
    )


def _wrap(
    items: Sequence[str], bullet: str, width: int = 94, hang: str | None = None
) -> list[str]:
    out: list[str] = []
    for item in items:
        out.extend(
            textwrap.wrap(
                item,
                width,
                initial_indent=bullet,
                subsequent_indent=hang if hang is not None else " " * len(bullet),
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    return out


def plan_to_envspec(plan: Plan) -> EnvSpec:
    """The environment file for ``plan``: pins, CUDA selection, channels, pip, variables, header."""
    c = plan.candidate
    src = plan.source
    comments: dict[str, str] = {}
    python = f"python={plan.python}"
    deps: list[str] = [python]
    pip_lines: list[str] = []
    if src == "pip":
        deps.append("pip")
        if plan.requires_cuda:
            deps.append(plan.requires_cuda)
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
        if plan.requires_cuda and not any(conda_name(s) == "__cuda" for s in specs):
            deps.append(plan.requires_cuda)
    for d in deps:
        n = conda_name(d)
        if n == "cuda-version":
            comments[d] = f"CUDA {d.split('=')[-1]} runtime from {src}"
        elif n == "__cuda":
            need = d.split(">=", 1)[-1]
            what, override = (
                (f"CUDA {need}", need) if "." in need else (f"CUDA {need}.x", f"{need}.0")
            )
            comments[d] = (
                f"an NVIDIA driver for {what} (CONDA_OVERRIDE_CUDA={override} solves without one)"
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


def file_text(plan: Plan) -> str:
    """The environment.yml text for ``plan``."""
    return dump(plan_to_envspec(plan))
