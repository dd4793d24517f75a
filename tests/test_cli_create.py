"""The command line of ``create``, ``run`` and ``shell``, run as a user runs it (subprocesses).

Bad input gives one clear line, a non-zero exit and no traceback, and loses nothing; ``--json``
gives one JSON document; Ctrl-C (a real SIGINT to the process group, as a terminal sends it)
rolls back. Real-conda tests skip where no conda is found.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from conda_torch import conda_cli as cd
from conda_torch import create as cr
from conda_torch.prepare import prepare

from .helpers.cli import cli
from .helpers.paths import ROOT as ROOT_DIR
from .helpers.realconda import plugin_environ
from .helpers.sandbox import (
    Recorder,
    clean_environ,
    env_file,
    fake_conda,
    fake_file,
    make_env,
    siblings,
)

if TYPE_CHECKING:
    from pathlib import Path

    from .helpers.sandbox import CondaSandbox


def assert_one_clear_line(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("Hint:")]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


# ---------------------------------------------------------------------------------------------
# create: bad input


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["-n", "a/b"], "invalid environment name 'a/b'"),
        (["-n", "my env"], "invalid environment name 'my env'"),
        (["-n", "base"], "base environment"),
    ],
    ids=["slash", "space", "base"],
)
def test_bad_names(tmp_path: Path, args: list[str], needle: str) -> None:
    fake = fake_conda(tmp_path)
    proc = cli("create", *args, "-f", str(fake_file(tmp_path)), "--as-is", "-y", env=fake.environ)
    assert_one_clear_line(proc, needle)
    assert not any(c[0] == "create" for c in fake.calls())


def test_existing_name_without_force(tmp_path: Path) -> None:
    fake = fake_conda(tmp_path)
    env = make_env(fake.envs / "ml", marker="precious")
    proc = cli(
        "create", "-n", "ml", "-f", str(fake_file(tmp_path)), "--as-is", "-y", env=fake.environ
    )
    assert_one_clear_line(proc, "environment 'ml'", "already exists")
    assert "--force" in proc.stderr
    assert (env / "marker.txt").read_text() == "precious" and siblings(env) == []


def test_missing_file(tmp_path: Path) -> None:
    fake = fake_conda(tmp_path)
    proc = cli(
        "create", "-n", "ml", "-f", str(tmp_path / "nope.yml"), "--as-is", "-y", env=fake.environ
    )
    assert_one_clear_line(proc, "nope.yml: no such file")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--as-is"], "--as-is needs -f FILE"),
        (["--as-is", "-f", "x.yml", "--torch", "2.5"], "--torch would change it"),
    ],
    ids=["no-file", "with-plan-options"],
)
def test_as_is_misuse(tmp_path: Path, args: list[str], needle: str) -> None:
    proc = cli("create", "-n", "ml", *args, env=clean_environ())
    assert_one_clear_line(proc, needle)


def test_missing_conda(tmp_path: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("conda") is not None:
        pytest.skip("this interpreter can import conda")
    proc = cli(
        "create",
        "-n",
        "ml",
        "-f",
        str(fake_file(tmp_path)),
        "--as-is",
        "-y",
        env=clean_environ(PATH=str(tmp_path)),
    )
    assert_one_clear_line(proc, "conda was not found")


def test_failing_conda_human_and_json(tmp_path: Path) -> None:
    fake = fake_conda(tmp_path, mode="fail")
    env = make_env(fake.envs / "ml", marker="precious")
    f = str(fake_file(tmp_path))
    proc = cli("create", "-n", "ml", "-f", f, "--as-is", "--force", "-y", env=fake.environ)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert (
        "FakeCondaError: PackagesNotFoundError" in proc.stderr
    )  # conda's own output, passed through
    assert "conda torch create failed: `conda create` failed (exit status 1)" in proc.stderr
    assert "the existing environment 'ml' is unchanged" in proc.stderr
    assert (env / "marker.txt").read_text() == "precious" and siblings(env) == []
    proc = cli("create", "-n", "ml", "-f", f, "--as-is", "--force", "--json", env=fake.environ)
    doc = json.loads(proc.stdout)  # one document, nothing else on stdout
    assert proc.returncode == 1
    assert doc["success"] is False and doc["status"] == "failed"
    assert "nosuchpkg is not available" in doc["error"]
    assert (env / "marker.txt").read_text() == "precious"


def test_json_refusal_is_one_document(tmp_path: Path) -> None:
    fake = fake_conda(tmp_path)
    make_env(fake.envs / "ml")
    proc = cli(
        "create", "-n", "ml", "-f", str(fake_file(tmp_path)), "--as-is", "--json", env=fake.environ
    )
    doc = json.loads(proc.stdout)
    assert proc.returncode == 1 and doc["success"] is False
    assert doc["error"] == "OutputExistsError"


def test_success_human_output_shows_steps_and_activation(tmp_path: Path) -> None:
    """With the fake conda the real validator fails (no torch): invalid, rolled back."""
    fake = fake_conda(tmp_path)
    proc = cli(
        "create", "-n", "ml", "-f", str(fake_file(tmp_path)), "--as-is", "-y", env=fake.environ
    )
    out = proc.stdout
    assert proc.returncode == 1, proc.stderr
    assert (
        out.index("Running: conda create --prefix")
        < out.index("fake conda: created")
        < out.index("Validate: validating with")
        < out.index("Rollback: removed the new environment")
    )
    assert "FAIL  torch-import" in out
    assert (
        "conda torch create invalid" in proc.stderr and "nothing was left under 'ml'" in proc.stderr
    )
    assert not (fake.envs / "ml").exists()


def test_dry_run_prints_plan_file_and_command(tmp_path: Path) -> None:
    fake = fake_conda(tmp_path)
    path = fake_file(tmp_path)
    proc = cli("create", "-n", "ml", "-f", str(path), "--as-is", "--dry-run", env=fake.environ)
    assert proc.returncode == 0, proc.stderr
    assert path.read_text() in proc.stdout
    assert (
        "Would run: conda create --prefix" in proc.stdout and "--override-channels" in proc.stdout
    )
    assert "Dry run: nothing was created." in proc.stdout
    assert not (fake.envs / "ml").exists()
    assert {c[0] for c in fake.calls()} <= {"info", "--version"}  # local questions only


def test_ctrl_c_rolls_back(tmp_path: Path) -> None:
    """A real SIGINT to the process group (what a terminal's Ctrl-C does) mid-creation."""
    fake = fake_conda(tmp_path, mode="hang")
    env = make_env(fake.envs / "ml", marker="precious")
    marker = tmp_path / "conda-started"
    environ = dict(fake.environ, FAKE_CONDA_MARKER=str(marker), PYTHONPATH=str(ROOT_DIR))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "conda_torch",
            "create",
            "-n",
            "ml",
            "-f",
            str(fake_file(tmp_path)),
            "--as-is",
            "--force",
            "-y",
        ],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        for _ in range(400):
            if marker.exists():
                break
            time.sleep(0.05)
        assert marker.exists(), "conda never started"
        assert not (env / "marker.txt").exists()  # the old one is aside while conda runs
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "conda torch create interrupted" in err and "unchanged" in err
    assert (env / "marker.txt").read_text() == "precious"
    assert siblings(env) == []


