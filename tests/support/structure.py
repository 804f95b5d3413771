"""What tests/test_structure.py measures about the source tree: the import graph of tinyml/ and codegen/ (module
imports, function-level ones included), private names imported across modules, function and file sizes. Also a
script: `python tests/support/structure.py` prints every finding."""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("tinyml", "codegen")
MAX_FUNC_LINES = 60
MAX_BRANCHES = 25
MAX_FILE_LINES = 800


def modules() -> dict[str, Path]:
    """Every module of the product's packages, by dotted name (a package by its own name)."""
    out = {}
    for pkg in PACKAGES:
        for p in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(p.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = p
    return out


def _resolve(mod: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
    base = base[:len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


@dataclass(frozen=True)
class Import:
    src: str          # importing module
    dst: str          # imported module (a product module)
    names: tuple[str, ...]  # names taken from it (from-imports)
    line: int


def imports() -> list[Import]:
    """Every import of a product module by a product module, at module level or inside a function: an edge to the
    module named (`from tinyml.ir import Graph` depends on tinyml.ir, not on the package `tinyml`, whose
    __init__ only gathers the public API), as import-linter counts them."""
    mods = modules()
    out = []
    for mod, path in mods.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[tuple[str, tuple[str, ...]]] = []
            if isinstance(node, ast.Import):
                targets = [(a.name, ()) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(mod, is_pkg, node)
                for a in node.names:  # `from pkg import module` imports the module
                    if f"{base}.{a.name}" in mods:
                        targets.append((f"{base}.{a.name}", ()))
                    else:
                        targets.append((base, (a.name,)))
            for dst, names in targets:
                if dst in mods and dst != mod:
                    out.append(Import(mod, dst, names, node.lineno))
    return out


def cycles() -> list[list[str]]:
    """The strongly connected components of more than one module in the import graph (Tarjan)."""
    graph: dict[str, set[str]] = {m: set() for m in modules()}
    for i in imports():
        graph[i.src].add(i.dst)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def private_imports() -> list[str]:
    """`from module import _name` across modules of the product."""
    return [f"{i.src}:{i.line} imports {n} from {i.dst}" for i in imports() for n in i.names
            if n.startswith("_") and not n.startswith("__")]


def _branches(fn: ast.AST) -> int:
    """Decision points of a function (its nested functions excluded): if/elif, loops, except clauses, boolean
    operators' extra operands, conditional expressions, comprehension conditions, match cases."""
    n = 0
    todo = list(ast.iter_child_nodes(fn))
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        if isinstance(node, (ast.If, ast.For, ast.While, ast.IfExp, ast.ExceptHandler, ast.AsyncFor,
                             ast.match_case)):
            n += 1
        elif isinstance(node, ast.BoolOp):
            n += len(node.values) - 1
        elif isinstance(node, ast.comprehension):
            n += len(node.ifs)
        todo.extend(ast.iter_child_nodes(node))
    return n


def _argparse_only(fn: ast.FunctionDef) -> bool:
    """A function that only declares a command line (add_argument / add_parser calls and their results)."""
    calls = [n for n in ast.walk(fn) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)]
    decl = [c for c in calls if c.func.attr in ("add_argument", "add_parser", "add_subparsers",
                                                 "add_mutually_exclusive_group", "set_defaults",
                                                 "add_argument_group")]
    return len(decl) * 2 >= len(calls) and len(decl) > 10


def big_functions() -> list[str]:
    out = []
    for mod, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                br = _branches(node)
                if (lines > MAX_FUNC_LINES or br > MAX_BRANCHES) and not _argparse_only(node):
                    out.append(f"{mod}.{node.name} (line {node.lineno}): {lines} lines, {br} branches")
    return out


def big_files() -> list[str]:
    return [f"{p.relative_to(ROOT)}: {n} lines" for p in modules().values()
            if (n := len(p.read_text().splitlines())) > MAX_FILE_LINES]


if __name__ == "__main__":
    for title, found in (("import cycles", cycles()), ("private imports", private_imports()),
                         ("functions", big_functions()), ("files", big_files())):
        print(f"{title}: {len(found)}")
        for f in found:
            print("  ", f)
