"""What an environment was built from, recorded inside it.

``conda torch create`` writes ``<prefix>/conda-meta/conda-torch.provenance`` (JSON) so that
``validate``, ``doctor`` and ``recreate`` later know what the environment should be: the
environment file, the machine picture it was planned for, the plan itself and the conda-torch
version. The name must not end in ``.json``: conda 26.7's ``PrefixData.load`` reads every
``conda-meta/*.json`` as a package record and a ``conda-torch.json`` there makes ``conda list``,
``install`` and ``remove`` fail with "ValueError: not enough values to unpack" [verified on
conda 26.7.1].
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from .exceptions import ProvenanceError, os_error_line
from .values import field, value_class

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from .machine import Machine

#: Version of the provenance document. Bump the number on an incompatible change.
SCHEMA = "conda-torch.provenance/1"

#: Where the document lives, relative to the prefix.
RELPATH = Path("conda-meta") / "conda-torch.provenance"

#: Keys every plan must carry (more are kept as they are).
PLAN_KEYS = ("torch", "torchvision", "torchaudio", "python", "backend")


@value_class
class Provenance:
    """A parsed provenance file."""

    path: Path
    conda_torch_version: str
    created: str
    environment_file: str
    plan: Mapping[str, Any] = field(default_factory=dict)
    machine: Mapping[str, Any] | None = None

    # -- what the plan asked for --------------------------------------------------------

    def wants(self, package: str) -> str | None:
        """The version the plan pins for ``package`` (None when the plan leaves it out)."""
        value = self.plan.get(package)
        return str(value) if value not in (None, "", False) else None

    @property
    def backend(self) -> str | None:
        value = self.plan.get("backend")
        return str(value) if value else None

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "conda_torch_version": self.conda_torch_version,
            "created": self.created,
            "environment_file": self.environment_file,
            "machine": dict(self.machine) if self.machine is not None else None,
            "plan": dict(self.plan),
        }


def path_for(prefix: str | os.PathLike[str]) -> Path:
    return Path(prefix) / RELPATH


def write(
    prefix: str | os.PathLike[str],
    *,
    plan: Mapping[str, Any],
    environment_file: str,
    machine: Machine | Mapping[str, Any] | None = None,
) -> Path:
    """Record the provenance of the environment at ``prefix``; returns the file written.

    The write is atomic (a temporary file in the same folder, then ``os.replace``), so a reader
    never sees half a document and an interrupted write leaves the old one in place.
    """
    from . import __version__

    missing = [k for k in PLAN_KEYS if k not in plan]
    if missing:
        raise ProvenanceError(
            f"provenance plan lacks {', '.join(missing)}",
            hints=[
                (
                    "The plan must name torch, torchvision, torchaudio (null when left out), "
                    "python and backend."
                )
            ],
        )
    meta = Path(prefix) / RELPATH.parent
    if not meta.is_dir():
        raise ProvenanceError(
            f"{prefix} is not an environment: it has no conda-meta folder",
            hints=["Create the environment first; provenance is written into it."],
        )
    if machine is not None and hasattr(machine, "to_json"):
        machine_json: Any = machine.to_json()
    else:
        machine_json = dict(machine) if machine is not None else None
    doc = Provenance(
        path=path_for(prefix),
        conda_torch_version=__version__,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        environment_file=environment_file,
        plan=dict(plan),
        machine=machine_json,
    ).to_json()
    target = path_for(prefix)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".conda-torch.", suffix=".tmp", dir=meta)
    except OSError as exc:
        exc.filename = str(target)
        raise ProvenanceError(os_error_line(exc, "cannot write")) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2, sort_keys=False)
            f.write("\n")
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            exc.filename = str(target)
            raise ProvenanceError(os_error_line(exc, "cannot write")) from None
        raise
    return target


def read(prefix: str | os.PathLike[str]) -> Provenance | None:
    """The provenance recorded in ``prefix``, or None where there is none.

    A file that exists but is not a provenance document raises :class:`ProvenanceError`
    naming the file.
    """
    path = path_for(prefix)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ProvenanceError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    hint = [f"Remove {path} or recreate the environment with 'conda torch create --force'."]
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ProvenanceError(f"{path}: not valid JSON ({exc})", hints=hint) from exc
    if not isinstance(data, dict):
        raise ProvenanceError(f"{path}: not a conda-torch provenance document", hints=hint)
    schema = data.get("schema")
    if not isinstance(schema, str) or not schema.startswith("conda-torch.provenance/"):
        raise ProvenanceError(
            f"{path}: not a conda-torch provenance document (schema {schema!r})", hints=hint
        )
    if schema != SCHEMA:
        raise ProvenanceError(
            f"{path}: unsupported schema {schema!r} (this version reads {SCHEMA})",
            hints=["Upgrade conda-torch."],
        )
    plan = data.get("plan")
    machine = data.get("machine")
    if not isinstance(plan, dict) or (machine is not None and not isinstance(machine, dict)):
        raise ProvenanceError(
            f"{path}: 'plan' must be an object and 'machine' an object or null", hints=hint
        )
    env_file = data.get("environment_file")
    if not isinstance(env_file, str):
        raise ProvenanceError(f"{path}: 'environment_file' must be text", hints=hint)
    return Provenance(
        path=path,
        conda_torch_version=str(data.get("conda_torch_version") or ""),
        created=str(data.get("created") or ""),
        environment_file=env_file,
        plan=plan,
        machine=machine,
    )
