/**
 * Shared view parts (catalog/view-parts.ts): proxies of one service, account
 * and ports share one frozen outbound list and rule set between two catalog
 * updates; the views are exactly the views built without sharing; an update
 * never leaves a stale part behind; and the Pipy driver keys such parts by
 * identity to the same shared view.json it finds by their JSON.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MeshCatalog } from "../../src/controller/catalog/catalog.js";
import { EndpointIndex } from "../../src/controller/catalog/endpoint-index.js";
import { buildProxyView, proxyDependencies, type ProxyViewInput } from "../../src/controller/catalog/proxy-view.js";
import { SpecIndex } from "../../src/controller/catalog/spec-index.js";
import { ViewParts } from "../../src/controller/catalog/view-parts.js";
import type { ProxyView } from "../../src/controller/catalog/types.js";
import { PipyDriver } from "../../src/controller/drivers/pipy/pipy-driver.js";
import { silentLogger } from "../../src/common/logger.js";
import type { MeshSpecSnapshot } from "../../src/controller/spec/types.js";
import { emptyPolicies } from "../../src/controller/spec/policy-types.js";
import type { ProviderEndpoint } from "../../src/controller/providers/types.js";
import { FakeConnected, FakeProvider, FakeSpec } from "../helpers/fake-sources.js";

const sa = (namespace: string, name: string) => ({ kind: "ServiceAccount" as const, namespace, name });

const spec: MeshSpecSnapshot = {
  trafficSplits: [
    { namespace: "shop", name: "split", origin: "t#1", service: "store", matches: [], backends: [{ service: "store-v1", weight: 90 }, { service: "store-v2", weight: 10 }] },
  ],
  trafficTargets: [
    { namespace: "shop", name: "web-to-v1", origin: "t#2", destination: sa("shop", "store-v1"), sources: [sa("shop", "web")], rules: [{ kind: "HTTPRouteGroup", name: "routes", matches: [] }] },
    { namespace: "shop", name: "web-to-v2", origin: "t#3", destination: sa("shop", "store-v2"), sources: [sa("shop", "web")], rules: [{ kind: "HTTPRouteGroup", name: "routes", matches: [] }] },
    { namespace: "shop", name: "v1-to-db", origin: "t#4", destination: sa("shop", "db"), sources: [sa("shop", "store-v1")], rules: [{ kind: "TCPRoute", name: "tcp", matches: [] }] },
  ],
  httpRouteGroups: [{ namespace: "shop", name: "routes", origin: "t#5", matches: [{ name: "all", pathRegex: ".*", methods: ["*"], headers: {} }] }],
  tcpRoutes: [{ namespace: "shop", name: "tcp", origin: "t#6", ports: [5432] }],
  ...emptyPolicies(),
};

const endpoints: Record<string, string[]> = {
  "shop/web": ["10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:9090"],
  "shop/store-v1": ["10.0.1.1:80", "10.0.1.2:80"],
  "shop/store-v2": ["10.0.2.1:80"],
  "shop/db": ["10.0.3.1:5432"],
};

function eps(addresses: readonly string[]): ProviderEndpoint[] {
  return addresses.map((a) => ({ ip: a.split(":")[0]!, port: Number(a.split(":")[1]), source: `src/${a}` }));
}

/** One proxy per host of every service, plus one with its own account and one in transparent mode. */
function inputs(): ProxyViewInput[] {
  const out: ProxyViewInput[] = [];
  for (const [key, list] of Object.entries(endpoints)) {
    const [namespace, name] = key.split("/") as [string, string];
    for (const a of list) out.push({ proxyId: `${name}@${a}`, service: { namespace, name }, addresses: [a.split(":")[0]!] });
  }
  out.push({ proxyId: "web-other", service: { namespace: "shop", name: "web" }, addresses: ["10.0.0.1"], serviceAccount: "store-v1" });
  out.push({ proxyId: "web-captured", service: { namespace: "shop", name: "web" }, addresses: ["10.0.0.2"], capture: "transparent" });
  return out;
}

test("views built from shared parts are exactly the views built without them", () => {
  for (const permissive of [false, true]) {
    const index = new EndpointIndex([]);
    for (const [key, list] of Object.entries(endpoints)) index.replace(key, [{ provider: "onprem", endpoints: eps(list) }]);
    const specIndex = new SpecIndex(spec);
    const parts = new ViewParts();
    for (const input of inputs()) {
      assert.deepEqual(buildProxyView(index, specIndex, permissive, input, undefined, undefined, parts), buildProxyView(index, specIndex, permissive, input), `${input.proxyId}, permissive ${permissive}`);
      assert.deepEqual(proxyDependencies(index, specIndex, permissive, input, parts), proxyDependencies(index, specIndex, permissive, input), `${input.proxyId}: dependencies`);
    }
    // web: hosts on 8080 share; the host on 9090 and the proxy with another account do not.
    assert.ok(parts.stats().hits > 0 && parts.stats().builds < inputs().length, JSON.stringify(parts.stats()));
  }
});

function catalogSetup() {
  const onprem = new FakeProvider("onprem");
  for (const [key, list] of Object.entries(endpoints)) onprem.set(key, list, false);
  const fake = new FakeSpec();
  fake.set(spec);
  const catalog = new MeshCatalog({ providers: [onprem], spec: fake, certificates: { certificates: () => [] }, connected: new FakeConnected(), providerPriority: [], permissive: false, logger: silentLogger() });
  const ac = new AbortController();
  catalog.start(ac.signal);
  return { catalog, onprem, stop: () => ac.abort() };
}

