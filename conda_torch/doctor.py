"""What is wrong with an environment's torch stack, in plain words, with the command that fixes it.

:func:`diagnose` runs ``validate``'s checks (the probe, run by the environment's own Python)
and adds the environment-level ones that a probe cannot see by itself or that need conda's
records, the machine picture or the provenance:

========================  ========  ==========================================================
id                        severity  what
========================  ========  ==========================================================
pip-and-conda             error     torch (or torchvision/torchaudio) installed by conda *and*
                                    by pip into the same site-packages
mixed-channels            error     the stack's conda packages come from different channels
pytorch-beside-forge      warning   ``pytorch``-channel builds beside conda-forge libraries
defaults-beside-forge     warning   ``defaults`` (pkgs/main) packages beside conda-forge ones
cpu-build-on-gpu          warning   a CPU build on a machine whose GPU a build could use
driver-too-old            error     the NVIDIA driver supports an older CUDA than the build's
arch-missing              error     a GPU whose architecture the build does not contain
user-site-shadow          error     ``~/.local`` holds torch, and the user site is enabled
pythonpath-shadow         error     ``PYTHONPATH`` holds a torch
pair-mismatch             error     torchvision/torchaudio not made for the installed torch
drift                     error     installed versions/builds differ from the provenance plan
no-torch                  info      the environment has no torch stack
interrupted-replace       error     a killed create/recreate left the old environment beside it
replace-in-progress       warning   another conda-torch is replacing the environment right now
probe-failed              error     the environment's Python cannot run (or cannot run the probe)
provenance-unreadable     warning   ``conda-meta/conda-torch.provenance`` cannot be read
validate.<check>          mapped    a failed (error) or warned (warning) validate check
========================  ========  ==========================================================

Each :class:`Finding` has a stable id, a severity, one line of explanation and the exact
command that fixes it. The library never prints; ``conda torch doctor`` and ``conda doctor``
(:mod:`conda_torch.health`) render a :class:`Diagnosis`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
import time
from pathlib import Path

from . import compat
from .builds import Build, cuda_from_digits
from .constants import COMPANIONS, CONDA_ABI_STACK, CONDA_CARRIERS, CONDA_TORCH_NAMES, PIP_STACK
from .findings import CAUSE_OF, FINDINGS, SEVERITIES, Finding
from .inventory import Inventory, installed_torch, inventory
from .models import Source, version_tuple
from .prefix import activated_environ, is_environment, python_in
from .values import field, replace, value_class

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any, Final

    from .machine import Machine

#: Version of ``doctor --json``. Bump the number on an incompatible change.
SCHEMA: Final = "conda-torch.doctor/1"

# ---------------------------------------------------------------------------------------------
# findings


@value_class
class Diagnosis:
    """Everything doctor found about one environment."""

    #: How the environment was named (``-n`` name, prefix, or interpreter).
    label: str
    prefix: str | None
    python: str | None
    name: str | None
    findings: tuple[Finding, ...]
    #: validate's report (None when the probe could not run or was not needed).
    report: Any = None
    provenance: str | None = None
    #: What doctor could not look at, and why (sentences).
    notes: tuple[str, ...] = ()
    ms: float | None = None

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    @property
    def has_torch(self) -> bool:
        return not any(f.id == "no-torch" for f in self.findings)

    def by_severity(self, severity: str) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == severity)

    def finding(self, finding_id: str) -> Finding | None:
        return next((f for f in self.findings if f.id == finding_id), None)

    def counts(self) -> dict[str, int]:
        return {s: len(self.by_severity(s)) for s in SEVERITIES}

    def to_json(self) -> dict[str, Any]:
        from . import __version__

        checks = None
        if self.report is not None:
            checks = [c.to_json() for c in self.report.checks]
        return {
            "schema": SCHEMA,
            "conda_torch_version": __version__,
            "success": self.ok,
            "label": self.label,
            "name": self.name,
            "prefix": self.prefix,
            "python": self.python,
            "provenance": self.provenance,
            "summary": self.counts(),
            "findings": [f.to_json() for f in self.findings],
            "checks": checks,
            "notes": list(self.notes),
            "ms": self.ms,
        }


def _finding(
    fid: str,
    message: str,
    fix: str | None = None,
    details: Iterable[str] = (),
    *,
    severity: str | None = None,
) -> Finding:
    return Finding(
        fid, severity or FINDINGS[fid][0], message, fix, tuple(details), cause=CAUSE_OF.get(fid)
    )


# ---------------------------------------------------------------------------------------------
# the environment-level checks


@value_class(frozen=False)
class _Ctx:
    """What the checks look at."""

    inv: Inventory
    prefix: str | None
    python: str | None
    name: str | None
    facts: Mapping[str, Any]
    provenance: Any
    environ: Mapping[str, str]
    home: Path
    machine_fn: Any
    matrix_fn: Any
    notes: list[str] = field(default_factory=list)
    _machine: Any = None
    _matrix: Any = None

    # -- lazy inputs ------------------------------------------------------------------------

    def machine(self) -> Machine | None:
        if self._machine is None:
            try:
                self._machine = self.machine_fn()
            except Exception as exc:
                self.notes.append(f"machine not detected: {getattr(exc, 'line', None) or exc}")
                self._machine = False
        return self._machine or None

    def matrix(self) -> Any:
        if self._matrix is None:
            try:
                self._matrix = self.matrix_fn()
            except Exception as exc:
                self.notes.append(
                    f"compatibility matrix unavailable: {getattr(exc, 'line', None) or exc}"
                )
                self._matrix = False
        return self._matrix or None

    # -- facts ---------------------------------------------------------------------------

    @property
    def conda(self) -> bool:
        return bool(self.prefix) and (Path(self.prefix) / "conda-meta").is_dir()

    def pkg(self, name: str) -> Mapping[str, Any]:
        return self.facts.get(name) or {}

    def version(self, package: str) -> str | None:
        """The installed version of a stack package: the probe's, else the metadata's."""
        info = self.pkg(package)
        if info.get("version"):
            return str(info["version"])
        dists = [d for d in self.inv.dist(package) if d.by_pip] or self.inv.dist(package)
        if dists:
            return dists[0].version
        rec = self.inv.record(*CONDA_CARRIERS[package])
        return rec.version if rec else None

    def build(self) -> Build | None:
        """The installed torch: metadata, corrected by what the probe saw when it imported."""
        b = installed_torch(self.inv)
        info = self.pkg("torch")
        if info.get("imported"):
            version = str(info.get("version") or (b.version if b else "?"))
            installer = b.installer if b else "pip"
            channel = b.channel if b else None
            if info.get("cuda"):
                kind, runtime = "cuda", {"cuda": str(info["cuda"])}
            elif info.get("hip"):
                kind, runtime = "rocm", {"rocm": str(info["hip"])}
            else:
                kind, runtime = "cpu", {}
            return Build(
                installer, version, kind, channel=channel, build=b.build if b else None, **runtime
            )
        return b

    def env_vars(self) -> dict[str, str]:
        """``conda env config vars`` of the environment (``conda-meta/state``)."""
        if not self.conda:
            return {}
        try:
            doc = json.loads(
                (Path(self.prefix) / "conda-meta" / "state").read_text(encoding="utf-8")
            )  # type: ignore[arg-type]
        except (OSError, ValueError):
            return {}
        env = doc.get("env_vars") if isinstance(doc, dict) else None
        return {str(k): str(v) for k, v in env.items()} if isinstance(env, dict) else {}

    # -- fix commands --------------------------------------------------------------------

    def q(self, text: str) -> str:
        return subprocess_quote(text)

    def target(self) -> str:
        if self.name:
            return f"-n {self.q(self.name)}"
        return f"-p {self.q(self.prefix or '')}"

    def recreate(self, *extra: str) -> str:
        return " ".join(["conda torch recreate", self.target(), *extra])

    def pip(self, *args: str) -> str:
        return " ".join([self.q(self.python or "python"), "-m pip", *args])


def subprocess_quote(text: str) -> str:
    if sys.platform == "win32":  # pragma: no cover
        import subprocess

        return subprocess.list2cmdline([text])
    return shlex.quote(text)


def _check_pip_and_conda(ctx: _Ctx) -> list[Finding]:
    doubles: list[str] = []
    for package in PIP_STACK:
        rec = ctx.inv.record(*CONDA_CARRIERS[package])
        pips = [d for d in ctx.inv.dist(package) if d.by_pip]
        if rec is None or not pips:
            continue
        d = pips[0]
        doubles.append(
            f"{package}: conda's {rec.name} {rec.version} ({rec.channel}, {rec.build}) and "
            f"{d.installer or 'pip'}'s {d.name} {d.version} ({d.path})"
        )
    if not doubles:
        return []
    names = ", ".join(line.split(":", 1)[0] for line in doubles)
    return [
        _finding(
            "pip-and-conda",
            f"{names} installed by both conda and pip into the same site-packages: the one written "
            "last overwrote the other's files, and conda no longer knows what is there",
            ctx.recreate() if ctx.conda else None,
            doubles,
        )
    ]


def _check_channels(ctx: _Ctx) -> list[Finding]:
    out: list[Finding] = []
    stack = [r for r in ctx.inv.records if r.name in CONDA_ABI_STACK]
    channels = sorted({r.channel for r in stack})
    if len(channels) > 1:
        out.append(
            _finding(
                "mixed-channels",
                f"the torch stack comes from {len(channels)} channels ({', '.join(channels)}): "
                "builds from different channels are made against different libraries and do not "
                "load together",
                ctx.recreate(),
                [r.label() for r in stack],
            )
        )
    torch_rec = ctx.inv.record(*CONDA_TORCH_NAMES)
    forge = [
        r for r in ctx.inv.records if r.channel == "conda-forge" and r.name not in CONDA_ABI_STACK
    ]
    if torch_rec is not None and torch_rec.channel == "pytorch" and forge:
        out.append(
            _finding(
                "pytorch-beside-forge",
                f"pytorch {torch_rec.version} comes from the pytorch channel (built against "
                f"defaults' libraries) beside {len(forge)} conda-forge packages: expect clashing "
                "libstdc++, OpenMP or MKL libraries",
                ctx.recreate("--regenerate"),
                [torch_rec.label(), *(r.label() for r in forge[:5])],
            )
        )
    defaults = [r for r in ctx.inv.records if r.defaults]
    forge_all = [r for r in ctx.inv.records if r.channel == "conda-forge"]
    dchannels = {r.channel for r in defaults}
    if defaults and forge_all and ctx.inv.has_stack:
        out.append(
            _finding(
                "defaults-beside-forge",
                f"{len(defaults)} packages from defaults ({', '.join(sorted(dchannels))}) beside "
                f"{len(forge_all)} from conda-forge: the two channels build against different "
                "libraries, so what loads depends on link order",
                ctx.recreate("--regenerate"),
                [*(r.label() for r in defaults[:5]), *(r.label() for r in forge_all[:3])],
            )
        )
    return out


def _usable_gpu(ctx: _Ctx, machine: Machine) -> tuple[str, str] | None:
    """(GPU words, backend) when a GPU build would run here (per the matrix), else None."""
    nvidia = machine.visible_nvidia_gpus
    amd = tuple(g for g in (machine.rocm.gpus if machine.rocm else ()) if not g.hidden)
    if not nvidia and not amd:
        return None
    if nvidia and not (machine.nvidia and machine.nvidia.cuda_version):
        return None  # a GPU without a working driver: no build can use it yet
    words = ", ".join(sorted({g.name or "GPU" for g in (nvidia or amd)}))
    matrix = ctx.matrix()
    if matrix is None:
        return None
    python = ctx.inv.python_version or (ctx.facts.get("python") or {}).get("version")
    python = ".".join(str(python).split(".")[:2]) if python else None
    try:
        verdicts = list(matrix.evaluate(machine, python=python))
    except Exception as exc:
        ctx.notes.append(
            f"cannot ask the matrix for GPU builds: {getattr(exc, 'line', None) or exc}"
        )
        return None
    for v in verdicts:
        kind = getattr(v.candidate.backend, "kind", "")
        if v.accepted and kind in ("cuda", "rocm"):
            return words, str(v.candidate.backend)
    return None


def _planned_backend(ctx: _Ctx) -> str | None:
    if ctx.provenance is None:
        return None
    plan = ctx.provenance.plan
    kind = plan.get("backend_kind")
    if kind:
        return str(kind)
    backend = str(plan.get("backend") or "").lower()
    for k in ("cpu", "cu", "rocm", "mps", "xpu"):
        if backend.startswith(k):
            return {"cu": "cuda"}.get(k, k)
    return None


def _check_cpu_on_gpu(ctx: _Ctx, build: Build | None) -> list[Finding]:
    if build is None or build.kind != "cpu":
        return []
    if _planned_backend(ctx) == "cpu":
        return []  # asked for
    machine = ctx.machine()
    if machine is None:
        return []
    usable = _usable_gpu(ctx, machine)
    if usable is None:
        return []
    words, backend = usable
    if ctx.conda:
        fix = ctx.recreate("--regenerate")
    else:
        fix = ctx.pip(
            "install --force-reinstall",
            f"torch=={build.base_version}",
            f"--index-url https://download.pytorch.org/whl/{backend}",
        )
    return [
        _finding(
            "cpu-build-on-gpu",
            f"{build.describe()} is a CPU build, but this machine has {words} that a {backend} "
            "build would use",
            fix,
        )
    ]


def _check_driver(ctx: _Ctx, build: Build | None) -> list[Finding]:
    """The build's CUDA against the driver (:func:`compat.driver_support`): minor-version
    compatibility runs it, unless a GPU needs PTX JIT."""
    if build is None or build.kind != "cuda" or not build.cuda:
        return []
    machine = ctx.machine()
    if machine is None or machine.nvidia is None or not machine.nvidia.cuda_version:
        return []
    archs = _arch_list(ctx, build, machine) or ()
    needs_jit = bool(archs) and any(
        compat.arch_coverage(g.compute_capability, archs).how == "ptx"
        for g in machine.visible_nvidia_gpus
        if g.compute_capability
    )
    support = compat.driver_support(
        build.cuda,
        driver=machine.nvidia.driver_version,
        driver_cuda=machine.nvidia.cuda_version,
        needs_jit=needs_jit,
        label=build.describe(),
    )
    if support.runs is not False:
        return []
    have = version_tuple(machine.nvidia.cuda_version)[:2]
    driver = machine.nvidia.driver_version or "?"
    fix = (
        ctx.recreate("--regenerate")
        if ctx.conda
        else ctx.pip(
            "install --force-reinstall",
            f"torch=={build.base_version}",
            f"--index-url https://download.pytorch.org/whl/cu{have[0]}{have[1]}",
        )
    )
    return [
        _finding(
            "driver-too-old",
            f"NVIDIA driver {driver}: {support.reason}: torch will not see the GPU. "
            "Update the driver, or rebuild for an older CUDA",
            fix,
        )
    ]


def _arch_list(ctx: _Ctx, build: Build, machine: Machine) -> list[str] | None:
    """The build's compiled architectures (``sm_90``, ``compute_120``): the probe's, else the
    matrix's for this torch release, CUDA version and source."""
    probe = ctx.pkg("torch").get("arch_list")
    if probe:
        return [str(a) for a in probe]
    matrix = ctx.matrix()
    subdir = machine.platform.native_subdir or machine.platform.subdir
    if matrix is None or not build.cuda or not subdir:
        return None
    source = (
        "pip"
        if build.installer == "pip"
        else ("pytorch" if build.channel == "pytorch" else "conda-forge")
    )
    return matrix.arch_list(subdir=subdir, torch=build.base_version, cuda=build.cuda, source=source)


