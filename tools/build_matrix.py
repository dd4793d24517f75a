#!/usr/bin/env python3
"""Build ``conda_torch/data/matrix.json`` from the PyTorch install reference.

Reads ``data/reference/pytorch/{torch_releases,cuda,apple_rocm_xpu}.yaml`` (relative to the
repository root; see ``data/reference/README.md``) and writes one compact, dated JSON file
that :mod:`conda_torch.matrix` loads at run time. YAML is parsed here, at build time only
(ruamel.yaml or PyYAML); the package never parses YAML.

Run it from the repository root::

    python3 tools/build_matrix.py            # writes conda_torch/data/matrix.json
    python3 tools/build_matrix.py --check    # exit 1 if the committed file is out of date

What the reference marks ``unverified`` is handled in one of two ways, and every case is
listed in the output's ``left_out`` / per-row ``unverified`` entries:

* a **build whose existence is unverified** (a wheel index, a conda channel build) is left out,
  so nothing can pin it;
* an **attribute of an existing build** that is unverified (a torchvision patch pairing, an
  arch list, a Windows driver floor, a Python list) stays, flagged ``"field: reason"``, so
  ``conda torch matrix --explain`` can warn about it and generators can refuse to pin it.

The release policy applied to the reference (which releases are left out, measured arch
lists, pairings a registry confirms, the pytorch channel's arch lists, ...) is data, not code:
``data/policy.yaml``, one entry per rule with the sources that establish it. The facts checked
beyond the reference (2026-11-26) are named sources in that file's ``sources:``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from conda_torch.models import version_tuple  # noqa: E402  (the one version parser)

REFERENCE = ROOT / "data" / "reference" / "pytorch"
#: The reference files read, as recorded in the output (paths relative to the repository root).
REFERENCE_FILES = ("torch_releases.yaml", "cuda.yaml", "apple_rocm_xpu.yaml", "NOTES.md")
#: conda-forge's and the ``pytorch`` channel's own per-build data (tools/feedstock_builds.py).
CF_BUILDS = ROOT / "data" / "conda-forge" / "builds.yaml"
PYTORCH_CHANNEL_PINS = ROOT / "data" / "pytorch-channel" / "pins.yaml"
#: The release policy: the rules applied to the reference rows, with their sources (hand-written).
POLICY = ROOT / "data" / "policy.yaml"
OUTPUT = ROOT / "conda_torch" / "data" / "matrix.json"
SCHEMA = "conda-torch.matrix/1"
INDEX = "https://download.pytorch.org/whl/"

SUBDIRS = ("linux-64", "linux-aarch64", "linux-ppc64le", "osx-64", "osx-arm64", "win-64")

LEFT_OUT: list[dict[str, str]] = []


def left_out(what: str, why: str) -> None:
    LEFT_OUT.append({"what": what, "why": why})


# -- YAML ---------------------------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    try:
        from ruamel.yaml import YAML

        return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    except ImportError:  # pragma: no cover - PyYAML fallback
        import yaml

        return yaml.safe_load(path.read_text(encoding="utf-8"))


def minor_of(v: str) -> str:
    return ".".join(v.split(".")[:2])


def cuda_of_variant(variant: str) -> str:
    digits = variant[2:]
    return f"{digits[:-1]}.{digits[-1]}"


def variant_of_cuda(cuda: str) -> str:
    return "cu" + cuda.replace(".", "")


def in_minors(minor: str, spec: str) -> bool:
    """``spec`` from cuda.yaml torch lists: '2.1', '2.1 (cuda 11.2)', '2.10 - 2.13'."""
    spec = re.sub(r"\(.*?\)", "", str(spec)).strip()
    if "-" in spec:
        lo, hi = (s.strip() for s in spec.split("-"))
        return version_tuple(lo) <= version_tuple(minor) <= (version_tuple(hi) if hi else (999,))
    return spec == minor


def in_range(minor: str, entry: dict[str, Any]) -> bool:
    """Whether a policy entry's ``from``/``until`` (torch minors, inclusive) hold ``minor``."""
    lo, hi = entry.get("from"), entry.get("until")
    if lo is not None and version_tuple(minor) < version_tuple(str(lo)):
        return False
    return hi is None or version_tuple(minor) <= version_tuple(str(hi))


# -- archs --------------------------------------------------------------------------------


def parse_archs(items: list[str] | str) -> tuple[list[str], str | None, list[str]]:
    """Arch list -> (archs, ptx, problems). Handles '3.7?', '12.0(+PTX?)', '8.6+PTX'."""
    if isinstance(items, str):
        items = [s for s in re.sub(r"\(.*?\)", "", items).split(";") if s.strip()]
    archs: list[str] = []
    ptx: str | None = None
    problems: list[str] = []
    for raw in items:
        s = str(raw).strip()
        if s.endswith("?") and "(" not in s:
            problems.append(
                f"whether sm_{s[:-1].replace('.', '')} is compiled in was not confirmed"
            )
            continue
        if "(+PTX?)" in s:
            s = s.replace("(+PTX?)", "")
            problems.append(
                f"ptx: whether compute_{s.replace('.', '')} PTX is included was not confirmed"
            )
            archs.append(s)
            continue
        if s.endswith("+PTX"):
            s = s[: -len("+PTX")]
            ptx = s
        archs.append(s)
    archs = sorted(set(archs), key=version_tuple)
    return archs, ptx, problems


