"""Settings that must refuse to start rather than run unsafely."""

import os
import subprocess
import sys

from tests.live_server import ROOT

SETUP = "import django; django.setup(); print('started')"


def _start(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", SETUP],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_tool_calls_cannot_go_unaudited_by_one_stray_variable():
    refused = _start(MCP_AUDIT_TOOL_CALLS="false")
    assert refused.returncode != 0
    assert "MCP_AUDIT_TOOL_CALLS=false is for benchmarks only" in refused.stderr


def test_benchmark_mode_may_turn_the_audit_of_tool_calls_off():
    started = _start(MCP_AUDIT_TOOL_CALLS="false", MCP_BENCHMARK="true")
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "started"
