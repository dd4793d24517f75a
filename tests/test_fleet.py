"""One plan for several machines (``conda_torch.fleet``, ``--node``): the node types of a cluster.

The node pictures are real captures from ``tests/data/fixtures`` (an H100 on 580, a Quadro RTX
4000 pair on 535, an RTX 4070 on 550, a Tesla P4 on 550, a V100 pair on 580, a TITAN Xp on 450,
a K80 on 410), each written where a user's file would be. Every claim is checked against the
rules themselves: the matrix judges each node on its own, ``compat.arch_coverage`` says each
node's GPUs run the chosen build natively, ``compat.driver_support`` that each driver runs it;
with a real conda (marked ``conda``), the file solves for the oldest node's ``__cuda`` and a
login node without a GPU creates the environment.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conda_torch import compat
from conda_torch.detect import detect
from conda_torch.exceptions import CondaTorchError, IncompatibleError, InputFileError
from conda_torch.fleet import FleetSplitError, explain, load_node, plan_fleet
from conda_torch.matrix import load
from conda_torch.plan import make_plan
from conda_torch.render import file_text as render

from .helpers.cli import cli
from .helpers.paths import FIXTURES, read_fixture

ROOT = Path(__file__).resolve().parents[1]
M = load()

#: label -> real capture (tests/data/fixtures/INDEX.md says where each comes from)
CAPTURES = {
    "h100": "nvidia-smi/h100-80gb-hbm3-580.159.04-cuda13.0-vm.txt",
    "quadro": "nvidia-smi/quadro-rtx4000x2-535.129.03-cuda12.2-with-L.txt",
    "rtx4070": "nvidia-smi/rtx4070-550.40.07-cuda12.4.txt",
    "p4": "nvidia-smi/teslap4-550.135-cuda12.4.txt",
    "v100": "nvidia-smi/v100-sxm2-x2-580.126.09-cuda13.0.txt",
    "titanxp": "nvidia-smi/titanxp-450.57-cuda11.0.txt",
    "k80": "nvidia-smi/k80-410.104-cuda10.0-gce.txt",
    "rtx5090": "nvidia-smi/rtx5090-595.71.05-cuda13.2.txt",
    "mac": "conda-info/osx-arm64-conda4.11-osx12.2.1.txt",
}
FLEET = ("h100", "quadro", "rtx4070", "p4", "v100")


def capture(folder: Path, label: str, relpath: str | None = None) -> str:
    """The verbatim output of a capture, saved as ``folder/<label>.txt``."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{label}.txt"
    out.write_text(read_fixture(FIXTURES / (relpath or CAPTURES[label]))[1], encoding="utf-8")
    return str(out)


def nodes(tmp_path: Path, *labels: str) -> list[str]:
    return [capture(tmp_path / "nodes", label) for label in labels]


def own_plan(path: str):
    """The plan for one machine, as `generate --from FILE` makes it."""
    return make_plan(detect(from_files=[path], environ={}), matrix=M)


def verdict_on(node, candidate):
    subdir = candidate.subdir
    for v in M.evaluate(node.machine, subdir=str(subdir)):
        if v.candidate.key == candidate.key:
            return v
    raise AssertionError(f"{candidate.key} not judged for {node.label}")


# -- one node is one machine --------------------------------------------------------------------


@pytest.mark.parametrize("label", sorted(set(CAPTURES) - {"mac"}))
def test_a_fleet_of_one_is_that_machine(tmp_path: Path, label: str) -> None:
    (path,) = nodes(tmp_path, label)
    alone = own_plan(path)
    plan = plan_fleet([path], matrix=M).plan
    assert plan.candidate.key == alone.candidate.key
    assert plan.python == alone.python
    assert [n.label for n in plan.nodes] == [label]
    assert plan.bound == ()


# -- five node types, one file --------------------------------------------------------------------


def test_one_file_runs_on_every_node_type(tmp_path: Path) -> None:
    paths = nodes(tmp_path, *FLEET)
    fleet = plan_fleet(paths, matrix=M)
    (group,) = fleet.groups
    plan, chosen = group.plan, group.plan.candidate
    assert fleet.split is None
    assert chosen.backend.kind == "cuda"
    cuda = chosen.backend.cuda_version
    floors = M.drivers.get(cuda) or {}
    for node in group.nodes:
        assert verdict_on(node, chosen).accepted, node.label
        nv = node.machine.nvidia
        for gpu in node.machine.visible_nvidia_gpus:
            for archs, ptx in [(chosen.gpu_archs, chosen.ptx)] + [
                (a, p) for _pkg, a, p in chosen.companion_archs
            ]:
                cov = compat.arch_coverage(gpu.compute_capability, archs, ptx)
                assert cov.native, (node.label, gpu.name, cov.describe())
        support = compat.driver_support(
            cuda, driver=nv.driver_version, driver_cuda=nv.cuda_version,
            floor=floors.get("linux"), compat_floor=floors.get("linux_compat"),
        )  # fmt: skip
        assert support.runs, (node.label, support.reason)
    # The file asks for what every node's driver has (minor-version compatibility).
    assert plan.requires_cuda == f"__cuda>={cuda.split('.')[0]}"


