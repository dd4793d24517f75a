"""Prove an environment works: run the probe in its own Python, then judge what it saw.

:func:`validate` starts ``conda_torch/_probe.py`` with the environment's interpreter (one
process: it imports torch, torchvision and torchaudio, runs a small tensor operation on every
device, and reports versions, files and installed copies as JSON), and turns those facts into
:class:`Check` results, each ``pass``, ``warn`` or ``fail`` with the command that fixes it.
Check ids are stable (``CHECK_IDS``); ``device-cuda:N`` and ``device-xpu:N`` carry the index.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

from . import compat, constants, procs
from .constants import COMPANIONS, CONDA_CARRIERS
from .exceptions import CondaTorchError, ProbeError
from .models import Source
from .prefix import activated_environ
from .procs import CappedOutput
from .specs import installed_matches
from .values import field, replace, value_class

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from .provenance import Provenance

#: Version of ``validate --json``. Bump the number on an incompatible change.
SCHEMA = "conda-torch.validate/1"

#: The probe script, run by the environment's own Python.
PROBE = Path(__file__).with_name("_probe.py")
#: The line prefix the probe writes before its JSON (``_probe.MARKER``).
MARKER = "@@conda-torch-probe@@"

#: Seconds the probe may take by default (``--timeout``; ``constants.PROBE_TIMEOUT_S``).
PROBE_TIMEOUT_S = constants.PROBE_TIMEOUT_S

#: Bytes of the probe's stdout and stderr that are kept (``procs.OUTPUT_CAP``).
OUTPUT_CAP = procs.OUTPUT_CAP

STATUSES = ("pass", "warn", "fail")

#: Every check, in report order (device checks add ``:N`` for each device).
CHECK_IDS = (
    "torch-import",
    "torchvision-import",
    "torchaudio-import",
    "pairing",
    "build-agreement",
    "planned-build",
    "shadowing",
    "single-copy",
    "torchvision-ops",
    "device-cpu",
    "device-cuda",
    "device-mps",
    "device-xpu",
    "gpu-arch",
    "cudnn",
    "driver",
)

#: PyTorch's own wheel indexes, one per build variant (``cpu``, ``cu130``, ``rocm6.4``, ``xpu``):
#: https://pytorch.org/get-started/locally/ (the ``--index-url`` lines).
PYTORCH_INDEX = "https://download.pytorch.org/whl"


@value_class
class Check:
    """One check of an environment and its verdict."""

    id: str
    status: str  # "pass" | "warn" | "fail"
    message: str
    fix: str | None = None
    ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "message": self.message,
            "fix": self.fix,
            "ms": self.ms,
        }


@value_class
class Report:
    """Every check of one environment, with what the probe reported."""

    python: str
    prefix: str | None
    checks: tuple[Check, ...]
    #: What the probe reported (``_probe.py``'s JSON).
    facts: Mapping[str, Any] = field(default_factory=dict, compare=False)
    #: The provenance file that was read, if any.
    provenance: str | None = None
    #: Wall time of the whole validation, and of the probe process alone.
    ms: float | None = None
    probe_ms: float | None = None

    @property
    def ok(self) -> bool:
        return not any(c.status == "fail" for c in self.checks)

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status == "fail")

    def check(self, check_id: str) -> Check | None:
        return next((c for c in self.checks if c.id == check_id), None)

    @property
    def torch_missing(self) -> bool:
        return not (self.facts.get("torch") or {}).get("installed")

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for c in self.checks if c.status == s) for s in STATUSES}

    def to_json(self) -> dict[str, Any]:
        from . import __version__

        return {
            "schema": SCHEMA,
            "conda_torch_version": __version__,
            "success": self.ok,
            "python": self.python,
            "prefix": self.prefix,
            "provenance": self.provenance,
            "summary": self.counts(),
            "ms": self.ms,
            "probe_ms": self.probe_ms,
            "checks": [c.to_json() for c in self.checks],
            "facts": dict(self.facts),
        }


@value_class
class Skipped:
    """A validation that was not run, and why (``create --node`` on a login node: the node
    types it was made for are elsewhere). Reads like a :class:`Report` that passed."""

    reason: str
    checks: tuple[Check, ...] = ()
    ok: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "success": True, "skipped": self.reason, "checks": []}


# -- running the probe ------------------------------------------------------------------------


@value_class(frozen=False)
class _Probe:
    """A started probe: the process (its own process group) and the reader of its output."""

    proc: subprocess.Popen[bytes]
    output: CappedOutput


def start_probe(
    python: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None
) -> _Probe:
    """Start the probe in ``python`` (a process group of its own, output capped); raises
    ProbeError when the interpreter cannot run."""
    cmd = [os.fspath(python), str(PROBE)]
    try:
        proc = procs.start(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(environ) if environ is not None else None,
        )
    except OSError as exc:
        raise ProbeError(
            f"cannot run Python {os.fspath(python)}: {exc.strerror or exc}",
            hints=["Pass an executable interpreter with --python PATH."],
        ) from exc
    return _Probe(proc, CappedOutput(proc.stdout, proc.stderr))


def finish_probe(probe: _Probe, python: str, *, timeout: float = PROBE_TIMEOUT_S) -> dict[str, Any]:
    """Wait for the probe and parse its JSON; raises ProbeError when it gave none.

    At ``timeout`` the probe's whole process group is killed (a wrapper's children too). When
    the probe is done, whatever it left running in its group is killed as well, so a child
    that kept the output pipes open cannot hold validation.
    """
    proc = probe.proc
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        procs.kill_group(proc)
        probe.output.join(2.0)
        raise ProbeError(
            f"the probe in {python} did not finish in {timeout:.0f} s; it was stopped, with "
            "every process it started",
            hints=[
                "Importing torch hangs there; try 'python -c \"import torch\"' in it.",
                "A slow disk may need longer: --timeout SECONDS.",
            ],
        ) from None
    except BaseException:
        procs.kill_group(proc)
        raise
    procs.kill_group(proc)  # what the probe left behind (a wrapper's background child)
    probe.output.join(5.0)
    out, err = probe.output.text(0), probe.output.text(1)
    for line in reversed(out.splitlines()):
        if line.startswith(MARKER):
            try:
                data = json.loads(line[len(MARKER) :])
            except ValueError:
                break
            if isinstance(data, dict):
                return data
            break
    cut = probe.output.note()
    crashed = procs.signal_name(proc.returncode or 0)
    if crashed:
        raise ProbeError(
            f"the Python at {python} crashed ({crashed}) while the probe ran"
            + (f"; {cut}" if cut else ""),
            hints=[f"Run it yourself to see where: {shlex.quote(python)} -c 'import torch'"],
        )
    lines = [ln for ln in (err or "").strip().splitlines() if ln.strip()]
    detail = lines[-1].strip()[:300] if lines else f"exit status {proc.returncode}"
    raise ProbeError(
        f"the probe could not run in {python}: {detail}" + (f"; {cut}" if cut else ""),
        hints=["validate needs Python 3.8 or later in the environment."],
    )


def run_probe(
    python: str | os.PathLike[str],
    *,
    environ: Mapping[str, str] | None = None,
    timeout: float = PROBE_TIMEOUT_S,
) -> dict[str, Any]:
    return finish_probe(start_probe(python, environ=environ), os.fspath(python), timeout=timeout)


# -- the checks ------------------------------------------------------------------------------


def validate(
    *,
    python: str | os.PathLike[str],
    prefix: str | os.PathLike[str] | None = None,
    provenance: Provenance | None = None,
    environ: Mapping[str, str] | None = None,
    name: str | None = None,
    timeout: float = PROBE_TIMEOUT_S,
) -> Report:
    """Validate the environment whose interpreter is ``python``.

    ``prefix`` is the environment's root where known (the probe's ``sys.prefix`` otherwise);
    ``environ`` is the variables the probe runs with (default: the environment activated over
    ``os.environ``); ``provenance`` is what the environment was planned to be; ``name`` is
    only used to word the fix commands.
    """
    start = time.perf_counter()
    python = os.fspath(python)
    root = Path(os.fspath(prefix)) if prefix is not None else None
    env = activated_environ(root, name=name) if environ is None else dict(environ)
    probe = start_probe(python, environ=env)
    try:
        # While the probe imports torch, load the matrix here (it is needed for pairing).
        matrix = _load_matrix()
    except BaseException:
        procs.kill_group(probe.proc)
        raise
    facts = finish_probe(probe, python, timeout=timeout)
    report = report_from_facts(
        facts, python=python, prefix=root, provenance=provenance, name=name, matrix=matrix
    )
    return replace(report, ms=round((time.perf_counter() - start) * 1000.0, 1))


def _load_matrix() -> Any:
    """The pairing matrix, or the reason it is unavailable (a string)."""
    try:
        from . import matrix
    except ImportError as exc:
        return f"matrix unavailable: pairing not checked ({exc})"
    try:
        return matrix.load()
    except Exception as exc:  # a broken matrix must not stop validation
        return f"matrix unavailable: pairing not checked ({exc})"


@value_class(frozen=False)
class _Context:
    """What the checks of one environment read."""

    facts: Mapping[str, Any]
    python: str
    prefix: str | None
    name: str | None
    provenance: Provenance | None
    matrix: Any

    def pkg(self, name: str) -> Mapping[str, Any]:
        return self.facts.get(name) or {}

    @property
    def env_prefix(self) -> str:
        return self.prefix or str((self.facts.get("python") or {}).get("prefix") or "")

    @property
    def is_conda(self) -> bool:
        return bool(self.env_prefix) and os.path.isdir(os.path.join(self.env_prefix, "conda-meta"))

    # -- fix commands ---------------------------------------------------------------------

    def quote(self, text: str) -> str:
        return subprocess.list2cmdline([text]) if sys.platform == "win32" else shlex.quote(text)

    def recreate(self) -> str:
        if self.name:
            return f"conda torch recreate -n {self.quote(self.name)}"
        return f"conda torch recreate -p {self.quote(self.env_prefix)}"

    def installer(self, package: str) -> str | None:
        """Who installed ``package`` here: "conda" or "pip" (None when not installed)."""
        for rec in self.facts.get("conda_records") or ():
            if rec.get("name") == package or (package == "torch" and rec.get("name") == "pytorch"):
                return "conda"
        for dist in self.facts.get("dists") or ():
            if dist.get("name") == package:
                return "conda" if (dist.get("installer") or "").lower() == "conda" else "pip"
        return None

    def install(
        self,
        specs: Sequence[tuple[str, str | None]],
        *,
        variant: str | None,
        reinstall: bool = False,
    ) -> str:
        """The command that installs ``specs`` (name, version) the way this env was built."""
        plan = dict(self.provenance.plan) if self.provenance else {}
        source = str(plan.get("source") or "")
        via_conda = source in ("conda-forge", "pytorch") or (
            not source and self.is_conda and self.installer("torch") == "conda"
        )
        if via_conda:
            channels = plan.get("channels") or [source or "conda-forge"]
            target = (
                f"-n {self.quote(self.name)}" if self.name else f"-p {self.quote(self.env_prefix)}"
            )
            chans = " ".join(f"-c {self.quote(str(c))}" for c in channels)
            pkgs = " ".join(self.quote(f"{n}={v}" if v else n) for n, v in specs)
            return f"conda install {target} --override-channels {chans} {pkgs}"
        pkgs = " ".join(self.quote(f"{n}=={v}" if v else n) for n, v in specs)
        flags = " --force-reinstall --no-deps" if reinstall else ""
        index = f" --index-url {PYTORCH_INDEX}/{variant}" if variant else ""
        return f"{self.quote(self.python)} -m pip install{flags} {pkgs}{index}"


def _base(version: str | None) -> str | None:
    return version.split("+", 1)[0] if version else None


def _local(version: str | None) -> str | None:
    return version.split("+", 1)[1] if version and "+" in version else None


def _cu(cuda: str) -> str:
    """``"12.9"`` -> ``cu129``; also torchvision's integer form ``"13000"`` -> ``cu130``."""
    if cuda.isdigit() and len(cuda) >= 4:
        value = int(cuda)
        return f"cu{value // 1000}{value % 1000 // 10}"
    parts = cuda.split(".")
    return "cu" + "".join(parts[:2])


