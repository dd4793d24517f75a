"""Work on another node through a launcher: ``detect --via 'srun -p gpu -N1'``.

A cluster's GPU nodes are reached through its scheduler, not by logging in: the user names a
command prefix (``srun -p gpu -N1 --gres=gpu:1``, ``ssh node``, ``flux run``, ...) and
conda-torch runs, through it, ``sh -s`` on the node with a script on its standard input. Only
those two words pass through the launcher's own argument handling, so any launcher that runs a
command and forwards standard input works (ssh re-parses its arguments through a shell; a
script on standard input is untouched).

What runs on the node:

* ``detect`` (:func:`detect_via`): the login node's own detection code, conda-torch's live
  probes exactly as ``conda torch detect`` runs them, shipped in the script (the modules it
  needs, :data:`DETECT_MODULES`, with this Python's bytecode of them, which a node with the
  same Python runs without compiling; an importer in memory, nothing written on the node) and
  run with the first Python the node has among
  ``--node-python``, else this interpreter's path (a conda base on a shared filesystem) and
  ``python3``. Nothing needs to be installed on the node; its Python must be 3.10 or newer.
  conda's override variables of the login node (``CONDA_OVERRIDE_CUDA``, ``CONDA_SUBDIR``)
  are not applied there: the picture is the node's.
* ``validate``/``doctor`` (:func:`probe_via`): validation's probe (``_probe.py``, standard
  library, Python 3.8+) in the environment's own Python on the node, with the environment's
  activation variables exported by the script itself (a launcher need not forward them); for
  ``doctor`` the node's picture is taken in the same run, so both come from one node.

Answers come back as short marked lines (``_probe.write_parts``: compressed JSON in pieces,
found anywhere in a line, since ``srun -l`` prefixes ``0: `` and splits long lines), each
naming its task (``host/pid``), so a launcher that runs several tasks gives one answer each.
The launcher runs in a process group of its own; at the time bound (the probe timeout) the
whole group is stopped (SIGTERM first, which makes ``srun`` cancel its job step, then SIGKILL).
The launcher's own failures (no such partition, a job refused, not found) are one line with
its message: :class:`~conda_torch.exceptions.LauncherError`.
"""

from __future__ import annotations

import base64
import json
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from . import procs
from .constants import PROBE_TIMEOUT_S
from .exceptions import CondaTorchValueError, LauncherError
from .values import value_class

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from .machine import Machine

__all__ = [
    "DEFAULT_TIMEOUT_S", "DETECT_MODULES", "NodeAnswer", "ViaResult", "detect_via",
    "launcher_argv", "probe_via",
    "run_script",
]  # fmt: skip

#: Markers of the lines the node writes (each followed by the host and a payload).
NODE = "@@conda-torch-node@@"
FAILED = "@@conda-torch-failed@@"
#: The lines of an answer (``_probe.write_parts``: the probe's and the detection's).
PART = "@@conda-torch-part@@"

#: The modules of the ``conda_torch`` package that live detection imports: shipped to the node.
#: (tests/test_via.py runs the shipped detection where the installed package cannot be
#: imported, so a new import that is not listed here fails there.)
#: A folder (``/`` at the end) ships every module in it, not those of its sub-folders.
DETECT_MODULES = (
    "__init__.py", "_version.py", "constants.py", "exceptions.py", "values.py", "patterns.py",
    "machine.py", "models.py", "_probe.py", "builds.py", "detect/", "detect/captures/",
)  # fmt: skip
#: Shipped as source only (the node compiles them if they run): the capture readers run only
#: when NVML and libcuda both fail.
SOURCE_ONLY = ("detect/captures/",)

#: The oldest Python the shipped detection runs on (``requires-python``).
DETECT_PYTHON = (3, 10)

#: Seconds a launcher run may take by default (``--timeout``: the probe's timeout, a job
#: waiting in the queue included).
DEFAULT_TIMEOUT_S = PROBE_TIMEOUT_S

