import { test } from "node:test";
import assert from "node:assert/strict";
import { PublishedView } from "../../src/controller/ha/published-view.js";
import type { MeshfedError } from "../../src/common/errors.js";
import type { ServiceEndpoints } from "../../src/controller/providers/types.js";
import { tempFileStore } from "../helpers/certificates.js";
import { waitFor } from "../helpers/wait.js";

const web = (ips: string[]): ServiceEndpoints[] => [{ service: { namespace: "shop", name: "web" }, endpoints: ips.map((ip) => ({ ip, port: 8080, source: `/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/${ip}` })) }];

test("a view is written only when it changed or another replica wrote last, with a growing generation", async (t) => {
  const { store } = await tempFileStore(t);
  const a = new PublishedView({ store, provider: "azure", replicaId: "a" });
  const b = new PublishedView({ store, provider: "azure", replicaId: "b" });
  const first = await a.publish(web(["10.0.0.1"]));
  assert.equal(first.generation, 1);
  assert.equal((await a.publish(web(["10.0.0.1"]))).generation, 1, "same services: no write");
  assert.equal((await a.publish(web(["10.0.0.1", "10.0.0.2"]))).generation, 2);
  const taken = await b.publish(web(["10.0.0.1", "10.0.0.2"]));
  assert.deepEqual([taken.replicaId, taken.generation], ["b", 3], "a new leader claims the view once");
  const stored = JSON.parse(Buffer.from((await store.get("provider-views/azure"))!).toString("utf8")) as { replicaId: string; services: unknown[] };
  assert.equal(stored.replicaId, "b");
  assert.equal(stored.services.length, 1);
});

test("a view over the size limit is refused with an error naming the limit, and the stored one stays", async (t) => {
  const { store } = await tempFileStore(t);
  const view = new PublishedView({ store, provider: "azure", replicaId: "a", maxBytes: 600 });
  await view.publish(web(["10.0.0.1"]));
  const many = web(Array.from({ length: 20 }, (_, i) => `10.0.1.${i}`));
  await assert.rejects(view.publish(many), (err: MeshfedError) => {
    assert.equal(err.code, "MESHFED_VIEW_TOO_LARGE");
    assert.match(err.message, /over the 600-byte limit.*--max-request-bytes, 1\.5 MiB by default/);
    return true;
  });
  const stored = JSON.parse(Buffer.from((await store.get("provider-views/azure"))!).toString("utf8")) as { generation: number };
  assert.equal(stored.generation, 1);
});

test("a follower is told of every valid record and refuses a corrupt one; a corrupt record does not reset the generation", async (t) => {
  const { store } = await tempFileStore(t);
  const leader = new PublishedView({ store, provider: "azure", replicaId: "a" });
  await leader.publish(web(["10.0.0.1"]));
  const follower = new PublishedView({ store, provider: "azure", replicaId: "b" });
  const ac = new AbortController();
  t.after(() => ac.abort());
  const seen: number[] = [];
  const refused: string[] = [];
  const initial = await follower.follow(ac.signal, (r) => seen.push(r.generation), (err) => refused.push(err.code));
  assert.equal(initial?.generation, 1);
  await store.put("provider-views/azure", JSON.stringify({ replicaId: "a", generation: 2, publishedAt: new Date().toISOString(), services: [{ namespace: "shop", name: "web", endpoints: [{ ip: "10.0.0.9", port: 0, source: "x" }] }] }));
  await store.put("provider-views/azure", "{not json");
  const repaired = await leader.publish(web(["10.0.0.1"]));
  assert.equal(repaired.generation, 2, "the leader's own count carries on past the corrupt record");
  await waitFor(() => seen.length > 0, { what: "the repaired view followed" });
  assert.deepEqual(refused, ["MESHFED_VIEW_CORRUPT", "MESHFED_VIEW_CORRUPT"]);
  assert.deepEqual(seen, [2]);
});
