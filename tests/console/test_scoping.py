"""Tenant administrators see their tenants' rows, in every admin, and no others.

Each case names one admin and a row of tenant-a and of tenant-b: alice
(admin of tenant-a) lists the first and gets "not found" for the second's
change page; dave (admin of tenant-b, member of tenant-a) the other way
round; a superuser sees both.
"""

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import pytest
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tenants.models import Document, Membership, Report, Tenant, TenantTool, Tool
from tests.console.conftest import signed_in

Rows = Callable[[dict[str, Any]], tuple[Model, Model]]


def _by_tenant(model: type[Model], **extra: Any) -> Rows:
    def rows(context: dict[str, Any]) -> tuple[Model, Model]:
        return (
            model.objects.filter(tenant__slug="tenant-a", **extra).first(),
            model.objects.filter(tenant__slug="tenant-b", **extra).first(),
        )

    return rows


CASES: dict[str, Rows] = {
    "tenant": lambda c: (c["tenants"]["tenant-a"], c["tenants"]["tenant-b"]),
    "membership": _by_tenant(Membership),
    "tenanttool": _by_tenant(TenantTool, tool__name="echo"),
    "document": _by_tenant(Document),
    "report": _by_tenant(Report),
    "user": lambda c: (
        User.objects.get(username="bob"),
        User.objects.get(username="carol"),
    ),
    "application": lambda c: (c["clients"]["a"], c["clients"]["b"]),
}


def _url(obj: Model, view: str, *args: Any) -> str:
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=args)


def _listed(client: Client, obj: Model) -> set[Any]:
    response = client.get(_url(obj, "changelist"))
    assert response.status_code == HTTPStatus.OK
    return {row.pk for row in response.context["cl"].result_list}


def _found(client: Client, obj: Model) -> bool:
    response = client.get(_url(obj, "change", obj.pk))
    if response.status_code == HTTPStatus.OK:
        return True
    # Django answers an object it cannot find with a redirect and a message.
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == reverse("admin:index")
    return False


@pytest.fixture
def context(seeded, clients) -> dict[str, Any]:
    return {"tenants": seeded, "clients": clients}


@pytest.mark.parametrize("case", CASES)
def test_each_admin_scopes_rows_to_the_administered_tenant(
    case, context, alice, dave, root
):
    row_a, row_b = CASES[case](context)
    assert row_a is not None
    assert row_b is not None

    assert row_a.pk in _listed(alice, row_a)
    assert row_b.pk not in _listed(alice, row_a)
    assert _found(alice, row_a)
    assert not _found(alice, row_b)

    assert row_b.pk in _listed(dave, row_b)
    if case != "user":  # dave is a member of tenant-a, not its admin
        assert row_a.pk not in _listed(dave, row_b)
        assert not _found(dave, row_a)

    assert {row_a.pk, row_b.pk} <= _listed(root, row_a)
    assert _found(root, row_a)
    assert _found(root, row_b)


def test_dave_sees_users_of_tenant_b_only(context, dave):
    listed = _listed(dave, User.objects.get(username="carol"))
    names = set(User.objects.filter(pk__in=listed).values_list("username", flat=True))
    assert names == {"carol", "dave"}


def test_tool_catalogue_is_read_only_to_tenant_admins(seeded, alice, root):
    tool_url = reverse("admin:tenants_tool_changelist")
    assert alice.get(tool_url).status_code == HTTPStatus.OK
    assert alice.get(reverse("admin:tenants_tool_add")).status_code == (
        HTTPStatus.FORBIDDEN
    )
    echo = Tool.objects.get(name="echo")
    change = reverse("admin:tenants_tool_change", args=[echo.pk])
    page = alice.get(change)
    assert page.status_code == HTTPStatus.OK
    assert 'name="_save"' not in page.text
    assert alice.post(change, {"name": "x"}).status_code == HTTPStatus.FORBIDDEN
    # The catalogue follows the code (sync_tools): a superuser only views it too.
    assert 'name="_save"' not in root.get(change).text


@pytest.mark.parametrize("name", ["oauth_signingkey", "oauth_revocation"])
def test_keys_and_revocations_are_for_superusers_only(seeded, alice, root, name):
    url = reverse(f"admin:{name}_changelist")
    assert alice.get(url).status_code == HTTPStatus.FORBIDDEN
    assert root.get(url).status_code == HTTPStatus.OK


def test_tenant_admin_cannot_add_or_delete_tenants(seeded, alice):
    tenant_a = seeded["tenant-a"]
    assert alice.get(reverse("admin:tenants_tenant_add")).status_code == (
        HTTPStatus.FORBIDDEN
    )
    delete = reverse("admin:tenants_tenant_delete", args=[tenant_a.pk])
    assert alice.post(delete, {"post": "yes"}).status_code == HTTPStatus.FORBIDDEN
    assert Tenant.objects.filter(pk=tenant_a.pk).exists()


