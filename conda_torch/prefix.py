"""Facts of an environment on disk, read without conda: is it one, its Python, its name rule,
the variables activating it sets.

A conda environment is a folder with ``conda-meta/history`` (conda's ``PrefixData.is_environment``);
a virtual environment one with ``pyvenv.cfg``. :func:`check_env_name` is the one rule for an
environment name, for every subcommand (``-n``), and :func:`activated_environ` the one
computation of what ``conda activate`` (or a venv's ``activate``) sets.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .exceptions import CondaTorchValueError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any


#: Characters conda refuses in an environment name (``PREFIX_NAME_DISALLOWED_CHARS`` in
#: conda/base/constants.py), plus the Windows path separator and control characters.
NAME_DISALLOWED = frozenset("/ :#\\")

#: Names conda reserves for its base environment (``RESERVED_ENV_NAMES``, conda/base/constants.py).
RESERVED_NAMES = frozenset({"base", "root"})

#: Marker conda uses to decide that a directory is an environment (``PrefixData.is_environment``).
HISTORY = Path("conda-meta") / "history"

ON_WIN = sys.platform == "win32"


def same_path(a: str, b: str) -> bool:
    """Whether two paths name the same place (absolute, case-folded where the OS folds case)."""
    return os.path.normcase(os.path.abspath(a)) == os.path.normcase(os.path.abspath(b))


def is_conda_env(prefix: str | os.PathLike[str]) -> bool:
    """True for a directory conda treats as an environment (it has ``conda-meta/history``)."""
    return (Path(prefix) / HISTORY).is_file()


def is_environment(prefix: Path) -> bool:
    """A conda environment (``conda-meta/``) or a virtual environment (``pyvenv.cfg``)."""
    return (prefix / "conda-meta").is_dir() or (prefix / "pyvenv.cfg").is_file()


def python_in(prefix: str | os.PathLike[str]) -> Path:
    """The interpreter of an environment (conda or venv layout, POSIX or Windows)."""
    root = Path(prefix)
    if ON_WIN:
        for candidate in (root / "python.exe", root / "Scripts" / "python.exe"):
            if candidate.exists():
                return candidate
        return root / "python.exe"
    return root / "bin" / "python"


def check_env_name(name: str, *, new: bool = False) -> str:
    """``name`` if conda accepts it as an environment name; else a CondaTorchValueError.

    The one name rule, for every subcommand's ``-n``: one word, without conda's disallowed
    characters (``/ :#`` and space, plus ``\\``) or control characters, not ``.``/``..``. A
    ``new`` environment (create, recreate) may also not be conda's base (``base``/``root``) or
    have the shape of conda-torch's own files beside an environment.
    """
    bad = sorted(set(name) & NAME_DISALLOWED)
    if not name.strip() or name in (".", "..") or bad or any(ord(c) < 32 for c in name):
        what = f" (it contains {' '.join(repr(c) for c in bad)})" if bad else ""
        raise CondaTorchValueError(
            f"invalid environment name {name!r}{what}",
            hints=["A name is one word without / \\ : # or spaces; give a path with -p PREFIX."],
        )
    if not new:
        return name
    if name in RESERVED_NAMES:
        raise CondaTorchValueError(
            f"'{name}' is conda's own base environment; conda-torch does not create or replace it",
            hints=["Choose another name, e.g. -n torch."],
        )
    check_not_sibling(name)
    return name


#: The names conda-torch gives its own files beside an environment (:func:`sibling`).
SIBLING_TAGS = ("lock", "backup", "trash", "marker")
_SIBLING = re.compile(r"^\..+\.conda-torch-(?:" + "|".join(SIBLING_TAGS) + r")$")


def check_not_sibling(name: str) -> None:
    """Refuse a name of the shape of conda-torch's own files (``.ml.conda-torch-backup``): an
    environment so named would be taken for another's backup or lock."""
    if _SIBLING.match(name):
        raise CondaTorchValueError(
            f"{name!r} has the shape of conda-torch's own files beside an environment "
            "(.NAME.conda-torch-backup, -lock, -trash, -marker); conda-torch does not use it "
            "for an environment",
            hints=["Choose another name."],
        )


def check_sibling_room(prefix: str) -> None:
    """Refuse a prefix whose name leaves no room for conda-torch's files beside it (the longest
    is ``.NAME.conda-torch-backup``: 20 characters more than NAME, within the filesystem's
    limit for one name)."""
    parent, base = os.path.split(os.path.abspath(prefix))
    check_not_sibling(base)
    probe = parent
    while not os.path.isdir(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    try:
        limit = os.pathconf(probe, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        limit = 255
    longest = len(os.path.basename(sibling(prefix, "backup")).encode())
    if longest > limit:
        room = limit - (longest - len(base.encode()))
        raise CondaTorchValueError(
            f"the name {base[:20]}... is too long ({len(base)} characters): conda-torch keeps "
            f".NAME.conda-torch-backup beside the environment, and this filesystem allows "
            f"{limit} characters in a name",
            hints=[f"Choose a name of at most {room} characters."],
        )


def remove_tree(path: str) -> None:
    """Delete a file, a link or a folder, read-only files included; raises nothing."""

    def onerror(func: Any, p: str, _exc: Any) -> None:  # read-only files (Windows, .git)
        with contextlib.suppress(OSError):
            os.chmod(p, 0o700)
            func(p)

    if os.path.islink(path) or os.path.isfile(path):
        with contextlib.suppress(OSError):
            os.unlink(path)
        return
    shutil.rmtree(path, onerror=onerror)


def sibling(prefix: str, tag: str) -> str:
    """A hidden path next to ``prefix``: ``<dir>/.<name>.conda-torch-<tag>``."""
    parent, base = os.path.split(os.path.abspath(prefix))
    return os.path.join(parent, f".{base}.conda-torch-{tag}")


def path_dirs(prefix: str) -> list[str]:
    """The directories activation puts first on PATH (conda's ``_get_path_dirs``)."""
    if ON_WIN:
        subs = ("", "Library/mingw-w64/bin", "Library/usr/bin", "Library/bin", "Scripts", "bin")
        return [os.path.normpath(os.path.join(prefix, s)) for s in subs]
    return [os.path.join(prefix, "bin")]


def state_env_vars(prefix: str) -> dict[str, str]:
    """``variables:`` conda stored for the environment (``conda-meta/state``)."""
    path = Path(prefix) / "conda-meta" / "state"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    env_vars = doc.get("env_vars") if isinstance(doc, dict) else None
    if not isinstance(env_vars, dict):
        return {}
    return {str(k): str(v) for k, v in env_vars.items()}


def activate_scripts(prefix: str) -> list[Path]:
    """Package activation scripts (``etc/conda/activate.d``) for this platform's shells."""
    folder = Path(prefix) / "etc" / "conda" / "activate.d"
    if not folder.is_dir():
        return []
    suffixes = (".bat",) if ON_WIN else (".sh",)
    return sorted(p for p in folder.iterdir() if p.suffix in suffixes)


def conda_activated_environ(
    prefix: str, *, name: str | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment variables ``conda activate PREFIX`` sets, computed without conda.

    Covers PATH (the environment's directories first, a previously active environment's
    removed), ``CONDA_PREFIX``, ``CONDA_DEFAULT_ENV``, ``CONDA_SHLVL``/``CONDA_PREFIX_N``,
    ``CONDA_PROMPT_MODIFIER`` and the environment's ``variables:``. It does **not** run
    ``etc/conda/activate.d`` scripts: callers check :func:`activate_scripts` and use conda's own
    activator when there are any.
    """
    env = dict(os.environ if environ is None else environ)
    prefix = os.path.abspath(prefix)
    old_prefix = env.get("CONDA_PREFIX")
    path = env.get("PATH", "").split(os.pathsep) if env.get("PATH") else []
    if old_prefix:
        stale = {os.path.normcase(d) for d in path_dirs(old_prefix)}
        path = [p for p in path if os.path.normcase(p) not in stale]
    env["PATH"] = os.pathsep.join([*path_dirs(prefix), *path])
    try:
        shlvl = int(env.get("CONDA_SHLVL", "0") or 0)
    except ValueError:
        shlvl = 0
    if old_prefix and shlvl > 0:
        env[f"CONDA_PREFIX_{shlvl}"] = old_prefix
    env["CONDA_SHLVL"] = str(shlvl + 1)
    env["CONDA_PREFIX"] = prefix
    label = name or prefix
    env["CONDA_DEFAULT_ENV"] = label
    env["CONDA_PROMPT_MODIFIER"] = f"({label}) "
    env.update(state_env_vars(prefix))
    return env


def activated_environ(
    prefix: str | os.PathLike[str] | None,
    *,
    name: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The variables the environment has when activated, for running its Python.

    A conda environment gets what ``conda activate`` sets (:func:`conda_activated_environ`);
    a virtual environment gets its ``bin`` first on PATH and ``VIRTUAL_ENV``. Everything else,
    ``PYTHONPATH`` and ``HOME`` included, is kept, so that shadowing stays visible. Activation
    scripts are not run. None (a bare interpreter) keeps the environment as it is.
    """
    env = dict(os.environ if environ is None else environ)
    if prefix is None:
        return env
    root = Path(prefix)
    if (root / "conda-meta").is_dir() or not (root / "pyvenv.cfg").is_file():
        return conda_activated_environ(str(root), name=name, environ=env)
    scripts = root / ("Scripts" if ON_WIN else "bin")
    env["PATH"] = os.pathsep.join([str(scripts), *filter(None, [env.get("PATH")])])
    env["VIRTUAL_ENV"] = str(root)
    env.pop("PYTHONHOME", None)
    return env
