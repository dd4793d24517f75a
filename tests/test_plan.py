"""Plans: the policy on real machines (built from real captures), env specs, environments/."""

from __future__ import annotations

import json

import pytest

from conda_torch.detect import detect
from conda_torch.envfile import loads
from conda_torch.exceptions import CondaTorchValueError, IncompatibleError, UnknownPlatformError
from conda_torch.matrix import load as load_matrix
from conda_torch.plan import (
    COMMON_GPU_ARCHS,
    DEFAULT_PYTHON_CEILING,
    generic_machine,
    make_plan,
)
from conda_torch.prepare import ALL_TARGETS
from conda_torch.render import file_text as render
from conda_torch.render import plan_to_envspec, target_filename
from conda_torch.specs import conda_name

from .helpers.paths import ROOT
from .helpers.samples import MACHINES, capture_files


@pytest.fixture(scope="module")
def machines(tmp_path_factory):
    folder = tmp_path_factory.mktemp("captures")
    return {key: detect(from_files=capture_files(folder, key), environ={}) for key in MACHINES}


@pytest.fixture(scope="module")
def matrix():
    return load_matrix()


def plan_for(machines, matrix, key, **kw):
    return make_plan(machines[key], subdir=kw.pop("subdir", MACHINES[key][1]), matrix=matrix, **kw)


def _cuda(plan) -> tuple[int, ...]:
    return tuple(int(x) for x in plan.candidate.backend.cuda_version.split("."))


def _runs_on(plan, cc: str) -> bool:
    """Whether the chosen build has native code for compute capability ``cc``."""
    major, minor = (int(x) for x in cc.split("."))
    archs = [tuple(int(x) for x in a.split(".")) for a in plan.candidate.gpu_archs]
    return any(a[0] == major and a[1] <= minor for a in archs)


# -- the policy on the representative machines -------------------------------------------------


def test_h100_gets_conda_forge_cuda13(machines, matrix):
    plan = plan_for(machines, matrix, "h100-driver580")
    assert plan.variant == "cuda" and plan.source == "conda-forge"
    assert _cuda(plan)[0] == 13  # driver 580 runs CUDA 13.0, and the H100 (9.0) is in its builds
    assert _runs_on(plan, "9.0")
    assert plan.python == DEFAULT_PYTHON_CEILING
    assert plan.python in plan.candidate.pythons
    assert not plan.fallbacks


def test_v100_gets_a_cuda12_build_because_cuda13_drops_sm70(machines, matrix):
    plan = plan_for(machines, matrix, "v100-driver580")
    assert plan.variant == "cuda"
    assert _cuda(plan)[0] == 12
    assert _runs_on(plan, "7.0")
    # a CUDA 13 build was rejected for sm_70, and the file says so
    cuda13 = [r for r in plan.rejected if "cuda 13.0 build" in r.label or "cu130" in r.label]
    assert cuda13 and any("sm_70" in reason for reason in cuda13[0].reasons)
    assert "sm_70" in render(plan)


def test_gtx1080ti_windows_falls_back_to_pip_and_says_why(machines, matrix):
    plan = plan_for(machines, matrix, "gtx1080ti-windows")
    assert plan.subdir == "win-64"  # Windows capture: win-64 is the only Windows subdir
    assert plan.variant == "cuda"
    # the driver supports CUDA 12.1: a 12.x build runs through minor-version compatibility
    assert _cuda(plan)[0] == 12 and plan.requires_cuda == "__cuda>=12"
    assert any("minor-version compatibility" in w for w in plan.why)
    assert _runs_on(plan, "6.1")
    # conda-forge has no torchaudio for win-64: the whole stack comes from pip, and it says so
    assert plan.source == "pip"
    assert plan.fallbacks and "conda-forge" in plan.fallbacks[0]
    assert "torchaudio" in plan.fallbacks[0]
    text = render(plan)
    assert "--index-url https://download.pytorch.org/whl/" in text


def test_rtx5090_gets_a_blackwell_build(machines, matrix):
    plan = plan_for(machines, matrix, "rtx5090")
    assert plan.variant == "cuda"
    assert _cuda(plan) >= (12, 8)
    assert _runs_on(plan, "12.0")


def test_apple_m1_gets_mps_within_its_macos(machines, matrix):
    plan = plan_for(machines, matrix, "apple-m1")
    assert plan.subdir == "osx-arm64" and plan.variant == "mps"
    assert plan.source == "conda-forge"
    # macOS 12.3.1: newer releases only install with warnings about the MPS macOS floor
    newest = max(
        matrix.candidates(subdir="osx-arm64"), key=lambda c: tuple(map(int, c.torch.split(".")))
    )
    assert plan.candidate.torch != newest.torch
    assert any("macOS" in w for w in plan.why)


