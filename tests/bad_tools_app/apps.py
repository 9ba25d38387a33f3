from django.apps import AppConfig


class BadToolsAppConfig(AppConfig):
    """An app whose tool takes the name of a demo tool: start-up must stop."""

    name = "tests.bad_tools_app"
    label = "bad_tools_app"
