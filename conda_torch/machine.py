"""The machine picture: what ``detect`` saw, each fact with the probe it came from.

Capture readers (``conda_torch.detect.captures``) and live probes (``conda_torch.detect``)
each return an :class:`Observation`, a flat bag of facts read from one input. :func:`merge` combines
observations into a :class:`Machine`, keeping for every fact the first source that gave it
(so callers order observations from most to least authoritative), and never inventing a fact
that no input showed. :meth:`Machine.to_json` is the documented, versioned schema
(``SCHEMA``); :meth:`Machine.from_json` reads it back (``--machine detect.json``).
"""

from __future__ import annotations

from .values import field, fields, to_plain, value_class

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from typing import Any

#: Version of the ``detect --json`` schema. Bump the number on an incompatible change.
SCHEMA = "conda-torch.detect/1"

#: Vendors a GPU entry can have.
VENDORS = ("nvidia", "amd", "apple", "intel")


@value_class(frozen=False)
class Observation:
    """Facts read from one input (a captured file or a live probe).

    Each section is a dict whose keys are field names of the matching info class below
    (``platform`` -> :class:`PlatformInfo`, ``nvidia`` -> :class:`NvidiaInfo`, ...). Only facts
    the input actually shows go in; a fact that is absent stays absent (never ``None`` guesses).
    ``gpus`` holds one dict per device with a ``vendor`` key and :class:`GPU` field names.
    ``errors`` are stable codes (e.g. ``nvidia.driver_not_loaded``); ``notes`` are sentences.
    """

    kind: str
    source: str = ""
    platform: dict[str, Any] = field(default_factory=dict)
    nvidia: dict[str, Any] = field(default_factory=dict)
    rocm: dict[str, Any] = field(default_factory=dict)
    apple: dict[str, Any] = field(default_factory=dict)
    xpu: dict[str, Any] = field(default_factory=dict)
    torch: dict[str, Any] = field(default_factory=dict)
    gpus: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: The line each fact was read from, by ``section.key`` (``"torch.version"``,
    #: ``"gpus.0.name"``); filled by the readers of pasted text, quoted as evidence.
    evidence: dict[str, str] = field(default_factory=dict)
    #: Packages a listing shows (pip list/freeze/show, conda list, a conda plan, collect_env's
    #: ``[pip3]``/``[conda]`` lines): one dict per package, see ``detect.captures.packages``. Not
    #: machine facts: :func:`merge` leaves them out; ``doctor --from`` reads them.
    packages: list[dict[str, Any]] = field(default_factory=list)
    #: What a paste says happened (torch's warnings and errors, installer failures, install
    #: commands, printed values): one dict per event with an ``id`` and its ``line``. Not
    #: machine facts either.
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def found(self) -> bool:
        """Whether it holds a fact, a package or an event (notes and errors alone are not)."""
        return bool(
            self.platform or self.nvidia or self.rocm or self.apple or self.xpu or self.torch
            or self.gpus or self.packages or self.events
        )  # fmt: skip

    @property
    def label(self) -> str:
        """How a fact from this observation is attributed: ``kind`` or ``kind (source)``."""
        return (
            f"{self.kind} ({self.source})"
            if self.source and self.source != self.kind
            else self.kind
        )


@value_class
class GPU:
    """One GPU: its vendor, index, name and (NVIDIA) compute capability."""

    vendor: str
    index: int | None = None
    name: str | None = None
    #: "9.0"; for NVIDIA only. ``sources["compute_capability"]`` says where it came from,
    #: and ``inferred`` is true when it was looked up from the name, not read.
    compute_capability: str | None = None
    compute_capability_inferred: bool = False
    memory_mib: int | None = None
    mig_mode: str | None = None
    mig_devices: int | None = None
    uuid: str | None = None
    bus_id: str | None = None
    pci_device_id: str | None = None
    driver_model: str | None = None
    #: AMD gfx target, e.g. "gfx942".
    gfx: str | None = None
    hidden: bool = False
    sources: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


@value_class
class PlatformInfo:
    """The platform: conda subdirs, operating system, kernel, C library, Python, container."""

    #: conda subdir of the running Python (what conda would install into).
    subdir: str | None = None
    #: conda subdir the hardware runs natively (differs under Rosetta 2).
    native_subdir: str | None = None
    os: str | None = None  # linux | macos | windows | freebsd
    os_version: str | None = None
    distro: str | None = None
    machine: str | None = None  # x86_64 | aarch64 | arm64 | ppc64le ...
    kernel: str | None = None
    glibc: str | None = None
    macos_version: str | None = None
    python_version: str | None = None
    wsl: bool | None = None
    container: str | None = None
    jetson: bool | None = None
    conda_version: str | None = None
    #: conda's virtual packages as conda reported them, e.g. {"__cuda": "12.0"}.
    virtual_packages: dict[str, str] | None = None
    #: The host's name (``os.uname().nodename``): which node answered ``detect --via``.
    hostname: str | None = None
    sources: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


@value_class
class NvidiaInfo:
    """The NVIDIA driver, the newest CUDA it supports, and its GPUs."""

    #: Kernel driver version (on WSL2: the Windows host driver).
    driver_version: str | None = None
    #: Newest CUDA the driver supports ("13.0"), not a toolkit version.
    cuda_version: str | None = None
    driver_flavor: str | None = None  # open | proprietary
    nvml_version: str | None = None
    #: Devices named by CUDA_VISIBLE_DEVICES (None when the variable is unset).
    cuda_visible_devices: str | None = None
    gpus: tuple[GPU, ...] = ()
    errors: tuple[str, ...] = ()
    sources: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


@value_class
class RocmInfo:
    """The ROCm installation and its GPUs."""

    version: str | None = None
    path: str | None = None
    gpus: tuple[GPU, ...] = ()
    sources: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


@value_class
class AppleInfo:
    """Apple silicon: the chip, Rosetta 2 and Metal (MPS)."""

    chip: str | None = None
    apple_silicon: bool | None = None
    rosetta: bool | None = None
    mps: bool | None = None
    model: str | None = None
    gpus: tuple[GPU, ...] = ()
    sources: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


@value_class
class XpuInfo:
    """Intel GPUs (XPU)."""

    gpus: tuple[GPU, ...] = ()
    sources: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


@value_class
class TorchInfo:
    """An installed torch stack, as an input (collect_env) or probe shows it."""

    version: str | None = None  # with its local tag: "2.11.0+cu130"
    cuda: str | None = None  # CUDA it was built with, None for CPU builds
    rocm: str | None = None
    cuda_available: bool | None = None
    xpu_available: bool | None = None
    torchvision: str | None = None
    torchaudio: str | None = None
    python_version: str | None = None
    arch_list: tuple[str, ...] | None = None
    sources: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


@value_class
class Probe:
    """One probe or input that was tried, and what it gave."""

    name: str
    ok: bool
    detail: str = ""
    ms: float | None = None


@value_class
class Machine:
    """Everything known about one machine, merged from observations (:func:`merge`)."""

    platform: PlatformInfo = field(default_factory=PlatformInfo)
    nvidia: NvidiaInfo | None = None
    rocm: RocmInfo | None = None
    apple: AppleInfo | None = None
    xpu: XpuInfo | None = None
    torch: TorchInfo | None = None
    #: "live" or "files" (built from captured outputs).
    mode: str = "live"
    inputs: tuple[str, ...] = ()
    overrides: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    probes: tuple[Probe, ...] = ()
    #: What was not found, and why: sentences for the human output.
    notes: tuple[str, ...] = ()
    #: Every error code any input reported (``nvidia.no_devices``,
    #: ``platform.conda_info_json_invalid``).
    errors: tuple[str, ...] = ()

    # -- questions later commands ask -------------------------------------------------

    @property
    def nvidia_gpus(self) -> tuple[GPU, ...]:
        return self.nvidia.gpus if self.nvidia else ()

    @property
    def visible_nvidia_gpus(self) -> tuple[GPU, ...]:
        return tuple(g for g in self.nvidia_gpus if not g.hidden)

    # -- JSON -------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        from . import __version__

        data = {"schema": SCHEMA, "conda_torch_version": __version__}
        data.update(to_plain(self))
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Machine:
        """Read back :meth:`to_json` output. Raises ``ValueError`` on a foreign schema."""
        schema = data.get("schema")
        if not isinstance(schema, str) or not schema.startswith("conda-torch.detect/"):
            raise ValueError(f"not a conda-torch detect document (schema {schema!r})")
        if schema != SCHEMA:
            raise ValueError(f"unsupported schema {schema!r} (this version reads {SCHEMA})")

        def gpus(items: Any) -> tuple[GPU, ...]:
            return tuple(_build(GPU, g) for g in items or ())

        def section(kind: type, d: Any) -> Any:
            if d is None:
                return None
            d = dict(d)
            if "gpus" in d:
                d["gpus"] = gpus(d["gpus"])
            for key in ("errors", "arch_list"):
                if isinstance(d.get(key), list):
                    d[key] = tuple(d[key])
            return _build(kind, d)

        return cls(
            platform=section(PlatformInfo, data.get("platform") or {}),
            nvidia=section(NvidiaInfo, data.get("nvidia")),
            rocm=section(RocmInfo, data.get("rocm")),
            apple=section(AppleInfo, data.get("apple")),
            xpu=section(XpuInfo, data.get("xpu")),
            torch=section(TorchInfo, data.get("torch")),
            mode=data.get("mode", "live"),
            inputs=tuple(data.get("inputs") or ()),
            overrides=dict(data.get("overrides") or {}),
            probes=tuple(_build(Probe, p) for p in data.get("probes") or ()),
            notes=tuple(data.get("notes") or ()),
            errors=tuple(data.get("errors") or ()),
        )


def _build(kind: type, d: dict[str, Any]) -> Any:
    names = {f.name for f in fields(kind)}
    return kind(**{k: v for k, v in d.items() if k in names})


# -- merging observations --------------------------------------------------------------


def _is_truncated(name: str | None) -> bool:
    return bool(name) and (name.endswith("...") or name.endswith("…"))


def _fill(
    target: dict[str, Any], sources: dict[str, str], facts: dict[str, Any], label: str
) -> None:
    for key, value in facts.items():
        if value is None:
            continue
        if target.get(key) is None or (
            key == "name" and _is_truncated(target[key]) and not _is_truncated(value)
        ):
            target[key] = value
            sources[key] = label


def _merge_gpus(existing: list[dict[str, Any]], new: list[dict[str, Any]], label: str) -> None:
    """Merge one observation's GPUs into ``existing`` (dicts with a ``_sources`` key).

    A GPU is matched by uuid, then bus id, then index, then position within the vendor.
    """
    for pos, gpu in enumerate(new):
        match = None
        for key in ("uuid", "bus_id", "index"):
            value = gpu.get(key)
            if value is None:
                continue
            match = next(
                (
                    g
                    for g in existing
                    if g.get(key) is not None and _norm(key, g[key]) == _norm(key, value)
                ),
                None,
            )
            if match is not None:
                break
        if (
            match is None
            and all(gpu.get(k) is None for k in ("uuid", "bus_id", "index"))
            and pos < len(existing)
        ):
            match = existing[pos]
        if match is None:
            match = {"_sources": {}}
            existing.append(match)
        _fill(match, match["_sources"], gpu, label)


def _norm(key: str, value: Any) -> Any:
    if key == "bus_id" and isinstance(value, str):
        # nvidia-smi writes 00000000:01:00.0 in one output and 0000:01:00.0 in another:
        # compare bus, device and function only.
        return ":".join(value.lower().split(":")[-2:])
    return value


def merge(
    observations: list[Observation],
    *,
    mode: str = "live",
    inputs: tuple[str, ...] = (),
    overrides: dict[str, str] | None = None,
    probes: tuple[Probe, ...] = (),
    notes: tuple[str, ...] = (),
) -> Machine:
    """Combine observations (most authoritative first) into one :class:`Machine`."""
    sections: dict[str, dict[str, Any]] = {
        s: {} for s in ("platform", "nvidia", "rocm", "apple", "xpu", "torch")
    }
    srcs: dict[str, dict[str, str]] = {s: {} for s in sections}
    gpus: dict[str, list[dict[str, Any]]] = {v: [] for v in VENDORS}
    errors: dict[str, list[str]] = {s: [] for s in sections}
    seen: set[str] = set()
    all_notes: list[str] = []
    all_errors: list[str] = []
    for obs in observations:
        for name in sections:
            _fill(sections[name], srcs[name], getattr(obs, name), obs.label)
            if getattr(obs, name):
                seen.add(name)
        by_vendor: dict[str, list[dict[str, Any]]] = {}
        for gpu in obs.gpus:
            by_vendor.setdefault(gpu.get("vendor", "nvidia"), []).append(gpu)
        for vendor, items in by_vendor.items():
            _merge_gpus(gpus.setdefault(vendor, []), items, obs.label)
        for code in obs.errors:
            section = code.split(".", 1)[0]
            bucket = errors.get(section if section in errors else "platform")
            if code not in bucket:
                bucket.append(code)
            if code not in all_errors:
                all_errors.append(code)
        all_notes.extend(n for n in obs.notes if n not in all_notes)

    def gpu_objs(vendor: str) -> tuple[GPU, ...]:
        out = []
        for g in gpus.get(vendor, []):
            src = g.pop("_sources", {})
            g["vendor"] = vendor
            out.append(_build(GPU, {**g, "sources": src}))
        return tuple(out)

    def build(kind: type, name: str, vendor: str | None = None) -> Any:
        vendor_gpus = gpu_objs(vendor) if vendor else ()
        if name not in seen and not vendor_gpus and not errors[name]:
            return None
        d = dict(sections[name])
        if vendor:
            d["gpus"] = vendor_gpus
        if errors[name] and "errors" in {f.name for f in fields(kind)}:
            d["errors"] = tuple(errors[name])
        return _build(kind, {**d, "sources": srcs[name]})

    return Machine(
        platform=_build(PlatformInfo, {**sections["platform"], "sources": srcs["platform"]}),
        nvidia=build(NvidiaInfo, "nvidia", "nvidia"),
        rocm=build(RocmInfo, "rocm", "amd"),
        apple=build(AppleInfo, "apple", "apple"),
        xpu=build(XpuInfo, "xpu", "intel"),
        torch=build(TorchInfo, "torch"),
        mode=mode,
        inputs=inputs,
        overrides=dict(overrides or {}),
        probes=probes,
        notes=tuple(notes) + tuple(n for n in all_notes if n not in notes),
        errors=tuple(all_errors),
    )
