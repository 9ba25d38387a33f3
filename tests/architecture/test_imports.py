"""Dependencies point one way: between apps, and along the /mcp stages.

Every import in the product packages is read from the source (module level
and inside functions alike), so a cycle hidden in a function body counts.

Layers: the presentation modules of an app (admin, views, urls, management
commands) may use any app's services, selectors and models, and none of
those imports a presentation module; below them, the apps' modules form a
graph without cycles, in which mcpserver uses tenants, audit and oauth and
nothing points back. `config` (the composition root) and `harness` (a
client) sit on top.
"""

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ("accounts", "tenants", "oauth", "audit", "mcpserver", "harness", "config")
STAGES = ("guard", "authentication", "admission", "decide", "dispatch")
"""mcpserver/pipeline/, in the order each request passes them."""

FORBIDDEN = {
    ("audit", "accounts"),
    ("audit", "tenants"),
    ("audit", "oauth"),
    ("audit", "mcpserver"),
    ("accounts", "oauth"),
    ("accounts", "mcpserver"),
    ("tenants", "oauth"),
    ("tenants", "mcpserver"),
    ("oauth", "mcpserver"),
    ("mcpserver", "config"),
    ("mcpserver", "harness"),
}
"""App edges that point the wrong way from a domain module (models,
services, selectors, the stages): audit records what the others did and
imports none of them; accounts and tenants know nothing of tokens; oauth
knows nothing of the MCP server; mcpserver uses tenants, audit and oauth and
nothing points back. Presentation modules sit above every app (the audit
console scopes its rows with the tenants' admin helpers), so these edges do
not bind them; the test below keeps the domain from importing them."""


def _modules() -> dict[str, Path]:
    found = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            relative = path.relative_to(ROOT).with_suffix("")
            parts = list(relative.parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imports(module: str, path: Path) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in modules.items():
        for name in _imports(module, path):
            if name in modules and name != module:
                graph[module].add(name)
    return graph


def _app(module: str) -> str:
    return module.split(".")[0]


def _presentation(module: str) -> bool:
    parts = module.split(".")
    return (
        parts[0] in ("config", "harness")
        or "management" in parts
        or parts[-1] in ("urls", "apps")
        or parts[-1].startswith(("admin", "views"))
    )


def _domain_graph() -> dict[str, set[str]]:
    return {
        module: {target for target in targets if not _presentation(target)}
        for module, targets in _graph().items()
        if not _presentation(module)
    }


def test_services_selectors_and_models_never_import_presentation() -> None:
    wrong = sorted(
        f"{module} -> {target}"
        for module, targets in _graph().items()
        for target in targets
        if _presentation(target) and not _presentation(module)
    )
    assert wrong == []


def test_no_app_imports_one_it_must_not() -> None:
    wrong = sorted(
        f"{module} -> {target}"
        for module, targets in _graph().items()
        for target in targets
        if (_app(module), _app(target)) in FORBIDDEN and not _presentation(module)
    )
    assert wrong == []


def test_apps_import_each_other_without_a_cycle() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    for module, targets in _domain_graph().items():
        for target in targets:
            if _app(module) != _app(target):
                edges[_app(module)].add(_app(target))
    cycles = []

    def visit(app: str, path: list[str]) -> None:
        for target in sorted(edges[app]):
            if target in path:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            else:
                visit(target, [*path, target])

    for app in sorted(edges):
        visit(app, [app])
    assert cycles == []


def test_modules_of_mcpserver_import_each_other_without_a_cycle() -> None:
    graph = {m: t for m, t in _graph().items() if _app(m) == "mcpserver"}
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        for target in sorted(graph.get(module, ())):
            if target in path:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif _app(target) == "mcpserver":
                visit(target, [*path, target])

    for module in sorted(graph):
        visit(module, [module])
    assert cycles == []


@pytest.mark.parametrize("stage", STAGES)
def test_no_stage_imports_a_later_one(stage: str) -> None:
    later = {f"mcpserver.pipeline.{name}" for name in STAGES[STAGES.index(stage) + 1 :]}
    imported = _graph()[f"mcpserver.pipeline.{stage}"]
    assert imported & later == set()
