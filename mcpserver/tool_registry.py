"""The `@tool` decorator, the registry it fills, and start-up discovery.

Every installed app's `mcp_tools` module is imported once the apps are
ready (mcpserver/apps.py), the way the admin discovers `admin.py`; each
`@tool` there registers a ToolSpec in `TOOLS`. A name used twice, or a
function that cannot become a tool, raises ToolDefinitionError with one
line naming the function, and start-up stops on it.

Registration is code; whether a tenant may call a tool stays data: the
`Tool` catalogue row (`manage.py sync_tools`) and the tenant's enabled
`TenantTool` (the admin).
"""

import inspect
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import mcp_types as types
from django.utils.module_loading import autodiscover_modules

from mcpserver.tool_adapter import adapt
from mcpserver.tool_schema import ToolDefinitionError, arguments_of, output_of
from mcpserver.tool_spec import ToolSpec

F = TypeVar("F", bound=Callable[..., Any])

TOOLS: dict[str, ToolSpec] = {}
"""Every registered tool, by name."""

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_SCOPE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")


def _source(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def _annotations(
    *,
    read_only: bool | None,
    destructive: bool | None,
    idempotent: bool | None,
    open_world: bool | None,
) -> types.ToolAnnotations | None:
    hints = {
        "read_only_hint": read_only,
        "destructive_hint": destructive,
        "idempotent_hint": idempotent,
        "open_world_hint": open_world,
    }
    given = {key: value for key, value in hints.items() if value is not None}
    return types.ToolAnnotations(**given) if given else None


def build_spec(
    fn: Callable[..., Any],
    *,
    name: str | None = None,
    title: str | None = None,
    description: str | None = None,
    scopes: Iterable[str] = ("tools:call",),
    read_only: bool | None = None,
    destructive: bool | None = None,
    idempotent: bool | None = None,
    open_world: bool | None = None,
) -> ToolSpec:
    """The ToolSpec of tool function `fn`; ToolDefinitionError if it cannot be one."""
    where = _source(fn)
    tool_name = name or fn.__name__
    if not _NAME.match(tool_name):
        raise ToolDefinitionError(
            f"{where}: tool name {tool_name!r} must be 1-64 of A-Z a-z 0-9 _ . -"
        )
    if isinstance(scopes, str):
        raise ToolDefinitionError(f"{where}: scopes must be a list, not a string")
    scope_list = tuple(scopes)
    if not scope_list or not all(_SCOPE.match(scope) for scope in scope_list):
        raise ToolDefinitionError(
            f"{where}: scopes must be one or more OAuth scope tokens"
        )
    text = description if description is not None else inspect.getdoc(fn)
    if not text:
        raise ToolDefinitionError(f"{where}: a tool needs a docstring or description")
    arguments = arguments_of(fn, where)
    output = output_of(fn, where)
    return ToolSpec(
        name=tool_name,
        description=text,
        input_schema=arguments.schema,
        run=adapt(fn, arguments=arguments, output=output, read_only=bool(read_only)),
        title=title,
        scopes=scope_list,
        annotations=_annotations(
            read_only=read_only,
            destructive=destructive,
            idempotent=idempotent,
            open_world=open_world,
        ),
        output_schema=output.schema,
        source=where,
    )


def register(spec: ToolSpec) -> None:
    """Add `spec` to TOOLS; the same function registering again replaces itself.

    Raises ToolDefinitionError when another function has the name.
    """
    existing = TOOLS.get(spec.name)
    if existing is not None and existing.source != spec.source:
        raise ToolDefinitionError(
            f"two tools are named {spec.name!r}: {existing.source} and {spec.source}"
        )
    TOOLS[spec.name] = spec


def tool(
    fn: F | None = None,
    *,
    name: str | None = None,
    title: str | None = None,
    description: str | None = None,
    scopes: Iterable[str] = ("tools:call",),
    read_only: bool | None = None,
    destructive: bool | None = None,
    idempotent: bool | None = None,
    open_world: bool | None = None,
) -> Any:
    """Register the decorated function as an MCP tool; return it unchanged.

    The function's first parameter is the ToolContext; the others, with
    their type hints, defaults and `Annotated[..., Field(...)]` metadata,
    are the tool's arguments. The docstring is its description (unless
    `description` is given) and the return annotation its output.
    `scopes` are the scopes every call needs (a tenant's policy may add
    more); `read_only`, `destructive`, `idempotent` and `open_world` are
    its MCP annotations, and `read_only` also means it runs without a
    write transaction.
    """

    def decorate(function: F) -> F:
        register(
            build_spec(
                function,
                name=name,
                title=title,
                description=description,
                scopes=scopes,
                read_only=read_only,
                destructive=destructive,
                idempotent=idempotent,
                open_world=open_world,
            )
        )
        return function

    return decorate(fn) if fn is not None else decorate


def discover() -> None:
    """Import every installed app's `mcp_tools` module (their `@tool`s register).

    Raises ToolDefinitionError for the first tool that cannot be registered.
    """
    autodiscover_modules("mcp_tools")