#: How the launcher's process group is stopped (``procs.stop_group``): SIGTERM, on which srun
#: cancels its job step, then SIGKILL.
STOP_STEPS = ((signal.SIGTERM, 5.0), (getattr(signal, "SIGKILL", signal.SIGTERM), 5.0))

#: Variables of this process that describe the login node, not the node: not applied there.
LOGIN_ONLY = ("CONDA_OVERRIDE_CUDA", "CONDA_SUBDIR")

_PACKAGE = Path(__file__).resolve().parent


@value_class
class NodeAnswer:
    """What one task on one node answered: its task (``host/pid``) and the payload
    (``{"machine": ...}`` or ``{"probe": ...}``, parsed JSON)."""

    task: str
    payload: dict[str, Any]

    @property
    def host(self) -> str:
        return host_of(self.task)


def host_of(task: str) -> str:
    """The host of a task id (``gpu-a01/4242`` -> ``gpu-a01``)."""
    return task.rsplit("/", 1)[0]


@value_class
class ViaResult:
    """A launcher run: every answer, the tasks that started (``host/pid``), and how long it
    took; ``failures`` are (task, message) for what a node could not do."""

    launcher: str
    answers: tuple[NodeAnswer, ...]
    tasks: tuple[str, ...]
    seconds: float
    failures: tuple[tuple[str, str], ...] = ()
    #: The last line the launcher or the node wrote on standard error (a crash's message).
    stderr_tail: str = ""

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(host_of(t) for t in self.tasks)


def launcher_argv(launcher: str) -> list[str]:
    """The launcher's words (``shlex``); an empty or unparsable one is a value error."""
    try:
        argv = shlex.split(launcher)
    except ValueError as exc:
        raise CondaTorchValueError(
            f"--via {launcher!r} is not a command line ({exc})",
            hints=["Quote it as one argument: --via 'srun -p gpu -N1'."],
        ) from None
    if not argv:
        raise CondaTorchValueError("--via needs a launcher, e.g. --via 'srun -N1'")
    return argv


# -- the script -----------------------------------------------------------------------------


def _node_line() -> str:
    """Shell: name the task (host/pid) that answers, before anything can fail."""
    return (
        'CONDA_TORCH_TASK="$(uname -n)/$$"; export CONDA_TORCH_TASK\n'
        f'printf "%s %s\\n" "{NODE}" "$CONDA_TORCH_TASK"\n'
    )


def _fail_line(message: str) -> str:
    return f'printf "%s %s %s\\n" "{FAILED}" "$CONDA_TORCH_TASK" {shlex.quote(message)}\nexit 3\n'


#: ``python -c`` that runs the program on standard input: ``python -`` reads a program from a
#: pipe through its tokenizer in small reads (0.25 s for this script, against 0.1 s).
_RUN_STDIN = shlex.quote('import sys; exec(compile(sys.stdin.read(), "<conda-torch>", "exec"))')


def _heredoc_python(pythons: Sequence[str], source: str, *, missing: str) -> str:
    """Shell: run ``source`` with the first of ``pythons`` the node has."""
    tag = "CONDA_TORCH_EOF"
    assert tag not in source
    candidates = " ".join(shlex.quote(p) for p in pythons)
    return (
        f"py=\nfor p in {candidates}; do\n"
        '  if command -v "$p" >/dev/null 2>&1; then py=$p; break; fi\ndone\n'
        f'if [ -z "$py" ]; then\n{_fail_line(missing)}fi\n'
        f"exec \"$py\" -c {_RUN_STDIN} <<'{tag}'\n{source}\n{tag}\n"
    )


