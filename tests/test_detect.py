"""conda_torch.detect: the live picture here, overrides, flags, and pictures from real captures."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conda_torch import detect as det
from conda_torch.detect import (
    Description,
    apply_visible_devices,
    detect,
    nvidia,
    parse_cuda_override,
)
from conda_torch.exceptions import (
    CondaTorchValueError,
    InputFileError,
    OverrideError,
    UnknownPlatformError,
    UnrecognisedInputError,
)
from conda_torch.machine import SCHEMA, Machine

from .helpers.paths import FIXTURES, ROOT, fixture_files, read_fixture
from .helpers.samples import H100, body, expected_subdir, nvidia_hardware_here


@pytest.fixture(autouse=True)
def _fresh():
    det.clear_cache()
    yield
    det.clear_cache()


# -- the live machine -----------------------------------------------------------------------


def test_live_platform_matches_interpreter():
    m = detect(environ={})
    assert m.mode == "live"
    assert m.platform.subdir == expected_subdir()
    assert m.platform.python_version == ".".join(map(str, sys.version_info[:3]))
    assert m.platform.sources["subdir"]
    if sys.platform == "linux":
        assert m.platform.os == "linux"
        import platform

        libc, version = platform.libc_ver()
        if libc == "glibc":
            assert m.platform.glibc == version
        assert m.platform.wsl is not None


@pytest.mark.skipif(nvidia_hardware_here(), reason="this machine has NVIDIA hardware")
def test_live_cpu_only_picture_says_why():
    m = detect(environ={})
    assert m.nvidia is None
    assert m.nvidia_gpus == ()
    assert m.apple is None or sys.platform == "darwin"
    reasons = [n for n in m.notes if n.startswith(det.NOT_FOUND + "NVIDIA")]
    assert len(reasons) == 1
    assert "/proc/driver/nvidia/version absent" in reasons[0] or sys.platform != "linux"
    tried = {p.name: p for p in m.probes}
    for name in ("nvidia: NVML", "nvidia: libcuda", "nvidia: nvidia-smi"):
        assert (
            not tried[name].ok
            and tried[name].ms is None
            and tried[name].detail.startswith("not tried")
        )
    timed = [p for p in m.probes if p.ms is not None]
    assert timed and all(p.ms >= 0 for p in timed)


_CHILD = r"""
import json, sys
before = set(sys.modules)
events = []
def hook(event, args):
    if event in ("subprocess.Popen", "os.posix_spawn", "os.spawn", "os.exec", "os.system",
                 "os.fork", "ctypes.dlopen"):
        events.append(event)
sys.addaudithook(hook)
from conda_torch import detect as det
det.detect(environ={})  # first call pays for lazy imports
det.clear_cache()
m = det.detect(environ={})
heavy = [name for name in ("ctypes", "subprocess", "threading", "ruamel.yaml", "packaging", "conda")
         if name in sys.modules and name not in before]
