"""`ctx.scoped(Model)`: one tenant's rows, through joins and prefetches too."""

from decimal import Decimal

import pytest

from accounts.models import User
from mcpserver.tenant_scope import scoped
from tests.factories import TenantFactory
from tests.tools_app.models import Customer, Invoice, InvoiceLine

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_tenants():
    """Tenant a with one customer and invoice; tenant b likewise; and a
    corrupt row: an invoice of b that points at a's customer."""
    a, b = TenantFactory(slug="a"), TenantFactory(slug="b")
    customer_a = Customer.objects.create(tenant=a, name="ACME")
    customer_b = Customer.objects.create(tenant=b, name="ACME")
    invoice_a = Invoice.objects.create(
        tenant=a, customer=customer_a, number="A-1", amount=Decimal(1)
    )
    invoice_b = Invoice.objects.create(
        tenant=b, customer=customer_b, number="B-1", amount=Decimal(2)
    )
    Invoice.objects.create(
        tenant=b, customer=customer_a, number="B-2", amount=Decimal(3)
    )
    InvoiceLine.objects.create(invoice=invoice_a, text="a line")
    InvoiceLine.objects.create(invoice=invoice_b, text="b line")
    return a, b


def test_rows_are_the_tenants_only(two_tenants) -> None:
    a, b = two_tenants

    assert list(scoped(Invoice, a.pk).values_list("number", flat=True)) == ["A-1"]
    assert sorted(scoped(Invoice, b.pk).values_list("number", flat=True)) == [
        "B-1",
        "B-2",
    ]


def test_a_tenant_field_path_scopes_a_model_owned_through_another(
    two_tenants,
) -> None:
    a, _ = two_tenants

    assert [line.text for line in scoped(InvoiceLine, a.pk)] == ["a line"]


def test_a_join_into_another_tenant_drops_the_row(two_tenants) -> None:
    _, b = two_tenants

    joined = scoped(Invoice, b.pk).select_related("customer")

    assert [(i.number, i.customer.tenant_id) for i in joined] == [("B-1", b.pk)]


def test_a_prefetch_of_another_tenants_rows_brings_none(two_tenants) -> None:
    a, _ = two_tenants

    customers = scoped(Customer, a.pk).prefetch_related("invoices__lines")

    (acme,) = customers
    assert [invoice.number for invoice in acme.invoices.all()] == ["A-1"]
    assert [
        line.text for invoice in acme.invoices.all() for line in invoice.lines.all()
    ] == ["a line"]


def test_scoping_survives_chaining(two_tenants) -> None:
    a, _ = two_tenants

    chained = scoped(Invoice, a.pk).filter(amount__gte=0).exclude(number="X")

    assert chained.select_related("customer").count() == 1
    assert chained.order_by("number").all().count() == 1


def test_a_model_without_a_tenant_field_cannot_be_scoped(two_tenants) -> None:
    a, _ = two_tenants

    with pytest.raises(TypeError, match=r"accounts\.User has no tenant field"):
        scoped(User, a.pk)


def test_joins_must_be_named(two_tenants) -> None:
    a, _ = two_tenants

    with pytest.raises(TypeError, match="named relations only"):
        scoped(Invoice, a.pk).select_related()
