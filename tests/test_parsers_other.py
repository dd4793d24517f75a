"""The non-NVIDIA capture parsers (ROCm, Apple, collect_env, conda info, torch runtime) on the
real captures in tests/data/fixtures.

``EXPECT`` is written by hand from ``fixtures/INDEX.md`` (one entry per fixture file). Keys are
``section.field`` facts of the merged :class:`~conda_torch.machine.Machine` (``None`` means the
fact must stay absent: the output does not show it), plus:

* ``kinds``: the kinds of these modules that must claim the file (exactly);
* ``gpus.<vendor>``: the GPUs, in order, each a dict of the fields to check;
* ``cc_not_read``: no NVIDIA GPU may claim a compute capability as *read* (it is not shown);
* ``notes``: substrings that must each appear in some note;
* ``errors``: error codes the observations must carry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from conda_torch.detect.amd_names import _GFX_TO_IDS, gfx_for_device_id
from conda_torch.detect.captures import (
    Capture,
    collect_env,
    conda_info,
    lenient_kinds,
    parse_text,
    rocm,
    torch_runtime,
)
from conda_torch.detect.captures import apple as apple_parsers
from conda_torch.machine import merge

from .helpers.paths import FIXTURES, fixture_files, read_fixture

if TYPE_CHECKING:
    from typing import Any

    from conda_torch.machine import Machine

MODULES = (rocm, apple_parsers, collect_env, conda_info, torch_runtime)
MY_KINDS = {kind.name for module in MODULES for kind in module.KINDS}
FOLDERS = ("rocm", "apple", "collect-env", "conda-info", "torch-runtime")
NVIDIA_FOLDERS = ("nvidia-smi", "nvidia-smi-query", "proc-driver-version", "pci")

EXPECT: dict[str, dict[str, Any]] = {
    # -- rocm ---------------------------------------------------------------------------
    "rocm/rocm-smi-a-navi10-driver-5.6.19-excerpt.txt": {
        "kinds": {"rocm-smi"},
        "rocm.version": None,  # "Driver version: 5.6.19" is the kernel/amdgpu version
        "gpus.amd": [{"index": 0, "pci_device_id": "0x731f", "gfx": "gfx1010"}],
        "notes": ["5.6.19", "not a ROCm version", "gfx1010 is inferred"],
    },
    "rocm/rocm-smi-concise-rx7900-plus-raphael-igpu.txt": {
        "kinds": {"rocm-smi"},
        "gpus.amd": [
            # 0x164e (Raphael iGPU) is in no cited table: the gfx target stays unknown.
            {"index": 0, "pci_device_id": "0x164e", "bus_id": "0000:12:00.0", "gfx": None},
            {"index": 1, "pci_device_id": "0x744c", "bus_id": "0000:03:00.0", "gfx": "gfx1100"},
        ],
        "notes": ["run rocminfo", "gfx1100 is inferred"],
    },
    "rocm/rocm-smi-csv-productname-driverversion-mi100x2.txt": {
        "kinds": {"rocm-smi --csv"},
        "rocm.version": None,  # the "driver version" row is the kernel's, not ROCm's
        "gpus.amd": [
            {"index": 0, "name": "Arcturus GL-XL [AMD Instinct MI100]", "gfx": None},
            {"index": 1, "name": "Arcturus GL-XL [AMD Instinct MI100]", "gfx": None},
        ],
        "notes": ["run rocminfo"],
    },
    "rocm/rocm-smi-json-780m-phoenix3-cut.txt": {
        "kinds": {"rocm-smi --json"},
        "gpus.amd": [
            {"index": 0, "name": "Phoenix3", "pci_device_id": "0x1900", "bus_id": "0000:C4:00.0",
             "gfx": None},
        ],  # fmt: skip
        "notes": ["0x1900 is not in the table", "run rocminfo"],
    },
    "rocm/rocm-smi-json-productname-mi200-gfx9010.txt": {
        "kinds": {"rocm-smi --json"},
        # printed "gfx9010": rocm_smi_lib writes major, minor and stepping in decimal
        "gpus.amd": [{"index": 0, "name": "AMD INSTINCT MI200 (MCM) OAM LC MBA HPE C2",
                      "gfx": "gfx90a"}],  # fmt: skip
    },
    "rocm/rocm-smi-json-rx7900-navi31-cut.txt": {
        "kinds": {"rocm-smi --json"},
        "gpus.amd": [{"index": 0, "pci_device_id": "0x744c", "gfx": "gfx1100"}],
        "notes": ["gfx1100 is inferred"],
    },
    "rocm/rocm-smi-showbus-mi300-tpx-partitions.txt": {
        "kinds": {"rocm-smi"},
        "gpus.amd": [
            {"index": 0, "bus_id": "0000:01:00.0", "gfx": None},
            {"index": 1, "bus_id": "0000:01:00.1", "gfx": None},
            {"index": 2, "bus_id": "0000:01:00.2", "gfx": None},
        ],
        "notes": ["3 GPUs on 1 physical PCI device", "run rocminfo"],
    },
    "rocm/rocminfo-mi250x-gfx90a-agent16.txt": {
        "kinds": {"rocminfo"},
        "gpus.amd": [
            {"gfx": "gfx90a", "name": "AMD Instinct MI250X/MI250", "pci_device_id": "0x740c"}
        ],
        "notes": ["Agent 16", "elided"],
    },
    "rocm/rocminfo-mi300x-gfx942-rocm6.3.3.txt": {
        "kinds": {"rocminfo"},
        "gpus.amd": [{"gfx": "gfx942", "name": "AMD Instinct MI300X", "pci_device_id": "0x74a1"}],
        "rocm.version": None,  # 6.3.3 is from the labels, not the output
    },
    "rocm/rocminfo-rx7900xtx-gfx1100-padded-trailing-spaces.txt": {
        "kinds": {"rocminfo"},
        "gpus.amd": [{"gfx": "gfx1100", "name": "Radeon RX 7900 XTX", "pci_device_id": "0x744c"}],
    },
    "rocm/update-alternatives-display-rocm-6.3.1.txt": {
        "kinds": {"update-alternatives rocm"},
        "rocm.version": "6.3.1",
        "rocm.path": "/opt/rocm-6.3.1",
    },
    # -- apple --------------------------------------------------------------------------
    "apple/docker-on-mac-linux-aarch64-platform.txt": {
        "kinds": {"platform.platform()"},
        "platform.os": "linux",
        "platform.machine": "aarch64",
        "platform.kernel": "5.15.49-linuxkit",
        "platform.subdir": "linux-aarch64",
        "platform.glibc": "2.29",
        "apple.mps": None,
        "apple.apple_silicon": None,
        "nvidia.cuda_version": None,
        "notes": ["LinuxKit", "linux-aarch64"],
    },
    "apple/python-m-platform-macos-10.13.6-x86_64.txt": {
        "kinds": {"platform.platform()"},
        "platform.os": "macos",
        "platform.macos_version": "10.13.6",
        "platform.machine": "x86_64",
        "platform.kernel": "17.7.0",
        "platform.subdir": "osx-64",
        "platform.native_subdir": "osx-64",
        "apple.apple_silicon": False,
    },
    "apple/python-platform-platform-macos-12.3.1-arm64.txt": {
        "kinds": {"platform.platform()"},
        "platform.os": "macos",
        "platform.macos_version": "12.3.1",
        "platform.machine": "arm64",
        "platform.subdir": "osx-arm64",
        "platform.native_subdir": "osx-arm64",
        "apple.apple_silicon": True,
        "apple.rosetta": False,
        "apple.mps": None,
    },
    "apple/rosetta-uname-x86_64-brand-apple-m4.txt": {
        "kinds": {"sysctl / uname"},
        "platform.os": "macos",
        "platform.machine": "x86_64",
        "platform.subdir": "osx-64",
        "platform.native_subdir": "osx-arm64",
        "apple.chip": "Apple M4",
        "apple.apple_silicon": True,
        "apple.rosetta": True,
        "notes": ["Rosetta 2 (x86_64 on Apple M4)", "install an osx-arm64 Python"],
    },
    "apple/sysctl-brand-string-intel-mac.txt": {
        "kinds": {"sysctl / uname"},
        "platform.os": "macos",
        "platform.subdir": "osx-64",
        "platform.native_subdir": "osx-64",
        "apple.apple_silicon": False,
        "apple.chip": None,
    },
    "apple/sysctl-machdep-cpu-apple-processor-dtk.txt": {
        "kinds": {"sysctl / uname"},
        "apple.chip": "Apple processor",
        "apple.apple_silicon": True,
        "platform.native_subdir": "osx-arm64",
        "platform.subdir": None,  # the process arch is not shown
        "apple.rosetta": None,
    },
    "apple/sysctl-machdep-cpu-m1-pro.txt": {
        "kinds": {"sysctl / uname"},
        "apple.chip": "Apple M1 Pro",
        "apple.apple_silicon": True,
        "platform.native_subdir": "osx-arm64",
        "apple.mps": None,
    },
    "apple/system_profiler-SPDisplaysDataType-json-m1-kHW-item.txt": {
        "kinds": {"system_profiler SPDisplaysDataType"},
        "gpus.apple": [{"name": "Apple M1"}],
        "apple.chip": "Apple M1",
        "apple.apple_silicon": True,
        "apple.mps": None,
        "platform.native_subdir": "osx-arm64",
    },
    "apple/system_profiler-SPDisplaysDataType-json-m3-pro.txt": {
        "kinds": {"system_profiler SPDisplaysDataType"},
        "gpus.apple": [{"name": "Apple M3 Pro"}],
        "apple.chip": "Apple M3 Pro",
        "apple.apple_silicon": True,
    },
    "apple/system_profiler-SPHardwareDataType-m1pro-m2pro.txt": {
        "kinds": {"system_profiler SPHardwareDataType"},
        # Two Macs in one paste: facts from the first, the second named in a note.
        "apple.chip": "Apple M1 Pro",
        "apple.model": "MacBookPro18,1",
        "apple.apple_silicon": True,
        "notes": ["Apple M2 Pro", "Mac14,10"],
    },
    # -- collect-env --------------------------------------------------------------------
    "collect-env/h100-cu130-torch2.11.0-pip.txt": {
        "kinds": {"collect_env"},
        "torch.version": "2.11.0+cu130",
        "torch.cuda": "13.0",
        "torch.cuda_available": True,
        "torch.torchvision": "0.26.0",
        "torch.torchaudio": "2.11.0",
        "nvidia.driver_version": "580.159.04",
        # "CUDA runtime version: 13.0.88" is the toolkit, not the driver's CUDA
        "nvidia.cuda_version": None,
        "gpus.nvidia": [{"index": 0, "name": "NVIDIA H100 80GB HBM3"}],
        "cc_not_read": True,
        "platform.subdir": "linux-64",
        "platform.glibc": "2.39",
    },
    "collect-env/jetson-orin-tegra-driver-NA-cuda-unavailable-excerpt.txt": {
        "kinds": {"collect_env"},
        "platform.subdir": "linux-aarch64",
        "platform.jetson": True,
        "platform.glibc": "2.35",
        "platform.kernel": "5.15.136-tegra",
        "gpus.nvidia": [{"index": 0, "name": "Orin (nvgpu)"}],
        "cc_not_read": True,
        "nvidia.driver_version": None,  # "N/A"
        "nvidia.cuda_version": None,  # 12.2.140 is the system CUDA runtime
        "torch.cuda_available": False,
        "torch.version": None,  # not in the excerpt
    },
    "collect-env/linux-aarch64-gh200-pypi-cpu-build-2.2.2.txt": {
        "kinds": {"collect_env"},
        "torch.version": "2.2.2",
        "torch.cuda": None,  # "Could not collect"
        "torch.cuda_available": False,
        "platform.distro": "Ubuntu 22.04.4 LTS",
        "platform.machine": "aarch64",
        "platform.subdir": "linux-aarch64",
        "platform.glibc": "2.35",
        "gpus.nvidia": [{"name": "NVIDIA GH200 480GB"}],
        "cc_not_read": True,
        "nvidia.driver_version": "550.54.15",
        "nvidia.cuda_version": None,
        "notes": ["built without CUDA"],
    },
    "collect-env/linux-cpu-build-on-2x-rtx3090-driver525.txt": {
        "kinds": {"collect_env"},
        "torch.version": "2.1.1",
        "torch.cuda": None,
        "torch.cuda_available": False,
        "gpus.nvidia": [
            {"index": 0, "name": "NVIDIA GeForce RTX 3090"},
            {"index": 1, "name": "NVIDIA GeForce RTX 3090"},
        ],
        "nvidia.driver_version": "525.147.05",
        "nvidia.cuda_version": None,  # 11.6.124 is the system CUDA runtime
        "platform.glibc": "2.35",
        "notes": ["built without CUDA"],
    },
    "collect-env/macos-rosetta-x86_64-m2pro-source-build.txt": {
        "kinds": {"collect_env"},
        "torch.version": "2.6.0a0+git1eba9b3",
        "torch.cuda": None,
        "platform.os": "macos",
        "platform.macos_version": "15.3",  # not the compat 10.16 of "Python platform"
        "platform.machine": "x86_64",
        "platform.subdir": "osx-64",
        "platform.native_subdir": "osx-arm64",
        "apple.chip": "Apple M2 Pro",
        "apple.rosetta": True,
        "notes": ["Rosetta 2 (x86_64 on Apple M2 Pro)", "install an osx-arm64 Python", "10.16"],
    },
    "collect-env/rocm3.7-source-build-2020-device-66a1.txt": {
        "kinds": {"collect_env"},
        "torch.version": "1.7.0a0+9ddd3df",
        "torch.rocm": "3.7.20315-077bcfa0",
        "torch.cuda": None,
        "torch.torchvision": "0.8.0a0+a4736ea",
        "gpus.amd": [{"name": "Device 66a1", "pci_device_id": "0x66a1", "gfx": "gfx906"}],
        "gpus.nvidia": [],
        # neither the HIP runtime (3.18.2) nor the build's ROCm is the installed ROCm
        "rocm.version": None,
        "platform.subdir": "linux-64",
        "notes": ["1.7.0a0+a9603c7", 'gfx906 of "Device 66a1" is inferred'],
    },
    "collect-env/windows11-cpu-nightly-2.8.0-conda-forge.txt": {
        "kinds": {"collect_env"},
        "torch.version": "2.8.0.dev20250528+cpu",
        "torch.cuda": None,
        "torch.xpu_available": False,
        "torch.cuda_available": False,
        "platform.os": "windows",
        "platform.os_version": "10.0.22631",
        "platform.subdir": "win-64",
        "gpus.nvidia": [],
    },
    "collect-env/wsl2-rtx4070-laptop-cu121-driver551.88.txt": {
        "kinds": {"collect_env"},
        "torch.version": "2.4.0+cu121",
        "torch.cuda": "12.1",
        "torch.cuda_available": True,
        "gpus.nvidia": [{"index": 0, "name": "NVIDIA GeForce RTX 4070 Laptop GPU"}],
        "nvidia.driver_version": "551.88",
        "nvidia.cuda_version": None,  # 12.4.131 is the system CUDA runtime
        "platform.wsl": True,
        "platform.kernel": "5.15.153.1-microsoft-standard-WSL2",
        "platform.glibc": "2.35",
    },
    # -- conda-info ---------------------------------------------------------------------
    "conda-info/conda_json-env-ignored-conda23.7.2-linux-no-cuda-aws.txt": {
        "kinds": {"conda info"},
        "platform.subdir": "linux-64",
        "platform.conda_version": "23.7.2",
        "platform.virtual_packages": {
            "__archspec": "1",
            "__glibc": "2.31",
            "__linux": "4.4.0",
            "__unix": "0",
        },
        "platform.glibc": "2.31",
        "nvidia.cuda_version": None,
    },
    "conda-info/json-flag-ignored-conda23.7.0-linux-cuda12.0.txt": {
        "kinds": {"conda info"},
        "platform.subdir": "linux-64",
        "platform.conda_version": "23.7.0",
        "platform.virtual_packages": {
            "__archspec": "1",
            "__cuda": "12.0",
            "__glibc": "2.31",
            "__linux": "5.15.0",
            "__unix": "0",
        },
        "nvidia.cuda_version": "12.0",
        "platform.glibc": "2.31",
    },
    "conda-info/json-win-64-conda4.4.11-no-virtual-pkgs.txt": {
        "kinds": {"conda info --json"},
        "platform.conda_version": "4.4.11",
        "platform.subdir": "win-64",
        "platform.os": "windows",
        "platform.virtual_packages": None,
        "nvidia.cuda_version": None,
        "errors": ["platform.conda_info_json_invalid"],
        "notes": ["channel URLs"],
    },
    "conda-info/linux-64-cuda11.2-glibc2.27-conda23.1.txt": {
        "kinds": {"conda info"},
        "platform.subdir": "linux-64",
        "platform.conda_version": "23.1.0",
        "platform.virtual_packages": {
            "__archspec": "1",
            "__cuda": "11.2",
            "__glibc": "2.27",
            "__linux": "4.15.0",
            "__unix": "0",
        },
        "nvidia.cuda_version": "11.2",
        "platform.glibc": "2.27",
    },
    "conda-info/osx-64-rosetta-on-m2-osx10.16.txt": {
        "kinds": {"conda info"},
        "platform.subdir": "osx-64",
        "platform.virtual_packages": {"__archspec": "1", "__osx": "10.16", "__unix": "0"},
        "platform.kernel": "22.4.0",
        "platform.macos_version": None,  # 10.16 is the compat version
        "platform.native_subdir": None,  # the M2 is in the issue title, not in the output
        "apple.rosetta": None,
        "nvidia.cuda_version": None,
        "notes": ["Rosetta 2", "10.16"],
    },
    "conda-info/osx-arm64-conda4.11-osx12.2.1.txt": {
        "kinds": {"conda info"},
        "platform.subdir": "osx-arm64",
        "platform.native_subdir": "osx-arm64",
        "platform.conda_version": "4.11.0",
        "platform.virtual_packages": {"__osx": "12.2.1", "__unix": "0", "__archspec": "1"},
        "platform.macos_version": "12.2.1",
        "platform.kernel": "21.3.0",
        "apple.apple_silicon": True,
        "nvidia.cuda_version": None,
    },
    "conda-info/win-64-conda4.7.11-cuda10.0-old-format.txt": {
        "kinds": {"conda info"},
        "platform.subdir": "win-64",
        "platform.conda_version": "4.7.11",
        "platform.virtual_packages": {"__cuda": "10.0"},
        "nvidia.cuda_version": "10.0",
        "notes": ["channel URLs"],
    },
    # -- torch-runtime ------------------------------------------------------------------
    "torch-runtime/h100-cu130-torch2.11.0.txt": {
        "kinds": {"torch runtime"},
        "torch.version": "2.11.0+cu130",
        "torch.cuda": "13.0",
        "torch.cuda_available": True,
        "torch.arch_list": ("sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"),
        "gpus.nvidia": [
            {
                "compute_capability": "9.0",
                "compute_capability_inferred": False,
                "name": "NVIDIA H100 80GB HBM3",
            }
        ],
        "notes": ['CUDA_VISIBLE_DEVICES=""'],
    },
    "torch-runtime/cuda-visible-devices-h100-580.159.04.txt": {
        "kinds": {"CUDA_VISIBLE_DEVICES probe"},
        "nvidia.cuda_version": "13.0",
        "nvidia.driver_version": "580.159.04",
        "nvidia.cuda_visible_devices": None,  # the baseline line has the variable unset
        "gpus.nvidia": [{"index": 0}],
        "torch.cuda_available": True,
        "notes": ['CUDA_VISIBLE_DEVICES="" hides the GPU', "NVML still sees 1"],
    },
}


def _all_files() -> list[str]:
    return [f"{folder}/{path.name}" for folder in FOLDERS for path in fixture_files(folder)]


def _fact(machine: Machine, dotted: str) -> Any:
    section, _, field = dotted.partition(".")
    obj = getattr(machine, section)
    return None if obj is None else getattr(obj, field)


def _parse(relpath: str) -> tuple[list[Any], Machine]:
    _, body = read_fixture(FIXTURES / relpath)
    observations = parse_text(body, source=relpath)
    return observations, merge(observations, mode="files", inputs=(relpath,))


def test_every_fixture_has_an_expectation() -> None:
    files = set(_all_files())
    assert files, "no fixtures found"
    assert sorted(files - set(EXPECT)) == []
    assert sorted(set(EXPECT) - files) == []


@pytest.mark.parametrize("relpath", sorted(EXPECT), ids=sorted(EXPECT))
def test_fixture_facts(relpath: str) -> None:
    expect = EXPECT[relpath]
    observations, machine = _parse(relpath)
    mine = {obs.kind for obs in observations if obs.kind in MY_KINDS}
    assert mine == expect["kinds"]
    for key, value in expect.items():
        if "." in key and not key.startswith("gpus."):
            assert _fact(machine, key) == value, key
    for vendor in ("nvidia", "amd", "apple"):
        key = f"gpus.{vendor}"
        if key not in expect:
            continue
        section = {"nvidia": machine.nvidia, "amd": machine.rocm, "apple": machine.apple}[vendor]
        gpus = section.gpus if section else ()
        assert len(gpus) == len(expect[key]), [g.name for g in gpus]
        for gpu, want in zip(gpus, expect[key]):
            assert gpu.vendor == vendor
            for field, value in want.items():
                assert getattr(gpu, field) == value, (field, gpu)
    if expect.get("cc_not_read"):
        for gpu in machine.nvidia_gpus:
            assert gpu.compute_capability is None or gpu.compute_capability_inferred, gpu
    for text in expect.get("notes", ()):
        assert any(text in note for note in machine.notes), (text, machine.notes)
    codes = [code for obs in observations for code in obs.errors]
    for code in expect.get("errors", ()):
        assert code in codes


@pytest.mark.parametrize("relpath", sorted(EXPECT), ids=sorted(EXPECT))
def test_only_shown_facts(relpath: str) -> None:
    """Nothing these parsers return is a placeholder: no None, no "N/A", no empty strings."""
    observations, _ = _parse(relpath)
    for obs in observations:
        if obs.kind not in MY_KINDS:
            continue
        for section in ("platform", "nvidia", "rocm", "apple", "torch"):
            for key, value in getattr(obs, section).items():
                assert value is not None and value != "", (section, key)
                assert str(value).strip().upper() not in (
                    "N/A",
                    "NONE",
                    "COULD NOT COLLECT",
                    "NO CUDA",
                )
        for gpu in obs.gpus:
            assert gpu.get("vendor") in ("nvidia", "amd", "apple")
            assert all(v is not None for v in gpu.values()), gpu


def _nvidia_files() -> list[str]:
    return [f"{folder}/{path.name}" for folder in NVIDIA_FOLDERS for path in fixture_files(folder)]


@pytest.mark.parametrize("relpath", _nvidia_files(), ids=_nvidia_files())
def test_nvidia_captures_are_not_claimed(relpath: str) -> None:
    capture = Capture.from_text(read_fixture(FIXTURES / relpath)[1])
    kinds = [kind for module in MODULES for kind in module.KINDS]
    claimed = [kind.name for kind in kinds if kind.read(capture) is not None]
    assert claimed == []


_FOREIGN_FREE = [f for f in _all_files() if f.split("/")[0] in ("rocm", "apple", "conda-info")]


@pytest.mark.parametrize("relpath", _FOREIGN_FREE, ids=_FOREIGN_FREE)
def test_other_parsers_leave_these_captures_alone(relpath: str) -> None:
    """ROCm, Apple and conda captures hold nothing for the NVIDIA parsers (the readers of
    pasted reports may read the same facts again, with a lower rank)."""
    observations, _ = _parse(relpath)
    lenient = lenient_kinds()
    assert [o.kind for o in observations if o.kind not in MY_KINDS | lenient] == []


def test_device_id_table_is_unambiguous() -> None:
    seen: dict[int, str] = {}
    for gfx, ids in _GFX_TO_IDS.items():
        for did in ids:
            assert seen.setdefault(did, gfx) == gfx, (hex(did), gfx, seen[did])
    assert gfx_for_device_id("0x731F") == gfx_for_device_id("731f") == "gfx1010"
    assert gfx_for_device_id("not-an-id") is None
