// Issue 18 items 4 and 5 on real traffic, with real Pipy 1.5.18 sidecars:
// UpstreamTrafficSetting (circuit breaking on the client side, a local rate
// limit on the upstream's inbound side) and Retry (an injected 503 retried,
// numRetries 0 letting it through, a per-try timeout cutting a slow try).
// The policies are given to the renderer directly (the file store learns
// these kinds in another change): the test's driver puts them into each view
// with the catalog's own withResilience. Runs only with PIPY_BIN set.
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { Agent as HttpAgent, createServer } from "node:http";
import { ResilienceIndex, withResilience } from "../../src/controller/catalog/resilience-view.js";
import type { Retry, UpstreamTrafficSetting } from "../../src/controller/spec/policy-types.js";
import { meshCall, type MeshAnswer } from "../helpers/mesh-call.js";
import { startPipyMesh, type MeshHost } from "../helpers/pipy-mesh.js";
import { waitFor } from "../helpers/wait.js";
import { loopbackNet } from "../helpers/loopback-net.js";

const PIPY_BIN = process.env.PIPY_BIN;
// A /24 of loopback of our own, chosen per run, so that neither other real-Pipy tests nor another copy of the suite on this machine collide.
const host = loopbackNet();
const IP = { bookbuyer: host(10), bookstore: host(21), inventory: host(31), warehouse: host(41) } as const;
const PORT = 14001;
const RATE = 20;

const hosts: MeshHost[] = [
  { service: "bookbuyer/bookbuyer", ip: IP.bookbuyer, port: PORT },
  { service: "bookstore/bookstore", ip: IP.bookstore, port: PORT },
  { service: "bookstore/inventory", ip: IP.inventory, port: PORT },
  { service: "bookstore/warehouse", ip: IP.warehouse, port: PORT },
];
const access = `apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: { name: all, namespace: bookstore }
spec:
  matches: [{ name: all, pathRegex: ".*", methods: ["*"] }]
${["bookstore", "inventory", "warehouse"].map((d) => `---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: { name: bookbuyer-to-${d}, namespace: bookstore }
spec:
  destination: { kind: ServiceAccount, name: ${d}, namespace: bookstore }
  rules: [{ kind: HTTPRouteGroup, name: all, matches: [all] }]
  sources: [{ kind: ServiceAccount, name: bookbuyer, namespace: bookbuyer }]
`).join("")}`;

const meta = (name: string) => ({ namespace: "bookstore", name, origin: "resilience.test" });
const bookbuyer = { kind: "ServiceAccount", namespace: "bookbuyer", name: "bookbuyer" } as const;
const retries: Retry[] = [
  {
    ...meta("bookstore-retry"), source: bookbuyer, destinations: [{ kind: "Service", namespace: "bookstore", name: "bookstore" }],
    retryPolicy: { retryOn: ["5xx"], numRetries: 1, perTryTimeoutMs: 1000, retryBackoffBaseIntervalMs: 200 },
  },
  {
    ...meta("inventory-no-retry"), source: bookbuyer, destinations: [{ kind: "Service", namespace: "bookstore", name: "inventory" }],
    retryPolicy: { retryOn: ["5xx"], numRetries: 0 },
  },
];
const settings: UpstreamTrafficSetting[] = [
  {
    ...meta("bookstore-limits"), host: "bookstore.bookstore.svc.cluster.local", service: { namespace: "bookstore", name: "bookstore" },
    http: { maxRequests: 2 }, httpRoutes: [],
  },
  {
    ...meta("inventory-rate"), host: "inventory.bookstore.svc.cluster.local", service: { namespace: "bookstore", name: "inventory" },
    rateLimit: { http: { amount: RATE, unit: "second", burst: 0, responseHeadersToAdd: [{ name: "x-limited", value: "yes" }] } }, httpRoutes: [],
  },
  {
    ...meta("warehouse-breaker"), host: "warehouse.bookstore.svc.cluster.local", service: { namespace: "bookstore", name: "warehouse" },
    http: { requestTimeoutMs: 1500, circuitBreaking: { statTimeWindowMs: 60_000, minRequestAmount: 3, errorAmountThreshold: 3, degradedTimeWindowMs: 2000, degradedResponseContent: "degraded" } },
    httpRoutes: [],
  },
];
const index = new ResilienceIndex({ upstreamTrafficSettings: settings, retries });

