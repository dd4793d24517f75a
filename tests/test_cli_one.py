"""The commands read as one tool: the same option means the same thing everywhere, errors
look alike, help prints as written, contradictions and unknown values are refused in one
line that names what is accepted. Every test runs the real command line (``tests/helpers/cli.py``).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from packaging.version import Version

from conda_torch.cli import SUBCOMMANDS
from conda_torch.constants import BACKEND_FORMS

from .helpers.cli import cli, conda_cli
from .helpers.paths import ROOT, read_fixture
from .helpers.samples import MACHINES, capture_files

COMMANDS = list(SUBCOMMANDS)
REPORTS = ROOT / "tests" / "data" / "reports"


@pytest.fixture(scope="module")
def captures(tmp_path_factory) -> dict[str, list[str]]:
    """Each fixture machine's capture files, and its platform flag where captures omit it."""
    folder = tmp_path_factory.mktemp("captures")
    out = {}
    for key in MACHINES:
        (folder / key).mkdir()
        out[key] = capture_files(folder / key, key)
    return out


def platform(key: str) -> list[str]:
    return ["--platform", MACHINES[key][1]] if MACHINES[key][1] else []


def matrix_versions() -> list[str]:
    from conda_torch.matrix import load

    return load().torch_versions()


# -- 1. --from FILE [FILE ...], repeatable, in every command that reads captures ---------------


def test_from_takes_several_files_and_repeats_in_detect_and_matrix(captures):
    a, b = captures["apple-m1"]
    c = captures["intel-mac"][0]
    run = cli("detect", "--from", a, b, "--from", c, "--json")
    assert run.rc == 0, run.err
    assert json.loads(run.out)["inputs"] == [a, b, c]
    run = cli("matrix", "--from", a, b, "--from", c, "--json", "--torch", "2.4.1")
    assert run.rc == 0, run.err
    assert json.loads(run.out)["machine"]["inputs"] == [a, b, c]


@pytest.mark.parametrize("command", ["generate", "create", "doctor"])
def test_from_takes_several_files_and_repeats_everywhere_else(captures, command, tmp_path):
    a, b = captures["apple-m1"]
    c = captures["intel-mac"][0]
    extra = {
        "generate": ["-o", "-"],
        "create": ["-p", str(tmp_path / "env"), "--dry-run"],
        "doctor": ["--json"],
    }[command]
    run = cli(command, "--from", a, b, "--from", c, *extra)
    assert run.rc != 2 and "error: unrecognized arguments" not in run.err, run.err
    if command == "doctor":  # every file of the paste was read
        doc = json.loads(run.out)
        assert all(Path(p).name in json.dumps(doc) for p in (a, b, c))


def test_recreate_takes_its_environment_file_as_f_and_captures_as_from():
    run = cli("recreate", "--help")
    assert "-f FILE, --file FILE" in run.out
    assert "--from FILE [FILE ...]" in run.out


# -- 2 and 5. a subcommand's error: the error first, then that subcommand's usage ----------------


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unknown_option_is_the_subcommands_error(command):
    run = cli(command, "--no-such-option")
    assert run.rc == 2
    lines = run.err.splitlines()
    assert lines[0] == f"conda-torch {command}: error: unrecognized arguments: --no-such-option"
    assert lines[1].startswith(f"usage: conda-torch {command} ")


def test_an_unknown_option_is_the_subcommands_error_inside_conda(tmp_path):
    run = conda_cli(tmp_path, "generate", "--no-such-option")
    assert run.rc == 2, run.err
    lines = run.err.splitlines()
    assert lines[0] == "conda torch generate: error: unrecognized arguments: --no-such-option"
    assert lines[1].startswith("usage: conda torch generate ")


def test_an_error_inside_conda_is_the_first_line(tmp_path):
    run = conda_cli(tmp_path, "matrix", "--python", "three")
    assert run.rc == 1
    assert run.first_error_line.startswith("CondaTorchValueError: --python 'three'")