def torch_variant(info: Mapping[str, Any]) -> str | None:
    """The build variant of an imported torch: ``cpu``, ``cu130``, ``rocm6.4`` or ``xpu``."""
    if not info.get("imported"):
        return _local(info.get("version"))
    if info.get("cuda"):
        return _cu(str(info["cuda"]))
    if info.get("hip"):
        return "rocm" + ".".join(str(info["hip"]).split(".")[:2])
    if info.get("xpu"):
        return "xpu"
    local = _local(info.get("version"))
    if local and not local.startswith("cu"):
        return local
    return "cpu"


def companion_variant(ctx: _Context, package: str) -> str | None:
    """The variant a torchvision/torchaudio was built for, where something shows it."""
    info = ctx.pkg(package)
    local = _local(info.get("version"))
    if local and re.match(r"(cpu|cu\d+|rocm[\d.]+|xpu)$", local):
        return local
    if info.get("cuda"):
        return _cu(str(info["cuda"]))
    for rec in ctx.facts.get("conda_records") or ():
        if rec.get("name") == package:
            build = str(rec.get("build") or "")
            m = re.match(r"cuda(\d+)", build)
            if m:
                return "cu" + m.group(1)
            if build.startswith("cpu"):
                return "cpu"
    return None


def _variant_kind(variant: str) -> str:
    for kind in ("cu", "rocm", "xpu", "cpu"):
        if variant.startswith(kind):
            return kind
    return variant


