"""Nothing is lost, whatever happens (issue 11): each fault, reproduced with a real conda.

Every test here made conda-torch lose, damage or misreport an environment before its fix. The
environments are real (a real conda over a local channel, the ``sandbox`` fixture); the
faults are real too: a second conda-torch holding the lock, a signal sent to conda-torch alone
while conda runs a post-link script, an OS error after conda succeeded, a symlinked prefix, a
Python that hangs, floods or crashes. After each fault the environment that was there is
byte-identical (:func:`snapshot`, which includes a marker file) and ``conda env list`` works.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from conda_torch import conda_cli as cd
from conda_torch import create as cr
from conda_torch import prefix as pf
from conda_torch import procs
from conda_torch.exceptions import CondaTorchError
from conda_torch.prepare import prepare

from .helpers import sandbox as adapter
from .helpers.cli import cli, cli_command
from .helpers.sandbox import Recorder, build_channel, env_file, package, siblings

if TYPE_CHECKING:
    from .helpers.sandbox import CondaSandbox


# ---------------------------------------------------------------------------------------------
# helpers


def snapshot(prefix: Path) -> dict[str, tuple]:
    """Every path under ``prefix`` with its type, mode and content (or link target)."""
    out: dict[str, tuple] = {}
    for root, dirs, files in os.walk(prefix):
        for name in sorted(dirs + files):
            full = Path(root) / name
            rel = str(full.relative_to(prefix))
            st = full.lstat()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(full))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode))
            else:
                digest = hashlib.sha256(full.read_bytes()).hexdigest()
                out[rel] = ("file", stat.S_IMODE(st.st_mode), digest)
    return out


def create_in(
    sandbox: CondaSandbox, spec: str, validator, *, name: str | None = None, **kwargs
) -> cr.CreateResult:
    """conda-torch's create of one package spec (``tinypkg=2.0``) from the sandbox's channel,
    at ``prefix=``/``name=``, judged by ``validator`` (a :class:`Recorder`)."""
    tag = spec.replace("=", "-")
    path = env_file(sandbox.root / f"{tag}.yml", sandbox.channel_url, spec)
    where = {"name": name} if name else {}
    return cr.create(
        prepare(file=str(path), as_is=True),
        environ=sandbox.environ,
        validator=validator,
        **where,
        **kwargs,
    )


def old_environment(sandbox: CondaSandbox, prefix: Path, *, name: str | None = None) -> dict:
    """A real environment made by conda-torch (tinypkg 1.0) with a marker file; its snapshot."""
    where = {} if name else {"prefix": str(prefix)}
    res = create_in(sandbox, "tinypkg=1.0", Recorder(), name=name, **where)
    assert res.status == cr.CREATED, res.error
    (prefix / "marker.txt").write_text("the environment that was there\n")
    return snapshot(prefix)


def assert_intact(sandbox: CondaSandbox, prefix: Path, before: dict) -> None:
    """The environment is byte-identical, nothing of conda-torch's is left beside it, and
    conda still lists environments."""
    assert (prefix / "marker.txt").is_file()
    assert snapshot(prefix) == before
    assert siblings(prefix) == []
    listed = sandbox.run("env", "list", "--json")
    assert listed.returncode == 0 and "envs" in json.loads(listed.stdout)


def torch_cli(sandbox: CondaSandbox, *args: str, **kw) -> subprocess.CompletedProcess[str]:
    return cli(*args, env=sandbox.environ, **kw)


def start_cli(sandbox: CondaSandbox, *args: str, env: dict | None = None) -> subprocess.Popen:
    """``python -m conda_torch ARGS`` in its own session (signals go to it alone), with its
    temporary files in the sandbox (a run killed outright cannot delete them)."""
    tmp = sandbox.root / "tmp"
    tmp.mkdir(exist_ok=True)
    return start_cli_env({"TMPDIR": str(tmp), **(env or sandbox.environ)}, *args)


def start_cli_env(env: dict, *args: str) -> subprocess.Popen:
    command, environ = cli_command(*args, env=env)
    return subprocess.Popen(
        command,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for(path: Path, proc: subprocess.Popen) -> None:
    for _ in range(2400):
        if path.exists() or proc.poll() is not None:
            break
        time.sleep(0.05)
    if not path.exists():
        out, err = proc.communicate(timeout=60) if proc.poll() is not None else ("", "")
        raise AssertionError(f"{path} never appeared:\n{out}\n{err}")


def finish(proc: subprocess.Popen, sig: int = signal.SIGINT) -> tuple[str, str]:
    """Stop a started CLI (its whole session) and return its output."""
    try:
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
        return proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


def kill_outright(proc: subprocess.Popen, prefix: Path, *, conda_too: bool = True) -> None:
    """SIGKILL conda-torch (its whole session), as a machine going down would. conda runs in
    a process group of its own and goes on; with ``conda_too`` it is killed as well (found from
    the lock, which names it) and waited for."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    for stream in (proc.stdout, proc.stderr):
        stream.close()
    holder = cr.lock_holder(str(prefix))
    if conda_too and holder is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(holder.pid, signal.SIGKILL)
        for _ in range(600):
            if not procs.group_alive(holder.pid):
                break
            time.sleep(0.05)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead, only not yet reaped by its parent
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z"
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------
# a run in progress; backups; rollback


