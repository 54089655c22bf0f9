"""The direction of imports (DESIGN.md, "Layout and direction of dependencies"), held by `make test`.

The same contracts as CI's lint step (`lint-imports`, .importlinter), and no
import cycle between the top-level folders, counting imports inside functions.
"""

from __future__ import annotations

import ast
import configparser
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["jood", "accounts", "providers", "messaging", "webhooks", "retention", "operations"]


def test_the_import_contracts_hold():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache", "--no-logo"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout and "Contracts: 2 kept, 0 broken." in result.stdout, result.stdout


def ignored_imports() -> set[tuple[str, str]]:
    """The (importer, imported) module pairs the layers contract in .importlinter lets pass (none today)."""
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    lines = config.get("importlinter:contract:layers", "ignore_imports", fallback="").split("\n")
    return {tuple(part.strip() for part in line.split("->")) for line in lines if "->" in line}


def package_edges() -> dict[str, set[str]]:
    """Top-level folder -> the top-level folders it imports (any import statement, migrations aside)."""
    edges: dict[str, set[str]] = defaultdict(set)
    ignored = ignored_imports()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in PACKAGES and top != package and (module, name) not in ignored:
                        edges[package].add(top)
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str]:
    """A cycle of the graph as a path (first node repeated at the end), or []."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after

    def visit(node: str, path: list[str]) -> list[str]:
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return [*path[path.index(nxt) :], node, nxt] if nxt in path else [node, nxt]
            if nxt not in state:
                cycle = visit(nxt, [*path, node])
                if cycle:
                    return cycle
        state[node] = "done"
        return []

    for start in sorted(edges):
        if start not in state:
            cycle = visit(start, [])
            if cycle:
                return cycle
    return []


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}}) == []


def test_no_import_cycle_between_top_level_folders():
    cycle = find_cycle(package_edges())
    assert not cycle, " -> ".join(cycle)
