"""NVIDIA GPU name -> CUDA compute capability, for GPUs whose capability no input showed.

Only ``nvidia-smi --query-gpu=compute_cap`` (driver R510+), NVML and CUDA itself *read* the
compute capability; the table and ``nvidia-smi -L`` show only the name. :func:`infer_missing`
fills the gap after merging, and marks every value it adds as inferred
(``GPU.compute_capability_inferred``, ``sources["compute_capability"] = "inferred from name"``).
The capture readers never use this module.
"""

from __future__ import annotations

import re

from ..values import replace

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from typing import Final

    from ..machine import GPU, Machine

#: Where an inferred compute capability is attributed in ``GPU.sources``.
INFERRED_SOURCE: Final = "inferred from name"

#: Compute capability by GPU name, normalised by :func:`normalise` (lower case, without the
#: "NVIDIA " / "GeForce " / "Tesla " prefixes). A name matches the longest key it starts with at
#: a word boundary, so "h100" covers "NVIDIA H100 80GB HBM3" and "H100 PCIe", and
#: "v100" covers "Tesla V100-SXM2-16GB".
#:
#: Source: NVIDIA, "CUDA GPUs - Compute Capability", https://developer.nvidia.com/cuda-gpus
#: (and its "Legacy CUDA GPUs" page, https://developer.nvidia.com/cuda-legacy-gpus, for Kepler
#: and Maxwell parts), as of 2026-11. Names NVIDIA does not list there (e.g. "RTX 6000D") are
#: left out on purpose: no capability is better than a guessed one.
# fmt: off
COMPUTE_CAPABILITY: Final[dict[str, str]] = {
    # Blackwell (datacenter 10.x, GeForce/RTX PRO 12.x)
    "b300": "10.3", "gb300": "10.3",
    "b200": "10.0", "gb200": "10.0",
    "gb10": "12.1",
    "rtx 5090": "12.0", "rtx 5080": "12.0", "rtx 5070 ti": "12.0", "rtx 5070": "12.0",
    "rtx 5060 ti": "12.0", "rtx 5060": "12.0", "rtx 5050": "12.0",
    "rtx pro 6000": "12.0", "rtx pro 5000": "12.0", "rtx pro 4500": "12.0", "rtx pro 4000": "12.0",
    # Hopper
    "h100": "9.0", "h200": "9.0", "h800": "9.0", "h20": "9.0", "gh200": "9.0",
    # Ada Lovelace
    "l4": "8.9", "l40": "8.9", "l40s": "8.9", "l20": "8.9",
    "rtx 4090": "8.9", "rtx 4080": "8.9", "rtx 4070 ti": "8.9", "rtx 4070": "8.9",
    "rtx 4060 ti": "8.9", "rtx 4060": "8.9", "rtx 4050": "8.9",
    "rtx 6000 ada generation": "8.9", "rtx 5880 ada generation": "8.9",
    "rtx 5000 ada generation": "8.9", "rtx 4500 ada generation": "8.9",
    "rtx 4000 ada generation": "8.9", "rtx 4000 sff ada generation": "8.9",
    "rtx 3500 ada generation": "8.9", "rtx 2000 ada generation": "8.9",
    # Ampere
    "a100": "8.0", "a800": "8.0", "a30": "8.0",
    "a40": "8.6", "a10": "8.6", "a10g": "8.6", "a16": "8.6", "a2": "8.6",
    "rtx 3090 ti": "8.6", "rtx 3090": "8.6", "rtx 3080 ti": "8.6", "rtx 3080": "8.6",
    "rtx 3070 ti": "8.6", "rtx 3070": "8.6", "rtx 3060 ti": "8.6", "rtx 3060": "8.6",
    "rtx 3050 ti": "8.6", "rtx 3050": "8.6",
    "rtx a6000": "8.6", "rtx a5500": "8.6", "rtx a5000": "8.6", "rtx a4500": "8.6",
    "rtx a4000": "8.6", "rtx a2000": "8.6",
    "orin": "8.7",
    # Turing
    "t4": "7.5", "t1000": "7.5", "t600": "7.5", "t400": "7.5",
    "titan rtx": "7.5",
    "rtx 2080 ti": "7.5", "rtx 2080 super": "7.5", "rtx 2080": "7.5",
    "rtx 2070 super": "7.5", "rtx 2070": "7.5", "rtx 2060 super": "7.5", "rtx 2060": "7.5",
    "gtx 1660 ti": "7.5", "gtx 1660 super": "7.5", "gtx 1660": "7.5",
    "gtx 1650 ti": "7.5", "gtx 1650 super": "7.5", "gtx 1650": "7.5",
    "quadro rtx 8000": "7.5", "quadro rtx 6000": "7.5", "quadro rtx 5000": "7.5",
    "quadro rtx 4000": "7.5", "quadro t2000": "7.5", "quadro t1000": "7.5",
    # Volta
    "v100": "7.0", "titan v": "7.0", "quadro gv100": "7.0",
    "xavier": "7.2",
    # Pascal
    "p100": "6.0", "quadro gp100": "6.0",
    "p40": "6.1", "p4": "6.1", "p6": "6.1",
    "titan xp": "6.1", "titan x (pascal)": "6.1",
    "gtx 1080 ti": "6.1", "gtx 1080": "6.1", "gtx 1070 ti": "6.1", "gtx 1070": "6.1",
    "gtx 1060": "6.1", "gtx 1050 ti": "6.1", "gtx 1050": "6.1", "gt 1030": "6.1",
    "quadro p6000": "6.1", "quadro p5000": "6.1", "quadro p4000": "6.1", "quadro p2000": "6.1",
    "quadro p1000": "6.1",
    # Maxwell
    "m60": "5.2", "m40": "5.2", "m6": "5.2", "m4": "5.2", "m10": "5.0",
    "gtx titan x": "5.2", "gtx 980 ti": "5.2", "gtx 980": "5.2", "gtx 970": "5.2",
    "gtx 960": "5.2", "gtx 950": "5.2", "gtx 980m": "5.2", "gtx 970m": "5.2", "gtx 965m": "5.2",
    "gtx 960m": "5.0", "gtx 950m": "5.0", "gtx 750 ti": "5.0", "gtx 750": "5.0",
    "quadro m6000": "5.2", "quadro m5000": "5.2", "quadro m4000": "5.2",
    # Kepler
    "k80": "3.7", "k40": "3.5", "k40c": "3.5", "k40m": "3.5", "k20": "3.5", "k20x": "3.5",
    "k20m": "3.5", "k10": "3.0",
    "gtx titan black": "3.5", "gtx titan z": "3.5", "gtx titan": "3.5",
    "gtx 780 ti": "3.5", "gtx 780": "3.5",
    "gtx 770": "3.0", "gtx 760": "3.0", "gtx 690": "3.0", "gtx 680": "3.0", "gtx 670": "3.0",
    "gtx 660 ti": "3.0", "gtx 660": "3.0", "gtx 650 ti": "3.0",
    "quadro k6000": "3.5",
}
# fmt: on