def test_a_run_in_progress_is_recognised_and_nothing_is_advised_against_it(
    sandbox: CondaSandbox,
) -> None:
    """While one conda-torch replaces an environment (conda is in a post-link script), doctor,
    recreate and create say another run is replacing it; none advises removing anything."""
    prefix = sandbox.root / "ml"
    before = old_environment(sandbox, prefix)
    slow = env_file(sandbox.root / "slow.yml", sandbox.channel_url, "slowpkg")
    proc = start_cli(sandbox, "create", "-p", str(prefix), "-f", str(slow), "--as-is", "--force",
                     "-y")  # fmt: skip
    try:
        wait_for(sandbox.root / "post-link-started", proc)
        for args in (
            ("doctor", "-p", str(prefix)),
            ("recreate", "-p", str(prefix), "-y"),
            ("create", "-p", str(prefix), "-f", str(slow), "--as-is", "--force", "-y"),
        ):
            out = torch_cli(sandbox, *args)
            text = out.stdout + out.stderr
            assert f"pid {proc.pid}" in text, (args, text)
            assert "replacing" in text, (args, text)
            assert "rm " not in text and "delete" not in text.lower(), (args, text)
            assert "Traceback" not in text
    finally:
        out, err = finish(proc)
    assert proc.returncode == 130, err
    assert_intact(sandbox, prefix, before)


def test_rollback_checks_the_backup_before_removing_anything(sandbox: CondaSandbox) -> None:
    """Someone deleted the backup while the new environment was validated (following the old
    advice); then validation failed. The new environment must not be removed as well."""
    prefix = sandbox.root / "ml"
    old_environment(sandbox, prefix)
    backup = Path(cr.backup_path(str(prefix)))

    def validator(**kw):
        pf.remove_tree(str(backup))  # the user's `rm -rf .ml.conda-torch-backup`
        return Recorder(fail=True)(**kw)

    res = create_in(sandbox, "tinypkg=2.0", validator, prefix=str(prefix), force=True)
    assert res.status == cr.INVALID
    assert sandbox.list_names(prefix) == {"tinypkg": "2.0"}  # the only environment left, kept
    assert str(prefix) in res.error and "kept" in res.error, res.error
    assert siblings(prefix) == []


