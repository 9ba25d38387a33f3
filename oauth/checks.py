"""System check: the active signing key opens with this server's secret keys.

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


def log_signing_key_errors(using: str = "default") -> None:
    """Log oauth.E001 with its hint, for a server started without checks.

    Never raises: an unreachable database is the readiness check's business.
    """
    try:
        errors = signing_key_errors(using)
    except Exception:  # the database may be down at start-up; say nothing
        logger.debug("signing key check skipped", exc_info=True)
        return
    for error in errors:
        logger.error("%s: %s HINT: %s", error.id, error.msg, error.hint)
