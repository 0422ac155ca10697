// Issue 18: UpstreamTrafficSetting and Retry from policies to config.json.
// Golden renders for both kinds, precedence between objects, what an
// UpstreamTrafficSetting for an unknown service does, the defaults, and that
// the catalog puts them into the views it builds.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { MeshCatalog } from "../../src/controller/catalog/catalog.js";
import { ResilienceIndex, withResilience } from "../../src/controller/catalog/resilience-view.js";
import { silentLogger } from "../../src/common/logger.js";
import { PipyDriver } from "../../src/controller/drivers/pipy/pipy-driver.js";
import { pipyRetry, retryStatuses } from "../../src/controller/drivers/pipy/resilience-config.js";
import type { Retry, UpstreamTrafficSetting } from "../../src/controller/spec/policy-types.js";
import { FakeConnected, FakeProvider, FakeSpec } from "../helpers/fake-sources.js";
import { effectiveConfigJson } from "../helpers/pipyjs.js";
import { noOutboundView, splitView } from "./pipy-fixtures.js";

const GOLDEN = fileURLToPath(new URL("../../../test/golden/pipy/", import.meta.url));
const driver = new PipyDriver({ trustDomain: "cluster.local" });
const sa = (namespace: string, name: string) => ({ kind: "ServiceAccount" as const, namespace, name });
const svc = (namespace: string, name: string) => ({ kind: "Service" as const, namespace, name });
const meta = (namespace: string, name: string) => ({ namespace, name, origin: `${name}.yaml#1` });

const bookstoreSetting: UpstreamTrafficSetting = {
  ...meta("bookstore", "bookstore-limits"), host: "bookstore.bookstore.svc.cluster.local", service: { namespace: "bookstore", name: "bookstore" },
  tcp: { maxConnections: 10, connectTimeoutMs: 1500 },
  http: {
    maxRequests: 50, maxPendingRequests: 5, maxRequestsPerConnection: 100, maxRetries: 3, requestTimeoutMs: 30_000,
    circuitBreaking: { statTimeWindowMs: 10_000, minRequestAmount: 20, degradedTimeWindowMs: 5000, errorRatioThreshold: 0.5, slowTimeThresholdMs: 2000, slowAmountThreshold: 10 },
  },
  httpRoutes: [],
};
const v1Setting: UpstreamTrafficSetting = {
  ...meta("bookstore", "v1-rate"), host: "bookstore-v1.bookstore.svc.cluster.local", service: { namespace: "bookstore", name: "bookstore-v1" },
  rateLimit: {
    tcp: { amount: 100, unit: "minute", burst: 10 },
    http: { amount: 20, unit: "second", burst: 5, responseHeadersToAdd: [{ name: "X-RateLimited", value: "true" }] },
  },
  httpRoutes: [{ path: "/books/.*", rateLimit: { amount: 5, unit: "second", burst: 0, responseStatusCode: 503, responseHeadersToAdd: [] } }, { path: "/free" }],
};
const buyerRetry: Retry = {
  ...meta("bookbuyer", "retry"), source: sa("bookbuyer", "bookbuyer"), destinations: [svc("bookstore", "bookstore"), svc("bookstore", "bookstore-v1")],
  retryPolicy: { retryOn: ["5xx", "retriable-4xx", "429"], numRetries: 3, perTryTimeoutMs: 500, retryBackoffBaseIntervalMs: 100 },
};

/** A permissive catalog over bookbuyer and bookstore on one provider, policies fed through the returned spec. */
function bookstoreCatalog(t: { after: (fn: () => void) => void }): { spec: FakeSpec; catalog: MeshCatalog } {
  const onprem = new FakeProvider("onprem");
  onprem.set("bookbuyer/bookbuyer", ["10.0.0.1:8080"], false);
  onprem.set("bookstore/bookstore", ["10.0.0.2:14001"], false);
  const spec = new FakeSpec();
  const catalog = new MeshCatalog({
    providers: [onprem], spec, certificates: { certificates: () => [] }, connected: new FakeConnected(),
    providerPriority: [], permissive: true, logger: silentLogger(),
  });
  const ac = new AbortController();
  catalog.start(ac.signal);
  t.after(() => ac.abort());
  return { spec, catalog };
}

