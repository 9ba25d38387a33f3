"""An adopter's own tenant data: customers and their invoices."""

from django.db import models


class Customer(models.Model):
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE)
    name = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.name


class Invoice(models.Model):
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE)
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="invoices"
    )
    number = models.CharField(max_length=20)
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    paid = models.BooleanField(default=False)

    class Meta:
        ordering = ["-number"]

    def __str__(self) -> str:
        return self.number


class InvoiceLine(models.Model):
    """Owned through its invoice: it names its tenant field as a path."""

    mcp_tenant_field = "invoice__tenant"

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    text = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.text
