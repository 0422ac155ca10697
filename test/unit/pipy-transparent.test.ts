// The transparent data plane's pure logic, run in Node against the rendered
// config.json (issues 14 and 15): original destination -> (service, port),
// the port asked for in explicit mode, and endpoint choice per service port,
// also across TrafficSplit backends. Real Pipy: test/pipy/transparent-*.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { ProxyView } from "../../src/controller/catalog/types.js";
import { fakeAlgo, loadPipyModule, renderedConfig } from "../helpers/pipyjs.js";
import { splitView, transparentView } from "./pipy-fixtures.js";

const sa = (namespace: string, name: string) => ({ kind: "ServiceAccount" as const, namespace, name });

function modules(view: ProxyView, options = {}) {
  const config = renderedConfig(view, options);
  const routing = loadPipyModule("/routing.js", { "/config.js": config });
  const balancing = loadPipyModule("/balancing.js", { "/config.js": config, "/routing.js": routing }, { algo: fakeAlgo });
  return { config, routing, balancing };
}

test("routing.lookup: endpoint address, mesh VIP and ClusterIP on a service port; anything else is not in the mesh", () => {
  const { routing } = modules(transparentView);
  const lookup = routing.lookup as (ip: string, port: number) => { upstream: number; port: number } | null;
  const cases: [string, number, { upstream: number; port: number } | null][] = [
    ["10.0.0.7", 3306, { upstream: 0, port: 3306 }], // db's endpoint
    ["240.240.0.2", 3306, { upstream: 0, port: 3306 }], // db's mesh VIP
    ["10.96.0.20", 3306, { upstream: 0, port: 3306 }], // db's ClusterIP
    ["240.240.0.2", 3307, null], // the VIP on a port db does not have
    ["10.0.0.7", 13306, null], // a peer's inbound listener is not a destination an app dials
    ["10.0.0.8", 9443, { upstream: 1, port: 9443 }],
    ["240.240.0.3", 9000, { upstream: 1, port: 9000 }],
    ["240.240.0.3", 9443, { upstream: 1, port: 9443 }],
    ["10.0.0.9", 9443, null], // pay has 9443 only on 10.0.0.8
    ["93.184.216.34", 443, null],
  ];
  for (const [ip, port, want] of cases) assert.deepEqual(lookup(ip, port), want, `${ip}:${port}`);
  const protocolOf = routing.protocolOf as (i: number, p: number) => string;
  assert.deepEqual([protocolOf(0, 3306), protocolOf(1, 9000), protocolOf(1, 9443)], ["tcp", "http2", "http"]);
});

test("routing.lookup: an endpoint belongs to the service that owns it, not to a TrafficSplit root that lists it", () => {
  const { routing } = modules(splitView);
  const lookup = routing.lookup as (ip: string, port: number) => { upstream: number } | null;
  // bookstore (0) is the split root over v1 and v2; bookstore-v1 (1) owns 127.0.0.3 and .4.
  assert.equal(lookup("127.0.0.3", 8080)?.upstream, 1);
  assert.equal(lookup("127.0.0.4", 8080)?.upstream, 1);
  // v2 is not an outbound service of its own here: its endpoint means the root.
  assert.equal(lookup("127.0.0.5", 8080)?.upstream, 0);
});

test("routing.requestedPort: the Host's port when the service has it, else its only port, else any (0)", () => {
  const { routing } = modules(transparentView);
  const resolve = routing.resolve as (head: { path: string; headers: Record<string, string> }) => number;
  const requestedPort = routing.requestedPort as (i: number, head: { headers: Record<string, string> }) => number;
  const ask = (host: string) => {
    const head = { path: "/", headers: { host } };
    return [resolve(head), requestedPort(resolve(head), head)];
  };
  assert.deepEqual(ask("pay.shop:9443"), [1, 9443]);
  assert.deepEqual(ask("pay.shop.svc.cluster.local:9000"), [1, 9000]);
  assert.deepEqual(ask("pay.shop"), [1, 0], "two ports, none asked: any endpoint");
  assert.deepEqual(ask("pay.shop:80"), [1, 0], "a port the service does not have counts as none");
  assert.deepEqual(ask("db.shop"), [0, 3306], "one port: that port");
  const proxied = { path: "http://pay.shop:9443/x?y=1", headers: { host: "elsewhere" } };
  assert.equal(resolve(proxied), 1);
  assert.deepEqual([proxied.path, proxied.headers.host], ["/x?y=1", "pay.shop:9443"], "absolute URI: its authority becomes the Host");
});

