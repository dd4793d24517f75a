"""conda-torch: PyTorch environments matched to the machine, proven on the device."""

from __future__ import annotations

from ._version import __version__

APP_NAME = "conda-torch"

__all__ = ["APP_NAME", "__version__"]