/**
 * The app behind each upstream sidecar. /ok: 200. /fail: 503. /fail-once/ID:
 * 503 the first time for ID, then 200. /slow-once/ID: the first time for ID
 * answers after 4 s, then at once. Every answer names the service and the
 * attempt (how many times this path was asked), and x-path the path. /slow: after 4 s.
 */
async function app(t: { after(fn: () => unknown): void }, name: string, host: string): Promise<void> {
  const seen = new Map<string, number>();
  const server = createServer((req, res) => {
    const path = req.url ?? "/";
    const n = (seen.get(path) ?? 0) + 1;
    seen.set(path, n);
    req.resume();
    const answer = (status: number) => {
      res.writeHead(status, { "content-type": "text/plain", "x-path": path });
      res.end(`${name} ${status} attempt ${n}`);
    };
    if (path === "/fail") return answer(503);
    if (path === "/slow") {
      const timer = setTimeout(() => answer(200), 4000);
      res.on("close", () => clearTimeout(timer));
      return;
    }
    if (path.startsWith("/fail-once/")) return answer(n === 1 ? 503 : 200);
    if (path.startsWith("/slow-once/") && n === 1) {
      const timer = setTimeout(() => answer(200), 4000);
      res.on("close", () => clearTimeout(timer));
      return;
    }
    answer(200);
  });
  server.listen(PORT, host);
  await once(server, "listening");
  t.after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
}

function call(agent: HttpAgent, service: string, path: string, method = "GET"): Promise<MeshAnswer> {
  return meshCall({ from: IP.bookbuyer, host: `${service}.bookstore`, path, method, agent, timeoutMs: 15_000, ...(method === "POST" ? { body: "a body" } : {}) });
}

