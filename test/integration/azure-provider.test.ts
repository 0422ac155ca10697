/**
 * The Azure provider's lifecycle against the fake ARM with the real SDK: the
 * periodic loop, the stop signal (no polling, no timers left behind), and a
 * managed identity credential found the way Azure hosts announce it
 * (IDENTITY_ENDPOINT / IDENTITY_HEADER). One process per file, so setting
 * those variables here touches no other test.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { armHarness, TAGS } from "../fakes/arm/harness.js";
import { waitFor } from "../helpers/wait.js";

function timers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
}

test("the periodic sync picks up inventory changes; aborting stops polling and leaves no timer", async (t) => {
  const h = await armHarness(t);
  h.arm.inventory.addVm({ resourceGroup: "rg", name: "a-1", power: "running", ip: "10.0.0.1", tags: TAGS("a", "80") });
  const before = timers();
  const p = h.provider({ resourceGroups: ["rg"], interval: 40 });
  await p.start(h.ac.signal);
  const changes: string[][] = [];
  p.on("change", (k) => changes.push([...k]));

  h.arm.inventory.addVm({ resourceGroup: "rg", name: "b-1", power: "running", ip: "10.0.0.2", tags: TAGS("b", "80") });
  await waitFor(() => changes.length > 0, { what: "changes.length > 0", timeoutMs: 5000 });
  assert.deepEqual(changes[0], ["default/b"]);
  const polls = h.arm.armRequests().filter((r) => r.path.endsWith("/virtualMachines")).length;
  assert.ok(polls >= 2, `${polls} polls`);

  h.ac.abort();
  await sleep(60);
  const count = h.arm.requests.length;
  await sleep(150);
  assert.equal(h.arm.requests.length, count, "no request after the stop signal");
  assert.equal(p.status().state, "stopped");
  assert.ok(timers() <= before, `timers before ${before}, after ${timers()}`);
  // The last view stays readable after stopping.
  assert.equal(p.endpoints("default/a")?.length, 1);
});

test("aborting while a request waits out a Retry-After ends start() at once", async (t) => {
  const h = await armHarness(t);
  h.arm.inventory.addVm({ resourceGroup: "rg", name: "a-1", power: "running", ip: "10.0.0.1", tags: TAGS("a", "80") });
  h.arm.throttle(10, { status: 429, retryAfter: "30" });
  const before = timers();
  const p = h.provider({ resourceGroups: ["rg"] });
  const started = Date.now();
  const done = p.start(h.ac.signal);
  await waitFor(() => h.arm.armRequests().some((r) => r.status === 429), { what: "h.arm.armRequests().some((r) => r.status === 429)", timeoutMs: 5000 });
  h.ac.abort();
  await done;
  assert.ok(Date.now() - started < 2000, "did not wait 30 s");
  assert.equal(p.status().state, "stopped");
  await sleep(20);
  assert.ok(timers() <= before, `timers before ${before}, after ${timers()}`);
});

test("managed identity from IDENTITY_ENDPOINT / IDENTITY_HEADER, over the same trusted CA", async (t) => {
  const h = await armHarness(t);
  process.env.IDENTITY_ENDPOINT = `${h.arm.url}/msi/token`;
  process.env.IDENTITY_HEADER = h.arm.identityHeader;
  t.after(() => {
    delete process.env.IDENTITY_ENDPOINT;
    delete process.env.IDENTITY_HEADER;
  });
  h.arm.inventory.addScaleSet({ resourceGroup: "rg", name: "ss", mode: "Uniform", tags: TAGS("web", "8080") });
  h.arm.inventory.addScaleSetInstance({ resourceGroup: "rg", scaleSet: "ss", instanceId: "0", power: "running", ip: "10.9.0.4" });
  const p = h.provider({ resourceGroups: ["rg"], credential: { type: "managedIdentity", clientId: "mi-client-1" } });
  await p.start(h.ac.signal);
  assert.deepEqual(p.endpoints("default/web")?.map((e) => e.ip), ["10.9.0.4"]);
  assert.ok(h.arm.tokenRequests.some((r) => r.clientId === "mi-client-1" && r.scope === h.arm.url), JSON.stringify(h.arm.tokenRequests));
});
