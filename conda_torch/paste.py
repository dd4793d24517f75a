"""``doctor --from``: what is wrong with a torch installation, from what someone pasted.

**Reading.** Every paste goes through the capture parsers (:func:`conda_torch.captures.observe`):
the strict ones (``nvidia-smi``, ``collect_env``, ``rocminfo``, ``sysctl``…) and the lenient
readers of pasted reports (package listings, torch's own messages, installer output, the
platform the text shows). Their observations are merged into one machine picture, as
``detect --from`` does, and the compute capability of a GPU known only by name is looked up.
Packages and events (what the paste says happened) are kept beside it. Nothing is guessed: a fact
no line shows stays unknown, and every finding quotes the lines it rests on.

**Diagnosing.** The checks ask, in order, what torch, CUDA, HIP or the installer said itself
(``too old (found version 11040)``, ``sm_120 is not compatible``, ``No matching distribution``),
then what the facts imply through the same rules ``doctor`` uses for an environment
(:func:`compat.driver_support`, :func:`compat.arch_coverage`, :meth:`Matrix.pairing_ok`, the
builds the matrix knows). A finding is an error when the paste shows the cause, a warning when
one fact it needs is missing (a CPU build, but no GPU shown), and info for a symptom that is no
cause by itself (``torchvision::nms does not exist`` comes from mismatched packages and from
``torch.hub`` code written for another torchvision alike): it says what it can mean and what
would tell. With no error, the report says what was checked and that the problem is likely
elsewhere.
"""

from __future__ import annotations

import re
import time

from .constants import PIP_STACK
from .findings import CAUSE_OF, SEVERITIES, Finding
from .findings import FINDINGS as DOCTOR_FINDINGS
from .models import Source, version_tuple
from .values import replace, value_class

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any, Final

    from .machine import GPU, Machine, Observation

#: Version of ``doctor --from --json``. Bump the number on an incompatible change.
SCHEMA: Final = "conda-torch.doctor-paste/1"

#: Findings only a paste gives: id -> (severity, cause, title). Ids shared with ``doctor``
#: (``arch-missing``, ``driver-too-old``, ``pair-mismatch``, ``mixed-channels``,
#: ``pip-and-conda``, ``cpu-build-on-gpu``, ``user-site-shadow``, ``pytorch-beside-forge``) keep
#: doctor's cause (:data:`conda_torch.findings.CAUSE_OF`).
FINDINGS: Final[dict[str, tuple[str, str | None, str]]] = {
    "cpu-build-chosen": ("error", "cpu_build_on_gpu", "a CPU build where CUDA was asked for"),
    "cpu-build": ("warning", "cpu_build_on_gpu", "a CPU build of torch (the GPU is not shown)"),
    "two-torch": ("error", "duplicate_install", "two torch packages in one environment"),
    "torch-mixed-files": ("error", "duplicate_install", "torch's files come from two installs"),
    "mkl-abi": ("error", "mixed_channels", "a conda torch beside an MKL it was not built with"),
    "source-tree-shadow": ("error", "shadowed", "a torch source folder imported instead"),
    "imported-not-installed": ("error", "shadowed", "the imported torch is not the installed one"),
    "rosetta": ("error", "rosetta", "an x86_64 Python on Apple silicon"),
    "cuda-on-mac": ("error", "cuda_on_mac", "CUDA asked for on a Mac"),
    "rocm-gfx-unsupported": ("error", "rocm_unsupported_gfx", "no ROCm code for this AMD GPU"),
    "macos-too-old": ("error", "macos_too_old", "macOS older than this torch needs"),
    "no-build-for-platform": ("error", "no_build_for_platform", "no torch build for this platform"),
    "no-nvidia-driver": ("error", None, "no NVIDIA driver"),
    "extension-mismatch": ("warning", None, "an extension built for another torch"),
    "symptom": ("info", None, "a symptom, not a cause by itself"),
    "consistent": ("info", None, "the installation looks consistent"),
    "nothing-read": ("info", None, "nothing in the paste tells about torch"),
    "stack-not-shown": ("info", None, "the paste does not show which torch is installed"),
}  # fmt: skip

#: What to paste when the paste does not tell.
ASK: Final = (
    "python -m torch.utils.collect_env (all of it), and nvidia-smi where there is an NVIDIA GPU"
)

#: Placeholder for a paste read from standard input, in fix commands.
STDIN_FILE: Final = "report.txt"


# ---------------------------------------------------------------------------------------------
# reading


@value_class
class Reading:
    """Everything read from the pastes: the machine picture, packages and events."""

    sources: tuple[str, ...]
    machine: Machine
    observations: tuple[Observation, ...]
    #: Every plain line of every paste (for quoting a fact whose reader kept no line).
    lines: tuple[str, ...] = ()

    @property
    def packages(self) -> list[dict[str, Any]]:
        return [p for o in self.observations for p in o.packages]

    @property
    def events(self) -> list[dict[str, Any]]:
        return [e for o in self.observations for e in o.events]

    def event(self, *ids: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["id"] in ids]

    def line(self, key: str, value: Any = None) -> str | None:
        """The line a fact (``torch.version``, ``nvidia.driver_version``, ``gpus.0.name``) was
        read from: its reader's, else the first line showing the value."""
        for obs in self.observations:
            if obs.evidence.get(key):
                return obs.evidence[key]
        if value not in (None, "", True, False):
            text = str(value)
            return next((ln for ln in self.lines if text in ln), None)
        return None

    @property
    def empty(self) -> bool:
        return not any(o.found for o in self.observations)


def read(items: Sequence[tuple[str, str]]) -> Reading:
    """Read pastes given as ``(label, text)``."""
    from .detect import amd_names, captures
    from .detect.gpu_names import infer_missing
    from .machine import merge

    observations: list[Observation] = []
    lines: list[str] = []
    for label, text in items:
        capture = captures.Capture.from_text(captures.bounded(text))
        observations.extend(captures.observe_capture(capture, source=label))
        lines.extend(capture.plain)
    ordered = captures.ranked(observations)
    machine = infer_missing(merge(ordered, mode="files", inputs=tuple(label for label, _ in items)))
    machine, notes = amd_names.infer_missing(machine)
    if notes:
        machine = replace(machine, notes=machine.notes + tuple(notes))
    return Reading(
        sources=tuple(label for label, _ in items),
        machine=machine,
        observations=tuple(ordered),
        lines=tuple(ln for ln in lines if ln),
    )


def read_files(paths: Sequence[str]) -> list[tuple[str, str]]:
    """``(label, text)`` of each path (``-``: standard input), through the capture reader's caps
    (size, binary, directory, unreadable, empty)."""
    from .detect.captures import read_capture
    from .exceptions import STDIN, STDIN_LABEL

    return [(STDIN_LABEL if p == STDIN else p, read_capture(p)) for p in paths]


# ---------------------------------------------------------------------------------------------
# the diagnosis


@value_class
class PasteDiagnosis:
    """The findings about one reported installation, and the facts they rest on."""

    sources: tuple[str, ...]
    findings: tuple[Finding, ...]
    reading: Reading
    notes: tuple[str, ...] = ()
    ms: float | None = None

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    @property
    def cause(self) -> str | None:
        """The cause the first error names (``None``: no error, or none of the vocabulary)."""
        return next((f.cause for f in self.findings if f.severity == "error"), None)

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for f in self.findings if f.severity == s) for s in SEVERITIES}

    @staticmethod
    def title(finding: Finding) -> str:
        """A finding's title (``NVIDIA driver too old for the build's CUDA``)."""
        if finding.id in FINDINGS:
            return FINDINGS[finding.id][2]
        return DOCTOR_FINDINGS.get(finding.id, ("", finding.id))[1]

    def facts(self) -> dict[str, Any]:
        """What was read: the machine picture, the packages, the events."""
        m = self.reading.machine.to_json()
        for key in ("schema", "conda_torch_version", "mode", "overrides", "probes", "errors"):
            m.pop(key, None)
        return {
            "machine": m,
            "packages": [dict(p) for p in self.reading.packages],
            "events": [dict(e) for e in self.reading.events],
        }

    def summary(self) -> list[str]:
        """What the paste shows, one short line per part (torch, GPUs, driver, platform)."""
        m = self.reading.machine
        out: list[str] = []
        t = m.torch
        if t and t.version:
            build = f" (CUDA {t.cuda})" if t.cuda else (f" (ROCm {t.rocm})" if t.rocm else "")
            comps = ", ".join(
                f"{n} {v}"
                for n, v in (("torchvision", t.torchvision), ("torchaudio", t.torchaudio))
                if v
            )
            out.append(f"torch {t.version}{build}" + (f"; {comps}" if comps else ""))
        gpus = [
            *m.nvidia_gpus,
            *(m.rocm.gpus if m.rocm else ()),
            *(m.apple.gpus if m.apple else ()),
        ]
        for g in gpus:
            cc = ""
            if g.compute_capability:
                cc = f", compute capability {g.compute_capability}" + (
                    " (from its name)" if g.compute_capability_inferred else ""
                )
            out.append(f"GPU: {g.name or g.vendor}{cc}" + (f", {g.gfx}" if g.gfx else ""))
        if m.nvidia and (m.nvidia.driver_version or m.nvidia.cuda_version):
            out.append(
                (
                    f"NVIDIA driver {m.nvidia.driver_version}"
                    if m.nvidia.driver_version
                    else "NVIDIA driver (version not shown)"
                )
                + (f", supports CUDA {m.nvidia.cuda_version}" if m.nvidia.cuda_version else "")
            )
        p = m.platform
        words = [
            w
            for w in (
                p.subdir,
                {"linux": "Linux", "macos": "macOS", "windows": "Windows"}.get(p.os or "", p.os),
                p.distro,
                p.macos_version,
                p.machine,
                f"Python {p.python_version}" if p.python_version else None,
            )
            if w
        ]
        if m.apple and m.apple.chip:
            words.append(m.apple.chip)
        if words:
            out.append("platform: " + ", ".join(dict.fromkeys(words)))
        return out

    def to_json(self) -> dict[str, Any]:
        from . import __version__

        return {
            "schema": SCHEMA,
            "conda_torch_version": __version__,
            "success": self.ok,
            "sources": list(self.sources),
            "cause": self.cause,
            "summary": self.counts(),
            "findings": [f.to_json() for f in self.findings],
            "facts": self.facts(),
            "notes": list(self.notes),
            "ms": self.ms,
        }


