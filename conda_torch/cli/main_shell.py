"""``conda torch shell``: start a shell with an environment activated."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    import argparse

HELP = "Start a shell with an environment activated (conda-spawn when installed)."

DESCRIPTION = """\
A child process cannot activate the shell that started it, so this starts a new shell with
the environment activated; `exit` returns to the old one.

With the conda-spawn plugin installed this is `conda spawn PREFIX`. Otherwise your $SHELL
(or --shell) starts with conda's own activation script (`conda shell.<shell> activate`) run
after your startup files, so the environment stays active even when they activate base.

Examples:
  conda torch shell -n ml
  conda torch shell -p ./env --shell bash
"""


def configure_parser(parser: argparse.ArgumentParser) -> None:
    from ..constants import FRONTENDS
    from ._options import add_target_options


    add_target_options(parser)
    parser.add_argument(
        "--shell", metavar="SHELL", help="Shell to start (default: $SHELL; implies no conda-spawn)."
    )
    parser.add_argument(
        "--no-spawn", action="store_true", help="Do not use conda-spawn even when it is installed."
    )
    parser.add_argument(
        "--frontend",
        choices=FRONTENDS,
        default="conda",
        help="Which program looks up names and activates (default: conda).",
    )


def execute(args: argparse.Namespace) -> int:
    from ..activation import shell_launch, start
    from ._options import environment_from_args

    conda, prefix, name = environment_from_args(args)
    # mamba/micromamba activators differ from conda's; the direct activation covers them
    activator = conda if conda is not None and conda.frontend == "conda" else None
    launch = shell_launch(
        prefix, name=name, conda=activator, shell=args.shell, spawn=False if args.no_spawn else None
    )
    print(f"Entering {name or prefix} ({launch.how}); `exit` to leave.", file=sys.stderr)
    for note in launch.notes:
        print(f"Note: {note}", file=sys.stderr)
    rc = start(launch)
    return 128 - rc if rc < 0 else rc
