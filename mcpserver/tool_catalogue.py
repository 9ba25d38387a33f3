"""The registered tools as catalogue entries, and the sync both commands run."""

from django.conf import settings

from mcpserver.tool_registry import TOOLS
from mcpserver.tool_spec import ToolSpec
from tenants.catalogue_services import CatalogueEntry, sync_catalogue


def entry_of(spec: ToolSpec) -> CatalogueEntry:
    """What the catalogue row of `spec` holds."""
    annotations = (
        spec.annotations.model_dump(by_alias=True, mode="json", exclude_none=True)
        if spec.annotations is not None
        else {}
    )
    return CatalogueEntry(
        name=spec.name,
        title=spec.title or "",
        description=spec.description,
        required_scopes=" ".join(spec.scopes),
        annotations=annotations,
        source=spec.source,
    )


def sync_tools() -> list[str]:
    """Bring the Tool catalogue in step with TOOLS; the changes, one line each."""
    return sync_catalogue(entries=[entry_of(spec) for spec in TOOLS.values()])


def sync_after_migrate() -> bool:
    """Whether `migrate` runs sync_tools afterwards (MCP_SYNC_TOOLS_ON_MIGRATE)."""
    return bool(settings.MCP_SYNC_TOOLS_ON_MIGRATE)
