"""conda_torch.specs: one comparison of what was asked with what is installed, as conda compares.

The same inputs go to conda's own classes (``VersionOrder``, ``VersionSpec``, ``MatchSpec``, run
by the real conda's Python, skipped where no conda is found) and to the stand-alone
implementation (run here, where conda cannot be imported); every answer must be equal, an
invalid input included. The inputs are conda's own documented edge cases (the ordering list of
``VersionOrder``'s docstring, conda 26.7 ``conda/models/version.py``; ``_parse_version_plus_build``
and ``_sanitize_version_str`` examples in ``conda/models/match_spec.py``) and what conda-torch
compares (plans, team files, conda-forge build strings). The expected answers of the cases the
issue is about are also written down, so that they are checked where conda is absent too.
"""

from __future__ import annotations

import json
import os
import subprocess
from itertools import combinations

import pytest

from conda_torch import envfile, specs

from .helpers.paths import ROOT as ROOT_DIR
from .helpers.realconda import require_conda

#: conda's documented order (``VersionOrder`` docstring): each line sorts at or after the one
#: before; ``==`` lines equal the previous one.
ORDER = [
    "0.4", "0.4.0", "0.4.1.rc", "0.4.1.RC", "0.4.1", "0.5a1", "0.5b3", "0.5C1", "0.5",
    "0.9.6", "0.960923", "1.0", "1.1dev1", "1.1_", "1.1a1", "1.1.0dev1", "1.1.dev1", "1.1.a1",
    "1.1.0rc1", "1.1.0", "1.1", "1.1.0post1", "1.1.post1", "1.1post1", "1996.07.12", "1!0.4.1",
    "1!3.1.1.6", "2!0.4.1",
    # more shapes: openssl letters, local tags, dashes, long numbers, pip pre-releases
    "1.1.1", "1.1.1a", "1.1.1k", "1.1.1_", "2.13.0", "2.13.0+cpu", "2.13.0+cu130", "2.13",
    "2.14.1", "0.28.0", "0.28.1", "0.28", "2.11.0", "2.11.0+cu130", "1.0-1", "3.11.7",
    "3.11.10", "2.5.0a0", "2.5.0rc1", "2.5.0.dev20240101", "9.24.0.43", "13.0.96",
]  # fmt: skip

#: version spec -> versions it is tried on
VERSION_SPECS = {
    "0.28.*": ["0.28.0", "0.28.1", "0.280.0", "0.29.0", "0.28"],
    "=0.28": ["0.28.0", "0.28.3", "0.29.0", "0.280"],
    "2.11.*": ["2.11.0", "2.11", "2.1.1", "2.110.0"],
    "2.13.0": ["2.13.0", "2.13", "2.13.0.0", "2.13.1", "2.13.0+cpu"],
    "=1.1.1": ["1.1.1", "1.1.1k", "1.1.1_", "1.1.10", "1.1.2"],
    "1.1.1k": ["1.1.1k", "1.1.1K", "1.1.1"],
    "==2.5.1": ["2.5.1", "2.5.1.0", "2.5.10"],
    "==2.5": ["2.5.1", "2.5"],
    "2.5.*": ["2.5.0", "2.50"],
    "=0.15": ["0.20.1", "0.15.2"],
    "=2.5": ["2.5.1", "2.50.0", "2.6.0", "2.5"],
    ">=2.4,<2.6": ["2.5.1", "2.6.0", "2.4", "2.4.0a1"],
    "2.4.*|2.6.*": ["2.6.0", "2.5.0", "2.4.9"],
    "!=2.5.1": ["2.5.1", "2.5.2"],
    "!=2.5.*": ["2.5.1", "2.6"],
    "~=2.5.1": ["2.5.1", "2.5.9", "2.6.0", "2.5.0"],
    ">=3.11,<3.12.0a0": ["3.11.7", "3.12.0", "3.12.0a0", "3.11"],
    "(1.5|1.6),>1.5.1": ["1.5.2", "1.6.0", "1.5.0"],
    "1.*.1": ["1.2.1", "1.2.2"],
    r"^1\.7\..*$": ["1.7.1", "1.8"],
    "*": ["0", "anything"],
    "3.11.*": ["3.11.7", "3.1.1"],
    ">=1.0.0dev": ["1.0.0a1", "1.0.0dev1", "0.9"],
    "1.0.0post1": ["1.0.0.post1", "1.0.0"],
    "2!1.0": ["2!1.0", "1.0"],
    ">1.8,<2|==1.7": ["1.7", "1.9", "2.0"],
    # invalid on one side or the other: both must refuse
    "<=": ["1.0"],
    "=>1.0": ["1.0"],
    "1.0": ["1.0+a+b", "1..0"],
    "~=1.0.*": ["1.0"],
}

