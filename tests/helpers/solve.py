"""Dry-run solves with a real conda over the stand-in channels (``standin.py``): whether a
file's conda dependencies are co-installable for a platform, and what conda would install."""

from __future__ import annotations

import json
import os
import subprocess
from typing import TYPE_CHECKING, Any

from conda_torch.envfile import loads

if TYPE_CHECKING:
    from pathlib import Path

class Solver:
    def __init__(self, exe: str, root: Path, urls: dict[str, str]) -> None:
        self.exe = exe
        self.root = root
        self.urls = urls
        self.condarc = root / "condarc.yml"
        self.condarc.write_text(
            "solver: classic\noffline: true\nnotify_outdated_conda: false\n"
            f"channel_alias: {root.as_uri()}\n"
            f"default_channels: [{urls['defaults']}]\n"
            f"pkgs_dirs: [{root / 'pkgs'}]\n"
            "add_pip_as_python_dependency: false\n",
            encoding="utf-8",
        )

    def solve(
        self, text: str, subdir: str, *, cuda: str | None = None, glibc: str = "2.28",
        osx: str = "14.0",
    ) -> tuple[bool, Any]:  # fmt: skip
        """Solve a file's conda dependencies for ``subdir``: (success, packages or message)."""
        doc = loads(text)
        specs = [str(d) for d in doc.dependencies if isinstance(d, str)]
        channels = [str(c) for c in doc.data.get("channels") or ()]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CONDA_", "_CE_"))}
        env.update(
            {
                "CONDARC": str(self.condarc),
                "CONDA_SUBDIR": subdir,
                "CONDA_OVERRIDE_GLIBC": glibc,
                "CONDA_OVERRIDE_OSX": osx,
                "CONDA_OVERRIDE_CUDA": cuda or "",
                "HOME": str(self.root),
            }
        )
        args = [self.exe, "create", "--dry-run", "--json", "-p", str(self.root / "env")]
        args += ["--override-channels"] + [x for c in channels for x in ("-c", c)]
        proc = subprocess.run(
            [*args, *specs], capture_output=True, text=True, env=env, timeout=300
        )
        try:
            out = json.loads(proc.stdout)
        except ValueError:
            return False, proc.stderr or proc.stdout
        if proc.returncode != 0 or not out.get("success", False):
            return False, out.get("message") or out.get("error") or out
        links = out.get("actions", {}).get("LINK", [])
        return True, {p["name"]: p for p in links}
