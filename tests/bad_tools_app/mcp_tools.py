"""A second `echo`: two tools with one name stop start-up."""

from mcpserver.tools import ToolContext, tool


@tool
async def echo(ctx: ToolContext, message: str) -> str:
    """Shout the message back."""
    return message.upper()
