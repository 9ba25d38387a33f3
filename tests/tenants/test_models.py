import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from tenants.models import Membership
from tests.factories import (
    MembershipFactory,
    ReportFactory,
    TenantFactory,
    TenantToolFactory,
    ToolFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def test_a_user_belongs_to_a_tenant_once():
    membership = MembershipFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        MembershipFactory(user=membership.user, tenant=membership.tenant)


def test_a_user_may_belong_to_several_tenants():
    user = UserFactory()
    MembershipFactory(user=user, role=Membership.Role.ADMIN)
    MembershipFactory(user=user)
    assert user.memberships.count() == 2


def test_a_tenant_has_one_policy_per_tool():
    policy = TenantToolFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        TenantToolFactory(tenant=policy.tenant, tool=policy.tool)


def test_report_ids_are_unique_within_a_tenant_only():
    first = ReportFactory(report_id="r1")
    ReportFactory(report_id="r1")  # another tenant: fine
    with pytest.raises(IntegrityError), transaction.atomic():
        ReportFactory(tenant=first.tenant, report_id="r1")


def test_tenant_slugs_are_unique():
    TenantFactory(slug="tenant-x")
    with pytest.raises(IntegrityError), transaction.atomic():
        TenantFactory(slug="tenant-x")


def test_tool_required_scopes_must_be_scope_tokens():
    tool = ToolFactory.build(name="bad", required_scopes='tools:call "quoted"')
    with pytest.raises(ValidationError):
        tool.full_clean()
    tool.required_scopes = "tools:call admin"
    tool.full_clean()
    assert tool.required_scope_set == {"tools:call", "admin"}


def test_membership_role_must_be_a_known_role():
    membership = MembershipFactory.build(
        user=UserFactory(), tenant=TenantFactory(), role="owner"
    )
    with pytest.raises(ValidationError):
        membership.full_clean()
