"""environment.yml reading, writing and spec handling (conda_torch.envfile)."""

from __future__ import annotations

import os
import sys

import pytest

from conda_torch import envfile, specs
from conda_torch.envfile import EnvSpec
from conda_torch.exceptions import (
    EnvironmentFileError,
    IncompatibleError,
    InputFileError,
    OutputExistsError,
    OutputWriteError,
)
from conda_torch.matrix import load as load_matrix
from conda_torch.plan import make_plan
from conda_torch.prepare import specialize

from .helpers.samples import TEAM, capture_files

CONDA_DEFAULT_LAYOUT = """\
name: x
channels:
- conda-forge
dependencies:
- python=3.11
- pip:
  - requests
variables:
    A: "1"
"""


# -- loading --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", [TEAM, CONDA_DEFAULT_LAYOUT], ids=["indented-comments", "flush-sequences"]
)
def test_round_trip_keeps_text(text):
    doc = envfile.loads(text, "env.yml")
    assert doc.dump() == text


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("name: x\ndependencies: [python\n", 3, 1),
        ("name: x\n  bad: indent\ndependencies: []\n", 2, 6),
        ("dependencies:\n  - python\n  - 'numpy\n", 4, 1),
        ("name: a\nname: b\ndependencies: []\n", 2, 1),
    ],
    ids=["unclosed-flow", "bad-indent", "unclosed-quote", "duplicate-key"],
)
def test_malformed_yaml_reports_line_and_column(text, line, column):
    with pytest.raises(EnvironmentFileError) as err:
        envfile.loads(text, "team.yml")
    assert f"line {line}, column {column}" in err.value.line
    assert err.value.line.startswith("team.yml: malformed YAML")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("- python\n- numpy\n", "the top level is a list"),
        ("name: x\nchannels: [conda-forge]\n", "no 'dependencies' key"),
        ("just a string\n", "the top level is a string"),
        ("dependencies: 3\n", "'dependencies' is a number"),
        ("dependencies: {python: 3}\n", "'dependencies' is a mapping"),
        ("dependencies:\n  - [python]\n", "not a package spec"),
        ("dependencies: []\nchannels: conda-forge\n", "'channels' must be a list"),
        ("dependencies: []\nvariables: [A]\n", "'variables' must be a mapping"),
        ("   \n", "empty file"),
    ],
    ids=[
        "list",
        "no-deps",
        "string",
        "deps-number",
        "deps-mapping",
        "dep-list",
        "channels-str",
        "variables-list",
        "empty",
    ],
)
def test_not_an_environment_file(text, needle):
    with pytest.raises(EnvironmentFileError) as err:
        envfile.loads(text, "x.yml")
    assert needle in err.value.line


def test_load_reads_files_and_reports_missing(tmp_path):
    path = tmp_path / "environment.yml"
    path.write_text(TEAM, encoding="utf-8")
    doc = envfile.load(path)
    assert doc.data["name"] == "vision-team"
    assert doc.pip[-1] == "rich"
    with pytest.raises(InputFileError, match="no such file"):
        envfile.load(tmp_path / "missing.yml")
    with pytest.raises(InputFileError, match="directory"):
        envfile.load(tmp_path)
    bad = tmp_path / "latin1.yml"
    bad.write_bytes(b"dependencies:\n  - caf\xe9\n")
    with pytest.raises(EnvironmentFileError, match="not UTF-8"):
        envfile.load(bad)


def test_empty_dependencies_become_a_list():
    doc = envfile.loads("name: x\ndependencies:\n")
    assert list(doc.dependencies) == []


# -- spec strings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "name", "version"),
    [
        ("pytorch=2.5", "pytorch", "=2.5"),
        ("pytorch==2.5.1", "pytorch", "==2.5.1"),
        ("pytorch=2.5.1=*cuda*", "pytorch", "=2.5.1"),
        ("conda-forge::pytorch>=2.4,<2.6", "pytorch", ">=2.4,<2.6"),
        ("pytorch 2.5.* cuda*", "pytorch", "2.5.*"),
        ("pytorch[version='>=2.4']", "pytorch", ">=2.4"),
        ("torchvision", "torchvision", None),
        ("Cuda-Version=12.9", "cuda-version", "=12.9"),
        ("__cuda>=12.6", "__cuda", ">=12.6"),
    ],
    ids=lambda v: str(v),
)
def test_conda_spec_parts(spec, name, version):
    assert specs.conda_name(spec) == name
    assert envfile.conda_version_spec(spec) == version


