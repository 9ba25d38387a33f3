"""Hostile requests to /mcp (issue #14 item 3): the exact refusal.

Every request carries a valid token (carol's, tenant-b, or alice's,
tenant-a) so that what refuses it is the message, not the caller. Each case
asserts the status, the JSON-RPC or OAuth error and, where the request never
reached a tool, that no audit row was written; a refusal by a tool's own
argument validation is audited as `tool_failed`. No case may change a
document, report, token or key.
"""

import json
from http import HTTPStatus
from typing import Any

import httpx2
import pytest
from django.conf import settings

from audit.models import AuditEvent
from mcpserver.db import run_db
from oauth.models import Revocation, SigningKey
from tenants.models import Document, Report, Tenant, TenantTool, Tool
from tests.mcpserver.conftest import (
    LEGACY,
    MODERN,
    Demo,
    _fresh_process_state,
    call_params,
    demo,
    http_client,
    post_rpc,
    rpc_headers,
    running_app,
)

__all__ = ["_fresh_process_state", "demo"]  # fixtures, for pytest

pytestmark = pytest.mark.django_db(transaction=True)

VERSIONS = [LEGACY, MODERN]
REFUSED_CALL_STATUS = {
    # The handshake generation answers a refused request with HTTP 200; the
    # 2026-07-28 one gives it the status of its code (the SDK's
    # ERROR_CODE_HTTP_STATUS).
    (LEGACY, -32601): HTTPStatus.OK,
    (LEGACY, -32602): HTTPStatus.OK,
    (MODERN, -32601): HTTPStatus.NOT_FOUND,
    (MODERN, -32602): HTTPStatus.BAD_REQUEST,
}
MAX_BODY = 1024 * 1024


@pytest.fixture
async def app(demo: Demo, settings: Any) -> Demo:
    """The running app with MCP_MAX_BODY_BYTES pinned (read at start-up)."""
    settings.MCP_MAX_BODY_BYTES = MAX_BODY
    async with running_app():
        yield demo


@pytest.fixture
async def carol(app: Demo) -> str:
    return await app.atoken("carol")


def _state() -> dict[str, Any]:
    return {
        "documents": Document.objects.count(),
        "reports": sorted(Report.objects.values_list("tenant__slug", "report_id")),
        "revocations": Revocation.objects.count(),
        "signing_keys": SigningKey.objects.count(),
    }


def _audit_rows() -> list[tuple[str, str, str, str]]:
    return list(
        AuditEvent.objects.order_by("id").values_list(
            "event", "outcome", "tool", "user__username"
        )
    )


async def _post(
    token: str | None, body: bytes | str, version: str = LEGACY, **headers: str
) -> httpx2.Response:
    async with http_client(token) as client:
        return await client.post(
            "/mcp", content=body, headers={**rpc_headers(version), **headers}
        )


def _rpc_error(response: httpx2.Response) -> tuple[Any, int, str]:
    body = response.json()
    assert body["jsonrpc"] == "2.0"
    return body["id"], body["error"]["code"], body["error"]["message"]


class Unchanged:
    """Asserts, around a request, that nothing but the audit log changed."""

    async def __aenter__(self) -> "Unchanged":
        self.before = await run_db(_state)
        self.audit_before = await run_db(AuditEvent.objects.count)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if exc[0] is None:
            assert await run_db(_state) == self.before

    async def new_audit_rows(self) -> list[tuple[str, str, str, str]]:
        return (await run_db(_audit_rows))[self.audit_before :]


# --- Not JSON ------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"not json",
        b"",
        b'{"jsonrpc":"2.0","id":1,"method":"tools/list"',
        b"\xff\xfe\x00",
        b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}{"id":2}',
        b"{'jsonrpc': '2.0', 'id': 1, 'method': 'tools/list'}",
    ],
    ids=[
        "open-brace",
        "text",
        "empty",
        "truncated",
        "invalid-utf8",
        "two-objects",
        "single-quotes",
    ],
)
async def test_malformed_json_is_a_parse_error(carol: str, body: bytes) -> None:
    async with Unchanged() as unchanged:
        response = await _post(carol, body)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert _rpc_error(response) == (None, -32700, "Parse error")
    assert await unchanged.new_audit_rows() == []


# --- Not one JSON-RPC object ---------------------------------------------------
LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
CALL = {
    "jsonrpc": "2.0",
    "id": 2,
    "method": "tools/call",
    "params": call_params("echo", message="hi"),
}


