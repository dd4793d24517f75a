"""The compatibility matrix: tests generated from the data, published install commands, and
machine evaluations built from the real captures in tests/data/fixtures."""

from __future__ import annotations

import datetime
import importlib.util
import json
import re
from functools import cache
from typing import TYPE_CHECKING

import pytest

from conda_torch import values
from conda_torch.constants import SUBDIRS
from conda_torch.detect.captures import parse_text
from conda_torch.exceptions import (
    CondaTorchValueError,
    IncompatibleError,
    UnknownPlatformError,
    UnknownVersionError,
)
from conda_torch.machine import AppleInfo, Machine, PlatformInfo, merge
from conda_torch.matrix import Matrix, load
from conda_torch.models import Backend, Source, Subdir, version_tuple

from .helpers.paths import FIXTURES, REFERENCE, ROOT, read_fixture

if TYPE_CHECKING:
    from conda_torch.matrix import Candidate

DATA = ROOT / "conda_torch" / "data" / "matrix.json"
RAW = json.loads(DATA.read_text(encoding="utf-8"))
M = load()
VERSIONS = M.torch_versions()
ROWS = M.rows()


def vt(v: str) -> tuple[int, ...]:
    return version_tuple(v)


@cache
def all_candidates() -> list[Candidate]:
    return [c for sd in SUBDIRS for c in M.candidates(subdir=sd)]


def row_id(row: dict) -> str:
    return f"{row['source']}/{row['subdir']}/{row['backend']}/{row['torch'][0]}"


# -- the data file --------------------------------------------------------------------------


