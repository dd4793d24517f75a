"""The machine picture: this machine's live probes or captured outputs, then flags and overrides.

:func:`detect` is the one entry point. Without ``from_files`` it probes the running machine
(:mod:`.live`), cheapest first, every probe timed, bounded by a timeout and allowed to fail:

1. platform (:mod:`.platform`): ``sys.platform``, ``os.uname``, ``os.confstr``,
   ``/etc/os-release``, WSL, container and Jetson marker files; on macOS ``sysctl`` through
   ctypes (real macOS version, Rosetta 2 translation);
2. NVIDIA (:mod:`.nvidia`): ``/proc/driver/nvidia/version``,
   ``/proc/driver/nvidia/gpus/*/information`` and the PCI display devices in sysfs; only when
   one of those (or WSL, Jetson, Windows) points to an NVIDIA driver or GPU: NVML through
   ctypes (initialised once and kept for the process; see :func:`clear_cache`), then libcuda
   through ctypes if NVML failed, then ``nvidia-smi --query-gpu`` if both failed;
3. AMD ROCm and Intel XPU (:mod:`.pci`): ``/opt/rocm/.info/version`` and the KFD topology in
   sysfs (gfx targets without ``rocminfo``); discrete Intel display devices in sysfs;
4. Apple (:mod:`.platform`): ``sysctl`` (chip, Apple silicon); MPS needs arm64 hardware and
   macOS 12.3+.

With ``from_files`` the picture comes only from those captured outputs, each read by the
capture reader that recognises it (:mod:`.captures`); nothing is probed. Either way
(:mod:`.adjust`), a :class:`Description` (flags describing another machine) and
``CONDA_OVERRIDE_CUDA`` are applied next, then ``CUDA_VISIBLE_DEVICES``, then compute
capabilities missing from the inputs may be looked up by GPU name (:mod:`.gpu_names`, marked
as inferred). The library never prints: facts that were not found are explained in
:attr:`Machine.notes` (sentences starting with :data:`NOT_FOUND`) and in the :class:`Probe`
records. :func:`load_machine` reads a picture saved with ``conda torch detect --json``.
"""

from __future__ import annotations

import os
import time

from ..constants import CONDA_OVERRIDE_CUDA
from ..exceptions import CondaTorchError, InputFileError
from ..machine import Machine, Probe, merge
from ..values import replace
from .adjust import (
    Description,
    apply_cuda_override,
    apply_description,
    apply_own_visible_devices,
    apply_visible_devices,
    parse_cuda_override,
)
from .gpu_names import infer_missing
from .probing import NOT_FOUND

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ..machine import Observation

__all__ = [
    "NOT_FOUND",
    "Description",
    "apply_visible_devices",
    "clear_cache",
    "detect",
    "load_machine",
    "parse_cuda_override",
]


def clear_cache() -> None:
    """Forget cached live probe results and release NVML (the next :func:`detect` starts afresh)."""
    from . import live  # see detect()

    live.clear()


def detect(
    *,
    from_files: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    describe: Description | None = None,
    nvidia_smi: bool = True,
    root: str = "/",
) -> Machine:
    """The machine picture, live or from captured outputs; see the module docstring.

    ``environ`` defaults to ``os.environ`` (``CONDA_OVERRIDE_CUDA``, ``CUDA_VISIBLE_DEVICES``,
    container variables). ``root`` prefixes every file the live probes read (tests point it
    at a tree built from real captures). Raises :class:`InputFileError` for an unusable input
    and :class:`OverrideError` for a garbage override; a failing probe never raises.
    """
    env = os.environ if environ is None else environ
    override = parse_cuda_override(env.get(CONDA_OVERRIDE_CUDA))
    if from_files:
        machine = _from_files(list(from_files))
    else:
        # Here, not at the top: reading a paste or a capture (doctor --from, detect --from)
        # never loads the live probes, which would only add to its start-up
        # (tests/test_plugin.py guards it).
        from . import live

        machine = live.picture(env, nvidia_smi=nvidia_smi, root=root)
    if describe is not None and not describe.empty:
        machine = apply_description(machine, describe)
    if override is not None:
        machine = apply_cuda_override(machine, env[CONDA_OVERRIDE_CUDA], override, describe)
    # This process's CUDA_VISIBLE_DEVICES applies to this machine, not to one described by
    # inputs or by --platform/--gpu; an input may show its own (nvidia.cuda_visible_devices).
    own = not from_files and (describe is None or not (describe.gpus or describe.platform))
    machine = apply_own_visible_devices(machine, env if own else None)
    machine = infer_missing(machine)
    return machine


def load_machine(path: str) -> Machine:
    """A machine picture saved with ``conda torch detect --json > FILE`` (``--machine FILE``)."""
    import json  # not at the top: live detection reads no JSON (tests/test_plugin.py)

    hint = "Write it with: conda torch detect --json > FILE"
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise InputFileError(path, "no such file") from None
    except IsADirectoryError:
        raise InputFileError(path, "is a directory, not a detect --json file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"cannot be read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise InputFileError(
            path, f"is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})", hints=[hint]
        ) from None
    if not isinstance(data, dict):
        raise InputFileError(path, "is not a conda-torch detect document", hints=[hint])
    try:
        return Machine.from_json(data)
    except (ValueError, TypeError) as exc:
        raise InputFileError(path, str(exc), hints=[hint]) from None


# -- captured outputs -----------------------------------------------------------------------


def _from_files(paths: list[str]) -> Machine:
    """The picture these captured outputs show (nothing probed), with notes for what none
    of them shows."""
    # Here, not at the top: live detection reads no capture, and the twelve readers cost
    # more to import than it takes (tests/test_plugin.py).
    from . import captures

    found: list[Observation] = []
    probes: list[Probe] = []
    lenient = captures.lenient_kinds()
    partial: list[str] = []
    for path in paths:
        start = time.perf_counter()
        try:
            observations = captures.parse_file(path)
        except CondaTorchError:
            raise
        except Exception as exc:  # a parser bug must still end in one clear line
            raise InputFileError(
                path,
                f"could not be parsed ({type(exc).__name__}: {exc})",
                hints=[
                    "Check the file holds one complete, unmodified output; report this as a bug."
                ],
            ) from None
        ms = (time.perf_counter() - start) * 1000
        probes.append(
            Probe(f"input: {path}", True, ", ".join(o.kind for o in observations), round(ms, 3))
        )
        found.extend(observations)
        if all(o.kind in lenient for o in observations):
            kinds = ", ".join(dict.fromkeys(o.kind for o in observations))
            partial.append(
                f"{observations[0].source}: no complete capture; read as a pasted report "
                f"({kinds}): only the facts it shows, nothing else assumed."
            )
    machine = merge(captures.ranked(found), mode="files", inputs=tuple(paths), probes=tuple(probes))
    notes = list(partial)
    if machine.nvidia is None:
        notes.append(NOT_FOUND + "NVIDIA: no input shows an NVIDIA driver or GPU.")
    if machine.rocm is None:
        notes.append(NOT_FOUND + "AMD ROCm: no input shows ROCm or an AMD GPU.")
    if machine.apple is None and machine.platform.os == "macos":
        notes.append(NOT_FOUND + "Apple: no input shows an Apple chip.")
    if machine.platform.subdir is None:
        notes.append(NOT_FOUND + "platform: no input shows the conda platform; pass --platform.")
    return replace(machine, notes=machine.notes + tuple(notes))
