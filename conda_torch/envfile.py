"""environment.yml files: write them, read them, edit them; the format only.

This is the only module that imports ``ruamel.yaml``. It knows the shape of an environment
file (CEP 24: ``name``, ``channels``, ``dependencies`` with an optional ``pip:`` subsection,
``variables``) and which lines belong to the torch stack. It knows nothing of who decides what
goes into a file: it imports no plan and no matrix (:mod:`conda_torch.render` turns a plan into
an :class:`EnvSpec`; :mod:`conda_torch.prepare` specializes a team's file with these
primitives). A test holds it to that (``tests/test_import_rules.py``).

- :class:`EnvSpec` -> text: :func:`dump` (deterministic; conda's own layout).
- A user's file -> :class:`EnvDocument`: :func:`load` / :func:`loads` (ruamel round trip, so
  comments, key order and indentation survive); :func:`team_request` reads its torch pins.
- Editing a document: :func:`set_stack` replaces or inserts the torch stack, channels and
  variables and keeps every other line and comment; :func:`drop_stack_pins` removes the stack's
  lines; :func:`with_header` gives the text under a new header.
- :func:`write_atomic` writes through a temporary file in the same folder and ``os.replace``,
  so a failure never leaves a partial file; :func:`write_folder` writes several, all or none.
"""

from __future__ import annotations

import io
import os
import re
import stat

from .constants import (
    COMPANIONS,
    CONDA_TORCH_SPECS,
    STACK_CONDA,
    TORCH_CHANNELS,
    TORCH_CONDA_PACKAGES,
    TORCH_PIP_PACKAGES,
)
from .exceptions import (
    CondaTorchValueError,
    EnvironmentFileError,
    OutputExistsError,
    OutputWriteError,
    os_error_reason,
    read_input_bytes,
)
from .specs import CONDA_SPEC_NAME, InvalidSpec, conda_name, pip_name, version_matches
from .values import value_class

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, Final


#: Never emitted: ``nodefaults`` is fetched as a real channel by conda 26.7's env create
#: (docs/conda-notes.md 3).
NODEFAULTS: Final = "nodefaults"

#: The pip index host whose option lines belong to the torch stack.
PYTORCH_INDEX_HOST: Final = "download.pytorch.org"

#: First and last lines of the header conda-torch writes (``with_header`` replaces an old one).
HEADER_START: Final = re.compile(r"^# (Generated|Specialized) by conda-torch\b")
HEADER_END: Final = "# -- end of conda-torch header --"

_PIP_OPTION = re.compile(
    r"^\s*(?P<opt>--index-url|--extra-index-url|--find-links|-i|-f)(?:\s*=\s*|\s+)(?P<url>\S+)"
)


# -- the value we write ------------------------------------------------------------------------


@value_class
class EnvSpec:
    """An environment file's content, in the order it is written."""

    name: str | None
    channels: tuple[str, ...]
    #: conda MatchSpec strings.
    dependencies: tuple[str, ...]
    #: The ``pip:`` subsection, option lines (``--index-url URL``) first; empty = none.
    pip: tuple[str, ...] = ()
    #: ``variables:`` (name, value) pairs.
    variables: tuple[tuple[str, str], ...] = ()
    #: Header comment lines, without the leading ``# ``.
    header: tuple[str, ...] = ()
    #: End-of-line comments: (dependency or pip line, comment).
    comments: tuple[tuple[str, str], ...] = ()


def header_text(lines: Sequence[str]) -> str:
    """``lines`` as a comment block ending with :data:`HEADER_END` (empty for no lines)."""
    if not lines:
        return ""
    out = [("# " + ln).rstrip() if ln else "#" for ln in lines]
    return "\n".join([*out, HEADER_END]) + "\n"


def dump(spec: EnvSpec) -> str:
    """The environment.yml text for ``spec`` (header comment, then the YAML).

    A file whose every value is a plain word (what ``generate`` writes for a new environment)
    is written here, character for character as ruamel.yaml writes it, without importing
    ruamel.yaml (about twice a bare Python's start-up); anything else goes through ruamel.yaml
    (:func:`_dump_ruamel`). A test holds the two to the same text.
    """
    return _dump_plain(spec) or _dump_ruamel(spec)