def _payload() -> str:
    """The :data:`DETECT_MODULES`, for the node: ``{"python": [cache tag, version],
    "modules": {name: [is_package, source, code]}}`` in ``marshal``'s format (plain values:
    readable by every Python 3.10+), compressed, base64. ``code`` is the module's bytecode from
    this Python's own cache where that cache is current, so a node with the same Python
    compiles nothing; elsewhere the node compiles the source."""
    import zlib

    modules: dict[str, list[Any]] = {}
    for entry in DETECT_MODULES:
        path = _PACKAGE / entry
        for f in sorted(path.glob("*.py")) if entry.endswith("/") else [path]:
            rel = f.relative_to(_PACKAGE).with_suffix("").parts
            package = rel[-1] == "__init__"
            name = ".".join(("conda_torch", *(rel[:-1] if package else rel)))
            source = f.read_text(encoding="utf-8")
            code = None if entry in SOURCE_ONLY else _cached_code(f)
            modules[name] = [package, source, code]
    import marshal

    python = [sys.implementation.cache_tag, list(sys.version_info[:3])]
    doc = {"python": python, "modules": modules}
    return base64.b64encode(zlib.compress(marshal.dumps(doc), 1)).decode("ascii")


def _cached_code(path: Path) -> bytes | None:
    """``path``'s bytecode (marshal data) from this Python's cache, when the cache is a
    timestamp-checked one that matches the source (as the import system checks it)."""
    import importlib.util

    try:
        cached = Path(importlib.util.cache_from_source(str(path)))
        data = cached.read_bytes()
        st = path.stat()
    except (OSError, NotImplementedError, ValueError):
        return None
    if len(data) < 16 or data[:4] != importlib.util.MAGIC_NUMBER:
        return None
    flags = int.from_bytes(data[4:8], "little")
    mtime = int.from_bytes(data[8:12], "little")
    size = int.from_bytes(data[12:16], "little")
    if flags != 0 or mtime != int(st.st_mtime) & 0xFFFFFFFF or size != st.st_size & 0xFFFFFFFF:
        return None
    return data[16:]


#: The node's side of ``detect``: an importer of the shipped modules, first on
#: ``sys.meta_path`` (so another conda-torch there cannot answer instead), then live detection
#: and one marked line. ``%(...)r`` fields are filled in by :func:`detect_source`.
_DETECT = """\
import sys
if sys.version_info < %(python)r:
    import os
    print(%(failed)r, os.environ["CONDA_TORCH_TASK"], "Python %%s at %%s is older than %%s, which "
          "conda-torch's detection needs; pass --node-python PATH"
          %% (sys.version.split()[0], sys.executable, %(python_text)r))
    sys.exit(3)
import base64, json, marshal, os, zlib
from importlib.machinery import ModuleSpec
_doc = marshal.loads(zlib.decompress(base64.b64decode(%(payload)r)))
_same = _doc["python"] == [sys.implementation.cache_tag, list(sys.version_info[:3])]

class _Shipped:
    def find_spec(self, name, path=None, target=None):
        if name not in _doc["modules"]:
            return None
        return ModuleSpec(name, self, origin="conda-torch:" + name,
                          is_package=_doc["modules"][name][0])

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        package, source, code = _doc["modules"][module.__name__]
        if code and _same:
            code = marshal.loads(code)
        else:
            code = compile(source, module.__spec__.origin, "exec")
        exec(code, module.__dict__)

sys.meta_path.insert(0, _Shipped())
from conda_torch._probe import write_parts
from conda_torch.detect import detect
machine = detect(environ={k: v for k, v in os.environ.items() if k not in %(login_only)r})
write_parts("machine", machine.to_json(), sys.stdout)
"""


def detect_source() -> str:
    """The Python the node runs for ``detect`` (:data:`_DETECT` with the shipped modules)."""
    return _DETECT % {
        "python": DETECT_PYTHON,
        "python_text": ".".join(map(str, DETECT_PYTHON)),
        "failed": FAILED,
        "payload": _payload(),
        "login_only": LOGIN_ONLY,
    }


def detect_script(pythons: Sequence[str]) -> str:
    """The whole ``sh -s`` script for ``detect``."""
    tried = ", ".join(pythons)
    return _node_line() + _heredoc_python(
        pythons,
        detect_source(),
        missing=f"no Python on the node (tried {tried}); pass --node-python PATH",
    )