def test_a_folder_named_like_a_backup_is_not_taken_for_one(sandbox: CondaSandbox) -> None:
    """An environment someone named ``.ml.conda-torch-backup`` is not conda-torch's backup:
    doctor and recreate advise nothing about it, and such names are refused for new ones."""
    prefix = sandbox.root / "ml"
    old_environment(sandbox, prefix)
    look_alike = Path(cr.backup_path(str(prefix)))
    spec = env_file(sandbox.root / "other.yml", sandbox.channel_url, "tinypkg=2.0")
    sandbox.run("create", "-y", "-p", str(look_alike), "--file", str(spec))
    theirs = snapshot(look_alike)
    for args in (("doctor", "-p", str(prefix)), ("recreate", "-p", str(prefix), "--dry-run")):
        out = torch_cli(sandbox, *args)
        text = out.stdout + out.stderr
        assert "rm -rf" not in text and "mv " not in text, (args, text)
    assert snapshot(look_alike) == theirs
    for args in (
        ("create", "-n", ".ml.conda-torch-backup", "-f", str(spec), "--as-is", "-y"),
        ("create", "-p", str(sandbox.root / ".x.conda-torch-lock"), "-f", str(spec), "--as-is"),
    ):
        out = torch_cli(sandbox, *args)
        assert out.returncode == 1 and "conda-torch" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr
    assert not (sandbox.envs / ".ml.conda-torch-backup").exists()
    assert not (sandbox.root / ".x.conda-torch-lock").exists()


def test_a_killed_runs_backup_carries_conda_torchs_marker(sandbox: CondaSandbox) -> None:
    """A run killed (SIGKILL) while conda builds leaves the old environment aside, marked as
    conda-torch's. While the conda it started still runs (its own process group), doctor says
    so and advises nothing; once that is gone, doctor gives the command that puts the old
    environment back, and it works."""
    prefix = sandbox.root / "ml"
    before = old_environment(sandbox, prefix)
    slow = env_file(sandbox.root / "slow.yml", sandbox.channel_url, "slowpkg")
    proc = start_cli(sandbox, "create", "-p", str(prefix), "-f", str(slow), "--as-is", "--force",
                     "-y")  # fmt: skip
    wait_for(sandbox.root / "post-link-started", proc)
    kill_outright(proc, prefix, conda_too=False)
    holder = cr.lock_holder(str(prefix))
    assert holder is not None and holder.orphan and holder.pid != proc.pid
    out = torch_cli(sandbox, "doctor", "-p", str(prefix))
    assert "still writing" in out.stdout and "rm " not in out.stdout, out.stdout
    kill_outright(proc, prefix)
    backup = Path(cr.backup_path(str(prefix)))
    assert backup.is_dir() and cr.is_backup_of(str(backup), str(prefix))
    out = torch_cli(sandbox, "doctor", "-p", str(prefix), "--json")
    doc = json.loads(out.stdout)
    finding = next(f for f in doc["findings"] if f["id"] == "interrupted-replace")
    subprocess.run(finding["fix"], shell=True, check=True)
    for lock in prefix.parent.glob(f".{prefix.name}.conda-torch-lock"):
        lock.unlink()  # the killed run's stale lock (any next run removes it too)
    assert_intact(sandbox, prefix, before)


def test_a_name_too_long_for_conda_torchs_files_is_refused(sandbox: CondaSandbox) -> None:
    spec = env_file(sandbox.root / "e.yml", sandbox.channel_url, "tinypkg=1.0")
    name = "n" * 240  # conda takes it; .NAME.conda-torch-backup would be 260 characters
    out = torch_cli(sandbox, "create", "-n", name, "-f", str(spec), "--as-is", "-y")
    assert out.returncode == 1, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in out.stderr and "too long" in out.stderr, out.stderr
    assert len([ln for ln in lines if not ln.startswith("Hint:")]) == 1, out.stderr
    assert os.listdir(sandbox.envs) == []


def test_another_create_finishing_while_the_prompt_waits(sandbox: CondaSandbox) -> None:
    """The name was free when checked; another run created it while we asked for confirmation:
    it is refused, and the other environment stays as it is."""
    prefix = sandbox.envs / "ml"
    state: dict = {}

    def confirm(dest, prepared) -> bool:
        state["before"] = old_environment(sandbox, prefix, name="ml")
        return True

    with pytest.raises(CondaTorchError) as info:
        create_in(sandbox, "tinypkg=2.0", Recorder(), name="ml", confirm=confirm)
    assert "nothing was changed" in info.value.line
    assert_intact(sandbox, prefix, state["before"])


# ---------------------------------------------------------------------------------------------
# where the environment is: registration, symlinks, empty folders


