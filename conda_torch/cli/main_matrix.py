"""``conda torch matrix``: which torch builds exist, what pairs with what, what runs here."""

from __future__ import annotations

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    import argparse

    from ..fleet import Explanation
    from ..machine import Machine
    from ..matrix import Candidate, Matrix, Verdict

HELP = "Show which torch/torchvision/torchaudio builds exist and which run on this machine."
DESCRIPTION = """\
List the torch builds the embedded, dated compatibility matrix knows for a platform:
torchvision and torchaudio pairings, Pythons, and backends from conda-forge, the pytorch
channel (up to 2.5) and PyTorch's pip indexes.

With --explain, judge every build against this machine (or --machine detect.json, or --from
captured outputs): NVIDIA driver floor, GPU compute capability against the compiled
architectures and PTX, ROCm, XPU, Apple silicon and macOS; accepted builds are ranked best
first, in the order `generate` chooses by, and every rejection says why.

Examples:
  conda torch matrix
  conda torch matrix --torch 2.9.1 -v
  conda torch matrix --platform win-64 --backend cuda --json
  conda torch matrix --explain
  conda torch matrix --from nvidia-smi.txt --platform linux-64
"""

WIDTH = 80
#: --explain shows this many accepted and rejected builds unless --torch narrows it or --limit.
DEFAULT_LIMIT = 15


def configure_parser(parser: argparse.ArgumentParser) -> None:
    from ..constants import BACKEND_WORDS
    from ._options import add_from_option, once

    pick = parser.add_argument_group("select builds")
    pick.add_argument(
        "--torch",
        action=once(),
        metavar="SPEC",
        help="torch release or range: 2.5, 2.5.1, '2.5.*', '==2.5.1', '>=2.4,<2.6'.",
    )
    pick.add_argument(
        "--python", action=once(), metavar="X.Y", help="Only builds for this Python, e.g. 3.12."
    )
    pick.add_argument(
        "--platform",
        action=once(),
        metavar="SUBDIR",
        help="conda platform: linux-64, linux-aarch64, osx-64, osx-arm64, win-64 "
        "(default: this machine's).",
    )
    pick.add_argument(
        "--source",
        action=once(),
        choices=("conda-forge", "pytorch", "pip"),
        help="Only builds from this source.",
    )
    pick.add_argument(
        "--backend",
        action=once(),
        metavar="BACKEND",
        help=f"{BACKEND_WORDS} (auto: every backend).",
    )
    machine = parser.add_argument_group("judge builds against a machine")
    machine.add_argument(
        "--explain",
        action="store_true",
        help="Accept or reject every build for this machine, with reasons.",
    )
    machine.add_argument(
        "--machine",
        metavar="FILE",
        help="Judge against this `conda torch detect --json` output (implies --explain).",
    )
    add_from_option(
        machine,
        help="Judge against the machine these captured outputs describe (as in `conda torch "
        "detect --from`; implies --explain)",
    )
    machine.add_argument(
        "--node",
        action="append",
        metavar="[NAME=]FILE",
        help="Judge against several node types at once (repeatable; as in `conda torch "
        "generate --node`): a build is accepted when every node type runs it; implies --explain.",
    )
    machine.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help=f"With --explain: show at most N accepted and N rejected builds "
        f"(default {DEFAULT_LIMIT}, or all with --torch; 0 = all).",
    )
    parser.add_argument("--json", action="store_true", help="Print the result as JSON.")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="Show install specs, driver floors, GPU architectures and sources.",
    )


