"""Every error conda-torch raises on purpose.

Inside conda they are :class:`conda.CondaError` subclasses, so conda prints one clean line
(and our hint) instead of a traceback. Where conda is absent, the same classes derive from a
small stand-in with the same constructor, and :func:`conda_torch.cli.main` prints them the
same way. Library code raises these; it never prints or exits.
"""

from __future__ import annotations

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

try:  # conda's base error is cheap to import (``conda/__init__.py``)
    from conda import CondaError as _Base
except ImportError:  # pragma: no cover - exercised where conda is absent (CI)

    class _Base(Exception):  # type: ignore[no-redef]
        """Stand-in for ``conda.CondaError`` where conda is not installed."""

        return_code = 1
        reportable = False

        def __init__(self, message: str, caused_by: object = None, **kwargs: object) -> None:
            self.message = message
            self.caused_by = caused_by
            self._kwargs = kwargs
            super().__init__(message)

        def __str__(self) -> str:
            return self.message

        def dump_map(self) -> dict[str, object]:
            return {
                "exception_type": str(type(self)),
                "exception_name": type(self).__name__,
                "message": str(self),
                "error": repr(self),
                "caused_by": repr(self.caused_by),
            }


def disk_words(path: str) -> str:
    """``the disk mounted at /data (12 MB free)``: the filesystem holding ``path``."""
    import os

    probe = os.path.abspath(path)
    while not os.path.lexists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    try:
        device = os.lstat(probe).st_dev
        mount = probe
        while os.path.dirname(mount) != mount and os.lstat(os.path.dirname(mount)).st_dev == device:
            mount = os.path.dirname(mount)
        if os.path.isfile(mount) or not os.path.isdir(mount):
            mount = os.path.dirname(mount)
        fs = os.statvfs(mount)
    except OSError:
        return f"the disk holding {probe}"
    free = fs.f_bavail * fs.f_frsize
    units = ("bytes", "KB", "MB", "GB", "TB")
    size, unit = float(free), 0
    while size >= 1000 and unit < len(units) - 1:
        size, unit = size / 1000, unit + 1
    amount = f"{size:.0f} {units[unit]}" if unit else f"{free} bytes"
    return f"the disk mounted at {mount}, {amount} free"


def os_error_line(exc: OSError, doing: str | None = None) -> str:
    """One line for an operating-system error: the path and what went wrong, and for a full
    disk which disk (``/data/x: No space left on device (the disk mounted at /data, 0 bytes
    free)``)."""
    path = exc.filename if isinstance(exc.filename, str) else None
    what = os_error_reason(exc)
    head = " ".join(p for p in (doing, path) if p)
    return f"{head}: {what}" if head else what


def os_error_reason(exc: OSError) -> str:
    """What went wrong, without the path (``No space left on device (the disk mounted at ...)``)."""
    import errno

    what = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        path = exc.filename if isinstance(exc.filename, str) else "."
        what += f" ({disk_words(path)})"
    return what


def suggest(value: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """The nearest spellings of ``value`` among ``choices`` (for "did you mean" hints)."""
    from difflib import get_close_matches  # only on an error: difflib and heapq cost 1-2 ms

    return get_close_matches(value, list(choices), n=n, cutoff=0.5)


def nearest_versions(value: str, known: Iterable[str]) -> list[str] | None:
    """The known versions nearest ``value`` by version order (packaging's PEP 440 order): the
    newest at or below it and the oldest above it (``2.9.9`` -> 2.9.1, 2.10.0; ``9.9`` -> the
    newest). None when ``value`` holds no version number or a known one is not a version."""
    import re

    from packaging.version import InvalidVersion, Version

    m = re.search(r"\d+(?:\.\d+)*", value)
    if m is None:
        return None
    try:
        target = Version(m.group())
        ordered = sorted((Version(k), k) for k in known)
    except InvalidVersion:
        return None
    if not ordered:
        return None
    below = [k for v, k in ordered if v <= target]
    above = [k for v, k in ordered if v > target]
    return below[-1:] + above[:1]


class CondaTorchError(_Base):
    """Base class: a one-line message plus hints that say what to do next."""

    def __init__(self, message: str, *, hints: Sequence[str] = ()) -> None:
        self.line = message
        self.hints = [h for h in hints if h]
        text = message + "".join(f"\nHint: {h}" for h in self.hints)
        super().__init__(text)

    def __str__(self) -> str:  # never %-format: messages may hold '%' from user input
        return self.message

    def to_json(self) -> dict[str, object]:
        return {
            "success": False,
            "error": type(self).__name__,
            "exception_name": type(self).__name__,
            "message": self.line,
            "hints": list(self.hints),
        }


class CondaTorchValueError(CondaTorchError, ValueError):
    """Bad user input: an argument, a variable, a file's content."""


class InputFileError(CondaTorchValueError):
    """A ``--from``/``--machine``/``-f`` file that cannot be read or used."""

    def __init__(self, path: str, problem: str, *, hints: Sequence[str] = ()) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}", hints=hints)


#: The ``path`` that means standard input, and how errors name it.
STDIN = "-"
STDIN_LABEL = "<stdin>"


