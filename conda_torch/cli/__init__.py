"""The ``conda torch`` command line: argument parsing only; logic lives in the library.

The same parser serves ``conda torch`` (conda calls :func:`configure_parser` and
:func:`execute`) and the stand-alone ``conda-torch`` / ``python -m conda_torch``
(:func:`main`). Subcommand modules are imported here, at parser-configuration time, and must
import nothing heavy at their top: their ``execute`` functions import the library.
"""

from __future__ import annotations

import importlib
import sys

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

#: (subcommand, module under conda_torch.cli) in the order ``--help`` lists them.
SUBCOMMANDS: tuple[tuple[str, str], ...] = (
    ("detect", "main_detect"),
    ("matrix", "main_matrix"),
    ("generate", "main_generate"),
    ("create", "main_create"),
    ("validate", "main_validate"),
    ("shell", "main_shell"),
    ("run", "main_run"),
    ("doctor", "main_doctor"),
    ("recreate", "main_recreate"),
)


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
    sub = parser.add_subparsers(dest="torch_command", metavar="COMMAND", title="commands")
    for name, module in SUBCOMMANDS:
        if only is not None and only != name:
            continue
        mod = importlib.import_module(f"{__name__}.{module}")
        p = sub.add_parser(name, help=mod.HELP, description=mod.DESCRIPTION)
        mod.configure_parser(p)
        p.set_defaults(_execute=f"{__name__}.{module}")
    parser.set_defaults(_parser=parser)


def execute(args: argparse.Namespace) -> int:
    """Run the subcommand; an operating-system error nothing else caught becomes one line that
    names the path (never conda's error report)."""
    target = getattr(args, "_execute", None)
    if target is None:
        args._parser.print_help()
        return 0
    try:
        return int(importlib.import_module(target).execute(args) or 0)
    except BrokenPipeError:
        raise
    except OSError as exc:
        from ..exceptions import CondaTorchError, os_error_line

        raise CondaTorchError(
            os_error_line(exc), hints=["Nothing was changed by the step that failed."]
        ) from None


def main(argv: Sequence[str] | None = None) -> int:
    """The stand-alone CLI: errors become one line on stderr and a non-zero exit.

    The cyclic garbage collector is off while it runs (and restored after): one command per
    process, whose start-up (imports, dataclass creation) would otherwise pay for collections
    that walk every object loaded so far and find nothing to free (DESIGN.md, "Start-up time").
    """
    import gc

    _dataclasses_without_inspect()
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _main(argv)
    finally:
        if collecting:
            gc.enable()


def _dataclasses_without_inspect() -> None:
    """Import :mod:`dataclasses` with its ``inspect`` deferred to first use.

    ``dataclasses`` imports ``inspect`` (and with it ``ast``, ``dis``, ``tokenize``: most of a
    bare Python's start-up again) for one call, ``inspect.signature``, that writes a docstring
    for a dataclass that has none. Every dataclass here has one (a test says so). So while
    ``dataclasses`` is imported, ``inspect`` is a stand-in module that imports the real one
    when an attribute is first asked of it; right after, the stand-in leaves ``sys.modules``,
    and every other ``import inspect`` gets the real module (DESIGN.md, "Start-up time").
    """
    if "dataclasses" in sys.modules or "inspect" in sys.modules:
        return
    import types

    class Inspect(types.ModuleType):
        def __getattr__(self, attr: str) -> object:
            import importlib

            if sys.modules.get("inspect") is self:  # asked while dataclasses is importing
                del sys.modules["inspect"]
            return getattr(importlib.import_module("inspect"), attr)

    stand_in = Inspect("inspect")
    sys.modules["inspect"] = stand_in
    try:
        import dataclasses  # noqa: F401
    finally:
        if sys.modules.get("inspect") is stand_in:
            del sys.modules["inspect"]


def _main(argv: Sequence[str] | None) -> int:
    import argparse

    from ..exceptions import CondaTorchError

    parser = argparse.ArgumentParser(prog="conda-torch")
    words = list(sys.argv[1:] if argv is None else argv)
    named = {name for name, _ in SUBCOMMANDS}
    configure_parser(parser, only=words[0] if words and words[0] in named else None)
    args = parser.parse_args(words)
    try:
        return execute(args)
    except CondaTorchError as exc:
        if getattr(args, "json", False):
            import json

            print(json.dumps(exc.to_json(), indent=2))
        print(f"\n{type(exc).__name__}: {exc}", file=sys.stderr)
        return exc.return_code if isinstance(exc.return_code, int) else 1
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # stdout closed early (`| head`); Python docs, "Note on SIGPIPE"
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
