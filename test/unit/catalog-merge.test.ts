import { test } from "node:test";
import assert from "node:assert/strict";
import { MeshCatalog } from "../../src/controller/catalog/catalog.js";
import { silentLogger } from "../../src/common/logger.js";
import { FakeConnected, FakeProvider, FakeSpec } from "../helpers/fake-sources.js";
import { quietPeriod, scaled, waitFor } from "../helpers/wait.js";

function setup(priority = ["kubernetes", "azure", "agents", "onprem"]) {
  const onprem = new FakeProvider("onprem");
  const agents = new FakeProvider("agents");
  const kubernetes = new FakeProvider("kubernetes");
  const catalog = new MeshCatalog({
    providers: [onprem, agents, kubernetes],
    spec: new FakeSpec(),
    certificates: { certificates: () => [] },
    connected: new FakeConnected(),
    providerPriority: priority,
    permissive: false,
    coalesceMs: 5,
    logger: silentLogger(),
  });
  const ac = new AbortController();
  catalog.start(ac.signal);
  return { onprem, agents, kubernetes, catalog, stop: () => ac.abort() };
}

test("an endpoint reported by two providers appears once with both provenances", (t) => {
  const { onprem, agents, catalog, stop } = setup();
  t.after(stop);
  onprem.set("shop/web", ["10.0.0.1:80", "10.0.0.2:80"]);
  agents.set("shop/web", ["10.0.0.1:80"]);
  const change = catalog.flush();
  assert.deepEqual(change.services, ["shop/web"]);
  const svc = catalog.service("shop/web")!;
  assert.equal(svc.endpoints.length, 2);
  assert.deepEqual(svc.endpoints[0]!.sources, ["agents", "onprem"]);
  assert.deepEqual(svc.endpoints[0]!.provenance, [
    { provider: "agents", source: "agents-src/10.0.0.1:80" },
    { provider: "onprem", source: "onprem-src/10.0.0.1:80" },
  ]);
  assert.deepEqual(svc.endpoints[1]!.sources, ["onprem"]);
});

test("a service disappears when no provider knows it any more", (t) => {
  const { onprem, catalog, stop } = setup();
  t.after(stop);
  onprem.set("shop/web", ["10.0.0.1:80"]);
  catalog.flush();
  onprem.set("shop/web", undefined);
  assert.deepEqual(catalog.flush().services, ["shop/web"]);
  assert.equal(catalog.service("shop/web"), undefined);
  assert.deepEqual(catalog.counts, { services: 0, endpoints: 0, conflicts: 0 });
});

test("the same IP:port in two services is a conflict resolved by provider priority, and undone when it ends", (t) => {
  const { onprem, kubernetes, catalog, stop } = setup();
  t.after(stop);
  onprem.set("shop/old", ["10.0.0.9:8080", "10.0.0.8:8080"]);
  catalog.flush();
  kubernetes.set("shop/new", ["10.0.0.9:8080"]);
  const change = catalog.flush();
  assert.deepEqual(change.services, ["shop/new", "shop/old"], "the loser is reported as changed too");
  const { conflicts } = catalog.snapshot();
  assert.deepEqual(conflicts, [
    {
      ip: "10.0.0.9",
      port: 8080,
      claims: [
        { service: "shop/new", sources: ["kubernetes"] },
        { service: "shop/old", sources: ["onprem"] },
      ],
      winner: "shop/new",
      resolution: "priority",
    },
  ]);
  assert.deepEqual(catalog.service("shop/old")!.endpoints.map((e) => e.ip), ["10.0.0.8"]);
  assert.deepEqual(catalog.service("shop/new")!.endpoints.map((e) => e.ip), ["10.0.0.9"]);

  kubernetes.set("shop/new", []);
  assert.deepEqual(catalog.flush().services, ["shop/new", "shop/old"]);
  assert.deepEqual(catalog.snapshot().conflicts, []);
  assert.deepEqual(catalog.service("shop/old")!.endpoints.map((e) => e.ip), ["10.0.0.8", "10.0.0.9"]);
});

