"""Generated files solve where the real channels would solve them, and fail where they would fail.

The channels are stand-ins generated from the channels' own per-build data (``tests/helpers/standin.py``
from ``data/conda-forge/builds.yaml`` and ``data/pytorch-channel/builds.yaml``): every build
declares its pytorch pin, its ``cuda-version`` range, its Python and its ``__cuda``/``__glibc``
/``__osx`` requirements as the real build does. The solver is the real conda (classic solver,
``--dry-run``), with conda's own ``CONDA_SUBDIR`` and ``CONDA_OVERRIDE_*`` for the platform and
the driver solved for. Skipped where no conda is found.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conda_torch.envfile import loads
from conda_torch.matrix import load as load_matrix
from conda_torch.plan import generic_machine, make_plan
from conda_torch.prepare import ALL_TARGETS
from conda_torch.render import file_text as render
from conda_torch.specs import conda_name

from .helpers import standin
from .helpers.realconda import require_conda
from .helpers.solve import Solver

pytestmark = pytest.mark.conda

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def solver(tmp_path_factory) -> Solver:
    conda = require_conda()
    root = tmp_path_factory.mktemp("standins")
    urls = {"conda-forge": standin.conda_forge(root)}
    urls.update(standin.pytorch_channel(root))
    return Solver(conda.exe, root, urls)


def override_for(text: str) -> str | None:
    """The ``CONDA_OVERRIDE_CUDA`` a machine that the file targets has: its ``__cuda`` floor."""
    for d in loads(text).dependencies:
        if isinstance(d, str) and conda_name(d) == "__cuda":
            need = d.split(">=", 1)[1]
            return need if "." in need else f"{need}.0"
    return None


def stack(found: dict[str, Any]) -> dict[str, str]:
    return {n: found[n]["version"] for n in ("pytorch", "torchvision", "torchaudio") if n in found}


@pytest.mark.parametrize("path", sorted((ROOT / "environments").glob("*.yml")), ids=lambda p: p.name)
def test_every_committed_environment_solves(solver: Solver, path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    subdir = path.stem.rsplit("-", 1)[0] if path.stem.endswith(("-cpu", "-cuda")) else path.stem
    ok, found = solver.solve(text, subdir, cuda=override_for(text))
    assert ok, found
    doc = loads(text)
    for d in doc.dependencies:
        if isinstance(d, str) and conda_name(d) in ("pytorch", "torchvision", "torchaudio"):
            assert conda_name(d) in found, d


SOURCES = ("conda-forge", "pip", "pytorch")


def default_targets() -> list[tuple[str, str | None, str]]:
    return [(s, v, src) for s, v in ALL_TARGETS for src in SOURCES]


@pytest.mark.parametrize(
    ("subdir", "variant", "source"),
    default_targets(),
    ids=[f"{s}-{v or 'default'}-{src}" for s, v, src in default_targets()],
)
def test_default_file_for_every_platform_backend_and_source(
    solver: Solver, subdir: str, variant: str | None, source: str
) -> None:
    machine, description = generic_machine(subdir, variant)
    from conda_torch.exceptions import IncompatibleError

    try:
        plan = make_plan(
            machine,
            backend=variant or "auto",
            source=source,
            subdir=subdir,
            description=description,
            matrix=load_matrix(),
        )
    except IncompatibleError as exc:
        # the source has no build for this target at all (the pytorch channel has no
        # linux-aarch64, pip no osx-64 after 2.2.2 ...): said, not written
        pytest.skip(f"no {source} build: {exc.line}")
    text = render(plan)
    ok, found = solver.solve(text, subdir, cuda=override_for(text))
    assert ok, (plan.label(), found)
    if source != "pip":
        got = stack(found)
        assert got.get("pytorch") == plan.candidate.torch
        for package in ("torchvision", "torchaudio"):
            want = getattr(plan.candidate, package)
            if want:
                assert got.get(package) == want, (package, got)
    if source == "pytorch" and subdir in ("linux-64", "osx-64"):
        # the open-ended "mkl >=2018" is capped: the stand-in's mkl 2024.2 is not taken
        assert found["mkl"]["version"].startswith("2024.0"), found["mkl"]


# -- the facts behind the rules, each failing where the real solve fails -----------------------


def file_with(channels: list[str], *deps: str) -> str:
    lines = ["channels:", *(f"  - {c}" for c in channels), "dependencies:"]
    return "\n".join([*lines, *(f"  - {d}" for d in deps)]) + "\n"


def test_conda_forge_torchaudio_2_11_needs_pytorch_2_10(solver: Solver) -> None:
    """torchaudio-feedstock cc9368e9 .ci_support: ``pytorch: '2.10'``; pytorch's run_exports
    pin it to that minor. The file the old generator wrote (pytorch 2.13 + torchaudio 2.11.*)
    does not solve; pytorch 2.10 + torchaudio 2.11.0 does."""
    bad = file_with(["conda-forge"], "python=3.13", "pytorch=2.13.0=cpu*", "torchaudio=2.11.*")
    ok, message = solver.solve(bad, "linux-64")
    assert not ok, message
    good = file_with(["conda-forge"], "python=3.13", "pytorch=2.10.0=cpu*", "torchaudio=2.11.0")
    ok, found = solver.solve(good, "linux-64")
    assert ok and stack(found)["torchaudio"] == "2.11.0", found


def test_win64_torchvision_cuda_version_comes_from_its_own_compiler(solver: Solver) -> None:
    """win-64 torchvision CUDA builds for pytorch 2.7-2.12 were compiled with nvcc 12.9
    (torchvision-feedstock .ci_support/win_64_cuda_compiler_version12.9*), pytorch's with 12.8:
    ``cuda-version=12.8`` (the old environments/win-64-cuda.yml) does not solve, 12.9 does."""
    deps = ("python=3.12", "pytorch=2.9.1=cuda128*", "torchvision=0.24.*=cuda*")
    ok, message = solver.solve(
        file_with(["conda-forge"], *deps, "cuda-version=12.8"), "win-64", cuda="12.8"
    )
    assert not ok, message
    ok, found = solver.solve(
        file_with(["conda-forge"], *deps, "cuda-version=12.9"), "win-64", cuda="12.8"
    )
    assert ok, found


@pytest.mark.parametrize(
    ("line", "driver_cuda", "solves"),
    [
        ("__cuda>=12", "12.2", True),  # driver 535: minor-version compatibility
        ("__cuda>=12.9", "12.2", False),  # the old generator's line refused it
        ("__cuda>=12", "11.8", False),  # another major
    ],
    ids=["major-on-535", "full-on-535", "major-on-11.8"],
)
def test_cuda_version_constrains_only_the_major(
    solver: Solver, line: str, driver_cuda: str, solves: bool
) -> None:
    """cuda-version-feedstock recipe/meta.yaml: ``run_constrained: __cuda >={{ major }}``: a
    CUDA 12.9 build installs on a driver for CUDA 12.2; the file's own line decides the rest."""
    text = file_with(
        ["conda-forge"],
        "python=3.12",
        "pytorch=2.10.0=cuda129*",
        "cuda-version=12.9",
        line,
    )
    ok, found = solver.solve(text, "linux-64", cuda=driver_cuda)
    assert ok is solves, found


