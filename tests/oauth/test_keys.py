import threading
from collections.abc import Iterator
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.test import Client

from oauth.keys import active_signing_key, ensure_signing_key, rotate_signing_key
from oauth.models import SigningKey


def _published_kids() -> list[str]:
    response = Client().get("/.well-known/jwks.json")
    assert response.status_code == HTTPStatus.OK
    return [key["kid"] for key in response.json()["keys"]]


@pytest.mark.django_db
def test_a_migrated_database_publishes_one_key_before_any_token():
    assert _published_kids() == [SigningKey.objects.get(is_active=True).kid]


@pytest.mark.django_db(transaction=True)
def test_migrate_creates_the_first_key_once():
    SigningKey.objects.all().delete()
    assert _published_kids() == []

    call_command("migrate", verbosity=0)
    kids = _published_kids()
    call_command("migrate", verbosity=0)

    assert len(kids) == 1
    assert _published_kids() == kids
    assert SigningKey.objects.get().is_active


@pytest.mark.django_db
def test_ensure_signing_key_keeps_the_newest_key():
    signing = active_signing_key().kid
    rotated = rotate_signing_key()
    assert ensure_signing_key() == rotated
    # Pre-published: the previous key signs until the window has passed.
    assert active_signing_key().kid == signing
    assert SigningKey.objects.filter(is_active=True).count() == 1
    assert rotate_signing_key(activates_in=timedelta(0)) == ensure_signing_key()
    assert active_signing_key().kid == ensure_signing_key().kid


@pytest.fixture
def shared_database(tmp_path, django_db_blocker) -> Iterator[str]:
    """The alias of a database that several threads write at once, as workers do.

    PostgreSQL: the test database, emptied of keys. SQLite: a file with the
    project's SQLite options (WAL, IMMEDIATE transactions, busy timeout)
    holding only the key table, because the in-memory test database shares
    one cache among threads and answers "table is locked" at once instead of
    waiting, as no deployment does.
    """
    if connection.vendor != "sqlite":
        SigningKey.objects.all().delete()
        yield DEFAULT_DB_ALIAS
        return
    alias = "signing_keys_file"
    connections.settings[alias] = {
        **connection.settings_dict,
        "NAME": str(tmp_path / "keys.sqlite3"),
    }
    with django_db_blocker.unblock():
        try:
            with connections[alias].schema_editor() as editor:
                editor.create_model(SigningKey)
            yield alias
        finally:
            connections[alias].close()
            del connections[alias]
            del connections.settings[alias]


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_keys_end_with_one_active_key(shared_database):
    """Workers minting the first token at once all sign with one new key."""
    workers = 6
    barrier = threading.Barrier(workers)
    kids: list[str] = []
    errors: list[BaseException] = []

    def mint_first_token() -> None:
        try:
            barrier.wait(timeout=10)
            kids.append(ensure_signing_key(using=shared_database).kid)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=mint_first_token) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    key = SigningKey.objects.using(shared_database).get()
    assert key.is_active
    assert kids == [key.kid] * workers
