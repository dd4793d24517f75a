#!/usr/bin/env python3
"""Rebuild the per-build channel data from the channels' own sources.

Writes, deterministically:

* ``data/conda-forge/builds.yaml``: one row per conda-forge pytorch / torchvision / torchaudio
  build group (package, version, build number, subdir, CUDA compiler, variant), read from the
  feedstocks' first-parent history (``main`` and every ``vX.x`` branch): the recipe at each
  commit, its ``.ci_support/*.yaml`` variant files and its build scripts; plus a ``facts:``
  section with the cross-cutting recipe rules (run_exports, ``__cuda``, ``cuda-version``).
* ``data/pytorch-channel/builds.yaml``: what pytorch/builder's conda recipe declares for the
  frozen ``pytorch`` channel, one row per release branch (1.12 … 2.5).

The sources are git mirrors. Bring them with the search tool's ``fetch`` (or any
``git clone --mirror``)::

    fetch github:conda-forge/pytorch-cpu-feedstock
    fetch github:conda-forge/torchvision-feedstock
    fetch github:conda-forge/torchaudio-feedstock
    fetch github:conda-forge/cuda-nvcc-feedstock
    fetch github:conda-forge/cuda-version-feedstock
    fetch github:pytorch/builder

``fetch`` puts each at ``MIRRORS/OWNER+NAME/repo``; pass that root, or each path::

    python3 tools/feedstock_builds.py --mirrors MIRRORS            # write both files
    python3 tools/feedstock_builds.py --mirrors MIRRORS --check    # exit 1 if they differ
    python3 tools/feedstock_builds.py --repo conda-forge/torchvision-feedstock=/path/to/git ...

Nothing here runs code from the mirrors: recipes are rendered by a small evaluator of the
Jinja/selector subset they use, and build scripts by a small evaluator of their ``if``/``case``
structure around ``TORCH_CUDA_ARCH_LIST``. What it cannot evaluate is written as
``unverified`` on the row, never guessed silently. Standard library and ruamel.yaml only.
"""

from __future__ import annotations

import argparse
import fnmatch
import io
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from conda_torch.models import version_tuple  # noqa: E402  (the one version parser)

CF_OUT = ROOT / "data" / "conda-forge" / "builds.yaml"
PC_OUT = ROOT / "data" / "pytorch-channel" / "builds.yaml"

PYTORCH = "conda-forge/pytorch-cpu-feedstock"
TORCHVISION = "conda-forge/torchvision-feedstock"
TORCHAUDIO = "conda-forge/torchaudio-feedstock"
NVCC = "conda-forge/cuda-nvcc-feedstock"
CUDA_VERSION = "conda-forge/cuda-version-feedstock"
BUILDER = "pytorch/builder"
REPOS = (PYTORCH, TORCHVISION, TORCHAUDIO, NVCC, CUDA_VERSION, BUILDER)

# feedstock -> (package it builds, oldest version covered: the one paired with torch 1.12)
FEEDSTOCKS = {
    PYTORCH: ("pytorch", (1, 12)),
    TORCHVISION: ("torchvision", (0, 13)),
    TORCHAUDIO: ("torchaudio", (0, 0)),
}
CI_SKIP = ("[ci skip]", "[skip ci]", "***NO_CI***", "[skip azp]", "[azp skip]")
SUBDIRS = ("linux-64", "linux-aarch64", "osx-64", "osx-arm64", "win-64")
BUILDER_BRANCHES = tuple(f"release/{v}" for v in
                         ("1.12", "1.13", "2.0", "2.1", "2.2", "2.3", "2.4", "2.5"))


class Unknown(Exception):
    """An expression needs a value this evaluator does not have."""


class FeedstockError(Exception):
    """A source could not be read as expected (one line, no traceback at the CLI)."""


# --------------------------------------------------------------------------------------------
# Jinja / selector expressions (the subset conda recipes use)
# --------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"""\s*(?:
    (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<num>\d+(?:\.\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|//|\*\*|[<>()\[\]{},.|~+\-*/%:=])
)""", re.VERBOSE)


def _tokens(text: str) -> list[tuple[str, Any]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise Unknown(f"cannot tokenize {text[pos:pos + 20]!r}")
        pos = m.end()
        if m.group("str") is not None:
            out.append(("const", m.group("str")[1:-1].encode().decode("unicode_escape")))
        elif m.group("num") is not None:
            n = m.group("num")
            out.append(("const", float(n) if "." in n else int(n)))
        elif m.group("name") is not None:
            out.append(("name", m.group("name")))
        else:
            out.append(("op", m.group("op")))
    out.append(("end", None))
    return out


class _Undefined:
    def __init__(self, name: str = "?"):
        self.name = name

    def __repr__(self) -> str:
        return f"UNDEFINED({self.name})"


UNDEFINED = _Undefined()


def _defined(v: Any) -> Any:
    if isinstance(v, _Undefined):
        raise Unknown(f"undefined name {v.name}")
    return v


def version_to_buildstring(v: Any) -> str:
    """rattler-build's filter: '3.12.* *_cpython' -> '312', '12.8' -> '128'."""
    first = str(_defined(v)).split()[0].rstrip(".*")
    return "".join(first.split(".")[:2])


def _vtuple(v: str) -> tuple[int, ...]:
    """The version of a spec's first word (``"12.0 cuda"``, ``"1.2.*"``)."""
    return version_tuple(v.split()[0])


def version_match(value: Any, spec: str) -> bool:
    """rattler-build's ``match(var, spec)`` for the comparisons recipes use (>=12, ==3.14)."""
    value = str(_defined(value))
    if value == "None":
        return False
    result = True
    for part in spec.split(","):
        m = re.fullmatch(r"\s*(>=|<=|==|!=|>|<|=)?\s*([\d.*]+)\s*", part)
        if not m:
            raise Unknown(f"match spec {spec!r}")
        op, ver = m.group(1) or "==", m.group(2)
        if ver.endswith("*"):
            ok = value.startswith(ver.rstrip("*"))
            result = result and (ok if op in ("==", "=") else not ok)
            continue
        a, b = _vtuple(value), _vtuple(ver)
        a = a[:len(b)] if op in ("==", "=", "!=") else a
        result = result and {"==": a == b, "=": a == b, "!=": a != b, ">=": a >= b,
                             "<=": a <= b, ">": a > b, "<": a < b}[op]
    return result


_FILTERS: dict[str, Callable[..., Any]] = {
    "replace": lambda v, a, b: str(_defined(v)).replace(a, b),
    "int": lambda v: int(float(_defined(v))),
    "float": lambda v: float(_defined(v)),
    "string": lambda v: str(_defined(v)),
    "lower": lambda v: str(_defined(v)).lower(),
    "upper": lambda v: str(_defined(v)).upper(),
    "default": lambda v, d="", *_: d if isinstance(v, _Undefined) or v is None else v,
    "version_to_buildstring": version_to_buildstring,
    "join": lambda v, sep="": sep.join(str(x) for x in _defined(v)),
    "length": lambda v: len(_defined(v)),
    "trim": lambda v: str(_defined(v)).strip(),
}


class _Parser:
    """Recursive descent over Jinja's expression grammar; evaluates as it goes."""

    def __init__(self, text: str, ns: dict[str, Any]):
        self.toks = _tokens(text)
        self.i = 0
        self.ns = ns

    def peek(self, kind: str, value: Any = None) -> bool:
        k, v = self.toks[self.i]
        return k == kind and (value is None or v == value)

    def take(self, kind: str, value: Any = None) -> Any:
        if not self.peek(kind, value):
            raise Unknown(f"expected {value or kind} at {self.toks[self.i]}")
        self.i += 1
        return self.toks[self.i - 1][1]

    def parse(self) -> Any:
        v = self.ternary()
        if not self.peek("end"):
            raise Unknown(f"trailing {self.toks[self.i]}")
        return v

    def ternary(self) -> Any:
        v = self.or_()
        if self.peek("name", "if"):
            self.take("name")
            cond = self.or_()
            other: Any = None  # Jinja's missing else renders as nothing
            if self.peek("name", "else"):
                self.take("name")
                other = self.ternary()
            return v if _truthy(cond) else other
        return v

    def or_(self) -> Any:
        v = self.and_()
        while self.peek("name", "or"):
            self.take("name")
            w = self.and_()
            v = v if _truthy(v) else w
        return v

    def and_(self) -> Any:
        v = self.not_()
        while self.peek("name", "and"):
            self.take("name")
            w = self.not_()
            v = w if _truthy(v) else v
        return v

    def not_(self) -> Any:
        if self.peek("name", "not"):
            self.take("name")
            return not _truthy(self.not_())
        return self.compare()

    def compare(self) -> Any:
        v = self.concat()
        while True:
            if self.peek("op") and self.toks[self.i][1] in ("==", "!=", "<", ">", "<=", ">="):
                op = self.take("op")
                w = self.concat()
                v = _compare(op, v, w)
            elif self.peek("name", "in"):
                self.take("name")
                w = self.concat()
                v = _defined(v) in _defined(w)
            elif self.peek("name", "not") and self.toks[self.i + 1] == ("name", "in"):
                self.i += 2
                w = self.concat()
                v = _defined(v) not in _defined(w)
            elif self.peek("name", "is"):
                self.take("name")
                neg = bool(self.peek("name", "not") and self.take("name"))
                test = self.take("name")
                if test != "defined":
                    raise Unknown(f"test {test}")
                r = not isinstance(v, _Undefined)
                v = (not r) if neg else r
            else:
                return v

    def concat(self) -> Any:
        v = self.additive()
        while self.peek("op", "~"):
            self.take("op")
            w = self.additive()
            v = str(_defined(v)) + str(_defined(w))
        return v

    def additive(self) -> Any:
        v = self.term()
        while self.peek("op") and self.toks[self.i][1] in ("+", "-"):
            op = self.take("op")
            w = self.term()
            v = _defined(v) + _defined(w) if op == "+" else _defined(v) - _defined(w)
        return v

    def term(self) -> Any:
        v = self.unary()
        while self.peek("op") and self.toks[self.i][1] in ("*", "/", "//", "%"):
            op = self.take("op")
            w = self.unary()
            a, b = _defined(v), _defined(w)
            v = {"*": lambda: a * b, "/": lambda: a / b, "//": lambda: a // b,
                 "%": lambda: a % b}[op]()
        return v

    def unary(self) -> Any:
        if self.peek("op", "-"):
            self.take("op")
            return -_defined(self.unary())
        return self.filtered()

    def filtered(self) -> Any:
        v = self.postfix()
        while self.peek("op", "|"):
            self.take("op")
            name = self.take("name")
            args = self.call_args() if self.peek("op", "(") else []
            if name not in _FILTERS:
                raise Unknown(f"filter {name}")
            v = _FILTERS[name](v, *args)
        return v

    def call_args(self) -> list[Any]:
        self.take("op", "(")
        args = []
        while not self.peek("op", ")"):
            if self.peek("name") and self.toks[self.i + 1] == ("op", "="):
                self.i += 2  # keyword argument: keep its value positionally after the others
            args.append(self.ternary())
            if not self.peek("op", ")"):
                self.take("op", ",")
        self.take("op", ")")
        return args

    def postfix(self) -> Any:
        v = self.primary()
        while True:
            if self.peek("op", "."):
                self.take("op")
                attr = self.take("name")
                if self.peek("op", "("):
                    args = self.call_args()
                    obj = _defined(v)
                    if isinstance(obj, dict) and attr == "get":
                        v = obj.get(args[0], args[1] if len(args) > 1 else None)
                    elif isinstance(obj, str) and attr in ("replace", "split", "startswith",
                                                          "endswith", "lower", "upper",
                                                          "strip", "join", "rsplit"):
                        v = getattr(obj, attr)(*args)
                    else:
                        raise Unknown(f"method {attr}")
                else:
                    obj = _defined(v)
                    v = obj.get(attr, UNDEFINED) if isinstance(obj, dict) else UNDEFINED
            elif self.peek("op", "["):
                self.take("op")
                idx = self.ternary()
                self.take("op", "]")
                v = _defined(v)[_defined(idx)]
            elif self.peek("op", "("):
                args = self.call_args()
                if not callable(v):
                    raise Unknown("call of a non-function")
                v = v(*args)
            else:
                return v

    def primary(self) -> Any:
        kind, val = self.toks[self.i]
        if kind == "const":
            self.i += 1
            return val
        if kind == "name":
            self.i += 1
            if val in ("true", "True"):
                return True
            if val in ("false", "False"):
                return False
            if val in ("none", "None"):
                return None
            return self.ns.get(val, _Undefined(val))
        if self.peek("op", "("):
            self.take("op")
            items = [self.ternary()]
            tup = False
            while self.peek("op", ","):
                self.take("op")
                tup = True
                if self.peek("op", ")"):
                    break
                items.append(self.ternary())
            self.take("op", ")")
            return tuple(items) if tup else items[0]
        if self.peek("op", "["):
            self.take("op")
            items = []
            while not self.peek("op", "]"):
                items.append(self.ternary())
                if not self.peek("op", "]"):
                    self.take("op", ",")
            self.take("op", "]")
            return items
        raise Unknown(f"unexpected {self.toks[self.i]}")


def _truthy(v: Any) -> bool:
    return bool(_defined(v))


def _compare(op: str, a: Any, b: Any) -> bool:
    a, b = _defined(a), _defined(b)
    if op == "==":
        return a == b
    if op == "!=":
        return a != b
    return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]


