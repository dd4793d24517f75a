"""A captured output cleaned once (:class:`Capture`), and what every capture reader uses.

A reader module declares ``KINDS``: a tuple of :class:`Kind` (how to recognise its output, how
to read it). Patterns are compiled when first used (:func:`lazy_re`); messages found anywhere
in a paste, wrapped over lines or not, are read with a table of patterns
(:func:`compile_table`, :func:`message_events`).
"""

from __future__ import annotations

import re

from ...values import field, value_class

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from typing import Any

    from ...machine import Observation


class LazyPattern:
    """A regular expression compiled when first used (``re.compile``'s arguments; the compiled
    pattern's methods and attributes).

    Every ``--from`` imports every reader module to recognise its input, and compiling their
    150-odd patterns at import was most of that import; one input uses about half of them
    (DESIGN.md, "Start-up time"). Before its first compilation, a search of a text that lacks
    every literal one of which a match needs (:func:`required_literals`: ``"NVIDIA-SMI"`` of
    ``NVIDIA-SMI\\s+(?P<smi>\\S+)``) answers "no match" without compiling: most of a paste's
    readers look for what it does not say.
    """

    __slots__ = ("_args", "_compiled", "_literals")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self._args = (pattern, flags)
        self._compiled: re.Pattern[str] | None = None
        self._literals: tuple[str, ...] | None = None

    def _absent(self, text: object) -> bool:
        """Whether ``text`` cannot match: not compiled yet and without the required literal."""
        if self._compiled is not None or not isinstance(text, str):
            return False
        literals = self._literals
        if literals is None:
            literals = self._literals = required_literals(*self._args)
        for literal in literals:
            if literal in text:
                return False
        return bool(literals)

    def _compile(self) -> re.Pattern[str]:
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = re.compile(*self._args)
        return compiled

    def __getattr__(self, name: str) -> Any:
        return getattr(self._compile(), name)


def _lazy_method(name: str, nothing: Callable[[], Any]) -> Callable[..., Any]:
    """:class:`LazyPattern`'s ``name``: ``nothing()`` where the text lacks every required
    literal, else the compiled pattern's method (straight away once compiled: a reader calls
    these once per line of a paste)."""
    method = getattr(re.Pattern, name)

    def call(self: LazyPattern, string: str, *args: int) -> Any:
        compiled = self._compiled
        if compiled is None:
            if self._absent(string):
                return nothing()
            compiled = self._compile()
        return method(compiled, string, *args)

    call.__name__ = call.__qualname__ = name
    return call


def _none() -> None:
    return None


for _name, _nothing in (
    ("search", _none), ("match", _none), ("fullmatch", _none), ("finditer", lambda: iter(())),
    ("findall", list),
):  # fmt: skip
    setattr(LazyPattern, _name, _lazy_method(_name, _nothing))
del _name, _nothing


def required_literals(pattern: str, flags: int = 0) -> tuple[str, ...]:
    """Texts one of which every match of ``pattern`` contains, or ``()`` where that is not
    sure (a branch with no literal it needs, inline flags, ``re.IGNORECASE``, ``re.VERBOSE``).

    Of each top-level branch: its longest run of literal characters, read outside classes and
    before no ``?``, ``*`` or ``{``; or, where a group it needs offers more (``(?:macOS|OS X)``,
    read the same way inside), that group's texts. Lookarounds and back-references give none.
    """
    if flags & (re.IGNORECASE | re.VERBOSE):
        return ()
    return _one_of(pattern) or ()


#: The tokens :func:`required_literals` reads a pattern in: one pass in C, not a loop over
#: characters in Python (the pre-check must cost well under the compilation it saves).
_TOKEN_PATTERN = (
    r"\\(?P<esc>[^A-Za-z0-9])"  # an escaped special character: itself
    # \d, \x41, \012, \1 (what a code or a reference stands for is not read), a class, ...
    r"|(?P<other>\\(?:x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|N\{[^}]*\}|[0-9]{1,3}|.)"
    r"|\[\^?\]?(?:\\.|[^\]\\])*\]|[.^$\]}])"
    r"|(?P<count>\{[^}]*\})"
    r"|(?P<open>\((?:\?P<\w+>|\?:|\?)?)"  # a group: captured, named, plain, another kind
    r"|(?P<close>\))"
    r"|(?P<bar>\|)"
    r"|(?P<quant>[?*+])"
    r"|(?P<lit>[^\\\[\](){}|?*+.^$]+)"
    r"|(?P<brace>\{)"
)
_TOKENS: list[re.Pattern[str]] = []


class _Branches:
    """One group (or the whole pattern) while :func:`_one_of` reads it."""

    __slots__ = ("found", "runs", "run", "groups", "sure")

    def __init__(self, sure: bool) -> None:
        self.found: list[str] | None = []
        self.runs: list[str] = []
        self.run = ""
        self.groups: list[tuple[str, ...]] = []
        self.sure = sure  # False: a lookaround, back-reference or condition

    def end_run(self) -> None:
        if self.run:
            self.runs.append(self.run)
            self.run = ""

    def end_branch(self) -> None:
        self.end_run()
        best = max(self.runs, key=len, default="")
        widest = max(self.groups, key=lambda g: min(map(len, g)), default=())
        need = (best,) if best and (not widest or len(best) >= min(map(len, widest))) else widest
        if self.found is not None:
            self.found = self.found + list(need) if need else None
        self.runs, self.groups = [], []

    def result(self) -> tuple[str, ...] | None:
        self.end_branch()
        return tuple(self.found) if self.sure and self.found else None


def _one_of(pattern: str) -> tuple[str, ...] | None:
    """The texts one of which every match of ``pattern`` contains (None: not sure)."""
    if not _TOKENS:
        _TOKENS.append(re.compile(_TOKEN_PATTERN, re.DOTALL))
    found = _TOKENS[0].finditer(pattern)
    tokens = [(m.lastgroup, m.group(m.lastgroup or 0), m.end()) for m in found]
    tokens.append(("end", "", len(pattern)))
    stack = [_Branches(sure=True)]
    for k, (kind, text, end) in enumerate(tokens[:-1]):
        nxt_kind, nxt_text, _ = tokens[k + 1]
        after = nxt_text[:1] if nxt_kind in ("quant", "count") else ""
        top = stack[-1]
        if kind == "lit" or kind == "esc":
            if after in ("?", "*", "{"):  # its last character is optional or repeated
                top.run += text[:-1]
                top.end_run()
            else:
                top.run += text
                if after == "+":  # once at least: in, but the run ends
                    top.end_run()
            continue
        top.end_run()
        if kind == "open":
            if text == "(?" and pattern[end : end + 1] in "aiLmsux-":
                return None  # inline flags
            stack.append(_Branches(sure=text != "(?"))
        elif kind == "close" and len(stack) > 1:
            need = stack.pop().result()
            if need and after not in ("?", "*", "{"):
                stack[-1].groups.append(need)
        elif kind == "bar":
            top.end_branch()
    return stack[0].result() if len(stack) == 1 else None


def lazy_re(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """``re.compile(pattern, flags)``, compiled when first used (:class:`LazyPattern`)."""
    return LazyPattern(pattern, flags)  # type: ignore[return-value]


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
