"""AMD ROCm captures: ``rocminfo``, ``rocm-smi`` (table, ``-a``, ``--showbus``, ``--showhw``,
``--csv``, ``--json``) and ``update-alternatives --display rocm``.

Only ``rocminfo`` prints gfx targets. ``rocm-smi`` prints PCI device IDs at most; a gfx target
looked up from one (:mod:`conda_torch.detect.amd_names`) comes with a note saying it was inferred.
The "Driver version" in ``rocm-smi`` is the amdgpu kernel driver's (on in-tree drivers, the
Linux kernel's) version, never a ROCm version, so it is never read as one.
"""

from __future__ import annotations

import re

from ...machine import Observation
from ..amd_names import gfx_for_device_id, normalise_device_id
from .capture import Kind, lazy_re

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from typing import Any

    from .capture import Capture

# -- rocminfo ----------------------------------------------------------------------------

_AGENT = lazy_re(r"^\s*Agent\s+(\d+)\s*$")
_KEY = lazy_re(r"^(\s*)([A-Za-z][\w .()/-]*?):\s*(.*)$")
_HEX_IN_PARENS = lazy_re(r"\((0x[0-9a-fA-F]+)\)")
_GFX = lazy_re(r"^gfx[0-9a-f]+$")


def _recognise_rocminfo(capture: Capture) -> bool:
    text = "\n".join(capture.lines)
    if "HSA Agents" in text or "HSA System Attributes" in text:
        return True
    # Excerpts that start at an agent: a gfx "Name:" plus rocminfo's agent keys.
    return bool(re.search(r"^\s*Name:\s+gfx[0-9a-f]+\s*$", text, re.M)) and (
        "Marketing Name:" in text or "Device Type:" in text or "Chip ID:" in text
    )


def _agents(capture: Capture) -> list[dict[str, Any]]:
    """Agent-level ``key: value`` pairs, one dict per agent (``_agent`` holds its number)."""
    name_indents = [
        len(m.group(1)) for ln in capture.lines if (m := _KEY.match(ln)) and m.group(2) == "Name"
    ]
    if not name_indents:
        return []
    indent = min(name_indents)
    agents: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for line in capture.lines:
        if m := _AGENT.match(line):
            current = {"_agent": int(m.group(1))}
            agents.append(current)
            continue
        m = _KEY.match(line)
        if not m or len(m.group(1)) != indent:
            continue
        key, value = m.group(2).strip(), m.group(3).strip()
        if current is None or (key == "Name" and "Name" in current):
            current = {}
            agents.append(current)
        current.setdefault(key, value)
    return [a for a in agents if "Name" in a]


def _bdfid_to_bus(value: str) -> str | None:
    """rocminfo's BDFID is ``bus << 8 | device << 3 | function`` (no PCI domain): "93:00.0"."""
    if not value.isdigit():
        return None
    v = int(value)
    return f"{(v >> 8) & 0xFF:02x}:{(v >> 3) & 0x1F:02x}.{v & 0x7}"


def _parse_rocminfo(capture: Capture) -> Observation:
    obs = Observation(kind="rocminfo")
    for agent in _agents(capture):
        device_type = agent.get("Device Type", "").upper()
        name = agent.get("Name", "")
        if device_type != "GPU" and not (not device_type and _GFX.match(name)):
            continue  # CPU (and other) agents
        gpu: dict[str, Any] = {"vendor": "amd"}
        if _GFX.match(name):
            gpu["gfx"] = name
        marketing = agent.get("Marketing Name", "")
        if marketing:
            gpu["name"] = marketing
        uuid = agent.get("Uuid", "")
        if uuid.startswith("GPU-"):
            gpu["uuid"] = uuid
        chip = agent.get("Chip ID", "")
        if m := _HEX_IN_PARENS.search(chip):
            gpu["pci_device_id"] = normalise_device_id(m.group(1))
        elif chip.isdigit():
            gpu["pci_device_id"] = normalise_device_id(f"{int(chip):04x}")
        bus = _bdfid_to_bus(agent.get("BDFID", ""))
        if bus:
            gpu["bus_id"] = bus
        obs.gpus.append({k: v for k, v in gpu.items() if v is not None})
    if any(ln.strip() in ("...", "…") for ln in capture.lines):
        shown = ", ".join(f"Agent {a['_agent']}" for a in _agents(capture) if "_agent" in a)
        obs.notes.append(
            f"this rocminfo output is elided ('...'): it shows {len(obs.gpus)} GPU agent(s)"
            + (f" ({shown})" if shown else "")
            + "; GPUs it leaves out are not counted"
        )
    if not obs.gpus:
        obs.errors.append("rocm.no_gpu_agents")
        obs.notes.append("rocminfo lists no GPU agent: ROCm sees no AMD GPU")
    return obs


