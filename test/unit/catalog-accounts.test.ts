// Identities are ServiceAccounts (osm-edge semantics) and ports have
// protocols: the catalog's merge, its proxy views and --explain. The shape is
// osm-edge's bookstore demo where bookstore-v1 and bookstore-v2 run under ONE
// account "bookstore" and the TrafficTarget names that account.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Listeners } from "../../src/common/emitter.js";
import { silentLogger } from "../../src/common/logger.js";
import type { ServiceKey } from "../../src/common/service.js";
import { MeshCatalog } from "../../src/controller/catalog/catalog.js";
import type { CatalogChange } from "../../src/controller/catalog/types.js";
import type { EndpointProvider, ProviderEndpoint, ProviderStatus, ServiceEndpoints } from "../../src/controller/providers/types.js";
import type { MeshSpecSnapshot } from "../../src/controller/spec/types.js";
import { FakeConnected, FakeSpec } from "../helpers/fake-sources.js";
import { emptyPolicies } from "../../src/controller/spec/policy-types.js";

/** A provider whose endpoints declare protocols and accounts: "ip:port[/protocol][@account]". */
class DeclaringProvider implements EndpointProvider {
  readonly #services = new Map<ServiceKey, ProviderEndpoint[]>();
  readonly #listeners = new Listeners<readonly ServiceKey[]>();
  constructor(readonly id: string) {}

  set(key: ServiceKey, endpoints: string[] | undefined, emit = true): void {
    if (endpoints === undefined) this.#services.delete(key);
    else {
      this.#services.set(key, endpoints.map((text) => {
        const m = /^(.+):(\d+)(?:\/(\w+))?(?:@([\w.-]+))?$/.exec(text)!;
        return {
          ip: m[1]!, port: Number(m[2]), source: `${this.id}-src/${m[1]}`,
          ...(m[3] ? { protocol: m[3] as ProviderEndpoint["protocol"] & string } : {}),
          ...(m[4] ? { serviceAccount: m[4] } : {}),
        };
      }));
    }
    if (emit) this.#listeners.emit([key]);
  }

  async start(): Promise<void> {}
  *services(): Iterable<ServiceEndpoints> {
    for (const [key, endpoints] of this.#services) {
      const [namespace, name] = key.split("/") as [string, string];
      yield { service: { namespace, name }, endpoints };
    }
  }
  endpoints(key: ServiceKey): readonly ProviderEndpoint[] | undefined {
    return this.#services.get(key);
  }
  on(_e: "change", fn: (changed: readonly ServiceKey[]) => void): () => void {
    return this.#listeners.add(fn);
  }
  status(): ProviderStatus {
    return { id: this.id, kind: "endpoints", state: "synced", lastSync: null, lastError: null, counts: {} };
  }
}

const sa = (name: string) => ({ kind: "ServiceAccount" as const, namespace: "bookstore", name });

const spec: MeshSpecSnapshot = {
  trafficSplits: [
    { namespace: "bookstore", name: "bookstore-split", origin: "smi.yaml#1", service: "bookstore", matches: [],
      backends: [{ service: "bookstore-v1", weight: 50 }, { service: "bookstore-v2", weight: 50 }] },
  ],
  trafficTargets: [
    // osm-edge's demo: the destination is the ACCOUNT both versions run as.
    { namespace: "bookstore", name: "bookstore", origin: "smi.yaml#2", destination: sa("bookstore"), sources: [sa("bookbuyer")],
      rules: [{ kind: "HTTPRouteGroup", name: "routes", matches: [] }] },
    // The warehouse runs as "warehouse"; a target naming its SERVICE name matches nothing.
    { namespace: "bookstore", name: "by-service-name", origin: "smi.yaml#3", destination: sa("bookwarehouse"), sources: [sa("bookstore")],
      rules: [{ kind: "HTTPRouteGroup", name: "routes", matches: [] }] },
    { namespace: "bookstore", name: "by-account", origin: "smi.yaml#4", destination: sa("warehouse"), sources: [sa("restock")],
      rules: [{ kind: "HTTPRouteGroup", name: "routes", matches: [] }] },
  ],
  httpRouteGroups: [{ namespace: "bookstore", name: "routes", origin: "smi.yaml#5", matches: [{ name: "all", pathRegex: ".*", methods: ["*"], headers: {} }] }],
  tcpRoutes: [],
  ...emptyPolicies(),
};

