"""``conda torch create``: make the environment, prove it works, say how to activate it."""

from __future__ import annotations

import sys

from ._render import out, print_validation, show_step

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from ..create import CreateResult, Destination
    from ..prepare import Prepared

HELP = "Create a PyTorch environment matched to this machine, validate it, and say how to enter it."

DESCRIPTION = """\
Plan the torch stack for this machine (as `conda torch generate` does), write the environment
file, let conda create the environment with the file's channels pinned exactly
(--override-channels), record what it was built from inside it
(conda-meta/conda-torch.provenance) and validate it with its own Python. conda's own progress is
shown as it happens; --json prints one result document instead.

An existing environment is never replaced silently: its name is refused unless --force, and
then the old environment is kept aside until the new one validates. A failed, invalid or
interrupted creation (Ctrl-C included) leaves nothing under the requested name and puts the
old environment back.

On a cluster's login node, --node FILE (repeated, one per node type: `detect --json` files,
e.g. from `detect --via`, or captured outputs) plans one environment for every node type, as
`generate --node` does; conda then solves for the nodes' virtual packages
(CONDA_OVERRIDE_CUDA = the CUDA of their oldest driver, said on the terminal), so a CUDA
environment is created without a GPU here, into a path the nodes share (-p). It is not
validated here, where it will never run: --via LAUNCHER (repeatable, one per node type)
validates it on the nodes instead, and a failure there rolls the creation back.

A child process cannot activate your shell: enter the environment with the printed
`conda activate` line, `conda torch shell -n NAME`, or run one command in it with
`conda torch run -n NAME -- CMD`.

Examples:
  conda torch create -n ml
  conda torch create -n ml --torch 2.9 --python 3.12 --dry-run
  conda torch create -n ml -f team.yml             # specialize a team's file, then create
  conda torch create -p ./env -f environment.yml --as-is
  conda torch create -n ml --force -y --json
  conda torch create -p /shared/envs/ml --node a100.json --node v100.json
  conda torch create -p /shared/envs/ml --node a100.json --via 'srun -p a100 -N1'
"""


#: ``--dry-run`` plans and shows the conda command without conda (recreate's needs conda to
#: read the environment): the "no conda" error says so here only.
DRY_RUN_WITHOUT_CONDA = True


def configure_parser(parser: argparse.ArgumentParser) -> None:
    from ..constants import FRONTENDS
    from ._options import (
        add_machine_options,
        add_node_options,
        add_output_and_prompt_options,
        add_plan_options,
        add_timeout_option,
        add_via_option,
    )


    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "-n", "--name",
        help="Name of the new environment (default: the file's name:, else the plan's, "
        "e.g. torch-2.9-cu129).",
    )  # fmt: skip
    target.add_argument("-p", "--prefix", metavar="PATH", help="Full path of the new environment.")
    parser.add_argument(
        "-f", "--file", metavar="FILE",
        help="An environment file: specialized for this machine (as generate -f does), "
        "or used exactly as written with --as-is.",
    )  # fmt: skip
    parser.add_argument(
        "--as-is", action="store_true",
        help="Create -f FILE exactly as written (e.g. a file `conda torch generate` made).",
    )  # fmt: skip
    plan = parser.add_argument_group("plan (as in `conda torch generate`)")
    add_plan_options(plan)
    add_machine_options(plan)
    add_node_options(plan)
    add_via_option(parser)
    parser.add_argument(
        "--frontend",
        choices=FRONTENDS,
        default="conda",
        help="Which program creates the environment (default: conda).",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="Replace an existing environment (kept aside until the new one validates).",
    )
    add_timeout_option(parser)
    # --json, -d/--dry-run, -y/--yes as conda declares them (conda's own, where it imports)
    add_output_and_prompt_options(parser)