print(json.dumps({"events": events, "heavy": heavy, "subdir": m.platform.subdir}))
"""


@pytest.mark.skipif(nvidia_hardware_here(), reason="this machine has NVIDIA hardware")
def test_live_detection_starts_no_process_and_loads_no_library():
    """An audit hook in a fresh interpreter sees every process start and every dlopen."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("CONDA_OVERRIDE_CUDA", None)
    done = subprocess.run(
        [sys.executable, "-c", _CHILD],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["events"] == []
    assert out["heavy"] == []
    assert out["subdir"] == expected_subdir()
    # its time (issue 2: < 5 ms) is bench/detect.py's to measure: no timed assertion here


# -- live probes on files built from real captures ------------------------------------------


def _proc_tree(tmp_path: Path, proc_fixture: str | None, pci_fixture: str | None) -> Path:
    root = tmp_path / "root"
    if proc_fixture:
        (root / "proc/driver/nvidia").mkdir(parents=True)
        (root / "proc/driver/nvidia/version").write_text(read_fixture(FIXTURES / proc_fixture)[1])
    if pci_fixture:
        for line in read_fixture(FIXTURES / pci_fixture)[1].splitlines():
            slot, cls, vendor, device = line.split()
            dev = root / "sys/bus/pci/devices" / slot
            dev.mkdir(parents=True)
            for name, value in (("class", cls), ("vendor", vendor), ("device", device)):
                (dev / name).write_text(value + "\n")
    root.mkdir(exist_ok=True)
    return root


@pytest.mark.parametrize("path", fixture_files("proc-driver-version"), ids=lambda p: p.name)
def test_live_proc_reader_agrees_with_the_capture_parser(path: Path):
    """The fast in-process reader of /proc/driver/nvidia/version reads what the parser reads."""
    from conda_torch.detect.captures import parse_text

    text = read_fixture(path)[1]
    parsed = [o for o in parse_text(text) if o.kind == "/proc/driver/nvidia/version"]
    assert len(parsed) == 1
    expected = {k: parsed[0].nvidia[k] for k in ("driver_version", "driver_flavor")}
    assert nvidia.read_proc_version(text) == expected


def test_every_capture_reader_is_in_the_registry():
    """``captures.KINDS`` is written out by hand: a reader module left out of it would never
    see an input."""
    import importlib

    from conda_torch.detect import captures

    folder = Path(captures.__file__).parent
    readers = sorted(p.stem for p in folder.glob("*.py") if p.stem not in ("__init__", "capture"))
    assert len(readers) >= 12
    declared = []
    for name in readers:
        module = importlib.import_module(f"conda_torch.detect.captures.{name}")
        assert module.KINDS, name
        declared.extend(module.KINDS)
    assert sorted(k.name for k in captures.KINDS) == sorted(k.name for k in declared)
    assert len(set(captures.KINDS)) == len(captures.KINDS)


@pytest.mark.skipif(sys.platform != "linux", reason="sysfs/proc probes are Linux only")
def test_live_h100_files_without_libraries(tmp_path: Path):
    """The H100's /proc and PCI files, with no NVIDIA library loadable here."""
    root = _proc_tree(
        tmp_path,
        "proc-driver-version/open-580.159.04-x86_64-vm.txt",
        "pci/h100-sysfs-display-class.txt",
    )
    empty = tmp_path / "bin"
    empty.mkdir()
    m = detect(root=str(root), environ={"PATH": str(empty)})
    assert m.nvidia is not None
    assert m.nvidia.driver_version == "580.159.04"
    assert m.nvidia.driver_flavor == "open"
    assert m.nvidia.sources["driver_version"] == "/proc/driver/nvidia/version"
    assert m.nvidia.cuda_version is None  # nothing here could say it
    (gpu,) = m.nvidia.gpus
    assert gpu.pci_device_id == "10de:2330"
    assert gpu.bus_id == "0000:00:06.0"
    assert gpu.name is None and gpu.compute_capability is None
    probes = {p.name: p for p in m.probes}
    assert probes["nvidia: /proc/driver/nvidia/version"].ok
    assert probes["nvidia: NVML"].ms is not None and not probes["nvidia: NVML"].ok
    assert "not on PATH" in probes["nvidia: nvidia-smi"].detail
    assert any(n.startswith(det.NOT_FOUND + "NVIDIA GPU details") for n in m.notes)


class CapturedNVML:
    """NVML's C calls (ctypes in, ctypes out) answered with what a machine's captures show.

    No GPU here: this checks how detection drives NVML (what it asks, how it decodes the
    answers, that it holds one initialisation per process) against the H100's real captures.
    A symbol the captures say nothing of is absent, as in an older ``libnvidia-ml``.
    """

    def __init__(self, nvidia, init_rc: int = 0):
        self.nv, self.init_rc = nvidia, init_rc
        self.refs = self.inits = self.shutdowns = 0
        self.calls: list[str] = []

    def __getattr__(self, name: str):
        raise AttributeError(name)  # a symbol this library does not export

    def _gpu(self, handle):
        assert self.refs > 0, "NVML called before nvmlInit"
        return self.nv.gpus[handle.value - 1]

    def nvmlInit_v2(self):
        self.inits += 1
        if self.init_rc:
            return self.init_rc
        self.refs += 1
        return 0

    def nvmlShutdown(self):
        self.shutdowns += 1
        if not self.refs:
            return 1  # NVML_ERROR_UNINITIALIZED
        self.refs -= 1
        return 0

    def nvmlSystemGetDriverVersion(self, buf, size):
        buf.value = self.nv.driver_version.encode()
        return 0

    def nvmlSystemGetCudaDriverVersion_v2(self, ref):
        major, minor = (int(x) for x in self.nv.cuda_version.split("."))
        ref._obj.value = 1000 * major + 10 * minor
        return 0

    def nvmlDeviceGetCount_v2(self, ref):
        ref._obj.value = len(self.nv.gpus)
        return 0

    def nvmlDeviceGetHandleByIndex_v2(self, index, ref):
        ref._obj.value = index.value + 1
        return 0

    def nvmlDeviceGetName(self, handle, buf, size):
        buf.value = self._gpu(handle).name.encode()
        return 0

    def nvmlDeviceGetUUID(self, handle, buf, size):
        buf.value = self._gpu(handle).uuid.encode()
        return 0

    def nvmlDeviceGetCudaComputeCapability(self, handle, major, minor):
        major._obj.value, minor._obj.value = (
            int(x) for x in self._gpu(handle).compute_capability.split(".")
        )
        return 0

    def nvmlDeviceGetMemoryInfo(self, handle, ref):
        ref._obj[0] = self._gpu(handle).memory_mib * 1024 * 1024
        return 0

    def nvmlDeviceGetMigMode(self, handle, current, pending):
        current._obj.value = pending._obj.value = int(self._gpu(handle).mig_mode == "Enabled")
        return 0

    def nvmlDeviceGetPciInfo_v3(self, handle, buf):
        gpu = self._gpu(handle)
        vendor, device = (int(x, 16) for x in gpu.pci_device_id.split(":"))
        ctypes.memmove(ctypes.addressof(buf) + 28, (device << 16 | vendor).to_bytes(4, "little"), 4)
        ctypes.memmove(ctypes.addressof(buf) + 36, gpu.bus_id.encode(), len(gpu.bus_id))
        return 0


@pytest.fixture
def captured_nvml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Make the H100's captured NVML answers the only loadable NVIDIA library."""
    truth = detect(
        from_files=[
            body(tmp_path, "nvidia-smi-query/q-full-h100-580.159.04.txt"),
            body(tmp_path, "nvidia-smi-query/csv-full-h100-580.159.04.txt"),
        ]
    ).nvidia
    fake = CapturedNVML(truth)

    def load(names, windows=()):
        return (fake, "libnvidia-ml.so.1") if names is nvidia._NVML_NAMES else (None, "absent")

    monkeypatch.setattr(nvidia, "_load_library", load)
    return fake


@pytest.mark.skipif(sys.platform != "linux", reason="sysfs/proc probes are Linux only")
def test_live_nvml_answers_are_decoded_like_the_captures(tmp_path: Path, captured_nvml):
    root = _proc_tree(
        tmp_path,
        "proc-driver-version/open-580.159.04-x86_64-vm.txt",
        "pci/h100-sysfs-display-class.txt",
    )
    m = detect(root=str(root), environ={"PATH": str(tmp_path)})
    truth = captured_nvml.nv
    assert (m.nvidia.driver_version, m.nvidia.cuda_version) == ("580.159.04", "13.0")
    assert m.nvidia.sources["cuda_version"] == "NVML"
    (gpu,) = m.nvidia.gpus
    (want,) = truth.gpus
    for field in ("name", "uuid", "compute_capability", "memory_mib", "mig_mode", "pci_device_id"):
        assert getattr(gpu, field) == getattr(want, field), field
        assert gpu.sources[field] == "NVML", field
    assert gpu.compute_capability_inferred is False  # read from NVML, not looked up by name
    probes = {p.name: p for p in m.probes}
    assert probes["nvidia: NVML"].ok
    assert "load+init" in probes["nvidia: NVML"].detail
    assert probes["nvidia: nvidia-smi"].detail == "not tried: NVML answered"


@pytest.mark.skipif(sys.platform != "linux", reason="sysfs/proc probes are Linux only")
def test_nvml_is_initialised_once_per_process_and_released_by_clear_cache(
    tmp_path: Path, captured_nvml
):
    root = str(_proc_tree(tmp_path, "proc-driver-version/open-580.159.04-x86_64-vm.txt", None))
    detect(root=root, environ={"PATH": str(tmp_path)})
    assert (captured_nvml.inits, captured_nvml.refs, captured_nvml.shutdowns) == (1, 1, 0)
    # Another picture (not served from the cache) reuses the initialisation.
    again = detect(root=root, environ={"PATH": str(tmp_path), "CUDA_VISIBLE_DEVICES": "0"})
    assert (captured_nvml.inits, captured_nvml.refs) == (1, 1)
    detail = {p.name: p.detail for p in again.probes}["nvidia: NVML"]
    assert "initialised earlier in this process" in detail
    assert again.nvidia.gpus[0].name == "NVIDIA H100 80GB HBM3"
    det.clear_cache()
    assert (captured_nvml.refs, captured_nvml.shutdowns) == (0, 1)
    det.clear_cache()  # nothing held: no second shutdown
    assert captured_nvml.shutdowns == 1
    detect(root=root, environ={"PATH": str(tmp_path)})
    assert (captured_nvml.inits, captured_nvml.refs) == (2, 1)


@pytest.mark.skipif(sys.platform != "linux", reason="sysfs/proc probes are Linux only")
def test_nvml_driver_mismatch_holds_nothing_and_says_what_to_do(tmp_path: Path, captured_nvml):
    captured_nvml.init_rc = 18  # NVML_ERROR_LIB_RM_VERSION_MISMATCH
    root = str(_proc_tree(tmp_path, "proc-driver-version/open-580.159.04-x86_64-vm.txt", None))
    m = detect(root=root, environ={"PATH": str(tmp_path)})
    assert "nvidia.driver_library_mismatch" in m.nvidia.errors
    assert any("reboot, or reinstall the driver" in n for n in m.notes)
    assert {p.name: p.detail for p in m.probes}["nvidia: NVML"] == (
        "nvmlInit failed: driver/library version mismatch"
    )
    det.clear_cache()
    assert (captured_nvml.refs, captured_nvml.shutdowns) == (0, 0)


# CUDA_VISIBLE_DEVICES values and what torch saw, from the H100 capture (torch follows libcuda).
_VISIBLE = [
    json.loads(line)
    for line in read_fixture(FIXTURES / "torch-runtime/cuda-visible-devices-h100-580.159.04.txt")[
        1
    ].splitlines()
    if line.strip()
]


@pytest.mark.parametrize("row", _VISIBLE, ids=lambda r: repr(r["CUDA_VISIBLE_DEVICES"]))
def test_visible_devices_match_what_torch_saw_on_the_h100(tmp_path: Path, row: dict):
    m = detect(
        from_files=[
            body(tmp_path, "nvidia-smi-query/L-h100-580.159.04.txt"),
            body(tmp_path, "nvidia-smi-query/csv-full-h100-580.159.04.txt"),
        ]
    )
    assert m.nvidia.gpus[0].uuid  # the inputs show the GPU's UUID
    value = row["CUDA_VISIBLE_DEVICES"]
    out = apply_visible_devices(m, value) if value is not None else m
    assert len(out.visible_nvidia_gpus) == row["torch"]["count"]
    assert len(out.nvidia_gpus) == row["nvml"]["count"]
    if value is not None:
        assert out.nvidia.cuda_visible_devices == value


@pytest.mark.parametrize(
    ("value", "visible"),
    [
        ("", []),
        ("0", [0]),
        ("1", [1]),
        ("1,0", [0, 1]),
        ("0,5,1", [0]),  # CUDA stops at the first entry that names no device
        ("GPU-7518f6b0", [1]),  # a UUID prefix
        ("GPU-b5169cef-2205-c30e-f2b3-220cfa14bafd,GPU-7518", [0, 1]),
        ("GPU-nonexistent,0", []),
        ("-1", []),
    ],
    ids=[
        "empty",
        "0",
        "1",
        "1,0",
        "stops-at-invalid",
        "uuid-prefix",
        "two-uuids",
        "unknown-uuid",
        "negative",
    ],
)
def test_visible_devices_on_two_real_gpus(tmp_path: Path, value: str, visible: list[int]):
    m = detect(from_files=[body(tmp_path, "nvidia-smi-query/L-titanv+rtx5880ada.txt")])
    assert len(m.nvidia_gpus) == 2
    out = apply_visible_devices(m, value)
    assert [i for i, g in enumerate(out.nvidia_gpus) if not g.hidden] == visible
    for g in out.nvidia_gpus:
        assert (g.sources.get("hidden") == "CUDA_VISIBLE_DEVICES") == g.hidden
    if not visible:
        assert any("hides every NVIDIA GPU" in n for n in out.notes)


def test_visible_devices_naming_mig_instances_is_not_guessed(tmp_path: Path):
    m = detect(from_files=[body(tmp_path, "nvidia-smi-query/L-titanv+rtx5880ada.txt")])
    out = apply_visible_devices(m, "MIG-4f5e2a7c-0000-0000-0000-000000000000")
    assert not any(g.hidden for g in out.nvidia_gpus)
    assert any("not known" in n for n in out.notes)


def test_live_cuda_visible_devices_is_recorded(tmp_path: Path):
    root = _proc_tree(
        tmp_path,
        "proc-driver-version/open-580.159.04-x86_64-vm.txt",
        "pci/h100-sysfs-display-class.txt",
    )
    m = detect(root=str(root), environ={"PATH": str(tmp_path), "CUDA_VISIBLE_DEVICES": ""})
    assert m.nvidia.cuda_visible_devices == ""
    assert m.nvidia.sources["cuda_visible_devices"] == "CUDA_VISIBLE_DEVICES"
    assert all(g.hidden for g in m.nvidia.gpus) and m.nvidia.gpus
    assert m.visible_nvidia_gpus == ()


# -- CONDA_OVERRIDE_CUDA ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ("", ""),
        ("  ", ""),
        ("12.6", "12.6"),
        ("12", "12.0"),
        ("12.6.1", "12.6"),
        (" 13.0 ", "13.0"),
        ("11.8", "11.8"),
    ],
    ids=["unset", "empty", "blank", "12.6", "major-only", "patch", "spaces", "11.8"],
)
def test_parse_cuda_override(raw, expected):
    assert parse_cuda_override(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["abc", "12.x", "-1", "1..2", "12.6.1.0", "cu126", "12,6", "١٢.٦"],
    ids=["abc", "12.x", "-1", "1..2", "four-parts", "cu126", "comma", "arabic-digits"],
)
def test_garbage_cuda_override_is_refused(raw):
    with pytest.raises(OverrideError) as info:
        detect(environ={"CONDA_OVERRIDE_CUDA": raw})
    assert "CONDA_OVERRIDE_CUDA" in str(info.value)
    assert "expected" in info.value.line
    assert info.value.hints