#: Scalars ruamel.yaml writes plain, unquoted, in block context (the YAML 1.2 rules for a plain
#: scalar, narrowed): a letter or ``_`` first, no ``: `` or `` #``, no trailing space.
_PLAIN = re.compile(r"[A-Za-z_](?:[A-Za-z0-9_.*=<>!,+/~^@:-]|(?<![:#]) (?![# ]))*(?<![: ])")
#: Words YAML reads as something other than a string (booleans, null).
_NOT_STRINGS = frozenset(
    w for word in ("true", "false", "null") for w in (word, word.title(), word.upper())
)
#: A pip option line: ``--index-url URL``, ``--extra-index-url URL``, ``--pre``.
_PIP_OPTION_LINE = re.compile(r"--[a-z][a-z-]*(?: [A-Za-z0-9_.:/+~%=-]+)?")
#: A double-quoted variable value that needs no escape.
_QUOTABLE = re.compile(r'[ !#-\[\]-~]*')


def _plain(value: str) -> bool:
    return bool(_PLAIN.fullmatch(value)) and value not in _NOT_STRINGS


def _dump_plain(spec: EnvSpec) -> str | None:
    """:func:`dump`'s text without ruamel.yaml, or None where a value is not a plain word."""
    channels = [c for c in spec.channels if c != NODEFAULTS]
    comments = dict(spec.comments)
    if (
        not channels
        or not spec.dependencies
        or (spec.name is not None and spec.name != "" and not _plain(spec.name))
        or not all(_plain(c) for c in channels)
        or not all(_plain(d) for d in spec.dependencies)
        or not all(_plain(p) or _PIP_OPTION_LINE.fullmatch(p) for p in spec.pip)
        or not all(_plain(k) and _QUOTABLE.fullmatch(v) for k, v in spec.variables)
        or any("\n" in c or c != c.strip() or not c for c in comments.values())
    ):
        return None
    out = [f"name: {spec.name}"] if spec.name else []
    out += ["channels:", *(f"  - {c}" for c in channels), "dependencies:"]

    def item(indent: str, line: str, column: int) -> str:
        text = f"{indent}- {line}"
        if line in comments:
            text = text.ljust(column) + "# " + comments[line]
        return text

    width = max(len(d) for d in spec.dependencies)
    out += [item("  ", d, width + 6) for d in spec.dependencies]
    if spec.pip:
        out.append("  - pip:")
        pwidth = max(len(p) for p in spec.pip)
        out += [item("      ", p, pwidth + 10) for p in spec.pip]
    if spec.variables:
        out += ["variables:", *(f'  {k}: "{v}"' for k, v in spec.variables)]
    return header_text(spec.header) + "\n".join(out) + "\n"


