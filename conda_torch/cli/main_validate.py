"""``conda torch validate``: prove an environment's torch stack works, check by check."""

from __future__ import annotations

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from ..validate import Report

HELP = "Prove an environment works: imports, pairing, builds, devices, GPU architectures."

DESCRIPTION = """\
Run a probe with the environment's own Python (conda-torch need not be installed there) and
report each check as pass, warn or fail, with its timing and the command that fixes it:
torch, torchvision and torchaudio import and pair; their builds agree (a CUDA torchvision
beside a CPU torch fails); the build matches what the environment was created for (when it
has provenance); torch comes from inside the environment (not ~/.local or PYTHONPATH) and is
installed once; torchvision's compiled operators load; a tensor operation runs on the CPU and
on every visible GPU; every GPU's architecture is in the build; cuDNN loads; the driver
supports the build's CUDA.

The probe runs with the variables the environment has when activated (PATH, CONDA_PREFIX,
its conda env config vars), keeping PYTHONPATH and HOME so that shadowing shows.

With --via LAUNCHER (repeatable: one per node type, e.g. --via 'srun -p a100 -N1' --via
'srun -p v100 -N1'), the probe runs on the node each launcher reaches, with the
environment's own Python there (a path on a filesystem the nodes share), and the report is
per node: the host, its GPUs, every check. --timeout bounds each launcher run (queueing
included); at the bound the launcher is stopped with every process it started.

Exit status: 0 when nothing failed, 1 otherwise.

Examples:
  conda torch validate -n ml
  conda torch validate -p ./envs/ml --json
  conda torch validate --python /usr/bin/python3
  conda torch validate -p /shared/envs/ml --via 'srun -p gpu -N1 --gres=gpu:1'
"""

_MARK = {"pass": "pass", "warn": "warn", "fail": "FAIL"}


def configure_parser(parser: argparse.ArgumentParser) -> None:
    from ._options import add_target_options, add_timeout_option, add_via_option

    add_target_options(parser, what="conda environment", python=True)
    add_via_option(parser)
    add_timeout_option(parser)
    parser.add_argument("--json", action="store_true", help="Print the report as JSON.")


def execute(args: argparse.Namespace) -> int:
    import json

    from .. import provenance as prov
    from ..environments import resolve_target
    from ..exceptions import CondaTorchValueError, ValidationError
    from ..validate import validate

    if args.name is None and args.prefix is None and args.python is None:
        raise CondaTorchValueError(
            "which environment? none given", hints=["Pass -n NAME, -p PREFIX or --python PATH."]
        )
    target = resolve_target(name=args.name, prefix=args.prefix, python=args.python)
    provenance = prov.read(target.prefix) if target.prefix is not None else None
    if args.via:
        return _via(args, target, provenance)
    report = validate(
        python=str(target.python), prefix=target.prefix, provenance=provenance, name=target.name,
        **({"timeout": args.timeout} if args.timeout else {}),
    )  # fmt: skip
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
        return 0 if report.ok else 1
    if report.torch_missing:
        first = report.check("torch-import")
        raise ValidationError(
            f"torch is not installed in {target.label} (Python {target.python})",
            hints=[f"Fix: {first.fix}" if first and first.fix else ""],
        )
    print(render(report, label=target.label))
    return 0 if report.ok else 1


def _via(args: argparse.Namespace, target: Any, provenance: Any) -> int:
    """``--via``: one report per node."""
    import json

    from ..validate import validate_via
    from ..via import DEFAULT_TIMEOUT_S

    nodes = validate_via(
        args.via, python=str(target.python), prefix=target.prefix, provenance=provenance,
        name=target.name, timeout=args.timeout or DEFAULT_TIMEOUT_S,
    )  # fmt: skip
    ok = bool(nodes) and all(n.ok for n in nodes)
    if args.json:
        print(json.dumps({"success": ok, "nodes": [n.to_json() for n in nodes]}, indent=2))
        return 0 if ok else 1
    print("\n\n".join(render_node(n, label=target.label) for n in nodes))
    if len(nodes) > 1:
        good = sum(n.ok for n in nodes)
        print(f"\n{'OK' if ok else 'FAILED'}: {good} of {len(nodes)} nodes passed")
    return 0 if ok else 1


def render_node(node: Any, *, label: str) -> str:
    """One node's report: the host, its GPUs, then the checks as :func:`render` shows them."""
    took = f", {node.seconds:.1f} s" if node.seconds is not None else ""
    where = f"node {node.host}" if node.host else "no node"
    head = f"Node {node.host or '?'} (through `{node.launcher}`{took})"
    if node.report is None:
        return f"{head}: FAILED: {node.error}"
    gpus = node.gpus()
    head += ": GPUs: " + (", ".join(gpus) if gpus else "none")
    return head + "\n" + render(node.report, label=f"{label} on {where}")


def render(report: Report, *, label: str) -> str:
    """The human report: one line per check (status, id, message, time), fixes beneath."""
    facts = report.facts
    py = facts.get("python") or {}
    lines = [f"Validating {label} (Python {py.get('version', '?')}, {report.python})"]
    if report.provenance:
        lines.append(f"  provenance: {report.provenance}")
    width = max((len(c.id) for c in report.checks), default=10)
    for c in report.checks:
        ms = f"{c.ms:>8.0f} ms" if c.ms is not None else " " * 11
        lines.append(f"  {_MARK[c.status]}  {c.id:<{width}} {ms}  {c.message}")
        if c.fix and c.status != "pass":
            lines.append(f"  {'':4}  {'':<{width}} {'':11}  fix: {c.fix}")
    n = report.counts()
    total = f" in {report.ms / 1000:.1f} s" if report.ms is not None else ""
    verdict = "OK" if report.ok else "FAILED"
    lines.append(f"{verdict}: {n['pass']} passed, {n['warn']} warnings, {n['fail']} failed{total}")
    return "\n".join(lines)
