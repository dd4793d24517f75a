"""NVIDIA capture parsers on every real NVIDIA fixture (tests/data/fixtures, see INDEX.md there).

``EXPECT`` is written by hand from INDEX.md's expect lines (and, where INDEX.md is silent, from
the capture itself). Every fact a fixture's entry does not name is asserted absent: drivers,
CUDA versions, errors, platform facts, and per-GPU memory / MIG mode / driver model / read
compute capability default to None. ``cc`` lists the compute capability the output *shows*;
``cc_inferred`` the one ``gpu_names.infer_missing`` must add for a "(not shown)" fact (None where
the name is not enough to know it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from conda_torch import values
from conda_torch.detect.captures import (
    Capture,
    lenient_kinds,
    nvidia_query,
    nvidia_smi,
    parse_text,
    proc,
    ranked,
)
from conda_torch.detect.gpu_names import INFERRED_SOURCE, infer_compute_capability, infer_missing
from conda_torch.machine import Machine, merge

from .helpers.paths import FIXTURES, fixture_files, read_fixture

if TYPE_CHECKING:
    from typing import Any

FOLDERS = ("nvidia-smi", "nvidia-smi-query", "proc-driver-version", "pci")
NEGATIVE_FOLDERS = ("rocm", "apple", "collect-env", "conda-info", "torch-runtime")
OUR_KINDS = nvidia_smi.KINDS + nvidia_query.KINDS + proc.KINDS

# Kind names, as parse_text reports them (sorted by rank: most authoritative first).
CSV, XML, Q, VER, L, PROC, TABLE, LSPCI, SYSFS = (
    "nvidia-smi --query-gpu",
    "nvidia-smi -q -x",
    "nvidia-smi -q",
    "nvidia-smi --version",
    "nvidia-smi -L",
    "/proc/driver/nvidia/version",
    "nvidia-smi",
    "lspci",
    "PCI sysfs",
)
NO_CUDA = ("nvidia.cuda_version_unavailable",)

H100 = "NVIDIA H100 80GB HBM3"
RTX2080S = "NVIDIA GeForce RTX 2080 SUPER"


def E(
    kinds: list[str],
    *,
    names: list[str | None] = (),
    driver: str | None = None,
    cuda: str | None = None,
    **facts: Any,
) -> dict[str, Any]:
    """One expectation. Per-GPU facts are lists; a scalar is repeated for every GPU."""
    count = len(names)
    out: dict[str, Any] = {"kinds": kinds, "names": list(names), "driver": driver, "cuda": cuda}
    for key, val in facts.items():
        if key in PER_GPU and not isinstance(val, list):
            val = [val] * count
        out[key] = val
    return out


PER_GPU = (
    "memory",
    "mig",
    "driver_model",
    "cc",
    "cc_inferred",
    "bus_id",
    "uuid",
    "mig_devices",
    "pci_device_id",
)

EXPECT: dict[str, dict[str, Any]] = {
    # -- nvidia-smi: the default table ---------------------------------------------------------
    "nvidia-smi/a100-sxm4-40gb-x2-580.126.09-cuda13.0-bottlerocket.txt": E(
        [TABLE],
        names=["NVIDIA A100-SXM4-40GB"] * 2,
        driver="580.126.09",
        cuda="13.0",
        memory=40960,
        mig="Disabled",
        cc_inferred="8.0",
    ),
    # INDEX.md also says platform=linux-aarch64: true of the machine, but nothing in this
    # output shows it (the PCI domain 00000001 is a hint, not proof), so it stays unknown.
    "nvidia-smi/aarch64-raspberrypi-cm5-rtx3060-580.95.05-cuda13.0.txt": E(
        [TABLE],
        names=["NVIDIA GeForce RTX 3060"],
        driver="580.95.05",
        cuda="13.0",
        memory=12288,
        bus_id="00000001:01:00.0",
        cc_inferred="8.6",
    ),
    "nvidia-smi/b200x-610.43.02-KMD-UMD-header.txt": E(
        [TABLE],
        names=["NVIDIA B200"] * 2,
        driver="610.43.02",
        cuda="13.3",
        memory=183359,
        mig="Disabled",
        cc_inferred="10.0",
    ),
    "nvidia-smi/error-couldnt-communicate-linux.txt": E(
        [TABLE], errors=("nvidia.driver_not_loaded",)
    ),
    "nvidia-smi/error-no-devices-found-rtx5090.txt": E([TABLE], errors=("nvidia.no_devices",)),
    "nvidia-smi/error-nvml-mismatch-570.124-open-p2p.txt": E(
        [TABLE], errors=("nvidia.driver_library_mismatch",), nvml="570.124"
    ),
    "nvidia-smi/exporter-linux-h100-80gb-hbm3-590.48.01.txt": E(
        [TABLE],
        names=[H100],
        driver="590.48.01",
        cuda="13.1",
        memory=81559,
        mig="Disabled",
        cc_inferred="9.0",
    ),
    "nvidia-smi/exporter-linux-h200-590.48.01.txt": E(
        [TABLE],
        names=["NVIDIA H200"],
        driver="590.48.01",
        cuda="13.1",
        memory=143771,
        mig="Disabled",
        cc_inferred="9.0",
    ),
    "nvidia-smi/exporter-linux-l40s-595.80.txt": E(
        [TABLE],
        names=["NVIDIA L40S"],
        driver="595.80",
        cuda="13.2",
        memory=46068,
        cc_inferred="8.9",
    ),
    "nvidia-smi/exporter-linux-rtx2080super-610.57.04-KMD.txt": E(
        [TABLE],
        names=["NVIDIA GeForce RTX 2080 ..."],
        driver="610.57.04",
        cuda="13.3",
        memory=8192,
        cc_inferred="7.5",
        note="truncated by nvidia-smi",
    ),
    "nvidia-smi/exporter-linux-rtx4080super-595.71.05.txt": E(
        [TABLE],
        names=["NVIDIA GeForce RTX 4080 ..."],
        driver="595.71.05",
        cuda="13.2",
        memory=16376,
        cc_inferred="8.9",
        note="truncated by nvidia-smi",
    ),
    "nvidia-smi/exporter-windows-rtx2080super-591.86.txt": E(
        [TABLE],
        names=["NVIDIA GeForce RTX 2080 ..."],
        driver="591.86",
        cuda="13.1",
        memory=8192,
        driver_model="WDDM",
        os="windows",
        cc_inferred="7.5",
    ),
    "nvidia-smi/exporter-windows-rtx2080super-610.62-KMD-DriverModel.txt": E(
        [TABLE],
        names=["NVIDIA GeForce RTX 2080 ..."],
        driver="610.62",
        cuda="13.3",
        memory=8192,
        driver_model="WDDM",
        os="windows",
        cc_inferred="7.5",
    ),
    # Not in INDEX.md: GTX 1050 and GTX 1050 Ti are both 6.1, so the truncated name is enough.
    "nvidia-smi/gtx1050-truncated-name-418.74-cuda10.1.txt": E(
        [TABLE],
        names=["GeForce GTX 105..."],
        driver="418.74",
        cuda="10.1",
        memory=4039,
        cc_inferred="6.1",
        note="truncated by nvidia-smi",
    ),
    "nvidia-smi/gtx680x3-331.62-no-cuda-version.txt": E(
        [TABLE],
        names=["GeForce GTX 680"] * 3,
        driver="331.62",
        memory=4095,
        cc_inferred="3.0",
        bus_id=["0000:03:00.0", "0000:04:00.0", "0000:83:00.0"],
    ),
    "nvidia-smi/h100-80gb-hbm3-580.159.04-cuda13.0-vm.txt": E(
        [TABLE],
        names=[H100],
        driver="580.159.04",
        cuda="13.0",
        memory=81559,
        mig="Disabled",
        cc_inferred="9.0",
    ),
    "nvidia-smi/header-only-575.57.08-cuda12.9.txt": E([TABLE], driver="575.57.08", cuda="12.9"),
    "nvidia-smi/jetson-orin-540.3.0-driver-NA-cuda12.2.txt": E(
        [TABLE],
        names=["Orin (nvgpu)"],
        cuda="12.2",
        os="linux",
        machine="aarch64",
        jetson=True,
        cc_inferred="8.7",
        note="Driver Version N/A on Jetson",
    ),
    "nvidia-smi/jetson-orin-540.4.0-cuda12.6-nvgpu.txt": E(
        [TABLE],
        names=["Orin (nvgpu)"],
        driver="540.4.0",
        cuda="12.6",
        bus_id=[None],
        os="linux",
        machine="aarch64",
        jetson=True,
        cc_inferred="8.7",
    ),
    "nvidia-smi/jetson-orin-nixos-540.4.0-cuda-NA-with-L.txt": E(
        [L, TABLE],
        names=["Orin (nvgpu)"],
        driver="540.4.0",
        errors=NO_CUDA,
        uuid=[None],
        os="linux",
        machine="aarch64",
        jetson=True,
        cc_inferred="8.7",
        note="the 'CUDA Version' line shows N/A",
    ),
    "nvidia-smi/k80-410.104-cuda10.0-gce.txt": E(
        [TABLE, LSPCI],
        names=["Tesla K80"],
        driver="410.104",
        cuda="10.0",
        memory=11441,
        bus_id="00000000:00:04.0",
        cc_inferred="3.7",
    ),
    # GPU 1's row is cut in the excerpt before its memory total.
    "nvidia-smi/quadro-rtx4000x2-535.129.03-cuda12.2-with-L.txt": E(
        [L, TABLE],
        names=["Quadro RTX 4000"] * 2,
        driver="535.129.03",
        cuda="12.2",
        memory=[8192, None],
        uuid=[
            "GPU-c7b57be0-94ff-d352-a59b-d0ee00aeed43",
            "GPU-d6de6afc-bdfe-75c4-5273-0544439153fc",
        ],
        cc_inferred="7.5",
    ),
    "nvidia-smi/rtx4070-550.40.07-cuda12.4.txt": E(
        [TABLE],
        names=["NVIDIA GeForce RTX 4070"],
        driver="550.40.07",
        cuda="12.4",
        memory=12282,
        cc_inferred="8.9",
    ),
    "nvidia-smi/rtx5070-575.64.03-cuda-NA-freebsd.txt": E(
        [TABLE],
        names=["NVIDIA GeForce RTX 5070"],
        driver="575.64.03",
        errors=NO_CUDA,
        memory=12227,
        cc_inferred="12.0",
    ),
    "nvidia-smi/rtx5090+rtx3090-580.119.02-cuda13.0-mixed.txt": E(
        [TABLE],
        names=["NVIDIA GeForce RTX 5090", "NVIDIA GeForce RTX 3090"],
        driver="580.119.02",
        cuda="13.0",
        memory=[32607, 24576],
        cc_inferred=["12.0", "8.6"],
    ),
    "nvidia-smi/rtx5090+rtx4090-580.82.09-cuda13.0-mixed.txt": E(
        [TABLE],
        names=["NVIDIA GeForce RTX 5090", "NVIDIA GeForce RTX 4090"],
        driver="580.82.09",
        cuda="13.0",
        memory=[32607, 24564],
        cc_inferred=["12.0", "8.9"],
    ),
    "nvidia-smi/rtx5090-595.71.05-cuda13.2.txt": E(
        [TABLE],
        names=["NVIDIA GeForce RTX 5090"],
        driver="595.71.05",
        cuda="13.2",
        memory=32607,
        cc_inferred="12.0",
    ),
    # RTX 6000D is not on NVIDIA's compute-capability page: nothing is inferred. GPU 1's MIG
    # row is cut in the excerpt.
    "nvidia-smi/rtx6000d-590.44.01-cuda13.1-multi.txt": E(
        [TABLE],
        names=["NVIDIA RTX 6000D"] * 2,
        driver="590.44.01",
        cuda="13.1",
        memory=85651,
        mig=["Disabled", None],
        cc_inferred=None,
    ),
    "nvidia-smi/teslap4-550.135-cuda12.4.txt": E(
        [TABLE], names=["Tesla P4"], driver="550.135", cuda="12.4", memory=8192, cc_inferred="6.1"
    ),
    "nvidia-smi/titanxp-384.66-no-cuda-version.txt": E(
        [TABLE], names=["TITAN Xp"], driver="384.66", memory=12174, cc_inferred="6.1"
    ),
    "nvidia-smi/titanxp-450.57-cuda11.0.txt": E(
        [TABLE], names=["TITAN Xp"], driver="450.57", cuda="11.0", memory=12196, cc_inferred="6.1"
    ),
    "nvidia-smi/v100-sxm2-x2-580.126.09-cuda13.0.txt": E(
        [TABLE],
        names=["Tesla V100-SXM2-16GB"] * 2,
        driver="580.126.09",
        cuda="13.0",
        memory=16384,
        cc_inferred="7.0",
    ),
    # "NVIDIA GeForce ..." could be any GeForce: no capability may be inferred.
    "nvidia-smi/windows-2x-geforce-517.48-cuda11.7-wddm-indented.txt": E(
        [TABLE],
        names=["NVIDIA GeForce ..."] * 2,
        driver="517.48",
        cuda="11.7",
        memory=11264,
        driver_model="WDDM",
        os="windows",
        cc_inferred=None,
    ),
    "nvidia-smi/windows-geforce-526.47-cuda12.0-wddm.txt": E(
        [TABLE],
        names=["NVIDIA GeForce ..."],
        driver="526.47",
        cuda="12.0",
        memory=12288,
        driver_model="WDDM",
        os="windows",
        cc_inferred=None,
    ),
    "nvidia-smi/windows-gtx1080ti-531.14-cuda12.1-quoted.txt": E(
        [TABLE],
        names=["NVIDIA GeForce GTX 1080 Ti"],
        driver="531.14",
        cuda="12.1",
        memory=11264,
        driver_model="WDDM",
        os="windows",
        cc_inferred="6.1",
    ),
    "nvidia-smi/windows-rtx3050-laptop-546.12-cuda12.3-wddm.txt": E(
        [TABLE],
        names=["NVIDIA GeForce RTX 3050 ..."],
        driver="546.12",
        cuda="12.3",
        memory=4096,
        driver_model="WDDM",
        os="windows",
        cc_inferred="8.6",
    ),
    "nvidia-smi/wsl2-rtx3060-laptop-545.46-drv546.80-cuda-ERR.txt": E(
        [TABLE],
        names=["NVIDIA GeForce RTX 3060 ..."],
        driver="546.80",
        errors=NO_CUDA,
        memory=6144,
        os="linux",
        wsl=True,
        cc_inferred="8.6",
        note="the 'CUDA Version' line shows ERR!",
    ),
    "nvidia-smi/wsl2-rtx4070-555.52.01-drv555.99-cuda12.5.txt": E(
        [TABLE],
        names=["NVIDIA GeForce RTX 4070 ..."],
        driver="555.99",
        cuda="12.5",
        memory=12282,
        os="linux",
        wsl=True,
        cc_inferred="8.9",
    ),
    # -- nvidia-smi-query: -L --------------------------------------------------------------------
    "nvidia-smi-query/L-h100-580.159.04.txt": E(
        [L], names=[H100], uuid="GPU-8a636098-71fc-5ae3-1bd3-c7a5f9591d75", cc_inferred="9.0"
    ),
    "nvidia-smi-query/L-linux-h100-mig-590.48.01.txt": E(
        [L], names=[H100], mig_devices=4, uuid=[None], cc_inferred="9.0"
    ),
    "nvidia-smi-query/L-linux-h200-mig-590.48.01.txt": E(
        [L], names=["NVIDIA H200"], mig_devices=5, uuid=[None], cc_inferred="9.0"
    ),
    "nvidia-smi-query/L-titanv+rtx5880ada.txt": E(
        [L],
        names=["NVIDIA TITAN V", "NVIDIA RTX 5880 Ada Generation"],
        uuid=[
            "GPU-b5169cef-2205-c30e-f2b3-220cfa14bafd",
            "GPU-7518f6b0-991f-ce2b-3d37-c779130d3137",
        ],
        cc_inferred=["7.0", "8.9"],
    ),
    # -- -q / -a text -----------------------------------------------------------------------------
    "nvidia-smi-query/a-gtx960m-410.72-cuda10.0.txt": E(
        [Q], names=["GeForce GTX 960M"], driver="410.72", cuda="10.0", cc_inferred="5.0"
    ),
    "nvidia-smi-query/a-wsl2-gtx1650ti-maxq-510.06-cuda11.6-wddm.txt": E(
        [Q],
        names=["NVIDIA GeForce GTX 1650 Ti with Max-Q Design"],
        driver="510.06",
        cuda="11.6",
        driver_model="WDDM",
        os="linux",
        wsl=True,
        cc_inferred="7.5",
    ),
    "nvidia-smi-query/q-8x-gtx1080ti-390.48-no-cuda-line.txt": E(
        [Q], names=["GeForce GTX 1080 Ti"], driver="390.48", attached=8, cc_inferred="6.1"
    ),
    "nvidia-smi-query/q-colab-t4-460.32.03-cuda11.2.txt": E(
        [Q], names=["Tesla T4"], driver="460.32.03", cuda="11.2", cc_inferred="7.5"
    ),
    # The -d MEMORY,PERFORMANCE excerpt shows one GPU section, without a name.
    "nvidia-smi-query/q-d-memory-rtxpro6000-580.105.06-cuda-not-found-vgpu-host.txt": E(
        [Q], names=[None], driver="580.105.06", errors=NO_CUDA, attached=4, note="vGPU host driver"
    ),
    "nvidia-smi-query/q-full-h100-580.159.04.txt": E(
        [Q],
        names=[H100],
        driver="580.159.04",
        cuda="13.0",
        memory=81559,
        mig="Disabled",
        pci_device_id="10de:2330",
        cc_inferred="9.0",
    ),
    "nvidia-smi-query/q-full-linux-h100-mig-590.48.01.txt": E(
        [Q],
        names=[H100],
        driver="590.48.01",
        cuda="13.1",
        memory=81559,
        mig="Enabled",
        mig_devices=4,
        cc_inferred="9.0",
    ),
    "nvidia-smi-query/q-full-windows-rtx2080super-610.62-KMD-DriverModel.txt": E(
        [Q],
        names=[RTX2080S],
        driver="610.62",
        cuda="13.3",
        memory=8192,
        driver_model="WDDM",
        os="windows",
        cc_inferred="7.5",
    ),
    "nvidia-smi-query/q-gtx1080-396.54-no-cuda-line.txt": E(
        [Q], names=["GeForce GTX 1080"], driver="396.54", cc_inferred="6.1"
    ),
    "nvidia-smi-query/q-k40c-440.64.00-cuda10.2.txt": E(
        [Q], names=["Tesla K40c"], driver="440.64.00", cuda="10.2", cc_inferred="3.5"
    ),
    "nvidia-smi-query/q-windows-4x-gtx1080ti-442.92-cuda10.2-wddm.txt": E(
        [Q],
        names=["GeForce GTX 1080 Ti"],
        driver="442.92",
        cuda="10.2",
        driver_model="WDDM",
        os="windows",
        attached=4,
        cc_inferred="6.1",
    ),
    # -- -q -x XML (the second one is cut mid-tag, after an -L line with a hand-edited UUID) -----
    "nvidia-smi-query/q-x-xml-gtx1660ti-430.64-cuda10.1-and-L.txt": E(
        [XML, L],
        names=["GeForce GTX 1660 Ti"],
        driver="430.64",
        cuda="10.1",
        uuid="GPU-e189fb8d-1627-f8f0-2ba3-c0585a8e9e85",
        cc_inferred="7.5",
    ),
    "nvidia-smi-query/xml-q-x-h100-580.159.04.txt": E(
        [XML],
        names=[H100],
        driver="580.159.04",
        cuda="13.0",
        memory=81559,
        mig="Disabled",
        cc_inferred="9.0",
    ),
    # -- --query-gpu CSV --------------------------------------------------------------------------
    "nvidia-smi-query/csv-L-2021-rtx2080super-465.27-linux.txt": E(
        [CSV, L],
        names=[RTX2080S],
        driver="465.27",
        memory=7979,
        uuid="GPU-df6e7a7c-7314-46f8-abc4-b88b36dcf3aa",
        cc_inferred="7.5",
    ),
    "nvidia-smi-query/csv-L-2021-rtx2080super-466.63-windows.txt": E(
        [CSV, L],
        names=[RTX2080S],
        driver="466.63",
        memory=8192,
        driver_model="WDDM",
        os="windows",
        cc_inferred="7.5",
    ),
    "nvidia-smi-query/csv-driver_version-noheader-2gpus-515.57.txt": E(
        [CSV], names=[None, None], driver="515.57"
    ),
    "nvidia-smi-query/csv-full-h100-580.159.04.txt": E(
        [CSV], names=[H100], driver="580.159.04", cc="9.0", memory=81559
    ),
    "nvidia-smi-query/csv-full-linux-h100-80gb-hbm3-590.48.01.txt": E(
        [CSV], names=[H100], driver="590.48.01", cc="9.0", memory=81559, mig="Disabled"
    ),
    "nvidia-smi-query/csv-full-linux-h100-mig-590.48.01.txt": E(
        [CSV], names=[H100], driver="590.48.01", cc="9.0", memory=81559, mig="Enabled"
    ),
    "nvidia-smi-query/csv-full-linux-h200-590.48.01.txt": E(
        [CSV], names=["NVIDIA H200"], driver="590.48.01", cc="9.0", memory=143771, mig="Disabled"
    ),
    "nvidia-smi-query/csv-full-linux-h200-mig-590.48.01.txt": E(
        [CSV], names=["NVIDIA H200"], driver="590.48.01", cc="9.0", memory=143771, mig="Enabled"
    ),
    "nvidia-smi-query/csv-full-linux-rtx4080super-595.71.05.txt": E(
        [CSV], names=["NVIDIA GeForce RTX 4080 SUPER"], driver="595.71.05", cc="8.9", memory=16376
    ),
    "nvidia-smi-query/csv-full-windows-rtx2080super-610.62-KMD-DriverModel.txt": E(
        [CSV],
        names=[RTX2080S],
        driver="610.62",
        cc="7.5",
        memory=8192,
        driver_model="WDDM",
        os="windows",
    ),
    "nvidia-smi-query/csv-invalid-field-kmd_version-580.159.04.txt": E(
        [CSV], errors=("nvidia.invalid_field",)
    ),
    # INDEX.md expects compute_cap=9.0 memory_total_mib=81559 mig=Disabled too, but the stored
    # output is the bare row: the command that gives the field order is only in the "# what:"
    # header, so only the cells whose form is unambiguous can be read (name, driver, bus id).
    "nvidia-smi-query/csv-noheader-nounits-h100-580.159.04.txt": E(
        [CSV],
        names=[H100],
        driver="580.159.04",
        bus_id="00000000:00:06.0",
        cc_inferred="9.0",
        note="without its header or command line",
    ),
    "nvidia-smi-query/csv-noheader-nounits-rtx2080-440.64-python-log.txt": E(
        [CSV],
        names=["GeForce RTX 2080"],
        driver="440.64",
        memory=7979,
        bus_id="0a:00.0",
        cc_inferred="7.5",
    ),
    "nvidia-smi-query/csv-titanv+rtx5880ada-570.86.15-compute_cap.txt": E(
        [CSV],
        names=["NVIDIA TITAN V", "NVIDIA RTX 5880 Ada Generation"],
        driver="570.86.15",
        cc=["7.0", "8.9"],
    ),
    # -- --version --------------------------------------------------------------------------------
    "nvidia-smi-query/version-580.159.04.txt": E(
        [VER], driver="580.159.04", cuda="13.0", nvml="580.159"
    ),
    "nvidia-smi-query/version-linux-h100-80gb-hbm3-590.48.01.txt": E(
        [VER], driver="590.48.01", cuda="13.1", nvml="590.48"
    ),
    "nvidia-smi-query/version-linux-h200-590.48.01.txt": E(
        [VER], driver="590.48.01", cuda="13.1", nvml="590.48"
    ),
    "nvidia-smi-query/version-linux-h200-mig-590.48.01.txt": E(
        [VER], driver="590.48.01", cuda="13.1", nvml="590.48"
    ),
    "nvidia-smi-query/version-linux-rtx2080super-595.71.05.txt": E(
        [VER], driver="595.71.05", cuda="13.2", nvml="595.71"
    ),
    "nvidia-smi-query/version-linux-rtx2080super-610.57.04-KMD.txt": E(
        [VER], driver="610.57.04", cuda="13.3", nvml="610.57"
    ),
    "nvidia-smi-query/version-windows-rtx2080super-610.62-KMD-DriverModel.txt": E(
        [VER], driver="610.62", cuda="13.3", nvml="610.62"
    ),
    # -- /proc/driver/nvidia/version (+ an lspci line) ---------------------------------------------
    "proc-driver-version/open-525.60.11-archlinux-no-date.txt": E(
        [PROC], driver="525.60.11", flavor="open", os="linux", machine="x86_64"
    ),
    "proc-driver-version/open-555.58-gentoo-russian-locale-date.txt": E(
        [PROC, LSPCI],
        names=["GeForce RTX 3080"],
        driver="555.58",
        flavor="open",
        os="linux",
        machine="x86_64",
        pci_device_id="10de:2206",
        cc_inferred="8.6",
    ),
    "proc-driver-version/open-565.57.01-ubuntu24.04.txt": E(
        [PROC], driver="565.57.01", flavor="open", os="linux", machine="x86_64"
    ),
    "proc-driver-version/open-580.159.04-x86_64-vm.txt": E(
        [PROC], driver="580.159.04", flavor="open", os="linux", machine="x86_64"
    ),
    "proc-driver-version/proprietary-384.98-ubuntu-gcc7.2.txt": E(
        [PROC], driver="384.98", flavor="proprietary", os="linux", machine="x86_64"
    ),
    "proc-driver-version/proprietary-580.173.02-truenas-after-mismatch.txt": E(
        [PROC], driver="580.173.02", flavor="proprietary", os="linux", machine="x86_64"
    ),
    # -- PCI sysfs -----------------------------------------------------------------------------
    "pci/h100-sysfs-display-class.txt": E(
        [SYSFS], names=[None], pci_device_id="10de:2330", bus_id="0000:00:06.0", cc_inferred=None
    ),
}


def _all_fixtures() -> list[str]:
    return [f"{folder}/{p.name}" for folder in FOLDERS for p in fixture_files(folder)]


def _machine(relpath: str) -> tuple[list[str], Machine]:
    _, body = read_fixture(FIXTURES / relpath)
    observations = parse_text(body, source=relpath.split("/")[-1])
    lenient = lenient_kinds()  # readers of pasted reports: they may read these facts again
    return [o.kind for o in observations if o.kind not in lenient], merge(
        observations, mode="files"
    )


def test_every_fixture_has_an_expectation() -> None:
    files = set(_all_fixtures())
    assert files, "no NVIDIA fixtures found"
    assert sorted(files - set(EXPECT)) == [], "fixtures without an entry in EXPECT"
    assert sorted(set(EXPECT) - files) == [], "EXPECT entries without a fixture"


@pytest.mark.parametrize("relpath", sorted(EXPECT), ids=sorted(EXPECT))
def test_fixture(relpath: str) -> None:
    exp = EXPECT[relpath]
    kinds, machine = _machine(relpath)
    assert kinds == exp["kinds"]

    nv = machine.nvidia
    assert nv is not None
    assert nv.driver_version == exp["driver"]
    assert nv.cuda_version == exp["cuda"]
    assert nv.nvml_version == exp.get("nvml")
    assert nv.driver_flavor == exp.get("flavor")
    assert nv.errors == exp.get("errors", ())
    assert all(code.startswith("nvidia.") for code in nv.errors)

    plat = machine.platform
    assert (plat.os, plat.machine, plat.wsl, plat.jetson) == (
        exp.get("os"),
        exp.get("machine"),
        exp.get("wsl"),
        exp.get("jetson"),
    )

    gpus = nv.gpus
    assert [g.name for g in gpus] == exp["names"]
    assert all(g.vendor == "nvidia" for g in gpus)
    count = len(gpus)
    none = [None] * count
    assert [g.memory_mib for g in gpus] == exp.get("memory", none)
    assert [g.mig_mode for g in gpus] == exp.get("mig", none)
    assert [g.driver_model for g in gpus] == exp.get("driver_model", none)
    # What the output shows, and nothing more: no parser may look a capability up.
    assert [g.compute_capability for g in gpus] == exp.get("cc", none)
    assert not any(g.compute_capability_inferred for g in gpus)
    for key, attr in (
        ("bus_id", "bus_id"),
        ("uuid", "uuid"),
        ("mig_devices", "mig_devices"),
        ("pci_device_id", "pci_device_id"),
    ):
        if key in exp:
            assert [getattr(g, attr) for g in gpus] == exp[key], key
    if "attached" in exp:
        assert any(f"reports {exp['attached']} attached GPUs" in n for n in machine.notes)
    if "note" in exp:
        assert any(exp["note"] in n for n in machine.notes), machine.notes


@pytest.mark.parametrize("relpath", sorted(EXPECT), ids=sorted(EXPECT))
def test_infer_missing(relpath: str) -> None:
    exp = EXPECT[relpath]
    _, machine = _machine(relpath)
    inferred = infer_missing(machine)
    before, after = machine.nvidia.gpus, inferred.nvidia.gpus
    assert len(before) == len(after)
    read = exp.get("cc", [None] * len(before))
    expected = exp.get("cc_inferred", [None] * len(before))
    for gpu, new, was_read, want in zip(before, after, read, expected):
        if was_read is not None:  # a read value is never replaced or re-labelled
            assert new == gpu and new.compute_capability == was_read
            assert not new.compute_capability_inferred
            assert (
                new.sources.get("compute_capability")
                == gpu.sources.get("compute_capability")
                != INFERRED_SOURCE
            )
        elif want is None:
            assert new.compute_capability is None and not new.compute_capability_inferred
        else:
            assert new.compute_capability == want
            assert new.compute_capability_inferred
            assert new.sources["compute_capability"] == INFERRED_SOURCE
            assert (
                values.replace(new, compute_capability=None, compute_capability_inferred=False)
                == gpu
            )
    assert machine.nvidia.gpus == before  # the input machine is left as it was


# -- input shapes ----------------------------------------------------------------------------------

SHAPE_SAMPLES = (
    "nvidia-smi/rtx4070-550.40.07-cuda12.4.txt",
    "nvidia-smi/wsl2-rtx4070-555.52.01-drv555.99-cuda12.5.txt",
    "nvidia-smi/quadro-rtx4000x2-535.129.03-cuda12.2-with-L.txt",
    "nvidia-smi-query/L-linux-h100-mig-590.48.01.txt",
    "nvidia-smi-query/q-full-windows-rtx2080super-610.62-KMD-DriverModel.txt",
    "nvidia-smi-query/xml-q-x-h100-580.159.04.txt",
    "nvidia-smi-query/csv-titanv+rtx5880ada-570.86.15-compute_cap.txt",
    "nvidia-smi-query/version-linux-rtx2080super-610.57.04-KMD.txt",
    "proc-driver-version/open-565.57.01-ubuntu24.04.txt",
)


@pytest.mark.parametrize(
    "prefix",
    ["> ", ">", "    ", "  > ", "\t"],
    ids=["quote", "quote-nospace", "indent", "indented-quote", "tab"],
)
@pytest.mark.parametrize("relpath", SHAPE_SAMPLES, ids=SHAPE_SAMPLES)
def test_quoted_and_indented(relpath: str, prefix: str) -> None:
    _, body = read_fixture(FIXTURES / relpath)
    _, plain = _machine(relpath)
    shifted = "\n".join(prefix + line if line.strip() else line for line in body.splitlines())
    again = merge(parse_text(shifted, source="shifted"), mode="files")
    assert again == plain
    assert again.nvidia.gpus == plain.nvidia.gpus


def test_crlf_line_endings() -> None:
    relpath = "nvidia-smi-query/q-windows-4x-gtx1080ti-442.92-cuda10.2-wddm.txt"
    _, body = read_fixture(FIXTURES / relpath)
    _, plain = _machine(relpath)
    assert merge(parse_text(body.replace("\n", "\r\n")), mode="files") == plain


def _observations(*relpaths: str) -> list:
    found = []
    for relpath in relpaths:
        _, body = read_fixture(FIXTURES / relpath)
        found.extend(parse_text(body, source=relpath))
    return found


def test_concatenated_list_and_table_are_one_gpu_each() -> None:
    """``nvidia-smi -L`` then ``nvidia-smi`` in one paste: two observations, one GPU per device."""
    _, machine = _machine("nvidia-smi/quadro-rtx4000x2-535.129.03-cuda12.2-with-L.txt")
    first = machine.nvidia.gpus[0]
    assert first.uuid == "GPU-c7b57be0-94ff-d352-a59b-d0ee00aeed43"  # from -L
    assert first.memory_mib == 8192 and first.bus_id == "00000000:06:00.0"  # from the table
    assert first.sources["uuid"].startswith(L) and first.sources["memory_mib"].startswith(TABLE)


def test_concatenating_two_captures_gives_the_same_machine() -> None:
    a, b = (
        "nvidia-smi-query/L-h100-580.159.04.txt",
        "nvidia-smi/h100-80gb-hbm3-580.159.04-cuda13.0-vm.txt",
    )
    bodies = [read_fixture(FIXTURES / p)[1] for p in (a, b)]
    joined = merge(parse_text("\n".join(bodies)), mode="files")
    separate = merge(sorted(_observations(a, b), key=lambda o: o.kind != L), mode="files")
    assert joined == separate
    assert len(joined.nvidia.gpus) == 1
    gpu = joined.nvidia.gpus[0]
    assert (gpu.name, gpu.uuid, gpu.memory_mib) == (
        H100,
        "GPU-8a636098-71fc-5ae3-1bd3-c7a5f9591d75",
        81559,
    )


def test_every_capture_of_one_h100_merges_into_one_gpu() -> None:
    """The captures taken on the same H100 VM (same UUID / bus id) agree after merging."""
    obs = _observations(
        "nvidia-smi/h100-80gb-hbm3-580.159.04-cuda13.0-vm.txt",
        "nvidia-smi-query/L-h100-580.159.04.txt",
        "nvidia-smi-query/csv-full-h100-580.159.04.txt",
        "nvidia-smi-query/q-full-h100-580.159.04.txt",
        "nvidia-smi-query/version-580.159.04.txt",
        "proc-driver-version/open-580.159.04-x86_64-vm.txt",
        "pci/h100-sysfs-display-class.txt",
    )
    machine = infer_missing(merge(ranked(obs), mode="files"))
    nv = machine.nvidia
    assert (nv.driver_version, nv.cuda_version, nv.nvml_version, nv.driver_flavor) == (
        "580.159.04",
        "13.0",
        "580.159",
        "open",
    )
    assert len(nv.gpus) == 1
    gpu = nv.gpus[0]
    assert (gpu.name, gpu.memory_mib, gpu.mig_mode, gpu.pci_device_id) == (
        H100,
        81559,
        "Disabled",
        "10de:2330",
    )
    assert gpu.compute_capability == "9.0" and not gpu.compute_capability_inferred
    assert gpu.sources["compute_capability"].startswith(CSV)
    assert gpu.sources["name"].startswith(CSV)


@pytest.mark.parametrize(
    ("table", "full", "name"),
    [
        (
            "nvidia-smi/exporter-linux-rtx4080super-595.71.05.txt",
            "nvidia-smi-query/csv-full-linux-rtx4080super-595.71.05.txt",
            "NVIDIA GeForce RTX 4080 SUPER",
        ),
        (
            "nvidia-smi/exporter-windows-rtx2080super-610.62-KMD-DriverModel.txt",
            "nvidia-smi-query/csv-full-windows-rtx2080super-610.62-KMD-DriverModel.txt",
            RTX2080S,
        ),
        (
            "nvidia-smi/exporter-windows-rtx2080super-610.62-KMD-DriverModel.txt",
            "nvidia-smi-query/q-full-windows-rtx2080super-610.62-KMD-DriverModel.txt",
            RTX2080S,
        ),
    ],
    ids=["linux-4080super-csv", "windows-2080super-csv", "windows-2080super-q"],
)
@pytest.mark.parametrize("table_first", [False, True], ids=["ranked", "table-first"])
def test_truncated_name_replaced_by_full_name(
    table: str, full: str, name: str, table_first: bool
) -> None:
    _, alone = _machine(table)
    assert alone.nvidia.gpus[0].name.endswith("...")
    obs = _observations(table, full) if table_first else _observations(full, table)
    machine = merge(obs, mode="files")
    assert [g.name for g in machine.nvidia.gpus] == [name]
    gpu = machine.nvidia.gpus[0]
    assert gpu.memory_mib == alone.nvidia.gpus[0].memory_mib
    assert not gpu.sources["name"].startswith(TABLE + " (")


def test_cut_xml_is_read_gracefully() -> None:
    """The complete H100 XML cut at several points: never an exception, header facts kept."""
    _, body = read_fixture(FIXTURES / "nvidia-smi-query/xml-q-x-h100-580.159.04.txt")
    start = body.index("<cuda_version>") + 40
    for cut in range(start, len(body), max(1, (len(body) - start) // 25)):
        machine = merge(parse_text(body[:cut]), mode="files")
        assert (machine.nvidia.driver_version, machine.nvidia.cuda_version) == (
            "580.159.04",
            "13.0",
        )
        assert [g.name for g in machine.nvidia.gpus] in ([], [H100])


# -- negatives -------------------------------------------------------------------------------------


def _negatives() -> list[str]:
    return [f"{folder}/{p.name}" for folder in NEGATIVE_FOLDERS for p in fixture_files(folder)]


@pytest.mark.parametrize("relpath", _negatives(), ids=_negatives())
def test_other_captures_are_not_claimed(relpath: str) -> None:
    _, body = read_fixture(FIXTURES / relpath)
    capture = Capture.from_text(body)
    assert [k.name for k in OUR_KINDS if k.read(capture) is not None] == []


def test_index_md_is_not_claimed() -> None:
    """INDEX.md quotes fragments of every output; prose with NVIDIA words is not a capture."""
    text = (FIXTURES / "INDEX.md").read_text(encoding="utf-8")
    capture = Capture.from_text(text)
    claimed = [k.name for k in OUR_KINDS if k.read(capture) is not None]
    assert claimed == []


# -- gpu_names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "cc"),
    [
        ("H100", "9.0"),
        ("NVIDIA H100 80GB HBM3", "9.0"),
        ("NVIDIA H100 PCIe", "9.0"),
        ("NVIDIA H200", "9.0"),
        ("NVIDIA GeForce RTX 5090", "12.0"),
        ("GeForce RTX 5090", "12.0"),
        ("Tesla K80", "3.7"),
        ("GeForce GTX 1080 Ti", "6.1"),
        ("TITAN Xp", "6.1"),
        ("Tesla V100-SXM2-16GB", "7.0"),
        ("Quadro RTX 4000", "7.5"),
        ("NVIDIA RTX 4000 Ada Generation", "8.9"),
        ("NVIDIA RTX A4000", "8.6"),
        ("Orin (nvgpu)", "8.7"),
        ("NVIDIA B200", "10.0"),
        ("NVIDIA L40S", "8.9"),
        ("NVIDIA L4", "8.9"),
        ("NVIDIA A100-SXM4-40GB", "8.0"),
        ("NVIDIA A10", "8.6"),
        ("NVIDIA GeForce RTX 3090", "8.6"),
        ("Tesla P4", "6.1"),
        ("Tesla P40", "6.1"),
        ("Tesla T4", "7.5"),
        ("GeForce GTX 680", "3.0"),
        ("GeForce GTX 1660 Ti", "7.5"),
        ("GeForce GTX 960M", "5.0"),
        ("GeForce GTX 960", "5.2"),
        ("Tesla K40c", "3.5"),
        ("NVIDIA GeForce RTX 4070 Laptop GPU", "8.9"),
        ("NVIDIA GeForce GTX 1650 Ti with Max-Q Design", "7.5"),
        ("NVIDIA TITAN V", "7.0"),
        ("NVIDIA RTX PRO 6000 Blackwell Server Edition", "12.0"),
        ("NVIDIA GH200 480GB", "9.0"),
        # truncated names: only when every model they can stand for agrees
        ("NVIDIA GeForce RTX 2080 ...", "7.5"),
        ("GeForce GTX 105...", "6.1"),
        ("NVIDIA GeForce GTX 960...", None),
        ("NVIDIA GeForce ...", None),
        ("NVIDIA ...", None),
        ("NVIDIA RTX 50...", None),
        # unknown or not a model name
        ("NVIDIA RTX 6000D", None),
        ("NVIDIA H20", "9.0"),
        ("NVIDIA", None),
        ("", None),
        (None, None),
        ("Radeon RX 7900 XTX", None),
    ],
)
def test_infer_compute_capability(name: str | None, cc: str | None) -> None:
    assert infer_compute_capability(name) == cc


def test_infer_missing_without_nvidia() -> None:
    machine = Machine()
    assert infer_missing(machine) == machine
