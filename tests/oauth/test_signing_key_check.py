"""A database whose signing key was encrypted under another secret key is said
at start-up (oauth.E001 with the fix), not discovered by a failed /token."""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from oauth.checks import HINT, signing_key_errors
from oauth.keys import create_signing_key
from tests.faults.kill import restart_server
from tests.live_server import run_live_server

pytestmark = pytest.mark.django_db

OLD = "the-secret-key-this-database-was-set-up-with-0123456789"
NEW = "a-new-secret-key-that-never-encrypted-the-signing-key-0123"


def _key_made_under_old_secret() -> str:
    # A new active key: the migrated test database has one under the
    # settings' own secret key already.
    with override_settings(SECRET_KEY=OLD, SECRET_KEY_FALLBACKS=[]):
        return create_signing_key().kid


def test_a_key_under_another_secret_is_oauth_e001_naming_the_fix():
    kid = _key_made_under_old_secret()

    with override_settings(SECRET_KEY=NEW, SECRET_KEY_FALLBACKS=[]):
        errors = signing_key_errors("default")
        with pytest.raises(SystemCheckError, match=r"oauth\.E001"):
            call_command("check", databases=["default"], stdout=StringIO())

    assert [error.id for error in errors] == ["oauth.E001"]
    assert kid in errors[0].msg
    assert "DJANGO_SECRET_KEY_FALLBACKS" in errors[0].hint


def test_the_old_secret_in_the_fallbacks_passes():
    _key_made_under_old_secret()

    with override_settings(SECRET_KEY=NEW, SECRET_KEY_FALLBACKS=[OLD]):
        assert signing_key_errors("default") == []
        call_command("check", databases=["default"], stdout=StringIO())


def test_a_server_started_under_another_secret_logs_the_error(tmp_path: Path):
    # run_live_server gives every server a fresh DJANGO_SECRET_KEY; the
    # database's key is re-encrypted under another one before it starts.
    reencrypt = (
        "from django.test import override_settings\n"
        "from oauth.keys import _fernet\n"
        "from oauth.models import SigningKey\n"
        f"with override_settings(SECRET_KEY={OLD!r}, SECRET_KEY_FALLBACKS=[]):\n"
        "    token = _fernet().encrypt(b'not the key').decode()\n"
        "SigningKey.objects.filter(is_active=True)"
        ".update(private_key_encrypted=token)\n"
    )
    with run_live_server(tmp_path) as server:
        assert "oauth.E001" not in server.log()
        server.manage("shell", "--no-imports", "-c", reencrypt)
        server.process.terminate()
        server.process.wait(15)
        restart_server(server)
        log = server.log()

    assert "oauth.E001" in log
    assert HINT in log
