"""conda's own API where conda can be imported, one faithful reading where it cannot.

conda-torch also runs stand-alone (``conda-torch``, ``python -m conda_torch``), where conda
may not be importable. The few places that need conda's answers about an environment go
through this module, which asks conda itself when ``import conda`` works (always, under
``conda torch``) and otherwise reads the files the way conda does:

* :func:`requested_specs`: what the user explicitly asked for (``History``'s
  ``get_requested_specs_map``), from ``conda-meta/history``;
* :func:`prefix_records`: the package records of an environment (``PrefixData``), from
  ``conda-meta/*.json``;
* :func:`locate_prefix_by_name`: the prefix of a named environment
  (``conda.base.context.locate_prefix_by_name``); without conda, names are looked up by running
  conda (:mod:`conda_torch.conda_cli`), so this answers None.

Version and package spec matching (``VersionSpec``, ``MatchSpec``) has its own adapter with
the same shape, :mod:`conda_torch.specs`, and the declaration of ``--json``/``--dry-run``/
``--yes`` (conda's ``add_output_and_prompt_options``) lives with the other shared options in
:mod:`conda_torch.cli._options`, because building a parser must import no library module.
``tests/test_conda_api.py`` runs the fallbacks and the real conda on the same inputs and
requires equal answers.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
from functools import lru_cache
from pathlib import Path

from .prefix import is_conda_env
from .specs import conda_name
from .values import value_class


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


@value_class
class RecordFacts:
    """One conda package installed in an environment, as its ``conda-meta`` record says."""

    name: str
    version: str
    build: str
    #: As recorded: a channel URL with its subdir (``https://conda.anaconda.org/conda-forge/
    #: linux-64``), or a name in old records; "" when the record names none.
    channel: str
    subdir: str | None
    depends: tuple[str, ...]
    #: The files the package put into the environment, relative to it.
    files: tuple[str, ...]


def prefix_records(prefix: str | os.PathLike[str]) -> list[RecordFacts]:
    """The package records of the environment at ``prefix``, sorted by name: conda's
    ``PrefixData`` where conda is importable, else :func:`read_prefix_records`."""
    records = _conda_prefix_records(prefix) if conda_importable() else None
    return read_prefix_records(prefix) if records is None else records


def _conda_prefix_records(prefix: str | os.PathLike[str]) -> list[RecordFacts] | None:
    try:
        from conda.core.prefix_data import PrefixData  # type: ignore[import-not-found]

        found = list(PrefixData(os.fspath(prefix)).reload().iter_records())
        records = [
            RecordFacts(
                name=str(r.name),
                version=str(r.version),
                build=str(r.build),
                channel=str(r.channel) if r.channel else "",
                subdir=r.subdir or None,
                depends=tuple(str(d) for d in r.depends or ()),
                files=tuple(str(f) for f in r.files or ()),
            )
            for r in found
        ]
    except Exception:  # an old conda, or a broken record it refuses: read them ourselves
        return None
    return sorted(records, key=lambda r: r.name)


def read_prefix_records(prefix: str | os.PathLike[str]) -> list[RecordFacts]:
    """The package records of ``conda-meta/<name>-<version>-<build>.json``, read without
    conda. A record that cannot be read is left out (conda refuses the whole environment with
    ``CorruptedEnvironmentError``; doctor reports on what it can read)."""
    meta = Path(prefix) / "conda-meta"
    records: list[RecordFacts] = []
    try:
        names = sorted(os.listdir(meta))
    except OSError:
        return records
    for fname in names:
        if not fname.endswith(".json") or fname[:-5].count("-") < 2:
            continue
        try:
            doc = json.loads((meta / fname).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(doc, dict):
            continue
        name, version, build = fname[:-5].rsplit("-", 2)
        channel = doc.get("channel") or doc.get("schannel") or doc.get("url") or ""
        records.append(
            RecordFacts(
                name=str(doc.get("name") or name),
                version=str(doc.get("version") or version),
                build=str(doc.get("build") or build),
                channel=str(channel),
                subdir=doc.get("subdir") or None,
                depends=tuple(str(d) for d in doc.get("depends") or ()),
                files=tuple(f for f in doc.get("files") or () if isinstance(f, str)),
            )
        )
    return sorted(records, key=lambda r: r.name)


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
