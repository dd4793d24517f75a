"""``conda torch run``: run one command inside an environment."""

from __future__ import annotations

import argparse

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Sequence

HELP = "Run one command inside an environment: conda torch run -n NAME -- CMD ARGS."

DESCRIPTION = """\
Run a command with an environment activated, and exit with the command's exit status.

The environment is activated directly (its folders first on PATH, CONDA_PREFIX and friends,
its `variables`), which costs no conda start-up. An environment whose packages ship
activation scripts (etc/conda/activate.d, e.g. compilers) is run through `conda run
--no-capture-output` instead, so those scripts run; --conda-run always does that.

Examples:
  conda torch run -n ml -- python -c "import torch; print(torch.cuda.is_available())"
  conda torch run -p ./env -- python train.py --epochs 3
"""


def configure_parser(parser: argparse.ArgumentParser) -> None:
    from ..constants import FRONTENDS
    from ._options import add_target_options


    add_target_options(parser)
    parser.add_argument(
        "--conda-run",
        action="store_true",
        help="Always go through `conda run` (runs activate.d scripts; slower).",
    )
    parser.add_argument(
        "--frontend",
        choices=FRONTENDS,
        default="conda",
        help="Which program looks up names and runs `run` (default: conda).",
    )
    parser.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        metavar="-- CMD [ARGS ...]",
        help="The command and its arguments, after --.",
    )


def command_of(argv: Sequence[str]) -> list[str]:
    """The command after the options (argparse keeps a leading ``--`` in REMAINDER)."""
    args = list(argv)
    if args and args[0] == "--":
        args = args[1:]
    return args


def execute(args: argparse.Namespace) -> int:
    from ..activation import run_launch, start
    from ..exceptions import CondaTorchValueError
    from ._options import environment_from_args

    command = command_of(args.command)
    if not command:
        raise CondaTorchValueError(
            "no command given", hints=["conda torch run -n NAME -- CMD ARGS"]
        )
    conda, prefix, name = environment_from_args(args, conda_needed=args.conda_run)
    launch = run_launch(prefix, command, name=name, conda=conda, use_conda_run=args.conda_run)
    rc = start(launch)
    return 128 - rc if rc < 0 else rc
