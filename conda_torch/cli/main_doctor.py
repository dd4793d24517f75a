"""``conda torch doctor``: what is wrong with an environment's torch stack, and the fix."""

from __future__ import annotations

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    import argparse

    from ..doctor import Diagnosis, Finding
    from ..paste import PasteDiagnosis

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

With --from, diagnose a pasted report instead of an environment: collect_env (whole or in
part), pip list/freeze/show, conda list or a conda plan, nvidia-smi, rocm-smi, sw_vers, uname,
torch's own warnings and errors, values printed in a REPL, an application's start-up banner,
installer errors, in any mix, quoted, indented, fenced or cut short. Each finding then also
names its cause (cpu_build_on_gpu, driver_too_old, arch_missing, companion_mismatch,
duplicate_install, mixed_channels, shadowed, rosetta, cuda_on_mac, rocm_unsupported_gfx,
macos_too_old, no_build_for_platform) and quotes the lines it rests on; a consistent stack gets
no error and a note that the problem is likely elsewhere. '-' reads standard input.

With --via LAUNCHER (repeatable: one per node type), validate's probe runs with the
environment's Python on the node the launcher reaches and the node's own picture is taken in
the same run, so the driver and GPU findings judge that node; one diagnosis per node.

Exit status: 0 when no finding is an error, 1 otherwise.

Examples:
  conda torch doctor -n ml
  conda torch doctor -p ./envs/ml --json
  conda torch doctor --python ./venv/bin/python
  conda torch doctor --all
  conda torch doctor -p /shared/envs/ml --via 'srun -p gpu -N1'
  conda torch doctor --from report.txt
  pbpaste | conda torch doctor --from - --json
