"""The import graph of the first-party code has no circle, and `rag.settings` stays a leaf.

The graph is read from the source on disk with `ast`, not by importing it: every `import` and `from ... import`
anywhere in a file counts, those inside functions and under `if TYPE_CHECKING:` included, since a circle there is a
circle in the design even where Python tolerates it at run time. An edge goes to the module an import names:
relative imports are resolved against the importer's package, `from package import module` points at the module and
`from module import name` at the module; a package's `__init__.py` is a node of its own, reached where a name is
taken from it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("rag", "serving", "ingest", "evals", "rag_cli", "benchmarks", "tests")
# What `import rag.settings` must not load: each costs seconds or hundreds of MB, and every command and server reads
# the settings first.
HEAVY = {"numpy", "sqlalchemy", "onnxruntime", "tokenizers", "transformers", "torch", "Stemmer"}


def module_files() -> dict[str, Path]:
    """Every first-party module on disk, by dotted name (a package by its `__init__.py`)."""
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if any(part.startswith(".") or part in ("node_modules", "__pycache__") for part in parts):
                continue
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def resolve(name: str, importer: str, modules: dict[str, Path]) -> str | None:
    """The first-party module that importing `name` loads, or None for a standard or third-party one. `tests/` has
    no `__init__.py`, so pytest puts it on the path and a test could import a sibling by its bare name."""
    for candidate in [name, f"tests.{name}"] if importer.startswith("tests.") else [name]:
        parts = candidate.split(".")
        for end in range(len(parts), 0, -1):  # a name inside a module loads that module
            if ".".join(parts[:end]) in modules:
                return ".".join(parts[:end])
    return None


def statements(body: Sequence[ast.AST]) -> Iterator[ast.AST]:
    """Every statement in `body` and in the blocks nested in it (functions, classes, `if`, `try`, `with`, loops,
    `match`): where an import can be. Expressions are not visited, which makes this several times faster than
    `ast.walk`."""
    for node in body:
        yield node
        for block in ("body", "orelse", "finalbody", "handlers", "cases"):
            yield from statements(getattr(node, block, []))


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The first-party modules `module` imports, anywhere in its file."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets = set()
    for node in statements(ast.parse(path.read_text(), str(path)).body):
        if isinstance(node, ast.Import):
            targets |= {resolve(alias.name, module, modules) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # `from ..x import y` in a.b.c: the package a, then x
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            # `base.name` resolves to the module `name` where it is one, else to `base`, which defines `name`
            targets |= {resolve(f"{base}.{alias.name}", module, modules) for alias in node.names}
    return {target for target in targets if target is not None and target != module}


@cache
def import_graph() -> nx.DiGraph[str]:
    """First-party modules as nodes; an edge from each module to each first-party module it imports."""
    modules = module_files()
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from(modules)
    for module, path in modules.items():
        graph.add_edges_from((module, target) for target in imports_of(module, path, modules))
    return graph


def circles(graph: nx.DiGraph[str]) -> list[str]:
    """Each group of nodes that import each other (a strongly connected component of more than one node): its
    members and one circle through them."""
    found = []
    for component in nx.strongly_connected_components(graph):
        if len(component) > 1:
            circle = [edge[0] for edge in nx.find_cycle(graph.subgraph(component))]
            found.append(f"{sorted(component)}, e.g. {' -> '.join([*circle, circle[0]])}")
    return sorted(found)


def rag_concern(module: str) -> str:
    """The part of `rag` a module belongs to: its subpackage (`rag.store`), or itself for a loose module of rag/."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 else module


def test_no_module_imports_itself_through_others() -> None:
    graph = import_graph()
    assert graph.number_of_nodes() > 100 and "rag.settings" in graph  # the walk found the code
    assert not circles(graph), "import circles:\n" + "\n".join(circles(graph))


def test_no_circle_between_the_concerns_of_rag() -> None:
    graph = import_graph()
    concerns: nx.DiGraph[str] = nx.DiGraph()
    rag_modules = [module for module in graph if module == "rag" or module.startswith("rag.")]
    concerns.add_nodes_from(rag_concern(module) for module in rag_modules)
    concerns.add_edges_from(
        (rag_concern(a), rag_concern(b))
        for a, b in graph.subgraph(rag_modules).edges
        if rag_concern(a) != rag_concern(b)
    )
    assert {"rag.store", "rag.answering", "rag.settings"} <= set(concerns)
    assert not circles(concerns), "import circles between rag's packages:\n" + "\n".join(circles(concerns))


def test_settings_load_no_heavy_library() -> None:
    """A fresh interpreter, so that nothing another test imported counts."""
    code = "import sys, rag.settings; print(' '.join(sorted({name.split('.')[0] for name in sys.modules})))"
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    heavy = HEAVY & set(loaded.stdout.split())
    assert not heavy, f"import rag.settings loads {sorted(heavy)}"