function setup(priority: string[] = ["kubernetes", "onprem"]) {
  const kubernetes = new DeclaringProvider("kubernetes");
  const onprem = new DeclaringProvider("onprem");
  kubernetes.set("bookstore/bookbuyer", ["10.1.0.1:8080@bookbuyer"], false);
  kubernetes.set("bookstore/bookthief", ["10.1.0.9:8080@bookthief"], false);
  kubernetes.set("bookstore/bookstore-v1", ["10.1.0.2:14001/grpc@bookstore", "10.1.0.3:14001/grpc@bookstore"], false);
  kubernetes.set("bookstore/bookstore-v2", ["10.1.0.4:14001/grpc@bookstore"], false);
  onprem.set("bookstore/bookwarehouse", ["10.0.0.7:8080@warehouse", "10.0.0.7:3306/tcp@warehouse"], false);
  // No account declared anywhere: the service's own name, as before accounts.
  onprem.set("bookstore/restock", ["10.0.0.8:8080"], false);
  const specSource = new FakeSpec();
  specSource.set(spec);
  const catalog = new MeshCatalog({
    providers: [kubernetes, onprem], spec: specSource, certificates: { certificates: () => [] }, connected: new FakeConnected(),
    providerPriority: priority, permissive: false, logger: silentLogger(),
  });
  const ac = new AbortController();
  catalog.start(ac.signal);
  return { catalog, kubernetes, onprem, stop: () => ac.abort() };
}

const view = (catalog: MeshCatalog, name: string, extra: { serviceAccount?: string; addresses?: string[] } = {}) =>
  catalog.proxyView({ proxyId: `p-${name}`, service: { namespace: "bookstore", name }, ...extra });

test("osm-edge bookstore, one account behind v1 and v2: exactly bookbuyer may call them, and both apply the target", (t) => {
  const { catalog, stop } = setup();
  t.after(stop);
  const buyer = view(catalog, "bookbuyer");
  assert.deepEqual(buyer.proxy.identity, sa("bookbuyer"), "a pod's identity is its ServiceAccount");
  assert.deepEqual(buyer.outbound.map((o) => o.service.name), ["bookstore", "bookstore-v1", "bookstore-v2"]);
  for (const o of buyer.outbound.slice(1)) {
    assert.deepEqual(o.identity, sa("bookstore"), `${o.service.name} proves the account, not its service name`);
    assert.equal(o.identities, undefined, "one account: the list is left out (absent = [identity])");
    assert.deepEqual(o.protocols, { 14001: "grpc" });
  }
  const root = buyer.outbound[0]!;
  assert.deepEqual(root.split?.backends.map((b) => [b.service.name, b.identities]), [["bookstore-v1", [sa("bookstore")]], ["bookstore-v2", [sa("bookstore")]]]);
  assert.deepEqual(root.split?.backends.map((b) => b.protocols), [{ 14001: "grpc" }, { 14001: "grpc" }]);
  assert.deepEqual(root.protocols, { 14001: "grpc" });

  // Who osm-edge would refuse: the thief (no target) and the warehouse's account.
  assert.deepEqual(view(catalog, "bookthief").outbound, []);
  for (const version of ["bookstore-v1", "bookstore-v2"]) {
    const v = view(catalog, version);
    assert.deepEqual(v.proxy.identity, sa("bookstore"));
    assert.deepEqual(v.inbound.rules.map((r) => [r.trafficTarget, r.sources.map((s) => s.name)]), [["bookstore/bookstore", ["bookbuyer"]]],
      `${version} runs as bookstore: the target on that account applies to it`);
    assert.deepEqual(v.inbound.protocols, { 14001: "grpc" });
  }
});

