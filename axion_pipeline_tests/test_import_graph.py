"""The module dependency graph of ``axion_pipeline`` has no cycle.

The graph is read from the source with ``ast`` (nothing is imported). An edge ``a -> b`` is any
import statement in module ``a`` that loads module ``b``, wherever it stands (module level,
inside a function or class, under ``if TYPE_CHECKING``):

- ``import x.y`` -> ``x.y``;
- ``from x import y`` -> ``x.y`` when ``x.y`` is a module of the package, else ``x``;
- relative imports are resolved against the importing module's package;
- a package ``__init__`` that re-exports lazily through a module-level ``_EXPORTS`` dict of
  ``name -> submodule`` (as ``axion_pipeline.ml`` does) imports each of those submodules.

Importing ``x.y`` also runs ``x/__init__``; that implicit edge is left out, otherwise every package
whose ``__init__`` re-exports a submodule would be a cycle with it.

Cycles are looked for as strongly connected components; a failure names, for each component with
more than one module (or a module importing itself), one cycle through it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "axion_pipeline"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE


def module_files(root: Path = ROOT, package: str = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under ``root``."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join([package, *parts])] = path
    return out


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _lazy_exports(tree: ast.Module) -> list[str]:
    """Submodule names of a module-level ``_EXPORTS = {"Name": "submodule", ...}``."""
    out = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if not any(isinstance(t, ast.Name) and t.id == "_EXPORTS" for t in targets):
            continue
        if isinstance(node.value, ast.Dict):
            out += [v.value for v in node.value.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
    return out


def import_edges(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the modules of ``modules`` it imports (see the module docstring)."""
    graph: dict[str, set[str]] = {m: set() for m in modules}

    def resolve(name: str) -> str | None:
        # The longest prefix of ``name`` that is a module of the package.
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        package = _package_of(module, path)
        targets: list[str] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                for alias in node.names:
                    sub = f"{source}.{alias.name}"
                    targets.append(sub if sub in modules else source)
        if path.name == "__init__.py":
            targets += [f"{module}.{sub}" for sub in _lazy_exports(tree)]
        for target in targets:
            hit = resolve(target)
            if hit is not None:
                graph[module].add(hit)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative); components in no particular order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    out.append(sorted(component))
    return out


def a_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One cycle inside ``component``, as a path that ends where it starts (shortest from its
    first module, by breadth-first search)."""
    members = set(component)
    start = component[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            for child in sorted(graph[node] & members):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if child not in previous:
                    previous[child] = node
                    nxt.append(child)
        frontier = nxt
    raise AssertionError(f"no cycle through {start}")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component that has one."""
    found = []
    for component in strongly_connected(graph):
        if len(component) > 1 or component[0] in graph[component[0]]:
            found.append(a_cycle(graph, component))
    return sorted(found)


def describe(graph: dict[str, set[str]]) -> str:
    lines = []
    for component in strongly_connected(graph):
        if len(component) > 1 or component[0] in graph[component[0]]:
            lines.append(
                f"{len(component)} modules in a cycle: {', '.join(component)}\n"
                f"  e.g. {' -> '.join(a_cycle(graph, component))}"
            )
    return "\n".join(sorted(lines))


def test_the_package_has_no_import_cycle():
    graph = import_edges(module_files())
    if cycles(graph):
        pytest.fail("import cycles in axion_pipeline:\n" + describe(graph), pytrace=False)


# --------------------------------------------------------------------------- the checker itself
def _write(root: Path, files: dict[str, str]) -> dict[str, Path]:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return module_files(root / "pkg", "pkg")


def test_a_function_level_import_closes_a_cycle(tmp_path):
    modules = _write(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "from pkg.b import f\n",
            "b.py": "def f():\n    from pkg import a\n    return a\n",
        },
    )
    graph = import_edges(modules)
    assert graph["pkg.b"] == {"pkg.a"}
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.a"]]


def test_relative_and_reexport_imports_count(tmp_path):
    modules = _write(
        tmp_path,
        {
            "__init__.py": "from pkg.sub import thing\n",
            "sub/__init__.py": "from .impl import thing\n",
            "sub/impl.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..other import X\nthing = 1\n"
            ),
            "other.py": "import pkg.sub\n",
        },
    )
    graph = import_edges(modules)
    assert graph["pkg"] == {"pkg.sub"}
    assert graph["pkg.sub"] == {"pkg.sub.impl"}
    assert graph["pkg.sub.impl"] == {"pkg.other"}
    assert cycles(graph) == [["pkg.other", "pkg.sub", "pkg.sub.impl", "pkg.other"]]


def test_lazy_exports_count(tmp_path):
    modules = _write(
        tmp_path,
        {
            "__init__.py": "",
            "ml/__init__.py": '_EXPORTS = {"Model": "model"}\n',
            "ml/model.py": "from pkg.ml import other\n",
            "ml/other.py": "",
        },
    )
    graph = import_edges(modules)
    assert graph["pkg.ml"] == {"pkg.ml.model"}
    assert graph["pkg.ml.model"] == {"pkg.ml.other"}
    assert not cycles(graph)


def test_an_acyclic_graph_passes():
    graph = {"a": {"b", "c"}, "b": {"c"}, "c": set()}
    assert cycles(graph) == []
    assert cycles({"a": {"a"}}) == [["a", "a"]]