def pip_arch_table(
    cuda_yaml: dict[str, Any], policy: dict[str, Any]
) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(minor, variant, 'x86'|'aarch64') -> {archs, ptx, unverified[], sources[]}."""
    table: dict[tuple[str, str, str], dict[str, Any]] = {}
    for block in cuda_yaml["pytorch_wheel_gpu_archs"]["by_release"]:
        block_unverified = bool(block.get("unverified"))
        unverified_for = [str(x) for x in block.get("unverified_for") or []]
        for minor in block["torch"]:
            minor = str(minor)
            for key, items in block["variants"].items():
                m = re.match(r"(cu\d+)(?:\s*\((.*?)\))?", key)
                variant, qual = m.group(1), (m.group(2) or "")
                flavour = "aarch64" if "aarch64" in qual else "x86"
                archs, ptx, problems = parse_archs(items)
                unverified = list(problems)
                conflict = str(block.get("conflict") or "")
                if conflict and variant in conflict.replace("cu128/cu129", "cu128 cu129"):
                    unverified.append(conflict)
                elif block_unverified:
                    unverified.append(
                        block.get("note")
                        or "the reference marks this release's arch lists unverified"
                    )
                if minor in unverified_for:
                    unverified.append(
                        block.get("note") or "arch list for this release not confirmed"
                    )
                if any(u.startswith(variant) and "PTX" in u for u in unverified_for):
                    problems_ptx = f"{variant} PTX not confirmed ({block.get('note', '')})".strip()
                    unverified.append(problems_ptx)
                if any(u.startswith(minor) and "RELEASE.md" in u for u in unverified_for):
                    unverified.append("arch list taken from RELEASE.md before the release")
                if flavour == "aarch64" and block.get("aarch64_unverified"):
                    unverified.append(
                        "aarch64 list derived from the x86 list and the build script filter"
                    )
                table[(minor, variant, flavour)] = {
                    "archs": archs,
                    "ptx": ptx,
                    "unverified": dedup(unverified),
                    "sources": list(block.get("sources") or []),
                }
    for m in policy["arch_measured"]:  # a list measured on a real install wins
        meas = table.get((str(m["torch"]), str(m["variant"]), str(m["flavour"])))
        if meas is not None:
            meas.update(
                archs=[str(a) for a in m["archs"]],
                ptx=m["ptx"],
                unverified=[],
                sources=dedup(meas["sources"] + list(m["sources"])),
            )
    distrust = policy["arch_ptx_distrusted"]
    for minor in distrust["torch"]:
        for variant in distrust["variants"]:
            row = table.get((str(minor), str(variant), str(distrust["flavour"])))
            if row and row["ptx"]:
                row["unverified"] = dedup(row["unverified"] + [distrust["unverified"]])
    return table


def conda_forge_arch(cuda_yaml: dict[str, Any], minor: str, cuda: str) -> dict[str, Any]:
    blocks = cuda_yaml["conda_forge_gpu_archs"]["by_release"]
    same_cuda = []
    for block in blocks:
        cudas = [c.strip() for c in str(block["cuda"]).split("/")]
        if "tegra" in str(block["cuda"]):
            continue
        if cuda not in cudas:
            continue
        same_cuda.append(block)
        if any(in_minors(minor, t) for t in block["torch"]):
            archs, ptx, problems = parse_archs(str(block["archs"]))
            return {
                "archs": archs,
                "ptx": ptx,
                "unverified": problems,
                "sources": list(block["sources"]),
            }
    if same_cuda:  # e.g. 2.7 with CUDA 12.6: the 12.6 list of the previous releases
        block = same_cuda[-1]
        archs, ptx, problems = parse_archs(str(block["archs"]))
        return {
            "archs": archs,
            "ptx": ptx,
            "unverified": problems
            + [
                (
                    f"gpu_archs: conda-forge's list for CUDA {cuda} in {minor} "
                    "was not read; taken from earlier releases"
                )
            ],
            "sources": list(block["sources"]),
        }
    return {
        "archs": [],
        "ptx": None,
        "unverified": [
            f"gpu_archs: conda-forge's arch list for CUDA {cuda} in {minor} was not read"
        ],
        "sources": [],
    }


def pytorch_channel_archs(
    policy: dict[str, Any], minor: str, cuda: str
) -> tuple[list[str], str | None]:
    """The pytorch channel's TORCH_CUDA_ARCH_LIST for ``minor``/``cuda`` (policy
    ``pytorch_channel_archs``)."""
    for entry in policy["pytorch_channel_archs"]:
        if in_range(minor, entry):
            over = (entry.get("by_cuda") or {}).get(cuda) or {}
            archs = over.get("archs", entry["archs"])
            return [str(a) for a in archs], over.get("ptx", entry["ptx"])
    raise SystemExit(f"policy pytorch_channel_archs: no entry for torch {minor}")


# -- helpers ------------------------------------------------------------------------------


def dedup(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def pythons(py: dict[str, Any], minor: str, *, experimental: dict[str, Any] | None) -> list[str]:
    """Supported Pythons; pip also gets the 'experimental' ones in the releases policy
    ``pip_experimental_pythons`` names (free-threaded builds are always left out)."""
    out = [str(v) for v in py.get("supported") or []]
    if experimental is not None and in_range(minor, experimental):
        out += [str(v) for v in py.get("experimental") or [] if not str(v).endswith("t")]
    return sorted(dedup(out), key=version_tuple)


# -- builders -----------------------------------------------------------------------------


def audio_for(policy: dict[str, Any], minor: str, variant: str) -> str | None:
    """A note when a pip variant of a torch after torchaudio's last release has no build of that
    torchaudio to pair with (policy ``torchaudio_last``)."""
    last = policy["torchaudio_last"]
    if version_tuple(minor) < version_tuple(str(last["pip_from"])):
        return None
    if variant in [str(v) for v in last["pip_variants"]]:
        return None
    return str(last["pip_missing_note"]).format(variant=variant)


def build_releases(rel_yaml: dict[str, Any], policy: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    verified = policy["verified_pairings"]
    last_audio = policy["torchaudio_last"]
    for minor_block in rel_yaml["releases"]:
        minor = str(minor_block["minor"])
        minor_unverified = bool(minor_block.get("unverified"))
        for patch in minor_block["patches"]:
            version = str(patch["version"])
            unverified: list[str] = []
            sources = list(patch.get("pairing_sources") or [])
            notes: list[str] = []
            tv = patch.get("torchvision")
            ta = patch.get("torchaudio")
            ta_compatible = [str(v) for v in patch.get("torchaudio_compatible") or []]
            if patch.get("pairing_unverified"):
                if version in verified:
                    sources += list(verified[version])
                else:
                    unverified.append(
                        f"torchvision: {patch.get('pairing_note') or 'pairing not confirmed'}"
                    )
            if ta is None and ta_compatible:
                ta = str(last_audio["version"])
                sources += list(last_audio["sources"])
                notes.append(str(last_audio["note"]))
            if patch.get("release_date_unverified"):
                unverified.append(
                    "date: proxy date (" + (patch.get("release_date_note") or "") + ")"
                )
            if minor_unverified:
                unverified.append(
                    f"release: torch {minor} came out after every source snapshot read"
                )
            row: dict[str, Any] = {
                "version": version,
                "date": patch.get("release_date"),
                "torchvision": str(tv) if tv is not None else None,
                "torchaudio": str(ta) if ta is not None else None,
                "sources": dedup(sources),
                "unverified": dedup(unverified),
            }
            alt = (policy.get("release_alt") or {}).get(version)
            if alt:
                row["alt"] = {
                    src: {k: str(v) for k, v in pair.items()} for src, pair in alt.items()
                }
                notes.append(patch.get("pairing_note") or "")
            if tv is None:
                notes.append(
                    patch.get("pairing_note") or "no torchvision release is known for this torch"
                )
            if notes:
                row["notes"] = [n for n in notes if n]
            out.append(row)
    return out


def build_rows(
    rel_yaml: dict[str, Any],
    cuda_yaml: dict[str, Any],
    pins: dict[str, Any],
    policy: dict[str, Any],
) -> list[dict[str, Any]]:
    """Every build row from the reference, except conda-forge's (:func:`conda_forge_rows`)."""
    rows: list[dict[str, Any]] = []
    archs_pip = pip_arch_table(cuda_yaml, policy)
    skipped = policy["left_out_releases"]
    windows = policy["windows_arch_lists"]
    aarch64 = policy["aarch64_pypi_cuda"]

    for mb in rel_yaml["releases"]:
        minor = str(mb["minor"])
        patches = [str(p["version"]) for p in mb["patches"]]
        py = mb.get("python") or {}
        minor_unverified = bool(mb.get("unverified"))
        if minor in skipped:
            left_out(str(skipped[minor]["what"]), str(skipped[minor]["why"]))
            continue
        pip = mb.get("pip") or {}
        rel_flags = (
            [f"release: torch {minor} came out after every source snapshot read"]
            if minor_unverified
            else []
        )
        py_flags = (
            [f"pythons: {py.get('note') or 'Python list not confirmed'}"]
            if py.get("unverified")
            else []
        )
        pip_py = pythons(py, minor, experimental=policy["pip_experimental_pythons"])

        # ---- pip --------------------------------------------------------------------
        def pip_row(
            subdir: str,
            backend: str,
            *,
            index: bool,
            extra_unverified: list[str] | None = None,
            srcs: list[str] | None = None,
            archs: dict[str, Any] | None = None,
            torchvision: bool = True,
            torchaudio: bool = True,
            notes: list[str] | None = None,
            local: bool = True,
        ) -> dict[str, Any]:
            row: dict[str, Any] = {
                "minor": minor,
                "torch": patches,
                "source": "pip",
                "subdir": subdir,
                "backend": backend,
                "python": pip_py,
                "index": (INDEX + backend) if index else None,
                "local": backend if (index and local) else None,
                "unverified": dedup(rel_flags + py_flags + (extra_unverified or [])),
                "sources": dedup(list(srcs or []) + list(py.get("sources") or [])),
            }
            if archs is not None:
                row["archs"] = archs["archs"]
                row["ptx"] = archs["ptx"]
                row["unverified"] = dedup(
                    row["unverified"]
                    + [
                        u if u.startswith(("gpu_archs", "ptx")) else f"gpu_archs: {u}"
                        for u in archs["unverified"]
                    ]
                )
                row["sources"] = dedup(row["sources"] + archs["sources"])
            if not torchvision:
                row["no_torchvision"] = True
            if not torchaudio:
                row["no_torchaudio"] = True
            if notes:
                row["notes"] = notes
            return row

        def cuda_archs(variant: str, flavour: str, subdir: str) -> dict[str, Any]:
            entry = archs_pip.get((minor, variant, flavour))
            if entry is None:
                return {
                    "archs": [],
                    "ptx": None,
                    "sources": [],
                    "unverified": [
                        f"gpu_archs: the {variant} arch list for {minor} ({subdir}) was not read"
                    ],
                }
            entry = dict(entry, unverified=list(entry["unverified"]))
            checked = version_tuple(minor) >= version_tuple(str(windows["checked_from"]))
            if subdir == "win-64" and not checked:
                entry["unverified"].append(str(windows["unverified"]))
            if subdir == "win-64" and entry["ptx"] and checked:
                entry["ptx"] = None  # RELEASE.md: +PTX on Linux builds only
            return entry

        pypi_cuda = pip.get("pypi_default_linux_x86_64_cuda")
        pypi_src = list(pip.get("pypi_default_sources") or [])
        if pip.get("pypi_default_unverified"):
            confirmed = (policy.get("pypi_default_cuda") or {}).get(minor)
            if confirmed:
                pypi_cuda, pypi_src = str(confirmed["cuda"]), list(confirmed["sources"])
            else:
                left_out(
                    f"pip: torch {minor} plain PyPI CUDA build", "its CUDA version is unverified"
                )
                pypi_cuda = None
        pypi_variant = variant_of_cuda(str(pypi_cuda)) if pypi_cuda else None
        aarch64_pypi_cuda = in_range(minor, aarch64)

        variants = [str(v) for v in pip.get("cuda_variants") or []]
        if pip.get("cuda_variants_unverified"):
            left_out(f"pip: torch {minor} CUDA variants {variants}", "variant list unverified")
            variants = []
        cv_src = list(pip.get("cuda_variants_sources") or [])
        for variant in variants:
            for subdir in ("linux-64", "win-64"):
                on_pypi = subdir == "linux-64" and variant == pypi_variant
                notes = (
                    ["plain `pip install torch` on Linux x86_64 gets this build"] if on_pypi else []
                )
                audio = audio_for(policy, minor, variant)
                rows.append(
                    pip_row(
                        subdir,
                        variant,
                        index=not on_pypi,
                        archs=cuda_archs(variant, "x86", subdir),
                        srcs=cv_src + (pypi_src if on_pypi else []) + ["PREV_VERSIONS_CMDS"],
                        notes=notes + ([audio] if audio else []),
                        torchaudio=not audio,
                    )
                )
        lo = [str(v) for v in pip.get("cuda_variants_linux_only") or []]
        if lo and pip.get("cuda_variants_linux_only_unverified"):
            left_out(
                f"pip: torch {minor} Linux-only {', '.join(lo)} wheels",
                pip.get("cuda_variants_linux_only_note")
                or "publication to the stable index unverified",
            )
            lo = []
        for variant in lo:
            on_pypi = variant == pypi_variant
            rows.append(
                pip_row(
                    "linux-64",
                    variant,
                    index=not on_pypi,
                    archs=cuda_archs(variant, "x86", "linux-64"),
                    srcs=list(pip.get("cuda_variants_linux_only_sources") or [])
                    + cv_src
                    + (pypi_src if on_pypi else [])
                    + ["PREV_VERSIONS_CMDS"],
                    notes=["plain `pip install torch` on Linux x86_64 gets this build"]
                    if on_pypi
                    else None,
                )
            )
        if pypi_variant and pypi_variant not in variants + lo:
            raise SystemExit(f"{minor}: PyPI default {pypi_variant} is not among the variants")
        aa = [str(v) for v in pip.get("linux_aarch64_cuda_variants") or []]
        if aa and pip.get("linux_aarch64_cuda_unverified"):
            left_out(
                f"pip: torch {minor} linux-aarch64 {', '.join(aa)} wheels",
                pip.get("linux_aarch64_cuda_note") or "publication not checked",
            )
            aa = []
        for variant in aa:
            on_pypi = aarch64_pypi_cuda and variant == aarch64["variant"]
            audio = audio_for(policy, minor, variant)
            notes = (
                ["plain `pip install torch` on Linux aarch64 gets this build"] if on_pypi else []
            )
            rows.append(
                pip_row(
                    "linux-aarch64",
                    variant,
                    index=not on_pypi,
                    archs=cuda_archs(variant, "aarch64", "linux-aarch64"),
                    srcs=list(pip.get("linux_aarch64_cuda_sources") or [])
                    + (list(aarch64["sources"]) if on_pypi else []),
                    notes=notes + ([audio] if audio else []),
                    torchaudio=not audio,
                )
            )
        if aarch64_pypi_cuda and aarch64["variant"] not in aa:
            raise SystemExit(f"{minor}: aarch64 PyPI {aarch64['variant']} but no such variant")

        rocm = [str(v) for v in pip.get("rocm_variants") or []]
        if rocm and pip.get("rocm_unverified"):
            left_out(
                f"pip: torch {minor} ROCm wheels {', '.join(rocm)}",
                pip.get("rocm_note") or "ROCm variant list unverified",
            )
            rocm = []
        for variant in rocm:
            rows.append(
                pip_row(
                    "linux-64",
                    variant,
                    index=True,
                    srcs=list(pip.get("rocm_sources") or []) + ["PREV_VERSIONS_CMDS"],
                )
            )
        if pip.get("xpu") and pip.get("xpu_unverified"):
            left_out(f"pip: torch {minor} XPU wheels", "XPU availability unverified")
        elif pip.get("xpu"):
            xsrc = list(pip.get("xpu_sources") or []) + ["TI_XPU"]
            rows.append(pip_row("linux-64", "xpu", index=True, srcs=xsrc))
            torch_only = (policy.get("xpu_windows_torch_only") or {}).get(minor)
            if torch_only:
                rows.append(
                    pip_row(
                        "win-64",
                        "xpu",
                        index=True,
                        srcs=xsrc,
                        torchvision=False,
                        torchaudio=False,
                        notes=[str(torch_only)],
                    )
                )
            else:
                rows.append(pip_row("win-64", "xpu", index=True, srcs=xsrc))
        cpu = pip.get("cpu_wheels") or {}
        if cpu.get("unverified"):
            left_out(f"pip: torch {minor} CPU wheels", cpu.get("note") or "unverified")
            cpu = {}
        for subdir, entry in cpu.items():
            if not isinstance(entry, dict) or not entry.get("value"):
                continue
            srcs = list(entry.get("sources") or [])
            if subdir == "linux-64":
                rows.append(pip_row(subdir, "cpu", index=True, srcs=srcs + ["PREV_VERSIONS_CMDS"]))
            elif subdir == "linux-aarch64":
                if aarch64_pypi_cuda:
                    rows.append(
                        pip_row(
                            subdir,
                            "cpu",
                            index=True,
                            srcs=srcs,
                            extra_unverified=[str(aarch64["cpu_unverified"])],
                        )
                    )
                else:
                    rows.append(
                        pip_row(
                            subdir,
                            "cpu",
                            index=False,
                            srcs=srcs,
                            notes=["the PyPI aarch64 wheel is the CPU build"],
                        )
                    )
            elif subdir == "osx-arm64":
                rows.append(pip_row(subdir, "mps", index=False, srcs=srcs + ["APPLE_MPS"]))
            elif subdir in ("osx-64", "win-64"):
                rows.append(pip_row(subdir, "cpu", index=False, srcs=srcs))
            else:
                raise SystemExit(f"unknown cpu_wheels subdir {subdir}")

        # ---- pytorch channel --------------------------------------------------------
        ch = mb.get("conda_pytorch_channel") or {}
        if ch.get("published"):
            ch_src = list(ch.get("sources") or [])
            plats = [str(p) for p in ch.get("platforms") or []]
            ch_py = pythons(py, minor, experimental=None)
            for missing in (policy.get("pytorch_channel_missing") or {}).get(minor) or ():
                if missing not in plats:
                    left_out(
                        f"pytorch channel: torch {minor} {missing}",
                        ch.get("platforms_note") or "not checked",
                    )

            def ch_row(
                subdir: str,
                backend: str,
                mechanism: str | None,
                value: str | None,
                channels: list[str],
                archs: tuple[list[str], str | None] | None = None,
                extra: list[str] | None = None,
            ) -> dict[str, Any]:
                row: dict[str, Any] = {
                    "minor": minor,
                    "torch": patches,
                    "source": "pytorch",
                    "subdir": subdir,
                    "backend": backend,
                    "python": ch_py,
                    "channels": channels,
                    "mechanism": mechanism,
                    "mechanism_value": value,
                    "unverified": list(extra or []),
                    "sources": dedup(
                        ch_src + list(py.get("sources") or []) + ["PREV_VERSIONS_CMDS"]
                    ),
                }
                channel_pins = pytorch_channel_pins(pins, minor, subdir)
                if channel_pins:
                    row["pins"] = channel_pins
                    row["sources"] = dedup(row["sources"] + ["PYTORCH_CHANNEL_PINS"])
                if archs is not None:
                    row["archs"], row["ptx"] = archs
                    row["sources"] = dedup(row["sources"] + ["BUILDER_CONDA_ARCH"])
                    if subdir == "win-64":
                        row["unverified"].append(
                            "gpu_archs: the Windows conda build script was not "
                            "read (taken from the Linux one)"
                        )
                return row

            for subdir in plats:
                if subdir in ("linux-64", "win-64"):
                    if ch.get("cuda_mechanism") == "cudatoolkit":
                        for cuda in ch.get("cudatoolkit") or []:
                            cuda = str(cuda)
                            channels = [
                                str(c)
                                for c in policy["cudatoolkit_channels"].get(cuda) or ["pytorch"]
                            ]
                            rows.append(
                                ch_row(
                                    subdir,
                                    variant_of_cuda(cuda),
                                    "cudatoolkit",
                                    cuda,
                                    channels,
                                    archs=pytorch_channel_archs(policy, minor, cuda),
                                )
                            )
                    else:
                        for cuda in ch.get("pytorch_cuda") or []:
                            cuda = str(cuda)
                            rows.append(
                                ch_row(
                                    subdir,
                                    variant_of_cuda(cuda),
                                    "pytorch-cuda",
                                    cuda,
                                    [str(c) for c in ch.get("channels") or ["pytorch", "nvidia"]],
                                    archs=pytorch_channel_archs(policy, minor, cuda),
                                )
                            )
                    rows.append(
                        ch_row(
                            subdir,
                            "cpu",
                            str(ch.get("cpu_package") or "cpuonly"),
                            None,
                            ["pytorch"],
                        )
                    )
                elif subdir == "osx-64":
                    rows.append(ch_row(subdir, "cpu", None, None, ["pytorch"]))
                elif subdir == "osx-arm64":
                    rows.append(ch_row(subdir, "mps", None, None, ["pytorch"]))
                else:
                    raise SystemExit(f"unknown pytorch channel platform {subdir}")

    return rows