def test_intel_mac_gets_conda_forge_cpu(machines, matrix):
    plan = plan_for(machines, matrix, "intel-mac")
    assert plan.subdir == "osx-64" and plan.variant == "cpu"
    assert plan.source == "conda-forge"  # pip wheels for x86 macOS ended at 2.2.2
    assert tuple(map(int, plan.candidate.torch.split("."))) > (2, 2, 2)


def test_rtx3050_windows_respects_driver_cuda(machines, matrix):
    plan = plan_for(machines, matrix, "rtx3050-windows")
    assert plan.subdir == "win-64" and plan.variant == "cuda"
    assert _cuda(plan)[0] == 12  # the driver's CUDA 12.3 runs any 12.x build with sm_86 code
    assert _runs_on(plan, "8.6")


def test_cpu_linux_says_no_gpu(machines, matrix):
    plan = plan_for(machines, matrix, "cpu-linux")
    assert plan.subdir == "linux-64" and plan.variant == "cpu" and plan.source == "conda-forge"
    assert any("no GPU was detected" in w for w in plan.why)
    assert any(
        conda_name(s) == "pytorch" and "cpu" in s for s in plan_to_envspec(plan).dependencies
    )


# -- requests ------------------------------------------------------------------------------


def test_explicit_cpu_on_a_gpu_machine(machines, matrix):
    plan = plan_for(machines, matrix, "h100-driver580", backend="cpu")
    assert plan.variant == "cpu"
    assert "CPU build, as asked." in plan.why


def test_pip_source_writes_index_and_local_pins(machines, matrix):
    plan = plan_for(machines, matrix, "h100-driver580", source="pip", torch="2.9")
    spec = plan_to_envspec(plan)
    assert plan.source == "pip"
    assert "pip" in spec.dependencies and f"python={plan.python}" in spec.dependencies
    assert spec.channels == ("conda-forge",)
    if plan.candidate.pip_index:
        assert spec.pip[0] == f"--index-url {plan.candidate.pip_index}"
    pins = [p for p in spec.pip if not p.startswith("-")]
    assert pins[0].startswith("torch==2.9.")
    assert all("==" in p for p in pins)
    doc = loads(render(plan))
    assert list(doc.pip) == list(spec.pip)


@pytest.mark.parametrize(
    ("torch", "backend", "selector", "channels"),
    [
        ("2.5", "cuda", "pytorch-cuda", ("pytorch", "nvidia", "defaults")),
        ("2.5", "cpu", "cpuonly", ("pytorch", "defaults")),
        ("1.12", "cuda=11.3", "cudatoolkit", ("pytorch", "defaults")),
    ],
    ids=["pytorch-cuda", "cpuonly", "cudatoolkit"],
)
def test_pytorch_channel_eras(machines, matrix, torch, backend, selector, channels):
    plan = plan_for(
        machines,
        matrix,
        "h100-driver580",
        source="pytorch",
        torch=torch,
        backend=backend,
        python="3.10",
    )
    spec = plan_to_envspec(plan)
    assert spec.channels == channels
    assert any(conda_name(d) == selector for d in spec.dependencies)
    for pkg, version in (
        ("pytorch", plan.candidate.torch),
        ("torchvision", plan.candidate.torchvision),
    ):
        assert f"{pkg}={version}" in spec.dependencies  # exact pins on the pytorch channel


def test_conda_forge_cuda_selection(machines, matrix):
    plan = plan_for(machines, matrix, "v100-driver580", torch="2.9.1")
    deps = plan_to_envspec(plan).dependencies
    cuda = plan.candidate.backend.cuda_version
    assert f"cuda-version={cuda}" in deps
    assert f"__cuda>={cuda.split('.')[0]}" in deps  # conda-forge's own rule: the major
    torch_line = next(d for d in deps if conda_name(d) == "pytorch")
    assert torch_line.startswith("pytorch=2.9.1=cuda")


def test_python_request_and_default(machines, matrix):
    plan = plan_for(machines, matrix, "h100-driver580", python="3.11")
    assert plan.python == "3.11" and plan.python in plan.candidate.pythons
    with pytest.raises(CondaTorchValueError, match="not a Python version"):
        plan_for(machines, matrix, "h100-driver580", python="three")


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"backend": "rocm"}, "AMD GPU"),
        ({"backend": "mps"}, "MPS"),
        ({"torch": "2.13", "python": "3.8"}, "python"),
    ],
    ids=["rocm-on-nvidia", "mps-on-linux", "old-python"],
)
def test_nothing_fits_says_why(machines, matrix, kw, needle):
    with pytest.raises(IncompatibleError) as err:
        plan_for(machines, matrix, "h100-driver580", **kw)
    assert needle in err.value.line


def test_unknown_platform(machines, matrix):
    with pytest.raises(UnknownPlatformError):
        plan_for(machines, matrix, "h100-driver580", subdir="linux-65")


def test_platform_unknown_without_inputs(matrix):
    from conda_torch.machine import Machine, PlatformInfo

    with pytest.raises(CondaTorchValueError, match="platform"):
        make_plan(Machine(platform=PlatformInfo()), matrix=matrix)