def test_data_is_what_the_build_tool_makes_from_the_reference():
    """Regenerating data/matrix.json from data/reference/pytorch gives the committed file."""
    spec = importlib.util.spec_from_file_location(
        "build_matrix", ROOT / "tools" / "build_matrix.py"
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.dump(tool.build()) == DATA.read_text(encoding="utf-8")


def test_release_policy_is_data_the_build_tool_reads(tmp_path, monkeypatch):
    """data/policy.yaml, not code, decides: drop a confirmed pairing and a measured arch list
    from it, and the rebuilt rows flag the pairing and carry the reference's list again."""
    spec = importlib.util.spec_from_file_location(
        "build_matrix_policy", ROOT / "tools" / "build_matrix.py"
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    text = (ROOT / "data" / "policy.yaml").read_text(encoding="utf-8")
    edited = text.replace('  "2.4.1": [TI_RELEASE_MATRIX, PIP_METADATA]\n', "")
    edited = edited.replace('arch_measured:\n  - torch: "2.11"', 'arch_measured:\n  - torch: "0.0"')
    assert edited.count("\n") == text.count("\n") - 1 and '"0.0"' in edited
    (tmp_path / "policy.yaml").write_text(edited, encoding="utf-8")
    monkeypatch.setattr(tool, "POLICY", tmp_path / "policy.yaml")
    data = tool.build()
    release = {r["version"]: r for r in data["releases"]}["2.4.1"]
    assert any(u.startswith("torchvision:") for u in release["unverified"])
    assert "TI_RELEASE_MATRIX" not in release["sources"]
    before = {r["version"]: r for r in RAW["releases"]}["2.4.1"]
    assert not any(u.startswith("torchvision:") for u in before["unverified"])
    assert "TI_RELEASE_MATRIX" in before["sources"]
    row = next(
        r
        for r in data["builds"]
        if (r["source"], r["subdir"], r["backend"], r["minor"])
        == ("pip", "linux-64", "cu130", "2.11")
    )
    # without the measurement, the reference's doubt about 12.0+PTX comes back
    assert "FIXTURE_H100_TORCH" not in row["sources"]
    assert any(u.startswith("ptx:") for u in row["unverified"])
    built = next(
        r
        for r in M.rows()
        if (r["source"], r["subdir"], r["backend"], r["minor"])
        == ("pip", "linux-64", "cu130", "2.11")
    )
    assert "FIXTURE_H100_TORCH" in built["sources"] and built["unverified"] == []


def test_dataset_is_dated_and_knows_when_it_is_stale():
    assert M.date == RAW["date"]
    built = datetime.date.fromisoformat(M.date)
    assert not M.stale(built)
    assert not M.stale(built + datetime.timedelta(days=180))
    assert M.stale(built + datetime.timedelta(days=190))
    assert M.stale(datetime.date(built.year + 1, built.month, 1))


@pytest.mark.parametrize(
    ("built", "edge"),
    [("2026-08-31", "2027-02-28"), ("2027-08-31", "2028-02-29"), ("2026-01-15", "2026-07-15")],
)
def test_six_months_on_ends_on_the_months_last_day(built, edge):
    """Six months after the 31st is the last day of a shorter month (leap years too)."""
    m = Matrix({**RAW, "date": built})
    day = datetime.date.fromisoformat(edge)
    assert not m.stale(day) and m.stale(day + datetime.timedelta(days=1))


@pytest.mark.parametrize("date", ["2026-13-01", "2026-02-30", "26-11-01", "2026-11-26T00:00"])
def test_a_malformed_dataset_date_is_refused(date):
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        Matrix({**RAW, "date": date})


def test_load_is_cached():
    assert load() is load()


def test_torch_versions_cover_1_12_to_2_15_ascending_and_unique():
    assert VERSIONS == sorted(set(VERSIONS), key=vt)
    assert VERSIONS[0] == "1.12.0"
    assert vt(VERSIONS[-1])[:2] == (2, 15)
    minors = {v.rsplit(".", 1)[0] for v in VERSIONS}
    assert {"1.12", "1.13"} | {f"2.{i}" for i in range(16)} == minors


@pytest.mark.parametrize("version", VERSIONS, ids=VERSIONS)
def test_every_release_resolves_to_itself(version):
    assert M.resolve_torch(version) == version
    assert M.resolve_torch(f"=={version}") == version
    assert M.resolve_torch(f"{version}+cu999") == version
    tv, ta = M.companions(version)
    if tv is not None:
        assert not M.pairing_ok(version, tv, ta)
    if vt(version) >= (2, 12):
        assert ta is not None and vt(ta)[:2] == (2, 11)


@pytest.mark.parametrize("row", ROWS, ids=[row_id(r) for r in ROWS])
def test_every_row_is_well_formed(row):
    assert row["source"] in ("conda-forge", "pytorch", "pip")
    assert row["subdir"] in SUBDIRS
    Backend.parse(row["backend"])
    assert row["torch"], "a row without torch versions"
    for v in row["torch"]:
        assert v in VERSIONS
        assert v.rsplit(".", 1)[0] == row["minor"]
    assert row["python"] == sorted(set(row["python"]), key=vt)
    assert all(re.fullmatch(r"3\.\d+", p) for p in row["python"])
    archs = row.get("archs") or []
    assert archs == sorted(set(archs), key=vt)
    if row.get("ptx"):
        assert row["ptx"] in archs
    for key in row["sources"]:
        assert key in M.sources, f"{key} is cited but not in the sources map"
    for u in row["unverified"]:
        assert re.match(r"[a-z_]+: \S", u), u


def test_every_version_a_candidate_ranks_by_is_a_plain_release():
    """plan ranks torch, CUDA and Python versions by their release numbers (plan._version),
    not packaging's PEP 440 order: the two agree only for plain releases, which every candidate
    of every platform has (a pre-release or a post-release in the data fails here)."""
    from packaging.version import Version

    from conda_torch.plan import DEFAULT_PYTHON_CEILING, _version

    seen = {DEFAULT_PYTHON_CEILING}
    for c in all_candidates():
        seen.update([c.torch, *c.pythons])
        if c.backend.cuda_version:
            seen.add(c.backend.cuda_version)
    assert len(seen) > 30
    for v in seen:
        assert re.fullmatch(r"\d+(\.\d+)*", v), v
    ordered = sorted(seen, key=_version)
    for a, b in zip(ordered, ordered[1:]):
        assert (Version(a) < Version(b)) == (_version(a) < _version(b)), (a, b)
        assert (Version(a) == Version(b)) == (_version(a) == _version(b)), (a, b)


def test_no_duplicate_or_contradictory_rows():
    seen: dict[tuple, str] = {}
    for row in ROWS:
        for v in row["torch"]:
            key = (v, row["source"], row["subdir"], row["backend"])
            assert key not in seen, f"{key} appears twice"
            seen[key] = row_id(row)
    # One candidate per key after expansion too.
    keys = [c.key for c in all_candidates()]
    assert len(keys) == len(set(keys))


def test_every_cited_source_is_in_the_sources_map():
    cited = {k for r in RAW["releases"] for k in r["sources"]}
    cited |= {k for r in ROWS for k in r["sources"]}
    cited |= {k for d in RAW["drivers"].values() for k in d["sources"]}
    cited |= {k for f in RAW["macos"]["mps"] for k in f["sources"]}
    assert cited <= set(M.sources)
    for key, entry in M.sources.items():
        assert entry.get("what"), key
        assert any(entry.get(k) for k in ("url", "repo", "path", "command", "index_id")), key


def test_left_out_entries_are_documented():
    assert M.left_out
    for entry in M.left_out:
        assert entry["what"] and entry["why"]


# -- contradictions the data must never contain (the facts the guides get wrong) ------------


@pytest.mark.parametrize(
    "c", [c for c in all_candidates() if c.subdir.is_macos], ids=lambda c: "-".join(c.key)
)
def test_no_cuda_on_macos_and_apple_silicon_is_mps(c):
    assert c.backend.kind in ("cpu", "mps")
    assert (c.backend.kind == "mps") == (c.subdir.value == "osx-arm64")
    assert c.requires_cuda is None and c.min_driver is None


def test_pytorch_channel_stops_at_2_5_and_uses_the_right_cuda_package():
    chan = [c for c in all_candidates() if c.source is Source.PYTORCH]
    assert max(vt(c.torch) for c in chan)[:2] == (2, 5)
    for c in chan:
        names = [s.split("=")[0] for s in c.specs]
        assert names[:3] == ["pytorch", "torchvision", "torchaudio"]
        if c.backend.kind == "cuda":
            want = "cudatoolkit" if vt(c.torch) < (1, 13) else "pytorch-cuda"
            assert f"{want}={c.backend.cuda_version}" in c.specs
            if want == "pytorch-cuda":
                assert c.channels == ("pytorch", "nvidia")
        elif c.subdir.os in ("linux", "win"):
            assert "cpuonly" in c.specs
    assert not any("cudatoolkit=12" in s for c in chan for s in c.specs)


def test_osx_64_pip_wheels_end_at_2_2_2_but_conda_forge_keeps_building():
    pip = [c for c in all_candidates() if c.subdir.value == "osx-64" and c.source is Source.PIP]
    assert max(vt(c.torch) for c in pip) == (2, 2, 2)
    chan = [
        c for c in all_candidates() if c.subdir.value == "osx-64" and c.source is Source.PYTORCH
    ]
    assert max(vt(c.torch) for c in chan) == (2, 2, 2)
    cf = [
        c for c in all_candidates() if c.subdir.value == "osx-64" and c.source is Source.CONDA_FORGE
    ]
    assert max(vt(c.torch) for c in cf) >= (2, 13)
    assert all(c.backend.kind == "cpu" for c in cf)


@pytest.mark.parametrize(
    "c",
    [c for c in all_candidates() if c.source is Source.CONDA_FORGE and c.backend.kind == "cuda"],
    ids=lambda c: "-".join(c.key),
)
def test_conda_forge_cuda_builds_pin_cuda_version_and_need_cuda(c):
    """The cuda-version pin is the newest CUDA compiler among the three builds (nvcc's strong
    run_export: each needs ``cuda-version >=X.Y,<X+1``), so one cuda-version satisfies them all;
    the virtual package is the major alone (conda-forge's ``cuda-version`` constrains only
    ``__cuda >=<major>``: data/conda-forge/builds.yaml facts ``nvcc_strong_run_export``,
    ``cuda_version_run_constrained``)."""
    cuda = c.backend.cuda_version
    pin = next(s.split("=", 1)[1] for s in c.specs if s.startswith("cuda-version="))
    assert vt(pin) >= vt(cuda) and vt(pin)[0] == vt(cuda)[0]
    assert c.specs[0] == f"pytorch={c.torch}=cuda{cuda.replace('.', '')}*"
    assert c.requires_cuda == f"__cuda>={cuda.split('.')[0]}"
    assert c.channels == ("conda-forge",)
    if vt(c.torch) >= (2, 8):
        allowed = {"win-64": {"12.8", "13.0"}}.get(c.subdir.value, {"12.9", "13.0"})
        assert cuda in allowed, "conda-forge: win-64 uses 12.8/13.0, linux 12.9/13.0 from 2.8"


def test_conda_forge_torchaudio_is_pinned_to_one_pytorch_minor():
    """conda-forge's torchaudio builds are each made against one pytorch minor (pytorch's
    run_exports ``pin_subpackage(max_pin='x.x')``), its 2.11.0 against pytorch 2.10
    (conda-forge/torchaudio-feedstock cc9368e9 ``.ci_support/*``: ``pytorch: '2.10'``), and there
    is none for win-64 (the recipe skips win). So no conda-forge pytorch 2.11+ has a torchaudio
    beside it, pytorch 2.10 gets 2.11.0, and nothing before 2.4.1 has one."""
    for c in all_candidates():
        if c.source is not Source.CONDA_FORGE:
            continue
        if c.subdir.value == "win-64" or vt(c.torch) < (2, 4) or vt(c.torch) >= (2, 11):
            assert c.torchaudio is None and not any(s.startswith("torchaudio") for s in c.specs)
        if vt(c.torch)[:2] == (2, 10) and c.subdir.value != "win-64":
            assert c.torchaudio == "2.11.0"
            assert any(s.startswith("torchaudio=2.11.0") for s in c.specs)
    assert M.pairing_ok("2.13.0", torchaudio="2.11.0", source="conda-forge")
    assert not M.pairing_ok("2.10.0", torchaudio="2.11.0", source="conda-forge")
    # pip's torchaudio 2.11 is stable-ABI: every torch >= 2.11 (pytorch/audio docs 2.11)
    assert not M.pairing_ok("2.13.0", torchaudio="2.11.0")


def test_conda_forge_windows_cuda_version_follows_torchvision_compiler():
    """win-64 pytorch 2.8-2.12 CUDA builds used nvcc 12.8, their torchvision builds 12.9
    (conda-forge/torchvision-feedstock .ci_support/win_64_cuda_compiler_version12.9*): a solve
    needs cuda-version >= 12.9 for both, so the pin is 12.9 (a 12.8 pin does not solve)."""
    c = one(subdir="win-64", source="conda-forge", torch="2.12.1", backend="cu128")
    assert "cuda-version=12.9" in c.specs and "torchvision=0.28.0=cuda129*" in c.specs
    c = one(subdir="win-64", source="conda-forge", torch="2.13.0", backend="cu128")
    assert "cuda-version=12.8" in c.specs and "torchvision=0.28.0=cuda128*" in c.specs


def test_torch_2_12_and_later_pair_with_torchaudio_2_11():
    for c in all_candidates():
        if vt(c.torch) >= (2, 12) and c.torchaudio is not None:
            assert vt(c.torchaudio.rstrip(".*"))[:2] == (2, 11)


@pytest.mark.parametrize(
    "c",
    [
        c
        for c in all_candidates()
        if c.source is Source.PIP and c.backend.kind == "cuda" and c.gpu_archs
    ],
    ids=lambda c: "-".join(c.key),
)
def test_pip_cuda_arch_rules(c):
    archs = {vt(a) for a in c.gpu_archs}
    cuda = vt(c.backend.cuda_version)
    if cuda >= (12, 8) and vt(c.torch) >= (2, 8):
        assert not archs & {(5, 0), (6, 0), (6, 1)}, "cu128+ dropped Maxwell/Pascal from 2.8"
    if cuda >= (13, 0):
        assert min(archs) >= (7, 5), "cu130 starts at Turing"
    if (12, 0) in archs or (10, 0) in archs:
        assert cuda >= (12, 8), "Blackwell needs cu128+"
    assert (8, 9) not in archs, "no PyTorch wheel compiles sm_89"


def test_plain_pypi_cuda_per_release():
    expected = {
        "1.12.1": "10.2",
        "1.13.1": "11.7",
        "2.0.0": "11.7",
        "2.1.0": "12.1",
        "2.4.1": "12.1",
        "2.5.1": "12.4",
        "2.6.0": "12.4",
        "2.7.1": "12.6",
        "2.8.0": "12.8",
        "2.10.0": "12.8",
        "2.11.0": "13.0",
        "2.13.0": "13.0",
        "2.14.1": "13.0",
    }
    for torch, cuda in expected.items():
        pypi = [c for c in M.candidates(subdir="linux-64", source="pip", torch=torch) if c.pypi]
        assert [c.backend.cuda_version for c in pypi] == [cuda], torch
        assert pypi[0].pip_specs[0] == f"torch=={torch}"
    # aarch64: CPU on PyPI through 2.10, the CUDA 13.0 build from 2.11
    for torch, backend in (("2.10.0", "cpu"), ("2.11.0", "cu130"), ("2.13.0", "cu130")):
        pypi = [
            c for c in M.candidates(subdir="linux-aarch64", source="pip", torch=torch) if c.pypi
        ]
        assert [str(c.backend) for c in pypi] == [backend], torch
    # Windows and macOS PyPI wheels are never CUDA
    for c in all_candidates():
        if c.pypi and c.subdir.os != "linux":
            assert c.backend.kind in ("cpu", "mps")


def test_pip_indexes_and_local_tags():
    for c in all_candidates():
        if c.source is not Source.PIP:
            assert not c.pip_specs and c.pip_index is None
            continue
        assert not c.specs
        if c.pip_index is None:
            assert all("+" not in s for s in c.pip_specs)
        else:
            assert c.pip_index == f"https://download.pytorch.org/whl/{c.backend}"
            assert all(s.endswith(f"+{c.backend}") for s in c.pip_specs)
        assert c.pip_specs[0].startswith(f"torch=={c.torch}")


# -- unverified data is flagged or left out -------------------------------------------------


def _yaml(name: str):
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load((REFERENCE / name).read_text())


REL_YAML = _yaml("torch_releases.yaml")


def test_every_unverified_pairing_is_flagged_or_confirmed_by_a_cited_source():
    confirmed_by = {"PIP_METADATA", "TI_RELEASE_MATRIX"}
    checked = 0
    for mb in REL_YAML["releases"]:
        for patch in mb["patches"]:
            if not patch.get("pairing_unverified") or patch.get("torchvision") is None:
                continue
            version = str(patch["version"])
            cands = [c for c in all_candidates() if c.torch == version and c.torchvision]
            rel = M.release(version)
            flags = [u for u in rel["unverified"] if u.startswith("torchvision:")]
            if set(rel["sources"]) & confirmed_by:
                assert not flags, version
            else:
                assert len(flags) == 1, version
                assert cands and all(flags[0] in c.unverified for c in cands), version
            checked += 1
    assert checked >= 5


def test_unverified_minors_are_flagged_or_left_out():
    for mb in REL_YAML["releases"]:
        if not mb.get("unverified"):
            continue
        minor = str(mb["minor"])
        cands = [c for c in all_candidates() if c.minor == minor]
        if cands:
            assert all("release" in c.unverified_fields for c in cands), minor
        else:
            assert any(f"torch {minor}" in e["what"] for e in M.left_out), minor


def test_unverified_builds_are_left_out_not_pinned():
    for mb in REL_YAML["releases"]:
        minor, pip = str(mb["minor"]), mb.get("pip") or {}
        keys = {
            (c.subdir.value, str(c.backend))
            for c in all_candidates()
            if c.minor == minor and c.source is Source.PIP
        }
        if pip.get("cuda_variants_linux_only_unverified"):
            for v in pip["cuda_variants_linux_only"]:
                assert ("linux-64", v) not in keys and ("win-64", v) not in keys, (minor, v)
        if pip.get("linux_aarch64_cuda_unverified"):
            for v in pip["linux_aarch64_cuda_variants"]:
                assert ("linux-aarch64", v) not in keys, (minor, v)
        if pip.get("rocm_unverified"):
            assert not any(b.startswith("rocm") for _, b in keys), minor
        if pip.get("xpu_unverified"):
            assert not any(b == "xpu" for _, b in keys), minor


def test_unverified_driver_floors_are_flagged():
    cuda_yaml = _yaml("cuda.yaml")
    for cuda, entry in cuda_yaml["cuda_versions"].items():
        tk = entry.get("toolkit_driver_min") or {}
        mc = entry.get("minor_version_compat_min") or {}
        cands = [
            c
            for c in all_candidates()
            if c.backend.cuda_version == str(cuda) and c.subdir.value == "win-64"
        ]
        for c in cands:
            if tk.get("windows_x86_64") is None:
                assert c.min_driver is None and "min_driver" in c.unverified_fields
            if mc.get("windows_unverified"):
                assert "min_driver_compat" in c.unverified_fields


def test_torch_2_15_is_listed_but_has_no_builds():
    assert "2.15.0" in VERSIONS and not M.has_builds("2.15.0")
    assert M.resolve_torch(None) == max((v for v in VERSIONS if M.has_builds(v)), key=vt)
    with pytest.raises(IncompatibleError, match="no builds"):
        M.candidates(subdir="linux-64", torch="2.15", strict=True)


# -- published install commands (pytorch.org "Previous PyTorch Versions") -------------------


def one(**kw) -> Candidate:
    found = M.candidates(**kw)
    assert len(found) == 1, [c.key for c in found]
    return found[0]


@pytest.mark.parametrize("subdir", ["linux-64", "win-64"], ids=["linux", "windows"])
def test_published_2_5_1_pytorch_cuda_12_4(subdir):
    c = one(subdir=subdir, source="pytorch", torch="2.5.1", backend="cu124")
    # mkl<2024.1: the recipe's "mkl >=2018" is open-ended and MKL 2024.1 breaks import torch
    # (data/pytorch-channel/pins.yaml; pytorch/pytorch#123097); mkl is x86 Linux/macOS only
    pins = ("mkl<2024.1",) if subdir == "linux-64" else ()
    assert c.specs == (
        "pytorch=2.5.1",
        "torchvision=0.20.1",
        "torchaudio=2.5.1",
        "pytorch-cuda=12.4",
        *pins,
    )
    assert c.channels == ("pytorch", "nvidia")
    assert c.requires_cuda == "__cuda>=12"


def test_published_1_12_1_cudatoolkit():
    c = one(subdir="linux-64", source="pytorch", torch="1.12.1", backend="cuda=11.6")
    assert c.specs == (
        "pytorch=1.12.1",
        "torchvision=0.13.1",
        "torchaudio=0.12.1",
        "cudatoolkit=11.6",
        "mkl<2024.1",
    )
    assert c.channels == ("pytorch", "conda-forge")
    c = one(subdir="linux-64", source="pytorch", torch="1.12.1", backend="cu113")
    assert c.specs[-2:] == ("cudatoolkit=11.3", "mkl<2024.1") and c.channels == ("pytorch",)
    cpu = one(subdir="win-64", source="pytorch", torch="1.12.1", backend="cpu")
    assert cpu.specs[-1] == "cpuonly"


def test_published_2_0_0_uneven_pairing():
    assert M.companions("2.0.0") == ("0.15.1", "2.0.1")
    assert M.companions("2.0.1") == ("0.15.2", "2.0.2")
    pip = one(subdir="linux-64", source="pip", torch="2.0.0", backend="cu118")
    assert pip.pip_index == "https://download.pytorch.org/whl/cu118"
    assert pip.pip_specs == (
        "torch==2.0.0+cu118",
        "torchvision==0.15.1+cu118",
        "torchaudio==2.0.1+cu118",
    )
    conda = one(subdir="linux-64", source="pytorch", torch="2.0.0", backend="cu118")
    assert conda.specs[:3] == ("pytorch=2.0.0", "torchvision=0.15.0", "torchaudio=2.0.0")
    assert not M.pairing_ok("2.0.0", "0.15.0", "2.0.0")  # the conda command's pairing is fine too


@pytest.mark.parametrize("torch", ["2.0.0", "2.0.1"], ids=["2.0.0", "2.0.1"])
def test_published_pip_cu118_for_2_0(torch):
    for subdir in ("linux-64", "win-64"):
        c = one(subdir=subdir, source="pip", torch=torch, backend="cu118")
        assert c.pip_specs[0] == f"torch=={torch}+cu118"
    # the plain PyPI wheel of 2.0.x on Linux is the CUDA 11.7 build
    c = one(subdir="linux-64", source="pip", torch=torch, backend="cu117")
    assert c.pypi and c.pip_specs[0] == f"torch=={torch}"


def test_published_1_12_cu102_is_linux_only():
    assert one(subdir="linux-64", source="pip", torch="1.12.1", backend="cu102").pypi
    assert not M.candidates(subdir="win-64", source="pip", torch="1.12.1", backend="cu102")


def test_published_rocm_is_linux_pip_only():
    c = one(subdir="linux-64", source="pip", torch="2.0.1", backend="rocm5.4.2")
    assert c.pip_specs[0] == "torch==2.0.1+rocm5.4.2"
    for sd in ("win-64", "linux-aarch64", "osx-arm64"):
        with pytest.raises(IncompatibleError):
            M.candidates(subdir=sd, backend="rocm", strict=True)


def test_conda_forge_2_9_1():
    linux = M.candidates(subdir="linux-64", source="conda-forge", torch="2.9.1")
    assert {str(c.backend) for c in linux} == {"cu129", "cpu"}
    cuda = next(c for c in linux if c.backend.kind == "cuda")
    # conda-forge's torchvision 0.25.0 build 0 was made against pytorch 2.9
    # (conda-forge/torchvision-feedstock .ci_support pytorch key), torchaudio 2.9.1 build 0 too
    assert cuda.specs == (
        "pytorch=2.9.1=cuda129*",
        "torchvision=0.25.0=cuda129*",
        "torchaudio=2.9.1=cuda129*",
        "cuda-version=12.9",
    )
    cpu = next(c for c in linux if c.backend.kind == "cpu")
    assert cpu.specs[0] == "pytorch=2.9.1=cpu*" and cpu.requires_cuda is None
    win = M.candidates(subdir="win-64", source="conda-forge", torch="2.9.1")
    assert {str(c.backend) for c in win} == {"cu128", "cpu"}
    assert all(c.torchaudio is None for c in win)


# -- queries --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("2.5", "2.5.1"),
        ("2.5.*", "2.5.1"),
        ("==2.5.1", "2.5.1"),
        ("2.5.1", "2.5.1"),
        ("2.5.0", "2.5.0"),
        (">=2.4,<2.6", "2.5.1"),
        ("<2.1", "2.0.1"),
        ("=2.4", "2.4.1"),
        ("1", "1.13.1"),
        ("2.5.1+cu124", "2.5.1"),
        ("~=2.3.0", "2.3.1"),
    ],
    ids=lambda v: str(v),
)
def test_resolve_torch(spec, expected):
    assert M.resolve_torch(spec) == expected