def _variant_words(variant: str | None) -> str:
    if not variant:
        return "unknown build"
    if variant.startswith("cu") and variant[2:].isdigit():
        return f"CUDA {variant[2:-1]}.{variant[-1]}"
    if variant.startswith("rocm"):
        return f"ROCm {variant[4:]}"
    return {"cpu": "CPU", "xpu": "XPU"}.get(variant, variant)


def derive_checks(ctx: _Context) -> list[Check]:
    checks: list[Check] = []
    torch = ctx.pkg("torch")
    checks.append(_check_torch_import(ctx))
    for package in COMPANIONS:
        checks.append(_check_companion_import(ctx, package))
    imported = bool(torch.get("imported"))
    if imported:
        checks.append(_check_pairing(ctx))
        checks.append(_check_build_agreement(ctx))
        if ctx.provenance is not None:
            checks.append(_check_planned(ctx))
    if torch.get("installed") or torch.get("file"):
        checks.append(_check_shadowing(ctx))
    checks.append(_check_single_copy(ctx))
    if not imported:
        return checks
    tv = ctx.pkg("torchvision")
    if tv.get("installed"):
        checks.append(_check_ops(ctx))
    checks.extend(_device_checks(ctx))
    checks.extend(_gpu_arch_checks(ctx))
    if torch.get("cuda"):
        checks.append(_check_cudnn(ctx))
        checks.append(_check_driver(ctx))
    return checks


