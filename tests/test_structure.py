"""The house rules of docs/architecture.md, read from the code's imports."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"
MAX_MODULE_LINES = 600


def _module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in APP.rglob("*.py")}


def _resolve(name: str) -> str | None:
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str) -> Iterator[str]:
    """Every module of app/ this one imports, at the top, in a function or
    under TYPE_CHECKING alike."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            names = [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            found = _resolve(name)
            if found is not None and found != module:
                yield found


GRAPH = {module: set(_imports(module)) for module in MODULES}


def _under(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_the_graph_is_read() -> None:
    assert "app.events.domain" in GRAPH["app.db"] or "app.events.bus" in GRAPH["app.db"]
    assert "app.conversations.writer" in GRAPH["app.conversations.wiring"]


def test_storage_imports_no_socket() -> None:
    for module in ("app.db", "app.driver_sql"):
        assert not [m for m in GRAPH[module] if _under(m, "app.realtime")], module


def test_the_ground_floor_imports_nothing_above_it() -> None:
    ground = ("app.models", "app.kit", "app.config", "app.errors", "app.events")
    for module, imported in GRAPH.items():
        if _under(module, *ground):
            above = [m for m in imported if not _under(m, *ground)]
            assert not above, f"{module} imports {above}"


def test_channel_adapters_are_leaves() -> None:
    above = (
        "app.conversations",
        "app.contacts",
        "app.runtime",
        "app.responders",
        "app.routing",
        "app.realtime",
        "app.reports",
        "app.mail",
        "app.db",
    )
    for module, imported in GRAPH.items():
        if _under(module, "app.channels"):
            wrong = [m for m in imported if _under(m, *above)]
            assert not wrong, f"{module} imports {wrong}"


def test_the_runtime_imports_no_domain() -> None:
    allowed = (
        "app.config",
        "app.db",
        "app.events",
        "app.kit",
        "app.channels",
    )
    wrong = [m for m in GRAPH["app.runtime"] if not _under(m, *allowed)]
    assert not wrong


def test_no_import_circles() -> None:
    """Tarjan's strongly connected components over the module graph."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in GRAPH[module]:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == module:
                    break
            # A package's __init__ that hands its modules' names on is no circle.
            if len(component) > 1 and not any(
                all(_under(c, p) for c in component) and p in component for p in component
            ):
                circles.append(sorted(component))

    for module in GRAPH:
        if module not in index:
            visit(module)
    assert not circles


def test_no_module_over_the_limit() -> None:
    lines = {m: p.read_text(encoding="utf-8").count("\n") for m, p in MODULES.items()}
    assert not {m: n for m, n in lines.items() if n > MAX_MODULE_LINES}


# docs/architecture.md, "The floors": the domains from low to high.
DOMAINS = (
    "auth",
    "agents",
    "inboxes",
    "conversations",
    "contacts",
    "canned",
    "attachments",
    "responders",
    "routing",
    "mail",
    "reports",
)
# The two pairs that still import each other (the lower one's few imports).
KNOWN_UPWARD = {("conversations", "contacts"), ("conversations", "attachments")}


def test_domains_import_only_downwards() -> None:
    rank = {name: n for n, name in enumerate(DOMAINS)}
    wrong = set()
    for module, imported in GRAPH.items():
        here = module.split(".")[1] if module.count(".") else ""
        for target in imported:
            there = target.split(".")[1] if target.count(".") else ""
            if here in rank and there in rank and rank[there] > rank[here]:
                if (here, there) not in KNOWN_UPWARD:
                    wrong.add(f"{module} -> {target}")
    assert not wrong