#: (package spec, name, version, build[, channel])
MATCH_SPECS = [
    ("pytorch=2.13.0=cpu*", "pytorch", "2.13.0", "cpu_mkl_py311_h0e2e000_0"),
    ("pytorch=2.13.0=cpu*", "pytorch", "2.13.0", "cuda130_mkl_py311_h0e2e000_0"),
    ("pytorch=2.13.0=cpu*", "pytorch", "2.13.1", "cpu_mkl_py311_h0e2e000_0"),
    ("pytorch=2.13=cpu*", "pytorch", "2.13.1", "cpu_0"),  # =X=BUILD is exactly X
    ("pytorch=2.13", "pytorch", "2.13.1", "cpu_0"),  # =X alone is the series X.*
    ("torchvision=0.28.*=cuda*", "torchvision", "0.28.0", "cuda130_py311_h0e2e000_0"),
    ("torchvision=0.28.*=cuda*", "torchvision", "0.28.0", "cpu_py311_h0e2e000_0"),
    ("torchaudio=2.11.*", "torchaudio", "2.11.0", "cpu_py311h0e2e000_0"),
    ("torchaudio 2.11.* cpu*", "torchaudio", "2.11.0", "cpu_py311h0e2e000_0"),
    ("pytorch==2.5.1", "pytorch", "2.5.1", "x"),
    ("pytorch==2.5", "pytorch", "2.5.1", "x"),
    ("python>=3.11,<3.12", "python", "3.11.7", "0_venv"),
    ("python 3.11.*", "python", "3.12.0", "0"),
    ("conda-forge::pytorch>=2.4,<2.6", "pytorch", "2.5.1", "cuda126_0"),  # no channel
    ("conda-forge::pytorch>=2.4,<2.6", "pytorch", "2.5.1", "cuda126_0", "conda-forge"),
    ("conda-forge::pytorch>=2.4,<2.6", "pytorch", "2.5.1", "cuda126_0", "pytorch"),
    ("pytorch[version='>=2.5,<2.6', build=cuda*]", "pytorch", "2.5.1", "cuda126_0"),
    ("pytorch[version='>=2.5,<2.6', build=cuda*]", "pytorch", "2.5.1", "cpu_0"),
    ("pytorch=*=*cuda*", "pytorch", "2.9.1", "cuda129_generic_py312_h1_300"),
    ("pytorch * ^cuda12[0-9]_.*$", "pytorch", "2.9.1", "cuda129_1"),
    ("openssl=1.1.1", "openssl", "1.1.1k", "h1_0"),
    ("Cuda-Version=12.9", "cuda-version", "12.9", "h1"),
    ("libtorch 2.13.* *_0", "libtorch", "2.13.0", "cpu_mkl_h1_0"),
    ("numpy>=1.20,<2|==2.1", "numpy", "2.1.0", "py311"),
    ("pytorch", "torch", "2.5.1", "0"),
    ("pytorch=2.5.1 # pinned", "pytorch", "2.5.1", "0"),
]

#: What the issue is about, answered by conda 26.7.1 (checked by the parity test below).
KNOWN = [
    ("0.28.*", "0.28.0", True),
    ("2.11.*", "2.11.0", True),
    ("2.11.*", "2.11.0+cu130", True),
    ("2.13.0", "2.13.0", True),
    ("2.13.0", "2.13.0+cpu", True),
    ("2.13.0", "2.14.1", False),
    ("=1.1.1", "1.1.1k", True),
    ("=2.5", "2.50.0", False),
    ("0.28.0", "0.28.1", False),
    ("3.11", "3.11.7", False),  # an exact version, as conda reads "3.11"
    ("3.11.*", "3.11.7", True),
    (None, "1.0", True),
    ("2.13.0", None, True),
    ("2.13.0+cu130", "2.13.0+cpu", False),
]


