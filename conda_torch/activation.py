"""Starting a command or a shell inside an environment, activated.

``conda torch run`` runs a command with the variables activation sets (computed by
:func:`conda_torch.prefix.activated_environ`, no conda start) unless the environment has
``activate.d`` scripts, which only conda's activator runs (then ``conda run``).
``conda torch shell`` prefers the conda-spawn plugin (``conda spawn``), then the user's shell
with conda's own activation script (``conda shell.<shell> activate``), then the computed
variables.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .conda_cli import run_conda
from .exceptions import CondaNotFoundError, CondaTorchValueError
from .prefix import ON_WIN, activate_scripts, activated_environ, remove_tree, same_path
from .values import field, value_class

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from .conda_cli import Conda


def activation_script(
    conda: Conda, prefix: str, shell: str = "posix", *, environ: Mapping[str, str] | None = None
) -> str:
    """conda's own activation script for ``shell`` (``conda shell.<shell> activate PREFIX``).

    For posix shells and fish conda prints the script itself; for cmd.exe it prints the path of
    a temporary batch file.
    """
    result = run_conda(conda, [f"shell.{shell}", "activate", prefix], capture=True, environ=environ)
    return result.stdout or ""


def spawn_available(conda: Conda) -> bool:
    """True when the conda-spawn plugin is installed beside this conda (``conda spawn``)."""
    if conda.frontend != "conda":
        return False
    python = conda.argv[0] if len(conda.argv) > 1 and conda.argv[1] == "-m" else None
    if python and same_path(python, sys.executable):
        return importlib.util.find_spec("conda_spawn") is not None
    exe = Path(python or conda.argv[0]).resolve()
    # <root>/bin/conda (or <root>/condabin/conda) -> <root>/lib/python3.X/site-packages
    for root in (exe.parent.parent, exe.parent.parent.parent):
        patterns = (
            ("Lib/site-packages/conda_spawn",)
            if ON_WIN
            else ("lib/python3*/site-packages/conda_spawn",)
        )
        for pattern in patterns:
            if any(root.glob(pattern)):
                return True
    return False


# --------------------------------------------------------------------------------------------
# running a command or a shell inside an environment


@value_class
class Launch:
    """A process to start inside an environment: its command line and variables."""

    argv: tuple[str, ...]
    env: dict[str, str] = field(compare=False)
    #: How the environment is activated: ``direct``, ``conda run``, ``conda spawn``,
    #: ``conda activator (bash)``, ...
    how: str = "direct"
    #: Temporary files and folders to delete once the process has ended.
    cleanup: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def run_launch(
    prefix: str,
    command: Sequence[str],
    *,
    name: str | None = None,
    conda: Conda | None = None,
    use_conda_run: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Launch:
    """How to run ``command`` inside the environment at ``prefix``.

    Directly, with the variables activation sets (:func:`activated_environ`: no conda start at
    all), unless the environment has ``activate.d`` scripts (which only conda's activator runs)
    or ``use_conda_run``: then ``conda run --no-capture-output`` (output streams as it comes).
    """
    if not command:
        raise CondaTorchValueError(
            "no command to run", hints=["conda torch run -n NAME -- CMD ARGS"]
        )
    base_env = dict(os.environ if environ is None else environ)
    scripts = activate_scripts(prefix)
    if use_conda_run or scripts:
        if conda is None:
            raise CondaNotFoundError(
                f"{prefix} has activation scripts that need conda to run"
                if scripts
                else "--conda-run needs conda",
                hints=["Set CONDA_EXE, or run from a shell where conda works."],
            )
        if conda.frontend == "conda":
            args = ["run", "--prefix", prefix, "--no-capture-output", *command]
        else:
            args = ["run", "--prefix", prefix, *command]
        why = (f"{len(scripts)} activate.d script(s)",) if scripts and not use_conda_run else ()
        return Launch(tuple(conda.command(*args)), base_env, f"{conda.frontend} run", notes=why)
    env = activated_environ(prefix, name=name, environ=base_env)
    exe = command[0]
    found = shutil.which(exe, path=env.get("PATH")) if os.sep not in exe else exe
    if found is None:
        err = CondaTorchValueError(
            f"{exe}: command not found in {prefix} or on PATH",
            hints=["Install it into the environment, or give its full path."],
        )
        err.return_code = 127
        raise err
    return Launch((found, *command[1:]), env, "direct")


#: Shells whose activation script conda writes (``conda shell.<name> activate``).
_POSIX_SHELLS = ("sh", "dash", "ash", "ksh", "mksh", "bash", "zsh")


def default_shell(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    if ON_WIN:
        return env.get("COMSPEC", "cmd.exe")
    return env.get("SHELL") or "/bin/sh"


def shell_launch(
    prefix: str,
    *,
    name: str | None = None,
    conda: Conda | None = None,
    shell: str | None = None,
    spawn: bool | None = None,
    environ: Mapping[str, str] | None = None,
    tmpdir: str | None = None,
) -> Launch:
    """How to start an interactive shell with the environment at ``prefix`` activated.

    1. ``conda spawn PREFIX`` when the conda-spawn plugin is installed (and no ``shell`` was
       asked for; ``spawn=False`` skips it);
    2. otherwise ``$SHELL`` (or ``shell``), with conda's own activation script
       (``conda shell.<shell> activate PREFIX``) run after the user's startup files: bash gets
       an ``--rcfile`` that sources ``~/.bashrc`` first, zsh a ``ZDOTDIR`` whose files source
       the user's, sh/dash/ksh an ``ENV`` file, fish an ``-C`` init command;
    3. without conda, or for other shells: the variables of :func:`activated_environ`.
    """
    import tempfile

    base_env = dict(os.environ if environ is None else environ)
    if conda is not None and shell is None and spawn is not False and spawn_available(conda):
        return Launch(tuple(conda.command("spawn", prefix)), base_env, "conda spawn")
    shell_path = shell or default_shell(base_env)
    resolved = shutil.which(shell_path, path=base_env.get("PATH")) or shell_path
    kind = os.path.basename(resolved).lower().removesuffix(".exe")
    direct = activated_environ(prefix, name=name, environ=base_env)
    if conda is None:
        notes = ("conda was not found: activated with PATH/CONDA_PREFIX/variables only",)
        if activate_scripts(prefix):
            notes += ("the environment's activate.d scripts were not run",)
        return Launch(
            (resolved, "-i") if not ON_WIN else (resolved,), direct, "direct", notes=notes
        )
    folder = tempfile.mkdtemp(prefix="conda-torch-shell-", dir=tmpdir)
    env = dict(base_env)
    if kind in _POSIX_SHELLS:
        script = activation_script(
            conda, prefix, "posix" if kind not in ("bash", "zsh") else kind, environ=base_env
        )
        act = os.path.join(folder, "activate.sh")
        Path(act).write_text(script, encoding="utf-8")
        if kind == "bash":
            rc = os.path.join(folder, "bashrc")
            Path(rc).write_text(
                f'[ -f "$HOME/.bashrc" ] && . "$HOME/.bashrc"\n. {shlex.quote(act)}\n',
                encoding="utf-8",
            )
            return Launch(
                (resolved, "--rcfile", rc, "-i"), env, "conda activator (bash)", cleanup=(folder,)
            )
        if kind == "zsh":
            orig = base_env.get("ZDOTDIR") or base_env.get("HOME", "")
            env["ZDOTDIR"] = folder
            env["_CONDA_TORCH_ZDOTDIR"] = orig
            for fname, last in (
                (".zshenv", ""),
                (".zprofile", ""),
                (".zlogin", ""),
                (".zshrc", f". {shlex.quote(act)}\n"),
            ):
                restore = 'ZDOTDIR="$_CONDA_TORCH_ZDOTDIR"; ' if fname == ".zshrc" else ""
                user = f'"$_CONDA_TORCH_ZDOTDIR/{fname}"'
                Path(folder, fname).write_text(
                    f"{restore}[ -f {user} ] && . {user}\n{last}", encoding="utf-8"
                )
            return Launch((resolved, "-i"), env, "conda activator (zsh)", cleanup=(folder,))
        rc = os.path.join(folder, "env.sh")
        user_env = base_env.get("ENV")
        Path(rc).write_text(
            (f"[ -f {shlex.quote(user_env)} ] && . {shlex.quote(user_env)}\n" if user_env else "")
            + f". {shlex.quote(act)}\n",
            encoding="utf-8",
        )
        env["ENV"] = rc
        return Launch((resolved, "-i"), env, f"conda activator ({kind})", cleanup=(folder,))
    if kind == "fish":
        script = activation_script(conda, prefix, "fish", environ=base_env)
        act = os.path.join(folder, "activate.fish")
        Path(act).write_text(script, encoding="utf-8")
        return Launch(
            (resolved, "-i", "-C", f"source {shlex.quote(act)}"),
            env,
            "conda activator (fish)",
            cleanup=(folder,),
        )
    if kind in ("cmd",) and ON_WIN:  # pragma: no cover - Windows
        bat = activation_script(conda, prefix, "cmd.exe", environ=base_env).strip()
        return Launch(
            (resolved, "/K", bat), env, "conda activator (cmd.exe)", cleanup=(folder, bat)
        )
    if kind in ("powershell", "pwsh"):  # pragma: no cover - Windows / pwsh on Unix
        script = activation_script(conda, prefix, "powershell", environ=base_env)
        ps1 = os.path.join(folder, "activate.ps1")
        Path(ps1).write_text(script, encoding="utf-8")
        return Launch(
            (resolved, "-NoExit", "-File", ps1),
            env,
            "conda activator (powershell)",
            cleanup=(folder,),
        )
    remove_tree(folder)
    notes = (
        (
            f"{kind}: started with PATH/CONDA_PREFIX/variables set (conda's activator does not "
            "cover this shell here)"
        ),
    )
    if activate_scripts(prefix):
        notes += ("the environment's activate.d scripts were not run",)
    return Launch((resolved, "-i"), direct, "direct", notes=notes)


def start(launch: Launch, *, cwd: str | None = None) -> int:
    """Run ``launch`` in the foreground and return its exit status (Ctrl-C goes to it)."""
    try:
        proc = subprocess.Popen(list(launch.argv), env=launch.env, cwd=cwd)
    except OSError as exc:
        err = CondaTorchValueError(
            f"cannot start {launch.argv[0]}: {exc.strerror or exc}",
            hints=["Check the command and its permissions."],
        )
        err.return_code = 126 if isinstance(exc, PermissionError) else 127
        raise err from None
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:  # the child got the terminal's SIGINT too: let it decide
                continue
    finally:
        for path in launch.cleanup:
            with contextlib.suppress(OSError):
                remove_tree(path) if os.path.isdir(path) else os.unlink(path)
