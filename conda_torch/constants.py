"""Names declared once: the subcommand, settings, channels, sources, subdirs."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Final

#: The conda subcommand: ``conda torch``.
SUBCOMMAND: Final = "torch"

#: One line for ``conda --help``.
SUMMARY: Final = "PyTorch environments matched to this machine, proven on its device."

#: Compute backend kinds, in the order tables list them.
BACKEND_KINDS: Final = ("cuda", "rocm", "xpu", "mps", "cpu")

#: Every way to write ``--backend`` (and the ``torch_backend`` setting): what hints and help
#: list.
BACKEND_FORMS: Final = ("auto", "cpu", "cuda", "cuda=X.Y", "cuXYZ", "rocm", "rocmX.Y", "mps", "xpu")

#: :data:`BACKEND_FORMS` in words.
BACKEND_WORDS: Final = ", ".join(BACKEND_FORMS[:-1]) + " or " + BACKEND_FORMS[-1]

#: ``.condarc`` settings (``plugins:`` key, or ``CONDA_PLUGINS_<NAME>``): name -> (default, help).
SETTINGS: Final[dict[str, tuple[str, str]]] = {
    "torch_source": (
        "auto",
        (
            "Where conda-torch takes torch from by default: auto (conda-forge, else pip "
            "wheels), conda-forge, pytorch or pip."
        ),
    ),
    "torch_backend": (
        "auto",
        f"Default backend for conda-torch: {BACKEND_WORDS}.",
    ),
}

#: conda subdirs conda-torch knows, in display order.
SUBDIRS: Final = ("linux-64", "linux-aarch64", "linux-ppc64le", "osx-64", "osx-arm64", "win-64")

#: Where torch can come from.
SOURCES: Final = ("conda-forge", "pytorch", "pip")

#: The variable conda reads to override the ``__cuda`` virtual package ("" = no CUDA).
CONDA_OVERRIDE_CUDA: Final = "CONDA_OVERRIDE_CUDA"

#: Programs ``create --frontend`` can drive (conda first: the default).
FRONTENDS: Final = ("conda", "mamba", "micromamba")

#: The packages that go with torch in the default stack; ``--without`` leaves one out.
COMPANIONS: Final = ("torchvision", "torchaudio")

#: Seconds validation's probe may take by default (``--timeout``): a cold ``import torch,
#: torchvision, torchaudio`` took 11.6 s on an H100 machine and about 10 s on this project's
#: 2-core test machine; a network disk can take a minute. Five minutes is far beyond a healthy
#: start, and a hang ends in bounded time.
PROBE_TIMEOUT_S: Final = 300.0
