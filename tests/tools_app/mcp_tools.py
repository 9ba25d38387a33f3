"""An adopter's tools: README "Add your own tool", and the cases it promises."""

from decimal import Decimal

from pydantic import BaseModel

from mcpserver.tools import ToolContext, ToolError, tool
from tests.tools_app.models import Invoice


class InvoiceOut(BaseModel):
    number: str
    customer: str
    amount: Decimal
    paid: bool

    @classmethod
    def from_model(cls, invoice: Invoice) -> "InvoiceOut":
        return cls(
            number=invoice.number,
            customer=invoice.customer.name,
            amount=invoice.amount,
            paid=invoice.paid,
        )


@tool(scopes=["tools:call"], read_only=True, title="Find invoices")
def find_invoices(ctx: ToolContext, customer: str, limit: int = 10) -> list[InvoiceOut]:
    """Find the tenant's invoices for a customer, newest first."""
    invoices = ctx.scoped(Invoice).select_related("customer")
    found = invoices.filter(customer__name=customer)[:limit]
    return [InvoiceOut.from_model(invoice) for invoice in found]


@tool(scopes=["tools:call", "admin"], idempotent=True)
def mark_paid(ctx: ToolContext, number: str) -> InvoiceOut:
    """Mark one of the tenant's invoices paid."""
    invoice = (
        ctx.scoped(Invoice).select_related("customer").filter(number=number).first()
    )
    if invoice is None:
        raise ToolError(f"no such invoice: {number}", reason="no such invoice")
    invoice.paid = True
    invoice.save(update_fields=["paid"])
    ctx.audit_reason = f"invoice {number} paid"
    return InvoiceOut.from_model(invoice)


@tool(read_only=True)
async def count_invoices(ctx: ToolContext) -> int:
    """How many invoices the tenant has."""
    return await ctx.run_db(ctx.scoped(Invoice).count)


@tool
def explode(ctx: ToolContext, secret: str) -> str:
    """Always fails, with the caller's secret in the exception's message."""
    raise ValueError(f"cannot handle {secret}")
