import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.db import connection, connections, transaction

from audit import writer
from audit.triggers import drop_triggers, install_triggers


@pytest.fixture(autouse=True, scope="session")
def _stop_the_audit_writer(django_db_setup, django_db_blocker):
    """The writer thread's connection must be closed before the test database
    is dropped (PostgreSQL refuses to drop a database in use), and so must
    the async ORM's: sync_to_async runs on one thread of its own, whose
    connection outlives every test."""
    yield
    writer.stop()
    asyncio.run(sync_to_async(connections.close_all)())


@pytest.fixture(autouse=True)
def _empty_cache():
    """Rate-limit counters and other cached state never leak between tests."""
    cache.clear()
    yield
    cache.clear()


THROTTLE_EPOCH = 1_800_000_000.0
"""A time at the start of every throttle window (a multiple of 60 and 900)."""


@pytest.fixture(autouse=True)
def throttle_clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The throttle's clock (accounts/throttle.py), frozen 5 s into a window.

    Its windows are aligned to the clock, so a test running across a
    window's end would see its counts restart. Append to the returned list
    to move the clock on (the last value is the time).
    """
    from types import SimpleNamespace

    from accounts import throttle

    now = [THROTTLE_EPOCH + 5]
    monkeypatch.setattr(throttle, "time", SimpleNamespace(time=lambda: now[-1]))
    return now


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _static_files_without_collectstatic(settings) -> None:
    """Pages render and /static/ answers without a collectstatic run first.

    Production's manifest storage names only what collectstatic collected
    and raises for anything else, so every {% static %} would need a fresh
    collectstatic before the tests: a hidden step that goes stale when a
    file changes and a shared STATIC_ROOT that concurrent runs overwrite.
    Tests name and serve the source files instead, as `runserver` does;
    tests/config/test_static_files.py runs the real collectstatic, and the
    live servers (tests/live_server.py) run it into a directory of their own.
    """
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {
            "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        },
    }
    settings.WHITENOISE_AUTOREFRESH = True
    settings.WHITENOISE_USE_FINDERS = True


def _is_transactional(request: pytest.FixtureRequest) -> bool:
    marker = request.node.get_closest_marker("django_db")
    if marker is not None and marker.kwargs.get("transaction"):
        return True
    return bool({"transactional_db", "live_server"} & set(request.fixturenames))


@pytest.fixture(autouse=True)
def _clear_append_only_rows(request: pytest.FixtureRequest):
    """Empty the audit table after a transactional test, triggers restored.

    Django flushes the database after such a test; on SQLite the flush is a
    DELETE that the append-only triggers rightly refuse. This runs just
    before the flush and leaves the table empty with its triggers in place.
    """
    yield
    if not _is_transactional(request):
        return
    with transaction.atomic():
        drop_triggers(connection)
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_auditevent")
            cursor.execute("DELETE FROM audit_auditchain")
        install_triggers(connection)
