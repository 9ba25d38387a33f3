"""/metrics and the JSON request log on a live uvicorn, on SQLite or PostgreSQL.

- a scrape after tool calls shows them by tenant, tool and outcome (an
  unknown tool's name never becomes a label), and the HTTP requests by
  route, status and tenant;
- with two workers, one scrape adds up what each worker counted: the
  node's directory holds a file per worker, and the scrape equals the sum
  of their values;
- a client address outside MCP_METRICS_ALLOWED_IPS gets the 404 of any
  unknown path;
- LOG_FORMAT=json writes one JSON line per request with its fields, and no
  token appears anywhere in the server's output.
"""

import asyncio
import json
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx2
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.faults.load import HEADERS, mint_tokens
from tests.live_server import LiveServer, run_live_server

TOOL_CALLS = "mcp_tool_calls"
REQUESTS = "mcp_http_requests"


def samples(text: str, name: str, suffix: str = "_total") -> dict[tuple, float]:
    """{sorted label items: value} of the metric family `name`'s samples."""
    found: dict[tuple, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.name == name + suffix:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def tool_calls(text: str) -> dict[tuple[str, str, str], float]:
    """{(tenant, tool, outcome): count} from a scrape."""
    return {
        (labels["tenant"], labels["tool"], labels["outcome"]): value
        for key, value in samples(text, TOOL_CALLS).items()
        for labels in [dict(key)]
    }


def call(tool: str, arguments: dict, rid: str) -> dict:
    return {
        "jsonrpc": "2.0",
        "id": rid,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }


async def make_calls(
    server: LiveServer, plan: list[tuple[str, str, dict]], *, concurrency: int = 1
) -> list[int]:
    """POST each (token, tool, arguments), each on a new connection; statuses."""
    limit = asyncio.Semaphore(concurrency)

    async def one(token: str, tool: str, arguments: dict) -> int:
        async with limit, httpx2.AsyncClient(timeout=60) as client:
            response = await client.post(
                server.mcp_url,
                json=call(tool, arguments, uuid.uuid4().hex),
                headers={**HEADERS, "Authorization": f"Bearer {token}"},
            )
            return response.status_code

    return await asyncio.gather(*(one(*step) for step in plan))


def scrape(server: LiveServer) -> str:
    response = httpx2.get(f"{server.url}/metrics", timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("metrics-two")
    metrics = tmp / "metrics"
    with run_live_server(
        tmp, workers=2, extra_env={"MCP_METRICS_DIR": str(metrics)}
    ) as server:
        yield server, metrics, mint_tokens(server)


@pytest.fixture(scope="module")
def json_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("metrics-json")
    extra = {
        "LOG_FORMAT": "json",
        "MCP_METRICS_ALLOWED_IPS": "10.0.0.0/8",
        "MCP_METRICS_DIR": str(tmp / "metrics"),
    }
    with run_live_server(tmp, extra_env=extra) as server:
        yield server, mint_tokens(server)


def test_a_scrape_counts_tool_calls_by_tenant_tool_and_outcome(two_workers):
    server, _, tokens = two_workers
    a, b = tokens["tenant-a"], tokens["tenant-b"]
    before = tool_calls(scrape(server))
    statuses = asyncio.run(
        make_calls(
            server,
            [
                (a, "echo", {"message": "one"}),
                (a, "echo", {"message": "two"}),
                (b, "echo", {"message": "three"}),
                (b, "export_report", {"reportId": "r1"}),
                (a, "export_report", {"reportId": "r1"}),  # not tenant-a's
                (a, "no_such_tool_" + uuid.uuid4().hex, {}),
                (a, "admin_purge", {"confirm": True}),  # needs the admin scope
                (a, "echo", {}),  # invalid arguments
            ],
        )
    )
    assert statuses == [200, 200, 200, 200, 200, 200, 403, 200]
    after = tool_calls(scrape(server))
    added = {key: after[key] - before.get(key, 0) for key in after}
    added = {key: value for key, value in added.items() if value}
    assert added == {
        ("tenant-a", "echo", "ok"): 2,
        ("tenant-b", "echo", "ok"): 1,
        ("tenant-b", "export_report", "ok"): 1,
        ("tenant-a", "export_report", "denied"): 1,
        ("tenant-a", "unknown", "denied"): 1,
        ("tenant-a", "admin_purge", "denied"): 1,
        ("tenant-a", "echo", "error"): 1,
    }
    text = scrape(server)
    assert "no_such_tool" not in text
    requests = {
        dict(key)["status"]: value
        for key, value in samples(text, REQUESTS).items()
        if dict(key)["route"] == "/mcp" and dict(key)["tenant"] == "tenant-a"
    }
    assert requests["403"] >= 1
    assert requests["200"] >= 5
    durations = samples(text, "mcp_tool_call_duration_seconds", "_count")
    assert durations[(("tool", "echo"),)] >= 4
    assert samples(text, "mcp_audit_batch_size", "_count")[()] >= 1
    assert samples(text, "mcp_audit_queue_depth", "")[()] == 0
    lag = samples(text, "mcp_revocation_feed_lag_seconds", "")[()]
    assert 0 <= lag < 5
    # The default log format is unchanged: no request lines.
    assert "mcp.request" not in server.log()


def per_worker_calls(metrics: Path) -> dict[int, float]:
    """{pid: tool calls counted} read from each worker's own counter file."""
    counted: dict[int, float] = {}
    for path in metrics.glob("counter_*.db"):
        pid = int(path.stem.rpartition("_")[2])
        for family in MultiProcessCollector.merge([str(path)]):
            if family.name == TOOL_CALLS:
                counted[pid] = sum(
                    s.value for s in family.samples if s.name.endswith("_total")
                )
    return counted


def test_one_scrape_adds_up_the_counts_of_both_workers(two_workers):
    server, metrics, tokens = two_workers
    plan = [(tokens["tenant-b"], "echo", {"message": "m"})] * 16
    # New connections land on either worker, unevenly: call until both
    # have counted some (bounded, so a broken server fails rather than hangs).
    for _ in range(20):
        assert set(asyncio.run(make_calls(server, plan, concurrency=8))) == {200}
        workers = per_worker_calls(metrics)
        if len([count for count in workers.values() if count]) >= 2:
            break
    else:
        pytest.fail(f"one worker served every call: {workers}")
    total = sum(tool_calls(scrape(server)).values())
    assert total == sum(per_worker_calls(metrics).values())
    assert total >= len(plan)


def test_a_client_outside_the_allow_list_gets_the_404_of_an_unknown_path(
    json_server,
):
    server, _ = json_server
    refused = httpx2.get(f"{server.url}/metrics", timeout=30)
    unknown = httpx2.get(f"{server.url}/no-such-page", timeout=30)
    assert refused.status_code == unknown.status_code == 404
    assert refused.headers["content-type"] == unknown.headers["content-type"]
    assert "mcp_" not in refused.text


def test_json_logs_have_one_line_per_request_with_its_fields_and_no_token(
    json_server,
):
    server, tokens = json_server
    token = tokens["tenant-a"]
    rid = uuid.uuid4().hex
    response = httpx2.post(
        server.mcp_url + "?access_token=" + token,  # refused, but logged
        json=call("echo", {"message": "hi"}, "x"),
        headers={**HEADERS, "Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 400
    response = httpx2.post(
        server.mcp_url,
        json=call("echo", {"message": "hi"}, rid),
        headers={
            **HEADERS,
            "Authorization": f"Bearer {token}",
            "X-Request-Id": "req-" + rid,
        },
        timeout=30,
    )
    assert response.status_code == 200
    assert httpx2.get(f"{server.url}/healthz", timeout=30).status_code == 200
    # Each line is written once its response has been sent: wait for them.
    log = server.log()
    deadline = time.monotonic() + 30
    while ("req-" + rid not in log or '"/healthz"' not in log) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.1)
        log = server.log()
    assert token not in log
    assert token.split(".")[2] not in log  # not even the signature
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line["logger"] == "mcp.request"]
    by_id = {line["request_id"]: line for line in requests}
    mcp = by_id["req-" + rid]
    assert mcp["rpc_id"] == rid
    assert mcp["tenant"] == "tenant-a"
    assert isinstance(mcp["tenant_id"], int)
    assert mcp["client"] == "fault-client"
    assert mcp["tool"] == "echo"
    assert mcp["status"] == 200
    assert mcp["method"] == "POST"
    assert mcp["path"] == "/mcp"
    assert mcp["duration_ms"] > 0
    assert mcp["remote"] == "127.0.0.1"
    assert (
        Counter((line["path"], line["status"]) for line in requests)[("/healthz", 200)]
        >= 1
    )
    assert any(line["status"] == 400 and line["path"] == "/mcp" for line in requests)
    # Every line the server wrote to stderr after start-up is JSON.
    assert all(line.startswith("{") for line in log.splitlines() if line.strip())
