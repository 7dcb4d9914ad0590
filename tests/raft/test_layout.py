"""The raft package's layout rules: the core's modules are sans-IO, and no module imports
another that (directly or not) imports it back."""

from __future__ import annotations

import ast
from pathlib import Path

import trio_zeebe.raft

PACKAGE = Path(trio_zeebe.raft.__file__).parent

#: The sans-IO core and everything it is made of.
SANS_IO = (
    "config",
    "core",
    "election",
    "errors",
    "messages",
    "progress",
    "raftlog",
    "ready",
    "status",
    "voting",
)
#: What a sans-IO module must not import (time comes in as ``now``; I/O is the driver's).
IO_MODULES = {"trio", "anyio", "asyncio", "time", "os", "socket", "threading", "selectors"}


def imports() -> dict[str, tuple[set[str], set[str]]]:
    """module -> (raft modules it imports, other modules it imports)."""
    found: dict[str, tuple[set[str], set[str]]] = {}
    names = {p.stem for p in PACKAGE.glob("*.py")}
    for path in PACKAGE.glob("*.py"):
        inside: set[str] = set()
        outside: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                outside |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level == 0 and module.startswith("trio_zeebe.raft"):
                    module, level = module.removeprefix("trio_zeebe.raft").lstrip("."), 1
                else:
                    level = node.level
                if level == 1:
                    head = module.split(".")[0]
                    inside |= {head} if head else {a.name for a in node.names} & names
                else:
                    outside.add("." * level + module)
        found[path.stem] = (inside - {path.stem}, outside)
    return found


def test_core_modules_import_nothing_that_does_io() -> None:
    graph = imports()
    for name in SANS_IO:
        inside, outside = graph[name]
        assert inside <= set(SANS_IO), f"{name} imports {sorted(inside - set(SANS_IO))}"
        roots = {m.split(".")[0] for m in outside}
        assert not roots & IO_MODULES, f"{name} imports {sorted(roots & IO_MODULES)}"
        assert not any(m.startswith("..") for m in outside), f"{name}: {sorted(outside)}"


def test_no_import_circles() -> None:
    graph = {name: inside - {"__init__"} for name, (inside, _) in imports().items()}

    def reaches(start: str, target: str) -> bool:
        seen, todo = set(), list(graph[start])
        while todo:
            name = todo.pop()
            if name == target:
                return True
            if name not in seen:
                seen.add(name)
                todo += graph.get(name, ())
        return False

    circles = sorted(name for name in graph if name != "__init__" and reaches(name, name))
    assert not circles, f"modules on an import circle: {circles}"
