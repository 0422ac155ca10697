// One render per distinct view (issue 17): the Pipy driver renders the shared
// /view.json once per distinct view inputs and gives every proxy that has them
// the same frozen file; config.json stays per proxy. Views come from the real
// catalog (a ring of TrafficTargets, several proxies per service), renders are
// counted by the driver's own statistics.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { MeshCatalog } from "../../src/controller/catalog/catalog.js";
import type { ProxyView } from "../../src/controller/catalog/types.js";
import { silentLogger } from "../../src/common/logger.js";
import { buildPipyConfig, mergePipyConfig, PipyDriver } from "../../src/controller/drivers/pipy/pipy-driver.js";
import { buildPipyProxyConfig, buildPipyView, pipyProxyConfigJson, pipyViewInputs, type PipyProxyConfigV1, type PipyViewV1 } from "../../src/controller/drivers/pipy/pipy-config.js";
import { canonicalJson } from "../../src/controller/drivers/config-hash.js";
import type { TrafficTarget, TCPRoute } from "../../src/controller/spec/types.js";
import { FakeConnected, FakeProvider, FakeSpec } from "../helpers/fake-sources.js";
import { effectiveConfig } from "../helpers/pipyjs.js";
import { VIEWS } from "./pipy-fixtures.js";

const SERVICES = 3;
const PER_SERVICE = 4;
const ip = (s: number, k: number) => `10.0.${s}.${k + 1}`;
const sa = (name: string) => ({ kind: "ServiceAccount" as const, namespace: "ring", name });

/** svc-s may call svc-(s+1) over any TCP port; each service has PER_SERVICE endpoints, one proxy on each. */
function ring(t: TestContext): { provider: FakeProvider; catalog: MeshCatalog; views: () => ProxyView[][] } {
  const provider = new FakeProvider("onprem");
  for (let s = 0; s < SERVICES; s++) provider.set(`ring/svc-${s}`, Array.from({ length: PER_SERVICE }, (_, k) => `${ip(s, k)}:8080`), false);
  const spec = new FakeSpec();
  const any: TCPRoute = { namespace: "ring", name: "any", origin: "t#any", ports: [] };
  const targets: TrafficTarget[] = Array.from({ length: SERVICES }, (_, s) => ({
    namespace: "ring", name: `tt-${s}`, origin: `t#${s}`, destination: sa(`svc-${(s + 1) % SERVICES}`), sources: [sa(`svc-${s}`)],
    rules: [{ kind: "TCPRoute", name: "any", matches: [] }],
  }));
  spec.set({ trafficTargets: targets, tcpRoutes: [any] });
  const catalog = new MeshCatalog({
    providers: [provider], spec, certificates: { certificates: () => [] }, connected: new FakeConnected(),
    providerPriority: [], permissive: false, coalesceMs: 1_000_000, logger: silentLogger(),
  });
  const ac = new AbortController();
  catalog.start(ac.signal);
  t.after(() => ac.abort());
  catalog.flush();
  const views = () => Array.from({ length: SERVICES }, (_, s) => Array.from({ length: PER_SERVICE }, (_, k) =>
    catalog.proxyView({ proxyId: `p-${s}-${k}`, service: { namespace: "ring", name: `svc-${s}` }, addresses: [ip(s, k)] })));
  return { provider, catalog, views };
}

const fileOf = (files: readonly { path: string; content: Uint8Array }[], path: string) => {
  const f = files.find((x) => x.path === path);
  assert.ok(f, `${path} rendered`);
  return f;
};

test("N proxies of one service: one render of the shared part, the same frozen bytes; config.json per proxy", (t) => {
  const { views } = ring(t);
  const driver = new PipyDriver({ trustDomain: "cluster.local" });
  const svc0 = views()[0]!;
  assert.equal(svc0[0]!.outbound.length, 1, "the ring reached the catalog: svc-0 calls svc-1");
  const configs = svc0.map((v) => driver.render(v));
  const stats = driver.viewCacheStats();
  assert.deepEqual([stats.renders, stats.hits, stats.entries], [1, PER_SERVICE - 1, 1]);
  assert.ok(stats.bytes > fileOf(configs[0]!.files, "/view.json").content.length, "the bound counts the file and its key");
  const shared = configs.map((c) => fileOf(c.files, "/view.json"));
  for (const f of shared) {
    assert.equal(f, shared[0], "the same object: the transport encodes it once");
    assert.ok(Object.isFrozen(f));
  }
  const owns = configs.map((c) => Buffer.from(fileOf(c.files, "/config.json").content).toString("utf8"));
  assert.equal(new Set(owns).size, PER_SERVICE, "each proxy has its own config.json");
  assert.equal(new Set(configs.map((c) => c.hash)).size, PER_SERVICE);
  for (const [k, own] of owns.entries()) {
    assert.ok(own.includes(`${ip(0, k)}:18080`), "its own listener");
    assert.ok(!own.includes("svc-1"), "no outbound service in the per-proxy part");
  }
  // A second driver renders the same bytes (no state leaks into the output).
  const again = new PipyDriver({ trustDomain: "cluster.local" }).render(svc0[2]!);
  assert.ok(Buffer.from(fileOf(again.files, "/view.json").content).equals(Buffer.from(shared[0]!.content)));
  assert.equal(again.hash, configs[2]!.hash);
});

