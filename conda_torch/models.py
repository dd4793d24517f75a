"""Value types: platform (:class:`Subdir`), compute backend (:class:`Backend`), where torch comes
from (:class:`Source`) and a torch release (:class:`Release`).

Each is immutable, parses from its usual string with a classmethod ``parse`` (raising a named
:class:`~conda_torch.exceptions.CondaTorchValueError` subclass with suggestions), and prints
back with ``str()``. Nothing here imports more than the standard library.
"""

from __future__ import annotations

import functools
import re
from enum import Enum

from .constants import BACKEND_KINDS, BACKEND_WORDS, SUBDIRS
from .exceptions import UnknownPlatformError, UnknownVersionError
from .patterns import lazy_re
from .values import field, value_class

__all__ = [
    "BACKEND_KINDS", "Backend", "Release", "Source", "Subdir", "normalize", "version_tuple",
]  # fmt: skip


def normalize(name: str) -> str:
    """A distribution's name as pip compares it (PEP 503): ``Torch_Vision`` -> ``torch-vision``."""
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.lru_cache(maxsize=1024)  # ranking the matrix asks the same few hundred again
def version_tuple(version: str | None) -> tuple[int, ...]:
    """The one version parser: ``"12.6"`` -> ``(12, 6)``; ``"535.129.03"`` -> ``(535, 129, 3)``.

    Digit runs of the public version: non-digits separate, a local tag is dropped
    (``"2.5.1+cu121"`` -> ``(2, 5, 1)``), ``None``/``""`` give ``()``. For ordering torch,
    CUDA, driver, Python, glibc and macOS versions; conda's MatchSpec semantics are not this.
    """
    return tuple(int(p) for p in re.findall(r"\d+", str(version or "").split("+", 1)[0]))


# -- Subdir -------------------------------------------------------------------------------

_OS = {"linux": "linux", "osx": "osx", "win": "win"}
_ARCH = {"64": "x86_64", "aarch64": "aarch64", "ppc64le": "ppc64le", "arm64": "arm64"}


@value_class(order=True)
class Subdir:
    """A conda subdir conda-torch supports: ``linux-64``, ``osx-arm64``, ``win-64``, ..."""

    value: str

    def __post_init__(self) -> None:
        if self.value not in SUBDIRS:
            raise UnknownPlatformError(self.value, SUBDIRS)

    @classmethod
    def parse(cls, text: str | Subdir) -> Subdir:
        if isinstance(text, Subdir):
            return text
        value = str(text).strip().lower()
        if value not in SUBDIRS:
            raise UnknownPlatformError(str(text), SUBDIRS)
        return cls(value)

    def __str__(self) -> str:
        return self.value

    @property
    def os(self) -> str:
        """``linux``, ``osx`` or ``win``."""
        return _OS[self.value.split("-", 1)[0]]

    @property
    def arch(self) -> str:
        """``x86_64``, ``aarch64``, ``ppc64le`` or ``arm64``."""
        return _ARCH[self.value.split("-", 1)[1]]

    @property
    def is_macos(self) -> bool:
        return self.os == "osx"


# -- Backend ------------------------------------------------------------------------------

def _backend_error(raw: str) -> UnknownVersionError:
    """An unreadable backend, with every form a backend takes (:data:`BACKEND_WORDS`)."""
    return UnknownVersionError(
        "backend", raw, (), hint=f"Known: {BACKEND_WORDS} (e.g. cu126, cuda=12.6, rocm6.4)."
    )


_CU = lazy_re(r"^cu(\d{2,3})$")
_CUDA = lazy_re(r"^cuda(?:[=\s_-]*(\d+(?:\.\d+)?))?$")
_ROCM = lazy_re(r"^rocm(?:[=\s_-]*(\d+(?:\.\d+){1,2}))?$")


