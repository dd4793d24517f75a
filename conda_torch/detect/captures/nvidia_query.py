"""``nvidia-smi`` outputs that carry exact values: ``--query-gpu`` CSV, ``-q`` / ``-a`` (text and
``-x`` XML), ``--version``, and ``-L``.

Formats as they appear in ``tests/data/fixtures/nvidia-smi-query``:

* ``--query-gpu=a,b --format=csv[,noheader][,nounits]``: one row per GPU, cells joined by ``", "``
  (names contain spaces, so never split on whitespace); ``[N/A]`` / ``N/A`` mean no value. Without
  a header row the field order comes from the command line in the capture. An unknown field
  prints ``Field "x" is not a valid field to query.`` and nothing else. Rows come in device-index
  order, so an unfiltered query without an ``index`` field numbers its rows 0, 1, ...
* ``-q`` / ``-a``: ``Key : Value`` lines nested by indentation, one ``GPU <bus id>`` section per
  GPU; R610 appends `` [Deprecated; ...]`` to ``Driver Version`` / ``CUDA Version`` and adds
  ``KMD Version`` / ``CUDA UMD Version``; ``CUDA Version : Not Found`` on vGPU hosts.
* ``-q -x``: the same as XML (``nvidia_smi_log``); a cut document is read tag by tag.
* ``--version``: ``NVIDIA-SMI version``, ``NVML version``, ``DRIVER version``, ``CUDA Version``
  (R610: ``KMD version`` / ``CUDA UMD version``, the old lines say ``Deprecated``).
* ``-L``: ``GPU 0: <name> (UUID: GPU-...)``; indented ``MIG ...`` lines are MIG devices of the GPU
  above them, not GPUs. A name may itself contain parentheses (``Orin (nvgpu)``).
"""

from __future__ import annotations

import re

from .capture import Kind, lazy_re
from .nvidia_smi import (
    NOTE_TRUNCATED,
    add_error,
    add_note,
    cuda_unavailable,
    is_truncated,
    jetson_platform,
    mib,
    new_observation,
    pci_device_id,
    platform_from_driver_model,
    uuid,
    value,
    version,
    windows_exe,
)

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    import xml.etree.ElementTree as ET
    from typing import Any

    from ...machine import Observation
    from .capture import Capture


def _finish_gpus(
    obs: Observation, gpus: list[dict[str, Any]], capture: Capture, persistence: list[str]
) -> None:
    """Shared tail: platform facts that follow from the GPUs' names and driver models."""
    obs.gpus.extend(gpus)
    for gpu in gpus:
        obs.platform.update(jetson_platform(gpu.get("name")))
        if is_truncated(gpu.get("name")):
            add_note(obs, NOTE_TRUNCATED)
    models = [g["driver_model"] for g in gpus if g.get("driver_model")]
    obs.platform.update(platform_from_driver_model(models, persistence, capture))
    if obs.platform.get("wsl"):
        add_note(
            obs,
            "the GPU runs under the Windows driver model (WDDM) and nvidia-smi reports a "
            "persistence mode, which only the Linux build does: this is WSL2",
        )


def _note_gpus_left_out(obs: Observation, tool: str, attached: str | None, shown: int) -> None:
    """A capture cut short: the report counts more attached GPUs than it shows sections for."""
    if attached and attached.isdigit() and int(attached) > shown:
        add_note(
            obs,
            f"{tool} reports {attached} attached GPUs; the capture shows {shown} "
            "of them; run `nvidia-smi -L` to list them all",
        )


def _number_sections(gpus: list[dict[str, Any]], capture: Capture, whole: bool) -> None:
    """Give ``-q`` sections their device index when the output shows it unambiguously.

    nvidia-smi prints one section per device in device-index order, so when the capture holds
    the start of the output (``Attached GPUs``) and no ``-i``/``--id`` filter, section n is GPU n;
    with ``-i N`` the single section is GPU N.
    """
    flt = _command_filter(capture)
    if flt is None and whole:
        for pos, gpu in enumerate(gpus):
            gpu.setdefault("index", pos)
    elif flt is not None and flt.isdigit() and len(gpus) == 1:
        gpus[0].setdefault("index", int(flt))