test("proxies whose inputs differ get their own shared part; capture mode is an input", (t) => {
  const { views } = ring(t);
  const driver = new PipyDriver({ trustDomain: "cluster.local" });
  const all = views();
  for (const service of all) for (const v of service) driver.render(v);
  assert.equal(driver.viewCacheStats().renders, SERVICES, "one render per service (each calls another one)");
  const transparent = { ...all[0]![0]!, proxy: { ...all[0]![0]!.proxy, capture: "transparent" as const } };
  const t1 = driver.render(transparent);
  assert.equal(driver.viewCacheStats().renders, SERVICES + 1);
  assert.notEqual(fileOf(t1.files, "/view.json"), fileOf(driver.render(all[0]![0]!).files, "/view.json"));
  // Passthrough counts only with transparent capture: the explicit view is shared whatever the mesh setting.
  driver.render({ ...all[0]![1]!, proxy: { ...all[0]![1]!.proxy, outboundPassthrough: false } });
  assert.equal(driver.viewCacheStats().renders, SERVICES + 1);
  driver.render({ ...transparent, proxy: { ...transparent.proxy, outboundPassthrough: false } });
  assert.equal(driver.viewCacheStats().renders, SERVICES + 2);
});

test("a change to one service re-renders only the views that use it", (t) => {
  const { provider, catalog, views } = ring(t);
  const driver = new PipyDriver({ trustDomain: "cluster.local" });
  const before = views().map((service) => service.map((v) => driver.render(v)));
  assert.equal(driver.viewCacheStats().renders, SERVICES);
  // svc-2 gets another endpoint: only svc-1 calls it.
  provider.set("ring/svc-2", [...Array.from({ length: PER_SERVICE }, (_, k) => `${ip(2, k)}:8080`), "10.0.2.99:8080"]);
  catalog.flush();
  const after = views().map((service) => service.map((v) => driver.render(v)));
  assert.equal(driver.viewCacheStats().renders, SERVICES + 1, "one new render, for svc-1's view");
  for (let s = 0; s < SERVICES; s++) {
    for (let k = 0; k < PER_SERVICE; k++) {
      const [b, a] = [fileOf(before[s]![k]!.files, "/view.json"), fileOf(after[s]![k]!.files, "/view.json")];
      if (s === 1) {
        assert.notEqual(a, b);
        assert.ok(Buffer.from(a.content).toString("utf8").includes("10.0.2.99:18080"));
      } else {
        assert.equal(a, b, `svc-${s}'s view is the cached one`);
        // svc-2's own proxies: the new endpoint is not theirs (addresses), so their config.json is unchanged too.
        assert.equal(after[s]![k]!.hash, before[s]![k]!.hash, `nothing to push to p-${s}-${k}`);
      }
    }
  }
});

test("the cache is bounded by bytes, least recently used out; an evicted view renders again to the same bytes", (t) => {
  const { views } = ring(t);
  const all = views();
  const probe = new PipyDriver({ trustDomain: "cluster.local" });
  probe.render(all[0]![0]!);
  const size = probe.viewCacheStats().bytes; // one entry: its file and key
  // Room for about two views.
  const driver = new PipyDriver({ trustDomain: "cluster.local" }, { viewCacheBytes: size * 2 + size / 2 });
  const first = fileOf(driver.render(all[0]![0]!).files, "/view.json");
  driver.render(all[1]![0]!);
  driver.render(all[0]![1]!); // svc-0 is now the most recent
  driver.render(all[2]![0]!); // evicts svc-1's
  assert.deepEqual([driver.viewCacheStats().renders, driver.viewCacheStats().entries], [3, 2]);
  assert.equal(fileOf(driver.render(all[0]![2]!).files, "/view.json"), first, "svc-0 stayed");
  const again = fileOf(driver.render(all[1]![1]!).files, "/view.json");
  assert.equal(driver.viewCacheStats().renders, 4, "svc-1 rendered again");
  assert.ok(Buffer.from(again.content).equals(Buffer.from(fileOf(probe.render(all[1]![0]!).files, "/view.json").content)));
  assert.ok(driver.viewCacheStats().bytes <= size * 2 + size / 2);
});

