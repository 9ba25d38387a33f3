"""Tenant quotas in the operator console: operators set them, audited."""

from http import HTTPStatus

from django.urls import reverse

from audit.models import AuditEvent
from tenants.models import Tenant
from tests.console.conftest import change_form_data


def test_an_operator_sets_a_tenants_quota_in_the_admin_audited(root) -> None:
    tenant = Tenant.objects.get(slug="tenant-a")
    url = reverse("admin:tenants_tenant_change", args=[tenant.pk])
    data = change_form_data(root, url)
    data.update(quota_rate="5", quota_burst="10", quota_client_share="50")

    assert root.post(url, data).status_code == HTTPStatus.FOUND

    tenant.refresh_from_db()
    assert (tenant.quota_rate, tenant.quota_burst, tenant.quota_client_share) == (
        5.0,
        10,
        50,
    )
    row = AuditEvent.objects.get(event=AuditEvent.Event.ADMIN_ACTION)
    assert row.arguments["changes"]["quota_rate"] == {"before": None, "after": 5.0}


def test_a_tenant_administrator_cannot_change_their_own_quota(alice) -> None:
    tenant = Tenant.objects.get(slug="tenant-a")
    url = reverse("admin:tenants_tenant_change", args=[tenant.pk])
    data = change_form_data(alice, url)
    assert "quota_rate" not in data  # shown read-only
    data.update(quota_rate="1000")

    assert alice.post(url, data).status_code == HTTPStatus.FOUND

    tenant.refresh_from_db()
    assert tenant.quota_rate is None