# -- rocm-smi ----------------------------------------------------------------------------

_SMI_BANNER = lazy_re(r"ROCm System Management Interface|End of ROCm SMI Log")
_SMI_GPU_LINE = lazy_re(r"^GPU\[(\d+)\]\s*:\s*([^:]+?)\s*:\s*(.*?)\s*$")
_SMI_DRIVER = lazy_re(r"^Driver version:\s*(\S+)")
_BUS = lazy_re(r"^(?:[0-9a-fA-F]{4,8}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$")

#: ``GPU[n] : key: value`` keys that name a GPU fact, in all rocm-smi versions seen.
_SMI_KEYS: dict[str, str] = {
    "gpu id": "pci_device_id",
    "device id": "pci_device_id",
    "pci bus": "bus_id",
    "card series": "name",
    "device name": "name",
    "gfx version": "gfx",
}


def _recognise_rocm_smi(capture: Capture) -> bool:
    return (
        any(_SMI_BANNER.search(ln) for ln in capture.lines)
        or sum(1 for ln in capture.lines if _SMI_GPU_LINE.match(ln)) >= 1
        and capture.ran("rocm-smi")
    )


def _smi_tables(capture: Capture) -> list[tuple[list[str], list[list[str]]]]:
    """(header columns, rows) of every rocm-smi table (concise, --showhw, ROCm 6 concise)."""
    tables: list[tuple[list[str], list[list[str]]]] = []
    header: list[str] | None = None
    rows: list[list[str]] = []
    for line in capture.lines:
        stripped = line.strip()
        if re.match(r"^(GPU|Device)\s{2,}\S", stripped):
            if header is not None:
                tables.append((header, rows))
            header, rows = re.split(r"\s{2,}", stripped), []
        elif header is not None and re.match(r"^\d+\s", stripped):
            rows.append(stripped.split())
        elif header is not None and stripped.startswith("="):
            if rows:
                tables.append((header, rows))
                header, rows = None, []
        elif header is not None and stripped.startswith("("):
            header = header + re.split(r"\s{2,}", stripped)  # ROCm 6 second header line
    if header is not None and rows:
        tables.append((header, rows))
    return tables


def _parse_rocm_smi(capture: Capture) -> Observation:
    obs = Observation(kind="rocm-smi")
    by_index: dict[int, dict[str, Any]] = {}

    def gpu(index: int) -> dict[str, Any]:
        return by_index.setdefault(index, {"vendor": "amd", "index": index})

    for line in capture.lines:
        if m := _SMI_DRIVER.match(line.strip()):
            obs.notes.append(
                f'rocm-smi "Driver version: {m.group(1)}" is the amdgpu kernel driver '
                "(or Linux kernel) version, not a ROCm version"
            )
        if m := _SMI_GPU_LINE.match(line.strip()):
            field = _SMI_KEYS.get(m.group(2).strip().lower())
            value = _smi_value(field, m.group(3))
            if field and value is not None:
                gpu(int(m.group(1))).setdefault(field, value)

    for header, rows in _smi_tables(capture):
        names = [h.upper() for h in header]
        for row in rows:
            index = int(row[0])
            entry = gpu(index)
            if len(row) == len(header):
                cells = dict(zip(names, row))
                did = normalise_device_id(cells.get("DID", ""))
                if did:
                    entry.setdefault("pci_device_id", did)
            elif any("DID" in n for n in names):  # ROCm 6 "IDs (DID, GUID)" column
                did = next(
                    (
                        normalise_device_id(c.rstrip(","))
                        for c in row[1:]
                        if c.lower().startswith("0x")
                    ),
                    None,
                )
                if did:
                    entry.setdefault("pci_device_id", did)
            bus = next((c for c in row[1:] if _BUS.match(c)), None)
            if bus:
                entry.setdefault("bus_id", bus)

    _finish_smi(obs, by_index)
    return obs


