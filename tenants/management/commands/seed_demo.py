from django.core.management.base import BaseCommand

from tenants.demo import DEMO_PASSWORD, DEMO_USERS, seed_demo_data


class Command(BaseCommand):
    help = "Create or restore the demo tenants, users, tools and data (idempotent)."

    def handle(self, *args: object, **options: object) -> None:
        result = seed_demo_data()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready: {result.tenants} tenants, {result.users} users, "
                f"{result.tools} tools, {result.documents} documents, "
                f"{result.reports} reports."
            )
        )
        users = ", ".join(DEMO_USERS)
        self.stdout.write(
            self.style.WARNING(
                f"WARNING: demo accounts ({users}) share the password "
                f"'{DEMO_PASSWORD}'. Never seed them on a server others can reach."
            )
        )
