"""The audit investigation in the operator console: list, filters, detail, scope.

alice administers tenant-a, dave tenant-b (tenants/demo.py); root is a
superuser. Pages are read with html.parser (tests/audit/console_pages.py).
"""

from datetime import timedelta
from http import HTTPStatus
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from oauth2_provider.models import get_application_model

from accounts.models import User
from audit.admin import format_time
from audit.models import AuditEvent
from audit.services import record_event
from audit.triggers import drop_triggers, install_triggers
from tenants.demo import seed_demo_data
from tenants.models import Tenant
from tests.audit.console_pages import ConsolePage, read_page
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
Event = AuditEvent.Event
Outcome = AuditEvent.Outcome
CHANGELIST = "admin:audit_auditevent_changelist"


def _client(username: str) -> Client:
    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


def _record(**fields: Any) -> AuditEvent:
    with transaction.atomic(durable=True):
        return record_event(**fields)


@pytest.fixture
def demo() -> dict[str, Any]:
    """Demo data, two named clients and a row of each kind in both tenants."""
    seed_demo_data()
    UserFactory(username="root", is_staff=True, is_superuser=True)
    tenants = {tenant.slug: tenant for tenant in Tenant.objects.all()}
    users = {user.username: user for user in User.objects.all()}
    application = get_application_model()
    for client_id, name in (("cid-desktop", "Claude Desktop"), ("cid-cli", "CLI")):
        application.objects.create(
            client_id=client_id,
            name=name,
            client_type=application.CLIENT_PUBLIC,
            authorization_grant_type=application.GRANT_AUTHORIZATION_CODE,
            redirect_uris="http://127.0.0.1:9999/callback",
        )
    a, b = tenants["tenant-a"].pk, tenants["tenant-b"].pk
    rows = {
        "a-called": _record(
            event=Event.TOOL_CALLED,
            tenant_id=a,
            user_id=users["bob"].pk,
            client_id="cid-desktop",
            tool="echo",
            arguments={"message": "hello"},
            reason="",
            request_id="req-a-called",
        ),
        "a-denied": _record(
            event=Event.TOOL_DENIED,
            outcome=Outcome.DENIED,
            tenant_id=a,
            user_id=users["alice"].pk,
            client_id="cid-cli",
            tool="admin_purge",
            arguments={"confirm": True},
            reason="missing_scope: needs admin",
            request_id="req-a-denied",
        ),
        "b-failed": _record(
            event=Event.TOOL_FAILED,
            outcome=Outcome.ERROR,
            tenant_id=b,
            user_id=users["carol"].pk,
            client_id="cid-desktop",
            tool="export_report",
            arguments={"report_id": 7},
            reason="invalid params: report_id: 7 is not of type 'string'",
            request_id="req-b-failed",
        ),
        "no-tenant": _record(
            event=Event.LOGIN_FAILED,
            outcome=Outcome.DENIED,
            reason="failed sign-in for 'mallory'",
            request_id="req-no-tenant",
        ),
    }
    return {"tenants": tenants, "users": users, "rows": rows}


def _list(client: Client, **params: str) -> ConsolePage:
    response = client.get(reverse(CHANGELIST), params)
    assert response.status_code == HTTPStatus.OK
    return read_page(response.content.decode())


def _request_ids(page: ConsolePage) -> set[str]:
    """The rows shown, by request id (read from each row's detail link)."""
    ids = {
        reverse("admin:audit_auditevent_change", args=[pk]): request_id
        for pk, request_id in AuditEvent.objects.values_list("pk", "request_id")
    }
    return {ids[row["when"].href.split("?")[0]] for row in page.rows}


def test_the_list_shows_client_names_and_seconds_with_the_zone(demo):
    page = _list(_client("root"), q="req-a-called")
    (row,) = page.rows
    assert row["client"].text == "Claude Desktop"
    assert row["client"].titles == ["cid-desktop"]
    when = demo["rows"]["a-called"].occurred_at
    assert row["when"].text == format_time(when)
    assert row["when"].text.endswith(" UTC")
    assert row["when"].text[:19] == timezone.localtime(when).strftime(
        "%Y-%m-%d %H:%M:%S"
    )
    assert row["event_label"].text == "Tool called"


