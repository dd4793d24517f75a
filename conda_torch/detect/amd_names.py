"""AMD GPU PCI device IDs -> LLVM gfx targets, for outputs that print an ID but no gfx target.

``rocm-smi`` and old ``collect_env`` reports name a GPU only by its PCI device ID ("GPU ID:
0x731f", "Device 66a1"); ``rocminfo`` prints the gfx target itself and needs no table. A gfx
target read from this table is *inferred*: capture readers that use it say so in a note, and an ID
missing from it stays unknown (run ``rocminfo``).
"""

from __future__ import annotations

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from typing import Final

    from ..machine import Machine

#: gfx target -> PCI device IDs (vendor 0x1002).
#: Source: ROCm's own ``ISA_TO_ID`` table in ``rocm_agent_enumerator``
#: (https://github.com/ROCm/rocminfo/blob/c6f7a17c85e0cdd75bf062e7a3490e831c87eb94/rocm_agent_enumerator),
#: from gfx900 on (older GCN targets are not built by any torch release); the family names
#: are that table's comments. Extra IDs, marked below, are pairs that a real ``rocminfo``
#: capture printed together ("Chip ID: 29772(0x744c)" with "Name: gfx1100"), whose Chip ID is
#: the PCI device ID.
_GFX_TO_IDS: Final[dict[str, tuple[int, ...]]] = {
    # Vega10
    "gfx900": (
        0x6860,
        0x6861,
        0x6862,
        0x6863,
        0x6864,
        0x6867,
        0x6868,
        0x6869,
        0x686A,
        0x686B,
        0x686C,
        0x686D,
        0x686E,
        0x686F,
        0x687F,
    ),
    # Raven
    "gfx902": (0x15DD, 0x15D8),
    # Vega12
    "gfx904": (0x69A0, 0x69A1, 0x69A2, 0x69A3, 0x69AF),
    # Vega20
    "gfx906": (0x66A0, 0x66A1, 0x66A2, 0x66A3, 0x66A4, 0x66A7, 0x66AF),
    # Arcturus
    "gfx908": (0x738C, 0x7388, 0x738E, 0x7390),
    # Aldebaran
    "gfx90a": (0x7408, 0x740C, 0x740F, 0x7410),
    # Renoir
    "gfx90c": (0x15E7, 0x1636, 0x1638, 0x164C),
    # Navi10
    "gfx1010": (0x7310, 0x7312, 0x7318, 0x7319, 0x731A, 0x731B, 0x731E, 0x731F),
    # Navi12
    "gfx1011": (0x7360, 0x7362),
    # Navi14
    "gfx1012": (0x7340, 0x7341, 0x7347, 0x734F),
    # Cyan_Skillfish
    "gfx1013": (0x13F9, 0x13FA, 0x13FB, 0x13FC, 0x13F3),
    # Sienna_Cichlid
    "gfx1030": (
        0x73A0,
        0x73A1,
        0x73A2,
        0x73A3,
        0x73A5,
        0x73A8,
        0x73A9,
        0x73AB,
        0x73AC,
        0x73AD,
        0x73AE,
        0x73AF,
        0x73BF,
    ),
    # Navy_Flounder
    "gfx1031": (0x73C0, 0x73C1, 0x73C3, 0x73DA, 0x73DB, 0x73DC, 0x73DD, 0x73DE, 0x73DF),
    # Dimgray_Cavefish
    "gfx1032": (
        0x73E0,
        0x73E1,
        0x73E2,
        0x73E3,
        0x73E8,
        0x73E9,
        0x73EA,
        0x73EB,
        0x73EC,
        0x73ED,
        0x73EF,
        0x73FF,
    ),
    # Van Gogh
    "gfx1033": (0x163F,),
    # Beige_Goby
    "gfx1034": (0x7420, 0x7421, 0x7422, 0x7423, 0x743F),
    # Yellow_Carp
    "gfx1035": (0x164D, 0x1681),
    # Navi31, Radeon RX 7900 XTX: rocminfo capture in
    # https://github.com/ROCm/legacy-rocm-build/issues/2866 (not in ROCm's table)
    "gfx1100": (0x744C,),
    # MI300X: rocminfo capture in https://github.com/ROCm/legacy-rocm-build/issues/4414
    # (not in ROCm's table)
    "gfx942": (0x74A1,),
}

