"""Reads for the audit investigation pages."""

from oauth2_provider.models import get_application_model


def client_names(client_ids: set[str]) -> dict[str, str]:
    """The DOT Application name of each of `client_ids` that has one, one query."""
    client_ids = client_ids - {""}
    if not client_ids:
        return {}
    rows = get_application_model().objects.filter(client_id__in=client_ids)
    return {cid: name for cid, name in rows.values_list("client_id", "name") if name}
