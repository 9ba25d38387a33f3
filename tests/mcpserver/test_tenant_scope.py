"""`ctx.scoped(Model)`: one tenant's rows, through joins and prefetches too."""

from decimal import Decimal

import pytest
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Upper

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


def test_values_across_a_relation_into_another_tenant_drop_the_row(
    two_tenants,
) -> None:
    """b's corrupt invoice B-2 points at a's customer: reading the customer's
    name through it would show another tenant's data."""
    _, b = two_tenants

    read = scoped(Invoice, b.pk).values("number", "customer__tenant__slug")
    listed = scoped(Invoice, b.pk).values_list("number", "customer__tenant__slug")

    assert list(read) == [{"number": "B-1", "customer__tenant__slug": "b"}]
    assert list(listed) == [("B-1", "b")]


def test_values_through_a_reverse_relation_read_only_the_tenants_rows(
    two_tenants,
) -> None:
    a, _ = two_tenants

    numbers = scoped(Customer, a.pk).values_list("invoices__number", flat=True)
    lines = scoped(Customer, a.pk).values_list("invoices__lines__text", flat=True)

    assert list(numbers) == ["A-1"]
    assert list(lines) == ["a line"]


def test_expressions_in_values_are_kept_in_the_tenant(two_tenants) -> None:
    _, b = two_tenants

    named = scoped(Invoice, b.pk).values("number", owner=F("customer__tenant__slug"))
    upper = scoped(Invoice, b.pk).values_list(Upper("customer__tenant__slug"))
    flagged = scoped(Invoice, b.pk).values(
        "number",
        mine=Case(
            When(Q(customer__tenant__slug="b"), then=Value(True)),
            default=Value(False),
        ),
    )

    assert list(named) == [{"number": "B-1", "owner": "b"}]
    assert list(upper) == [("B",)]
    assert [row["number"] for row in flagged] == ["B-1"]


def test_values_of_the_rows_own_columns_are_unchanged(two_tenants) -> None:
    """A key column is the row's own: no join, nothing dropped."""
    a, b = two_tenants

    keys = scoped(Invoice, b.pk).order_by("number").values_list("number", "customer")

    assert [number for number, _ in keys] == ["B-1", "B-2"]
    assert dict(keys)["B-2"] == Customer.objects.get(tenant=a).pk
