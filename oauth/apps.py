from typing import Any

from django.apps import AppConfig
from django.apps import apps as global_apps
from django.apps.registry import Apps
from django.db.models.signals import post_migrate


def create_first_signing_key(
    *, using: str, apps: Apps = global_apps, **kwargs: Any
) -> None:
    """Give a migrated database its signing key before the first token.

    A post_migrate handler rather than a data migration: a migration is
    frozen with the code of its day, but a key is encrypted by oauth/keys.py
    under whatever DJANGO_SECRET_KEY and storage format are current, and
    that helper must stay the one way keys are made. The handler also runs
    after `flush`, which empties the table without re-running migrations.

    `apps` is the migrated state (absent after `flush`, whose state is the
    current one). Skipped when that state's SigningKey table differs from
    the current model's, or does not exist: the model could not write to it.
    """
    from oauth.keys import ensure_signing_key
    from oauth.models import SigningKey

    try:
        migrated = apps.get_model("oauth", "SigningKey")
    except LookupError:
        return
    columns = {field.column for field in migrated._meta.concrete_fields}
    if columns != {field.column for field in SigningKey._meta.concrete_fields}:
        return
    ensure_signing_key(using=using)


class OAuthConfig(AppConfig):
    name = "oauth"
    verbose_name = "OAuth"

    def ready(self) -> None:
        from oauth import checks  # noqa: F401  (registers the system check)

        post_migrate.connect(create_first_signing_key, sender=self)
