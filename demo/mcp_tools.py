"""The four demo tools, written with the public tool API (mcpserver.tools).

They are what `manage.py seed_demo` enables for the demo tenants. Each
reads and writes only through `ctx.scoped(...)`, so only its caller's
tenant's rows; policy, step-up, quotas and audit come from the server.
"""

import csv
import io
import json
from typing import Annotated, Any, Literal

from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from mcpserver.tools import ToolContext, ToolError, text_result, tool
from tenants import selectors
from tenants.models import SCOPE_ADMIN, SCOPE_TOOLS_CALL, Document, Report


@tool(scopes=[SCOPE_TOOLS_CALL], read_only=True, open_world=False)
async def echo(
    ctx: ToolContext, message: Annotated[str, Field(max_length=10_000)]
) -> str:
    """Return the message it is given."""
    return message


class DocumentOut(BaseModel):
    id: int
    title: str
    snippet: str


class SearchResults(BaseModel):
    results: list[DocumentOut]


@tool(scopes=[SCOPE_TOOLS_CALL], read_only=True, open_world=False)
def search_documents(
    ctx: ToolContext,
    query: Annotated[str, Field(min_length=1, max_length=500)],
    limit: Annotated[int, Field(ge=1, le=50)] = 10,
) -> SearchResults:
    """Search the tenant's documents by words; best matches first."""
    hits = selectors.search_documents(ctx.scoped(Document), query=query, limit=limit)
    return SearchResults(
        results=[DocumentOut(id=h.id, title=h.title, snippet=h.snippet) for h in hits]
    )


class ReportOut(BaseModel):
    id: str
    title: str
    rows: list[Any]


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


@tool(scopes=[SCOPE_TOOLS_CALL], read_only=True, open_world=False)
def export_report(
    ctx: ToolContext,
    report_id: Annotated[str, Field(alias="reportId", min_length=1, max_length=64)],
    format: Literal["json", "csv"] = "json",
) -> ReportOut | str:
    """Export one of the tenant's reports as JSON or CSV."""
    report = ctx.scoped(Report).filter(report_id=report_id).first()
    if report is None:
        raise ToolError(f"no such report: {report_id}", reason="no such report")
    if format == "csv":
        return _csv(report.rows)
    return ReportOut(id=report.report_id, title=report.title, rows=report.rows)


@tool(scopes=[SCOPE_TOOLS_CALL, SCOPE_ADMIN], destructive=True, open_world=False)
def admin_purge(ctx: ToolContext, confirm: bool = False) -> CallToolResult:
    """Delete all of the tenant's documents (requires confirm: true)."""
    if confirm is not True:
        raise ToolError(
            "Nothing was deleted: admin_purge deletes every document of "
            "this tenant and runs only with confirm: true.",
            reason="not confirmed; nothing deleted",
            structured={"deleted": 0},
        )
    _, deleted = ctx.scoped(Document).delete()
    count = deleted.get("tenants.Document", 0)
    ctx.audit_reason = f"deleted {count} documents"
    return text_result(f"Deleted {count} documents.", structured={"deleted": count})
