// Egress and IngressBackend from the catalog to config.json (issue 18):
// golden renders through a real MeshCatalog (the policies are normalised
// objects, as the spec layer gives them, fed through FakeSpec), precedence
// between objects, mesh services winning over Egress hosts, who gets the
// rules, re-rendering when an ingress Service's endpoints move, and the
// sidecar's address-range and ingress-rule functions run in Node.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { silentLogger } from "../../src/common/logger.js";
import { MeshCatalog } from "../../src/controller/catalog/catalog.js";
import { PipyDriver } from "../../src/controller/drivers/pipy/pipy-driver.js";
import type { Egress, IngressBackend } from "../../src/controller/spec/policy-types.js";
import type { MeshSpecSnapshot } from "../../src/controller/spec/types.js";
import { FakeConnected, FakeProvider, FakeSpec } from "../helpers/fake-sources.js";
import { effectiveConfigJson, loadPipyModule, renderedConfig } from "../helpers/pipyjs.js";

const GOLDEN = fileURLToPath(new URL("../../../test/golden/pipy/", import.meta.url));
const driver = new PipyDriver({ trustDomain: "cluster.local" });
const sa = (namespace: string, name: string) => ({ kind: "ServiceAccount" as const, namespace, name });
const ROUTE_GROUP = { apiGroup: "specs.smi-spec.io/v1alpha4", kind: "HTTPRouteGroup" };

const egress = (name: string, o: Partial<Egress>): Egress => ({
  namespace: "shop", name, origin: `egress.yaml#${name}`, sources: [sa("shop", "bookbuyer")], hosts: [], ipAddresses: [], ports: [], matches: [], ...o,
});

const ENDPOINTS: Record<string, string[]> = {
  "shop/bookbuyer": ["10.0.0.1:8080"],
  "shop/bookstore": ["10.0.0.2:14001", "10.0.0.2:14443"],
  "shop/bookthief": ["10.0.0.3:8080"],
  "ingress/nginx": ["10.1.0.5:80", "10.1.0.6:80"],
};

function setup(t: TestContext, spec: Partial<MeshSpecSnapshot>) {
  const provider = new FakeProvider("onprem");
  for (const [key, list] of Object.entries(ENDPOINTS)) provider.set(key, list, false);
  const fakeSpec = new FakeSpec();
  fakeSpec.set(spec);
  const catalog = new MeshCatalog({
    providers: [provider], spec: fakeSpec, certificates: { certificates: () => [] }, connected: new FakeConnected(),
    providerPriority: [], permissive: false, outboundPassthrough: false, coalesceMs: 0, logger: silentLogger(),
  });
  const ac = new AbortController();
  catalog.start(ac.signal);
  t.after(() => ac.abort());
  const view = (name: string, namespace = "shop") => catalog.proxyView({ proxyId: `${name}-proxy`, service: { namespace, name }, capture: "transparent" });
  return { catalog, provider, view };
}

// The merged config (config.json + view.json through /config.js): the bytes of the single config.json before the split.
const configJson = (view: Parameters<PipyDriver["render"]>[0]): string => effectiveConfigJson(driver.render(view).files);

async function golden(name: string, actual: string): Promise<void> {
  const file = `${GOLDEN}${name}.config.json`;
  if (process.env.UPDATE_GOLDEN === "1") await writeFile(file, actual);
  assert.equal(actual, await readFile(file, "utf8"), `${file} differs; rerun with UPDATE_GOLDEN=1 if the change is intended`);
}

const EGRESSES: Egress[] = [
  egress("api", { hosts: ["API.example.com"], ports: [{ number: 80, protocol: "http" }], matches: [{ ...ROUTE_GROUP, name: "api-routes" }] }),
  egress("secure", { hosts: ["*.example.com"], ipAddresses: ["203.0.113.0/24", "2001:db8::/32"], ports: [{ number: 443, protocol: "https" }] }),
  egress("db", { ipAddresses: ["192.0.2.10/32"], ports: [{ number: 5432, protocol: "tcp" }, { number: 3306, protocol: "tcp-server-first" }] }),
  egress("grpc", { hosts: ["grpc.example.com"], ports: [{ number: 50051, protocol: "grpc" }] }),
];
const ROUTES: MeshSpecSnapshot["httpRouteGroups"] = [
  { namespace: "shop", name: "api-routes", origin: "routes.yaml#1", matches: [{ name: "v1", pathRegex: "/v1/.*", methods: ["GET"], headers: { "x-tenant": "a|b" } }] },
];