test("equal priority is a tie: the first service key wins and the conflict says so", (t) => {
  const { onprem, catalog, stop } = setup();
  t.after(stop);
  onprem.set("b/svc", ["10.0.0.5:80"]);
  onprem.set("a/svc", ["10.0.0.5:80"]);
  catalog.flush();
  const [conflict] = catalog.snapshot().conflicts;
  assert.equal(conflict?.winner, "a/svc");
  assert.equal(conflict?.resolution, "tie");
  assert.equal(catalog.service("b/svc")!.endpoints.length, 0);
});

test("a provider missing from the priority list ranks below every listed one", (t) => {
  const { onprem, agents, catalog, stop } = setup(["onprem"]);
  t.after(stop);
  agents.set("x/one", ["10.1.1.1:1"]);
  onprem.set("x/two", ["10.1.1.1:1"]);
  catalog.flush();
  assert.equal(catalog.snapshot().conflicts[0]?.winner, "x/two");
});

test("a burst of changes is coalesced into one update naming every changed service", async (t) => {
  const { onprem, catalog, stop } = setup();
  t.after(stop);
  const updates: string[][] = [];
  catalog.on("change", (c) => updates.push([...c.services]));
  for (let i = 0; i < 200; i++) onprem.set(`ns/svc-${i % 20}`, [`10.2.0.${i % 250}:80`]);
  await waitFor(() => updates.length >= 1, { what: "the coalesced update" });
  // Negative check: a second update for the same burst would follow within a coalescing period.
  await quietPeriod(60, "no second update for one burst");
  assert.equal(updates.length, 1);
  assert.equal(updates[0]!.length, 20);
});

test("a steady stream of changes cannot hold updates back beyond maxDelay", async (t) => {
  const onprem = new FakeProvider("onprem");
  const catalog = new MeshCatalog({
    providers: [onprem], spec: new FakeSpec(), certificates: { certificates: () => [] }, connected: new FakeConnected(),
    providerPriority: [], permissive: false, coalesceMs: 30, maxDelayMs: 60, logger: silentLogger(),
  });
  const ac = new AbortController();
  catalog.start(ac.signal);
  t.after(() => ac.abort());
  let updates = 0;
  catalog.on("change", () => updates++);
  // Changes every 10 ms (faster than the 30 ms coalescing) until two updates got
  // through: without maxDelay none would. Bounded by a scaled deadline, not by
  // a 300 ms window a loaded machine may spend descheduled.
  let i = 0;
  const started = Date.now();
  while (updates < 2 && Date.now() - started < scaled(10_000)) {
    onprem.set("ns/busy", [`10.3.0.${i++ % 250}:80`]);
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(updates >= 2, `expected updates during a steady stream of ${i} changes with maxDelay 60 ms, got ${updates}`);
});

test("endpoints of a corroborate-only provider count only when another provider lists them too", (t) => {
  const onprem = new FakeProvider("onprem");
  const agents = new FakeProvider("agents");
  const catalog = new MeshCatalog({
    providers: [onprem, agents], spec: new FakeSpec(), certificates: { certificates: () => [] }, connected: new FakeConnected(),
    providerPriority: [], corroborateOnly: ["agents"], permissive: false, logger: silentLogger(),
  });
  const ac = new AbortController();
  catalog.start(ac.signal);
  t.after(() => ac.abort());
  agents.set("shop/web", ["10.0.0.1:80", "10.0.0.2:80"]);
  catalog.flush();
  assert.deepEqual(catalog.service("shop/web")?.endpoints ?? [], [], "agent-only endpoints are not discovered");
  onprem.set("shop/web", ["10.0.0.2:80"]);
  catalog.flush();
  assert.deepEqual(catalog.service("shop/web")!.endpoints.map((e) => [e.ip, e.sources]), [["10.0.0.2", ["agents", "onprem"]]]);
});