def _dump_ruamel(spec: EnvSpec) -> str:
    """:func:`dump` through ruamel.yaml: any value, quoted as YAML needs."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    comments = dict(spec.comments)
    doc = CommentedMap()
    if spec.name:
        doc["name"] = spec.name
    doc["channels"] = CommentedSeq(c for c in spec.channels if c != NODEFAULTS)
    deps = CommentedSeq(spec.dependencies)
    pip_seq = None
    if spec.pip:
        pip_seq = CommentedSeq(spec.pip)
        deps.append(CommentedMap([("pip", pip_seq)]))
    doc["dependencies"] = deps
    if spec.variables:
        doc["variables"] = CommentedMap((k, _str_scalar(v)) for k, v in spec.variables)
    # Comments line up one column past the longest dependency line.
    width = max((len(d) for d in spec.dependencies), default=0)
    for i, dep in enumerate(spec.dependencies):
        if dep in comments:
            deps.yaml_add_eol_comment("# " + comments[dep], i, column=width + 6)
    if pip_seq is not None:
        pwidth = max(len(p) for p in spec.pip)
        for i, line in enumerate(spec.pip):
            if line in comments:
                pip_seq.yaml_add_eol_comment("# " + comments[line], i, column=pwidth + 10)
    return header_text(spec.header) + _dump_yaml(doc, mapping=2, sequence=4, offset=2)


def _str_scalar(value: str) -> Any:
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    return DoubleQuotedScalarString(str(value))


def _yaml(mapping: int = 2, sequence: int = 4, offset: int = 2) -> Any:
    from ruamel.yaml import YAML

    y = YAML(typ="rt")
    y.indent(mapping=mapping, sequence=sequence, offset=offset)
    y.width = 4096  # never fold a long URL or spec
    y.preserve_quotes = True
    return y


def _dump_yaml(doc: Any, *, mapping: int, sequence: int, offset: int) -> str:
    buf = io.StringIO()
    _yaml(mapping, sequence, offset).dump(doc, buf)
    return buf.getvalue()


# -- writing -----------------------------------------------------------------------------------


#: Paths that name a descriptor this process already has open: written to that descriptor.
_OWN_FD = re.compile(r"^/(?:dev/(?:stdout|stderr|fd/(\d+))|proc/self/fd/(\d+))$")


def write_atomic(path: str | os.PathLike[str], text: str, *, force: bool = False) -> str:
    """Write ``text`` to ``path`` whole or not at all; never replace anything but a file.

    * a regular file (or nothing yet): a temporary file in the same folder is renamed over it,
      so a reader sees the old text or the new; an existing file is refused unless ``force``
      (:class:`OutputExistsError`);
    * a symlink is written through: the file it points to is written (or replaced, with
      ``force``) and the link kept;
    * ``/dev/stdout``, ``/dev/stderr``, ``/dev/fd/N``: written to that open descriptor;
    * a character device (``/dev/null``) or a FIFO is written to, never replaced (no ``force``
      needed, and ``force`` does not replace it);
    * a directory, a block device or a socket is refused (``force`` would not help).

    Returns ``"file"`` or ``"stream"`` (a device, FIFO or descriptor: nothing to read back).
    Failures raise :class:`OutputWriteError` naming the path (a full disk names the disk).
    """
    target = os.fspath(path)
    own = _OWN_FD.match(target)
    if own:
        fd = int(own.group(1) or own.group(2) or (1 if target.endswith("stdout") else 2))
        _write_stream(target, text, fd=fd)
        return "stream"
    if os.path.islink(target):
        target = os.path.realpath(target)
    try:
        mode_now = os.stat(target).st_mode
    except FileNotFoundError:
        mode_now = None
    except OSError as exc:
        raise OutputWriteError(target, os_error_reason(exc)) from None
    if mode_now is not None and not stat.S_ISREG(mode_now):
        if stat.S_ISCHR(mode_now) or stat.S_ISFIFO(mode_now):
            _write_stream(target, text)
            return "stream"
        kind = "a directory" if stat.S_ISDIR(mode_now) else "not a regular file"
        if stat.S_ISBLK(mode_now):
            kind = "a block device"
        raise OutputWriteError(
            target,
            f"is {kind}; conda-torch writes files, FIFOs and character devices only",
            hints=["Give a file name, or -o - for stdout."],
        )
    if mode_now is not None and not force:
        raise OutputExistsError(target)
    folder = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(folder):
        raise OutputWriteError(target, f"folder {folder} does not exist")
    if mode_now is not None:
        mode = stat.S_IMODE(mode_now)
    else:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    import tempfile  # here: generate -o - writes no file, and tempfile loads random, hashlib

    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(
            dir=folder, prefix="." + os.path.basename(target) + ".", suffix=".tmp"
        )
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        if force:
            os.replace(tmp, target)
        else:
            _link_new(tmp, target)
        tmp = None
    except FileExistsError:
        raise OutputExistsError(target) from None
    except OSError as exc:
        exc.filename = target
        raise OutputWriteError(target, os_error_reason(exc)) from None
    except ValueError as exc:  # text that cannot be encoded (a lone surrogate)
        raise OutputWriteError(target, f"cannot be written ({exc})") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return "file"


def _write_stream(target: str, text: str, *, fd: int | None = None) -> None:
    """Write ``text`` to a device, a FIFO or an open descriptor (nothing to rename)."""
    data = text.encode("utf-8")
    try:
        own = fd is None
        if own:
            fd = os.open(target, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
        assert fd is not None
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            if own:
                os.close(fd)
    except OSError as exc:
        exc.filename = target
        raise OutputWriteError(target, os_error_reason(exc)) from None


def _link_new(tmp: str, target: str) -> None:
    """Move ``tmp`` to ``target`` failing if ``target`` appeared meanwhile (no overwrite race)."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: check, then rename
        if os.path.lexists(target):
            raise FileExistsError(target) from None
        os.replace(tmp, target)
        return
    os.unlink(tmp)