_PREFIXES = ("nvidia ", "geforce ", "tesla ")


def normalise(name: str) -> str:
    """``"NVIDIA GeForce RTX 4070 Laptop GPU"`` -> ``"rtx 4070 laptop gpu"``."""
    text = re.sub(r"\s+", " ", name.strip().lower())
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if text.startswith(prefix):
                text = text[len(prefix) :]
                changed = True
    if text in ("nvidia", "geforce", "tesla"):
        return ""
    return text


def _boundary(text: str, key: str) -> bool:
    return text == key or (text.startswith(key) and text[len(key)] in " -_/(,")


def infer_compute_capability(name: str | None) -> str | None:
    """The compute capability of a GPU model, from its name; None when not known for sure.

    A name nvidia-smi truncated (``"NVIDIA GeForce RTX 2080 ..."``) gives a capability only when
    every model it can stand for has the same one.
    """
    if not name:
        return None
    stripped = name.strip()
    truncated = stripped.endswith("...") or stripped.endswith("…")
    if truncated:
        stem = normalise(stripped.rstrip(".…").rstrip())
        if not stem:
            return None
        # The full name starts with the stem; the stem may itself end mid-word ("GTX 105...").
        values = {
            cc
            for key, cc in COMPUTE_CAPABILITY.items()
            if key.startswith(stem) or _boundary(stem, key)
        }
        return values.pop() if len(values) == 1 else None
    text = normalise(stripped)
    best = max((key for key in COMPUTE_CAPABILITY if _boundary(text, key)), key=len, default=None)
    return COMPUTE_CAPABILITY[best] if best else None


def infer_missing(machine: Machine) -> Machine:
    """``machine`` with an inferred compute capability for each NVIDIA GPU that has none read
    (a copy; ``machine`` itself where it has no NVIDIA section, as values are frozen)."""
    if machine.nvidia is None:
        return machine
    gpus: list[GPU] = []
    for gpu in machine.nvidia.gpus:
        cc = None if gpu.compute_capability else infer_compute_capability(gpu.name)
        if cc is None:
            gpus.append(gpu)
            continue
        gpus.append(
            replace(
                gpu,
                compute_capability=cc,
                compute_capability_inferred=True,
                sources={**gpu.sources, "compute_capability": INFERRED_SOURCE},
            )
        )
    return replace(machine, nvidia=replace(machine.nvidia, gpus=tuple(gpus)))