def _command_filter(capture: Capture) -> str | None:
    for line in capture.lines:
        if "nvidia-smi" in line and ("-q" in line or "-a" in line or "--query" in line):
            m = _FILTER.search(" " + line)
            if m:
                return m.group("id")
    return None


# -- --query-gpu CSV ------------------------------------------------------------------------

_QUERY = lazy_re(r"--query-gpu[= ]\s*[\"']?(?P<fields>[A-Za-z0-9_.,]+)")
#: A command line running the query: an optional prompt, nvidia-smi (with a path), options.
_COMMAND = lazy_re(
    r"^(?:.*?[$#>%]\s*)?(?:[\w./\\:~-]*[/\\])?nvidia-smi(?:\.exe)?(?:\s+[-\w.:=,\"']+)*?\s+--query-gpu"
)
_FORMAT = lazy_re(r"--format[= ]\s*[\"']?(?P<fmt>[a-z,]+)")
_FILTER = lazy_re(r"(?:\s-i|\s--id)[= ]\s*[\"']?(?P<id>[^\s\"']+)")
_FIELD = lazy_re(r"^[A-Za-z_][A-Za-z0-9_.]*(?: \[[^\]]+\])?$")
_INVALID_FIELD = lazy_re(r'^Field "(?P<field>[^"]+)" is not a valid field to query\.')
_LIST_ITEM = lazy_re(r"'([^']*)'")

#: Query fields that can start a header row; a header must contain one of them.
_KNOWN_FIELDS = frozenset(
    {
        "timestamp",
        "driver_version",
        "kmd_version",
        "count",
        "name",
        "gpu_name",
        "serial",
        "uuid",
        "gpu_uuid",
        "pci.bus_id",
        "gpu_bus_id",
        "index",
        "compute_cap",
        "memory.total",
        "mig.mode.current",
        "driver_model.current",
        "pci.device_id",
        "persistence_mode",
    }
)


def _field_name(header_cell: str) -> str:
    return header_cell.split(" [", 1)[0].strip()


def _is_header(line: str) -> list[str] | None:
    cells = [c.strip() for c in line.split(", ")]
    if not cells or not all(_FIELD.match(c) for c in cells):
        return None
    names = [_field_name(c) for c in cells]
    if not any(n in _KNOWN_FIELDS for n in names):
        return None
    if (
        len(cells) == 1
        and "." not in names[0]
        and "_" not in names[0]
        and names[0] not in ("name", "index")
    ):
        return None
    return names


def _query_sections(capture: Capture) -> list[dict[str, Any]]:
    """Split the capture into query sections: fields (from a command or a header) and rows."""
    sections: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for line in capture.lines:
        text = line.strip()
        if not text:
            continue
        q = _QUERY.search(text)
        if q and _COMMAND.match(text[: q.end()]):
            fmt = _FORMAT.search(text)
            flt = _FILTER.search(" " + text)
            fields = [f.strip() for f in q.group("fields").split(",") if f.strip()]
            current = {
                "fields": fields,
                "expect_header": not (fmt and "noheader" in fmt.group("fmt")),
                "rows": [],
                "filter": flt.group("id") if flt else None,
            }
            sections.append(current)
            continue
        header = _is_header(text)
        if header is not None:
            if (
                current is not None
                and current["expect_header"]
                and not current["rows"]
                and len(header) == len(current["fields"])
            ):
                current["fields"] = header  # the header row of the command above
                current["expect_header"] = False
            else:  # a header row with no command line shown: a new query output
                current = {"fields": header, "expect_header": False, "rows": [], "filter": None}
                sections.append(current)
            continue
        if current is None:
            continue
        width = len(current["fields"])
        # A row may sit inside a logged Python list: ['a, b, c', ''].
        candidates = _LIST_ITEM.findall(text) if text.startswith("[") and "'" in text else [text]
        for cand in candidates:
            cells = [c.strip() for c in cand.split(", ")] if width > 1 else [cand.strip()]
            if len(cells) == width and (
                width > 1 or _plausible_single(current["fields"][0], cells[0])
            ):
                current["rows"].append(dict(zip(current["fields"], cells)))
                break
        else:
            if current["rows"]:  # the rows of one query are contiguous; anything else ends them
                current = None
    found = [s for s in sections if s["rows"]]
    if not found:
        rows = [row for line in capture.lines if (row := _shape_row(line.strip()))]
        if rows:
            found.append({"fields": [], "rows": rows, "filter": None, "shaped": True})
    return found