def execute(args: argparse.Namespace) -> int:
    import json

    from ..create import create, default_validator
    from ..exceptions import CondaTorchValueError
    from ..prepare import prepare
    from ._options import apply_settings, check_node_args, machine_from_args

    if args.as_is:
        if not args.file:
            raise CondaTorchValueError("--as-is needs -f FILE", hints=["Pass -f environment.yml."])
        planned = [opt for opt, value in (
            ("--torch", args.torch), ("--python", args.python), ("--source", args.source),
            ("--machine", args.machine), ("--from", args.from_files), ("--node", args.node),
            ("--without", args.without),
            ("--backend", None if args.backend in (None, "", "auto") else args.backend),
        ) if value]  # fmt: skip
        if planned:
            raise CondaTorchValueError(
                f"--as-is takes the file as written; {', '.join(planned)} would change it",
                hints=["Drop --as-is to specialize the file, or drop those options."],
            )
    machine = None
    if not args.as_is:
        apply_settings(args)
        check_node_args(args)
        machine = None if args.node else machine_from_args(args)
    prepared = prepare(
        machine,
        file=args.file,
        as_is=args.as_is,
        name=args.name,
        torch=args.torch,
        python=args.python,
        backend=args.backend,
        source=args.source,
        without=tuple(args.without or ()),
        nodes=tuple(args.node or ()),
        default_python=getattr(args, "default_python", None),
    )
    validator = default_validator(args.timeout)
    if args.via:
        from ..validate import NodesReport, validate_via
        from ..via import DEFAULT_TIMEOUT_S

        def validator(**kw: Any) -> NodesReport:
            return NodesReport(validate_via(
                args.via, python=kw["python"], prefix=kw["prefix"], provenance=kw["provenance"],
                name=kw["name"], timeout=args.timeout or DEFAULT_TIMEOUT_S,
            ))  # fmt: skip

        validator.start = "on the nodes, through " + ", ".join(f"`{v}`" for v in args.via)
    elif args.node:
        from ..validate import Skipped

        def validator(**_kw: Any) -> Skipped:
            return Skipped(
                "planned for other machines (--node): validate it where it runs, e.g. "
                "conda torch validate -p PREFIX --via 'srun -N1'"
            )

        validator.start = "not here: the environment is for the node types"

    if not args.json:
        _print_plan(prepared, dry_run=args.dry_run)
    interactive = not (args.yes or args.json or args.dry_run) and sys.stdin.isatty()
    result = create(
        prepared,
        name=args.name,
        prefix=args.prefix,
        force=args.force,
        dry_run=args.dry_run,
        json_output=args.json,
        frontend=args.frontend,
        progress=None if args.json else show_step,
        confirm=_confirm if interactive else None,
        validator=validator,
    )
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        _print_result(result, frontend=args.frontend)
    return result.exit_code


# -- human output ----------------------------------------------------------------------------


def _print_plan(prepared: Prepared, *, dry_run: bool) -> None:
    out(f"Plan: {prepared.summary}")
    if dry_run:
        for line in prepared.why:
            out(f"  - {line}")


def _confirm(dest: Destination, prepared: Prepared) -> bool:
    what = (
        f"Replace environment {dest.name or dest.prefix}"
        if dest.exists
        else (f"Create environment {dest.name or dest.prefix}")
    )
    try:
        answer = input(f"{what} at {dest.prefix}? ([y]/n) ").strip().lower()
    except EOFError:
        return False
    return answer in ("", "y", "yes")


def _print_result(result: CreateResult, *, frontend: str) -> None:
    if result.status == "dry-run":
        out("")
        out("Environment file:")
        out("")
        sys.stdout.write(result.environment_file)
        if not result.environment_file.endswith("\n"):
            out("")
        out("")
        for note in result.notes:
            out(f"Note: {note}")
        if result.conda_command:
            out(f"Would run: {result.conda_command}")
        out("Dry run: nothing was created.")
        return
    if result.validation and result.validation.get("skipped"):
        pass  # said as the step ran
    elif result.validation and result.validation.get("nodes") is not None:
        for node in result.validation["nodes"]:
            gpus = ", ".join(node.get("gpus") or ()) or "none"
            head = f"Validation on node {node.get('host') or '?'} (through `{node['launcher']}`)"
            if node.get("report") is None:
                out(f"{head}: FAILED: {node.get('error')}")
                continue
            out(f"{head}: GPUs: {gpus}")
            print_validation(dict(node["report"]))
    elif result.validation and result.status in ("created", "invalid"):
        out("Validation:")
        print_validation(dict(result.validation))
    for note in result.notes:
        out(f"Note: {note}")
    if result.ok:
        label = result.name or result.prefix
        out("")
        done = "replaced" if result.replaced else "created"
        out(f"Done: {label} {done} in {result.seconds:.1f} s.")
        out("Activate it with:")
        out(f"    {result.activate}")
        flag = f"-n {result.name}" if result.name else f"-p {result.prefix}"
        out(f"or: conda torch shell {flag}    |    conda torch run {flag} -- python ...")
        return
    out()  # a blank line after the progress (stdout); the error's own line comes first
    print(f"conda torch create {result.status}: {result.error}", file=sys.stderr)
    for hint in result.hints:
        print(f"Hint: {hint}", file=sys.stderr)
    if result.backup_left:
        print(f"The old environment is at {result.backup_left}.", file=sys.stderr)