def _check_torch_import(ctx: _Context) -> Check:
    info = ctx.pkg("torch")
    ms = info.get("ms") if info.get("installed") else None
    if not info.get("installed"):
        fix = ctx.recreate() if ctx.provenance else ctx.install([("torch", None)], variant=None)
        return Check("torch-import", "fail", f"torch is not installed in {ctx.env_prefix}", fix, ms)
    if not info.get("imported"):
        version = _base(info.get("version"))
        fix = (
            ctx.recreate()
            if ctx.installer("torch") == "conda"
            else ctx.install([("torch", version)], variant=torch_variant(info), reinstall=True)
        )
        return Check("torch-import", "fail", f"import torch failed: {info.get('error')}", fix, ms)
    where = os.path.dirname(str(info.get("file") or ""))
    return Check(
        "torch-import",
        "pass",
        f"torch {info.get('version')} ({_variant_words(torch_variant(info))}) from {where}",
        None,
        ms,
    )


def _check_companion_import(ctx: _Context, package: str) -> Check:
    info = ctx.pkg(package)
    ms = info.get("ms") if info.get("installed") else None
    check_id = f"{package}-import"
    wanted = ctx.provenance.wants(package) if ctx.provenance else None
    variant = torch_variant(ctx.pkg("torch"))
    if not info.get("installed"):
        if wanted:
            return Check(
                check_id,
                "fail",
                f"{package} {wanted} is planned (provenance) but not installed",
                ctx.install([(package, wanted)], variant=variant),
                ms,
            )
        why = " (not planned)" if ctx.provenance else ""
        status = "pass" if ctx.provenance else "warn"
        return Check(check_id, status, f"{package} is not installed{why}", None, ms)
    if not info.get("imported"):
        version = _base(info.get("version")) or wanted
        if ctx.installer(package) == "conda":
            fix = ctx.recreate()
        else:
            fix = ctx.install([(package, version)], variant=variant, reinstall=True)
        return Check(check_id, "fail", f"import {package} failed: {info.get('error')}", fix, ms)
    return Check(check_id, "pass", f"{package} {info.get('version')}", None, ms)


def _check_pairing(ctx: _Context) -> Check:
    versions = {p: _base(ctx.pkg(p).get("version")) for p in ("torch", *COMPANIONS)}
    present = {p: v for p, v in versions.items() if v and ctx.pkg(p).get("installed")}
    if set(present) == {"torch"}:
        return Check("pairing", "pass", f"torch {present['torch']} alone (nothing to pair)")
    if isinstance(ctx.matrix, str):
        return Check("pairing", "warn", ctx.matrix)
    record = next(
        (r for r in ctx.facts.get("conda_records") or () if r.get("name") == "pytorch"), None
    )
    source = Source.of_install(
        ctx.installer("torch"), record.get("channel") if record is not None else None
    )
    try:
        reasons = list(
            ctx.matrix.pairing_ok(
                present.get("torch"),
                present.get("torchvision"),
                present.get("torchaudio"),
                source=source,
            )
        )
    except CondaTorchError as exc:
        return Check("pairing", "warn", f"cannot check pairing: {exc.line}")
    text = ", ".join(f"{p} {v}" for p, v in present.items())
    if not reasons:
        return Check("pairing", "pass", f"{text} pair")
    fix = ctx.recreate()
    return Check("pairing", "fail", f"{text} do not pair: {'; '.join(map(str, reasons))}", fix)


def _check_build_agreement(ctx: _Context) -> Check:
    tv = torch_variant(ctx.pkg("torch"))
    if tv is None:
        return Check("build-agreement", "warn", "torch's build variant is unknown")
    problems: list[tuple[str, str, str]] = []  # (status, package, text)
    seen: list[str] = []
    for package in COMPANIONS:
        if not ctx.pkg(package).get("installed"):
            continue
        cv = companion_variant(ctx, package)
        if cv is None:
            seen.append(f"{package} (build not shown)")
            continue
        seen.append(f"{package} {_variant_words(cv)}")
        if cv == tv:
            continue
        kt, kc = _variant_kind(tv), _variant_kind(cv)
        if kt == kc == "cu" and tv[2:-1] == cv[2:-1]:
            problems.append(
                (
                    "warn",
                    package,
                    (
                        f"{package} is built for {_variant_words(cv)}, torch for "
                        f"{_variant_words(tv)} (same major: usually works)"
                    ),
                )
            )
        else:
            problems.append(
                (
                    "fail",
                    package,
                    f"a {_variant_words(cv)} {package} beside a {_variant_words(tv)} torch",
                )
            )
    if not problems:
        agree = ", ".join(seen) if seen else "no companions installed"
        return Check("build-agreement", "pass", f"torch {_variant_words(tv)}; {agree}")
    status = "fail" if any(s == "fail" for s, _, _ in problems) else "warn"
    bad = [p for s, p, _ in problems if s == status]
    if any(ctx.installer(p) == "conda" for p in bad):
        fix = ctx.recreate()
    else:
        fix = ctx.install(
            [(p, _base(ctx.pkg(p).get("version"))) for p in bad], variant=tv, reinstall=True
        )
    return Check(
        "build-agreement",
        status,
        "; ".join(t for _, _, t in problems),
        fix if status == "fail" else None,
    )