_BUS_ID = lazy_re(r"^[0-9A-Fa-f]{8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7]$")
_BRANDS = ("NVIDIA ", "GeForce ", "Tesla ", "Quadro ", "TITAN ")
_DRIVER_3 = lazy_re(r"^\d{3}\.\d{2,3}\.\d{2}$")


def _shape_row(text: str) -> dict[str, str] | None:
    """A ``--format=csv,noheader`` row shown without its command: keep only the cells whose
    form says what they are (GPU UUID, PCI bus id, a brand-prefixed name, a three-part driver
    version). Counts, clocks, memory sizes and modes are ambiguous without the field list."""
    cells = [c.strip() for c in text.split(", ")]
    if len(cells) < 3:
        return None
    row: dict[str, str] = {}
    for cell in cells:
        if uuid(cell) or (cell.startswith("GPU-") and len(cell) == 40):
            row.setdefault("uuid", cell)
        elif _BUS_ID.match(cell):
            row.setdefault("pci.bus_id", cell)
        elif cell.startswith(_BRANDS):
            row.setdefault("name", cell)
        elif _DRIVER_3.match(cell):
            row.setdefault("driver_version", cell)
    if "name" in row and ("uuid" in row or "pci.bus_id" in row):
        return row
    return None


def _plausible_single(field: str, cell: str) -> bool:
    if field in ("driver_version", "kmd_version"):
        return version(cell) is not None or value(cell) is None
    if field == "compute_cap":
        return re.match(r"^\d+\.\d+$", cell) is not None
    return "," not in cell


def recognise_query(capture: Capture) -> bool:
    if any(_INVALID_FIELD.match(ln.strip()) for ln in capture.lines):
        return True
    return bool(_query_sections(capture))


def parse_query(capture: Capture) -> Observation:
    obs = new_observation("nvidia-smi --query-gpu")
    for line in capture.lines:
        m = _INVALID_FIELD.match(line.strip())
        if m:
            add_error(obs, "nvidia.invalid_field")
            add_note(
                obs,
                f'this nvidia-smi does not know the query field "{m.group("field")}" '
                "(it is newer than the driver); query driver_version instead",
            )
    slots: dict[Any, dict[str, Any]] = {}
    persistence: list[str] = []
    for section in _query_sections(capture):
        if section.get("shaped"):
            add_note(
                obs,
                "a --query-gpu row without its header or command line: only the values whose "
                "form is unambiguous were read; capture it without `noheader`",
            )
        flt = section["filter"]
        for pos, row in enumerate(section["rows"]):
            gpu = _gpu_from_row(row, obs)
            if row.get("persistence_mode"):
                persistence.append(row["persistence_mode"])
            if "index" not in gpu and "index" not in row and not section.get("shaped"):
                if flt is None:
                    gpu["index"] = pos
                elif flt.isdigit() and len(section["rows"]) == 1:
                    gpu["index"] = int(flt)
                elif (
                    re.match(r"^(?:[0-9a-fA-F]{4,8}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$", flt)
                    and "bus_id" not in gpu
                    and len(section["rows"]) == 1
                ):
                    gpu["bus_id"] = flt
            key = gpu.get("index", gpu.get("bus_id", gpu.get("uuid", (id(section), pos))))
            slot = slots.setdefault(key, {"vendor": "nvidia"})
            for k, v in gpu.items():
                slot.setdefault(k, v)
    _finish_gpus(obs, list(slots.values()), capture, persistence)
    return obs


