"""Review defects of /mcp (issue #14 item 4), each as it was reproduced.

Run against the one ASGI application in process, with its lifespan (the
MCP fixtures of tests/mcpserver/conftest.py), for both protocol
generations where the defect could differ between them.
"""

import json
from http import HTTPStatus
from typing import Any

import httpx2
import pytest
from django.conf import settings

from audit.models import AuditEvent
from mcpserver.db import run_db
from tenants.models import Document
from tests.mcpserver.conftest import (
    LEGACY,
    MODERN,
    Demo,
    _fresh_process_state,
    demo,
    http_client,
    mcp_app,
    rpc_headers,
)

__all__ = ["_fresh_process_state", "demo", "mcp_app"]  # fixtures, for pytest

pytestmark = pytest.mark.django_db(transaction=True)

LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


async def _post(token: str, content: bytes | str, **headers: str) -> httpx2.Response:
    async with http_client(token) as client:
        return await client.post(
            "/mcp", content=content, headers={**rpc_headers(), **headers}
        )


async def _audit_rows() -> list[dict[str, Any]]:
    return await run_db(
        lambda: list(
            AuditEvent.objects.order_by("id").values(
                "event", "outcome", "tool", "arguments", "reason", "user__username"
            )
        )
    )


@pytest.fixture
async def carol(mcp_app: Demo) -> str:
    return await mcp_app.atoken("carol")


# --- Origin: scheme, host and port -------------------------------------------
@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost:1",
        "http://localhost",  # port 80, not PUBLIC_URL's
        "http://127.0.0.1:1",
        "https://localhost:8000",  # the other scheme
        "http://localhost:8000.evil.example",
        "http://localhost:notaport",
    ],
)
async def test_an_origin_on_another_port_or_scheme_is_forbidden(
    carol: str, origin: str
) -> None:
    assert settings.PUBLIC_URL == "http://localhost:8000"
    response = await _post(carol, json.dumps(LIST), Origin=origin)
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "Origin not allowed.",
    }
    assert await _audit_rows() == []


@pytest.mark.parametrize(
    ("host", "origin"),
    [
        ("localhost:8000", "http://localhost:8000"),
        ("localhost:8000", "http://LOCALHOST:8000"),
        # The Host the client named, e.g. a loopback proxy's port.
        ("127.0.0.1:9000", "http://127.0.0.1:9000"),
    ],
)
async def test_this_servers_origin_is_accepted(
    carol: str, host: str, origin: str
) -> None:
    response = await _post(carol, json.dumps(LIST), Host=host, Origin=origin)
    assert response.status_code == HTTPStatus.OK


async def test_an_origin_other_than_the_host_named_is_forbidden(carol: str) -> None:
    response = await _post(
        carol, json.dumps(LIST), Host="127.0.0.1:9000", Origin="http://127.0.0.1:1"
    )
    assert response.status_code == HTTPStatus.FORBIDDEN


# --- NaN and Infinity: not JSON ----------------------------------------------
def _call_with(value: str, version: str) -> tuple[str, dict[str, str]]:
    params: dict[str, Any] = {"name": "search_documents", "arguments": {"query": 0}}
    headers = rpc_headers(version)
    if version == MODERN:
        params["_meta"] = {
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {},
        }
        headers |= {"Mcp-Method": "tools/call", "Mcp-Name": "search_documents"}
    body = json.dumps(
        {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params}
    )
    return body.replace('"query": 0', f'"query": {value}'), headers


@pytest.mark.parametrize("version", [LEGACY, MODERN])
@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
async def test_nan_and_infinity_are_a_parse_error_and_audited(
    carol: str, value: str, version: str
) -> None:
    documents = await run_db(Document.objects.count)
    body, headers = _call_with(value, version)
    async with http_client(carol) as client:
        response = await client.post("/mcp", content=body, headers=headers)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {
            "code": -32700,
            "message": "Parse error: NaN and Infinity are not JSON",
        },
    }
    assert await _audit_rows() == [
        {
            "event": "tool_denied",
            "outcome": "denied",
            "tool": "search_documents",
            "arguments": {"query": None},
            "reason": "parse error: NaN and Infinity are not JSON",
            "user__username": "carol",
        }
    ]
    assert await run_db(Document.objects.count) == documents


async def test_nan_without_a_token_is_the_401_challenge(mcp_app: Demo) -> None:
    body, headers = _call_with("NaN", LEGACY)
    async with http_client() as client:
        response = await client.post("/mcp", content=body, headers=headers)
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.headers["www-authenticate"].startswith("Bearer ")
    assert await _audit_rows() == []


async def test_a_string_nan_is_an_ordinary_argument(carol: str) -> None:
    body, headers = _call_with('"NaN"', LEGACY)
    async with http_client(carol) as client:
        response = await client.post("/mcp", content=body, headers=headers)
    assert response.status_code == HTTPStatus.OK
    assert "result" in response.json()
    rows = await _audit_rows()
    assert [(row["event"], row["arguments"]) for row in rows] == [
        ("tool_called", {"query": "NaN"})
    ]