def test_override_unset_leaves_the_picture(tmp_path: Path):
    files = [body(tmp_path, p) for p in H100]
    m = detect(from_files=files, environ={})
    assert m.nvidia.cuda_version == "13.0"
    assert m.overrides == {}


def test_override_empty_means_no_cuda(tmp_path: Path):
    files = [body(tmp_path, p) for p in H100]
    m = detect(from_files=files, environ={"CONDA_OVERRIDE_CUDA": ""})
    assert m.nvidia.cuda_version is None
    assert m.nvidia.driver_version == "580.159.04"  # the driver is still there
    assert m.nvidia.sources["cuda_version"] == "CONDA_OVERRIDE_CUDA"
    assert m.overrides == {"CONDA_OVERRIDE_CUDA": ""}
    assert any("no CUDA" in n and "13.0" in n for n in m.notes)


def test_override_version_wins_over_the_driver(tmp_path: Path):
    files = [body(tmp_path, p) for p in H100]
    m = detect(from_files=files, environ={"CONDA_OVERRIDE_CUDA": "12.6"})
    assert m.nvidia.cuda_version == "12.6"
    assert m.nvidia.sources["cuda_version"] == "CONDA_OVERRIDE_CUDA"
    assert m.overrides["CONDA_OVERRIDE_CUDA"] == "12.6"
    assert m.nvidia.gpus[0].name == "NVIDIA H100 80GB HBM3"


