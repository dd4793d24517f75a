"""What was asked against what is installed, compared the way conda compares them.

One comparison for every place that holds a request next to an installed package: a plan's
``torchvision 0.28.*`` or ``torch 2.13.0`` against the version the probe imported (``validate``'s
planned-build check, ``doctor``'s drift), a team file's ``pytorch=2.5=*cuda*`` against a plan's
release (``generate -f``, ``create -f``), a history request against a record (``recreate``).

Where conda can be imported, conda's own classes answer (``conda.models.version.VersionOrder``
and ``VersionSpec``, ``conda.models.match_spec.MatchSpec``). Where it cannot (``conda-torch``
stand-alone), :class:`VersionOrder`, :class:`VersionSpec` and :func:`parse_match_spec` below
follow the same documented rules (conda's ``models/version.py`` and ``models/match_spec.py``,
conda 26.7); ``tests/test_specs.py`` runs both on the same inputs and requires equal answers:

* versions are compared component by component after lower-casing: an epoch ``N!``, the
  release split on ``.`` and ``_`` (``-`` counts as ``_`` when there is no ``_``), a local part
  after ``+``; each component is split into runs of digits and letters, digits compare as
  numbers, letters as strings, a string sorts before a number, ``dev`` before other letters and
  ``post`` after everything; a missing component is ``0`` (``1.1 == 1.1.0``), a component that
  starts with letters gets a ``0`` in front (``1.1.a1 == 1.1.0a1``); a trailing ``_`` stays part
  of the last component (openssl's ``1.1.1_`` < ``1.1.1a``);
* a version spec is ``*``, an exact version (``2.13.0``: equal by the order above), a series
  (``0.28.*``, ``=0.28``: the version starts with it component by component, so ``=1.1.1``
  takes ``1.1.1k`` and ``=2.5`` does not take ``2.50``), a relation (``>=``, ``<``, ``!=``,
  ``~=``), a glob inside the version (``1.*.1``), a regular expression ``^...$``, and ``,``
  (and) / ``|`` (or) with parentheses;
* a package spec ``name[ version[ build]]`` (or ``name=version=build``, ``name==version``,
  ``[version=..., build=...]``) where ``=X`` alone means the series ``X.*`` but ``=X=BUILD``
  means exactly ``X``, and the build is a glob (``cuda*``) or a ``^...$`` expression.

The one deliberate addition, in :func:`installed_matches` only: a pip wheel's local version
tag (``2.13.0+cpu``) names its build, which the planned-build check compares on its own; an
asked version without a ``+`` is compared with the installed version's public part.
"""

from __future__ import annotations

import functools
import re
from itertools import zip_longest

from .models import normalize
from .patterns import lazy_re

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from typing import Any


class InvalidSpec(ValueError):
    """A version or package spec conda refuses (``InvalidVersionSpec``, ``InvalidMatchSpec``)."""


# ---------------------------------------------------------------------------------------------
# conda's own classes, where conda can be imported


@functools.lru_cache(maxsize=1)
def _conda_models() -> Any:
    """conda's ``(VersionOrder, VersionSpec, MatchSpec, errors)``, or None without conda."""
    try:
        from conda.exceptions import InvalidMatchSpec, InvalidVersionSpec
        from conda.models.match_spec import MatchSpec
        from conda.models.version import VersionOrder, VersionSpec
    except Exception:  # not installed, or an install too broken to use
        return None
    return VersionOrder, VersionSpec, MatchSpec, (InvalidVersionSpec, InvalidMatchSpec)


def conda_available() -> bool:
    """Whether conda's own classes answer in this process."""
    return _conda_models() is not None


# ---------------------------------------------------------------------------------------------
# the stand-alone implementation


_ALLOWED = lazy_re(r"^[*.+!_0-9a-z]+$")
_RUNS = lazy_re(r"[0-9]+|[*]+|[^0-9*]+")


def _components(part: str, source: str) -> list[Any]:
    runs = _RUNS.findall(part)
    if not runs:
        raise InvalidSpec(f"{source!r}: empty version component")
    out: list[Any] = []
    for run in runs:
        if run.isdigit():
            out.append(int(run))
        elif run == "post":
            out.append(float("inf"))  # after every number
        elif run == "dev":
            out.append("DEV")  # upper case sorts before every other (lower-case) string
        else:
            out.append(run)
    return out if part[0].isdigit() else [0, *out]