def _check_arch(ctx: _Ctx, build: Build | None) -> list[Finding]:
    if build is None or build.kind != "cuda":
        return []
    machine = ctx.machine()
    gpus = [g for g in (machine.visible_nvidia_gpus if machine else ()) if g.compute_capability]
    if not gpus:
        return []
    assert machine is not None
    archs = _arch_list(ctx, build, machine)
    if not archs:
        return []
    missing = []
    for g in gpus:
        cap = version_tuple(g.compute_capability)
        if len(cap) < 2:
            continue
        cov = compat.arch_coverage((cap[0], cap[1]), archs)
        if cov.how is None:
            missing.append(
                f"GPU {g.index if g.index is not None else '?'} {g.name or ''} "
                f"(compute capability {g.compute_capability}): {cov.describe()} "
                f"({compat.arch_span(archs)})"
            )
    if not missing:
        return []
    return [
        _finding(
            "arch-missing",
            f"{build.describe()} has no code for {len(missing)} of this machine's GPUs: "
            "CUDA calls fail with 'no kernel image is available'",
            ctx.recreate("--regenerate") if ctx.conda else None,
            missing,
        )
    ]


def _holds_stack(folder: str | os.PathLike[str]) -> list[str]:
    root = Path(folder)
    if not root.is_dir():
        return []
    found = []
    for package in PIP_STACK:
        if (root / package / "__init__.py").is_file():
            found.append(package)
    return found