@pytest.mark.parametrize(
    ("spec", "near"),
    [("2.5.3", "2.5.1"), ("2.16", "2.15.0"), ("1.11.0", "1.12.0"), (">=3", None), ("latest", None)],
    ids=["2.5.3", "2.16", "1.11.0", ">=3", "word"],
)
def test_unknown_torch_suggests_the_nearest(spec, near):
    with pytest.raises(UnknownVersionError) as info:
        M.resolve_torch(spec)
    assert spec in info.value.line
    if near:
        assert near in " ".join(info.value.hints)


def test_candidates_filter_and_order():
    cands = M.candidates(subdir="linux-64", python="3.12", backend="cuda")
    assert cands and all(c.backend.kind == "cuda" and "3.12" in c.pythons for c in cands)
    torches = [vt(c.torch) for c in cands]
    assert torches == sorted(torches, reverse=True)
    assert {
        str(c.backend) for c in M.candidates(subdir="linux-64", torch="2.9.1", backend="cuda=12.8")
    } == {"cu128"}
    # cpu selects the osx-arm64 build (the CPU build, with MPS)
    assert {c.backend.kind for c in M.candidates(subdir="osx-arm64", backend="cpu")} == {"mps"}


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"subdir": "osx-arm64", "backend": "cuda"}, "macOS has no CUDA"),
        ({"subdir": "osx-64", "backend": "cu118"}, "macOS has no CUDA"),
        ({"subdir": "linux-64", "source": "pytorch", "torch": "2.6"}, "stops at 2.5"),
        ({"subdir": "osx-64", "source": "pip", "torch": "2.4"}, "ended at 2.2.2"),
        ({"subdir": "linux-64", "torch": "2.9.1", "python": "3.9"}, "python 3.9 is not supported"),
        ({"subdir": "win-64", "backend": "rocm6.4"}, "linux-64"),
        ({"subdir": "linux-64", "source": "conda-forge", "backend": "xpu"}, "pip wheels only"),
        ({"subdir": "linux-ppc64le"}, "no torch builds for linux-ppc64le"),
        ({"subdir": "linux-64", "torch": "2.9.1", "backend": "cu132"}, "no cu132 build"),
    ],
    ids=[
        "mac-cuda",
        "intel-mac-cuda",
        "channel-2.6",
        "osx64-pip",
        "python",
        "rocm-win",
        "cf-xpu",
        "ppc64le",
        "backend",
    ],
)
def test_impossible_combinations_say_which_constraint_fails(kw, message):
    with pytest.raises(IncompatibleError, match=re.escape(message)):
        M.candidates(strict=True, **kw)


