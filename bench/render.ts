/**
 * The render scenario of `npm run bench` (issue 4): what one proxy's config
 * costs the controller. A catalog of S services × E endpoints with a ring of
 * TrafficTargets (svc-i may call svc-(i+1) over one HTTPRouteGroup), so each
 * view holds the proxy's own endpoints, one inbound rule and one outbound
 * service. Timed separately, over the same views: building the view
 * (`MeshCatalog.proxyView`), rendering it with the PipyDriver (config.json +
 * the constant codebase, canonical JSON, sha256 over every file) and with the
 * JsonDriver (the view itself as canonical JSON). Needs no Pipy.
 *
 * Issue 17, one render per distinct view: the PipyDriver renders the shared
 * /view.json once per distinct view inputs and config.json per proxy. Timed
 * apart: a render whose shared part is cached (the common case in a push)
 * and one whose shared part is new (a cache of one view, services cycling),
 * and a mesh-wide change over every proxy (S × E, one per endpoint) with a
 * fresh driver: its time and how many shared parts it rendered (expect S).
 */
import { MeshCatalog, NO_CONNECTED_PROXIES } from "../src/controller/catalog/catalog.js";
import type { ProxyView } from "../src/controller/catalog/types.js";
import { JsonDriver } from "../src/controller/drivers/json/json-driver.js";
import { PipyDriver } from "../src/controller/drivers/pipy/pipy-driver.js";
import type { SidecarDriver } from "../src/controller/drivers/types.js";
import type { HTTPRouteGroup, TrafficTarget } from "../src/controller/spec/types.js";
import { emptyPolicies } from "../src/controller/spec/policy-types.js";
import { silentLogger } from "../src/common/logger.js";
import { MemoryProvider, MemorySpec } from "./sources.js";

export type Report = (scenario: string, figure: string, value: number, unit: string) => void;

export interface RenderBenchOptions {
  readonly services: number;
  readonly perService: number;
  /** Views built and rendered per driver (cycling over the services). */
  readonly renders: number;
  readonly report: Report;
}

const NAMESPACE = "bench";
const TRUST_DOMAIN = "cluster.local";

function ringSpec(services: number): MemorySpec {
  const routes: HTTPRouteGroup = {
    namespace: NAMESPACE, name: "routes", origin: "bench#routes",
    matches: [{ name: "api", pathRegex: "/api/.*", methods: ["GET", "POST"], headers: {} }],
  };
  const targets: TrafficTarget[] = Array.from({ length: services }, (_, s) => ({
    namespace: NAMESPACE, name: `svc-${s}-to-next`, origin: `bench#tt-${s}`,
    destination: { kind: "ServiceAccount", namespace: NAMESPACE, name: `svc-${(s + 1) % services}` },
    sources: [{ kind: "ServiceAccount", namespace: NAMESPACE, name: `svc-${s}` }],
    rules: [{ kind: "HTTPRouteGroup", name: "routes", matches: [] }],
  }));
  return new MemorySpec({ trafficSplits: [], trafficTargets: targets, httpRouteGroups: [routes], tcpRoutes: [], ...emptyPolicies() });
}