test("balancing: endpoints are chosen among the requested port's only; port 0 uses all", () => {
  const { balancing } = modules(transparentView);
  const pickTarget = balancing.pickTarget as (i: number, head: unknown, port: number) => unknown;
  const pickEndpoint = balancing.pickEndpoint as (t: unknown, skip: (e: string) => boolean, port: number) => string;
  const none = () => false;
  const picks = (port: number, n: number) => Array.from({ length: n }, () => pickEndpoint(pickTarget(1, null, port), none, port));
  assert.deepEqual(new Set(picks(9000, 10)), new Set(["10.0.0.8:19000", "10.0.0.9:19000"]));
  assert.deepEqual(new Set(picks(9443, 5)), new Set(["10.0.0.8:19443"]));
  assert.deepEqual(new Set(picks(0, 9)), new Set(["10.0.0.8:19000", "10.0.0.8:19443", "10.0.0.9:19000"]));
  assert.equal(pickEndpoint(pickTarget(1, null, 7777), none, 7777), "", "no endpoint on that port");
  assert.equal(pickEndpoint(pickTarget(1, null, 9443), (e) => e === "10.0.0.8:19443", 9443), "", "the only one was skipped");
  // With another inbound port offset, the service port is still found.
  const shifted = modules(transparentView, { inboundPortOffset: 20000 }).balancing;
  const t = (shifted.pickTarget as typeof pickTarget)(1, null, 9443);
  assert.equal((shifted.pickEndpoint as typeof pickEndpoint)(t, none, 9443), "10.0.0.8:29443");
});

test("balancing: a TrafficSplit per port: backends without an endpoint on the port drop out, the rest keep their weights", () => {
  const view: ProxyView = {
    ...splitView,
    outbound: [{
      service: { namespace: "shop", name: "db" }, identity: sa("shop", "db"), ports: [3306, 3307], protocols: { "3306": "tcp", "3307": "tcp" }, endpoints: [],
      split: {
        trafficSplit: "shop/db-split", matches: [],
        backends: [
          { service: { namespace: "shop", name: "db-a" }, weight: 70, endpoints: [{ ip: "10.0.1.1", port: 3306 }, { ip: "10.0.1.1", port: 3307 }] },
          { service: { namespace: "shop", name: "db-b" }, weight: 30, endpoints: [{ ip: "10.0.1.2", port: 3306 }] },
        ],
      },
    }],
  };
  const { balancing } = modules(view);
  const pickTarget = balancing.pickTarget as (i: number, head: unknown, port: number) => { service: string } | null;
  const count = (port: number, n: number) => {
    const seen: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      const s = pickTarget(0, null, port)?.service ?? "none";
      seen[s] = (seen[s] ?? 0) + 1;
    }
    return seen;
  };
  assert.deepEqual(count(3306, 100), { "shop/db-a": 70, "shop/db-b": 30 });
  assert.deepEqual(count(3307, 10), { "shop/db-a": 10 });
  assert.deepEqual(count(3308, 3), { none: 3 }, "no backend has the port, and there is no direct target");
});

test("balancing: a split restricted by HTTP matches never applies to a TCP connection (no request head)", () => {
  const view: ProxyView = {
    ...splitView,
    outbound: [{
      ...splitView.outbound[0]!,
      endpoints: [{ ip: "127.0.0.9", port: 8080 }],
      split: { ...splitView.outbound[0]!.split!, matches: [{ name: "beta", methods: ["*"], headers: { "x-beta": "1" } }] },
    }],
  };
  const { balancing } = modules(view);
  const pickTarget = balancing.pickTarget as (i: number, head: unknown, port: number) => { service: string } | null;
  assert.equal(pickTarget(0, null, 8080)?.service, "bookstore/bookstore");
  assert.equal(pickTarget(0, { method: "GET", path: "/", headers: { "x-beta": "1" } }, 8080)?.service, "bookstore/bookstore-v1");
});

test("config.json: the transparent listener and its passthrough setting follow the view; the offset is carried", () => {
  const on = renderedConfig(transparentView) as { outbound: { transparent?: { listen: string; passthrough: boolean }; inboundPortOffset: number } };
  assert.deepEqual(on.outbound.transparent, { listen: "127.0.0.1:15002", passthrough: true });
  assert.equal(on.outbound.inboundPortOffset, 10000);
  const deny = renderedConfig({ ...transparentView, proxy: { ...transparentView.proxy, outboundPassthrough: false } }, { transparentPort: 16002 }) as typeof on;
  assert.deepEqual(deny.outbound.transparent, { listen: "127.0.0.1:16002", passthrough: false });
  const explicit = renderedConfig({ ...transparentView, proxy: { ...transparentView.proxy, capture: "none" } }) as typeof on;
  assert.equal(explicit.outbound.transparent, undefined);
});
