import pytest
from django.db import DatabaseError, connection, transaction

from audit.chain import GENESIS_HASH, compute_hash
from audit.models import AuditChain, AuditEvent
from audit.services import record_event
from tests.factories import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db


def _event(**fields) -> AuditEvent:
    """One event recording nothing else, in a transaction of its own."""
    fields = {
        "event": AuditEvent.Event.TOOL_CALLED,
        "tool": "echo",
        "arguments": {"message": "hi"},
        **fields,
    }
    with transaction.atomic(durable=True):
        return record_event(**fields)


@pytest.fixture
def event(db) -> AuditEvent:
    with transaction.atomic():
        return record_event(
            event=AuditEvent.Event.TOOL_CALLED,
            tenant_id=TenantFactory().pk,
            user_id=UserFactory().pk,
            tool="echo",
            arguments={"message": "hi"},
        )


def test_saving_an_existing_event_is_refused(event):
    event.reason = "rewritten"
    with pytest.raises(TypeError, match="append-only"):
        event.save()


def test_deleting_an_event_is_refused(event):
    with pytest.raises(TypeError, match="append-only"):
        event.delete()


def test_queryset_update_and_delete_are_refused(event):
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.filter(pk=event.pk).update(reason="x")
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).reason == ""


def test_raw_sql_update_is_refused_by_the_database(event):
    with (
        pytest.raises(DatabaseError),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE audit_auditevent SET reason = %s WHERE id = %s",
            ["tampered", event.pk],
        )
    assert AuditEvent.objects.get(pk=event.pk).reason == ""


def test_raw_sql_delete_is_refused_by_the_database(event):
    with (
        pytest.raises(DatabaseError),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_events_outside_a_transaction_are_refused():
    with pytest.raises(transaction.TransactionManagementError):
        record_event(event=AuditEvent.Event.TOOL_CALLED)
    assert not AuditEvent.objects.exists()


def test_events_are_hash_chained_in_sequence():
    first, second, third = _event(), _event(), _event()
    assert first.chain_id == second.chain_id == third.chain_id
    assert [first.sequence + 1, first.sequence + 2] == [
        second.sequence,
        third.sequence,
    ]
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash
    stored = AuditEvent.objects.get(pk=second.pk)
    assert compute_hash(stored) == second.hash


def test_the_first_event_of_a_chain_links_to_the_genesis_hash():
    assert _event().prev_hash == GENESIS_HASH


def test_oversized_arguments_are_capped(settings):
    settings.AUDIT_ARGUMENTS_MAX_BYTES = 100
    stored = AuditEvent.objects.get(pk=_event(arguments={"message": "x" * 1000}).pk)
    assert stored.arguments["_truncated"] is True
    assert stored.arguments["_bytes"] > 1000
    assert len(stored.arguments["preview"]) <= 50
    assert compute_hash(stored) == stored.hash


def test_a_rolled_back_event_leaves_the_chain_unbroken():
    first = _event()

    def failing_change() -> None:
        with transaction.atomic():
            record_event(event=AuditEvent.Event.TOOL_CALLED)
            raise RuntimeError("the change it recorded failed")

    with pytest.raises(RuntimeError):
        failing_change()
    after = _event()
    assert after.sequence == first.sequence + 1
    assert after.prev_hash == first.hash


def _insert_raw(event: AuditEvent, **overrides) -> None:
    values = {
        "occurred_at": event.occurred_at,
        "event": event.event,
        "outcome": event.outcome,
        "client_id": "",
        "tool": "echo",
        "arguments": "{}",
        "reason": "forged",
        "request_id": "",
        "chain_id": event.chain_id,
        "sequence": event.sequence + 1,
        "prev_hash": event.hash,
        "hash": "f" * 64,
        **overrides,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO audit_auditevent ({', '.join(values)}) "  # noqa: S608
            f"VALUES ({', '.join(['%s'] * len(values))})",
            list(values.values()),
        )


@pytest.mark.parametrize(
    "overrides",
    [
        {"prev_hash": "0" * 64},  # claims another predecessor
        {"sequence": 5},  # skips ahead
    ],
    ids=["wrong prev_hash", "gap"],
)
def test_the_database_refuses_a_row_that_does_not_extend_its_chain(event, overrides):
    with pytest.raises(DatabaseError, match="audit chain head moved"):
        _insert_raw(event, **overrides)
    assert AuditEvent.objects.count() == 1


def test_a_row_that_extends_its_chain_moves_the_head(event):
    _insert_raw(event)
    head = AuditChain.objects.get(chain_id=event.chain_id)
    assert (head.last_sequence, head.last_hash) == (event.sequence + 1, "f" * 64)


def test_nul_in_a_string_is_stored_as_the_replacement_character():
    # PostgreSQL's jsonb and text refuse U+0000; a tool call's arguments may
    # carry it ("\u0000" is valid JSON), and its audit row must still commit.
    with transaction.atomic(durable=True):
        row = record_event(
            event=AuditEvent.Event.TOOL_DENIED,
            tool="echo\x00",
            arguments={"message\x00": ["a\x00b", {"c": "\x00"}], "plain": "\\u0000"},
            reason="why\x00",
            request_id="r\x00",
        )

    stored = AuditEvent.objects.get(pk=row.pk)

    assert stored.arguments == {
        "message\ufffd": ["a\ufffdb", {"c": "\ufffd"}],
        "plain": "\\u0000",  # a backslash and "u0000": not a NUL, kept as is
    }
    assert (stored.tool, stored.reason, stored.request_id) == (
        "echo\ufffd",
        "why\ufffd",
        "r\ufffd",
    )
    assert compute_hash(stored) == stored.hash