def _user_site(ctx: _Ctx) -> str | None:
    py = ctx.facts.get("python") or {}
    if py.get("user_site"):
        return str(py["user_site"])
    version = ctx.inv.python_version
    if not version:
        return None
    if sys.platform == "win32":  # pragma: no cover
        base = ctx.environ.get("APPDATA") or str(ctx.home / "AppData" / "Roaming")
        return str(Path(base) / "Python" / f"Python{version.replace('.', '')}" / "site-packages")
    base = ctx.environ.get("PYTHONUSERBASE") or str(ctx.home / ".local")
    return str(Path(base) / "lib" / f"python{version}" / "site-packages")


def _check_shadowing(ctx: _Ctx) -> list[Finding]:
    out: list[Finding] = []
    variables = ctx.env_vars()
    # -- ~/.local --
    site = _user_site(ctx)
    disabled = bool(ctx.environ.get("PYTHONNOUSERSITE") or variables.get("PYTHONNOUSERSITE"))
    py = ctx.facts.get("python") or {}
    if py.get("user_site_enabled") is False:
        disabled = True
    held = _holds_stack(site) if site else []
    if held and not disabled:
        fix = (
            f"conda env config vars set {ctx.target()} PYTHONNOUSERSITE=1"
            if ctx.conda
            else ctx.pip("uninstall -y", *held)
        )
        out.append(
            _finding(
                "user-site-shadow",
                f"{site} holds {', '.join(held)} (pip install --user): Python puts the user site "
                "before the environment's site-packages, so that copy is imported instead",
                fix,
                [str(Path(site) / p) for p in held],  # type: ignore[arg-type]
            )
        )
    # -- PYTHONPATH (the caller's, and one set as an environment variable of the env) --
    for origin, value in (
        ("PYTHONPATH", ctx.environ.get("PYTHONPATH")),
        ("the environment's PYTHONPATH variable", variables.get("PYTHONPATH")),
    ):
        entries = [p for p in str(value or "").split(os.pathsep) if p]
        bad = [(p, _holds_stack(p)) for p in entries]
        bad = [(p, h) for p, h in bad if h]
        if not bad:
            continue
        if origin == "PYTHONPATH":
            rest = [p for p in entries if p not in {b for b, _ in bad}]
            fix = (
                "unset PYTHONPATH"
                if not rest
                else f"export PYTHONPATH={ctx.q(os.pathsep.join(rest))}"
            )
        else:
            fix = f"conda env config vars unset {ctx.target()} PYTHONPATH"
        out.append(
            _finding(
                "pythonpath-shadow",
                f"{origin} puts {', '.join(sorted({x for _, h in bad for x in h}))} from "
                f"{', '.join(p for p, _ in bad)} before the environment's own site-packages",
                fix,
                [f"{p}: {', '.join(h)}" for p, h in bad],
            )
        )
    return out


