"""Disabling a user, tenant or client in the admin stops its live tokens."""

from http import HTTPStatus

import pytest
from django.test import Client
from django.urls import reverse
from oauth2_provider.models import Application

from accounts.models import User
from audit.models import AuditEvent
from oauth.models import ClientProfile, Revocation
from tenants.demo import seed_demo_data
from tenants.models import Tenant
from tests.factories import UserFactory
from tests.oauth import flow

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator() -> Client:
    seed_demo_data()
    client = Client()
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def _change_form(client: Client, url: str) -> dict:
    page = client.get(url)
    assert page.status_code == HTTPStatus.OK
    data = {}
    form = page.context["adminform"].form
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if value is None:
            continue
        data[name] = value
    for formset in page.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        for name in management.fields:
            data[f"{management.prefix}-{name}"] = management.initial.get(name, 0)
        for index, inline_form in enumerate(formset.formset.forms):
            for name, field in inline_form.fields.items():
                value = inline_form.initial.get(name, field.initial)
                if value is not None:
                    data[f"{formset.formset.prefix}-{index}-{name}"] = (
                        value.pk if hasattr(value, "pk") else value
                    )
    return data


def test_disabling_a_user_revokes_their_tokens(operator):
    bob = User.objects.get(username="bob")
    url = reverse("admin:accounts_user_change", args=[bob.pk])
    data = _change_form(operator, url)
    data.pop("is_active", None)  # unchecked checkbox
    data["date_joined_0"], data["date_joined_1"] = (
        str(bob.date_joined.date()),
        "00:00:00",
    )
    response = operator.post(url, data)
    assert response.status_code == HTTPStatus.FOUND, response.context[
        "adminform"
    ].form.errors
    assert not User.objects.get(pk=bob.pk).is_active
    assert Revocation.objects.filter(kind="user", subject=str(bob.pk)).exists()
    assert AuditEvent.objects.filter(
        event="admin_action", reason__contains="bob"
    ).exists()


def test_disabling_a_tenant_revokes_its_tokens(operator):
    tenant = Tenant.objects.get(slug="tenant-b")
    url = reverse("admin:tenants_tenant_change", args=[tenant.pk])
    data = _change_form(operator, url)
    data.pop("is_active", None)
    response = operator.post(url, data)
    assert response.status_code == HTTPStatus.FOUND
    assert Revocation.objects.filter(kind="tenant", subject=str(tenant.pk)).exists()


def test_disabling_a_client_refuses_it_and_revokes_its_tokens(operator):
    registration = flow.register(Client())
    application = Application.objects.get(client_id=registration["client_id"])
    url = reverse("admin:oauth2_provider_application_change", args=[application.pk])
    data = _change_form(operator, url)
    data["profile-0-is_disabled"] = "on"
    response = operator.post(url, data)
    assert response.status_code == HTTPStatus.FOUND, response.content[:2000]
    assert ClientProfile.objects.get(application=application).is_disabled
    assert Revocation.objects.filter(
        kind="client", subject=registration["client_id"]
    ).exists()
    alice = Client()
    alice.force_login(User.objects.get(username="alice"))
    refused = alice.get(flow.start(registration["client_id"]).url)
    assert refused.status_code == HTTPStatus.BAD_REQUEST
