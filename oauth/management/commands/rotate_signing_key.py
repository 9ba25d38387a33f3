from django.core.management.base import BaseCommand, CommandParser

from oauth.keys import rotate_signing_key
from oauth.models import SigningKey


class Command(BaseCommand):
    help = (
        "Add a new active JWT signing key. The previous key stays in the JWKS "
        "until every token it signed has expired."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--algorithm", choices=SigningKey.Algorithm.values, default="RS256"
        )

    def handle(self, *args: object, **options: object) -> None:
        key = rotate_signing_key(algorithm=str(options["algorithm"]))
        self.stdout.write(
            self.style.SUCCESS(f"Active key: {key.kid} ({key.algorithm})")
        )