def _registered(sandbox: CondaSandbox) -> list[str]:
    path = sandbox.root / "home" / ".conda" / "environments.txt"
    return path.read_text().split() if path.exists() else []


def test_a_restored_prefix_environment_stays_registered(sandbox: CondaSandbox) -> None:
    """A ``-p`` environment outside the envs folders is known to conda through
    environments.txt; a failed --force must not leave it unregistered."""
    prefix = sandbox.root / "ml"
    before = old_environment(sandbox, prefix)
    assert str(prefix) in _registered(sandbox)
    res = create_in(sandbox, "tinypkg=2.0", Recorder(fail=True), prefix=str(prefix), force=True)
    assert res.status == cr.INVALID
    assert_intact(sandbox, prefix, before)
    assert str(prefix) in _registered(sandbox)


def test_force_through_a_symlink_replaces_the_environment_it_points_to(
    sandbox: CondaSandbox,
) -> None:
    real = sandbox.root / "real" / "ml"
    old_environment(sandbox, real)
    link = sandbox.root / "ml-link"
    link.symlink_to(real)
    res = create_in(sandbox, "tinypkg=2.0", Recorder(), prefix=str(link), force=True)
    assert res.status == cr.CREATED, res.error
    assert link.is_symlink() and os.readlink(link) == str(real)  # the link is kept
    assert sandbox.list_names(real) == {"tinypkg": "2.0"}  # and what it points to replaced
    assert not (real / "marker.txt").exists()
    assert siblings(real) == [] and siblings(link) == []


@pytest.mark.parametrize("outcome", ["created", "invalid"])
def test_a_symlink_to_an_empty_folder_is_filled_and_stays(
    sandbox: CondaSandbox, outcome: str
) -> None:
    """``-p LINK`` where LINK points to an empty folder (as a mount point is one): the new
    environment goes into the folder; a failure leaves the folder empty and the link as it was."""
    folder = sandbox.root / "mnt" / "envspace"
    folder.mkdir(parents=True)
    link = sandbox.root / "ml"
    link.symlink_to(folder)
    res = create_in(sandbox, "tinypkg=1.0", Recorder(fail=outcome == "invalid"), prefix=str(link))
    assert res.status == outcome, res.error
    assert link.is_symlink() and folder.is_dir()
    if outcome == "created":
        assert sandbox.list_names(folder) == {"tinypkg": "1.0"}
    else:
        assert os.listdir(folder) == []
    assert siblings(folder) == []


# ---------------------------------------------------------------------------------------------
# OS errors: one line, the path, what is unchanged; --json is one document


def _provenance_blocker(sandbox: CondaSandbox) -> str:
    """A package whose post-link script makes the provenance path a folder: conda succeeds,
    then conda-torch's write of the provenance fails (IsADirectoryError)."""
    script = '#!/bin/sh\nmkdir -p "$PREFIX/conda-meta/conda-torch.provenance/x"\n'
    build_channel(
        sandbox.root / "faults",
        [package("provblock", "1.0", {"bin/.provblock-post-link.sh": script})],
    )
    return (sandbox.root / "faults").as_uri()


@pytest.mark.parametrize("json_out", [False, True], ids=["text", "json"])
def test_an_os_error_after_conda_succeeded_is_one_line(sandbox: CondaSandbox, json_out) -> None:
    prefix = sandbox.root / "ml"
    before = old_environment(sandbox, prefix)
    spec = env_file(sandbox.root / "block.yml", _provenance_blocker(sandbox), "provblock")
    args = ["create", "-p", str(prefix), "-f", str(spec), "--as-is", "--force", "-y"]
    out = torch_cli(sandbox, *args, *(["--json"] if json_out else []))
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    if json_out:
        doc = json.loads(out.stdout)  # one document, nothing else
        error = doc["error"]
    else:
        error = next(ln for ln in out.stderr.splitlines() if "create failed" in ln)
    assert "conda-torch.provenance" in error and "Is a directory" in error, error
    assert "unchanged" in error, error
    assert_intact(sandbox, prefix, before)


