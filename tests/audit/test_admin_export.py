"""The console's streaming exports: exactly the filtered, scoped rows, audited first."""

import csv
import io
import json
from http import HTTPStatus

import pytest
from asgiref.sync import async_to_sync
from django.contrib import admin
from django.test import AsyncRequestFactory, Client
from django.urls import reverse

from accounts.models import User
from audit import admin_export
from audit.models import AuditEvent
from tests.audit.test_admin_investigation import _client, demo  # noqa: F401

pytestmark = pytest.mark.django_db
CSV = "admin:audit_auditevent_export_csv"
JSONL = "admin:audit_auditevent_export_jsonl"


def _export(client: Client, name: str, **params: str) -> tuple[str, list[dict]]:
    response = client.get(reverse(name), params)
    assert response.status_code == HTTPStatus.OK
    assert response.streaming
    body = b"".join(response.streaming_content).decode()
    if name == CSV:
        return body, list(csv.DictReader(io.StringIO(body)))
    return body, [json.loads(line) for line in body.splitlines()]


def _exports() -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(
            event=AuditEvent.Event.ADMIN_ACTION, arguments__operation="export"
        ).order_by("id")
    )


def test_csv_export_streams_exactly_the_filtered_rows_newest_first(demo):  # noqa: F811
    _, rows = _export(_client("root"), CSV, client_id="cid-desktop")
    assert [row["request_id"] for row in rows] == ["req-b-failed", "req-a-called"]
    assert rows[1]["arguments"] == '{"message": "hello"}'
    assert rows[1]["tenant"] == "tenant-a"
    assert rows[1]["user"] == "bob"


def test_jsonl_export_follows_the_search_too(demo):  # noqa: F811
    _, rows = _export(_client("root"), JSONL, q="missing_scope")
    assert [row["request_id"] for row in rows] == ["req-a-denied"]
    assert rows[0]["arguments"] == {"confirm": True}
    assert rows[0]["reason"] == "missing_scope: needs admin"


def test_an_export_is_recorded_before_it_streams(demo):  # noqa: F811
    root = _client("root")
    response = root.get(reverse(JSONL), {"tool": "echo", "outcome__exact": "ok"})
    (recorded,) = _exports()  # before a single row is read
    assert recorded.user.username == "root"
    assert recorded.arguments["format"] == "jsonl"
    assert recorded.arguments["filters"] == {"tool": "echo", "outcome__exact": "ok"}
    b"".join(response.streaming_content)


@pytest.mark.parametrize("name", [CSV, JSONL])
def test_a_tenant_admins_export_holds_only_their_tenants_rows(demo, name):  # noqa: F811
    _, rows = _export(_client("alice"), name)
    request_ids = {row["request_id"] for row in rows}
    assert {"req-a-called", "req-a-denied"} <= request_ids
    assert not {"req-b-failed", "req-no-tenant"} & request_ids
    assert {row["tenant"] for row in rows} == {"tenant-a"}
    (recorded,) = _exports()
    assert recorded.tenant_id is None or recorded.tenant.slug == "tenant-a"


def test_an_unknown_filter_is_refused_and_not_exported(demo):  # noqa: F811
    response = _client("root").get(reverse(CSV), {"secret__icontains": "x"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert _exports() == []


def test_a_user_who_administers_nothing_cannot_export(demo):  # noqa: F811
    response = _client("bob").get(reverse(CSV))
    assert response.status_code == HTTPStatus.FOUND  # to the console's login
    assert _exports() == []


def test_under_asgi_the_export_streams_through_an_async_iterator(demo):  # noqa: F811
    """Django's ASGI handler would read a sync iterator whole before sending."""
    request = AsyncRequestFactory().get(reverse(CSV), {"client_id": "cid-desktop"})
    request.user = User.objects.get(username="root")
    model_admin = admin.site.get_model_admin(AuditEvent)
    response = admin_export.export_csv(model_admin, request)
    assert response.is_async

    async def read() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    rows = list(csv.DictReader(io.StringIO(async_to_sync(read)().decode())))
    assert [row["request_id"] for row in rows] == ["req-b-failed", "req-a-called"]
