"""``conda torch detect``: what conda-torch sees on this machine, or in captured outputs."""

from __future__ import annotations

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    import argparse

    from ..machine import GPU, Machine

HELP = "Show the machine as conda-torch sees it: platform, NVIDIA, ROCm, Apple, torch."
DESCRIPTION = """\
Detect the platform (conda subdir, OS, glibc, Rosetta 2, WSL2, containers), the NVIDIA
driver, the newest CUDA it supports and each GPU's compute capability, AMD ROCm, Apple MPS
and Intel XPU, saying where every fact came from and what was not found.

With --from, build the same picture from captured outputs (nvidia-smi, nvidia-smi
-q/-L/--query-gpu, /proc/driver/nvidia/version, rocminfo, rocm-smi (also --csv/--json),
sw_vers, sysctl, system_profiler, python -m torch.utils.collect_env, conda info) instead of
probing this machine, or from a pasted report that holds only part of one (the facts it
shows, with a note); '-' reads standard input.

With --via LAUNCHER, detect on the node a launcher reaches (e.g. --via 'srun -p gpu -N1
--gres=gpu:1'), name the node that answered, and save its picture with -o FILE for
`generate/create --node FILE`. CONDA_OVERRIDE_CUDA is honoured as conda honours it ('' means
no CUDA).

Examples:
  conda torch detect
  conda torch detect --json
  conda torch detect --from nvidia-smi.txt conda-info.txt
  conda torch detect --platform linux-64 --driver 580.65.06 --gpu 'H100=9.0'
  conda torch detect --via 'srun -p gpu -N1' -o a100.json
"""

#: How operating systems are written in the human output.
_OS_NAMES = {"linux": "Linux", "macos": "macOS", "windows": "Windows", "freebsd": "FreeBSD"}

#: Width of the label column in the human output.
_LABEL = 13
_WIDTH = 80


def configure_parser(parser: argparse.ArgumentParser) -> None:
    from ._options import add_from_option, once

    add_from_option(
        parser,
        help="Build the picture from these captured outputs instead of probing this machine "
        "(the kind of each file is recognised from its content)",
    )
    other = parser.add_argument_group("describe another machine")
    other.add_argument(
        "--platform",
        action=once(),
        metavar="SUBDIR",
        help="conda platform, e.g. linux-64, linux-aarch64, osx-arm64, win-64.",
    )
    other.add_argument(
        "--driver", action=once(), metavar="VERSION", help="NVIDIA driver version, e.g. 580.159.04."
    )
    other.add_argument(
        "--cuda",
        action=once(),
        metavar="X.Y",
        help="Newest CUDA the driver supports (nvidia-smi's 'CUDA Version'), e.g. 12.6.",
    )
    other.add_argument(
        "--gpu",
        metavar="NAME[=CC]",
        action="append",
        default=[],
        help="An NVIDIA GPU, with its compute capability if known (repeatable), e.g. "
        "--gpu 'GeForce GTX 1080 Ti=6.1'. Without =CC it is looked up by name.",
    )
    node = parser.add_argument_group("detect on another node, through a launcher")
    node.add_argument(
        "--via",
        metavar="LAUNCHER",
        help="Run the detection on the node this command prefix reaches (srun -N1, ssh HOST, "
        "...): conda-torch's own detection, sent on the launcher's standard input.",
    )
    node.add_argument(
        "--node-python",
        metavar="PATH",
        help="The Python (3.10+) that runs the detection on the node (default: this "
        "interpreter's path, else python3 there).",
    )
    node.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="With --via: save the node's picture (detect --json) to FILE.",
    )
    node.add_argument("--force", action="store_true", help="Replace an existing -o FILE.")
    from ._options import add_timeout_option

    add_timeout_option(node, what="the launcher (queueing included) and the detection")
    parser.add_argument(
        "--no-nvidia-smi",
        action="store_true",
        help="Never start nvidia-smi (NVML and libcuda are still read in-process).",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="Print the picture as JSON (schema conda-torch.detect/1, docs/detect-schema.md).",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="Show the source of every fact and every probe with its time.",
    )


def execute(args: argparse.Namespace) -> int:
    import time

    if args.via is not None:
        return _via(args)
    from ..detect import Description, detect
    from ..exceptions import CondaTorchValueError

    for flag, value in (("--node-python", args.node_python), ("-o", args.output),
                        ("--timeout", args.timeout)):  # fmt: skip
        if value:
            raise CondaTorchValueError(f"{flag} goes with --via LAUNCHER")

    describe = None
    if args.platform or args.driver or args.cuda or args.gpu:
        _check_description(args)
        describe = Description(
            platform=args.platform,
            driver_version=args.driver,
            cuda_version=args.cuda,
            gpus=tuple(Description.parse_gpu(g) for g in args.gpu),
        )
    start = time.perf_counter()
    machine = detect(
        from_files=args.from_files or [], describe=describe, nvidia_smi=not args.no_nvidia_smi
    )
    ms = (time.perf_counter() - start) * 1000
    if args.json:
        import json

        print(json.dumps(machine.to_json(), indent=2))
    else:
        print(render(machine, verbose=args.verbose, ms=ms))
    return 0


