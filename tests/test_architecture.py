"""The import rules of docs/ARCHITECTURE.md, checked by walking the package's imports with ast.

Every ``import`` and ``from ... import`` in ``trio_zeebe/`` counts, also inside functions (a lazy
import is still a dependency); imports under ``if TYPE_CHECKING:`` count too, for the room rules and
for import circles: a circle of annotations is still two modules that each need the other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import attrs

import trio_zeebe

PACKAGE = Path(trio_zeebe.__file__).parent
ROOT = PACKAGE.parent


@attrs.frozen
class Import:
    target: str  # a module of the package when it is one, else the imported name's module
    typing_only: bool


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    module_name(p): p
    for p in sorted(PACKAGE.rglob("*.py"))
    if not p.name.endswith("_pb2.py")  # protoc's output imports only protobuf and proto.pool
}


def imports_of(path: Path, name: str) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only |= {id(child) for child in ast.walk(node)}
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(a.name, id(node) in typing_only) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                here = here[: len(here) - node.level + 1]
                base = ".".join([*here, *([node.module] if node.module else [])])
            for alias in node.names:
                full = f"{base}.{alias.name}"
                target = full if full in MODULES else base
                found.append(Import(target, id(node) in typing_only))
    return found


GRAPH = {name: imports_of(path, name) for name, path in MODULES.items()}

LEAVES = ("codec", "knobs", "keys", "errors", "tlsfiles", "logs", "wallclock")
#: What a sans-IO core may use of the leaves (logs, tlsfiles and wallclock touch the world).
CORE_LEAVES = ("codec", "knobs", "keys", "errors")
#: Today's client modules; after the gateway step they are trio_zeebe/client/.
CLIENT_MODULES = ("client", "client_connection", "client_errors", "worker")
CLI_MODULES = ("cli", "cli_job", "cli_cluster", "cli_process", "devcluster", "__main__")


def room(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "root"
    head = parts[1]
    if head in CLIENT_MODULES:
        return "client"
    if head in CLI_MODULES:
        return "cli"
    if head in LEAVES:
        return "leaf"
    return head


EVERYTHING = {"*"}
#: room -> what of trio_zeebe it may import besides itself and the leaves (dotted prefixes
#: below trio_zeebe; "*" = anything). See docs/ARCHITECTURE.md.
ALLOWED: dict[str, set[str]] = {
    "leaf": set(),
    "proto": set(),
    "grpc": {"proto"},
    "transport": set(),
    "disk": set(),
    "log": {"disk"},
    "membership": {"transport.api", "disk"},
    "raft": {"transport.api", "disk", "log"},
    "engine": {"proto"},
    "processing": {"engine", "raft"},
    "partitions": {"engine", "raft", "processing", "membership", "log", "disk", "transport.api"},
    "gateway": {"proto", "grpc", "engine", "partitions", "processing", "transport", "raft.errors"},
    "monitoring": EVERYTHING,  # it observes every component, beside the broker
    "config": {
        "raft.config",
        "membership.config",
        "transport.config",
        "partitions.config",
        "gateway.grpc_config",
        "transport.api",
        "transport.frames",
    },
    "client": {"proto", "grpc"},
    "root": {"client", "worker"},
    "broker": EVERYTHING - {"cli", "testing", "client"},
    "cli": EVERYTHING,
    "testing": EVERYTHING,
}
FORBIDDEN_FOR = {
    "broker": {"cli", "testing", *CLIENT_MODULES},
    "monitoring": {"cli", "testing", *CLIENT_MODULES},
    "cli": {"testing"},
}

#: Violations known and accepted for now (none today); checked the other way round below
#: so an entry must go as soon as it is fixed.
PENDING: dict[tuple[str, str], str] = {}
PENDING_CIRCLES: dict[frozenset[str], str] = {}

RAFT_CORE = {
    f"trio_zeebe.raft.{m}"
    for m in (
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
}
MEMBERSHIP_CORE = {
    f"trio_zeebe.membership.{m}"
    for m in (
        "awareness",
        "config",
        "core",
        "dissemination",
        "events",
        "messages",
        "probe",
        "suspicion",
    )
}
IO_MODULES = {"trio", "anyio", "asyncio", "time", "os", "socket", "ssl", "threading", "selectors"}
#: The engine may use a lock (FEEL's parser cache), not the world.
ENGINE_FORBIDDEN = {"trio", "anyio", "asyncio", "time", "os", "socket", "selectors", "subprocess"}


def inside(target: str, prefixes: Iterable[str]) -> bool:
    return any(
        target == f"trio_zeebe.{p}" or target.startswith(f"trio_zeebe.{p}.") for p in prefixes
    )


def room_violations(graph: dict[str, list[Import]] = GRAPH) -> set[tuple[str, str]]:
    found = set()
    for module, imports in graph.items():
        mine = room(module)
        allowed = ALLOWED[mine]
        for imp in imports:
            target = imp.target
            # The root package is lazy and pure (``__version__``, the client's names).
            if not target.startswith("trio_zeebe.") or target == module:
                continue
            there = room(target)
            if there in (mine, "leaf") and mine != "leaf":
                continue
            if allowed is EVERYTHING or "*" in allowed:
                if not inside(target, FORBIDDEN_FOR.get(mine, ())):
                    continue
            elif inside(target, allowed):
                continue
            found.add((module, target))
    return found


def test_every_module_belongs_to_a_room_with_rules() -> None:
    assert {room(m) for m in GRAPH} <= set(ALLOWED)


def test_rooms_import_only_what_they_may() -> None:
    unexpected = sorted(room_violations() - set(PENDING))
    assert not unexpected, f"imports against docs/ARCHITECTURE.md: {unexpected}"


def test_pending_room_rules_are_still_broken() -> None:
    """An accepted exception that no longer happens must leave ``PENDING``."""
    fixed = set(PENDING) - room_violations()
    assert not fixed, f"fixed, remove from PENDING: {sorted(fixed)}"


def test_sans_io_cores_import_only_each_other_and_the_leaves() -> None:
    for core, extra in ((RAFT_CORE, set()), (MEMBERSHIP_CORE, {"trio_zeebe.transport.api"})):
        for module in sorted(core):
            for imp in GRAPH[module]:
                root = imp.target.split(".")[0]
                assert root not in IO_MODULES, f"{module} imports {imp.target}"
                if root == "trio_zeebe":
                    ok = imp.target in core | extra or inside(imp.target, CORE_LEAVES)
                    assert ok, f"{module} imports {imp.target}"


def test_the_engine_imports_no_trio_and_no_world() -> None:
    for module, imports in GRAPH.items():
        if room(module) == "engine":
            roots = {imp.target.split(".")[0] for imp in imports}
            assert not roots & ENGINE_FORBIDDEN, f"{module}: {sorted(roots & ENGINE_FORBIDDEN)}"


def test_client_and_grpc_channel_import_no_trio() -> None:
    for module, imports in GRAPH.items():
        if room(module) in ("client", "grpc"):
            assert "trio" not in {i.target.split(".")[0] for i in imports}, module


def circles(*, typing_too: bool = True) -> set[frozenset[str]]:
    graph = {
        m: {
            i.target
            for i in imports
            if i.target in GRAPH and i.target != m and (typing_too or not i.typing_only)
        }
        for m, imports in GRAPH.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: set[frozenset[str]] = set()

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.add(frozenset(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_no_import_circles() -> None:
    unexpected = circles() - set(PENDING_CIRCLES)
    assert not unexpected, f"modules on an import circle: {[sorted(c) for c in unexpected]}"


def test_pending_circles_are_gone() -> None:
    assert not circles() & set(PENDING_CIRCLES)


def test_the_circle_check_finds_a_circle() -> None:
    """Two modules that annotate each other's types are a circle, so the check counts it."""
    a, b = "trio_zeebe.engine.runtime.machine", "trio_zeebe.engine.runtime.jobs"
    GRAPH[a].append(Import(b, typing_only=True))
    try:
        assert frozenset({a, b}) in {frozenset(c & {a, b}) for c in circles()}
        assert not any({a, b} <= c for c in circles(typing_too=False))
    finally:
        GRAPH[a].pop()


