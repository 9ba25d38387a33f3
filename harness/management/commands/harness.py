"""`manage.py harness`: the whole flow from a terminal, against a running server.

    python manage.py harness --tenant tenant-a --tool echo --args '{"message":"hi"}'

Signs in through the real OAuth flow (harness/flow.py: discovery,
registration, PKCE, the login and consent forms, the token), lists the
tenant's tools and calls one through the official MCP SDK client
(harness/mcp_calls.py). The client registration is reused from run to run,
one per server and user (harness/registration_cache.py; `--no-cache`
registers afresh and leaves the cache alone). Exit codes: 0 success, 1 the
tool answered with an error result, 2 usage, 3 denied (unknown tool or
insufficient scope), 4 authentication failed, 5 server unreachable; each
failure is one line on stderr (and, with --json, an object on stdout).
"""

import asyncio
import json
from argparse import ArgumentParser
from typing import Any

import mcp_types as types
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from harness.errors import Denied, HarnessError, ToolError, UsageError
from harness.flow import sign_in
from harness.mcp_calls import CallOutcome, ToolInfo, list_and_call
from harness.registration_cache import RegistrationCache, cache_path
from tenants.demo import DEMO_PASSWORD, DEMO_USERS

DEFAULT_USERS = {"tenant-a": "alice", "tenant-b": "carol"}
"""The seeded user `--tenant` implies when `--user` is not given."""
DEFAULT_TENANT = "tenant-a"


def _plain(text: str) -> str:
    return text