def _gpu_from_row(row: dict[str, str], obs: Observation) -> dict[str, Any]:
    gpu: dict[str, Any] = {"vendor": "nvidia"}
    for key in ("kmd_version", "driver_version"):
        v = version(row.get(key))
        if v and "driver_version" not in obs.nvidia:
            obs.nvidia["driver_version"] = v
    name = value(row.get("name") or row.get("gpu_name"))
    if name:
        gpu["name"] = name
    idx = value(row.get("index"))
    if idx and idx.isdigit():
        gpu["index"] = int(idx)
    u = uuid(row.get("uuid") or row.get("gpu_uuid"))
    if u:
        gpu["uuid"] = u
    bus = value(row.get("pci.bus_id") or row.get("gpu_bus_id"))
    if bus and ":" in bus:
        gpu["bus_id"] = bus
    dev = pci_device_id(row.get("pci.device_id"))
    if dev:
        gpu["pci_device_id"] = dev
    cc = value(row.get("compute_cap"))
    if cc and re.match(r"^\d+\.\d+$", cc):
        gpu["compute_capability"] = cc
    mem = mib(row.get("memory.total"))
    if mem is not None:
        gpu["memory_mib"] = mem
    mig = value(row.get("mig.mode.current"))
    if mig in ("Enabled", "Disabled"):
        gpu["mig_mode"] = mig
    dm = value(row.get("driver_model.current"))
    if dm:
        gpu["driver_model"] = dm
    return gpu


# -- -q / -a text ---------------------------------------------------------------------------

_KV = lazy_re(r"^(?P<indent>\s*)(?P<key>[^:]*?\S)\s+:(?:\s?(?P<value>.*))?$")
_SECTION = lazy_re(r"^(?P<indent>\s*)(?P<key>\S.*?)\s*$")
_GPU_SECTION = lazy_re(r"^GPU (?P<bus>[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7])$")


def recognise_q(capture: Capture) -> bool:
    text = capture.lines
    if any("NVSMI LOG" in ln for ln in text):
        return True
    keys = {m.group("key") for ln in text if (m := _KV.match(ln))}
    return "Attached GPUs" in keys and ("Driver Version" in keys or "KMD Version" in keys)


def parse_q(capture: Capture) -> Observation:
    obs = new_observation("nvidia-smi -q")
    top: dict[str, str] = {}
    top_sections: set[str] = set()
    gpus: list[dict[str, Any]] = []
    persistence: list[str] = []
    stack: list[tuple[int, str]] = []
    gpu: dict[str, Any] | None = None
    for line in capture.lines:
        if not line.strip() or "NVSMI LOG" in line:
            continue
        kv = _KV.match(line)
        if kv:
            indent, key, val = (
                len(kv.group("indent")),
                kv.group("key").strip(),
                kv.group("value") or "",
            )
        else:
            sec = _SECTION.match(line)
            if not sec:
                continue
            indent, key, val = len(sec.group("indent")), sec.group("key"), None
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = [k for _, k in stack] + [key]
        stack.append((indent, key))
        gm = _GPU_SECTION.match(path[0])
        if gm and len(path) == 1:
            gpu = {"vendor": "nvidia", "bus_id": gm.group("bus"), "_mig": 0}
            gpus.append(gpu)
            continue
        if len(path) == 1:
            if val is not None:
                top.setdefault(key, val)
            else:
                top_sections.add(key)
            continue
        if gpu is None or not gm:
            continue
        sub = tuple(path[1:])
        if sub == ("MIG Device",) and val is None:
            gpu["_mig"] += 1
        elif val is not None:
            _q_field(gpu, sub, val, persistence)

    _q_top(obs, top, top_sections)
    for g in gpus:
        count = g.pop("_mig")
        if count and g.get("mig_mode") == "Enabled":
            g["mig_devices"] = count
    attached = value(top.get("Attached GPUs"))
    _note_gpus_left_out(obs, "nvidia-smi -q", attached, len(gpus))
    _number_sections(gpus, capture, whole="Attached GPUs" in top)
    _finish_gpus(obs, gpus, capture, persistence)
    return obs


