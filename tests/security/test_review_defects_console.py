"""Operator console sign-ins are audited, success and failure (issue #14).

The review found them unaudited, unlike the login page's; config/
admin_login.py has since recorded them. These tests hold that: each POST
to /admin/login/ leaves exactly one row, and nothing else changes.
"""

from http import HTTPStatus

import pytest
from django.test import Client

from audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def _sign_in(username: str, password: str):
    return Client().post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password, "next": "/admin/"},
    )


def _rows() -> list[tuple[str, str, str | None, dict]]:
    return list(
        AuditEvent.objects.order_by("id").values_list(
            "event", "outcome", "user__username", "arguments"
        )
    )


def test_a_console_sign_in_is_audited(demo):
    response = _sign_in("alice", "demo")

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/admin/"
    assert _rows() == [("admin_action", "ok", "alice", {"operation": "sign_in"})]
    (row,) = AuditEvent.objects.all()
    assert row.reason == "alice signed in to the operator console"


@pytest.mark.parametrize("username", ["alice", "nobody"])
def test_a_failed_console_sign_in_is_audited(demo, username):
    response = _sign_in(username, "wrong")

    assert response.status_code == HTTPStatus.OK  # the form again, with its error
    (row,) = AuditEvent.objects.all()
    assert (row.event, row.outcome, row.user_id) == ("login_failed", "denied", None)
    assert row.reason.startswith(f"failed operator console sign-in for {username!r}")
    assert "wrong" not in row.reason