def test_an_error_is_the_first_line_without_a_blank_before_it():
    run = cli("matrix", "--python", "three")
    assert run.rc == 1
    assert run.first_error_line == (
        "CondaTorchValueError: --python 'three' is not a Python version: expected X.Y"
    )


def test_a_json_error_is_a_document_and_one_line(captures):
    run = cli("generate", "--from", *captures["h100-driver580"], "--python", "3.x", "--json",
              "-o", "-")  # fmt: skip
    assert run.rc == 1
    assert json.loads(run.out)["success"] is False
    assert run.first_error_line.startswith("CondaTorchValueError: ")


# -- 3. Examples print as lines ----------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_help_examples_are_lines(command):
    run = cli(command, "--help")
    assert run.rc == 0
    block = run.out.split("\nExamples:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(block) >= 2
    for line in block:  # one command per line, indented as written
        assert line.startswith("  ") and line.count("conda torch") == 1, line


# -- 4. --json: every subcommand but the launchers, and README says which ----------------------


def test_readme_names_exactly_the_subcommands_without_json():
    without = {c for c in COMMANDS if "--json" not in cli(c, "--help").out}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (line,) = [ln for ln in readme.splitlines() if "take `--json`" in ln]
    named = set(re.findall(r"`(\w+)`", line.split("except", 1)[1]))
    assert named == without == {"shell", "run"}


# -- 6. messages name what is accepted ---------------------------------------------------------


def test_python_out_of_range_says_the_range_in_matrix_and_generate(captures):
    caps = ["--from", *captures["h100-driver580"], "--platform", "linux-64"]
    lines = []
    for argv in (["matrix", "--python", "2.7", *caps], ["generate", "--python", "2.7", *caps]):
        run = cli(*argv, "-o", "-") if argv[0] == "generate" else cli(*argv)
        assert run.rc == 1
        lines.append(run.first_error_line)
    for line in lines:
        assert re.search(r"python 2\.7 is not supported; these builds support 3\.\d+-3\.\d+", line)
    assert lines[0].split(": ", 1)[1] == lines[1].split(": ", 1)[1]


def test_backend_hint_lists_every_form(captures):
    run = cli("generate", "--from", *captures["h100-driver580"], "--backend", "gpu", "-o", "-")
    assert run.rc == 1
    hint = run.err.splitlines()[1]
    for form in ("auto", "cpu", "cuda", "rocm", "mps", "xpu", *BACKEND_FORMS):
        assert re.search(rf"(?<![\w=]){re.escape(form)}(?![\w=])", hint), form


# -- 7. contradictions, refused in one line ----------------------------------------------------


def test_driver_too_old_for_the_cuda_it_reports_is_refused():
    run = cli("detect", "--driver", "550.54.14", "--cuda", "13.0")
    assert run.rc == 1
    assert run.first_error_line.startswith("CondaTorchValueError: --driver and --cuda disagree")
    assert "580.65.06" in run.first_error_line  # CUDA 13.0's floor, from the matrix
    assert cli("detect", "--driver", "580.65.06", "--cuda", "13.0", "--json").rc == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["generate", "--torch", "2.3", "--torch", "2.9", "-o", "-"],
        ["matrix", "--python", "3.11", "--python", "3.12"],
        ["detect", "--cuda", "12.4", "--cuda", "12.6"],
    ],
    ids=["torch", "python", "cuda"],
)
def test_a_flag_given_twice_with_two_values_is_refused(argv):
    run = cli(*argv)
    assert run.rc == 2
    flag = argv[1]
    assert run.first_error_line.endswith(f"error: {flag} given twice ({argv[2]}, then "
                                         f"{argv[4]}); pass one")  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["matrix", "--limit", "3"], "CondaTorchValueError: --limit goes with --explain"),
        (
            ["create", "-p", "x", "-f", "x.yml", "--as-is", "--without", "torchaudio"],
            "CondaTorchValueError: --as-is takes the file as written; --without would change it",
        ),
    ],
    ids=["limit-without-explain", "as-is-without"],
)
def test_flags_that_cannot_both_apply_are_refused(argv, line):
    run = cli(*argv)
    assert run.rc == 1
    assert run.first_error_line.startswith(line)


