"""`manage.py sync_tools`: put the registered tools in the catalogue."""

from typing import Any

from django.core.management.base import BaseCommand

from mcpserver.tool_catalogue import sync_tools
from mcpserver.tool_registry import TOOLS


class Command(BaseCommand):
    help = (
        "Create or update a catalogue row (Tool) for every registered @tool, "
        "and mark rows whose code is gone unavailable (never deleted). "
        "Prints what changed. A tenant can call a tool once the admin enables it."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        changes = sync_tools()
        for line in changes:
            self.stdout.write(line)
        count = len(changes) or "no"
        plural = "" if len(changes) == 1 else "s"
        self.stdout.write(
            f"{len(TOOLS)} registered tools; {count} catalogue change{plural}."
        )
