"""The tool API: what an app imports to serve its own functions as MCP tools.

```python
# myapp/mcp_tools.py
from mcpserver.tools import ToolContext, tool

@tool(scopes=["tools:call"], read_only=True, title="Find invoices")
def find_invoices(ctx: ToolContext, customer: str, limit: int = 10) -> list[InvoiceOut]:
    \"\"\"Find the tenant's invoices for a customer, newest first.\"\"\"
    found = ctx.scoped(Invoice).filter(customer__name=customer)[:limit]
    return [InvoiceOut.from_model(invoice) for invoice in found]
```

Every installed app's `mcp_tools` module is imported at start-up
(mcpserver/tool_registry.py); `manage.py sync_tools` puts each registered
tool in the catalogue, and a tenant can call it once the admin enables it.
Policy, step-up, quotas and audit apply to every registered tool without
the function doing anything (mcpserver/pipeline/, mcpserver/server.py).

The rest of this module's names (`TOOLS`, `ToolCall`, `ToolOutcome`,
`ToolSpec`, `text_result`) are the server's side of the same registry.
"""

from mcpserver.tool_context import ToolContext, ToolError
from mcpserver.tool_registry import TOOLS, build_spec, discover, register, tool
from mcpserver.tool_schema import ToolArgumentsError, ToolDefinitionError
from mcpserver.tool_spec import ToolCall, ToolOutcome, ToolSpec, text_result

__all__ = [
    "TOOLS",
    "ToolArgumentsError",
    "ToolCall",
    "ToolContext",
    "ToolDefinitionError",
    "ToolError",
    "ToolOutcome",
    "ToolSpec",
    "build_spec",
    "discover",
    "register",
    "text_result",
    "tool",
]
