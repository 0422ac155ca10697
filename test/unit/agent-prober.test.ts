// The agent's prober (src/agent/health/prober.ts) on a fake clock: state
// transitions with thresholds both ways, a check that hangs past its timeout,
// reconfiguration and close(); then the real TCP and HTTP checks against
// servers on loopback (connection refused, HTTP 500 vs 200).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { realCheck, type CheckFn, type CheckResult } from "../../src/agent/health/check.js";
import { ProbeMetrics } from "../../src/agent/health/metrics.js";
import { Prober } from "../../src/agent/health/prober.js";
import { healthProbeSchema, type DeclaredProbe, type HealthProbeInput } from "../../src/common/health-probe.js";
import { silentLogger } from "../../src/common/logger.js";
import { FakeTimers } from "../helpers/fake-timers.js";

const EP = { ip: "10.0.0.5", port: 14001 };

function probe(input: Partial<HealthProbeInput> = {}): DeclaredProbe {
  return { ...healthProbeSchema.parse({ port: EP.port, type: "http", path: "/healthz", periodSeconds: 10, timeoutSeconds: 1, ...input }), source: "agent" };
}

/** A check that answers from a script, one result per call; the last one repeats. */
function scripted(results: CheckResult[]): CheckFn & { calls: number } {
  const fn = Object.assign(async () => {
    const r = results[Math.min(fn.calls, results.length - 1)]!;
    fn.calls += 1;
    return r;
  }, { calls: 0 });
  return fn;
}

const OK: CheckResult = { ok: true };
const REFUSED: CheckResult = { ok: false, failure: "connection refused" };

function setup(t: import("node:test").TestContext, check: CheckFn, p = probe()) {
  const timers = new FakeTimers();
  const metrics = new ProbeMetrics();
  const prober = new Prober({ logger: silentLogger(), check, timers, metrics });
  t.after(() => prober.close());
  let changes = 0;
  prober.onChange(() => (changes += 1));
  prober.set([p], [EP]);
  const state = () => prober.health()[0]!;
  return { timers, prober, metrics, state, changes: () => changes };
}

test("unknown until the first result; one success makes it healthy; failureThreshold failures in a row make it unhealthy", async (t) => {
  const check = scripted([OK, REFUSED, REFUSED, OK, REFUSED, REFUSED, REFUSED]);
  const { timers, state } = setup(t, check, probe({ failureThreshold: 3 }));
  assert.equal(state().state, "unknown");
  await timers.advance(0);
  assert.equal(check.calls, 1, "the first check runs at once");
  assert.equal(state().state, "healthy");
  // Two failures, then a success: the count starts again.
  await timers.advance(30_000);
  assert.equal(check.calls, 4);
  assert.equal(state().state, "healthy");
  await timers.advance(20_000);
  assert.equal(state().state, "healthy", "two failures are below the threshold");
  await timers.advance(10_000);
  assert.equal(check.calls, 7);
  assert.equal(state().state, "unhealthy");
  assert.equal(state().reason, "probe failed: connection refused after 3 tries");
  assert.equal(state().source, "agent");
  assert.match(state().probe, /^http GET :14001\/healthz every 10s/);
});

test("unhealthy needs successThreshold successes in a row to return", async (t) => {
  const check = scripted([REFUSED, REFUSED, OK, REFUSED, OK, OK]);
  const { timers, state, changes } = setup(t, check, probe({ failureThreshold: 2, successThreshold: 2 }));
  await timers.advance(10_000);
  assert.equal(check.calls, 2);
  assert.equal(state().state, "unhealthy", "from unknown, failureThreshold failures");
  await timers.advance(20_000);
  assert.equal(state().state, "unhealthy", "one success, then a failure: not yet");
  await timers.advance(10_000);
  assert.equal(state().state, "unhealthy", "one success of two");
  await timers.advance(10_000);
  assert.equal(check.calls, 6);
  assert.equal(state().state, "healthy");
  assert.equal(state().reason, "probe succeeded 2 times in a row");
  assert.equal(changes(), 3, "configured, unhealthy, healthy");
});

