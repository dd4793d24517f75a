"""Names declared once: the subcommand, settings, channels, sources, subdirs."""

from __future__ import annotations

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
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

# -- the torch stack's names (one definition each; doctor, inventory, envfile, recreate,
#    validate and paste read them from here) ----------------------------------------------

#: pip distribution names of the stack.
PIP_STACK: Final = ("torch", *COMPANIONS)

#: conda package names that carry torch's own files (the ``pytorch`` channel and conda-forge
#: call it ``pytorch``; some channels ``torch``).
CONDA_TORCH_NAMES: Final = ("pytorch", "torch")

#: conda package names that stand for torch in a spec: the carriers plus conda-forge's
#: ``pytorch-cpu``/``pytorch-gpu`` metapackages (they carry nothing themselves).
CONDA_TORCH_SPECS: Final = (*CONDA_TORCH_NAMES, "pytorch-gpu", "pytorch-cpu")

#: conda package names that carry each pip distribution's files (``libtorch`` is the C++ part
#: conda-forge splits off; ``pytorch-cpu``/``pytorch-gpu`` are metapackages and carry nothing).
CONDA_CARRIERS: Final[dict[str, tuple[str, ...]]] = {
    "torch": CONDA_TORCH_NAMES,
    "torchvision": ("torchvision",),
    "torchaudio": ("torchaudio",),
}

#: conda packages whose builds must come from one channel (they share a C++ ABI).
CONDA_ABI_STACK: Final = ("pytorch", "torch", "libtorch", "torchvision", "torchaudio")

#: conda packages that make up the torch stack; ``specialize`` replaces every line naming one.
#: ``pytorch-mutex`` is the pytorch channel's cpu/cuda selector; ``cuda-version``/``cudatoolkit``/
#: ``pytorch-cuda``/``cpuonly`` select the CUDA runtime (see data/reference/pytorch/NOTES.md 2).
TORCH_CONDA_PACKAGES: Final = frozenset(
    {
        *CONDA_TORCH_SPECS, *COMPANIONS,
        "pytorch-cuda", "cudatoolkit", "cpuonly", "cuda-version", "pytorch-mutex", "__cuda",
    }
)  # fmt: skip

#: pip distributions that make up the torch stack.
TORCH_PIP_PACKAGES: Final = frozenset(PIP_STACK)

#: Channels that exist only to serve the torch stack (dropped when the plan does not use them).
TORCH_CHANNELS: Final = frozenset({"pytorch", "nvidia", "pytorch-nightly", "pytorch-test"})

#: conda packages that belong to the torch stack beyond :data:`TORCH_CONDA_PACKAGES` (recreate
#: replaces them, never carries them over): conda-forge's split-off C++ library and metapackages.
STACK_CONDA: Final = frozenset({"libtorch", "pytorch-cpu", "pytorch-gpu"})

#: pip distributions that come with a pip torch (its CUDA wheels and compiler): never carried
#: over, the new torch brings its own.
STACK_PIP_PREFIXES: Final = ("nvidia-", "triton", "pytorch-triton", "cuda-")

#: Channel names Anaconda's ``defaults`` stands for (conda's ``DEFAULT_CHANNELS_UNIX``/``_WIN``).
DEFAULTS_CHANNELS: Final = ("pkgs/main", "pkgs/r", "pkgs/msys2", "pkgs/free", "pkgs/pro")

#: Seconds validation's probe may take by default (``--timeout``): a cold ``import torch,
#: torchvision, torchaudio`` took 11.6 s on an H100 machine and about 10 s on this project's
#: 2-core test machine; a network disk can take a minute. Five minutes is far beyond a healthy
#: start, and a hang ends in bounded time.
PROBE_TIMEOUT_S: Final = 300.0
