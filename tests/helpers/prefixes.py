"""Conda prefixes built from files, as conda writes them (``conda-meta/*.json`` records, a
``conda-meta/history``, pip's ``.dist-info`` folders), for the doctor/recreate/health tests;
and what must survive a replacement (:func:`snapshot`, :func:`siblings`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .venvs import site_packages


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONNOUSERSITE")}
    env.update(extra)
    return env


def record(
    prefix: Path,
    name: str,
    version: str,
    build: str,
    channel: str,
    *,
    files: tuple[str, ...] = (),
    depends: tuple[str, ...] = (),
    subdir: str = "linux-64",
) -> None:
    meta = prefix / "conda-meta"
    meta.mkdir(parents=True, exist_ok=True)
    (meta / "history").touch()
    doc = {
        "name": name,
        "version": version,
        "build": build,
        "build_number": 0,
        "channel": channel,
        "subdir": subdir,
        "depends": list(depends),
        "files": list(files),
        "fn": f"{name}-{version}-{build}.conda",
    }
    (meta / f"{name}-{version}-{build}.json").write_text(json.dumps(doc))


def dist_info(
    prefix: Path,
    name: str,
    version: str,
    installer: str | None,
    *,
    requires: tuple[str, ...] = (),
    requested: bool = False,
) -> str:
    folder = site_packages(prefix) / f"{name}-{version}.dist-info"
    folder.mkdir(parents=True)
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {name}",
        f"Version: {version}",
        *(f"Requires-Dist: {r}" for r in requires),
        "",
    ]
    (folder / "METADATA").write_text("\n".join(lines) + "\nlong description\n")
    if installer is not None:
        (folder / "INSTALLER").write_text(installer + "\n")
    if requested:
        (folder / "REQUESTED").write_text("")
    pkg = site_packages(prefix) / name
    pkg.mkdir(exist_ok=True)
    (pkg / "__init__.py").write_text(f"__version__ = {version!r}\n")
    return str(folder.relative_to(prefix))


FORGE = "https://conda.anaconda.org/conda-forge/linux-64"


PYTORCH = "https://conda.anaconda.org/pytorch/linux-64"


MAIN = "https://repo.anaconda.com/pkgs/main/linux-64"


def conda_torch_prefix(
    prefix: Path,
    *,
    torch_channel: str = FORGE,
    build: str = "cpu_generic_py311_h1_0",
    version: str = "2.13.0",
    python_channel: str = FORGE,
) -> Path:
    record(prefix, "python", "3.11.9", "h1_0_cpython", python_channel)
    meta = dist_info(prefix, "torch", version, "conda")
    record(
        prefix,
        "pytorch",
        version,
        build,
        torch_channel,
        files=(f"{meta}/INSTALLER", f"{meta}/METADATA"),
        depends=("python >=3.11,<3.12",),
    )
    record(prefix, "libtorch", version, build.replace("py311_", ""), torch_channel)
    return prefix


def history(prefix: Path, *sections: tuple[str, list[str]]) -> None:
    """A conda-meta/history in conda's format: (command, ["update specs: [...]", ...])."""
    lines = []
    for i, (cmd, comments) in enumerate(sections):
        lines += [
            f"==> 2026-01-0{i + 1} 10:00:00 <==",
            f"# cmd: {cmd}",
            "# conda version: 26.7.1",
            *(f"# {c}" for c in comments),
        ]
    (prefix / "conda-meta").mkdir(parents=True, exist_ok=True)
    (prefix / "conda-meta" / "history").write_text("\n".join(lines) + "\n")


def snapshot(prefix: Path) -> dict[str, bytes]:
    """What must survive: conda's records and history, and the environment's own files."""
    out = {}
    for path in sorted(prefix.rglob("*")):
        rel = path.relative_to(prefix)
        if (
            path.is_file()
            and not path.is_symlink()
            and ("conda-meta" in rel.parts or "share" in rel.parts)
        ):
            out[str(rel)] = path.read_bytes()
    return out


def siblings(prefix: Path) -> list[str]:
    return sorted(
        p.name
        for p in prefix.parent.iterdir()
        if p.name.startswith(f".{prefix.name}.conda-torch")
        or p.name.startswith(f"{prefix.name}.conda-torch")
    )


def env_file(path: Path, *specs: str, channels: tuple[str, ...] = ("conda-forge",)) -> Path:
    lines = [
        "channels:",
        *(f"  - {c}" for c in channels),
        "dependencies:",
        *(f"  - {s}" for s in specs),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path