def test_nvidia_flags_on_a_mac_are_refused():
    run = cli("detect", "--platform", "osx-arm64", "--gpu", "A100")
    assert run.rc == 1
    assert "--platform osx-arm64 has none" in run.first_error_line


# -- 8. hints name only the command's own flags ------------------------------------------------


def _no_conda(tmp_path: Path) -> dict[str, str]:
    import os
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONDA", "_CE_", "MAMBA"))}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + "/usr/bin:/bin"
    return env


def test_no_conda_hints_dry_run_only_where_it_helps(tmp_path, captures):
    pytest.importorskip("conda_torch")  # (the import below must not be conda's own)
    import importlib.util

    if importlib.util.find_spec("conda") is not None:
        pytest.skip("conda is importable here: it is always found")
    env = _no_conda(tmp_path)
    caps = ["--from", *captures["cpu-linux"]]
    create = cli("create", "-n", "x", *caps, env=env)
    assert "CondaNotFoundError" in create.err
    assert "--dry-run works without conda." in create.err
    assert "--frontend" in create.err
    dry = cli("create", "-n", "x", *caps, "--dry-run", "--json", env=env)
    assert "--dry-run works" not in dry.err + dry.out
    for argv in (["recreate", "-n", "x"], ["doctor", "--all"]):  # no --frontend; recreate's
        run = cli(*argv, env=env)  # dry run reads the environment with conda
        assert "CondaNotFoundError" in run.err, run.err
        assert "--dry-run" not in run.err and "--frontend" not in run.err


# -- 9. nearest versions by version ------------------------------------------------------------


def test_nearest_versions_are_nearest_by_version(captures):
    versions = sorted(matrix_versions(), key=Version)
    caps = ["--from", *captures["h100-driver580"], "--platform", "linux-64", "-o", "-"]
    run = cli("generate", "--torch", "9.9", *caps)
    assert run.rc == 1
    assert run.err.splitlines()[1] == f"Hint: Nearest known: {versions[-1]}."
    run = cli("generate", "--torch", "2.9.9", *caps)
    below = max(v for v in versions if Version(v) < Version("2.9.9"))
    above = min(v for v in versions if Version(v) > Version("2.9.9"))
    assert run.err.splitlines()[1] == f"Hint: Nearest known: {below}, {above}."
    assert below == "2.9.1"


# -- 10. an unrecognised input is refused in bounded time --------------------------------------


def _junk(size: int, seed: int = 12) -> str:
    rng = random.Random(seed)
    words = ["lorem", "ipsum", "dolor", "sit", "amet", "foo", "bar", "value", "data", "row"]
    out, n = [], 0
    while n < size:
        line = " ".join(rng.choice(words) for _ in range(12))
        out.append(line)
        n += len(line) + 1
    return "\n".join(out) + "\n"


def test_a_large_unrecognised_file_is_refused_in_one_line(tmp_path):
    from conda_torch.detect.captures import MAX_BYTES

    big = tmp_path / "big.txt"
    big.write_text(_junk(MAX_BYTES - 4096))
    run = cli("detect", "--from", str(big))
    assert run.rc == 1
    assert run.first_error_line.startswith(f"UnrecognisedInputError: {big}: not a recognised")