@pytest.mark.parametrize(
    "payload",
    [[], [LIST], [LIST, CALL], [CALL], None, 1, "tools/list"],
    ids=["empty-batch", "batch-of-one", "batch", "batch-call", "null", "1", "str"],
)
async def test_a_batch_or_a_scalar_is_an_invalid_request(
    carol: str, payload: Any
) -> None:
    """Batches were removed from MCP (2025-06-18): one message per POST."""
    async with Unchanged() as unchanged:
        response = await _post(carol, json.dumps(payload))
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert _rpc_error(response) == (
        None,
        -32600,
        "Body must be one JSON-RPC request or notification",
    )
    assert await unchanged.new_audit_rows() == []


# --- Wrong JSON-RPC types ------------------------------------------------------
ID_MESSAGE = "id must be a string or an integer"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param({"id": {"a": 1}}, (None, -32600, ID_MESSAGE), id="id-object"),
        pytest.param({"id": [1]}, (None, -32600, ID_MESSAGE), id="id-array"),
        pytest.param({"id": True}, (None, -32600, ID_MESSAGE), id="id-bool"),
        pytest.param({"id": 1.5}, (None, -32600, ID_MESSAGE), id="id-fraction"),
        pytest.param({"id": None}, (None, -32600, ID_MESSAGE), id="id-null"),
        pytest.param(
            {"method": 42}, (2, -32600, "method must be a string"), id="method-number"
        ),
        pytest.param(
            {"method": None}, (2, -32600, "method must be a string"), id="method-null"
        ),
        pytest.param(
            {"method": ["tools/call"]},
            (2, -32600, "method must be a string"),
            id="method-array",
        ),
        pytest.param(
            {"jsonrpc": "1.0"}, (2, -32600, 'jsonrpc must be "2.0"'), id="jsonrpc-1.0"
        ),
        pytest.param(
            {"jsonrpc": 2.0}, (2, -32600, 'jsonrpc must be "2.0"'), id="jsonrpc-number"
        ),
        pytest.param(
            {"jsonrpc": None}, (2, -32600, 'jsonrpc must be "2.0"'), id="no-jsonrpc"
        ),
        pytest.param(
            {"params": ["echo", {"message": "hi"}]},
            (2, -32602, "params must be an object"),
            id="params-array",
        ),
        pytest.param(
            {"params": "echo"}, (2, -32602, "params must be an object"), id="params-str"
        ),
        pytest.param({"method": ...}, (2, -32600, "No method"), id="no-method"),
    ],
)
async def test_wrong_json_rpc_types_are_refused_before_any_tool(
    carol: str, changes: dict[str, Any], expected: tuple[Any, int, str], version: str
) -> None:
    message = dict(CALL)
    for name, value in changes.items():
        if value is ... or (name == "jsonrpc" and value is None):
            del message[name]
        else:
            message[name] = value
    headers = {"Mcp-Method": "tools/call", "Mcp-Name": "echo"}
    async with Unchanged() as unchanged:
        response = await _post(carol, json.dumps(message), version, **headers)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert _rpc_error(response) == expected
    assert "pydantic" not in response.text
    assert await unchanged.new_audit_rows() == []


# --- Unknown methods -----------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    "method", ["no/such", "resources/list", "tools/delete", "tools/call/../list"]
)
async def test_an_unknown_method_is_method_not_found(
    carol: str, method: str, version: str
) -> None:
    async with Unchanged() as unchanged:
        response = await post_rpc(carol, method, {}, version=version, request_id=9)
    assert response.status_code == REFUSED_CALL_STATUS[version, -32601]
    request_id, code, message = _rpc_error(response)
    assert (request_id, code, message) == (9, -32601, "Method not found")
    assert await unchanged.new_audit_rows() == []


