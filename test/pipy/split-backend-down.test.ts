// Issue 23 item 1, with real Pipy 1.5.18 sidecars: a TrafficSplit 50/50 over
// bookstore-v1 and bookstore-v2; under a steady load from bookbuyer, v2's
// agent (and with it its sidecar) stops while the hosts file still lists its
// host. Expected: no request fails — the retries of requests caught in the
// switch go to v1 (outbound.js), and the controller stops offering v2's
// endpoint to bookbuyer (catalog: endpoints whose proxy is gone).
// Runs only with PIPY_BIN set.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Agent as HttpAgent } from "node:http";
import { identityEchoApp } from "../helpers/echo-app.js";
import { meshCall, answeredBy } from "../helpers/mesh-call.js";
import { startPipyMesh, type MeshHost } from "../helpers/pipy-mesh.js";
import { loopbackNet } from "../helpers/loopback-net.js";

const PIPY_BIN = process.env.PIPY_BIN;
// A /24 of loopback of our own, chosen per run, so that neither other real-Pipy tests nor another copy of the suite on this machine collide.
const host = loopbackNet();
const IP = { bookbuyer: host(10), v1: host(21), v2: host(31) } as const;
const PORT = 14001;

const hosts: MeshHost[] = [
  { service: "bookbuyer/bookbuyer", ip: IP.bookbuyer, port: PORT },
  { service: "bookstore/bookstore-v1", ip: IP.v1, port: PORT },
  { service: "bookstore/bookstore-v2", ip: IP.v2, port: PORT },
];
const split = `apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: { name: bookstore-split, namespace: bookstore }
spec:
  service: bookstore
  backends: [{ service: bookstore-v1, weight: 50 }, { service: bookstore-v2, weight: 50 }]
`;
const access = `apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: { name: books, namespace: bookstore }
spec:
  matches: [{ name: all, pathRegex: ".*", methods: ["*"] }]
${["bookstore-v1", "bookstore-v2"].map((d) => `---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: { name: bookbuyer-to-${d}, namespace: bookstore }
spec:
  destination: { kind: ServiceAccount, name: ${d}, namespace: bookstore }
  rules: [{ kind: HTTPRouteGroup, name: books, matches: [all] }]
  sources: [{ kind: ServiceAccount, name: bookbuyer, namespace: bookbuyer }]
`).join("")}`;

/** GET /books through bookbuyer's sidecar: the answering backend's name, or the failure. */
function buy(agent: HttpAgent): Promise<string> {
  return answeredBy(meshCall({ from: IP.bookbuyer, host: "bookstore.bookstore", path: "/books", agent }), "service");
}

test("a split backend's agent stops under load: 0 failed requests, v1 takes all of it", async (t) => {
  if (PIPY_BIN === undefined) return t.skip("PIPY_BIN not set: real Pipy tests skipped");
  await identityEchoApp(t, "bookstore-v1", IP.v1, PORT);
  await identityEchoApp(t, "bookstore-v2", IP.v2, PORT);
  const mesh = await startPipyMesh(t, { pipy: PIPY_BIN, hosts, protocols: {}, policies: { split, access } });
  const pool = new HttpAgent({ keepAlive: true, maxSockets: 8 });
  t.after(() => pool.destroy());

  // Both backends serve before anything stops (the split's config reached bookbuyer).
  const warm = new Set<string>();
  const deadline = Date.now() + 30_000;
  while (warm.size < 2 && Date.now() < deadline) warm.add(await buy(pool));
  assert.deepEqual([...warm].sort(), ["bookstore-v1", "bookstore-v2"]);

  // Eight clients in a loop, GETs (idempotent: a request whose peer connection closed before any answer is retried).
  const outcomes: Array<{ at: number; outcome: string }> = [];
  let running = true;
  const loops = Array.from({ length: 8 }, async () => {
    while (running) outcomes.push({ at: Date.now(), outcome: await buy(pool) });
  });
  // Some load before the stop, then v2's agent stops (its Pipy with it); the hosts file keeps listing v2's host.
  while (outcomes.length < 400) await new Promise((r) => setTimeout(r, 20));
  const stoppedAt = Date.now();
  await mesh.agents[IP.v2]!.close();
  const closedAt = Date.now();
  // Load after the stop: at least 600 requests and 3 s (the config push to bookbuyer takes well under 1 s).
  while (outcomes.filter((o) => o.at > closedAt).length < 600 || Date.now() < closedAt + 3_000) await new Promise((r) => setTimeout(r, 20));
  running = false;
  await Promise.all(loops);

  const failed = outcomes.filter((o) => !o.outcome.startsWith("bookstore-"));
  const after = outcomes.filter((o) => o.at > closedAt + 1_000);
  const count = (list: typeof outcomes) => list.reduce<Record<string, number>>((m, o) => ({ ...m, [o.outcome]: (m[o.outcome] ?? 0) + 1 }), {});
  t.diagnostic(`requests ${outcomes.length} (before the stop ${outcomes.filter((o) => o.at < stoppedAt).length}); agent close took ${closedAt - stoppedAt} ms; failed ${failed.length}`);
  t.diagnostic(`outcomes while the agent closed: ${JSON.stringify(count(outcomes.filter((o) => o.at >= stoppedAt && o.at <= closedAt)))}`);
  for (const f of failed.slice(0, 10)) t.diagnostic(`failed ${f.at - stoppedAt} ms after the stop began: ${f.outcome}`);
  t.diagnostic(`outcomes more than 1 s after the agent closed: ${JSON.stringify(count(after))}`);
  assert.deepEqual(failed, [], "no request failed");
  assert.ok(after.length > 0 && after.every((o) => o.outcome === "bookstore-v1"), "after the switch, v1 answers everything");
});
