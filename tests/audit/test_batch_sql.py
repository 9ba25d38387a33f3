"""The one INSERT both ways of writing an audit row use."""

from django.db import connection

from audit import batch_sql
from audit.models import AuditEvent
from audit.services import chain_events, pending_event


def test_each_value_is_what_django_would_send_for_its_column():
    """A new column needing adaptation (a timestamp, say) is not sent raw."""
    event = pending_event(
        event=AuditEvent.Event.TOOL_CALLED,
        tenant_id=3,
        user_id=4,
        tool="echo",
        arguments={"b": 1, "a": [2]},
        duration_ms=1.5,
    )
    chain_events([event], chain_id="host:1", sequence=0, prev_hash="0" * 64)

    sql, params = batch_sql.insert_statement([event], connection)

    assert sql.count("(") == 2  # the columns and one row of values
    fields = {field.attname: field for field in AuditEvent._meta.concrete_fields}
    for name, value in zip(batch_sql.EVENT_FIELDS, params, strict=True):
        field = fields[name]
        if name == "arguments":
            assert value == '{"a":[2],"b":1}'  # canonical JSON text
        else:
            assert value == field.get_db_prep_save(getattr(event, name), connection)
