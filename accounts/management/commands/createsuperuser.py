"""Django's createsuperuser, with the password validators in --noinput too.

Interactively Django validates the password (AUTH_PASSWORD_VALIDATORS) and
offers a bypass; with --noinput it takes DJANGO_SUPERUSER_PASSWORD as it
is, so a deployment script could create an operator whose password is
"admin". Here that password is validated first, and refused with the
validators' messages; there is no bypass.
"""

import os
from typing import Any

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.management.commands import createsuperuser
from django.core.exceptions import ValidationError
from django.core.management import CommandError


class Command(createsuperuser.Command):
    def handle(self, *args: Any, **options: Any) -> None:
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        if not options["interactive"] and password is not None:
            user_model = get_user_model()
            fields = {
                name: options.get(name)
                or os.environ.get(f"DJANGO_SUPERUSER_{name.upper()}")
                for name in (user_model.USERNAME_FIELD, *user_model.REQUIRED_FIELDS)
            }
            try:
                password_validation.validate_password(password, user_model(**fields))
            except ValidationError as error:
                raise CommandError(
                    "DJANGO_SUPERUSER_PASSWORD: " + " ".join(error.messages)
                ) from error
        super().handle(*args, **options)