def _check_description(args: argparse.Namespace) -> None:
    """Flags that describe a machine and contradict each other are refused, in one line: an
    NVIDIA driver or GPU on a Mac; a driver too old for the CUDA it is said to report."""
    from ..detect import Description
    from ..exceptions import CondaTorchValueError

    nvidia = [flag for flag, value in (("--driver", args.driver), ("--cuda", args.cuda),
                                       ("--gpu", args.gpu)) if value]  # fmt: skip
    if nvidia and (args.platform or "").startswith("osx"):
        raise CondaTorchValueError(
            f"{', '.join(nvidia)} {'describe' if len(nvidia) > 1 else 'describes'} an NVIDIA "
            f"GPU; --platform {args.platform} has none"
        )
    if args.driver and args.cuda:
        from ..matrix import load

        Description(driver_version=args.driver, cuda_version=args.cuda)  # well-formed first
        problem = load().driver_cuda_conflict(
            args.driver, args.cuda, windows=(args.platform or "").startswith("win")
        )
        if problem:
            raise CondaTorchValueError(
                f"--driver and --cuda disagree: {problem}",
                hints=["Copy both from the same nvidia-smi header, or pass one of them."],
            )


def _via(args: argparse.Namespace) -> int:
    """``--via LAUNCHER``: the node's picture, through the launcher."""
    import json

    from ..exceptions import CondaTorchValueError
    from ..via import DEFAULT_TIMEOUT_S, detect_via

    given = (("--from", args.from_files), ("--platform", args.platform),
             ("--driver", args.driver), ("--cuda", args.cuda), ("--gpu", args.gpu))  # fmt: skip
    other = [flag for flag, value in given if value]
    if other:
        raise CondaTorchValueError(
            f"--via detects on the node; {', '.join(other)} would describe another machine"
        )
    machine, run = detect_via(
        args.via, node_python=args.node_python, timeout=args.timeout or DEFAULT_TIMEOUT_S
    )
    text = json.dumps(machine.to_json(), indent=2) + "\n"
    host = machine.platform.hostname or run.hosts[0]
    if args.output:
        from ..envfile import write_atomic

        write_atomic(args.output, text, force=args.force)
    if args.json and not args.output:
        print(text, end="")
        return 0
    took = f"{run.seconds:.2f} s, the launcher included"
    if args.output:
        print(f"Saved the picture of node {host} (through `{args.via}`, {took}) to {args.output}.")
        print(f"Plan for it with: conda torch generate --node {args.output} (repeat --node per "
              "node type)")  # fmt: skip
        return 0
    print(render(machine, verbose=args.verbose, via=(args.via, host, run.seconds)))
    return 0


# -- human output ---------------------------------------------------------------------------


