"""What changes a picture after probing: flags, CONDA_OVERRIDE_CUDA, CUDA_VISIBLE_DEVICES, names.

Applied in this order to a live picture or one read from captures: a :class:`Description`
(``--platform/--driver/--cuda/--gpu``: flags describing another machine, or completing the
inputs), ``CONDA_OVERRIDE_CUDA`` as conda reads it (:func:`parse_cuda_override`),
``CUDA_VISIBLE_DEVICES`` (which GPUs CUDA programs see); each says what it changed in a note.
Compute capabilities missing after these are looked up by GPU name (:mod:`.gpu_names`).
"""

from __future__ import annotations

from ..constants import CONDA_OVERRIDE_CUDA, SUBDIRS
from ..exceptions import CondaTorchValueError, OverrideError, UnknownPlatformError
from ..machine import GPU, NvidiaInfo, PlatformInfo
from ..values import replace, value_class
from .probing import NOT_FOUND

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from ..machine import Machine

#: What a conda subdir (``--platform``) implies: (os, machine).
SUBDIR_FACTS = {  # subdir -> (os, machine) it implies
    "linux-64": ("linux", "x86_64"),
    "linux-aarch64": ("linux", "aarch64"),
    "linux-ppc64le": ("linux", "ppc64le"),
    "osx-64": ("macos", "x86_64"),
    "osx-arm64": ("macos", "arm64"),
    "win-64": ("windows", "x86_64"),
}


def _numeric(value: str, parts: tuple[int, int]) -> bool:
    pieces = value.split(".")
    return parts[0] <= len(pieces) <= parts[1] and all(p.isdigit() and p.isascii() for p in pieces)


@value_class
class Description:
    """What flags say about a machine (``--platform``, ``--driver``, ``--cuda``, ``--gpu``).

    ``gpus`` holds ``(name, compute capability or None)``; without a compute capability it is
    looked up by name later and marked as inferred. Invalid values raise at construction.
    """

    platform: str | None = None
    driver_version: str | None = None
    cuda_version: str | None = None
    gpus: tuple[tuple[str, str | None], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "gpus", tuple((n, c) for n, c in self.gpus))
        if self.platform is not None and self.platform not in SUBDIRS:
            raise UnknownPlatformError(self.platform, SUBDIRS)
        if self.driver_version is not None and not _numeric(self.driver_version, (2, 4)):
            raise CondaTorchValueError(
                f"--driver {self.driver_version!r} is not an NVIDIA driver version: expected "
                "e.g. 580.159.04 or 551.88",
                hints=["Copy 'Driver Version' from nvidia-smi."],
            )
        if self.cuda_version is not None and not _numeric(self.cuda_version, (2, 2)):
            raise CondaTorchValueError(
                f"--cuda {self.cuda_version!r} is not a CUDA version: expected X.Y, e.g. 12.6",
                hints=["Copy 'CUDA Version' from the nvidia-smi header."],
            )
        for name, cc in self.gpus:
            if not name.strip():
                raise CondaTorchValueError(
                    "--gpu needs a GPU name: expected NAME or NAME=CC, "
                    "e.g. 'GeForce GTX 1080 Ti=6.1'"
                )
            if cc is not None and not _numeric(cc, (2, 2)):
                raise CondaTorchValueError(
                    f"--gpu {name}={cc}: {cc!r} is not a compute capability: "
                    "expected X.Y, e.g. 8.6",
                    hints=["Leave '=CC' out to look it up by name."],
                )

    @property
    def empty(self) -> bool:
        return not (self.platform or self.driver_version or self.cuda_version or self.gpus)

    @staticmethod
    def parse_gpu(text: str) -> tuple[str, str | None]:
        """``"GeForce GTX 1080 Ti=6.1"`` -> ``("GeForce GTX 1080 Ti", "6.1")``."""
        name, sep, cc = text.rpartition("=")
        if not sep:
            return text.strip(), None
        return name.strip(), cc.strip()


