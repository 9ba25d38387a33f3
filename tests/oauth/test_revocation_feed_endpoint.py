"""GET /resource-server/feed: what a separate resource server reads.

Authenticated like introspection (resource-server clients only), answering
the same rows the in-process poll reads (oauth/revocation_selectors.py)
and the users, tenants and clients refused outright.
"""

import base64
from http import HTTPStatus

import pytest
from django.test import Client
from oauth2_provider.models import get_application_model

from oauth.models import ClientProfile, Revocation
from oauth.revocation_selectors import load_revocations
from oauth.tokens import revoke_jti, revoke_subject
from tests.factories import TenantFactory, UserFactory
from tests.oauth import flow

pytestmark = pytest.mark.django_db

FEED = "/resource-server/feed"


def _client(*, resource_server: bool) -> str:
    registration = flow.register(
        Client(), client_name="RS", token_endpoint_auth_method="client_secret_basic"
    )
    client_id = registration["client_id"]
    ClientProfile.objects.filter(application__client_id=client_id).update(
        is_resource_server=resource_server
    )
    credentials = f"{client_id}:{registration['client_secret']}".encode()
    return "Basic " + base64.b64encode(credentials).decode()


def _get(authorization: str | None, **params: str):
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    return Client().get(FEED, params, **headers)


def test_without_client_credentials_it_is_401_invalid_client() -> None:
    for authorization in (None, "Basic " + base64.b64encode(b"x:y").decode()):
        response = _get(authorization)
        assert response.status_code == HTTPStatus.UNAUTHORIZED
        assert response.json()["error"] == "invalid_client"
        assert response["WWW-Authenticate"].startswith("Basic")


def test_a_client_not_marked_resource_server_is_403() -> None:
    response = _get(_client(resource_server=False))
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["error"] == "unauthorized_client"


def test_a_snapshot_then_increments_from_the_cursor() -> None:
    authorization = _client(resource_server=True)
    revoke_jti(jti="first")
    revoke_subject(kind=Revocation.Kind.USER, subject="7", tenant_id=3)
    snapshot = _get(authorization).json()
    assert snapshot["full"] is True
    assert snapshot["revocations"] == [
        {
            "kind": row.kind,
            "subject": row.subject,
            "tenant_id": row.tenant_id,
            "created_at": row.created_at,
            "expires_at": row.expires_at,
        }
        for row in load_revocations(after_id=None)
    ]
    assert {
        (r["kind"], r["subject"], r["tenant_id"]) for r in snapshot["revocations"]
    } == {
        ("jti", "first", None),
        ("user", "7", 3),
    }
    revoke_jti(jti="second")
    increment = _get(authorization, since=snapshot["cursor"]).json()
    assert increment["full"] is False
    # Entries of the look-back window come again (PostgreSQL commits ids
    # out of order); the new one is there.
    assert "second" in {row["subject"] for row in increment["revocations"]}
    assert int(increment["cursor"]) > int(snapshot["cursor"])
    assert _get(authorization).headers["Cache-Control"] == "no-store"


def test_disabled_users_tenants_and_clients_are_listed() -> None:
    authorization = _client(resource_server=True)
    user = UserFactory(is_active=False)
    tenant = TenantFactory(is_active=False)
    UserFactory()
    TenantFactory()
    disabled_client = flow.register(Client(), client_name="Off")["client_id"]
    ClientProfile.objects.filter(application__client_id=disabled_client).update(
        is_disabled=True
    )
    disabled = _get(authorization).json()["disabled"]
    assert disabled == {
        "users": [user.pk],
        "tenants": [tenant.pk],
        "clients": [disabled_client],
    }


def test_a_cursor_we_did_not_send_is_400() -> None:
    response = _get(_client(resource_server=True), since="-1; drop")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_request"


def test_remembered_credentials_open_nothing_else() -> None:
    """A good check is remembered (PBKDF2 is slow); other credentials are not."""
    authorization = _client(resource_server=True)
    assert _get(authorization).status_code == HTTPStatus.OK
    client_id = base64.b64decode(authorization.split()[1]).decode().split(":")[0]
    wrong = base64.b64encode(f"{client_id}:not-the-secret".encode()).decode()
    assert _get(f"Basic {wrong}").status_code == HTTPStatus.UNAUTHORIZED
    ClientProfile.objects.filter(application__client_id=client_id).update(
        is_resource_server=False
    )
    assert _get(authorization).status_code == HTTPStatus.FORBIDDEN


def test_a_new_secret_stops_the_remembered_old_one_at_once() -> None:
    authorization = _client(resource_server=True)
    assert _get(authorization).status_code == HTTPStatus.OK  # remembered now
    client_id = base64.b64decode(authorization.split()[1]).decode().split(":")[0]
    application = get_application_model().objects.get(client_id=client_id)
    application.client_secret = "a-new-secret"  # hashed on save
    application.save()
    assert _get(authorization).status_code == HTTPStatus.UNAUTHORIZED
    fresh = base64.b64encode(f"{client_id}:a-new-secret".encode()).decode()
    assert _get(f"Basic {fresh}").status_code == HTTPStatus.OK
