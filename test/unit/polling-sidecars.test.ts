import { test } from "node:test";
import assert from "node:assert/strict";
import { PollingSidecars, SIDECAR_STALE_MS } from "../../src/controller/proxy-control-plane/polling-sidecars.js";

const SERVICE = { namespace: "bookstore", name: "bookstore" };
const ID = "0b7c5a1e-4c38-4f3e-9a57-2f0b1a9c0d11";

test("polling sidecars: connected while polls are recent, gone after three missed polls", () => {
  let now = 1_000_000;
  const sidecars = new PollingSidecars({ now: () => now });
  sidecars.seen(ID, SERVICE, "aa", "10.0.0.1");
  const first = [...sidecars.connected()];
  assert.deepEqual(first, [{ proxyId: ID, service: SERVICE, serial: "aa", connectedAt: new Date(1_000_000).toISOString(), via: "repo", capture: "transparent", addresses: ["10.0.0.1"] }]);
  now += 5_000;
  sidecars.seen(ID, SERVICE, "aa", "10.0.0.1");
  now += SIDECAR_STALE_MS;
  assert.equal([...sidecars.connected()].length, 1, "exactly at the limit it still counts");
  assert.equal([...sidecars.connected()][0]?.connectedAt, new Date(1_000_000).toISOString(), "a poll keeps the first connection time");
  now += 1;
  assert.deepEqual([...sidecars.connected()], []);
  assert.equal(sidecars.size, 0, "stale entries are dropped, not kept forever");
  // Polling again after a gap is a new connection.
  sidecars.seen(ID, SERVICE, "aa", "10.0.0.1");
  assert.equal([...sidecars.connected()][0]?.connectedAt, new Date(now).toISOString());
});

test("polling sidecars: the pod locator gives addresses and the pod; forget drops a revoked proxy at once", () => {
  const sidecars = new PollingSidecars({ locate: (id) => (id === ID ? { addresses: ["10.244.1.7"], pod: "bookstore/bookstore-x" } : undefined) });
  sidecars.seen(ID, SERVICE, "aa", "127.0.0.1");
  const other = "1b7c5a1e-4c38-4f3e-9a57-2f0b1a9c0d12";
  sidecars.seen(other, SERVICE, "bb", "192.0.2.4");
  const byId = new Map([...sidecars.connected()].map((p) => [p.proxyId, p]));
  assert.deepEqual(byId.get(ID)?.addresses, ["10.244.1.7"]);
  assert.equal(byId.get(ID)?.pod, "bookstore/bookstore-x");
  assert.deepEqual(byId.get(other)?.addresses, ["192.0.2.4"], "unknown pod: the TLS peer address");
  assert.equal(byId.get(other)?.pod, undefined);
  sidecars.forget(ID);
  assert.deepEqual([...sidecars.connected()].map((p) => p.proxyId), [other]);
});