test("golden: Egress rules of one identity render into outbound.egress (host, SNI, IP range, routes); IPv6 ranges are left out with a warning", async (t) => {
  const { view } = setup(t, { egresses: EGRESSES, httpRouteGroups: ROUTES });
  await golden("egress", configJson(view("bookbuyer")));
});

test("golden: an IngressBackend renders into inbound.ingress with the ingress Service's endpoint addresses", async (t) => {
  const ib: IngressBackend = {
    namespace: "shop", name: "bookstore-ingress", origin: "ingress.yaml#1",
    backends: [
      { name: "bookstore", port: { number: 14001, protocol: "http" } },
      { name: "bookstore", port: { number: 14443, protocol: "https" }, tls: { skipClientCertValidation: true, sniHosts: ["bookstore.example.com"] } },
      { name: "bookstore", port: { number: 9999, protocol: "http" } },
    ],
    sources: [{ kind: "IPRange", name: "192.168.0.0/16" }, { kind: "Service", namespace: "ingress", name: "nginx" }, { kind: "AuthenticatedPrincipal", name: "Nginx.Ingress.cluster.local" }],
    matches: [{ ...ROUTE_GROUP, name: "api-routes" }],
  };
  const { view } = setup(t, { ingressBackends: [ib], httpRouteGroups: ROUTES });
  const store = view("bookstore");
  assert.deepEqual(store.inbound.ingress?.map((r) => r.port), [14001, 14443], "port 9999 is not one bookstore's proxy fronts");
  await golden("ingress-backend", configJson(store));
});

test("an Egress whose address ranges are all IPv6 is left out rather than widened to any address", (t) => {
  const { view } = setup(t, { egresses: [egress("v6", { ipAddresses: ["2001:db8::/32"], ports: [{ number: 5432, protocol: "tcp" }] })] });
  const config = JSON.parse(configJson(view("bookbuyer"))) as { outbound: { egress: { rules: unknown[] } }; warnings: string[] };
  assert.deepEqual(config.outbound.egress.rules, []);
  assert.ok(config.warnings.some((w) => w.includes("no IPv4 range left")), config.warnings.join("\n"));
});

test("only the sources an Egress names get its rules; a proxy without policies renders no egress or ingress keys", (t) => {
  const { view } = setup(t, { egresses: EGRESSES, httpRouteGroups: ROUTES });
  assert.equal(view("bookbuyer").egress?.rules.length, 5);
  const thief = view("bookthief");
  assert.equal(thief.egress, undefined);
  const config = JSON.parse(configJson(thief)) as { outbound: Record<string, unknown>; inbound: Record<string, unknown> };
  assert.equal("egress" in config.outbound, false);
  assert.equal("ingress" in config.inbound, false);
});

test("two Egresses for the same source and host are a union, in name order whatever the input order", (t) => {
  const narrow = egress("b-narrow", { hosts: ["api.example.com"], ports: [{ number: 80, protocol: "http" }], matches: [{ ...ROUTE_GROUP, name: "api-routes" }] });
  const wide = egress("a-wide", { hosts: ["api.example.com"], ports: [{ number: 80, protocol: "http" }] });
  const a = setup(t, { egresses: [narrow, wide], httpRouteGroups: ROUTES }).view("bookbuyer");
  const b = setup(t, { egresses: [wide, narrow], httpRouteGroups: ROUTES }).view("bookbuyer");
  assert.deepEqual(a.egress, b.egress);
  assert.deepEqual(a.egress?.rules.map((r) => [r.egress, r.httpMatches?.length]), [["shop/a-wide", undefined], ["shop/b-narrow", 1]],
    "the wide rule (every request) comes first and is not narrowed by the other object's routes");
  // A route group that does not exist allows nothing rather than everything.
  const missing = setup(t, { egresses: [egress("ghost", { hosts: ["x.example.com"], ports: [{ number: 80, protocol: "http" }], matches: [{ ...ROUTE_GROUP, name: "nope" }] })] }).view("bookbuyer");
  assert.deepEqual(missing.egress?.rules[0]?.httpMatches, []);
});

