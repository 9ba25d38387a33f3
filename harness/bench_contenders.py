"""Who a benchmark measures: this server, and optionally another.

`line_up` builds the contenders of `manage.py bench`: this server with a
token (signed in through the real OAuth flow, or given) and a counter of
the audit rows written for that token's client, then the compared server
with its own token and, when its SQLite audit file is given, its counter.
Each is checked with one call (`prepare`) before it is returned.
"""

import json
from pathlib import Path

import jwt

from harness.bench import (
    Contender,
    DatabaseAuditCounter,
    SqliteAuditCounter,
    prepare,
)
from harness.errors import UsageError
from harness.flow import sign_in
from harness.loadgen import Target
from harness.registration_cache import RegistrationCache


def _audited_client_id(token: str) -> str:
    """The `client_id` claim of `token`, which names the audit rows to count."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise UsageError(
            "--token is not a JWT: its client_id names the audit rows "
            "to count (or pass --no-audit-check)"
        ) from None
    return str(claims.get("client_id", ""))


def line_up(
    *,
    url: str,
    label: str,
    tool: str,
    tool_args: str,
    protocol_version: str,
    token: str | None,
    username: str,
    password: str,
    tenant: str,
    scope: str | None,
    audit_check: bool,
    registrations: RegistrationCache | None = None,
    compare_url: str | None = None,
    compare_token: str | None = None,
    compare_label: str = "compared",
    compare_audit_db: Path | None = None,
) -> list[Contender]:
    """This server at `url` (and the one at `compare_url`), ready to measure.

    `tool_args` is the tool's arguments as JSON. Without a `token`, signs
    in as `username` in `tenant`, with the client cached in `registrations`
    (a new one without). `audit_check` counts this server's audit
    rows, for the client of the token. Raises UsageError (arguments that do
    not fit together), the errors of `sign_in`, or loadgen.LoadError when a
    server does not answer the tool call.
    """
    try:
        arguments = json.loads(tool_args)
    except ValueError as exc:
        raise UsageError(f"--args is not JSON: {exc}") from None
    if token is None:
        grant = sign_in(
            url,
            username=username,
            password=password,
            tenant=tenant,
            scope=scope,
            registrations=registrations,
        )
        token, client_id = grant.access_token, grant.client_id
    elif not audit_check:
        client_id = ""
    else:
        client_id = _audited_client_id(token)
    common = {
        "tool": tool,
        "arguments": arguments,
        "protocol_version": protocol_version,
    }
    ours = Target(url=url, token=token, label=label, **common)
    audit = DatabaseAuditCounter(client_id) if audit_check else None
    contenders = [prepare(ours, audit)]
    if compare_url:
        if not compare_token:
            raise UsageError("--compare needs --compare-token")
        theirs = Target(
            url=compare_url, token=compare_token, label=compare_label, **common
        )
        counter = SqliteAuditCounter(compare_audit_db) if compare_audit_db else None
        contenders.append(prepare(theirs, counter))
    return contenders