def test_what_bound_the_choice_is_named(tmp_path: Path) -> None:
    paths = nodes(tmp_path, *FLEET)
    plan = plan_fleet(paths, matrix=M).plan
    h100_alone = own_plan(paths[0])
    # The H100 alone gets a newer CUDA: the others hold it back, and the plan says which and why.
    assert h100_alone.candidate.backend.cuda_version != plan.candidate.backend.cuda_version
    held_back = h100_alone.candidate
    bound = "\n".join(plan.bound)
    assert "driver 535.129.03 on quadro caps CUDA at 12.x" in bound
    assert "driver 550.40.07 on rtx4070 caps CUDA at 12.x" in bound
    assert "Tesla P4 (sm_61) on p4 rules out" in bound
    assert "(sm_70) on v100 rules out" in bound
    assert " on h100 " not in bound
    assert f"torch {held_back.torch} (conda-forge, {held_back.label})" in bound
    # ... and each named node really rejects that build, the H100 really runs it
    by_label = {n.label: n for n in plan_fleet(paths, matrix=M).groups[0].nodes}
    for label in ("quadro", "rtx4070", "p4", "v100"):
        assert not verdict_on(by_label[label], held_back).accepted
    assert verdict_on(by_label["h100"], held_back).accepted


def test_header_lists_each_node_type(tmp_path: Path) -> None:
    plan = plan_fleet(nodes(tmp_path, *FLEET), matrix=M).plan
    text = render(plan)
    header = text.split("-- end of conda-torch header --")[0]
    assert "# For: 5 node types, linux-64" in header
    for label, driver in (("h100", "580.159.04"), ("quadro", "535.129.03"), ("p4", "550.135")):
        assert f"#        {label} ({label}.txt): NVIDIA driver {driver}" in header
    assert "2x Quadro RTX 4000 (7.5)" in header
    assert "# Bound:" in header and "caps CUDA at 12.x" in header
    assert "  - __cuda>=12 " in text


def test_the_solve_sees_the_oldest_driver(tmp_path: Path) -> None:
    (group,) = plan_fleet(nodes(tmp_path, *FLEET), matrix=M).groups
    assert group.oldest_cuda == ("12.2", "quadro")
    (var, value, why), *_ = group.solve_environ()
    assert (var, value) == ("CONDA_OVERRIDE_CUDA", "12.2")
    assert "quadro" in why


def test_a_node_type_needing_ptx_jit_does_not_hold_back_the_others(tmp_path: Path) -> None:
    """Each node type is judged on its own: torch 2.6's cuda 12.6 companions reach the RTX 5090
    (sm_120) only through PTX JIT, which its 595 driver (CUDA 13.2) can do; the Quadro's 535
    (CUDA 12.2) runs the build natively through minor-version compatibility. The file lists
    the requirement both meet, and the oldest driver's CUDA satisfies it."""
    (group,) = plan_fleet(nodes(tmp_path, "rtx5090", "quadro"), matrix=M, torch="2.6").groups
    plan = group.plan
    rtx5090, quadro = (verdict_on(n, plan.candidate) for n in group.nodes)
    assert rtx5090.accepted and rtx5090.needs_jit and rtx5090.requires_cuda == "__cuda>=12.6"
    assert quadro.accepted and not quadro.needs_jit and quadro.requires_cuda == "__cuda>=12"
    assert plan.requires_cuda == "__cuda>=12"
    assert any(w.startswith("on rtx5090: ") and "PTX JIT" in w for w in plan.warnings)
    assert group.oldest_cuda == ("12.2", "quadro")


# -- splits and refusals --------------------------------------------------------------------


