"""``conda_torch.validate`` against real interpreters with a real torch 2.13.0 (CPU).

The environments are real virtual environments made by the tests (``tests/helpers/venvs.py``);
the breakage is real too: PyPI's torchvision beside the CPU torch, a torch shadowed through
PYTHONPATH, provenance asking for what is not there.
"""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from conda_torch import provenance as prov
from conda_torch.exceptions import ProbeError
from conda_torch.validate import (
    CHECK_IDS,
    PROBE,
    arch_verdict,
    cudnn_words,
    run_probe,
    validate,
)

from .helpers import venvs as tv

if TYPE_CHECKING:
    from conda_torch.validate import (
        Report,
    )

torch_mark = pytest.mark.torch

H100_ARCHS = [
    "sm_75",
    "sm_80",
    "sm_86",
    "sm_90",
    "sm_100",
    "sm_120",
]  # torch 2.11.0+cu130, fixtures


def statuses(report: Report) -> dict[str, str]:
    return {c.id: c.status for c in report.checks}


# -- session reports (each validate run imports torch: seconds, so each scenario runs once) ---


@pytest.fixture(scope="session")
def plain(session_torch_venv: Path) -> Report:
    prefix = session_torch_venv
    return validate(python=tv.venv_python(prefix), prefix=prefix)


@pytest.fixture(scope="session")
def vision(vision_venv: Path) -> Report:
    prefix = vision_venv
    return validate(python=tv.venv_python(prefix), prefix=prefix)


@pytest.fixture(scope="session")
def mispaired(mispaired_vision_venv: Path) -> Report:
    prefix = mispaired_vision_venv
    return validate(python=tv.venv_python(prefix), prefix=prefix)


@pytest.fixture(scope="session")
def shadowed(session_torch_venv: Path, fake_torch_dir: Path) -> tuple[Report, Path]:
    prefix = session_torch_venv
    fake = fake_torch_dir
    env = {**os.environ, "PYTHONPATH": str(fake)}
    return validate(python=tv.venv_python(prefix), prefix=prefix, environ=env), fake


def _plan(**over: object) -> dict[str, object]:
    plan: dict[str, object] = {
        "torch": tv.TORCH,
        "torchvision": None,
        "torchaudio": None,
        "python": f"{sys.version_info[0]}.{sys.version_info[1]}",
        "backend": "cpu",
        "source": "pip",
        "channels": ["conda-forge"],
        "subdir": "linux-64",
    }
    plan.update(over)
    return plan


@pytest.fixture(scope="session")
def planned_wrong(tmp_path_factory: pytest.TempPathFactory, session_torch_venv: Path) -> Report:
    """Provenance that plans CUDA 12.9 and torchaudio 2.11.0; a conda record duplicates torch."""
    prefix = tv.conda_like(tmp_path_factory, session_torch_venv, "planned-wrong")
    prov.write(
        prefix,
        plan=_plan(backend="cu129", torchaudio="2.11.0"),
        environment_file="name: x\ndependencies: []\n",
    )
    tv.conda_record(prefix, "pytorch", tv.TORCH, "cpu_generic_py311_h0_0", "conda-forge")
    return validate(python=tv.venv_python(prefix), prefix=prefix, provenance=prov.read(prefix))


@pytest.fixture(scope="session")
def planned_right(tmp_path_factory: pytest.TempPathFactory, session_torch_venv: Path) -> Report:
    prefix = tv.conda_like(tmp_path_factory, session_torch_venv, "planned-right")
    prov.write(prefix, plan=_plan(), environment_file="name: x\ndependencies: []\n")
    return validate(python=tv.venv_python(prefix), prefix=prefix, provenance=prov.read(prefix))


# -- (a) torch alone -------------------------------------------------------------------------


