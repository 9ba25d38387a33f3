"""The real Claude Code CLI as a test client: install it, sign in, call tools.

Claude Code is the npm package `@anthropic-ai/claude-code`, pinned to
`CLAUDE_CODE_VERSION` and installed at test time into `.cache/claude-code/`
(ignored by git; an install of the pinned version is reused). Since 2.1 the
package ships a native executable through a per-platform optional
dependency (`@anthropic-ai/claude-code-linux-x64`, from the npm registry
like the rest); its postinstall hard-links that executable over
`bin/claude.exe`. Its `engines` asks for node >= 22, and npm warns on node
20, but nothing runs on node except that postinstall.

It runs with no Anthropic login, offline: a fresh `HOME`, an environment
built from scratch (no inherited `ANTHROPIC_*`/`CLAUDE_*` variables) and
`CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`. The `initialize` control
response then reports `account.tokenSource == "none"`.

What 2.1.332 does, read from its bundled JS (`grep -a` on the executable)
and observed against our server:

- `claude mcp add --transport http demo URL` prints
  `Added HTTP MCP server demo with URL: URL to local config` (local scope:
  stored in `$HOME/.claude.json` under the working directory).
- `claude mcp get demo` prints `Status: ! Needs authentication` before the
  login and `Status: ✔ Connected` after; `claude mcp list` prints
  `demo: URL (HTTP) - ✔ Connected`. Both exit 0 either way.
- `claude mcp login demo` opens `$BROWSER <authorize URL>` only when stdout
  is a terminal (hence `script -qfec ... /dev/null`), listens on
  `http://localhost:<random port>/callback`, and prints
  `Authenticated with "demo". Its tools are now available in Claude Code.`
- Client registration: when the authorization server metadata says
  `client_id_metadata_document_supported: true` (ours does), Claude Code
  sends no registration; its client_id is the URL of its client ID
  metadata document, `https://claude.ai/oauth/claude-code-client-metadata`,
  or `$MCP_OAUTH_CLIENT_METADATA_URL` when set (any https URL with a path).
  Only without CIMD support does it register dynamically at `/register`.
  The server must fetch that document; this machine cannot reach
  claude.ai, so `serve_client_metadata` serves a copy on a loopback port
  (the one thing outside the machine, hence the one thing replaced) and
  the server runs with `tests.e2e.claude_code_settings`, which lets it
  fetch an `https://127.0.0.1:PORT/...` client_id over plain http. Against
  a server that cannot fetch the document the login fails after the
  sign-in with "invalid_request: Invalid client_id parameter value."
- Control protocol (`claude -p --input-format stream-json --output-format
  stream-json --verbose`): each stdin line
  `{"type": "control_request", "request_id": ID, "request": {...}}` is
  answered on stdout by `{"type": "control_response", "response":
  {"subtype": "success", "request_id": ID, "response": {...}}}` or
  `{"subtype": "error", "request_id": ID, "error": "..."}`. Subtypes used:
  `initialize`; `mcp_status` (`{"mcpServers": [{"name", "status":
  "pending" | "connected" | ..., "serverInfo", "tools": [{"name"}]}]}`;
  "pending" until the connection is up); `mcp_call` with `tool`
  (`mcp__<server>__<tool>`) and `arguments` (answers the MCP result's
  `content`, or the server's JSON-RPC error message as `error`). Stdin
  must stay open until the answers are read: at EOF the CLI exits without
  answering requests still in flight.
"""

import contextlib
import fcntl
import json
import os
import platform
import queue
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CLAUDE_CODE_VERSION = "2.1.332"
PACKAGE = "@anthropic-ai/claude-code"
ROOT = Path(__file__).resolve().parents[2]
INSTALL_DIR = ROOT / ".cache" / "claude-code"
CLIENT_METADATA_PATH = "/oauth/claude-code-client-metadata"

# The BROWSER script's steps after which no callback will come.
BROWSER_FAILURES = {
    "no login form",
    "no consent form",
    "no redirect to the callback",
    "error",
    "usage",
}
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