@pytest.mark.skipif(nvidia_hardware_here(), reason="this machine has NVIDIA hardware")
def test_override_on_a_machine_without_gpu_gives_cuda_like_conda():
    m = detect(environ={"CONDA_OVERRIDE_CUDA": "12.6"})
    assert m.nvidia is not None
    assert m.nvidia.cuda_version == "12.6"
    assert m.nvidia.gpus == () and m.nvidia.driver_version is None
    m = detect(environ={"CONDA_OVERRIDE_CUDA": ""})
    assert m.nvidia is None
    assert m.overrides == {"CONDA_OVERRIDE_CUDA": ""}


# -- flags that describe another machine ------------------------------------------------------


def test_unknown_platform_is_refused_with_suggestion():
    with pytest.raises(UnknownPlatformError) as info:
        Description(platform="linux-arm64")
    assert "linux-arm64" in info.value.line
    assert any("linux-aarch64" in h for h in info.value.hints)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"driver_version": "latest"},
        {"driver_version": "580"},
        {"cuda_version": "12"},
        {"cuda_version": "twelve"},
        {"gpus": (("GeForce GTX 1080 Ti", "sm_61"),)},
        {"gpus": (("", "6.1"),)},
    ],
    ids=["driver-word", "driver-one-part", "cuda-major-only", "cuda-word", "cc-sm", "gpu-no-name"],
)
def test_bad_description_values_are_refused(kwargs):
    with pytest.raises(CondaTorchValueError) as info:
        Description(**kwargs)
    assert "expected" in info.value.line


