"""Value types: parse from their usual strings, print back, order, and fail with named errors."""

from __future__ import annotations

import pytest

from conda_torch import values
from conda_torch.constants import SUBDIRS
from conda_torch.exceptions import CondaTorchValueError, UnknownPlatformError, UnknownVersionError
from conda_torch.models import Backend, Release, Source, Subdir, version_tuple

# -- Subdir ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", SUBDIRS, ids=SUBDIRS)
def test_subdir_round_trips(value):
    sd = Subdir.parse(value)
    assert str(sd) == value
    assert Subdir.parse(str(sd)) == sd
    assert Subdir.parse(f"  {value.upper()} ") == sd


@pytest.mark.parametrize(
    ("value", "os", "arch"),
    [
        ("linux-64", "linux", "x86_64"),
        ("linux-aarch64", "linux", "aarch64"),
        ("linux-ppc64le", "linux", "ppc64le"),
        ("osx-64", "osx", "x86_64"),
        ("osx-arm64", "osx", "arm64"),
        ("win-64", "win", "x86_64"),
    ],
    ids=lambda v: str(v),
)
def test_subdir_os_and_arch(value, os, arch):
    sd = Subdir.parse(value)
    assert (sd.os, sd.arch) == (os, arch)
    assert sd.is_macos == (os == "osx")


@pytest.mark.parametrize(
    ("typo", "suggested"),
    [
        ("linux64", "linux-64"),
        ("osx-arm", "osx-arm64"),
        ("win64", "win-64"),
        ("linux-aarch", "linux-aarch64"),
    ],
    ids=["linux64", "osx-arm", "win64", "linux-aarch"],
)
def test_subdir_typo_suggests_and_lists_valid(typo, suggested):
    with pytest.raises(UnknownPlatformError) as info:
        Subdir.parse(typo)
    err = info.value
    assert isinstance(err, CondaTorchValueError)
    assert typo in err.line
    assert any(suggested in h for h in err.hints)
    assert any(all(s in h for s in SUBDIRS) for h in err.hints)


def test_subdir_constructor_validates_and_is_frozen():
    with pytest.raises(UnknownPlatformError):
        Subdir("win-arm64")
    sd = Subdir("linux-64")
    with pytest.raises(values.FrozenInstanceError):
        sd.value = "osx-64"  # type: ignore[misc]


# -- Backend --------------------------------------------------------------------------------

BACKENDS = [
    ("cpu", "cpu", None, "cpu", None),
    ("CPU", "cpu", None, "cpu", None),
    ("cu126", "cuda", "12.6", "cu126", "12.6"),
    ("cu118", "cuda", "11.8", "cu118", "11.8"),
    ("cu102", "cuda", "10.2", "cu102", "10.2"),
    ("cu130", "cuda", "13.0", "cu130", "13.0"),
    ("cuda12.6", "cuda", "12.6", "cu126", "12.6"),
    ("cuda=12.6", "cuda", "12.6", "cu126", "12.6"),
    ("cuda 12.8", "cuda", "12.8", "cu128", "12.8"),
    ("cuda", "cuda", None, "cuda", None),
    ("rocm6.4", "rocm", "6.4", "rocm6.4", None),
    ("rocm=6.2.4", "rocm", "6.2.4", "rocm6.2.4", None),
    ("rocm", "rocm", None, "rocm", None),
    ("mps", "mps", None, "mps", None),
    ("xpu", "xpu", None, "xpu", None),
]


@pytest.mark.parametrize(
    ("text", "kind", "version", "printed", "cuda"), BACKENDS, ids=[b[0] for b in BACKENDS]
)
def test_backend_parse_and_print(text, kind, version, printed, cuda):
    b = Backend.parse(text)
    assert (b.kind, b.version) == (kind, version)
    assert str(b) == printed
    assert b.cuda_version == cuda
    assert Backend.parse(str(b)) == b
    assert hash(Backend.parse(str(b))) == hash(b)


@pytest.mark.parametrize(
    "text",
    ["12.6", "cuda12", "gpu", "", "cu1", "cuda=twelve", "rocmx", "cpu12.6", "nvidia"],
    ids=[
        "bare-version",
        "cuda12",
        "gpu",
        "empty",
        "cu1",
        "cuda-word",
        "rocmx",
        "cpu12.6",
        "nvidia",
    ],
)
def test_backend_bad_input_is_named_error(text):
    with pytest.raises(UnknownVersionError) as info:
        Backend.parse(text)
    assert isinstance(info.value, CondaTorchValueError)
    assert info.value.line.startswith("unknown backend")


def test_backend_constructor_refuses_versions_on_unversioned_kinds():
    with pytest.raises(UnknownVersionError):
        Backend("cpu", "1.0")
    with pytest.raises(UnknownVersionError):
        Backend("tpu")


