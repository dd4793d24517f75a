"""The committed per-build channel data (data/conda-forge, data/pytorch-channel) and the parsers
of tools/feedstock_builds.py.

These tests read only files committed in this repository: the generated data, and excerpts of
real feedstock files under tests/data/feedstock/ (their repo/commit/path in SOURCES.yaml). The
mirrors the tool reads are not needed (``tools/feedstock_builds.py --check`` needs them).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
CF = ROOT / "data" / "conda-forge" / "builds.yaml"
PC = ROOT / "data" / "pytorch-channel" / "builds.yaml"
PINS = ROOT / "data" / "pytorch-channel" / "pins.yaml"
EXCERPTS = ROOT / "tests" / "data" / "feedstock"
SUBDIRS = {"linux-64", "linux-aarch64", "osx-64", "osx-arm64", "win-64"}
HEX40 = re.compile(r"^[0-9a-f]{40}$")
MINOR = re.compile(r"^\d+\.\d+$")

_yaml = YAML(typ="safe", pure=True)


def _load(path: Path):
    with path.open() as fh:
        return _yaml.load(fh)


@pytest.fixture(scope="module")
def cf():
    return _load(CF)


@pytest.fixture(scope="module")
def builds(cf):
    return cf["builds"]


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("feedstock_builds",
                                                  ROOT / "tools" / "feedstock_builds.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def _v(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split("."))


# ---- schema ---------------------------------------------------------------------------------

def test_one_row_per_line_in_flow_style():
    """Each build group and fact is one YAML flow mapping on one line (diff-friendly)."""
    lines = CF.read_text().splitlines()
    rows = [ln for ln in lines if ln.startswith("- ")]
    assert rows and all(ln.startswith("- {") and ln.endswith("}") for ln in rows)


def test_every_row_is_well_formed(builds):
    for r in builds:
        where = f"{r.get('package')} {r.get('version')} {r.get('number')} {r.get('subdir')}"
        assert r["package"] in ("pytorch", "torchvision", "torchaudio"), where
        assert re.fullmatch(r"\d+\.\d+\.\d+", r["version"]), where
        assert isinstance(r["number"], int) and r["number"] >= 0, where
        assert r["subdir"] in SUBDIRS, where
        assert r["cuda"] is None or MINOR.match(r["cuda"]), where
        assert r["python"] and all(MINOR.match(p) for p in r["python"]), where
        assert r["python"] == sorted(r["python"], key=_v), where
        assert r["repo"].startswith("conda-forge/") and HEX40.match(r["commit"]), where
        assert r["path"].startswith(".ci_support/") and r["recipe"].startswith("recipe/"), where
        assert r["string"], where
        assert r["glibc"] is None or (r["subdir"].startswith("linux") and MINOR.match(r["glibc"]))
        if r["package"] == "pytorch":
            assert r["blas"] in ("mkl", "generic", None), where
        else:
            assert r["pytorch"] is None or MINOR.match(r["pytorch"]), where
            assert r["pytorch_from"], where
        if r["cuda"]:
            major = int(r["cuda"].split(".")[0])
            assert r["cuda_version"] == f">={r['cuda']},<{major + 1}", where
            assert r["archs_from"], where
            assert r["archs"] is not None or r["unverified"], where
            # the CUDA version joined the string later (torchvision 0.23.0 build 1: 'cuda_py*')
            assert r["string"].startswith("cuda"), where
        else:
            assert "cuda_version" not in r and "archs" not in r, where
        for py, commit in (r.get("added") or {}).items():
            assert py in r["python"] and HEX40.match(commit), where


def test_no_duplicate_build_groups(builds):
    keys = [(r["package"], r["version"], r["number"], r["subdir"], r["cuda"], r.get("blas"),
             r["arm_variant"], r.get("pytorch"), r["glibc"]) for r in builds]
    assert len(keys) == len(set(keys))


def test_facts_have_sources(cf):
    assert cf["facts"]
    for f in cf["facts"]:
        assert f["repo"] and HEX40.match(f["commit"]) and f["path"] and f["since"], f
        assert f["fact"] and f["meaning"], f


def test_heads_name_each_mirror(cf):
    for repo, head in cf["heads"].items():
        assert HEX40.match(head["commit"]) and re.fullmatch(r"\d{4}-\d\d-\d\d", head["date"]), repo


# ---- regression tests, one per fact of issue 10 --------------------------------------------

def test_torchaudio_2_11_0_was_built_against_pytorch_2_10(builds):
    """conda-forge's torchaudio 2.11.0 needs pytorch 2.10: its .ci_support pins ``pytorch: '2.10'``.

    Source: conda-forge/torchaudio-feedstock cc9368e9aadc73bf5f8194389225bf43e829a834,
    .ci_support/linux_64_cuda_compiler_version12.9python3.10.____cpython.yaml (and siblings).
    """
    rows = [r for r in builds if r["package"] == "torchaudio" and r["version"] == "2.11.0"]
    assert rows
    assert {r["pytorch"] for r in rows} == {"2.10"}
    assert all(r["pytorch_from"] == ".ci_support pytorch key" for r in rows)
    assert {r["commit"] for r in rows} == {"cc9368e9aadc73bf5f8194389225bf43e829a834"}


def test_every_torchaudio_build_is_pinned_to_one_pytorch_minor(builds, cf):
    """Each torchaudio build names exactly one pytorch minor, and pytorch's run_exports turns it
    into ``pytorch >=X.Y,<X.(Y+1)`` (``pin_subpackage('pytorch', max_pin='x.x')``).

    Source: conda-forge/pytorch-cpu-feedstock recipe/meta.yaml (facts: pytorch_run_exports).
    """
    rows = [r for r in builds if r["package"] == "torchaudio" and r["cuda"] is not None
            or r["package"] == "torchaudio"]
    assert rows and all(r["pytorch"] and MINOR.match(r["pytorch"]) for r in rows)
    run_exports = [f for f in cf["facts"] if f["fact"] == "pytorch_run_exports"]
    assert "max_pin='x.x')" in run_exports[-1]["line"]


def test_no_torchaudio_for_win_64(builds):
    """conda-forge has no torchaudio for win-64: its recipe skips win (``skip: [win]``) and no
    .ci_support file targets it.

    Source: conda-forge/torchaudio-feedstock cc9368e9aadc73bf5f8194389225bf43e829a834,
    recipe/recipe.yaml.
    """
    assert any(r["package"] == "torchaudio" for r in builds)
    assert not [r for r in builds if r["package"] == "torchaudio" and r["subdir"] == "win-64"]


def test_win_64_cuda_torchvision_for_pytorch_2_7_to_2_12_used_cuda_12_9(builds):
    """win-64 CUDA 12 torchvision builds from 0.22.0 build 2 to 0.28.0 build 0 (pytorch 2.7 ...
    2.12) were compiled with CUDA 12.9, so nvcc's strong run_export asks cuda-version >=12.9,<13;
    only 0.28.0 build 1 (pytorch 2.13) moved to 12.8.

    Source: conda-forge/torchvision-feedstock .ci_support/win_64_cuda_compiler_version12.9*.yaml
    from cbfbe2972d ("Upgrade to CUDA 12.9", 0.22.0 build 2) to f09e001ebf (0.28.0 build 0),
    and win_64_cuda_compiler_version12.8*.yaml at 488ecd9d35 (0.28.0 build 1).
    """
    tv = [r for r in builds if r["package"] == "torchvision" and r["subdir"] == "win-64"
          and r["cuda"] and r["cuda"].startswith("12.")]
    in_range = [r for r in tv if (_v("0.22.0"), 2) <= (_v(r["version"]), r["number"])
                <= (_v("0.28.0"), 0)]
    assert in_range and {r["cuda"] for r in in_range} == {"12.9"}
    assert {r["pytorch"] for r in in_range} == {"2.7", "2.8", "2.9", "2.10", "2.11", "2.12"}
    assert all(r["cuda_version"] == ">=12.9,<13" for r in in_range)
    later = [r for r in tv if (_v(r["version"]), r["number"]) > (_v("0.28.0"), 0)]
    assert later and {(r["cuda"], r["pytorch"]) for r in later} == {("12.8", "2.13")}


def test_win_64_cuda_pytorch_builds_used_cuda_12_8_from_2_7(builds):
    """win-64 pytorch CUDA 12 builds use 12.8 from 2.7.1 (12.6 before): never 12.9.

    Source: conda-forge/pytorch-cpu-feedstock .ci_support/win_64_*cuda_compiler_version12.8*.yaml.
    """
    pt = [r for r in builds if r["package"] == "pytorch" and r["subdir"] == "win-64"
          and r["cuda"] and r["cuda"].startswith("12.")]
    assert pt
    assert {r["cuda"] for r in pt if _v(r["version"]) >= (2, 7, 1)} == {"12.8"}
    assert "12.9" not in {r["cuda"] for r in pt}


def test_cuda_version_constrains_only_the_driver_major(cf):
    """cuda-version X.Y adds only ``__cuda >=X`` (the major) to the solve.

    Source: conda-forge/cuda-version-feedstock recipe/meta.yaml (facts:
    cuda_version_run_constrained).
    """
    facts = [f for f in cf["facts"] if f["fact"] == "cuda_version_run_constrained"]
    assert facts and "__cuda >={{ version.split(\".\", 1)[0] }}" in facts[-1]["line"]


def test_nvcc_strong_run_export_is_own_minor_to_next_major(cf):
    """A package compiled with nvcc X.Y needs ``cuda-version >=X.Y,<X+1``.

    Source: conda-forge/cuda-nvcc-feedstock recipe/meta.yaml (facts: nvcc_strong_run_export).
    """
    facts = [f for f in cf["facts"] if f["fact"] == "nvcc_strong_run_export"]
    assert facts
    assert "cuda-version >={{ cuda_version }},<{{ cuda_version.split(\".\")[0]|int + 1 }}" \
        in facts[-1]["line"]


def test_pytorch_cuda_builds_require_the_cuda_virtual_package(builds):
    """pytorch CUDA builds list ``__cuda`` in their run requirements.

    Source: conda-forge/pytorch-cpu-feedstock recipe/meta.yaml (facts: pytorch_cuda_run_dep).
    """
    rows = [r for r in builds if r["package"] == "pytorch" and r["cuda"]]
    assert rows and all("__cuda" in r["run"] for r in rows)


# ---- the frozen pytorch channel ------------------------------------------------------------

def test_pytorch_channel_rows_name_their_source():
    data = _load(PC)
    releases = [r["release"] for r in data["releases"]]
    assert releases == ["1.12", "1.13", "2.0", "2.1", "2.2", "2.3", "2.4", "2.5"]
    for r in data["releases"]:
        assert r["repo"] == "pytorch/builder" and HEX40.match(r["commit"]) and r["path"]
        assert r["run"] and r["cuda"]


def test_pytorch_channel_mkl_is_open_ended_and_pinned():
    """pytorch/builder's recipe asks ``mkl >=2018`` on Linux x86_64 for every release 1.12 ... 2.5;
    mkl 2024.1 removed ``iJIT_NotifyEvent``, so pins.yaml closes it with ``mkl <2024.1``, citing
    https://github.com/pytorch/pytorch/issues/123097.

    Source: pytorch/builder conda/pytorch-nightly/meta.yaml on release/1.12 ... release/2.5.
    """
    data = _load(PC)
    for r in data["releases"]:
        assert any(item.startswith("mkl >=2018") for item in r["open_ended"]), r["release"]
    pins = _load(PINS)["pins"]
    mkl = [p for p in pins if p["package"] == "mkl"]
    assert mkl and mkl[0]["spec"] == "<2024.1"
    assert mkl[0]["source"] == "https://github.com/pytorch/pytorch/issues/123097"


def test_pytorch_channel_cuda_mechanism_moves_from_cudatoolkit_to_pytorch_cuda():
    """1.12 selects CUDA with ``cudatoolkit``; 2.0 ... 2.5 with the ``pytorch-cuda`` metapackage.

    Source: pytorch/builder conda/build_pytorch.sh on the release branches.
    """
    by = {r["release"]: r for r in _load(PC)["releases"]}
    assert all(c["requires"].startswith("cudatoolkit") for c in by["1.12"]["cuda"])
    for rel in ("2.0", "2.1", "2.2", "2.3", "2.4", "2.5"):
        assert all(c["requires"].startswith("pytorch-cuda") for c in by[rel]["cuda"]), rel


# ---- parsers, on excerpts of real files (tests/data/feedstock/SOURCES.yaml) ----------------

def _excerpt(name: str) -> str:
    return (EXCERPTS / name).read_text()


def test_excerpt_sources_are_recorded():
    sources = _load(EXCERPTS / "SOURCES.yaml")
    files = {s["file"] for s in sources}
    on_disk = {p.name for p in EXCERPTS.iterdir() if p.name != "SOURCES.yaml"}
    assert files == on_disk
    assert all(HEX40.match(s["commit"]) for s in sources)


def test_rattler_recipe_renders_torchaudio_cuda_variant(tool):
    variant = _load(EXCERPTS / "torchaudio-linux_64_cuda12.9_py3.10.yaml")
    ns = tool.namespace(variant, variant["python"][0], rattler=True)
    r = tool.render_recipe_yaml(_excerpt("torchaudio-recipe.yaml"), ns, "torchaudio")
    assert (r.version, r.number, r.skip, r.uses_cuda) == ("2.11.0", 0, False, True)
    assert r.string == "cuda129_py310h*_0"
    assert "pytorch * cuda*" in r.run and "pytorch" in r.host
    assert tool._pytorch_pin(r, variant) == ("2.10", ".ci_support pytorch key")


def test_rattler_recipe_skips_torchaudio_on_windows(tool):
    variant = dict(_load(EXCERPTS / "torchaudio-linux_64_cuda12.9_py3.10.yaml"))
    variant["target_platform"] = "win-64"
    ns = tool.namespace(variant, variant["python"][0], rattler=True)
    assert tool.render_recipe_yaml(_excerpt("torchaudio-recipe.yaml"), ns, "torchaudio").skip


def test_meta_yaml_build_number_and_string_for_win_cuda_mkl(tool):
    variant = _load(EXCERPTS / "pytorch-win_64_cuda12.8.yaml")
    ns = tool.namespace(variant, variant["python"][2], rattler=False)
    r = tool.render_meta_yaml(_excerpt("pytorch-meta-excerpt.yaml"), ns, "libtorch")
    # build 2, +200 for CUDA, +100 for mkl
    assert (r.version, r.number, r.skip) == ("2.13.0", 302, False)
    assert r.string == "cuda128_mkl_h*_302"


def test_selectors_treat_missing_variant_keys_as_false(tool):
    ns = tool.namespace({"target_platform": "linux-64", "cuda_compiler_version": "12.9"},
                        None, rattler=False)
    assert tool.selector('linux and cuda_compiler_version=="12.9" and arm_variant_type!="tegra"',
                         ns)
    assert not tool.selector("win", ns)


@pytest.mark.parametrize(("cuda", "subdir", "arm", "expected"), [
    ("12.9", "linux-64", "None", "5.0;6.0;7.0;7.5;8.0;8.6;9.0;10.0;12.0+PTX"),
    ("13.0", "linux-64", "None", "7.5;8.0;8.6;9.0;10.0;11.0;12.0+PTX"),
    ("13.0", "linux-aarch64", "sbsa", "7.5;8.0;8.6;8.7;9.0;10.0;11.0;12.0+PTX"),
    ("12.9", "linux-aarch64", "tegra", "8.7+PTX"),
])
def test_build_sh_arch_list(tool, cuda, subdir, arm, expected):
    env = {"cuda_compiler_version": cuda, "target_platform": subdir, "arm_variant_type": arm,
           "OSTYPE": "linux-gnu", "build_platform": "linux-64"}
    res = tool.arch_list(_excerpt("pytorch-build-excerpt.sh"), env, windows=False)
    assert (res.value, res.unknown, res.failed) == (expected, None, False)


def test_build_sh_unknown_cuda_exits(tool):
    env = {"cuda_compiler_version": "11.2", "target_platform": "linux-64",
           "arm_variant_type": "None", "OSTYPE": "linux-gnu"}
    assert tool.arch_list(_excerpt("pytorch-build-excerpt.sh"), env, windows=False).failed


@pytest.mark.parametrize(("name", "cuda", "expected"), [
    ("pytorch-bld-excerpt.bat", "12.8", "5.0;6.0;7.0;7.5;8.0;8.6;9.0;10.0;12.0+PTX"),
    ("pytorch-bld-excerpt.bat", "13.0", "7.5;8.0;8.6;9.0;10.0;11.0;12.0+PTX"),
    ("torchvision-build-f09e001.bat", "12.9", "5.0;6.0;7.0;7.5;8.0;8.6;8.9;9.0;10.0;12.0+PTX"),
])
def test_bat_arch_list(tool, name, cuda, expected):
    res = tool.arch_list(_excerpt(name), {"cuda_compiler_version": cuda}, windows=True)
    assert (res.value, res.unknown, res.failed) == (expected, None, False)


def test_torchvision_win_row_matches_its_ci_support_excerpt(builds):
    """The committed row for torchvision 0.28.0 build 0 win-64 CUDA agrees with the excerpt of
    its .ci_support file (cuda_compiler_version 12.9, pytorch 2.12)."""
    variant = _load(EXCERPTS / "torchvision-win_64_cuda12.9_py3.12-f09e001.yaml")
    rows = [r for r in builds if (r["package"], r["version"], r["number"], r["subdir"])
            == ("torchvision", "0.28.0", 0, "win-64") and r["cuda"]
            and r["cuda"].startswith("12.")]
    assert len(rows) == 1
    assert rows[0]["cuda"] == variant["cuda_compiler_version"][0]
    assert rows[0]["pytorch"] == variant["pytorch"][0]


def test_cuda_version_recipe_excerpt_constrains_major_only(tool):
    text = _excerpt("cuda-version-meta.yaml")
    line = next(ln for ln in text.splitlines() if "__cuda" in ln)
    rendered = tool.render_jinja(line, {"version": "12.9"})
    assert rendered.split("#")[0].strip() == "- __cuda >=12"