function ip(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

/** Mean µs per call of `fn(i)` over `count` calls, after `count / 10` untimed warm-up calls. */
function meanMicros(count: number, fn: (i: number) => void): number {
  for (let i = 0; i < Math.ceil(count / 10); i++) fn(i);
  const started = performance.now();
  for (let i = 0; i < count; i++) fn(i);
  return ((performance.now() - started) * 1000) / count;
}

export function runRenderBenchmark(o: RenderBenchOptions): void {
  const provider = new MemoryProvider("onprem");
  let n = 0;
  for (let s = 0; s < o.services; s++) {
    const endpoints = Array.from({ length: o.perService }, () => ({ ip: ip(n++), port: 8080, source: `bench#${s}` }));
    provider.set(NAMESPACE, `svc-${s}`, endpoints, false);
  }
  const catalog = new MeshCatalog({
    providers: [provider], spec: ringSpec(o.services), certificates: { certificates: () => [] }, connected: NO_CONNECTED_PROXIES,
    providerPriority: ["onprem"], permissive: false, coalesceMs: 1_000_000, logger: silentLogger(),
  });
  const stop = new AbortController();
  catalog.start(stop.signal);
  try {
    const input = (i: number) => {
      const s = i % o.services;
      // The first endpoint of the service is this proxy's host.
      return { proxyId: `proxy-${s}`, service: { namespace: NAMESPACE, name: `svc-${s}` }, addresses: [ip(s * o.perService)] };
    };
    const sample = catalog.proxyView(input(0));
    // A view without its outbound would time an empty render: the ring must have reached the catalog.
    if (sample.outbound.length !== 1 || sample.inbound.rules.length !== 1) {
      throw new Error(`render scenario: expected 1 outbound service and 1 inbound rule in a view, got ${sample.outbound.length} and ${sample.inbound.rules.length}`);
    }
    const views: ProxyView[] = Array.from({ length: Math.min(o.services, o.renders) }, (_, i) => catalog.proxyView(input(i)));
    const view = meanMicros(o.renders, (i) => catalog.proxyView(input(i)));
    const pipy = new PipyDriver({ trustDomain: TRUST_DOMAIN, inboundPortOffset: 10000 });
    const drivers: SidecarDriver[] = [pipy, new JsonDriver()];
    const render = drivers.map((d) => meanMicros(o.renders, (i) => d.render(views[i % views.length]!)));
    // Room for one view only, and consecutive renders are of different services: every shared part is rendered.
    const uncached = new PipyDriver({ trustDomain: TRUST_DOMAIN, inboundPortOffset: 10000 }, { viewCacheBytes: 1 });
    const missRender = meanMicros(o.renders, (i) => uncached.render(views[i % views.length]!));
    // A mesh-wide change: every proxy (one per endpoint) rendered once by a driver that has seen none of the new views.
    const proxies: ProxyView[] = [];
    for (let s = 0; s < o.services; s++) {
      for (let k = 0; k < o.perService; k++) {
        proxies.push(catalog.proxyView({ proxyId: `proxy-${s}-${k}`, service: { namespace: NAMESPACE, name: `svc-${s}` }, addresses: [ip(s * o.perService + k)] }));
      }
    }
    const fresh = new PipyDriver({ trustDomain: TRUST_DOMAIN, inboundPortOffset: 10000 });
    const meshStarted = performance.now();
    for (const v of proxies) fresh.render(v);
    const meshMs = performance.now() - meshStarted;
    // The same change as the controller does it: a catalog update (which drops the views' shared parts), then every proxy's view and render.
    provider.set(NAMESPACE, "svc-0", Array.from({ length: o.perService }, (_, k) => ({ ip: ip(k), port: 8080, source: "bench#0" })));
    catalog.flush();
    const afterUpdate = new PipyDriver({ trustDomain: TRUST_DOMAIN, inboundPortOffset: 10000 });
    const updateStarted = performance.now();
    for (let s = 0; s < o.services; s++) {
      for (let k = 0; k < o.perService; k++) {
        afterUpdate.render(catalog.proxyView({ proxyId: `proxy-${s}-${k}`, service: { namespace: NAMESPACE, name: `svc-${s}` }, addresses: [ip(s * o.perService + k)] }));
      }
    }
    const updateMs = performance.now() - updateStarted;
    const bytes = drivers.map((d) => d.render(sample).files.reduce((x, f) => x + f.content.length, 0));
    const configJson = drivers.map((d) => d.render(sample).files.find((f) => f.path === "/config.json")!.content.length);

    const scenario = `render ${o.services} services x ${o.perService} endpoints`;
    o.report(scenario, "build one proxy view (catalog.proxyView, its shared parts already built)", view, "µs");
    o.report(scenario, "render one view, PipyDriver (config.json + codebase, sha256; shared view.json cached)", render[0]!, "µs");
    o.report(scenario, "render one view, PipyDriver, shared view.json rendered too (cache miss)", missRender, "µs");
    o.report(scenario, `mesh-wide change: render all ${proxies.length} proxies, PipyDriver, fresh cache`, meshMs, "ms");
    o.report(scenario, "mesh-wide change: PipyDriver render per proxy", (meshMs * 1000) / proxies.length, "µs");
    o.report(scenario, "mesh-wide change: shared view.json renders (one per distinct view)", fresh.viewCacheStats().renders, "renders");
    o.report(scenario, "mesh-wide change after a catalog update: view + PipyDriver render per proxy (shared parts built once per distinct view)", (updateMs * 1000) / proxies.length, "µs");
    o.report(scenario, "render one view, JsonDriver", render[1]!, "µs");
    o.report(scenario, "ratio render PipyDriver / JsonDriver", render[0]! / render[1]!, "x");
    o.report(scenario, "view + Pipy render per proxy", view + render[0]!, "µs");
    o.report(scenario, "PipyDriver config.json per proxy", configJson[0]!, "bytes");
    o.report(scenario, "PipyDriver view.json per distinct view", drivers[0]!.render(sample).files.find((f) => f.path === "/view.json")!.content.length, "bytes");
    o.report(scenario, "PipyDriver all files per proxy (codebase + view.json + config.json)", bytes[0]!, "bytes");
    o.report(scenario, "JsonDriver config.json per proxy", configJson[1]!, "bytes");
  } finally {
    stop.abort();
  }
}