def write_folder(folder: str, files: Sequence[tuple[str, str]], *, force: bool) -> list[str]:
    """Write ``(name, text)`` files into ``folder`` (made when missing); nothing is written when
    one would replace a file without ``force``. Returns the paths."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise CondaTorchValueError(
            f"{folder} is a file; with several files -o names a folder",
            hints=["Pass -o DIR."],
        )
    paths = [os.path.join(folder, name) for name, _text in files]
    if len(set(paths)) != len(paths):
        raise CondaTorchValueError("two targets would write the same file name")
    if not force:
        for p in paths:
            if os.path.lexists(p):
                raise OutputExistsError(p)
    if not os.path.isdir(folder):
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            raise OutputWriteError(
                folder, f"cannot create the folder ({exc.strerror or exc})"
            ) from None
    for (_name, text), p in zip(files, paths):
        write_atomic(p, text, force=force)
    return paths


# -- reading a user's file ---------------------------------------------------------------------


@value_class(frozen=False)
class EnvDocument:
    """A user's environment file, loaded for round-trip editing."""

    path: str
    text: str
    data: Any  # ruamel CommentedMap
    mapping_indent: int = 2
    sequence_indent: int = 4
    sequence_offset: int = 2

    @property
    def dependencies(self) -> list[Any]:
        return self.data["dependencies"]

    @property
    def pip(self) -> list[Any] | None:
        for item in self.dependencies:
            if isinstance(item, dict) and "pip" in item:
                return item["pip"]
        return None

    def dump(self) -> str:
        return _dump_yaml(
            self.data,
            mapping=self.mapping_indent,
            sequence=self.sequence_indent,
            offset=self.sequence_offset,
        )


#: Largest environment file read (bytes).
MAX_BYTES: Final = 4 * 1024 * 1024