def test_nothing_outside_tests_imports_tests() -> None:
    for path in [*PACKAGE.rglob("*.py"), *(ROOT / "bench").rglob("*.py"), ROOT / "noxfile.py"]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            for name in names:
                assert name.split(".")[0] != "tests", f"{path.relative_to(ROOT)} imports {name}"


def test_the_walk_sees_real_imports() -> None:
    """The checks above are only as good as the walk: it must find known edges."""
    broker = {i.target for i in GRAPH["trio_zeebe.broker"]}
    assert {"trio_zeebe.config", "trio_zeebe.partitions.manager", "trio"} <= broker
    assert "trio_zeebe.raft.config" in {i.target for i in GRAPH["trio_zeebe.config"]}
    assert "trio_zeebe.gateway.longpoll" in {i.target for i in GRAPH["trio_zeebe.gateway.router"]}
    # and the rules catch an edge against them (the gateway reaching into the Raft driver)
    bad = {**GRAPH, "trio_zeebe.gateway.x": [Import("trio_zeebe.raft.driver", typing_only=True)]}
    assert room_violations(bad) == {("trio_zeebe.gateway.x", "trio_zeebe.raft.driver")}


def test_in_raft_only_the_driver_subpackage_uses_trio() -> None:
    """The trio side of Raft lives in ``raft/driver/``; the rest of ``raft/`` is the sans-IO
    core plus snapshot storage and the message router, none of which imports trio."""
    for module, imports in GRAPH.items():
        if module.startswith("trio_zeebe.raft.") and not inside(module, ("raft.driver",)):
            roots = {imp.target.split(".")[0] for imp in imports}
            assert "trio" not in roots, f"{module} imports trio outside raft/driver/"