def _normalise_backend(value: str) -> str:
    """Plan backends: ``cu129``, ``cuda=12.9``, ``cuda12.9``, ``cuda``, ``cpu``, ``mps``,
    ``rocm6.4``, ``rocm``, ``xpu`` -> ``cu129``, ``cu``, ``cpu``, ``mps``, ``rocm6.4``, ...
    """
    v = value.strip().lower().replace("=", "").replace(" ", "")
    m = re.match(r"cuda(\d+)\.(\d)$", v)
    if m:
        return f"cu{m.group(1)}{m.group(2)}"
    if v == "cuda":
        return "cu"
    return v


_BACKEND_WORDS = {"mps": "MPS", "cu": "CUDA", "rocm": "ROCm"}


def _check_planned(ctx: _Context) -> Check:
    assert ctx.provenance is not None
    plan = ctx.provenance.plan
    torch = ctx.pkg("torch")
    actual = torch_variant(torch) or "unknown"
    problems: list[str] = []
    backend = plan.get("backend")
    if backend:
        want = _normalise_backend(str(backend))
        mps = (ctx.facts.get("devices") or {}).get("mps") or {}
        if want == "mps":
            ok = actual == "cpu" and bool(mps.get("built"))
        elif want in ("cu", "rocm"):
            ok = actual.startswith(want)
        else:
            ok = actual == want
        if not ok:
            problems.append(
                f"planned {_BACKEND_WORDS.get(want) or _variant_words(want)}"
                f" build, found {_variant_words(actual)}"
            )
    for package in ("torch", *COMPANIONS):
        wanted = ctx.provenance.wants(package)
        have = ctx.pkg(package).get("version")
        if not installed_matches(wanted, have):
            problems.append(f"planned {package} {wanted}, found {_base(have)}")
    py_plan = plan.get("python")
    py_have = (ctx.facts.get("python") or {}).get("version", "")
    if py_plan and not installed_matches(f"={py_plan}", py_have):
        problems.append(f"planned Python {py_plan}, found {py_have}")
    if problems:
        return Check("planned-build", "fail", "; ".join(problems), ctx.recreate())
    return Check(
        "planned-build",
        "pass",
        f"matches the plan ({backend or 'backend not planned'}, torch {plan.get('torch')})",
    )


def _inside(path: str, root: str) -> bool:
    try:
        p, r = os.path.realpath(path), os.path.realpath(root)
    except (OSError, ValueError):
        return False
    return os.path.normcase(p).startswith(os.path.normcase(r.rstrip(os.sep) + os.sep))


def _check_shadowing(ctx: _Context) -> Check:
    prefix = ctx.env_prefix
    py = ctx.facts.get("python") or {}
    pythonpath = [
        p for p in str((ctx.facts.get("env") or {}).get("PYTHONPATH") or "").split(os.pathsep) if p
    ]
    outside: list[str] = []
    fix: str | None = None
    for package in ("torch", *COMPANIONS):
        file = ctx.pkg(package).get("file")
        if not file or _inside(file, prefix):
            continue
        location = os.path.dirname(os.path.dirname(file))
        if any(_inside(file, p) for p in pythonpath):
            via = "PYTHONPATH"
            fix = fix or ("set PYTHONPATH=" if sys.platform == "win32" else "unset PYTHONPATH")
        elif py.get("user_site") and _inside(file, py["user_site"]):
            via = "the user site (set PYTHONNOUSERSITE=1 to ignore it)"
            fix = fix or f"{ctx.quote(ctx.python)} -m pip uninstall -y {package}"
        else:
            via = "outside the environment"
            fix = fix or ctx.recreate()
        outside.append(f"{package} is imported from {location} ({via})")
    if outside:
        return Check("shadowing", "fail", "; ".join(outside) + f", not from {prefix}", fix)
    return Check("shadowing", "pass", f"imported from inside {prefix}")


def _check_single_copy(ctx: _Context) -> Check:
    problems: list[str] = []
    for package in ("torch", *COMPANIONS):
        dists = [d for d in ctx.facts.get("dists") or () if d.get("name") == package]
        names = CONDA_CARRIERS[package]
        records = [r for r in ctx.facts.get("conda_records") or () if r.get("name") in names]
        copies = [
            f"{d.get('version')} in {d.get('location')} ({d.get('installer') or 'no installer'})"
            for d in dists
        ]
        pip_over_conda = records and any(
            (d.get("installer") or "").lower() != "conda" for d in dists
        )
        if len(dists) > 1 or len(records) > 1 or pip_over_conda:
            conda_text = [
                f"conda {r.get('name')} {r.get('version')} ({r.get('build')})" for r in records
            ]
            problems.append(
                f"{len(set(copies) | set(conda_text))} copies of {package}: "
                + ", ".join(conda_text + copies)
            )
    if problems:
        return Check("single-copy", "fail", "; ".join(problems), ctx.recreate())
    n = sum(1 for d in ctx.facts.get("dists") or () if d.get("name") == "torch")
    return Check(
        "single-copy", "pass", "one copy of each package" if n else "no torch metadata found"
    )