def test_nvidia_smi_paste_without_an_architecture_is_assumed_linux_64(machines, matrix):
    """An nvidia-smi table shows no CPU architecture: linux-64, said as an assumption."""
    plan = make_plan(machines["h100-driver580"], matrix=matrix)
    assert plan.subdir == "linux-64"
    assert plan.notes and "assumed linux-64" in plan.notes[0]
    assert plan.notes[0] in plan.warnings
    assert "Note: the inputs show an NVIDIA GPU but not the CPU architecture" in render(plan)


def test_unverified_release_only_when_asked(machines, matrix):
    default = plan_for(machines, matrix, "h100-driver580")
    unverified = [
        v
        for v in matrix.torch_versions()
        if any(
            u.startswith("release:")
            for c in matrix.candidates(subdir="linux-64", torch=v)
            for u in c.unverified
        )
    ]
    assert unverified, "the dataset has releases marked unverified"
    assert default.candidate.torch not in unverified
    asked = plan_for(machines, matrix, "h100-driver580", torch=unverified[-1])
    assert asked.candidate.torch == unverified[-1]
    assert any("not verified" in f for f in asked.fallbacks)


def test_plan_json(machines, matrix):
    plan = plan_for(machines, matrix, "v100-driver580")
    data = json.loads(json.dumps(plan.to_json()))
    assert data["schema"] == "conda-torch.plan/1"
    assert data["torch"] == plan.candidate.torch and data["python"] == plan.python
    assert data["machine"]["nvidia_driver"] == "580.126.09"
    assert [g["compute_capability"] for g in data["machine"]["gpus"]] == ["7.0", "7.0"]
    assert data["rejected"] and all(r["reasons"] for r in data["rejected"])


def test_header_says_what_it_was_made_for(machines, matrix):
    plan = plan_for(machines, matrix, "h100-driver580")
    text = render(plan)
    head = text.split("-- end of conda-torch header --")[0]
    assert "linux-64" in head and "580.159.04" in head
    assert "NVIDIA H100 80GB HBM3, compute capability 9.0" in head
    assert f"matrix of {matrix.date}" in head and "conda-torch " in head
    # the Needs: line and the __cuda line say the same: any driver for CUDA 13.x (>= 580)
    assert plan.requires_cuda == "__cuda>=13" and plan.min_driver == "580"
    assert "Needs: NVIDIA driver >= 580, any driver for CUDA 13.x (__cuda>=13" in head
    assert "nodefaults" not in text
    assert loads(text).data["variables"]["PYTHONNOUSERSITE"] == "1"


# -- generic machines and environments/ -------------------------------------------------------


@pytest.mark.parametrize(
    ("subdir", "variant"), ALL_TARGETS, ids=[target_filename(*t) for t in ALL_TARGETS]
)
def test_generic_targets(matrix, subdir, variant):
    machine, description = generic_machine(subdir, variant)
    plan = make_plan(
        machine, backend=variant or "auto", subdir=subdir, matrix=matrix, description=description
    )
    assert plan.subdir == subdir and plan.machine.generic
    if variant == "cuda":
        assert plan.variant == "cuda"
        for cc, _ in COMMON_GPU_ARCHS:
            assert _runs_on(plan, cc) or plan.candidate.ptx, cc
        assert "Needs:" in render(plan)  # the driver floor is stated
    elif subdir == "osx-arm64":
        assert plan.variant == "mps"
    else:
        assert plan.variant == "cpu"


def test_environments_folder_has_not_drifted(tmp_path):
    """The committed environments/ equal what tools/regen_environments.py writes today."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("regen", ROOT / "tools" / "regen_environments.py")
    regen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(regen)
    fresh = regen.generate(tmp_path)
    committed = ROOT / "environments"
    assert sorted(p.name for p in committed.glob("*.yml")) == sorted(p.name for p in fresh), (
        "environments/ lists other files: run python tools/regen_environments.py"
    )
    for path in fresh:
        assert (committed / path.name).read_text(encoding="utf-8") == path.read_text(
            encoding="utf-8"
        ), f"environments/{path.name} drifted: run python tools/regen_environments.py and commit"


def test_files_written_without_ruamel_match_ruamel(machines, matrix):
    """``envfile.dump`` writes a plain file itself (no ruamel.yaml import: it would double
    generate's start-up); the text must be ruamel's, character for character."""
    from conda_torch import envfile

    written = 0
    for key in MACHINES:
        for source in (None, "pip", "conda-forge", "pytorch"):
            try:
                plan = plan_for(machines, matrix, key, source=source)
            except (CondaTorchValueError, IncompatibleError):
                continue
            spec = plan_to_envspec(plan)
            plain = envfile._dump_plain(spec)
            assert plain is not None, spec  # what generate writes is plain words
            assert plain == envfile._dump_ruamel(spec), spec
            written += 1
    assert written >= len(MACHINES)
