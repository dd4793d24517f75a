"""conda_torch.environments: one resolver and one name rule for every subcommand's ``-n``."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import pytest

from conda_torch import environments as envs
from conda_torch.exceptions import CondaNotFoundError, CondaTorchValueError

from .helpers.cli import cli
from .helpers.paths import ROOT

if TYPE_CHECKING:
    from pathlib import Path

#: Every subcommand that takes ``-n NAME`` of an environment, with what else it needs.
SUBCOMMANDS = (
    ("validate",),
    ("doctor",),
    ("shell",),
    ("run", "--", "true"),
    ("recreate", "--dry-run"),
    ("create", "--dry-run"),
)


def _without_conda(tmp_path: Path) -> dict[str, str]:
    """This process's variables with no way to find conda (no CONDA_EXE, an empty PATH)."""
    env = {k: v for k, v in os.environ.items() if k not in ("CONDA_EXE", "MAMBA_EXE", "_CE_M")}
    env.update(PYTHONPATH=str(ROOT), PATH=str(tmp_path))
    return env


def _first_line(args: tuple[str, ...], name: str, env: dict[str, str]) -> str:
    cmd, *rest = args
    done = cli(cmd, "-n", name, *rest, env=env, timeout=300)
    assert done.returncode != 0, (args, done.stdout)
    assert "Traceback" not in done.stderr, done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert lines, (args, done.stdout)
    return lines[0]


@pytest.mark.parametrize("name", ["a/b", "x\\y", "my env", "a:b", ".."])
def test_every_subcommand_refuses_a_bad_name_with_the_same_line(tmp_path: Path, name: str):
    """Without conda, `validate -n a/b` and `shell -n a/b` once said different things (a path
    separator; conda was not found): the name rule now comes first, everywhere."""
    env = _without_conda(tmp_path)
    lines = {args[0]: _first_line(args, name, env) for args in SUBCOMMANDS}
    assert len(set(lines.values())) == 1, lines
    assert f"invalid environment name {name!r}" in next(iter(lines.values()))


def test_a_good_name_without_conda_says_conda_was_not_found(tmp_path: Path):
    import importlib.util

    if importlib.util.find_spec("conda") is not None:
        pytest.skip("this interpreter can import conda (python -m conda is always found)")
    env = _without_conda(tmp_path)
    lines = {args[0]: _first_line(args, "ml", env) for args in SUBCOMMANDS if args[0] != "create"}
    assert len(set(lines.values())) == 1, lines
    assert "cannot resolve environment name 'ml': conda was not found" in lines["validate"]


def test_the_resolver_checks_the_name_before_looking_for_conda(tmp_path: Path):
    bare = {"PATH": str(tmp_path)}
    with pytest.raises(CondaTorchValueError, match="invalid environment name 'a/b'"):
        envs.resolve_target(name="a/b", environ=bare)
    if sys.modules.get("conda") is None and not _importable("conda"):
        with pytest.raises(CondaNotFoundError, match="conda was not found"):
            envs.resolve_target(name="ml", environ=bare)


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_exactly_one_target(tmp_path: Path):
    with pytest.raises(CondaTorchValueError, match="got -n and -p"):
        envs.resolve_target(name="ml", prefix=str(tmp_path))
    with pytest.raises(CondaTorchValueError, match="-p is empty"):
        envs.resolve_target(prefix="")
