"""The package graph goes one way (spec -> backend -> timer -> record -> report/gate): no cycle between
trtbench's packages, counting imports inside functions too; function-level imports only for optional
heavy libraries; no module over 400 lines."""

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "trtbench"
#: libraries that are optional or slow to import: the only ones a function may import
LAZY_OK = ("tensorrt", "tensorrt_lean", "tensorrt_lean_bindings", "torch", "onnx2torch", "onnxruntime", "modelopt",
           "matplotlib", "cuda", "pynvml", "pytest_benchmark", "multiprocessing", "tomli", "tomllib")
#: the one exception to the 400-line rule would be listed here (none)
LONG_OK = ()


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _node(module: str) -> str:
    """trtbench.results.store -> trtbench.results; a top-level module is its own node."""
    parts = module.split(".")
    return ".".join(parts[:2])


def _imports(tree: ast.AST, module: str):
    """(imported module, inside a function?) for every import statement."""
    out = []

    def visit(node, in_func):
        for child in ast.iter_child_nodes(node):
            f = in_func or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                out.extend((a.name, f) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:  # relative import
                    base = module.split(".")[: -child.level] if not module.endswith("__init__") else module.split(".")
                    name = ".".join(base + ([child.module] if child.module else []))
                else:
                    name = child.module or ""
                out.append((name, f))
                if name.startswith("trtbench"):  # `from trtbench.gpu import cuda` imports trtbench.gpu.cuda
                    out.extend((f"{name}.{a.name}", f) for a in child.names)
            visit(child, f)

    visit(tree, False)
    return out


def _graph():
    edges = defaultdict(set)
    lazy = []
    for path in sorted(PKG.rglob("*.py")):
        module = _module_name(path)
        for name, in_func in _imports(ast.parse(path.read_text(encoding="utf-8")), module):
            if name.startswith("trtbench"):
                a, b = _node(module), _node(name)
                if a != b and b != "trtbench":
                    edges[a].add(b)
                if in_func:
                    lazy.append((module, name))
            elif in_func and name.split(".")[0] not in LAZY_OK:
                lazy.append((module, name))
    return edges, lazy


def _find_cycle(edges):
    state = {}

    def dfs(n, stack):
        state[n] = 1
        for m in sorted(edges.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m] if m in stack else [n, m]
            if not state.get(m):
                c = dfs(m, stack + [m])
                if c:
                    return c
        state[n] = 2
        return None

    for n in sorted(edges):
        if not state.get(n):
            c = dfs(n, [n])
            if c:
                return c
    return None


def test_no_cycle_between_packages():
    edges, _ = _graph()
    assert edges, "the walker found no edges: it is broken"
    assert "trtbench.run" in edges["trtbench.cli"]  # the walker sees real edges
    cycle = _find_cycle(edges)
    assert cycle is None, "package cycle: " + " -> ".join(cycle)


def test_the_walker_finds_a_cycle_when_there_is_one():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}}
    assert _find_cycle(edges) is not None
    assert _find_cycle({"a": {"b"}, "b": {"c"}}) is None


def test_function_level_imports_only_for_optional_heavy_libraries():
    _, lazy = _graph()
    assert not lazy, "function-level imports of trtbench modules or light libraries: " + \
        ", ".join(f"{m} imports {n}" for m, n in lazy)


def test_no_module_over_400_lines():
    long = [(str(p.relative_to(ROOT)), n) for p in PKG.rglob("*.py")
            for n in [len(p.read_text(encoding="utf-8").splitlines())] if n > 400 and str(p.relative_to(ROOT)) not in LONG_OK]
    assert not long, f"modules over 400 lines: {long}"
