"""``conda doctor`` integration: conda-torch's diagnosis as a conda health check.

conda's health checks print their own lines (``✅``/``❌``, as conda's ``missing-files`` check
does) and return nothing; fixers (conda 26.1+) get ``(prefix, args, confirm)``, call
``confirm(message)`` before changing anything (it raises when the user declines or in
``--dry-run``) and return an exit code. These two adapters are the only library functions
that print, because that is the contract conda gives them (docs/conda-notes.md 4).
"""

from __future__ import annotations

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from argparse import Namespace
    from collections.abc import Callable
    from typing import Final

    from .doctor import Diagnosis

#: The check's name in ``conda doctor --list`` (and ``conda doctor NAME``).
NAME: Final = "torch-stack"
SUMMARY: Final = (
    "Check the PyTorch stack: imports, pairing, builds, channels, shadowing, drift (conda-torch)"
)
FIX: Final = (
    "Rebuild the environment with `conda torch recreate` "
    "(the old one is kept until the new one validates)"
)

#: Findings a rebuild does not fix: they are outside the environment or need the user's decision.
OUTSIDE: Final = frozenset({
    "pythonpath-shadow", "user-site-shadow", "validate.shadowing", "interrupted-replace",
    "provenance-unreadable", "not-an-environment",
})  # fmt: skip

#: conda's marks (``conda.base.constants.OK_MARK``/``X_MARK``), repeated so that this module
#: imports nothing from conda.
OK_MARK: Final = "✅"
X_MARK: Final = "❌"


def _diagnose(prefix: str) -> Diagnosis:
    from .doctor import diagnose

    return diagnose(prefix=prefix)


def check(prefix: str, verbose: bool) -> None:
    """The health check action: print one ✅ line, or ❌ and each problem with its fix."""
    from .exceptions import CondaTorchError

    try:
        d = _diagnose(prefix)
    except CondaTorchError as exc:
        print(f"{X_MARK} PyTorch stack not checked: {exc.line}\n")
        return
    print(render(d, verbose=verbose))


def render(d: Diagnosis, *, verbose: bool = False) -> str:
    errors = d.by_severity("error")
    warnings = d.by_severity("warning")
    lines: list[str] = []
    if not d.has_torch:
        lines.append(
            f"{OK_MARK} No PyTorch stack in this environment (nothing for conda-torch to check)."
        )
    elif not errors:
        torch = _torch_words(d)
        extra = f" ({len(warnings)} warnings)" if warnings else ""
        lines.append(f"{OK_MARK} The PyTorch stack works{torch}{extra}.")
    else:
        lines.append(
            f"{X_MARK} PyTorch stack: {len(errors)} problem{'s' if len(errors) != 1 else ''}:"
        )
        lines.append("")
    shown = [
        *errors,
        *(warnings if verbose or errors else ()),
        *(d.by_severity("info") if verbose else ()),
    ]
    for f in shown:
        lines.append(f"  {f.severity}: {f.id}: {f.message}")
        if verbose:
            lines.extend(f"      - {detail}" for detail in f.details)
        if f.fix:
            lines.append(f"      fix: {f.fix}")
    if errors:
        lines.append("")
        lines.append(f"  Run `conda doctor --fix {NAME}` (or the fixes above) to repair it.")
    return "\n".join(lines) + "\n"


def _torch_words(d: Diagnosis) -> str:
    facts = getattr(d.report, "facts", None) or {}
    torch = facts.get("torch") or {}
    if not torch.get("version"):
        return ""
    build = (
        "CUDA " + str(torch["cuda"])
        if torch.get("cuda")
        else ("ROCm" if torch.get("hip") else "CPU")
    )
    return f" (torch {torch['version']}, {build})"


def fix(prefix: str, args: Namespace, confirm: Callable[[str], object]) -> int:
    """The fixer: rebuild the environment with ``recreate`` when that is what fixes it."""
    from .cli._render import show_step
    from .exceptions import CondaTorchError
    from .recreate import plan_recreate, recreate

    try:
        d = _diagnose(prefix)
    except CondaTorchError as exc:
        print(f"Cannot check the PyTorch stack: {exc.line}")
        return 1
    errors = d.by_severity("error")
    if not errors:
        print("No PyTorch stack problems to fix.")
        return 0
    # Rebuilding fixes what is inside the environment; not what is outside it (PYTHONPATH,
    # ~/.local) nor a backup left by a killed run (that needs a decision).
    by_hand = [f for f in errors if f.id in OUTSIDE]
    by_recreate = [f for f in errors if f.id not in OUTSIDE]
    for f in by_hand:
        print(f"Needs you: {f.id}: {f.message}" + (f"\n  fix: {f.fix}" if f.fix else ""))
    if not by_recreate:
        return 1
    regenerate = any("--regenerate" in (f.fix or "") for f in by_recreate)
    try:
        rplan = plan_recreate(prefix=prefix, regenerate=regenerate and _has_provenance(prefix))
    except CondaTorchError as exc:
        print(f"Cannot plan the rebuild: {exc.line}")
        for hint in exc.hints:
            print(f"Hint: {hint}")
        return 1
    print(f"Rebuilding {prefix} fixes: {', '.join(f.id for f in by_recreate)}")
    for line in rplan.change_lines():
        print(f"  {line}")
    confirm(f"Rebuild {prefix} (the old environment is kept until the new one validates)?")
    try:
        result = recreate(rplan, progress=show_step)
    except CondaTorchError as exc:
        print(f"Rebuild refused: {exc.line}")
        return 1
    r = result.result
    if result.ok:
        print(f"{OK_MARK} Rebuilt {prefix}.")
    elif r is not None:
        print(f"{X_MARK} Rebuild {r.status}: {r.error}")
    return result.exit_code if not by_hand else 1


def _has_provenance(prefix: str) -> bool:
    from .provenance import path_for

    return path_for(prefix).is_file()