@value_class
class Backend:
    """A compute backend: ``cpu``, ``cuda`` (with a toolkit version), ``rocm``, ``mps``, ``xpu``.

    ``version`` is ``"12.6"`` for CUDA, ``"6.4"``/``"6.2.4"`` for ROCm, ``None`` otherwise (or
    for "any CUDA"/"any ROCm" in a filter). ``str()`` is the pip index name (``cu126``,
    ``rocm6.4``). Backends of one kind are ordered by version; comparing across kinds raises
    ``TypeError`` (use :attr:`sort_key` to sort mixed lists).
    """

    kind: str
    version: str | None = None
    _key: tuple[int, ...] = field(default=(), init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.kind not in BACKEND_KINDS:
            raise _backend_error(self.kind)
        if self.version is not None and self.kind not in ("cuda", "rocm"):
            raise _backend_error(f"{self.kind}{self.version}")
        object.__setattr__(self, "_key", version_tuple(self.version) if self.version else ())

    @classmethod
    def parse(cls, text: str | Backend) -> Backend:
        """Read ``cpu``, ``cu126``, ``cuda12.6``, ``cuda=12.6``, ``cuda``, ``rocm6.4``, ``mps``,
        ``xpu``.

        A bare version (``12.6``) is refused: it could be CUDA or ROCm.
        """
        if isinstance(text, Backend):
            return text
        raw = str(text)
        value = raw.strip().lower()
        if value in ("cpu", "mps", "xpu"):
            return cls(value)
        if m := _CU.match(value):
            digits = m.group(1)
            return cls("cuda", f"{int(digits[:-1])}.{digits[-1]}")
        if m := _CUDA.match(value):
            version = m.group(1)
            if version is not None and "." not in version:
                raise _backend_error(raw)
            return cls("cuda", _norm(version))
        if m := _ROCM.match(value):
            return cls("rocm", m.group(1))
        raise _backend_error(raw)

    def __str__(self) -> str:
        if self.kind == "cuda":
            if self.version is None:
                return "cuda"
            major, minor = self.version.split(".")
            return f"cu{major}{minor}"
        if self.kind == "rocm":
            return f"rocm{self.version}" if self.version else "rocm"
        return self.kind

    @property
    def cuda_version(self) -> str | None:
        """``"12.6"`` for a CUDA backend with a version, else ``None``."""
        return self.version if self.kind == "cuda" else None

    @property
    def is_gpu(self) -> bool:
        return self.kind != "cpu"

    @property
    def sort_key(self) -> tuple[int, tuple[int, ...]]:
        """Orders any two backends: by kind (:data:`BACKEND_KINDS`), then version."""
        return (BACKEND_KINDS.index(self.kind), self._key)

    def matches(self, build: Backend) -> bool:
        """Whether this backend, used as a filter, selects ``build``.

        ``cuda``/``rocm`` without a version select every version of their kind; ``cuda=12.6``
        selects exactly CUDA 12.6; ``rocm6.2`` also selects ``rocm6.2.4``. ``cpu`` selects the
        macOS arm64 build (its backend is ``mps``, and it is the CPU build).
        """
        if self.kind != build.kind:
            return self.kind == "cpu" and build.kind == "mps"
        if self.version is None:
            return True
        if self.kind == "rocm" and build.version:
            return build._key[: len(self._key)] == self._key
        return self._key == build._key

    def _other_key(self, other: object) -> tuple[int, ...] | None:
        if not isinstance(other, Backend):
            return None
        if other.kind != self.kind:
            raise TypeError(f"cannot order {self} and {other}: different backend kinds")
        return other._key

    def __lt__(self, other: object) -> bool:
        key = self._other_key(other)
        return NotImplemented if key is None else self._key < key

    def __le__(self, other: object) -> bool:
        key = self._other_key(other)
        return NotImplemented if key is None else self._key <= key

    def __gt__(self, other: object) -> bool:
        key = self._other_key(other)
        return NotImplemented if key is None else self._key > key

    def __ge__(self, other: object) -> bool:
        key = self._other_key(other)
        return NotImplemented if key is None else self._key >= key


def _norm(version: str | None) -> str | None:
    if version is None:
        return None
    return ".".join(str(int(p)) for p in version.split("."))


# -- Source -------------------------------------------------------------------------------


class Source(Enum):
    """Where torch comes from."""

    CONDA_FORGE = "conda-forge"
    PYTORCH = "pytorch"
    PIP = "pip"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, text: str | Source) -> Source:
        if isinstance(text, Source):
            return text
        value = str(text).strip().lower()
        for member in cls:
            if member.value == value:
                return member
        raise UnknownVersionError("source", str(text), [m.value for m in cls])

    @property
    def is_conda(self) -> bool:
        return self is not Source.PIP

    @classmethod
    def of_install(cls, installer: str | None, channel: str | None) -> Source | None:
        """Whose pairings apply to an installed torch: conda-forge's for a conda package from
        conda-forge, the ``pytorch`` channel's for one from it, pip's for a wheel; None where
        no source conda-torch knows made it (Anaconda's ``defaults``, another channel)."""
        if installer == "pip":
            return cls.PIP
        if installer != "conda":
            return None
        # the channel's own name, also behind a mirror or channel_alias (".../conda-forge")
        name = channel_name(channel or "").rsplit("/", 1)[-1]
        if name == "conda-forge":
            return cls.CONDA_FORGE
        if name in ("pytorch", "pytorch-nightly", "pytorch-test"):
            return cls.PYTORCH
        return None