def test_a_prefix_under_a_file_is_one_line(sandbox: CondaSandbox) -> None:
    blocker = sandbox.root / "afile"
    blocker.write_text("not a folder\n")
    spec = env_file(sandbox.root / "e.yml", sandbox.channel_url, "tinypkg=1.0")
    out = torch_cli(sandbox, "create", "-p", str(blocker / "ml"), "-f", str(spec), "--as-is")
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert str(blocker) in out.stderr and "nothing was changed" in out.stderr, out.stderr
    assert blocker.read_text() == "not a folder\n"


# ---------------------------------------------------------------------------------------------
# signals: conda runs in its own process group, stopped and waited for as a whole


def _late_writer(sandbox: CondaSandbox) -> str:
    """A package whose post-link script records its pid, sleeps, then writes into the prefix
    (as a slow post-link script does after a while)."""
    pid_file = sandbox.root / "late.pid"
    script = (
        f"#!/bin/sh\necho $$ > {shlex.quote(str(pid_file))}\nsleep 30\n"
        'echo late > "$PREFIX/late.txt"\n'
    )
    build_channel(
        sandbox.root / "late-channel",
        [package("latewriter", "1.0", {"bin/.latewriter-post-link.sh": script})],
    )
    return (sandbox.root / "late-channel").as_uri()


@pytest.mark.parametrize(
    "sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=["SIGTERM", "SIGINT", "SIGHUP"]
)
def test_a_signal_to_conda_torch_alone_stops_condas_post_link_before_restoring(
    sandbox: CondaSandbox, sig: int
) -> None:
    """``kill PID`` / ``docker stop`` / a closed terminal reach conda-torch only. conda and its
    post-link script must be stopped (and waited for) before the old environment is put back,
    or the script writes into the environment reported unchanged."""
    prefix = sandbox.root / "ml"
    before = old_environment(sandbox, prefix)
    spec = env_file(sandbox.root / "late.yml", _late_writer(sandbox), "latewriter")
    proc = start_cli(sandbox, "create", "-p", str(prefix), "-f", str(spec), "--as-is", "--force",
                     "-y")  # fmt: skip
    pid_file = sandbox.root / "late.pid"
    try:
        wait_for(pid_file, proc)
        for _ in range(100):  # the pid is written once the file exists
            text = pid_file.read_text().strip()
            if text:
                break
            time.sleep(0.05)
        script_pid = int(text)
        os.kill(proc.pid, sig)  # conda-torch alone, not its group
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 130, err
    assert "unchanged" in err, err
    assert not pid_alive(script_pid), "conda's post-link script outlived conda-torch"
    assert not (prefix / "late.txt").exists()
    assert_intact(sandbox, prefix, before)


# ---------------------------------------------------------------------------------------------
# the probe: bounded, group-killed, capped, and a crash called a crash


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_a_hanging_python_is_stopped_at_the_timeout_with_its_children(tmp_path: Path) -> None:
    hang = _script(
        tmp_path / "python",
        f"echo $$ > {tmp_path}/hang.pid\nsleep 600 &\necho $! > {tmp_path}/child.pid\nwait\n",
    )
    for command in ("validate", "doctor"):
        out = cli(command, "--python", str(hang), "--timeout", "3", env=dict(os.environ))
        text = out.stdout + out.stderr
        assert out.returncode == 1, text
        assert "did not finish in 3 s" in text and "Traceback" not in text, text
        for name in ("hang.pid", "child.pid"):
            pid = int((tmp_path / name).read_text())
            assert not pid_alive(pid), f"{name} is still running after {command}"


def test_a_python_leaving_a_child_behind_does_not_hold_validate(tmp_path: Path) -> None:
    """A wrapper that starts a background process holding the output pipes: validate returns
    when the Python is done, and the leftover is stopped."""
    wrapper = _script(
        tmp_path / "python",
        f'sleep 600 &\necho $! > {tmp_path}/child.pid\nexec {shlex.quote(sys.executable)} "$@"\n',
    )
    proc = start_cli_env(dict(os.environ), "validate", "--python", str(wrapper), "--json")
    try:
        out, err = proc.communicate(timeout=120)  # before the fix: held until the child ends
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError("validate was held by the child its Python left behind") from None
    doc = json.loads(out)
    assert doc["facts"]["python"]["version"].startswith(f"{sys.version_info[0]}."), err
    assert not pid_alive(int((tmp_path / "child.pid").read_text()))