@pytest.mark.skipif(nvidia_hardware_here(), reason="this machine has NVIDIA hardware")
def test_describe_another_platform_drops_this_machines_hardware():
    here = detect(environ={})
    other = "osx-arm64" if here.platform.subdir != "osx-arm64" else "linux-64"
    m = detect(environ={}, describe=Description(platform=other))
    assert m.platform.subdir == other
    assert m.platform.sources["subdir"] == "--platform"
    assert m.platform.glibc is None and m.platform.kernel is None
    assert m.overrides == {"--platform": other}
    assert any("Describing another machine" in n for n in m.notes)


def test_describe_gpus_with_and_without_compute_capability():
    m = detect(
        environ={},
        describe=Description(
            platform="linux-64",
            driver_version="550.54.15",
            cuda_version="12.4",
            gpus=(
                Description.parse_gpu("GeForce GTX 1080 Ti=6.1"),
                Description.parse_gpu("Tesla V100-SXM2-16GB"),
            ),
        ),
    )
    assert m.nvidia.driver_version == "550.54.15"
    assert m.nvidia.cuda_version == "12.4"
    assert m.nvidia.sources["driver_version"] == "--driver"
    given, looked_up = m.nvidia.gpus
    assert (given.name, given.compute_capability, given.compute_capability_inferred) == (
        "GeForce GTX 1080 Ti",
        "6.1",
        False,
    )
    assert given.sources["compute_capability"] == "--gpu"
    assert looked_up.name == "Tesla V100-SXM2-16GB"
    assert looked_up.compute_capability == "7.0"
    assert looked_up.compute_capability_inferred is True