test("an Egress host that is a mesh service is left out: the mesh route wins, and the config says so", (t) => {
  const { view } = setup(t, {
    egresses: [
      egress("mixed", { hosts: ["bookstore.shop.svc.cluster.local", "bookstore.shop", "api.example.com"], ports: [{ number: 14001, protocol: "http" }] }),
      egress("only-mesh", { hosts: ["bookstore.shop.svc"], ports: [{ number: 80, protocol: "http" }] }),
    ],
  });
  const v = view("bookbuyer");
  assert.deepEqual(v.egress?.rules.map((r) => [r.egress, r.hosts]), [["shop/mixed", ["api.example.com"]]], "only-mesh has nothing left");
  assert.deepEqual(v.egress?.meshHosts, ["bookstore.shop", "bookstore.shop.svc", "bookstore.shop.svc.cluster.local"]);
  const config = JSON.parse(configJson(v)) as { warnings: string[] };
  assert.ok(config.warnings.some((w) => w.includes("bookstore.shop.svc.cluster.local is a mesh service")), config.warnings.join("\n"));
});

test("an IngressBackend's Service source: the backend's proxy depends on it and re-renders when its endpoints move", async (t) => {
  const ib: IngressBackend = {
    namespace: "shop", name: "in", origin: "i#1", matches: [],
    backends: [{ name: "bookstore", port: { number: 14001, protocol: "http" } }],
    sources: [{ kind: "Service", namespace: "ingress", name: "nginx" }],
  };
  const { catalog, provider, view } = setup(t, { ingressBackends: [ib] });
  const input = { proxyId: "bookstore-proxy", service: { namespace: "shop", name: "bookstore" }, capture: "transparent" as const };
  assert.ok(catalog.proxyDependencies(input).services.has("ingress/nginx"));
  const before = driver.render(view("bookstore")).hash;
  const changed = new Promise<readonly string[]>((resolve) => catalog.on("change", (c) => resolve(c.services)));
  provider.set("ingress/nginx", ["10.1.0.7:80"]);
  assert.deepEqual(await changed, ["ingress/nginx"]);
  assert.deepEqual(view("bookstore").inbound.ingress?.[0]?.ipRanges, ["10.1.0.7/32"]);
  assert.notEqual(driver.render(view("bookstore")).hash, before);
});

test("/cidr.js: IPv4 ranges by arithmetic (no sign trouble above 128.0.0.0), IPv4-mapped peers, garbage never matches", () => {
  const cidr = loadPipyModule("/cidr.js", {}) as { parse: (c: string) => unknown; contains: (r: unknown[], ip: string) => boolean };
  const ranges = ["10.0.0.0/8", "192.168.1.7/32", "200.0.0.0/1"].map((c) => cidr.parse(c));
  const cases: [string, boolean][] = [
    ["10.255.255.255", true], ["11.0.0.0", false], ["192.168.1.7", true], ["192.168.1.8", true], // 192.168.1.8 is in 128.0.0.0/1
    ["::ffff:10.1.2.3", true], ["127.0.0.1", false], ["", false], ["10.0.0", false], ["10.0.0.256", false], ["2001:db8::1", false],
  ];
  for (const [ip, want] of cases) assert.equal(cidr.contains(ranges, ip), want, ip);
  assert.equal(cidr.contains([cidr.parse("0.0.0.0/0")], "255.255.255.255"), true);
  assert.equal(cidr.contains([cidr.parse("not-a-range/8")], "10.0.0.1"), false);
});

