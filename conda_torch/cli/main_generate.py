"""``conda torch generate``: pinned environment.yml files for machines, platforms, team files."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    import argparse
    from typing import Any

HELP = "Write a pinned environment.yml for this machine (or other platforms, or a team's file)."

DESCRIPTION = """\
Resolve the newest torch, torchvision and torchaudio this machine fully supports (or the ones
asked for) into an environment.yml with exact pins, the CUDA selection of that release and
source, the channels in the right order, and a header saying what it was made for and why.

Defaults: conda-forge, falling back to pip wheels only when conda-forge cannot serve the
request; the machine's GPU when one can be served, else CPU (the header says why).

With --platform (repeatable) or --all-platforms, one file per target goes into a folder
(-o DIR, default: the current folder), named like linux-64-cuda.yml, osx-arm64.yml,
win-64-cpu.yml. A platform other than this machine's gets a file for a generic machine of
that platform (CUDA files target GPUs of compute capability 7.5 to 12.0).

With --node FILE (repeated, one per node type of a cluster: `detect --json` files, captured
outputs, or folders of one node's captures), one file runs on every node type: the platform
they share, the oldest driver, every GPU's architecture; its header lists the node types and
what bound the choice. When no one build serves them all, the groups are named; --split
writes one file per group into a folder (-o DIR).

With -f FILE, a team's environment file is specialized for this machine: every other line,
comment and key order is kept; the torch stack, CUDA packages, channels and variables are
replaced or inserted. The file's own torch pin is the request; a pin that contradicts it is
refused.

Examples:
  conda torch generate                          # ./environment.yml for this machine
  conda torch generate --torch 2.9 -o -         # print it
  conda torch generate --all-platforms -o envs/ # one file per common platform
  conda torch generate -f team.yml -o mine.yml  # specialize a team's file
  conda torch generate --node a100.json --node v100.json   # one file for two node types
"""

#: Default output file for one target.
DEFAULT_OUTPUT = "environment.yml"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    from ._options import add_machine_options, add_node_options, add_plan_options

    parser.add_argument("-n", "--name", help="Environment name written into the file.")
    add_plan_options(parser)
    parser.add_argument(
        "--platform",
        action="append",
        metavar="SUBDIR",
        help="Target platform (repeatable): linux-64, linux-aarch64, osx-64, osx-arm64, win-64.",
    )
    parser.add_argument(
        "--all-platforms", action="store_true", help="One file per common platform."
    )
    add_machine_options(parser, what="Use")
    add_node_options(parser, split=True)
    parser.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help=(
            f"Output file, '-' for stdout, or a folder for several platforms "
            f"(default: ./{DEFAULT_OUTPUT})."
        ),
    )
    parser.add_argument(
        "-f",
        "--file",
        metavar="FILE",
        help="A team's environment file to specialize for this machine.",
    )
    parser.add_argument("--force", action="store_true", help="Replace existing output files.")
    parser.add_argument(
        "--json", action="store_true", help="Print the plan (and what was written) as JSON."
    )


def execute(args: argparse.Namespace) -> int:
    import json
    import os
    from dataclasses import replace

    from .. import envfile
    from .. import plan as planning
    from ..exceptions import CondaTorchError, CondaTorchValueError
    from ..matrix import load as load_matrix
    from ..models import Subdir
    from ._options import apply_settings, check_node_args, machine_from_args

    apply_settings(args)
    check_node_args(args)
    # Cheap checks first: platforms and the team's file fail before any probing.
    subdirs: list[str] = []
    for p in args.platform or ():
        s = str(Subdir.parse(p))  # UnknownPlatformError, with the nearest names
        if s not in subdirs:
            subdirs.append(s)
    request = envfile.team_request(envfile.load(args.file)) if args.file else None

    # -- what a team's file asks for --
    torch = args.torch or (request.torch if request else None)
    python = args.python or (request.python if request else None)
    without = tuple(dict.fromkeys([*(args.without or ()), *(request.without if request else ())]))
    asked_by: dict[str, str] = {}
    if request is not None:
        base = os.path.basename(args.file)
        if request.torch and not args.torch:
            asked_by["torch"] = f"{base}'s '{request.torch_line}'"
        if request.python and not args.python:
            asked_by["python"] = f"{base}'s '{request.python_line}'"

    if args.node:
        return _fleet(args, torch=torch, python=python, without=without, asked_by=asked_by)
    machine = machine_from_args(args)
    matrix = load_matrix()

    # -- targets: (subdir, variant or None, generic machine or None) --
    own = planning.implied_subdir(machine)
    if own is None and len(subdirs) == 1 and not args.all_platforms:
        own = subdirs[0]  # the captures did not show the platform: --platform names it
    multi = args.all_platforms or len(subdirs) > 1
    targets: list[tuple[str, str | None, Any]] = []
    if args.all_platforms:
        done: set[str] = set()
        for s, variant in planning.ALL_TARGETS:
            if s == own:
                if s not in done:
                    targets.append((s, None, None))
                    done.add(s)
            else:
                targets.append((s, variant, planning.generic_machine(s, variant)))
        for s in subdirs:  # extra platforms named next to --all-platforms
            if s not in {t[0] for t in targets}:
                targets.extend(_generic_targets(planning, s, args.backend, both=True))
    elif subdirs:
        for s in subdirs:
            if s == own:
                targets.append((s, None, None))
            else:
                targets.extend(_generic_targets(planning, s, args.backend, both=len(subdirs) > 1))
    else:
        if own is None:
            raise CondaTorchValueError(
                "cannot tell this machine's platform from the inputs",
                hints=["Pass --platform (e.g. --platform linux-64)."],
            )
        targets.append((own, None, None))
    multi = multi or len(targets) > 1
    if multi and args.output == "-":
        raise CondaTorchValueError(
            "-o - prints one file; several platforms need a folder", hints=["Pass -o DIR."]
        )

    # -- plans and texts, all before anything is written --
    results: list[dict[str, Any]] = []
    skipped: list[str] = []
    for subdir, variant, generic in targets:
        target_machine, description = generic if generic else (machine, None)
        backend = args.backend
        if generic and variant in ("cpu", "cuda") and args.backend in (None, "", "auto"):
            backend = variant
        try:
            plan = planning.make_plan(
                target_machine,
                torch=torch,
                python=python,
                backend=backend,
                source=args.source,
                # this machine's own platform, when only inferred: the plan says so
                subdir=None if (generic is None and subdir == own and not subdirs) else subdir,
                name=args.name,
                matrix=matrix,
                description=description,
                asked_by=asked_by,
                without=without,
                default_python=None if generic else args.default_python,
            )
            if args.file:
                if request is not None and request.torch_line and args.torch:
                    plan = replace(
                        plan,
                        why=(
                            *plan.why,
                            f"--torch {args.torch} replaces the file's '{request.torch_line}'.",
                        ),
                    )
            text, lock_blocker = _file_text(args, plan, matrix)
        except CondaTorchError as exc:
            if args.all_platforms and generic:
                skipped.append(f"{planning.target_filename(subdir, variant)}: {exc.line}")
                continue
            raise
        filename = planning.target_filename(subdir, variant if generic else _own_variant(plan))
        results.append(
            {"plan": plan, "text": text, "filename": filename, "lock_blocker": lock_blocker}
        )
    if not results:
        raise CondaTorchValueError(
            "no environment file could be made for any target", hints=[s for s in skipped[:3]]
        )

    # -- output --
    out = args.output
    written: list[str] = []
    if not multi:
        item = results[0]
        if out == "-":
            if args.json:
                print(
                    json.dumps(
                        {"success": True, **_json(item), "path": None, "text": item["text"]},
                        indent=2,
                    )
                )
            else:
                _print_warnings(item["plan"])
                sys.stdout.write(item["text"])
            return 0
        path = out or DEFAULT_OUTPUT
        item["stream"] = envfile.write_atomic(path, item["text"], force=args.force) == "stream"
        written.append(path)
        item["path"] = path
    else:
        paths = _write_folder(
            out or ".", [(r["filename"], r["text"]) for r in results], force=args.force
        )
        for r, p in zip(results, paths):
            r["path"] = p
            written.append(p)

    if args.json:
        payload: dict[str, Any] = {"success": True}
        if multi:
            payload["files"] = [{**_json(r), "path": r["path"]} for r in results]
            payload["skipped"] = skipped
        else:
            payload.update({**_json(results[0]), "path": results[0]["path"]})
        print(json.dumps(payload, indent=2))
        return 0
    streamed = not multi and results[0].get("stream")
    report = sys.stderr if streamed else sys.stdout  # the file itself may be on stdout
    for r in results:
        p = r["plan"]
        print(
            f"Wrote {r['path']}: {p.label()}, Python {p.python}, for {p.machine.subdir}"
            + (" (generic)" if p.machine.generic else ""),
            file=report,
        )
        for f in p.fallbacks:
            print(f"  note: {f}", file=report)
        _print_warnings(p)
    for s in skipped:
        print(f"Skipped {s}", file=sys.stderr)
    if not multi and not streamed:
        print(f"Create it with: conda env create -f {written[0]}")
        if results[0]["lock_blocker"] is None:
            print(f"Lock it with:   {results[0]['plan'].conda_lock_command(written[0])}")
    return 0


def _fleet(
    args: argparse.Namespace,
    *,
    torch: str | None,
    python: str | None,
    without: tuple[str, ...],
    asked_by: dict[str, str],
) -> int:
    """``--node``: one file for every node type (or, ``--split``, one per group)."""
    import json

    from .. import envfile
    from ..exceptions import CondaTorchValueError
    from ..fleet import plan_fleet
    from ..matrix import load as load_matrix

    if args.all_platforms or len(args.platform or ()) > 1:
        raise CondaTorchValueError(
            "--node plans for the node types given, on their own platform",
            hints=["Drop --all-platforms; one --platform may name the nodes' platform."],
        )
    if args.split and args.output == "-":
        raise CondaTorchValueError("--split writes a file per group: -o names a folder")
    matrix = load_matrix()
    fleet = plan_fleet(
        args.node,
        split=args.split,
        torch=torch,
        python=python,
        backend=args.backend,
        source=args.source,
        subdir=(args.platform or [None])[0],
        name=args.name,
        matrix=matrix,
        without=without,
        asked_by=asked_by,
        default_python=args.default_python,
    )
    items = []
    for group in fleet.groups:
        plan = group.plan
        text, lock_blocker = _file_text(args, plan, matrix)
        items.append({"plan": plan, "text": text, "filename": group.filename,
                      "lock_blocker": lock_blocker, "group": group})  # fmt: skip
    if not args.split and args.output == "-":
        item = items[0]
        if args.json:
            print(json.dumps({"success": True, **_json(item), "path": None, "text": item["text"]},
                             indent=2))  # fmt: skip
        else:
            _print_warnings(item["plan"])
            sys.stdout.write(item["text"])
        return 0
    if args.split:
        paths = _write_folder(
            args.output or ".", [(i["filename"], i["text"]) for i in items], force=args.force
        )
    else:
        paths = [args.output or DEFAULT_OUTPUT]
        envfile.write_atomic(paths[0], items[0]["text"], force=args.force)
    for item, path in zip(items, paths):
        item["path"] = path
    if args.json:
        doc_: dict[str, Any] = {"success": True, "split": fleet.split}
        doc_["files"] = [
            {**_json(i), "path": i["path"], "nodes": list(i["group"].labels),
             "oldest_cuda": i["group"].oldest_cuda[0] if i["group"].oldest_cuda else None}
            for i in items
        ]  # fmt: skip
        print(json.dumps(doc_, indent=2))
        return 0
    if fleet.split:
        print(f"The node types split: {fleet.split}")
    for item in items:
        p, group = item["plan"], item["group"]
        print(f"Wrote {item['path']}: {p.label()}, Python {p.python}, for "
              f"{len(group.nodes)} node type{'s' if len(group.nodes) > 1 else ''} "
              f"({', '.join(group.labels)})")  # fmt: skip
        for line in p.bound:
            print(f"  bound: {line}")
        _print_warnings(p)
        oldest = group.oldest_cuda
        override = f"CONDA_OVERRIDE_CUDA={oldest[0]} " if oldest and p.variant == "cuda" else ""
        print(f"Create it with: {override}conda env create -f {item['path']} -p PATH"
              + (f"    # the CUDA of the oldest driver ({oldest[1]}): solves on a login node "
                 "without a GPU" if override else ""))  # fmt: skip
    return 0


def _file_text(args: argparse.Namespace, plan: Any, matrix: Any) -> tuple[str, str | None]:
    """The file for ``plan`` (the team's file ``-f`` specialized, else a new one) and why
    conda-lock cannot lock it (None when it can)."""
    from .. import envfile
    from .. import plan as planning

    if args.file:
        doc = envfile.load(args.file)
        text = envfile.specialize(doc, plan, matrix=matrix, name=args.name)
        listed, pip = doc.dependencies, doc.pip or ()
    else:
        spec = planning.plan_to_envspec(plan)
        text = envfile.dump(spec)
        listed, pip = spec.dependencies, spec.pip
    return text, planning.conda_lock_blocker(listed, pip, plan.conda_lock_args())


def _write_folder(folder: str, files: list[tuple[str, str]], *, force: bool) -> list[str]:
    """Write ``(name, text)`` files into ``folder`` (made when missing); nothing is written when
    one would replace a file without ``force``. Returns the paths."""
    import os

    from .. import envfile
    from ..exceptions import CondaTorchValueError, OutputExistsError, OutputWriteError

    if os.path.exists(folder) and not os.path.isdir(folder):
        raise CondaTorchValueError(
            f"{folder} is a file; with several files -o names a folder",
            hints=["Pass -o DIR."],
        )
    paths = [os.path.join(folder, name) for name, _text in files]
    if len(set(paths)) != len(paths):
        raise CondaTorchValueError("two targets would write the same file name")
    if not force:
        for p in paths:
            if os.path.lexists(p):
                raise OutputExistsError(p)
    if not os.path.isdir(folder):
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            raise OutputWriteError(
                folder, f"cannot create the folder ({exc.strerror or exc})"
            ) from None
    for (_name, text), p in zip(files, paths):
        envfile.write_atomic(p, text, force=force)
    return paths


def _print_warnings(plan: Any) -> None:
    """What the user must see without opening the file: assumptions, the build's warnings,
    a newer release passed over (on stderr, so ``-o -`` still prints the file alone)."""
    for w in plan.warnings:
        print(f"warning: {w}", file=sys.stderr)


def _json(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "plan": item["plan"].to_json(),
        "filename": item["filename"],
        "conda_lock_args": list(item["plan"].conda_lock_args()),
        "conda_lock_blocker": item["lock_blocker"],
    }


def _own_variant(plan: Any) -> str | None:
    kind = plan.variant
    if plan.subdir.startswith("osx-"):
        return None
    return kind


def _generic_targets(
    planning: Any, subdir: str, backend: str | None, *, both: bool
) -> list[tuple[str, str | None, Any]]:
    """Targets for a platform that is not this machine's: a generic machine for each variant.

    macOS has one build per platform; Linux and Windows get the CUDA variant (``both``: and
    the CPU one), or the CPU one alone with ``--backend cpu``.
    """
    if subdir.startswith("osx-"):
        return [(subdir, None, planning.generic_machine(subdir, None))]
    if backend == "cpu":
        variants: tuple[str, ...] = ("cpu",)
    elif backend in (None, "", "auto"):
        variants = ("cuda", "cpu") if both else ("cuda",)
    else:
        variants = ("cuda",)
    return [(subdir, v, planning.generic_machine(subdir, v)) for v in variants]