def _q_field(gpu: dict[str, Any], sub: tuple[str, ...], val: str, persistence: list[str]) -> None:
    if sub == ("Product Name",) and value(val):
        gpu["name"] = value(val)
    elif sub == ("GPU UUID",) and uuid(val):
        gpu["uuid"] = uuid(val)
    elif sub == ("MIG Mode", "Current") and value(val) in ("Enabled", "Disabled"):
        gpu["mig_mode"] = value(val)
    elif sub == ("Driver Model", "Current") and value(val):
        gpu["driver_model"] = value(val)
    elif sub == ("FB Memory Usage", "Total") and mib(val) is not None:
        gpu["memory_mib"] = mib(val)
    elif sub == ("PCI", "Device Id") and pci_device_id(val):
        gpu["pci_device_id"] = pci_device_id(val)
    elif sub == ("Persistence Mode",) and val.strip():
        persistence.append(val.strip())


def _set_driver_and_cuda(
    obs: Observation,
    drivers: tuple[str | None, ...],
    cuda_raw: str | None,
    *,
    where: str,
    shown: str | None = None,
) -> None:
    """Driver (KMD first: R610+ marks the old "Driver Version" deprecated) and the driver's CUDA.

    A CUDA field that is present but holds no version ("N/A", "Not Found") is recorded as
    unavailable, showing ``shown`` (default: the raw value).
    """
    driver = next(filter(None, map(version, drivers)), None)
    if driver:
        obs.nvidia["driver_version"] = driver
    if cuda_raw is None:
        return
    cuda = version(cuda_raw)
    if cuda:
        obs.nvidia["cuda_version"] = cuda
    else:
        cuda_unavailable(obs, cuda_raw if shown is None else shown, where)


def _q_top(obs: Observation, top: dict[str, str], sections: set[str] | None = None) -> None:
    cuda_key = "CUDA UMD Version" if "CUDA UMD Version" in top else "CUDA Version"
    cuda_raw = top.get(cuda_key)
    _set_driver_and_cuda(
        obs,
        (top.get("KMD Version"), top.get("Driver Version")),
        cuda_raw,
        where=cuda_key,
        shown=None if cuda_raw is None else cuda_raw.strip() or "nothing",
    )
    if sections and "vGPU Driver Capability" in sections:
        add_note(
            obs,
            "nvidia-smi -q shows an NVIDIA vGPU host driver (vGPU Driver Capability): "
            "its GPUs serve virtual machines",
        )


# -- -q -x XML ------------------------------------------------------------------------------


def recognise_xml(capture: Capture) -> bool:
    return any("<nvidia_smi_log" in ln for ln in capture.lines)