def load(path: str | os.PathLike[str]) -> EnvDocument:
    """Read a user's environment file; :class:`EnvironmentFileError` if it is not one."""
    p = os.fspath(path)
    data = read_input_bytes(p, limit=MAX_BYTES, what="an environment file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EnvironmentFileError(f"{p}: not UTF-8 text (byte {exc.start})") from None
    return loads(text, p)


def loads(text: str, source: str = "<string>") -> EnvDocument:
    """Parse environment-file text (see :func:`load`)."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    text = text.replace("\r\n", "\n")
    hint = (
        "An environment file is a mapping with a 'dependencies' list "
        "(and optionally name, channels, variables)."
    )
    if not text.strip():
        raise EnvironmentFileError(f"{source}: empty file, not an environment file", hints=[hint])
    try:
        data = _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = exc.problem or exc.context or "invalid YAML"
        raise EnvironmentFileError(
            f"{source}: malformed YAML at {where}: {problem}",
            hints=["Check the indentation and the quoting on that line."],
        ) from None
    except YAMLError as exc:
        raise EnvironmentFileError(f"{source}: malformed YAML: {exc}") from None
    if not isinstance(data, dict):
        what = "only comments" if data is None else _kind(data)
        raise EnvironmentFileError(
            f"{source}: not an environment file (the top level is {what}, not a mapping)",
            hints=[hint],
        )
    if "dependencies" not in data:
        raise EnvironmentFileError(
            f"{source}: not an environment file (no 'dependencies' key)", hints=[hint]
        )
    deps = data["dependencies"]
    if deps is None:
        from ruamel.yaml.comments import CommentedSeq

        data["dependencies"] = deps = CommentedSeq()
    if not isinstance(deps, list):
        raise EnvironmentFileError(
            f"{source}: not an environment file ('dependencies' is {_kind(deps)}, not a list)",
            hints=[hint],
        )
    for item in deps:
        if isinstance(item, dict):
            if "pip" in item and not isinstance(item["pip"], list) and item["pip"] is not None:
                raise EnvironmentFileError(f"{source}: the 'pip' subsection is not a list")
        elif not isinstance(item, str):
            raise EnvironmentFileError(
                f"{source}: dependency {item!r} is {_kind(item)}, not a package spec"
            )
    channels = data.get("channels")
    if channels is not None and not (
        isinstance(channels, list) and all(isinstance(c, str) for c in channels)
    ):
        raise EnvironmentFileError(f"{source}: 'channels' must be a list of channel names")
    variables = data.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise EnvironmentFileError(f"{source}: 'variables' must be a mapping of NAME: value")
    mapping, sequence, offset = _guess_indent(text)
    return EnvDocument(
        path=source, text=text, data=data,
        mapping_indent=mapping, sequence_indent=sequence, sequence_offset=offset,
    )  # fmt: skip


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    return f"a {type(value).__name__}"


_KEY_LINE = re.compile(r"^(?P<ind> *)(?P<dash>- +)?[^\s#\-][^:#]*:(\s|$)")
_ITEM_LINE = re.compile(r"^(?P<ind> *)- ")


def _guess_indent(text: str) -> tuple[int, int, int]:
    """(mapping indent, sequence indent, dash offset) the file uses; conda's layout if unknown."""
    mapping = sequence = offset = None
    prev_key_indent: int | None = None
    for line in text.split("\n"):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m_item = _ITEM_LINE.match(line)
        if m_item and prev_key_indent is not None and sequence is None:
            offset = len(m_item.group("ind")) - prev_key_indent
            sequence = offset + 2
        m_key = _KEY_LINE.match(line)
        if m_key and not m_key.group("dash"):
            ind = len(m_key.group("ind"))
            if (
                prev_key_indent is not None
                and ind > prev_key_indent
                and mapping is None
                and not m_item
            ):
                mapping = ind - prev_key_indent
            prev_key_indent = ind
        elif not m_item:
            prev_key_indent = None
    return (
        mapping or 2,
        sequence if sequence and sequence >= 2 else 4 if offset is None else 2,
        offset if offset is not None and offset >= 0 else 2,
    )


# -- spec strings ------------------------------------------------------------------------------


def is_torch_index_line(line: str) -> bool:
    """Whether a pip line is an index/find-links option pointing at the PyTorch index."""
    m = _PIP_OPTION.match(line)
    return bool(m) and PYTORCH_INDEX_HOST in m.group("url")


def is_index_option(line: str) -> bool:
    m = _PIP_OPTION.match(line)
    return bool(m) and m.group("opt") in ("--index-url", "-i")


def conda_version_spec(spec: str) -> str | None:
    """The version part of a conda MatchSpec string (``pytorch=2.5=*cuda*`` -> ``=2.5``)."""
    m = CONDA_SPEC_NAME.match(spec)
    if not m:
        return None
    rest = spec[m.end() :].strip()
    if rest.startswith("["):
        v = re.search(r"version\s*=\s*['\"]?([^'\",\]]+)", rest)
        return v.group(1).strip() if v else None
    if not rest:
        return None
    if rest[0] not in "=<>!~":
        rest = rest.split()[0]  # "pytorch 2.5.* cuda*": version, then build
        return rest
    # "=2.5=build", "==2.5.1", ">=2,<3"
    if rest.startswith("=") and not rest.startswith("=="):
        return "=" + rest[1:].split("=")[0].split()[0]
    return rest.split()[0]


def pip_version_matches(line: str, version: str) -> bool:
    """Whether ``version`` satisfies the specifier of a pip requirement line."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.version import InvalidVersion, Version

    try:
        req = Requirement(line.split("#")[0].strip())
        return req.specifier.contains(Version(version), prereleases=True)
    except (InvalidRequirement, InvalidVersion):
        return True


#: pip lines that name a file or folder: ``-r FILE``, ``-c FILE``, ``-e PATH`` (each also as the
#: long option, with ``=`` or a space), and a bare local path (``./pkg``, ``../x``, ``.``).
_PIP_PATH = re.compile(
    r"^(?P<lead>\s*(?:(?:-r|--requirement|-c|--constraint|-e|--editable)(?:\s*=\s*|\s+))?)"
    r"(?P<path>(?:\.{1,2}(?=\[|\s|$)|[^\s\[#]+))(?P<rest>.*)$"
)


def absolute_pip_paths(doc: EnvDocument, folder: str) -> bool:
    """Make the relative paths of ``doc``'s pip section absolute, from ``folder`` (the file's own).

    conda reads pip lines relative to the environment file's folder (pip runs there); conda-torch
    hands conda a specialized copy from a temporary folder, so ``-r other.txt`` and ``-e ./pkg``
    would point into that folder. Returns whether anything changed. A path inside a file that
    ``-r`` names is pip's to resolve (from its working directory).
    """
    changed = False
    for i, line in enumerate(doc.pip or ()):
        if not isinstance(line, str):
            continue
        m = _PIP_PATH.match(line)
        if not m:
            continue
        lead, path, rest = m.group("lead"), m.group("path"), m.group("rest")
        is_option = bool(lead.strip())
        bare_path = path in (".", "..") or path.startswith(("./", "../", ".\\", "..\\"))
        if (not is_option and not bare_path) or "://" in path or "+" in path.split("/")[0]:
            continue  # a requirement (rich>=13), a URL, git+https://...
        if os.path.isabs(os.path.expanduser(path)) or path.startswith("-"):
            continue
        doc.pip[i] = f"{lead}{os.path.normpath(os.path.join(folder, path))}{rest}"
        changed = True
    return changed


def pinned_version(version_spec: str | None) -> str | None:
    """The version a spec pins (``=2.5``, ``==2.5.1``, ``2.5.*`` -> 2.5, 2.5.1, 2.5), or None."""
    if not version_spec:
        return None
    s = version_spec.strip()
    if any(ch in s for ch in ",|<>!~"):
        return None
    s = s.lstrip("=").rstrip("*").rstrip(".")
    return s or None


# -- a team's file: its request, and editing its torch stack -----------------------------------


@value_class
class TeamRequest:
    """What a team's file asks of the torch stack (its own pins are the request)."""

    #: torch version spec for ``Matrix.resolve_torch`` ("2.5", "2.5.1", ">=2.4"); None = newest.
    torch: str | None = None
    #: The line that pinned it, for messages.
    torch_line: str | None = None
    #: Python "X.Y" if the file pins one, else None.
    python: str | None = None
    python_line: str | None = None
    #: Every torch-stack pin in the file: (package, version spec, line, "conda" or "pip").
    pins: tuple[tuple[str, str, str, str], ...] = ()
    #: The stack packages the file lists at all, pinned or not (``torch``, ``torchvision``,
    #: ``torchaudio``): the file gets exactly these.
    listed: frozenset[str] = frozenset()

    @property
    def without(self) -> tuple[str, ...]:
        """The companions the file does not list (none when it lists no torch package at all:
        then the default stack is planned)."""
        if not self.listed:
            return ()
        return tuple(p for p in COMPANIONS if p not in self.listed)