def test_node_types_that_no_build_serves_split(tmp_path: Path) -> None:
    paths = nodes(tmp_path, "h100", "quadro", "titanxp")
    with pytest.raises(FleetSplitError) as err:
        plan_fleet(paths, matrix=M)
    assert "h100, quadro:" in err.value.line and "titanxp:" in err.value.line
    fleet = plan_fleet(paths, matrix=M, split=True)
    assert [g.labels for g in fleet.groups] == [("h100", "quadro"), ("titanxp",)]
    titanxp = fleet.groups[1].plan
    alone = own_plan(paths[2])
    assert titanxp.candidate.key == alone.candidate.key
    joint = fleet.groups[0].plan.candidate
    for node in fleet.groups[0].nodes:
        assert verdict_on(node, joint).accepted and not verdict_on(node, joint).reasons
    assert [g.filename for g in fleet.groups] == ["h100+quadro.yml", "titanxp.yml"]


def test_a_node_type_without_a_gpu_build_gets_its_own_cpu_file(tmp_path: Path) -> None:
    fleet = plan_fleet(nodes(tmp_path, "h100", "k80"), matrix=M, split=True)
    assert [(g.labels, g.plan.variant) for g in fleet.groups] == [
        (("h100",), "cuda"),
        (("k80",), "cpu"),
    ]


def test_platforms_that_cannot_share_a_file_are_refused_with_the_grouping(tmp_path: Path) -> None:
    paths = nodes(tmp_path, "h100", "mac")
    with pytest.raises(IncompatibleError) as err:
        plan_fleet(paths, matrix=M)
    assert "cannot share one environment file (linux-64: h100; osx-arm64: mac)" in err.value.line
    fleet = plan_fleet(paths, matrix=M, split=True)
    assert [(g.labels, g.plan.subdir) for g in fleet.groups] == [
        (("h100",), "linux-64"),
        (("mac",), "osx-arm64"),
    ]


def test_labels(tmp_path: Path) -> None:
    path = capture(tmp_path, "node", CAPTURES["h100"])
    assert load_node(f"gpu-a={path}").label == "gpu-a"
    assert load_node(path).label == "node"
    with pytest.raises(CondaTorchError, match="two node types are labelled 'x'"):
        plan_fleet([f"x={path}", f"x={path}"], matrix=M)


# -- node pictures ----------------------------------------------------------------------------


def test_a_detect_json_node_is_the_same_node(tmp_path: Path) -> None:
    path = capture(tmp_path, "h100")
    doc = cli("detect", "--from", path, "--json", env=_env(), check=True).stdout
    saved = tmp_path / "h100.json"
    saved.write_text(doc, encoding="utf-8")
    a = plan_fleet([str(saved), capture(tmp_path / "q", "quadro")], matrix=M).plan
    b = plan_fleet([path, capture(tmp_path / "q", "quadro")], matrix=M).plan
    assert a.candidate.key == b.candidate.key and a.bound == b.bound


def test_a_folder_of_one_nodes_captures(tmp_path: Path) -> None:
    folder = tmp_path / "gpu-h100"
    for rel in (
        "nvidia-smi/h100-80gb-hbm3-580.159.04-cuda13.0-vm.txt",
        "nvidia-smi-query/csv-full-h100-580.159.04.txt",
        "proc-driver-version/open-580.159.04-x86_64-vm.txt",
    ):
        capture(folder, Path(rel).stem, rel)
    node = load_node(str(folder))
    assert node.label == "gpu-h100"
    gpu = node.machine.visible_nvidia_gpus[0]
    assert (gpu.compute_capability, gpu.compute_capability_inferred) == ("9.0", False)
    plan = plan_fleet([node], matrix=M).plan
    # /proc/driver/nvidia/version shows x86_64: no assumption about the platform
    assert plan.subdir == "linux-64" and not plan.notes


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda d: str(d / "missing.json"), "missing.json: no such file or folder"),
        (lambda d: str(ROOT / "README.md"), "README.md: is no picture of a node"),
        (
            lambda d: _write(d / "old.json", '{"schema": "conda-torch.detect/9"}'),
            "old.json: unsupported schema",
        ),
        (lambda d: _write(d / "empty" / ".keep", ""), "empty: is a folder without captured"),
    ],
    ids=["missing", "not-a-capture", "foreign-schema", "empty-folder"],
)
def test_bad_node_files_are_one_line_naming_the_file(tmp_path: Path, make, needle: str) -> None:
    path = make(tmp_path)
    if path.endswith(".keep"):
        path = str(Path(path).parent)
    with pytest.raises(InputFileError) as err:
        load_node(path)
    assert needle in err.value.line
    proc = _cli("generate", "--node", path, "-o", "-", cwd=tmp_path)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("Hint:")]
    assert len(lines) == 1 and needle in lines[0], proc.stderr


def _write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


