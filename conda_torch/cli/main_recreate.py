"""``conda torch recreate``: rebuild an environment beside the old one, swap only when proven."""

from __future__ import annotations

import sys

from ._render import print_validation, show_step

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    import argparse

    from ..recreate import RecreatePlan, RecreateResult

HELP = "Rebuild a broken environment; the old one is kept until the new one validates."

DESCRIPTION = """\
Rebuild an environment from an environment file (-f FILE), from what conda-torch recorded
when it created it (its provenance), or planned anew for this machine (--regenerate, with
generate's options). For an environment conda-torch did not make, what you asked for is
reconstructed from conda's history of explicit requests and pip's list, so your other packages
come back; the torch stack is planned for this machine.

The old environment is moved aside, the new one is built at its path, validated, and only then
is the old one deleted (--keep-backup keeps it as NAME.conda-torch-backup). Any failure, a
validation failure or an interruption removes the new one and puts the old one back.
--dry-run shows what would change in the torch stack and the file, and changes nothing.

Examples:
  conda torch recreate -n ml --dry-run
  conda torch recreate -n ml -y
  conda torch recreate -n ml --regenerate --torch 2.9
  conda torch recreate -p ./envs/ml -f environment.yml --keep-backup
"""


def configure_parser(parser: argparse.ArgumentParser) -> None:
    from ._options import (
        add_machine_options,
        add_output_and_prompt_options,
        add_plan_options,
        add_timeout_option,
    )

    target = parser.add_mutually_exclusive_group()
    target.add_argument("-n", "--name", help="Name of the conda environment to rebuild.")
    target.add_argument(
        "-p", "--prefix", metavar="PATH", help="Path of the conda environment to rebuild."
    )
    parser.add_argument(
        "-f",
        "--file",
        dest="from_file",
        metavar="FILE",
        help="Rebuild from this environment file, exactly as written.",
    )
    parser.add_argument(
        "--regenerate",
        action="store_true",
        help="Plan the torch stack anew for this machine (generate's options apply).",
    )
    plan = parser.add_argument_group("with --regenerate (as in `conda torch generate`)")
    add_plan_options(plan)
    add_machine_options(plan)
    parser.add_argument(
        "--keep-backup",
        action="store_true",
        help="Keep the old environment as NAME.conda-torch-backup beside the new one.",
    )
    add_timeout_option(parser)
    # --json, -d/--dry-run, -y/--yes as conda declares them (conda's own, where it imports)
    add_output_and_prompt_options(parser)


def execute(args: argparse.Namespace) -> int:
    import json

    from ..conda_cli import find_conda
    from ..environments import resolve_target
    from ..exceptions import CondaTorchValueError
    from ..recreate import check_conda, plan_recreate, recreate

    if args.name is None and args.prefix is None:
        raise CondaTorchValueError(
            "which environment? none given", hints=["Pass -n NAME or -p PREFIX."]
        )
    conda = None
    if args.name is not None:
        target = resolve_target(name=args.name, conda_only=True)
        prefix, name = str(target.prefix), target.name
    else:
        import os

        from ..recreate import check_target

        prefix, name = os.path.abspath(os.path.expanduser(args.prefix)), None
        check_target(prefix)
    if not args.dry_run:
        conda = conda or find_conda()
        check_conda(conda)
    from .. import settings

    machine = None
    if args.machine or args.from_files:
        if args.from_file:
            raise CondaTorchValueError(
                "-f FILE is rebuilt as written; --machine and --from describe a machine for a "
                "new plan",
                hints=["Drop -f to plan anew for that machine, or drop --machine/--from."],
            )
        from ._options import machine_from_args

        machine = machine_from_args(args)
    rplan = plan_recreate(
        prefix=prefix, name=name, from_file=args.from_file, regenerate=args.regenerate,
        machine=machine, torch=args.torch, python=args.python, backend=args.backend,
        source=args.source, keep_backup=args.keep_backup, without=tuple(args.without or ()),
        default_python=settings.default_python(), default_backend=settings.default_backend(),
        default_source=settings.default_source(),
    )  # fmt: skip
    if not args.json:
        _print_plan(rplan, dry_run=args.dry_run)
    if args.dry_run:
        result = recreate(rplan, dry_run=True)
        if args.json:
            print(json.dumps(result.to_json(), indent=2))
        else:
            print("Dry run: nothing was changed.")
        return 0
    if not (args.yes or args.json):
        if not sys.stdin.isatty() or not _confirm(rplan):
            print(
                "Cancelled; nothing was changed."
                if sys.stdin.isatty()
                else "Not confirmed (no terminal to ask); nothing was changed. Pass -y.",
                file=sys.stderr,
            )
            return 1
    from ..create import default_validator

    result = recreate(
        rplan, conda=conda, json_output=args.json, progress=None if args.json else show_step,
        validator=default_validator(args.timeout),
    )  # fmt: skip
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        _print_result(result)
    return result.exit_code


def _confirm(rplan: RecreatePlan) -> bool:
    try:
        answer = input(f"Rebuild {rplan.label} at {rplan.prefix}? ([y]/n) ").strip().lower()
    except EOFError:
        return False
    return answer in ("", "y", "yes")


def _print_plan(rplan: RecreatePlan, *, dry_run: bool) -> None:
    origins = {
        "file": "the file given with -f",
        "provenance": "its provenance (the file conda-torch created it from)",
        "regenerate": "a new plan for this machine",
        "history": "conda's history of your requests and pip's list, with a new torch plan",
    }
    print(
        f"Recreate {rplan.label}"
        + (f" ({rplan.prefix})" if rplan.name else "")
        + f" from {origins.get(rplan.origin, rplan.origin)}"
    )
    for line in rplan.change_lines():
        print(f"  {line}")
    print(
        "  old environment: "
        + (
            f"kept at {rplan.keep_backup}"
            if rplan.keep_backup
            else "deleted once the new one validates"
        )
    )
    for note in rplan.notes:
        print(f"  note: {note}")
    if dry_run:
        print("\nEnvironment file:\n")
        sys.stdout.write(rplan.environment_file)
        if not rplan.environment_file.endswith("\n"):
            print()
        print()


def _print_result(result: RecreateResult) -> None:
    r = result.result
    assert r is not None
    if r.validation and r.status in ("created", "invalid"):
        print("Validation:")
        print_validation(dict(r.validation))
    for note in r.notes:
        print(f"Note: {note}")
    if r.ok:
        print(
            f"\nDone: {result.plan.label} rebuilt in {r.seconds:.1f} s."
            + (f" The old environment is at {result.kept}." if result.kept else "")
        )
        return
    print(flush=True)  # a blank line after the progress (stdout); the error's line comes first
    print(f"conda torch recreate {r.status}: {r.error}", file=sys.stderr)
    for hint in r.hints:
        print(f"Hint: {hint}", file=sys.stderr)
    if r.backup_left:
        print(f"The old environment is at {r.backup_left}.", file=sys.stderr)