def read_input_bytes(path: str, *, limit: int, what: str) -> bytes:
    """A user's input file's bytes, or :class:`InputFileError` saying why it cannot be ``what``.

    Refuses a missing, unreadable or directory path, and a file over ``limit`` bytes (read
    without loading it: a 100 MB paste is a mistake, not an input). ``-`` reads standard input,
    at most ``limit`` bytes of it.
    """
    import os

    if path == STDIN:
        import sys

        try:
            data = sys.stdin.buffer.read(limit + 1)
        except (OSError, ValueError, AttributeError) as exc:  # closed or not a byte stream
            raise InputFileError(STDIN_LABEL, f"cannot be read ({exc})") from None
        if len(data) > limit:
            raise InputFileError(
                STDIN_LABEL, f"holds more than {limit} bytes; {what} is at most {limit} bytes"
            )
        return data
    try:
        if os.path.isdir(path):
            raise InputFileError(path, f"is a directory, not {what}")
        size = os.path.getsize(path)
        if size > limit:
            raise InputFileError(path, f"is {size} bytes; {what} is at most {limit} bytes")
        with open(path, "rb") as fh:
            return fh.read(limit + 1)
    except InputFileError:
        raise
    except FileNotFoundError:
        raise InputFileError(path, "no such file") from None
    except PermissionError:
        raise InputFileError(path, "permission denied") from None
    except OSError as exc:
        raise InputFileError(path, f"cannot be read ({exc.strerror or exc})") from None


class UnrecognisedInputError(InputFileError):
    """A captured output whose kind could not be recognised from its content."""

    def __init__(self, path: str, *, expected: Sequence[str] = ()) -> None:
        kinds = ", ".join(expected)
        super().__init__(
            path,
            "not a recognised capture" + (f" (expected one of: {kinds})" if kinds else ""),
            hints=["Paste the unmodified output of one of those commands into the file."],
        )


class OverrideError(CondaTorchValueError):
    """A garbage value in an override variable such as ``CONDA_OVERRIDE_CUDA``."""

    def __init__(self, variable: str, value: str, expected: str) -> None:
        self.variable = variable
        self.value = value
        super().__init__(
            f"{variable}={value!r} is not valid: expected {expected}",
            hints=[f"Unset {variable}, or set it to e.g. '12.6' (empty means no CUDA)."],
        )


class UnknownVersionError(CondaTorchValueError):
    """A version (torch, Python, CUDA) that the matrix does not know."""

    def __init__(
        self, what: str, value: str, known: Sequence[str], *, hint: str | None = None
    ) -> None:
        self.what = what
        self.value = value
        if hint is None:
            near = nearest_versions(value, known)
            if near is None:
                near = suggest(value, known)
            hint = (
                f"Nearest known: {', '.join(near)}." if near else f"Known: {', '.join(known[-8:])}."
            )
        super().__init__(f"unknown {what} {value!r}", hints=[hint])


class UnknownPlatformError(CondaTorchValueError):
    """A platform that is not a conda subdir conda-torch supports."""

    def __init__(self, value: str, known: Sequence[str]) -> None:
        self.value = value
        near = suggest(value, known)
        hints = [f"Did you mean {' or '.join(near)}?"] if near else []
        hints.append(f"Valid platforms: {', '.join(known)}.")
        super().__init__(f"unknown platform {value!r}", hints=hints)


class IncompatibleError(CondaTorchValueError):
    """A combination that cannot exist (says which constraint fails)."""

    def __init__(self, message: str, *, hints: Sequence[str] = ()) -> None:
        super().__init__(message, hints=hints)


class EnvironmentFileError(CondaTorchValueError):
    """An environment.yml that is malformed or not an environment file."""


class OutputExistsError(CondaTorchError):
    """Refusing to overwrite a file or an environment without ``--force``.

    ``hint`` replaces "Pass --force" where ``--force`` would not help (a folder that is not an
    environment, a device, a backup path).
    """

    def __init__(self, path: str, what: str = "file", *, hint: str | None = None) -> None:
        self.path = path
        super().__init__(
            f"{what} {path} already exists", hints=[hint or "Pass --force to replace it."]
        )


class OutputWriteError(CondaTorchError):
    """An output path that cannot be written (missing folder, no permission, a directory)."""

    def __init__(self, path: str, problem: str, *, hints: Sequence[str] = ()) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}", hints=hints)


class CondaNotFoundError(CondaTorchError):
    """No conda executable to run."""


class CondaCommandError(CondaTorchError):
    """conda ran and failed."""


class EnvironmentNotFoundError(CondaTorchValueError):
    """A ``-n NAME``/``-p PREFIX`` that is not a conda environment."""


class ValidationError(CondaTorchError):
    """An environment that failed validation."""


class ProbeError(CondaTorchError):
    """The validation probe could not run in the environment's Python, or gave no answer."""


class ProvenanceError(CondaTorchError):
    """A provenance file (``conda-meta/conda-torch.provenance``) that cannot be read or written."""


class LauncherError(CondaTorchError):
    """``--via LAUNCHER``: the launcher failed (not found, refused the job, ran past the time
    bound), or the node it reached could not do the work; one line with its message."""