def execute(args: argparse.Namespace) -> int:
    from ..exceptions import CondaTorchValueError
    from ..matrix import load

    matrix = load()
    backend = None if (args.backend or "").strip().lower() in ("", "auto") else args.backend
    if args.limit is not None and args.limit < 0:
        raise CondaTorchValueError(f"--limit must be 0 or more, not {args.limit}")
    if args.machine and args.from_files:
        raise CondaTorchValueError("pass either --machine or --from, not both")
    if args.node and (args.machine or args.from_files):
        raise CondaTorchValueError(
            "--node describes the machines; --machine and --from would describe another"
        )
    filters = {
        "python": args.python,
        "source": args.source,
        "torch": args.torch,
        "backend": backend,
    }
    if args.node:
        from ..fleet import explain as explain_fleet

        expl = explain_fleet(args.node, subdir=args.platform, matrix=matrix, **filters)
        if args.json:
            _print_json(matrix, expl.subdir, filters, verdicts=list(expl.verdicts), fleet=expl)
        else:
            limit = args.limit if args.limit is not None else (0 if args.torch else DEFAULT_LIMIT)
            print(render_fleet(matrix, expl, limit=limit, verbose=args.verbose))
        return 0
    explain = bool(args.explain or args.machine or args.from_files)
    if args.limit is not None and not explain:
        raise CondaTorchValueError(
            "--limit goes with --explain (the table lists every build)",
            hints=["Add --explain, or --torch to narrow the table."],
        )
    if explain:
        from ..plan import implied_subdir, rank

        machine = _machine(args)
        # the platform generate plans for (one rule: captures that show only Windows' driver
        # mean win-64 here too)
        subdir = matrix.machine_subdir(machine, args.platform or implied_subdir(machine))

        verdicts = rank(
            matrix.evaluate(machine, subdir=subdir, strict=True, **filters),
            source=args.source,
        )
        if args.json:
            _print_json(matrix, subdir, filters, verdicts=verdicts, machine=machine)
        else:
            limit = args.limit if args.limit is not None else (0 if args.torch else DEFAULT_LIMIT)
            print(
                render_explain(
                    matrix, str(subdir), verdicts, machine, limit=limit, verbose=args.verbose
                )
            )
        return 0
    subdir = args.platform or _running_subdir()
    cands = matrix.candidates(subdir=subdir, strict=True, **filters)
    if args.json:
        _print_json(matrix, subdir, filters, candidates=cands)
    else:
        print(render_table(matrix, str(subdir), cands, verbose=args.verbose))
    return 0


# -- inputs ---------------------------------------------------------------------------------


def _machine(args: argparse.Namespace) -> Machine:
    from ._options import machine_from_args

    return machine_from_args(args)


def _running_subdir() -> str:
    """The subdir of this Python (conda's own answer when conda is already loaded)."""
    import os
    import sys

    conda_context = sys.modules.get("conda.base.context")
    if conda_context is not None:
        try:
            return str(conda_context.context.subdir)
        except Exception:  # pragma: no cover - conda internals
            pass
    if hasattr(os, "uname"):  # what platform.machine() reads, without importing platform
        machine = os.uname().machine.lower()
    else:  # Windows
        import platform

        machine = platform.machine().lower()
    arch = {
        "x86_64": "64",
        "amd64": "64",
        "aarch64": "aarch64",
        "arm64": "arm64",
        "ppc64le": "ppc64le",
    }.get(machine)
    system = {"linux": "linux", "darwin": "osx", "win32": "win"}.get(sys.platform)
    if system == "linux" and arch == "arm64":
        arch = "aarch64"
    if system == "osx" and arch == "aarch64":
        arch = "arm64"
    if not system or not arch:
        from ..constants import SUBDIRS
        from ..exceptions import UnknownPlatformError

        raise UnknownPlatformError(f"{sys.platform}-{machine}", SUBDIRS)
    return f"{system}-{arch}"


# -- JSON -----------------------------------------------------------------------------------


def _print_json(
    matrix: Matrix,
    subdir: object,
    filters: dict[str, str | None],
    *,
    candidates: list[Candidate] | None = None,
    verdicts: list[Verdict] | None = None,
    machine: Machine | None = None,
    fleet: Explanation | None = None,
) -> None:
    import json

    doc: dict[str, object] = {
        "dataset": {"date": str(matrix.date), "stale": matrix.stale()},
        "subdir": str(subdir),
        "filters": {k: v for k, v in filters.items() if v is not None},
    }
    if candidates is not None:
        doc["candidates"] = [c.to_json() for c in candidates]
    if verdicts is not None and fleet is not None:
        doc["nodes"] = [
            {"label": n.label, "source": n.source, "hostname": n.hostname} for n in fleet.nodes
        ]
        doc["groups"] = [
            {"nodes": list(g.labels), "plan": g.plan.to_json()}
            for g in (fleet.fleet.groups if fleet.fleet else ())
        ]
        doc["split"] = fleet.fleet.split if fleet.fleet else None
        doc["problem"] = fleet.problem
        doc["verdicts"] = [v.to_json() for v in verdicts]
    elif verdicts is not None:
        doc["machine"] = {
            "mode": machine.mode if machine else None,
            "inputs": list(machine.inputs) if machine else [],
        }
        doc["verdicts"] = [v.to_json() for v in verdicts]
    print(json.dumps(doc, indent=2))