@functools.total_ordering
class VersionOrder:
    """A conda version, ordered as conda orders them (see the module docstring)."""

    __slots__ = ("local", "norm", "release")
    FILL = 0

    def __init__(self, text: str) -> None:
        version = str(text).strip().lower()
        if not version:
            raise InvalidSpec(f"{text!r}: empty version string")
        if not _ALLOWED.match(version) and "-" in version and "_" not in version:
            version = version.replace("-", "_")
        if not _ALLOWED.match(version):
            raise InvalidSpec(f"{text!r}: invalid character(s)")
        self.norm = version
        epoch_split = version.split("!")
        if len(epoch_split) > 2:
            raise InvalidSpec(f"{text!r}: duplicated epoch separator '!'")
        if len(epoch_split) == 2 and not epoch_split[0].isdigit():
            raise InvalidSpec(f"{text!r}: epoch must be an integer")
        epoch = epoch_split[0] if len(epoch_split) == 2 else "0"
        local_split = epoch_split[-1].split("+")
        if len(local_split) > 2:
            raise InvalidSpec(f"{text!r}: duplicated local version separator '+'")
        main = local_split[0]
        if not main:
            raise InvalidSpec(f"{text!r}: missing version before local version separator '+'")
        local = local_split[1].replace("_", ".").split(".") if len(local_split) == 2 else []
        if main.endswith("_"):  # openssl-style 1.1.1_: the underscore stays in the component
            parts = main[:-1].replace("_", ".").split(".")
            parts[-1] += "_"
        else:
            parts = main.replace("_", ".").split(".")
        self.release = [_components(p, str(text)) for p in [epoch, *parts]]
        self.local = [_components(p, str(text)) for p in local]

    def __str__(self) -> str:
        return self.norm

    def __repr__(self) -> str:
        return f"VersionOrder({self.norm!r})"

    @classmethod
    def _same(cls, a: list[Any], b: list[Any]) -> bool:
        for x, y in zip_longest(a, b, fillvalue=[]):
            for cx, cy in zip_longest(x, y, fillvalue=cls.FILL):
                if cx != cy:
                    return False
        return True

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VersionOrder):
            return NotImplemented
        return self._same(self.release, other.release) and self._same(self.local, other.local)

    def __hash__(self) -> int:  # pragma: no cover - equal versions need not hash alike here
        return hash(self.norm)

    def __lt__(self, other: VersionOrder) -> bool:
        for mine, theirs in ((self.release, other.release), (self.local, other.local)):
            for x, y in zip_longest(mine, theirs, fillvalue=[]):
                for cx, cy in zip_longest(x, y, fillvalue=self.FILL):
                    if cx == cy:
                        continue
                    if isinstance(cx, str) and not isinstance(cy, str):
                        return True  # a string sorts before a number
                    if isinstance(cy, str) and not isinstance(cx, str):
                        return False
                    return cx < cy
        return False

    def startswith(self, other: VersionOrder) -> bool:
        """Whether this version is in the series ``other`` (``=other`` / ``other.*``)."""
        if other.local:
            if not self._same(self.release, other.release):
                return False
            mine, theirs = self.local, other.local
        else:
            mine, theirs = self.release, other.release
        last = len(theirs) - 1
        if not self._same(mine[:last], theirs[:last]):
            return False
        head = mine[last] if len(mine) > last else []
        tail = theirs[last]
        n = len(tail) - 1
        if not self._same([head[:n]], [tail[:n]]):
            return False
        mine_last = head[n] if len(head) > n else self.FILL
        want = tail[n]
        if isinstance(want, str):
            return isinstance(mine_last, str) and mine_last.startswith(want)
        return mine_last == want


_RELATION = lazy_re(r"^(=|==|!=|<=|>=|<|>|~=)(?![=<>!~])(\S+)$")
_TREE_CHARS = lazy_re(r".*[()|,^$]")
_TOKENS = lazy_re(r"\s*\^[^$]*[$]|\s*[()|,]|[^()|,]+")


def _compatible(have: VersionOrder, want: VersionOrder) -> bool:
    return have >= want and have.startswith(VersionOrder(".".join(str(want).split(".")[:-1])))


_OPERATORS = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "=": lambda a, b: a.startswith(b),
    "!=startswith": lambda a, b: not a.startswith(b),
    "~=": _compatible,
}


def _tree(text: str) -> Any:
    """``"1.2,>1|2"`` -> ``("|", (",", "1.2", ">1"), "2")``: ``,`` binds tighter than ``|``."""
    output: list[Any] = []
    stack: list[str] = []

    def reduce(stop: str) -> None:
        while stack and stack[-1] not in stop:
            if len(output) < 2:
                raise InvalidSpec(f"{text!r}: cannot join single expression")
            op = stack.pop()
            right = output.pop()
            right = right[1:] if right[0] == op else (right,)
            left = output.pop()
            left = left[1:] if left[0] == op else (left,)
            output.append((op, *left, *right))

    for raw in _TOKENS.findall(f"({text})"):
        token = raw.strip()
        if token == "|":
            reduce("(")
            stack.append("|")
        elif token == ",":
            reduce("|(")
            stack.append(",")
        elif token == "(":
            stack.append("(")
        elif token == ")":
            reduce("(")
            if not stack or stack[-1] != "(":
                raise InvalidSpec(f"{text!r}: expression must start with '('")
            stack.pop()
        else:
            output.append(token)
    if stack or not output:
        raise InvalidSpec(f"{text!r}: unable to convert to an expression")
    return output[0]


