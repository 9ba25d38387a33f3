from django.apps import AppConfig


class HarnessConfig(AppConfig):
    """The terminal client: `manage.py harness` and `manage.py bench`.

    It talks to a running server over HTTP only, exactly as an MCP client
    would; of the server's code it reads only the seeded demo accounts, for
    its defaults.
    """

    name = "harness"
    verbose_name = "Client harness"
