"""The tool catalogue follows the code: one write, `sync_catalogue`.

The registered tools (mcpserver/tool_registry.py) are the truth for what a
tool is; the catalogue row records it so the admin can enable it per tenant
and the policy can read it with one query. Rows are never deleted here: a
tool whose code is gone is marked unavailable, keeping every tenant's
policy row and every audit row that names it.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from tenants.models import Tool


@dataclass(frozen=True)
class CatalogueEntry:
    """What the code says about one tool."""

    name: str
    description: str
    required_scopes: str
    title: str = ""
    annotations: dict[str, Any] = field(default_factory=dict)
    source: str = ""


_FIELDS = ("title", "description", "required_scopes", "annotations", "source")


@transaction.atomic(durable=True)
def sync_catalogue(*, entries: Iterable[CatalogueEntry]) -> list[str]:
    """Make the Tool rows match `entries`; return one line per change.

    A new name gets a row; an existing row gets the entry's fields and is
    available again; a row with no entry is marked unavailable. Lines read
    `added NAME (scopes ...)`, `updated NAME: field, ...`, `available again
    NAME` and `unavailable NAME (no registered code)`; no change, no line.
    """
    wanted = {entry.name: entry for entry in entries}
    changes: list[str] = []
    rows = {tool.name: tool for tool in Tool.objects.select_for_update()}
    for name in sorted(wanted):
        entry = wanted[name]
        values = {key: getattr(entry, key) for key in _FIELDS}
        tool = rows.get(name)
        if tool is None:
            Tool.objects.create(name=name, available=True, **values)
            changes.append(f"added {name} (scopes {entry.required_scopes})")
            continue
        changed = [key for key, value in values.items() if getattr(tool, key) != value]
        if not tool.available:
            changes.append(f"available again {name}")
        elif changed:
            changes.append(f"updated {name}: {', '.join(changed)}")
        if changed or not tool.available:
            for key, value in values.items():
                setattr(tool, key, value)
            tool.available = True
            tool.save(update_fields=[*_FIELDS, "available"])
    for name in sorted(set(rows) - set(wanted)):
        tool = rows[name]
        if tool.available:
            tool.available = False
            tool.save(update_fields=["available"])
            changes.append(f"unavailable {name} (no registered code)")
    return changes