test("after each catalog update the views not asked for since the update before it go; a hit keeps a view one more update", (t) => {
  const { views } = ring(t);
  const all = views();
  const driver = new PipyDriver({ trustDomain: "cluster.local" });
  const svc0 = fileOf(driver.render(all[0]![0]!).files, "/view.json");
  driver.render(all[1]![0]!);
  driver.render(all[2]![0]!);
  driver.catalogChanged();
  assert.deepEqual([driver.viewCacheStats().entries, driver.viewCacheStats().staleEvictions], [3, 0], "the previous generation stays");
  assert.equal(fileOf(driver.render(all[0]![1]!).files, "/view.json"), svc0, "a hit: svc-0's view is in this generation now");
  driver.catalogChanged();
  assert.deepEqual([driver.viewCacheStats().entries, driver.viewCacheStats().staleEvictions], [1, 2], "svc-1's and svc-2's views went");
  const bytesOfOne = driver.viewCacheStats().bytes;
  assert.equal(bytesOfOne, 2 * svc0.content.length + JSON.stringify(pipyViewInputs(all[0]![0]!)).length, "the file twice (its encoding) and the key");
  const again = fileOf(driver.render(all[1]![2]!).files, "/view.json");
  assert.equal(driver.viewCacheStats().renders, 4, "svc-1 rendered again");
  assert.ok(Buffer.from(again.content).equals(Buffer.from(fileOf(new PipyDriver({ trustDomain: "cluster.local" }).render(all[1]![0]!).files, "/view.json").content)));
  driver.catalogChanged();
  driver.catalogChanged();
  assert.deepEqual([driver.viewCacheStats().entries, driver.viewCacheStats().bytes], [0, 0], "nothing asked for in two updates: empty");
});

test("a shared view.json owns its memory: no slice of Buffer's pool, which would keep an 8 KiB slab resident", (t) => {
  const { views } = ring(t);
  const { files } = new PipyDriver({ trustDomain: "cluster.local" }).render(views()[0]![0]!);
  const view = fileOf(files, "/view.json");
  assert.ok(view.content.length < Buffer.poolSize / 2, "small enough that Buffer.from would have sliced the pool");
  assert.equal(view.content.buffer.byteLength, view.content.length);
  for (const shared of files.filter((f) => Object.isFrozen(f))) assert.equal(shared.content.buffer.byteLength, shared.content.length, shared.path);
});

test("config.js merges config.json and view.json into exactly mergePipyConfig's result, the single config of before", () => {
  const driver = new PipyDriver({ trustDomain: "cluster.local" });
  for (const [name, view] of Object.entries(VIEWS)) {
    const { files } = driver.render(view);
    const own = JSON.parse(Buffer.from(fileOf(files, "/config.json").content).toString("utf8")) as PipyProxyConfigV1;
    const shared = JSON.parse(Buffer.from(fileOf(files, "/view.json").content).toString("utf8")) as PipyViewV1;
    assert.deepEqual(effectiveConfig(files), mergePipyConfig(own, shared), name);
    assert.deepEqual(effectiveConfig(files), JSON.parse(JSON.stringify(buildPipyConfig(view, { trustDomain: "cluster.local" }))), name);
    // The split is a partition: no top-level section of the shared part is in the per-proxy part but the schema.
    const built = buildPipyView(pipyViewInputs(view), { trustDomain: "cluster.local" });
    assert.deepEqual(Object.keys(buildPipyProxyConfig(view, { trustDomain: "cluster.local" }, built.inbound.rules, "x").inbound), ["listeners"]);
  }
});

test("config.json is canonical JSON: the fast serialisation gives canonicalJson's bytes", () => {
  for (const [name, view] of Object.entries(VIEWS)) {
    for (const id of ["", "f".repeat(64)]) {
      const built = buildPipyView(pipyViewInputs(view), { trustDomain: "cluster.local", inboundPortOffset: 60000 });
      const own = buildPipyProxyConfig(view, { trustDomain: "cluster.local", inboundPortOffset: 60000 }, built.inbound.rules, id);
      assert.equal(pipyProxyConfigJson(own), `${canonicalJson(own)}\n`, name);
    }
  }
});

test("config.js refuses a config.json without its view.json, or a foreign view (readiness only)", () => {
  const { files } = new PipyDriver({ trustDomain: "cluster.local" }).render(VIEWS.split!);
  assert.equal(effectiveConfig(files.filter((f) => f.path !== "/view.json")), null);
  assert.equal(effectiveConfig(files.map((f) => (f.path === "/view.json" ? { path: f.path, content: Buffer.from('{"schema":"other"}') } : f))), null);
  assert.equal(effectiveConfig(files.filter((f) => f.path !== "/config.json")), null);
});
