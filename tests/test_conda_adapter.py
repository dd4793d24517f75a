"""conda_cli, prefix, environments, activation: finding and running conda, activating.

Two kinds of test live here:

* against a **fake conda** (a small script written by :func:`fake_conda`): how conda-torch
  finds conda, which arguments it passes, how it reads conda's failures. These prove argument
  and failure handling only.
* against a **real conda** (the ``real_conda`` fixture: ``CONDA_EXE``, ``python -m conda`` or
  ``conda`` on PATH, else skipped), with a local ``file://`` channel the test builds
  (:func:`build_channel`) and a condarc under ``tmp_path`` (classic solver, offline, no
  channels, pkgs/envs dirs in tmp): these prove the conda side works.

The helpers here are shared with tests/test_create.py and tests/test_cli_create.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conda_torch import activation as act
from conda_torch import conda_cli as cd
from conda_torch import environments as envs
from conda_torch import prefix as pf
from conda_torch.exceptions import (
    CondaCommandError,
    CondaNotFoundError,
    CondaTorchValueError,
    EnvironmentNotFoundError,
)

from .helpers.sandbox import (
    CondaSandbox,
    build_channel,
    clean_environ,
    env_file,
    fake_conda,
    make_env,
    package,
    python_shim,
)

# ---------------------------------------------------------------------------------------------
# a fake conda (argument and failure handling only)


# ---------------------------------------------------------------------------------------------
# a real conda and a local channel


# =============================================================================================
# tests: finding conda


def test_conda_exe_comes_first(tmp_path: Path) -> None:
    fake = fake_conda(tmp_path)
    other = tmp_path / "pathbin"
    other.mkdir()
    (other / "conda").write_text("#!/bin/sh\nexit 3\n")
    (other / "conda").chmod(0o755)
    env = dict(fake.environ, PATH=f"{other}{os.pathsep}{fake.environ.get('PATH', '')}")
    conda = cd.find_conda(environ=env)
    assert conda.argv == (str(fake.exe),)
    assert conda.found_by == "CONDA_EXE"
    assert conda.version == "26.7.1"


def test_conda_exe_dev_mode_uses_ce_variables(tmp_path: Path) -> None:
    env = clean_environ(CONDA_EXE=sys.executable, _CE_M="-m", _CE_CONDA="conda")
    assert cd.find_conda(environ=env).argv == (sys.executable, "-m", "conda")


def test_pip_installed_conda_stub_is_replaced_by_python_m_conda(tmp_path: Path) -> None:
    """pip's ``conda`` console script refuses most commands (docs/conda-notes.md 6)."""
    stub = tmp_path / "bin" / "conda"
    stub.parent.mkdir()
    stub.write_text(
        f"#!{sys.executable}\nimport sys\nfrom conda.cli.main_pip import main\nsys.exit(main())\n"
    )
    stub.chmod(0o755)
    # on PATH (or, where this interpreter imports conda, `python -m conda` wins anyway)
    assert cd.find_conda(environ=clean_environ(PATH=str(stub.parent))).argv == (
        sys.executable,
        "-m",
        "conda",
    )
    env = clean_environ(CONDA_EXE=str(stub))
    assert cd.find_conda(environ=env).argv == (sys.executable, "-m", "conda")