def probe_script(python: str, variables: Mapping[str, str], *, with_machine: bool = False) -> str:
    """The ``sh -s`` script for validation: export the environment's variables, then run the
    probe (``_probe.py``) with the environment's Python; with ``with_machine``, take the node's
    picture first in the same run (doctor)."""
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in variables.items())
    probe = (_PACKAGE / "_probe.py").read_text(encoding="utf-8")
    missing = (
        f"the environment's Python {python} does not exist on this node (is its filesystem "
        "mounted here?)"
    )
    out = _node_line()
    if with_machine:
        # the picture first, with the Python that runs conda-torch's detection; then the probe
        out += (
            f"if [ -x {shlex.quote(python)} ]; then {shlex.quote(python)} -c {_RUN_STDIN} "
            "<<'CONDA_TORCH_EOF'\n"
            f"{detect_source()}\nCONDA_TORCH_EOF\nfi\n"
        )
    out += exports
    out += f"if [ ! -x {shlex.quote(python)} ]; then\n{_fail_line(missing)}fi\n"
    run = f"exec {shlex.quote(python)} -c {_RUN_STDIN} --parts"
    out += f"{run} <<'CONDA_TORCH_EOF'\n{probe}\nCONDA_TORCH_EOF\n"
    return out


# -- running it -------------------------------------------------------------------------------


def run_script(
    launcher: str,
    script: str,
    *,
    timeout: float,
    environ: Mapping[str, str] | None = None,
) -> ViaResult:
    """Run ``LAUNCHER sh -s`` with ``script`` on its standard input; the answers it printed.

    Raises :class:`LauncherError` when the launcher cannot start, fails before any node
    answered (its own last line of error output is the message), or runs past ``timeout``
    seconds (its whole process group is stopped first).
    """
    argv = [*launcher_argv(launcher), "sh", "-s"]
    start = time.perf_counter()
    try:
        proc = procs.start(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(environ) if environ is not None else None,
        )
    except FileNotFoundError:
        raise LauncherError(
            f"launcher not found: {argv[0]}",
            hints=[
                (
                    f"Is {argv[0]} on PATH here? --via takes the command that starts work on "
                    "a node, e.g. --via 'srun -N1'."
                )
            ],  # fmt: skip
        ) from None
    except OSError as exc:
        raise LauncherError(f"cannot start the launcher {argv[0]}: {exc.strerror or exc}") from None
    output = procs.CappedOutput(proc.stdout, proc.stderr)
    # a launcher that hangs before it reads must not hold this process past the bound
    threading.Thread(target=_feed, args=(proc.stdin, script.encode("utf-8")), daemon=True).start()
    try:
        # the answer is complete at EOF on both pipes (waiting on the pipes, not polling the
        # process: Popen.wait with a timeout sleeps in steps of up to 50 ms)
        output.join(timeout)
        left = max(0.0, timeout - (time.perf_counter() - start))
        proc.wait(timeout=left)
    except subprocess.TimeoutExpired:
        procs.stop_group(proc, STOP_STEPS)
        output.join(2.0)
        raise LauncherError(
            f"`{launcher}` gave no answer in {timeout:.0f} s; it was stopped, with every "
            "process it started",
            hints=[
                (
                    "A job waiting for resources counts too: check the queue (squeue), or "
                    "allow longer with --timeout SECONDS."
                )
            ],
        ) from None
    except BaseException:
        procs.stop_group(proc, STOP_STEPS)
        raise
    procs.stop_group(proc, STOP_STEPS)  # what the launcher left running in its group
    output.join(5.0)
    out, err = output.text(0), output.text(1)
    seconds = time.perf_counter() - start
    tasks, answers, failures = _read(out)
    if not tasks:
        raise LauncherError(
            f"`{launcher}` failed: {_last_line(err, proc.returncode)}",
            hints=[
                f"The launcher's own message; run it yourself to see more: {launcher} uname -n"
            ],  # fmt: skip
        )
    tail = _last_line(err, proc.returncode) if err.strip() else ""
    return ViaResult(launcher, tuple(answers), tuple(tasks), seconds, tuple(failures), tail)


