from django.apps import AppConfig


class McpServerConfig(AppConfig):
    name = "mcpserver"
    verbose_name = "MCP server"

    def ready(self) -> None:
        """Register every installed app's tools (their `mcp_tools` modules).

        A tool that cannot be registered stops start-up with one line that
        names its function (mcpserver/tool_registry.py), not a traceback.
        """
        from mcpserver.tool_registry import discover
        from mcpserver.tool_schema import ToolDefinitionError

        try:
            discover()
        except ToolDefinitionError as exc:
            raise SystemExit(f"Cannot start: MCP tool {exc}") from None
