"""`manage.py migrate`, then `sync_tools` (unless MCP_SYNC_TOOLS_ON_MIGRATE is off).

A deployment that migrates therefore always has its tools in the catalogue.
"""

from typing import Any

from django.core.management.commands.migrate import Command as MigrateCommand

from mcpserver.tool_catalogue import sync_after_migrate, sync_tools


class Command(MigrateCommand):
    def handle(self, *args: Any, **options: Any) -> None:
        super().handle(*args, **options)
        if (
            options["database"] != "default"
            or options["plan"]
            or options["check_unapplied"]
            or not sync_after_migrate()
        ):
            return
        changes = sync_tools()
        if options["verbosity"] >= 1:
            for line in changes:
                self.stdout.write(f"  tools: {line}")
