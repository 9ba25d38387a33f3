"""Settings for a live server that Claude Code signs in to in the tests.

The project's settings, plus one test-only switch: Claude Code's client ID
is the URL of its metadata document on claude.ai, which the server fetches.
The machine has no route to claude.ai, so the test serves a copy of that
document on a loopback port and points Claude Code at it
(`MCP_OAUTH_CLIENT_METADATA_URL`); `OAUTH_CIMD_ALLOW_LOOPBACK_HTTP` lets the
server fetch that `https://127.0.0.1:PORT/...` client ID over plain http.
The switch is never read from the environment (see oauth/cimd.py), hence
this module.
"""

from config.settings import *  # noqa: F403

OAUTH_CIMD_ALLOW_LOOPBACK_HTTP = True