def render(
    machine: Machine,
    *,
    verbose: bool = False,
    ms: float | None = None,
    via: tuple[str, str, float] | None = None,
) -> str:
    """The picture as text that fits in 80 columns; ``via`` = (launcher, host, seconds)."""
    from ..detect import NOT_FOUND

    global _SHORT
    _SHORT = _short_names(machine.inputs)
    out: list[str] = []
    if via is not None:
        launcher, host, seconds = via
        out.append(f"Node {host}, probed live through `{launcher}` in {seconds:.2f} s "
                   "(the launcher included).")  # fmt: skip
    elif machine.mode == "files":
        n = len(machine.inputs)
        out.append(
            f"Picture built from {n} captured output{'s' if n != 1 else ''} (nothing probed live)."
        )
    else:
        took = f" in {ms:.1f} ms" if ms is not None else ""
        out.append(f"This machine, probed live{took}.")
    out.append("")

    p = machine.platform
    lines = [_join(_fmt(p.subdir), f"({p.machine})" if p.machine else None, sep=" ")]
    if p.native_subdir and p.native_subdir != p.subdir:
        lines.append(f"hardware is {p.native_subdir}")
    system = _OS_NAMES.get(p.os or "", p.os)
    lines.append(p.distro or _join(system, p.os_version or p.macos_version, sep=" "))
    lines.append(
        _join(
            f"kernel {p.kernel}" if p.kernel else None,
            f"glibc {p.glibc}" if p.glibc else None,
            f"Python {p.python_version}" if p.python_version else None,
            f"conda {p.conda_version}" if p.conda_version else None,
        )
    )
    lines.append(
        _join(
            "WSL2" if p.wsl else None,
            f"container: {p.container}" if p.container else None,
            "Jetson" if p.jetson else None,
        )
    )
    if p.virtual_packages:
        lines.append(
            "conda virtual packages: "
            + ", ".join(f"{k}={v}" for k, v in p.virtual_packages.items())
        )
    _section(out, "Platform", lines, p.sources, (), verbose, p)

    nv = machine.nvidia
    if nv is not None:
        head = []
        if nv.driver_version:
            head.append(
                f"driver {nv.driver_version}"
                + (f" ({nv.driver_flavor})" if nv.driver_flavor else "")
            )
        head.append(
            f"supports CUDA up to {nv.cuda_version}" if nv.cuda_version else "CUDA version unknown"
        )
        lines = [", ".join(head)]
        if nv.cuda_visible_devices is not None:
            lines.append(f"CUDA_VISIBLE_DEVICES={nv.cuda_visible_devices!r}")
        if nv.errors:
            lines.append("errors: " + ", ".join(nv.errors))
        if not nv.gpus:
            lines.append("no GPU listed")
        _section(out, "NVIDIA", lines, nv.sources, nv.gpus, verbose, nv)
        for pos, gpu in enumerate(nv.gpus):
            _gpu(out, pos, gpu, verbose)

    rocm = machine.rocm
    if rocm is not None:
        lines = [
            _join(
                f"ROCm {rocm.version}" if rocm.version else "ROCm version unknown",
                f"at {rocm.path}" if rocm.path else None,
                sep=" ",
            )
        ]
        _section(out, "AMD", lines, rocm.sources, rocm.gpus, verbose, rocm)
        for pos, gpu in enumerate(rocm.gpus):
            _gpu(out, pos, gpu, verbose)

    apple = machine.apple
    if apple is not None:
        lines = [_join(apple.chip, f"({apple.model})" if apple.model else None, sep=" ")]
        lines.append(
            _join(
                "Apple silicon"
                if apple.apple_silicon
                else ("not Apple silicon" if apple.apple_silicon is False else None),
                "running under Rosetta 2" if apple.rosetta else None,
                "MPS available" if apple.mps else ("no MPS" if apple.mps is False else None),
            )
        )
        _section(out, "Apple", lines, apple.sources, apple.gpus, verbose, apple)
        for pos, gpu in enumerate(apple.gpus):
            _gpu(out, pos, gpu, verbose)

    xpu = machine.xpu
    if xpu is not None:
        _section(
            out,
            "Intel XPU",
            [f"{len(xpu.gpus)} discrete GPU(s)"],
            xpu.sources,
            xpu.gpus,
            verbose,
            xpu,
        )
        for pos, gpu in enumerate(xpu.gpus):
            _gpu(out, pos, gpu, verbose)

    t = machine.torch
    if t is not None:
        build = f"CUDA {t.cuda}" if t.cuda else (f"ROCm {t.rocm}" if t.rocm else None)
        if build is None and t.version and t.version.endswith("+cpu"):
            build = "CPU build"
        lines = [
            _join(
                f"torch {t.version}" if t.version else "torch (version not shown)",
                f"({build})" if build else None,
                sep=" ",
            )
        ]
        lines.append(
            _join(
                f"torchvision {t.torchvision}" if t.torchvision else None,
                f"torchaudio {t.torchaudio}" if t.torchaudio else None,
            )
        )
        lines.append(
            _join(
                f"CUDA available: {'yes' if t.cuda_available else 'no'}"
                if t.cuda_available is not None
                else None,
                f"Python {t.python_version}" if t.python_version else None,
            )
        )
        if t.arch_list:
            lines.append("built for " + " ".join(t.arch_list))
        _section(out, "torch", lines, t.sources, (), verbose, t)

    if machine.overrides:
        _section(
            out,
            "Overrides",
            [", ".join(f"{k}={v}" for k, v in machine.overrides.items())],
            {},
            (),
            False,
            None,
        )

    shown = set(nv.errors) if nv is not None else set()
    errors = [e for e in getattr(machine, "errors", ()) if e not in shown]
    if errors:
        _emit(out, "Errors", [", ".join(errors)])

    missing = [n[len(NOT_FOUND) :] for n in machine.notes if n.startswith(NOT_FOUND)]
    other = [n for n in machine.notes if not n.startswith(NOT_FOUND)]
    if missing:
        out.append("")
        out.append("Not found:")
        for n in missing:
            out.extend(_wrap("- " + n, "  "))
    if other:
        out.append("")
        out.append("Notes:")
        for n in other:
            out.extend(_wrap("- " + n, "  "))
    if machine.inputs:
        out.append("")
        out.append("Inputs:")
        for probe in machine.probes:
            if probe.name.startswith("input: "):
                out.extend(_wrap(f"- {probe.name[7:]}", "  "))
                out.extend(_wrap(f"  read as: {probe.detail}", "  "))
    live_probes = [p for p in machine.probes if not p.name.startswith("input: ")]
    if verbose and live_probes:
        out.append("")
        out.append("Probes:")
        for probe in live_probes:
            took = f"{probe.ms:.2f} ms" if probe.ms is not None else "-"
            mark = "ok" if probe.ok else "--"
            out.extend(_wrap(f"{mark} {took:>9}  {probe.name}: {probe.detail}", " " * 15))
    return "\n".join(out)