def test_describe_driver_over_inputs_drops_their_cuda(tmp_path: Path):
    files = [body(tmp_path, p) for p in H100]
    m = detect(from_files=files, describe=Description(driver_version="550.54.15"), environ={})
    assert m.nvidia.driver_version == "550.54.15"
    assert m.nvidia.cuda_version is None  # 13.0 was the 580 driver's
    assert m.nvidia.gpus[0].compute_capability == "9.0"  # the GPU is still the inputs' H100
    assert any("pass --cuda" in n for n in m.notes)


def test_describe_platform_fills_files_without_one(tmp_path: Path):
    f = body(tmp_path, "nvidia-smi/rtx4070-550.40.07-cuda12.4.txt")
    bare = detect(from_files=[f], environ={})
    assert bare.platform.subdir is None
    m = detect(from_files=[f], environ={}, describe=Description(platform="linux-64"))
    assert m.platform.subdir == "linux-64"
    assert m.nvidia.driver_version == "550.40.07"  # the inputs' hardware stays
    assert not any(n.startswith(det.NOT_FOUND + "platform") for n in m.notes)


def test_cuda_flag_wins_over_the_override_variable():
    m = detect(
        environ={"CONDA_OVERRIDE_CUDA": "11.8"},
        describe=Description(platform="linux-64", cuda_version="12.6"),
    )
    assert m.nvidia.cuda_version == "12.6"
    assert m.overrides["CONDA_OVERRIDE_CUDA"] == "11.8"
    assert any("ignored" in n for n in m.notes)


