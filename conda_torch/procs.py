"""Child processes as a group: started in their own session, stopped as a whole, waited for as a
whole, their captured output bounded.

conda runs post-link scripts, and a Python may be a wrapper that starts children of its own; a
signal to the direct child alone leaves those running (a post-link script wrote into an
environment seconds after it had been restored), and reading a pipe until EOF waits for every
process that inherited it. So conda-torch starts conda and the validation probe with
:func:`start` (a new session: its own process group, whose id is the child's pid), stops them
with :func:`stop_group` (the whole group, escalating, until no member is left) and reads their
output with :class:`CappedOutput` (at most a few MiB kept, the rest counted and dropped).

Standard library only; POSIX process groups (elsewhere the direct child is signalled).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections import deque

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import IO, Any

ON_POSIX = os.name == "posix"

#: Bytes of a child's stdout and of its stderr that are kept (the last ones: the probe's answer
#: and conda's error come last).
OUTPUT_CAP = 4 * 2**20


def start(argv: Sequence[str], **popen: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen(argv, **popen)`` in a new session (its own process group)."""
    if ON_POSIX:
        popen["start_new_session"] = True
    return subprocess.Popen(list(argv), **popen)


def group_members(pgid: int) -> list[int] | None:
    """The live (not zombie) processes of group ``pgid`` (from ``/proc``); None without
    ``/proc``."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    members = []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[0] != b"Z" and int(fields[2]) == pgid:
            members.append(int(entry))
    return members


def group_alive(pgid: int) -> bool:
    """Whether any process of group ``pgid`` still runs."""
    if not ON_POSIX:  # pragma: no cover
        return False
    members = group_members(pgid)
    if members is not None:
        return bool(members)
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def signal_group(proc: subprocess.Popen[Any], sig: int) -> None:
    """Send ``sig`` to ``proc``'s whole group (to ``proc`` alone where there are none)."""
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        if ON_POSIX:
            os.killpg(proc.pid, sig)
        elif proc.poll() is None:  # pragma: no cover
            proc.send_signal(sig)


def _gone(proc: subprocess.Popen[Any]) -> bool:
    return proc.poll() is not None and not group_alive(proc.pid)


def stop_group(
    proc: subprocess.Popen[Any],
    steps: Iterable[tuple[int | None, float]] = (
        (signal.SIGINT, 10.0),
        (signal.SIGTERM, 10.0),
        (getattr(signal, "SIGKILL", signal.SIGTERM), 10.0),
    ),
) -> bool:
    """Signal ``proc``'s whole process group, step by step (``(signal, seconds to wait)``), until
    no process of it is left; ``proc`` itself is reaped. A further Ctrl-C while waiting moves on
    to the next step. Returns whether the group is gone."""
    for sig, grace in steps:
        if _gone(proc):
            return True
        if sig is not None:
            signal_group(proc, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=0.1)
                if _gone(proc):
                    return True
            except KeyboardInterrupt:  # a second Ctrl-C: stop waiting politely
                break
    return _gone(proc)


def kill_group(proc: subprocess.Popen[Any]) -> None:
    """SIGKILL whatever is left of ``proc``'s group and reap ``proc``."""
    stop_group(proc, ((getattr(signal, "SIGKILL", signal.SIGTERM), 10.0),))


class CappedOutput:
    """Read a child's pipes in threads, keeping the last :data:`OUTPUT_CAP` bytes of each."""

    def __init__(self, *streams: IO[bytes] | None, cap: int = OUTPUT_CAP) -> None:
        self.cap = cap
        self._chunks: list[deque[bytes]] = []
        self._kept: list[int] = []
        self.dropped = [0] * len(streams)
        self._threads = []
        for index, stream in enumerate(streams):
            self._chunks.append(deque())
            self._kept.append(0)
            if stream is None:
                continue
            t = threading.Thread(target=self._pump, args=(index, stream), daemon=True)
            t.start()
            self._threads.append(t)

    def _pump(self, index: int, stream: IO[bytes]) -> None:
        chunks = self._chunks[index]
        with contextlib.suppress(OSError, ValueError):
            fd = stream.fileno()
            while True:
                data = os.read(fd, 65536)
                if not data:
                    break
                chunks.append(data)
                self._kept[index] += len(data)
                while self._kept[index] - len(chunks[0]) >= self.cap:
                    old = chunks.popleft()
                    self._kept[index] -= len(old)
                    self.dropped[index] += len(old)

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for EOF on every pipe; False if some are still open
        (a process outside the group holds them: what was read so far is kept)."""
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def text(self, index: int) -> str:
        return b"".join(self._chunks[index]).decode("utf-8", errors="replace")

    def note(self) -> str | None:
        """``output was cut: 45.8 MiB dropped (the last 4 MiB kept)``, or None."""
        dropped = sum(self.dropped)
        if not dropped:
            return None
        return (
            f"output was cut: {dropped / 2**20:.1f} MiB dropped "
            f"(the last {self.cap // 2**20} MiB of each stream kept)"
        )


def signal_name(returncode: int) -> str | None:
    """``SIGSEGV`` for a child killed by signal 11 (``returncode == -11``), else None."""
    if returncode >= 0:
        return None
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


__all__ = [
    "OUTPUT_CAP", "CappedOutput", "group_alive", "group_members", "kill_group", "signal_group",
    "signal_name", "start", "stop_group",
]  # fmt: skip