def team_request(doc: EnvDocument) -> TeamRequest:
    """Read the torch and Python pins of a team's file."""
    torch = torch_line = python = python_line = None
    pins: list[tuple[str, str, str, str]] = []
    listed: set[str] = set()
    for item in doc.dependencies:
        if not isinstance(item, str):
            continue
        name = conda_name(item)
        vspec = conda_version_spec(item)
        if name in CONDA_TORCH_SPECS:
            listed.add("torch")
        elif name in COMPANIONS:
            listed.add(name)
        if name == "python" and vspec:
            python_line = item
            pv = pinned_version(vspec)
            if pv and re.fullmatch(r"\d+\.\d+(\.\d+)?", pv):
                python = ".".join(pv.split(".")[:2])
        elif name in (*CONDA_TORCH_SPECS, *COMPANIONS) and vspec:
            canonical = "torch" if name in CONDA_TORCH_SPECS else name
            pins.append((canonical, vspec, item, "conda"))
    for line in doc.pip or ():
        if not isinstance(line, str):
            continue
        name = pip_name(line)
        if name in TORCH_PIP_PACKAGES:
            listed.add(name)
            spec = line.split("#")[0].strip()[len(name) :].split(";")[0].strip()
            if spec:
                pins.append((name, spec, line, "pip"))
    for canonical, vspec, line, _kind_ in pins:
        if canonical == "torch" and torch is None:
            torch, torch_line = _request_from_spec(vspec), line
    return TeamRequest(
        torch=torch,
        torch_line=torch_line,
        python=python,
        python_line=python_line,
        pins=tuple(pins),
        listed=frozenset(listed),
    )


def _request_from_spec(vspec: str) -> str:
    pinned = pinned_version(vspec)
    if pinned:
        return pinned.split("+")[0]
    return vspec.replace(" ", "")


def conda_pin_fits(vspec: str, version: str) -> bool:
    """Whether conda's version spec ``vspec`` admits ``version`` (:mod:`conda_torch.specs`: conda's
    own reading); a pin conda would refuse never fits."""
    try:
        return version_matches(vspec, version)
    except InvalidSpec:
        return False


