"""Streaming CSV and JSON Lines exports of exactly the changelist's filtered rows.

The rows are the changelist's own queryset (filters, search and the tenant
scope applied by the same ChangeList the page uses), read with
`.iterator(chunk_size=...)` and written out chunk by chunk, so memory stays
flat however many rows match. Each export is first recorded as an
`admin_action` row (who, which filters, which format) in a durable
transaction of its own: the record exists before the first byte leaves.
"""

import csv
import io
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.core.handlers.asgi import ASGIRequest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import record_event
from audit.verify import read_snapshot

CHUNK_SIZE = 2000
ROWS_PER_WRITE = 500
COLUMNS = [
    "id",
    "occurred_at",
    "event",
    "outcome",
    "tenant",
    "user",
    "client_id",
    "tool",
    "arguments",
    "reason",
    "request_id",
    "duration_ms",
    "source_ip",
    "user_agent",
    "chain_id",
    "sequence",
    "prev_hash",
    "hash",
]
_VALUES = [
    "id",
    "occurred_at",
    "event",
    "outcome",
    "tenant__slug",
    "user__username",
    "client_id",
    "tool",
    "arguments",
    "reason",
    "request_id",
    "duration_ms",
    "source_ip",
    "user_agent",
    "chain_id",
    "sequence",
    "prev_hash",
    "hash",
]
_JSON = DjangoJSONEncoder(sort_keys=True, ensure_ascii=False)


def _records(queryset: Any) -> Iterator[dict[str, Any]]:
    """The rows as plain dicts, streamed (a server-side cursor on PostgreSQL)."""
    with read_snapshot():
        rows = queryset.values_list(*_VALUES).iterator(chunk_size=CHUNK_SIZE)
        for values in rows:
            yield dict(zip(COLUMNS, values, strict=True))


def _batched(lines: Iterable[str]) -> Iterator[bytes]:
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= ROWS_PER_WRITE:
            yield "".join(batch).encode()
            batch = []
    if batch:
        yield "".join(batch).encode()


def csv_lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    """A header, then one CSV line per record (arguments as canonical JSON)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(cells: list[Any]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(cells)
        return buffer.getvalue()

    yield line(COLUMNS)
    for record in records:
        record["occurred_at"] = record["occurred_at"].isoformat()
        record["arguments"] = _JSON.encode(record["arguments"])
        yield line([record[name] for name in COLUMNS])


def jsonl_lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    """One JSON object per record and line."""
    for record in records:
        yield _JSON.encode(record) + "\n"


async def _async_chunks(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """The chunks read in the request's sync thread, one hop per chunk.

    Django's ASGI handler would otherwise read a sync iterator to the end
    into a list before sending anything. Thread-sensitive hops keep every
    read on the one connection that holds the server-side cursor.
    """
    step = sync_to_async(lambda: next(chunks, None), thread_sensitive=True)
    try:
        while (chunk := await step()) is not None:
            yield chunk
    finally:
        await sync_to_async(chunks.close, thread_sensitive=True)()


def _filters(request: HttpRequest) -> dict[str, Any]:
    return {
        name: values if len(values) > 1 else values[0]
        for name, values in request.GET.lists()
        if name not in ("p", "o")
    }


def record_export(request: HttpRequest, *, export_format: str) -> AuditEvent:
    """Append the export's `admin_action` row in a durable transaction of its own."""
    filters = _filters(request)
    tenant_id = filters.get("tenant__id__exact")
    with transaction.atomic(durable=True):
        return record_event(
            event=AuditEvent.Event.ADMIN_ACTION,
            user_id=request.user.pk,
            tenant_id=int(tenant_id) if str(tenant_id or "").isdigit() else None,
            arguments={
                "operation": "export",
                "model": "audit.auditevent",
                "format": export_format,
                "filters": filters,
            },
            reason=f"exported audit events as {export_format}",
        )


def _export(
    model_admin: Any,
    request: HttpRequest,
    *,
    export_format: str,
    lines: Callable[[Iterable[dict[str, Any]]], Iterator[str]],
    content_type: str,
    extension: str,
) -> HttpResponse:
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    try:
        changelist = model_admin.get_changelist_instance(request)
    except IncorrectLookupParameters:
        return HttpResponse("Unknown filter.", status=400, content_type="text/plain")
    queryset = changelist.queryset
    recorded = record_export(request, export_format=export_format)
    # The export's own record may match its filters (a search for a word in
    # them, say); it is not part of the set the operator was looking at.
    chunks = _batched(lines(_records(queryset.exclude(pk=recorded.pk))))
    body = _async_chunks(chunks) if isinstance(request, ASGIRequest) else chunks
    response = StreamingHttpResponse(body, content_type=content_type)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = (
        f'attachment; filename="audit-{stamp}.{extension}"'
    )
    return response


def export_csv(model_admin: Any, request: HttpRequest) -> HttpResponse:
    return _export(
        model_admin,
        request,
        export_format="csv",
        lines=csv_lines,
        content_type="text/csv; charset=utf-8",
        extension="csv",
    )


def export_jsonl(model_admin: Any, request: HttpRequest) -> HttpResponse:
    return _export(
        model_admin,
        request,
        export_format="jsonl",
        lines=jsonl_lines,
        content_type="application/x-ndjson; charset=utf-8",
        extension="jsonl",
    )