@pytest.mark.parametrize(
    ("line", "name"),
    [
        ("torch==2.9.1+cu128", "torch"),
        ("Torch_Vision>=0.20", "torch-vision"),
        ("--index-url https://x", None),
        ("rich  # pretty", "rich"),
    ],
    ids=["pinned", "normalized", "option", "comment"],
)
def test_pip_name(line, name):
    assert specs.pip_name(line) == name


@pytest.mark.parametrize(
    ("line", "torch_index", "index_option"),
    [
        ("--index-url https://download.pytorch.org/whl/cu128", True, True),
        ("--extra-index-url=https://download.pytorch.org/whl/cpu", True, False),
        ("-i https://pypi.company.example/simple", False, True),
        ("-f https://download.pytorch.org/whl/torch_stable.html", True, False),
        ("rich", False, False),
    ],
    ids=["index", "extra-equals", "own-index", "find-links", "package"],
)
def test_index_lines(line, torch_index, index_option):
    assert envfile.is_torch_index_line(line) is torch_index
    assert envfile.is_index_option(line) is index_option


def test_team_request_reads_pins():
    req = envfile.team_request(envfile.loads(TEAM))
    assert req.torch == "2.5"
    assert req.torch_line == "pytorch=2.5"
    assert req.python == "3.10"
    assert [(p[0], p[1]) for p in req.pins] == [("torch", "=2.5")]


def test_team_request_reads_pip_pins():
    text = (
        "dependencies:\n  - python>=3.10\n  - pip:\n"
        "      - torch==2.9.1+cu128\n      - torchvision==0.24.1\n"
    )
    req = envfile.team_request(envfile.loads(text))
    assert req.torch == "2.9.1"
    assert req.python is None  # a range is not a pin
    assert {p[0] for p in req.pins} == {"torch", "torchvision"}


# -- writing --------------------------------------------------------------------------------

SPEC = EnvSpec(
    name="t",
    channels=("conda-forge", "nodefaults"),
    dependencies=("python=3.12", "pytorch=2.9.1", "cuda-version=12.9"),
    pip=(),
    variables=(("PYTHONNOUSERSITE", "1"),),
    header=("Generated by conda-torch for linux-64.", "", "Why:", "  - a reason"),
    comments=(("cuda-version=12.9", "CUDA 12.9 runtime"),),
)


def test_dump_writes_conda_layout_and_never_nodefaults():
    text = envfile.dump(SPEC)
    assert "nodefaults" not in text
    lines = text.splitlines()
    assert lines[0] == "# Generated by conda-torch for linux-64."
    assert envfile.HEADER_END in lines
    assert "  - cuda-version=12.9" in text and "# CUDA 12.9 runtime" in text
    doc = envfile.loads(text)
    assert doc.data["channels"] == ["conda-forge"]
    assert list(doc.dependencies) == list(SPEC.dependencies)
    assert doc.data["variables"]["PYTHONNOUSERSITE"] == "1"
    assert '"1"' in text  # a string, as conda's env vars are


def test_dump_pip_section():
    spec = EnvSpec(
        name=None,
        channels=("conda-forge",),
        dependencies=("python=3.12", "pip"),
        pip=("--index-url https://download.pytorch.org/whl/cu128", "torch==2.9.1+cu128"),
    )
    doc = envfile.loads(envfile.dump(spec))
    assert "name" not in doc.data
    assert list(doc.pip) == list(spec.pip)


def test_write_atomic_refuses_existing_then_forces(tmp_path):
    path = tmp_path / "environment.yml"
    envfile.write_atomic(path, "a: 1\n")
    assert path.read_text() == "a: 1\n"
    with pytest.raises(OutputExistsError) as err:
        envfile.write_atomic(path, "a: 2\n")
    assert "--force" in str(err.value)
    assert path.read_text() == "a: 1\n"
    envfile.write_atomic(path, "a: 2\n", force=True)
    assert path.read_text() == "a: 2\n"
    assert sorted(os.listdir(tmp_path)) == ["environment.yml"]


def test_write_atomic_keeps_mode_when_forcing(tmp_path):
    path = tmp_path / "e.yml"
    path.write_text("old\n")
    os.chmod(path, 0o640)
    envfile.write_atomic(path, "new\n", force=True)
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o640)


def test_write_atomic_failure_leaves_no_partial_file(tmp_path):
    path = tmp_path / "environment.yml"
    path.write_text("original\n")
    with pytest.raises(OutputWriteError):
        envfile.write_atomic(path, "half written \ud800 never\n", force=True)
    assert path.read_text() == "original\n"
    assert os.listdir(tmp_path) == ["environment.yml"]


