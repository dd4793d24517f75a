"""Console output shared by the subcommands: step lines, the validation table, wrapped text.

Public on purpose: ``create``, ``recreate`` and the health check's fixer (:mod:`conda_torch.health`)
print a running flow the same way, so they share these helpers instead of importing one
another's private functions. The library never prints; these take its values
(:class:`conda_torch.create.Step`, a validation report's JSON) and write them to stdout.
"""

from __future__ import annotations

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from ..create import Step

#: How a check's status reads in the validation table.
MARK = {"pass": "pass", "warn": "warn", "fail": "FAIL"}

#: Width of wrapped console text.
WIDTH = 94


def out(line: str = "") -> None:
    """One line on stdout, flushed (conda's own output interleaves with ours)."""
    print(line, flush=True)


def show_step(step: Step) -> None:
    """A step of a create/recreate flow as it starts and ends (``Conda: ... (12.3 s)``)."""
    took = f" ({step.seconds:.1f} s)" if step.seconds is not None and step.seconds >= 0.05 else ""
    if step.status == "start":
        if step.name == "conda":
            out(f"Running: {step.message}")
        else:
            out(f"{step.name.capitalize()}: {step.message} ...")
    elif step.status == "skipped":
        out(f"{step.name.capitalize()}: skipped: {step.message}")
    elif step.status == "failed":
        out(f"{step.name.capitalize()} failed: {step.message}{took}")
    elif step.name in ("plan",):
        return
    else:
        out(f"{step.name.capitalize()}: {step.message}{took}")


def print_validation(validation: Mapping[str, Any]) -> None:
    """A validation report's checks as a table: mark, id, message (and the fix where one failed)."""
    checks = validation.get("checks") or []
    width = max((len(str(c.get("id", ""))) for c in checks), default=10)
    for c in checks:
        status = str(c.get("status"))
        out(f"  {MARK.get(status, status)}  {c.get('id', ''):<{width}}  {c.get('message', '')}")
        if c.get("fix") and status != "pass":
            out(f"  {'':4}  {'':<{width}}  fix: {c['fix']}")


def wrap(text: str, indent: str, first: str | None = None, width: int = WIDTH) -> list[str]:
    """``text`` wrapped at ``width``, words whole; ``first`` indents the first line (default
    ``indent``). An empty text is one line of ``indent``."""
    import textwrap  # here: most commands print nothing wrapped (start-up, DESIGN.md)

    return textwrap.wrap(
        text,
        width,
        initial_indent=first if first is not None else indent,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [indent]
