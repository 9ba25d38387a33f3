"""Signing-key rotation as an operator and a resource server see it.

`manage.py rotate_signing_key` publishes the new key at once and signs
with it only after the pre-publication window; the old key keeps signing
until then and stays in the JWKS until its last token has expired.
"""

import importlib
import time
from datetime import timedelta
from http import HTTPStatus
from io import StringIO
from types import SimpleNamespace

import jwt
import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection
from django.test import Client, override_settings
from django.utils import timezone

from audit.models import AuditEvent
from oauth.checks import rotation_window_errors
from oauth.keys import (
    active_signing_key,
    max_token_lifetime,
    published_keys,
    published_until,
    rotate_signing_key,
)
from oauth.models import SigningKey
from tests.oauth import flow

pytestmark = pytest.mark.django_db


def _jwks_kids() -> set[str]:
    response = Client().get("/.well-known/jwks.json")
    assert response.status_code == HTTPStatus.OK
    return {key["kid"] for key in response.json()["keys"]}


def _rotate(*args: str) -> str:
    out = StringIO()
    call_command("rotate_signing_key", *args, stdout=out)
    return out.getvalue()


def _signed_by(browser: Client, client_id: str) -> tuple[str, dict]:
    """A fresh token's kid and its claims."""
    auth = flow.start(client_id)
    params = flow.authorize_code(browser, auth)
    response = flow.exchange(Client(), auth, params["code"])
    assert response.status_code == HTTPStatus.OK, response.content
    token = response.json()["access_token"]
    return jwt.get_unverified_header(token)["kid"], jwt.decode(
        token, options={"verify_signature": False}
    )


def test_the_new_key_is_published_before_it_signs(alice, public_client):
    old, _claims = _signed_by(alice, public_client["client_id"])
    output = _rotate()
    new = SigningKey.objects.get(is_active=True).kid

    assert new != old
    assert _jwks_kids() == {old, new}
    # During the window every token is still signed by the old key.
    assert _signed_by(alice, public_client["client_id"])[0] == old
    assert f"New key: {new}" in output
    assert f"Key {old} signs until" in output
    assert AuditEvent.objects.filter(
        event="admin_action", reason__contains=f"rotated the signing key to {new}"
    ).exists()


@override_settings(OAUTH_SIGNING_KEY_PREPUBLISH_SECONDS=1)
def test_after_the_window_the_new_key_signs(alice, public_client):
    old, _claims = _signed_by(alice, public_client["client_id"])
    _rotate()
    new = SigningKey.objects.get(is_active=True).kid
    time.sleep(1.1)
    assert _signed_by(alice, public_client["client_id"])[0] == new
    assert _jwks_kids() == {old, new}


def test_the_old_key_stays_published_until_its_last_token_expires(alice, public_client):
    _rotate()
    old = SigningKey.objects.get(is_active=False)
    # The last token the old key signs is issued just before the new key
    # activates (its retirement) and expires a lifetime later.
    last_expiry = old.retired_at + max_token_lifetime()
    kid, claims = _signed_by(alice, public_client["client_id"])
    assert kid == old.kid
    assert claims["exp"] <= last_expiry.timestamp()

    def kids_at(moment) -> set[str]:
        return {key.kid for key in published_keys(now=moment)}

    assert old.kid in kids_at(last_expiry)
    assert old.kid in kids_at(last_expiry + timedelta(minutes=4))
    assert old.kid not in kids_at(published_until(old) + timedelta(seconds=1))
    assert old.kid not in kids_at(last_expiry + timedelta(minutes=6))


def test_immediately_signs_now_and_withdraws_the_old_key(alice, public_client):
    old, _claims = _signed_by(alice, public_client["client_id"])
    output = _rotate("--immediately")
    new = SigningKey.objects.get(is_active=True).kid
    assert new != old
    assert _signed_by(alice, public_client["client_id"])[0] == new
    assert _jwks_kids() == {new}
    assert "withdrawn" in output


def test_the_jwks_may_be_cached_for_the_configured_max_age():
    response = Client().get("/.well-known/jwks.json")
    assert response["Cache-Control"] == "public, max-age=300"
    with override_settings(
        OAUTH_JWKS_MAX_AGE_SECONDS=30, OAUTH_SIGNING_KEY_PREPUBLISH_SECONDS=60
    ):
        response = Client().get("/.well-known/jwks.json")
    assert response["Cache-Control"] == "public, max-age=30"


def test_the_default_window_outlasts_the_default_cache():
    assert rotation_window_errors() == []
    call_command("check", stdout=StringIO())


@pytest.mark.parametrize("window", [300, 120])
def test_a_window_not_longer_than_the_cache_fails_the_check(window):
    with (
        override_settings(
            OAUTH_JWKS_MAX_AGE_SECONDS=300,
            OAUTH_SIGNING_KEY_PREPUBLISH_SECONDS=window,
        ),
        pytest.raises(SystemCheckError, match=r"oauth\.E002"),
    ):
        call_command("check", stdout=StringIO())


def test_keys_made_before_pre_publication_sign_as_they_did():
    """Migration 0008: existing keys count as active since their creation."""
    migration = importlib.import_module(
        "oauth.migrations.0008_resource_servers_key_activation"
    )
    rotate_signing_key(activates_in=timedelta(0))
    signing = SigningKey.objects.get(is_active=True)
    # What adding the column left: every row activating at migration time.
    SigningKey.objects.update(activates_at=timezone.now() + timedelta(seconds=5))
    migration.existing_keys_are_active_now(apps, SimpleNamespace(connection=connection))
    for key in SigningKey.objects.all():
        assert key.activates_at == key.created_at
    assert active_signing_key().kid == signing.kid
    assert {key.kid for key in published_keys()} == set(
        SigningKey.objects.values_list("kid", flat=True)
    )
