"""``conda torch doctor --from``: diagnosing pasted reports (issue 13).

Every report in tests/data/reports is a real paste whose cause its thread established; the
diagnosis runs on each (the paste only: the file's header, which names the cause, is cut off)
and the corpus-wide rates are asserted against the issue's targets. A few clear cases are
checked finding by finding, and the command is run as a user runs it, on files, on standard
input and on bad input.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from conda_torch.detect.captures import Capture
from conda_torch.exceptions import InputFileError
from conda_torch.findings import CAUSES, SEVERITIES
from conda_torch.paste import FINDINGS, diagnose_texts

from .helpers.paths import REPORT_FILES, ROOT, read_fixture

if TYPE_CHECKING:
    from pathlib import Path

#: issue 13, "Done when".
FIRST_ERROR_TARGET = 0.80
AMONG_TARGET = 0.90
DETECT_TARGET = 0.90


def _body(path: Path) -> str:
    return read_fixture(path)[1]


def _cause(path: Path) -> str:
    return read_fixture(path)[0]["cause"]


def _report(name: str) -> Path:
    found = [p for p in REPORT_FILES if p.name.startswith(name)]
    assert len(found) == 1, name
    return found[0]


@pytest.fixture(scope="module")
def diagnoses() -> dict[str, object]:
    return {p.name: diagnose_texts([(p.name, _body(p))]) for p in REPORT_FILES}


def run_cli(*args: str, stdin: str | bytes | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m conda_torch ARGS`` with this checkout, as a user runs it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    data = stdin.encode() if isinstance(stdin, str) else stdin
    proc = subprocess.run(
        [sys.executable, "-m", "conda_torch", *args],
        input=data if data is not None else b"",
        capture_output=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode()
    )


# -- every report ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", REPORT_FILES, ids=lambda p: p.stem)
def test_every_report_gets_a_well_formed_diagnosis(path: Path, diagnoses: dict) -> None:
    d = diagnoses[path.name]
    body_lines = set(Capture.from_text(_body(path)).plain)
    assert d.findings, "every paste gets at least one finding (a cause, a symptom or a verdict)"
    for f in d.findings:
        assert f.severity in SEVERITIES
        assert f.cause is None or f.cause in CAUSES
        assert f.message and "\n" not in f.message
        assert re.fullmatch(r"[a-z][a-z0-9-]*", f.id)
        for line in f.evidence:
            assert line in body_lines, f"{f.id} quotes a line the paste does not have: {line!r}"
        if f.severity == "error":
            assert f.evidence, f"{f.id}: an error quotes what it rests on"
            assert f.fix, f"{f.id}: an error says how to fix it"
    if _cause(path) == "healthy":
        assert d.ok, [f.id for f in d.findings if f.severity == "error"]
    json.dumps(d.to_json())  # serialisable


def test_corpus_rates_meet_the_targets(diagnoses: dict) -> None:
    """First error names the established cause for >= 80% of the reports, the cause is among
    the findings for >= 90% (for a healthy report: no error), no healthy report has an error."""
    first = among = 0
    healthy_with_errors = []
    misses = []
    for path in REPORT_FILES:
        d = diagnoses[path.name]
        want = _cause(path)
        errors = [f for f in d.findings if f.severity == "error"]
        got = errors[0].cause if errors else "healthy"
        first += got == want
        if want == "healthy":
            among += not errors
            if errors:
                healthy_with_errors.append(path.name)
        else:
            among += want in {f.cause for f in d.findings}
        if got != want:
            misses.append(f"{path.stem}: {got}")
    n = len(REPORT_FILES)
    rates = (
        f"first error {first}/{n} = {first / n:.0%}, among findings {among}/{n} = {among / n:.0%}"
    )
    print(rates)
    assert healthy_with_errors == []
    assert first / n >= FIRST_ERROR_TARGET, (rates, misses)
    assert among / n >= AMONG_TARGET, (rates, misses)


def test_detect_reads_facts_from_the_reports(tmp_path: Path) -> None:
    """``detect --from`` yields machine facts for >= 90% of the pastes."""
    from conda_torch.detect import detect

    with_facts = []
    for path in REPORT_FILES:
        paste = tmp_path / path.name
        paste.write_text(_body(path), encoding="utf-8")
        try:
            m = detect(from_files=[str(paste)], environ={})
        except InputFileError:
            continue
        shown = [
            m.platform.os,
            m.platform.subdir,
            m.platform.python_version,
            m.nvidia,
            m.rocm,
            m.apple,
            m.torch,
        ]
        if any(shown):
            with_facts.append(path.name)
    rate = len(with_facts) / len(REPORT_FILES)
    print(f"detect --from facts: {len(with_facts)}/{len(REPORT_FILES)} = {rate:.0%}")
    assert rate >= DETECT_TARGET


def test_a_paste_that_cannot_be_placed_says_so_in_detect(tmp_path: Path) -> None:
    from conda_torch.detect import detect

    paste = tmp_path / "warning.txt"
    paste.write_text(_body(_report("arch_missing-spice-26")), encoding="utf-8")
    m = detect(from_files=[str(paste)], environ={})
    assert m.torch.arch_list[-1] == "compute_37"
    assert m.nvidia.gpus[0].compute_capability == "8.6"
    assert any("read as a pasted report (torch messages" in n for n in m.notes)


# -- clear cases, finding by finding -----------------------------------------------------------


def _errors(d) -> list:
    return [f for f in d.findings if f.severity == "error"]


def test_driver_too_old_names_both_cuda_versions(diagnoses: dict) -> None:
    d = diagnoses[_report("driver_too_old-pytorch-112553").name]
    (f,) = _errors(d)
    assert (f.id, f.cause) == ("driver-too-old", "driver_too_old")
    assert "CUDA 11.4" in f.message and "CUDA 12.1" in f.message
    assert "PyTorch version: 2.1.0+cu121" in f.evidence
    assert any("found version 11040" in e for e in f.evidence)
    assert f"conda torch generate --from {_report('driver_too_old-pytorch-112553').name}" in f.fix
    assert d.reading.machine.nvidia.cuda_version == "11.4"


def test_arch_missing_from_torchs_own_warning(diagnoses: dict) -> None:
    d = diagnoses[_report("arch_missing-pytorch-150733").name]
    f = _errors(d)[0]
    assert (f.id, f.cause) == ("arch-missing", "arch_missing")
    assert "sm_120" in f.message and "sm_50-sm_90" in f.message
    assert any(
        e.startswith("The current PyTorch install supports CUDA capabilities") for e in f.evidence
    )


def test_arch_missing_from_the_release_data_when_torch_said_nothing(diagnoses: dict) -> None:
    """torch 2.2.0+cu121 and an RTX 5090 in a hand-written list: the matrix's architecture list
    for 2.2.0 cu121 ends at sm_90; the 5090 is sm_120 (looked up from its name)."""
    f = _errors(diagnoses[_report("arch_missing-pytorch-160804").name])[0]
    assert f.cause == "arch_missing"
    assert "from its name" in f.message and "sm_120" in f.message


def test_companion_built_for_another_variant(diagnoses: dict) -> None:
    """pip's torch 2.9.0+cpu beside PyPI's torchvision 0.24.0 (a CUDA build on Linux)."""
    d = diagnoses[_report("companion_mismatch-tt-forge").name]
    f = _errors(d)[0]
    assert (f.id, f.cause) == ("pair-mismatch", "companion_mismatch")
    assert "torchvision 0.24.0 (CUDA 12.8 build) is not for torch 2.9.0+cpu" in f.message
    assert "--index-url https://download.pytorch.org/whl/cpu" in f.fix
    # the nms error is explained by the mismatch, not reported again as a bare symptom
    assert not [x for x in d.findings if x.id == "symptom"]


def test_two_torch_packages_in_one_conda_listing(diagnoses: dict) -> None:
    f = _errors(diagnoses[_report("duplicate_install-conda-pytorch").name])[0]
    assert (f.id, f.cause) == ("two-torch", "duplicate_install")
    assert "pytorch 0.4.1" in f.message and "pytorch-nightly 1.0.0.dev20180921" in f.message


def test_intel_mac_pip_versions(diagnoses: dict) -> None:
    """pip offering torch up to 2.2.2 is an x86_64 macOS Python; Rosetta is the other
    possibility, said as a warning because the paste does not show the chip."""
    d = diagnoses[_report("no_build_for_platform-pytorch-161614").name]
    assert [(f.id, f.severity) for f in d.findings] == [
        ("no-build-for-platform", "error"),
        ("rosetta", "warning"),
    ]
    assert "2.2.2" in d.findings[0].message
    assert "--platform osx-64" in d.findings[0].fix


def test_cuda_index_on_a_mac(diagnoses: dict) -> None:
    f = _errors(diagnoses[_report("cuda_on_mac-geti").name])[0]
    assert (f.id, f.cause) == ("cuda-on-mac", "cuda_on_mac")
    assert "cu126" in f.message
    assert any("macosx_15_0_arm64" in e for e in f.evidence)


def test_healthy_stack_says_the_problem_is_elsewhere(diagnoses: dict) -> None:
    d = diagnoses[_report("healthy-exllama-nodes").name]
    assert d.ok
    (f,) = d.findings
    assert f.id == "consistent" and f.severity == "info"
    assert "sm_86 is in the build" in f.message and "likely elsewhere" in f.message


def test_a_symptom_alone_is_no_cause() -> None:
    """torchvision::nms with nothing else: what it can mean and what would tell, no error."""
    text = (
        "RuntimeError: operator torchvision::nms does not exist\n"
        "Using cache found in /root/.cache/torch/hub/pytorch_vision_main\n"
    )
    d = diagnoses_of(text)
    assert d.ok
    (f,) = [x for x in d.findings if x.id == "symptom"]
    assert f.cause is None and "torch.hub" in f.message and "pip list" in f.message


def diagnoses_of(text: str):
    return diagnose_texts([("paste.txt", text)])


def test_finding_ids_are_declared() -> None:
    from conda_torch.findings import FINDINGS as DOCTOR

    for path in REPORT_FILES:
        for f in diagnoses_of(_body(path)).findings:
            assert f.id in FINDINGS or f.id in DOCTOR, f.id


# -- the command -------------------------------------------------------------------------------


def test_cli_human_output_and_exit_status(tmp_path: Path) -> None:
    paste = tmp_path / "report.txt"
    paste.write_text(_body(_report("driver_too_old-pytorch-112553")), encoding="utf-8")
    r = run_cli("doctor", "--from", str(paste))
    assert r.returncode == 1, r.stderr
    assert "The cause: NVIDIA driver too old for the build's CUDA (driver_too_old)." in r.stdout
    assert f"$ conda torch generate --from {paste}" in r.stdout
    assert "What the paste shows:" in r.stdout
    assert r.stderr == ""


def test_cli_json_from_standard_input() -> None:
    r = run_cli("doctor", "--from", "-", "--json", stdin=_body(_report("healthy-exllama-nodes")))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["success"] is True and doc["sources"] == ["<stdin>"]
    assert [f["id"] for f in doc["findings"]] == ["consistent"]
    assert set(doc["findings"][0]) >= {"id", "cause", "severity", "evidence", "message", "fix"}
    assert doc["facts"]["machine"]["torch"]["version"] == "2.2.2+cu121"


def test_cli_reads_several_files_together(tmp_path: Path) -> None:
    """A warning in one file and the collect_env in another describe one machine."""
    body = _body(_report("arch_missing-pytorch-150733"))
    warning, _, rest = body.partition("  warnings.warn(")
    (tmp_path / "warning.txt").write_text(warning, encoding="utf-8")
    (tmp_path / "env.txt").write_text(rest, encoding="utf-8")
    r = run_cli(
        "doctor", "--from", str(tmp_path / "warning.txt"), str(tmp_path / "env.txt"), "--json"
    )
    doc = json.loads(r.stdout)
    first = doc["findings"][0]
    assert first["cause"] == "arch_missing"
    assert "torch 2.6.0+cu126" in first["message"]
    assert f"--from {tmp_path / 'warning.txt'} --from {tmp_path / 'env.txt'}" in first["fix"]


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[list[str], bytes | None, str]]:
    huge = tmp_path / "huge.txt"
    with open(huge, "wb") as fh:
        fh.truncate(100 * 1024 * 1024)  # sparse: 100 MB on paper, nothing on disk
    binary = tmp_path / "binary.txt"
    binary.write_bytes(bytes(range(256)) * 8)
    return {
        "size cap": (["--from", str(huge)], None, str(huge)),
        "binary": (["--from", str(binary)], None, str(binary)),
        "directory": (["--from", str(tmp_path)], None, str(tmp_path)),
        "missing": (["--from", str(tmp_path / "nope.txt")], None, "no such file"),
        "empty stdin": (["--from", "-"], b"", "<stdin>"),
        "huge stdin": (["--from", "-"], b"x" * (8 * 1024 * 1024 + 1), "<stdin>"),
    }


@pytest.mark.parametrize(
    "case", ["size cap", "binary", "directory", "missing", "empty stdin", "huge stdin"]
)
def test_cli_bad_input_is_one_line(tmp_path: Path, case: str) -> None:
    args, stdin, named = _bad_inputs(tmp_path)[case]
    r = run_cli("doctor", *args, stdin=stdin)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert lines[0].startswith("InputFileError: ") and named in lines[0]
    assert r.stdout == ""


def test_cli_from_and_an_environment_exclude_each_other(tmp_path: Path) -> None:
    r = run_cli("doctor", "--from", "-", "-n", "base", stdin="x")
    assert r.returncode == 2 and "not allowed with argument" in r.stderr