def parse_xml(capture: Capture) -> Observation:
    obs = new_observation("nvidia-smi -q -x")
    text = "\n".join(capture.lines)
    start = text.find("<nvidia_smi_log")
    end = text.find("</nvidia_smi_log>")
    root = None
    if end > start >= 0:
        # Only here: every --from imports this module to recognise its input, and
        # xml.etree costs milliseconds at import (DESIGN.md, "Start-up time").
        import xml.etree.ElementTree as ET

        try:
            root = ET.fromstring(text[start : end + len("</nvidia_smi_log>")])
        except ET.ParseError:
            root = None
    if root is not None:
        top = {child.tag: (child.text or "").strip() for child in root if len(child) == 0}
        gpus_xml = [(g.get("id"), _xml_gpu_fields(g)) for g in root.findall("gpu")]
    else:
        add_note(obs, "the nvidia-smi -q -x XML is cut or damaged; read what was complete")
        top, gpus_xml = _xml_scan(text[max(start, 0) :])

    top_keys = {
        "KMD Version": top.get("kmd_version"),
        "Driver Version": top.get("driver_version"),
        "CUDA UMD Version": top.get("cuda_umd_version"),
        "CUDA Version": top.get("cuda_version"),
        "Attached GPUs": top.get("attached_gpus"),
    }
    _q_top(obs, {k: v for k, v in top_keys.items() if v is not None})
    gpus: list[dict[str, Any]] = []
    persistence: list[str] = []
    for bus, fields in gpus_xml:
        gpu: dict[str, Any] = {"vendor": "nvidia"}
        if bus and value(bus):
            gpu["bus_id"] = bus
        if value(fields.get("product_name")):
            gpu["name"] = value(fields["product_name"])
        if uuid(fields.get("uuid")):
            gpu["uuid"] = uuid(fields["uuid"])
        if value(fields.get("current_mig")) in ("Enabled", "Disabled"):
            gpu["mig_mode"] = value(fields["current_mig"])
        if value(fields.get("current_dm")):
            gpu["driver_model"] = value(fields["current_dm"])
        if mib(fields.get("fb_total")) is not None:
            gpu["memory_mib"] = mib(fields["fb_total"])
        if pci_device_id(fields.get("pci_device_id")):
            gpu["pci_device_id"] = pci_device_id(fields["pci_device_id"])
        if fields.get("mig_device_count") and gpu.get("mig_mode") == "Enabled":
            gpu["mig_devices"] = int(fields["mig_device_count"])
        if fields.get("persistence_mode"):
            persistence.append(fields["persistence_mode"])
        gpus.append(gpu)
    attached = value(top.get("attached_gpus"))
    _note_gpus_left_out(obs, "nvidia-smi -q -x", attached, len(gpus))
    _number_sections(gpus, capture, whole=attached is not None)
    _finish_gpus(obs, gpus, capture, persistence)
    return obs


def _xml_gpu_fields(gpu: ET.Element) -> dict[str, str]:
    def text(path: str) -> str | None:
        el = gpu.find(path)
        return el.text.strip() if el is not None and el.text else None

    fields = {
        "product_name": text("product_name"),
        "uuid": text("uuid"),
        "current_mig": text("mig_mode/current_mig"),
        "current_dm": text("driver_model/current_dm"),
        "fb_total": text("fb_memory_usage/total"),
        "pci_device_id": text("pci/pci_device_id"),
        "persistence_mode": text("persistence_mode"),
        "mig_device_count": str(len(gpu.findall("mig_devices/mig_device"))),
    }
    return {k: v for k, v in fields.items() if v is not None}


_XML_LEAF = lazy_re(r"<(?P<tag>[A-Za-z_][\w.-]*)>(?P<text>[^<]*)</(?P=tag)>")


def _xml_scan(text: str) -> tuple[dict[str, str], list[tuple[str | None, dict[str, str]]]]:
    """Read a cut ``-q -x`` document leaf by leaf: only complete ``<tag>text</tag>`` pairs count."""
    parts = re.split(r'<gpu id="([^"]*)">', text)
    top = {m.group("tag"): m.group("text").strip() for m in _XML_LEAF.finditer(parts[0])}
    gpus: list[tuple[str | None, dict[str, str]]] = []
    for i in range(1, len(parts) - 1, 2):
        body = parts[i + 1]
        fields: dict[str, str] = {}
        for tag, key in (
            ("product_name", "product_name"),
            ("uuid", "uuid"),
            ("persistence_mode", "persistence_mode"),
            ("current_mig", "current_mig"),
            ("current_dm", "current_dm"),
            ("pci_device_id", "pci_device_id"),
        ):
            m = re.search(rf"<{tag}>([^<]*)</{tag}>", body)
            if m:
                fields[key] = m.group(1).strip()
        fb = re.search(r"<fb_memory_usage>\s*<total>([^<]*)</total>", body)
        if fb:
            fields["fb_total"] = fb.group(1).strip()
        gpus.append((parts[i], fields))
    return top, gpus