def diagnose_files(paths: Sequence[str], *, matrix: Any = None) -> PasteDiagnosis:
    """Diagnose the pastes in ``paths`` (``-``: standard input); raises
    :class:`~conda_torch.exceptions.InputFileError` for a file that cannot be a paste."""
    return diagnose_texts(read_files(paths), matrix=matrix)


def diagnose_texts(items: Sequence[tuple[str, str]], *, matrix: Any = None) -> PasteDiagnosis:
    """Diagnose pastes given as ``(label, text)``, read together (they describe one machine)."""
    started = time.perf_counter()
    reading = read(items)
    case = _Case(reading, matrix)
    findings = case.diagnose()
    order = {s: i for i, s in enumerate(SEVERITIES)}
    findings.sort(key=lambda f: order.get(f.severity, 9))
    return PasteDiagnosis(
        sources=reading.sources,
        findings=tuple(findings),
        reading=reading,
        notes=tuple(dict.fromkeys([*reading.machine.notes, *case.notes])),
        ms=round((time.perf_counter() - started) * 1000.0, 1),
    )


# ---------------------------------------------------------------------------------------------
# the facts the checks ask about


@value_class
class Built:
    """A torch (or companion) the paste shows, and what it was built for."""

    name: str
    version: str
    #: ``cuda``, ``rocm``, ``cpu`` or ``unknown``.
    kind: str
    cuda: str | None = None
    rocm: str | None = None
    #: ``pip``, ``conda`` or None (not shown).
    installer: str | None = None
    channel: str | None = None
    evidence: tuple[str, ...] = ()
    #: How the kind is known (``its +cpu tag``, ``PyPI's default wheel for linux-64``).
    how: str = ""

    @property
    def base(self) -> str:
        return self.version.split("+")[0]

    @property
    def tag(self) -> str:
        """``cu121``, ``cpu``, ``rocm6.2``, or ``""``."""
        if self.kind == "cuda" and self.cuda:
            return "cu" + "".join(self.cuda.split(".")[:2])
        if self.kind == "rocm" and self.rocm:
            return f"rocm{self.rocm}"
        return "cpu" if self.kind == "cpu" else ""

    def describe(self) -> str:
        what = {
            "cuda": f"CUDA {self.cuda}" if self.cuda else "CUDA",
            "rocm": f"ROCm {self.rocm}" if self.rocm else "ROCm",
            "cpu": "CPU-only",
            "unknown": "",
        }[self.kind]
        return f"{self.name} {self.version}" + (f" ({what} build)" if what else "")


def _tag_kind(version: str) -> tuple[str, str | None, str | None] | None:
    """(kind, cuda, rocm) from a local version tag, or None without one."""
    local = version.partition("+")[2].lower()
    if not local:
        return None
    if local.startswith("cpu"):
        return "cpu", None, None
    if m := re.match(r"cu(\d+)(\d)\b", local):
        return "cuda", f"{int(m[1])}.{m[2]}", None
    if m := re.match(r"rocm(\d+(?:\.\d+)*)", local):
        return "rocm", None, m[1]
    return None


