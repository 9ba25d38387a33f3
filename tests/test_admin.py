from http import HTTPStatus

import pytest
from django.contrib import admin
from django.db import transaction
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import record_event
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def seeded(db) -> None:
    from tenants.demo import seed_demo_data

    seed_demo_data()
    with transaction.atomic(durable=True):
        record_event(event=AuditEvent.Event.LOGIN_FAILED, reason="demo")


@pytest.mark.parametrize(
    "model",
    list(admin.site._registry),
    ids=lambda m: m._meta.label,
)
def test_every_changelist_renders_for_a_superuser(superuser_client, seeded, model):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    response = superuser_client.get(url)
    assert response.status_code == HTTPStatus.OK
    assert model._meta.verbose_name_plural.lower() in response.text.lower()


def test_audit_admin_offers_no_add_change_or_delete(superuser_client, seeded):
    event = AuditEvent.objects.get()
    changelist = superuser_client.get(reverse("admin:audit_auditevent_changelist"))
    assert changelist.status_code == HTTPStatus.OK
    assert reverse("admin:audit_auditevent_add") not in changelist.text
    assert 'name="action"' not in changelist.text  # no bulk delete action

    add = superuser_client.get(reverse("admin:audit_auditevent_add"))
    assert add.status_code == HTTPStatus.FORBIDDEN

    change_url = reverse("admin:audit_auditevent_change", args=[event.pk])
    detail = superuser_client.get(change_url)
    assert detail.status_code == HTTPStatus.OK
    assert 'name="_save"' not in detail.text
    post = superuser_client.post(change_url, {"reason": "edited"})
    assert post.status_code == HTTPStatus.FORBIDDEN

    delete = superuser_client.post(
        reverse("admin:audit_auditevent_delete", args=[event.pk]), {"post": "yes"}
    )
    assert delete.status_code == HTTPStatus.FORBIDDEN
    assert AuditEvent.objects.get().reason == "demo"


def test_admin_login_page_renders(client):
    response = client.get(reverse("admin:login"))
    assert response.status_code == HTTPStatus.OK
    assert 'name="csrfmiddlewaretoken"' in response.text
