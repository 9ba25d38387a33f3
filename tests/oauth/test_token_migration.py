"""The data migration that hashes rows written before tokens were hashed at rest."""

import hashlib
import importlib
from http import HTTPStatus
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection
from django.test import Client
from oauth2_provider.models import AccessToken, Grant, RefreshToken

from audit.models import AuditEvent
from oauth.models import AuthorizationRecord
from oauth.token_hashing import is_stored_form, stored_form
from tests.oauth import flow

pytestmark = pytest.mark.django_db

MIGRATION = importlib.import_module("oauth.migrations.0007_tokens_at_rest")


def _migrate() -> None:
    editor = SimpleNamespace(connection=connection)
    MIGRATION.hash_existing_rows(apps, editor)


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _store_in_the_clear(model: type, value: str) -> None:
    """Put a row back the way it was stored before: the value and its SHA-256."""
    model.objects.filter(token=stored_form(value)).update(
        token=value, token_checksum=_sha256(value)
    )


def _rows() -> list[tuple]:
    return [
        *AccessToken.objects.order_by("pk").values_list("token", "token_checksum"),
        *RefreshToken.objects.order_by("pk").values_list("token", "token_checksum"),
        *Grant.objects.order_by("pk").values_list("code"),
        *AuthorizationRecord.objects.order_by("pk").values_list("code_hash"),
    ]


def test_old_rows_are_hashed_once_and_keep_working(alice, public_client):
    client_id = public_client["client_id"]
    redeemed = flow.start(client_id)
    redeemed_code = flow.authorize_code(alice, redeemed)["code"]
    tokens = flow.exchange(Client(), redeemed, redeemed_code).json()
    pending = flow.start(client_id)
    pending_code = flow.authorize_code(alice, pending)["code"]
    # The rows as the server wrote them before this migration.
    _store_in_the_clear(AccessToken, tokens["access_token"])
    _store_in_the_clear(AccessToken, public_client["registration_access_token"])
    _store_in_the_clear(RefreshToken, tokens["refresh_token"])
    Grant.objects.update(code=pending_code)
    for code in (redeemed_code, pending_code):
        AuthorizationRecord.objects.filter(code_hash=stored_form(code)).update(
            code_hash=_sha256(code)
        )
    assert not all(is_stored_form(row[0]) for row in _rows())

    _migrate()
    migrated = _rows()
    assert all(is_stored_form(row[0]) for row in migrated)
    _migrate()
    assert _rows() == migrated  # idempotent

    # Every old value still does what it did.
    refreshed = flow.refresh(Client(), client_id, tokens["refresh_token"])
    assert refreshed.status_code == HTTPStatus.OK, refreshed.content
    assert flow.exchange(Client(), pending, pending_code).status_code == HTTPStatus.OK
    replay = flow.exchange(Client(), redeemed, redeemed_code)
    assert replay.status_code == HTTPStatus.BAD_REQUEST
    assert AuditEvent.objects.filter(event="code_reuse_detected").exists()
    registration = Client().get(
        f"/register/{client_id}",
        HTTP_AUTHORIZATION=f"Bearer {public_client['registration_access_token']}",
    )
    assert registration.status_code == HTTPStatus.OK