def _check_ops(ctx: _Context) -> Check:
    tv = ctx.pkg("torchvision")
    nms = tv.get("nms") or {}
    if not tv.get("imported"):
        fix = (
            ctx.recreate()
            if ctx.installer("torchvision") == "conda"
            else ctx.install(
                [("torchvision", _base(tv.get("version")))],
                variant=torch_variant(ctx.pkg("torch")),
                reinstall=True,
            )
        )
        return Check(
            "torchvision-ops",
            "fail",
            f"torchvision's operators do not load: {tv.get('error')}",
            fix,
        )
    if nms.get("ok"):
        return Check("torchvision-ops", "pass", "nms runs", None, nms.get("ms"))
    fix = ctx.install(
        [("torchvision", _base(tv.get("version")))],
        variant=torch_variant(ctx.pkg("torch")),
        reinstall=True,
    )
    return Check("torchvision-ops", "fail", f"nms failed: {nms.get('error')}", fix, nms.get("ms"))


def _op_check(check_id: str, what: str, entry: Mapping[str, Any], fix: str | None) -> Check:
    if entry.get("op_ok"):
        return Check(check_id, "pass", f"tensor operation on {what}", None, entry.get("op_ms"))
    return Check(
        check_id,
        "fail",
        f"tensor operation on {what} failed: {entry.get('op_error')}",
        fix,
        entry.get("op_ms"),
    )


def _driver(ctx: _Context) -> Mapping[str, Any]:
    return ctx.facts.get("driver") or {}


def _device_checks(ctx: _Context) -> list[Check]:
    devices = ctx.facts.get("devices") or {}
    torch = ctx.pkg("torch")
    out: list[Check] = []
    out.append(_op_check("device-cpu", "the CPU", devices.get("cpu") or {}, ctx.recreate()))
    cuda = devices.get("cuda") or {}
    driver = _driver(ctx)
    gpus = int(driver.get("count") or 0)
    backend = torch_variant(torch) or ""
    if cuda.get("available"):
        for dev in devices.get("cuda_devices") or ():
            what = f"cuda:{dev.get('index')} ({dev.get('name', 'unknown GPU')})"
            out.append(_op_check(f"device-cuda:{dev.get('index')}", what, dev, ctx.recreate()))
    elif (torch.get("cuda") or torch.get("hip")) and gpus:
        detail = cuda.get("error") or "torch.cuda.is_available() is False"
        out.append(
            Check(
                "device-cuda",
                "fail",
                f"the driver shows {gpus} GPU(s) but torch cannot use them: {detail}",
                ctx.recreate(),
            )
        )
    elif (torch.get("cuda") or torch.get("hip")) and driver.get("cuda"):
        visible = (ctx.facts.get("env") or {}).get("CUDA_VISIBLE_DEVICES")
        why = f" (CUDA_VISIBLE_DEVICES={visible!r})" if visible is not None else ""
        out.append(
            Check(
                "device-cuda",
                "warn",
                f"the driver is there but shows no GPU to this build{why}: only the CPU is used",
            )
        )
    elif backend == "cpu" and gpus:
        planned_cpu = (
            ctx.provenance is not None
            and _normalise_backend(str(ctx.provenance.plan.get("backend") or "")) == "cpu"
        )
        if not planned_cpu:
            out.append(
                Check(
                    "device-cuda",
                    "warn",
                    f"this CPU build of torch cannot use the {gpus} NVIDIA GPU(s) the "
                    f"driver (CUDA {driver.get('cuda')}) shows",
                    ctx.recreate(),
                )
            )
    mps = devices.get("mps") or {}
    if mps.get("available"):
        out.append(_op_check("device-mps", "mps", mps, ctx.recreate()))
    elif mps.get("built") and (ctx.facts.get("python") or {}).get("platform") == "darwin":
        out.append(
            Check(
                "device-mps",
                "warn",
                "this torch has MPS but it is not available "
                "(macOS 12.3+ on Apple silicon is needed; under Rosetta it never is)",
            )
        )
    xpu = devices.get("xpu") or {}
    for dev in xpu.get("devices") or ():
        what = f"xpu:{dev.get('index')} ({dev.get('name', 'unknown GPU')})"
        out.append(_op_check(f"device-xpu:{dev.get('index')}", what, dev, ctx.recreate()))
    return out


def arch_verdict(capability: tuple[int, int], arch_list: Sequence[str]) -> tuple[str, str]:
    """``("pass" | "warn" | "fail", words)``: :func:`conda_torch.compat.arch_coverage` for a
    check (PTX JIT works, slowly: a warning)."""
    cov = compat.arch_coverage(capability, arch_list)
    status = {"sass": "pass", "ptx": "warn"}.get(cov.how or "", "fail")
    text = cov.describe()
    if cov.how is None:
        text += f" ({' '.join(arch_list) or 'none'})"
    return status, text


