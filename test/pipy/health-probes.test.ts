// Issue 18 item 6 on real traffic, with real Pipy 1.5.18 sidecars: two
// backends of bookstore behind agents that probe GET /healthz every second
// (failureThreshold 2). Under a steady load from bookbuyer, backend a's
// /healthz starts answering 500 (its port stays open, its other paths still
// answer 200). Expected: a gets no traffic within periodSeconds ×
// failureThreshold plus the push time, b takes everything, nothing fails;
// once /healthz answers 200 again, a gets traffic again.
// Runs only with PIPY_BIN set.
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { Agent as HttpAgent, createServer } from "node:http";
import { meshCall, answeredBy } from "../helpers/mesh-call.js";
import { startPipyMesh, type MeshHost } from "../helpers/pipy-mesh.js";
import { loopbackNet } from "../helpers/loopback-net.js";

const PIPY_BIN = process.env.PIPY_BIN;
// A /24 of loopback of our own, chosen per run, so that neither other real-Pipy tests nor another copy of the suite on this machine collide.
const host = loopbackNet();
const IP = { bookbuyer: host(10), a: host(21), b: host(22) } as const;
const PORT = 14001;
const PERIOD_S = 1;
const FAILURES = 2;
const probe = { port: PORT, type: "http", path: "/healthz", periodSeconds: PERIOD_S, timeoutSeconds: 1, failureThreshold: FAILURES, successThreshold: 1 } as const;

const hosts: MeshHost[] = [
  { service: "bookbuyer/bookbuyer", ip: IP.bookbuyer, port: PORT },
  { service: "bookstore/bookstore", ip: IP.a, port: PORT, probes: [probe] },
  { service: "bookstore/bookstore", ip: IP.b, port: PORT, probes: [probe] },
];
const access = `apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: { name: books, namespace: bookstore }
spec:
  matches: [{ name: all, pathRegex: ".*", methods: ["*"] }]
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: { name: bookbuyer-to-bookstore, namespace: bookstore }
spec:
  destination: { kind: ServiceAccount, name: bookstore, namespace: bookstore }
  rules: [{ kind: HTTPRouteGroup, name: books, matches: [all] }]
  sources: [{ kind: ServiceAccount, name: bookbuyer, namespace: bookbuyer }]
`;

/** A backend that names itself on every path but /healthz, whose status the test sets. */
async function backend(t: import("node:test").TestContext, name: string, ip: string): Promise<{ setHealth(status: number): void }> {
  let health = 200;
  const server = createServer((req, res) => {
    if (req.url === "/healthz") {
      res.statusCode = health;
      return res.end();
    }
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ backend: name }));
  });
  server.listen(PORT, ip);
  await once(server, "listening");
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return { setHealth: (s) => (health = s) };
}

/** GET /books through bookbuyer's sidecar: the answering backend's name, or the failure. */
function buy(agent: HttpAgent): Promise<string> {
  return answeredBy(meshCall({ from: IP.bookbuyer, host: "bookstore.bookstore", path: "/books", agent }), "backend");
}

test("a backend whose /healthz answers 500 gets no traffic within period × failureThreshold + push; it returns when healthy", async (t) => {
  if (PIPY_BIN === undefined) return t.skip("PIPY_BIN not set: real Pipy tests skipped");
  const apps = { a: await backend(t, "a", IP.a), b: await backend(t, "b", IP.b) };
  await startPipyMesh(t, { pipy: PIPY_BIN, hosts, protocols: {}, policies: { access } });
  const pool = new HttpAgent({ keepAlive: true, maxSockets: 4 });
  t.after(() => pool.destroy());

  const warm = new Set<string>();
  const deadline = Date.now() + 30_000;
  while (warm.size < 2 && Date.now() < deadline) warm.add(await buy(pool));
  assert.deepEqual([...warm].sort(), ["a", "b"], "both backends serve before the probe fails");

  const outcomes: Array<{ at: number; outcome: string }> = [];
  let running = true;
  const loops = Array.from({ length: 4 }, async () => {
    while (running) {
      outcomes.push({ at: Date.now(), outcome: await buy(pool) });
      await new Promise((r) => setTimeout(r, 5));
    }
  });
  while (outcomes.length < 100) await new Promise((r) => setTimeout(r, 20));

  const failedAt = Date.now();
  apps.a.setHealth(500);
  const bound = PERIOD_S * FAILURES * 1000;
  // Long enough for the withdrawal and a quiet window after it: bound + 2 s of push allowance + 3 s.
  while (Date.now() < failedAt + bound + 5_000) await new Promise((r) => setTimeout(r, 50));
  const lastA = outcomes.filter((o) => o.outcome === "a" && o.at >= failedAt).reduce((m, o) => Math.max(m, o.at), failedAt);
  const afterWithdrawal = outcomes.filter((o) => o.at > failedAt + bound + 2_000);

  const restoredAt = Date.now();
  apps.a.setHealth(200);
  let backAt: number | undefined;
  while (Date.now() < restoredAt + 15_000 && backAt === undefined) {
    await new Promise((r) => setTimeout(r, 50));
    backAt = outcomes.find((o) => o.at > restoredAt && o.outcome === "a")?.at;
  }
  running = false;
  await Promise.all(loops);

  const failed = outcomes.filter((o) => o.outcome !== "a" && o.outcome !== "b");
  const count = (list: typeof outcomes) => list.reduce<Record<string, number>>((m, o) => ({ ...m, [o.outcome]: (m[o.outcome] ?? 0) + 1 }), {});
  t.diagnostic(`requests ${outcomes.length}; failed ${failed.length}; probe period ${PERIOD_S}s × failureThreshold ${FAILURES} = ${bound} ms`);
  t.diagnostic(`last request served by a: ${lastA - failedAt} ms after its /healthz began answering 500`);
  t.diagnostic(`outcomes from ${bound + 2_000} ms after the failure until the restore: ${JSON.stringify(count(afterWithdrawal))}`);
  t.diagnostic(`first request served by a again: ${backAt === undefined ? "never" : `${backAt - restoredAt} ms`} after /healthz answered 200 again`);
  for (const f of failed.slice(0, 10)) t.diagnostic(`failed at ${f.at - failedAt} ms: ${f.outcome}`);
  assert.deepEqual(failed, [], "no request failed: the other backend took the traffic");
  assert.ok(lastA - failedAt <= bound + 2_000, `a served its last request ${lastA - failedAt} ms after the failure (bound ${bound} ms + 2 s push allowance)`);
  assert.ok(afterWithdrawal.length > 0 && afterWithdrawal.every((o) => o.outcome === "b"), "after the withdrawal, b answers everything");
  assert.ok(backAt !== undefined, "a gets traffic again once healthy");
});