def _check_pairs(ctx: _Ctx) -> list[Finding]:
    versions = {p: ctx.version(p) for p in PIP_STACK}
    present = {p: v.split("+")[0] for p, v in versions.items() if v}
    if "torch" not in present or len(present) < 2:
        return []
    matrix = ctx.matrix()
    if matrix is None:
        return []
    try:
        b = installed_torch(ctx.inv)
        source = Source.of_install(b.installer, b.channel) if b is not None else None
        reasons = list(
            matrix.pairing_ok(
                present["torch"],
                present.get("torchvision"),
                present.get("torchaudio"),
                source=source,
            )
        )
    except Exception as exc:
        ctx.notes.append(f"pairing not checked: {getattr(exc, 'line', None) or exc}")
        return []
    if not reasons:
        return []
    text = ", ".join(f"{p} {v}" for p, v in present.items())
    fix = ctx.recreate() if ctx.conda else _pip_pair_fix(ctx, matrix, present)
    return [
        _finding(
            "pair-mismatch",
            f"{text} were not made for each other: {'; '.join(map(str, reasons))}",
            fix,
        )
    ]


def _pip_pair_fix(ctx: _Ctx, matrix: Any, present: Mapping[str, str]) -> str | None:
    """``pip install torchvision==X`` with the versions the matrix pairs with this torch."""
    try:
        tv, ta = matrix.companions(present["torch"])
    except Exception:
        return None
    wanted = {"torchvision": tv, "torchaudio": ta}
    specs = []
    for package in COMPANIONS:
        want = wanted.get(package)
        if package in present and want:
            specs.append(f"{package}=={want}")
    if not specs:
        return None
    b = ctx.build()
    variant = (
        "cpu"
        if b is not None and b.kind == "cpu"
        else (f"cu{''.join(b.cuda.split('.')[:2])}" if b is not None and b.cuda else None)
    )
    index = f" --index-url https://download.pytorch.org/whl/{variant}" if variant else ""
    return ctx.pip("install --force-reinstall --no-deps", *specs) + index