def _smi_value(field: str | None, value: str) -> str | None:
    """A rocm-smi value as the fact ``field`` holds it, or None (a placeholder, a malformed
    value). ``GFX Version`` is printed with the stepping in decimal (``gfx9010`` for gfx90a:
    rocm_smi_lib joins major, minor and stepping as numbers)."""
    value = value.strip()
    if not field or not value or value.upper() in ("N/A", "NONE"):
        return None
    if field == "pci_device_id":
        return normalise_device_id(value)
    if field == "bus_id" and not _BUS.match(value):
        return None
    if field == "gfx":
        if m := re.fullmatch(r"gfx9(\d)(1[0-5])", value):
            return f"gfx9{m[1]}{int(m[2]):x}"
        return value if _GFX.match(value) else None
    return value


def _finish_smi(obs: Observation, by_index: dict[int, dict[str, Any]]) -> None:
    """gfx targets from device IDs (with a note), then the GPUs, then the partition note."""
    for index in sorted(by_index):
        entry = by_index[index]
        if "gfx" not in entry:
            did = entry.get("pci_device_id")
            gfx = gfx_for_device_id(did)
            if gfx:
                entry["gfx"] = gfx
                obs.notes.append(
                    f"GPU {index}: gfx target {gfx} is inferred from PCI device ID {did} "
                    "(conda-torch's device-ID table); rocm-smi does not print it, "
                    "run rocminfo to confirm"
                )
            elif did:
                obs.notes.append(
                    f"GPU {index}: rocm-smi prints no gfx target and device ID {did} is not in the "
                    "table conda-torch knows; run rocminfo"
                )
        obs.gpus.append(entry)
    if obs.gpus and all("gfx" not in g and "pci_device_id" not in g for g in obs.gpus):
        obs.notes.append("rocm-smi prints no gfx target; run rocminfo")

    buses = [g["bus_id"] for g in obs.gpus if g.get("bus_id")]
    if len(buses) == len(obs.gpus) and buses:
        devices = sorted({b.rsplit(".", 1)[0].lower() for b in buses})
        if len(devices) < len(buses):
            obs.notes.append(
                f"rocm-smi lists {len(buses)} GPUs on {len(devices)} physical PCI device(s) "
                f"({', '.join(devices)}): the GPU is split into partitions, so count physical "
                "GPUs by PCI device, not by rocm-smi entries"
            )


# -- rocm-smi --csv / --json -------------------------------------------------------------

_CSV_HEADER = lazy_re(r"^device,(?P<cols>.+)$")
_CSV_ROW = lazy_re(r"^card(?P<index>\d+),(?P<cells>.*)$")
_JSON_CARD = lazy_re(r'"card(?P<index>\d+)"\s*:\s*\{')
_JSON_PAIR = lazy_re(r'"(?P<key>[^"]+)"\s*:\s*"(?P<value>[^"]*)"')