// The merged config (config.json + view.json through /config.js): the bytes of the single config.json before the split.
const configJson = (view: Parameters<PipyDriver["render"]>[0]): string => effectiveConfigJson(driver.render(view).files);

async function golden(name: string, actual: string): Promise<void> {
  const file = `${GOLDEN}${name}.config.json`;
  if (process.env.UPDATE_GOLDEN === "1") await writeFile(file, actual);
  assert.equal(actual, await readFile(file, "utf8"), `${file} differs; rerun with UPDATE_GOLDEN=1 if the change is intended`);
}

test("golden: a client with a Retry and an UpstreamTrafficSetting for what it calls", async () => {
  const index = new ResilienceIndex({ upstreamTrafficSettings: [bookstoreSetting, v1Setting], retries: [buyerRetry] });
  await golden("resilience-client", configJson(withResilience(splitView, index)));
});

test("golden: an upstream's inbound rate limits (service, connections, per route)", async () => {
  const index = new ResilienceIndex({ upstreamTrafficSettings: [bookstoreSetting, v1Setting], retries: [buyerRetry] });
  await golden("resilience-upstream", configJson(withResilience(noOutboundView, index)));
});

test("without these policies, or with policies about others, the render is byte-identical to before", () => {
  const none = new ResilienceIndex({ upstreamTrafficSettings: [], retries: [] });
  assert.equal(configJson(withResilience(splitView, none)), configJson(splitView));
  const elsewhere = new ResilienceIndex({
    upstreamTrafficSettings: [{ ...bookstoreSetting, ...meta("x", "unknown"), host: "ghost.nowhere.svc.cluster.local", service: { namespace: "nowhere", name: "ghost" } }],
    retries: [{ ...buyerRetry, source: sa("bookthief", "bookthief") }],
  });
  assert.equal(configJson(withResilience(splitView, elsewhere)), configJson(splitView), "an UpstreamTrafficSetting for an unknown service, a Retry for another source");
  const egress = new ResilienceIndex({ upstreamTrafficSettings: [{ ...bookstoreSetting, host: "api.example.com", service: undefined }], retries: [] });
  assert.equal(configJson(withResilience(splitView, egress)), configJson(splitView), "an egress host is not a mesh service");
});

test("precedence: two Retry objects for one source and destination, two settings for one service: first by namespace/name wins", () => {
  const later: Retry = { ...buyerRetry, ...meta("bookbuyer", "z-retry"), retryPolicy: { retryOn: ["reset"], numRetries: 9 } };
  const earlier: Retry = { ...buyerRetry, ...meta("bookbuyer", "a-retry"), destinations: [svc("bookstore", "bookstore")], retryPolicy: { retryOn: ["gateway-error"], numRetries: 2 } };
  const otherSetting: UpstreamTrafficSetting = { ...bookstoreSetting, ...meta("bookstore", "z-limits"), tcp: { maxConnections: 1 } };
  for (const order of [[later, earlier], [earlier, later]]) {
    const index = new ResilienceIndex({ upstreamTrafficSettings: [otherSetting, bookstoreSetting], retries: order });
    const view = withResilience(splitView, index);
    assert.equal(view.outbound[0]!.retry?.retry, "bookbuyer/a-retry");
    assert.deepEqual(view.outbound[0]!.retry?.retryOn, ["gateway-error"]);
    // a-retry does not name bookstore-v1: z-retry still applies there.
    assert.equal(view.outbound[1]!.retry?.retry, "bookbuyer/z-retry");
    assert.equal(view.outbound[0]!.limits?.upstreamTrafficSetting, "bookstore/bookstore-limits");
    assert.deepEqual(index.shadowed, [
      "UpstreamTrafficSetting bookstore/z-limits: bookstore/bookstore already has bookstore/bookstore-limits",
      "Retry bookbuyer/z-retry: bookbuyer/bookbuyer -> bookstore/bookstore already has bookbuyer/a-retry",
    ]);
  }
});

