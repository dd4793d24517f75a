"""conda_torch.create: the flow, the swap, the refusals, the rollback.

The fake-conda tests prove argument handling and every failure path (conda failing, conda
succeeding without an environment, validation failing, an interruption); the real-conda tests
(skipped where no conda is found) prove the flow with conda itself against a local channel:
creation, refusal of an existing name, replacement with --force, and the old environment
surviving a failed or invalid replacement.

Validation: a real conda cannot install torch offline, so where a test needs validation to
*pass* it hands ``create`` a small validator that checks real facts (the environment's own
``bin/python`` runs with the activated variables; the provenance was written first) and
returns a real :class:`conda_torch.validate.Report`. The real validator runs in the tests
where validation must fail (an environment without torch).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from conda_torch import conda_cli as cd
from conda_torch import create as cr
from conda_torch import prefix as pf
from conda_torch import provenance
from conda_torch.exceptions import CondaTorchError, CondaTorchValueError, OutputExistsError
from conda_torch.prepare import Prepared, prepare
from conda_torch.validate import Report

from .helpers.sandbox import (
    CHANNELS,
    Recorder,
    clean_environ,
    env_file,
    fake_conda,
    fake_file,
    make_env,
    siblings,
)

if TYPE_CHECKING:
    from typing import Any

    from .helpers.sandbox import CondaSandbox


def as_is(path: Path) -> Prepared:
    return prepare(file=str(path), as_is=True)


# =============================================================================================
# fake conda: arguments and the flow


def test_new_environment_flow(tmp_path: Path) -> None:
    fake = fake_conda(tmp_path)
    prepared = as_is(fake_file(tmp_path, "tinypkg=1.0"))
    steps: list[cr.Step] = []
    validator = Recorder()
    result = cr.create(
        prepared, name="ml", environ=fake.environ, validator=validator, progress=steps.append
    )
    prefix = fake.envs / "ml"
    assert result.status == cr.CREATED and result.exit_code == 0, result.error
    assert result.prefix == str(prefix) and result.activate == "conda activate ml"
    create_call = next(c for c in fake.calls() if c[0] == "create")
    assert create_call[:3] == ["create", "--prefix", str(prefix)]
    assert create_call[create_call.index("--override-channels") + 1 :] == [
        "--channel",
        CHANNELS[0],
        "--channel",
        CHANNELS[1],
    ]
    # conda read exactly the prepared text, from a file named environment.yml
    assert (prefix / "environment-used.yml").read_text() == prepared.text
    assert create_call[create_call.index("--file") + 1].endswith("environment.yml")
    # provenance was written before validation, and the validator ran the env's Python
    prov = provenance.read(prefix)
    assert prov is not None and prov.environment_file == prepared.text
    assert validator.calls[0]["provenance"] is not None
    assert validator.calls[0]["python"] == str(prefix / "bin" / "python")
    assert result.validation is not None and result.validation["success"] is True
    assert siblings(prefix) == []
    assert [(s.name, s.status) for s in steps] == [
        ("plan", "ok"),
        ("target", "ok"),
        ("conda", "start"),
        ("conda", "ok"),
        ("provenance", "start"),
        ("provenance", "ok"),
        ("validate", "start"),
        ("validate", "ok"),
    ]


def test_existing_name_is_refused_before_anything_runs(tmp_path: Path) -> None:
    fake = fake_conda(tmp_path)
    env = make_env(fake.envs / "ml", marker="precious")
    with pytest.raises(OutputExistsError) as info:
        cr.create(as_is(fake_file(tmp_path)), name="ml", environ=fake.environ, validator=Recorder())
    assert "'ml'" in info.value.line and "--force" in " ".join(info.value.hints)
    assert not any(c[0] == "create" for c in fake.calls())
    assert (env / "marker.txt").read_text() == "precious" and siblings(env) == []


def test_force_replaces_only_after_validation(tmp_path: Path) -> None:
    fake = fake_conda(tmp_path)
    env = make_env(fake.envs / "ml", marker="old")
    seen: list[bool] = []

    class OldAside(Recorder):
        def __call__(self, **kw: Any) -> Report:
            # while the new one is validated, the old one waits beside it
            seen.append((env.parent / ".ml.conda-torch-backup" / "marker.txt").is_file())
            return super().__call__(**kw)

    result = cr.create(
        as_is(fake_file(tmp_path)),
        name="ml",
        force=True,
        environ=fake.environ,
        validator=OldAside(),
    )
    assert result.status == cr.CREATED and result.replaced
    assert seen == [True]
    assert not (env / "marker.txt").exists() and pf.is_conda_env(env)
    assert siblings(env) == []


@pytest.mark.parametrize("force", [False, True], ids=["new-name", "force"])
def test_conda_failure_leaves_nothing_and_keeps_the_old(tmp_path: Path, force: bool) -> None:
    fake = fake_conda(tmp_path, mode="fail")
    env = fake.envs / "ml"
    if force:
        make_env(env, marker="precious")
    result = cr.create(
        as_is(fake_file(tmp_path)),
        name="ml",
        force=force,
        environ=fake.environ,
        validator=Recorder(),
    )
    assert result.status == cr.FAILED and result.exit_code == 1
    assert "nosuchpkg is not available" in result.error
    if force:
        assert "the existing environment 'ml' is unchanged" in result.error
        assert (env / "marker.txt").read_text() == "precious"
        assert not (env / "half-built").exists()
    else:
        assert "nothing was left under 'ml'" in result.error
        assert not env.exists()
    assert siblings(env) == []


@pytest.mark.parametrize("force", [False, True], ids=["new-name", "force"])
def test_invalid_environment_is_rolled_back(tmp_path: Path, force: bool) -> None:
    fake = fake_conda(tmp_path)
    env = fake.envs / "ml"
    if force:
        make_env(env, marker="precious")
    result = cr.create(
        as_is(fake_file(tmp_path)),
        name="ml",
        force=force,
        environ=fake.environ,
        validator=Recorder(fail=True),
    )
    assert result.status == cr.INVALID and result.exit_code == 1
    assert "torch-import: torch is not installed (test)" in result.error
    assert result.validation is not None and result.validation["success"] is False
    if force:
        assert (env / "marker.txt").read_text() == "precious"
    else:
        assert not env.exists()
    assert siblings(env) == []


def test_interruption_rolls_back(tmp_path: Path) -> None:
    fake = fake_conda(tmp_path)
    env = make_env(fake.envs / "ml", marker="precious")
    result = cr.create(
        as_is(fake_file(tmp_path)),
        name="ml",
        force=True,
        environ=fake.environ,
        validator=Recorder(interrupt=True),
    )
    assert result.status == cr.INTERRUPTED and result.exit_code == 130
    assert (env / "marker.txt").read_text() == "precious"
    assert "unchanged" in result.error and siblings(env) == []


def test_conda_success_without_an_environment_is_a_failure(tmp_path: Path) -> None:
    fake = fake_conda(tmp_path, mode="empty")
    result = cr.create(
        as_is(fake_file(tmp_path)), name="ml", environ=fake.environ, validator=Recorder()
    )
    assert result.status == cr.FAILED and "left no environment" in result.error
    assert not (fake.envs / "ml").exists()


def test_prefix_holding_other_files_is_never_replaced(tmp_path: Path) -> None:
    fake = fake_conda(tmp_path)
    target = tmp_path / "project"
    target.mkdir()
    (target / "train.py").write_text("print('mine')\n")
    for force in (False, True):
        with pytest.raises(OutputExistsError, match="not a conda environment"):
            cr.create(
                as_is(fake_file(tmp_path)),
                prefix=str(target),
                force=force,
                environ=fake.environ,
                validator=Recorder(),
            )
    assert (target / "train.py").read_text() == "print('mine')\n"
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cr.create(
        as_is(fake_file(tmp_path)), prefix=str(empty), environ=fake.environ, validator=Recorder()
    )
    assert result.status == cr.CREATED and result.name is None
    assert result.activate == f"conda activate {empty}"


def test_new_prefix_in_new_folders_is_cleaned_up_on_failure(tmp_path: Path) -> None:
    fake = fake_conda(tmp_path, mode="fail")
    target = tmp_path / "a" / "b" / "env"
    result = cr.create(
        as_is(fake_file(tmp_path)), prefix=str(target), environ=fake.environ, validator=Recorder()
    )
    assert result.status == cr.FAILED
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize("what", ["active", "base", "running"], ids=["active", "base", "running"])
def test_protected_environments_are_refused(tmp_path: Path, what: str) -> None:
    import sys

    fake = fake_conda(tmp_path)
    active = make_env(tmp_path / "active")
    environ = dict(fake.environ, CONDA_PREFIX=str(active))
    target = {"active": active, "base": fake.root, "running": Path(sys.prefix)}[what]
    with pytest.raises(CondaTorchValueError, match="does not replace it"):
        cr.create(
            as_is(fake_file(tmp_path)),
            prefix=str(target),
            force=True,
            environ=environ,
            validator=Recorder(),
        )
    assert not any(c[0] == "create" for c in fake.calls())


def test_leftover_backup_of_a_killed_run_is_reported(tmp_path: Path) -> None:
    fake = fake_conda(tmp_path)
    env = make_env(fake.envs / "ml")
    backup = make_env(fake.envs / ".ml.conda-torch-backup", marker="the old one")
    cr.mark_backup(str(env), str(backup))
    with pytest.raises(CondaTorchError) as info:
        cr.create(
            as_is(fake_file(tmp_path)),
            name="ml",
            force=True,
            environ=fake.environ,
            validator=Recorder(),
        )
    assert str(backup) in info.value.line
    assert any("mv" in h for h in info.value.hints)
    assert (backup / "marker.txt").read_text() == "the old one" and env.exists()
    assert not (fake.envs / ".ml.conda-torch-lock").exists()


def test_locks(tmp_path: Path) -> None:
    fake = fake_conda(tmp_path)
    lock = fake.envs / ".ml.conda-torch-lock"
    lock.write_text(f"{os.getpid()}\n")  # a live process holds it
    with pytest.raises(CondaTorchError, match="another conda-torch"):
        cr.create(as_is(fake_file(tmp_path)), name="ml", environ=fake.environ, validator=Recorder())
    proc = subprocess.Popen(["true"])  # a pid that has exited
    proc.wait()
    lock.write_text(f"{proc.pid}\n")
    result = cr.create(
        as_is(fake_file(tmp_path)), name="ml", environ=fake.environ, validator=Recorder()
    )
    assert result.status == cr.CREATED and not lock.exists()


def test_dry_run_changes_nothing_and_asks_no_channel(tmp_path: Path) -> None:
    fake = fake_conda(tmp_path)
    env = make_env(fake.envs / "ml")
    prepared = as_is(fake_file(tmp_path))
    result = cr.create(prepared, name="ml", dry_run=True, environ=fake.environ)
    assert result.status == cr.DRY_RUN and result.exit_code == 0
    assert result.environment_file == prepared.text
    assert result.conda_command is not None and "--override-channels" in result.conda_command
    assert any("needs --force" in n for n in result.notes)
    assert {c[0] for c in fake.calls()} <= {"info", "--version"}  # local questions only
    assert siblings(env) == [] and (env / "marker.txt").exists()


def test_dry_run_works_without_conda(tmp_path: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("conda") is not None:
        pytest.skip("this interpreter can import conda")
    result = cr.create(
        as_is(fake_file(tmp_path)),
        name="ml",
        dry_run=True,
        environ=clean_environ(PATH=str(tmp_path)),
    )
    assert result.status == cr.DRY_RUN and result.conda_command is None
    assert any("conda was not found" in n for n in result.notes)


def test_older_conda_gets_env_create(tmp_path: Path) -> None:
    fake = fake_conda(tmp_path, version="26.5.0")
    result = cr.create(
        as_is(fake_file(tmp_path)), name="ml", environ=fake.environ, validator=Recorder()
    )
    assert result.status == cr.CREATED
    call = next(c for c in fake.calls() if c[:2] == ["env", "create"])
    assert "--override-channels" not in call
    assert any("merges .condarc channels" in n for n in result.notes)


def test_json_mode_captures_condas_answer(tmp_path: Path) -> None:
    fake = fake_conda(tmp_path)
    result = cr.create(
        as_is(fake_file(tmp_path)),
        name="ml",
        json_output=True,
        environ=fake.environ,
        validator=Recorder(),
    )
    doc = result.to_json()
    assert doc["success"] is True and doc["conda_output"]["prefix"] == str(fake.envs / "ml")
    json.dumps(doc)  # serialisable
    assert next(c for c in fake.calls() if c[0] == "create")[-1] == "--json"


def test_name_comes_from_the_file_when_not_given(tmp_path: Path) -> None:
    fake = fake_conda(tmp_path)
    result = cr.create(
        as_is(fake_file(tmp_path, name="fromfile")), environ=fake.environ, validator=Recorder()
    )
    assert result.status == cr.CREATED and result.prefix == str(fake.envs / "fromfile")


def test_declined_confirmation_touches_nothing(tmp_path: Path) -> None:
    fake = fake_conda(tmp_path)
    asked: list[cr.Destination] = []
    result = cr.create(
        as_is(fake_file(tmp_path)),
        name="ml",
        environ=fake.environ,
        validator=Recorder(),
        confirm=lambda d, p: asked.append(d) or False,
    )
    assert result.status == cr.FAILED and "cancelled" in result.error
    assert asked[0].prefix == str(fake.envs / "ml") and not asked[0].exists
    assert not any(c[0] == "create" for c in fake.calls())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "a/b"}, "invalid environment name"),
        ({}, "no environment name"),
        ({"name": "x", "prefix": "/tmp/x"}, "not both"),
        ({"name": "base"}, "base environment"),
    ],
    ids=["path-chars", "none", "both", "base"],
)
def test_bad_targets(tmp_path: Path, kwargs: dict[str, str], message: str) -> None:
    fake = fake_conda(tmp_path)
    with pytest.raises(CondaTorchValueError, match=message):
        cr.create(as_is(fake_file(tmp_path)), environ=fake.environ, validator=Recorder(), **kwargs)
    assert not any(c[0] == "create" for c in fake.calls())


def test_as_is_records_the_files_pins(tmp_path: Path) -> None:
    path = fake_file(tmp_path, "python=3.12", "pytorch=2.5.1", "torchvision=0.20.1")
    prepared = as_is(path)
    assert prepared.plan is None  # no plan: the file as written
    assert prepared.record["torch"] == "2.5.1" and prepared.record["torchvision"] == "0.20.1"
    assert prepared.record["torchaudio"] is None and prepared.record["python"] == "3.12"
    assert prepared.channels == CHANNELS and prepared.origin == "file-as-is"


# =============================================================================================
# real conda


def real_file(sb: CondaSandbox, *specs: str, **kw: Any) -> Path:
    folder = sb.root / "files"
    folder.mkdir(exist_ok=True)
    return env_file(folder / f"env-{len(list(folder.iterdir()))}.yml", sb.channel_url, *specs, **kw)


def test_real_create_new_environment(sandbox: CondaSandbox) -> None:
    f = real_file(sandbox, "tinypkg=1.0", variables={"FOO": "bar"})
    validator = Recorder()
    result = cr.create(as_is(f), name="ml", environ=sandbox.environ, validator=validator)
    prefix = sandbox.envs / "ml"
    assert result.status == cr.CREATED, result.error
    assert result.activate == "conda activate ml"
    assert validator.calls and result.validation["success"]
    # conda still reads the environment (the provenance file does not break `conda list`)
    assert sandbox.list_names(prefix) == {"tinypkg": "1.0"}
    assert provenance.read(prefix) is not None
    assert pf.state_env_vars(str(prefix)) == {"FOO": "bar"}
    assert cd.conda_info(sandbox.conda, environ=sandbox.environ).locate("ml") == str(prefix)
    assert siblings(prefix) == []


def test_real_existing_name_refused_then_replaced_with_force(sandbox: CondaSandbox) -> None:
    prefix = sandbox.envs / "ml"
    first = cr.create(
        as_is(real_file(sandbox, "tinypkg=1.0")),
        name="ml",
        environ=sandbox.environ,
        validator=Recorder(),
    )
    assert first.status == cr.CREATED
    with pytest.raises(OutputExistsError):
        cr.create(
            as_is(real_file(sandbox, "tinypkg=2.0")),
            name="ml",
            environ=sandbox.environ,
            validator=Recorder(),
        )
    assert sandbox.list_names(prefix) == {"tinypkg": "1.0"}
    second = cr.create(
        as_is(real_file(sandbox, "tinypkg=2.0")),
        name="ml",
        force=True,
        environ=sandbox.environ,
        validator=Recorder(),
    )
    assert second.status == cr.CREATED and second.replaced
    assert sandbox.list_names(prefix) == {"tinypkg": "2.0"}
    assert (prefix / "share" / "tinypkg" / "version.txt").read_text() == "2.0\n"
    assert siblings(prefix) == []


def test_real_failed_replacement_keeps_the_old_environment(sandbox: CondaSandbox) -> None:
    prefix = sandbox.envs / "ml"
    cr.create(
        as_is(real_file(sandbox, "tinypkg=1.0")),
        name="ml",
        environ=sandbox.environ,
        validator=Recorder(),
    )
    result = cr.create(
        as_is(real_file(sandbox, "brokenpkg")),
        name="ml",
        force=True,
        environ=sandbox.environ,
        validator=Recorder(),
    )
    assert result.status == cr.FAILED
    assert "doesnotexist" in result.error or "PackagesNotFound" in result.error
    assert "unchanged" in result.error
    assert sandbox.list_names(prefix) == {"tinypkg": "1.0"}
    assert (prefix / "share" / "tinypkg" / "version.txt").read_text() == "1.0\n"
    assert siblings(prefix) == []


@pytest.mark.parametrize("force", [False, True], ids=["new-name", "force"])
def test_real_validator_failure_rolls_back(sandbox: CondaSandbox, force: bool) -> None:
    """The real validator on an environment without torch: invalid, rolled back."""
    prefix = sandbox.envs / "ml"
    if force:
        cr.create(
            as_is(real_file(sandbox, "tinypkg=1.0")),
            name="ml",
            environ=sandbox.environ,
            validator=Recorder(),
        )
    result = cr.create(
        as_is(real_file(sandbox, "tinypkg=2.0")), name="ml", force=force, environ=sandbox.environ
    )
    assert result.status == cr.INVALID
    assert "torch-import" in result.error
    checks = {c["id"]: c["status"] for c in result.validation["checks"]}
    assert checks["torch-import"] == "fail"
    if force:
        assert sandbox.list_names(prefix) == {"tinypkg": "1.0"}
    else:
        assert not prefix.exists()
        assert cd.conda_info(sandbox.conda, environ=sandbox.environ).locate("ml") is None
    assert siblings(prefix) == []


def test_keep_backup_keeps_the_replaced_environment(tmp_path: Path) -> None:
    """recreate's --keep-backup: the old environment moves to the given path, not deleted."""
    fake = fake_conda(tmp_path)
    env = make_env(fake.envs / "ml", marker="precious")
    kept = fake.envs / "ml.conda-torch-backup"
    result = cr.create(
        as_is(fake_file(tmp_path)),
        name="ml",
        force=True,
        environ=fake.environ,
        validator=Recorder(),
        keep_backup=str(kept),
    )
    assert result.status == cr.CREATED
    assert (kept / "marker.txt").read_text() == "precious"
    assert pf.is_conda_env(env) and not (env / "marker.txt").exists()
    assert any(str(kept) in s.message for s in result.steps) and siblings(env) == []
    with pytest.raises(OutputExistsError, match="backup path"):
        cr.create(
            as_is(fake_file(tmp_path)),
            name="ml",
            force=True,
            environ=fake.environ,
            validator=Recorder(),
            keep_backup=str(kept),
        )