def test_bad_filters_raise_named_errors():
    with pytest.raises(UnknownPlatformError):
        M.candidates(subdir="linux64")
    with pytest.raises(CondaTorchValueError, match="'three' is not a Python version: expected X.Y"):
        M.candidates(subdir="linux-64", python="three")
    with pytest.raises(UnknownVersionError):
        M.candidates(subdir="linux-64", backend="gpu")


@pytest.mark.parametrize(
    ("args", "kw", "problem"),
    [
        (("2.5.1", "0.20.1", "2.5.1"), {}, None),
        (("2.5.1+cu124", "0.20.1+cu124", "2.5.1+cu124"), {}, None),
        (("2.5.1", "0.20.0", "2.5.1"), {}, "torchvision 0.20.1"),
        (("2.5.1", "0.20.1", "2.4.1"), {}, "torchaudio 2.5.1"),
        (("2.13.0", "0.28.0", "2.11.0"), {}, None),
        (("2.13.0", "0.28.0", "2.11.1"), {}, None),
        (("2.13.0", "0.28.0", "2.10.0"), {}, "torchaudio 2.11.x"),
        (("2.11.0+cu130", "0.26.0+cu130", "2.11.0+cu130"), {}, None),
        (("2.9.1", "0.24.0", None), {}, "torchvision 0.24.1"),
        (("2.9.1", "0.24.0", None), {"source": "conda-forge"}, None),
        # conda-forge's own builds: torchvision 0.25.0 build 0 was made against pytorch 2.9
        # (conda-forge/torchvision-feedstock .ci_support pytorch key); 0.26.0 never was
        (("2.9.1", "0.25.0", None), {"source": "conda-forge"}, None),
        (("2.9.1", "0.26.0", None), {"source": "conda-forge"}, "built for pytorch 2.10 or 2.11"),
        (("9.9.9", None, None), {}, "not in the dataset"),
    ],
    ids=[
        "exact",
        "local-tags",
        "vision-patch",
        "audio",
        "audio-2.11.0",
        "audio-2.11.1",
        "audio-2.10",
        "h100-capture",
        "pip-strict",
        "cf-built-for-2.7-to-2.9",
        "cf-built-for-2.9",
        "cf-built-for-2.10",
        "unknown-torch",
    ],
)
def test_pairing_ok(args, kw, problem):
    reasons = M.pairing_ok(*args, **kw)
    if problem is None:
        assert reasons == []
    else:
        assert reasons and problem in " ".join(reasons)