def set_stack(doc: EnvDocument, spec: EnvSpec, *, python: str, name: str | None = None) -> None:
    """Set ``doc``'s torch stack, channels and variables to ``spec``'s; keep everything else.

    The stack lines (:data:`~conda_torch.constants.TORCH_CONDA_PACKAGES`, the pip stack and
    PyTorch's index lines) are replaced where they stood, or inserted after the Python line;
    ``spec``'s channels come first, in its order, then the file's others (torch-only channels
    dropped); ``spec``'s variables are set. A Python line that does not admit ``python`` (``X.Y``)
    is replaced by ``spec``'s. Every other line, comment and the key order are kept. ``name``
    sets the ``name:`` key. ``doc`` is modified; :func:`with_header` gives the text.
    """
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    data = doc.data
    deps = data["dependencies"]
    python_pin = next(
        (d for d in spec.dependencies if conda_name(d) == "python"), f"python={python}"
    )

    # -- the pip subsection --
    pip_idx = next((i for i, it in enumerate(deps) if isinstance(it, dict) and "pip" in it), None)
    opts = [ln for ln in spec.pip if ln.startswith("-")]
    reqs = [ln for ln in spec.pip if not ln.startswith("-")]
    if pip_idx is not None:
        pip_seq = deps[pip_idx]["pip"]
        if pip_seq is None:
            pip_seq = deps[pip_idx]["pip"] = CommentedSeq()
        others = [ln for ln in pip_seq if not _is_pip_stack(ln)]
        if any(
            not (isinstance(ln, str) and ln.lstrip().startswith("-")) or is_index_option(ln)
            for ln in others
        ):
            # The file installs other packages from PyPI or its own index: keep that index
            # first and add PyTorch's as an extra one (the local version pins pick its wheels).
            opts = [re.sub(r"^--index-url\b", "--extra-index-url", o) for o in opts]
        _rebuild_seq(
            pip_seq,
            keep=lambda ln: not _is_pip_stack(ln),
            insert=opts + reqs,
            where="start",
            same=lambda ln: pip_name(ln) if isinstance(ln, str) and ln[:1] != "-" else None,
        )
        # (index comments are not carried over: the option may have changed to --extra-index-url)
        if not len(pip_seq):
            _rebuild_seq(
                deps, keep=lambda it: not (isinstance(it, dict) and "pip" in it), insert=[]
            )
    elif spec.pip:
        deps.append(CommentedMap([("pip", CommentedSeq(opts + reqs))]))

    # -- conda dependencies --
    def is_python(item: Any) -> bool:
        return isinstance(item, str) and conda_name(item) == "python"

    def keep_dep(item: Any) -> bool:
        if not isinstance(item, str):
            return True
        if conda_name(item) in TORCH_CONDA_PACKAGES:
            return False
        # A Python line the plan's Python does not satisfy (only when --python overrode it).
        return not (
            is_python(item) and not conda_pin_fits(conda_version_spec(item) or "*", python)
        )

    stack = [d for d in spec.dependencies if conda_name(d) not in ("python", "pip")]
    if spec.pip and not any(isinstance(it, str) and conda_name(it) == "pip" for it in deps):
        stack.append("pip")
    python_lines = [it for it in deps if is_python(it)]
    if not python_lines:
        _rebuild_seq(deps, keep=lambda _: True, insert=[python_pin], where="start")
    elif not any(keep_dep(it) for it in python_lines):
        stack.insert(0, python_pin)
    _rebuild_seq(
        deps,
        keep=keep_dep,
        insert=stack,
        where="removed",
        after=is_python,
        comments=dict(spec.comments),
        item_column=doc.sequence_offset + 2,
        same=_stack_package,
    )

    # -- channels: the plan's first, in its order; the file's others after them --
    plan_channels = [c for c in spec.channels if c != NODEFAULTS]
    channels = data.get("channels")
    if channels is None:
        data.insert(
            list(data.keys()).index("dependencies"), "channels", CommentedSeq(plan_channels)
        )
    else:
        _rebuild_seq(
            channels,
            keep=lambda c: c not in plan_channels and c not in TORCH_CHANNELS and c != NODEFAULTS,
            insert=plan_channels,
            where="start",
        )

    # -- variables --
    if spec.variables:
        variables = data.get("variables")
        if variables is None:
            variables = data["variables"] = CommentedMap()
        for key, value in spec.variables:
            variables[key] = _str_scalar(value)

    if name:
        if "name" in data:
            data["name"] = name
        else:
            data.insert(0, "name", name)



def with_header(doc: EnvDocument, header: Sequence[str]) -> str:
    """``doc``'s text with ``header`` in place of the header conda-torch wrote before (if any)."""
    return header_text(header) + _strip_header(doc.dump())


def drop_stack_pins(doc: EnvDocument) -> EnvDocument:
    """``doc`` without its torch-stack lines (conda and pip), so that a new plan may differ."""
    deps = doc.dependencies
    for i in range(len(deps) - 1, -1, -1):
        item = deps[i]
        if isinstance(item, str) and (
            conda_name(item) in TORCH_CONDA_PACKAGES or conda_name(item) in STACK_CONDA
        ):
            del deps[i]
        elif isinstance(item, dict) and isinstance(item.get("pip"), list):
            pip = item["pip"]
            for j in range(len(pip) - 1, -1, -1):
                if isinstance(pip[j], str) and pip_name(pip[j]) in TORCH_PIP_PACKAGES:
                    del pip[j]
    return loads(doc.dump(), doc.path)


def _is_pip_stack(line: Any) -> bool:
    if not isinstance(line, str):
        return False
    return pip_name(line) in TORCH_PIP_PACKAGES or is_torch_index_line(line)


def _strip_header(text: str) -> str:
    lines = text.split("\n")
    if lines and HEADER_START.match(lines[0]):
        for i, ln in enumerate(lines):
            if ln.strip() == HEADER_END:
                return "\n".join(lines[i + 1 :])
            if not ln.startswith("#"):
                break
    return text


