"""The resource-server registry in the operator console (superusers only)."""

from http import HTTPStatus

import pytest
from django.contrib.auth.hashers import check_password
from django.urls import reverse

from audit.models import AuditEvent
from oauth.models import ClientProfile, ResourceServer
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ADD = reverse("admin:oauth_resourceserver_add")


@pytest.fixture
def superuser_client(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_adding_a_resource_server_shows_its_credentials_once(superuser_client):
    response = superuser_client.post(
        ADD, {"resource": "https://RS.example.com/mcp/", "name": "RS"}, follow=True
    )
    assert response.status_code == HTTPStatus.OK
    server = ResourceServer.objects.get()
    assert server.resource == "https://rs.example.com/mcp"
    assert ClientProfile.objects.get(application=server.application).is_resource_server
    shown = " ".join(str(message) for message in response.context["messages"])
    assert f"MCP_AUTHORIZATION_SERVER_CLIENT_ID={server.application.client_id}" in shown
    secret = shown.split("MCP_AUTHORIZATION_SERVER_CLIENT_SECRET=")[1].split()[0]
    assert check_password(secret, server.application.client_secret)
    # Audited once, by the registration, without the secret.
    rows = AuditEvent.objects.filter(event="admin_action")
    assert rows.count() == 1
    assert secret not in str(rows.values_list("reason", "arguments").get())

    again = superuser_client.get(
        reverse("admin:oauth_resourceserver_change", args=[server.pk])
    )
    assert secret not in again.text


def test_a_resource_that_cannot_be_canonical_is_refused_on_the_form(
    superuser_client,
):
    response = superuser_client.post(ADD, {"resource": "http://rs.example.com/mcp"})
    assert response.status_code == HTTPStatus.OK
    assert "https" in response.text
    assert not ResourceServer.objects.exists()


def test_disabling_a_resource_server_is_audited(superuser_client):
    superuser_client.post(ADD, {"resource": "https://rs.example.com/mcp"})
    server = ResourceServer.objects.get()
    response = superuser_client.post(
        reverse("admin:oauth_resourceserver_change", args=[server.pk]),
        {"name": "RS", "enabled": ""},
    )
    assert response.status_code == HTTPStatus.FOUND, response.content[:2000]
    assert not ResourceServer.objects.get().enabled
    assert AuditEvent.objects.filter(event="admin_action").count() == 2


def test_staff_without_superuser_cannot_see_the_registry(client):
    client.force_login(UserFactory(username="staff", is_staff=True))
    response = client.get(reverse("admin:oauth_resourceserver_changelist"))
    assert response.status_code == HTTPStatus.FORBIDDEN