#: Subdirs a channel URL may end with.
_CHANNEL_SUBDIRS = frozenset({
    "noarch", "linux-64", "linux-aarch64", "linux-ppc64le", "linux-s390x", "linux-32",
    "linux-armv6l", "linux-armv7l", "osx-64", "osx-arm64", "win-64", "win-32", "win-arm64",
    "emscripten-wasm32", "wasi-wasm32", "zos-z",
})  # fmt: skip


def channel_name(raw: str) -> str:
    """A record's channel as users write it.

    ``https://conda.anaconda.org/conda-forge/linux-64`` -> ``conda-forge``,
    ``https://repo.anaconda.com/pkgs/main/linux-64`` -> ``pkgs/main``,
    ``file:///srv/chan/noarch`` -> ``file:///srv/chan``.
    """
    text = (raw or "").strip().rstrip("/")
    if not text:
        return "<unknown>"
    if text.endswith((".conda", ".tar.bz2")):
        text = text.rsplit("/", 1)[0]
    if "::" in text:  # "conda-forge/linux-64::pytorch-2.5.1-..." style (history lines)
        text = text.split("::", 1)[0]
    parts = text.split("/")
    if parts and parts[-1] in _CHANNEL_SUBDIRS:
        parts = parts[:-1]
        text = "/".join(parts)
    for host in ("://conda.anaconda.org/", "://anaconda.org/", "://conda.anaconda.com/"):
        if host in text:
            return text.split(host, 1)[1]
    m = re.search(r"://repo\.anaconda\.(?:com|cloud)/(pkgs/[^/]+)", text)
    if m:
        return m.group(1)
    return text


# -- Release ------------------------------------------------------------------------------

_PUBLIC = lazy_re(r"^v?(\d+(?:\.\d+)*)((?:a|b|rc|\.dev|\.post)\d*)*$")


@value_class(order=True)
class Release:
    """A torch (or torchvision/torchaudio) version: ``2.5.1``, read from ``2.5.1+cu124`` too.

    ``local`` keeps a local tag (``cu124``) out of comparisons: two builds of one release are
    equal. ``str()`` is the public version.
    """

    key: tuple[int, ...]
    public: str = field(compare=False)
    local: str | None = field(default=None, compare=False)

    @classmethod
    def parse(cls, text: str) -> Release:
        """Read ``2.5.1``, ``2.5.1+cu124``, ``2.6.0a0+git1eba9b3``, ``2.8.0.dev20250528+cpu``."""
        raw = str(text).strip()
        public, _, local = raw.partition("+")
        m = _PUBLIC.match(public)
        if not m or (local and not re.fullmatch(r"[A-Za-z0-9.]+", local)):
            raise UnknownVersionError("version", raw, ())
        return cls(version_tuple(m.group(1)), public.lstrip("v"), local or None)

    def __str__(self) -> str:
        return self.public

    @property
    def minor(self) -> str:
        """``"2.5"`` for ``2.5.1``."""
        return ".".join(str(p) for p in self.key[:2])