def _capture(tmp_path: Path, rel: str) -> str:
    from .helpers.paths import FIXTURES, read_fixture

    path = tmp_path / Path(rel).name
    path.write_text(read_fixture(FIXTURES / rel)[1], encoding="utf-8")
    return str(path)


def test_h100_on_driver_535_gets_a_cuda12_file_conda_accepts(solver: Solver, tmp_path) -> None:
    """The issue's H100 on driver 535 (CUDA 12.2): a CUDA 12 build of torch >= 2.10 with sm_90,
    and a file conda accepts with that driver's __cuda."""
    from conda_torch.detect import Description, detect

    machine = detect(
        from_files=[_capture(tmp_path, "nvidia-smi/h100-80gb-hbm3-580.159.04-cuda13.0-vm.txt")],
        environ={},
        describe=Description(driver_version="535.129.03", cuda_version="12.2"),
    )
    plan = make_plan(machine, subdir="linux-64")
    c = plan.candidate
    assert c.backend.cuda_version.startswith("12.") and plan.requires_cuda == "__cuda>=12"
    assert tuple(map(int, c.torch.split(".")[:2])) >= (2, 10)
    assert any(a in ("9.0", "9.0+PTX") for a in c.gpu_archs)
    ok, found = solver.solve(render(plan), "linux-64", cuda="12.2")
    assert ok, found


def test_v100_on_driver_525_gets_a_build_with_sm70(solver: Solver, tmp_path) -> None:
    from conda_torch.detect import Description, detect

    machine = detect(
        from_files=[_capture(tmp_path, "nvidia-smi/v100-sxm2-x2-580.126.09-cuda13.0.txt")],
        environ={},
        describe=Description(driver_version="525.85.12", cuda_version="12.0"),
    )
    plan = make_plan(machine, subdir="linux-64")
    assert "7.0" in plan.candidate.gpu_archs
    assert plan.requires_cuda == "__cuda>=12"
    ok, found = solver.solve(render(plan), "linux-64", cuda="12.0")
    assert ok, found
