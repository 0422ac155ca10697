import { test } from "node:test";
import assert from "node:assert/strict";
import { Listeners } from "../../src/common/emitter.js";
import { silentLogger } from "../../src/common/logger.js";
import type { ServiceKey } from "../../src/common/service.js";
import { MeshCatalog } from "../../src/controller/catalog/catalog.js";
import type { VipSource } from "../../src/controller/vips/types.js";
import { FakeConnected, FakeProvider, FakeSpec } from "../helpers/fake-sources.js";

class FakeVips implements VipSource {
  readonly map = new Map<ServiceKey, string>();
  readonly #listeners = new Listeners<readonly ServiceKey[]>();
  vip(key: ServiceKey) {
    return this.map.get(key);
  }
  on(_e: "change", fn: (keys: readonly ServiceKey[]) => void) {
    return this.#listeners.add(fn);
  }
  set(key: ServiceKey, ip: string | undefined): void {
    if (ip === undefined) this.map.delete(key);
    else this.map.set(key, ip);
    this.#listeners.emit([key]);
  }
}

/** A provider with platform virtual IPs, as the Kubernetes provider reports ClusterIPs. */
class ClusterIpProvider extends FakeProvider {
  readonly clusterIPs = new Map<ServiceKey, string[]>();
  virtualIPs(key: ServiceKey) {
    return this.clusterIPs.get(key);
  }
}

test("outbound services carry the mesh VIP and the platform's virtual IPs; a VIP change re-renders the callers", (t) => {
  const k8s = new ClusterIpProvider("kubernetes");
  k8s.set("shop/bookstore", ["10.1.0.2:14001"], false);
  k8s.clusterIPs.set("shop/bookstore", ["10.96.0.20"]);
  const onprem = new FakeProvider("onprem");
  onprem.set("shop/bookbuyer", ["10.0.0.1:8080"], false);
  onprem.set("shop/bookstore", ["10.0.0.2:14001"], false);
  const vips = new FakeVips();
  vips.map.set("shop/bookstore", "240.3.4.5");
  const catalog = new MeshCatalog({
    providers: [k8s, onprem], spec: new FakeSpec(), certificates: { certificates: () => [] }, connected: new FakeConnected(),
    providerPriority: [], permissive: true, logger: silentLogger(), vips, coalesceMs: 100_000, maxDelayMs: 100_000,
  });
  const ac = new AbortController();
  t.after(() => ac.abort());
  catalog.start(ac.signal);
  const view = catalog.proxyView({ proxyId: "p", service: { namespace: "shop", name: "bookbuyer" } });
  const bookstore = view.outbound.find((o) => o.service.name === "bookstore")!;
  assert.equal(bookstore.vip, "240.3.4.5");
  assert.deepEqual(bookstore.virtualIPs, ["10.96.0.20"]);
  const buyerSeenByStore = catalog.proxyView({ proxyId: "q", service: { namespace: "shop", name: "bookstore" } }).outbound[0]!;
  assert.equal("vip" in buyerSeenByStore, false, "no VIP, no field");
  assert.equal("virtualIPs" in buyerSeenByStore, false);

  assert.deepEqual(catalog.snapshot().services.map((s) => [s.name, s.vip]), [["bookbuyer", undefined], ["bookstore", "240.3.4.5"]]);
  assert.equal(catalog.service("shop/bookstore")?.vip, "240.3.4.5");

  const changes: string[][] = [];
  catalog.on("change", (c) => changes.push([...c.services]));
  vips.set("shop/bookbuyer", "240.3.4.6");
  catalog.flush();
  assert.deepEqual(changes, [["shop/bookbuyer"]], "the VIP change is a change of that service, so its callers are re-rendered");
  assert.equal(catalog.proxyView({ proxyId: "q", service: { namespace: "shop", name: "bookstore" } }).outbound[0]!.vip, "240.3.4.6");

  // ClusterIPs follow the provider's change events; a service that vanishes loses them.
  k8s.clusterIPs.set("shop/bookstore", ["10.96.0.21", "fd00::21"]);
  k8s.set("shop/bookstore", ["10.1.0.2:14001"]);
  catalog.flush();
  assert.deepEqual(catalog.proxyView({ proxyId: "p", service: { namespace: "shop", name: "bookbuyer" } }).outbound.find((o) => o.service.name === "bookstore")!.virtualIPs, ["10.96.0.21", "fd00::21"]);
});

test("the root of a TrafficSplit counts as a mesh service for VIPs, though nothing serves it directly", (t) => {
  const onprem = new FakeProvider("onprem");
  onprem.set("shop/bookstore-v1", ["10.0.0.2:14001"], false);
  const spec = new FakeSpec();
  spec.set({ trafficSplits: [{ namespace: "shop", name: "split", origin: "f#1", service: "bookstore", matches: [], backends: [{ service: "bookstore-v1", weight: 100 }] }] });
  const catalog = new MeshCatalog({
    providers: [onprem], spec, certificates: { certificates: () => [] }, connected: new FakeConnected(), providerPriority: [], permissive: true, logger: silentLogger(),
  });
  const ac = new AbortController();
  t.after(() => ac.abort());
  catalog.start(ac.signal);
  assert.equal(catalog.has("shop/bookstore"), true);
  assert.deepEqual([...catalog.keys()].sort(), ["shop/bookstore", "shop/bookstore-v1"]);
  assert.equal(catalog.has("shop/nothing"), false);
});
