// The agents provider with replicas (docs/ha.md): announcements from this
// process and from other replicas, one proxy counted once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { AgentsProvider, type LocalAnnouncement } from "../../src/controller/providers/agents/provider.js";

const WEB = { namespace: "shop", name: "web" };
const P1 = "11111111-1111-4111-8111-111111111111";
const P2 = "22222222-2222-4222-8222-222222222222";

test("a proxy announced here and by another replica is counted once; each origin withdraws only its own", () => {
  const agents = new AgentsProvider();
  const local: LocalAnnouncement[] = [];
  agents.onLocal((a) => local.push(a));
  agents.announce(P1, WEB, [{ ip: "10.0.0.1", port: 80 }], "replica-b"); // it was on B
  agents.announce(P2, WEB, [{ ip: "10.0.0.2", port: 80 }], "replica-b");
  agents.announce(P1, WEB, [{ ip: "10.0.0.1", port: 80 }]); // and reconnected here before B's lease expired
  assert.deepEqual(agents.endpoints("shop/web"), [
    { ip: "10.0.0.1", port: 80, source: `proxy/${P1}` },
    { ip: "10.0.0.2", port: 80, source: `proxy/${P2}` },
  ]);
  agents.withdraw(P1, "replica-b"); // B's lease expired
  assert.deepEqual(agents.endpoints("shop/web")?.map((e) => e.ip), ["10.0.0.1", "10.0.0.2"]);
  agents.withdraw(P1);
  assert.deepEqual(agents.endpoints("shop/web")?.map((e) => e.ip), ["10.0.0.2"]);
  // Only this process's own streams are published to the other replicas.
  assert.deepEqual(local.map((a) => [a.proxyId, a.service]), [[P1, "shop/web"], [P1, undefined]]);
});

test("the same announcement again is no change (a reconnect within the grace); another replica's announcement is reported to onRemote", () => {
  const agents = new AgentsProvider();
  const changes: Array<readonly string[]> = [];
  const remote: string[] = [];
  agents.on("change", (keys) => changes.push(keys));
  agents.onRemote((proxyId) => remote.push(proxyId));
  agents.announce(P1, WEB, [{ ip: "10.0.0.1", port: 80, protocol: "http" }]);
  agents.announce(P1, WEB, [{ ip: "10.0.0.1", port: 80, protocol: "http" }]);
  assert.equal(changes.length, 1, "identical: no second change");
  agents.announce(P1, WEB, [{ ip: "10.0.0.1", port: 80, protocol: "tcp" }]);
  agents.announce(P1, WEB, [{ ip: "10.0.0.1", port: 80, protocol: "tcp" }, { ip: "10.0.0.1", port: 81 }]);
  assert.equal(changes.length, 3, "a field or an endpoint more is a change");
  assert.deepEqual(remote, []);
  agents.announce(P1, WEB, [{ ip: "10.0.0.1", port: 80 }], "replica-b");
  assert.deepEqual(remote, [P1]);
  // A proxy withdrawn (gone) and back with the same endpoints is a change: its tombstone goes.
  agents.withdraw(P2);
  agents.announce(P2, WEB, [{ ip: "10.0.0.2", port: 80 }]);
  agents.withdraw(P2);
  const before = Number(changes.length); // Number(): assert.equal above narrowed the length to a literal
  agents.announce(P2, WEB, [{ ip: "10.0.0.2", port: 80 }]);
  assert.equal(changes.length, before + 1);
});
