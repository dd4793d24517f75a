"""``conda torch doctor``: what is wrong with an environment's torch stack, and the fix."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from ..doctor import Diagnosis

HELP = "Diagnose an environment's torch stack: what is wrong, in plain words, and the fix."

DESCRIPTION = """\
Run validate's checks (a probe run by the environment's own Python) and the environment-level
ones: torch installed by both pip and conda; the stack mixed across channels (pytorch-channel
builds beside conda-forge ones, defaults beside conda-forge); a CPU build on a machine whose
GPU a build could use; a driver too old for the build's CUDA; a GPU architecture the build
lacks; ~/.local or PYTHONPATH shadowing the environment's torch; torchvision/torchaudio not
made for the installed torch; an environment that drifted from what conda-torch built.

Every finding has a stable id, a severity (error, warning, info), one line saying what is
wrong and the exact command that fixes it. Environments made by conda-torch or not.

Exit status: 0 when no finding is an error, 1 otherwise.

Examples:
  conda torch doctor -n ml
  conda torch doctor -p ./envs/ml --json
  conda torch doctor --python ./venv/bin/python
  conda torch doctor --all
"""

_MARK = {"error": "ERROR", "warning": "warn ", "info": "info "}


def configure_parser(parser: argparse.ArgumentParser) -> None:
    from ._options import add_target_options, add_timeout_option

    target = add_target_options(parser, what="conda environment", python=True)
    add_timeout_option(parser)
    target.add_argument("--all", action="store_true", help="Every conda environment conda knows.")
    parser.add_argument(
        "--machine",
        metavar="FILE",
        help="Judge GPU findings for a machine described by `conda torch detect --json`.",
    )
    parser.add_argument(
        "--no-probe",
        action="store_true",
        help="Read metadata only; do not run the environment's Python (fast, sees less).",
    )
    parser.add_argument("--json", action="store_true", help="Print the diagnosis as JSON.")


def execute(args: argparse.Namespace) -> int:
    import json

    from ..detect import load_machine
    from ..doctor import diagnose, diagnose_all
    from ..exceptions import CondaTorchValueError

    machine = load_machine(args.machine) if args.machine else None
    if args.all:
        from .. import conda as cd

        conda = cd.find_conda()
        envs = [(e.prefix, e.name) for e in cd.list_envs(conda)]
        results = diagnose_all(
            envs, machine=machine, run_probe=not args.no_probe, timeout=args.timeout
        )
        ok = all(d.ok for d in results)
        if args.json:
            print(
                json.dumps(
                    {"success": ok, "environments": [d.to_json() for d in results]}, indent=2
                )
            )
        else:
            for d in results:
                print(render(d, brief=True))
                print()
            bad = [d.label for d in results if not d.ok]
            print(
                f"{len(results)} environments, {len(bad)} with errors"
                + (f": {', '.join(bad)}" if bad else "")
            )
        return 0 if ok else 1
    if args.name is None and args.prefix is None and args.python is None:
        raise CondaTorchValueError(
            "which environment? none given",
            hints=["Pass -n NAME, -p PREFIX, --python PATH or --all."],
        )
    if args.python is not None:
        from ..envs import check_python

        d = diagnose(
            python=check_python(args.python), machine=machine, run_probe=not args.no_probe,
            timeout=args.timeout,
        )  # fmt: skip
    else:
        from ..envs import prefix_for_name

        prefix = prefix_for_name(args.name) if args.name is not None else args.prefix
        d = diagnose(
            prefix=prefix, name=args.name, machine=machine, run_probe=not args.no_probe,
            timeout=args.timeout,
        )  # fmt: skip
    if args.json:
        print(json.dumps(d.to_json(), indent=2))
    else:
        print(render(d))
    return 0 if d.ok else 1


def render(d: Diagnosis, *, brief: bool = False) -> str:
    """The human report: one line per finding (severity, id, message), its fix beneath."""
    where = f" ({d.prefix})" if d.name and d.prefix else ""
    lines = [f"Diagnosis of {d.label}{where}"]
    shown = [f for f in d.findings if not (brief and f.severity == "info" and f.id != "no-torch")]
    width = max((len(f.id) for f in shown), default=10)
    for f in shown:
        lines.append(f"  {_MARK.get(f.severity, f.severity)}  {f.id:<{width}}  {f.message}")
        for detail in f.details if not brief else ():
            lines.append(f"  {'':5}  {'':<{width}}    - {detail}")
        if f.fix:
            lines.append(f"  {'':5}  {'':<{width}}  fix: {f.fix}")
    if d.report is not None and not brief:
        passed = [c.id for c in d.report.checks if c.status == "pass"]
        if passed:
            lines.append(f"  passed: {', '.join(passed)}")
    for note in d.notes:
        lines.append(f"  note: {note}")
    n = d.counts()
    if d.ok and not n["warning"]:
        verdict = "OK" if d.has_torch else "OK (nothing to check)"
    elif d.ok:
        verdict = "OK with warnings"
    else:
        verdict = "PROBLEMS"
    took = f" in {d.ms / 1000:.1f} s" if d.ms is not None else ""
    lines.append(
        f"{verdict}: {n['error']} errors, {n['warning']} warnings, {n['info']} notes{took}"
    )
    return "\n".join(lines)
