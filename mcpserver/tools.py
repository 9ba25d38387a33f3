"""The tools /mcp serves: their schemas and implementations.

The catalogue and each tenant's policy live in the database (tenants.Tool,
tenants.TenantTool); this module is the code behind a catalogue name. Every
read and write goes through a tenant-scoped selector or service with the
principal's tenant, so a tool can only ever see its caller's tenant.

A tool returns a ToolOutcome. A tool-level failure (an unknown report id, a
purge without confirmation) is a result with `isError: true` that the model
can read and act on; protocol errors (unknown tool, bad arguments) are
raised by the server (mcpserver/server.py), not here.
"""

import csv
import io
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import mcp_types as types
from jsonschema import Draft202012Validator

from audit.models import AuditEvent
from mcpserver.auth import Principal
from mcpserver.db import run_db
from tenants import selectors, tools_services


@dataclass(frozen=True)
class ToolCall:
    """One validated `tools/call`: who, which tool, which arguments."""

    principal: Principal
    name: str
    arguments: Mapping[str, Any]
    request_id: str
    started: float = field(default_factory=time.perf_counter)

    def audit_fields(
        self, *, event: str, outcome: str, reason: str = ""
    ) -> dict[str, Any]:
        """The audit event fields for this call, with its duration so far."""
        return {
            "event": event,
            "outcome": outcome,
            "tenant_id": self.principal.tenant_id,
            "user_id": self.principal.user_id,
            "client_id": self.principal.client_id,
            "tool": self.name,
            "arguments": dict(self.arguments),
            "reason": reason,
            "request_id": self.request_id,
            "duration_ms": (time.perf_counter() - self.started) * 1000,
        }


@dataclass(frozen=True)
class ToolOutcome:
    """A tool's result, the reason for the audit row, and whether it audited.

    `audited` is true when the tool recorded its own audit row in the
    transaction of the change it made (a write tool).
    """

    result: types.CallToolResult
    reason: str = ""
    audited: bool = False


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    input_schema: dict[str, Any]
    run: Callable[[ToolCall], Awaitable[ToolOutcome]]
    validator: Draft202012Validator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        Draft202012Validator.check_schema(self.input_schema)
        object.__setattr__(self, "validator", Draft202012Validator(self.input_schema))


def text_result(
    text: str, *, structured: Any = None, is_error: bool = False
) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content=structured,
        is_error=is_error,
    )


def _json_result(payload: dict[str, Any]) -> types.CallToolResult:
    return text_result(
        json.dumps(payload, ensure_ascii=False, default=str), structured=payload
    )


async def echo(call: ToolCall) -> ToolOutcome:
    return ToolOutcome(text_result(call.arguments["message"]))


async def search_documents(call: ToolCall) -> ToolOutcome:
    hits = await run_db(
        selectors.search_documents,
        tenant_id=call.principal.tenant_id,
        query=call.arguments["query"],
        limit=call.arguments.get("limit", 10),
    )
    results = [
        {"id": hit.id, "title": hit.title, "snippet": hit.snippet} for hit in hits
    ]
    return ToolOutcome(_json_result({"results": results}))


def _csv(rows: list[Any]) -> str:
    """Rows as CSV; columns sorted (PostgreSQL's jsonb does not keep key order)."""
    columns = sorted({key for row in rows if isinstance(row, dict) for key in row})
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=columns, extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for row in rows:
        if isinstance(row, dict):
            writer.writerow(
                {
                    key: json.dumps(value) if isinstance(value, dict | list) else value
                    for key, value in row.items()
                }
            )
    return out.getvalue()


async def export_report(call: ToolCall) -> ToolOutcome:
    report_id = call.arguments["reportId"]
    report = await run_db(
        selectors.get_report, tenant_id=call.principal.tenant_id, report_id=report_id
    )
    if report is None:
        return ToolOutcome(
            text_result(f"no such report: {report_id}", is_error=True),
            reason="no such report",
        )
    if call.arguments.get("format", "json") == "csv":
        return ToolOutcome(text_result(_csv(report.rows)))
    return ToolOutcome(
        _json_result(
            {"id": report.report_id, "title": report.title, "rows": report.rows}
        )
    )


async def admin_purge(call: ToolCall) -> ToolOutcome:
    if call.arguments.get("confirm") is not True:
        return ToolOutcome(
            text_result(
                "Nothing was deleted: admin_purge deletes every document of "
                "this tenant and runs only with confirm: true.",
                structured={"deleted": 0},
                is_error=True,
            ),
            reason="not confirmed; nothing deleted",
        )
    deleted = await run_db(
        tools_services.purge_documents,
        tenant_id=call.principal.tenant_id,
        audit_event=lambda count: call.audit_fields(
            event=AuditEvent.Event.TOOL_CALLED,
            outcome=AuditEvent.Outcome.OK,
            reason=f"deleted {count} documents",
        ),
    )
    return ToolOutcome(
        text_result(f"Deleted {deleted} documents.", structured={"deleted": deleted}),
        audited=True,
    )


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


TOOLS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in [
        ToolSpec(
            name="echo",
            description="Return the message it is given.",
            input_schema=_object(
                {"message": {"type": "string", "maxLength": 10_000}}, ["message"]
            ),
            run=echo,
        ),
        ToolSpec(
            name="search_documents",
            description="Search the tenant's documents by words; best matches first.",
            input_schema=_object(
                {
                    "query": {"type": "string", "minLength": 1, "maxLength": 500},
                    "limit": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 50,
                        "default": 10,
                    },
                },
                ["query"],
            ),
            run=search_documents,
        ),
        ToolSpec(
            name="export_report",
            description="Export one of the tenant's reports as JSON or CSV.",
            input_schema=_object(
                {
                    "reportId": {"type": "string", "minLength": 1, "maxLength": 64},
                    "format": {
                        "type": "string",
                        "enum": ["json", "csv"],
                        "default": "json",
                    },
                },
                ["reportId"],
            ),
            run=export_report,
        ),
        ToolSpec(
            name="admin_purge",
            description=(
                "Delete all of the tenant's documents (requires confirm: true)."
            ),
            input_schema=_object({"confirm": {"type": "boolean"}}, []),
            run=admin_purge,
        ),
    ]
}
"""Every implemented tool, by catalogue name."""