def _csv_cards(capture: Capture) -> dict[int, dict[str, str]]:
    """``card0,...`` rows under a ``device,...`` header, by card index."""
    cards: dict[int, dict[str, str]] = {}
    columns: list[str] | None = None
    for line in capture.lines:
        text = line.strip()
        if m := _CSV_HEADER.match(text):
            columns = [c.strip() for c in m["cols"].split(",")]
        elif columns and (m := _CSV_ROW.match(text)):
            cells = m["cells"].split(",")
            if len(cells) > len(columns):  # a vendor name holds a comma: rejoin the middle
                cells = (
                    cells[:1]
                    + [",".join(cells[1 : len(cells) - len(columns) + 2])]
                    + cells[len(cells) - len(columns) + 2 :]
                )
            cards.setdefault(int(m["index"]), {}).update(zip(columns, cells))
    return cards


def _json_cards(capture: Capture) -> dict[int, dict[str, str]]:
    """``"cardN": {"Key": "value", ...}`` objects, pretty-printed or on one line, whole or cut."""
    text = "\n".join(capture.lines)
    heads = list(_JSON_CARD.finditer(text))
    cards: dict[int, dict[str, str]] = {}
    for head, after in zip(heads, [*heads[1:], None]):
        block = text[head.end() : after.start() if after else len(text)]
        cards.setdefault(int(head["index"]), {}).update(
            (m["key"].strip(), m["value"]) for m in _JSON_PAIR.finditer(block)
        )
    return cards


def _recognise_smi_csv(capture: Capture) -> bool:
    return any(_SMI_KEYS.get(k.lower()) for c in _csv_cards(capture).values() for k in c)


def _recognise_smi_json(capture: Capture) -> bool:
    return any(_SMI_KEYS.get(k.lower()) for c in _json_cards(capture).values() for k in c)


def _parse_smi_cards(kind: str, cards: dict[int, dict[str, str]]) -> Observation:
    obs = Observation(kind=kind)
    by_index: dict[int, dict[str, Any]] = {}
    for index, card in sorted(cards.items()):
        entry: dict[str, Any] = {"vendor": "amd", "index": index}
        for key, raw in card.items():
            field = _SMI_KEYS.get(key.strip().lower())
            value = _smi_value(field, raw)
            if field and value is not None:
                entry.setdefault(field, value)
        if len(entry) > 2:
            by_index[index] = entry
    _finish_smi(obs, by_index)
    return obs


def _parse_smi_csv(capture: Capture) -> Observation:
    return _parse_smi_cards("rocm-smi --csv", _csv_cards(capture))


def _parse_smi_json(capture: Capture) -> Observation:
    return _parse_smi_cards("rocm-smi --json", _json_cards(capture))


# -- update-alternatives --display rocm --------------------------------------------------

_ALT_POINTS = lazy_re(r"^\s*link currently points to\s+(/\S+)")
_ALT_HEAD = lazy_re(r"^rocm\s+-\s+(?:auto|manual|status)")
_ROCM_VERSION_IN_PATH = lazy_re(r"rocm-(\d+\.\d+(?:\.\d+)?)(?:/|$)")


def _recognise_alternatives(capture: Capture) -> bool:
    points = any(_ALT_POINTS.match(ln) for ln in capture.lines)
    rocm = any(_ALT_HEAD.match(ln) or "link rocm is" in ln for ln in capture.lines)
    return points and rocm


def _parse_alternatives(capture: Capture) -> Observation:
    obs = Observation(kind="update-alternatives rocm")
    for line in capture.lines:
        if m := _ALT_POINTS.match(line):
            path = m.group(1).rstrip("/")
            obs.rocm["path"] = path
            if v := _ROCM_VERSION_IN_PATH.search(path):
                obs.rocm["version"] = v.group(1)
            break
    return obs


KINDS: tuple[Kind, ...] = (
    Kind("rocminfo", _recognise_rocminfo, _parse_rocminfo, rank=20),
    Kind("rocm-smi", _recognise_rocm_smi, _parse_rocm_smi, rank=30),
    Kind("rocm-smi --csv", _recognise_smi_csv, _parse_smi_csv, rank=30),
    Kind("rocm-smi --json", _recognise_smi_json, _parse_smi_json, rank=30),
    Kind("update-alternatives rocm", _recognise_alternatives, _parse_alternatives, rank=40),
)