# --- Arguments of the wrong type, nested and oversized --------------------------
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("tool", "arguments", "problem"),
    [
        ("echo", {"message": 5}, "message: 5 is not of type 'string'"),
        ("echo", {"message": ["hi"]}, "message: ['hi'] is not of type 'string'"),
        ("echo", {"message": None}, "message: None is not of type 'string'"),
        ("echo", {}, "'message' is a required property"),
        (
            "echo",
            {"message": "hi", "extra": 1},
            "Additional properties are not allowed ('extra' was unexpected)",
        ),
        (
            "search_documents",
            {"query": "plan", "limit": "10"},
            "limit: '10' is not of type 'integer'",
        ),
        (
            "search_documents",
            {"query": "plan", "limit": True},
            "limit: True is not of type 'integer'",
        ),
        ("export_report", {"reportId": 1}, "reportId: 1 is not of type 'string'"),
        (
            "export_report",
            {"reportId": "r1", "format": "xml"},
            "format: 'xml' is not one of ['json', 'csv']",
        ),
    ],
)
async def test_arguments_of_the_wrong_type_are_invalid_params_and_audited(
    carol: str, tool: str, arguments: dict[str, Any], problem: str, version: str
) -> None:
    async with Unchanged() as unchanged:
        response = await post_rpc(
            carol,
            "tools/call",
            {"name": tool, "arguments": arguments},
            version=version,
            request_id=3,
        )
    assert response.status_code == REFUSED_CALL_STATUS[version, -32602]
    assert _rpc_error(response) == (3, -32602, f"Invalid params for {tool}: {problem}")
    assert await unchanged.new_audit_rows() == [("tool_failed", "error", tool, "carol")]


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("version", VERSIONS)
async def test_ten_thousand_levels_of_nesting_are_a_parse_error(
    carol: str, version: str
) -> None:
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 4,
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {"message": "NESTED"}},
        }
    ).replace('"NESTED"', _nested(10_000))
    assert len(body) < MAX_BODY  # the parser, not the size limit, meets it
    async with Unchanged() as unchanged:
        response = await _post(
            carol, body, version, **{"Mcp-Method": "tools/call", "Mcp-Name": "echo"}
        )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert _rpc_error(response) == (None, -32700, "Parse error")
    assert await unchanged.new_audit_rows() == []


@pytest.mark.parametrize("version", VERSIONS)
async def test_nesting_the_parser_reads_is_refused_by_the_schema_and_audited(
    carol: str, version: str
) -> None:
    """Deep but parseable: the schema refuses it, the audit row still writes."""
    depth = 400
    async with Unchanged() as unchanged:
        response = await post_rpc(
            carol,
            "tools/call",
            {"name": "echo", "arguments": {"message": json.loads(_nested(depth))}},
            version=version,
            request_id=5,
        )
    assert response.status_code == REFUSED_CALL_STATUS[version, -32602]
    request_id, code, message = _rpc_error(response)
    assert (request_id, code) == (5, -32602)
    assert message.startswith("Invalid params for echo: message: ")
    assert await unchanged.new_audit_rows() == [
        ("tool_failed", "error", "echo", "carol")
    ]


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_body_over_the_limit_is_413(carol: str, version: str) -> None:
    body = json.dumps(
        {**CALL, "params": call_params("echo", message="x" * MAX_BODY)}
    ).encode()
    async with Unchanged() as unchanged:
        response = await _post(
            carol, body, version, **{"Mcp-Method": "tools/call", "Mcp-Name": "echo"}
        )
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert _rpc_error(response) == (
        None,
        -32600,
        f"Request body larger than {MAX_BODY} bytes",
    )
    assert await unchanged.new_audit_rows() == []


@pytest.mark.parametrize("version", VERSIONS)
async def test_an_argument_over_its_schema_limit_is_invalid_params(
    carol: str, version: str
) -> None:
    """Under the body limit, over the tool's: refused before the tool runs."""
    async with Unchanged() as unchanged:
        response = await post_rpc(
            carol,
            "tools/call",
            call_params("search_documents", query="q" * 500_000),
            version=version,
            request_id=6,
        )
    assert response.status_code == REFUSED_CALL_STATUS[version, -32602]
    request_id, code, message = _rpc_error(response)
    assert (request_id, code) == (6, -32602)
    assert message.startswith("Invalid params for search_documents: query: ")
    assert len(response.content) < 4096  # the argument is not echoed back
    assert await unchanged.new_audit_rows() == [
        ("tool_failed", "error", "search_documents", "carol")
    ]


# --- Host and Origin -------------------------------------------------------------
@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:8000",
        "localhost.evil.example",
        "localhost@evil.example",
        "",
        "127.0.0.1.nip.io",
    ],
)
async def test_a_spoofed_host_is_misdirected(carol: str, host: str) -> None:
    async with Unchanged() as unchanged:
        response = await _post(carol, json.dumps(LIST), Host=host)
    assert response.status_code == HTTPStatus.MISDIRECTED_REQUEST
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "Host not allowed.",
    }
    assert await unchanged.new_audit_rows() == []