def result_text(result: types.CallToolResult) -> str:
    """A tool result as a person reads it: its text, else its structured JSON."""
    parts = []
    for item in result.content:
        if isinstance(item, types.TextContent):
            parts.append(item.text)
        else:
            parts.append(f"[{item.type} content]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, indent=2))
    return "\n".join(parts)


def _tool_label(tool: ToolInfo) -> str:
    if tool.missing_scopes:
        return f"{tool.name} (needs {' '.join(tool.missing_scopes)})"
    return tool.name


class Command(BaseCommand):
    help = (
        "Sign in to a running server through the real OAuth flow (registration, "
        "PKCE, login and consent forms), list the tenant's MCP tools and call one."
    )

    def create_parser(
        self, prog_name: str, subcommand: str, **kwargs: Any
    ) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        # `-v` alone means "print each step" (verbosity 2); `-v 0..3` still work.
        for action in parser._actions:
            if "--verbosity" in action.option_strings:
                action.nargs = "?"
                action.const = 2
        return parser

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--url",
            help="the MCP endpoint (default: PUBLIC_URL/mcp, e.g. "
            "http://localhost:8000/mcp)",
        )
        parser.add_argument(
            "--tenant",
            help="the tenant to work in; without --user, its seeded user "
            "(tenant-a: alice, tenant-b: carol)",
        )
        parser.add_argument("--user", help="the username to sign in as")
        parser.add_argument(
            "--password", help="the password (default: demo, for the seeded users)"
        )
        parser.add_argument("--tool", help="the tool to call (default: only list)")
        parser.add_argument(
            "--args",
            dest="tool_args",
            default="{}",
            help="the tool's arguments as a JSON object",
        )
        parser.add_argument(
            "--scope",
            help="the scopes to ask for (default: what the server's 401 names)",
        )
        parser.add_argument(
            "--json", action="store_true", help="print one JSON object on stdout"
        )
        parser.add_argument(
            "--print-token",
            action="store_true",
            help="sign in, print the access token and stop (for curl, bench.sh)",
        )
        parser.add_argument(
            "--timeout", type=float, default=20.0, help="seconds per HTTP request"
        )
        parser.add_argument(
            "--no-cache",
            action="store_true",
            help="register a new client instead of reusing the cached one (the "
            "cache, .cache/harness/ or $HARNESS_CACHE_DIR, is left as it is)",
        )

    def handle(self, *args: object, **options: Any) -> None:
        steps: list[str] = []
        verbose = options["verbosity"] >= 2

        def step(line: str) -> None:
            steps.append(line)
            if verbose:
                self.stderr.write(f"[{len(steps)}] {line}", style_func=_plain)

        try:
            report = self._run(options, step)
        except HarnessError as error:
            if options["json"]:
                self.stdout.write(
                    json.dumps(
                        {
                            "ok": False,
                            "exit_code": error.exit_code,
                            "error": str(error),
                            **error.details,
                        },
                        indent=2,
                    )
                )
            raise CommandError(str(error), returncode=error.exit_code) from None
        if options["json"] and not options["print_token"]:
            self.stdout.write(json.dumps({"ok": True, **report}, indent=2))

    def _run(self, options: dict[str, Any], step: Any) -> dict[str, Any]:
        url = (options["url"] or settings.MCP_RESOURCE_URL).rstrip("/")
        tenant = options["tenant"]
        username = options["user"] or DEFAULT_USERS.get(tenant or DEFAULT_TENANT)
        if username is None:
            raise UsageError(f"{tenant} has no seeded default user: pass --user")
        password = options["password"]
        if password is None:
            if username not in DEMO_USERS:
                raise UsageError(f"--password is needed for {username}")
            password = DEMO_PASSWORD
        try:
            arguments = json.loads(options["tool_args"])
        except ValueError as exc:
            raise UsageError(f"--args is not JSON: {exc}") from None
        if not isinstance(arguments, dict):
            raise UsageError("--args must be a JSON object")

        grant = sign_in(
            url,
            username=username,
            password=password,
            tenant=tenant,
            scope=options["scope"],
            step=step,
            timeout=options["timeout"],
            registrations=None
            if options["no_cache"]
            else RegistrationCache(cache_path(), note=step),
        )
        if options["print_token"]:
            self.stdout.write(grant.access_token)
            return {"access_token": grant.access_token, "client_id": grant.client_id}
        granted = " ".join(grant.scopes) or "(nothing)"

        def show_tools(tools: list[ToolInfo]) -> None:
            if not options["json"]:
                self.stdout.write(f"{username} in {grant.tenant}, granted: {granted}")
                self.stdout.write(
                    "tools: " + (", ".join(map(_tool_label, tools)) or "(none)")
                )

        try:
            outcome = asyncio.run(
                list_and_call(
                    url,
                    grant.access_token,
                    tool=options["tool"],
                    arguments=arguments,
                    step=step,
                    on_tools=show_tools,
                    http_timeout=options["timeout"],
                )
            )
        except Denied as denied:
            raise self._explained(denied, options["scope"], grant.scopes) from None
        report = self._report(url, username, grant.tenant, grant.scopes, outcome)
        report["client_id"] = grant.client_id
        if outcome.result is not None and not options["json"]:
            self.stdout.write(result_text(outcome.result))
        if outcome.result is not None and outcome.result.is_error:
            raise ToolError(
                f"{options['tool']} answered: {result_text(outcome.result)[:300]}",
                details=report,
            )
        return report

    @staticmethod
    def _explained(denied: Denied, asked: str | None, granted: list[str]) -> Denied:
        """Say why a scope was missing: never asked for, or not granted."""
        needed = denied.details.get("required_scopes")
        if not needed:
            return denied
        missing = sorted(set(needed) - set(granted))
        if asked is not None and set(missing) <= set(asked.split()):
            hint = (
                f"it was asked for, but the login granted only "
                f"{' '.join(granted) or 'nothing'}: the user's role does not "
                f"include {' '.join(missing)}"
            )
        else:
            hint = f'ask for it with --scope "{" ".join(needed)}"'
        return Denied(f"{denied.reason} ({hint})", details=denied.details)

    @staticmethod
    def _report(
        url: str, username: str, tenant: str, scopes: list[str], outcome: CallOutcome
    ) -> dict[str, Any]:
        result = outcome.result
        return {
            "url": url,
            "user": username,
            "tenant": tenant,
            "scopes": scopes,
            "tools": [
                {
                    "name": t.name,
                    "required_scopes": t.required_scopes,
                    "missing_scopes": t.missing_scopes,
                }
                for t in outcome.tools
            ],
            "result": None
            if result is None
            else {
                "is_error": bool(result.is_error),
                "text": result_text(result),
                "structured": result.structured_content,
            },
        }
