"""`manage.py register_resource_server --resource <URL> [--name NAME]`."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from oauth.resource_servers import (
    InvalidResource,
    RegistrationRefused,
    register_resource_server,
)


class Command(BaseCommand):
    help = (
        "Register a resource server this authorization server issues tokens "
        "for, and create the confidential client it authenticates with. The "
        "last two lines are its environment (the secret is shown only once)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--resource", required=True, help="Its resource URL.")
        parser.add_argument("--name", default="", help="A name for operators.")
        parser.add_argument(
            "--rotate-secret",
            action="store_true",
            help="For a registered resource: issue its client a new secret "
            "(the old one stops working).",
        )

    def handle(self, *args: object, **options: object) -> None:
        try:
            registration = register_resource_server(
                resource=str(options["resource"]),
                name=str(options["name"]),
                rotate_secret=bool(options["rotate_secret"]),
            )
        except (InvalidResource, RegistrationRefused) as exc:
            raise CommandError(str(exc)) from exc
        server = registration.resource_server
        self.stdout.write(
            f"Tokens may now be requested for {server.resource} "
            f"(aud={server.resource}). Put these two lines in the resource "
            "server's environment; the secret is not shown again:"
        )
        self.stdout.write(
            f"MCP_AUTHORIZATION_SERVER_CLIENT_ID={registration.client_id}"
        )
        self.stdout.write(
            f"MCP_AUTHORIZATION_SERVER_CLIENT_SECRET={registration.client_secret}"
        )