def test_a_flooding_python_is_capped_with_a_note(tmp_path: Path) -> None:
    from conda_torch.exceptions import ProbeError
    from conda_torch.validate import OUTPUT_CAP, run_probe

    flood = _script(tmp_path / "python", "head -c 50000000 /dev/zero | tr '\\0' x\nexit 3\n")
    with pytest.raises(ProbeError) as info:
        run_probe(flood, timeout=120)
    assert "output was cut" in str(info.value) and "Traceback" not in str(info.value)
    assert OUTPUT_CAP <= 8 * 2**20


def test_a_crashed_python_says_it_crashed(tmp_path: Path) -> None:
    from conda_torch.exceptions import ProbeError
    from conda_torch.validate import run_probe

    crash = _script(tmp_path / "python", "kill -SEGV $$\n")
    with pytest.raises(ProbeError) as info:
        run_probe(crash, timeout=60)
    text = str(info.value)
    assert "crashed" in info.value.line and "SIGSEGV" in info.value.line, text
    assert "3.8" not in text


# ---------------------------------------------------------------------------------------------
# settings are defaults; team files are read from their own folder; nothing left beside them


def test_plain_recreate_with_a_backend_setting(sandbox: CondaSandbox) -> None:
    """``plugins.torch_backend`` is a default: it does not turn into a ``--backend`` flag that
    plain ``recreate`` (from provenance) refuses without ``--regenerate``."""
    prefix = sandbox.root / "ml"
    before = old_environment(sandbox, prefix)
    env = dict(sandbox.environ, CONDA_PLUGINS_TORCH_BACKEND="cpu")
    out = cli("recreate", "-p", str(prefix), "--dry-run", env=env)
    assert out.returncode == 0, out.stderr
    assert "from its provenance" in out.stdout
    # asked for on the command line, it still needs --regenerate
    out = cli("recreate", "-p", str(prefix), "--dry-run", "--backend", "cpu", env=env)
    assert out.returncode == 1 and "--regenerate" in out.stderr
    assert_intact(sandbox, prefix, before)


def test_no_temporary_folder_is_left_beside_the_users_file(sandbox: CondaSandbox) -> None:
    team_dir = sandbox.root / "team"
    team_dir.mkdir()
    team = env_file(team_dir / "team.yml", sandbox.channel_url, "slowpkg")
    proc = start_cli(
        sandbox, "create", "-p", str(sandbox.root / "ml"), "-f", str(team), "--as-is", "-y"
    )
    wait_for(sandbox.root / "post-link-started", proc)
    kill_outright(proc, sandbox.root / "ml")
    assert os.listdir(team_dir) == ["team.yml"]