class ClaudeCodeError(RuntimeError):
    """Claude Code could not be installed, hung, or answered unexpectedly."""


class NpmInstallError(RuntimeError):
    """An npm package could not be installed."""


def strip_ansi(text: str) -> str:
    """Terminal output as plain text: no colours, hyperlinks or CRs."""
    return _ANSI.sub("", text)


def install_claude_code(version: str = CLAUDE_CODE_VERSION) -> Path:
    """Return the `claude` executable of `version`, installing it if needed.

    Reuses `.cache/claude-code` when it already holds `version`; otherwise
    runs `npm install` there (see npm_install). Raises ClaudeCodeError with
    the reason when npm is missing or the install does not yield a working
    `claude`.
    """
    try:
        return npm_install(
            INSTALL_DIR, [f"{PACKAGE}@{version}"], lambda: _installed(version)
        )
    except NpmInstallError as exc:
        raise ClaudeCodeError(str(exc)) from exc


def npm_install(
    directory: Path, specs: list[str], installed: Callable[[], Path | None]
) -> Path:
    """Return `installed()`, first running `npm install SPECS` if it is None.

    `directory` is the npm prefix (under `.cache/`, ignored by git) and
    `installed` finds the wanted executable there, or None when it is
    missing or of another version. The check and the install run under a
    file lock beside `directory`, so concurrent test runs do not install
    over each other; once installed, nothing goes to the network. Raises
    NpmInstallError with the reason when npm is missing, hangs or fails.
    """
    directory.mkdir(parents=True, exist_ok=True)
    with (directory.parent / f"{directory.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        executable = installed()
        if executable:
            return executable
        npm = shutil.which("npm")
        what = " ".join(specs)
        if npm is None:
            raise NpmInstallError(
                "npm is not on PATH: install Node.js and npm (Debian: "
                f"apt-get install nodejs npm) to install {what}"
            )
        try:
            result = subprocess.run(
                [
                    npm,
                    "install",
                    "--prefix",
                    str(directory),
                    "--no-audit",
                    "--no-fund",
                    "--save-exact",
                    *specs,
                ],
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise NpmInstallError(f"npm install {what} hung") from exc
        executable = installed()
        if result.returncode != 0 or executable is None:
            raise NpmInstallError(
                f"npm install {what} failed "
                f"(exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        return executable


def _installed(version: str) -> Path | None:
    """The executable that reports `version`, if one is installed."""
    modules = INSTALL_DIR / "node_modules"
    arch = {"x86_64": "x64", "aarch64": "arm64"}.get(platform.machine(), "")
    candidates = [
        # Where the postinstall puts the native executable...
        modules / ".bin" / "claude",
        # ...and where npm put it, should the postinstall not have run.
        modules / "@anthropic-ai" / f"claude-code-linux-{arch}" / "claude",
    ]
    for candidate in candidates:
        if not candidate.exists():
            continue
        try:
            result = subprocess.run(
                [str(candidate), "--version"],
                capture_output=True,
                text=True,
                timeout=60,
                env={"PATH": os.environ.get("PATH", ""), "HOME": str(INSTALL_DIR)},
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if result.stdout.split(" ", 1)[0] == version:
            return candidate
    return None


@contextlib.contextmanager
def serve_client_metadata() -> Iterator["ClientMetadataServer"]:
    """Serve a copy of Claude Code's client ID metadata document.

    The copy mirrors the document published at
    https://claude.ai/oauth/claude-code-client-metadata (port-less loopback
    redirect URIs, a public client), with `client_id` set to its own
    `https://127.0.0.1:PORT/...` URL as the CIMD draft requires.
    """
    server = ClientMetadataServer()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


class ClientMetadataServer:
    """A loopback HTTP server for one document; records every fetch."""

    def __init__(self) -> None:
        self.fetches: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.fetches.append(self.path)
                found = self.path == CLIENT_METADATA_PATH
                body = json.dumps(outer.document if found else {}).encode()
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.client_id = (
            f"https://127.0.0.1:{self.httpd.server_address[1]}{CLIENT_METADATA_PATH}"
        )
        self.document = {
            "client_id": self.client_id,
            "client_name": "Claude Code",
            "redirect_uris": ["http://localhost/callback", "http://127.0.0.1/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }


@dataclass
class ClaudeCode:
    """One Claude Code user: a fresh HOME and project directory.

    Every command runs with a timeout and in its own process group, which
    is killed afterwards, so no CLI process outlives its call. Everything
    the CLI printed is kept in `transcript` for failure reports.
    """

    executable: Path
    base: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    transcript: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.home = self.base / "home"
        self.project = self.base / "project"
        self.debug_dir = self.base / "debug"
        self.browser_report = self.base / "browser.jsonl"
        for directory in (self.home, self.project, self.debug_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self.browser = self.base / "browser.sh"
        self.browser.write_text(
            "#!/bin/sh\n"
            f"cd {shlex.quote(str(ROOT))} || exit 1\n"
            f'exec {shlex.quote(sys.executable)} -m tests.e2e.claude_browser "$@"\n'
        )
        self.browser.chmod(0o755)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "TERM": "xterm-256color",
            "TMPDIR": str(self.base),
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "BROWSER": str(self.browser),
            "CLAUDE_BROWSER_REPORT": str(self.browser_report),
            **self.extra_env,
        }
        self._steps = 0

    def run(self, *args: str, timeout: float = 60) -> str:
        """Run `claude ARGS`; return its output (ANSI-stripped).

        Raises ClaudeCodeError when it times out or exits non-zero.
        """
        return self._run([str(self.executable), *self._debug(args[:2]), *args], timeout)

    def login(self, server: str, *, username: str, password: str) -> str:
        """`claude mcp login SERVER` on a pseudo-terminal, signing in headless.

        Claude Code opens `$BROWSER`, here tests/e2e/claude_browser.py,
        which signs in as `username` and consents through the real forms.
        """
        self.env["CLAUDE_BROWSER_USERNAME"] = username
        self.env["CLAUDE_BROWSER_PASSWORD"] = password
        command = shlex.join(
            [
                str(self.executable),
                *self._debug(("mcp", "login")),
                "mcp",
                "login",
                server,
            ]
        )
        return self._run(
            ["script", "-qfec", command, "/dev/null"],
            timeout=120,
            abort=self._browser_failure,
        )

    def browser_steps(self) -> list[dict[str, Any]]:
        """What the BROWSER script saw, one dict per step."""
        if not self.browser_report.exists():
            return []
        return [
            json.loads(line) for line in self.browser_report.read_text().splitlines()
        ]

    def _browser_failure(self) -> str | None:
        # The CLI would wait for a callback that will never come.
        steps = self.browser_steps()
        if steps and steps[-1]["step"] in BROWSER_FAILURES:
            return f"the BROWSER script stopped at {steps[-1]['step']!r}"
        return None

    @contextlib.contextmanager
    def control(self, timeout: float = 60) -> Iterator["ControlSession"]:
        """A `claude -p` stream-json session to send control requests to."""
        argv = [
            str(self.executable),
            *self._debug(("stream", "json")),
            "-p",
            "--input-format",
            "stream-json",
            "--output-format",
            "stream-json",
            "--verbose",
        ]
        self.transcript.append(f"$ {shlex.join(argv)}")
        process = subprocess.Popen(
            argv,
            cwd=self.project,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        session = ControlSession(process, self.transcript, timeout)
        try:
            yield session
        finally:
            session.close()

    def diagnostics(self) -> str:
        """The CLI's output, the browser's steps and the CLI's own logs."""
        parts = ["== Claude Code transcript", *self.transcript]
        parts += ["== BROWSER script", *map(json.dumps, self.browser_steps())]
        logs = sorted(self.debug_dir.glob("*.log"))
        logs += sorted(self.home.glob(".cache/claude-cli-nodejs/*/mcp-logs-*/*"))
        for log in logs:
            text = log.read_text(errors="replace")
            parts += [f"== {log.relative_to(self.base)}", text[-8000:]]
        return "\n".join(parts)

    def _debug(self, words: tuple[str, ...]) -> list[str]:
        # --debug-file is a global option: it goes before the subcommand.
        self._steps += 1
        name = "-".join((f"{self._steps:02d}", *words))
        return ["--debug-file", str(self.debug_dir / f"{name}.log")]

    def _run(
        self,
        argv: list[str],
        timeout: float,
        abort: Callable[[], str | None] | None = None,
    ) -> str:
        """Run `argv`; raise ClaudeCodeError on timeout, `abort` or failure."""
        self.transcript.append(f"$ {shlex.join(argv)}")
        process = subprocess.Popen(
            argv,
            cwd=self.project,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        reason = None
        try:
            while reason is None:
                try:
                    output, _ = process.communicate(timeout=0.25)
                    break
                except subprocess.TimeoutExpired:
                    if time.monotonic() > deadline:
                        reason = f"timed out after {timeout}s"
                    elif abort is not None:
                        reason = abort()
            else:
                _kill_group(process)
                output, _ = process.communicate()
        finally:
            _kill_group(process)
        output = strip_ansi(output)
        self.transcript.append(output + f"[exit {process.returncode}]")
        if reason is None and process.returncode != 0:
            reason = f"exit {process.returncode}"
        if reason is not None:
            raise ClaudeCodeError(f"{reason}: {shlex.join(argv)}")
        return output


class ControlSession:
    """Sends control requests to a stream-json `claude -p`, reads answers."""

    def __init__(
        self, process: subprocess.Popen, transcript: list[str], timeout: float
    ) -> None:
        self.process = process
        self.transcript = transcript
        self.timeout = timeout
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def request(self, subtype: str, **fields: Any) -> dict[str, Any]:
        """Send one control request; return its `control_response.response`.

        That is `{"subtype": "success", "response": ...}` or
        `{"subtype": "error", "error": ...}`. Raises ClaudeCodeError when no
        answer comes within the timeout or the CLI exits first.
        """
        self._next_id += 1
        request_id = str(self._next_id)
        line = json.dumps(
            {
                "type": "control_request",
                "request_id": request_id,
                "request": {"subtype": subtype, **fields},
            }
        )
        self.transcript.append(f"> {line}")
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                received = self._lines.get(timeout=max(0, deadline - time.monotonic()))
            except queue.Empty:
                raise ClaudeCodeError(
                    f"no answer to {subtype} within {self.timeout}s"
                ) from None
            if received is None:
                raise ClaudeCodeError(f"claude exited before answering {subtype}")
            try:
                message = json.loads(received)
            except json.JSONDecodeError:
                continue
            response = message.get("response") or {}
            if (
                message.get("type") == "control_response"
                and response.get("request_id") == request_id
            ):
                return response

    def wait_for_server(self, name: str, timeout: float = 30) -> dict[str, Any]:
        """Poll `mcp_status` until server `name` is no longer pending."""
        deadline = time.monotonic() + timeout
        while True:
            answer = self.request("mcp_status")
            if answer.get("subtype") != "success":
                raise ClaudeCodeError(f"mcp_status failed: {answer}")
            servers = answer["response"]["mcpServers"]
            entry = next((s for s in servers if s.get("name") == name), None)
            if entry is None:
                raise ClaudeCodeError(f"no MCP server {name!r} in {servers}")
            if entry.get("status") != "pending" or time.monotonic() > deadline:
                return entry
            time.sleep(0.2)

    def close(self) -> None:
        """Close stdin, give the CLI a moment to exit, then kill its group."""
        with contextlib.suppress(OSError):
            assert self.process.stdin is not None
            self.process.stdin.close()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.transcript.append("[killed: did not exit after stdin closed]")
        _kill_group(self.process)
        self.process.wait()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            # Bulky answers (initialize lists every built-in command) are
            # cut short in the transcript only.
            self.transcript.append(f"< {line.rstrip()[:4000]}")
            self._lines.put(line)
        self._lines.put(None)


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
