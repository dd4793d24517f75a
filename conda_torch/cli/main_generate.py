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
            "Output file, '-' for stdout, or a folder for several platforms "
            "(default: ./environment.yml)."
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
    from ..prepare import generate, write
    from ._options import apply_settings, check_node_args, machine_from_args

    apply_settings(args)
    check_node_args(args)
    generated = generate(
        lambda: machine_from_args(args),
        platforms=args.platform or (),
        all_platforms=args.all_platforms,
        file=args.file,
        nodes=args.node or (),
        split=bool(getattr(args, "split", False)),
        torch=args.torch,
        python=args.python,
        backend=args.backend,
        source=args.source,
        without=tuple(args.without or ()),
        name=args.name,
        default_python=args.default_python,
        to_stdout=args.output == "-",
    )
    if args.output == "-":
        item = generated.files[0]
        if args.json:
            _print_json({**_json(item), "path": None, "text": item.text})
        else:
            print_warnings(item.plan)
            sys.stdout.write(item.text)
        return 0
    paths, streamed = write(generated, args.output, force=args.force)
    if args.json:
        _print_json(_json_payload(generated, paths))
    elif generated.fleet:
        _report_fleet(generated, paths)
    else:
        _report(generated, paths, streamed=streamed)
    return 0


# -- output ------------------------------------------------------------------------------------


def _report(generated: Any, paths: list[str], *, streamed: bool) -> None:
    """``Wrote PATH: ...`` per file, the plans' notes and warnings, how to create and lock it."""
    from ..render import conda_lock_command

    report = sys.stderr if streamed else sys.stdout  # the file itself may be on stdout
    for item, path in zip(generated.files, paths):
        p = item.plan
        print(
            f"Wrote {path}: {p.label()}, Python {p.python}, for {p.machine.subdir}"
            + (" (generic)" if p.machine.generic else ""),
            file=report,
        )
        for f in p.fallbacks:
            print(f"  note: {f}", file=report)
        print_warnings(p)
    for s in generated.skipped:
        print(f"Skipped {s}", file=sys.stderr)
    if not generated.multi and not streamed:
        print(f"Create it with: conda env create -f {paths[0]}")
        if generated.files[0].lock_blocker is None:
            print(f"Lock it with:   {conda_lock_command(generated.files[0].plan, paths[0])}")


def _report_fleet(generated: Any, paths: list[str]) -> None:
    """``--node``: each file, the node types it serves, what bound it, how to create it."""
    if generated.split:
        print(f"The node types split: {generated.split}")
    for item, path in zip(generated.files, paths):
        p, group = item.plan, item.group
        print(f"Wrote {path}: {p.label()}, Python {p.python}, for "
              f"{len(group.nodes)} node type{'s' if len(group.nodes) > 1 else ''} "
              f"({', '.join(group.labels)})")  # fmt: skip
        for line in p.bound:
            print(f"  bound: {line}")
        print_warnings(p)
        oldest = group.oldest_cuda
        override = f"CONDA_OVERRIDE_CUDA={oldest[0]} " if oldest and p.variant == "cuda" else ""
        print(f"Create it with: {override}conda env create -f {path} -p PATH"
              + (f"    # the CUDA of the oldest driver ({oldest[1]}): solves on a login node "
                 "without a GPU" if override else ""))  # fmt: skip


def print_warnings(plan: Any) -> None:
    """What the user must see without opening the file: assumptions, the build's warnings,
    a newer release passed over (on stderr, so ``-o -`` still prints the file alone)."""
    for w in plan.warnings:
        print(f"warning: {w}", file=sys.stderr)


def _print_json(doc: dict[str, Any]) -> None:
    import json

    print(json.dumps({"success": True, **doc}, indent=2))


def _json_payload(generated: Any, paths: list[str]) -> dict[str, Any]:
    if generated.fleet:
        return {"split": generated.split, "files": [
            {**_json(i), "path": p, "nodes": list(i.group.labels),
             "oldest_cuda": i.group.oldest_cuda[0] if i.group.oldest_cuda else None}
            for i, p in zip(generated.files, paths)
        ]}  # fmt: skip
    if generated.multi:
        return {
            "files": [{**_json(i), "path": p} for i, p in zip(generated.files, paths)],
            "skipped": list(generated.skipped),
        }
    return {**_json(generated.files[0]), "path": paths[0]}


def _json(item: Any) -> dict[str, Any]:
    from ..render import conda_lock_args

    return {
        "plan": item.plan.to_json(),
        "filename": item.filename,
        "conda_lock_args": list(conda_lock_args(item.plan)),
        "conda_lock_blocker": item.lock_blocker,
    }