@pytest.mark.torch
def test_team_file_pip_paths_are_relative_to_the_file(condabox, tmp_path: Path) -> None:
    """``-r extra.txt`` and ``-e ./pkg`` in a team file name files beside it, as conda reads
    them (``conda env create -f``), wherever conda-torch hands conda the file from."""
    team_dir = tmp_path / "team"
    (team_dir / "pkg" / "relpkg").mkdir(parents=True)
    (team_dir / "pkg" / "relpkg" / "__init__.py").write_text("WHERE = 'beside the team file'\n")
    (team_dir / "pkg" / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "relpkg"\nversion = "1.0"\n'
    )
    (team_dir / "extra.txt").write_text("ujson==6.0.0\n")
    py = f"{sys.version_info[0]}.{sys.version_info[1]}"
    team = team_dir / "team.yml"
    team.write_text(
        "channels:\n  - conda-forge\ndependencies:\n"
        f"  - python={py}\n  - pip\n  - pip:\n    - -r extra.txt\n    - -e ./pkg\n"
    )
    text = team.read_text()
    prefix = condabox.root / "envs" / "pip-relative"
    res = cr.create(
        prepare(file=str(team), as_is=True),
        prefix=str(prefix),
        environ=condabox.environ(),
        validator=Recorder(),
    )
    assert res.status == cr.CREATED, res.error
    ran = subprocess.run(
        [str(prefix / "bin" / "python"), "-c", "import ujson, relpkg; print(relpkg.WHERE)"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert ran.stdout.strip() == "beside the team file", ran.stderr
    assert team.read_text() == text
    assert sorted(os.listdir(team_dir)) == ["extra.txt", "pkg", "team.yml"]


# ---------------------------------------------------------------------------------------------
# outputs: devices and FIFOs are written to, links written through, only files replaced


def _generate(*args: str, **kw) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CONDA_OVERRIDE_CUDA"}
    return cli("generate", "--platform", "linux-64", "--backend", "cpu", *args, env=env, **kw)


def _fifo_reader(path: Path) -> tuple[threading.Thread, list[str]]:
    got: list[str] = []

    def read() -> None:
        with open(path, encoding="utf-8") as fh:
            got.append(fh.read())

    t = threading.Thread(target=read, daemon=True)
    t.start()
    return t, got


def test_dev_null_and_dev_stdout_are_written_to() -> None:
    out = _generate("-o", "/dev/null")
    assert out.returncode == 0, out.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    out = _generate("-o", "/dev/stdout")
    assert out.returncode == 0, out.stderr
    assert "dependencies:" in out.stdout and "pytorch=" in out.stdout


@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
def test_a_fifo_is_written_to_never_replaced(tmp_path: Path, force: bool) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader, got = _fifo_reader(fifo)
    out = _generate("-o", str(fifo), *(["--force"] if force else []))
    reader.join(60)
    assert out.returncode == 0, out.stderr
    assert got and "dependencies:" in got[0]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_character_device_is_never_replaced_even_with_force(tmp_path: Path) -> None:
    """A stand-in /dev/null (the same device, made here): ``--force`` writes to it."""
    dev = tmp_path / "null"
    try:
        os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("making a device node needs root")
    out = _generate("-o", str(dev), "--force")
    assert out.returncode == 0, out.stderr
    assert stat.S_ISCHR(os.lstat(dev).st_mode)


def test_a_symlinked_output_is_written_through(tmp_path: Path) -> None:
    real = tmp_path / "real" / "environment.yml"
    real.parent.mkdir()
    link = tmp_path / "environment.yml"
    link.symlink_to(real)
    out = _generate("-o", str(link))
    assert out.returncode == 0, out.stderr
    assert link.is_symlink() and "dependencies:" in real.read_text()
    first = real.read_text()
    again = _generate("-o", str(link))  # the file it points to exists now: --force
    assert again.returncode == 1 and "--force" in again.stderr
    real.write_text("old\n")
    forced = _generate("-o", str(link), "--force")
    assert forced.returncode == 0, forced.stderr
    assert link.is_symlink() and os.readlink(link) == str(real) and real.read_text() == first


def test_force_never_replaces_a_directory_and_does_not_say_it_would(tmp_path: Path) -> None:
    folder = tmp_path / "environment.yml"
    folder.mkdir()
    for extra in ([], ["--force"]):
        out = _generate("-o", str(folder), *extra)
        assert out.returncode == 1 and "directory" in out.stderr, out.stderr
        assert "--force" not in out.stderr and "Traceback" not in out.stderr
    assert folder.is_dir()


def test_a_full_disk_says_which_disk() -> None:
    out = _generate("-o", "/dev/full")
    assert out.returncode == 1, out.stderr
    assert "No space left on device" in out.stderr and "disk mounted at /dev" in out.stderr
    assert "Traceback" not in out.stderr and stat.S_ISCHR(os.stat("/dev/full").st_mode)


# ---------------------------------------------------------------------------------------------
# messages


def test_pass_force_is_advised_only_where_it_works(sandbox: CondaSandbox) -> None:
    folder = sandbox.root / "stuff"
    folder.mkdir()
    (folder / "mine.txt").write_text("not an environment\n")
    spec = env_file(sandbox.root / "e.yml", sandbox.channel_url, "tinypkg=1.0")
    for extra in ([], ["--force"]):
        out = torch_cli(sandbox, "create", "-p", str(folder), "-f", str(spec), "--as-is", "-y",
                        *extra)  # fmt: skip
        assert out.returncode == 1, out.stderr
        assert "not a conda environment" in out.stderr and "--force" not in out.stderr
    assert os.listdir(folder) == ["mine.txt"]
    # where --force does replace (an environment), it is advised
    prefix = sandbox.root / "ml"
    old_environment(sandbox, prefix)
    out = torch_cli(sandbox, "create", "-p", str(prefix), "-f", str(spec), "--as-is", "-y")
    assert out.returncode == 1 and "Pass --force" in out.stderr


def test_a_failed_create_does_not_advise_recreating_what_is_not_there(
    sandbox: CondaSandbox,
) -> None:
    """The new environment failed validation and was removed: no `conda torch recreate -n ml`
    (there is no ml), in the text or in --json."""
    spec = env_file(sandbox.root / "e.yml", sandbox.channel_url, "tinypkg=1.0")
    for extra in ([], ["--json"]):
        out = torch_cli(sandbox, "create", "-n", "ml", "-f", str(spec), "--as-is", "-y", *extra)
        assert out.returncode == 1, out.stderr
        assert "torch is not installed" in out.stdout + out.stderr
        assert "recreate" not in out.stdout + out.stderr, out.stdout + out.stderr
        assert not (sandbox.envs / "ml").exists()


def test_pips_conda_script_is_recognised_by_its_shape(tmp_path: Path) -> None:
    """A wrapper that only mentions main_pip (in a comment) is not pip's console script: it is
    run as it is, not as ``/bin/sh -m conda``."""
    wrapper = tmp_path / "bin" / "conda"
    wrapper.parent.mkdir()
    wrapper.write_text(
        "#!/bin/sh\n# unlike pip's script (conda.cli.main_pip), this one runs the real conda\n"
        f'exec {shlex.quote(os.environ.get("CONDA_EXE") or "conda")} "$@"\n'
    )
    wrapper.chmod(0o755)
    env = adapter.clean_environ(CONDA_EXE=str(wrapper))
    assert cd.find_conda(environ=env).argv == (str(wrapper),)
    pip_made = tmp_path / "pipbin" / "conda"
    pip_made.parent.mkdir()
    pip_made.write_text(
        f"#!{sys.executable}\n# -*- coding: utf-8 -*-\nimport re\nimport sys\n"
        "from conda.cli.main_pip import main\nif __name__ == '__main__':\n"
        "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
        "    sys.exit(main())\n"
    )
    pip_made.chmod(0o755)
    env = adapter.clean_environ(CONDA_EXE=str(pip_made))
    assert cd.find_conda(environ=env).argv == (sys.executable, "-m", "conda")


def _read_only(folder: Path) -> None:
    """A folder nobody can write to: chmod for a user, the immutable flag for root."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return
    done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip("as root, a read-only folder needs chattr +i")


def _writable(folder: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True, check=False)
    folder.chmod(0o755)


def test_a_read_only_envs_folder_is_one_line(sandbox: CondaSandbox) -> None:
    """(By name, conda's rule applies: the first writable envs folder is used.)"""
    spec = env_file(sandbox.root / "e.yml", sandbox.channel_url, "tinypkg=1.0")
    _read_only(sandbox.envs)
    try:
        out = torch_cli(
            sandbox, "create", "-p", str(sandbox.envs / "ml"), "-f", str(spec), "--as-is", "-y"
        )
    finally:
        _writable(sandbox.envs)
    assert out.returncode == 1, out.stdout + out.stderr
    text = out.stdout + out.stderr
    assert "Traceback" not in text and "ERROR REPORT" not in text, text
    assert str(sandbox.envs) in out.stderr, out.stderr
    assert os.listdir(sandbox.envs) == []