# -- pictures from captured outputs -------------------------------------------------------------


def _h100_facts(m: Machine) -> None:
    assert m.mode == "files"
    nv = m.nvidia
    assert (nv.driver_version, nv.cuda_version, nv.driver_flavor) == ("580.159.04", "13.0", "open")
    (gpu,) = nv.gpus
    assert gpu.name == "NVIDIA H100 80GB HBM3"
    assert gpu.compute_capability == "9.0" and not gpu.compute_capability_inferred
    assert gpu.memory_mib == 81559
    assert gpu.mig_mode == "Disabled"
    assert m.torch.version == "2.11.0+cu130"
    assert m.torch.cuda == "13.0"
    assert (m.torch.torchvision, m.torch.torchaudio) == ("0.26.0", "2.11.0")
    assert m.platform.subdir == "linux-64"
    assert m.platform.glibc == "2.39"
    assert m.probes and all(p.name.startswith("input: ") for p in m.probes)


def test_h100_captures_merge_into_one_machine(tmp_path: Path):
    files = [body(tmp_path, p) for p in H100]
    m = detect(from_files=files, environ={})
    _h100_facts(m)
    assert m.inputs == tuple(files)
    used = {src for src in [*m.nvidia.sources.values(), *m.nvidia.gpus[0].sources.values()]}
    assert all(any(Path(f).name in s for f in files) for s in used)
    assert m.nvidia.gpus[0].sources["compute_capability"].startswith("nvidia-smi --query-gpu")
    assert m.nvidia.sources["driver_flavor"].startswith("/proc/driver/nvidia/version")