# -- human output ---------------------------------------------------------------------------


def _wrap(text: str, indent: str, first: str | None = None) -> list[str]:
    from ._render import wrap

    return wrap(text, indent, first, width=WIDTH)


def _span(pys: tuple[str, ...] | list[str]) -> str:
    from ..models import version_tuple

    keys = [version_tuple(p) for p in pys]
    if not pys:
        return "?"
    if len(pys) > 1 and all(b[0] == a[0] and b[1] == a[1] + 1 for a, b in zip(keys, keys[1:])):
        return f"{pys[0]}-{pys[-1]}"
    return ",".join(pys)


def _stale_lines(matrix: Matrix) -> list[str]:
    if not matrix.stale():
        return []
    text = (
        f"Note: this dataset is from {matrix.date}, more than six months ago; newer torch "
        "releases may exist. conda-torch cannot vouch for a release it does not know: to use "
        "one, pin it yourself (conda-forge: pytorch=X.Y.Z; pip: torch==X.Y.Z) and check its "
        "torchvision/torchaudio pairing, or upgrade conda-torch for a newer dataset."
    )
    return [""] + _wrap(text, "")


_GROUP_FIELDS = ("torchvision", "torchaudio", "pythons", "release")


def render_table(
    matrix: Matrix, subdir: str, cands: list[Candidate], *, verbose: bool = False
) -> str:
    """Builds grouped by (torch, source): one row each, backends listed; fits 80 columns."""
    from ..models import version_tuple

    groups: dict[tuple[str, str], list[Candidate]] = {}
    for c in cands:
        groups.setdefault((c.torch, str(c.source)), []).append(c)
    n = len(cands)
    out = [
        f"torch builds for {subdir}: {n} build{'s' if n != 1 else ''} (matrix of {matrix.date})",
        "",
    ]
    cols = (7, 11, 10, 12, 10)
    head = ("torch", "torchvision", "torchaudio", "source", "python", "backends")
    out.append(" ".join(h.ljust(w) for h, w in zip(head, cols)) + " " + head[-1])
    out.append(" ".join("-" * w for w in cols) + " " + "-" * (WIDTH - sum(cols) - len(cols)))
    any_star = any_bang = False
    for (torch, source), group in groups.items():
        fields = set().union(*(c.unverified_fields for c in group))

        def mark(value: str | None, field: str) -> str:
            nonlocal any_bang
            text = value or "-"
            if value and field in fields:
                any_bang = True
                text += "!"
            return text

        pys = sorted({p for c in group for p in c.pythons}, key=version_tuple)
        tokens = []
        for c in group:
            token = str(c.backend)
            if c.pypi:
                token += "*"
                any_star = True
            if c.unverified_fields - set(_GROUP_FIELDS):
                token += "!"
                any_bang = True
            tokens.append(token)
        cells = (
            torch + ("!" if "release" in fields else ""),
            mark(_common(group, "torchvision"), "torchvision"),
            mark(_common(group, "torchaudio"), "torchaudio"),
            source,
            mark(_span(pys), "pythons"),
        )
        if "release" in fields:
            any_bang = True
        prefix = " ".join(cell.ljust(w) for cell, w in zip(cells, cols)) + " "
        out.extend(_wrap(" ".join(tokens), " " * len(prefix), prefix))
    out.append("")
    if any_star:
        out.append("* the wheel a plain `pip install torch` gets from PyPI (no extra index)")
    if any_bang:
        out.append("! includes data the sources could not confirm (see --explain or -v)")
    single = len({c.torch for c in cands}) == 1
    if verbose or single:
        out.append("")
        for c in cands:
            out.extend(_details(c, verbose=verbose))
    else:
        out.append("One release in detail: --torch X.Y.Z (add -v for specs and sources).")
    out.append("Which of these run here: --explain (or --machine detect.json / --from FILE).")
    out.extend(_stale_lines(matrix))
    return "\n".join(out)