@torch_mark
@pytest.mark.parametrize(
    ("check_id", "status"),
    [
        ("torch-import", "pass"),
        ("torchvision-import", "warn"),
        ("torchaudio-import", "warn"),
        ("build-agreement", "pass"),
        ("shadowing", "pass"),
        ("single-copy", "pass"),
        ("device-cpu", "pass"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_torch_alone(plain: Report, check_id: str, status: str):
    assert statuses(plain)[check_id] == status, plain.check(check_id)


@torch_mark
def test_torch_alone_is_ok_and_reports_what_it_saw(plain: Report):
    assert plain.ok
    torch = plain.check("torch-import")
    assert torch is not None and f"torch {tv.TORCH}+cpu (CPU)" in torch.message
    assert torch.ms is not None and torch.ms > 0
    assert "not installed" in plain.check("torchvision-import").message
    assert plain.check("device-cpu").ms is not None
    assert plain.facts["torch"]["version"] == f"{tv.TORCH}+cpu"
    assert plain.facts["torch"]["cuda"] is None
    # No GPU, no driver here: no CUDA check can fail, and none that needs a device is made.
    assert not [
        c
        for c in plain.checks
        if c.id.startswith(("device-cuda", "gpu-arch", "cudnn", "driver")) and c.status == "fail"
    ]
    assert plain.check("torchvision-ops") is None  # nothing to check without torchvision
    assert all(c.id.split(":")[0] in CHECK_IDS for c in plain.checks)
    assert plain.probe_ms is not None and plain.ms is not None and plain.ms >= plain.probe_ms


@torch_mark
def test_report_json_round_trips(plain: Report):
    import json

    doc = json.loads(json.dumps(plain.to_json()))
    assert doc["schema"] == "conda-torch.validate/1"
    assert doc["success"] is True
    assert doc["summary"]["fail"] == 0
    assert [c["id"] for c in doc["checks"]] == [c.id for c in plain.checks]
    assert doc["facts"]["python"]["prefix"] == str(plain.prefix)


# -- (b) PyPI's torchvision beside the CPU torch ------------------------------------------------


@torch_mark
@pytest.mark.parametrize("check_id", ["torchvision-import", "torchvision-ops"])
def test_pypi_torchvision_fails_with_the_operator_error(vision: Report, check_id: str):
    check = vision.check(check_id)
    assert check is not None and check.status == "fail"
    assert "operator torchvision::nms does not exist" in check.message
    assert check.fix is not None
    assert f"torchvision=={tv.TORCHVISION_FROM_PYPI}" in check.fix
    assert check.fix.endswith("--index-url https://download.pytorch.org/whl/cpu")
    assert str(tv.venv_python(Path(vision.prefix))) in check.fix


@torch_mark
def test_pypi_torchvision_is_a_cuda_build_beside_cpu_torch(vision: Report):
    check = vision.check("build-agreement")
    assert check is not None and check.status == "fail"
    assert "CUDA 13.0 torchvision beside a CPU torch" in check.message
    assert vision.facts["torchvision"]["version"] == f"{tv.TORCHVISION_FROM_PYPI}+cu130"
    assert not vision.ok
    assert statuses(vision)["torch-import"] == "pass"


@torch_mark
def test_torchvision_for_another_torch_does_not_pair(mispaired: Report):
    check = mispaired.check("pairing")
    assert check is not None
    if check.message.startswith("matrix unavailable"):
        pytest.fail(check.message)
    assert check.status == "fail"
    assert f"torchvision {tv.TORCHVISION_MISPAIRED}" in check.message
    assert tv.TORCHVISION_FROM_PYPI in check.message  # the matrix names the one that pairs
    assert check.fix == f"conda torch recreate -p {mispaired.prefix}"


# -- (c) torch shadowed through PYTHONPATH --------------------------------------------------------


@torch_mark
def test_pythonpath_shadowing_fails(shadowed: tuple[Report, Path]):
    report, fake = shadowed
    check = report.check("shadowing")
    assert check is not None and check.status == "fail"
    assert str(fake) in check.message and "PYTHONPATH" in check.message
    assert check.fix == "unset PYTHONPATH"
    assert report.facts["torch"]["version"] == "0.0.1"
    assert not report.ok
    # The real torch is still the only installed copy: shadowing is not duplication.
    assert statuses(report)["single-copy"] == "pass"


# -- (d) provenance ----------------------------------------------------------------------------


@torch_mark
def test_missing_planned_torchaudio_fails(planned_wrong: Report):
    check = planned_wrong.check("torchaudio-import")
    assert check is not None and check.status == "fail"
    assert "torchaudio 2.11.0 is planned" in check.message
    assert check.fix is not None and "torchaudio==2.11.0" in check.fix


@torch_mark
def test_cpu_build_where_cu129_was_planned_fails(planned_wrong: Report):
    check = planned_wrong.check("planned-build")
    assert check is not None and check.status == "fail"
    assert "planned CUDA 12.9 build, found CPU" in check.message
    assert check.fix == f"conda torch recreate -p {planned_wrong.prefix}"


@torch_mark
def test_pip_torch_over_a_conda_record_is_two_copies(planned_wrong: Report):
    check = planned_wrong.check("single-copy")
    assert check is not None and check.status == "fail"
    assert "conda pytorch 2.13.0" in check.message and "(pip)" in check.message


@torch_mark
def test_matching_provenance_passes(planned_right: Report):
    s = statuses(planned_right)
    assert s["planned-build"] == "pass"
    # Not installed and not planned: not even a warning.
    assert s["torchvision-import"] == s["torchaudio-import"] == "pass"
    assert planned_right.ok
    assert planned_right.provenance is not None and planned_right.provenance.endswith(
        prov.RELPATH.name
    )


@pytest.fixture(scope="session")
def planned_series(vision_venv: Path) -> Report:
    """A conda-forge plan records companions as a series (``0.28.*``), as generate writes them."""
    prefix = vision_venv
    plan = _plan(source="conda-forge", torchvision="0.28.*", torchaudio=None)
    doc = prov.Provenance(
        path=prefix / "conda-torch.provenance",
        conda_torch_version="0",
        created="",
        environment_file="dependencies: []\n",
        plan=plan,
    )
    return validate(python=tv.venv_python(prefix), prefix=prefix, provenance=doc)


@torch_mark
def test_a_planned_series_takes_the_installed_release(planned_series: Report):
    """``torchvision 0.28.*`` is what conda installs as 0.28.0 (issue 11): not a mismatch."""
    check = planned_series.check("planned-build")
    assert check is not None and check.status == "pass", check.message
    # the installed torchvision really is 0.28.0 (PyPI's build, whose operators fail here)
    assert planned_series.facts["torchvision"]["version"].startswith("0.28.0")


# -- without torch, and bad interpreters (no torch import: fast) ---------------------------------


def test_environment_without_torch_fails_torch_import(bare_venv: Path):
    prefix = bare_venv
    report = validate(python=tv.venv_python(prefix), prefix=prefix)
    assert report.torch_missing and not report.ok
    check = report.check("torch-import")
    assert check is not None and check.status == "fail" and check.fix
    assert "torch is not installed" in check.message
    assert [c.id for c in report.checks] == [
        "torch-import",
        "torchvision-import",
        "torchaudio-import",
        "single-copy",
    ]


def test_missing_python_is_a_probe_error(tmp_path: Path):
    with pytest.raises(ProbeError, match="cannot run Python"):
        run_probe(tmp_path / "nope" / "python")


def test_a_python_that_does_not_answer_is_a_probe_error(tmp_path: Path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'not python' >&2\nexit 3\n", encoding="utf-8")
    fake.chmod(0o755)
    with pytest.raises(ProbeError, match="not python"):
        run_probe(fake)


# -- the probe itself -------------------------------------------------------------------------


def test_probe_is_python_3_8_syntax_and_stdlib_only():
    tree = ast.parse(PROBE.read_text(encoding="utf-8"), feature_version=(3, 8))
    imported = {
        a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    imported |= {
        n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
    }
    assert not {m for m in imported if m not in sys.stdlib_module_names and m != "__future__"}
    assert "conda_torch" not in imported


def test_probe_runs_in_a_python_without_torch():
    facts = run_probe(sys.executable, environ={**os.environ, "PYTHONPATH": ""})
    assert facts["schema"] == "conda-torch.probe/1"
    assert facts["python"]["executable"]
    # The probe's own folder must not be importable from inside it.
    assert str(PROBE.parent) not in facts["python"]["path"]


# -- the rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("capability", "arch_list", "status", "words"),
    [
        ((9, 0), H100_ARCHS, "pass", "sm_90 is in the build"),
        ((8, 9), H100_ARCHS, "pass", "runs the build's sm_86 code"),
        ((12, 1), H100_ARCHS, "pass", "runs the build's sm_120 code"),
        ((6, 1), H100_ARCHS, "fail", "sm_61 is not in the build's architectures"),
        ((9, 0), ["sm_80", "compute_80"], "warn", "JIT-compiles compute_80"),
        ((9, 0), ["sm_90a"], "pass", "sm_90 is in the build"),
        ((9, 1), ["sm_90a"], "fail", "not in the build"),
        ((8, 0), ["sm_86", "compute_86"], "fail", "not in the build"),
        ((10, 3), ["sm_100", "sm_120"], "pass", "sm_100 code"),
    ],
    ids=[
        "h100",
        "ada-on-ampere-cubin",
        "sm121-on-sm120",
        "pascal-dropped",
        "ptx-only",
        "arch-specific-exact",
        "arch-specific-not-forward",
        "older-gpu-than-every-cubin",
        "blackwell-b300",
    ],
)
def test_arch_verdict(capability: tuple[int, int], arch_list: list[str], status: str, words: str):
    got_status, text = arch_verdict(capability, arch_list)
    assert got_status == status
    assert words in text


@pytest.mark.parametrize(
    ("value", "words"),
    [(91900, "9.19.0"), (90100, "9.1.0"), (8902, "8.9.2"), (7605, "7.6.5")],
    ids=["9.19", "9.1", "8.9.2", "7.6.5"],
)
def test_cudnn_words(value: int, words: str):
    assert cudnn_words(value) == words
