"""Regular expressions compiled when first used (:func:`lazy_re`), and skipped without
compiling where a text lacks what every match needs (:func:`required_literals`).

A command imports many more patterns than its input asks for: every ``--from`` imports every
capture reader, and each module of the library keeps its patterns at module level. Compiling
one costs about 80 microseconds (``re``'s parser is Python); a command compiles the ones it uses
(DESIGN.md, "Start-up time").
"""

from __future__ import annotations

import re

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["LazyPattern", "lazy_re", "required_literals"]


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
        """Whether ``text`` cannot match, asked before the first compilation: it lacks every
        required literal."""
        if not isinstance(text, str):
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