# -- --version ------------------------------------------------------------------------------

_VERSION_LINE = lazy_re(
    r"^(?P<key>NVIDIA-SMI|NVML|DRIVER|CUDA|KMD|CUDA UMD) version\s*:\s*(?P<value>.*)$",
    re.IGNORECASE,
)


def recognise_version(capture: Capture) -> bool:
    keys = {
        m.group("key").upper() for ln in capture.lines if (m := _VERSION_LINE.match(ln.strip()))
    }
    return "NVIDIA-SMI" in keys and ("NVML" in keys or "DRIVER" in keys or "KMD" in keys)


def parse_version(capture: Capture) -> Observation:
    obs = new_observation("nvidia-smi --version")
    found: dict[str, str] = {}
    for line in capture.lines:
        m = _VERSION_LINE.match(line.strip())
        if m:
            found.setdefault(m.group("key").upper(), m.group("value").strip())
    cuda_key = "CUDA UMD" if "CUDA UMD" in found else "CUDA"
    _set_driver_and_cuda(
        obs,
        (found.get("KMD"), found.get("DRIVER")),
        found.get(cuda_key),
        where=f"{cuda_key} version",
    )
    nvml = version(found.get("NVML"))
    if nvml:
        obs.nvidia["nvml_version"] = nvml
    if windows_exe(capture):
        obs.platform["os"] = "windows"
    return obs


# -- -L -------------------------------------------------------------------------------------

_L_GPU = lazy_re(r"^\s*GPU (?P<index>\d+): (?P<rest>\S.*)$")
_L_MIG = lazy_re(r"^\s*MIG \S+\s+Device\s+\d+:")


def _is_list_capture(capture: Capture) -> bool:
    return capture.ran("nvidia-smi", "-L") or capture.ran("nvidia-smi", "--list-gpus")


def recognise_list(capture: Capture) -> bool:
    listed = _is_list_capture(capture)
    return any(
        (m := _L_GPU.match(ln)) and ("(UUID: " in m.group("rest") or listed) for ln in capture.lines
    )


def parse_list(capture: Capture) -> Observation:
    obs = new_observation("nvidia-smi -L")
    listed = _is_list_capture(capture)
    gpus: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for line in capture.lines:
        m = _L_GPU.match(line)
        if m and ("(UUID: " in m.group("rest") or listed):
            name, sep, tail = m.group("rest").rpartition(" (UUID: ")
            if not sep:
                name, tail = m.group("rest"), ""
            current = {"vendor": "nvidia", "index": int(m.group("index")), "name": name.strip()}
            u = uuid(tail.rstrip().rstrip(")"))
            if u:
                current["uuid"] = u
            gpus.append(current)
            continue
        if current is not None and _L_MIG.match(line):
            current["mig_devices"] = current.get("mig_devices", 0) + 1
    unique: dict[int, dict[str, Any]] = {}
    for gpu in gpus:  # a paste may hold the same listing twice
        unique.setdefault(gpu["index"], gpu)
    _finish_gpus(obs, list(unique.values()), capture, [])
    return obs


KINDS: tuple[Kind, ...] = (
    Kind(name="nvidia-smi --query-gpu", recognise=recognise_query, parse=parse_query, rank=10),
    Kind(name="nvidia-smi -q -x", recognise=recognise_xml, parse=parse_xml, rank=11),
    Kind(name="nvidia-smi -q", recognise=recognise_q, parse=parse_q, rank=12),
    Kind(name="nvidia-smi --version", recognise=recognise_version, parse=parse_version, rank=15),
    Kind(name="nvidia-smi -L", recognise=recognise_list, parse=parse_list, rank=20),
)