def evaluate(expr: str, ns: dict[str, Any]) -> Any:
    """Evaluate one Jinja (or conda-build selector) expression; raise Unknown if it cannot."""
    try:
        return _Parser(expr, ns).parse()
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
        raise Unknown(str(exc)) from exc


# --------------------------------------------------------------------------------------------
# Variants and recipe rendering
# --------------------------------------------------------------------------------------------

def _platform_ns(subdir: str) -> dict[str, Any]:
    os_, arch = subdir.split("-")
    return {
        "linux": os_ == "linux", "osx": os_ == "osx", "win": os_ == "win",
        "unix": os_ in ("linux", "osx"), "aarch64": arch == "aarch64",
        "arm64": arch == "arm64", "x86_64": arch == "64", "x86": arch == "64",
        "linux64": subdir == "linux-64", "ppc64le": False, "s390x": False, "armv7l": False,
        "win64": subdir == "win-64", "osx64": subdir == "osx-64", "win32": False,
        "target_platform": subdir, "host_platform": subdir,
        # conda-forge cross-compiles osx-arm64 on osx-64 and linux-aarch64 on linux-64
        "build_platform": {"osx-arm64": "osx-64", "linux-aarch64": "linux-64"}.get(subdir, subdir),
    }


def _scalar(v: Any) -> Any:
    return v[0] if isinstance(v, list) and len(v) == 1 else v


def python_version(entry: str) -> str:
    """'3.12.* *_cpython' -> '3.12'."""
    return ".".join(str(entry).split()[0].split(".")[:2])


def namespace(variant: dict[str, Any], python: str | None, rattler: bool) -> dict[str, Any]:
    """What a recipe sees for one variant (conda-build selectors+Jinja, or rattler-build)."""
    subdir = str(_scalar(variant["target_platform"]))
    ns: dict[str, Any] = {}
    for k, v in variant.items():
        if k in ("zip_keys", "pin_run_as_build"):
            continue
        v = _scalar(v)
        if isinstance(v, str) and v.lower() in ("true", "false"):
            v = v.lower() == "true"  # conda-build reads variant 'False' as a boolean
        ns[k] = str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
    ns.update(_platform_ns(subdir))
    ns["target_platform"] = subdir
    ns["cuda_compiler_version"] = str(ns.get("cuda_compiler_version", "None"))
    ns.setdefault("blas_impl", "generic" if rattler else UNDEFINED)
    if python is not None:
        tag = int(version_to_buildstring(python))
        ns.update(py=tag, py3k=True, py2k=False, PY_VER=python_version(python),
                  CONDA_PY=str(tag), python=python if rattler else python_version(python))
    ns["environ"] = {k: str(v) for k, v in ns.items() if isinstance(v, (str, int))}
    ns["env"] = {}  # rattler-build's env.get(): conda-forge CI sets none of what recipes read
    ns["PKG_HASH"] = "*"
    ns["hash"] = "*"
    ns["match"] = version_match
    ns["compiler"] = lambda lang, *a: f"{lang}_compiler_stub"
    ns["stdlib"] = lambda lang, *a: f"{lang}_stdlib_stub"
    ns["pin_subpackage"] = lambda name, *a, **k: f"{name}"
    ns["pin_compatible"] = lambda name, *a, **k: f"{name}"
    ns["cdt"] = lambda name: name
    ns["load_file_regex"] = lambda *a, **k: None
    return ns


def selector(sel: str, ns: dict[str, Any]) -> bool:
    """conda-build's eval_selector: a name the variant lacks counts as False."""
    local = dict(ns)
    for _ in range(20):
        try:
            return _truthy(evaluate(sel, local))
        except Unknown as exc:
            m = re.match(r"undefined name (\w+)", str(exc))
            if not m or m.group(1) in local:
                raise Unknown(f"selector [{sel}]: {exc}") from exc
            local[m.group(1)] = False
    raise Unknown(f"selector [{sel}]")