def _stack_package(item: Any) -> str | None:
    """The package a conda dependency line names, torch's spellings as one (``pytorch``,
    ``pytorch-gpu`` -> ``torch``); None for a mapping (``pip:``)."""
    if not isinstance(item, str):
        return None
    name = conda_name(item)
    return "torch" if name in ("pytorch", "torch", "pytorch-gpu", "pytorch-cpu") else name


def _split_comment(token: Any) -> tuple[str | None, str]:
    """(end-of-line comment, the full-line comments that follow) of a ruamel comment token."""
    if token is None:
        return None, ""
    value: str = token.value
    first, nl, rest = value.partition("\n")
    eol = first if first.strip().startswith("#") else None
    return eol, rest if nl else ""


def _rebuild_seq(
    seq: Any,
    *,
    keep: Any,
    insert: Sequence[Any],
    where: str = "removed",
    after: Any = None,
    comments: dict[str, str] | None = None,
    item_column: int = 4,
    same: Any = None,
) -> None:
    """Drop the items ``keep`` rejects and insert ``insert``, keeping every comment in place.

    ``where``: ``"removed"`` puts ``insert`` where the first dropped item was (else as
    ``"after"``); ``"after"`` right after the last kept item ``after`` accepts (else as
    ``"end"``); ``"end"`` after the last plain item (before a ``pip:`` subsection); ``"start"``
    first. Full-line comments that followed a dropped item stay where they were. ``comments``
    gives end-of-line comments for inserted items (``item_column``: where an item's text starts).
    ``same`` names an item's package: an inserted item that replaces a dropped one of the same
    package keeps that line's own end-of-line comment (``- pytorch>=2.4  # our floor``).
    """
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken

    old = list(seq)
    keeps = [bool(keep(item)) for item in old]
    tokens = [(seq.ca.items.get(i) or [None])[0] for i in range(len(old))]
    ins, move = None, False
    if where == "removed" and not all(keeps):
        ins = keeps.index(False)
    if ins is None and where in ("removed", "after") and after is not None:
        hits = [i for i, item in enumerate(old) if keeps[i] and after(item)]
        if hits:
            ins, move = hits[-1] + 1, True
    if ins is None and where == "start":
        ins = 0
    if ins is None:
        ins = len(old)
        while ins > 0 and isinstance(old[ins - 1], dict):
            ins -= 1
        move = True

    # entry: [value, eol comment, trailing full-line comments, original token, changed]
    entries: list[list[Any]] = []
    pending = ""
    kept_eol: dict[str, str] = {}  # a dropped line's own comment, by package
    if same is not None:
        ours = {f"# {c}" for c in (comments or {}).values()}  # a comment we wrote is rewritten
        for i, item in enumerate(old):
            eol = _split_comment(tokens[i])[0]
            if not (not keeps[i] and eol and same(item)):
                continue
            text = eol.strip()
            for c in ours:  # ours after theirs (a file specialized before)
                text = text.removesuffix("  " + c)
            if text not in ours:
                kept_eol.setdefault(same(item), text)

    def eol_of(v: Any) -> str | None:
        ours = f"# {comments[v]}" if comments and isinstance(v, str) and v in comments else None
        theirs = kept_eol.get(same(v)) if same is not None and kept_eol else None
        return "  ".join(c for c in (theirs, ours) if c) or None

    for i in range(len(old) + 1):
        if i == ins and insert:
            new = [[v, eol_of(v), "", None, True] for v in insert]
            if move and entries and entries[-1][2]:
                new[-1][2], entries[-1][2] = entries[-1][2], ""
                entries[-1][4] = True
            entries.extend(new)
        if i == len(old):
            break
        eol, trailing = _split_comment(tokens[i])
        if keeps[i]:
            entries.append([old[i], eol, trailing, tokens[i], False])
        elif trailing:
            if entries:
                entries[-1][2] += trailing
                entries[-1][4] = True
            else:
                pending += trailing
    if pending and entries:
        entries[0][2] = pending + entries[0][2]
        entries[0][4] = True

    seq.clear()
    seq.ca.items.clear()
    for i, (value, eol, trailing, token, changed) in enumerate(entries):
        seq.append(value)
        if not changed:
            if token is not None:
                seq.ca.items[i] = [token, None, None, None]
            continue
        if eol is None and not trailing:
            continue
        if token is not None and eol is not None:
            column = token.column
        elif eol is not None:
            column = item_column + len(str(value)) + 2
        else:
            column = 0
        text = (eol or "") + "\n" + trailing
        seq.ca.items[i] = [CommentToken(text, CommentMark(column)), None, None, None]