test("a check that hangs is a failure after timeoutSeconds, and the schedule goes on", async (t) => {
  let calls = 0;
  let abortedBySignal = 0;
  const hang: CheckFn = (_p, _ip, signal) => {
    calls += 1;
    signal.addEventListener("abort", () => (abortedBySignal += 1));
    return new Promise<CheckResult>(() => undefined); // never settles, even when aborted
  };
  const { timers, state } = setup(t, hang, probe({ timeoutSeconds: 2, periodSeconds: 5, failureThreshold: 2 }));
  await timers.advance(1_999);
  assert.equal(state().state, "unknown", "not timed out yet");
  await timers.advance(1);
  assert.equal(abortedBySignal, 1, "the check's signal aborts at the timeout");
  assert.equal(calls, 1);
  // The next check starts one period after the previous one started (t = 5 s), and times out at 7 s.
  await timers.advance(3_000);
  assert.equal(calls, 2, "the second check started at 5 s");
  assert.equal(state().state, "unknown", "one failure of two");
  await timers.advance(2_000);
  assert.equal(state().state, "unhealthy");
  assert.equal(state().reason, "probe failed: timed out after 2s after 2 tries");
});

test("close() stops every timer and aborts the check in flight; set() keeps unchanged probes' state", async (t) => {
  const check = scripted([OK]);
  const { timers, prober, state } = setup(t, check);
  await timers.advance(0);
  assert.equal(state().state, "healthy");
  const since = state().since;
  prober.set([probe()], [EP]); // the same probe: nothing restarts
  assert.equal(state().state, "healthy");
  assert.equal(state().since, since);
  prober.set([probe({ path: "/ready" })], [EP]); // a changed probe starts from unknown
  assert.equal(state().state, "unknown");
  prober.set([probe({ port: 9999 })], [EP]); // guards no endpoint: nothing probed
  assert.deepEqual(prober.health(), []);
  prober.set([probe()], [EP]);
  assert.equal(timers.pending, 1);
  prober.close();
  assert.equal(timers.pending, 0, "no timer outlives close()");
  const before = check.calls;
  await timers.advance(60_000);
  assert.equal(check.calls, before);
  prober.set([probe()], [EP]);
  assert.deepEqual(prober.health(), [], "a closed prober takes no new probes");
});

test("metrics: results by endpoint and result, the healthy gauge and transitions", async (t) => {
  const check = scripted([OK, REFUSED, REFUSED, REFUSED]);
  const { timers, metrics } = setup(t, check);
  await timers.advance(30_000);
  const text = await metrics.text();
  assert.match(text, /meshfed_agent_probe_results_total\{ip="10\.0\.0\.5",port="14001",result="success"\} 1/);
  assert.match(text, /meshfed_agent_probe_results_total\{ip="10\.0\.0\.5",port="14001",result="failure"\} 3/);
  assert.match(text, /meshfed_agent_endpoint_healthy\{ip="10\.0\.0\.5",port="14001"\} 0/);
  assert.match(text, /meshfed_agent_endpoint_health_transitions_total\{ip="10\.0\.0\.5",port="14001",state="unhealthy"\} 1/);
});

test("real checks: TCP connect refused, HTTP 500 is a failure and 200 a success", async (t) => {
  let status = 500;
  const server = createServer((req, res) => {
    res.statusCode = req.url === "/healthz" ? status : 404;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const signal = new AbortController().signal;
  const http = healthProbeSchema.parse({ port, type: "http", path: "/healthz" });
  assert.deepEqual(await realCheck(http, "127.0.0.1", signal), { ok: false, failure: "HTTP 500" });
  status = 200;
  assert.deepEqual(await realCheck(http, "127.0.0.1", signal), { ok: true });
  assert.deepEqual(await realCheck({ ...http, path: "/other" }, "127.0.0.1", signal), { ok: false, failure: "HTTP 404" });
  assert.deepEqual(await realCheck(healthProbeSchema.parse({ port, type: "tcp" }), "127.0.0.1", signal), { ok: true });
  // A port nobody listens on: a server closed after binding it.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const freePort = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  assert.deepEqual(await realCheck(healthProbeSchema.parse({ port: freePort, type: "tcp" }), "127.0.0.1", signal), { ok: false, failure: "connection refused" });
  assert.deepEqual(await realCheck(healthProbeSchema.parse({ port: freePort, type: "http" }), "127.0.0.1", signal), { ok: false, failure: "connection refused" });
});