#: Input path -> the shorter name "from:" lines use (set by :func:`render`).
_SHORT: dict[str, str] = {}


def _short_names(inputs: tuple[str, ...]) -> dict[str, str]:
    """Inputs by file name in "from:" lines where names are unique (full paths under Inputs)."""
    import os

    names = {path: os.path.basename(path) or path for path in inputs}
    if len(set(names.values())) != len(names):
        return {}
    return {path: name for path, name in names.items() if name != path}


def _label(source: str) -> str:
    for path, name in _SHORT.items():
        source = source.replace(f"({path})", f"({name})")
    return source


def _fmt(value: object) -> str:
    return "unknown" if value is None else str(value)


def _join(*parts: object, sep: str = ", ") -> str:
    return sep.join(str(p) for p in parts if p)


def _wrap(text: str, indent: str, width: int = _WIDTH) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width=width, subsequent_indent=indent, break_on_hyphens=False) or [
        ""
    ]


def _emit(out: list[str], label: str, lines: list[str]) -> None:
    first = True
    for line in lines:
        if not line:
            continue
        pad = " " * _LABEL
        head = label.ljust(_LABEL) if first else pad
        wrapped = _wrap(line, pad, _WIDTH - _LABEL)
        out.append(head + wrapped[0])
        out.extend(pad + w.strip() for w in wrapped[1:])
        first = False
    if first:
        out.append(label)


def _section(
    out: list[str],
    label: str,
    lines: list[str],
    sources: dict[str, str],
    gpus: tuple[GPU, ...],
    verbose: bool,
    section: object,
) -> None:
    _emit(out, label, lines)
    if verbose and section is not None:
        _fact_sources(out, section, sources)
    elif sources or gpus:
        labels = _distinct(
            [_label(s) for s in [*sources.values(), *(s for g in gpus for s in g.sources.values())]]
        )
        _emit(out, "", ["from: " + "; ".join(labels)])


def _fact_sources(out: list[str], section: object, sources: dict[str, str]) -> None:
    for key, src in sources.items():
        value = getattr(section, key, None)
        _emit(out, "", [f"{key} = {_fmt(value)}  [{_label(src)}]"])


def _distinct(items: list[str]) -> list[str]:
    seen: list[str] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def _gpu(out: list[str], pos: int, gpu: GPU, verbose: bool) -> None:
    index = gpu.index if gpu.index is not None else pos
    name = gpu.name or (
        f"PCI device {gpu.pci_device_id}" if gpu.pci_device_id else "name not shown"
    )
    details = []
    if gpu.vendor == "nvidia" or gpu.compute_capability:
        if gpu.compute_capability:
            cc = f"compute capability {gpu.compute_capability}"
            if gpu.compute_capability_inferred:
                cc += " (inferred from name)"
        else:
            cc = "compute capability unknown"
        details.append(cc)
    if gpu.gfx:
        details.append(gpu.gfx)
    if gpu.memory_mib is not None:
        details.append(f"{gpu.memory_mib} MiB")
    if gpu.mig_mode or gpu.mig_devices:
        details.append(
            f"MIG {(gpu.mig_mode or 'mode not shown').lower()}"
            + (f" ({gpu.mig_devices} instances)" if gpu.mig_devices else "")
        )
    if gpu.driver_model:
        details.append(gpu.driver_model)
    if gpu.hidden:
        details.append("HIDDEN by CUDA_VISIBLE_DEVICES")
    lines = [name, ", ".join(details)]
    if verbose:
        lines.append(
            _join(
                f"bus {gpu.bus_id}" if gpu.bus_id else None,
                f"uuid {gpu.uuid}" if gpu.uuid else None,
            )
        )
    _emit(out, f"  GPU {index}", lines)
    if verbose:
        _fact_sources(out, gpu, gpu.sources)