def test_a_long_reason_is_truncated_with_the_full_text_on_hover(demo):
    reason = "invalid params: " + "x" * 200
    _record(event=Event.TOOL_FAILED, outcome=Outcome.ERROR, reason=reason)
    (row,) = _list(_client("root"), q="xxxxxxxx").rows
    assert row["short_reason"].titles == [reason]
    assert len(row["short_reason"].text) < 60


def test_client_names_are_read_in_one_query_for_the_page(
    demo, django_assert_max_num_queries
):
    root = _client("root")
    root.get(reverse(CHANGELIST))  # warm the session and content types
    with django_assert_max_num_queries(20) as few:
        _list(root)
    for n in range(30):
        _record(event=Event.TOOL_CALLED, client_id=f"cid-{n}", tool="echo")
    with django_assert_max_num_queries(len(few.captured_queries)):
        _list(root)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"tenant__id__exact": "tenant-a"}, {"req-a-called", "req-a-denied"}),
        ({"user__id__exact": "carol"}, {"req-b-failed"}),
        ({"client_id": "cid-desktop"}, {"req-a-called", "req-b-failed"}),
        ({"tool": "admin_purge"}, {"req-a-denied"}),
        ({"event__exact": "tool_failed"}, {"req-b-failed"}),
        ({"outcome__exact": "denied"}, {"req-a-denied", "req-no-tenant"}),
    ],
)
def test_each_filter_narrows_the_list(demo, params, expected):
    values = {
        name: str(demo["tenants"][value].pk)
        if name.startswith("tenant")
        else str(demo["users"][value].pk)
        if name.startswith("user")
        else value
        for name, value in params.items()
    }
    assert _request_ids(_list(_client("root"), **values)) == expected


def test_the_date_range_narrows_the_list(demo):
    today = timezone.localdate()
    root = _client("root")
    everything = _request_ids(_list(root))
    assert _request_ids(_list(root, occurred_from=str(today))) == everything
    assert _request_ids(_list(root, occurred_to=str(today))) == everything
    yesterday = str(today - timedelta(days=1))
    assert _request_ids(_list(root, occurred_to=yesterday)) == set()
    tomorrow = str(today + timedelta(days=1))
    assert _request_ids(_list(root, occurred_from=tomorrow)) == set()


def test_search_finds_a_row_by_request_id_reason_or_arguments(demo):
    root = _client("root")
    assert _request_ids(_list(root, q="req-b-failed")) == {"req-b-failed"}
    assert _request_ids(_list(root, q="missing_scope")) == {"req-a-denied"}
    assert _request_ids(_list(root, q="hello")) == {"req-a-called"}


def test_a_tenant_admin_sees_only_their_tenants_rows_and_choices(demo):
    alice = _client("alice")
    page = _list(alice)
    assert _request_ids(page) == {"req-a-called", "req-a-denied"}
    assert page.filters["tenant"] == ["All", "tenant-a"]
    assert set(page.filters["user"]) == {"All", "alice", "bob", "dave", "-"}
    assert "export_report" not in page.filters["tool"]
    assert page.filters["client"] == ["All", "CLI", "Claude Desktop"]
    assert _list(_client("dave")).filters["client"] == ["All", "Claude Desktop"]
    # Asking for tenant-b's rows by hand shows none.
    other = {"tenant__id__exact": str(demo["tenants"]["tenant-b"].pk)}
    assert _request_ids(_list(alice, **other)) == set()


@pytest.mark.parametrize("row", ["b-failed", "no-tenant"])
def test_a_tenant_admin_cannot_open_another_tenants_row(demo, row):
    pk = demo["rows"][row].pk
    response = _client("alice").get(
        reverse("admin:audit_auditevent_change", args=[pk]), follow=True
    )
    assert response.redirect_chain
    assert "doesn\u2019t exist" in response.content.decode()