test("defaults: numRetries 1, backoff base 25 ms capped at 10x; retryOn words as status ranges", () => {
  const r = pipyRetry({ retry: "a/b", retryOn: ["gateway-error"] });
  assert.deepEqual(r, { retry: "a/b", statuses: [[502, 504]], noResponse: true, numRetries: 1, backoffBaseMs: 25, backoffMaxMs: 250 });
  assert.deepEqual(retryStatuses(["5xx", "503", "retriable-4xx", "429"]), { statuses: [[409, 409], [429, 429], [500, 599]], noResponse: true });
  assert.deepEqual(retryStatuses(["reset"]), { statuses: [], noResponse: true });
  assert.deepEqual(retryStatuses(["connect-failure", "500", "501"]), { statuses: [[500, 501]], noResponse: true });
  assert.deepEqual(retryStatuses(["503"]), { statuses: [[503, 503]], noResponse: false });
});

test("the catalog puts a service's setting and the caller's Retry into the views it builds, and follows spec changes", (t) => {
  const { spec, catalog } = bookstoreCatalog(t);
  catalog.flush();
  const buyer = () => catalog.proxyView({ proxyId: "p1", service: { namespace: "bookbuyer", name: "bookbuyer" } });
  const store = () => catalog.proxyView({ proxyId: "p2", service: { namespace: "bookstore", name: "bookstore" } });
  assert.equal(buyer().outbound[0]!.limits, undefined);
  spec.set({ upstreamTrafficSettings: [{ ...bookstoreSetting, rateLimit: v1Setting.rateLimit! }], retries: [buyerRetry] });
  catalog.flush();
  const out = buyer().outbound.find((o) => o.service.name === "bookstore")!;
  assert.equal(out.limits?.maxConnections, 10);
  assert.equal(out.limits?.circuitBreaking?.errorRatioThreshold, 0.5);
  assert.equal(out.retry?.numRetries, 3);
  assert.equal(store().inbound.rateLimit?.http?.amount, 20, "the upstream's own proxy gets the rate limit");
  assert.equal(store().outbound.find((o) => o.service.name === "bookbuyer")?.retry, undefined, "a Retry applies to its source only");
});

test("--explain names the UpstreamTrafficSetting and Retry (and their files) behind each limit, retry and rate limit; the default retry says so", (t) => {
  const { spec, catalog } = bookstoreCatalog(t);
  spec.set({ upstreamTrafficSettings: [{ ...bookstoreSetting, rateLimit: v1Setting.rateLimit!, httpRoutes: v1Setting.httpRoutes }], retries: [buyerRetry] });
  catalog.flush();
  const lines = (id: string, name: string) => catalog.explainProxyView({ proxyId: id, service: { namespace: name, name } }).map((e) => `${e.part} <- ${e.from.join("; ")}`);
  const buyer = lines("p1", "bookbuyer");
  assert.ok(buyer.includes("outbound bookstore/bookstore limits connectTimeoutMs=1500 maxConnections=10 maxRequests=50 maxPendingRequests=5 maxRequestsPerConnection=100 maxRetries=3 requestTimeoutMs=30000 <- UpstreamTrafficSetting bookstore/bookstore-limits (bookstore-limits.yaml#1)"), buyer.join("\n"));
  assert.ok(buyer.some((l) => l.startsWith("outbound bookstore/bookstore circuit breaking statTimeWindowMs=10000") && l.endsWith("<- UpstreamTrafficSetting bookstore/bookstore-limits (bookstore-limits.yaml#1)")), buyer.join("\n"));
  assert.ok(buyer.includes("outbound bookstore/bookstore retry retryOn=5xx,retriable-4xx,429 numRetries=3 perTryTimeoutMs=500 retryBackoffBaseIntervalMs=100 <- Retry bookbuyer/retry (retry.yaml#1)"), buyer.join("\n"));
  const store = lines("p2", "bookstore");
  assert.ok(store.includes("inbound requests limited to 20/second burst 5 <- UpstreamTrafficSetting bookstore/bookstore-limits (bookstore-limits.yaml#1)"), store.join("\n"));
  assert.ok(store.includes("inbound connections limited to 100/minute burst 10 <- UpstreamTrafficSetting bookstore/bookstore-limits (bookstore-limits.yaml#1)"), store.join("\n"));
  assert.ok(store.some((l) => l.startsWith("inbound requests on ")), store.join("\n"));
  assert.ok(store.some((l) => /^outbound bookbuyer\/bookbuyer retry: the default .* <- no Retry from this identity to the service$/.test(l)), store.join("\n"));
});
