"""JSON schemas from a tool function's type hints, with pydantic.

`arguments_of(fn)` builds the tool's input: a pydantic model of every
parameter after the context (defaults, `Annotated[..., Field(...)]`
constraints and aliases, enums and `Literal`s), and its JSON schema without
pydantic's generated titles, closed to unknown arguments. `output_of(fn)`
reads the return annotation: a `str` (or a union with `str`) is text and has
no output schema; a model, TypedDict, dataclass or `dict[str, ...]` is the
`structuredContent` object itself; anything else (a list, a number) is
wrapped as `{"result": ...}`, as the official SDK's `@mcp.tool()` does.
Either raises ToolDefinitionError, one line, naming what is wrong.
"""

import dataclasses
import inspect
import json
import types as pytypes
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin, is_typeddict

import mcp_types as types
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, create_model
from pydantic_core import to_jsonable_python

from mcpserver.tool_spec import text_result


class ToolDefinitionError(Exception):
    """A tool function cannot become an MCP tool (the message is one line)."""


class ToolArgumentsError(Exception):
    """Arguments that passed the JSON schema failed the tool's own types.

    `where` is the argument's path (`a/b`), `problem` pydantic's message.
    """

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


_UNWRAPPED_KEYS = ("properties", "$defs", "definitions", "patternProperties")


