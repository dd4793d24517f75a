"""Provenance: what an environment was built from, written into its prefix and read back."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING

import pytest

from conda_torch import __version__
from conda_torch import provenance as prov
from conda_torch.exceptions import ProvenanceError
from conda_torch.machine import Machine, PlatformInfo

if TYPE_CHECKING:
    from pathlib import Path

PLAN = {
    "torch": "2.13.0",
    "torchvision": "0.28.0",
    "torchaudio": "2.11.0",
    "python": "3.12",
    "backend": "cu129",
    "source": "conda-forge",
    "channels": ["conda-forge"],
    "subdir": "linux-64",
}
ENV_FILE = "name: ml\nchannels:\n  - conda-forge\ndependencies:\n  - pytorch=2.13.0\n"


@pytest.fixture
def env(tmp_path: Path) -> Path:
    (tmp_path / "conda-meta").mkdir()
    return tmp_path


def test_round_trip(env: Path):
    machine = Machine(platform=PlatformInfo(subdir="linux-64", os="linux"))
    path = prov.write(env, plan=PLAN, environment_file=ENV_FILE, machine=machine)
    assert path == env / prov.RELPATH
    got = prov.read(env)
    assert got is not None
    assert got.path == path
    assert got.plan == PLAN
    assert got.environment_file == ENV_FILE
    assert got.conda_torch_version == __version__
    assert got.machine is not None and got.machine["platform"]["subdir"] == "linux-64"
    assert got.machine["schema"] == "conda-torch.detect/1"
    assert datetime.fromisoformat(got.created).tzinfo is not None
    assert got.wants("torchaudio") == "2.11.0"
    assert got.backend == "cu129"
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["schema"] == prov.SCHEMA
    assert set(doc) == {
        "schema",
        "conda_torch_version",
        "created",
        "environment_file",
        "machine",
        "plan",
    }


def test_without_machine_and_plan_leaving_torchaudio_out(env: Path):
    prov.write(env, plan={**PLAN, "torchaudio": None}, environment_file=ENV_FILE)
    got = prov.read(env)
    assert got is not None and got.machine is None
    assert got.wants("torchaudio") is None and got.wants("torch") == "2.13.0"


def test_rewrite_replaces_atomically_and_leaves_no_temporary_file(env: Path):
    prov.write(env, plan=PLAN, environment_file="first\n")
    prov.write(env, plan={**PLAN, "torch": "2.12.0"}, environment_file="second\n")
    got = prov.read(env)
    assert got is not None and got.environment_file == "second\n" and got.plan["torch"] == "2.12.0"
    assert sorted(p.name for p in (env / "conda-meta").iterdir()) == [prov.RELPATH.name]


def test_file_name_is_not_a_package_record_name():
    # conda reads every conda-meta/*.json as a package record.
    assert not prov.RELPATH.name.endswith(".json")


def test_read_without_provenance_is_none(env: Path):
    assert prov.read(env) is None


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a conda-torch provenance document"),
        (json.dumps({"schema": "conda-torch.detect/1"}), "not a conda-torch provenance document"),
        (json.dumps({"schema": "conda-torch.provenance/9", "plan": {}}), "unsupported schema"),
        (
            json.dumps({"schema": prov.SCHEMA, "plan": [], "environment_file": ""}),
            "'plan' must be an object",
        ),
        (
            json.dumps({"schema": prov.SCHEMA, "plan": {}, "environment_file": 3}),
            "'environment_file' must be text",
        ),
    ],
    ids=[
        "garbage",
        "a-list",
        "foreign-schema",
        "future-schema",
        "plan-not-object",
        "env-file-not-text",
    ],
)
def test_malformed_file_names_the_file(env: Path, content: str, words: str):
    path = env / prov.RELPATH
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ProvenanceError) as info:
        prov.read(env)
    assert str(path) in info.value.line
    assert words in info.value.line


def test_write_needs_an_environment(tmp_path: Path):
    with pytest.raises(ProvenanceError, match="no conda-meta"):
        prov.write(tmp_path, plan=PLAN, environment_file=ENV_FILE)
    assert list(tmp_path.iterdir()) == []


def test_write_needs_the_plan_keys(env: Path):
    plan = {k: v for k, v in PLAN.items() if k != "backend"}
    with pytest.raises(ProvenanceError, match="lacks backend"):
        prov.write(env, plan=plan, environment_file=ENV_FILE)
    assert prov.read(env) is None