def test_write_atomic_unwritable_paths(tmp_path):
    with pytest.raises(OutputWriteError, match="does not exist"):
        envfile.write_atomic(tmp_path / "no" / "such" / "e.yml", "x\n")
    with pytest.raises(OutputWriteError, match="is a directory"):
        envfile.write_atomic(tmp_path, "x\n", force=True)


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root ignores permissions")
def test_write_atomic_read_only_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o500)
    try:
        with pytest.raises(OutputWriteError, match="cannot be written"):
            envfile.write_atomic(ro / "e.yml", "x\n")
        assert os.listdir(ro) == []
    finally:
        os.chmod(ro, 0o700)


# -- specializing a team's file for a machine (real plans, from real captures) ----------------


@pytest.fixture(scope="module")
def h100(tmp_path_factory):
    from conda_torch.detect import detect

    return detect(
        from_files=capture_files(tmp_path_factory.mktemp("h100"), "h100-driver580"), environ={}
    )


def _specialize(text, machine, **kw):
    doc = envfile.loads(text, "team.yml")
    request = envfile.team_request(doc)
    kw.setdefault("torch", request.torch)
    kw.setdefault("python", request.python)
    matrix = load_matrix()
    plan = make_plan(machine, subdir="linux-64", matrix=matrix, **kw)
    return plan, specialize(doc, plan, matrix=matrix)


def _body(text):
    return text.split(envfile.HEADER_END + "\n", 1)[1]


def test_specialize_keeps_every_other_line_and_comment(h100):
    plan, out = _specialize(TEAM, h100)
    body = _body(out)
    torch_names = envfile.TORCH_CONDA_PACKAGES
    kept = [
        ln
        for ln in TEAM.splitlines()
        if not (ln.strip().startswith("- ") and specs.conda_name(ln.strip()[2:]) in torch_names)
        and "download.pytorch.org" not in ln
        and ln.strip() not in ("- pytorch", "- nvidia")
    ]
    # every kept line is there, in the same order
    lines = body.splitlines()
    pos = -1
    for ln in kept:
        assert ln in lines, ln
        assert lines.index(ln) > pos, ln
        pos = lines.index(ln)
    # the stack replaced the old lines, right under the comment that introduced them
    i = lines.index("  # the torch stack")
    assert lines[i + 1].startswith(f"  - pytorch={plan.candidate.torch}")
    assert plan.candidate.torch.startswith("2.5")  # the file's pytorch=2.5 is the request
    doc = envfile.loads(out)
    assert doc.data["channels"] == list(plan.candidate.channels)
    assert doc.data["variables"] == {"MY_FLAG": "on", "PYTHONNOUSERSITE": "1"}
    assert list(doc.data) == ["name", "channels", "dependencies", "variables"]
    assert list(doc.pip) == ["rich"]


def test_specialize_is_idempotent(h100):
    _, once = _specialize(TEAM, h100)
    _, twice = _specialize(once, h100)
    assert _body(twice) == _body(once)
    assert twice.count(envfile.HEADER_END) == 1


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("  - torchvision=0.15", "torchvision 0.20"),
        ("  - torchaudio=0.13", "torchaudio 2.5"),
    ],
    ids=["torchvision-0.15", "torchaudio-0.13"],
)
def test_specialize_refuses_contradicting_pins(h100, line, needle):
    text = TEAM.replace("  - torchvision\n", line + "\n")
    with pytest.raises(IncompatibleError) as err:
        _specialize(text, h100)
    assert line.strip()[2:] in err.value.line
    assert needle in err.value.line


def test_specialize_torch_flag_outside_the_files_torch_pin_is_refused(h100):
    with pytest.raises(IncompatibleError) as err:
        _specialize(TEAM, h100, torch="2.9")
    assert err.value.line.startswith("--torch 2.9 contradicts the file's 'pytorch=2.5'")


def test_specialize_torch_flag_within_the_files_torch_pin_narrows_it(h100):
    plan, out = _specialize(TEAM.replace("pytorch=2.5 ", "pytorch>=2.5 "), h100, torch="2.9")
    assert plan.candidate.torch.startswith("2.9")
    assert "pytorch>=2.5" not in _body(out)
    # the rewritten line keeps the team's own comment
    line = next(ln for ln in _body(out).splitlines() if ln.strip().startswith("- pytorch="))
    assert line.rstrip().endswith("# keep in sync with CI") or "# keep in sync with CI  #" in line


def test_specialize_to_pip_keeps_other_pip_packages_on_their_index(h100):
    plan, out = _specialize(TEAM.replace("pytorch=2.5 ", "pytorch>=2.5 "), h100, torch="2.9",
                            source="pip")  # fmt: skip
    doc = envfile.loads(out)
    pip = list(doc.pip)
    assert "rich" in pip
    assert not any(p.startswith("--index-url") for p in pip)  # would hide PyPI from 'rich'
    if plan.candidate.pip_index:
        assert pip[0] == f"--extra-index-url {plan.candidate.pip_index}"
    assert [p for p in pip if p.startswith("torch==")] == [plan.candidate.pip_specs[0]]