def _needs_jit(ctx: _Context) -> bool:
    """Some visible GPU runs this torch only through PTX JIT."""
    arch_list = list(ctx.pkg("torch").get("arch_list") or ())
    devices = (ctx.facts.get("devices") or {}).get("cuda_devices") or ()
    return bool(arch_list) and any(
        compat.arch_coverage((int(d["capability"][0]), int(d["capability"][1])), arch_list).how
        == "ptx"
        for d in devices
        if d.get("capability")
    )


def _gpu_arch_checks(ctx: _Context) -> list[Check]:
    torch = ctx.pkg("torch")
    devices = (ctx.facts.get("devices") or {}).get("cuda_devices") or ()
    if not devices:
        return []
    arch_list = list(torch.get("arch_list") or ())
    if not arch_list:
        return [
            Check(
                "gpu-arch",
                "warn",
                "this torch reports no GPU architectures"
                + (f" ({torch['arch_list_error']})" if torch.get("arch_list_error") else ""),
            )
        ]
    verdicts: list[tuple[str, str]] = []
    for dev in devices:
        label = f"cuda:{dev.get('index')} {dev.get('name', '')}".strip()
        if torch.get("hip"):
            gfx = str(dev.get("gcn_arch") or "").split(":", 1)[0]
            if not gfx:
                verdicts.append(("warn", f"{label}: its gfx target is not reported"))
            elif gfx in arch_list:
                verdicts.append(("pass", f"{label}: {gfx} is in the build"))
            else:
                verdicts.append(
                    ("fail", f"{label}: {gfx} is not in the build ({' '.join(arch_list)})")
                )
            continue
        cap = dev.get("capability")
        if not cap:
            verdicts.append(
                ("warn", f"{label}: compute capability not reported ({dev.get('error')})")
            )
            continue
        status, text = arch_verdict((int(cap[0]), int(cap[1])), arch_list)
        verdicts.append((status, f"{label}: {text}"))
    worst = (
        "fail"
        if any(s == "fail" for s, _ in verdicts)
        else ("warn" if any(s == "warn" for s, _ in verdicts) else "pass")
    )
    return [
        Check(
            "gpu-arch",
            worst,
            "; ".join(t for _, t in verdicts),
            ctx.recreate() if worst == "fail" else None,
        )
    ]


def cudnn_words(version: int) -> str:
    """cuDNN's integer version: 91900 -> "9.19.0" (9+), 8902 -> "8.9.2" (before 9)."""
    if version >= 90000:
        return f"{version // 10000}.{version % 10000 // 100}.{version % 100}"
    return f"{version // 1000}.{version % 1000 // 100}.{version % 100}"


def _check_cudnn(ctx: _Context) -> Check:
    torch = ctx.pkg("torch")
    ms = torch.get("cudnn_ms")
    if "cudnn" in torch:
        if torch["cudnn"]:
            return Check("cudnn", "pass", f"cuDNN {cudnn_words(int(torch['cudnn']))}", None, ms)
        why = torch.get("cudnn_error") or "torch.backends.cudnn.version() is None"
        return Check("cudnn", "fail", f"cuDNN does not load: {why}", ctx.recreate(), ms)
    if torch.get("cudnn_built"):
        return Check("cudnn", "pass", "cuDNN is compiled in (not loaded: no GPU to run it on)")
    if "cudnn_built" in torch:
        return Check("cudnn", "fail", "this CUDA build has no cuDNN", ctx.recreate())
    return Check("cudnn", "warn", f"cuDNN not checked: {torch.get('cudnn_error', 'unknown')}")


def _check_driver(ctx: _Context) -> Check:
    torch = ctx.pkg("torch")
    build = str(torch.get("cuda"))
    driver = _driver(ctx)
    if not driver:
        return Check(
            "driver",
            "warn",
            f"no NVIDIA driver found: this CUDA {build} build runs on the CPU only",
        )
    have = driver.get("cuda")
    if not have:
        return Check(
            "driver",
            "warn",
            f"the NVIDIA driver did not report its CUDA version "
            f"({driver.get('error') or 'cuDriverGetVersion rc ' + str(driver.get('version_rc'))})",
        )
    support = compat.driver_support(build, driver_cuda=str(have), needs_jit=_needs_jit(ctx))
    if support.runs is None:
        return Check("driver", "warn", f"cannot compare driver CUDA {have} with build CUDA {build}")
    if support.runs:
        return Check("driver", "pass", f"{support.reason} (build: CUDA {build})")
    return Check("driver", "fail", support.reason, ctx.recreate())


# -- validation on other nodes, through a launcher (``validate --via``) ---------------------------


@value_class
class NodeReport:
    """Validation on one node a launcher reached: the host, and its report or why none."""

    launcher: str
    host: str
    report: Report | None = None
    error: str | None = None
    #: The launcher run, whole (queueing, the node's Python, the probe).
    seconds: float | None = None
    #: The node's picture (``doctor --via`` takes it in the same run), as ``detect --json``.
    machine: Mapping[str, Any] | None = None
    #: What the node said besides its report (why it gave no picture).
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.report is not None and self.report.ok

    def gpus(self) -> list[str]:
        """``NVIDIA H100 80GB HBM3 (9.0)`` for every CUDA device the probe saw."""
        devices = (self.report.facts.get("devices") or {}) if self.report else {}
        return [
            f"{d.get('name') or 'GPU'}"
            + (f" ({'.'.join(map(str, d['capability']))})" if d.get("capability") else "")
            for d in devices.get("cuda_devices") or ()
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "launcher": self.launcher,
            "host": self.host,
            "success": self.ok,
            "error": self.error,
            "seconds": round(self.seconds, 3) if self.seconds is not None else None,
            "gpus": self.gpus(),
            "report": self.report.to_json() if self.report else None,
        }


