"""Audit rows of web events record the request's address and user agent.

The source is hashed with the row (tampering with it is caught by
`audit_verify`), rows without one keep the digest they had before the
columns existed, and the console's detail page shows it.
"""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test import AsyncClient, Client
from django.urls import reverse

from accounts.models import User
from audit.chain import CONTENT_FIELDS, canonical_content
from audit.models import AuditEvent
from audit.services import record_event
from audit.triggers import drop_triggers, install_triggers
from tests.audit.console_pages import read_page
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

AGENT = "Mozilla/5.0 (X11; Linux x86_64) AuditTest/1.0"


def _failed_login(client: Client) -> AuditEvent:
    response = client.post(
        reverse("login"),
        {"username": "mallory", "password": "not-it"},
        REMOTE_ADDR="203.0.113.9",
        HTTP_USER_AGENT=AGENT,
    )
    assert response.status_code == 200  # the form again, with its error
    return AuditEvent.objects.get(event=AuditEvent.Event.LOGIN_FAILED)


def test_a_failed_login_records_the_address_and_user_agent():
    row = _failed_login(Client())

    assert (row.source_ip, row.user_agent) == ("203.0.113.9", AGENT)


async def test_the_asgi_handler_records_them_too():
    # AsyncClient runs Django's ASGI handler: the middleware's async path.
    await AsyncClient().post(
        reverse("login"),
        {"username": "mallory", "password": "x"},
        headers={"User-Agent": AGENT},
    )

    row = await AuditEvent.objects.aget(event=AuditEvent.Event.LOGIN_FAILED)

    assert (row.source_ip, row.user_agent) == ("127.0.0.1", AGENT)


def test_a_long_user_agent_is_cut_to_its_column():
    Client().post(
        reverse("login"),
        {"username": "mallory", "password": "x"},
        HTTP_USER_AGENT="A" * 1000,
    )

    row = AuditEvent.objects.get(event=AuditEvent.Event.LOGIN_FAILED)

    assert row.user_agent == "A" * 256


def test_a_row_made_outside_a_request_has_no_source_and_its_old_digest():
    with transaction.atomic(durable=True):
        row = record_event(event=AuditEvent.Event.TOOL_CALLED, tool="echo")

    lines = canonical_content(row).split(b"\n")

    assert (row.source_ip, row.user_agent) == (None, None)
    # Exactly the fields rows were chained with before the source columns.
    assert len(lines) == len(CONTENT_FIELDS)


def test_an_edited_source_address_is_caught_by_audit_verify():
    row = _failed_login(Client())
    drop_triggers(connection)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE audit_auditevent SET source_ip = %s WHERE id = %s",
                ["198.51.100.1", row.pk],
            )
    finally:
        install_triggers(connection)

    with pytest.raises(CommandError, match=f"row id {row.pk}\\): hash mismatch"):
        call_command("audit_verify", stdout=StringIO())


def test_the_detail_page_shows_the_source():
    row = _failed_login(Client())
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    console = Client()
    console.force_login(User.objects.get(pk=root.pk))

    page = read_page(
        console.get(
            reverse("admin:audit_auditevent_change", args=[row.pk])
        ).content.decode()
    )

    assert "203.0.113.9" in page.fields["source"]
    assert AGENT in page.fields["source"]
