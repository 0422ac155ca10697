// Issue 18 item 6: an endpoint whose agent's health probe fails is offered to
// no caller (whichever providers list it), returns when healthy, and the
// catalog and participants say why. A service whose endpoints are all
// unhealthy keeps its ports with no endpoints: fail closed, like Kubernetes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MeshCatalog } from "../../src/controller/catalog/catalog.js";
import { silentLogger } from "../../src/common/logger.js";
import { FakeSpec } from "../helpers/fake-sources.js";
import { P1, P2, P3, offered, splitCatalog, v1, v2 } from "../helpers/split-catalog.js";
import type { EndpointHealthInfo } from "../../src/controller/providers/types.js";
import { healthCell } from "../../src/cli/commands/inspect.js";

function setup() {
  const s = splitCatalog({ "shop/bookstore-v1": ["10.0.0.2:14001", "10.0.0.4:14001"], "shop/bookstore-v2": ["10.0.0.3:14001"] });
  s.agents.announce(P1, v1, [{ ip: "10.0.0.2", port: 14001 }]);
  s.agents.announce(P3, v1, [{ ip: "10.0.0.4", port: 14001 }]);
  s.agents.announce(P2, v2, [{ ip: "10.0.0.3", port: 14001 }]);
  return s;
}

function health(ip: string, state: EndpointHealthInfo["state"], reason = state === "unhealthy" ? "probe failed: connection refused after 3 tries" : "probe succeeded"): EndpointHealthInfo {
  return { ip, port: 14001, state, reason, since: "2026-12-03T19:00:00.000Z", probe: "http GET :14001/healthz every 10s", source: "agent" };
}


test("an unhealthy endpoint leaves every caller's view (also as a split backend) and returns when healthy", (t) => {
  const { agents, view, changes, stop } = setup();
  t.after(stop);
  assert.deepEqual(offered(view())["shop/bookstore-v1"], ["10.0.0.2:14001", "10.0.0.4:14001"]);
  changes.length = 0;
  agents.reportHealth(P1, [health("10.0.0.2", "unhealthy")]);
  const after = offered(view());
  assert.ok(changes.some((c) => c.includes("shop/bookstore-v1")), "health alone changing is a change of the service: its callers re-render");
  assert.deepEqual(after["shop/bookstore-v1"], ["10.0.0.4:14001"], "the hosts file still lists it: the probe wins");
  assert.deepEqual(after["shop/bookstore>bookstore-v1"], ["10.0.0.4:14001"]);
  const unhealthyView = view();
  agents.reportHealth(P1, [health("10.0.0.2", "unhealthy", "probe failed: HTTP 500 after 4 tries")]);
  assert.deepEqual(view(), unhealthyView, "a new reason alone changes no view (so no rendered hash: nothing is sent)");
  agents.reportHealth(P1, [health("10.0.0.2", "healthy")]);
  assert.deepEqual(offered(view())["shop/bookstore-v1"], ["10.0.0.2:14001", "10.0.0.4:14001"]);
});

test("unknown (no verdict yet) counts as ready; a report for an endpoint the proxy did not announce is ignored", (t) => {
  const { agents, view, stop } = setup();
  t.after(stop);
  agents.reportHealth(P1, [health("10.0.0.2", "unknown"), health("10.0.0.4", "unhealthy")]);
  assert.deepEqual(offered(view())["shop/bookstore-v1"], ["10.0.0.2:14001", "10.0.0.4:14001"]);
});

test("every endpoint unhealthy: the service keeps its ports and has no endpoints (fail closed), even as a last resort", (t) => {
  const { agents, view, stop } = setup();
  t.after(stop);
  agents.reportHealth(P2, [health("10.0.0.3", "unhealthy")]);
  const v = view();
  const out = offered(v);
  assert.deepEqual(out["shop/bookstore-v2"], []);
  assert.deepEqual(v.outbound.find((o) => o.service.name === "bookstore-v2")?.ports, [14001], "the service is still there: callers get a refusal, not a passthrough");
  assert.deepEqual(out["shop/bookstore>bookstore-v2"], [], "the split sends to v1 only");
  assert.deepEqual(out["shop/bookstore>bookstore-v1"], ["10.0.0.2:14001", "10.0.0.4:14001"]);
});

