"""Dependencies between the apps point one way: mcpserver → oauth → the rest.

audit records what the other apps did and imports none of them; accounts
and tenants know nothing of tokens; oauth knows nothing of the MCP server.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FORBIDDEN = {
    "audit": {"accounts", "tenants", "oauth", "mcpserver"},
    "accounts": {"oauth", "mcpserver"},
    "tenants": {"oauth", "mcpserver"},
    "oauth": {"mcpserver"},
}


def _imported_apps(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return {name.partition(".")[0] for name in names}


@pytest.mark.parametrize("app", sorted(FORBIDDEN))
def test_app_does_not_import_the_apps_that_depend_on_it(app):
    back_edges = [
        f"{path.relative_to(ROOT)} imports {other}"
        for path in sorted((ROOT / app).rglob("*.py"))
        for other in sorted(_imported_apps(path) & FORBIDDEN[app])
    ]
    assert back_edges == []
