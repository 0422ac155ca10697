import { test } from "node:test";
import assert from "node:assert/strict";
import type { RemoteRegistration } from "../../src/controller/ha/agent-registrations.js";
import { proxiesAcrossReplicas, remoteConnected } from "../../src/controller/ha/replica-proxies.js";
import type { ProxyInfo } from "../../src/controller/proxy-control-plane/session.js";

const P1 = "11111111-1111-4111-8111-111111111111";
const P2 = "22222222-2222-4222-8222-222222222222";
const P3 = "33333333-3333-4333-8333-333333333333";

const local: ProxyInfo = {
  proxyId: P1, service: "shop/web", serial: "aa", peer: "127.0.0.1:5000", addresses: ["10.0.0.1"], endpoints: [{ ip: "10.0.0.1", port: 80 }],
  agentVersion: "1", proxyVersion: "p", connectedAt: "2026-01-01T00:00:05.000Z", config: { version: 3, hash: "h", driver: "json" }, lastAck: null, health: null, serviceCertificate: null, capture: null,
};

const remote = (proxyId: string, replicaId: string, extra: Partial<RemoteRegistration> = {}): RemoteRegistration => ({
  proxyId, replicaId, service: "shop/web", endpoints: [{ ip: "10.0.0.2", port: 80 }], serial: "bb", addresses: ["10.0.0.2"], connectedAt: "2026-01-01T00:00:01.000Z", ...extra,
});

test("rows: a local stream beats any registration of the same proxy, the newest remote stream beats an older one, and old records still list", () => {
  const rows = proxiesAcrossReplicas([local], "r-a", [
    remote(P1, "r-b", { connectedAt: "2026-01-01T00:00:09.000Z" }),
    remote(P2, "r-b", { connectedAt: "2026-01-01T00:00:01.000Z" }),
    remote(P2, "r-c", { connectedAt: "2026-01-01T00:00:02.000Z" }),
    { proxyId: P3, replicaId: "r-old", service: "shop/api", endpoints: [] },
  ]);
  assert.deepEqual(rows.map((r) => [r.proxyId, r.replicaId, r.local]), [[P1, "r-a", true], [P2, "r-c", false], [P3, "r-old", false]]);
  assert.deepEqual(rows[1]!.config, null);
  assert.deepEqual([rows[2]!.serial, rows[2]!.connectedAt], ["", ""], "a record from before these fields: blanks, not a refusal");
});

test("connected: other replicas' proxies once each, none connected here, none without a serial", () => {
  const connected = [...remoteConnected([
    remote(P1, "r-b"),
    remote(P2, "r-b", { connectedAt: "2026-01-01T00:00:01.000Z", addresses: ["10.0.0.20"] }),
    remote(P2, "r-c", { connectedAt: "2026-01-01T00:00:02.000Z", addresses: ["10.0.0.21"] }),
    { proxyId: P3, replicaId: "r-old", service: "shop/api", endpoints: [] },
  ], new Set([P1]))];
  assert.deepEqual(connected, [{ proxyId: P2, service: { namespace: "shop", name: "web" }, serial: "bb", addresses: ["10.0.0.21"], connectedAt: "2026-01-01T00:00:02.000Z", via: "stream", replicaId: "r-c" }]);
});