def parse_cuda_override(value: str | None) -> str | None:
    """``CONDA_OVERRIDE_CUDA`` as conda reads it: ``None`` unset, ``""`` no CUDA, else X.Y.

    Returns the normalised version ("12" -> "12.0", "12.6.1" -> "12.6"), ``""`` for "no CUDA",
    ``None`` when unset; raises :class:`OverrideError` on anything else.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return ""
    if not _numeric(text, (1, 3)):
        raise OverrideError(
            CONDA_OVERRIDE_CUDA, value, "a CUDA version such as 12.6, or empty for no CUDA"
        )
    pieces = text.split(".")
    return f"{int(pieces[0])}.{int(pieces[1]) if len(pieces) > 1 else 0}"


def apply_description(machine: Machine, d: Description) -> Machine:
    notes = list(machine.notes)
    overrides = dict(machine.overrides)
    plat = machine.platform
    nvidia, rocm, apple, xpu = machine.nvidia, machine.rocm, machine.apple, machine.xpu
    if d.platform is not None:
        overrides["--platform"] = d.platform
        os_name, arch = SUBDIR_FACTS[d.platform]
        if machine.mode == "live" and d.platform != plat.subdir:
            plat = PlatformInfo(
                subdir=d.platform,
                native_subdir=d.platform,
                os=os_name,
                machine=arch,
                sources={k: "--platform" for k in ("subdir", "native_subdir", "os", "machine")},
            )
            nvidia = rocm = apple = xpu = None
            notes = [n for n in notes if not n.startswith(NOT_FOUND)]
            notes.append(
                f"Describing another machine (--platform {d.platform}): this machine's "
                "hardware is not used; only the flags describe it."
            )
        else:
            if plat.subdir not in (None, d.platform):
                notes.append(
                    f"--platform {d.platform} replaces {plat.subdir} (from "
                    f"{plat.sources.get('subdir', 'the inputs')})."
                )
            src = {**plat.sources, "subdir": "--platform"}
            kv: dict[str, Any] = {"subdir": d.platform}
            if plat.native_subdir is None:
                kv["native_subdir"], src["native_subdir"] = d.platform, "--platform"
            for key, value in (("os", os_name), ("machine", arch)):
                if getattr(plat, key) is None:
                    kv[key], src[key] = value, "--platform"
            plat = replace(plat, **kv, sources=src)
            notes = [n for n in notes if not n.startswith(NOT_FOUND + "platform")]
    if d.driver_version or d.cuda_version or d.gpus:
        base = nvidia or NvidiaInfo()
        src = dict(base.sources)
        kv = {}
        if d.driver_version:
            overrides["--driver"] = d.driver_version
            if (
                base.driver_version not in (None, d.driver_version)
                and not d.cuda_version
                and base.cuda_version
            ):
                kv["cuda_version"] = None
                src.pop("cuda_version", None)
                notes.append(
                    f"--driver {d.driver_version}: the CUDA version {base.cuda_version} read for "
                    f"driver {base.driver_version} no longer applies; pass --cuda X.Y."
                )
            kv["driver_version"], src["driver_version"] = d.driver_version, "--driver"
            kv["driver_flavor"] = None
            src.pop("driver_flavor", None)
        if d.cuda_version:
            overrides["--cuda"] = d.cuda_version
            kv["cuda_version"], src["cuda_version"] = d.cuda_version, "--cuda"
        if d.gpus:
            overrides["--gpu"] = "; ".join(f"{n}={c}" if c else n for n, c in d.gpus)
            kv["gpus"] = tuple(
                GPU(
                    vendor="nvidia",
                    index=i,
                    name=name,
                    compute_capability=cc,
                    sources={
                        "name": "--gpu",
                        "index": "--gpu",
                        **({"compute_capability": "--gpu"} if cc else {}),
                    },
                )
                for i, (name, cc) in enumerate(d.gpus)
            )
        nvidia = replace(base, **kv, sources=src)
        notes = [n for n in notes if not n.startswith(NOT_FOUND + "NVIDIA")]
    return replace(
        machine,
        platform=plat,
        nvidia=nvidia,
        rocm=rocm,
        apple=apple,
        xpu=xpu,
        overrides=overrides,
        notes=tuple(notes),
    )


def apply_cuda_override(
    machine: Machine, raw: str, value: str, describe: Description | None
) -> Machine:
    overrides = {**machine.overrides, CONDA_OVERRIDE_CUDA: raw}
    notes = list(machine.notes)
    if describe is not None and describe.cuda_version:
        notes.append(
            f"{CONDA_OVERRIDE_CUDA}={raw!r} is ignored: --cuda {describe.cuda_version} wins."
        )
        return replace(machine, overrides=overrides, notes=tuple(notes))
    nvidia = machine.nvidia
    if value == "":
        notes.append(
            f"{CONDA_OVERRIDE_CUDA} is set and empty: treated as no CUDA, as conda does (no "
            "__cuda virtual package)"
            + (
                f"; the driver's CUDA {nvidia.cuda_version} is ignored."
                if nvidia and nvidia.cuda_version
                else "."
            )
        )
        if nvidia is not None:
            nvidia = replace(
                nvidia,
                cuda_version=None,
                sources={**nvidia.sources, "cuda_version": CONDA_OVERRIDE_CUDA},
            )
    else:
        before = nvidia.cuda_version if nvidia else None
        notes.append(
            f"{CONDA_OVERRIDE_CUDA}={value}: the driver is treated as supporting CUDA {value}, "
            "as conda does" + (f" (it reports {before})." if before and before != value else ".")
        )
        base = nvidia or NvidiaInfo()
        nvidia = replace(
            base, cuda_version=value, sources={**base.sources, "cuda_version": CONDA_OVERRIDE_CUDA}
        )
    return replace(machine, nvidia=nvidia, overrides=overrides, notes=tuple(notes))


def apply_own_visible_devices(machine: Machine, env: Mapping[str, str] | None) -> Machine:
    if env is None:  # a picture of another machine: only what its inputs showed
        return apply_visible_devices(machine)
    value = env.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return machine
    if machine.nvidia is None:
        return replace(
            machine,
            notes=machine.notes
            + (f"CUDA_VISIBLE_DEVICES={value!r} is set, but no NVIDIA GPU was found.",),
        )
    return apply_visible_devices(machine, value, device_order=env.get("CUDA_DEVICE_ORDER"))


def apply_visible_devices(
    machine: Machine, value: str | None = None, *, device_order: str | None = None
) -> Machine:
    """Mark the NVIDIA GPUs that ``CUDA_VISIBLE_DEVICES=value`` hides from CUDA programs.

    ``value`` ``None`` means the value the picture already holds (an input may show one).
    CUDA reads a comma-separated list of ordinals or GPU UUID prefixes, keeps them in that
    order and stops at the first entry that names no device, so ``""``, an ordinal past the
    last GPU or an unknown UUID first in the list hide every GPU (CUDA C Programming Guide,
    "CUDA Environment Variables"). torch follows libcuda; NVML and nvidia-smi ignore the
    variable (the H100 capture in fixtures/torch-runtime shows libcuda and torch seeing 0
    devices for ``""``, ``"1"`` and ``"GPU-nonexistent"`` while NVML sees the GPU).
    """
    nvidia = machine.nvidia
    if nvidia is None:
        return machine
    if value is None:
        value = nvidia.cuda_visible_devices
        if value is None:
            return machine
    else:
        nvidia = replace(
            nvidia,
            cuda_visible_devices=value,
            sources={**nvidia.sources, "cuda_visible_devices": "CUDA_VISIBLE_DEVICES"},
        )
    gpus = nvidia.gpus
    if not gpus:
        return replace(machine, nvidia=nvidia)
    entries = [e.strip() for e in value.split(",")] if value.strip() else []
    visible: list[int] = []
    uncertain = ""
    for entry in entries:
        if entry.upper().startswith("MIG-"):
            uncertain = "it names MIG instances, whose GPUs are not resolved here"
            break
        if entry.isdigit() or (entry.startswith("-") and entry[1:].isdigit()):
            n = int(entry)
            if not 0 <= n < len(gpus) or n in visible:
                break
            visible.append(n)
            continue
        if not any(g.uuid for g in gpus):
            uncertain = "it names GPUs by UUID and no UUID is known"
            break
        matches = [
            i for i, g in enumerate(gpus) if g.uuid and g.uuid.lower().startswith(entry.lower())
        ]
        if len(matches) != 1 or matches[0] in visible:
            break
        visible.append(matches[0])
    notes = list(machine.notes)
    if uncertain:
        notes.append(
            f"CUDA_VISIBLE_DEVICES={value!r}: which GPUs CUDA sees is not known ({uncertain})."
        )
        return replace(machine, nvidia=nvidia, notes=tuple(notes))
    if (
        len({g.name for g in gpus}) > 1
        and device_order != "PCI_BUS_ID"
        and any(e.isdigit() for e in entries)
    ):
        notes.append(
            "CUDA numbers different GPU models fastest first unless CUDA_DEVICE_ORDER=PCI_BUS_ID; "
            "the numbers in CUDA_VISIBLE_DEVICES are read here in nvidia-smi's (PCI) order."
        )
    new = tuple(
        replace(
            g,
            hidden=i not in visible,
            sources={**g.sources, "hidden": "CUDA_VISIBLE_DEVICES"}
            if i not in visible
            else {k: v for k, v in g.sources.items() if k != "hidden"},
        )
        for i, g in enumerate(gpus)
    )
    hidden = sum(1 for g in new if g.hidden)
    if hidden == len(new):
        notes.append(
            f"CUDA_VISIBLE_DEVICES={value!r} hides every NVIDIA GPU from CUDA programs: torch "
            "will see no GPU (NVML and nvidia-smi still list them). Unset it to use them."
        )
    elif hidden:
        notes.append(
            f"CUDA_VISIBLE_DEVICES={value!r} hides {hidden} of {len(new)} NVIDIA GPUs from CUDA "
            "programs."
        )
    return replace(machine, nvidia=replace(nvidia, gpus=new), notes=tuple(notes))