def test_missing_conda_is_one_clear_error(tmp_path: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("conda") is not None:
        pytest.skip("this interpreter can import conda (python -m conda is always found)")
    with pytest.raises(CondaNotFoundError) as info:
        cd.find_conda(environ=clean_environ(PATH=str(tmp_path)))
    assert "conda was not found" in info.value.line
    assert "\n" not in info.value.line


@pytest.mark.parametrize("frontend", ["mamba", "micromamba"], ids=["mamba", "micromamba"])
def test_frontends_are_found_on_path(tmp_path: Path, frontend: str) -> None:
    exe = tmp_path / frontend
    exe.write_text("#!/bin/sh\necho 2.1.0\n")
    exe.chmod(0o755)
    conda = cd.find_conda(frontend, environ=clean_environ(PATH=str(tmp_path)))
    assert conda.argv == (str(exe),) and conda.frontend == frontend
    assert conda.version == "2.1.0"
    with pytest.raises(CondaNotFoundError, match=f"{frontend} was not found"):
        cd.find_conda(frontend, environ=clean_environ(PATH=str(tmp_path / "nothing")))


def test_micromamba_prefers_mamba_exe(tmp_path: Path) -> None:
    exe = tmp_path / "opt" / "micromamba"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\necho 2.0.5\n")
    exe.chmod(0o755)
    conda = cd.find_conda("micromamba", environ=clean_environ(MAMBA_EXE=str(exe), PATH=""))
    assert conda.found_by == "MAMBA_EXE" and conda.argv == (str(exe),)


def test_unknown_frontend_is_refused() -> None:
    with pytest.raises(CondaTorchValueError, match="unknown frontend 'pixi'"):
        cd.find_conda("pixi")


# ---------------------------------------------------------------------------------------------
# tests: the create command line


@pytest.mark.parametrize(
    ("frontend", "version", "expected"),
    [
        (
            "conda",
            "26.7.1",
            [
                "create",
                "--prefix",
                "/e/x",
                "--file",
                "f.yml",
                "--yes",
                "--override-channels",
                "--channel",
                "conda-forge",
                "--channel",
                "nvidia",
            ],
        ),
        (
            "conda",
            "27.1.0",
            [
                "create",
                "--prefix",
                "/e/x",
                "--file",
                "f.yml",
                "--yes",
                "--override-channels",
                "--channel",
                "conda-forge",
                "--channel",
                "nvidia",
            ],
        ),
        ("conda", "26.5.0", ["env", "create", "--prefix", "/e/x", "--file", "f.yml"]),
        (
            "micromamba",
            "2.0.5",
            [
                "create",
                "--prefix",
                "/e/x",
                "--file",
                "f.yml",
                "--yes",
                "--override-channels",
                "--channel",
                "conda-forge",
                "--channel",
                "nvidia",
            ],
        ),
    ],
    ids=["conda-26.7", "conda-27", "conda-26.5-env-create", "micromamba"],
)
def test_create_command_pins_channels_exactly(
    tmp_path: Path, frontend: str, version: str, expected: list[str]
) -> None:
    exe = tmp_path / frontend
    exe.write_text(f"#!/bin/sh\necho {frontend} {version}\n")
    exe.chmod(0o755)
    conda = cd.Conda((str(exe),), frontend, "PATH")
    args, pinned = cd.create_command(
        conda, "/e/x", "f.yml", ("conda-forge", "nvidia"), json_out=False
    )
    assert args == expected
    assert pinned is (expected[0] == "create")
    args, _ = cd.create_command(conda, "/e/x", "f.yml", ("conda-forge",), json_out=True)
    assert args[-1] == "--json"


def test_a_file_without_channels_uses_the_configured_ones(tmp_path: Path) -> None:
    fake = fake_conda(tmp_path)
    conda = cd.find_conda(environ=fake.environ)
    args, pinned = cd.create_command(conda, "/e/x", "f.yml", (), json_out=False)
    assert "--override-channels" not in args and pinned is False


# ---------------------------------------------------------------------------------------------
# tests: running conda and reading its answers


def test_conda_failure_carries_condas_own_message(tmp_path: Path) -> None:
    fake = fake_conda(tmp_path, mode="fail")
    conda = cd.find_conda(environ=fake.environ)
    prefix = tmp_path / "envs" / "x"
    with pytest.raises(CondaCommandError) as info:
        cd.run_conda(
            conda,
            ["create", "--prefix", str(prefix), "--file", "f", "--json"],
            capture=True,
            environ=fake.environ,
        )
    line = info.value.line
    assert "exit status 1" in line
    assert "nosuchpkg is not available" in line
    result = cd.run_conda(
        conda,
        ["create", "--prefix", str(prefix), "--file", "f"],
        capture=True,
        environ=fake.environ,
        check=False,
    )
    assert not result.ok and "nosuchpkg" in result.error_line()  # from stderr


def test_vanished_executable_is_conda_not_found(tmp_path: Path) -> None:
    conda = cd.Conda((str(tmp_path / "gone" / "conda"),), "conda", "CONDA_EXE")
    with pytest.raises(CondaNotFoundError, match="cannot run"):
        cd.run_conda(conda, ["info"], capture=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"success": true}', {"success": True}),
        (
            "\n\x00".join(
                [
                    '{"fetch": "a", "progress": 0}',
                    '{"fetch": "a", "progress": 1}',
                    '{"success": true, "prefix": "/p"}',
                ]
            ),
            {"success": True, "prefix": "/p"},
        ),
        ("", None),
        ("not json", None),
    ],
    ids=["plain", "nul-separated-progress", "empty", "garbage"],
)
def test_parse_conda_json(text: str, expected: dict | None) -> None:
    assert cd.parse_conda_json(text) == expected