# -- matrix --explain --node -------------------------------------------------------------------


def test_explain_judges_every_build_on_every_node(tmp_path: Path) -> None:
    paths = nodes(tmp_path, "h100", "quadro", "p4")
    expl = explain(paths, matrix=M)
    plan = plan_fleet(paths, matrix=M).plan
    best = next(v for v in expl.verdicts if v.accepted)
    assert best.candidate.key == plan.candidate.key
    for v in expl.verdicts[:40]:
        each = [verdict_on(n, v.candidate).accepted for n in expl.nodes]
        assert v.accepted == all(each), v.candidate.key
        if not v.accepted:
            rejecting = [n.label for n, ok in zip(expl.nodes, each) if not ok]
            assert all(any(f"on {lb}" in r or lb in r for r in v.reasons) for lb in rejecting)


# -- the command line ------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONDA_", "_CE_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return cli(*args, cwd=cwd, env=_env(), timeout=120)


def test_generate_node_writes_one_file_and_says_what_bound_it(tmp_path: Path) -> None:
    paths = nodes(tmp_path, "h100", "quadro")
    proc = _cli("generate", *[x for p in paths for x in ("--node", p)], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Wrote environment.yml: torch" in proc.stdout
    assert "for 2 node types (h100, quadro)" in proc.stdout
    assert "bound: driver 535.129.03 on quadro caps CUDA at 12.x" in proc.stdout
    assert "CONDA_OVERRIDE_CUDA=12.2 conda env create -f environment.yml" in proc.stdout
    text = (tmp_path / "environment.yml").read_text()
    assert "# For: 2 node types, linux-64" in text


def test_generate_split_writes_one_file_per_group(tmp_path: Path) -> None:
    paths = nodes(tmp_path, "h100", "quadro", "titanxp")
    args = [x for p in paths for x in ("--node", p)]
    refused = _cli("generate", *args, cwd=tmp_path)
    assert refused.returncode != 0 and "no one build serves" in refused.stderr
    assert not (tmp_path / "environment.yml").exists()
    proc = _cli("generate", *args, "--split", "-o", "envs", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [f["nodes"] for f in doc["files"]] == [["h100", "quadro"], ["titanxp"]]
    assert sorted(os.listdir(tmp_path / "envs")) == ["h100+quadro.yml", "titanxp.yml"]
    assert doc["files"][0]["oldest_cuda"] == "12.2"


def test_node_conflicts_with_from(tmp_path: Path) -> None:
    (path,) = nodes(tmp_path, "h100")
    proc = _cli("generate", "--node", path, "--from", path, cwd=tmp_path)
    assert proc.returncode != 0 and "--node describes the machines" in proc.stderr


def test_matrix_explain_node(tmp_path: Path) -> None:
    paths = nodes(tmp_path, "h100", "quadro")
    proc = _cli("matrix", *[x for p in paths for x in ("--node", p)], "--limit", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "judged against 2 node types" in out
    assert "Best for every node type: torch" in out
    assert "driver 535.129.03 on quadro caps CUDA at 12.x" in out
    assert "Accepted on every node type (" in out and "- on quadro:" in out


def test_create_node_dry_run_says_what_the_solve_sees(tmp_path: Path) -> None:
    paths = nodes(tmp_path, "h100", "quadro")
    args = [x for p in paths for x in ("--node", p)]
    proc = _cli(
        "create", "-p", str(tmp_path / "cluster-fs" / "ml"), *args, "--dry-run", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert "for 2 node types (h100, quadro)" in proc.stdout
    assert "CONDA_OVERRIDE_CUDA=12.2" in proc.stdout
    assert not (tmp_path / "cluster-fs").exists()


# -- with a real conda: the file solves for the nodes, and a login node creates it ----------------


@pytest.fixture(scope="module")
def solver(tmp_path_factory):
    from .helpers import standin
    from .helpers.realconda import require_conda
    from .helpers.solve import Solver

    conda = require_conda()
    root = tmp_path_factory.mktemp("standins")
    urls = {"conda-forge": standin.conda_forge(root)}
    urls.update(standin.pytorch_channel(root))
    return Solver(conda.exe, root, urls)


@pytest.mark.conda
def test_the_fleet_file_solves_for_the_oldest_nodes_cuda(solver, tmp_path: Path) -> None:
    paths = nodes(tmp_path, *FLEET)
    (group,) = plan_fleet(paths, matrix=M).groups
    text = render(group.plan)
    oldest, _who = group.oldest_cuda
    ok, found = solver.solve(text, "linux-64", cuda=oldest)
    assert ok, found
    assert found["pytorch"]["version"] == group.plan.candidate.torch
    assert found["pytorch"]["build_string"].startswith("cuda129")
    # every node's own driver solves it too; a machine without a driver does not
    for node in group.nodes:
        ok, found = solver.solve(text, "linux-64", cuda=node.machine.nvidia.cuda_version)
        assert ok, (node.label, found)
    ok, message = solver.solve(text, "linux-64", cuda=None)
    assert not ok and "__cuda" in str(message)


@pytest.mark.conda
def test_a_login_node_without_a_gpu_creates_the_fleets_environment(tmp_path: Path) -> None:
    """conda itself installs the fleet's CUDA stack here (no NVIDIA driver on this machine):
    the solve gets the oldest node's CUDA; without it, the same create fails on __cuda."""
    from conda_torch import create as cr
    from conda_torch import provenance
    from conda_torch.prepare import prepare
    from conda_torch.validate import Skipped
    from conda_torch.values import replace

    from .helpers import standin
    from .helpers.realconda import require_conda
    from .helpers.sandbox import clean_environ, python_shim
    from .helpers.solve import Solver

    if detect(environ={}).nvidia is not None:
        pytest.skip("this machine has an NVIDIA driver: it is no login node without one")
    conda = require_conda()
    root = tmp_path / "channels"
    url = standin.conda_forge(root)
    solver = Solver(conda.exe, root, {"conda-forge": url, "defaults": url})
    prepared = prepare(nodes=nodes(tmp_path, "h100", "quadro"), name=None)
    ok, linked = solver.solve(prepared.text, "linux-64", cuda="12.2")
    assert ok, linked
    standin.make_installable(url, linked, {"python": {"bin/python": python_shim()}})
    environ = clean_environ(CONDARC=str(solver.condarc), HOME=str(root),
                            CONDA_PKGS_DIRS=str(root / "pkgs"))  # fmt: skip
    if os.environ.get("CONDA_EXE"):
        environ["CONDA_EXE"] = os.environ["CONDA_EXE"]
    skipped = lambda **_kw: Skipped("planned for other machines")  # noqa: E731
    target = tmp_path / "cluster-fs" / "envs" / "ml"

    without = cr.create(replace(prepared, solve_environ=()), prefix=str(target),
                        environ=environ, validator=skipped, json_output=True)  # fmt: skip
    assert without.status == cr.FAILED and "__cuda" in (without.error or ""), without.error
    assert not target.exists()

    steps = []
    result = cr.create(prepared, prefix=str(target), environ=environ, validator=skipped,
                       json_output=True, progress=steps.append)  # fmt: skip
    assert result.status == cr.CREATED, result.error
    said = [s.message for s in steps if s.name == "solve"]
    assert said and "CONDA_OVERRIDE_CUDA=12.2" in said[0] and "quadro" in said[0]
    installed = {p.name.rsplit("-", 2)[0] for p in (target / "conda-meta").glob("*.json")}
    assert {"pytorch", "torchvision", "torchaudio", "cuda-version", "python"} <= installed
    prov = provenance.read(target)
    assert [n["label"] for n in prov.plan["nodes"]] == ["h100", "quadro"]
    assert prov.plan["solve_environ"] == {"CONDA_OVERRIDE_CUDA": "12.2"}
    assert prov.plan["nodes"][1]["machine"]["nvidia_driver"] == "535.129.03"
    assert result.validation["skipped"]

    # validated through a launcher instead: the probe runs the new environment's own Python
    # on the node (here the shim to an interpreter without torch), and its failure there rolls
    # the creation back
    from conda_torch.validate import NodesReport, validate_via

    def via_env(**kw):
        return NodesReport(validate_via([f"env -C {tmp_path}"], python=kw["python"],
                                        prefix=kw["prefix"], provenance=kw["provenance"],
                                        name=kw["name"], timeout=300))  # fmt: skip

    other = tmp_path / "cluster-fs" / "envs" / "ml2"
    checked = cr.create(prepared, prefix=str(other), environ=environ, validator=via_env,
                        json_output=True)  # fmt: skip
    assert checked.status == cr.INVALID, checked.error
    (node,) = checked.validation["nodes"]
    assert node["host"] == os.uname().nodename and node["launcher"] == f"env -C {tmp_path}"
    failed = [c["id"] for c in node["report"]["checks"] if c["status"] == "fail"]
    assert "torch-import" in failed
    assert f"{os.uname().nodename}:torch-import" in (checked.error or "")
    assert not other.exists()
