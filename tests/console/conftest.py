"""Fixtures for the operator console: the demo data, signed-in operators, tokens.

alice administers tenant-a; dave administers tenant-b and is a member of
tenant-a; bob (tenant-a) and carol (tenant-b) are members only.
"""

import secrets
import uuid
from datetime import timedelta
from http import HTTPStatus
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import AccessToken, RefreshToken, get_application_model

from accounts.models import User
from oauth.keys import active_signing_key
from oauth.models import AuthorizationRecord
from oauth.token_hashing import stored_form
from oauth.tokens import mint_access_token
from tenants.demo import seed_demo_data
from tenants.models import Report, Tenant
from tests.factories import UserFactory

# The running MCP app (test_kill_switches_live.py) and its per-test reset.
from tests.mcpserver.conftest import (  # noqa: F401 - fixtures, used by name
    _fresh_process_state,
    demo,
    mcp_app,
)

Application = get_application_model()


@pytest.fixture
def seeded(db: None) -> dict[str, Tenant]:
    """The demo data, a tenant-a report (the demo has only tenant-b's), a key."""
    seed_demo_data()
    tenants = {tenant.slug: tenant for tenant in Tenant.objects.all()}
    Report.objects.create(tenant=tenants["tenant-a"], report_id="a1", title="A's")
    active_signing_key()
    return tenants


def signed_in(username: str) -> Client:
    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


@pytest.fixture
def alice(seeded: dict[str, Tenant]) -> Client:
    return signed_in("alice")


@pytest.fixture
def dave(seeded: dict[str, Tenant]) -> Client:
    return signed_in("dave")


@pytest.fixture
def root(seeded: dict[str, Tenant]) -> Client:
    UserFactory(username="root", is_staff=True, is_superuser=True)
    return signed_in("root")


def make_client(name: str) -> Application:
    return Application.objects.create(
        client_id=name,
        name=name,
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="http://127.0.0.1:9999/callback",
    )


def issue_token(application: Application, username: str, tenant_slug: str) -> str:
    """Store the rows a consent and code exchange leave; return the access JWT.

    An AuthorizationRecord for the tenant with its refresh-token family, the
    refresh token, and the access token (a real signed JWT /mcp accepts),
    each value stored as the server stores it: as its keyed hash.
    """
    user = User.objects.get(username=username)
    tenant = Tenant.objects.get(slug=tenant_slug)
    minted = mint_access_token(
        user_id=user.pk,
        client_id=application.client_id,
        scopes=["tools:call"],
        tenant_id=tenant.pk,
        tenant_slug=tenant.slug,
    )
    family = uuid.uuid4()
    access = AccessToken.objects.create(
        user=user,
        application=application,
        token=stored_form(minted.token),
        expires=timezone.now() + timedelta(minutes=15),
        scope="tools:call",
    )
    RefreshToken.objects.create(
        user=user,
        application=application,
        token=stored_form(secrets.token_urlsafe(32)),
        access_token=access,
        token_family=family,
    )
    AuthorizationRecord.objects.create(
        code_hash=stored_form(secrets.token_urlsafe(16)),
        application=application,
        user=user,
        tenant=tenant,
        scope="tools:call",
        token_family=family,
        redeemed_at=timezone.now(),
    )
    return minted.token


@pytest.fixture
def clients(seeded: dict[str, Tenant]) -> dict[str, Application]:
    """client-a holds tokens for tenant-a (bob), client-b for tenant-b (carol)."""
    client_a, client_b = make_client("client-a"), make_client("client-b")
    issue_token(client_a, "bob", "tenant-a")
    issue_token(client_b, "carol", "tenant-b")
    return {"a": client_a, "b": client_b}


def change_form_data(client: Client, url: str) -> dict[str, Any]:
    """The POST data of an admin add/change page as it stands, inlines included."""
    page = client.get(url)
    assert page.status_code == HTTPStatus.OK
    data: dict[str, Any] = {}
    form = page.context["adminform"].form
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if value is not None and not field.disabled:
            data[name] = value.pk if hasattr(value, "pk") else value
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