def _check_drift(ctx: _Ctx, build: Build | None) -> list[Finding]:
    from .specs import installed_matches

    prov = ctx.provenance
    if prov is None:
        return []
    plan = prov.plan
    diffs: list[str] = []
    for package in PIP_STACK:
        want = prov.wants(package)
        have = ctx.version(package)
        if want and not have:
            diffs.append(f"{package} {want} is planned but not installed")
        elif not installed_matches(want, have):
            diffs.append(f"{package}: planned {want}, installed {have.split('+')[0]}")
    planned = _planned_backend(ctx)
    if build is not None and planned in ("cpu", "cuda", "rocm") and build.kind != "unknown":
        if planned != build.kind:
            diffs.append(
                f"planned a {planned.upper() if planned != 'cuda' else 'CUDA'} build, "
                f"installed {build.describe()}"
            )
        elif planned == "cuda":
            want_cuda = _plan_cuda(plan)
            if (
                want_cuda
                and build.cuda
                and version_tuple(want_cuda)[:2] != version_tuple(build.cuda)[:2]
            ):
                diffs.append(f"planned CUDA {want_cuda}, installed CUDA {build.cuda}")
    source = str(plan.get("source") or "")
    if build is not None and source in ("conda-forge", "pytorch", "pip"):
        want_installer = "pip" if source == "pip" else "conda"
        if build.installer != want_installer:
            diffs.append(f"planned torch from {source}, installed by {build.installer}")
        elif (
            want_installer == "conda"
            and build.channel
            and build.channel != source
            and not build.channel.startswith("file:")
        ):
            diffs.append(f"planned torch from {source}, installed from {build.channel}")
    py_plan = plan.get("python")
    py_have = ctx.inv.python_version or (ctx.facts.get("python") or {}).get("version")
    if py_plan and py_have and not installed_matches(f"={py_plan}", str(py_have)):
        diffs.append(f"planned Python {py_plan}, installed {py_have}")
    if not diffs:
        return []
    return [
        _finding(
            "drift",
            f"the environment no longer matches what it was built as ({prov.path}): "
            + "; ".join(diffs),
            ctx.recreate(),
            diffs,
        )
    ]


