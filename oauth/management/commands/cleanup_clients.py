from django.core.management.base import BaseCommand

from oauth.services import delete_expired_registrations


class Command(BaseCommand):
    help = "Delete dynamic registrations never used before their expiry."

    def handle(self, *args: object, **options: object) -> None:
        deleted = delete_expired_registrations()
        self.stdout.write(
            self.style.SUCCESS(f"Deleted {deleted} expired registrations.")
        )