class _Case:
    """One paste under diagnosis: the reading, the derived facts, the checks."""

    def __init__(self, reading: Reading, matrix: Any = None) -> None:
        self.r = reading
        self.m = reading.machine
        self.notes: list[str] = []
        self._matrix = matrix
        self._matrix_tried = matrix is not None
        self.files = " ".join(
            f"--from {STDIN_FILE if s == '<stdin>' else _quote(s)}" for s in reading.sources
        )
        if "<stdin>" in reading.sources:
            self.notes.append(
                f"the paste came from standard input: save it as {STDIN_FILE} to run the fixes "
                "that read it"
            )

    # -- inputs --------------------------------------------------------------------------------

    def matrix(self) -> Any:
        if not self._matrix_tried:
            self._matrix_tried = True
            try:
                from .matrix import load

                self._matrix = load()
            except Exception as exc:  # the data file is part of the package; say, never crash
                self.notes.append(f"compatibility data unavailable: {getattr(exc, 'line', exc)}")
        return self._matrix

    @property
    def subdir(self) -> str | None:
        p = self.m.platform
        return p.subdir or p.native_subdir

    def target(self) -> str | None:
        """The platform to plan for (``plan.target_platform``: what the paste shows or implies)."""
        from .plan import target_platform

        return target_platform(self.m)[0]

    @property
    def mac(self) -> bool:
        p = self.m.platform
        return (
            p.os == "macos"
            or (self.subdir or "").startswith("osx")
            or bool(self.m.apple and self.m.apple.apple_silicon is not None)
        )

    @property
    def nvidia_gpus(self) -> tuple[GPU, ...]:
        return self.m.visible_nvidia_gpus

    @property
    def amd_gpus(self) -> tuple[GPU, ...]:
        return tuple(g for g in (self.m.rocm.gpus if self.m.rocm else ()) if not g.hidden)

    def gpu_line(self, gpu: GPU) -> str | None:
        key = f"gpus.{gpu.index if gpu.index is not None else 0}.name"
        return self.r.line(key, gpu.name)

    # -- the installed stack -------------------------------------------------------------------

    def built(self, dist: str) -> Built | None:
        """torch, torchvision or torchaudio as the paste shows them, with their build."""
        from .detect.captures.packages import build_of, installed

        pkg = installed(self.r.packages, dist)
        t = self.m.torch
        version = (t.version if dist == "torch" else getattr(t, dist)) if t else None
        key = "torch.version" if dist == "torch" else f"torch.{dist}"
        evidence = [ln for ln in (self.r.line(key, version),) if ln]
        if version is None and pkg is None:
            return None
        kind, cuda, rocm, how = "unknown", None, None, ""
        installer = channel = None
        if pkg is not None and (version is None or pkg["version"] == version):
            version = pkg["version"]
            installer, channel = pkg.get("installer"), pkg.get("channel")
            evidence.append(pkg["line"])
            b = build_of(pkg)
            if b.kind != "unknown" and not (
                b.kind == "cuda" and b.cuda in ("0.0", None) and "cuda0" in (pkg.get("build") or "")
            ):
                kind, cuda, rocm = b.kind, b.cuda, b.rocm
                how = f"its build {pkg['build']}" if pkg.get("build") else "its version tag"
            elif "cuda0" in (pkg.get("build") or ""):
                kind, how = "cpu", f"its build {pkg['build']}"
        assert version is not None
        tag = _tag_kind(version)
        if tag is not None:
            kind, cuda, rocm = tag
            how = "its version tag"
        elif dist == "torch" and kind == "unknown" and t is not None:
            if t.cuda:
                kind, cuda, how = "cuda", t.cuda, "torch.version.cuda"
                evidence += [ln for ln in (self.r.line("torch.cuda", t.cuda),) if ln]
            elif t.rocm:
                kind, rocm, how = "rocm", t.rocm, "torch.version.hip"
            elif ev := self.r.event("not_compiled_cuda", "built_without_cuda"):
                kind, how = "cpu", "torch says it was built without CUDA"
                evidence.append(ev[0]["line"])
            elif ev := [
                e for e in self.r.event("printed") if e.get("fact") == "cuda" and e.get("none")
            ]:
                kind, how = "cpu", "torch.version.cuda is None"
                evidence.append(ev[0]["line"])
        if kind == "unknown" and installer in (None, "pip") and "+" not in version:
            kind, cuda, rocm, how = self._pypi_kind(dist, version, kind, cuda, rocm, how)
        return Built(
            dist,
            version,
            kind,
            cuda,
            rocm,
            installer,
            channel,
            tuple(dict.fromkeys(evidence)),
            how,
        )

    def _pypi_kind(
        self, dist: str, version: str, kind: str, cuda: Any, rocm: Any, how: str
    ) -> tuple[str, Any, Any, str]:
        """What the plain PyPI wheel of torch ``version`` is on the paste's platform (the
        matrix's PyPI row): CUDA on Linux x86_64, CPU on macOS and Windows."""
        subdir = (
            self.subdir
            or ("win-64" if self.m.platform.os == "windows" else None)
            or (
                "linux-64"
                if self.m.platform.os == "linux" and not self.m.platform.machine
                else None
            )
        )
        matrix = self.matrix()
        if not subdir or matrix is None:
            return kind, cuda, rocm, how
        torch_version = version
        if dist != "torch":
            base = self.built("torch")
            torch_version = base.version if base else None
            if not torch_version:
                return kind, cuda, rocm, how
        try:
            cands = [
                c
                for c in matrix.candidates(
                    subdir=subdir, torch=torch_version.split("+")[0], source="pip"
                )
                if c.pypi
            ]
        except Exception:
            return kind, cuda, rocm, how
        if not cands:
            return kind, cuda, rocm, how
        be = cands[0].backend
        return (
            be.kind if be.kind in ("cuda", "rocm", "cpu") else "cpu",
            be.cuda_version if be.kind == "cuda" else None,
            be.version if be.kind == "rocm" else None,
            f"PyPI's {dist} {version} for {subdir} is the {be} build",
        )

    def torch_pkgs(self) -> list[dict[str, Any]]:
        from .detect.captures.packages import carried

        return [p for p in self.r.packages if carried(p) == "torch"]

    # -- making findings -----------------------------------------------------------------------

    def finding(
        self,
        fid: str,
        message: str,
        *,
        fix: Iterable[str] = (),
        evidence: Iterable[str | None] = (),
        details: Iterable[str] = (),
        severity: str | None = None,
    ) -> Finding:
        if fid in FINDINGS:
            sev, cause, _ = FINDINGS[fid]
        else:
            sev, cause = DOCTOR_FINDINGS[fid][0], CAUSE_OF.get(fid)
        commands = [c for c in dict.fromkeys(fix) if c]
        return Finding(
            fid,
            severity or sev,
            message,
            "\n".join(commands) or None,
            tuple(details),
            source="paste",
            cause=cause,
            evidence=tuple(dict.fromkeys(e.strip() for e in evidence if e and e.strip())),
        )

    def generate(self, *extra: str) -> str:
        """The command that writes an environment file made for the machine the paste shows."""
        platform = ""
        if not self.subdir:
            target = self.target()
            if target:
                platform = f" --platform {target}"
        return " ".join(["conda torch generate", self.files + platform, *extra]).strip()

    def create(self) -> str:
        return "conda env create -f environment.yml"

    def pip_install(self, want: str | None = None) -> str | None:
        """``pip install`` of the best pip build for the machine the paste shows (the plan's
        order), or for ``want`` (``cu121``, ``cpu``)."""
        matrix = self.matrix()
        subdir = self.target()
        if matrix is None or not subdir or self.mac and want and want.startswith("cu"):
            return None
        from .plan import rank

        python = self.m.platform.python_version
        python = ".".join(python.split(".")[:2]) if python else None
        try:
            backend = want or ("cuda" if self.m.nvidia else "rocm" if self.amd_gpus else None)
            verdicts = matrix.evaluate(
                self.m, python=python, source="pip", subdir=subdir, backend=backend
            )
        except Exception:
            return None
        gpu = bool(self.nvidia_gpus or self.amd_gpus or self.m.nvidia)
        driver = bool(
            self.m.nvidia and (self.m.nvidia.cuda_version or self.m.nvidia.driver_version)
        )
        for v in rank(verdicts, source="pip"):
            c = v.candidate
            if not v.accepted or v.reasons:  # a build with warnings is not a fix to type blindly
                continue
            if want and str(c.backend) != want and not (want == "cpu" and c.backend.kind == "mps"):
                continue
            if not want and gpu and c.backend.kind in ("cpu", "mps"):
                continue
            if c.backend.kind == "cuda" and not driver:
                continue  # which CUDA build runs depends on a driver the paste does not show
            index = f" --index-url {c.pip_index}" if c.pip_index else ""
            return "pip install --force-reinstall " + " ".join(c.pip_specs) + index
        return None

    # -- the diagnosis -------------------------------------------------------------------------

    def diagnose(self) -> list[Finding]:
        out: list[Finding] = []
        torch = self.built("torch")
        checks = (
            self.check_installers,
            self.check_rosetta,
            self.check_cuda_on_mac,
            self.check_macos,
            self.check_driver,
            self.check_arch,
            self.check_rocm,
            self.check_cpu_build,
            self.check_duplicates,
            self.check_shadowing,
            self.check_channels,
            self.check_companions,
        )
        for check in checks:
            out.extend(check(torch))
        errors = [f for f in out if f.severity == "error"]
        out.extend(self.symptoms(torch, errors))
        if not errors:
            out.extend(self.verdict(torch, out))
        return out

    # -- installer failures --------------------------------------------------------------------

    def check_installers(self, torch: Built | None) -> list[Finding]:
        failures = self.r.event(
            "pip_no_match", "pip_no_distribution", "pip_unsupported_wheel", "uv_no_wheel",
            "uv_platform_hint", "uv_no_matching_tag", "poetry_no_candidates", "conda_not_found",
        )  # fmt: skip
        failures = [
            e
            for e in failures
            if e["id"] != "conda_not_found"
            or any(
                re.match(r"^(?:py)?torch|torchvision|torchaudio", p) for p in e.get("packages", ())
            )
        ]
        failures = [e for e in failures if self._about_torch(e)]
        if not failures:
            return []
        evidence = [e["line"] for e in failures]
        wanted = self._wanted()
        p = self.m.platform
        where = self._platform_words()
        # CUDA asked for on a Mac: the build does not exist on any macOS.
        if self.mac and wanted and wanted.startswith("cu"):
            return [self._cuda_on_mac(evidence + self._wanted_lines(), f"a {wanted} build")]
        # An x86_64 Python on a Mac: an Intel Mac has no torch after 2.2.2; on Apple silicon
        # that Python runs under Rosetta.
        if (
            self.mac
            and (p.machine or "").lower() in ("x86_64", "amd64")
            or (self.subdir == "osx-64")
        ):
            apple = self.m.apple.apple_silicon if self.m.apple else None
            if apple:
                return [self._rosetta(evidence)]
            out = [
                self.finding(
                    "no-build-for-platform",
                    f"{self._requested(failures)} has no build for macOS on x86_64{where}: the "
                    "last torch with Intel-Mac wheels is 2.2.2",
                    fix=[self.generate(), self.create()],
                    evidence=evidence + self._platform_lines(),
                )
            ]
            if apple is None:
                out.append(self._rosetta(evidence, maybe=True))
            return out
        offered = self._offered(failures)
        if offered:
            return offered
        why = (
            self._wheels_said(failures)
            or self._matrix_why(failures)
            or self._no_build_reason(failures)
        )
        return [
            self.finding(
                "no-build-for-platform",
                f"{self._requested(failures)} has no build for this platform{where}{why}",
                fix=[self.generate(), self.create()],
                evidence=evidence + self._platform_lines(),
            )
        ]

    def _about_torch(self, e: dict[str, Any]) -> bool:
        name = str(e.get("requirement") or e.get("package") or e.get("wheel") or "torch")
        return bool(re.match(r"^(?:py)?torch|^torchvision|^torchaudio", name.lower())) or (
            e["id"] == "conda_not_found"
        )

    def _requested(self, failures: list[dict[str, Any]]) -> str:
        for e in failures:
            req = e.get("requirement") or (
                f"{e['package']}=={e['version']}" if e.get("package") and e.get("version") else None
            )
            if req:
                return re.sub(r"\s+", "", str(req)).replace("===", "==")
            if e.get("packages"):
                return ", ".join(e["packages"])
        return "torch"

    def _wanted(self) -> str | None:
        """The accelerator build the paste asks for (an index ``…/whl/cu118``, ``+cu126``,
        ``pytorch-cuda=11.6``, ``cudatoolkit``)."""
        for e in self.r.event("install_command"):
            if e.get("wants"):
                return (
                    "cu" + "".join(e["wants"].split("=")[1].split("."))
                    if e["wants"].startswith("cuda=")
                    else e["wants"]
                )
        for e in self.r.event("uv_no_wheel", "uv_platform_hint", "uv_no_matching_tag"):
            text = f"{e.get('requirement', '')} {e.get('version', '')} {e.get('index', '')}"
            if m := re.search(r"\+(cu\d+)|/whl/(cu\d+)", text):
                return m[1] or m[2]
        return None

    def _wanted_lines(self) -> list[str]:
        return [e["line"] for e in self.r.event("install_command") if e.get("wants")]

    def _platform_words(self) -> str:
        p = self.m.platform
        bits = []
        if p.os == "macos":
            bits.append(f"macOS {p.macos_version}" if p.macos_version else "macOS")
        elif p.os:
            bits.append({"linux": "Linux", "windows": "Windows"}.get(p.os, p.os))
        if p.machine:
            bits.append(p.machine)
        if p.python_version:
            bits.append(f"Python {'.'.join(p.python_version.split('.')[:2])}")
        return f" ({', '.join(bits)})" if bits else ""

    def _platform_lines(self) -> list[str]:
        p, a = self.m.platform, self.m.apple
        facts = (
            ("platform.os", None),
            ("platform.machine", p.machine),
            ("platform.subdir", p.subdir),
            ("platform.macos_version", p.macos_version),
            ("platform.python_version", p.python_version),
            ("apple.chip", a.chip if a else None),
            ("apple.apple_silicon", None),
        )
        return [ln for ln in (self.r.line(k, v) for k, v in facts) if ln]

    def _offered(self, failures: list[dict[str, Any]]) -> list[Finding]:
        """pip's ``from versions: …`` tells the platform: the newest version it offers is the
        last release with wheels for this platform and Python (the matrix says which)."""
        lists = [e for e in failures if e["id"] == "pip_no_match" and e.get("versions")]
        if not lists or self._index_not_pypi():
            return []
        newest = max(lists[0]["versions"], key=version_tuple)
        matrix = self.matrix()
        if matrix is None:
            return []
        last: dict[str, tuple[int, ...]] = {}
        for subdir in ("linux-64", "linux-aarch64", "osx-64", "osx-arm64", "win-64"):
            try:
                versions = [
                    c.torch for c in matrix.candidates(subdir=subdir, source="pip") if c.pypi
                ]
            except Exception:
                continue
            if versions:
                last[subdir] = max(version_tuple(v) for v in versions)
        ends_here = [sd for sd, v in last.items() if v == version_tuple(newest)]
        if len(ends_here) != 1 or ends_here[0] != "osx-64":
            return []
        apple = self.m.apple.apple_silicon if self.m.apple else None
        evidence = [e["line"] for e in failures]
        if apple:
            return [self._rosetta(evidence)]
        out = [
            self.finding(
                "no-build-for-platform",
                f"{self._requested(failures)} has no build here: pip offers torch up to {newest}, "
                "the last release with wheels for macOS on x86_64 (Intel), so this Python is an "
                "x86_64 one on macOS",
                fix=[self.generate("--platform osx-64"), self.create()],
                evidence=evidence,
            )
        ]
        if apple is None:
            out.append(self._rosetta(evidence, maybe=True))
        return out

    def _index_not_pypi(self) -> bool:
        return any(
            e.get("index") and "pypi.org" not in e["index"] for e in self.r.event("install_command")
        )

    def _wheels_said(self, failures: list[dict[str, Any]]) -> str:
        """The platforms the installer says the requested torch has wheels for."""
        for e in self.r.event("uv_platform_hint", "uv_wheels_available"):
            if e.get("tags"):
                return (
                    f": {e.get('package', 'torch')} {e.get('version', '')} has wheels only for "
                    + ", ".join(e["tags"])
                )
        return ""

    def _matrix_why(self, failures: list[dict[str, Any]]) -> str:
        """Why the matrix has no pip build of the requested torch for this platform and Python
        (``: python 3.13 is not supported; these builds support 3.9-3.12``), or ``""``."""
        from .exceptions import CondaTorchError

        matrix = self.matrix()
        subdir = self.subdir
        m = re.search(r"==\s*v?(\d+\.\d+(?:\.\d+)?)", self._requested(failures))
        if matrix is None or not subdir or not m:
            return ""
        python = self.m.platform.python_version
        python = ".".join(python.split(".")[:2]) if python else None
        try:
            matrix.candidates(subdir=subdir, python=python, source="pip", torch=m[1], strict=True)
        except CondaTorchError as exc:
            return f": {exc.line}"
        except Exception:
            return ""
        return ""

    def _no_build_reason(self, failures: list[dict[str, Any]]) -> str:
        none = any(e["id"] == "pip_no_match" and e.get("versions") == [] for e in failures)
        python = self.m.platform.python_version
        if none and python:
            return (
                f": pip found no torch wheel at all for Python {'.'.join(python.split('.')[:2])} "
                "here (a Python newer than the newest torch, a 32-bit Python, or an index "
                "without this platform)"
            )
        if none:
            return (
                ": pip found no torch wheel at all (a Python newer than the newest torch, a "
                "32-bit Python, or an index without this platform)"
            )
        return ""

    # -- Apple ---------------------------------------------------------------------------------

    def _rosetta(self, evidence: list[str], *, maybe: bool = False) -> Finding:
        fix = [
            "sysctl -n machdep.cpu.brand_string   # 'Apple M…': an Apple-silicon Mac",
            "# install an arm64 (osx-arm64) Miniforge or Python, then, with it:",
            self.generate("--platform osx-arm64"),
        ]
        if maybe:
            return self.finding(
                "rosetta",
                "if this Mac has an Apple chip (M1 or later), this Python is an x86_64 one running "
                "under Rosetta 2, which no current torch supports: use an arm64 Python",
                fix=fix,
                evidence=evidence,
                severity="warning",
            )
        return self.finding(
            "rosetta",
            "this Python is an x86_64 one running under Rosetta 2 on Apple silicon: torch has no "
            "macOS x86_64 builds after 2.2.2, and the arm64 ones need an arm64 Python",
            fix=fix,
            evidence=evidence + self._platform_lines(),
        )

    def check_rosetta(self, torch: Built | None) -> list[Finding]:
        apple, p = self.m.apple, self.m.platform
        if self.r.event("uv_platform_hint", "uv_no_matching_tag", "pip_no_match", "uv_no_wheel"):
            return []  # said with the installer's failure
        if apple is not None and (
            apple.rosetta or (apple.apple_silicon and (p.machine or "").lower() == "x86_64")
        ):
            return [self._rosetta([])]
        return []

    def _cuda_on_mac(self, evidence: list[str], what: str) -> Finding:
        return self.finding(
            "cuda-on-mac",
            f"{what} is asked for on a Mac: macOS has no CUDA and no CUDA builds of torch; on "
            "Apple silicon torch uses the GPU through MPS (device 'mps'), elsewhere the CPU",
            fix=[
                self.generate(),
                self.create(),
                "# in the code: device = 'mps' if torch.backends.mps.is_available() else 'cpu'",
            ],
            evidence=evidence + self._platform_lines(),
        )

    def check_cuda_on_mac(self, torch: Built | None) -> list[Finding]:
        if not self.mac or self.r.event(
            "uv_no_wheel", "uv_platform_hint", "pip_no_match", "pip_no_distribution"
        ):
            return []
        asks = self.r.event("not_compiled_cuda")
        if asks:
            return [self._cuda_on_mac([asks[0]["line"]], "CUDA")]
        if torch is not None and torch.kind == "cuda":
            return [self._cuda_on_mac(list(torch.evidence), torch.describe())]
        return []

    def check_macos(self, torch: Built | None) -> list[Finding]:
        p = self.m.platform
        out = []
        for e in self.r.event("macos_symbol", "macos_built_newer"):
            built, have = e.get("built"), e.get("have") or p.macos_version
            out.append(
                self.finding(
                    "macos-too-old",
                    f"torch's libraries were built for macOS {built} or later"
                    + (f", and this Mac runs {have}" if have else "")
                    + ": this torch does not load on this macOS; install an older torch (or "
                    "update macOS)",
                    fix=[self.generate(), self.create()],
                    evidence=[e["line"], *self._platform_lines()],
                )
            )
            return out
        mps = self.r.event("mps_unavailable")
        if not mps:
            return out
        have = p.macos_version
        evidence = [mps[0]["line"], *self._platform_lines()]
        floors = self._mps_floors(torch)
        if not floors:
            return out
        needs = "; ".join(f"{what}: macOS {floor}" for floor, what in floors)
        above = [
            (fl, what) for fl, what in floors if have and version_tuple(have) < version_tuple(fl)
        ]
        apple = self.m.apple
        native = bool(apple and apple.apple_silicon and not apple.rosetta)
        if above and (torch is not None or len(above) == len(floors) or native):
            needs = "; ".join(f"{what}: macOS {floor}" for floor, what in above)
            out.append(
                self.finding(
                    "macos-too-old",
                    f"MPS is not available because this Mac runs macOS {have} and MPS in "
                    f"{'this torch' if torch else 'torch'} needs a newer one ({needs}; the "
                    "message's "
                    "own floor is older than the release's): update macOS, or install a torch "
                    f"whose MPS runs on {have}",
                    fix=[
                        "# update macOS (System Settings > General > Software Update), or:",
                        self.generate(),
                        self.create(),
                    ],
                    evidence=evidence + list(torch.evidence if torch else ()),
                )
            )
        elif not have:
            out.append(
                self.finding(
                    "macos-too-old",
                    f"MPS is not available; MPS needs Apple silicon, an arm64 Python and a recent "
                    f"macOS ({needs}): sw_vers and uname -m would tell which is missing",
                    fix=["sw_vers", "uname -m"],
                    evidence=evidence,
                    severity="warning",
                )
            )
        return out

    def _mps_floors(self, torch: Built | None) -> list[tuple[str, str]]:
        """(macOS floor, the torch releases it is for) of MPS: the one for this torch, or every
        floor newest first when the torch is not shown (the matrix's ``macos.mps`` data)."""
        matrix = self.matrix()
        if matrix is None:
            return []
        floors = matrix.macos.get("mps") or []

        def what(f: dict[str, Any]) -> str:
            return f"torch {f['from']}" + (f"-{f['until']}" if f["until"] else " and later")

        if torch is not None:
            v = version_tuple(torch.version)[:2]
            for f in floors:
                if version_tuple(f["from"]) <= v and (
                    not f["until"] or v <= version_tuple(f["until"])
                ):
                    return [(f["macos"], f"torch {torch.base}")]
        return [
            (f["macos"], what(f)) for f in sorted(floors, key=lambda f: version_tuple(f["macos"]))
        ]

    # -- NVIDIA --------------------------------------------------------------------------------

    def check_driver(self, torch: Built | None) -> list[Finding]:
        from . import compat

        nv = self.m.nvidia
        said = self.r.event("driver_too_old", "driver_insufficient")
        build = torch.cuda if torch is not None and torch.kind == "cuda" else None
        driver = nv.driver_version if nv else None
        driver_cuda = nv.cuda_version if nv else None
        evidence = [e["line"] for e in said]
        evidence += [
            self.r.line("nvidia.driver_version", driver),
            self.r.line("nvidia.cuda_version"),
        ]
        fix = self._driver_fix(torch, driver_cuda)
        if said:
            what = f"CUDA {driver_cuda} at most" if driver_cuda else "an older CUDA"
            floor = self._floor(build) if build else None
            needs = (
                f", and {torch.describe()} needs CUDA {build}"
                + (f" (driver >= {floor})" if floor else "")
                if build and torch
                else ""
            )
            return [
                self.finding(
                    "driver-too-old",
                    f"torch says the NVIDIA driver is too old for this build: the driver supports "
                    f"{what}{needs}; update the driver, or install a torch built for the CUDA "
                    "this driver runs",
                    fix=fix,
                    evidence=evidence + list(torch.evidence if torch else ()),
                )
            ]
        if not build or not (driver or driver_cuda):
            if self.r.event("no_driver"):
                e = self.r.event("no_driver")[0]
                return [
                    self.finding(
                        "no-nvidia-driver",
                        "torch finds no NVIDIA driver: install the NVIDIA driver (nvidia-smi "
                        "must work) before a CUDA build can use the GPU",
                        fix=["nvidia-smi"],
                        evidence=[e["line"]],
                    )
                ]
            return []
        floors = self._floors(build)
        support = compat.driver_support(
            build, driver=driver, driver_cuda=driver_cuda, floor=floors[0],
            compat_floor=floors[1], label=torch.describe() if torch else None,
        )  # fmt: skip
        if support.runs is not False:
            return []
        return [
            self.finding(
                "driver-too-old",
                f"NVIDIA driver {driver or '?'} cannot run {torch.describe() if torch else build}: "
                f"{support.reason}; update the driver, or install a build for the CUDA it runs",
                fix=fix,
                evidence=evidence + list(torch.evidence if torch else ()),
            )
        ]

    def _floors(self, cuda: str) -> tuple[str | None, str | None]:
        """(driver floor, minor-version-compatibility floor) of CUDA ``cuda`` on this OS."""
        matrix = self.matrix()
        if matrix is None:
            return None, None
        row = matrix.drivers.get(".".join(cuda.split(".")[:2]))
        if not row:
            return None, None
        osname = "win" if self.m.platform.os == "windows" else "linux"
        return row.get(osname), row.get(f"{osname}_compat")

    def _floor(self, cuda: str | None) -> str | None:
        return self._floors(cuda)[0] if cuda else None

    def _driver_fix(self, torch: Built | None, driver_cuda: str | None) -> list[str]:
        fixes = [self.generate(), self.create()]
        if driver_cuda:
            pip = self.pip_install()
            if pip:
                fixes.append(pip)
        return ["# update the NVIDIA driver (nvidia-smi shows the CUDA it supports), or:", *fixes]

    def check_arch(self, torch: Built | None) -> list[Finding]:
        from . import compat

        said = self.r.event("arch_incompatible", "gpu_too_old", "gpu_needs_newer_cuda")
        image = self.r.event("no_kernel_image")
        archs = list(self.m.torch.arch_list) if self.m.torch and self.m.torch.arch_list else None
        arch_line = self.r.line("torch.arch_list")
        gpus = [g for g in self.nvidia_gpus if g.compute_capability]
        if not archs and torch is not None and torch.kind == "cuda" and gpus:
            archs = self._archs_from_data(torch)
            if archs:
                arch_line = None
        missing: list[tuple[GPU, Any]] = []
        if archs:
            for g in gpus:
                cov = compat.arch_coverage(g.compute_capability, archs)
                if cov.how is None:
                    missing.append((g, cov))
        if not (said or image or missing):
            return []
        evidence = [e["line"] for e in said + image] + [arch_line]
        evidence += [self.gpu_line(g) for g, _ in missing]
        if torch is not None:
            evidence += list(torch.evidence)
        fix = [self.generate(), self.create()]
        pip = self.pip_install()
        if pip:
            fix.append(pip)
        if missing:
            g, cov = missing[0]
            sm = f"sm_{g.compute_capability.replace('.', '')}"
            how = (
                "the build's architectures"
                if arch_line
                else "the architectures its release was built with"
            )
            span = compat.arch_span(archs or ())
            msg = (
                f"{torch.describe() if torch else 'this torch'} has no code for the "
                f"{g.name or 'GPU'} ({sm}, compute capability {g.compute_capability}"
                + (", from its name" if g.compute_capability_inferred else "")
                + f"): {how} are {span}; install a build for this GPU"
            )
        elif said:
            e = said[0]
            name = _clean_name(e.get("name", "")) or "the GPU"
            if e["id"] == "arch_incompatible":
                sm = f"sm_{e['sm']}"
                msg = (
                    f"torch says the installed build has no code for {name} ({sm})"
                    + (f"; it has {compat.arch_span(archs)}" if archs else "")
                    + ": install a build made for this GPU (a newer CUDA for a new GPU)"
                )
            elif e["id"] == "gpu_too_old":
                msg = (
                    f"torch says {name} (compute capability {e['cc']}) is too old for this build: "
                    "install an older torch that still supports it"
                )
            else:
                msg = (
                    f"torch says {name} needs a build for a newer CUDA than this one: install a "
                    "build for the GPU"
                )
        else:
            names = ", ".join(g.name or "GPU" for g in self.nvidia_gpus) or "this GPU"
            msg = (
                f"CUDA says 'no kernel image is available': torch (or a compiled extension) has "
                f"no code for {names}'s architecture; install a build made for it"
                + ("" if self.nvidia_gpus else " (the paste does not show the GPU: nvidia-smi -L)")
            )
        return [self.finding("arch-missing", msg, fix=fix, evidence=evidence, severity="error")]

    def _archs_from_data(self, torch: Built) -> list[str] | None:
        """The architectures the matrix records for this torch release and CUDA (pip or
        conda-forge builds of the same CUDA carry the same list in the data)."""
        matrix = self.matrix()
        subdir = self.target()
        if matrix is None or not subdir or not torch.cuda:
            return None
        source = (
            "pip"
            if torch.installer != "conda"
            else ("pytorch" if torch.channel == "pytorch" else "conda-forge")
        )
        return matrix.arch_list(subdir=subdir, torch=torch.base, cuda=torch.cuda, source=source)

    # -- AMD -----------------------------------------------------------------------------------

    def check_rocm(self, torch: Built | None) -> list[Finding]:
        said = self.r.event("hip_no_binary")
        gpus = self.amd_gpus
        archs = list(self.m.torch.arch_list) if self.m.torch and self.m.torch.arch_list else []
        gfx_missing = [
            g
            for g in gpus
            if g.gfx and archs and any(a.startswith("gfx") for a in archs) and g.gfx not in archs
        ]
        old = [
            g
            for g in gpus
            if g.gfx
            and re.fullmatch(r"gfx[1-8]\w\w", g.gfx)
            and torch is not None
            and torch.kind == "rocm"
        ]
        if old and not said:
            g = old[0]
            inferred = (g.sources or {}).get("gfx") == "inferred from name"
            return [
                self.finding(
                    "rocm-gfx-unsupported",
                    f"{g.name or 'the AMD GPU'} is {g.gfx}"
                    + (" (from its name)" if inferred else "")
                    + f", and {torch.describe()} has no code for it: no PyTorch ROCm release is "
                    "built for GCN targets before gfx900; use a supported AMD GPU, or build "
                    "torch from source for this target",
                    fix=["rocminfo | grep -m1 gfx   # the GPU's gfx target"],
                    evidence=[self.gpu_line(g), *torch.evidence],
                )
            ]
        if not (said or gfx_missing):
            return []
        names = ", ".join(
            f"{g.name or 'AMD GPU'}" + (f" ({g.gfx})" if g.gfx else "")
            for g in (gfx_missing or gpus)
        )
        evidence = [e["line"] for e in said] + [self.gpu_line(g) for g in gpus]
        if torch is not None:
            evidence += list(torch.evidence)
        msg = (
            f"HIP finds no code for {names or 'this AMD GPU'}: the ROCm build of torch was not "
            "compiled for this GPU's gfx target (PyTorch's ROCm wheels cover the GPUs AMD "
            "supports in that ROCm release); use a GPU and ROCm pair AMD supports, or a build "
            "made for this gfx target"
        )
        return [
            self.finding(
                "rocm-gfx-unsupported",
                msg,
                fix=[
                    "rocminfo | grep -m1 gfx   # the GPU's gfx target",
                    self.generate(),
                    self.create(),
                ],
                evidence=evidence,
            )
        ]

    # -- CPU builds ----------------------------------------------------------------------------

    def check_cpu_build(self, torch: Built | None) -> list[Finding]:
        if torch is None or torch.kind != "cpu" or self.mac:
            return []
        wanted = self._wanted()
        asked = [p for p in self.r.packages if p["name"] in ("pytorch-cuda", "cudatoolkit")]
        if (wanted and wanted.startswith("cu")) or asked:
            what = wanted or f"{asked[0]['name']} {asked[0]['version']}"
            return [
                self.finding(
                    "cpu-build-chosen",
                    f"{torch.describe()} was installed though CUDA was asked for ({what}): the "
                    "solver or installer picked the CPU build, so torch will not use the GPU",
                    fix=[self.generate(), self.create(), self.pip_install()],
                    evidence=list(torch.evidence)
                    + self._wanted_lines()
                    + [p["line"] for p in asked],
                )
            ]
        gpus = self.nvidia_gpus
        if gpus or (self.m.nvidia and self.m.nvidia.driver_version):
            names = ", ".join(sorted({g.name or "NVIDIA GPU" for g in gpus})) or "an NVIDIA driver"
            return [
                self.finding(
                    "cpu-build-on-gpu",
                    f"{torch.describe()} is a CPU build, but this machine has {names}: install a "
                    "CUDA build of torch (and its torchvision/torchaudio) so torch can use the GPU",
                    fix=[self.generate(), self.create(), self.pip_install()],
                    evidence=list(torch.evidence)
                    + [self.gpu_line(g) for g in gpus]
                    + [self.r.line("nvidia.driver_version")],
                    severity="error",
                )
            ]
        asks = self.r.event("not_compiled_cuda") or [
            e for e in self.r.event("printed") if e.get("fact") == "cuda_available"
        ]
        return [
            self.finding(
                "cpu-build",
                f"{torch.describe()} is a CPU build ({torch.how}): if this machine has an NVIDIA "
                "GPU, torch cannot use it; nvidia-smi would tell"
                + (
                    " (on a Mac there is no CUDA at all)" if asks and not self.m.platform.os else ""
                ),
                fix=["nvidia-smi", self.generate(), self.create()],
                evidence=list(torch.evidence) + _quoted(asks[:1]),
            )
        ]

    # -- two installs, shadowing, channels -----------------------------------------------------

    def check_duplicates(self, torch: Built | None) -> list[Finding]:
        out: list[Finding] = []
        by_listing: dict[int, list[dict[str, Any]]] = {}
        for p in self.torch_pkgs():
            by_listing.setdefault(p.get("listing", 0), []).append(p)
        for pkgs in by_listing.values():
            conda = [p for p in pkgs if p["installer"] == "conda"]
            pip = [p for p in pkgs if p["installer"] == "pip"]
            names = {p["name"] for p in conda}
            reason = None
            if len(names) > 1:
                reason = "conda has " + " and ".join(f"{p['name']} {p['version']}" for p in conda)
            elif conda and pip and {p["version"] for p in pip} - {p["version"] for p in conda}:
                reason = (
                    f"conda's {conda[0]['name']} {conda[0]['version']} and pip's torch "
                    f"{pip[0]['version']}"
                )
            elif conda and any(p.get("build") == "pypi_0" for p in pip):
                reason = (
                    f"conda's {conda[0]['name']} {conda[0]['version']} and a pip-installed torch"
                )
            if reason:
                out.append(
                    self.finding(
                        "two-torch" if not pip else "pip-and-conda",
                        f"two torch installs in one environment ({reason}): their files overwrite "
                        "each other and the one imported is not the one either installer knows",
                        fix=[self.generate(), self.create()],
                        evidence=[p["line"] for p in pkgs],
                        severity="error",
                    )
                )
                return out
        mixed = [
            e
            for e in self.r.event("undefined_symbol")
            if _in_torch_lib(e.get("lib")) and not _mkl_symbol(e.get("symbol", ""))
        ]
        attr = [
            e
            for e in self.r.event("torch_attr_missing")
            if e.get("attr", "").startswith("_") or e.get("attr") in ("version", "cuda", "nn")
        ]
        if (mixed or attr) and not self._source_tree():
            e = (mixed or attr)[0]
            what = (
                f"its library {e['lib'].rsplit('/', 1)[-1]} lacks {e['symbol']}"
                if e["id"] == "undefined_symbol"
                else f"torch has no attribute {e['attr']!r}"
            )
            out.append(
                self.finding(
                    "torch-mixed-files",
                    f"torch's own files do not match each other ({what}): parts of two torch "
                    "installs (another version, a source build, pip over conda) are mixed in "
                    "one site-packages; remove every copy and install one",
                    fix=[
                        "pip uninstall -y torch   # repeat until pip finds no torch",
                        "conda remove --force pytorch   # where conda installed one",
                        self.generate(),
                        self.create(),
                    ],
                    evidence=[x["line"] for x in mixed + attr],
                )
            )
        return out

    def _source_tree(self) -> list[dict[str, Any]]:
        relative = [e for e in self.r.event("torch_path") if e.get("relative")]
        return (
            self.r.event("source_tree")
            + relative
            + [
                e
                for e in self.r.event("torch_c_missing")
                if "unknown location" in e["line"] or relative
            ]
        )

    def check_shadowing(self, torch: Built | None) -> list[Finding]:
        out: list[Finding] = []
        tree = self._source_tree()
        c_missing = self.r.event("torch_c_missing")
        if tree or (c_missing and not self.torch_pkgs()):
            lines = [e["line"] for e in tree + c_missing]
            out.append(
                self.finding(
                    "source-tree-shadow",
                    "Python imports torch from a folder named torch that is not the installed "
                    "package (a PyTorch source checkout or a local torch/ folder in the current "
                    "directory or on PYTHONPATH): its compiled part torch._C is missing there",
                    fix=[
                        (
                            'cd ~ && python -c "import torch; print(torch.__file__)"   # from '
                            "another folder, with the checkout off PYTHONPATH"
                        )
                    ],
                    evidence=lines,
                )
            )
            return out
        user = [e for e in self.r.event("torch_path") if _user_site(e.get("path", ""))] + [
            p for p in self.torch_pkgs() if _user_site(p.get("location") or "")
        ]
        if user:
            out.append(
                self.finding(
                    "user-site-shadow",
                    "torch is imported from the user site-packages (~/.local or AppData\\Roaming\\"
                    "Python), which Python searches before the environment's own: that copy "
                    "shadows the environment's torch",
                    fix=[
                        (
                            "python -m pip uninstall -y torch torchvision torchaudio   # outside "
                            "the environment: removes the user-site copy"
                        ),
                        "export PYTHONNOUSERSITE=1",
                    ],
                    evidence=[x["line"] for x in user],
                    severity="error",
                )
            )
            return out
        printed = [e for e in self.r.event("printed") if e.get("fact") == "version" and e.get("v")]
        listed = {p["version"] for p in self.torch_pkgs()}
        if printed and listed and all(e["v"] not in listed for e in printed):
            e = printed[-1]
            out.append(
                self.finding(
                    "imported-not-installed",
                    f"the torch Python imports is {e['v']}, but the listing shows "
                    f"{', '.join(sorted(listed))}: another torch (~/.local, PYTHONPATH, another "
                    "environment) comes first on sys.path",
                    fix=[
                        'python -c "import torch; print(torch.__file__)"   # which one is imported'
                    ],
                    evidence=[*_quoted([e]), *[p["line"] for p in self.torch_pkgs()]],
                )
            )
        return out

    def check_channels(self, torch: Built | None) -> list[Finding]:
        from .detect.captures.packages import carried

        out: list[Finding] = []
        mkl = [e for e in self.r.event("undefined_symbol") if _mkl_symbol(e.get("symbol", ""))]
        if mkl:
            out.append(
                self.finding(
                    "mkl-abi",
                    "torch's library misses an MKL symbol (iJIT_NotifyEvent): a conda PyTorch "
                    "built against MKL before 2024.1 is loading MKL 2024.1 or later from another "
                    "build (pytorch/pytorch#123097); do not mix the pytorch channel with newer MKL",
                    fix=[
                        "conda install 'mkl<2024.1'   # keeps this environment",
                        self.generate(),
                        self.create(),
                    ],
                    evidence=[e["line"] for e in mkl],
                )
            )
            return out
        stack = PIP_STACK
        by_listing: dict[int, list[dict[str, Any]]] = {}
        for p in self.r.packages:
            if carried(p) in stack or p["name"] == "libtorch":
                by_listing.setdefault(p.get("listing", 0), []).append(p)
        for pkgs in by_listing.values():
            sources = {self._source(p) for p in pkgs if p["installer"] or p.get("channel")}
            sources.discard(None)
            torches = [p for p in pkgs if carried(p) == "torch"]
            if len(sources) > 1 and not (len(torches) > 1 and len(pkgs) == len(torches)):
                listed = ", ".join(f"{p['name']} {p['version']} ({self._source(p)})" for p in pkgs)
                out.append(
                    self.finding(
                        "mixed-channels",
                        f"the torch stack comes from {len(sources)} sources that do not share a "
                        f"C++ ABI ({', '.join(sorted(sources))}): {listed}",
                        fix=[self.generate(), self.create()],
                        evidence=[p["line"] for p in pkgs],
                        severity="error",
                    )
                )
                return out
            if mk := [
                p
                for p in self.r.packages
                if p["name"] == "mkl" and p.get("listing") == pkgs[0].get("listing")
            ]:
                pt = [p for p in torches if p.get("channel") == "pytorch"]
                if pt and version_tuple(mk[0]["version"]) >= (2024, 1):
                    out.append(
                        self.finding(
                            "mkl-abi",
                            f"{pt[0]['name']} {pt[0]['version']} from the pytorch channel beside "
                            "mkl "
                            f"{mk[0]['version']}: those builds need MKL before 2024.1 "
                            "(pytorch/pytorch#123097)",
                            fix=["conda install 'mkl<2024.1'", self.generate(), self.create()],
                            evidence=[pt[0]["line"], mk[0]["line"]],
                        )
                    )
                    return out
        for e in self.r.event("install_command"):
            chans = {
                n: c
                for n, c in e.get("spec_channels", {}).items()
                if n in ("pytorch", "torchvision", "torchaudio", "libtorch")
            }
            if len(set(chans.values())) > 1:
                listed = ", ".join(f"{c}::{n}" for n, c in chans.items())
                out.append(
                    self.finding(
                        "mixed-channels",
                        f"the command takes the torch stack from different channels ({listed}): "
                        "builds from different channels are made against different libraries "
                        "and do not load together",
                        fix=[self.generate(), self.create()],
                        evidence=[e["line"]],
                        severity="error",
                    )
                )
                return out
        return out

    @staticmethod
    def _source(p: dict[str, Any]) -> str | None:
        if p["installer"] == "pip":
            return "pip"
        channel = (p.get("channel") or "").lower()
        if not channel:
            return None
        if channel in ("defaults", "pkgs/main", "anaconda", "main"):
            return "defaults"
        if channel.startswith("pytorch"):
            return "pytorch"
        return channel

    # -- companions ----------------------------------------------------------------------------

    def check_companions(self, torch: Built | None) -> list[Finding]:
        out: list[Finding] = []
        said = self.r.event("cuda_versions_differ")
        symbol = [
            e
            for e in self.r.event("undefined_symbol")
            if _companion_lib(e.get("lib") or e["line"]) and not _mkl_symbol(e.get("symbol", ""))
        ]
        fix = [self.generate(), self.create()]
        if said:
            e = said[0]
            out.append(
                self.finding(
                    "pair-mismatch",
                    f"torchvision says it was built for CUDA {e['vision']} and torch for CUDA "
                    f"{e['torch']}: install the torchvision made for this torch",
                    fix=fix + [self._pair_fix(torch)],
                    evidence=[e["line"]],
                    severity="error",
                )
            )
            return out
        if symbol:
            e = symbol[0]
            lib = (e.get("lib") or "").replace("\\", "/").rsplit("/", 1)[
                -1
            ] or "a companion library"
            versions = self._stack_words()
            out.append(
                self.finding(
                    "pair-mismatch",
                    f"{lib} was built against another torch than the one installed (undefined "
                    f"symbol {e['symbol']}){versions}: install the torchvision/torchaudio release "
                    "made for this torch",
                    fix=fix + [self._pair_fix(torch)],
                    evidence=[e["line"], *self._stack_lines()],
                    severity="error",
                )
            )
            return out
        if torch is None:
            return out
        reasons, evidence = self._pairing(torch)
        if reasons:
            out.append(
                self.finding(
                    "pair-mismatch",
                    "torchvision/torchaudio were not made for the torch beside them: "
                    + "; ".join(reasons),
                    fix=fix + [self._pair_fix(torch)],
                    evidence=evidence,
                    severity="error",
                )
            )
        return out

    def _stack_words(self) -> str:
        parts = [f"{b.name} {b.version}" for b in (self.built(d) for d in PIP_STACK) if b]
        return f" ({', '.join(parts)})" if len(parts) > 1 else ""

    def _stack_lines(self) -> list[str]:
        return [ln for b in (self.built(d) for d in PIP_STACK) if b for ln in b.evidence]

    def _pairing(self, torch: Built) -> tuple[list[str], list[str]]:
        comps = [b for b in (self.built("torchvision"), self.built("torchaudio")) if b]
        if not comps:
            return [], []
        reasons: list[str] = []
        evidence = list(torch.evidence)
        for c in comps:
            evidence += list(c.evidence)
        matrix = self.matrix()
        if matrix is not None and torch.base in (matrix.torch_versions() or ()):
            source = Source.of_install(torch.installer, torch.channel)
            try:
                reasons += list(
                    matrix.pairing_ok(
                        torch.base,
                        next((c.base for c in comps if c.name == "torchvision"), None),
                        next((c.base for c in comps if c.name == "torchaudio"), None),
                        source=source,
                    )
                )
            except Exception as exc:
                self.notes.append(f"pairing not checked: {getattr(exc, 'line', exc)}")
        for c in comps:
            if torch.kind in ("unknown",) or c.kind == "unknown":
                continue
            if torch.kind != c.kind:
                reasons.append(
                    f"{c.describe()} is not for {torch.describe()}"
                    + (f" ({c.how})" if c.how and "PyPI" in c.how else "")
                )
            elif (
                torch.kind == "cuda"
                and torch.cuda
                and c.cuda
                and version_tuple(torch.cuda)[:1] != version_tuple(c.cuda)[:1]
            ):
                reasons.append(f"{c.describe()} is for another CUDA major than {torch.describe()}")
        return reasons, evidence

    def _pair_fix(self, torch: Built | None) -> str | None:
        matrix = self.matrix()
        if torch is None or matrix is None or torch.installer == "conda":
            return None
        try:
            tv, ta = matrix.companions(torch.base)
        except Exception:
            return None
        present = [b.name for b in (self.built("torchvision"), self.built("torchaudio")) if b]
        specs = [
            f"{n}=={v}"
            for n, v in (("torchvision", tv), ("torchaudio", ta))
            if v and (n in present or not present)
        ]
        if not specs:
            return None
        tag = torch.tag
        index = f" --index-url https://download.pytorch.org/whl/{tag}" if tag else ""
        return "pip install --force-reinstall --no-deps " + " ".join(specs) + index

    # -- symptoms and the verdict --------------------------------------------------------------

    def symptoms(self, torch: Built | None, errors: list[Finding]) -> list[Finding]:
        out: list[Finding] = []
        causes = {f.cause for f in errors}
        nms = self.r.event("nms_missing", "vision_ops_failed", "missing_library")
        if nms and "companion_mismatch" not in causes:
            out.append(
                self.finding(
                    "symptom",
                    "torchvision's compiled operators did not load (torchvision::nms): this comes "
                    "from a torchvision not made for the installed torch (versions, or CPU vs "
                    "CUDA builds), and also from torch.hub code written for another torchvision; "
                    "the versions of torch and torchvision (pip list | grep torch) would tell",
                    fix=["python -m torch.utils.collect_env", "pip list | grep -i torch"],
                    evidence=[e["line"] for e in nms],
                )
            )
        if self.r.event("oom"):
            e = self.r.event("oom")[0]
            out.append(
                self.finding(
                    "symptom",
                    "CUDA ran out of memory: the program asks for more GPU memory than is free, "
                    "which is not an installation problem; a smaller batch or model, or freeing "
                    "other processes' memory (nvidia-smi), fixes it",
                    fix=["nvidia-smi   # what else holds GPU memory"],
                    evidence=[e["line"]],
                )
            )
        if self.r.event("paging_file"):
            e = self.r.event("paging_file")[0]
            out.append(
                self.finding(
                    "symptom",
                    "Windows could not map torch's DLLs (WinError 1455, the paging file is too "
                    "small): a Windows memory setting, not a broken install; let Windows manage "
                    "the paging file size (or enlarge it) and use fewer DataLoader workers",
                    fix=[
                        (
                            "# System Properties > Advanced > Performance > Virtual memory: "
                            "System managed size"
                        )
                    ],
                    evidence=[e["line"]],
                )
            )
        if self.r.event("device_assert"):
            e = self.r.event("device_assert")[0]
            out.append(
                self.finding(
                    "symptom",
                    "a device-side assert is a kernel's own check failing on the program's data "
                    "(typically a class index out of range in a loss), not an installation "
                    "problem; CUDA_LAUNCH_BLOCKING=1 shows the operation that failed",
                    fix=["CUDA_LAUNCH_BLOCKING=1 python YOUR_SCRIPT.py"],
                    evidence=[e["line"]],
                )
            )
        if self.r.event("dll_load_failed") and not errors:
            e = self.r.event("dll_load_failed")[0]
            out.append(
                self.finding(
                    "symptom",
                    "Windows could not load one of torch's DLLs (WinError 126 / DLL load failed): "
                    "usually the Microsoft Visual C++ Redistributable is missing, or a DLL of "
                    "another install comes first on PATH",
                    fix=["# install the latest Microsoft Visual C++ Redistributable (x64)"],
                    evidence=[e["line"]],
                )
            )
        ext = [
            e
            for e in self.r.event("undefined_symbol")
            if not _in_torch_lib(e.get("lib"))
            and not _companion_lib(e.get("lib") or e["line"])
            and not _mkl_symbol(e.get("symbol", ""))
        ]
        if ext and not errors:
            e = ext[0]
            out.append(
                self.finding(
                    "extension-mismatch",
                    f"{(e.get('lib') or 'a compiled extension').rsplit('/', 1)[-1]} lacks symbol "
                    f"{e['symbol']}: an extension compiled against another torch than the one "
                    "installed; rebuild or reinstall it for this torch",
                    evidence=[e["line"]],
                )
            )
        return out

    def verdict(self, torch: Built | None, found: list[Finding]) -> list[Finding]:
        if self.r.empty:
            return [
                self.finding(
                    "nothing-read",
                    "nothing in the paste tells which torch is installed or what the machine is: "
                    f"paste the output of {ASK}",
                    fix=["python -m torch.utils.collect_env", "nvidia-smi"],
                )
            ]
        if any(f.severity == "warning" for f in found):
            return []
        if torch is None:
            if found:
                return []
            return [
                self.finding(
                    "stack-not-shown",
                    "the paste does not show which torch is installed, so the installation cannot "
                    f"be checked against the machine: paste {ASK}",
                    fix=["python -m torch.utils.collect_env"],
                )
            ]
        checked, evidence = self._checked(torch)
        if not checked:
            return [
                self.finding(
                    "stack-not-shown",
                    f"the paste shows {torch.describe()} but nothing to check it against (GPU, "
                    f"driver, companions, platform): paste {ASK}",
                    fix=["python -m torch.utils.collect_env"],
                    evidence=evidence,
                )
            ]
        return [
            self.finding(
                "consistent",
                f"{torch.describe()}: the installation looks consistent ("
                + "; ".join(checked)
                + "), so the problem is likely elsewhere (the program, its data, or the system)",
                evidence=evidence,
            )
        ]

    def _checked(self, torch: Built) -> tuple[list[str], list[str]]:
        from . import compat

        checked: list[str] = []
        evidence = list(torch.evidence)
        gpus = [g for g in self.nvidia_gpus if g.compute_capability]
        archs = list(self.m.torch.arch_list) if self.m.torch and self.m.torch.arch_list else None
        if torch.kind == "cuda" and gpus:
            archs = archs or self._archs_from_data(torch)
            if archs:
                for g in gpus:
                    cov = compat.arch_coverage(g.compute_capability, archs)
                    checked.append(f"{g.name or 'the GPU'}: {cov.describe()}")
                    evidence.append(self.gpu_line(g))
        nv = self.m.nvidia
        if torch.kind == "cuda" and torch.cuda and nv and (nv.cuda_version or nv.driver_version):
            floor, compat_floor = self._floors(torch.cuda)
            support = compat.driver_support(
                torch.cuda,
                driver=nv.driver_version,
                driver_cuda=nv.cuda_version,
                floor=floor,
                compat_floor=compat_floor,
            )
            if support.runs:
                checked.append(f"the driver runs CUDA {torch.cuda}: {support.reason}")
                evidence.append(self.r.line("nvidia.driver_version", nv.driver_version))
        if self.m.torch and self.m.torch.cuda_available:
            checked.append("torch sees the GPU")
            evidence.append(self.r.line("torch.cuda_available"))
        comps = [b for b in (self.built("torchvision"), self.built("torchaudio")) if b]
        matrix = self.matrix() if comps else None
        if comps and matrix is not None and torch.base in matrix.torch_versions():
            checked.append(", ".join(c.describe() for c in comps) + " pair with it")
        if len(self.torch_pkgs()) == 1:
            checked.append("one torch installed")
        return checked, [e for e in evidence if e]


