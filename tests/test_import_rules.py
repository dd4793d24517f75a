"""The import rules of DESIGN.md, read from the source with ``ast`` (every import, lazy ones too).

1. The library never imports the CLI: only the entry points (``plugin.py``, ``__main__.py``)
   and ``conda_torch/cli/`` itself import ``conda_torch.cli``; the health check's fixer
   (``health.py``, an adapter like the CLI) may use the public console helpers of
   ``conda_torch.cli._render`` and nothing else of it.
2. The file format knows nothing of plans: ``envfile`` imports neither ``plan``, ``render``,
   ``prepare`` nor ``matrix``; and the planner needs no file format: ``plan`` does not import
   ``envfile`` (a spec's package name is ``specs``'s), so a paste's fix loads no format.
3. No import cycle among the modules: the imports that run when a module is imported (its
   top level, outside ``if TYPE_CHECKING:``) form no loop; a failure names the loop.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from .helpers.paths import ROOT

PACKAGE = ROOT / "conda_torch"

#: Modules that may import the CLI: the two ways in (conda's plugin, ``python -m``).
ENTRY_POINTS = frozenset({"conda_torch.plugin", "conda_torch.__main__"})

#: Adapters outside ``cli/`` that print through the CLI's public console helpers, and the
#: only CLI modules each may import.
ADAPTERS = {"conda_torch.health": frozenset({"conda_torch.cli._render"})}

#: What the file format must never import.
NOT_FROM_ENVFILE = ("conda_torch.plan", "conda_torch.render", "conda_torch.prepare",
                    "conda_torch.matrix")  # fmt: skip


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(module: str, is_package: bool, node: ast.ImportFrom | ast.Import) -> list[str]:
    """The ``conda_torch`` modules an import statement loads (submodules named by ``from X
    import name`` included; parents are loaded too, but they are added by :func:`imports`)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "conda_torch"]
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join([*base, *([node.module] if node.module else [])])
    else:
        target = node.module or ""
    if target.split(".")[0] != "conda_torch":
        return []
    out = [target]
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        if sub in MODULES:
            out.append(sub)
    return out


def imports(module: str, *, top_level_only: bool) -> set[str]:
    """The ``conda_torch`` modules ``module`` imports: all of them, or only those its top level
    runs (not inside functions, not under ``if TYPE_CHECKING:``)."""
    path = MODULES[module]
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update(_resolve(module, is_package, node))
            return
        if top_level_only:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                return
            if isinstance(node, ast.If) and _is_type_checking(node.test):
                for child in node.orelse:
                    visit(child)
                return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    # a submodule's import runs its parent packages first, except the module's own parents:
    # they are being (or have been) imported already when it runs
    own = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
    for name in list(found):
        parts = name.split(".")
        parents = (".".join(parts[:i]) for i in range(1, len(parts)))
        found.update(p for p in parents if p not in own)
    found.discard(module)
    return {m for m in found if m in MODULES}


def _is_cli(name: str) -> bool:
    return name == "conda_torch.cli" or name.startswith("conda_torch.cli.")


def _allowed_cli(module: str) -> frozenset[str]:
    """The CLI modules ``module`` may import: an adapter's helpers, and the package they are in
    (importing ``conda_torch.cli._render`` runs ``conda_torch.cli`` first)."""
    allowed = ADAPTERS.get(module, frozenset())
    return allowed | {"conda_torch.cli"} if allowed else allowed


def test_the_modules_are_found():
    """The rules below read real modules (a wrong root would make them pass vacuously)."""
    for name in ("conda_torch.plan", "conda_torch.envfile", "conda_torch.render",
                 "conda_torch.prepare", "conda_torch.cli.main_generate"):  # fmt: skip
        assert name in MODULES
    assert "conda_torch.envfile" in imports("conda_torch.render", top_level_only=True)
    assert "conda_torch.plan" in imports("conda_torch.prepare", top_level_only=True)


@pytest.mark.parametrize(
    "module", sorted(m for m in MODULES if not _is_cli(m) and m not in ENTRY_POINTS)
)
def test_the_library_never_imports_the_cli(module):
    allowed = _allowed_cli(module)
    found = imports(module, top_level_only=False)
    wrong = sorted(m for m in found if _is_cli(m) and m not in allowed)
    assert not wrong, f"{module} imports {', '.join(wrong)}: the library never imports the CLI"


def test_the_file_format_imports_no_planner():
    found = imports("conda_torch.envfile", top_level_only=False)
    wrong = sorted(set(NOT_FROM_ENVFILE) & found)
    assert not wrong, f"conda_torch.envfile imports {', '.join(wrong)}"


def test_the_planner_imports_no_file_format():
    assert "conda_torch.envfile" not in imports("conda_torch.plan", top_level_only=False)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import loop in ``graph`` (``[a, b, ..., a]``), or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state:
                found = walk(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = walk(node)
            if found:
                return found
    return None


def test_cycle_finder_finds_a_cycle():
    """The finder below is not blind: it reports a loop it is given."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles():
    graph = {m: imports(m, top_level_only=True) for m in MODULES}
    loop = _cycle(graph)
    assert loop is None, "import cycle: " + " -> ".join(loop or ())


def test_the_cli_dispatches_by_import_statements():
    """Every ``cli/main_*`` is reached by an import statement in ``cli/__init__`` (static
    dispatch: no module names as strings for ``importlib``)."""
    mains = {m for m in MODULES if m.startswith("conda_torch.cli.main_")}
    assert mains and mains <= imports("conda_torch.cli", top_level_only=False)


#: DESIGN.md's layers ("Layers and import rules"): a module imports from its own layer or the
#: ones below it. Submodules of a package listed here share its layer.
LAYERS = {
    0: ("values", "patterns", "constants", "exceptions", "models", "machine", "compat", "findings",
        "specs", "prefix", "settings", "procs", "_probe", "_version", ""),
    1: ("detect", "builds", "inventory", "envfile", "conda_cli", "conda_api", "provenance", "via"),
    2: ("prepare", "plan", "render", "matrix", "fleet", "environments", "activation"),
    3: ("create", "recreate", "validate", "doctor", "paste", "envspec", "health"),
    4: ("plugin", "__main__", "cli"),
}  # fmt: skip


def _layer(module: str) -> int:
    name = module.removeprefix("conda_torch").lstrip(".")
    for layer, names in LAYERS.items():
        for listed in names:
            if name == listed or (listed and name.startswith(listed + ".")):
                return layer
    raise AssertionError(f"{module} is in no layer of DESIGN.md: add it to LAYERS and the picture")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_only_its_layer_or_below(module):
    mine = _layer(module)
    above = sorted(
        f"{m} (layer {_layer(m)})"
        for m in imports(module, top_level_only=False) - _allowed_cli(module)
        if _layer(m) > mine
    )
    assert not above, f"{module} (layer {mine}) imports {', '.join(above)}"
