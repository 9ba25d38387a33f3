// Open-loop load for the fairness benchmark (scripts/bench_fairness.py).
//   node scripts/fairness_load.mjs URL SECONDS TOKEN:RATE [TOKEN:RATE ...]
// Each TOKEN:RATE stream sends `tools/call echo` at RATE calls/s on a fixed
// schedule, whatever the answers (open loop: a slow or refusing server does
// not slow the sender down), over keep-alive connections (node:http), each
// call with a 10 s timeout. Latency runs from sending to the whole answer.
// Prints one JSON line: per stream, the calls sent, their HTTP statuses,
// timeouts, other errors, and p50/p99 (ms) of the 200 answers.
import http from 'node:http';

const [url, seconds, ...specs] = process.argv.slice(2);
const TIMEOUT_MS = 10_000;
const streams = specs.map((spec) => {
  const at = spec.lastIndexOf(':');
  return { token: spec.slice(0, at), rate: Number(spec.slice(at + 1)),
    sent: 0, statuses: {}, timeouts: 0, errors: 0, latencies: [] };
});

// node:http with a keep-alive agent: about half the CPU of fetch (undici)
// per call, which matters when the load shares two cores with the server.
// Idle sockets close after 2 s, before uvicorn's 5 s keep-alive timeout, so
// a call never goes out on a connection the server is closing (ECONNRESET).
const agent = new http.Agent({ keepAlive: true, maxSockets: 256, timeout: 2000 });
const target = new URL(url);
let nextId = 1;
function call(stream) {
  const body = JSON.stringify({ jsonrpc: '2.0', id: nextId++, method: 'tools/call',
    params: { name: 'echo', arguments: { message: 'fair' } } });
  const started = performance.now();
  return new Promise((resolve) => {
    const request = http.request({
      agent, host: target.hostname, port: target.port, path: target.pathname,
      method: 'POST', timeout: TIMEOUT_MS,
      headers: { authorization: `Bearer ${stream.token}`,
        'content-type': 'application/json', 'content-length': Buffer.byteLength(body),
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-11-25' },
    }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => {
        const status = response.statusCode;
        stream.statuses[status] = (stream.statuses[status] ?? 0) + 1;
        if (status === 200 && Buffer.concat(chunks).includes('"result"')) {
          stream.latencies.push(performance.now() - started);
        }
        resolve();
      });
    });
    request.on('timeout', () => { stream.timeouts++; request.destroy(new Error('timeout')); });
    request.on('error', (error) => {
      if (error.message !== 'timeout') stream.errors++;
      resolve();
    });
    request.end(body);
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const pending = new Set();
const start = performance.now();
const end = start + Number(seconds) * 1000;
for (let now = start; now < end; now = performance.now()) {
  for (const stream of streams) {
    const due = Math.floor(((now - start) / 1000) * stream.rate);
    while (stream.sent < due) {
      stream.sent++;
      const promise = call(stream);
      pending.add(promise);
      promise.finally(() => pending.delete(promise));
    }
  }
  await sleep(1);
}
await Promise.all(pending);

const pct = (sorted, p) => (sorted.length
  ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : null);
console.log(JSON.stringify(streams.map((s) => {
  const sorted = s.latencies.sort((a, b) => a - b);
  return { rate: s.rate, sent: s.sent, statuses: s.statuses, timeouts: s.timeouts,
    errors: s.errors, p50_ms: pct(sorted, 50), p99_ms: pct(sorted, 99) };
})));
