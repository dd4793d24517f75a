"""conda_torch.compat: the driver rule and the GPU-architecture rule, each defined once.

Sources for the expectations:

* binary/PTX compatibility: the CUDA C++ Programming Guide, "Binary Compatibility" and "PTX
  Compatibility" (https://docs.nvidia.com/cuda/cuda-c-programming-guide/#binary-compatibility);
* minor-version compatibility: NVIDIA's CUDA Compatibility guide
  (https://docs.nvidia.com/deploy/cuda-compatibility/#minor-version-compatibility): 12.x on
  Linux drivers >= 525.60.13, 11.x on >= 450.80.02, 13.x on >= 580; no PTX JIT of newer PTX;
* the arch list of a real torch 2.11.0+cu130 measured on an H100
  (tests/data/fixtures/torch-runtime/h100-cu130-torch2.11.0.txt): sm_75 … sm_120, no PTX.
"""

from __future__ import annotations

import pytest

from conda_torch import compat

H100_CU130 = ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]


@pytest.mark.parametrize(
    ("capability", "archs", "how", "via"),
    [
        ("9.0", H100_CU130, "sass", "sm_90"),  # H100 on the measured build
        ("7.0", H100_CU130, None, None),  # V100: CUDA 13 builds start at sm_75
        ("8.9", H100_CU130, "sass", "sm_86"),  # Ada runs Ampere's sm_86 cubin
        ("12.1", H100_CU130, "sass", "sm_120"),  # GB10 (DGX Spark) runs sm_120
        ("10.3", ["sm_100a"], None, None),  # arch-specific: 10.0 alone
        ("10.0", ["sm_100a"], "sass", "sm_100a"),
        ("10.3", ["sm_100f"], "sass", "sm_100f"),  # family: same major onwards
        ("12.0", ["sm_90", "compute_90"], "ptx", "compute_90"),  # PTX JIT to a newer major
        ("8.0", ["sm_90", "compute_90"], None, None),  # PTX never runs on an older GPU
        ("9.0", ["5.0", "8.0", "9.0+PTX"], "sass", "sm_90"),  # build-script spelling
        ("12.0", ["5.0", "8.0", "9.0+PTX"], "ptx", "compute_90"),
        ("7.5", ["7.0"], "sass", "sm_70"),
        ("6.1", [], None, None),
    ],
)
def test_arch_coverage(capability: str, archs: list[str], how: str | None, via: str | None):
    cov = compat.arch_coverage(capability, archs)
    assert cov.how == how
    assert (str(cov.via) if cov.via else None) == via


def test_arch_coverage_takes_the_matrix_ptx_field():
    assert compat.arch_coverage("12.0", ["7.5", "9.0"], ptx="9.0").how == "ptx"
    assert compat.arch_coverage((12, 0), ["7.5", "9.0"]).how is None


def test_arch_span():
    assert compat.arch_span(H100_CU130) == "sm_75-sm_120"
    assert compat.arch_span(["5.0", "9.0+PTX"]) == "sm_50-sm_90 + compute_90 PTX"
    assert compat.arch_span([]) == "none recorded"


FLOORS_129 = {"floor": "575.51.03", "compat_floor": "525.60.13"}


@pytest.mark.parametrize(
    ("build", "kwargs", "runs", "mode"),
    [
        # the driver reports CUDA 12.2 (535): a 12.9 build runs through minor-version compat
        ("12.9", {"driver_cuda": "12.2", **FLOORS_129}, True, "minor"),
        ("12.9", {"driver_cuda": "12.2", "needs_jit": True, **FLOORS_129}, False, None),
        ("12.9", {"driver_cuda": "13.0", **FLOORS_129}, True, "full"),
        ("13.0", {"driver_cuda": "12.4"}, False, None),  # another major
        # only the driver version known: compare with the floors
        ("12.9", {"driver": "535.54.03", **FLOORS_129}, True, "minor"),
        ("12.9", {"driver": "580.65.06", **FLOORS_129}, True, "full"),
        ("12.9", {"driver": "520.61.05", **FLOORS_129}, False, None),
        ("12.9", {"driver": "535.54.03", "needs_jit": True, **FLOORS_129}, False, None),
        # 11.x: a 450.51 driver reports CUDA 11.0 but is below 11.x's compat floor 450.80.02
        (
            "11.8",
            {"driver": "450.51.05", "driver_cuda": "11.0", "compat_floor": "450.80.02"},
            False,
            None,
        ),
        # before CUDA 11 there is no minor-version compatibility: a 10.2 build needs 10.2
        ("10.2", {"driver_cuda": "10.1"}, False, None),
        ("12.9", {}, None, None),  # nothing known
        # no minor-version compatibility before CUDA 11: a 10.2 build on a 10.0 driver (K80)
        ("10.2", {"driver_cuda": "10.0", "driver": "410.104"}, False, None),
        ("10.2", {"driver": "430.50", "floor": "440.33"}, False, None),
        ("13.0", {"driver": "581.15"}, None, None),  # Windows 13.x: no published floor
    ],
)
def test_driver_support(build: str, kwargs: dict, runs: bool | None, mode: str | None):
    got = compat.driver_support(build, **kwargs)
    assert (got.runs, got.mode) == (runs, mode), got.reason
    if got.minor_compat:
        assert "minor-version compatibility" in got.reason


def test_cuda_requirement():
    assert compat.cuda_requirement("12.9") == "__cuda>=12"
    assert compat.cuda_requirement("12.9", needs_jit=True) == "__cuda>=12.9"
    assert compat.cuda_requirement("13.0") == "__cuda>=13"


@pytest.mark.parametrize("text", ["sm_90", "compute_120", "9.0", "12.0+PTX", "sm_100a", "10.0f"])
def test_parse_arch_round_trip(text: str):
    parsed = compat.parse_arch(text)
    assert parsed and all(a.major >= 5 for a in parsed)


def test_parse_arch_ignores_unknown_text():
    assert compat.parse_arch("gfx90a") == ()
    assert compat.parse_arch("") == ()
