"""``conda torch matrix``: the table, --explain against captured machines, --json, bad input."""

from __future__ import annotations

import json

import pytest

from conda_torch.cli import main
from conda_torch.cli.main_matrix import render_table
from conda_torch.matrix import Matrix, load

from .helpers.cli import cli
from .helpers.paths import FIXTURES, ROOT

M = load()
QUADRO = str(FIXTURES / "nvidia-smi" / "quadro-rtx4000x2-535.129.03-cuda12.2-with-L.txt")
GTX1080TI = str(FIXTURES / "nvidia-smi" / "windows-gtx1080ti-531.14-cuda12.1-quoted.txt")


def run(capsys, *args: str) -> tuple[int, str, str]:
    rc = main(["matrix", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def flat(text: str) -> str:
    """The text with line wrapping undone."""
    return " ".join(text.split())


def fits(text: str) -> bool:
    return all(len(line) <= 80 for line in text.splitlines())


@pytest.mark.parametrize(
    "args",
    [
        ("--platform", "linux-64"),
        ("--platform", "win-64", "--torch", ">=2.8"),
        ("--platform", "osx-arm64"),
        ("--platform", "osx-64", "--source", "pip"),
        ("--platform", "linux-aarch64", "--python", "3.12", "--backend", "cuda"),
        ("--platform", "linux-64", "--torch", "2.9.1", "-v"),
        ("--platform", "linux-64", "--torch", "1.12.1", "--source", "pytorch"),
    ],
    ids=["linux", "win-2.8+", "mac-arm", "intel-mac-pip", "aarch64-cuda", "detail", "channel-1.12"],
)
def test_table_fits_80_columns_and_shows_the_date(capsys, args):
    rc, out, err = run(capsys, *args)
    assert rc == 0, err
    assert fits(out)
    assert f"matrix of {M.date}" in out
    kw = dict(zip(("platform", "torch", "python", "source", "backend"), (None,) * 5))
    it = iter(args)
    for a in it:
        if a.startswith("--") and a != "-v":
            kw[a[2:]] = next(it)
    cands = M.candidates(subdir=kw.pop("platform"), **kw)
    assert f": {len(cands)} build" in out
    for c in cands:
        assert c.torch in out


def test_single_release_shows_install_specs(capsys):
    rc, out, _ = run(capsys, "--platform", "linux-64", "--torch", "2.5.1", "--source", "pytorch")
    assert rc == 0
    text = flat(out)
    assert "pytorch=2.5.1 torchvision=0.20.1 torchaudio=2.5.1 pytorch-cuda=12.4" in text
    assert "(channels: pytorch, nvidia)" in text
    rc, out, _ = run(
        capsys,
        "--platform",
        "linux-64",
        "--torch",
        "2.0.0",
        "--source",
        "pip",
        "--backend",
        "cu118",
    )
    text = flat(out)
    assert "--index-url https://download.pytorch.org/whl/cu118" in text
    assert "torch==2.0.0+cu118 torchvision==0.15.1+cu118 torchaudio==2.0.1+cu118" in text


def test_json_lists_the_same_candidates(capsys):
    rc, out, _ = run(capsys, "--platform", "win-64", "--torch", "2.9.1", "--json")
    assert rc == 0
    doc = json.loads(out)
    assert doc["dataset"]["date"] == str(M.date)
    assert doc["subdir"] == "win-64"
    got = [(c["torch"], c["source"], c["backend"]) for c in doc["candidates"]]
    want = [
        (c.torch, str(c.source), str(c.backend))
        for c in M.candidates(subdir="win-64", torch="2.9.1")
    ]
    assert got == want


def test_explain_from_a_capture_gives_reasons(capsys):
    rc, out, err = run(capsys, "--from", QUADRO, "--platform", "linux-64", "--torch", "2.9.1")
    assert rc == 0, err
    assert fits(out)
    assert "[no] 2.9.1" in out and "[ok] 2.9.1" in out
    text = flat(out)
    # driver 535 supports CUDA 12.2: CUDA 13 builds need another driver, 12.x ones run
    assert "cu130 needs a driver for CUDA 13.x; the driver supports CUDA 12.2" in text
    assert "Quadro RTX 4000" in text


@pytest.mark.parametrize(
    ("capture", "platform"),
    [
        (QUADRO, "linux-64"),
        (GTX1080TI, "win-64"),
        (
            str(FIXTURES / "nvidia-smi" / "rtx5090+rtx3090-580.119.02-cuda13.0-mixed.txt"),
            "linux-64",
        ),
    ],
    ids=["quadro", "gtx1080ti", "5090+3090"],
)
def test_verbose_explain_of_every_build_fits_80_columns(capsys, capture, platform):
    rc, out, err = run(capsys, "--from", capture, "--platform", platform, "--limit", "0", "-v")
    assert rc == 0, err
    assert fits(out)
    assert out.count("[ok]") + out.count("[no]") == len(M.candidates(subdir=platform))


def test_explain_with_a_machine_file(capsys, tmp_path):
    from conda_torch.detect import detect

    machine = detect(from_files=[GTX1080TI], describe=None)
    path = tmp_path / "detect.json"
    path.write_text(json.dumps(machine.to_json()), encoding="utf-8")
    rc, out, err = run(
        capsys, "--machine", str(path), "--platform", "win-64", "--torch", "2.8.0", "--json"
    )
    assert rc == 0, err
    doc = json.loads(out)
    verdicts = {(v["candidate"]["source"], v["candidate"]["backend"]): v for v in doc["verdicts"]}
    cu128 = verdicts[("pip", "cu128")]
    assert not cu128["accepted"]
    # not the driver: 531.14 (CUDA 12.1) runs CUDA 12.8 through minor-version compatibility
    assert not any("driver" in r for r in cu128["reasons"])
    cu126 = verdicts[("pip", "cu126")]
    assert cu126["accepted"] and any("minor-version" in n for n in cu126["notes"])
    if (
        machine.nvidia
        and machine.nvidia.gpus
        and machine.nvidia.gpus[0].compute_capability == "6.1"
    ):
        assert any("no sm_61 code for NVIDIA GeForce GTX 1080 Ti" in r for r in cu128["reasons"])


def test_explain_limit_and_ranking(capsys):
    rc, out, _ = run(capsys, "--from", QUADRO, "--platform", "linux-64", "--limit", "3")
    assert rc == 0
    assert "more (--limit 0 shows all" in out
    assert out.count("[ok]") == 3 and out.count("[no]") == 3
    best = out.split("Best: ")[1].splitlines()[0]
    assert "cu" in best  # a CUDA build beats CPU on an NVIDIA machine


@pytest.mark.parametrize(
    ("args", "error", "text"),
    [
        (("--platform", "linux-64", "--torch", "2.5.3"), "UnknownVersionError", "2.5.1"),
        (("--platform", "linux64"), "UnknownPlatformError", "linux-64"),
        (
            ("--platform", "osx-arm64", "--backend", "cuda"),
            "IncompatibleError",
            "macOS has no CUDA builds",
        ),
        (
            ("--platform", "linux-64", "--source", "pytorch", "--torch", "2.6"),
            "IncompatibleError",
            "stops at 2.5",
        ),
        (
            ("--platform", "linux-64", "--torch", "2.9.1", "--python", "3.6"),
            "IncompatibleError",
            "python 3.6 is not supported",
        ),
        (
            ("--platform", "linux-64", "--backend", "gpu"),
            "UnknownVersionError",
            "unknown backend 'gpu'",
        ),
        (("--machine", "/nonexistent/detect.json"), "InputFileError", "no such file"),
        (("--limit", "-1"), "CondaTorchValueError", "--limit"),
    ],
    ids=[
        "unknown-torch",
        "platform-typo",
        "mac-cuda",
        "channel-2.6",
        "python",
        "backend",
        "machine-file",
        "limit",
    ],
)
def test_bad_input_is_one_clear_line(capsys, args, error, text):
    rc, out, err = run(capsys, *args)
    assert rc != 0
    assert "Traceback" not in err
    lines = [ln for ln in err.strip().splitlines() if ln]
    assert lines[0].startswith(f"{error}: ")
    assert text in flat(err)


def test_bad_machine_file(capsys, tmp_path):
    path = tmp_path / "detect.json"
    path.write_text("{not json", encoding="utf-8")
    rc, _, err = run(capsys, "--machine", str(path))
    assert rc != 0 and "is not JSON" in err and "Traceback" not in err
    path.write_text(json.dumps({"schema": "something/else"}), encoding="utf-8")
    rc, _, err = run(capsys, "--machine", str(path))
    assert rc != 0 and "not a conda-torch detect document" in err


def test_stale_dataset_says_newer_releases_may_exist():
    raw = json.loads((ROOT / "conda_torch" / "data" / "matrix.json").read_text(encoding="utf-8"))
    old = Matrix(dict(raw, date="2020-01-01"))
    assert old.stale()
    out = render_table(old, "linux-64", old.candidates(subdir="linux-64", torch="2.9.1"))
    assert fits(out)
    text = flat(out)
    assert (
        "newer torch releases may exist" in text
        and "pytorch=X.Y.Z" in text
        and "torch==X.Y.Z" in text
    )
    fresh = flat(render_table(M, "linux-64", M.candidates(subdir="linux-64", torch="2.9.1")))
    assert ("newer torch releases may exist" in fresh) == M.stale()


def test_runs_as_a_separate_process_without_traceback():
    done = cli("matrix", "--platform", "linux-64", "--torch", "nope", timeout=120)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and "unknown torch 'nope'" in done.stderr
    done = cli("matrix", "--help", timeout=120)
    assert done.returncode == 0
    for option in (
        "--torch",
        "--python",
        "--platform",
        "--source",
        "--backend",
        "--json",
        "--explain",
        "--machine",
        "--from",
    ):
        assert option in done.stdout