_SELECTOR = re.compile(r"^(?P<body>.*?)\s+#\s*\[(?P<sel>[^\[\]]+)\]\s*$")


def apply_selectors(text: str, ns: dict[str, Any]) -> str:
    """conda-build's FilteredLoader: drop lines whose ``# [selector]`` is false, before Jinja."""
    out = []
    for line in text.splitlines():
        m = _SELECTOR.match(line)
        if m and not line.lstrip().startswith("#"):
            keep = selector(m.group("sel"), ns)
            if not keep:
                continue
            line = m.group("body")
        out.append(line)
    return "\n".join(out) + "\n"


_JINJA = re.compile(r"(\{%-?.*?-?%\}|\{\{.*?\}\}|\{#.*?#\})", re.DOTALL)


def render_jinja(text: str, ns: dict[str, Any]) -> str:
    """Render the statements recipes use: set, if/elif/else, for, {{ }}; comments dropped."""
    parts = _JINJA.split(text)
    out: list[str] = []
    _render_parts(parts, 0, len(parts), ns, out)
    return "".join(out)


def _stmt(part: str) -> str | None:
    if part.startswith("{%"):
        return part.strip("{%-} \n\t").strip()
    return None


def _block_end(parts: list[str], start: int, end: int, opener: str, closer: str) -> int:
    depth = 0
    for j in range(start, end):
        s = _stmt(parts[j])
        if s is None:
            continue
        word = s.split()[0] if s else ""
        if word == opener:
            depth += 1
        elif word == closer:
            depth -= 1
            if depth == 0:
                return j
    raise Unknown(f"unclosed {opener}")


def _render_parts(parts: list[str], i: int, end: int, ns: dict[str, Any], out: list[str]) -> None:
    while i < end:
        part = parts[i]
        s = _stmt(part)
        if part.startswith("{#"):
            i += 1
            continue
        if part.startswith("{{"):
            try:
                v = evaluate(part[2:-2].strip("- "), ns)
                out.append("" if isinstance(v, _Undefined) or v is None else str(v))
            except Unknown:
                out.append("")
            i += 1
            continue
        if s is None:
            out.append(part)
            i += 1
            continue
        word = s.split()[0]
        if word == "set":
            m = re.match(r"set\s+(\w+)\s*=\s*(.*)$", s, re.DOTALL)
            if m:
                try:
                    ns[m.group(1)] = evaluate(m.group(2), ns)
                except Unknown:
                    ns[m.group(1)] = UNDEFINED
            i += 1
        elif word == "if":
            close = _block_end(parts, i, end, "if", "endif")
            # split into branches at this depth
            branches: list[tuple[str | None, int, int]] = []
            depth, cond, start = 0, s[2:].strip(), i + 1
            for j in range(i + 1, close):
                sj = _stmt(parts[j])
                if sj is None:
                    continue
                w = sj.split()[0] if sj else ""
                if w in ("if", "for"):
                    depth += 1
                elif w in ("endif", "endfor"):
                    depth -= 1
                elif depth == 0 and w in ("elif", "else"):
                    branches.append((cond, start, j))
                    cond = sj[4:].strip() if w == "elif" else None
                    start = j + 1
            branches.append((cond, start, close))
            for cond, a, b in branches:
                if cond is None:
                    _render_parts(parts, a, b, ns, out)
                    break
                try:
                    taken = _truthy(evaluate(cond, ns))
                except Unknown:
                    taken = False
                if taken:
                    _render_parts(parts, a, b, ns, out)
                    break
            i = close + 1
        elif word == "for":
            close = _block_end(parts, i, end, "for", "endfor")
            m = re.match(r"for\s+(\w+)\s+in\s+(.*)$", s, re.DOTALL)
            try:
                items = _defined(evaluate(m.group(2), ns)) if m else []
            except Unknown:
                items = []
            for item in items:
                ns[m.group(1)] = item
                _render_parts(parts, i + 1, close, ns, out)
            i = close + 1
        else:
            i += 1  # macros, raw, endraw ... never seen in these recipes' relevant parts


_yaml_safe = YAML(typ="safe", pure=True)
_yaml_safe.allow_duplicate_keys = True  # conda-build (PyYAML) accepts them too


def load_yaml(text: str) -> Any:
    return _yaml_safe.load(text)


@dataclass(frozen=True)
class Rendered:
    """The fields of one package in one rendered recipe for one variant and Python."""

    version: str
    number: int
    string: str | None
    skip: bool
    host: tuple[str, ...]
    run: tuple[str, ...]
    uses_stdlib: bool
    uses_cuda: bool      # the rendered build requirements hold the CUDA compiler


def _reqs(section: Any, key: str) -> tuple[str, ...]:
    if not isinstance(section, dict):
        return ()
    items = section.get(key) or []
    return tuple(" ".join(str(x).split()) for x in items if x is not None and str(x).strip())


def render_meta_yaml(text: str, ns: dict[str, Any], package: str) -> Rendered:
    """conda-build meta.yaml: selectors, then Jinja, then YAML; the named output's fields."""
    ns = dict(ns)
    ns.setdefault("PKG_BUILDNUM", "{PKG_BUILDNUM}")
    rendered = render_jinja(apply_selectors(text, ns), ns)
    try:
        meta = load_yaml(rendered) or {}
    except Exception as exc:  # ruamel raises several error types
        raise Unknown(f"rendered meta.yaml is not YAML: {str(exc).splitlines()[0]}") from exc
    top_build = meta.get("build") or {}
    out = next((o for o in meta.get("outputs") or [] if isinstance(o, dict)
                and o.get("name") == package), None)
    build = dict(top_build)
    reqs = meta.get("requirements") or {}
    if out is not None:
        build.update(out.get("build") or {})
        if "requirements" in out:
            reqs = out.get("requirements") or {}
            if isinstance(reqs, list):
                reqs = {"run": reqs}
    elif (meta.get("package") or {}).get("name") != package:
        raise Unknown(f"no output named {package}")
    number = int(build.get("number", 0))
    string = build.get("string")
    if string is not None:
        string = str(string).replace("{PKG_BUILDNUM}", str(number))
    skip = bool(top_build.get("skip")) or bool((out or {}).get("build", {}).get("skip")
                                              if out else False)
    return Rendered(
        version=str((meta.get("package") or {}).get("version")),
        number=number, string=string, skip=skip,
        host=_reqs(reqs, "host"), run=_reqs(reqs, "run"),
        uses_stdlib="stdlib(" in text,
        uses_cuda="cuda_compiler_stub" in _reqs(meta.get("requirements") or {}, "build")
        + _reqs(reqs, "build"))


_RATTLER_EXPR = re.compile(r"\$\{\{((?:(?!\}\}).)*)\}\}", re.DOTALL)


def _rattler_value(value: Any, ns: dict[str, Any]) -> Any:
    if isinstance(value, str):
        m = _RATTLER_EXPR.fullmatch(value.strip())
        if m:
            return evaluate(m.group(1), ns)

        def sub(mm: re.Match) -> str:
            v = evaluate(mm.group(1), ns)
            return "" if isinstance(v, _Undefined) or v is None else str(v)
        return _RATTLER_EXPR.sub(sub, value)
    if isinstance(value, list):
        out: list[Any] = []
        for item in value:
            if isinstance(item, dict) and "if" in item and "then" in item:
                cond = item["if"]
                taken = _truthy(evaluate(cond, ns)) if isinstance(cond, str) else bool(cond)
                branch = item["then"] if taken else item.get("else", [])
                branch = branch if isinstance(branch, list) else [branch]
                out.extend(_rattler_value(branch, ns))
            else:
                v = _rattler_value(item, ns)
                if v is not None and v != "":
                    out.append(v)
        return out
    if isinstance(value, dict):
        return {k: _rattler_value(v, ns) for k, v in value.items()}
    return value


def render_recipe_yaml(text: str, ns: dict[str, Any], package: str) -> Rendered:
    """rattler-build recipe.yaml: context, then ${{ }} and if/then/else; the named output."""
    ns = dict(ns)
    raw = load_yaml(text) or {}
    for k, v in (raw.get("context") or {}).items():
        try:
            ns[k] = _rattler_value(v, ns)
        except Unknown:
            ns[k] = UNDEFINED
    top_build = _rattler_value(raw.get("build") or {}, ns)
    out = None
    for o in raw.get("outputs") or []:
        if (o.get("package") or {}).get("name") == package:
            out = {k: _rattler_value(o.get(k) or {}, ns) for k in ("build", "requirements")}
    reqs = top_reqs = _rattler_value(raw.get("requirements") or {}, ns)
    build = dict(top_build)
    if out is not None:
        build.update(out.get("build") or {})
        reqs = out.get("requirements") or reqs
    skip_items = top_build.get("skip", False)
    skip_items = skip_items if isinstance(skip_items, list) else [skip_items]
    skip = False
    for item in skip_items:
        if isinstance(item, str):
            v = evaluate(item, ns)
            skip = skip or (_truthy(v) if not isinstance(v, str) else v.lower() == "true")
        else:
            skip = skip or bool(item)
    version = str(ns.get("version", (raw.get("recipe") or raw.get("package") or {})
                         .get("version")))
    return Rendered(version=version, number=int(build.get("number", 0)),
                    string=build.get("string"), skip=skip,
                    host=_reqs(reqs, "host"), run=_reqs(reqs, "run"),
                    uses_stdlib="stdlib(" in text,
                    uses_cuda="cuda_compiler_stub" in _reqs(top_reqs, "build")
                    + _reqs(reqs, "build"))