# ---------------------------------------------------------------------------------------------
# run and shell


def test_run_passes_the_exit_code_and_activates(tmp_path: Path) -> None:
    env = make_env(tmp_path / "e")
    (env / "conda-meta" / "state").write_text(json.dumps({"env_vars": {"FOO": "bar"}}))
    proc = cli(
        "run",
        "-p",
        str(env),
        "--",
        "sh",
        "-c",
        'echo "$CONDA_PREFIX $FOO"; exit 3',
        env=clean_environ(),
    )
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.split() == [str(env), "bar"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["-p", "{tmp}/missing", "--", "true"], "does not exist"),
        (["-p", "{tmp}", "--", "true"], "is not a conda environment"),
        (["-n", "nope", "--", "true"], "no conda environment named 'nope'"),
        (["-n", "a/b", "--", "true"], "invalid environment name"),
        (["-p", "{env}"], "no command given"),
        (["--", "true"], "which environment"),
    ],
    ids=["missing-prefix", "not-an-env", "unknown-name", "bad-name", "no-command", "no-env"],
)
def test_run_bad_input(tmp_path: Path, args: list[str], needle: str) -> None:
    fake = fake_conda(tmp_path)
    env = make_env(tmp_path / "e")
    args = [a.format(tmp=tmp_path, env=env) for a in args]
    proc = cli("run", *args, env=fake.environ)
    assert_one_clear_line(proc, needle)


def test_run_unknown_command_is_127(tmp_path: Path) -> None:
    env = make_env(tmp_path / "e")
    proc = cli("run", "-p", str(env), "--", "no-such-command-xyz", env=clean_environ())
    assert proc.returncode == 127
    assert_one_clear_line(proc, "command not found")


def test_shell_runs_condas_activation_after_bashrc(tmp_path: Path) -> None:
    fake = fake_conda(tmp_path)
    env = make_env(tmp_path / "e")
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("export FROM_BASHRC=1\nexport CONDA_PREFIX=/wrong\n")
    environ = dict(fake.environ, HOME=str(home), SHELL="/bin/bash")
    proc = cli(
        "shell",
        "-p",
        str(env),
        env=environ,
        stdin='echo "P=$CONDA_PREFIX A=$FAKE_ACTIVATED B=$FROM_BASHRC"\nexit 4\n',
    )
    assert proc.returncode == 4, proc.stderr
    assert f"P={env} A=1 B=1" in proc.stdout
    assert "conda activator (bash)" in proc.stderr


