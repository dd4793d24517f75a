"""The ``conda torch`` command line: argument parsing only; logic lives in the library.

The same parser serves ``conda torch`` (conda calls :func:`configure_parser` and
:func:`execute`) and the stand-alone ``conda-torch`` / ``python -m conda_torch``
(:func:`main`). Subcommand modules are imported here, at parser-configuration time, by plain
import statements (:func:`_subcommand`; no module names as strings), and must import nothing
heavy at their top: their ``execute`` functions import the library. Each subcommand's parser
carries its ``execute`` (``set_defaults``), which :func:`execute` calls.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from types import ModuleType

#: The subcommands, in the order ``--help`` lists them (:func:`_subcommand` imports each).
SUBCOMMANDS: tuple[str, ...] = (
    "detect", "matrix", "generate", "create", "validate", "shell", "run", "doctor", "recreate",
)  # fmt: skip


def _subcommand(name: str) -> ModuleType:
    """The module of subcommand ``name`` (``conda_torch.cli.main_<name>``), imported only when
    its parser is built."""
    if name == "detect":
        from . import main_detect as module
    elif name == "matrix":
        from . import main_matrix as module
    elif name == "generate":
        from . import main_generate as module
    elif name == "create":
        from . import main_create as module
    elif name == "validate":
        from . import main_validate as module
    elif name == "shell":
        from . import main_shell as module
    elif name == "run":
        from . import main_run as module
    elif name == "doctor":
        from . import main_doctor as module
    elif name == "recreate":
        from . import main_recreate as module
    else:
        raise ValueError(f"no subcommand {name!r}")
    return module


def configure_parser(parser: argparse.ArgumentParser, *, only: str | None = None) -> None:
    """Every subcommand; with ``only``, that one alone (the stand-alone CLI parses one command
    per process, named first: the others' parsers would never be read, and each costs
    milliseconds to build)."""
    from .. import __version__

    parser.description = (
        "Create PyTorch environments whose torch, torchvision and torchaudio match each other, "
        "the Python, the platform, the NVIDIA driver and the GPU, and prove they work."
    )
    parser.add_argument("-V", "--version", action="version", version=f"conda-torch {__version__}")
    sub = parser.add_subparsers(
        dest="torch_command",
        metavar="COMMAND",
        title="commands",
        parser_class=_command_parser_class(type(parser)),
    )
    for name in SUBCOMMANDS:
        if only is not None and only != name:
            continue
        mod = _subcommand(name)
        p = sub.add_parser(
            name, help=mod.HELP, description=mod.DESCRIPTION, formatter_class=help_formatter()
        )
        mod.configure_parser(p)
        p.set_defaults(_execute=mod.execute)
    parser.set_defaults(_parser=parser)


def _command_parser_class(base: type) -> type:
    """The class of each subcommand's parser: ``base`` (argparse's, or conda's own), whose
    errors name that subcommand and show its usage, the error first.

    Arguments a subcommand does not know are its error, not the top-level parser's (argparse
    leaves them to the parser that started, which prints ``conda-torch``'s usage, or
    ``conda``'s inside conda).
    """
    import argparse

    class CommandParser(base):  # type: ignore[misc, valid-type]
        def parse_known_args(self, args=None, namespace=None):  # type: ignore[no-untyped-def]
            parsed, extras = super().parse_known_args(args, namespace)
            if extras:
                self.error(f"unrecognized arguments: {' '.join(extras)}")
            return parsed, extras

        def error(self, message: str):  # type: ignore[no-untyped-def]
            # the error on the first line, then this subcommand's usage; exit 2 as argparse
            self.exit(2, f"{self.prog}: error: {message}\n{self.format_usage()}")

    CommandParser.__name__ = f"Command{base.__name__}"
    assert issubclass(CommandParser, argparse.ArgumentParser)
    return CommandParser


_FORMATTER: list[type] = []


def help_formatter() -> type:
    """argparse's formatter, except that in a description or epilog an indented line (an
    example, a list) prints as written; the other lines are wrapped as argparse wraps them.

    One class for every subcommand, standalone and inside conda (whose parsers otherwise
    print descriptions raw, unwrapped).
    """
    if _FORMATTER:
        return _FORMATTER[0]
    import argparse

    class HelpFormatter(argparse.HelpFormatter):
        def __init__(
            self,
            prog: str,
            indent_increment: int = 2,
            max_help_position: int = 24,
            width: int | None = None,
        ) -> None:
            # argparse makes a formatter for every add_argument (to check its metavar), and
            # with width None each imports shutil (with bz2, lzma, fnmatch: milliseconds) for
            # the terminal's width; this is the same width (shutil.get_terminal_size) without it
            if width is None:
                width = _terminal_columns() - 2
            super().__init__(prog, indent_increment, max_help_position, width)

        def _fill_text(self, text: str, width: int, indent: str) -> str:
            import textwrap

            out: list[str] = []
            for para in textwrap.dedent(text).strip("\n").split("\n\n"):
                lines: list[str] = []
                words: list[str] = []
                for line in para.splitlines():
                    if line[:1].isspace():
                        if words:
                            lines.append(super()._fill_text(" ".join(words), width, indent))
                            words = []
                        lines.append(indent + line.rstrip())
                    else:
                        words.append(line.strip())
                if words:
                    lines.append(super()._fill_text(" ".join(words), width, indent))
                out.append("\n".join(lines))
            return "\n\n".join(out)

    _FORMATTER.append(HelpFormatter)
    return HelpFormatter


def _terminal_columns() -> int:
    """``shutil.get_terminal_size().columns``: ``COLUMNS`` when a positive number, else the
    width of the terminal on standard output, else 80."""
    import os

    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            out = sys.__stdout__.fileno()  # type: ignore[union-attr]
            columns = os.get_terminal_size(out).columns
        except (AttributeError, ValueError, OSError):
            columns = 80
        columns = columns or 80
    return columns


def execute(args: argparse.Namespace) -> int:
    """Run the subcommand (conda's ``action``, and :func:`main`'s): an error conda-torch raises
    becomes its line and hints on stderr (the error first, no blank line before it; with
    ``--json`` the error document on stdout too) and the exit status, the same inside conda
    as stand-alone; an operating-system error nothing else caught becomes one line naming the
    path (never conda's error report)."""
    run = getattr(args, "_execute", None)
    if run is None:
        args._parser.print_help()
        return 0
    from ..exceptions import CondaTorchError

    try:
        try:
            return int(run(args) or 0)
        except BrokenPipeError:
            raise
        except OSError as exc:
            from ..exceptions import os_error_line

            raise CondaTorchError(
                os_error_line(exc), hints=["Nothing was changed by the step that failed."]
            ) from None
    except CondaTorchError as exc:
        exc = _for_this_command(exc, args)
        if getattr(args, "json", False):
            import json

            print(json.dumps(exc.to_json(), indent=2))
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return exc.return_code if isinstance(exc.return_code, int) else 1


def _for_this_command(exc: Exception, args: argparse.Namespace) -> Exception:
    """``exc`` with the hints that name this command's own flags, only where the command has
    them and they were not given: ``--frontend`` and "--dry-run works without conda" (where
    the command's module says its dry run needs none) when no conda is found."""
    from ..exceptions import CondaNotFoundError

    if not isinstance(exc, CondaNotFoundError):
        return exc
    hints = list(exc.hints)
    if getattr(args, "frontend", None) == "conda":
        hints.append("Or use --frontend mamba|micromamba.")
    module = sys.modules.get(getattr(getattr(args, "_execute", None), "__module__", ""))
    if getattr(module, "DRY_RUN_WITHOUT_CONDA", False) and getattr(args, "dry_run", None) is False:
        hints.append("--dry-run works without conda.")
    return CondaNotFoundError(exc.line, hints=hints) if hints != exc.hints else exc


def main(argv: Sequence[str] | None = None) -> int:
    """The stand-alone CLI: errors become one line on stderr and a non-zero exit.

    The cyclic garbage collector is off while it runs (and restored after): one command per
    process, whose start-up (imports, value classes) would otherwise pay for collections
    that walk every object loaded so far and find nothing to free. Run as the process's
    command (``argv`` None: the console script, ``python -m conda_torch``), what it loaded is
    frozen after it (:func:`gc.freeze`), so that the collection at the interpreter's exit does
    not walk it all once more: the process ends next (DESIGN.md, "Start-up time").
    """
    import gc

    collecting = gc.isenabled()
    gc.disable()
    try:
        return _main(argv)
    finally:
        if argv is None:
            gc.freeze()
        if collecting:
            gc.enable()


def _main(argv: Sequence[str] | None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="conda-torch", formatter_class=help_formatter())
    words = list(sys.argv[1:] if argv is None else argv)
    configure_parser(parser, only=words[0] if words and words[0] in SUBCOMMANDS else None)
    args = parser.parse_args(words)
    try:
        return execute(args)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # stdout closed early (`| head`); Python docs, "Note on SIGPIPE"
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