def _common(group: list[Candidate], name: str) -> str | None:
    """The value most builds of a group have (a build without one shows in its details)."""
    values = [getattr(c, name) for c in group if getattr(c, name)]
    return max(values, key=values.count) if values else None


def _details(c: Candidate, *, verbose: bool, indent: str = "  ") -> list[str]:
    """A build's install specs and facts, each item at ``indent``, continuations deeper."""
    more = indent + "  "
    out = [f"{c.torch} {c.source} {c.backend}" + (" (PyPI)" if c.pypi else "") + ":"]
    facts = [f"Python {_span(c.pythons)}"]
    if c.min_driver:
        os_name = "Windows" if c.subdir.os == "win" else "Linux"
        facts.append(f"{os_name} driver >= {c.min_driver}")
    if c.gpu_archs:
        archs = " ".join("sm_" + a.replace(".", "") for a in c.gpu_archs)
        facts.append(archs + (f" +PTX {c.ptx}" if c.ptx else ""))
    items = ["; ".join(facts)]
    if c.channels:
        items.append("conda: " + " ".join(c.specs) + "  (channels: " + ", ".join(c.channels) + ")")
    if c.pip_specs:
        index = f"--index-url {c.pip_index} " if c.pip_index else ""
        items.append("pip: " + index + " ".join(c.pip_specs))
    items += ["note: " + note for note in c.notes]
    items += ["! unverified " + u for u in c.unverified]
    if verbose and c.sources:
        items.append("sources: " + ", ".join(c.sources))
    for item in items:
        out.extend(_wrap(item, more, indent))
    return out


def _machine_line(machine: Machine) -> list[str]:
    parts = []
    p = machine.platform
    if p.subdir:
        parts.append(
            p.subdir
            + (
                f" (hardware {p.native_subdir})"
                if p.native_subdir and p.native_subdir != p.subdir
                else ""
            )
        )
    nv = machine.nvidia
    if nv is not None:
        if nv.driver_version:
            parts.append(
                f"NVIDIA driver {nv.driver_version}"
                + (f" (CUDA {nv.cuda_version})" if nv.cuda_version else "")
            )
        elif nv.cuda_version:
            parts.append(f"driver supports CUDA {nv.cuda_version}")
        gpus = machine.visible_nvidia_gpus
        names: dict[str, int] = {}
        for g in gpus:
            label = (g.name or "GPU") + (
                f" ({g.compute_capability})" if g.compute_capability else ""
            )
            names[label] = names.get(label, 0) + 1
        if names:
            parts.append(", ".join(f"{k} x{v}" if v > 1 else k for k, v in names.items()))
    if machine.rocm is not None:
        parts.append(f"ROCm {machine.rocm.version}" if machine.rocm.version else "AMD GPU (ROCm)")
    if machine.apple is not None and machine.apple.chip:
        parts.append(machine.apple.chip + (f", macOS {p.macos_version}" if p.macos_version else ""))
    if machine.xpu is not None and machine.xpu.gpus:
        parts.append("Intel GPU (XPU)")
    if not parts:
        parts.append("no GPU found")
    where = "captured outputs" if machine.mode == "files" else "this machine"
    return _wrap(f"Machine ({where}): " + "; ".join(parts), "  ", "")


