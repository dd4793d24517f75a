"""Which environment a command acts on: ``-n NAME``, ``-p PREFIX`` or ``--python PATH``.

:func:`resolve_target` is the one resolver, for every subcommand: it turns those options into a
:class:`Target` (a prefix, where there is one, and the Python that runs in it). A name is checked
by the one name rule (:func:`conda_torch.prefix.check_env_name`) *before* anything is looked up,
so a bad name gives the same message everywhere, with or without conda; then it is looked up in
this process where conda is importable (:func:`conda_torch.conda_api.locate_prefix_by_name`),
else by asking conda (:mod:`conda_torch.conda_cli`: ``CONDA_EXE``, ``python -m conda`` or
``conda`` on PATH).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .conda_api import locate_prefix_by_name
from .conda_cli import conda_info, find_conda
from .exceptions import (
    CondaNotFoundError,
    CondaTorchValueError,
    EnvironmentNotFoundError,
)
from .prefix import check_env_name, is_conda_env, is_environment, python_in
from .values import value_class

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Mapping

    from .conda_cli import Conda


@value_class
class Target:
    """An environment to act on: its prefix (None for a bare ``--python``) and its Python."""

    prefix: Path | None
    python: Path
    #: The conda environment name, when the target was given by ``-n``.
    name: str | None = None

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        return str(self.prefix) if self.prefix is not None else str(self.python)


def prefix_for_name(
    name: str,
    *,
    conda: Conda | None = None,
    frontend: str = "conda",
    environ: Mapping[str, str] | None = None,
) -> Path:
    """The prefix of the environment conda knows as ``name`` (``base`` included).

    The name rule first (the same message with or without conda); then conda's own
    ``locate_prefix_by_name`` in this process where conda is importable and the caller's
    environment is this process's; else ``conda info --json`` from ``conda`` (found by
    ``frontend`` when not given).
    """
    check_env_name(name)
    if environ is None:
        quick = locate_prefix_by_name(name)
        if quick:
            return Path(quick)
    if conda is None:
        try:
            conda = find_conda(frontend, environ=environ)
        except CondaNotFoundError as exc:
            raise CondaNotFoundError(
                f"cannot resolve environment name {name!r}: conda was not found",
                hints=["Set CONDA_EXE or put conda on PATH, or pass -p PREFIX or --python PATH."],
            ) from exc
    info = conda_info(conda, environ=environ)
    found = info.locate(name)
    if found is None:
        known = ", ".join(e.name for e in info.envs if e.name) or "(none)"
        raise EnvironmentNotFoundError(
            f"no conda environment named {name!r}",
            hints=[f"Known: {known}; or pass -p PREFIX."],
        )
    return Path(found)


def check_python(
    python: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None
) -> Path:
    """An interpreter given by path or by a name on PATH; it must be an executable file."""
    text = os.fspath(python)
    if not text:
        raise CondaTorchValueError("--python is empty", hints=["Pass --python PATH."])
    if os.sep not in text and not (os.altsep and os.altsep in text):
        env = os.environ if environ is None else environ
        found = shutil.which(text, path=env.get("PATH"))
        if found is None:
            raise EnvironmentNotFoundError(
                f"no Python named {text!r} on PATH", hints=["Pass the interpreter's full path."]
            )
        return Path(found)
    path = Path(text).expanduser()
    if not path.exists():
        raise EnvironmentNotFoundError(f"Python {path} does not exist")
    if path.is_dir():
        raise EnvironmentNotFoundError(
            f"Python {path} is a folder, not an interpreter",
            hints=[f"Use -p {path} for an environment, or --python {python_in(path)}."],
        )
    if not os.access(path, os.X_OK):
        raise EnvironmentNotFoundError(
            f"Python {path} is not executable", hints=[f"Check its permissions (chmod +x {path})."]
        )
    return path.absolute()


def require_env(prefix: str | os.PathLike[str]) -> Path:
    """``prefix`` (absolute) if it is a conda environment, else EnvironmentNotFoundError."""
    path = Path(os.path.abspath(os.path.expanduser(os.fspath(prefix))))
    if not is_conda_env(path):
        what = "does not exist" if not path.exists() else "is not a conda environment"
        raise EnvironmentNotFoundError(
            f"{path} {what}",
            hints=["List environments with `conda env list`."],
        )
    return path


def resolve_target(
    *,
    name: str | None = None,
    prefix: str | os.PathLike[str] | None = None,
    python: str | os.PathLike[str] | None = None,
    conda: Conda | None = None,
    frontend: str = "conda",
    conda_only: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Target:
    """Resolve exactly one of ``name``, ``prefix`` and ``python`` to a :class:`Target`.

    ``conda_only`` (shell, run, recreate: commands that activate or rebuild a conda
    environment) takes only a conda environment, with or without a Python in it; otherwise
    (validate, doctor) a conda or virtual environment with its Python, or any interpreter.
    """
    given = [k for k, v in (("-n", name), ("-p", prefix), ("--python", python)) if v is not None]
    if len(given) != 1:
        raise CondaTorchValueError(
            "name exactly one environment" + (f" (got {' and '.join(given)})" if given else ""),
            hints=["Pass -n NAME or -p PREFIX" + ("." if conda_only else " or --python PATH.")],
        )
    if python is not None:
        return Target(prefix=None, python=check_python(python, environ=environ))
    if name is not None:
        path = prefix_for_name(name, conda=conda, frontend=frontend, environ=environ)
    else:
        if not os.fspath(prefix):  # type: ignore[arg-type]
            raise CondaTorchValueError("-p is empty", hints=["Pass -p PREFIX."])
        path = Path(os.fspath(prefix)).expanduser()  # type: ignore[arg-type]
    if conda_only:
        path = require_env(path)
        return Target(prefix=path, python=python_in(path), name=name)
    path = path.absolute()
    if not path.exists():
        raise EnvironmentNotFoundError(
            f"environment {path} does not exist",
            hints=["Check the path, or create it with 'conda torch create'."],
        )
    if not path.is_dir() or not is_environment(path):
        raise EnvironmentNotFoundError(
            f"{path} is not a conda environment (no conda-meta/) "
            "or virtual environment (no pyvenv.cfg)",
            hints=["Pass the environment's root folder, or --python PATH for any interpreter."],
        )
    interpreter = python_in(path)
    if not interpreter.exists():
        raise EnvironmentNotFoundError(
            f"environment {path} has no Python ({interpreter} does not exist)",
            hints=[f"Install Python into it, e.g. 'conda install -p {path} python'."],
        )
    if not os.access(interpreter, os.X_OK):
        raise EnvironmentNotFoundError(f"Python {interpreter} is not executable")
    return Target(prefix=path, python=interpreter, name=name)
