"""Options several subcommands share, declared once (generate, create, recreate, matrix, doctor,
shell, run)."""

from __future__ import annotations

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    import argparse

    from ..conda_cli import Conda
    from ..machine import Machine


_ONCE: list[type] = []


def once() -> type:
    """The action of an option that takes one value: given twice with different values it is
    refused (``--torch 2.3 --torch 2.9``), never the last one silently."""
    if _ONCE:
        return _ONCE[0]
    import argparse

    class Once(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None):  # type: ignore[no-untyped-def]
            before = getattr(namespace, self.dest, None)
            if before is not None and before != self.default and before != values:
                parser.error(f"{option_string} given twice ({before}, then {values}); pass one")
            setattr(namespace, self.dest, values)

    _ONCE.append(Once)
    return Once


def add_plan_options(group: argparse._ActionsContainer) -> None:
    """``--torch``, ``--python``, ``--backend``, ``--source``: what to plan for."""
    from ..constants import BACKEND_WORDS, COMPANIONS, SOURCES

    group.add_argument(
        "--torch",
        action=once(),
        metavar="SPEC",
        help="torch release: 2.9, 2.9.1, '>=2.6' (default: newest that fits).",
    )
    group.add_argument(
        "--python",
        action=once(),
        metavar="X.Y",
        help="Python version (default: newest the release supports, up to 3.13).",
    )
    group.add_argument(
        "--backend",
        action=once(),
        metavar="BACKEND",
        help=f"{BACKEND_WORDS} (default: plugins.torch_backend, else auto).",
    )
    group.add_argument(
        "--without",
        action="append",
        choices=COMPANIONS,
        metavar="PACKAGE",
        help="Leave torchvision or torchaudio out of the stack (repeatable); a newer torch "
        "may then fit.",
    )
    group.add_argument(
        "--source",
        action=once(),
        choices=SOURCES,
        help="Where torch comes from (default: plugins.torch_source, else conda-forge "
        "falling back to pip).",
    )


def add_timeout_option(
    parser: argparse._ActionsContainer,
    *,
    what: str = "the environment's Python (and all it started)",
) -> None:
    """``--timeout SECONDS``: how long ``what`` may take before it is stopped."""
    from ..constants import PROBE_TIMEOUT_S

    def seconds(text: str) -> float:
        import argparse as _argparse

        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not value > 0:
            raise _argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
        return value

    parser.add_argument(
        "--timeout",
        type=seconds,
        metavar="SECONDS",
        help=f"Stop {what} after this long (default: {PROBE_TIMEOUT_S:.0f}).",
    )


def add_via_option(parser: argparse._ActionsContainer) -> None:
    """``--via LAUNCHER`` (repeatable): run the probe on the node a launcher reaches."""
    parser.add_argument(
        "--via",
        action="append",
        metavar="LAUNCHER",
        help="Run the probe on the node this command prefix reaches (srun -N1, ssh HOST, "
        "...), with the environment's Python there; repeat for each node type.",
    )


def add_from_option(group: argparse._ActionsContainer, *, help: str) -> None:
    """``--from FILE [FILE ...]``, repeatable (``--from a b --from c``): captured outputs, one
    spelling for every command that reads them (detect, matrix, generate, create, recreate,
    doctor)."""
    group.add_argument(
        "--from",
        dest="from_files",
        action="extend",
        nargs="+",
        metavar="FILE",
        help=help + ". One or more files, --from repeatable; '-' reads standard input.",
    )


def add_machine_options(group: argparse._ActionsContainer, *, what: str = "Plan for") -> None:
    """``--machine FILE`` or ``--from FILE...``: describe another machine than this one."""
    exclusive = group.add_mutually_exclusive_group()
    exclusive.add_argument(
        "--machine",
        metavar="FILE",
        help=f"{what} a machine described by `conda torch detect --json`.",
    )
    add_from_option(
        exclusive,
        help=f"{what} the machine these captured outputs describe (nvidia-smi, conda info...)",
    )


def add_node_options(group: argparse._ActionsContainer, *, split: bool = False) -> None:
    """``--node [NAME=]FILE`` (repeatable), and ``--split``: plan for a cluster's node types."""
    group.add_argument(
        "--node",
        action="append",
        metavar="[NAME=]FILE",
        help="Plan one environment for several machines (repeatable, one per node type): a "
        "`conda torch detect --json` file (e.g. from `detect --via`), a captured output, or a "
        "folder of one node's captures; NAME labels it (default: the file's name).",
    )
    if split:
        group.add_argument(
            "--split",
            action="store_true",
            help="With --node: when no one build serves every node type, one file per group "
            "(into -o DIR).",
        )