# -- machines from real captures ------------------------------------------------------------


def machine_from(*names: str, cc: dict[str, str] | None = None, **platform) -> Machine:
    """Parse fixtures, merge them; ``cc`` adds compute capabilities that INDEX.md states for
    GPUs whose captures do not show them (marked "(not shown)" there)."""
    observations = []
    for name in names:
        _, body = read_fixture(FIXTURES / name)
        observations += parse_text(body, source=name)
    machine = merge(observations, mode="files", inputs=names)
    if cc and machine.nvidia:
        gpus = tuple(
            values.replace(g, compute_capability=cc.get(g.name or "", g.compute_capability))
            for g in machine.nvidia.gpus
        )
        machine = values.replace(
            machine, nvidia=values.replace(machine.nvidia, gpus=gpus)
        )
    if platform:
        machine = values.replace(
            machine, platform=values.replace(machine.platform, **platform)
        )
    return machine


QUADRO = "nvidia-smi/quadro-rtx4000x2-535.129.03-cuda12.2-with-L.txt"


def verdict(verdicts, **kw):
    found = [
        v
        for v in verdicts
        if all(str(getattr(v.candidate, k)) == str(val) for k, val in kw.items())
    ]
    assert len(found) == 1, (kw, [v.candidate.key for v in found])
    return found[0]