def _strip_titles(schema: Any) -> Any:
    """`schema` without pydantic's generated `title`s (names stay in maps)."""
    if isinstance(schema, list):
        return [_strip_titles(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in _UNWRAPPED_KEYS and isinstance(value, dict):
            out[key] = {name: _strip_titles(sub) for name, sub in value.items()}
        else:
            out[key] = _strip_titles(value)
    return out


def _one_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


@dataclass(frozen=True)
class Arguments:
    """A tool's parameters: their model, its JSON schema, and the parser."""

    model: type[BaseModel]
    schema: dict[str, Any]

    def parse(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Keyword arguments for the function (by parameter name).

        Raises ToolArgumentsError with the first problem, one line.
        """
        try:
            parsed = self.model.model_validate(dict(arguments))
        except ValidationError as exc:
            error = exc.errors()[0]
            where = "/".join(str(part) for part in error["loc"])
            raise ToolArgumentsError(where, error["msg"]) from None
        return {name: getattr(parsed, name) for name in type(parsed).model_fields}


def arguments_of(fn: Callable[..., Any], where: str) -> Arguments:
    """The input of tool function `fn` (its first parameter is the context)."""
    signature = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:
        raise ToolDefinitionError(f"{where}: {_one_line(exc)}") from None
    parameters = list(signature.parameters.values())
    if not parameters or parameters[0].kind not in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        raise ToolDefinitionError(
            f"{where}: the first parameter must be the ToolContext (ctx)"
        )
    fields: dict[str, Any] = {}
    for parameter in parameters[1:]:
        name = parameter.name
        if parameter.kind in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
            inspect.Parameter.POSITIONAL_ONLY,
        ):
            raise ToolDefinitionError(
                f"{where}: parameter {name!r} must be a named parameter "
                "(no *args, **kwargs or positional-only)"
            )
        if name not in hints:
            raise ToolDefinitionError(f"{where}: parameter {name!r} has no type hint")
        if name.startswith("_") or name.startswith("model_"):
            raise ToolDefinitionError(
                f"{where}: parameter {name!r} cannot be an argument name "
                "(leading underscore or model_)"
            )
        default = (
            ... if parameter.default is inspect.Parameter.empty else parameter.default
        )
        fields[name] = (hints[name], default)
    try:
        model = create_model(
            f"{fn.__name__}_arguments",
            __config__=ConfigDict(extra="forbid"),
            **fields,
        )
        schema = _strip_titles(model.model_json_schema(by_alias=True))
    except Exception as exc:
        raise ToolDefinitionError(
            f"{where}: the parameters cannot become a JSON schema: {_one_line(exc)}"
        ) from None
    return Arguments(model=model, schema=_ordered(schema))


def _ordered(schema: dict[str, Any]) -> dict[str, Any]:
    """The object schema's keys in a fixed order, `required` always present.

    The order matters to what a client reads: jsonschema's `best_match`
    breaks ties between errors by the order the keywords are checked, so
    with `required` before `additionalProperties` a misspelt argument is
    reported as the missing one ("'message' is a required property").
    """
    head = {
        "type": schema.get("type", "object"),
        "properties": schema.get("properties", {}),
        "required": schema.get("required", []),
        "additionalProperties": schema.get("additionalProperties", False),
    }
    return {**head, **{k: v for k, v in schema.items() if k not in head}}


@dataclass(frozen=True)
class Output:
    """How a tool's return value becomes a CallToolResult.

    `schema` is the output schema (None when the tool may return text);
    `adapter` validates and dumps a structured value; `wrap` puts it under
    `result` first.
    """

    schema: dict[str, Any] | None = None
    adapter: TypeAdapter[Any] | None = None
    wrap: bool = False

    def result(self, value: Any) -> types.CallToolResult:
        """The result for `value`, the function's return value.

        Raises ValueError (pydantic's ValidationError) when a value does not
        match the declared return type: a defect of the tool.
        """
        if isinstance(value, types.CallToolResult):
            if self.adapter is not None and not value.is_error:
                self.adapter.validate_python(value.structured_content)
            return value
        if self.adapter is None:
            if value is None:
                return types.CallToolResult(content=[])
            if isinstance(value, str):
                return text_result(value)
            dumped = to_jsonable_python(value, by_alias=True)
            structured = dumped if isinstance(dumped, dict) else None
            return text_result(_json(dumped), structured=structured)
        candidate = {"result": value} if self.wrap else value
        validated = self.adapter.validate_python(candidate, by_alias=True, by_name=True)
        dumped = self.adapter.dump_python(validated, mode="json", by_alias=True)
        return text_result(_json(dumped), structured=dumped)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _is_union(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, pytypes.UnionType)


def _is_object(annotation: Any) -> bool:
    if isinstance(annotation, type) and (
        issubclass(annotation, BaseModel)
        or is_typeddict(annotation)
        or dataclasses.is_dataclass(annotation)
    ):
        return True
    if get_origin(annotation) in (dict, Mapping):
        args = get_args(annotation)
        return not args or args[0] is str
    return False


def output_of(fn: Callable[..., Any], where: str) -> Output:
    """The output plan of tool function `fn`, from its return annotation."""
    hints = typing.get_type_hints(fn, include_extras=True)
    annotation = hints.get("return", inspect.Signature.empty)
    if annotation is inspect.Signature.empty or annotation is Any:
        return Output()
    declared = annotation
    if get_origin(annotation) is Annotated:
        base, *extras = get_args(annotation)
        declared = extras[0] if base is types.CallToolResult and extras else base
    if declared in (str, type(None), None, types.CallToolResult):
        return Output()
    if _is_union(declared) and any(
        arg in (str, types.CallToolResult) for arg in get_args(declared)
    ):
        return Output()
    wrap = not _is_object(declared)
    try:
        if wrap:
            model = create_model(f"{fn.__name__}_output", result=(declared, ...))
            adapter: TypeAdapter[Any] = TypeAdapter(model)
        else:
            adapter = TypeAdapter(declared)
        schema = _strip_titles(adapter.json_schema(by_alias=True, mode="serialization"))
    except Exception as exc:
        raise ToolDefinitionError(
            f"{where}: the return type cannot become an output schema: {_one_line(exc)}"
        ) from None
    if schema.get("type") != "object":
        raise ToolDefinitionError(
            f"{where}: the return type's schema is not an object ({schema.get('type')})"
        )
    return Output(schema=schema, adapter=adapter, wrap=wrap)