def _plan_cuda(plan: Mapping[str, Any]) -> str | None:
    backend = str(plan.get("backend") or "").lower()
    m = re.match(r"cu(?:da)?[=\s]*(\d+)(?:\.(\d+))?$", backend)
    if not m:
        return None
    return cuda_from_digits(m.group(1), m.group(2))


def _check_leftovers(ctx: _Ctx) -> list[Finding]:
    """A backup left beside the environment by a create/recreate that was killed (only a folder
    carrying conda-torch's marker counts: see ``create.is_backup_of``)."""
    if not ctx.prefix:
        return []
    from .create import backup_path, leftover_advice

    advice = leftover_advice(ctx.prefix)
    if advice is None:
        return []
    backup = backup_path(ctx.prefix)
    return [
        _finding(
            "interrupted-replace",
            f"a conda-torch create/recreate was killed while replacing this environment: the "
            f"environment that was here before is at {backup}",
            advice[0],
            [f"to keep the current one instead: rm -rf {ctx.q(backup)}"],
        )
    ]


def _in_progress(root: Path, label: str, name: str | None) -> Diagnosis | None:
    """Another conda-torch holds the environment's lock: say so and look at nothing else (what
    is at the prefix is that run's unfinished work)."""
    from .create import lock_holder

    holder = lock_holder(str(root))
    if holder is None:
        return None
    finding = _finding(
        "replace-in-progress",
        holder.sentence("this environment")
        + ": what is there is unfinished; run doctor again when it is done",
    )
    return Diagnosis(
        label=label, prefix=str(root), python=None, name=name, findings=(finding,),
        notes=("nothing else was checked while another run is replacing the environment",),
    )  # fmt: skip


#: validate checks that a doctor finding explains better: the check is not repeated when the
#: finding is present.
COVERED_BY: Final[dict[str, tuple[str, ...]]] = {
    "single-copy": ("pip-and-conda",),
    "shadowing": ("user-site-shadow", "pythonpath-shadow"),
    "driver": ("driver-too-old",),
    "gpu-arch": ("arch-missing",),
    "pairing": ("pair-mismatch",),
    "planned-build": ("drift",),
    "device-cuda": ("cpu-build-on-gpu", "driver-too-old"),
}


#: validate checks that fail as a consequence of a companion made for another torch: with a
#: ``pair-mismatch`` finding their fix is the pairing one (reinstalling the same wrong version
#: would not help).
PAIR_CONSEQUENCES: Final = frozenset(
    {"torchvision-import", "torchaudio-import", "torchvision-ops", "build-agreement"}
)


def _from_checks(report: Any, found: Sequence[Finding]) -> list[Finding]:
    have = {f.id for f in found}
    pair = next((f for f in found if f.id == "pair-mismatch"), None)
    out: list[Finding] = []
    for check in report.checks:
        if check.status == "pass":
            continue
        base_id = check.id.split(":", 1)[0]
        if any(f in have for f in COVERED_BY.get(base_id, ())):
            continue
        severity = "error" if check.status == "fail" else "warning"
        if check.status == "warn" and base_id in ("torchvision-import", "torchaudio-import"):
            severity = "info"  # not installed, and nothing asked for it
        fix = check.fix
        if pair is not None and base_id in PAIR_CONSEQUENCES and check.status == "fail":
            fix = pair.fix
        out.append(Finding(f"validate.{check.id}", severity, check.message, fix, source="validate"))
    return out


# ---------------------------------------------------------------------------------------------
# the entry point