# ---------------------------------------------------------------------------------------------
# tests: names, environments, moving


@pytest.mark.parametrize(
    "name",
    ["a/b", "a b", "a:b", "a#b", "a\\b", "", " ", "..", ".", "base", "root", "x\ty"],
    ids=[
        "slash",
        "space",
        "colon",
        "hash",
        "backslash",
        "empty",
        "blank",
        "dotdot",
        "dot",
        "base",
        "root",
        "tab",
    ],
)
def test_bad_env_names_are_refused(name: str) -> None:
    with pytest.raises(CondaTorchValueError) as info:
        pf.check_env_name(name, new=True)
    assert "\n" not in info.value.line
    if name not in ("base", "root"):  # conda's base is looked up by name, never made
        with pytest.raises(CondaTorchValueError) as looked_up:
            pf.check_env_name(name)
        assert looked_up.value.line == info.value.line
    else:
        assert pf.check_env_name(name) == name


@pytest.mark.parametrize(
    "name", ["ml", "torch-2.9", "my_env", "Env.1"], ids=["plain", "dash", "underscore", "dot"]
)
def test_good_env_names_pass(name: str) -> None:
    assert pf.check_env_name(name) == name


def test_conda_info_locate_and_new_prefix(tmp_path: Path) -> None:
    fake = fake_conda(tmp_path)
    make_env(fake.envs / "ml")
    (fake.envs / "notenv").mkdir()
    conda = cd.find_conda(environ=fake.environ)
    info = cd.conda_info(conda, environ=fake.environ)
    assert info.envs_dirs == (str(fake.envs),)
    assert info.locate("ml") == str(fake.envs / "ml")
    assert info.locate("notenv") is None
    assert info.locate("base") == str(fake.root)
    assert info.new_prefix("new") == str(fake.envs / "new")
    assert info.name_of(str(fake.envs / "ml")) == "ml"
    assert info.name_of(str(tmp_path / "elsewhere")) is None
    assert {e.name for e in info.envs} == {"base", "ml"}


def test_resolve_target_by_name_and_prefix(tmp_path: Path) -> None:
    fake = fake_conda(tmp_path)
    env = make_env(fake.envs / "ml")
    conda = cd.find_conda(environ=fake.environ)

    def resolve(**kw: object) -> tuple[str, str | None]:
        target = envs.resolve_target(conda_only=True, **kw)  # type: ignore[arg-type]
        return str(target.prefix), target.name

    assert resolve(name="ml", conda=conda, environ=fake.environ) == (str(env), "ml")
    assert resolve(prefix=str(env)) == (str(env), None)
    with pytest.raises(EnvironmentNotFoundError, match="no conda environment named 'nope'"):
        resolve(name="nope", conda=conda, environ=fake.environ)
    with pytest.raises(EnvironmentNotFoundError, match="not a conda environment"):
        resolve(prefix=str(tmp_path))
    with pytest.raises(CondaTorchValueError, match="invalid environment name"):
        resolve(name="a/b", conda=conda, environ=fake.environ)


def test_move_aside_and_restore_keep_everything(tmp_path: Path) -> None:
    env = make_env(tmp_path / "envs" / "ml", marker="precious")
    backup = pf.sibling(str(env), "backup")
    assert os.path.dirname(backup) == str(env.parent) and os.path.basename(backup).startswith(
        ".ml."
    )
    cd.move_aside(str(env), backup)
    assert not env.exists()
    (env / "conda-meta").mkdir(parents=True)  # something new was built there
    cd.restore(backup, str(env))
    assert (env / "marker.txt").read_text() == "precious"
    assert not os.path.exists(backup)


def test_remove_env_falls_back_to_deleting(tmp_path: Path) -> None:
    fake = fake_conda(tmp_path, mode="remove-fail")
    conda = cd.find_conda(environ=fake.environ)
    env = make_env(fake.envs / "x")
    notes = cd.remove_env(conda, str(env), environ=fake.environ)
    assert not env.exists()
    assert notes and "conda remove failed" in notes[0]


# ---------------------------------------------------------------------------------------------
# tests: activation