def _build_prefix(string: str) -> str | None:
    """``cuda129_py*_h*_0`` -> ``cuda129*``; ``cpu_generic_py*`` -> ``cpu*``: the build-string
    selection that picks a build of this kind (``None`` where the string has neither)."""
    m = re.match(r"(cuda\d*|cpu)", string or "")
    return f"{m.group(1)}*" if m else None


def _feedstock_ref(b: dict[str, Any]) -> str:
    return f"{b['repo']}@{b['commit'][:12]}:{b['path']}"


def _unverified_list(b: dict[str, Any]) -> list[str]:
    value = b.get("unverified")
    if not value:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def conda_forge_rows(
    cf: dict[str, Any], versions: set[str], cuda_yaml: dict[str, Any]
) -> list[dict[str, Any]]:
    """conda-forge's build rows from its own per-build data (``data/conda-forge/builds.yaml``).

    One row per pytorch version, subdir and CUDA compiler (or CPU), with the torchvision and
    torchaudio a solve installs beside it: builds made against that pytorch minor (pytorch's
    ``run_exports`` pin them to it), of the same kind (``pytorch * cuda*`` / ``cpu*``) and, for
    CUDA, the same CUDA major (nvcc's run_export ``cuda-version >=X.Y,<X+1``), the newest such
    version. ``cuda_version`` is the newest compiler among the three: the ``cuda-version`` every
    one of them accepts. Pythons are per package (a companion may cover fewer).
    """
    builds = cf["builds"]
    torch_groups: dict[tuple[str, str, str | None], list[dict[str, Any]]] = {}
    companions: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for b in builds:
        if b["package"] == "pytorch":
            if b.get("arm_variant") == "tegra":
                left_out(
                    f"conda-forge: pytorch {b['version']} {b['subdir']} cuda {b['cuda']} tegra",
                    "Jetson-only variant (arm_variant_type tegra); not modelled",
                )
                continue
            torch_groups.setdefault((b["version"], b["subdir"], b["cuda"]), []).append(b)
        else:
            companions.setdefault((b["package"], b["subdir"], str(b["pytorch"])), []).append(b)

    def cmajor(cuda: str | None) -> int | None:
        return None if cuda is None else version_tuple(cuda)[0]

    rows: list[dict[str, Any]] = []
    for (version, subdir, cuda), group in sorted(
        torch_groups.items(),
        key=lambda kv: (version_tuple(kv[0][0]), kv[0][1], version_tuple(kv[0][2] or "0")),
    ):
        if version not in versions:
            left_out(f"conda-forge: pytorch {version}", "not a torch release in the dataset")
            continue
        minor = minor_of(version)
        top = max(group, key=lambda b: b["number"])
        py = sorted({p for b in group for p in b["python"]}, key=version_tuple)
        row: dict[str, Any] = {
            "minor": minor,
            "torch": [version],
            "source": "conda-forge",
            "subdir": subdir,
            "python": py,
            "channels": ["conda-forge"],
            "unverified": [],
            "sources": ["CF_BUILDS"],
            "feedstock": [_feedstock_ref(top)],
        }
        if cuda is None:
            row["backend"] = "mps" if subdir == "osx-arm64" else "cpu"
            row["build"] = "cpu" if subdir.startswith(("linux", "win")) else None
            if subdir == "osx-arm64":
                row["sources"].append("APPLE_MPS")
        else:
            row["backend"] = variant_of_cuda(cuda)
            row["build"] = variant_of_cuda(cuda).replace("cu", "cuda")
            archs, ptx, unv = parse_archs([str(a) for a in top.get("archs") or []])
            if not archs:
                row["unverified"].append(
                    f"gpu_archs: the build script of pytorch {version} ({subdir}, CUDA {cuda}) "
                    "sets no architecture list"
                )
            row["archs"], row["ptx"] = archs, ptx
            row["unverified"] += unv
            row["sources"] += ["CF_CUDA_VERSION"]
        for floor in ("glibc", "macos"):
            if top.get(floor):
                row[floor] = str(top[floor])
        cudas = [cuda] if cuda else []
        for package in ("torchvision", "torchaudio"):
            found = [
                b
                for b in companions.get((package, subdir, minor), ())
                if cmajor(b["cuda"]) == cmajor(cuda)
            ]
            if not found:
                row[f"no_{package}"] = True
                continue
            newest = max(version_tuple(b["version"]) for b in found)
            chosen = [b for b in found if version_tuple(b["version"]) == newest]
            best = max(chosen, key=lambda b: b["number"])
            row[package] = best["version"]
            row[f"{package}_build"] = _build_prefix(best["string"])
            row[f"{package}_python"] = sorted(
                {p for b in chosen for p in b["python"]}, key=version_tuple
            )
            if best["cuda"]:
                cudas.append(best["cuda"])
                tarchs, tptx, _ = parse_archs([str(a) for a in best.get("archs") or []])
                if tarchs:
                    row[f"{package}_archs"] = tarchs
                    row[f"{package}_ptx"] = tptx
            for floor in ("glibc", "macos"):
                if best.get(floor) and version_tuple(str(best[floor])) > version_tuple(
                    str(row.get(floor) or "0")
                ):
                    row[floor] = str(best[floor])
            row["unverified"] += [f"{package}: {u}" for u in _unverified_list(best)]
            row["feedstock"].append(_feedstock_ref(best))
        if cudas:
            row["cuda_version"] = max(cudas, key=version_tuple)
        row["unverified"] = dedup(row["unverified"])
        rows.append(row)
    return rows