def diagnose(
    *,
    prefix: str | os.PathLike[str] | None = None,
    python: str | os.PathLike[str] | None = None,
    name: str | None = None,
    machine: Machine | None = None,
    environ: Mapping[str, str] | None = None,
    home: str | os.PathLike[str] | None = None,
    run_probe: bool = True,
    matrix: Any = None,
    timeout: float | None = None,
    report: Any = None,
) -> Diagnosis:
    """Diagnose the environment at ``prefix`` (or the one ``python`` runs in).

    ``report`` is validate's report when the probe already ran (on another node:
    :func:`diagnose_via`); it is not run again.

    ``name`` words the fix commands (``-n name``); ``machine`` is the machine picture (detected
    when a check needs it and none is given); ``environ``/``home`` are the caller's variables
    and home folder (``PYTHONPATH``, ``~/.local``); ``run_probe=False`` skips validate's probe
    (metadata-only checks: fast, but blind to what imports); ``timeout`` bounds the probe
    (default: ``validate.PROBE_TIMEOUT_S``). Raises
    :class:`~conda_torch.exceptions.EnvironmentNotFoundError` for a prefix that is not an
    environment; a Python that cannot run becomes a ``probe-failed`` finding.
    """
    from .exceptions import EnvironmentNotFoundError, ProbeError, ProvenanceError

    started = time.perf_counter()
    env = dict(os.environ if environ is None else environ)
    root: Path | None = Path(os.fspath(prefix)).absolute() if prefix is not None else None
    if root is not None:
        busy = _in_progress(root, name or str(root), name)
        if busy is not None:
            return busy
        if not root.exists():
            raise EnvironmentNotFoundError(
                f"environment {root} does not exist",
                hints=["List environments with `conda env list`."],
            )
        if not root.is_dir() or not is_environment(root):
            raise EnvironmentNotFoundError(
                f"{root} is not a conda environment (no conda-meta/) or virtual environment "
                "(no pyvenv.cfg)",
                hints=["Pass the environment's root folder, or --python PATH for any interpreter."],
            )
    interpreter = (
        Path(os.fspath(python)) if python is not None else (python_in(root) if root else None)
    )
    if interpreter is None:
        raise EnvironmentNotFoundError(
            "no environment given", hints=["Pass -n NAME, -p PREFIX or --python PATH."]
        )
    label = name or (str(root) if root else str(interpreter))
    notes: list[str] = []
    findings: list[Finding] = []

    prov = None
    if root is not None:
        from . import provenance as provenance_mod

        try:
            prov = provenance_mod.read(root)
        except ProvenanceError as exc:
            findings.append(_finding("provenance-unreadable", exc.line, None, exc.hints))

    # -- validate's probe ---------------------------------------------------------------
    inv = inventory(root) if root is not None else None
    facts: Mapping[str, Any] = {}
    home_dir = Path(home) if home is not None else Path(env.get("HOME") or Path.home())
    if inv is not None and not inv.has_stack and prov is None:
        # Nothing here to import: probe only when something outside could be imported instead.
        pre = _Ctx(
            inv=inv,
            prefix=str(root),
            python=str(interpreter),
            name=name,
            facts={},
            provenance=None,
            environ=env,
            home=home_dir,
            machine_fn=None,
            matrix_fn=None,
        )
        needs_probe = run_probe and bool(_check_shadowing(pre))
    else:
        needs_probe = run_probe
    if report is not None:
        facts = report.facts
    elif needs_probe and interpreter.exists():
        from .validate import validate

        try:
            report = validate(
                python=interpreter,
                prefix=root,
                provenance=prov,
                environ=_probe_environ(root, name, env),
                name=name,
                **({"timeout": timeout} if timeout else {}),
            )
            facts = report.facts
        except ProbeError as exc:
            findings.append(
                _finding("probe-failed", exc.line, ctx_fix_probe(root, name), exc.hints)
            )
    elif needs_probe and report is None:
        findings.append(
            _finding(
                "probe-failed",
                f"the environment has no Python ({interpreter})",
                ctx_fix_probe(root, name),
            )
        )
    if root is None:
        sys_prefix = (facts.get("python") or {}).get("prefix")
        if sys_prefix:
            root_guess = Path(str(sys_prefix))
            extra = [
                p
                for p in (facts.get("python") or {}).get("path") or ()
                if str(p).endswith(("site-packages", "dist-packages"))
                and str(p).startswith(str(root_guess))
            ]
            inv = inventory(root_guess, site_packages=extra)
            if (root_guess / "conda-meta").is_dir() or (root_guess / "pyvenv.cfg").is_file():
                root = root_guess
        else:
            inv = Inventory(prefix="")
    assert inv is not None

    def machine_fn() -> Machine:
        if machine is not None:
            return machine
        from .detect import detect

        return detect(environ=env)

    def matrix_fn() -> Any:
        if matrix is not None:
            return matrix
        from .matrix import load

        return load()

    ctx = _Ctx(
        inv=inv,
        prefix=str(root) if root else None,
        python=str(interpreter),
        name=name,
        facts=facts,
        provenance=prov,
        environ=env,
        home=home_dir,
        machine_fn=machine_fn,
        matrix_fn=matrix_fn,
        notes=notes,
    )

    stack_here = inv.has_stack or bool((facts.get("torch") or {}).get("installed"))
    findings.extend(_check_leftovers(ctx))
    shadows = _check_shadowing(ctx)
    if not stack_here and not shadows and prov is None:
        findings.append(_finding("no-torch", f"no torch, torchvision or torchaudio in {label}"))
    else:
        build = ctx.build()
        findings.extend(_check_pip_and_conda(ctx))
        findings.extend(_check_channels(ctx))
        findings.extend(shadows)
        findings.extend(_check_pairs(ctx))
        findings.extend(_check_drift(ctx, build))
        findings.extend(_check_cpu_on_gpu(ctx, build))
        findings.extend(_check_driver(ctx, build))
        findings.extend(_check_arch(ctx, build))
        if report is not None:
            findings.extend(_from_checks(report, findings))
    order = {s: i for i, s in enumerate(SEVERITIES)}
    findings.sort(key=lambda f: order.get(f.severity, 9))
    return Diagnosis(
        label=label,
        prefix=str(root) if root else None,
        python=str(interpreter),
        name=name,
        findings=tuple(findings),
        report=report,
        provenance=str(prov.path) if prov is not None else None,
        notes=tuple(notes),
        ms=round((time.perf_counter() - started) * 1000.0, 1),
    )