# --------------------------------------------------------------------------------------------
# Build scripts: the TORCH_CUDA_ARCH_LIST a variant gets
# --------------------------------------------------------------------------------------------

ARCH_VAR = "TORCH_CUDA_ARCH_LIST"
FROM_PYTORCH = "<CF_TORCH_CUDA_ARCH_LIST>"  # torchvision takes pytorch's list (activate.sh)


class BuildExit(Exception):
    """The script exits non-zero for this variant (it would not build)."""


@dataclass
class ArchResult:
    value: str | None = None       # the list as the script sets it, None when never set
    unknown: str | None = None     # why it could not be evaluated
    failed: bool = False           # the script exits for this variant


_ASSIGNS_ARCH = re.compile(rf'(?:^|\s|")-?D?{ARCH_VAR}=|^(?:export\s+)?{ARCH_VAR}=|set\s+"?{ARCH_VAR}=', re.I)

Node = tuple  # ('cmd', text) | ('if', [(cond|None, body)]) | ('case', word, [(pats, body)])


def _strip_sh_comment(line: str) -> str:
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t;"):
            return line[:i]
    return line


def _split_sh(line: str) -> list[str]:
    out, cur, quote, i = [], "", None, 0
    while i < len(line):
        ch = line[i]
        if quote:
            quote = None if ch == quote else quote
            cur += ch
        elif ch in "'\"":
            quote = ch
            cur += ch
        elif ch == ";":
            if line[i:i + 2] == ";;":
                out += [cur, ";;"]
                i += 1
            else:
                out.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    out.append(cur)
    return [s.strip() for s in out if s.strip()]


def shell_statements(text: str) -> list[str]:
    """Statements of a bash script: comments, heredoc bodies and continuations handled."""
    stmts: list[str] = []
    lines = text.replace("\\\n", " ").splitlines()
    i = 0
    while i < len(lines):
        line = _strip_sh_comment(lines[i])
        i += 1
        m = re.search(r"<<-?\s*['\"]?(\w+)['\"]?", line)
        if m:
            while i < len(lines) and lines[i].strip() != m.group(1):
                i += 1
            i += 1
        stmts.extend(_split_sh(line))
    return stmts


def parse_shell(text: str) -> list[Node]:
    stmts = shell_statements(text)
    pos = 0

    def block(stops: tuple[str, ...]) -> list[Node]:
        nonlocal pos
        nodes: list[Node] = []
        while pos < len(stmts):
            s = stmts[pos]
            word = s.split()[0]
            if word in stops or s in stops:
                return nodes
            pos += 1
            if word == "if":
                branches = [(s[2:].strip(), None)]
                bodies = []
                while True:
                    if pos < len(stmts) and stmts[pos] == "then":
                        pos += 1
                    bodies.append(block(("elif", "else", "fi")))
                    if pos >= len(stmts):
                        raise Unknown("unterminated if")
                    nxt = stmts[pos]
                    pos += 1
                    w = nxt.split()[0]
                    if w == "elif":
                        branches.append((nxt[4:].strip(), None))
                    elif w == "else":
                        rest = nxt[4:].strip()
                        if rest:
                            stmts.insert(pos, rest)
                        branches.append((None, None))
                    else:
                        break
                nodes.append(("if", [(c, b) for (c, _), b in zip(branches, bodies)]))
            elif word == "case":
                m = re.match(r"case\s+(.+?)\s+in\s*(.*)$", s)
                if not m:
                    raise Unknown(f"case: {s}")
                if m.group(2):
                    stmts.insert(pos, m.group(2))
                items = []
                while pos < len(stmts) and stmts[pos] != "esac":
                    pm = re.match(r"^\(?([^)]*)\)\s*(.*)$", stmts[pos])
                    if not pm:
                        raise Unknown(f"case pattern: {stmts[pos]}")
                    pos += 1
                    if pm.group(2):
                        stmts.insert(pos, pm.group(2))
                    body = block((";;", "esac"))
                    if pos < len(stmts) and stmts[pos] == ";;":
                        pos += 1
                    items.append(([p.strip() for p in pm.group(1).split("|")], body))
                pos += 1
                nodes.append(("case", m.group(1), items))
            elif word in ("for", "while", "until"):
                if pos < len(stmts) and stmts[pos].split()[0] == "do":
                    rest = stmts[pos][2:].strip()
                    pos += 1
                    if rest:
                        stmts.insert(pos, rest)
                body = block(("done",))
                pos += 1
                nodes.append(("opaque", body))
            elif word in ("then", "do", "{", "}") or re.match(r"^\w+\s*\(\)\s*\{?$", s):
                continue
            else:
                m = re.match(r"^\[\[(.*)\]\]\s*&&\s*(.+)$", s)
                if m:
                    nodes.append(("if", [("[[" + m.group(1) + "]]", [("cmd", m.group(2))])]))
                else:
                    nodes.append(("cmd", s))
        return nodes

    nodes = block(())
    return nodes


def _contains_arch(nodes: list[Node]) -> bool:
    """Does this subtree set the arch list? (A branch that only exits is taken as not taken
    when its condition cannot be evaluated: the build did happen, so it did not exit.)"""
    for n in nodes:
        if n[0] in ("cmd", "bat_if1"):
            if _ASSIGNS_ARCH.search(n[1]):
                return True
        elif n[0] == "if":
            if any(_contains_arch(b) for _, b in n[1]):
                return True
        elif n[0] == "case":
            if any(_contains_arch(b) for _, b in n[2]):
                return True
        elif _contains_arch(n[1]):
            return True
    return False


def _sh_expand(word: str, env: dict[str, str]) -> str:
    if "$(" in word or "`" in word:
        raise Unknown(f"command substitution in {word}")

    def braced(m: re.Match) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        val = env.get(name)
        if op == ":-":
            return val if val else arg
        if op == ":" and arg is not None:
            if val is None:
                raise Unknown(f"${name}")
            a = arg.split(":")
            start = int(a[0])
            return val[start:start + int(a[1])] if len(a) > 1 else val[start:]
        if op:
            raise Unknown(f"${{{name}{op}...}}")
        if val is None:
            raise Unknown(f"${name}")
        return val

    word = re.sub(r"\$\{(\w+)(:-|:|%%|%|##|#|/)?([^}]*)\}", braced, word)

    def plain(m: re.Match) -> str:
        if m.group(1) not in env:
            raise Unknown(f"${m.group(1)}")
        return env[m.group(1)]
    return re.sub(r"\$(\w+)", plain, word)


def _sh_words(cond: str) -> list[str]:
    import shlex
    try:
        return shlex.split(cond)
    except ValueError as exc:
        raise Unknown(str(exc)) from exc


def _sh_cond(cond: str, env: dict[str, str]) -> bool:
    words = [w for w in _sh_words(cond) if w not in ("[[", "]]", "[", "]", "test")]
    if "(" in words or ")" in words:
        raise Unknown("parenthesised condition")
    if "||" in words:
        i = words.index("||")
        return _sh_cond(" ".join(_q(words[:i])), env) or _sh_cond(" ".join(_q(words[i + 1:])), env)
    if "&&" in words:
        i = words.index("&&")
        return _sh_cond(" ".join(_q(words[:i])), env) and _sh_cond(" ".join(_q(words[i + 1:])), env)
    if words and words[0] == "!":
        return not _sh_cond(" ".join(_q(words[1:])), env)
    if len(words) == 2 and words[0] in ("-z", "-n"):
        v = _sh_expand(words[1], env)
        return (v == "") if words[0] == "-z" else (v != "")
    if len(words) == 3 and words[1] in ("==", "=", "!="):
        lhs, rhs = _sh_expand(words[0], env), _sh_expand(words[2], env)
        hit = fnmatch.fnmatchcase(lhs, rhs)
        return hit if words[1] != "!=" else not hit
    raise Unknown(f"condition {cond!r}")