const web = (host: string, extra: Partial<ProxyViewInput> = {}): ProxyViewInput => ({ proxyId: `web@${host}`, service: { namespace: "shop", name: "web" }, addresses: [host], ...extra });

test("proxies of one service, account and ports share frozen parts; their own endpoints stay their own", (t) => {
  const { catalog, stop } = catalogSetup();
  t.after(stop);
  const a = catalog.proxyView(web("10.0.0.1"));
  const b = catalog.proxyView(web("10.0.0.2"));
  assert.equal(a.outbound, b.outbound, "one outbound list for both");
  assert.equal(a.inbound.rules, b.inbound.rules);
  assert.deepEqual(a.inbound.endpoints, [{ ip: "10.0.0.1", port: 8080 }]);
  assert.deepEqual(b.inbound.endpoints, [{ ip: "10.0.0.2", port: 8080 }]);
  assert.ok(Object.isFrozen(a.outbound) && Object.isFrozen(a.outbound[0]) && Object.isFrozen(a.outbound[0]!.split!.backends));
  assert.throws(() => (a.outbound as unknown as unknown[]).push({}), TypeError, "a shared part cannot be edited in place");

  assert.notEqual(catalog.proxyView(web("10.0.0.3")).outbound, a.outbound, "other local ports: other parts (ingress depends on them)");
  assert.equal(catalog.proxyDependencies(web("10.0.0.1")), catalog.proxyDependencies(web("10.0.0.3")), "dependencies do not depend on the ports");
  assert.notEqual(catalog.proxyDependencies(web("10.0.0.1", { serviceAccount: "store-v1" })), catalog.proxyDependencies(web("10.0.0.1")));
  const other = catalog.proxyView(web("10.0.0.1", { serviceAccount: "store-v1" }));
  assert.notEqual(other.outbound, a.outbound);
  assert.deepEqual(other.outbound.map((o) => o.service.name), ["db"], "another account: its own outbound");
});

test("an update never leaves a stale part: the next view has the new endpoints", (t) => {
  const { catalog, onprem, stop } = catalogSetup();
  t.after(stop);
  const before = catalog.proxyView(web("10.0.0.1"));
  const depsBefore = catalog.proxyDependencies(web("10.0.0.1"));
  const v1 = (view: ProxyView) => view.outbound.find((o) => o.service.name === "store")!.split!.backends.find((x) => x.service.name === "store-v1")!.endpoints;
  assert.deepEqual(v1(before).map((e) => e.ip), ["10.0.1.1", "10.0.1.2"]);

  onprem.set("shop/store-v1", ["10.0.1.1:80", "10.0.1.2:80", "10.0.1.3:80"]);
  catalog.flush();
  const after = catalog.proxyView(web("10.0.0.2"));
  assert.notEqual(after.outbound, before.outbound);
  assert.notEqual(catalog.proxyDependencies(web("10.0.0.1")), depsBefore, "dependencies are rebuilt after an update too");
  assert.deepEqual(v1(after).map((e) => e.ip), ["10.0.1.1", "10.0.1.2", "10.0.1.3"]);
  assert.deepEqual(v1(before).map((e) => e.ip), ["10.0.1.1", "10.0.1.2"], "a view already handed out is never edited");
});

test("the Pipy driver finds shared parts by identity and renders what their JSON would give", (t) => {
  const { catalog, stop } = catalogSetup();
  t.after(stop);
  const driver = new PipyDriver({ trustDomain: "cluster.local" });
  const fresh = new PipyDriver({ trustDomain: "cluster.local" });
  for (const input of [web("10.0.0.1"), web("10.0.0.2"), web("10.0.0.2", { capture: "transparent" }), web("10.0.0.3"), web("10.0.0.1")]) {
    const view = catalog.proxyView(input);
    // A deep copy is unfrozen: the other driver keys it by its JSON.
    assert.equal(driver.render(view).hash, fresh.render(structuredClone(view)).hash, input.proxyId);
  }
  assert.deepEqual(
    { renders: driver.viewCacheStats().renders, hits: driver.viewCacheStats().hits },
    { renders: fresh.viewCacheStats().renders, hits: fresh.viewCacheStats().hits },
    "the same shared views rendered and found either way",
  );
  // 9090's view.json is 8080's (no IngressBackend tells them apart): the listeners are in its own config.json.
  assert.equal(driver.viewCacheStats().renders, 2, "explicit and transparent");
  assert.equal(fresh.viewCacheStats().keysByParts, 0);
  assert.equal(driver.viewCacheStats().keysByParts, 2, "the second proxy on 8080 and the first one again");
});

test("switching permissive mode drops the parts at once: a view asked for before the update does not mix the modes", (t) => {
  const { catalog, stop } = catalogSetup();
  t.after(stop);
  const v1 = (): ProxyViewInput => ({ proxyId: "v1", service: { namespace: "shop", name: "store-v1" }, addresses: ["10.0.1.1"] });
  assert.deepEqual(catalog.proxyView(v1()).inbound.rules.map((r) => r.trafficTarget), ["shop/web-to-v1"]);
  catalog.setPermissive(true);
  const view = catalog.proxyView(v1());
  assert.equal(view.inbound.permissive, true);
  assert.deepEqual(view.inbound.rules, [], "permissive views have no inbound rules");
  assert.ok(view.outbound.some((o) => o.service.name === "web"), "and may call every service");
});