def _quoted(events: Iterable[dict[str, Any]]) -> list[str]:
    """The lines events were read from (a printed value: the expression and its output)."""
    return [ln for e in events for ln in (e["line"], e.get("value_line")) if ln]


def _clean_name(text: str) -> str:
    from .detect.captures.torch_messages import gpu_name_in

    return gpu_name_in(text)


def _quote(path: str) -> str:
    import shlex

    return shlex.quote(path)


def _in_torch_lib(lib: str | None) -> bool:
    """A library of torch itself: ``…/torch/lib/libtorch_cpu.so``, ``…/torch/_C…so``."""
    if not lib:
        return False
    path = lib.replace("\\", "/")
    return bool(re.search(r"(?:^|/)torch/(?:lib/|_C)", path))


def _companion_lib(text: str) -> bool:
    """A library of torchvision or torchaudio (``torchaudio/lib/libtorchaudio.so``,
    ``torchvision/_C.so``, the old ``_torch_sox`` extension)."""
    path = text.replace("\\", "/")
    return bool(
        re.search(
            r"(?:^|/)(?:torchvision|torchaudio)/|libtorchaudio|libtorchvision|_torch_sox|torchvision\._C",
            path,
        )
    )


def _mkl_symbol(symbol: str) -> bool:
    """An MKL/Intel symbol (``iJIT_NotifyEvent``): pytorch/pytorch#123097's MKL 2024.1 break."""
    return symbol.startswith(("iJIT_", "mkl_", "MKL_"))


def _user_site(path: str) -> bool:
    p = path.replace("\\", "/")
    return bool(re.search(r"(?:^|/)\.local/lib/python\d|AppData/Roaming/Python/Python\d", p))
