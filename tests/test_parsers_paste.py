"""The readers of pasted reports, on real pastes: package listings, torch's messages, installer
output, the platform a text shows; and the captures added with them (rocm-smi --csv/--json,
sw_vers). The pastes are the corpus in tests/data/reports (each with its thread); the new
captures are in tests/data/fixtures/rocm with their sources."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conda_torch.detect.captures import Capture, lenient_kinds, observe, parse_text, plain_line
from conda_torch.machine import merge

from .helpers.paths import REPORTS, read_fixture

HERE = Path(__file__).resolve().parent
CAPTURES = HERE / "data" / "fixtures"


def report(stem: str) -> str:
    (path,) = [p for p in REPORTS.glob("*.txt") if p.name.startswith(stem)]
    return read_fixture(path)[1]


def capture(relpath: str) -> str:
    return read_fixture(CAPTURES / relpath)[1]


def kind(text: str, name: str):
    found = [o for o in observe(text, "paste") if o.kind == name]
    assert len(found) == 1, [o.kind for o in observe(text, "paste")]
    return found[0]


# -- cleaning ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "plain"),
    [
        (
            "2022-12-16T16:39:38.3607708Z     pytorch-2.0.0  |  py3.8_cpu_0",
            "pytorch-2.0.0  |  py3.8_cpu_0",
        ),
        ("- **PyTorch Version**: 2.2.0+cu121", "PyTorch Version**: 2.2.0+cu121"),
        ("> > quoted", "quoted"),
        ("`RuntimeError: unbalanced", "RuntimeError: unbalanced"),
        ("`macosx_11_0_arm64`, `win_amd64`...", "`macosx_11_0_arm64`, `win_amd64`..."),
        ("5. Torch version", "Torch version"),
    ],
)
def test_plain_line(line: str, plain: str) -> None:
    assert plain_line(line) == plain


# -- package listings --------------------------------------------------------------------------


def test_conda_list_rows_with_channel_and_build() -> None:
    obs = kind(report("duplicate_install-conda-pytorch"), "package listing")
    rows = [
        (p["name"], p["version"], p["build"], p["channel"], p["installer"]) for p in obs.packages
    ]
    assert rows == [
        ("pytorch", "0.4.1", "py37_cuda0.0_cudnn0.0_1", "pytorch", "conda"),
        ("pytorch-nightly", "1.0.0.dev20180921", "py3.7_0", "pytorch", "conda"),
    ]
    assert {p["listing"] for p in obs.packages} == {0}


def test_collect_env_pip3_and_conda_lines() -> None:
    obs = kind(report("rocm_unsupported_gfx-pytorch-164346"), "package listing")
    torch = [p for p in obs.packages if p["name"] == "torch"]
    assert [(p["format"], p["installer"], p["build"]) for p in torch] == [
        ("collect_env", "pip", None),
        ("collect_env", "pip", "pypi_0"),
    ]
    assert obs.torch == {
        "version": "2.10.0.dev20250929+rocm7.0",
        "rocm": "7.0",
        "torchvision": "0.25.0.dev20250930+rocm7.0",
        "torchaudio": "2.8.0.dev20250930+rocm7.0",
    }


def test_pip_list_under_a_grep() -> None:
    obs = kind(report("companion_mismatch-tt-forge"), "package listing")
    assert [(p["name"], p["version"]) for p in obs.packages] == [
        ("torch", "2.9.0+cpu"),
        ("torchaudio", "2.9.0"),
        ("torchvision", "0.24.0"),
    ]  # torch-xla is not tracked


def test_conda_plan_lines_and_download_table() -> None:
    plan = kind(report("cpu_build_on_gpu-pytorch-23778"), "package listing")
    (p,) = plan.packages
    assert (p["name"], p["version"], p["build"], p["channel"], p["subdir"]) == (
        "pytorch-nightly",
        "1.2.0.dev20190805+cpu",
        "py3.7_cpu_0",
        "pytorch",
        "linux-64",
    )
    assert plan.platform["subdir"] == "linux-64"
    table = kind(report("cpu_build_on_gpu-pytorch-91009"), "package listing")
    assert [(p["name"], p["build"]) for p in table.packages] == [
        ("pytorch", "py3.8_cpu_0"),
        ("pytorch-cuda", "h867d48c_1"),
        ("pytorch-mutex", "cpu"),
        ("torchaudio", "py38_cpu"),
        ("torchvision", "py38_cpu"),
    ]


def test_hand_typed_version_list() -> None:
    obs = kind(report("companion_mismatch-coqui-tts"), "package listing")
    assert obs.torch == {"version": "2.1.1", "torchaudio": "2.0.1"}
    assert {p["installer"] for p in obs.packages} == {None}  # not said


# -- torch's messages --------------------------------------------------------------------------


def test_arch_warning_gives_gpu_and_arch_list() -> None:
    obs = kind(report("arch_missing-pytorch-153944"), "torch messages")
    assert obs.gpus == [
        {
            "vendor": "nvidia",
            "index": 0,
            "name": "NVIDIA GeForce RTX 5080",
            "compute_capability": "12.0",
        }
    ]
    assert obs.torch["arch_list"][-1] == "compute_37"
    assert "facing issue like NVIDIA GeForce RTX 5080" in obs.evidence["gpus.0.compute_capability"]


@pytest.mark.parametrize(
    ("stem", "cuda"),
    [
        ("driver_too_old-gpt-sovits", "11.4"),
        ("driver_too_old-pytorch-ci-cu130", "12.8"),
        ("driver_too_old-yolov5", "10.1"),
        ("driver_too_old-yuan2", "11.0"),
    ],
)
def test_found_version_is_the_drivers_cuda(stem: str, cuda: str) -> None:
    assert kind(report(stem), "torch messages").nvidia == {"cuda_version": cuda}


def test_repl_prints_and_banners() -> None:
    obs = kind(report("shadowed-clover-edition"), "torch messages")
    assert obs.torch == {"version": "1.1.0"}
    (printed,) = [e for e in obs.events if e["id"] == "printed"]
    assert (printed["line"], printed["value_line"]) == (">>> print(torch.__version__)", "1.1.0")
    banner = kind(report("cpu_build_on_gpu-ultralytics-1495"), "torch messages")
    assert banner.torch == {"version": "2.0.0+cpu"}  # the last banner: the run that failed
    assert banner.gpus[0]["name"] == "NVIDIA GeForce RTX 3070"
    assert banner.gpus[0]["memory_mib"] == 8192


def test_undefined_symbol_keeps_library_and_symbol() -> None:
    obs = kind(report("mixed_channels-pikv"), "torch messages")
    (e,) = [e for e in obs.events if e["id"] == "undefined_symbol"]
    assert e["lib"].endswith("site-packages/torch/lib/libtorch_cpu.so")
    assert e["symbol"] == "iJIT_NotifyEvent"


# -- installer output --------------------------------------------------------------------------


def test_uv_hint_is_the_platform() -> None:
    obs = kind(report("cuda_on_mac-geti"), "installer output")
    assert obs.platform == {
        "os": "macos",
        "macos_version": "15.0",
        "machine": "arm64",
        "subdir": "osx-arm64",
    }
    (hint,) = [e for e in obs.events if e["id"] == "uv_platform_hint"]
    assert hint["tags"] == ["manylinux_2_28_x86_64", "win_amd64"]


def test_pip_versions_and_downloaded_wheel() -> None:
    obs = kind(report("no_build_for_platform-pytorch-137281"), "installer output")
    (e,) = [e for e in obs.events if e["id"] == "pip_no_match"]
    assert (e["requirement"], e["versions"]) == ("torch==2.4.1", ["2.2.0", "2.2.1", "2.2.2"])
    assert obs.platform["subdir"] == "osx-64" and obs.platform["python_version"] == "3.12"


def test_conda_packages_not_found_with_channel_subdir() -> None:
    obs = kind(report("no_build_for_platform-miniforge-80"), "installer output")
    (e,) = [e for e in obs.events if e["id"] == "conda_not_found"]
    assert e["packages"] == ["pytorch"]
    assert e["channels"] == ["conda-forge", "pytorch"] and e["subdir"] == "osx-arm64"


def test_install_commands_and_channel_prefixed_specs() -> None:
    obs = kind(report("mixed_channels-cf-feedstock-147"), "installer output")
    (cmd,) = [e for e in obs.events if e["id"] == "install_command"]
    assert cmd["spec_channels"]["pytorch"] == "conda-forge"
    assert cmd["spec_channels"]["torchvision"] == "pytorch"
    wan = kind(report("companion_mismatch-wan2gp"), "installer output")
    (cmd,) = [e for e in wan.events if e["id"] == "install_command"]
    assert cmd["wants"] == "cu130" and cmd["packages"]["torch"] == "torch==2.10.0"


# -- the platform around the outputs -----------------------------------------------------------


def test_python_banner_and_paths() -> None:
    obs = kind(report("companion_mismatch-tt-forge"), "paste context")
    assert obs.platform["os"] == "linux" and obs.platform["python_version"] == "3.11.14"
    win = kind(report("healthy-aitextgen"), "paste context")
    assert win.platform == {"os": "windows"}
    assert win.gpus == [{"vendor": "nvidia", "name": "NVIDIA RTX 3070"}]


def test_mac_named_in_prose() -> None:
    obs = kind(report("cuda_on_mac-deepvecfont"), "paste context")
    assert obs.platform["os"] == "macos"
    assert obs.apple == {"apple_silicon": True, "chip": "Apple M1 Pro"}


def test_a_list_of_models_names_no_gpu() -> None:
    obs = observe(capture("rocm/rocm-smi-json-rx7900-navi31-cut.txt"), "x")
    assert all(o.gpus == [] for o in obs if o.kind == "paste context")


def test_prose_without_facts_is_not_read() -> None:
    assert observe("my GPU is fast\nplease help\n") == []
    assert observe("Hello,\nmy torch does not see the GPU.\n") == []


# -- sw_vers, rocm-smi --csv / --json ----------------------------------------------------------


def test_sw_vers() -> None:
    (obs,) = [o for o in parse_text(report("macos_too_old-pytorch-139425")) if o.kind == "sw_vers"]
    assert obs.platform == {"os": "macos", "macos_version": "12.7.6"}


def test_rocm_smi_csv() -> None:
    obs = [
        o for o in parse_text(capture("rocm/rocm-smi-csv-productname-driverversion-mi100x2.txt"))
    ]
    (smi,) = [o for o in obs if o.kind == "rocm-smi --csv"]
    assert smi.gpus == [
        {"vendor": "amd", "index": 0, "name": "Arcturus GL-XL [AMD Instinct MI100]"},
        {"vendor": "amd", "index": 1, "name": "Arcturus GL-XL [AMD Instinct MI100]"},
    ]


def test_rocm_smi_json_gfx_version_with_decimal_stepping() -> None:
    (smi,) = [
        o
        for o in parse_text(capture("rocm/rocm-smi-json-productname-mi200-gfx9010.txt"))
        if o.kind == "rocm-smi --json"
    ]
    assert smi.gpus == [
        {
            "vendor": "amd",
            "index": 0,
            "name": "AMD INSTINCT MI200 (MCM) OAM LC MBA HPE C2",
            "gfx": "gfx90a",
        }
    ]


@pytest.mark.parametrize(
    ("relpath", "expect"),
    [
        (
            "rocm/rocm-smi-json-rx7900-navi31-cut.txt",
            {"pci_device_id": "0x744c", "gfx": "gfx1100"},
        ),
        (
            "rocm/rocm-smi-json-780m-phoenix3-cut.txt",
            {"pci_device_id": "0x1900", "bus_id": "0000:C4:00.0"},
        ),
    ],
)
def test_rocm_smi_json_cut_short(relpath: str, expect: dict) -> None:
    observations = parse_text(capture(relpath))
    machine = merge(observations, mode="files")
    (gpu,) = machine.rocm.gpus
    assert {k: getattr(gpu, k) for k in expect} == expect
    assert "gfx" in expect or gpu.gfx is None


def test_lenient_kinds_are_marked() -> None:
    assert lenient_kinds() == {
        "package listing",
        "torch messages",
        "installer output",
        "paste context",
    }
    assert Capture.from_text("a\r\nb").plain == ("a", "b")


# -- the literal pre-check of a lazy pattern (patterns.LazyPattern) -------------------------------


def _parser_patterns() -> list[tuple[str, object]]:
    """Every LazyPattern the parser modules (and the library modules that keep patterns at
    their top level) hold, at their top level or in their tables."""
    import importlib
    import pkgutil

    from conda_torch.detect import captures
    from conda_torch.patterns import LazyPattern

    found: list[tuple[str, object]] = []

    def walk(where: str, value: object, depth: int = 0) -> None:
        if isinstance(value, LazyPattern):
            found.append((where, value))
        elif depth < 3 and isinstance(value, (tuple, list)):
            for i, item in enumerate(value):
                walk(f"{where}[{i}]", item, depth + 1)
        elif depth < 3 and isinstance(value, dict):
            for key, item in value.items():
                walk(f"{where}[{key!r}]", item, depth + 1)

    modules = [f"{captures.__name__}.{m.name}" for m in pkgutil.iter_modules(captures.__path__)]
    library = [
        f"conda_torch.{m}" for m in ("models", "specs", "builds", "compat", "matrix", "plan")
    ]
    for name in (captures.__name__, *modules, *library):
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            walk(f"{name}.{attr}", value)
    return found


def test_literal_pre_check_never_hides_a_match():
    """A pattern not compiled yet answers "no match" for a text without any of its required
    literals: every match of every parser pattern in every capture and report contains one."""
    from conda_torch.patterns import required_literals

    texts = [p.read_text(encoding="utf-8", errors="replace") for p in CAPTURES.rglob("*.txt")]
    texts += [p.read_text(encoding="utf-8", errors="replace") for p in REPORTS.rglob("*.txt")]
    patterns = _parser_patterns()
    assert len(patterns) > 100
    checked = with_literals = 0
    for where, lazy in patterns:
        pattern, flags = lazy._args  # type: ignore[attr-defined]
        literals = required_literals(pattern, flags)
        with_literals += bool(literals)
        compiled = re.compile(pattern, flags)
        for text in texts:
            for m in compiled.finditer(text):
                checked += 1
                assert any(t in m.group(0) for t in literals) or not literals, (where, m.group(0))
    assert checked > 500 and with_literals > len(patterns) // 3


@pytest.mark.parametrize(
    ("pattern", "flags", "literals"),
    [
        (r"NVIDIA-SMI\s+(?P<smi>\S+)\s+(?P<d>Driver Version)", 0, ("Driver Version",)),
        (r"NVIDIA-SMI\s+(?P<smi>\S+)", 0, ("NVIDIA-SMI",)),
        (r"abc(def)ghij", 0, ("ghij",)),
        (r"ab?cd", 0, ("cd",)),
        (r"x\.y+z", 0, ("x.y",)),
        (r"[a\]bc]defg", 0, ("defg",)),
        (r"a(b|c)d|ef", 0, ("a", "ef")),
        (r"abc|\d+", 0, ()),
        (r"^v?(?P<v>\d+)", 0, ()),
        (r"(?i)abc", 0, ()),
        (r"abc", re.IGNORECASE, ()),
        (r"a b c", re.VERBOSE, ()),
        (r"ab{2}cd", 0, ("cd",)),
        (r"ab*c", 0, ("a",)),
        (r"\d{3,4}xy", 0, ("xy",)),
        (r"\b(?:macOS|OS X)\s+(?P<v>\d+)", 0, ("macOS", "OS X")),
        (r"(?P<d>Ubuntu|Debian)\s?(?P<v>\d{2})?", 0, ("Ubuntu", "Debian")),
        (r"(?:ab)?cd", 0, ("cd",)),
        (r"(?:ab|c)?d", 0, ("d",)),
        (r"(?:ab|\d)xy", 0, ("xy",)),
        (r"(?:ab|\d)x?", 0, ()),
        (r"(?<=abc)d", 0, ("d",)),
        (r"(?=abc)", 0, ()),
        (r"(?P<q>['\"])x(?P=q)", 0, ("x",)),
        (r"\x41bc", 0, ("bc",)),
        (r"\u00e9tat", 0, ("tat",)),
        (r"\0123", 0, ("3",)),
        (r"(a)\1bc", 0, ("bc",)),
        (r"\N{EM DASH}xy", 0, ("xy",)),
    ],
)
def test_required_literals(pattern, flags, literals):
    from conda_torch.patterns import LazyPattern, required_literals

    assert required_literals(pattern, flags) == literals
    lazy = LazyPattern(pattern, flags)
    for text in ("abcdefghij", "xyz", "NVIDIA-SMI 535.1 Driver Version", "ef", "12", "ABC", "Abc"):
        assert bool(lazy.search(text)) == bool(re.search(pattern, text, flags)), text
        assert [m.span() for m in lazy.finditer(text)] == [
            m.span() for m in re.finditer(pattern, text, flags)
        ]
        assert lazy.findall(text) == re.findall(pattern, text, flags)
        assert bool(lazy.match(text)) == bool(re.match(pattern, text, flags))
        assert bool(lazy.fullmatch(text)) == bool(re.fullmatch(pattern, text, flags))