def test_nobody_can_add_change_or_delete_rows(demo):
    root = _client("root")
    pk = demo["rows"]["a-called"].pk
    assert root.get(reverse("admin:audit_auditevent_add")).status_code == (
        HTTPStatus.FORBIDDEN
    )
    delete = reverse("admin:audit_auditevent_delete", args=[pk])
    assert root.post(delete, {"post": "yes"}).status_code == HTTPStatus.FORBIDDEN
    change = reverse("admin:audit_auditevent_change", args=[pk])
    root.post(change, {"reason": "rewritten"})
    assert AuditEvent.objects.get(pk=pk).reason == ""


def _detail(client: Client, row: AuditEvent) -> ConsolePage:
    response = client.get(reverse("admin:audit_auditevent_change", args=[row.pk]))
    assert response.status_code == HTTPStatus.OK
    return read_page(response.content.decode())


def test_the_detail_page_says_the_decision_in_words_and_checks_the_chain(demo):
    page = _detail(_client("alice"), demo["rows"]["a-denied"])
    assert page.fields["decision"] == "refused: needs scope admin"
    assert page.fields["pretty_arguments"] == '{ "confirm": true }'
    assert page.fields["client_link"] == "CLI cid-cli"
    application = get_application_model().objects.get(client_id="cid-cli")
    assert page.links["CLI"] == reverse(
        "admin:oauth2_provider_application_change", args=[application.pk]
    )
    assert page.fields["chain_status"].startswith("chain OK")
    assert page.fields["chain_id"] == demo["rows"]["a-denied"].chain_id
    assert page.fields["sequence"] == str(demo["rows"]["a-denied"].sequence)


def test_the_detail_page_shows_where_a_tampered_chain_breaks(demo):
    tampered = demo["rows"]["a-called"]
    drop_triggers(connection)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE audit_auditevent SET reason = %s WHERE id = %s",
                ["edited", tampered.pk],
            )
    finally:
        install_triggers(connection)
    status = _detail(_client("root"), demo["rows"]["a-denied"]).fields["chain_status"]
    assert status.startswith("chain broken")
    assert f"sequence {tampered.sequence} (row id {tampered.pk})" in status
    assert "hash mismatch" in status


def test_the_summary_charts_the_visible_tenants_tools_as_svg(demo):
    response = _client("alice").get(reverse("admin:audit_auditevent_summary"))
    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    page = read_page(html)
    assert page.svgs == 2  # tenant-a: the last 24 hours and the last 7 days
    assert "Tenant A" in page.text
    assert "Tenant B" not in page.text
    assert "tenant-b" not in page.text
    assert "export_report" not in page.text
    assert "admin_purge" in page.text
    assert "Claude Desktop" in page.text  # top clients, by name
    assert not [src for src in page.scripts if src.startswith("http")]


def test_the_summary_counts_calls_denials_and_errors_per_tool(demo):
    response = _client("root").get(reverse("admin:audit_auditevent_summary"))
    summaries = {s.tenant.slug: s for s in response.context["summaries"]}
    a_tools = dict(summaries["tenant-a"].tools["24h"])
    assert a_tools["echo"] == {"calls": 1, "denials": 0, "errors": 0}
    assert a_tools["admin_purge"] == {"calls": 0, "denials": 1, "errors": 0}
    b_tools = dict(summaries["tenant-b"].tools["7d"])
    assert b_tools["export_report"] == {"calls": 0, "denials": 0, "errors": 1}
    assert summaries["tenant-a"].top_users == [("bob", 1)]
    assert summaries["tenant-a"].top_clients == [("Claude Desktop", "cid-desktop", 1)]


def test_the_changelist_links_the_exports_with_its_filters_and_the_summary(demo):
    page = _list(_client("alice"), tool="echo")
    assert page.links["Export CSV"] == (
        reverse("admin:audit_auditevent_export_csv") + "?tool=echo"
    )
    assert page.links["Export JSON Lines"] == (
        reverse("admin:audit_auditevent_export_jsonl") + "?tool=echo"
    )
    assert page.links["Summary by tenant"] == reverse("admin:audit_auditevent_summary")