def test_activated_environ(tmp_path: Path) -> None:
    old = make_env(tmp_path / "old")
    new = make_env(tmp_path / "new")
    (new / "conda-meta" / "state").write_text(json.dumps({"env_vars": {"FOO": "bar"}}))
    base = {
        "PATH": os.pathsep.join([str(old / "bin"), "/usr/bin"]),
        "CONDA_PREFIX": str(old),
        "CONDA_SHLVL": "1",
    }
    env = pf.activated_environ(str(new), name="new", environ=base)
    assert env["PATH"].split(os.pathsep) == [str(new / "bin"), "/usr/bin"]
    assert env["CONDA_PREFIX"] == str(new)
    assert env["CONDA_PREFIX_1"] == str(old)
    assert env["CONDA_SHLVL"] == "2"
    assert env["CONDA_DEFAULT_ENV"] == "new"
    assert env["FOO"] == "bar"


def test_run_launch_is_direct_without_activation_scripts(tmp_path: Path) -> None:
    env = make_env(tmp_path / "e")
    (env / "bin").mkdir()
    tool = env / "bin" / "mytool"
    tool.write_text('#!/bin/sh\necho "$CONDA_PREFIX"\nexit 7\n')
    tool.chmod(0o755)
    launch = act.run_launch(str(env), ["mytool", "x"], environ=clean_environ())
    assert launch.how == "direct" and launch.argv == (str(tool), "x")
    proc = subprocess.run(launch.argv, env=launch.env, capture_output=True, text=True)
    assert proc.returncode == 7 and proc.stdout.strip() == str(env)


def test_run_launch_uses_conda_run_for_activation_scripts(tmp_path: Path) -> None:
    fake = fake_conda(tmp_path)
    conda = cd.find_conda(environ=fake.environ)
    env = make_env(tmp_path / "e")
    (env / "etc" / "conda" / "activate.d").mkdir(parents=True)
    (env / "etc" / "conda" / "activate.d" / "x.sh").write_text("export X=1\n")
    launch = act.run_launch(str(env), ["python", "-V"], conda=conda, environ=fake.environ)
    assert launch.how == "conda run"
    assert launch.argv == (
        str(fake.exe),
        "run",
        "--prefix",
        str(env),
        "--no-capture-output",
        "python",
        "-V",
    )
    with pytest.raises(CondaNotFoundError, match="activation scripts"):
        act.run_launch(str(env), ["python"], conda=None, environ=fake.environ)


def test_run_launch_unknown_command_is_127(tmp_path: Path) -> None:
    env = make_env(tmp_path / "e")
    with pytest.raises(CondaTorchValueError, match="command not found") as info:
        act.run_launch(str(env), ["no-such-command-xyz"], environ=clean_environ())
    assert info.value.return_code == 127


def test_bash_shell_sources_bashrc_then_condas_activation(tmp_path: Path) -> None:
    fake = fake_conda(tmp_path)
    conda = cd.find_conda(environ=fake.environ)
    env = make_env(tmp_path / "e")
    launch = act.shell_launch(
        str(env), conda=conda, shell="/bin/bash", environ=fake.environ, tmpdir=str(tmp_path)
    )
    assert launch.how == "conda activator (bash)"
    assert (
        launch.argv[0].endswith("bash") and launch.argv[1] == "--rcfile" and launch.argv[-1] == "-i"
    )
    rc = Path(launch.argv[2]).read_text()
    assert rc.index(".bashrc") < rc.index("activate.sh")
    script = (Path(launch.argv[2]).parent / "activate.sh").read_text()
    assert f"CONDA_PREFIX='{env}'" in script  # what `conda shell.bash activate` printed
    assert ["shell.bash", "activate", str(env)] in fake.calls()


def test_shell_without_conda_uses_direct_activation(tmp_path: Path) -> None:
    env = make_env(tmp_path / "e")
    launch = act.shell_launch(str(env), conda=None, shell="/bin/sh", environ=clean_environ())
    assert launch.how == "direct" and launch.env["CONDA_PREFIX"] == str(env)
    assert launch.notes


# =============================================================================================
# tests against a real conda


def test_real_conda_info_sees_the_sandbox(sandbox: CondaSandbox) -> None:
    info = cd.conda_info(sandbox.conda, environ=sandbox.environ)
    assert info.envs_dirs[0] == str(sandbox.envs)
    assert info.new_prefix("fresh") == str(sandbox.envs / "fresh")
    assert info.conda_version == sandbox.conda.version


