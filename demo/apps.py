from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo tools (demo/mcp_tools.py), written with the public tool API."""

    name = "demo"
    verbose_name = "Demo tools"
