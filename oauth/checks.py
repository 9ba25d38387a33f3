"""System checks of the signing keys: they open, and rotate without a gap.

oauth.E002: a rotated-in key must be published longer than resource
servers cache the JWKS (OAUTH_SIGNING_KEY_PREPUBLISH_SECONDS >
OAUTH_JWKS_MAX_AGE_SECONDS), or a resource server holding the JWKS from
just before the rotation meets tokens signed by a key it does not have.

Signing keys are stored encrypted under a key derived from DJANGO_SECRET_KEY
(oauth/keys.py). A database set up under another secret key (a copied
database, a rotated secret without its fallback) leaves /token unable to
sign anything. Said before the first request instead of as a failed token
request: by `manage.py check --database default` and `migrate` (which `make
run` runs first) as oauth.E001, and logged at start-up by the ASGI
application (`log_signing_key_errors`), which runs no system checks.
"""

import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.db import DatabaseError

from oauth.keys import undecryptable_active_key

logger = logging.getLogger(__name__)

HINT = (
    "Set DJANGO_SECRET_KEY_FALLBACKS to the secret key this database was set "
    "up with (comma-separated, keep DJANGO_SECRET_KEY as it is), or rotate "
    "the signing key (manage.py rotate_signing_key) to sign with a new one."
)


def signing_key_errors(using: str) -> list[Error]:
    """oauth.E001 if `using`'s active signing key cannot be decrypted.

    A database without the table yet (before `migrate`) has nothing to say.
    """
    try:
        kid = undecryptable_active_key(using=using)
    except DatabaseError:
        return []
    if kid is None:
        return []
    return [
        Error(
            f"The active signing key {kid} in database {using!r} cannot be "
            "decrypted with DJANGO_SECRET_KEY or any of "
            "DJANGO_SECRET_KEY_FALLBACKS: /token cannot sign access tokens.",
            hint=HINT,
            id="oauth.E001",
        )
    ]


@register(Tags.database)
def check_signing_keys(
    app_configs: Iterable[Any] | None, databases: Iterable[str] | None = None, **_: Any
) -> list[Error]:
    """The database check: one oauth.E001 per database whose key is unreadable."""
    return [error for alias in databases or () for error in signing_key_errors(alias)]


def rotation_window_errors() -> list[Error]:
    """oauth.E002 if the pre-publication window is not longer than the max-age."""
    window = settings.OAUTH_SIGNING_KEY_PREPUBLISH_SECONDS
    max_age = settings.OAUTH_JWKS_MAX_AGE_SECONDS
    if window > max_age:
        return []
    return [
        Error(
            f"OAUTH_SIGNING_KEY_PREPUBLISH_SECONDS ({window}) is not longer than "
            f"OAUTH_JWKS_MAX_AGE_SECONDS ({max_age}): a resource server may "
            "meet tokens signed by a rotated-in key it has not fetched yet.",
            hint="Set OAUTH_SIGNING_KEY_PREPUBLISH_SECONDS above the JWKS "
            "max-age (default 600 for a max-age of 300).",
            id="oauth.E002",
        )
    ]


@register(Tags.security)
def check_rotation_window(app_configs: Iterable[Any] | None, **_: Any) -> list[Error]:
    """The settings check: oauth.E002."""
    return rotation_window_errors()


def log_signing_key_errors(using: str = "default") -> None:
    """Log oauth.E001 and E002 with their hints, for a server started without
    checks.

    Never raises: an unreachable database is the readiness check's business.
    """
    errors = rotation_window_errors()
    try:
        errors += signing_key_errors(using)
    except Exception:  # the database may be down at start-up; say nothing
        logger.debug("signing key check skipped", exc_info=True)
    for error in errors:
        logger.error("%s: %s HINT: %s", error.id, error.msg, error.hint)