class VersionSpec:
    """A conda version spec; :meth:`match` takes a version string."""

    def __init__(self, spec: Any) -> None:
        if isinstance(spec, str) and _TREE_CHARS.match(spec):
            spec = _tree(spec)
        self._parts: tuple[VersionSpec, ...] = ()
        self._any = False
        if isinstance(spec, tuple):
            self._any = spec[0] == "|"
            self._parts = tuple(VersionSpec(s) for s in spec[1:])
            self._kind = "tree"
            return
        text = str(spec).strip()
        if not text:
            raise InvalidSpec("empty version spec")
        self.text = text
        if text[0] == "^" or text[-1] == "$":
            if text[0] != "^" or text[-1] != "$":
                raise InvalidSpec(f"{text!r}: regex specs must start with '^' and end with '$'")
            self._kind, self._regex = "regex", re.compile(text)
        elif text[0] in "=<>!~":
            m = _RELATION.match(text)
            if m is None:
                raise InvalidSpec(f"{text!r}: invalid operator")
            op, value = m.groups()
            if value.endswith(".*"):
                if op == "~=":
                    raise InvalidSpec(f"{text!r}: invalid operator with '.*'")
                if op == "!=":
                    op = "!=startswith"
                value = value[:-2]
            self._kind, self._op, self._want = "op", op, VersionOrder(value)
        elif text == "*":
            self._kind = "any"
        elif "*" in text.rstrip("*"):
            rx = text.replace(".", r"\.").replace("+", r"\+").replace("*", r".*")
            self._kind, self._regex = "regex", re.compile(rf"^(?:{rx})$")
        elif text.endswith("*"):
            self._kind, self._op = "op", "="
            self._want = VersionOrder(text.rstrip("*").rstrip("."))
        elif "@" not in text:
            self._kind, self._op, self._want = "op", "==", VersionOrder(text)
        else:
            self._kind = "exact"

    def match(self, version: str) -> bool:
        if self._kind == "tree":
            test = any if self._any else all
            return test(part.match(version) for part in self._parts)
        if self._kind == "any":
            return True
        if self._kind == "regex":
            return bool(self._regex.match(version))
        if self._kind == "exact":
            return self.text == version
        return bool(_OPERATORS[self._op](VersionOrder(str(version)), self._want))


_BRACKETS = lazy_re(r".*(?:(\[.*\]))")
_BRACKET_KV = lazy_re(r"([a-zA-Z0-9_-]+?)=([\"']?)([^'\"]*?)(\2)(?:[, ]|$)")
_NAME_REST = lazy_re(r"([^ =<>!~]+)?([><!=~ ].+)?")
_VERSION_BUILD = lazy_re(r"((?:.+?)[^><!,|]?)(?:(?<![=!|,<>~])(?:[ =])([^-=,|<>~]+?))?$")


def _sanitize(version: str, build: str | None) -> str:
    """conda's reading of a leading ``=``: ``=1.2`` is the series ``1.2*`` unless a build
    follows (``=1.2=py3*`` is exactly 1.2); ``==1.2`` without a build is ``1.2``."""
    if version in ("==", "=") or not version.startswith("="):
        return version
    bare = version.lstrip("=")
    if version.startswith("==") and build is None:
        return bare
    if not any(c in bare for c in "=,|"):
        return bare + "*" if build is None and not bare.endswith("*") else bare
    return version


def parse_match_spec(spec: str) -> tuple[str, str | None, str | None, str | None]:
    """``(name, version spec, build glob, channel)`` of a conda package spec (comment dropped)."""
    text = spec.split("#", 1)[0].split(" if ", 1)[0].strip()
    brackets: dict[str, str] = {}
    m = _BRACKETS.match(text)
    if m:
        text = text.replace(m.group(1), "")
        for kv in _BRACKET_KV.finditer(m.group(1)[1:-1]):
            key, _, value, _ = kv.groups()
            if not key or not value:
                raise InvalidSpec(f"{spec!r}: key-value mismatch in brackets")
            brackets[key] = _sanitize(value, None) if key == "version" else value
    pieces = text.rsplit(":", 2)  # channel::name
    text = pieces[-1]
    channel = brackets.get("channel") or (pieces[0] if len(pieces) == 3 and pieces[0] else None)
    m2 = _NAME_REST.match(text)
    name, rest = m2.groups() if m2 else (None, None)
    if not name:
        raise InvalidSpec(f"{spec!r}: no package name found")
    version = build = None
    rest = rest and rest.strip()
    if rest:
        if "[" in rest:
            raise InvalidSpec(f"{spec!r}: multiple brackets sections not allowed")
        parts = _VERSION_BUILD.search(rest)
        version, build = parts.groups() if parts else (rest, None)
        version = version.replace(" ", "") if version else version
        build = build.strip() if build else build
        version = _sanitize(version, build) if version else version
    version = brackets.get("version", version)
    build = brackets.get("build", build)
    return name.lower(), version, build, channel


