"""The time token checks use, and the skew they tolerate.

`now()` is the wall clock, shifted by MCP_TEST_CLOCK_OFFSET_SECONDS (tests
only: config/resource_server_settings.py refuses it without
MCP_TEST_HOOKS), so a test can run a server whose clock is ahead of or
behind its issuer's. `leeway()` is MCP_CLOCK_LEEWAY_SECONDS: `exp`, `nbf`
and `iat` hold within that much skew.
"""

import time

from django.conf import settings


def now() -> float:
    """Seconds since the epoch, as this process's token checks see them."""
    return time.time() + settings.MCP_TEST_CLOCK_OFFSET_SECONDS


def leeway() -> float:
    """Tolerated clock skew in seconds (MCP_CLOCK_LEEWAY_SECONDS)."""
    return float(settings.MCP_CLOCK_LEEWAY_SECONDS)
