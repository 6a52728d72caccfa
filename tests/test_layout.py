"""The shape of the package: modules of a readable size, imports that run one way.

The import graph is read from the source with `ast` (every import, also those inside
functions), so it needs nothing installed and sees what a static tool would.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "kp_assistant"
MAX_LINES = 350
# the stages from the edges down: a package may import only from its own layer or below
LAYERS = [
    {"cli", "web", "app"},
    {"assistant", "ingest", "evaluation", "render", "progress"},
    {"answering", "registry", "retrieval"},
    {"index", "embedding", "documents", "language"},
    {"models", "errors", "settings", "data"},
]


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(("kp_assistant", *parts)), path


def imports(name: str, path: Path) -> Iterator[tuple[str, list[str]]]:
    """(module imported, names taken from it) for every kp_assistant import in the file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base.startswith("kp_assistant"):
                yield base, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("kp_assistant"):
                    yield a.name, []


def stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_module_is_longer_than_the_limit() -> None:
    long = {name: n for name, path in modules()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}, f"modules over {MAX_LINES} lines: {long}"


def test_at_least_four_stages_are_subpackages() -> None:
    packages = {p.parent.name for p in PACKAGE.rglob("__init__.py") if p.parent != PACKAGE}
    assert len(packages) >= 4, packages


def test_no_module_imports_another_modules_private_names() -> None:
    known = {name for name, _ in modules()}
    private = []
    for name, path in modules():
        for target, names in imports(name, path):
            for imported in names:
                submodule = f"{target}.{imported}" in known
                if imported.startswith("_") and not submodule and target != name:
                    private.append(f"{name} takes {target}.{imported}")
    assert private == []


def test_imports_run_from_the_edges_down_without_cycles() -> None:
    layer = {s: i for i, group in enumerate(LAYERS) for s in group}
    graph: dict[str, set[str]] = {}
    upward = []
    for name, path in modules():
        for target, _ in imports(name, path):
            a, b = stage(name), stage(target)
            if a and b and a != b:
                graph.setdefault(a, set()).add(b)
                if layer.get(b, 99) < layer.get(a, 99):
                    upward.append(f"{name} imports {target}")
    assert upward == [], "imports against the direction of the stages"
    assert _cycle(graph) is None


def test_no_import_cycle_between_modules() -> None:
    graph: dict[str, set[str]] = {}
    known = {name for name, _ in modules()}
    for name, path in modules():
        for target, names in imports(name, path):
            targets = [t for t in (f"{target}.{n}" for n in names) if t in known] or [target]
            graph.setdefault(name, set()).update(t for t in targets if t in known and t != name)
    # a package's __init__ that only re-exports its modules is not a cycle of its own
    assert _cycle(graph, skip_packages=True) is None


def _cycle(graph: dict[str, set[str]], *, skip_packages: bool = False) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if skip_packages and node.startswith(nxt + "."):
                continue
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None