def _read(text: str) -> tuple[list[str], list[NodeAnswer], list[tuple[str, str]]]:
    """The tasks that started, their answers (reassembled from their parts) and failures."""
    import base64
    import zlib

    tasks: list[str] = []
    failures: list[tuple[str, str]] = []
    parts: dict[tuple[str, str], dict[int, str]] = {}
    counts: dict[tuple[str, str], int] = {}
    for line in text.splitlines():
        for marker in (NODE, PART, FAILED):
            at = line.find(marker)
            if at < 0:
                continue
            rest = line[at + len(marker) :].strip()
            if marker == NODE:
                tasks.append(rest)
            elif marker == FAILED:
                task, _, message = rest.partition(" ")
                failures.append((task, message))
            else:
                fields = rest.split(" ")
                if len(fields) == 5 and fields[2].isdigit() and fields[3].isdigit():
                    kind, task, i, n, data = fields
                    parts.setdefault((kind, task), {})[int(i)] = data
                    counts[(kind, task)] = int(n)
            break
    answers: list[NodeAnswer] = []
    for (kind, task), pieces in parts.items():
        if len(pieces) != counts[(kind, task)]:
            continue  # cut short: the task died while writing
        try:
            raw = zlib.decompress(base64.b64decode("".join(pieces[i] for i in sorted(pieces))))
        except (ValueError, zlib.error):
            continue
        data = _json(raw.decode("utf-8", "replace"))
        if data is not None:
            answers.append(NodeAnswer(task, {kind: data}))
    return tasks, answers, failures


def _json(text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _last_line(err: str, returncode: int | None) -> str:
    lines = [ln.strip() for ln in err.splitlines() if ln.strip()]
    if lines:
        return lines[-1][:300]
    return f"exit status {returncode}, no message"


def _feed(stdin: Any, data: bytes) -> None:
    """Write the script to the launcher's standard input, then close it (a launcher that is
    gone, or stopped, ends the write)."""
    try:
        stdin.write(data)
    except (BrokenPipeError, OSError, ValueError):
        pass
    finally:
        try:
            stdin.close()
        except (BrokenPipeError, OSError, ValueError):
            pass


# -- the commands' questions ----------------------------------------------------------------


def node_pythons(node_python: str | None) -> list[str]:
    """The interpreters the node tries for ``detect``, in order."""
    if node_python:
        return [node_python]
    return list(dict.fromkeys([sys.executable, "python3"]))


def detect_via(
    launcher: str,
    *,
    node_python: str | None = None,
    timeout: float,
    environ: Mapping[str, str] | None = None,
) -> tuple[Machine, ViaResult]:
    """The picture of the node ``launcher`` reaches, as ``conda torch detect`` there sees it.

    Raises :class:`LauncherError` for the launcher's failures and for a node that could not
    run the detection (no Python, too old a Python): one line naming the node.
    """
    from .machine import Machine

    result = run_script(
        launcher, detect_script(node_pythons(node_python)), timeout=timeout, environ=environ
    )
    machines = [a for a in result.answers if "machine" in a.payload]
    if not machines:
        task, why = result.failures[0] if result.failures else (result.tasks[0], "")
        host = host_of(task)
        raise LauncherError(
            f"node {host} (through `{launcher}`) gave no picture: "
            + (why or "the detection printed nothing"),
            hints=["Run `conda torch detect` there yourself to see why."],
        )
    answer = machines[0]
    try:
        machine = Machine.from_json(answer.payload["machine"])
    except (ValueError, TypeError) as exc:
        raise LauncherError(
            f"node {answer.host} answered a picture this version cannot read ({exc})"
        ) from None
    return machine, result


def probe_via(
    launcher: str,
    *,
    python: str,
    variables: Mapping[str, str],
    timeout: float,
    with_machine: bool = False,
    environ: Mapping[str, str] | None = None,
) -> ViaResult:
    """Run validation's probe in ``python`` on the node(s) ``launcher`` reaches, with the
    environment's ``variables``; one answer per task (``payload["probe"]``, and with
    ``with_machine`` the node's picture, ``payload["machine"]``)."""
    script = probe_script(python, variables, with_machine=with_machine)
    return run_script(launcher, script, timeout=timeout, environ=environ)
