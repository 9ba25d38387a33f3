"""Fixtures of the security tests: the OAuth flow's (tests/oauth/conftest.py).

The /mcp tests import the MCP fixtures (tests/mcpserver/conftest.py) in
their own module: both sets name their demo data `demo`.
"""

from tests.oauth.conftest import alice, bob, demo, public_client

__all__ = ["alice", "bob", "demo", "public_client"]