def report_from_facts(
    facts: Mapping[str, Any],
    *,
    python: str,
    prefix: str | os.PathLike[str] | None,
    provenance: Provenance | None = None,
    name: str | None = None,
    matrix: Any = None,
    ms: float | None = None,
) -> Report:
    """The checks for what a probe reported (run here or on another node)."""
    ctx = _Context(
        facts=facts,
        python=python,
        prefix=os.fspath(prefix) if prefix is not None else None,
        name=name,
        provenance=provenance,
        matrix=_load_matrix() if matrix is None else matrix,
    )
    return Report(
        python=python,
        prefix=ctx.prefix,
        checks=tuple(derive_checks(ctx)),
        facts=facts,
        provenance=str(provenance.path) if provenance is not None else None,
        ms=ms,
        probe_ms=facts.get("ms"),
    )


def activation_variables(
    prefix: str | os.PathLike[str] | None, *, name: str | None = None
) -> dict[str, str]:
    """What activating the environment changes in this process's variables (PATH,
    ``CONDA_PREFIX``, its ``variables``): exported on the node by the script itself, since a
    launcher need not forward this process's environment."""
    root = Path(os.fspath(prefix)) if prefix is not None else None
    env = activated_environ(root, name=name)
    return {k: v for k, v in env.items() if os.environ.get(k) != v}


def validate_via(
    launchers: Sequence[str],
    *,
    python: str | os.PathLike[str],
    prefix: str | os.PathLike[str] | None = None,
    provenance: Provenance | None = None,
    name: str | None = None,
    timeout: float = PROBE_TIMEOUT_S,
    with_machine: bool = False,
) -> tuple[NodeReport, ...]:
    """Validate the environment on the node(s) each launcher reaches (one run each: ``srun
    -p a100 -N1``, ``srun -p v100 -N1``): the probe runs with the environment's own Python
    there (the same path: a shared filesystem), bounded by ``timeout`` (the launcher's whole
    process group is stopped at the bound). A launcher that runs several tasks gives one
    report per task. With one launcher, its failure raises :class:`LauncherError`; with
    several, each failure is that node type's report. ``with_machine`` also takes each node's
    picture in the same run (for ``doctor --via``).
    """
    from . import via
    from .exceptions import LauncherError

    python = os.fspath(python)
    variables = activation_variables(prefix, name=name)
    matrix = _load_matrix()
    out: list[NodeReport] = []
    for launcher in launchers:
        try:
            run = via.probe_via(
                launcher, python=python, variables=variables, timeout=timeout,
                with_machine=with_machine,
            )  # fmt: skip
        except LauncherError as exc:
            if len(launchers) == 1:
                raise
            out.append(NodeReport(launcher, "", error=exc.line))
            continue
        machines = {a.task: a.payload["machine"] for a in run.answers if "machine" in a.payload}
        failed = dict(run.failures)
        answered = set()
        for answer in run.answers:
            if "probe" not in answer.payload:
                continue
            report = report_from_facts(
                answer.payload["probe"], python=python, prefix=prefix, provenance=provenance,
                name=name, matrix=matrix, ms=round(run.seconds * 1000.0, 1),
            )  # fmt: skip
            notes = (failed[answer.task],) if answer.task in failed else ()
            out.append(NodeReport(launcher, answer.host, report, seconds=run.seconds,
                                  machine=machines.get(answer.task), notes=notes))  # fmt: skip
            answered.add(answer.task)
        for task in dict.fromkeys([*(t for t, _m in run.failures), *run.tasks]):
            if task in answered:
                continue
            why = failed.get(task) or "the probe gave no answer: " + (
                run.stderr_tail or "it printed nothing"
            )
            out.append(NodeReport(launcher, via.host_of(task), error=why, seconds=run.seconds))
    return tuple(out)


@value_class
class NodesReport:
    """Validation on several nodes as one result (``create --node ... --via``): it passes when
    every node's report passes."""

    nodes: tuple[NodeReport, ...]

    @property
    def ok(self) -> bool:
        return bool(self.nodes) and all(n.ok for n in self.nodes)

    @property
    def checks(self) -> tuple[Check, ...]:
        """Every node's checks, each id prefixed with its host (a node without a report is one
        failed ``node`` check)."""
        out: list[Check] = []
        for n in self.nodes:
            where = n.host or n.launcher
            if n.report is None:
                out.append(Check(f"{where}:node", "fail", n.error or "no report"))
                continue
            out.extend(replace(c, id=f"{where}:{c.id}") for c in n.report.checks)
        return tuple(out)

    def to_json(self) -> dict[str, Any]:
        return {"success": self.ok, "nodes": [n.to_json() for n in self.nodes]}
