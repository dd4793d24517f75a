"""What a diagnosis finds: the finding value, its severities, and the causes it names.

Shared by ``doctor`` (an environment) and ``doctor --from`` (a paste, :mod:`conda_torch.paste`),
which reads nothing of an environment: it imports this module, not :mod:`conda_torch.doctor`
(which would cost it ``pathlib`` and doctor's own start-up; DESIGN.md, "Start-up time").
"""

from __future__ import annotations

from .values import value_class

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from typing import Any, Final

SEVERITIES: Final = ("error", "warning", "info")

#: The finding ids doctor itself produces -> (severity, title). ``validate.<id>`` come on top.
FINDINGS: Final[dict[str, tuple[str, str]]] = {
    "pip-and-conda": ("error", "torch stack installed by both conda and pip"),
    "mixed-channels": ("error", "torch stack mixed across channels"),
    "pytorch-beside-forge": ("warning", "pytorch-channel build beside conda-forge packages"),
    "defaults-beside-forge": ("warning", "defaults packages beside conda-forge packages"),
    "cpu-build-on-gpu": ("warning", "CPU build on a machine with a usable GPU"),
    "driver-too-old": ("error", "NVIDIA driver too old for the build's CUDA"),
    "arch-missing": ("error", "GPU architecture missing from the build"),
    "user-site-shadow": ("error", "~/.local shadows the environment's torch"),
    "pythonpath-shadow": ("error", "PYTHONPATH shadows the environment's torch"),
    "pair-mismatch": ("error", "torchvision/torchaudio do not pair with torch"),
    "drift": ("error", "environment drifted from its provenance"),
    "no-torch": ("info", "no torch stack installed"),
    "interrupted-replace": ("error", "a killed create/recreate left the old environment aside"),
    "replace-in-progress": ("warning", "another conda-torch is replacing the environment now"),
    "probe-failed": ("error", "the environment's Python could not run the probe"),
    "provenance-unreadable": ("warning", "the provenance file cannot be read"),
    "not-an-environment": ("error", "not an environment (--all: it vanished or is broken)"),
}

#: What can be wrong with a torch installation: the cause a finding names (issue 13's
#: vocabulary). ``companion_mismatch``: torchvision/torchaudio not made for the torch beside them
#: (versions or builds); ``duplicate_install``: two torch distributions installed;
#: ``mixed_channels``: packages from builds that do not share an ABI (pytorch channel,
#: conda-forge, defaults, pip); ``shadowed``: the imported torch is not the installed one
#: (``~/.local``, ``PYTHONPATH``, a source tree, another environment); ``rosetta``: an x86_64
#: Python on Apple silicon.
CAUSES: Final = (
    "cpu_build_on_gpu",
    "driver_too_old",
    "arch_missing",
    "companion_mismatch",
    "duplicate_install",
    "mixed_channels",
    "shadowed",
    "rosetta",
    "cuda_on_mac",
    "rocm_unsupported_gfx",
    "macos_too_old",
    "no_build_for_platform",
)

#: The cause each of doctor's own finding ids names (ids not listed name none).
CAUSE_OF: Final[dict[str, str]] = {
    "pip-and-conda": "duplicate_install",
    "mixed-channels": "mixed_channels",
    "pytorch-beside-forge": "mixed_channels",
    "defaults-beside-forge": "mixed_channels",
    "cpu-build-on-gpu": "cpu_build_on_gpu",
    "driver-too-old": "driver_too_old",
    "arch-missing": "arch_missing",
    "user-site-shadow": "shadowed",
    "pythonpath-shadow": "shadowed",
    "pair-mismatch": "companion_mismatch",
}


@value_class
class Finding:
    """One problem (or fact) about an environment."""

    id: str
    severity: str  # error | warning | info
    message: str
    #: The exact command that fixes it (None when nothing needs doing).
    fix: str | None = None
    #: Supporting facts, one per line (packages, paths, versions).
    details: tuple[str, ...] = ()
    #: ``doctor`` (environment-level) or ``validate`` (a validate check).
    source: str = "doctor"
    #: What is wrong, from :data:`CAUSES` (None where no cause of the vocabulary fits).
    cause: str | None = None
    #: The lines of a paste the finding rests on, quoted (``doctor --from``).
    evidence: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "cause": self.cause,
            "severity": self.severity,
            "message": self.message,
            "fix": self.fix,
            "details": list(self.details),
            "evidence": list(self.evidence),
            "source": self.source,
        }
