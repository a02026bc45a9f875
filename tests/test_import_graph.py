"""No import circle between our modules, counting imports inside functions (a lazy import that closes a circle
hides it from Python, not from the reader)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (ROOT / "compressor", ROOT / "edge" / "compressor_edge")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        assert (package / "__init__.py").is_file(), f"{package} moved: point PACKAGES at it"
        for path in package.rglob("*.py"):
            parts = path.relative_to(package.parent).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
    return [f"{base}.{alias.name}" for alias in node.names] + [base]


def _graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> our modules it imports anywhere in its body (TYPE_CHECKING blocks left out)."""

    def ours(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        edges: set[str] = set()
        pending: list[ast.AST] = [ast.parse(path.read_text())]
        while pending:
            for child in ast.iter_child_nodes(pending.pop()):
                if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                    continue
                if isinstance(child, ast.Import | ast.ImportFrom):
                    names = _imported(child, module, path.name == "__init__.py")
                    if (
                        isinstance(child, ast.ImportFrom) and len(names) > 1
                    ):  # `from pkg import mod`: the module
                        names = [n for n in names[:-1] if n in modules] or names[-1:]
                    edges |= {target for n in names if (target := ours(n)) and target != module}
                pending.append(child)
        graph[module] = edges
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    circles.append(sorted(component))
    return circles


def test_no_import_circle_even_through_lazy_imports() -> None:
    assert _circles(_graph(_modules())) == []


def test_the_check_finds_a_circle_closed_by_a_lazy_import() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(graph) == [["a", "b", "c"]]
    assert _circles({"a": {"b"}, "b": set()}) == []


def test_lazy_imports_are_edges(tmp_path: Path) -> None:
    source = "def f():\n    from compressor.models import hub\n"
    tree = ast.parse(source)
    node = tree.body[0].body[0]  # type: ignore[attr-defined]
    assert "compressor.models.hub" in _imported(node, "compressor.models.clip", False)


def test_config_is_a_leaf() -> None:
    """The recipe schema imports nothing of ours beyond config itself and the error type: the checks that ask
    the registries live in compressor.recipe_checks."""
    graph = _graph(_modules())
    outside = {
        (module, target)
        for module, targets in graph.items()
        if module.startswith("compressor.config")
        for target in targets
        if not target.startswith("compressor.config") and target != "compressor.errors"
    }
    assert outside == set()
