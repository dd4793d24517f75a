"""Which environment a command acts on: ``-n NAME``, ``-p PREFIX`` or ``--python PATH``.

:func:`resolve_target` turns those options into a :class:`Target` (a prefix, where there is
one, and the Python that runs in it). Names are resolved by asking conda
(:mod:`conda_torch.conda`: ``CONDA_EXE``, ``python -m conda`` or ``conda`` on PATH).
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from .exceptions import (
    CondaNotFoundError,
    CondaTorchValueError,
    EnvironmentNotFoundError,
)

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Mapping

_ON_WINDOWS = sys.platform == "win32"


@dataclass(frozen=True)
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


def python_in(prefix: Path) -> Path:
    """The interpreter of an environment (conda or venv layout, POSIX or Windows)."""
    if _ON_WINDOWS:
        for candidate in (prefix / "python.exe", prefix / "Scripts" / "python.exe"):
            if candidate.exists():
                return candidate
        return prefix / "python.exe"
    return prefix / "bin" / "python"


def is_environment(prefix: Path) -> bool:
    """A conda environment (``conda-meta/``) or a virtual environment (``pyvenv.cfg``)."""
    return (prefix / "conda-meta").is_dir() or (prefix / "pyvenv.cfg").is_file()


def check_name(name: str) -> str:
    """An environment name: not empty, no path separators (those belong to ``-p``)."""
    seps = {"/", "\\", os.sep} | ({os.altsep} if os.altsep else set())
    if not name or not name.strip():
        raise CondaTorchValueError(
            "environment name is empty", hints=["Pass -n NAME or -p PREFIX."]
        )
    if any(sep in name for sep in seps) or name in (".", ".."):
        raise CondaTorchValueError(
            f"environment name {name!r} contains a path separator",
            hints=[f"Use -p {name} to name an environment by its path."],
        )
    return name


def prefix_for_name(name: str, *, environ: Mapping[str, str] | None = None) -> Path:
    """The prefix conda knows ``name`` by (``base`` included), asking conda itself."""
    from . import conda as _conda

    check_name(name)
    try:
        exe = _conda.find_conda(environ=environ)
    except CondaNotFoundError as exc:
        raise CondaNotFoundError(
            f"cannot resolve environment name {name!r}: conda was not found",
            hints=["Set CONDA_EXE or put conda on PATH, or pass -p PREFIX or --python PATH."],
        ) from exc
    info = _conda.conda_info(exe, environ=environ)
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


def resolve_target(
    *,
    name: str | None = None,
    prefix: str | os.PathLike[str] | None = None,
    python: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Target:
    """Resolve exactly one of ``name``, ``prefix`` and ``python`` to a :class:`Target`."""
    given = [k for k, v in (("-n", name), ("-p", prefix), ("--python", python)) if v is not None]
    if len(given) != 1:
        raise CondaTorchValueError(
            "name exactly one environment" + (f" (got {' and '.join(given)})" if given else ""),
            hints=["Pass -n NAME, -p PREFIX or --python PATH."],
        )
    if python is not None:
        return Target(prefix=None, python=check_python(python, environ=environ))
    if name is not None:
        path = prefix_for_name(name, environ=environ)
    else:
        path = Path(os.fspath(prefix)).expanduser()  # type: ignore[arg-type]
        if not os.fspath(prefix):  # type: ignore[arg-type]
            raise CondaTorchValueError("-p is empty", hints=["Pass -p PREFIX."])
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


def activated_environ(
    prefix: Path | None, *, name: str | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The variables the environment has when activated, for running its Python.

    A conda environment gets what ``conda activate`` sets
    (:func:`conda_torch.conda.activated_environ`: PATH first, ``CONDA_PREFIX``, its
    ``variables``); a virtual environment gets its ``bin``
    first on PATH and ``VIRTUAL_ENV``. Everything else, ``PYTHONPATH`` and ``HOME`` included,
    is kept, so that shadowing stays visible. Activation scripts are not run.
    """
    env = dict(os.environ if environ is None else environ)
    if prefix is None:
        return env
    if (prefix / "conda-meta").is_dir():
        from . import conda as _conda

        return _conda.activated_environ(str(prefix), name=name, environ=env)
    scripts = prefix / ("Scripts" if _ON_WINDOWS else "bin")
    env["PATH"] = os.pathsep.join([str(scripts), *filter(None, [env.get("PATH")])])
    env["VIRTUAL_ENV"] = str(prefix)
    env.pop("PYTHONHOME", None)
    return env