test("a service whose account differs from its name: targets on the account match, on the service name do not", (t) => {
  const { catalog, stop } = setup();
  t.after(stop);
  const store = view(catalog, "bookstore-v1");
  assert.deepEqual(store.outbound, [], "TrafficTarget by-service-name names no account anybody runs as");
  const restock = view(catalog, "restock");
  assert.deepEqual(restock.proxy.identity, sa("restock"), "nothing declared: the service's name");
  assert.deepEqual(restock.outbound.map((o) => [o.service.name, o.identity.name, o.protocols]), [["bookwarehouse", "warehouse", { 3306: "tcp", 8080: "http" }]],
    "once a port is not http every port is listed; views where all are http leave the map out");
  assert.equal(view(catalog, "bookstore-v1", {}).outbound.length, 0);
  assert.equal(restock.inbound.protocols, undefined, "all http: absent");
  const warehouse = view(catalog, "bookwarehouse");
  assert.deepEqual(warehouse.inbound.rules.map((r) => r.trafficTarget), ["bookstore/by-account"]);
});

test("the account of the proxy's certificate (its join token) decides, and one service may run under several accounts", (t) => {
  const { catalog, onprem, stop } = setup();
  t.after(stop);
  // The token says bookbuyer although the hosts file declares nothing for this host.
  const asBuyer = view(catalog, "restock", { serviceAccount: "bookbuyer" });
  assert.deepEqual(asBuyer.proxy.identity, sa("bookbuyer"));
  assert.deepEqual(asBuyer.outbound.map((o) => o.service.name), ["bookstore", "bookstore-v1", "bookstore-v2"]);
  assert.deepEqual(catalog.proxyIdentity({ proxyId: "x", service: { namespace: "bookstore", name: "restock" }, serviceAccount: "bookbuyer" }).origin, "certificate");

  onprem.set("bookstore/bookstore-v1", ["10.0.0.20:14001/grpc@bookstore-canary"]);
  catalog.flush();
  const v1 = view(catalog, "bookbuyer").outbound.find((o) => o.service.name === "bookstore-v1")!;
  assert.deepEqual(v1.identities, [sa("bookstore"), sa("bookstore-canary")], "a peer proving either account is accepted");
  assert.deepEqual(v1.identity, sa("bookstore"));
  assert.deepEqual(v1.endpoints.map((e) => e.ip), ["10.0.0.20", "10.1.0.2", "10.1.0.3"]);
  // Each proxy of it speaks for the account its own endpoints run as.
  assert.deepEqual(view(catalog, "bookstore-v1", { addresses: ["10.0.0.20"] }).proxy.identity, sa("bookstore-canary"));
  assert.deepEqual(view(catalog, "bookstore-v1", { addresses: ["10.1.0.2"] }).proxy.identity, sa("bookstore"));
});

test("a new service under an account a proxy may call is announced as an identity change, and the proxy depends on it", (t) => {
  const { catalog, kubernetes, stop } = setup();
  t.after(stop);
  const changes: CatalogChange[] = [];
  catalog.on("change", (c) => changes.push(c));
  const deps = catalog.proxyDependencies({ proxyId: "p", service: { namespace: "bookstore", name: "bookbuyer" } });
  assert.ok(deps.services.has("bookstore/bookstore"), "the account it may call is a dependency");
  assert.ok(!deps.services.has("bookstore/bookstore-v3"), "no service of that name yet");
  kubernetes.set("bookstore/bookstore-v3", ["10.1.0.5:14001@bookstore"]);
  catalog.flush();
  assert.deepEqual(changes.at(-1)?.services, ["bookstore/bookstore-v3"]);
  assert.deepEqual(changes.at(-1)?.identities, ["bookstore/bookstore"], "so proxies allowed to call the account re-render");
  assert.ok(view(catalog, "bookbuyer").outbound.some((o) => o.service.name === "bookstore-v3"));
  // An update that changes no account says nothing about identities.
  kubernetes.set("bookstore/bookstore-v3", ["10.1.0.6:14001@bookstore"]);
  catalog.flush();
  assert.equal(changes.at(-1)?.identities, undefined);
});