def test_user_admin_hides_account_wide_powers(seeded, alice, root):
    bob = User.objects.get(username="bob")
    url = reverse("admin:accounts_user_change", args=[bob.pk])
    fields = alice.get(url).context["adminform"].form.fields
    assert not {"is_superuser", "is_staff", "groups", "user_permissions"} & set(fields)
    assert "is_superuser" in root.get(url).context["adminform"].form.fields


def test_tenant_admin_cannot_change_a_superuser_or_a_user_of_another_tenant(
    seeded, alice
):
    admin_a = User.objects.create_user("admin-a", is_superuser=True, is_staff=True)
    Membership.objects.create(user=admin_a, tenant=seeded["tenant-a"])
    dave = User.objects.get(username="dave")
    for user in (admin_a, dave):
        url = reverse("admin:accounts_user_change", args=[user.pk])
        page = alice.get(url)
        assert page.status_code == HTTPStatus.OK  # a member: visible
        assert 'name="_save"' not in page.text
        post = alice.post(url, {"username": "renamed"})
        assert post.status_code == HTTPStatus.FORBIDDEN
        password = reverse("admin:auth_user_password_change", args=[user.pk])
        assert alice.get(password).status_code == HTTPStatus.FORBIDDEN


def test_user_change_page_shows_only_memberships_of_the_tenant(seeded, alice):
    dave = User.objects.get(username="dave")
    page = alice.get(reverse("admin:accounts_user_change", args=[dave.pk]))
    (formset,) = page.context["inline_admin_formsets"]
    tenants = {form.instance.tenant.slug for form in formset.formset.forms}
    assert tenants == {"tenant-a"}


def test_tenant_admin_cannot_add_a_membership_in_another_tenant(seeded, alice):
    bob = User.objects.get(username="bob")
    response = alice.post(
        reverse("admin:tenants_membership_add"),
        {"user": bob.pk, "tenant": seeded["tenant-b"].pk, "role": "admin"},
    )
    assert response.status_code == HTTPStatus.OK  # the form, with an error
    assert "tenant" in response.context["adminform"].form.errors
    assert not Membership.objects.filter(user=bob, tenant__slug="tenant-b").exists()


def test_tenant_admin_cannot_name_a_user_outside_their_tenants(seeded, alice):
    carol = User.objects.get(username="carol")
    response = alice.post(
        reverse("admin:tenants_membership_add"),
        {"user": carol.pk, "tenant": seeded["tenant-a"].pk, "role": "member"},
    )
    assert "user" in response.context["adminform"].form.errors


def test_tenant_filter_lists_only_administered_tenants(seeded, alice):
    tenant_c = Tenant.objects.create(slug="tenant-c", name="C")
    Membership.objects.create(
        user=User.objects.get(username="alice"), tenant=tenant_c, role="admin"
    )
    response = alice.get(reverse("admin:tenants_document_changelist"))
    (tenant_filter,) = [
        spec for spec in response.context["cl"].filter_specs if spec.title == "tenant"
    ]
    labels = [label for _pk, label in tenant_filter.lookup_choices]
    assert labels == ["tenant-a", "tenant-c"]


def test_search_never_crosses_the_tenant(seeded, alice):
    response = alice.get(
        reverse("admin:tenants_document_changelist"), {"q": "Security"}
    )
    titles = {doc.title for doc in response.context["cl"].result_list}
    assert titles == {"Security policy"}  # not tenant-b's "Security checklist"


@pytest.mark.parametrize(
    ("app_label", "model_name", "field_name", "expected"),
    [
        ("tenants", "membership", "user", {"alice", "bob", "dave"}),
        ("tenants", "membership", "tenant", {"tenant-a"}),
        ("tenants", "tenanttool", "tenant", {"tenant-a"}),
    ],
)
def test_autocomplete_returns_only_the_tenants_rows(
    seeded, alice, app_label, model_name, field_name, expected
):
    response = alice.get(
        "/admin/autocomplete/",
        {"app_label": app_label, "model_name": model_name, "field_name": field_name},
    )
    assert response.status_code == HTTPStatus.OK
    assert {result["text"] for result in response.json()["results"]} == expected


def test_related_popup_lists_only_the_tenants_users(seeded, alice):
    response = alice.get(
        reverse("admin:accounts_user_changelist"), {"_popup": "1", "_to_field": "id"}
    )
    names = {user.username for user in response.context["cl"].result_list}
    assert names == {"alice", "bob", "dave"}


def test_tenant_admin_without_admin_role_is_refused(seeded):
    bob = signed_in("bob")
    response = bob.get(reverse("admin:tenants_document_changelist"))
    assert response.status_code == HTTPStatus.FOUND  # to the admin login