def check_node_args(args: argparse.Namespace) -> None:
    """``--node`` describes the machines: ``--machine``/``--from`` would describe another."""
    from ..exceptions import CondaTorchValueError

    if not getattr(args, "node", None):
        if getattr(args, "split", False):
            raise CondaTorchValueError(
                "--split needs --node", hints=["Pass --node FILE, repeated."]
            )
        return
    other = [
        flag
        for flag, value in (
            ("--machine", getattr(args, "machine", None)),
            ("--from", getattr(args, "from_files", None)),
        )
        if value
    ]
    if other:
        raise CondaTorchValueError(
            f"--node describes the machines; {' and '.join(other)} would describe another",
            hints=["Pass a detect --json file or a capture as --node FILE instead."],
        )


def apply_settings(args: argparse.Namespace) -> None:
    """Fill ``--backend``/``--source`` left out on the command line from the settings, and
    ``args.default_python`` from conda's configured ``default_python``."""
    from .. import settings

    args.default_python = settings.default_python()
    if getattr(args, "backend", None) in (None, ""):
        args.backend = settings.default_backend()
    if getattr(args, "source", None) is None:
        args.source = settings.default_source()


def machine_from_args(args: argparse.Namespace) -> Machine:
    """The machine the command is about: ``--machine``, ``--from``, or this one, live."""
    from ..detect import detect, load_machine

    if getattr(args, "machine", None):
        return load_machine(args.machine)
    return detect(from_files=list(getattr(args, "from_files", None) or ()))


def add_target_options(
    parser: argparse.ArgumentParser, *, what: str = "environment", python: bool = False
) -> argparse._MutuallyExclusiveGroup:
    """``-n NAME | -p PREFIX`` (and ``--python PATH``): the environment a command works on."""
    target = parser.add_mutually_exclusive_group()
    target.add_argument("-n", "--name", help=f"Name of the {what}.")
    if python:
        target.add_argument(
            "-p", "--prefix", metavar="PATH", help="Path of the environment (conda or venv)."
        )
        target.add_argument(
            "--python", metavar="PATH", help="Any Python interpreter (path or name on PATH)."
        )
    else:
        target.add_argument("-p", "--prefix", metavar="PATH", help=f"Path of the {what}.")
    return target


def environment_from_args(
    args: argparse.Namespace, *, conda_needed: bool = False
) -> tuple[Conda | None, str, str | None]:
    """The environment ``-n``/``-p`` names: (the conda of ``--frontend``, prefix, name).

    A name needs conda to look it up; a path does not, so where no conda is found (and the
    caller does not need one) a ``-p`` environment comes with conda None.
    """
    from ..conda_cli import find_conda
    from ..environments import resolve_target
    from ..exceptions import CondaTorchError, CondaTorchValueError

    if not args.name and not args.prefix:
        raise CondaTorchValueError(
            "which environment? none given", hints=["Pass -n NAME or -p PREFIX."]
        )
    conda: Conda | None
    try:
        conda = find_conda(args.frontend)
    except CondaTorchError:
        conda = None
    # the one resolver: the name rule first, then the lookup (which needs conda)
    target = resolve_target(
        name=args.name, prefix=args.prefix, conda=conda, frontend=args.frontend, conda_only=True
    )
    if conda is None and conda_needed:
        conda = find_conda(args.frontend)
    return conda, str(target.prefix), target.name


def add_output_and_prompt_options(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """``--json``, ``-d/--dry-run``, ``-y/--yes`` (and conda's ``-q``, ``-v``, ``--console``):
    conda's own declarations where conda is importable, else the same flags declared alike.

    conda's defaults are its ``NULL`` (false, like ``store_true``'s False), so callers test
    ``if args.json`` either way.
    """
    import importlib.util

    if importlib.util.find_spec("conda") is not None:
        try:
            from conda.cli.helpers import (  # type: ignore[import-not-found]
                add_output_and_prompt_options as conda_declares,
            )
        except ImportError:  # a conda older than its helpers module (conda < 23.9)
            pass
        else:
            return conda_declares(parser)
    return declare_output_and_prompt_options(parser)


def declare_output_and_prompt_options(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """The flags of :func:`add_output_and_prompt_options` declared without conda (no
    ``--console``: conda's reporter backends do not exist here)."""
    group = parser.add_argument_group("Output, Prompt, and Flow Control Options")
    group.add_argument(
        "--json",
        action="store_true",
        help="Report all output as json. Suitable for using conda programmatically.",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        dest="verbosity",
        help="Can be used multiple times. Once for detailed output, twice for INFO logging, "
        "thrice for DEBUG logging, four times for TRACE logging.",
    )
    group.add_argument("-q", "--quiet", action="store_true", help="Do not display progress bar.")
    group.add_argument(
        "-d", "--dry-run", action="store_true", help="Only display what would have been done."
    )
    group.add_argument(
        "-y",
        "--yes",
        action="store_true",
        help="Sets any confirmation values to 'yes' automatically. Users will not be asked to "
        "confirm any adding, deleting, backups, etc.",
    )
    return group
