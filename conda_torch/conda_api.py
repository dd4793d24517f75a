"""conda's own API where conda can be imported, one faithful reading where it cannot.

conda-torch also runs stand-alone (``conda-torch``, ``python -m conda_torch``), where conda
may not be importable. The few places that need conda's answers about an environment go
through this module, which asks conda itself when ``import conda`` works (always, under
``conda torch``) and otherwise reads the files the way conda does:

* :func:`requested_specs`: what the user explicitly asked for (``History``'s
  ``get_requested_specs_map``), from ``conda-meta/history``;
* :func:`locate_prefix_by_name`: the prefix of a named environment
  (``conda.base.context.locate_prefix_by_name``); without conda, names are looked up by running
  conda (:mod:`conda_torch.conda_cli`), so this answers None.

Version and package spec matching (``VersionSpec``, ``MatchSpec``) has its own adapter with
the same shape, :mod:`conda_torch.specs`. ``tests/test_conda_api.py`` runs the fallbacks and
the real conda on the same inputs and requires equal answers.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
from functools import lru_cache
from pathlib import Path

from .envfile import conda_name
from .prefix import is_conda_env


@lru_cache(maxsize=1)
def conda_importable() -> bool:
    """Whether ``import conda`` works in this process (without importing it)."""
    try:
        return importlib.util.find_spec("conda") is not None
    except (ImportError, ValueError):
        return False


def locate_prefix_by_name(name: str) -> str | None:
    """conda's own ``locate_prefix_by_name`` where conda is importable here (0.2 s instead of
    a conda start); None when it is not, or does not know the name."""
    if not conda_importable():
        return None
    try:
        from conda.base.context import locate_prefix_by_name as locate  # type: ignore[import-not-found]

        found = locate(name)
    except Exception:
        return None
    return str(found) if found and is_conda_env(found) else None


def requested_specs(
    prefix: str | os.PathLike[str], installed: set[str] | None = None
) -> dict[str, str]:
    """Package name -> the spec the user last asked for (conda's ``History``), leaving out
    names no longer installed when ``installed`` is given.

    conda's answer where conda is importable (each spec as conda writes a ``MatchSpec``),
    else :func:`history_requested_specs`.
    """
    result = _conda_requested_specs(prefix) if conda_importable() else None
    if result is None:
        return history_requested_specs(prefix, installed)
    if installed is not None:
        result = {n: s for n, s in result.items() if n in installed}
    return result


def _conda_requested_specs(prefix: str | os.PathLike[str]) -> dict[str, str] | None:
    try:
        from conda.history import History  # type: ignore[import-not-found]

        specs = History(os.fspath(prefix)).get_requested_specs_map()
    except Exception:  # a conda too old, or a history it cannot read: read it ourselves
        return None
    return {str(name): str(spec) for name, spec in specs.items()}


# ---------------------------------------------------------------------------------------------
# conda's history of explicit requests, read without conda


_SPEC_LINE = re.compile(r"#\s*(\w+)\s*specs:\s*(.+)?")
_CMD_LINE = re.compile(r"#\s*cmd:\s*(.+)")
_HEADER = re.compile(r"==>\s*(.+?)\s*<==")
_RELATION = re.compile(r"^\s*[<>=!~]")


def _old_format(specs: str) -> list[str]:
    """conda < 4.5 wrote ``python>=3.5,jupyter >=1.0,<2.0`` (conda's History parser)."""
    out: list[str] = []
    for spec in specs.split(","):
        if _RELATION.match(spec) and out:
            out[-1] = ",".join([out[-1], spec])
        else:
            out.append(spec)
    return out


def history_requested_specs(
    prefix: str | os.PathLike[str], installed: set[str] | None = None
) -> dict[str, str]:
    """Package name -> the spec the user last asked for, from ``conda-meta/history``, read
    without conda.

    The same reading as conda's ``History.get_requested_specs_map`` (conda/history.py): only
    sections with a ``# cmd:`` line count; ``update``/``install``/``create`` specs are added,
    ``remove``/``uninstall`` specs dropped, ``neutered`` specs replace earlier ones; names no
    longer installed are left out when ``installed`` is given.
    """
    path = Path(prefix) / "conda-meta" / "history"
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return {}
    sections: list[list[str]] = []
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if _HEADER.match(line):
            sections.append([])
        elif line.startswith("#") and sections:
            sections[-1].append(line)
    result: dict[str, str] = {}
    for comments in sections:
        if not any(_CMD_LINE.match(c) for c in comments):
            continue
        for comment in comments:
            m = _SPEC_LINE.match(comment)
            if not m:
                continue
            action, text = m.group(1), (m.group(2) or "").strip()
            if text.startswith("["):
                try:
                    specs = [str(s) for s in ast.literal_eval(text)]
                except (ValueError, SyntaxError):
                    continue
            elif "[" not in text:
                specs = _old_format(text)
            else:
                continue
            specs = [s.strip() for s in specs if s and s.strip() and not s.endswith("@")]
            for spec in specs:
                name = conda_name(spec)
                if not name:
                    continue
                if action in ("update", "install", "create", "neutered"):
                    result[name] = spec
                elif action in ("remove", "uninstall"):
                    result.pop(name, None)
    if installed is not None:
        result = {n: s for n, s in result.items() if n in installed}
    return result