def test_specialize_inserts_what_is_missing(h100):
    text = "# minimal\ndependencies:\n  - numpy\n  - pip:\n      - torch==2.0.1\n"
    plan, out = _specialize(text, h100)
    doc = envfile.loads(out)
    assert list(doc.data) == ["channels", "dependencies", "variables"]
    deps = [d for d in doc.dependencies if isinstance(d, str)]
    assert deps[0] == f"python={plan.python}" and "numpy" in deps
    assert plan.candidate.torch == "2.0.1"  # the pip pin was the request
    assert "# minimal" in out


def test_specialize_drops_nodefaults_and_torch_channels(h100):
    text = "channels:\n  - pytorch\n  - bioconda\n  - nodefaults\ndependencies:\n  - pytorch\n"
    plan, out = _specialize(text, h100)
    channels = envfile.loads(out).data["channels"]
    assert channels == [*plan.candidate.channels, "bioconda"]


def test_specialize_python_flag_replaces_the_files_python(h100):
    plan, out = _specialize(TEAM, h100, python="3.12")
    deps = [d for d in envfile.loads(out).dependencies if isinstance(d, str)]
    assert "python=3.12" in deps and "python=3.10" not in deps


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("-r extra.txt", "-r /team/extra.txt"),
        ("--requirement=../r.txt", "--requirement=/r.txt"),
        ("-c constraints.txt", "-c /team/constraints.txt"),
        ("-e ./pkg", "-e /team/pkg"),
        ("-e .[dev]", "-e /team[dev]"),
        ("./dist/x-1.0-py3-none-any.whl", "/team/dist/x-1.0-py3-none-any.whl"),
        (".", "/team"),
        ("rich>=13", "rich>=13"),
        ("--index-url https://download.pytorch.org/whl/cpu", None),
        ("-e git+https://github.com/x/y", None),
        ("-r https://example.org/req.txt", None),
        ("/abs/pkg", None),
    ],
)
def test_relative_pip_paths_become_absolute(line, expected):
    """A team file's pip paths are read from its own folder, as conda reads them."""
    doc = envfile.loads(f"dependencies:\n  - pip\n  - pip:\n    - {line}\n")
    changed = envfile.absolute_pip_paths(doc, "/team")
    assert doc.pip[0] == (expected or line)
    assert changed is (expected is not None and expected != line)


@pytest.mark.parametrize(
    "spec",
    [
        SPEC,
        EnvSpec(
            name=None,
            channels=("conda-forge",),
            dependencies=("python=3.13", "pip", "__cuda>=13"),
            pip=(
                "--index-url https://download.pytorch.org/whl/cu130",
                "torch==2.13.0+cu130",
                "torchvision==0.28.0+cu130",
            ),
            variables=(("PYTHONNOUSERSITE", "1"),),
            comments=(
                ("__cuda>=13", "an NVIDIA driver for CUDA 13.x (CONDA_OVERRIDE_CUDA=13.0 ...)"),
                ("--index-url https://download.pytorch.org/whl/cu130", "cu130 wheels"),
            ),
        ),
        # values YAML would read as something else, or that need quotes: ruamel.yaml writes them
        EnvSpec(name="true", channels=("conda-forge",), dependencies=("python=3.12",)),
        EnvSpec(name="3.12", channels=("conda-forge",), dependencies=("python=3.12",)),
        EnvSpec(name="yes", channels=("conda-forge",), dependencies=("python=3.12",)),
        EnvSpec(name="a: b", channels=("conda-forge",), dependencies=("python=3.12",)),
        EnvSpec(name="t", channels=("https://conda.anaconda.org/conda-forge",),
                dependencies=("python >=3.10,<3.13", "numpy #1")),  # fmt: skip
        EnvSpec(name="t", channels=(), dependencies=("python=3.12",)),
        EnvSpec(name="t", channels=("conda-forge",), dependencies=("*weird", "[x]", "a:")),
        EnvSpec(name="t", channels=("conda-forge",), dependencies=("python",),
                variables=(("A", 'say "hi"'), ("B", "back\\slash"), ("C", "ünï"))),  # fmt: skip
    ],
)
def test_dump_without_ruamel_is_ruamels_text(spec):
    """Where ``dump`` writes the text itself it is ruamel.yaml's; elsewhere ruamel writes it."""
    plain = envfile._dump_plain(spec)
    ruamel = envfile._dump_ruamel(spec)
    assert plain is None or plain == ruamel
    assert envfile.dump(spec) == ruamel
    assert envfile.loads(ruamel).dependencies is not None