def test_quadro_rtx4000_driver_535():
    """Driver 535 supports CUDA 12.2: CUDA 12.x builds with sm_75 run through minor-version
    compatibility (>= 525.60.13; NVIDIA CUDA Compatibility guide), CUDA 13 builds do not."""
    m = machine_from(QUADRO, cc={"Quadro RTX 4000": "7.5"})
    vs = M.evaluate(m, subdir="linux-64", torch="2.9.1")
    cu130 = verdict(vs, source="pip", backend="cu130")
    assert not cu130.accepted
    assert cu130.reasons == ("cu130 needs a driver for CUDA 13.x; the driver supports CUDA 12.2",)
    cf = verdict(vs, source="conda-forge", backend="cu129")
    assert cf.accepted and not cf.reasons and cf.requires_cuda == "__cuda>=12"
    assert any("minor-version compatibility" in n for n in cf.notes)
    assert verdict(vs, source="pip", backend="cpu").accepted
    # across all releases the best build is a CUDA 12 one, whose compat floor the driver meets
    best = M.evaluate(m, subdir="linux-64")[0]
    assert best.accepted and best.candidate.backend.kind == "cuda"
    assert best.candidate.backend.cuda_version.startswith("12.")
    assert vt(best.min_driver) <= vt("535.129.03")


