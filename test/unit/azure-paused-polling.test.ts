// The Azure provider on a replica that does not lead (docs/ha.md): paused, it
// calls nothing and serves the view handed to it; resumed, it takes that
// view as its last good one, so a failing first poll keeps the endpoints.
import { test } from "node:test";
import assert from "node:assert/strict";
import { armHarness, TAGS } from "../fakes/arm/harness.js";

test("a paused provider calls ARM for nothing and serves an adopted view; resumed, it polls and a failing scope keeps that view", async (t) => {
  const h = await armHarness(t);
  const inv = h.arm.inventory;
  const vm = inv.addVm({ resourceGroup: "rg", name: "a-1", power: "running", ip: "10.0.0.1", tags: TAGS("a", "80") });
  const p = h.provider({ resourceGroups: ["rg"], removalGrace: 60_000 });
  p.pausePolling();
  await p.start(h.ac.signal);
  assert.equal(h.arm.requests.length, 0, "no token, no ARM call while paused");
  assert.equal(p.status().state, "starting");

  const events: string[][] = [];
  p.on("change", (k) => events.push([...k]));
  p.adopt([{ service: { namespace: "default", name: "a" }, endpoints: [{ ip: "10.0.0.1", port: 80, source: inv.vmId(vm) }] }]);
  assert.equal(p.status().state, "synced");
  assert.deepEqual(p.endpoints("default/a")?.map((e) => `${e.ip}:${e.port}`), ["10.0.0.1:80"]);
  assert.deepEqual(events, [["default/a"]]);

  // Leader now, with ARM failing for the scope: the adopted endpoints stay.
  h.arm.failResourceGroup("rg");
  await p.resumePolling();
  assert.ok(h.arm.armRequests().length > 0, "resumed: it polls");
  assert.equal(p.status().scopes[0]?.state, "failed");
  assert.deepEqual(p.endpoints("default/a")?.map((e) => e.ip), ["10.0.0.1"]);
  assert.deepEqual(events, [["default/a"]], "nothing changed for the catalog");
  assert.throws(() => p.adopt([]), { code: "MESHFED_PROVIDER_POLLING" }, "adopt only while paused");

  h.arm.clearFailure("rg");
  inv.addVm({ resourceGroup: "rg", name: "a-2", power: "running", ip: "10.0.0.2", tags: TAGS("a", "80") });
  await p.syncNow();
  assert.deepEqual(p.endpoints("default/a")?.map((e) => e.ip), ["10.0.0.1", "10.0.0.2"]);

  // Stepped down: a sync (already queued, or asked for) no longer sets the view.
  p.pausePolling();
  inv.addVm({ resourceGroup: "rg", name: "a-3", power: "running", ip: "10.0.0.3", tags: TAGS("a", "80") });
  await p.syncNow();
  assert.deepEqual(p.endpoints("default/a")?.map((e) => e.ip), ["10.0.0.1", "10.0.0.2"]);
});