def conda_forge_pairs(cf: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    """``{"torchvision": {"0.25.0": ["2.9", "2.10"]}, ...}``: the pytorch minors each
    conda-forge companion version was built against (any subdir, any build)."""
    out: dict[str, dict[str, set[str]]] = {}
    for b in cf["builds"]:
        if b["package"] == "pytorch":
            continue
        out.setdefault(b["package"], {}).setdefault(b["version"], set()).add(str(b["pytorch"]))
    return {
        pkg: {
            v: sorted(m, key=version_tuple)
            for v, m in sorted(d.items(), key=lambda kv: version_tuple(kv[0]))
        }
        for pkg, d in sorted(out.items())
    }


def pytorch_channel_pins(pins: dict[str, Any], minor: str, subdir: str) -> list[str]:
    """The pins (``mkl<2024.1``) that keep a ``pytorch``-channel environment importable."""
    out = []
    for pin in pins.get("pins") or ():
        applies = pin.get("applies_to") or {}
        if minor in (applies.get("releases") or ()) and subdir in (applies.get("subdirs") or ()):
            out.append(f"{pin['package']}{pin['spec']}")
    return out


def build_drivers(cuda_yaml: dict[str, Any], policy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {
        str(cuda): {
            "linux": str(entry["linux"]),
            "win": str(entry["win"]),
            "linux_compat": None,
            "win_compat": None,
            "unverified": {os: [str(entry["unverified"])] for os in ("linux", "win")},
            "sources": list(entry["sources"]),
        }
        for cuda, entry in policy["drivers"].items()
    }
    for cuda, entry in cuda_yaml["cuda_versions"].items():
        cuda = str(cuda)
        tk = entry.get("toolkit_driver_min")
        if not tk:
            continue
        mc = entry.get("minor_version_compat_min") or {}

        def clean(v: Any) -> str | None:
            if v is None:
                return None
            return str(v).split()[0]

        win_unverified = []
        if tk.get("windows_x86_64") is None:
            win_unverified.append(
                "min_driver: NVIDIA publishes no Windows driver minimum for CUDA "
                f"{cuda} (Table 3 shows N/A)"
            )
        if mc.get("windows_unverified"):
            win_unverified.append(
                "min_driver_compat: copies of NVIDIA's table disagree on the Windows "
                f"floor ({mc.get('windows_conflict')})"
            )
        out[cuda] = {
            "linux": clean(tk.get("linux_x86_64")),
            "win": clean(tk.get("windows_x86_64")),
            "linux_compat": clean(mc.get("linux_x86_64")),
            "win_compat": clean(mc.get("windows_x86_64")),
            "unverified": {"linux": [], "win": win_unverified},
            "sources": dedup(list(tk.get("sources") or []) + list(mc.get("sources") or [])),
        }
    return out


def build_macos(apple: dict[str, Any], policy: dict[str, Any]) -> dict[str, Any]:
    mps = apple["mps"]
    floors = []
    for entry in mps["min_macos_for_mps_by_torch"]:
        lo, _, hi = str(entry["torch"]).partition("-")
        floors.append(
            {
                "from": lo.strip(),
                "until": hi.strip() or None,
                "macos": str(entry["min_macos"]),
                "unverified": bool(entry.get("unverified")),
                "sources": list(entry.get("sources") or []),
            }
        )
    install = [
        {
            "from": str(e["from"]),
            "macos": str(e["macos"]),
            "source": str(e["source"]),
            "sources": list(e["sources"]),
        }
        for e in policy["macos_pip_install"]
    ]
    return {"mps": floors, "pip_install": install}


def merge_sources(policy: dict[str, Any], *docs: dict[str, Any]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for doc in docs:
        for key, entry in (doc.get("sources") or {}).items():
            if key in out:
                continue
            out[key] = {
                k: str(v)
                for k, v in entry.items()
                if k in ("what", "url", "repo", "path", "commit", "command", "index_id")
            }
    for key, entry in (policy.get("sources") or {}).items():
        out.setdefault(key, {k: str(v) for k, v in entry.items()})
    return dict(sorted(out.items()))


def build() -> dict[str, Any]:
    LEFT_OUT.clear()
    rel = load_yaml(REFERENCE / "torch_releases.yaml")
    cuda = load_yaml(REFERENCE / "cuda.yaml")
    apple = load_yaml(REFERENCE / "apple_rocm_xpu.yaml")
    policy = load_yaml(POLICY)
    date = str(rel["meta"]["generated"])
    releases = build_releases(rel, policy)
    cf = load_yaml(CF_BUILDS)
    pins = load_yaml(PYTORCH_CHANNEL_PINS)
    rows = build_rows(rel, cuda, pins, policy)
    rows += conda_forge_rows(cf, {r["version"] for r in releases}, cuda)
    for entry in policy["left_out"]:
        left_out(str(entry["what"]), str(entry["why"]))
    data = {
        "schema": SCHEMA,
        "date": date,
        "built_by": "tools/build_matrix.py",
        "inputs": [
            *((REFERENCE / name).relative_to(ROOT).as_posix() for name in REFERENCE_FILES),
            *(p.relative_to(ROOT).as_posix() for p in (CF_BUILDS, PYTORCH_CHANNEL_PINS)),
        ],
        "subdirs": list(SUBDIRS),
        "releases": releases,
        "builds": rows,
        "conda_forge_pairs": conda_forge_pairs(cf),
        "drivers": build_drivers(cuda, policy),
        "macos": build_macos(apple, policy),
        "sources": merge_sources(policy, rel, cuda, apple),
        "left_out": dedup(LEFT_OUT),
    }
    check(data)
    return data


def check(data: dict[str, Any]) -> None:
    """Refuse to write a dataset with dangling citations or impossible rows."""
    keys = set(data["sources"])
    versions = {r["version"] for r in data["releases"]}
    for r in data["releases"]:
        for k in r["sources"]:
            if k not in keys:
                raise SystemExit(f"release {r['version']}: unknown source {k}")
    seen = set()
    for row in data["builds"]:
        ident = (row["source"], row["subdir"], row["backend"], tuple(row["torch"]))
        if ident in seen:
            raise SystemExit(f"duplicate row {ident}")
        seen.add(ident)
        for k in row["sources"]:
            if k not in keys:
                raise SystemExit(f"row {ident}: unknown source {k}")
        for v in row["torch"]:
            if v not in versions:
                raise SystemExit(f"row {ident}: unknown torch {v}")
        if row["subdir"].startswith("osx") and row["backend"].startswith("cu"):
            raise SystemExit(f"row {ident}: CUDA on macOS")
    for d in data["drivers"].values():
        for k in d["sources"]:
            if k not in keys:
                raise SystemExit(f"driver table: unknown source {k}")


def compact(data: dict[str, Any]) -> dict[str, Any]:
    """Shrink the rows for a fast load: repeated strings and lists go into one ``texts`` table.

    In a compact row, ``sources`` (comma-joined keys), ``python`` and ``archs`` (space-joined)
    and each ``unverified``/``notes`` entry are indices into ``texts``; ``index``/``local`` are
    ``1`` where the wheels come from ``https://download.pytorch.org/whl/<backend>`` with the
    ``+<backend>`` local tag; ``minor`` is dropped (it is the torch versions' prefix).
    :meth:`conda_torch.matrix.Matrix.rows` gives the rows back in full.
    """
    texts: list[str] = []
    index: dict[str, int] = {}

    def ref(text: str) -> int:
        if text not in index:
            index[text] = len(texts)
            texts.append(text)
        return index[text]

    rows = []
    for row in data["builds"]:
        out = {k: v for k, v in row.items() if k != "minor"}
        out["sources"] = ref(",".join(row["sources"]))
        out["python"] = ref(" ".join(row["python"]))
        out["unverified"] = [ref(u) for u in row["unverified"]]
        if row.get("notes"):
            out["notes"] = [ref(n) for n in row["notes"]]
        if "archs" in row:
            out["archs"] = ref(" ".join(row["archs"]))
        if row.get("index"):
            if row["index"] != INDEX + row["backend"]:
                raise SystemExit(f"index {row['index']} is not the backend's")
            out["index"] = 1
        if row.get("local"):
            if row["local"] != row["backend"]:
                raise SystemExit(f"local tag {row['local']} is not the backend")
            out["local"] = 1
        for key in ("index", "local", "notes"):
            if not out.get(key):
                out.pop(key, None)
        rows.append(out)
    return dict(data, builds=rows, texts=texts, compact=True)


def dump(data: dict[str, Any]) -> str:
    """The JSON text, one build row, release, text and source per line (reviewable diffs)."""
    doc = compact(data)

    def one(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    parts = []
    for key, value in doc.items():
        if isinstance(value, list) and value:
            body = ",\n".join(one(v) for v in value)
            parts.append(f"{one(key)}:[\n{body}\n]")
        elif (
            isinstance(value, dict) and value and key in ("sources", "drivers", "conda_forge_pairs")
        ):
            body = ",\n".join(f"{one(k)}:{one(v)}" for k, v in value.items())
            parts.append(f"{one(key)}:{{\n{body}\n}}")
        else:
            parts.append(f"{one(key)}:{one(value)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed file differs")
    parser.add_argument("-o", "--output", default=str(OUTPUT))
    args = parser.parse_args(argv)
    text = dump(build())
    out = Path(args.output)
    if args.check:
        current = out.read_text(encoding="utf-8") if out.exists() else ""
        if current != text:
            print(f"{out} is out of date: run python3 tools/build_matrix.py", file=sys.stderr)
            return 1
        print(f"{out} is up to date")
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    data = json.loads(text)
    print(
        f"wrote {out} ({len(text)} bytes, {len(data['releases'])} releases, "
        f"{len(data['builds'])} build rows, {len(data['left_out'])} left out)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
