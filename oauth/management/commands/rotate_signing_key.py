"""`manage.py rotate_signing_key [--algorithm ES256] [--immediately]`."""

from django.core.management.base import BaseCommand, CommandParser

from oauth.keys import published_keys, published_until, rotate_signing_key
from oauth.models import SigningKey


class Command(BaseCommand):
    help = (
        "Add a new JWT signing key. It is in the JWKS at once and signs after "
        "OAUTH_SIGNING_KEY_PREPUBLISH_SECONDS; the previous key signs until "
        "then and stays in the JWKS until every token it signed has expired. "
        "--immediately (a compromised key): the new key signs now and every "
        "earlier key leaves the JWKS now, so the tokens it signed stop working."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--algorithm", choices=SigningKey.Algorithm.values, default="RS256"
        )
        parser.add_argument(
            "--immediately",
            action="store_true",
            help="Sign with the new key now and withdraw every earlier key "
            "(for a compromised key: its tokens are refused from now on).",
        )

    def handle(self, *args: object, **options: object) -> None:
        key = rotate_signing_key(
            algorithm=str(options["algorithm"]),
            immediately=bool(options["immediately"]),
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"New key: {key.kid} ({key.algorithm}), in the JWKS now, "
                f"signs from {key.activates_at.isoformat()}."
            )
        )
        if options["immediately"]:
            self.stdout.write("Every earlier key was withdrawn from the JWKS.")
        for other in published_keys():
            until = published_until(other)
            if other.pk == key.pk or other.retired_at is None or until is None:
                continue
            self.stdout.write(
                f"Key {other.kid} signs until {other.retired_at.isoformat()} (at "
                f"the latest) and stays in the JWKS until {until.isoformat()}."
            )
