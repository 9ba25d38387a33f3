// The official TypeScript SDK client in session mode, driven by
// tests/cluster/test_sessions_live.py:
//   node ts_session_client.mjs MCP_URL TOKEN   (NODE_PATH: the SDK's install)
// 1. opens a session (initialize), calls echo three times, prints one JSON
//    line {"step": "ready", "sessionId", "answers"} and waits for a line on
//    stdin (the test kills the session's node meanwhile);
// 2. calls echo on the same session, which fails (the SDK raises the 404 as
//    StreamableHTTPError and does not initialize again by itself), then does
//    what an application must: a new transport and client (a new session),
//    and echo again; prints {"step": "done", "error", "afterKill", "second"}.
// "answers" are [method, status, X-Served-By] of every response, recorded
// by the fetch the transport is given.
import { createInterface } from 'node:readline';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const [url, token] = process.argv.slice(2);
const answers = [];
const recordingFetch = async (input, init) => {
  const response = await fetch(input, init);
  answers.push([init?.method ?? 'GET', response.status, response.headers.get('x-served-by') ?? '']);
  return response;
};

async function connect() {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
    fetch: recordingFetch,
  });
  const client = new Client({ name: 'cluster-ts', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport };
}

const echo = async (client, message) => (await client.callTool({ name: 'echo', arguments: { message } })).content[0].text;

const first = await connect();
for (let n = 0; n < 3; n += 1) await echo(first.client, `ts-${n}`);
console.log(JSON.stringify({ step: 'ready', sessionId: first.transport.sessionId, answers }));

const lines = createInterface({ input: process.stdin });
await new Promise((resolve) => lines.once('line', resolve));

const since = answers.length;
let error = null;
try {
  await echo(first.client, 'after the kill');
} catch (caught) {
  error = { name: caught.constructor.name, code: caught.code ?? null, message: String(caught.message).slice(0, 300) };
}
const afterKill = answers.slice(since).filter(([method]) => method === 'POST');
await first.client.close().catch(() => {});

const second = await connect();
const text = await echo(second.client, 'ts-again');
const sessionId = second.transport.sessionId;
await second.transport.terminateSession().catch(() => {});
await second.client.close();
console.log(JSON.stringify({
  step: 'done', error, afterKill, second: { sessionId, text, answers: answers.slice(since) },
}));
lines.close();
