"""The test settings: the product's own, plus a tools app that exists only here.

`tests.tools_app` registers its tools through the public API
(mcpserver.tools) exactly as an adopter's app would (README "Add your own
tool"). Test databases leave the catalogue to each test (`seed_demo`, or
`sync_tools` where a test is about it), so `migrate` does not sync it.
"""

from config.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.tools_app"]  # noqa: F405

MCP_SYNC_TOOLS_ON_MIGRATE = False