def test_real_conda_create_pins_channels_and_sets_variables(
    sandbox: CondaSandbox, tmp_path: Path
) -> None:
    """create --file --override-channels -c: the file's channels only, variables applied."""
    f = env_file(
        tmp_path / "environment.yml", sandbox.channel_url, "tinypkg=1.0", variables={"FOO": "bar"}
    )
    prefix = sandbox.envs / "t1"
    args, pinned = cd.create_command(
        sandbox.conda, str(prefix), str(f), (sandbox.channel_url,), json_out=True
    )
    result = cd.run_conda(sandbox.conda, args, capture=True, environ=sandbox.environ)
    assert pinned and result.json()["success"] is True
    assert pf.is_conda_env(prefix)
    assert (prefix / "share" / "tinypkg" / "version.txt").read_text() == "1.0\n"
    assert pf.state_env_vars(str(prefix)) == {"FOO": "bar"}
    info = cd.conda_info(sandbox.conda, environ=sandbox.environ)
    assert info.locate("t1") == str(prefix)
    # conda's own activator agrees with the direct activation
    script = act.activation_script(sandbox.conda, str(prefix), environ=sandbox.environ)
    assert f"export CONDA_PREFIX='{prefix}'" in script and "export FOO='bar'" in script
    direct = pf.activated_environ(str(prefix), environ=sandbox.environ)
    assert direct["FOO"] == "bar" and direct["PATH"].startswith(str(prefix / "bin"))
    # and remove_env leaves nothing, through conda (no notes)
    assert cd.remove_env(sandbox.conda, str(prefix), environ=sandbox.environ) == []
    assert not prefix.exists()


def test_real_conda_failure_is_a_clear_line(sandbox: CondaSandbox, tmp_path: Path) -> None:
    f = env_file(tmp_path / "environment.yml", sandbox.channel_url, "nosuchpkg")
    prefix = sandbox.envs / "bad"
    args, _ = cd.create_command(
        sandbox.conda, str(prefix), str(f), (sandbox.channel_url,), json_out=True
    )
    with pytest.raises(CondaCommandError) as info:
        cd.run_conda(sandbox.conda, args, capture=True, environ=sandbox.environ)
    assert "PackagesNotFound" in info.value.line and "nosuchpkg" in info.value.line
    assert not prefix.exists()


def test_real_conda_run_launch_with_activation_script(
    sandbox: CondaSandbox, tmp_path: Path
) -> None:
    """An env with an activate.d script goes through `conda run`, which runs the script."""
    pkg = package(
        "actpkg",
        "1.0",
        {
            "etc/conda/activate.d/actpkg.sh": "export ACTPKG_ACTIVE=yes\n",
            "bin/python": python_shim(),
        },
    )
    chan = build_channel(tmp_path / "chan2", [pkg])
    f = env_file(tmp_path / "environment.yml", chan.as_uri(), "actpkg")
    prefix = sandbox.envs / "act"
    args, _ = cd.create_command(sandbox.conda, str(prefix), str(f), (chan.as_uri(),), json_out=True)
    cd.run_conda(sandbox.conda, args, capture=True, environ=sandbox.environ)
    launch = act.run_launch(
        str(prefix),
        ["sh", "-c", "echo $ACTPKG_ACTIVE $CONDA_PREFIX; exit 5"],
        conda=sandbox.conda,
        environ=sandbox.environ,
    )
    assert launch.how == "conda run"
    proc = subprocess.run(launch.argv, env=launch.env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 5
    assert proc.stdout.split() == ["yes", str(prefix)]


@pytest.mark.parametrize("ignore", [False, True], ids=["conda-stops", "conda-ignores-sigint"])
def test_interrupt_stops_conda_before_returning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ignore: bool
) -> None:
    """Ctrl-C while conda runs: conda is stopped (SIGINT, then SIGTERM) before it propagates."""
    import signal
    import threading
    import time

    monkeypatch.setattr(cd, "STOP_GRACE", (0.2, 0.5, 2.0))
    fake = fake_conda(tmp_path, mode="hang")
    marker = tmp_path / "started"
    fake.environ["FAKE_CONDA_MARKER"] = str(marker)
    if ignore:
        fake.environ["FAKE_CONDA_IGNORE_INT"] = "1"
    conda = cd.find_conda(environ=fake.environ)

    def interrupt_when_started() -> None:
        for _ in range(200):
            if marker.exists():
                break
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)  # what a terminal's Ctrl-C sends us

    threading.Thread(target=interrupt_when_started, daemon=True).start()
    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        cd.run_conda(
            conda,
            ["create", "--prefix", str(tmp_path / "envs" / "x"), "--file", "f"],
            capture=True,
            environ=fake.environ,
        )
    pid = int(marker.read_text())
    assert time.perf_counter() - start < 20
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