def _standalone(kind: str, args: list[str]) -> object:
    try:
        if kind == "order":
            a, b = (specs.VersionOrder(x) for x in args)
            return 0 if a == b else (-1 if a < b else 1)
        if kind == "version":
            return bool(specs.VersionSpec(args[0]).match(args[1]))
        if kind == "package":
            name, version, build, channel = specs.parse_match_spec(args[0])
            return bool(
                specs._glob_matches(name, args[1].lower())
                and (channel is None or channel == (args[4] if len(args) > 4 else None))
                and (version is None or specs.VersionSpec(version).match(args[2]))
                and (build is None or specs._glob_matches(build, args[3]))
            )
        raise AssertionError(kind)
    except specs.InvalidSpec:
        return "invalid"


#: Run by conda's own Python: conda's classes answer the same questions, and the public
#: functions of conda_torch.specs (which use conda's classes there) answer too.
_CONDA_SIDE = r"""
import json, sys
from conda.exceptions import InvalidMatchSpec, InvalidVersionSpec
from conda.models.match_spec import MatchSpec
from conda.models.version import VersionOrder, VersionSpec
from conda_torch import specs
assert specs.conda_available()
out = []
for kind, args in json.load(sys.stdin):
    try:
        if kind == "order":
            a, b = VersionOrder(args[0]), VersionOrder(args[1])
            conda = 0 if a == b else (-1 if a < b else 1)
            ours = specs.compare(*args)
        elif kind == "version":
            conda = VersionSpec(args[0]).match(args[1])
            ours = specs.version_matches(*args)
        else:
            rec = {"name": args[1], "version": args[2], "build": args[3], "build_number": 0}
            if len(args) > 4:
                rec["channel"] = args[4]
            conda = MatchSpec(args[0]).match(rec)
            ours = specs.package_matches(*args)
    except (InvalidVersionSpec, InvalidMatchSpec, specs.InvalidSpec):
        conda = ours = "invalid"
    norm = lambda x: x if x == "invalid" or type(x) is int else bool(x)
    out.append([norm(conda), norm(ours)])
print(json.dumps(out))
"""


def _cases() -> list[tuple[str, list[str]]]:
    cases: list[tuple[str, list[str]]] = [("order", [a, b]) for a, b in combinations(ORDER, 2)]
    cases += [("version", [s, v]) for s, versions in VERSION_SPECS.items() for v in versions]
    cases += [("package", list(case)) for case in MATCH_SPECS]
    cases += [("version", [a, h]) for a, h, _ in KNOWN if a and h and "+" not in h]
    return cases


def test_the_standalone_implementation_answers_as_conda_does() -> None:
    conda = require_conda()
    cases = _cases()
    proc = subprocess.run(
        [conda.python, "-c", _CONDA_SIDE],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT_DIR)},
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    answers = json.loads(proc.stdout)
    assert len(answers) == len(cases)
    differ = []
    for (kind, args), (conda_answer, wrapped) in zip(cases, answers):
        mine = _standalone(kind, args)
        if not (conda_answer == mine == wrapped):
            differ.append((kind, args, conda_answer, wrapped, mine))
    assert not differ, "\n".join(map(str, differ))
    # the cases are not trivial: both answers occur, and some inputs are refused
    flat = [a for a, _ in answers]
    assert {True, False, "invalid", -1, 1, 0} <= set(flat)


@pytest.mark.parametrize(("asked", "installed", "expected"), KNOWN, ids=str)
def test_what_was_asked_against_what_is_installed(asked, installed, expected) -> None:
    assert specs.installed_matches(asked, installed) is expected


def test_conda_order_is_the_documented_one() -> None:
    """The documented ordering, checked here too (conda absent): ascending, with the
    documented equalities."""
    documented = ORDER[: ORDER.index("2!0.4.1") + 1]
    equal_to_previous = {"0.4.0", "0.4.1.RC", "1.1.dev1", "1.1", "1.1.post1"}
    for before, after in zip(documented, documented[1:]):
        expected = 0 if after in equal_to_previous else -1
        assert specs.compare(before, after) == expected, (before, after)


def test_team_file_pins_use_the_same_comparison() -> None:
    """envfile's pin checks go through specs: conda's ``=1.1.1`` takes ``1.1.1k``."""
    assert not hasattr(envfile, "conda_version_matches")
    assert specs.version_matches("=1.1.1", "1.1.1k")
    assert not specs.version_matches("=0.15", "0.20.1")
