"""Test settings with an app whose tools cannot be registered."""

from tests.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.bad_tools_app"]  # noqa: F405