def _q(words: list[str]) -> list[str]:
    import shlex
    return [shlex.quote(w) for w in words]


def _sh_value(raw: str, env: dict[str, str], current: str | None) -> str:
    raw = raw.strip()
    if raw[:1] in "'\"" and raw[-1:] == raw[:1]:
        raw = raw[1:-1]
    local = dict(env)
    local[ARCH_VAR] = current or ""
    local["CF_TORCH_CUDA_ARCH_LIST"] = FROM_PYTORCH
    return _sh_expand(raw, local)


def _run_sh(nodes: list[Node], env: dict[str, str], res: ArchResult) -> None:
    for n in nodes:
        if res.unknown:
            return
        kind = n[0]
        if kind == "cmd":
            s = n[1]
            m = re.match(rf"^(?:export\s+)?{ARCH_VAR}=(.*)$", s)
            cm = re.search(rf"-D{ARCH_VAR}=([^\s\"']+)", s)
            if m:
                try:
                    res.value = _sh_value(m.group(1), env, res.value)
                except Unknown as exc:
                    res.unknown = f"{ARCH_VAR} value: {exc}"
            elif cm:
                res.value = cm.group(1)
            elif re.match(rf"^unset\s+{ARCH_VAR}\b", s):
                res.value = None
            elif re.match(r"^exit\s+[1-9]", s):
                raise BuildExit(s)
        elif kind == "if":
            for cond, body in n[1]:
                if cond is None:
                    _run_sh(body, env, res)
                    break
                try:
                    taken = _sh_cond(cond, env)
                except Unknown as exc:
                    if any(_contains_arch(b) for _, b in n[1]):
                        res.unknown = f"if {cond}: {exc}"
                    break
                if taken:
                    _run_sh(body, env, res)
                    break
        elif kind == "case":
            try:
                word = _sh_expand(" ".join(_sh_words(n[1])), env)
            except Unknown as exc:
                if any(_contains_arch(b) for _, b in n[2]):
                    res.unknown = f"case {n[1]}: {exc}"
                continue
            for pats, body in n[2]:
                if any(fnmatch.fnmatchcase(word, p.strip("\"'")) for p in pats):
                    _run_sh(body, env, res)
                    break
        elif _contains_arch(n[1]):
            res.unknown = "TORCH_CUDA_ARCH_LIST set inside a loop"


def _bat_expand(text: str, env: dict[str, str]) -> str:
    def var(m: re.Match) -> str:
        name, sub = m.group(1) or m.group(3), m.group(2)
        if name.upper() == ARCH_VAR:
            val = env.get(ARCH_VAR, "")
        elif name in env:
            val = env[name]
        else:
            raise Unknown(f"%{name}%")
        if sub:
            a = [int(x) for x in sub.split(",")]
            val = val[a[0]:a[0] + a[1]] if len(a) > 1 else val[a[0]:]
        return val
    return re.sub(r"%(\w+)(?::~([\d,]+))?%|!(\w+)!", var, text)


_BAT_COND = re.compile(r'^(not\s+)?("[^"]*"|\S+?)\s*(==|\s+EQU\s+|\s+NEQ\s+)\s*("[^"]*"|\S+)\s*(.*)$',
                       re.IGNORECASE)


def _bat_cond(text: str, env: dict[str, str]) -> tuple[bool, str]:
    """'not "%a%" == "b" (' -> (value, rest-after-condition)."""
    m = _BAT_COND.match(text.strip())
    if not m or re.match(r"^(not\s+)?(exist|defined|errorlevel)\b", text.strip(), re.I):
        raise Unknown(f"if {text}")
    lhs = _bat_expand(m.group(2), env).strip('"')
    rhs = _bat_expand(m.group(4), env).strip('"')
    eq = lhs == rhs if m.group(3).strip().upper() in ("==", "EQU") else lhs != rhs
    return (not eq) if m.group(1) else eq, m.group(5).strip()


def parse_bat(text: str) -> list[tuple[str, str]]:
    """Lines of a .bat file with comments dropped, as (kind, text) events."""
    events = []
    for raw in text.replace("^\n", " ").splitlines():
        line = raw.strip()
        low = line.lower()
        if not line or low.startswith(("rem ", "@rem", "::")) or low == "rem":
            continue
        events.append(line)
    return events


def _bat_blocks(lines: list[str]) -> list[Node]:
    pos = 0

    def block() -> list[Node]:
        nonlocal pos
        nodes: list[Node] = []
        while pos < len(lines):
            line = lines[pos]
            if line.startswith(")"):
                return nodes
            pos += 1
            m = re.match(r"^if\s+(.*)\($", line, re.I)
            if m:
                branches = [(m.group(1).strip(), block())]
                while pos < len(lines) and lines[pos].startswith(")"):
                    closing = lines[pos]
                    pos += 1
                    em = re.match(r"^\)\s*else\s+if\s+(.*)\($", closing, re.I)
                    if em:
                        branches.append((em.group(1).strip(), block()))
                    elif re.match(r"^\)\s*else\s*\($", closing, re.I):
                        branches.append((None, block()))
                    else:
                        break
                nodes.append(("if", branches))
            elif re.match(r"^if\s", line, re.I):
                nodes.append(("bat_if1", line[2:].strip()))
            elif line.endswith("(") and not line.startswith("set"):
                nodes.append(("opaque", block()))
                if pos < len(lines) and lines[pos].startswith(")"):
                    pos += 1
            else:
                nodes.append(("cmd", line))
        return nodes
    return block()


def _bat_set(line: str, env: dict[str, str], res: ArchResult) -> None:
    m = re.match(rf'^set\s+"?{ARCH_VAR}=(.*?)"?\s*$', line, re.I)
    if m:
        local = dict(env)
        local[ARCH_VAR] = res.value or ""
        try:
            res.value = _bat_expand(m.group(1), local)
        except Unknown as exc:
            res.unknown = f"{ARCH_VAR} value: {exc}"
    elif re.match(r"^exit\s+(/b\s+)?[1-9]", line, re.I):
        raise BuildExit(line)


def _run_bat(nodes: list[Node], env: dict[str, str], res: ArchResult) -> None:
    for n in nodes:
        if res.unknown:
            return
        if n[0] == "cmd":
            _bat_set(n[1], env, res)
        elif n[0] == "bat_if1":
            try:
                ok, rest = _bat_cond(n[1], env)
            except Unknown as exc:
                if _ASSIGNS_ARCH.search(n[1]):
                    res.unknown = str(exc)
                continue
            if ok:
                _bat_set(rest, env, res)
        elif n[0] == "if":
            for cond, body in n[1]:
                if cond is None:
                    _run_bat(body, env, res)
                    break
                try:
                    ok, _ = _bat_cond(cond + " (", env)
                except Unknown as exc:
                    if any(_contains_arch(b) for _, b in n[1]):
                        res.unknown = str(exc)
                    break
                if ok:
                    _run_bat(body, env, res)
                    break
        elif _contains_arch(n[1]):
            res.unknown = "TORCH_CUDA_ARCH_LIST set inside an opaque block"


def arch_list(script: str, env: dict[str, str], windows: bool) -> ArchResult:
    """Evaluate a build script's TORCH_CUDA_ARCH_LIST for one variant (env: its variables)."""
    res = ArchResult()
    try:
        if windows:
            _run_bat(_bat_blocks(parse_bat(script)), env, res)
        else:
            _run_sh(parse_shell(script), env, res)
    except BuildExit:
        res.failed = True
    except Unknown as exc:
        res.unknown = str(exc)
    return res


# --------------------------------------------------------------------------------------------
# Git mirrors
# --------------------------------------------------------------------------------------------

