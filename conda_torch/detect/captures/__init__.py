"""Captured outputs -> observations, with the kind recognised from the content.

Each reader module declares ``KINDS``: a tuple of :class:`~.capture.Kind`; :data:`KINDS` lists
them all, in the order they are tried. :func:`parse_text` cleans the text once (quote
prefixes, common indentation, CRLF, trailing blanks: :class:`~.capture.Capture`) and offers it
to every kind (``Kind.read``: ``recognise``, then ``parse`` for a kind that claims it; a
lenient reader of pasted reports reads it once and claims what holds something), so a paste that
holds several outputs (a table followed by ``nvidia-smi -L``) yields one observation per
output. Observations come back ordered by ``Kind.rank`` (most authoritative first), ready for
:func:`conda_torch.machine.merge`.
"""

from __future__ import annotations

from ...exceptions import (
    STDIN,
    STDIN_LABEL,
    InputFileError,
    UnrecognisedInputError,
    read_input_bytes,
)
from . import (
    apple,
    collect_env,
    conda_info,
    context,
    installers,
    nvidia_query,
    nvidia_smi,
    packages,
    proc,
    rocm,
    torch_messages,
    torch_runtime,
)
from .capture import Capture, Kind, lazy_re, plain_line

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from ...machine import Observation

__all__ = [
    "BOUNDED_CHARS", "KINDS", "MAX_BYTES", "Capture", "Kind", "bounded", "kind_names",
    "lazy_re", "lenient_kinds", "observe", "observe_capture", "parse_file", "parse_text",
    "plain_line", "ranked", "read_capture",
]  # fmt: skip

#: Every kind of capture, in the order they are tried (the one registry: a new reader module
#: is imported above and added here).
KINDS: tuple[Kind, ...] = (
    *nvidia_query.KINDS,
    *nvidia_smi.KINDS,
    *proc.KINDS,
    *rocm.KINDS,
    *apple.KINDS,
    *collect_env.KINDS,
    *conda_info.KINDS,
    *torch_runtime.KINDS,
    *packages.KINDS,
    *torch_messages.KINDS,
    *installers.KINDS,
    *context.KINDS,
)

#: Largest capture read (bytes). Real captures are kilobytes; a bigger file is a mistake.
MAX_BYTES = 8 * 1024 * 1024

def kind_names() -> list[str]:
    """The kinds' names, in the order they are tried (what an unrecognised input is told)."""
    return [k.name for k in KINDS]


#: Above this many characters a text is read through :func:`bounded` (real captures are
#: kilobytes; every reader costs time linear in what it reads).
BOUNDED_CHARS = 256 * 1024

#: Words (lower case) some line of every capture or report conda-torch reads carries: a line
#: with none of them, far from one that has, says nothing to any reader. Each word costs one
#: ``str.find`` pass over the text (about 5 ms per 8 MB): the list is kept short.
_RELEVANT: tuple[str, ...] = (
    "nvidia", "cuda", "cudnn", "torch", "rocm", "gfx", "amd", "gpu", "driver", "xpu", "intel",
    "apple", "darwin", "mac", "conda", "python", "pip", "error", "warn", "sm_", "glibc", "linux",
    "version", "platform", "$ ", ">>>",
)  # fmt: skip
#: Lines kept either side of a relevant one (a message wrapped over lines, a table's rows).
_CONTEXT_LINES = 3


def bounded(text: str) -> str:
    """``text``, or for a text over :data:`BOUNDED_CHARS` its relevant part, so that any input
    up to :data:`MAX_BYTES` is read (or refused as unrecognised) in bounded time.

    A cheap first pass: the lines that carry a word of :data:`_RELEVANT` (found with
    ``str.find``, no regular expression), with :data:`_CONTEXT_LINES` around each; of those,
    at most the first and the last ``BOUNDED_CHARS / 2`` characters (a log's start says what
    ran, its end how it failed).
    """
    if len(text) <= BOUNDED_CHARS:
        return text
    import bisect

    low = text.lower()
    if len(low) != len(text):  # a letter whose lower case is longer (İ): offsets must hold
        low = text.translate({c: c + 32 for c in range(ord("A"), ord("Z") + 1)})
    starts = [0]
    find = low.find
    i = find("\n")
    while i >= 0:
        starts.append(i + 1)
        i = find("\n", i + 1)
    hits: set[int] = set()
    for word in _RELEVANT:
        i = find(word)
        while i >= 0:
            line = bisect.bisect_right(starts, i) - 1
            hits.add(line)
            i = find(word, starts[line + 1] if line + 1 < len(starts) else len(low))
    if not hits:
        return ""
    keep: set[int] = set()
    for line in hits:
        keep.update(range(max(0, line - _CONTEXT_LINES), line + _CONTEXT_LINES + 1))
    ends = [*starts[1:], len(text) + 1]
    kept = "\n".join(text[starts[n] : ends[n] - 1] for n in sorted(keep) if n < len(starts))
    if len(kept) <= BOUNDED_CHARS:
        return kept
    half = BOUNDED_CHARS // 2
    head = kept[:half].rsplit("\n", 1)[0]
    tail = kept[-half:].split("\n", 1)[-1]
    return head + "\n" + tail


def observe(text: str, source: str = "") -> list[Observation]:
    """Observations from one captured output or paste, most authoritative first; ``[]`` when no
    kind claims it. A large text is read through :func:`bounded`."""
    return observe_capture(Capture.from_text(bounded(text)), source)


def observe_capture(capture: Capture, source: str = "") -> list[Observation]:
    """:func:`observe` of a capture already cleaned."""
    found: list[tuple[int, Observation]] = []
    for kind in KINDS:
        obs = kind.read(capture)
        if obs is not None:
            obs.source = source
            found.append((kind.rank, obs))
    found.sort(key=lambda item: item[0])
    return [obs for _, obs in found]


def ranked(observations: list[Observation]) -> list[Observation]:
    """``observations`` of several inputs, most authoritative kind first (stable otherwise), as
    :func:`conda_torch.machine.merge` wants them."""
    ranks = {k.name: k.rank for k in KINDS}
    return sorted(observations, key=lambda o: ranks.get(o.kind, 50))


def lenient_kinds() -> frozenset[str]:
    """Names of the kinds that read pasted reports leniently (``Kind.lenient``)."""
    return frozenset(k.name for k in KINDS if k.lenient)


def parse_text(text: str, source: str = "") -> list[Observation]:
    """Observations from one captured output; ``UnrecognisedInputError`` if nothing claims it."""
    found = observe(text, source)
    if not found:
        raise UnrecognisedInputError(source or "input", expected=kind_names())
    return found


def read_capture(path: str) -> str:
    """Read a capture file (``-``: standard input), refusing what cannot be one (empty, binary,
    huge, unreadable)."""
    data = read_input_bytes(path, limit=MAX_BYTES, what="a captured output")
    if path == STDIN:
        path = STDIN_LABEL
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # PowerShell's `>` writes UTF-16 with a BOM
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise InputFileError(path, "is not valid UTF-16 text") from None
    elif b"\x00" in data[:65536]:
        raise InputFileError(path, "is binary; expected the text output of a detection command")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:  # Windows consoles save in the ANSI code page
            text = data.decode("latin-1")
    if not text.strip():
        raise InputFileError(path, "is empty; expected the text output of a detection command")
    return text


def parse_file(path: str) -> list[Observation]:
    return parse_text(read_capture(path), source=STDIN_LABEL if path == STDIN else path)
