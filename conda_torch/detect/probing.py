"""What every live probe shares: the record of one detection run, the merge ranks, NOT_FOUND.

A probe is a function ``(run, ...) -> (result, detail)``; :meth:`LiveRun.probe` times it,
records it as a :class:`~conda_torch.machine.Probe` and turns an exception into a failed
probe, so no probe can break detection. Probes read files through the run (``root`` prefixes
every path: tests point it at a tree built from real captures) and leave observations with
their merge rank and notes for what was not found.
"""

from __future__ import annotations

import os
import time

from ..machine import Probe

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from ..machine import Observation

#: Notes that say what was not found, and why, start with this (live probes, captured inputs
#: and flags alike; ``conda torch detect`` lists them apart).
NOT_FOUND = "Not found: "


class LiveRun:
    """One live detection in progress: the files it reads (under ``root``), and the
    observations, probe records and notes its probes leave."""

    def __init__(self, env: Mapping[str, str], root: str) -> None:
        self.env = env
        self.root = root
        self.ranked: list[tuple[int, int, Observation]] = []
        self.probes: list[Probe] = []
        self.notes: list[str] = []

    def path(self, p: str) -> str:
        return p if self.root == "/" else os.path.join(self.root, p.lstrip("/"))

    def read(self, p: str, limit: int = 1 << 16) -> str | None:
        try:
            with open(self.path(p), "rb") as fh:
                return fh.read(limit).decode("utf-8", "replace")
        except OSError:
            return None

    def exists(self, p: str) -> bool:
        return os.path.exists(self.path(p))

    def listdir(self, p: str) -> list[str]:
        try:
            return sorted(os.listdir(self.path(p)))
        except OSError:
            return []

    def add(self, rank: int, obs: Observation | None) -> None:
        if obs is not None:
            self.ranked.append((rank, len(self.ranked), obs))

    def probe(self, name: str, fn: Callable[..., tuple[Any, str]], *args: Any) -> Any:
        """Run one probe, time it, record it; a probe that raises counts as failed."""
        start = time.perf_counter()
        try:
            result, detail = fn(*args)
        except Exception as exc:  # never let a probe break detection
            result, detail = None, f"failed: {type(exc).__name__}: {exc}"
        ms = (time.perf_counter() - start) * 1000
        self.probes.append(Probe(name, bool(result), detail, round(ms, 3)))
        return result

    def skip(self, name: str, why: str) -> None:
        self.probes.append(Probe(name, False, f"not tried: {why}", None))


#: Merge order of live observations (lower wins): the kernel module is the authority for the
#: driver version; NVML for GPUs and the newest CUDA; files and PCI fill what is left.
RANK_PROC_VERSION, RANK_NVML, RANK_SMI, RANK_LIBCUDA, RANK_PROC_GPUS, RANK_PCI = 1, 2, 3, 4, 5, 6