"""

_MARK = {"error": "ERROR", "warning": "warn ", "info": "info "}


def configure_parser(parser: argparse.ArgumentParser) -> None:
    from ._options import (
        add_from_option,
        add_target_options,
        add_timeout_option,
        add_via_option,
    )

    target = add_target_options(parser, what="conda environment", python=True)
    add_via_option(parser)
    add_timeout_option(parser)
    target.add_argument("--all", action="store_true", help="Every conda environment conda knows.")
    add_from_option(
        target, help="Diagnose a pasted report (its files read together) instead of an environment"
    )
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

    if args.from_files:
        return _from_paste(args)
    if args.via:
        return _via(args)

    from ..detect import load_machine
    from ..doctor import diagnose, diagnose_all
    from ..exceptions import CondaTorchValueError

    machine = load_machine(args.machine) if args.machine else None
    if args.all:
        from ..conda_cli import find_conda, list_envs

        envs = [(e.prefix, e.name) for e in list_envs(find_conda())]
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
        from ..environments import check_python

        d = diagnose(
            python=check_python(args.python), machine=machine, run_probe=not args.no_probe,
            timeout=args.timeout,
        )  # fmt: skip
    else:
        from ..environments import prefix_for_name

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


def _via(args: argparse.Namespace) -> int:
    """``--via``: one diagnosis per node."""
    import json

    from ..doctor import diagnose_via
    from ..exceptions import CondaTorchValueError

    other = [f for f, v in (("--all", args.all), ("--machine", args.machine),
                            ("--no-probe", args.no_probe)) if v]  # fmt: skip
    if other:
        raise CondaTorchValueError(
            f"--via diagnoses the environment on the node; {', '.join(other)} does not apply"
        )
    if args.name is None and args.prefix is None and args.python is None:
        raise CondaTorchValueError(
            "which environment? none given", hints=["Pass -n NAME, -p PREFIX or --python PATH."]
        )
    if args.python is not None:
        prefix = None
    else:
        from ..environments import prefix_for_name

        prefix = prefix_for_name(args.name) if args.name is not None else args.prefix
    nodes = diagnose_via(
        args.via, prefix=prefix, python=args.python, name=args.name, timeout=args.timeout
    )
    ok = bool(nodes) and all(n.ok for n in nodes)
    if args.json:
        print(json.dumps({"success": ok, "nodes": [n.to_json() for n in nodes]}, indent=2))
        return 0 if ok else 1
    blocks = []
    for n in nodes:
        node = n.node
        took = f", {node.seconds:.1f} s" if node.seconds is not None else ""
        head = f"Node {node.host or '?'} (through `{node.launcher}`{took})"
        if n.diagnosis is None:
            blocks.append(f"{head}: FAILED: {node.error}")
            continue
        gpus = node.gpus()
        blocks.append(f"{head}: GPUs: {', '.join(gpus) if gpus else 'none'}\n"
                      + render(n.diagnosis))  # fmt: skip
    print("\n\n".join(blocks))
    if len(nodes) > 1:
        print(f"\n{'OK' if ok else 'PROBLEMS'}: {sum(n.ok for n in nodes)} of {len(nodes)} "
              "nodes without errors")  # fmt: skip
    return 0 if ok else 1


# -- a pasted report ----------------------------------------------------------------------------

_WIDTH = 80


def _from_paste(args: argparse.Namespace) -> int:
    from ..exceptions import CondaTorchValueError

    if args.machine or args.no_probe:
        raise CondaTorchValueError(
            "--from reads the machine from the paste; --machine and --no-probe do not apply",
            hints=["Leave out --machine and --no-probe."],
        )
    from ..paste import diagnose_files

    d = diagnose_files(args.from_files)
    if args.json:
        import json

        print(json.dumps(d.to_json(), indent=2))
    else:
        print(render_paste(d))
    return 0 if d.ok else 1


def render_paste(d: PasteDiagnosis) -> str:
    """The answer to a pasted report: each finding with what it rests on and its fix, then what
    the paste shows."""
    import textwrap

    names = ", ".join(d.sources)
    lines = [f"Diagnosis of the pasted report {names}", ""]
    errors = [f for f in d.findings if f.severity == "error"]
    if errors:
        cause = f" ({errors[0].cause})" if errors[0].cause else ""
        lines.append(f"The cause: {d.title(errors[0])}{cause}.")
    elif not any(f.severity == "warning" for f in d.findings):
        lines.append("No cause found in the installation.")
    for f in d.findings:
        lines.extend(_finding_lines(f))
    shown = d.summary()
    if shown:
        lines.append("")
        lines.append("What the paste shows:")
        lines.extend(f"  - {s}" for s in shown)
    for note in d.notes:
        lines.extend(
            textwrap.wrap(note, _WIDTH, initial_indent="  note: ", subsequent_indent="        ")
        )
    n = d.counts()
    verdict = "PROBLEMS" if not d.ok else ("OK with warnings" if n["warning"] else "OK")
    lines.append("")
    counts = ", ".join(
        f"{n[key]} {word}{'' if n[key] == 1 else 's'}"
        for key, word in (("error", "error"), ("warning", "warning"), ("info", "note"))
    )
    lines.append(f"{verdict}: {counts}")
    return "\n".join(lines)


def _finding_lines(f: Finding) -> list[str]:
    import textwrap as tw

    head = f"{_MARK.get(f.severity, f.severity).strip().upper()}  {f.id}"
    if f.cause:
        head += f" ({f.cause})"
    out = ["", head]
    out.extend(tw.wrap(f.message, _WIDTH, initial_indent="  ", subsequent_indent="  "))
    if f.evidence:
        out.append("  read from:")
        for line in f.evidence:
            text = line if len(line) <= 3 * (_WIDTH - 6) else line[: 3 * (_WIDTH - 6) - 1] + "…"
            out.extend(
                tw.wrap(
                    text,
                    _WIDTH,
                    initial_indent="    > ",
                    subsequent_indent="      ",
                    break_on_hyphens=False,
                )
            )
    if f.fix:
        out.append("  fix:")
        out.extend(
            f"    $ {cmd}" if not cmd.startswith("#") else f"    {cmd}" for cmd in f.fix.split("\n")
        )
    return out