#: PCI device ID -> gfx target (the table above, inverted once).
GFX_BY_DEVICE_ID: Final[dict[int, str]] = {
    did: gfx for gfx, ids in _GFX_TO_IDS.items() for did in ids
}


def gfx_for_device_id(device_id: str | int | None) -> str | None:
    """The gfx target of an AMD PCI device ID ("0x731f", "731f" or 0x731F); None if unknown."""
    if device_id is None:
        return None
    if isinstance(device_id, str):
        try:
            device_id = int(device_id.strip().lower().removeprefix("0x"), 16)
        except ValueError:
            return None
    return GFX_BY_DEVICE_ID.get(device_id)


def normalise_device_id(text: str) -> str | None:
    """A PCI device ID as ``0x`` plus four lower-case hex digits, or None if ``text`` is not one."""
    value = text.strip().lower().removeprefix("0x")
    if len(value) != 4 or any(c not in "0123456789abcdef" for c in value):
        return None
    return "0x" + value


#: Radeon and Instinct models -> gfx target, for GPUs a paste names but no tool output shows.
#: Sources: LLVM's AMDGPU processor table, "Example Products"
#: (https://llvm.org/docs/AMDGPUUsage.html#processors: polaris10/polaris11, Radeon RX 470/480/
#: 460, are gfx803; Radeon VII and Instinct MI50/MI60 gfx906; MI100 gfx908; MI200 gfx90a);
#: Gentoo's amdgpu_targets USE-flag descriptions
#: (https://packages.gentoo.org/useflags/amdgpu_targets_gfx1010 and siblings) for the RDNA
#: Radeons; the Polaris refresh (RX 5x0) named gfx803 in ROCm/ROCm#1745 and ollama/ollama#2453;
#: MI300X gfx942 from the rocminfo capture cited above. One pattern per line.
_GFX_BY_MODEL: Final[tuple[tuple[str, str], ...]] = (
    (r"\bRX\s?(?:460|470|480|560|570|580|590)\b", "gfx803"),
    (r"\bRadeon\s+VII\b|\bMI(?:50|60)\b", "gfx906"),
    (r"\bMI100\b", "gfx908"),
    (r"\bMI2(?:10|50X?)\b|\bMI200\b", "gfx90a"),
    (r"\bMI300[AX]?\b", "gfx942"),
    (r"\bRX\s?(?:5600|5700)\b", "gfx1010"),
    (r"\bRX\s?(?:5300|5500)\b", "gfx1012"),
    (r"\bRX\s?(?:6800|6900|6950)\b", "gfx1030"),
    (r"\bRX\s?(?:6700|6750)\b", "gfx1031"),
    (r"\bRX\s?7900\b", "gfx1100"),
    (r"\bRX\s?(?:7700|7800)\b", "gfx1101"),
    (r"\bRX\s?7600\b", "gfx1102"),
)


def gfx_for_name(name: str | None) -> str | None:
    """The gfx target of a Radeon/Instinct model name (``Radeon RX 580 Series`` -> gfx803);
    None when the name matches no model or models of different targets."""
    import re

    if not name:
        return None
    found = {gfx for pattern, gfx in _GFX_BY_MODEL if re.search(pattern, name, re.IGNORECASE)}
    return found.pop() if len(found) == 1 else None


def infer_missing(machine: Machine) -> tuple[Machine, list[str]]:
    """A copy of ``machine``: AMD GPUs without a read gfx target get the one their name implies,
    and a note saying so for each."""
    from ..values import replace

    if machine.rocm is None:
        return machine, []
    notes: list[str] = []
    gpus = []
    for gpu in machine.rocm.gpus:
        gfx = None if gpu.gfx else gfx_for_name(gpu.name)
        if gfx is None:
            gpus.append(gpu)
            continue
        notes.append(
            f'gfx target {gfx} of "{gpu.name}" is inferred from its name (conda-torch\'s model '
            "table); rocminfo would confirm"
        )
        gpus.append(replace(gpu, gfx=gfx, sources={**gpu.sources, "gfx": "inferred from name"}))
    return replace(machine, rocm=replace(machine.rocm, gpus=tuple(gpus))), notes
