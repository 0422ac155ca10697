// A catalog over the bookstore split (shop/bookstore → bookstore-v1 and -v2,
// 50/50) fed by a fake hosts file and a real AgentsProvider, seen from
// bookbuyer's proxy on 10.0.0.1. Shared by the catalog tests about which
// endpoints a caller is offered (endpoint health, gone proxies).
import { MeshCatalog } from "../../src/controller/catalog/catalog.js";
import type { ProxyView } from "../../src/controller/catalog/types.js";
import { silentLogger } from "../../src/common/logger.js";
import { AgentsProvider } from "../../src/controller/providers/agents/provider.js";
import { FakeConnected, FakeProvider, FakeSpec } from "./fake-sources.js";

/** Proxy ids the tests announce endpoints under, and the split's two backends. */
export const P1 = "11111111-1111-4111-8111-000000000001";
export const P2 = "11111111-1111-4111-8111-000000000002";
export const P3 = "11111111-1111-4111-8111-000000000003";
export const v1 = { namespace: "shop", name: "bookstore-v1" };
export const v2 = { namespace: "shop", name: "bookstore-v2" };

/** Hosts-file entries, `namespace/name` → `ip:port` list. bookbuyer's 10.0.0.1:8080 is always there. */
export function splitCatalog(hosts: Readonly<Record<string, readonly string[]>>) {
  const onprem = new FakeProvider("onprem");
  onprem.set("shop/bookbuyer", ["10.0.0.1:8080"], false);
  for (const [service, endpoints] of Object.entries(hosts)) onprem.set(service, [...endpoints], false);
  const agents = new AgentsProvider();
  const spec = new FakeSpec();
  spec.set({
    trafficSplits: [{ namespace: "shop", name: "split", origin: "t#1", service: "bookstore", matches: [],
      backends: [{ service: "bookstore-v1", weight: 50 }, { service: "bookstore-v2", weight: 50 }] }],
  });
  const connected = new FakeConnected();
  const catalog = new MeshCatalog({
    providers: [agents, onprem], spec, certificates: { certificates: () => [] }, connected,
    providerPriority: ["agents", "onprem"], permissive: true, logger: silentLogger(),
  });
  const ac = new AbortController();
  catalog.start(ac.signal);
  const changes: string[][] = [];
  catalog.on("change", (c) => changes.push([...c.services]));
  const view = () => {
    catalog.flush();
    return catalog.proxyView({ proxyId: "buyer", service: { namespace: "shop", name: "bookbuyer" }, addresses: ["10.0.0.1"] });
  };
  return { catalog, onprem, agents, connected, view, changes, stop: () => ac.abort() };
}

/** service → offered endpoints; the split root's backends as `root>backend`. */
export function offered(view: ProxyView): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const o of view.outbound) {
    const key = `${o.service.namespace}/${o.service.name}`;
    out[key] = o.endpoints.map((e) => `${e.ip}:${e.port}`);
    for (const b of o.split?.backends ?? []) out[`${key}>${b.service.name}`] = b.endpoints.map((e) => `${e.ip}:${e.port}`);
  }
  return out;
}