class Repo:
    """Read-only access to one git mirror (no work tree) through ``git cat-file --batch``."""

    def __init__(self, name: str, path: Path):
        self.name, self.path = name, path
        if not (path / "HEAD").exists() and not (path / ".git").exists():
            raise FeedstockError(f"{name}: no git repository at {path} (fetch github:{name})")
        self._cat = subprocess.Popen(["git", "-C", str(path), "cat-file", "--batch"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._cache: dict[tuple[str, str], str | None] = {}

    def git(self, *args: str) -> str:
        return subprocess.run(["git", "-C", str(self.path), *args], capture_output=True,
                              text=True, check=True).stdout

    def show(self, commit: str, path: str) -> str | None:
        key = (commit, path)
        if key not in self._cache:
            assert self._cat.stdin and self._cat.stdout
            self._cat.stdin.write(f"{commit}:{path}\n".encode())
            self._cat.stdin.flush()
            header = self._cat.stdout.readline().decode()
            if header.rstrip().endswith("missing") or len(header.split()) < 3:
                self._cache[key] = None
            else:
                size = int(header.split()[2])
                data = self._cat.stdout.read(size)
                self._cat.stdout.read(1)
                self._cache[key] = data.decode("utf-8", "replace")
        return self._cache[key]

    def ls(self, commit: str, folder: str) -> list[str]:
        out = self.git("ls-tree", "--name-only", commit, folder.rstrip("/") + "/")
        return sorted(out.split())

    def branches(self) -> list[str]:
        refs = self.git("for-each-ref", "--format=%(refname:short)", "refs/heads").split()
        keep = [r for r in refs if r == "main" or re.fullmatch(r"v\d+\.\d+\.x", r)]
        return sorted(keep, key=lambda r: (r != "main", _vtuple(r) if r != "main" else ()))

    def head(self, ref: str) -> tuple[str, str]:
        sha, date = self.git("log", "-1", "--format=%H %cs", ref).split()
        return sha, date

    def first_parent(self, ref: str) -> list[tuple[str, int, str]]:
        out = self.git("log", "--first-parent", "--reverse", "--format=%H%x1f%ct%x1f%s", ref)
        return [(h, int(t), s) for h, t, s in (line.split("\x1f", 2) for line in out.splitlines())]


# --------------------------------------------------------------------------------------------
# conda-forge rows
# --------------------------------------------------------------------------------------------

@dataclass
class Obs:
    """One variant (one Python) as one commit's .ci_support declares it."""

    key: tuple
    python: str
    time: int
    commit: str
    path: str
    fields: dict[str, Any]


def _ver(v: str) -> tuple[int, ...]:
    return version_tuple(v)[:3]


_VERSION_RE = re.compile(r"""(?:set\s+version\s*=\s*|^\s*version:\s*)["']([^"'{}$]+)["']""", re.M)


def _raw_version(text: str) -> tuple[int, ...] | None:
    m = _VERSION_RE.search(text)
    return _ver(m.group(1)) if m else None


def _subdir_of(variant: dict[str, Any], path: str) -> str:
    tp = _scalar(variant.get("target_platform"))
    if tp:
        return str(tp)
    name = Path(path).name
    for sd in SUBDIRS:
        if name.startswith(sd.replace("-", "_") + "_") or name.startswith(sd.replace("-", "_") + "."):
            return sd
    raise Unknown(f"no subdir for {path}")


def _script_for(repo: Repo, commit: str, recipe_text: str, windows: bool) -> str | None:
    names = re.findall(r"script:\s*([\w.-]+\.(?:sh|bat))", recipe_text)
    cands = [n for n in names if n.endswith(".bat") == windows]
    cands += ["bld.bat", "build.bat", "bld_pytorch.bat"] if windows else ["build.sh",
                                                                           "build_pytorch.sh"]
    for name in cands:
        if repo.show(commit, f"recipe/{name}") is not None:
            return f"recipe/{name}"
    return None


_SOURCED = re.compile(r"""^\s*(?:source|\.|call)\s+["']?(?:\$\{?RECIPE_DIR\}?|%RECIPE_DIR%)[/\\]"""
                      r"""([\w.-]+)["']?\s*$""", re.M | re.I)


def _script_text(repo: Repo, sha: str, path: str, depth: int = 0) -> str:
    """The script with the recipe files it sources (``source $RECIPE_DIR/build.sh``) inlined."""
    text = repo.show(sha, path) or ""
    if depth > 2:
        return text
    return _SOURCED.sub(lambda m: _script_text(repo, sha, f"recipe/{m.group(1)}", depth + 1),
                        text)


def _pytorch_pin(r: Rendered, variant: dict[str, Any]) -> tuple[str | None, str]:
    for req in r.host:
        parts = req.split()
        if parts and parts[0] == "pytorch" and len(parts) > 1:
            m = re.match(r"^[=<>~]*\s*(\d+\.\d+)", parts[1])
            if m:
                return m.group(1), f"recipe host pin: {req}"
    if "pytorch" in variant:
        return str(_scalar(variant["pytorch"])), ".ci_support pytorch key"
    return None, "not pinned (resolved at build time)"


_RUN_KEEP = ("pytorch", "libtorch", "__cuda", "__glibc", "cuda-version", "triton", "mkl",
             "libblas", "nomkl", "blas", "intel-openmp", "llvm-openmp", "pytorch-cuda")


def _run_subset(r: Rendered) -> list[str]:
    return [req for req in r.run if req.split()[0] in _RUN_KEEP]


def walk_feedstock(repo: Repo, problems: list[str]) -> list[Obs]:
    package, floor = FEEDSTOCKS[repo.name]
    seen: dict[str, tuple[int, str]] = {}
    for branch in repo.branches():
        for sha, t, subject in repo.first_parent(branch):
            seen.setdefault(sha, (t, subject))
    order = sorted(seen.items(), key=lambda kv: (kv[1][0], kv[0]))
    obs: list[Obs] = []
    memo: dict[tuple, Any] = {}
    for sha, (t, subject) in order:
        if any(marker in subject for marker in CI_SKIP):
            continue
        rattler = repo.show(sha, "recipe/recipe.yaml") is not None
        recipe_path = "recipe/recipe.yaml" if rattler else "recipe/meta.yaml"
        text = repo.show(sha, recipe_path)
        if text is None:
            continue
        raw = _raw_version(text)
        if raw is not None and raw[:2] < floor:
            continue
        for path in repo.ls(sha, ".ci_support"):
            if not path.endswith(".yaml"):
                continue
            ci_text = repo.show(sha, path) or ""
            variant = load_yaml(ci_text) or {}
            if str(_scalar(variant.get("channel_targets", "conda-forge main"))) != "conda-forge main":
                continue
            try:
                subdir = _subdir_of(variant, path)
            except Unknown as exc:
                problems.append(f"{repo.name}@{sha[:12]} {path}: {exc}")
                continue
            variant["target_platform"] = subdir
            pythons = variant.get("python") or [None]
            for py in pythons:
                mkey = (hash(text), hash(ci_text), py)
                ns = namespace(variant, py, rattler)
                try:
                    if mkey not in memo:
                        render = render_recipe_yaml if rattler else render_meta_yaml
                        memo[mkey] = render(text, ns, package)
                    r = memo[mkey]
                except Unknown as exc:
                    problems.append(f"{repo.name}@{sha[:12]} {path} py={py}: {exc}")
                    continue
                if r.skip or _ver(r.version)[:2] < floor:
                    continue
                o = _observe(repo, sha, t, path, text, recipe_path, variant, py, r, package)
                if o is not None:
                    obs.append(o)
    return obs


def _observe(repo: Repo, sha: str, t: int, path: str, text: str, recipe_path: str,
             variant: dict[str, Any], py: Any, r: Rendered, package: str) -> Obs | None:
    subdir = variant["target_platform"]
    cuda = str(_scalar(variant.get("cuda_compiler_version", "None")))
    cuda = None if cuda in ("None", "") else cuda
    ci_cuda = cuda
    if cuda and not r.uses_cuda:
        cuda = None  # the job is a CUDA one, but the rendered recipe compiles no CUDA
    blas = _scalar(variant.get("blas_impl")) if package == "pytorch" else None
    arm = _scalar(variant.get("arm_variant_type"))
    arm = None if arm in (None, "None") else str(arm)
    if arm is None and cuda and subdir == "linux-aarch64" and "arm_variant_type" in text:
        arm = None
    pin, pin_from = (None, None)
    if package != "pytorch":
        pin, pin_from = _pytorch_pin(r, variant)
    stdlib = str(_scalar(variant.get("c_stdlib_version"))) if r.uses_stdlib and \
        variant.get("c_stdlib_version") is not None else None
    glibc = stdlib if subdir.startswith("linux") else None
    macos = stdlib if subdir.startswith("osx") else None
    python = python_version(py) if py is not None else None
    string = r.string
    if string and python:
        string = string.replace("py" + python.replace(".", ""), "py*", 1)
    fields: dict[str, Any] = {
        "string": string, "pytorch_from": pin_from, "run": _run_subset(r),
        "recipe": recipe_path, "unverified": [],
    }
    if ci_cuda and not cuda:
        fields["unverified"].append(
            f"the .ci_support job sets cuda_compiler_version {ci_cuda}, but the recipe as "
            "rendered there does not use the CUDA compiler: a CPU package (check the channel)")
    if macos:
        fields["macos"] = macos
    if cuda:
        windows = subdir.startswith("win")
        script = _script_for(repo, sha, text, windows)
        env = {k: str(_scalar(v)) for k, v in variant.items()
               if isinstance(_scalar(v), (str, int, float))}
        env.update(cuda_compiler_version=cuda, target_platform=subdir,
                   build_platform=_platform_ns(subdir)["build_platform"],
                   arm_variant_type=arm or "None", blas_impl=str(blas or ""),
                   OSTYPE="darwin" if subdir.startswith("osx") else "linux-gnu",
                   PKG_NAME="libtorch" if package == "pytorch" else package,
                   PREFIX="$PREFIX", BUILD_PREFIX="$BUILD_PREFIX", SRC_DIR="$SRC_DIR",
                   RECIPE_DIR="$RECIPE_DIR", LIBRARY_PREFIX="%LIBRARY_PREFIX%",
                   CF_TORCH_CUDA_ARCH_LIST=FROM_PYTORCH,
                   CONDA_BUILD_CROSS_COMPILATION="1" if subdir in ("linux-aarch64", "osx-arm64") else "")
        res = arch_list(_script_text(repo, sha, script), env, windows) if script else \
            ArchResult(unknown="no build script found")
        if res.failed:
            return None  # the build script exits for this variant: nothing was built
        fields["script"] = script
        fields["archs_raw"] = res.value
        if res.unknown:
            fields["unverified"].append(f"archs: {script} not evaluated ({res.unknown})")
    key = (package, r.version, r.number, subdir, cuda, blas, arm, pin, glibc)
    return Obs(key=key, python=python or "", time=t, commit=sha, path=path, fields=fields)


def _archs(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    return [a for a in re.split(r"[;\s]+", raw.strip()) if a]


def build_rows(all_obs: dict[str, list[Obs]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    groups: dict[tuple, list[Obs]] = {}
    for repo_name, obs in all_obs.items():
        for o in sorted(obs, key=lambda o: (o.time, o.commit, o.path)):
            g = groups.setdefault((repo_name,) + o.key, [])
            if all(x.python != o.python for x in g):
                g.append(o)
    pytorch_rows: list[tuple[dict[str, Any], int]] = []
    for gkey, g in groups.items():
        repo_name, package, version, number, subdir, cuda, blas, arm, pin, glibc = gkey
        first = g[0]
        f = first.fields
        pythons = sorted({o.python for o in g if o.python}, key=_ver)
        row: dict[str, Any] = {
            "package": package, "version": version, "number": number, "subdir": subdir,
            "cuda": cuda, "python": pythons,
        }
        if package == "pytorch":
            row["blas"] = blas
        row["arm_variant"] = arm
        if package != "pytorch":
            row["pytorch"] = pin
            row["pytorch_from"] = f["pytorch_from"]
        row["string"] = f["string"]
        row["glibc"] = glibc
        if "macos" in f:
            row["macos"] = f["macos"]
        if cuda:
            major = int(cuda.split(".")[0])
            row["cuda_version"] = f">={cuda},<{major + 1}"
            row["archs"] = _archs(f.get("archs_raw"))
            row["archs_from"] = f.get("script")
        row["run"] = f["run"]
        row["repo"] = repo_name
        row["commit"] = first.commit
        row["path"] = first.path
        row["recipe"] = f["recipe"]
        added = {o.python: o.commit for o in g[1:] if o.commit != first.commit}
        if added:
            row["added"] = dict(sorted(added.items(), key=lambda kv: _ver(kv[0])))
        unverified = list(dict.fromkeys(u for o in g for u in o.fields["unverified"]))
        for o in g[1:]:
            if cuda and o.fields.get("archs_raw") != f.get("archs_raw"):
                unverified.append(f"archs for python {o.python} (commit {o.commit[:12]}) "
                                  f"differ: {o.fields.get('archs_raw')}")
        if package != "pytorch" and pin is None:
            unverified.append("pytorch minor not pinned by recipe or .ci_support: "
                              "resolved by the solver when it was built")
        row["unverified"] = unverified
        row["_time"] = first.time
        rows.append(row)
        if package == "pytorch":
            pytorch_rows.append((row, first.time))
    for row in rows:
        if row["package"] != "pytorch" and row.get("archs") == [FROM_PYTORCH]:
            _resolve_pytorch_archs(row, pytorch_rows)
        if row.get("cuda") and row.get("archs") is None:
            row["unverified"].append(f"archs: {row['archs_from']} does not set "
                                     f"{ARCH_VAR} (torch's default at build time)")
    for row in rows:
        row.pop("_time")
        if not row["unverified"]:
            row["unverified"] = None
        elif len(row["unverified"]) == 1:
            row["unverified"] = row["unverified"][0]
    rows.sort(key=_row_order)
    return rows


def _resolve_pytorch_archs(row: dict[str, Any], pytorch_rows: list[tuple[dict, int]]) -> None:
    cands = [(r, t) for r, t in pytorch_rows
             if r["subdir"] == row["subdir"] and r["cuda"] == row["cuda"]
             and r["arm_variant"] in (row["arm_variant"], "sbsa" if row["arm_variant"] is None
                                      else row["arm_variant"])
             and ".".join(r["version"].split(".")[:2]) == row["pytorch"]
             and t <= row["_time"] and r.get("archs")]
    if not cands:
        row["archs"] = None
        row["unverified"].append("archs: CF_TORCH_CUDA_ARCH_LIST of pytorch "
                                 f"{row['pytorch']} (no matching pytorch row found)")
        return
    best, _ = max(cands, key=lambda rt: (_ver(rt[0]["version"]), rt[0]["number"], rt[1]))
    row["archs"] = best["archs"]
    row["archs_from"] = (f"{row['archs_from']}: CF_TORCH_CUDA_ARCH_LIST of pytorch "
                         f"{best['version']} build {best['number']} ({best['archs_from']} "
                         f"at {best['commit'][:12]})")
    row["unverified"].append("archs: taken from the newest matching pytorch build committed "
                             "before this one; the build actually used is not recorded")


_PKG_ORDER = {"pytorch": 0, "torchvision": 1, "torchaudio": 2}


def _row_order(row: dict[str, Any]) -> tuple:
    return (_PKG_ORDER[row["package"]], _ver(row["version"]), row["number"],
            SUBDIRS.index(row["subdir"]), _ver(row["cuda"] or "0"), row.get("blas") or "",
            row.get("arm_variant") or "", row.get("pytorch") or "", row.get("glibc") or "")


# --------------------------------------------------------------------------------------------
# Facts: the cross-cutting recipe lines, with the commit each took its present form
# --------------------------------------------------------------------------------------------

# (fact, repo, branch, path, regex of the line, what it means)
FACT_LINES = (
    ("pytorch_run_exports", PYTORCH, "main", "recipe/meta.yaml",
     r"pin_subpackage\(\s*['\"]pytorch['\"]\s*,\s*max_pin=",
     "every package built with pytorch in host gets pytorch >=X.Y.Z,<X.(Y+1): one pytorch minor"),
    ("pytorch_cuda_run_dep", PYTORCH, "main", "recipe/meta.yaml",
     r"^\s*-\s*__cuda\b",
     "pytorch CUDA builds require the __cuda virtual package (a driver, or CONDA_OVERRIDE_CUDA)"),
    ("pytorch_cuda_version_host", PYTORCH, "main", "recipe/meta.yaml",
     r"^\s*-\s*cuda-version\s+\{\{\s*cuda_compiler_version",
     "pytorch builds against cuda-version == its CUDA compiler version"),
    ("nvcc_strong_run_export", NVCC, "main", "recipe/meta.yaml",
     r"^\s*-\s*cuda-version\s+>=",
     "anything compiled with nvcc X.Y needs cuda-version >=X.Y,<X+1 (strong run_export)"),
    ("nvcc_strong_run_export_12x", NVCC, "12.x", "recipe/meta.yaml",
     r"^\s*-\s*cuda-version\s+>=",
     "the same on the 12.x branch (nvcc 12.x)"),
    ("cuda_version_run_constrained", CUDA_VERSION, "main", "recipe/meta.yaml",
     r"__cuda\s*>=",
     "cuda-version X.Y constrains only __cuda >=X (the major): the driver's minor is never checked"),
    ("torchvision_run_pytorch", TORCHVISION, "main", "recipe/recipe.yaml",
     r"^\s*-\s*pytorch\s+\*\s*\[build=",
     "torchvision needs a pytorch of its own kind (cuda*/cpu*) at run time"),
    ("torchvision_run_pytorch_meta", TORCHVISION, "main", "recipe/meta.yaml",
     r"^\s*-\s*pytorch\s+=?\*?=?\{\{\s*torch_proc_type|^\s*-\s*pytorch\s+=\{\{\s*compatible_pytorch",
     "torchvision's run requirement on pytorch in the meta.yaml era"),
    ("torchaudio_run_pytorch", TORCHAUDIO, "main", "recipe/recipe.yaml",
     r"pytorch \* cuda\*|pytorch \* cpu\*",
     "torchaudio needs a pytorch of its own kind (cuda*/cpu*) at run time"),
)


def line_history(repo: Repo, ref: str, path: str, pattern: str) -> list[dict[str, Any]]:
    """Each form the first matching line took along ref's first-parent history of path."""
    out = repo.git("log", "--first-parent", "--reverse", "--format=%H %cs", ref, "--", path)
    rx = re.compile(pattern)
    history: list[dict[str, Any]] = []
    last: str | None = None
    for line in out.splitlines():
        sha, date = line.split()
        text = repo.show(sha, path) or ""
        found = [ln.strip() for ln in text.splitlines() if rx.search(ln)]
        current = " | ".join(found) if found else None
        if current != last:
            history.append({"commit": sha, "date": date, "line": current})
            last = current
    return history


def build_facts(repos: dict[str, Repo]) -> list[dict[str, Any]]:
    facts = []
    for name, repo_name, ref, path, pattern, meaning in FACT_LINES:
        repo = repos[repo_name]
        for h in line_history(repo, ref, path, pattern):
            facts.append({"fact": name, "meaning": meaning, "since": h["date"],
                          "line": h["line"], "repo": repo_name, "commit": h["commit"],
                          "path": path, "branch": ref})
    return facts


# --------------------------------------------------------------------------------------------
# The frozen pytorch channel: pytorch/builder's conda recipe per release branch
# --------------------------------------------------------------------------------------------

BUILDER_META = "conda/pytorch-nightly/meta.yaml"
BUILDER_SH = "conda/build_pytorch.sh"
BUILDER_CUDA = "conda/pytorch-cuda/conda_build_config.yaml"
_OPEN_ENDED = ("mkl", "intel-openmp", "llvm-openmp", "blas", "numpy", "libuv")


def _yaml_section(text: str, key: str) -> list[str]:
    """The list items under ``  key:`` in requirements, as written (selectors kept)."""
    lines = text.splitlines()
    out, inside = [], False
    for ln in lines:
        if re.match(rf"^\s{{2}}{key}:\s*$", ln):
            inside = True
            continue
        if inside:
            if re.match(r"^\s{0,2}\S", ln) and not ln.strip().startswith(("-", "{%", "#")):
                break
            s = ln.strip()
            if s.startswith("- "):
                out.append(" ".join(s[2:].split()))
            elif s.startswith("{{ environ.get") or s.startswith("{%"):
                out.append(s)
    return out


def _is_open_ended(item: str) -> bool:
    spec = item.split("#")[0].split()
    if not spec or spec[0] not in _OPEN_ENDED:
        return False
    rest = "".join(spec[1:])
    return "<" not in rest and "=" not in rest.replace(">=", "")


def builder_rows(repo: Repo) -> list[dict[str, Any]]:
    rows = []
    for branch in BUILDER_BRANCHES:
        release = branch.split("/")[1]
        meta_sha = repo.git("log", "-1", "--format=%H", branch, "--", BUILDER_META).strip()
        meta = repo.show(meta_sha, BUILDER_META) or ""
        run = _yaml_section(meta, "run")
        host = _yaml_section(meta, "host")
        sh_sha = repo.git("log", "-1", "--format=%H", branch, "--", BUILDER_SH).strip()
        sh = repo.show(sh_sha, BUILDER_SH) or ""
        cuda = []
        for m in re.finditer(r'desired_cuda"?\s*==\s*"([\d.]+)"\s*\]\];\s*then\s*\n\s*export '
                             r'CONDA_CUDATOOLKIT_CONSTRAINT="\s*-\s*([^"#]+?)\s*(?:#\s*\[([^\]]+)\])?"',
                             sh):
            cuda.append({"cuda": m.group(1), "requires": m.group(2).strip(),
                         "selector": m.group(3)})
        cuda.sort(key=lambda c: _ver(c["cuda"]))
        pys = sorted({m.group(1) for m in re.finditer(r"py\s*(?:==|<=|>=)\s*(\d{2,3})", meta)},
                     key=int)
        row: dict[str, Any] = {
            "release": release,
            "run": run,
            "open_ended": [r for r in run if _is_open_ended(r)],
            "host_mkl": [h for h in host if h.split()[0].startswith("mkl")],
            "cuda": cuda,
            "python_selectors": [f"{p[0]}.{p[1:]}" for p in pys],
            "repo": BUILDER, "commit": meta_sha, "path": BUILDER_META,
            "cuda_commit": sh_sha, "cuda_path": BUILDER_SH,
            "unverified": "python and platform sets come from CI (pytorch/pytorch workflows), "
                          "not this recipe: python_selectors only lists the versions its "
                          "selectors name",
        }
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------

import json  # noqa: E402  (kept next to its only use)


def flow(value: Any) -> str:
    """One YAML flow node: JSON scalars (valid YAML), bare keys, deterministic order."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def render_file(header: str, sections: list[tuple[str, list[dict[str, Any]]]],
                meta: dict[str, Any]) -> str:
    out = io.StringIO()
    out.write(header)
    for k, v in meta.items():
        out.write(f"{k}: {flow(v)}\n")
    for name, rows in sections:
        out.write(f"{name}:\n")
        for row in rows:
            out.write(f"- {flow(row)}\n")
    return out.getvalue()


CF_HEADER = """\
# conda-forge pytorch / torchvision / torchaudio builds, from the feedstocks' own history.
# GENERATED by tools/feedstock_builds.py; do not edit. Schema and rebuild: data/README.md.
"""
PC_HEADER = """\
# The frozen `pytorch` conda channel (1.12 ... 2.5): what pytorch/builder's conda recipe declares.
# GENERATED by tools/feedstock_builds.py; do not edit. Schema and rebuild: data/README.md.
# The pins that keep such an environment importable today are in pins.yaml beside this file.
"""


def build_outputs(repos: dict[str, Repo]) -> tuple[str, str, list[str]]:
    problems: list[str] = []
    obs = {name: walk_feedstock(repos[name], problems) for name in FEEDSTOCKS}
    rows = build_rows(obs)
    heads = {name: dict(zip(("commit", "date"), repos[name].head(ref)))
             | {"ref": ref}
             for name in REPOS for ref in (("main",) if name != BUILDER else ("HEAD",))}
    branches = {name: repos[name].branches() for name in FEEDSTOCKS}
    cf_meta = {
        "heads": heads,
        "branches_read": branches,
        "upload": "not checked: a row is a variant that a first-parent commit of main or a "
                  "vX.x branch, not marked [ci skip], declared in .ci_support and did not skip; "
                  "whether CI uploaded it was not checked against anaconda.org",
        "not_evaluated": sorted(set(problems)),
    }
    cf = render_file(CF_HEADER, [("facts", build_facts(repos)), ("builds", rows)], cf_meta)
    pc = render_file(PC_HEADER, [("releases", builder_rows(repos[BUILDER]))],
                     {"head": heads[BUILDER]})
    return cf, pc, problems


def _repos(args: argparse.Namespace) -> dict[str, Repo]:
    paths: dict[str, Path] = {}
    if args.mirrors:
        for name in REPOS:
            paths[name] = Path(args.mirrors) / name.replace("/", "+") / "repo"
    for spec in args.repo or []:
        name, _, path = spec.partition("=")
        if name not in REPOS or not path:
            raise FeedstockError(f"--repo {spec}: expected one of {', '.join(REPOS)}=PATH")
        paths[name] = Path(path)
    missing = [n for n in REPOS if n not in paths]
    if missing:
        raise FeedstockError(f"no mirror for {', '.join(missing)}: pass --mirrors or --repo")
    return {name: Repo(name, path) for name, path in paths.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mirrors", help="folder holding OWNER+NAME/repo git mirrors (fetch's layout)")
    ap.add_argument("--repo", action="append", metavar="OWNER/NAME=PATH",
                    help="one mirror's git directory (repeatable; overrides --mirrors)")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 if the committed files differ from a rebuild")
    args = ap.parse_args(argv)
    try:
        repos = _repos(args)
        cf, pc, problems = build_outputs(repos)
    except (FeedstockError, subprocess.CalledProcessError) as exc:
        print(f"feedstock_builds: {exc}", file=sys.stderr)
        return 2
    stale = [p for p, text in ((CF_OUT, cf), (PC_OUT, pc))
             if not p.exists() or p.read_text() != text]
    if args.check:
        for p in stale:
            print(f"{p.relative_to(ROOT)} is out of date: run tools/feedstock_builds.py",
                  file=sys.stderr)
        return 1 if stale else 0
    for p, text in ((CF_OUT, cf), (PC_OUT, pc)):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    print(f"wrote {CF_OUT.relative_to(ROOT)} and {PC_OUT.relative_to(ROOT)}; "
          f"{len(problems)} variant(s) not evaluated (listed in the file)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
