"""The one decision function, on its own."""

import pytest

from mcpserver.auth import Principal
from mcpserver.policy import (
    ALLOWED,
    MISSING_SCOPE,
    TOOL_NOT_ENABLED,
    UNKNOWN_TOOL,
    Decision,
    decide,
)
from tenants.selectors import ToolPolicy
from tests.factories import TenantToolFactory, ToolFactory

POLICY = ToolPolicy(
    tenant_id=1,
    required_scopes={
        "echo": frozenset({"tools:call"}),
        "admin_purge": frozenset({"tools:call", "admin"}),
    },
    catalogue=frozenset({"echo", "admin_purge", "export_report", "not_implemented"}),
    descriptions={},
)


def _principal(*scopes: str, tenant_id: int = 1) -> Principal:
    return Principal(
        user_id=1,
        tenant_id=tenant_id,
        tenant_slug="t",
        client_id="c",
        scopes=frozenset(scopes),
        jti="j",
        exp=0,
        token="t",
    )


def test_an_enabled_tool_with_its_scopes_is_allowed() -> None:
    decision = decide(_principal("tools:call"), "echo", policy=POLICY)
    assert decision == Decision(True, ALLOWED, frozenset(), frozenset({"tools:call"}))
    assert not decision.hidden


def test_missing_scopes_name_every_scope_the_call_needs() -> None:
    decision = decide(_principal("tools:call"), "admin_purge", policy=POLICY)
    assert not decision.allowed
    assert decision.reason == MISSING_SCOPE
    assert decision.missing_scopes == {"admin"}
    assert decision.required_scopes == {"admin", "tools:call"}
    assert not decision.hidden
    assert decision.audit_reason == "missing_scope: needs admin"


def test_a_token_without_tools_call_misses_it_too() -> None:
    decision = decide(_principal("admin"), "echo", policy=POLICY)
    assert decision.missing_scopes == {"tools:call"}


@pytest.mark.parametrize(
    ("tool", "reason"),
    [
        ("export_report", TOOL_NOT_ENABLED),
        ("not_implemented", UNKNOWN_TOOL),
        ("nope", UNKNOWN_TOOL),
    ],
)
def test_tools_the_tenant_lacks_are_hidden(tool: str, reason: str) -> None:
    decision = decide(_principal("tools:call", "admin"), tool, policy=POLICY)
    assert not decision.allowed
    assert decision.hidden
    assert decision.reason == reason
    assert decision.required_scopes == decision.missing_scopes == frozenset()


def test_another_tenants_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="own tenant"):
        decide(_principal("tools:call", tenant_id=2), "echo", policy=POLICY)


def test_without_a_snapshot_the_policy_is_read(db) -> None:
    policy = TenantToolFactory(
        tool=ToolFactory(name="echo", required_scopes="tools:call"),
        extra_scopes="admin",
    )
    principal = _principal("tools:call", tenant_id=policy.tenant_id)
    decision = decide(principal, "echo")
    assert decision.required_scopes == {"tools:call", "admin"}
    assert decision.missing_scopes == {"admin"}


def test_an_inactive_tenant_has_no_tools(db) -> None:
    policy = TenantToolFactory(tool=ToolFactory(name="echo"))
    policy.tenant.is_active = False
    policy.tenant.save(update_fields=["is_active"])
    decision = decide(_principal("tools:call", tenant_id=policy.tenant_id), "echo")
    assert decision.reason == TOOL_NOT_ENABLED
