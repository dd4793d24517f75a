"""generate/matrix, validate and doctor give the same verdict on every fixture machine.

The driver rule and the GPU-architecture rule are defined once (``conda_torch.compat``); this
walks every real NVIDIA capture in the fixtures that shows a GPU's compute capability, and for
a set of conda-forge CUDA builds asks the three places that judge hardware:

* the matrix (``Matrix.evaluate``: what ``generate`` and ``matrix --explain`` rank);
* validate (its ``driver`` and ``gpu-arch`` checks, from the facts its probe would report on
  that machine: the build's CUDA and arch list, the GPUs' capabilities, the driver's CUDA);
* doctor (its ``driver-too-old`` and ``arch-missing`` findings for an environment holding that
  build, on that machine).

All three must say the build runs, or all three that it does not.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conda_torch import compat, validate, values
from conda_torch.detect import detect
from conda_torch.doctor import diagnose
from conda_torch.machine import PlatformInfo
from conda_torch.matrix import Candidate, load

from .helpers.paths import FIXTURES
from .helpers.prefixes import clean_env, conda_torch_prefix

M = load()

#: (torch, CUDA) of conda-forge linux-64 builds whose companions' arch lists equal torch's.
BUILDS = (("2.10.0", "12.9"), ("2.10.0", "13.0"), ("2.13.0", "12.9"), ("2.6.0", "12.6"))


def nvidia_machines() -> list[tuple[str, object]]:
    out = []
    for path in sorted((FIXTURES).glob("nvidia-smi*/*.txt")):
        try:
            m = detect(from_files=[str(path)], environ={})
        except Exception:  # noqa: BLE001 - a capture that is an error message, not a machine
            continue
        gpus = m.visible_nvidia_gpus
        if not gpus or not all(g.compute_capability for g in gpus):
            continue
        if m.nvidia is None or not m.nvidia.cuda_version:
            continue
        m = values.replace(m, platform=PlatformInfo(subdir="linux-64", os="linux"))
        out.append((f"{path.parent.name}/{path.stem}", m))
    return out


MACHINES = nvidia_machines()


def candidate(torch: str, cuda: str) -> Candidate:
    (c,) = M.candidates(
        subdir="linux-64", source="conda-forge", torch=torch, backend=f"cuda={cuda}"
    )
    return c


def companions_cover_like_torch(c: Candidate, machine) -> bool:
    """Whether every GPU runs the companions' own CUDA code exactly as it runs torch's (the
    probe sees torch's arch list only; the matrix also checks torchvision's)."""
    for g in machine.visible_nvidia_gpus:
        torch_cov = compat.arch_coverage(g.compute_capability, c.gpu_archs, c.ptx).how
        for _package, archs, ptx in c.companion_archs:
            if compat.arch_coverage(g.compute_capability, archs, ptx).how != torch_cov:
                return False
    return True


def test_the_walk_covers_many_machines():
    assert len(MACHINES) >= 20, [k for k, _ in MACHINES]


@pytest.mark.parametrize(("key", "machine"), MACHINES, ids=[k for k, _ in MACHINES])
@pytest.mark.parametrize(("torch", "cuda"), BUILDS, ids=[f"{t}-cu{c}" for t, c in BUILDS])
def test_matrix_validate_and_doctor_agree(tmp_path: Path, key, machine, torch, cuda):
    c = candidate(torch, cuda)
    assert companions_cover_like_torch(c, machine), "pick builds whose lists agree on the GPUs"
    verdict = next(
        v
        for v in M.evaluate(machine, subdir="linux-64", source="conda-forge", torch=torch)
        if v.candidate.backend == c.backend
    )
    matrix_runs = verdict.accepted

    # validate: the facts its probe reports for this torch on this machine
    arch_list = [f"sm_{a.replace('.', '')}" for a in c.gpu_archs]
    if c.ptx:
        arch_list.append(f"compute_{c.ptx.replace('.', '')}")
    devices = [
        {
            "index": i,
            "name": g.name,
            "capability": [int(x) for x in g.compute_capability.split(".")],
        }
        for i, g in enumerate(machine.visible_nvidia_gpus)
    ]
    facts = {
        "torch": {
            "installed": True,
            "imported": True,
            "version": torch,
            "cuda": cuda,
            "arch_list": arch_list,
        },
        "devices": {"cuda_devices": devices},
        "driver": {"cuda": machine.nvidia.cuda_version},
    }
    ctx = validate._Context(
        facts=facts, python="python", prefix=None, name=None, provenance=None, matrix=M
    )
    checks = {c.id: c.status for c in validate.derive_checks(ctx) if c.id in ("driver", "gpu-arch")}
    assert set(checks) == {"driver", "gpu-arch"}
    validate_runs = "fail" not in checks.values()

    # doctor: an environment holding this build, on this machine
    build = f"cuda{cuda.replace('.', '')}_generic_py311_h1_200"
    prefix = conda_torch_prefix(tmp_path / "env", build=build, version=torch)
    d = diagnose(prefix=prefix, run_probe=False, machine=machine, environ=clean_env(), matrix=M)
    doctor_runs = not any(
        f.severity == "error" for f in d.findings if f.id in ("driver-too-old", "arch-missing")
    )

    assert matrix_runs == validate_runs == doctor_runs, (
        key,
        verdict.reasons,
        checks,
        [(f.id, f.message) for f in d.findings],
    )