def test_backend_orders_within_kind_only():
    assert Backend.parse("cu118") < Backend.parse("cu126") < Backend.parse("cu130")
    assert Backend.parse("cu132") > Backend.parse("cu130")
    assert Backend.parse("rocm6.2") < Backend.parse("rocm6.2.4") < Backend.parse("rocm6.3")
    assert max([Backend.parse(x) for x in ("cu126", "cu102", "cu130", "cu128")]) == Backend.parse(
        "cu130"
    )
    with pytest.raises(TypeError):
        _ = Backend.parse("cu126") < Backend.parse("rocm6.4")
    mixed = sorted(
        (Backend.parse(x) for x in ("cpu", "rocm6.4", "cu130", "mps", "cu118", "xpu")),
        key=lambda b: b.sort_key,
    )
    assert [str(b) for b in mixed] == ["cu118", "cu130", "rocm6.4", "xpu", "mps", "cpu"]


@pytest.mark.parametrize(
    ("filt", "build", "expected"),
    [
        ("cuda", "cu126", True),
        ("cuda=12.6", "cu126", True),
        ("cuda=12.6", "cu128", False),
        ("cu126", "rocm6.4", False),
        ("rocm", "rocm6.2.4", True),
        ("rocm6.2", "rocm6.2.4", True),
        ("rocm6.2", "rocm6.3", False),
        ("cpu", "mps", True),
        ("mps", "cpu", False),
        ("xpu", "xpu", True),
    ],
    ids=lambda v: str(v),
)
def test_backend_filter_matches(filt, build, expected):
    assert Backend.parse(filt).matches(Backend.parse(build)) is expected


# -- Source ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["conda-forge", "pytorch", "pip"], ids=["conda-forge", "pytorch", "pip"]
)
def test_source_round_trips(value):
    s = Source.parse(value)
    assert str(s) == value
    assert Source(value) is s
    assert s.is_conda == (value != "pip")


def test_source_bad_input_suggests():
    with pytest.raises(UnknownVersionError) as info:
        Source.parse("conda")
    assert "conda-forge" in " ".join(info.value.hints)


# -- Release --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "public", "local", "minor"),
    [
        ("2.5.1", "2.5.1", None, "2.5"),
        ("2.5.1+cu124", "2.5.1", "cu124", "2.5"),
        ("2.11.0+cu130", "2.11.0", "cu130", "2.11"),
        ("1.13.1+cu117.with.pypi.cudnn", "1.13.1", "cu117.with.pypi.cudnn", "1.13"),
        ("2.6.0a0+git1eba9b3", "2.6.0a0", "git1eba9b3", "2.6"),
        ("2.8.0.dev20250528+cpu", "2.8.0.dev20250528", "cpu", "2.8"),
    ],
    ids=lambda v: str(v),
)
def test_release_parse(text, public, local, minor):
    r = Release.parse(text)
    assert (str(r), r.local, r.minor) == (public, local, minor)


def test_release_ignores_local_tags_when_comparing():
    assert Release.parse("2.5.1+cu124") == Release.parse("2.5.1") == Release.parse("2.5.1+cpu")
    assert Release.parse("2.10.0") > Release.parse("2.9.1")
    with pytest.raises(UnknownVersionError):
        Release.parse("two.five")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("12.6", (12, 6)),
        ("535.129.03", (535, 129, 3)),
        ("580", (580,)),
        ("2.5.1+cu121", (2, 5, 1)),
        ("rocm-6.2.0", (6, 2, 0)),
        ("N/A", ()),
        (None, ()),
    ],
    ids=["cuda", "driver", "branch", "local-tag", "folder", "no-digits", "none"],
)
def test_version_tuple(text, key):
    assert version_tuple(text) == key


@pytest.mark.parametrize(
    ("installer", "channel", "source"),
    [
        ("conda", "https://conda.anaconda.org/conda-forge/linux-64", Source.CONDA_FORGE),
        ("conda", "conda-forge", Source.CONDA_FORGE),
        ("conda", "file:///srv/mirror/conda-forge/linux-64", Source.CONDA_FORGE),  # a mirror
        ("conda", "https://conda.anaconda.org/pytorch/linux-64", Source.PYTORCH),
        ("conda", "https://repo.anaconda.com/pkgs/main/linux-64", None),  # defaults' own builds
        ("pip", None, Source.PIP),
        (None, None, None),
    ],
)
def test_whose_pairings_apply_to_an_installed_torch(installer, channel, source):
    """conda-forge's torchaudio 2.11.0 pairs with its pytorch 2.10 (its own build pin), pip's
    with torch >= 2.11: the check must know whose build is installed."""
    assert Source.of_install(installer, channel) is source