test("an agent that disconnects takes its health report with it (its endpoint is then 'gone', not unhealthy)", (t) => {
  const { agents, view, catalog, stop } = setup();
  t.after(stop);
  agents.reportHealth(P1, [health("10.0.0.2", "unhealthy")]);
  view();
  assert.equal(catalog.service("shop/bookstore-v1")?.endpoints.find((e) => e.ip === "10.0.0.2")?.health?.state, "unhealthy");
  agents.withdraw(P1);
  view();
  assert.equal(catalog.service("shop/bookstore-v1")?.endpoints.find((e) => e.ip === "10.0.0.2")?.health, undefined);
  agents.announce(P1, v1, [{ ip: "10.0.0.2", port: 14001 }]);
  assert.deepEqual(offered(view())["shop/bookstore-v1"], ["10.0.0.2:14001", "10.0.0.4:14001"], "back without a report: ready until its probe says otherwise");
});

test("the catalog snapshot and participants show each probed endpoint's health and why", (t) => {
  const { agents, view, catalog, connected, stop } = setup();
  t.after(stop);
  agents.reportHealth(P1, [health("10.0.0.2", "unhealthy")]);
  agents.reportHealth(P3, [health("10.0.0.4", "healthy")]);
  view();
  const endpoints = catalog.snapshot().services.find((s) => s.name === "bookstore-v1")!.endpoints;
  assert.deepEqual(endpoints.map((e) => [e.ip, e.health?.state, e.health?.reason]), [
    ["10.0.0.2", "unhealthy", "probe failed: connection refused after 3 tries"],
    ["10.0.0.4", "healthy", "probe succeeded"],
  ]);
  assert.equal(catalog.snapshot().services.find((s) => s.name === "bookstore-v2")!.endpoints[0]!.health, undefined, "not probed: no health field");
  connected.proxies = [{ proxyId: P1, service: v1, serial: "01", addresses: ["10.0.0.2"], connectedAt: "2026-12-03T19:00:00.000Z" }];
  const certs = [{ serial: "01", kind: "proxy", state: "claimed", service: "shop/bookstore-v1", proxyId: P1 }];
  const withCerts = new MeshCatalog({
    providers: [agents], spec: new FakeSpec(), certificates: { certificates: () => certs as never }, connected,
    providerPriority: ["agents"], permissive: true, logger: silentLogger(),
  });
  const ac = new AbortController();
  t.after(() => ac.abort());
  withCerts.start(ac.signal);
  const p = withCerts.participants().participants.find((x) => x.proxyId === P1);
  assert.deepEqual(p?.endpoints, [{ ip: "10.0.0.2", port: 14001, health: { state: "unhealthy", reason: "probe failed: connection refused after 3 tries", since: "2026-12-03T19:00:00.000Z", probe: "http GET :14001/healthz every 10s", source: "agent" } }]);
});

test("meshfed catalog's HEALTH column: '-' when not probed, the state, and why when unhealthy", () => {
  assert.equal(healthCell(undefined), "-");
  assert.equal(healthCell({ state: "healthy", reason: "probe succeeded", since: "", probe: "", source: "agent" }), "healthy");
  assert.equal(healthCell({ state: "unknown", reason: "no probe result yet", since: "", probe: "", source: "hosts" }), "unknown");
  assert.equal(healthCell({ state: "unhealthy", reason: "probe failed: connection refused after 3 tries", since: "", probe: "", source: "token" }), "unhealthy (probe failed: connection refused after 3 tries)");
});
