from django.apps import AppConfig


class ToolsAppConfig(AppConfig):
    """An adopter's app, installed only by tests/settings.py."""

    name = "tests.tools_app"
    label = "tools_app"
    verbose_name = "Invoices (test tools app)"
