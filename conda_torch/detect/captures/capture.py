"""A captured output cleaned once (:class:`Capture`), and what every capture reader uses.

A reader module declares ``KINDS``: a tuple of :class:`Kind` (how to recognise its output, how
to read it). Patterns are compiled when first used (:func:`lazy_re`); messages found anywhere
in a paste, wrapped over lines or not, are read with a table of patterns
(:func:`compile_table`, :func:`message_events`).
"""

from __future__ import annotations

from ...patterns import lazy_re
from ...values import field, value_class

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    import re
    from collections.abc import Callable, Iterable
    from typing import Any

    from ...machine import Observation


_QUOTE = lazy_re(r"^\s{0,3}(?:>\s?)+")
_PROMPT = lazy_re(
    r"^\s*(?:\(\S+\)\s+)?"  # an activated environment: (base)
    r"(?:[\w.-]+@[\w.-]+(?::[^\s$#]*)?\s*[$#%]"  # user@host:~$
    r"|\$|#"  # a bare $ or #
    r"|PS [A-Za-z]:\\[^>]*>|[A-Za-z]:\\[^>]*>"  # PowerShell and cmd.exe
    r"|>>>)"  # Python's REPL
    r"\s+(?P<cmd>\S.*)$"
)


#: What a pasted line carries before its content: a CI log's timestamp, a quote prefix, a
#: Markdown list bullet or emphasis.
_DECOR = lazy_re(
    r"^(?:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z?\s+)?"  # 2022-12-16T16:39:38.3607708Z
    r"(?:\s*>(?![>=]))*\s*"  # > quoted (not >>>, Python's prompt)
    r"(?:[-*+•]\s+|\d{1,2}[.)]\s+)?"  # - item, 1. item
    r"\**"  # **bold**
)


def plain_line(line: str) -> str:
    """A line without the decoration pastes add (see ``_DECOR``), and without a backtick that
    opens or closes a code span on another line (an unbalanced one at either end)."""
    out = _DECOR.sub("", line, count=1).strip()
    if out.count("`") % 2:
        if out.startswith("`"):
            out = out[1:].lstrip()
        elif out.endswith("`"):
            out = out[:-1].rstrip()
    return out


@value_class
class Capture:
    """A captured output, cleaned once for every parser."""

    text: str
    #: Lines with quote prefixes and the common indentation removed; relative indentation kept.
    lines: tuple[str, ...]
    #: Commands seen on shell-prompt lines (``$ nvidia-smi -L`` -> ``nvidia-smi -L``).
    commands: tuple[str, ...] = field(default=())
    #: ``lines`` without what pastes wrap around content (:func:`plain_line`), stripped: what
    #: the lenient readers of pasted reports read.
    plain: tuple[str, ...] = field(default=())

    @classmethod
    def from_text(cls, text: str) -> Capture:
        raw = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        # Strip "> " e-mail/markdown quote prefixes only when most non-empty lines carry them.
        nonempty = [ln for ln in raw if ln.strip()]
        quoted = sum(1 for ln in nonempty if _QUOTE.match(ln))
        if nonempty and quoted * 2 >= len(nonempty):
            raw = [_QUOTE.sub("", ln, count=1) for ln in raw]
        raw = [ln.rstrip() for ln in raw]
        indents = [len(ln) - len(ln.lstrip()) for ln in raw if ln.strip()]
        cut = min(indents) if indents else 0
        lines = tuple(ln[cut:] for ln in raw)
        commands = tuple(m.group("cmd").strip() for ln in lines if (m := _PROMPT.match(ln)))
        return cls(
            text=text, lines=lines, commands=commands, plain=tuple(plain_line(ln) for ln in lines)
        )

    def ran(self, *words: str) -> bool:
        """Whether a prompt line shows a command containing all of ``words``."""
        return any(all(w in cmd for w in words) for cmd in self.commands)


def joined(capture: Capture) -> tuple[str, tuple[int, ...]]:
    """The plain lines joined by single spaces, so a message wrapped over lines (a console's
    width, a paste tool's) reads as one, and the offset where each line starts."""
    starts: list[int] = []
    pos = 0
    for line in capture.plain:
        starts.append(pos)
        pos += len(line) + 1
    return " ".join(capture.plain), tuple(starts)


def line_at(capture: Capture, starts: tuple[int, ...], offset: int) -> str:
    """The plain line that holds ``offset`` of :func:`joined`'s text."""
    import bisect

    return capture.plain[max(0, bisect.bisect_right(starts, offset) - 1)]


def match_line(capture: Capture, starts: tuple[int, ...], m: re.Match[str]) -> str:
    """The line a message matched in :func:`joined`'s text is quoted by: where its own words
    start (after a leading ``name`` group, which may reach back into the line before, and
    after blanks)."""
    offset = m.start()
    if "name" in m.re.groupindex and m.group("name") is not None:
        offset = m.end("name")
    text = m.string
    while offset < m.end() and text[offset].isspace():
        offset += 1
    return line_at(capture, starts, offset)


def compile_table(table: Iterable[tuple[str, str]]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """``(event id, pattern)`` rows with their patterns compiled."""
    return tuple((event, lazy_re(pattern)) for event, pattern in table)


def message_events(
    capture: Capture, table: Iterable[tuple[str, re.Pattern[str]]]
) -> list[dict[str, Any]]:
    """Every match of a table's patterns in the paste's joined text, as events: the ``id``, the
    line it is quoted by (:func:`match_line`) and the named groups that matched."""
    text, starts = joined(capture)
    events: list[dict[str, Any]] = []
    for event, pattern in table:
        for m in pattern.finditer(text):
            fields = {k: v for k, v in m.groupdict().items() if v is not None}
            events.append({"id": event, "line": match_line(capture, starts, m), **fields})
    return events


@value_class
class Kind:
    """One kind of captured input: how to recognise it and how to read it."""

    #: The input kind, as shown to users ("nvidia-smi", "nvidia-smi -q", "rocminfo", ...).
    name: str
    #: Whether a capture is this kind's; ``None``: the kind reads every capture and claims it
    #: when what it read holds a fact, package or event (``Observation.found``), as a lenient
    #: reader's recognising is its reading (one pass, not two).
    recognise: Callable[[Capture], bool] | None
    parse: Callable[[Capture], Observation]
    #: Lower ranks are more authoritative and win when two inputs disagree.
    rank: int = 50
    #: A reader of pasted reports (facts found anywhere in mixed text), not of one command's
    #: whole output: ``detect`` says so in a note.
    lenient: bool = False

    def read(self, capture: Capture) -> Observation | None:
        """What this kind reads from ``capture``; None where the capture is not this kind's."""
        if self.recognise is None:
            obs = self.parse(capture)
            return obs if obs.found else None
        return self.parse(capture) if self.recognise(capture) else None