test("UpstreamTrafficSetting and Retry on real traffic: retry, per-try timeout, circuit breaker, rate limit", async (t) => {
  if (PIPY_BIN === undefined) return t.skip("PIPY_BIN not set: real Pipy tests skipped");
  for (const name of ["bookstore", "inventory", "warehouse"] as const) await app(t, name, IP[name]);
  await startPipyMesh(t, {
    pipy: PIPY_BIN, hosts, protocols: {}, policies: { access },
    driver: (base) => ({ name: base.name, render: (view) => base.render(withResilience(view, index)) }),
  });
  const pool = new HttpAgent({ keepAlive: true, maxSockets: 8 });
  t.after(() => pool.destroy());
  for (const s of ["bookstore", "inventory", "warehouse"]) {
    await waitFor(async () => (await call(pool, s, "/ok")).status === 200, { what: `${s} reachable through bookbuyer's sidecar`, timeoutMs: 60_000 });
  }

  await t.test("Retry: an injected 503 becomes a 200 on the second attempt", async () => {
    const a = await call(pool, "bookstore", "/fail-once/a");
    assert.equal(a.status, 200, a.body);
    assert.equal(a.body, "bookstore 200 attempt 2");
    t.diagnostic(`503 then 200 in ${a.ms} ms (backoff uniform in [0, 200) ms)`);
  });

  await t.test("numRetries 0: the 503 reaches the client", async () => {
    const a = await call(pool, "inventory", "/fail-once/b");
    assert.equal(a.status, 503, a.body);
    assert.equal(a.body, "inventory 503 attempt 1");
  });

  await t.test("no Retry object: the default never retries a POST answered 503", async () => {
    const a = await call(pool, "warehouse", "/fail-once/c", "POST");
    assert.equal(a.status, 503, a.body);
    assert.equal(a.body, "warehouse 503 attempt 1");
  });

  await t.test("perTryTimeout: a slow first try is cut after 1 s and the retry answers", async () => {
    const a = await call(pool, "bookstore", "/slow-once/d");
    t.diagnostic(`slow-once answered ${a.status} in ${a.ms} ms: ${a.body}`);
    assert.equal(a.status, 200, a.body);
    assert.equal(a.body, "bookstore 200 attempt 2");
    assert.ok(a.ms >= 900 && a.ms < 3500, `answered in ${a.ms} ms: after the 1 s per-try timeout, well before the slow try's 4 s`);
  });

  await t.test("after a cut try, answers still match their requests (the late answer of the cut try goes nowhere)", async () => {
    const until = Date.now() + 4000;
    let n = 0;
    while (Date.now() < until) {
      const path = `/echo/${n++}`;
      const a = await call(pool, "bookstore", path);
      assert.equal(a.status, 200, a.body);
      assert.equal(a.headers["x-path"], path);
    }
    t.diagnostic(`${n} requests answered in order while the cut try's answer was due`);
  });

  await t.test("maxRequests 2: a third request in progress is answered 503 at once; the holds are released", async () => {
    const slow = [call(pool, "bookstore", "/slow"), call(pool, "bookstore", "/slow")];
    await new Promise((r) => setTimeout(r, 300));
    const third = await call(pool, "bookstore", "/ok");
    assert.equal(third.status, 503, third.body);
    assert.match(third.body, /too many requests in progress/);
    assert.ok(third.ms < 500, `refused in ${third.ms} ms`);
    const answers = await Promise.all(slow);
    assert.deepEqual(answers.map((a) => a.status), [504, 504], "each slow request: two tries cut by the per-try timeout");
    const after = await call(pool, "bookstore", "/ok");
    assert.equal(after.status, 200, `released: ${after.body}`);
  });

  await t.test("circuit breaker: opens after 3 errors, answers 409 while open, closes after degradedTimeWindow", async () => {
    // The POST above was the first error in this window; two more open the breaker.
    for (let i = 0; i < 2; i++) assert.equal((await call(pool, "warehouse", "/fail")).status, 503);
    const open = await call(pool, "warehouse", "/ok");
    const openedAt = Date.now();
    assert.equal(open.status, 409, open.body);
    assert.equal(open.body, "degraded");
    let closed: MeshAnswer | undefined;
    await waitFor(async () => (closed = await call(pool, "warehouse", "/ok")).status === 200, { what: "the breaker closes", timeoutMs: 60_000 });
    const after = Date.now() - openedAt;
    t.diagnostic(`breaker closed ${after} ms after the first degraded answer (degradedTimeWindow 2000 ms)`);
    assert.equal(closed!.body.startsWith("warehouse 200"), true);
    assert.ok(after >= 1500 && after < 5000, `closed after ${after} ms`);
  });

  await t.test("requestTimeout: a request the upstream does not answer in time gets 504 after 1.5 s", async () => {
    const a = await call(pool, "warehouse", "/slow");
    t.diagnostic(`slow answered ${a.status} in ${a.ms} ms: ${a.body}`);
    assert.equal(a.status, 504, a.body);
    assert.ok(a.ms >= 1400 && a.ms < 3500, `answered in ${a.ms} ms`);
  });

  await t.test("rate limit: 20 requests/s hold within 10 %", async () => {
    assert.equal(RATE, 20, "the name above says 20");
    const outcomes: { at: number; status: number; limited: boolean }[] = [];
    const started = Date.now();
    let running = true;
    const loops = Array.from({ length: 4 }, async () => {
      while (running) {
        const a = await call(pool, "inventory", "/ok");
        outcomes.push({ at: Date.now() - started, status: a.status, limited: a.headers["x-limited"] === "yes" });
      }
    });
    await new Promise((r) => setTimeout(r, 5000));
    running = false;
    await Promise.all(loops);
    // The first second drains the bucket; the rate is measured over the next four.
    const window = outcomes.filter((o) => o.at >= 1000 && o.at < 5000);
    const ok = window.filter((o) => o.status === 200).length;
    const refused = window.filter((o) => o.status === 429);
    const rate = ok / 4;
    t.diagnostic(`${outcomes.length} requests in 5 s; over 4 s: ${ok} answered 200 (${rate.toFixed(2)}/s), ${refused.length} refused 429`);
    assert.ok(refused.length > 0 && refused.every((o) => o.limited), "refusals are 429 with the configured header");
    assert.deepEqual(window.filter((o) => o.status !== 200 && o.status !== 429), [], "nothing but 200 and 429");
    assert.ok(Math.abs(rate - RATE) <= RATE * 0.1, `${rate}/s within 10 % of ${RATE}/s`);
  });
});