def test_merge_does_not_depend_on_the_order_of_inputs(tmp_path: Path):
    files = [body(tmp_path, p) for p in H100]
    forward = detect(from_files=files, environ={})
    backward = detect(from_files=list(reversed(files)), environ={})
    _h100_facts(backward)
    assert forward.nvidia == backward.nvidia
    assert forward.torch == backward.torch


def test_files_mode_probes_nothing_live(tmp_path: Path):
    f = body(tmp_path, "nvidia-smi/rtx4070-550.40.07-cuda12.4.txt")
    m = detect(from_files=[f], environ={"CUDA_VISIBLE_DEVICES": ""})
    assert m.platform.python_version is None and m.platform.kernel is None
    assert m.nvidia.cuda_visible_devices is None  # this process's variable is not the capture's
    assert not any(g.hidden for g in m.nvidia.gpus)
    assert m.rocm is None and m.apple is None


def test_json_round_trip(tmp_path: Path):
    files = [body(tmp_path, p) for p in H100]
    m = detect(from_files=files, environ={"CONDA_OVERRIDE_CUDA": "12.6"})
    data = json.loads(json.dumps(m.to_json()))
    assert data["schema"] == SCHEMA
    back = Machine.from_json(data)
    assert back.nvidia == m.nvidia and back.torch == m.torch and back.platform == m.platform
    assert back.overrides == m.overrides


# -- bad input ----------------------------------------------------------------------------------


def _bad_inputs(tmp_path: Path) -> dict[str, str]:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(bytes(range(256)) * 8)
    huge = tmp_path / "huge.txt"
    with open(huge, "wb") as fh:  # sparse: 100 MB on paper, nothing on disk
        fh.truncate(100 * 1024 * 1024)
    unknown = tmp_path / "notes.txt"
    unknown.write_text("my GPU is fast\nplease help\n")
    cut = tmp_path / "cut.txt"
    cut.write_text(read_fixture(FIXTURES / "nvidia-smi/rtx4070-550.40.07-cuda12.4.txt")[1][:40])
    return {
        "empty": str(empty),
        "binary": str(binary),
        "huge": str(huge),
        "unrecognised": str(unknown),
        "truncated-to-40-bytes": str(cut),
        "directory": str(tmp_path),
        "missing": str(tmp_path / "nope.txt"),
    }


@pytest.mark.parametrize(
    "case",
    ["empty", "binary", "huge", "unrecognised", "truncated-to-40-bytes", "directory", "missing"],
)
def test_bad_files_raise_one_clear_error_naming_the_file(tmp_path: Path, case: str):
    path = _bad_inputs(tmp_path)[case]
    with pytest.raises(InputFileError) as info:
        detect(from_files=[path], environ={})
    assert path in info.value.line
    assert "\n" not in info.value.line
    if case in ("unrecognised", "truncated-to-40-bytes"):
        assert isinstance(info.value, UnrecognisedInputError)


def test_truncated_table_keeps_what_it_shows(tmp_path: Path):
    """A table cut inside its GPU rows still shows the driver; nothing is invented for the rest."""
    text = read_fixture(FIXTURES / "nvidia-smi/rtx4070-550.40.07-cuda12.4.txt")[1]
    cut = tmp_path / "cut.txt"
    cut.write_text(text[: text.index("Driver Version") + 200])
    m = detect(from_files=[str(cut)], environ={})
    assert m.nvidia.driver_version == "550.40.07"
    assert m.nvidia.cuda_version == "12.4"


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads chmod 000 files"
)
def test_unreadable_file(tmp_path: Path):
    f = Path(body(tmp_path, "nvidia-smi/rtx4070-550.40.07-cuda12.4.txt"))
    f.chmod(0)
    try:
        with pytest.raises(InputFileError, match="permission denied"):
            detect(from_files=[str(f)], environ={})
    finally:
        f.chmod(0o644)