# ---------------------------------------------------------------------------------------------
# real conda


def test_real_cli_json_invalid_without_torch(sandbox: CondaSandbox) -> None:
    f = env_file(sandbox.root / "environment.yml", sandbox.channel_url, "tinypkg=1.0")
    proc = cli("create", "-n", "ml", "-f", str(f), "--as-is", "--json", env=sandbox.environ)
    doc = json.loads(proc.stdout)
    assert proc.returncode == 1
    assert doc["status"] == "invalid" and doc["conda_output"]["success"] is True
    assert not (sandbox.envs / "ml").exists()


def test_real_ctrl_c_during_conda(sandbox: CondaSandbox) -> None:
    """conda is in a post-link script when the terminal's Ctrl-C arrives: conda rolls back,
    conda-torch removes what is left and puts the old environment back."""
    prefix = sandbox.envs / "ml"
    old = cr.create(
        prepare(
            file=str(env_file(sandbox.root / "old.yml", sandbox.channel_url, "tinypkg=1.0")),
            as_is=True,
        ),
        name="ml",
        environ=sandbox.environ,
        validator=Recorder(),
    )
    assert old.status == cr.CREATED
    slow = env_file(sandbox.root / "slow.yml", sandbox.channel_url, "slowpkg")
    marker = sandbox.root / "post-link-started"
    env = dict(sandbox.environ, PYTHONPATH=str(ROOT_DIR))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "conda_torch",
            "create",
            "-n",
            "ml",
            "-f",
            str(slow),
            "--as-is",
            "--force",
            "-y",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        for _ in range(1200):
            if marker.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert marker.exists(), proc.communicate()[1] if proc.poll() is not None else "no post-link"
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "unchanged" in err
    assert sandbox.list_names(prefix) == {"tinypkg": "1.0"}
    assert siblings(prefix) == []


def test_real_shell_and_run(sandbox: CondaSandbox) -> None:
    f = env_file(
        sandbox.root / "e.yml", sandbox.channel_url, "tinypkg=1.0", variables={"FOO": "bar"}
    )
    res = cr.create(
        prepare(file=str(f), as_is=True),
        name="ml",
        environ=sandbox.environ,
        validator=Recorder(),
    )
    assert res.status == cr.CREATED
    prefix = sandbox.envs / "ml"
    environ = dict(sandbox.environ, SHELL="/bin/bash")
    proc = cli(
        "shell",
        "-n",
        "ml",
        "--no-spawn",
        env=environ,
        stdin='echo "P=$CONDA_PREFIX F=$FOO E=$CONDA_DEFAULT_ENV"\nexit 0\n',
    )
    assert proc.returncode == 0, proc.stderr
    assert f"P={prefix} F=bar E=ml" in proc.stdout
    proc = cli(
        "run",
        "-n",
        "ml",
        "--",
        "python",
        "-c",
        "import os, sys; print(os.environ['FOO'], os.environ['CONDA_PREFIX']); sys.exit(9)",
        env=sandbox.environ,
    )
    assert proc.returncode == 9, proc.stderr
    assert proc.stdout.split() == ["bar", str(prefix)]


def test_real_plugin_path(sandbox: CondaSandbox) -> None:
    """`conda torch create` through conda's own CLI (this checkout as its plugin)."""
    sandbox = dataclasses.replace(sandbox, environ=plugin_environ(sandbox.root, sandbox.environ))
    probe = sandbox.run("torch", "--help", check=False)
    assert probe.returncode == 0, probe.stderr
    bad = sandbox.run("torch", "create", "-n", "a/b", "--as-is", "-f", "x.yml", check=False)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    # conda's own context validates -n first ("Environment names cannot contain path separators")
    lines = [ln for ln in bad.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "name" in lines[0].lower(), bad.stderr
    f = env_file(sandbox.root / "environment.yml", sandbox.channel_url, "tinypkg=1.0")
    proc = sandbox.run(
        "torch", "create", "-n", "ml", "-f", str(f), "--as-is", "--json", check=False
    )
    doc = json.loads(proc.stdout)
    assert proc.returncode == 1 and doc["status"] == "invalid"
    assert not (sandbox.envs / "ml").exists()
    assert cd.conda_info(sandbox.conda, environ=sandbox.environ).locate("ml") is None


def test_success_report_says_how_to_get_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from conda_torch.cli import main_create

    fake = fake_conda(tmp_path)
    result = cr.create(
        prepare(file=str(fake_file(tmp_path)), as_is=True),
        name="ml",
        environ=fake.environ,
        validator=Recorder(),
    )
    capsys.readouterr()
    main_create._print_result(result, frontend="conda")
    out = capsys.readouterr().out
    assert "pass  env-python" in out
    assert "Done: ml created in" in out
    assert "    conda activate ml" in out
    assert "conda torch shell -n ml" in out and "conda torch run -n ml -- python" in out