def render_explain(
    matrix: Matrix,
    subdir: str,
    verdicts: list[Verdict],
    machine: Machine,
    *,
    limit: int = DEFAULT_LIMIT,
    verbose: bool = False,
) -> str:
    accepted = [v for v in verdicts if v.accepted]
    rejected = [v for v in verdicts if not v.accepted]
    out = [f"torch builds for {subdir} judged against this machine (matrix of {matrix.date})"]
    out.extend(_machine_line(machine))
    out.append("")
    if accepted:
        best = accepted[0].candidate
        out.extend(
            _wrap(
                f"Best: torch {best.torch} from {best.source}, {best.backend}"
                + (
                    f" (torchvision {best.torchvision}, torchaudio {best.torchaudio})"
                    if best.torchvision or best.torchaudio
                    else ""
                ),
                "  ",
                "",
            )
        )
    else:
        out.append("No build runs on this machine with these filters.")
    out.extend(_verdict_sections("Accepted", accepted, rejected, limit=limit, verbose=verbose))
    out.extend(_stale_lines(matrix))
    return "\n".join(out)


def _verdict_sections(
    title: str, accepted: list[Verdict], rejected: list[Verdict], *, limit: int, verbose: bool
) -> list[str]:
    """The accepted builds under ``title``, then the rejected ones, ``limit`` of each."""
    out: list[str] = []
    for head, items in ((title, accepted), ("Rejected", rejected)):
        if not items:
            continue
        out.append("")
        out.append(f"{head} ({len(items)}):")
        shown = items if not limit else items[:limit]
        for v in shown:
            out.extend(_verdict_lines(v, verbose=verbose))
        if len(shown) < len(items):
            out.append(
                f"  ... {len(items) - len(shown)} more (--limit 0 shows all, --torch narrows)"
            )
    return out


def render_fleet(matrix: Matrix, expl: Explanation, *, limit: int, verbose: bool) -> str:
    """``--explain --node``: the node types, the fleet's best (or its groups), what bound it,
    then every build, accepted when every node type runs it."""
    from ..plan import NodeSummary, summarize_machine
    from ..render import node_line

    n = len(expl.nodes)
    types = f"{n} node type{'s' if n > 1 else ''}"
    out = [f"torch builds for {expl.subdir} judged against {types} (matrix of {matrix.date})"]
    for node in expl.nodes:
        line = node_line(NodeSummary(
            node.label, node.source, summarize_machine(node.machine, expl.subdir), node.hostname
        ))
        out.extend(_wrap(line, "    ", "  "))
    out.append("")
    groups = expl.fleet.groups if expl.fleet else ()
    if expl.problem:
        out.extend(_wrap(f"No plan: {expl.problem}", "  ", ""))
    elif expl.fleet and expl.fleet.split:
        out.extend(_wrap(f"They split: {expl.fleet.split}", "  ", ""))
    for g in groups:
        who = "every node type" if len(groups) == 1 else ", ".join(g.labels)
        out.extend(_wrap(f"Best for {who}: {g.plan.label()}, Python {g.plan.python}", "  ", ""))
        if len(g.nodes) > 1:
            out.append("  Bound:" + ("" if g.plan.bound else " nothing (each node type alone "
                                     "would get it too)"))  # fmt: skip
            for line in g.plan.bound:
                out.extend(_wrap(line, "      ", "    - "))
    accepted = [v for v in expl.verdicts if v.accepted]
    rejected = [v for v in expl.verdicts if not v.accepted]
    out.extend(_verdict_sections("Accepted on every node type", accepted, rejected,
                                 limit=limit, verbose=verbose))  # fmt: skip
    out.extend(_stale_lines(matrix))
    return "\n".join(out)


def _verdict_lines(v: Verdict, *, verbose: bool) -> list[str]:
    c = v.candidate
    mark = "ok" if v.accepted else "no"
    audio = c.torchaudio or "-"
    vision = c.torchvision or "-"
    head = (
        f"[{mark}] {c.torch:<7} {str(c.source):<11} {str(c.backend):<9} "
        f"vision {vision:<7} audio {audio:<7} py {_span(c.pythons)}"
    )
    out = [head[:WIDTH]]
    for reason in v.reasons:
        out.extend(_wrap(reason, "       ", "     - "))
    if verbose:
        out.extend(_details(c, verbose=True, indent="     ")[1:])
    elif c.unverified:
        fields = ", ".join(sorted(c.unverified_fields))
        out.extend(_wrap(f"unverified: {fields} (-v says why)", "       ", "     ! "))
    return out