test("the catalog shows each endpoint's protocol and account; providers that disagree are reported and priority decides", (t) => {
  const { catalog, onprem, stop } = setup();
  t.after(stop);
  // The hosts file says tcp and another account for an endpoint Kubernetes also reports.
  onprem.set("bookstore/bookstore-v2", ["10.1.0.4:14001/tcp@legacy"]);
  catalog.flush();
  const snapshot = catalog.snapshot();
  const v2 = snapshot.services.find((s) => s.name === "bookstore-v2")!;
  assert.deepEqual(v2.endpoints.map((e) => [e.ip, e.protocol, e.serviceAccount, e.sources]), [["10.1.0.4", "grpc", "bookstore", ["kubernetes", "onprem"]]]);
  const restock = snapshot.services.find((s) => s.name === "restock")!;
  assert.deepEqual(restock.endpoints.map((e) => [e.protocol, e.serviceAccount]), [["http", "restock"]], "undeclared: http and the service's name");
  assert.deepEqual(snapshot.disagreements, [
    { service: "bookstore/bookstore-v2", ip: "10.1.0.4", port: 14001, field: "protocol", claims: [{ value: "grpc", sources: ["kubernetes"] }, { value: "tcp", sources: ["onprem"] }], winner: "grpc", resolution: "priority" },
    { service: "bookstore/bookstore-v2", ip: "10.1.0.4", port: 14001, field: "serviceAccount", claims: [{ value: "bookstore", sources: ["kubernetes"] }, { value: "legacy", sources: ["onprem"] }], winner: "bookstore", resolution: "priority" },
  ]);
  onprem.set("bookstore/bookstore-v2", ["10.1.0.4:14001"]);
  catalog.flush();
  assert.deepEqual(catalog.snapshot().disagreements, [], "a provider that declares nothing does not disagree");
});

test("a provider's priority also decides between declarations the other way round", (t) => {
  const { catalog, onprem, stop } = setup(["onprem", "kubernetes"]);
  t.after(stop);
  onprem.set("bookstore/bookstore-v2", ["10.1.0.4:14001/tcp"]);
  catalog.flush();
  assert.equal(catalog.snapshot().services.find((s) => s.name === "bookstore-v2")!.endpoints[0]!.protocol, "tcp");
  assert.equal(catalog.snapshot().disagreements[0]?.winner, "tcp");
});

test("--explain names the proxy's identity and where every port's protocol came from", (t) => {
  const { catalog, stop } = setup();
  t.after(stop);
  const explain = catalog.explainProxyView({ proxyId: "p", service: { namespace: "bookstore", name: "bookbuyer" } });
  const find = (part: string) => explain.find((e) => e.part === part)?.from;
  assert.deepEqual(find("identity bookstore/bookbuyer"), ["the account its endpoints run as (kubernetes kubernetes-src/10.1.0.1)"]);
  assert.deepEqual(find("inbound endpoint 10.1.0.1:8080 protocol http"), ["not declared: http"]);
  assert.deepEqual(find("outbound bookstore/bookstore-v1 endpoint 10.1.0.2:14001 protocol grpc"), ["kubernetes kubernetes-src/10.1.0.2"]);
  assert.deepEqual(find("outbound bookstore/bookstore-v1 identities bookstore/bookstore"), ["the accounts its endpoints run as"]);
  const restock = catalog.explainProxyView({ proxyId: "p", service: { namespace: "bookstore", name: "restock" }, serviceAccount: "restock" });
  assert.deepEqual(restock.find((e) => e.part.startsWith("identity "))?.from, ["the proxy certificate (its join token's serviceAccount)"]);
});