test("/ingress.js: plain HTTP and TLS without a certificate by address, mTLS by principal or address, per port; routes per request", (t) => {
  const ib: IngressBackend = {
    namespace: "shop", name: "in", origin: "i#1", matches: [{ ...ROUTE_GROUP, name: "api-routes" }],
    backends: [
      { name: "bookstore", port: { number: 14001, protocol: "http" } },
      { name: "bookstore", port: { number: 14443, protocol: "https" }, tls: { skipClientCertValidation: false, sniHosts: [] } },
    ],
    sources: [{ kind: "IPRange", name: "192.168.0.0/16" }, { kind: "AuthenticatedPrincipal", name: "nginx.ingress.cluster.local" }],
  };
  const { view } = setup(t, { ingressBackends: [ib], httpRouteGroups: ROUTES });
  const config = renderedConfig(view("bookstore"));
  const cidr = loadPipyModule("/cidr.js", {});
  const routing = loadPipyModule("/routing.js", { "/config.js": config });
  const tls = { hasIdentity: (cert: { names: string[] }, wanted: string[]) => cert.names.some((n) => wanted.includes(n)) };
  const ingress = loadPipyModule("/ingress.js", { "/config.js": config, "/routing.js": routing, "/cidr.js": cidr, "/tls.js": tls }) as {
    hasRules: (p: number) => boolean; plainRules: (ip: string, p: number) => unknown[]; tlsNoCertRules: (ip: string, p: number) => unknown[];
    certRules: (ip: string, p: number, cert: unknown) => unknown[]; requestAllowed: (rules: unknown[], head: unknown) => string;
  };
  assert.deepEqual([ingress.hasRules(14001), ingress.hasRules(14443), ingress.hasRules(8080)], [true, true, false]);
  assert.equal(ingress.plainRules("192.168.3.4", 14001).length, 1);
  assert.equal(ingress.plainRules("10.0.0.9", 14001).length, 0);
  assert.equal(ingress.plainRules("192.168.3.4", 14443).length, 0, "the https port takes no plain HTTP");
  assert.equal(ingress.tlsNoCertRules("192.168.3.4", 14443).length, 0, "a client certificate is required there");
  assert.equal(ingress.certRules("10.0.0.9", 14443, { names: ["nginx.ingress.cluster.local"] }).length, 1);
  assert.equal(ingress.certRules("10.0.0.9", 14443, { names: ["bookthief.shop.svc.cluster.local"] }).length, 0);
  assert.equal(ingress.certRules("192.168.3.4", 14443, { names: ["anyone.else"] }).length, 1, "an allowed address with a mesh-CA certificate");
  const admitted = ingress.plainRules("192.168.3.4", 14001);
  const head = (path: string, tenant?: string) => ({ method: "GET", path, headers: tenant ? { "x-tenant": tenant } : {} });
  assert.equal(ingress.requestAllowed(admitted, head("/v1/books", "a")), "shop/in");
  assert.equal(ingress.requestAllowed(admitted, head("/v1/books", "c")), "");
  assert.equal(ingress.requestAllowed(admitted, head("/admin", "a")), "");
});

test("--explain names the Egress and IngressBackend (and its file) behind each rule", (t) => {
  const ib: IngressBackend = {
    namespace: "shop", name: "in", origin: "ingress.yaml#2", matches: [],
    backends: [{ name: "bookstore", port: { number: 14001, protocol: "http" } }],
    sources: [{ kind: "Service", namespace: "ingress", name: "nginx" }],
  };
  const { catalog } = setup(t, { egresses: EGRESSES, httpRouteGroups: ROUTES, ingressBackends: [ib] });
  const buyer = catalog.explainProxyView({ proxyId: "b", service: { namespace: "shop", name: "bookbuyer" }, capture: "transparent" });
  assert.deepEqual(buyer.find((e) => e.part.startsWith("egress http port 80")), { part: "egress http port 80 to api.example.com (1 route matches)", from: ["Egress shop/api (egress.yaml#api)"] });
  const store = catalog.explainProxyView({ proxyId: "s", service: { namespace: "shop", name: "bookstore" }, capture: "transparent" });
  assert.deepEqual(store.find((e) => e.part.startsWith("inbound http port 14001")), {
    part: "inbound http port 14001 from outside the mesh: 10.1.0.5/32, 10.1.0.6/32",
    from: ["IngressBackend shop/in (ingress.yaml#2)", "endpoints of Service ingress/nginx"],
  });
});
