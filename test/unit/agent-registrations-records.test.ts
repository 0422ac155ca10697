// Agent registrations between replicas (docs/ha.md): a record of an older
// replica (no stream details) still reads, and this replica writes its own
// only when the content changed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { silentLogger } from "../../src/common/logger.js";
import { AgentRegistrations, type StreamDetails } from "../../src/controller/ha/agent-registrations.js";
import { AgentsProvider } from "../../src/controller/providers/agents/provider.js";
import type { LeasedKeys } from "../../src/controller/store/types.js";
import { tempFileStore } from "../helpers/certificates.js";
import { waitFor } from "../helpers/wait.js";

const P1 = "11111111-1111-4111-8111-111111111111";
const P2 = "22222222-2222-4222-8222-222222222222";

test("an older replica's record reads; ours is written once per content, with the stream's details", async (t) => {
  const { store } = await tempFileStore(t);
  const writes: string[] = [];
  const leased: LeasedKeys = {
    ttlSeconds: 10,
    put: async (key, value) => {
      writes.push(`put ${key}`);
      await store.put(key, value);
    },
    delete: async (key) => {
      writes.push(`delete ${key}`);
      await store.delete(key);
    },
  };
  await store.put(`agent-registrations/${P2}.r-old`, JSON.stringify({ proxyId: P2, replicaId: "r-old", service: "shop/api", endpoints: [{ ip: "10.0.0.2", port: 80 }] }));
  const agents = new AgentsProvider();
  const stream: StreamDetails = { serial: "ab12", peer: "127.0.0.1:4000", addresses: ["10.0.0.1"], agentVersion: "1.2.3", proxyVersion: "pipy 1", connectedAt: "2026-01-01T00:00:00.000Z" };
  const registrations = new AgentRegistrations({ store, leased, replicaId: "r-a", agents, logger: silentLogger(), streamOf: (id) => (id === P1 ? stream : undefined) });
  const ac = new AbortController();
  t.after(() => ac.abort());
  await registrations.start(ac.signal);
  assert.deepEqual([...registrations.remote()].map((r) => [r.proxyId, r.replicaId, r.serial]), [[P2, "r-old", undefined]]);
  assert.deepEqual(agents.endpoints("shop/api")?.map((e) => e.ip), ["10.0.0.2"]);

  agents.announce(P1, { namespace: "shop", name: "web" }, [{ ip: "10.0.0.1", port: 80 }]);
  agents.announce(P1, { namespace: "shop", name: "web" }, [{ ip: "10.0.0.1", port: 80 }]);
  agents.announce(P1, { namespace: "shop", name: "web" }, [{ ip: "10.0.0.1", port: 81 }]);
  agents.withdraw(P1);
  const key = `agent-registrations/${P1}.r-a`;
  await waitFor(() => (writes.length === 3 ? true : undefined), { what: "three writes", timeoutMs: 2_000 });
  assert.deepEqual(writes, [`put ${key}`, `put ${key}`, `delete ${key}`], "the repeated announcement wrote nothing");
  assert.deepEqual([...registrations.remote()].map((r) => r.replicaId), ["r-old"], "our own records are not remote");
});

test("the record carries the stream's details for the other replicas", async (t) => {
  const { store } = await tempFileStore(t);
  const leased: LeasedKeys = { ttlSeconds: 10, put: (key, value) => store.put(key, value), delete: (key) => store.delete(key) };
  const agents = new AgentsProvider();
  const stream: StreamDetails = { serial: "ab12", peer: "127.0.0.1:4000", addresses: ["10.0.0.1"], agentVersion: "1.2.3", proxyVersion: "pipy 1", connectedAt: "2026-01-01T00:00:00.000Z" };
  const ac = new AbortController();
  t.after(() => ac.abort());
  await new AgentRegistrations({ store, leased, replicaId: "r-a", agents, logger: silentLogger(), streamOf: () => stream }).start(ac.signal);
  const other = new AgentRegistrations({ store, leased, replicaId: "r-b", agents: new AgentsProvider(), logger: silentLogger(), streamOf: () => undefined });
  await other.start(ac.signal);
  agents.announce(P1, { namespace: "shop", name: "web" }, [{ ip: "10.0.0.1", port: 80 }]);
  const seen = await waitFor(() => [...other.remote()][0], { what: "A's record on B", timeoutMs: 2_000 });
  assert.deepEqual(seen, { proxyId: P1, replicaId: "r-a", service: "shop/web", endpoints: [{ ip: "10.0.0.1", port: 80 }], ...stream });
});