def test_unknown_compute_capability_is_accepted_with_a_warning():
    m = machine_from(QUADRO)  # the capture does not show compute capability
    v = verdict(M.evaluate(m, subdir="linux-64", torch="2.5.1"), source="pytorch", backend="cu121")
    assert v.accepted
    assert any("compute capability of Quadro RTX 4000 is unknown" in r for r in v.reasons)


def test_gtx_1080_ti_has_no_sm_61_code_in_cu128_of_2_8():
    m = machine_from(
        "nvidia-smi/windows-gtx1080ti-531.14-cuda12.1-quoted.txt",
        cc={"NVIDIA GeForce GTX 1080 Ti": "6.1"},
        subdir="win-64",
    )
    vs = M.evaluate(m, torch="2.8.0")
    cu128 = verdict(vs, source="pip", backend="cu128")
    assert not cu128.accepted
    assert any(
        r.startswith("cu128 in 2.8 has no sm_61 code for NVIDIA GeForce GTX 1080 Ti")
        for r in cu128.reasons
    )
    # the driver is no reason: 531.14 runs CUDA 12.8 through minor-version compatibility
    # (Windows floor 527.41)
    assert len(cu128.reasons) == 1
    # cu126 keeps sm_60, which a 6.1 GPU runs
    cu126 = verdict(vs, source="pip", backend="cu126")
    assert cu126.accepted and not any("sm_61" in r for r in cu126.reasons)


def test_v100_is_not_covered_by_cu130():
    m = machine_from(
        "nvidia-smi/v100-sxm2-x2-580.126.09-cuda13.0.txt", cc={"Tesla V100-SXM2-16GB": "7.0"}
    )
    vs = M.evaluate(m, subdir="linux-64", torch="2.9.1")
    cu130 = verdict(vs, source="pip", backend="cu130")
    assert not cu130.accepted and "no sm_70 code for Tesla V100-SXM2-16GB" in cu130.reasons[0]
    assert len(cu130.reasons) == 1  # two identical GPUs, one reason
    assert verdict(vs, source="pip", backend="cu128").accepted
    assert vs[0].accepted and vs[0].candidate.backend.kind == "cuda"
    # 2.11 dropped Volta from cu128 too
    assert not verdict(
        M.evaluate(m, subdir="linux-64", torch="2.11.0"), source="pip", backend="cu128"
    ).accepted


def test_h100_best_is_the_newest_torch_with_cuda_13():
    m = machine_from("nvidia-smi-query/csv-full-h100-580.159.04.txt", subdir="linux-64")
    vs = M.evaluate(m)
    best = vs[0]
    assert best.accepted and best.candidate.torch == M.resolve_torch(None)
    assert best.candidate.backend.cuda_version.startswith("13.")
    v = verdict(M.evaluate(m, torch="2.11.0"), source="pip", backend="cu130")
    assert v.accepted and not v.reasons
    # driver 580 (CUDA 13.0) runs a 13.2 build with sm_90 through minor-version compatibility
    cu132 = verdict(M.evaluate(m, torch="2.12.1"), source="pip", backend="cu132")
    assert cu132.accepted and not cu132.reasons and cu132.requires_cuda == "__cuda>=13"


