"""What `@tool` makes of a function, and the functions it refuses.

The demo tools must keep the exact argument schemas their hand-written
versions had; a function that cannot become a tool is refused with one
line that names it, and an app shipping one stops start-up.
"""

import subprocess
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field

from mcpserver.tools import (
    TOOLS,
    ToolContext,
    ToolDefinitionError,
    build_spec,
    register,
)

ROOT = Path(__file__).resolve().parents[2]


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


HAND_WRITTEN = {
    "echo": _object({"message": {"type": "string", "maxLength": 10_000}}, ["message"]),
    "search_documents": _object(
        {
            "query": {"type": "string", "minLength": 1, "maxLength": 500},
            "limit": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10},
        },
        ["query"],
    ),
    "export_report": _object(
        {
            "reportId": {"type": "string", "minLength": 1, "maxLength": 64},
            "format": {"type": "string", "enum": ["json", "csv"], "default": "json"},
        },
        ["reportId"],
    ),
    # The one difference: the default of `confirm` is now stated.
    "admin_purge": _object({"confirm": {"type": "boolean", "default": False}}, []),
}
"""The demo tools' schemas as mcpserver/tools.py wrote them by hand before."""


@pytest.mark.parametrize("name", sorted(HAND_WRITTEN))
def test_the_demo_tools_keep_their_schemas(name: str) -> None:
    assert TOOLS[name].input_schema == HAND_WRITTEN[name]
    # In order too: jsonschema's best_match breaks ties by keyword order, so
    # a misspelt argument must still read as the missing required one.
    assert list(TOOLS[name].input_schema) == list(HAND_WRITTEN[name])
    assert TOOLS[name].source == f"demo.mcp_tools.{name}"


def test_the_demo_tools_declare_their_scopes_and_annotations() -> None:
    assert {
        name: spec.scopes for name, spec in TOOLS.items() if "demo." in spec.source
    } == {
        "echo": ("tools:call",),
        "search_documents": ("tools:call",),
        "export_report": ("tools:call",),
        "admin_purge": ("tools:call", "admin"),
    }
    assert TOOLS["admin_purge"].annotations.destructive_hint is True
    assert TOOLS["search_documents"].output_schema["required"] == ["results"]
    assert TOOLS["export_report"].output_schema is None  # JSON or CSV text


class Colour(Enum):
    RED = "red"
    BLUE = "blue"


class Point(BaseModel):
    x: int
    y: int


def test_types_constraints_enums_and_nested_models_become_the_schema() -> None:
    def paint(
        ctx: ToolContext,
        colour: Colour,
        at: Point,
        sizes: Annotated[list[int], Field(max_length=3)] = [],  # noqa: B006
        label: Annotated[str | None, Field(description="Shown on hover")] = None,
    ) -> dict[str, int]:
        """Paint a point."""
        return {}

    spec = build_spec(paint)

    schema = spec.input_schema
    assert schema["required"] == ["colour", "at"]
    assert schema["$defs"]["Colour"] == {"enum": ["red", "blue"], "type": "string"}
    assert schema["properties"]["at"] == {"$ref": "#/$defs/Point"}
    assert schema["properties"]["sizes"]["maxItems"] == 3
    assert schema["properties"]["label"]["description"] == "Shown on hover"
    assert spec.output_schema == {
        "type": "object",
        "additionalProperties": {"type": "integer"},
    }
    assert spec.description == "Paint a point."


async def _no_hint(ctx: ToolContext, message) -> str:
    """Echo."""
    return message


def _star_args(ctx: ToolContext, *words: str) -> str:
    """Join."""
    return " ".join(words)


def _no_docstring(ctx: ToolContext) -> str:
    return ""


def _not_a_schema(ctx: ToolContext, when: type) -> str:
    """A parameter whose type has no JSON schema."""
    return ""


def _no_context() -> str:
    """Nothing to take the context."""
    return ""


@pytest.mark.parametrize(
    ("function", "problem"),
    [
        (_no_hint, "parameter 'message' has no type hint"),
        (_star_args, "parameter 'words' must be a named parameter"),
        (_no_docstring, "a tool needs a docstring or description"),
        (_not_a_schema, "the parameters cannot become a JSON schema"),
        (_no_context, "the first parameter must be the ToolContext"),
    ],
)
def test_a_function_that_cannot_be_a_tool_is_refused_in_one_line(
    function: Any, problem: str
) -> None:
    with pytest.raises(ToolDefinitionError) as refused:
        build_spec(function)

    message = str(refused.value)
    assert message.startswith(
        f"tests.mcpserver.test_tool_definitions.{function.__name__}: "
    )
    assert problem in message
    assert "\n" not in message


def test_two_functions_with_one_name_are_refused() -> None:
    async def echo(ctx: ToolContext, message: str) -> str:
        """Another echo."""
        return message

    with pytest.raises(ToolDefinitionError) as refused:
        register(build_spec(echo))

    assert str(refused.value) == (
        "two tools are named 'echo': demo.mcp_tools.echo and "
        "tests.mcpserver.test_tool_definitions."
        "test_two_functions_with_one_name_are_refused.<locals>.echo"
    )
    assert TOOLS["echo"].source == "demo.mcp_tools.echo"


def test_an_app_with_a_bad_tool_stops_start_up_with_one_line() -> None:
    finished = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={
            **__import__("os").environ,
            "DJANGO_SETTINGS_MODULE": "tests.bad_tools_app.settings",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert finished.returncode == 1
    assert finished.stderr.strip().splitlines() == [
        "Cannot start: MCP tool two tools are named 'echo': demo.mcp_tools.echo "
        "and tests.bad_tools_app.mcp_tools.echo"
    ]


def test_the_readme_example_is_the_tools_app_code() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Add your own tool") :]
    start = section.index("```python\n") + len("```python\n")
    block = section[start : section.index("\n```\n", start)]
    source = (ROOT / "tests" / "tools_app" / "mcp_tools.py").read_text()

    def squeeze(text: str) -> str:
        return "".join(text.split())

    chunks = block.split("\n\n\n")[1:]  # after the imports
    assert [chunk.split("\n")[0] for chunk in chunks] == [
        "class InvoiceOut(BaseModel):",
        '@tool(scopes=["tools:call"], read_only=True, title="Find invoices")',
    ]
    for chunk in chunks:
        assert squeeze(chunk) in squeeze(source)


def test_the_seeded_catalogue_says_what_the_demo_code_says() -> None:
    from tenants.demo import DEMO_TOOLS

    assert {
        name: (TOOLS[name].description, " ".join(TOOLS[name].scopes))
        for name in DEMO_TOOLS
    } == DEMO_TOOLS