@pytest.mark.parametrize(
    ("host", "origin"),
    [
        ("localhost:8000", "http://evil.example"),
        ("localhost:8000", "null"),
        ("localhost:8000", "http://localhost:8000@evil.example"),
        ("localhost:8000", "http://evil.example#@localhost:8000"),
        ("localhost:8000", "file://"),
        ("localhost:8000", "http://localhost:8000/path"),
        # A rebinding page: its Origin names the Host it resolved to us as.
        ("evil.example:8000", "http://evil.example:8000"),
    ],
)
async def test_a_spoofed_origin_is_forbidden(
    carol: str, host: str, origin: str
) -> None:
    async with Unchanged() as unchanged:
        response = await _post(carol, json.dumps(LIST), Host=host, Origin=origin)
    if host == "evil.example:8000":  # the Host check comes first
        assert response.status_code == HTTPStatus.MISDIRECTED_REQUEST
    else:
        assert response.status_code == HTTPStatus.FORBIDDEN
        assert response.json() == {
            "error": "invalid_request",
            "error_description": "Origin not allowed.",
        }
    assert await unchanged.new_audit_rows() == []


async def test_host_and_origin_checks_come_before_the_token(app: Demo) -> None:
    """A rebinding page learns nothing, not even whether a token would do."""
    response = await _post(None, json.dumps(LIST), Origin="http://evil.example")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "www-authenticate" not in response.headers
    assert settings.PUBLIC_URL == "http://localhost:8000"


# --- Another tenant's ids ----------------------------------------------------------
def _give_tenant_a_reports() -> None:
    """Tenant A gets export_report and a report of its own (a1)."""
    tenant = Tenant.objects.get(slug="tenant-a")
    TenantTool.objects.update_or_create(
        tenant=tenant,
        tool=Tool.objects.get(name="export_report"),
        defaults={"enabled": True},
    )
    Report.objects.create(
        tenant=tenant, report_id="a1", title="Tenant A report", rows=[{"x": 1}]
    )


@pytest.fixture
async def alice_with_reports(demo: Demo, settings: Any) -> str:
    settings.MCP_MAX_BODY_BYTES = MAX_BODY
    await run_db(_give_tenant_a_reports)
    async with running_app():
        yield await demo.atoken("alice")


def _result(response: httpx2.Response) -> dict[str, Any]:
    assert response.status_code == HTTPStatus.OK
    return response.json()["result"]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("fmt", ["json", "csv"])
async def test_another_tenants_report_reads_as_no_such_report(
    alice_with_reports: str, version: str, fmt: str
) -> None:
    token = alice_with_reports
    answers = {}
    async with Unchanged() as unchanged:
        for report_id in ("r1", "zz-none"):  # tenant-b's, and nobody's
            response = await post_rpc(
                token,
                "tools/call",
                call_params("export_report", reportId=report_id, format=fmt),
                version=version,
            )
            answers[report_id] = _result(response)
        own = _result(
            await post_rpc(
                token,
                "tools/call",
                call_params("export_report", reportId="a1", format=fmt),
                version=version,
            )
        )

    foreign, missing = answers["r1"], answers["zz-none"]
    assert foreign["content"] == [{"type": "text", "text": "no such report: r1"}]
    assert foreign["isError"] is True
    assert json.dumps(missing).replace("zz-none", "r1") == json.dumps(foreign)
    assert "Monthly revenue" not in json.dumps(foreign)
    assert own["isError"] is False
    rows = await run_db(
        lambda: list(
            AuditEvent.objects.order_by("id").values_list(
                "event", "tool", "reason", "tenant__slug"
            )
        )
    )
    assert rows[-3:] == [
        ("tool_failed", "export_report", "no such report", "tenant-a"),
        ("tool_failed", "export_report", "no such report", "tenant-a"),
        ("tool_called", "export_report", "", "tenant-a"),
    ]
    assert len(await unchanged.new_audit_rows()) == 3


@pytest.mark.parametrize("version", VERSIONS)
async def test_another_tenants_documents_are_never_found(
    alice_with_reports: str, version: str
) -> None:
    response = await post_rpc(
        alice_with_reports,
        "tools/call",
        call_params("search_documents", query="Pricing sheet"),
        version=version,
    )
    result = _result(response)
    assert "Pricing" not in json.dumps(result)
    assert "List prices" not in json.dumps(result)