def test_readers_see_a_bounded_part_of_any_large_text():
    # The cost of reading is linear in what the readers get (an 8 MB file took 2.9 s): above
    # BOUNDED_CHARS they get only the relevant lines, and never more than BOUNDED_CHARS of them.
    # (A size bound, not a timing: no timed assertions in the tests.)
    from conda_torch.detect.captures import BOUNDED_CHARS, MAX_BYTES, bounded

    junk = _junk(MAX_BYTES - 4096)
    assert bounded(junk) == ""
    noisy = "\n".join(f"torch cuda driver line {i} " + "x" * 60 for i in range(120_000))
    kept = bounded(noisy)
    assert 0 < len(kept) <= BOUNDED_CHARS
    assert kept.startswith("torch cuda driver line 0 ") and kept.endswith("line 119999 " + "x" * 60)
    small = _junk(2000)
    assert bounded(small) == small


def test_a_message_deep_inside_a_large_file_is_still_read(tmp_path):
    (report,) = REPORTS.glob("arch_missing-leggedlab-rtx5090-sm120*.txt")
    message = read_fixture(report)[1]
    junk = _junk(6_000_000)
    path = tmp_path / "log.txt"
    path.write_text(junk[:3_000_000] + "\n" + message + "\n" + junk[3_000_000:])
    run = cli("detect", "--from", str(path), "--json")
    assert run.rc == 0, run.err
    gpus = json.loads(run.out)["nvidia"]["gpus"]
    assert [g["name"] for g in gpus] == ["NVIDIA GeForce RTX 5090"]


# -- 11. matrix --explain and generate choose the same build -----------------------------------


@pytest.mark.parametrize(
    "key", ["h100-driver580", "v100-driver580", "gtx1080ti-windows", "apple-m1", "cpu-linux"]
)
@pytest.mark.parametrize("request_", [[], ["--source", "pip"], ["--python", "3.11"]],
                         ids=["default", "pip", "py311"])  # fmt: skip
def test_explain_best_is_what_generate_writes(captures, key, request_):
    caps = ["--from", *captures[key], *platform(key), *request_]
    explain = cli("matrix", *caps, "--json")
    gen = cli("generate", *caps, "-o", "-", "--json")
    if gen.rc != 0:  # nothing to plan: then nothing is accepted either
        assert gen.rc == 1, gen.err
        assert not any(v["accepted"] for v in json.loads(explain.out)["verdicts"])
        return
    assert explain.rc == 0, explain.err
    best = next(v["candidate"] for v in json.loads(explain.out)["verdicts"] if v["accepted"])
    plan = json.loads(gen.out)["plan"]
    assert (best["torch"], best["source"], best["backend"]) == (
        plan["torch"], plan["source"], plan["backend"],
    )  # fmt: skip


# -- 12. a team file's own pin wins; comments on rewritten lines stay --------------------------

TEAM = """\
name: team
channels:
  - conda-forge
dependencies:
  - python=3.12
  - pytorch>=2.4  # our floor
  - numpy  # numbers
"""


def test_torch_flag_against_the_team_files_pin_is_refused(tmp_path, captures):
    team = tmp_path / "team.yml"
    team.write_text(TEAM)
    caps = ["--from", *captures["h100-driver580"], "--platform", "linux-64"]
    run = cli("generate", "-f", str(team), "--torch", "2.3", *caps, "-o", str(tmp_path / "o.yml"))
    assert run.rc == 1
    assert run.first_error_line.startswith(
        "IncompatibleError: --torch 2.3 contradicts the file's 'pytorch>=2.4'"
    )
    assert not (tmp_path / "o.yml").exists()


def test_rewritten_stack_lines_keep_their_comments(tmp_path, captures):
    team = tmp_path / "team.yml"
    team.write_text(TEAM)
    caps = ["--from", *captures["h100-driver580"], "--platform", "linux-64"]
    run = cli("generate", "-f", str(team), *caps, "-o", "-")
    assert run.rc == 0, run.err
    (line,) = [ln for ln in run.out.splitlines() if ln.lstrip().startswith("- pytorch")]
    assert line.startswith("  - pytorch=") and "# our floor" in line
    assert "  - numpy  # numbers" in run.out