def test_mixed_blackwell_and_ampere_needs_both_archs():
    m = machine_from(
        "nvidia-smi/rtx5090+rtx3090-580.119.02-cuda13.0-mixed.txt",
        cc={"NVIDIA GeForce RTX 5090": "12.0", "NVIDIA GeForce RTX 3090": "8.6"},
        subdir="linux-64",
    )
    cu126 = verdict(M.evaluate(m, torch="2.7.1"), source="pip", backend="cu126")
    assert not cu126.accepted and any(
        "no sm_120 code for NVIDIA GeForce RTX 5090" in r for r in cu126.reasons
    )
    assert verdict(M.evaluate(m, torch="2.7.1"), source="pip", backend="cu128").accepted
    # conda-forge's CUDA 12.6 build carries 9.0+PTX: the 5090 runs it through PTX JIT
    cf = verdict(M.evaluate(m, torch="2.6.0"), source="conda-forge", backend="cu126")
    assert cf.accepted and any("PTX JIT" in r for r in cf.reasons)


def test_no_nvidia_driver_rejects_cuda_builds():
    m = machine_from("conda-info/conda_json-env-ignored-conda23.7.2-linux-no-cuda-aws.txt")
    vs = M.evaluate(m, torch="2.9.1")
    cf = verdict(vs, source="conda-forge", backend="cu129")
    assert not cf.accepted
    assert "cuda 12.9 build needs __cuda but no NVIDIA driver was found" in cf.reasons
    assert vs[0].accepted and vs[0].candidate.backend.kind == "cpu"


def test_conda_cuda_virtual_package_limits_cuda():
    m = machine_from("conda-info/json-flag-ignored-conda23.7.0-linux-cuda12.0.txt")
    vs = M.evaluate(m, torch="2.5.1")
    assert verdict(vs, source="conda-forge", backend="cu120").accepted
    # conda's __cuda 12.0 runs a 12.6 build through minor-version compatibility (conda-forge
    # itself asks only __cuda >=12); the compute capability is unknown, so it is a warning
    cu126 = verdict(vs, source="conda-forge", backend="cu126")
    assert cu126.accepted and "supports CUDA 12.0" in cu126.notes[0]
    cu118 = verdict(vs, source="conda-forge", backend="cu118")
    assert cu118.accepted


def test_wsl_uses_the_windows_driver_floor():
    m = machine_from(
        "nvidia-smi/wsl2-rtx4070-555.52.01-drv555.99-cuda12.5.txt",
        cc={"NVIDIA GeForce RTX 4070 ...": "8.9"},
        subdir="linux-64",
    )
    assert m.platform.wsl
    cu126 = verdict(M.evaluate(m, torch="2.6.0"), source="pip", backend="cu126")
    # the Windows host driver 555.99 reports CUDA 12.5: a 12.6 build runs through minor-version
    # compatibility (Windows floor 527.41)
    assert cu126.accepted and "supports CUDA 12.5" in cu126.notes[0]
    assert verdict(M.evaluate(m, torch="2.6.0"), source="pip", backend="cu124").accepted
    # a CUDA 13 build does not: another major
    cu130 = verdict(M.evaluate(m, torch="2.9.1"), source="pip", backend="cu130")
    assert not cu130.accepted


def test_k80_runs_nothing_with_cuda_on_its_old_driver():
    m = machine_from(
        "nvidia-smi/k80-410.104-cuda10.0-gce.txt", cc={"Tesla K80": "3.7"}, subdir="linux-64"
    )
    vs = M.evaluate(m)
    assert not any(v.accepted for v in vs if v.candidate.backend.kind == "cuda")
    assert vs[0].accepted and vs[0].candidate.backend.kind == "cpu"


def test_rocm_machine_prefers_rocm_wheels():
    m = machine_from("rocm/rocminfo-mi300x-gfx942-rocm6.3.3.txt", subdir="linux-64")
    vs = M.evaluate(m, torch="2.9.1")
    assert vs[0].accepted and vs[0].candidate.backend.kind == "rocm"
    assert not verdict(vs, source="pip", backend="cu128").accepted


def test_apple_silicon_macos_12_3():
    m = machine_from(
        "apple/python-platform-platform-macos-12.3.1-arm64.txt",
        "apple/sysctl-machdep-cpu-m1-pro.txt",
    )
    assert M.machine_subdir(m) == Subdir("osx-arm64")
    vs = M.evaluate(m, source="pip")
    new = verdict(vs, torch="2.12.0")
    assert not new.accepted and "need macOS >= 14.0, this Mac runs 12.3.1" in new.reasons[0]
    old = verdict(vs, torch="2.4.1")
    assert old.accepted and not old.reasons
    mid = verdict(vs, torch="2.6.0")
    assert mid.accepted and "(unverified)" in mid.reasons[0]
    assert vs[0].accepted and vs[0].candidate.backend.kind == "mps"


def test_rosetta_evaluates_the_native_subdir():
    m = Machine(
        platform=PlatformInfo(subdir="osx-64", native_subdir="osx-arm64", os="macos"),
        apple=AppleInfo(chip="Apple M2 Pro", apple_silicon=True, rosetta=True),
    )
    assert M.machine_subdir(m) == Subdir("osx-arm64")
    assert M.machine_subdir(m, "osx-64") == Subdir("osx-64")
    with pytest.raises(IncompatibleError, match="platform"):
        M.machine_subdir(Machine())


def test_evaluate_covers_every_candidate_exactly_once():
    m = machine_from(QUADRO, cc={"Quadro RTX 4000": "7.5"}, subdir="linux-64")
    vs = M.evaluate(m)
    assert sorted(v.candidate.key for v in vs) == sorted(
        c.key for c in M.candidates(subdir="linux-64")
    )
    accepted = [v.accepted for v in vs]
    assert accepted == sorted(accepted, reverse=True)
    assert all(v.reasons for v in vs if not v.accepted)