def _glob_matches(pattern: str, value: str) -> bool:
    if pattern.startswith("^") and pattern.endswith("$"):
        return bool(re.match(pattern, value))
    if "*" in pattern:
        rx = re.escape(pattern).replace(r"\*", ".*")
        return bool(re.match(rf"^(?:{rx})$", value))
    return pattern == value


# ---------------------------------------------------------------------------------------------
# the comparisons everything else uses


def version_matches(spec: str | None, version: str) -> bool:
    """Whether ``version`` is in conda's version spec ``spec`` (None: anything).

    An invalid spec or version raises :class:`InvalidSpec`.
    """
    if spec is None:
        return True
    models = _conda_models()
    if models is not None:
        _order, vspec, _match, errors = models
        try:
            return bool(vspec(spec).match(version))
        except errors as exc:
            raise InvalidSpec(str(exc)) from None
    return VersionSpec(spec).match(version)


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as conda orders versions ``a`` and ``b``."""
    models = _conda_models()
    order: Any = VersionOrder
    errors: Any = ()
    if models is not None:
        order, errors = models[0], models[3]
    try:
        va, vb = order(a), order(b)
    except errors as exc:
        raise InvalidSpec(str(exc)) from None
    return 0 if va == vb else (-1 if va < vb else 1)


def package_matches(
    spec: str, name: str, version: str, build: str = "", channel: str | None = None
) -> bool:
    """Whether an installed ``name version build`` (from ``channel``: a name such as
    ``conda-forge``) satisfies the package spec ``spec``."""
    models = _conda_models()
    if models is not None:
        _order, _vspec, match_spec, errors = models
        record = {"name": name, "version": version, "build": build, "build_number": 0}
        if channel:
            record["channel"] = channel
        try:
            return bool(match_spec(spec).match(record))
        except errors as exc:
            raise InvalidSpec(str(exc)) from None
    want_name, want_version, want_build, want_channel = parse_match_spec(spec)
    if not _glob_matches(want_name, name.lower()):
        return False
    if want_channel and want_channel.rstrip("/").rsplit("/", 1)[-1] != (channel or ""):
        return False
    if want_version is not None and not VersionSpec(want_version).match(version):
        return False
    return want_build is None or _glob_matches(want_build, build)


def installed_matches(asked: str | None, installed: str | None) -> bool:
    """Whether an installed version is what was asked: the one comparison of a request (a plan's
    ``0.28.*``, ``2.13.0``, ``=2.5``) with what is there (``0.28.0``, ``2.13.0+cpu``).

    Nothing asked, or nothing known about what is installed, is no mismatch. A request that is
    not a conda version spec is compared as text.
    """
    if not asked or not installed:
        return True
    asked, have = asked.strip(), installed.strip()
    if "+" not in asked:
        have = have.split("+", 1)[0]
    try:
        return version_matches(asked, have)
    except InvalidSpec:
        return asked == have


# -- names ---------------------------------------------------------------------------------

#: The package name that starts a conda MatchSpec string, after an optional ``channel::``.
CONDA_SPEC_NAME = lazy_re(r"^\s*(?:[^\s:]+::)?(?P<name>[A-Za-z0-9_][A-Za-z0-9_.\-]*)")
_PIP_NAME = lazy_re(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9_.\-]*)")


def conda_name(spec: str) -> str | None:
    """The package name of a conda MatchSpec string (``conda-forge::pytorch>=2`` -> pytorch)."""
    m = CONDA_SPEC_NAME.match(spec)
    return m.group("name").lower() if m else None


def pip_name(line: str) -> str | None:
    """The distribution name of a pip requirement line (None for option lines)."""
    if line.lstrip().startswith("-"):
        return None
    m = _PIP_NAME.match(line)
    return normalize(m.group("name")) if m else None


__all__ = [
    "CONDA_SPEC_NAME", "InvalidSpec", "VersionOrder", "VersionSpec", "compare", "conda_available",
    "conda_name", "installed_matches", "package_matches", "parse_match_spec", "pip_name",
    "version_matches",
]  # fmt: skip
