"""Regenerate the committed ``environments/*.yml`` (one file per common target).

Usage: python tools/regen_environments.py [FOLDER]   (default: environments/ at the repo root)

Every target is a generic machine of its platform (conda_torch.plan.generic_machine) planned
by conda_torch.prepare.generate, as `generate --all-platforms` plans it,
with the defaults a user gets (the newest release whose whole stack the preferred source serves
for it), and the header leaves out the conda-torch version, so the files change only when the
matrix or the generator does. tests/test_plan.py regenerates them into a
temporary folder and fails on any drift: after changing either, run this and commit the result.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def generate(folder: Path) -> list[Path]:
    """Write every target's file into ``folder``; returns the paths, in ALL_TARGETS order.

    The same road as ``conda torch generate --all-platforms`` (:func:`conda_torch.prepare.generate`)
    without a machine of its own: every target is a generic machine of its platform.
    """
    from conda_torch.envfile import write_atomic
    from conda_torch.prepare import generate as plan_files

    generated = plan_files(None, all_platforms=True, stamp_version=False)
    if generated.skipped:
        raise SystemExit("no plan for " + "; ".join(generated.skipped))
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for item in generated.files:
        path = folder / item.filename
        write_atomic(path, item.text, force=True)
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else ROOT / "environments"
    for path in generate(folder):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
