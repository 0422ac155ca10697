// Real Pipy, transparent capture, two network namespaces (issues 14 and 15):
// unchanged applications in host a call peers by their real address and by
// a mesh VIP with plain http.get / net.connect; nat OUTPUT rules send that
// to bookbuyer's sidecar, which speaks mTLS to the sidecars in host b.
// Needs root, iproute2, iptables and PIPY_BIN; skipped (visibly) otherwise:
// `PIPY_BIN=/path/to/pipy node --test dist/test/pipy/transparent-netns.test.js`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { netnsUnavailable } from "../helpers/netns.js";
import { PORTS, VIP, startMesh } from "../helpers/netns-mesh.js";
import { scaled } from "../helpers/wait.js";

const PIPY_BIN = process.env.PIPY_BIN;

interface HttpRun { statuses: Record<string, number>; bodies: Record<string, number>; error?: string }
interface FramedRun { name?: string; roundTrips?: number; perSecond?: number; p99?: number; error?: string }
interface SplitRun { counts: Record<string, number>; failed: number; errors: string[]; error?: string }

test("transparent capture with a real Pipy: HTTP to a peer's address and to a VIP over mTLS, 1,000 TCP round trips, a 70/30 TCP split, passthrough and deny", { timeout: scaled(540_000) }, async (t) => {
  if (PIPY_BIN === undefined) return t.skip("PIPY_BIN not set: real Pipy tests skipped");
  const why = await netnsUnavailable();
  if (why !== undefined) return t.skip(why);
  const mesh = await startMesh(t, PIPY_BIN);
  const served = JSON.stringify({ service: "bookstore", peer: "bookbuyer.shop.svc.cluster.local" });

  // The peer's real ip:port, and the mesh VIP: both reach bookstore through
  // its sidecar, which saw bookbuyer's verified certificate.
  for (const url of [`http://${mesh.b2}:${PORTS.http}/books`, `http://${VIP.bookstore}:${PORTS.http}/books`]) {
    const r = await mesh.client<HttpRun>({ mode: "http", url, count: 20 });
    assert.deepEqual(r.statuses, { 200: 20 }, `${url}: ${JSON.stringify(r)}\n${mesh.logs()}`);
    assert.deepEqual(r.bodies, { [served]: 20 }, url);
  }

  // A framed, server-speaks-first TCP protocol: 1,000 round trips on one
  // connection to db-a's real address (db-a is a service of its own here).
  const framed = await mesh.client<FramedRun>({ mode: "framed", host: mesh.b2, port: PORTS.framed, roundTrips: 1000 });
  assert.equal(framed.error, undefined, framed.error);
  assert.deepEqual([framed.name, framed.roundTrips], ["db-a", 1000]);
  t.diagnostic(`framed TCP through two sidecars: ${framed.perSecond?.toFixed(0)} round trips/s, p99 ${framed.p99?.toFixed(2)} ms`);

  // shop/db's VIP: a TrafficSplit 70/30 over db-a and db-b, per connection.
  const connections = 400;
  const split = await mesh.client<SplitRun>({ mode: "split", host: VIP.db, port: PORTS.framed, connections });
  assert.equal(split.failed, 0, JSON.stringify(split));
  const share = (split.counts["db-a"] ?? 0) / connections;
  t.diagnostic(`TCP split over ${connections} connections: ${JSON.stringify(split.counts)}`);
  assert.ok(Math.abs(share - 0.7) <= 0.05, `db-a share ${share}`);

  // Not a mesh destination: passes through (the server sees no mesh identity)...
  const outside = await mesh.client<HttpRun>({ mode: "http", url: `http://${mesh.b2}:${PORTS.outside}/`, count: 3 });
  assert.deepEqual(outside.bodies, { [JSON.stringify({ service: "outside", peer: null })]: 3 }, JSON.stringify(outside));
  // ... and a mesh address on a port the service does not have is not a mesh destination either.
  const wrongPort = await mesh.client<HttpRun>({ mode: "http", url: `http://${VIP.bookstore}:${PORTS.outside}/`, count: 1 });
  assert.deepEqual(wrongPort.statuses, { 0: 1 }, "a VIP has nothing behind it outside the mesh");

  // ... and is refused when the mesh says deny, counted in the sidecar's metrics.
  await mesh.restartClientProxy(false);
  const denied = await mesh.client<HttpRun>({ mode: "http", url: `http://${mesh.b2}:${PORTS.outside}/`, count: 3 });
  assert.deepEqual(denied.statuses, { 0: 3 }, JSON.stringify(denied));
  assert.match(await mesh.clientMetrics(), /meshfed_denied_total\{direction="outbound",reason="not-a-mesh-destination"\} 3/);
  // Mesh traffic is unaffected by deny.
  const still = await mesh.client<HttpRun>({ mode: "http", url: `http://${VIP.bookstore}:${PORTS.http}/books`, count: 5 });
  assert.deepEqual(still.statuses, { 200: 5 });
});
