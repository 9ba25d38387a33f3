"""`manage.py audit_verify`: a clean log passes, every kind of tampering is named.

Tampering happens behind the triggers' back: the test drops them, changes
rows with raw SQL and reinstalls them, as someone with database access
could.
"""

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from audit import services
from audit.chain import compute_hash
from audit.models import AuditEvent
from audit.services import record_event
from audit.triggers import drop_triggers, install_triggers
from audit.verify import BrokenChain, ChainTooLong, Problem, verify_chain

pytestmark = pytest.mark.django_db

OTHER_CHAIN = "other-host:4242"


def _events(count: int) -> list[AuditEvent]:
    events = []
    for n in range(count):
        with transaction.atomic(durable=True):
            events.append(
                record_event(
                    event=AuditEvent.Event.TOOL_CALLED,
                    tool="echo",
                    arguments={"message": f"m{n}"},
                    request_id=f"r{n}",
                    duration_ms=1.25 * n,
                )
            )
    return events


def _verify(**options: Any) -> str:
    out = StringIO()
    call_command("audit_verify", stdout=out, **options)
    return out.getvalue()


def _triggers_installed() -> bool:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' "
                "AND name IN ('audit_no_update', 'audit_no_delete')"
            )
            return cursor.fetchone()[0] == 2
        cursor.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgname = 'audit_no_update_delete'"
        )
        return cursor.fetchone()[0] == 1


def _behind_the_triggers(sql: str, params: list[Any]) -> None:
    drop_triggers(connection)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
    finally:
        install_triggers(connection)
    assert _triggers_installed()


def _refused(**options: Any) -> str:
    with pytest.raises(CommandError) as refused:
        _verify(**options)
    return str(refused.value)


def test_a_clean_log_with_several_chains_passes(monkeypatch: pytest.MonkeyPatch):
    mine = _events(5)
    monkeypatch.setattr(services, "process_chain_id", lambda: OTHER_CHAIN)
    _events(3)

    out = _verify(chunk_size=2)  # chunk boundaries inside both chains

    assert f"chain {mine[0].chain_id}: 5 rows, sequence 1..5, head ok" in out
    assert f"chain {OTHER_CHAIN}: 3 rows, sequence 1..3, head ok" in out
    assert out.rstrip().endswith("OK: 2 chains, 8 rows verified.")


def test_an_empty_log_passes():
    assert "OK: 0 chains, 0 rows verified." in _verify()


def test_an_edited_row_is_a_hash_mismatch_naming_it():
    events = _events(4)
    edited = events[2]
    _behind_the_triggers(
        "UPDATE audit_auditevent SET reason = %s WHERE id = %s",
        ["nothing happened here", edited.pk],
    )

    message = _refused()

    assert f"chain {edited.chain_id}: sequence 3 (row id {edited.pk})" in message
    assert "hash mismatch" in message


def test_an_edited_row_with_a_recomputed_hash_breaks_the_next_link():
    events = _events(4)
    edited = AuditEvent.objects.get(pk=events[1].pk)
    edited.outcome = AuditEvent.Outcome.DENIED
    _behind_the_triggers(
        "UPDATE audit_auditevent SET outcome = %s, hash = %s WHERE id = %s",
        [edited.outcome, compute_hash(edited), edited.pk],
    )

    message = _refused()

    assert f"sequence 3 (row id {events[2].pk}): broken link" in message


def test_an_edited_timestamp_is_caught():
    events = _events(2)
    _behind_the_triggers(
        "UPDATE audit_auditevent SET occurred_at = %s WHERE id = %s",
        ["2001-01-01 00:00:00", events[0].pk],
    )

    assert f"sequence 1 (row id {events[0].pk}): hash mismatch" in _refused()


def test_a_deleted_middle_row_is_a_gap():
    events = _events(5)
    _behind_the_triggers("DELETE FROM audit_auditevent WHERE id = %s", [events[2].pk])

    message = _refused()

    assert f"sequence 4 (row id {events[3].pk}): gap" in message
    assert "sequence 3 missing" in message


def test_deleted_first_rows_are_a_gap():
    events = _events(4)
    _behind_the_triggers(
        "DELETE FROM audit_auditevent WHERE id IN (%s, %s)",
        [events[0].pk, events[1].pk],
    )

    message = _refused()

    assert f"sequence 3 (row id {events[2].pk}): gap" in message
    assert "sequence 1..2 missing" in message


def test_a_deleted_tail_row_is_a_head_mismatch():
    events = _events(4)
    _behind_the_triggers("DELETE FROM audit_auditevent WHERE id = %s", [events[3].pk])

    message = _refused()

    assert f"chain {events[0].chain_id}: sequence 3 (row id {events[2].pk})" in (
        message
    )
    assert "head mismatch" in message
    assert "head records sequence 4: sequence 4 missing" in message


def test_a_chain_whose_rows_are_all_deleted_is_a_head_mismatch():
    events = _events(2)
    _behind_the_triggers("DELETE FROM audit_auditevent", [])

    message = _refused()

    assert f"chain {events[0].chain_id}: sequence 0 (no row): head mismatch" in (
        message
    )


def test_a_broken_chain_is_reported_after_the_intact_ones_before_it(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(services, "process_chain_id", lambda: "a-first:1")
    _events(2)
    monkeypatch.setattr(services, "process_chain_id", lambda: "z-last:1")
    last = _events(2)
    _behind_the_triggers(
        "UPDATE audit_auditevent SET tool = %s WHERE id = %s", ["rm", last[1].pk]
    )

    out = StringIO()
    with pytest.raises(CommandError, match=r"chain z-last:1: sequence 2 .*hash"):
        call_command("audit_verify", stdout=out)
    assert "chain a-first:1: 2 rows" in out.getvalue()
    assert "OK" not in out.getvalue()


def test_verify_chain_checks_one_chain_and_names_its_break(
    monkeypatch: pytest.MonkeyPatch,
):
    mine = _events(3)
    monkeypatch.setattr(services, "process_chain_id", lambda: OTHER_CHAIN)
    _events(2)
    assert verify_chain(mine[0].chain_id).rows == 3
    assert verify_chain(OTHER_CHAIN).rows == 2
    _behind_the_triggers(
        "UPDATE audit_auditevent SET reason = %s WHERE id = %s", ["x", mine[1].pk]
    )
    with pytest.raises(BrokenChain) as broken:
        verify_chain(mine[0].chain_id)
    assert broken.value.row_id == mine[1].pk
    assert broken.value.problem == Problem.HASH_MISMATCH
    assert verify_chain(OTHER_CHAIN).rows == 2


def test_verify_chain_stops_at_max_rows():
    (first, *_) = _events(3)
    assert verify_chain(first.chain_id, max_rows=3).rows == 3
    with pytest.raises(ChainTooLong):
        verify_chain(first.chain_id, max_rows=2)
