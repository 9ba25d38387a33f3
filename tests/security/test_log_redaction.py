"""No token, code or secret reaches a log line (issue #14 item 4).

The review found a bearer token sent in /mcp's query string refused but
written verbatim to uvicorn's access log. The live test runs the server
with its access log on and sends every kind of credential where a log
could catch it.
"""

import logging
from pathlib import Path

import httpx2
import pytest

from config.log_redaction import REDACTED, RedactSecrets, redact
from tests.live_server import run_live_server

SECRET = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.c2lnbmF0dXJl"
CODE = "s3cr3t-authorization-code-0123456789"
VERIFIER = "verifier-0123456789-0123456789-0123456789-abc"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            f'127.0.0.1:5 - "GET /mcp?access_token={SECRET} HTTP/1.1" 400',
            f'127.0.0.1:5 - "GET /mcp?access_token={REDACTED} HTTP/1.1" 400',
        ),
        (
            f"/cb?state=xyz&code={CODE}&iss=http%3A%2F%2Fa",
            f"/cb?state=xyz&code={REDACTED}&iss=http%3A%2F%2Fa",
        ),
        (
            f"grant_type=refresh_token&refresh_token={SECRET}&client_id=c1",
            f"grant_type=refresh_token&refresh_token={REDACTED}&client_id=c1",
        ),
        (
            f'{{"client_secret": "{SECRET}", "client_name": "x"}}',
            f'{{"client_secret": "{REDACTED}", "client_name": "x"}}',
        ),
        (f"Authorization: Bearer {SECRET}", f"Authorization: Bearer {REDACTED}"),
        # Parameters that only end like a sensitive one are left alone.
        ("error_code=5&status_code=400", "error_code=5&status_code=400"),
    ],
)
def test_redact_replaces_only_the_values_of_sensitive_parameters(
    line: str, expected: str
) -> None:
    assert redact(line) == expected


def test_the_filter_rewrites_a_uvicorn_access_record_and_keeps_it() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", f"/mcp?access_token={SECRET}", "1.1", 400),
        None,
    )

    kept = RedactSecrets().filter(record)

    assert kept is True
    assert SECRET not in record.getMessage()
    assert f"/mcp?access_token={REDACTED}" in record.getMessage()


def test_a_live_servers_log_holds_no_token_code_or_secret(tmp_path: Path) -> None:
    with run_live_server(tmp_path, log_level="info") as server:
        with httpx2.Client(base_url=server.url, timeout=10) as client:
            refused = client.post(
                f"/mcp?access_token={SECRET}",
                json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                headers={"Accept": "application/json, text/event-stream"},
            )
            client.get(f"/callback?state=s&code={CODE}")
            client.get(f"/authorize?response_type=code&code_verifier={VERIFIER}")
            token = client.post(
                "/token",
                data={
                    "grant_type": "authorization_code",
                    "code": CODE,
                    "code_verifier": VERIFIER,
                    "client_id": "nobody",
                    "client_secret": SECRET,
                },
            )
        log = server.log()

    assert refused.status_code in (400, 401)
    assert token.status_code in (400, 401)
    # The access log is on, and wrote these requests without their values.
    assert "GET /callback?state=s&code=[redacted]" in log, log[-2000:]
    assert f"/mcp?access_token={REDACTED}" in log
    for value in (SECRET, CODE, VERIFIER):
        assert value not in log