def ctx_fix_probe(root: Path | None, name: str | None) -> str | None:
    if root is None or not (root / "conda-meta").is_dir():
        return None
    target = f"-n {subprocess_quote(name)}" if name else f"-p {subprocess_quote(str(root))}"
    return f"conda torch recreate {target}"


def _probe_environ(root: Path | None, name: str | None, env: Mapping[str, str]) -> dict[str, str]:

    return activated_environ(root, name=name, environ=env)


def diagnose_all(
    envs: Sequence[tuple[str, str | None]],
    *,
    machine: Machine | None = None,
    environ: Mapping[str, str] | None = None,
    home: str | os.PathLike[str] | None = None,
    run_probe: bool = True,
    timeout: float | None = None,
) -> list[Diagnosis]:
    """Diagnose each ``(prefix, name)``; an environment that vanished becomes a note."""
    from .exceptions import CondaTorchError

    out: list[Diagnosis] = []
    matrix: Any = None
    try:
        from .matrix import load

        matrix = load()
    except Exception:
        matrix = None
    for prefix, name in envs:
        try:
            d = diagnose(
                prefix=prefix,
                name=name,
                machine=machine,
                environ=environ,
                home=home,
                run_probe=run_probe,
                matrix=matrix,
                timeout=timeout,
            )
        except CondaTorchError as exc:
            d = Diagnosis(
                label=name or prefix,
                prefix=prefix,
                python=None,
                name=name,
                findings=(Finding("not-an-environment", "error", exc.line),),
            )
        out.append(d)
    return out


@value_class
class NodeDiagnosis:
    """``doctor --via``: one node's diagnosis (None when the node gave no report)."""

    node: Any  # validate.NodeReport
    diagnosis: Diagnosis | None

    @property
    def ok(self) -> bool:
        return self.diagnosis is not None and self.diagnosis.ok

    def to_json(self) -> dict[str, Any]:
        return {
            **self.node.to_json(),
            "success": self.ok,
            "report": None,
            "diagnosis": self.diagnosis.to_json() if self.diagnosis else None,
        }


def diagnose_via(
    launchers: Sequence[str],
    *,
    prefix: str | os.PathLike[str] | None = None,
    python: str | os.PathLike[str] | None = None,
    name: str | None = None,
    timeout: float | None = None,
    home: str | os.PathLike[str] | None = None,
) -> tuple[NodeDiagnosis, ...]:
    """Diagnose the environment on the node each launcher reaches: validate's probe and the
    node's picture come from one run there (:func:`conda_torch.validate.validate_via`), the
    environment-level checks read the environment itself (a filesystem the nodes share), and
    the GPU findings judge the node's driver and GPUs, not this machine's."""
    from .machine import Machine
    from .validate import PROBE_TIMEOUT_S, validate_via

    root = Path(os.fspath(prefix)).absolute() if prefix is not None else None
    interpreter = (
        Path(os.fspath(python)) if python is not None else (python_in(root) if root else None)
    )
    if interpreter is None:
        from .exceptions import EnvironmentNotFoundError

        raise EnvironmentNotFoundError(
            "no environment given", hints=["Pass -n NAME, -p PREFIX or --python PATH."]
        )
    prov = None
    if root is not None:
        from . import provenance as provenance_mod
        from .exceptions import ProvenanceError

        try:
            prov = provenance_mod.read(root)
        except ProvenanceError:
            prov = None  # diagnose() reports it
    nodes = validate_via(
        launchers, python=interpreter, prefix=root, provenance=prov, name=name,
        timeout=timeout or PROBE_TIMEOUT_S, with_machine=True,
    )  # fmt: skip
    out = []
    for node in nodes:
        if node.report is None:
            out.append(NodeDiagnosis(node, None))
            continue
        try:
            machine = Machine.from_json(dict(node.machine)) if node.machine else None
        except (ValueError, TypeError):
            machine = None
        d = diagnose(
            prefix=root, python=None if root else interpreter, name=name,
            machine=machine or Machine(mode="files"), home=home, report=node.report,
        )  # fmt: skip
        if machine is None:
            why = "; ".join(node.notes) or "it printed none"
            note = (
                f"node {node.host} gave no picture of itself ({why}): its driver and GPUs "
                "were not judged"
            )
            d = replace(d, notes=(*d.notes, note))
        took = (d.ms or 0.0) + (node.seconds or 0.0) * 1000.0  # the run on the node included
        out.append(NodeDiagnosis(node, replace(d, label=f"{d.label} on node {node.host}",
                                               ms=round(took, 1))))  # fmt: skip
    return tuple(out)
