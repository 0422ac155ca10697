import { test } from "node:test";
import assert from "node:assert/strict";
import { MeshCatalog } from "../../src/controller/catalog/catalog.js";
import { silentLogger } from "../../src/common/logger.js";
import type { MeshSpecSnapshot } from "../../src/controller/spec/types.js";
import { FakeConnected, FakeProvider, FakeSpec } from "../helpers/fake-sources.js";
import { emptyPolicies } from "../../src/controller/spec/policy-types.js";
import { waitFor } from "../helpers/wait.js";

const sa = (namespace: string, name: string) => ({ kind: "ServiceAccount" as const, namespace, name });

const bookstoreSpec: MeshSpecSnapshot = {
  trafficSplits: [
    { namespace: "shop", name: "split", origin: "t#1", service: "bookstore", matches: [],
      backends: [{ service: "bookstore-v1", weight: 90 }, { service: "bookstore-v2", weight: 10 }] },
  ],
  trafficTargets: [
    { namespace: "shop", name: "buyer-to-v1", origin: "t#2", destination: sa("shop", "bookstore-v1"), sources: [sa("shop", "bookbuyer")],
      rules: [{ kind: "HTTPRouteGroup", name: "routes", matches: ["books"] }] },
    { namespace: "shop", name: "buyer-to-v2", origin: "t#3", destination: sa("shop", "bookstore-v2"), sources: [sa("shop", "bookbuyer")],
      rules: [{ kind: "HTTPRouteGroup", name: "routes", matches: [] }, { kind: "TCPRoute", name: "tcp", matches: [] }] },
  ],
  httpRouteGroups: [
    { namespace: "shop", name: "routes", origin: "t#4", matches: [
      { name: "books", pathRegex: "/books-bought", methods: ["GET"], headers: {} },
      { name: "admin", pathRegex: "/admin/.*", methods: ["*"], headers: {} },
    ] },
  ],
  tcpRoutes: [{ namespace: "shop", name: "tcp", origin: "t#5", ports: [9000] }],
  ...emptyPolicies(),
};

function setup(permissive: boolean) {
  const onprem = new FakeProvider("onprem");
  onprem.set("shop/bookbuyer", ["10.0.0.1:8080"], false);
  onprem.set("shop/bookstore-v1", ["10.0.0.2:14001", "10.0.0.3:14001"], false);
  onprem.set("shop/bookstore-v2", ["10.0.0.4:14001"], false);
  onprem.set("shop/bookthief", ["10.0.0.5:8080"], false);
  const spec = new FakeSpec();
  spec.set(bookstoreSpec);
  const catalog = new MeshCatalog({
    providers: [onprem], spec, certificates: { certificates: () => [] }, connected: new FakeConnected(),
    providerPriority: [], permissive, logger: silentLogger(),
  });
  const ac = new AbortController();
  catalog.start(ac.signal);
  return { catalog, onprem, spec, stop: () => ac.abort() };
}

test("a client allowed by TrafficTargets sees the split root with weights and backend endpoints", (t) => {
  const { catalog, stop } = setup(false);
  t.after(stop);
  const view = catalog.proxyView({ proxyId: "p1", service: { namespace: "shop", name: "bookbuyer" } });
  assert.deepEqual(view.outbound.map((o) => o.service.name), ["bookstore", "bookstore-v1", "bookstore-v2"]);
  const root = view.outbound[0]!;
  assert.deepEqual(root.endpoints, [], "the root has no endpoints of its own");
  assert.deepEqual(root.ports, [14001]);
  assert.deepEqual(root.split?.backends.map((b) => [b.service.name, b.weight, b.endpoints.length]), [
    ["bookstore-v1", 90, 2],
    ["bookstore-v2", 10, 1],
  ]);
  assert.deepEqual(view.inbound.endpoints, [{ ip: "10.0.0.1", port: 8080 }]);
  assert.deepEqual(view.inbound.rules, []);
});

test("a client without TrafficTargets gets no outbound services", (t) => {
  const { catalog, stop } = setup(false);
  t.after(stop);
  const view = catalog.proxyView({ proxyId: "p2", service: { namespace: "shop", name: "bookthief" } });
  assert.deepEqual(view.outbound, []);
});

test("the destination's inbound rules carry sources, the selected HTTP matches and TCP ports", (t) => {
  const { catalog, stop } = setup(false);
  t.after(stop);
  const v1 = catalog.proxyView({ proxyId: "p3", service: { namespace: "shop", name: "bookstore-v1" }, addresses: ["10.0.0.3"] });
  assert.deepEqual(v1.inbound.endpoints, [{ ip: "10.0.0.3", port: 14001 }], "only endpoints on the proxy's host");
  assert.equal(v1.inbound.rules.length, 1);
  assert.deepEqual(v1.inbound.rules[0]!.sources, [sa("shop", "bookbuyer")]);
  assert.deepEqual(v1.inbound.rules[0]!.httpMatches.map((m) => m.name), ["books"]);
  const v2 = catalog.proxyView({ proxyId: "p4", service: { namespace: "shop", name: "bookstore-v2" } });
  assert.deepEqual(v2.inbound.rules[0]!.httpMatches.map((m) => m.name), ["books", "admin"]);
  assert.deepEqual(v2.inbound.rules[0]!.tcpPorts, [9000]);
});

test("a backend without a TrafficTarget is left out of the split", (t) => {
  const { catalog, spec, stop } = setup(false);
  t.after(stop);
  spec.set({ trafficTargets: bookstoreSpec.trafficTargets.filter((tt) => tt.name !== "buyer-to-v2") });
  catalog.flush();
  const view = catalog.proxyView({ proxyId: "p1", service: { namespace: "shop", name: "bookbuyer" } });
  assert.deepEqual(view.outbound[0]!.split?.backends.map((b) => b.service.name), ["bookstore-v1"]);
});

test("permissive mode lets every service call every other, with no inbound rules", (t) => {
  const { catalog, stop } = setup(true);
  t.after(stop);
  const view = catalog.proxyView({ proxyId: "p2", service: { namespace: "shop", name: "bookthief" } });
  assert.deepEqual(view.outbound.map((o) => o.service.name), ["bookbuyer", "bookstore", "bookstore-v1", "bookstore-v2"]);
  assert.equal(view.inbound.permissive, true);
});

test("views are deterministic: the same inputs give deeply equal views", (t) => {
  const a = setup(false);
  const b = setup(false);
  t.after(() => { a.stop(); b.stop(); });
  const input = { proxyId: "p", service: { namespace: "shop", name: "bookbuyer" } };
  assert.deepEqual(JSON.stringify(a.catalog.proxyView(input)), JSON.stringify(b.catalog.proxyView(input)));
});

test("outbound passthrough: absent from views by default; switched off, every view says so after one spec change", async (t) => {
  const { catalog, stop } = setup(false);
  t.after(stop);
  const input = { proxyId: "p9", service: { namespace: "shop", name: "bookbuyer" } };
  assert.equal(catalog.proxyView(input).proxy.outboundPassthrough, undefined, "the default (true) leaves views as they were");
  const changes: boolean[] = [];
  catalog.on("change", (c) => changes.push(c.spec));
  catalog.setOutboundPassthrough(false);
  assert.equal(catalog.proxyView(input).proxy.outboundPassthrough, false);
  await waitFor(() => changes.length > 0, { what: "a catalog change", timeoutMs: 10_000 });
  assert.deepEqual(changes, [true], "a spec change: every proxy re-renders");
  catalog.setOutboundPassthrough(true);
  assert.equal(catalog.proxyView(input).proxy.outboundPassthrough, undefined);
});
