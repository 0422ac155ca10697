import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { armHarness, TAGS } from "../fakes/arm/harness.js";

test("a removed VM keeps its endpoints through the grace period, then goes; one bad poll does not flap", async (t) => {
  const h = await armHarness(t);
  const inv = h.arm.inventory;
  inv.addVm({ resourceGroup: "rg", name: "a-1", power: "running", ip: "10.0.0.1", tags: TAGS("a", "80") });
  inv.addVm({ resourceGroup: "rg", name: "a-2", power: "running", ip: "10.0.0.2", tags: TAGS("a", "80") });
  const p = h.provider({ resourceGroups: ["rg"], removalGrace: 300 });
  await p.start(h.ac.signal);
  const events: string[][] = [];
  p.on("change", (k) => events.push([...k]));

  inv.removeVm("rg", "a-2");
  await p.syncNow();
  assert.deepEqual(p.endpoints("default/a")?.map((e) => e.ip), ["10.0.0.1", "10.0.0.2"], "still within grace");
  assert.equal(p.status().counts.pendingRemoval, 1);
  assert.deepEqual(events, []);

  // Back before the grace ran out (the odd poll): nothing changed, nothing pending.
  inv.addVm({ resourceGroup: "rg", name: "a-2", power: "running", ip: "10.0.0.2", tags: TAGS("a", "80") });
  await p.syncNow();
  assert.equal(p.status().counts.pendingRemoval, 0);
  assert.deepEqual(events, []);

  inv.removeVm("rg", "a-2");
  await p.syncNow();
  await sleep(320);
  await p.syncNow();
  assert.deepEqual(p.endpoints("default/a")?.map((e) => e.ip), ["10.0.0.1"]);
  assert.deepEqual(events, [["default/a"]]);
  assert.equal(p.status().counts.pendingRemoval, 0);
});

test("a VM that stops is treated like one that vanished: removed after the grace", async (t) => {
  const h = await armHarness(t);
  const vm = h.arm.inventory.addVm({ resourceGroup: "rg", name: "a-1", power: "running", ip: "10.0.0.1", tags: TAGS("a", "80") });
  const p = h.provider({ resourceGroups: ["rg"], removalGrace: 100 });
  await p.start(h.ac.signal);
  vm.power = "deallocated";
  await p.syncNow();
  assert.equal(p.endpoints("default/a")?.length, 1);
  await sleep(120);
  await p.syncNow();
  assert.equal(p.endpoints("default/a"), undefined);
});

test("a failing scope does not age its instances: absence is only believed from a successful read", async (t) => {
  const h = await armHarness(t);
  h.arm.inventory.addVm({ resourceGroup: "rg", name: "a-1", power: "running", ip: "10.0.0.1", tags: TAGS("a", "80") });
  const p = h.provider({ resourceGroups: ["rg"], removalGrace: 50 });
  await p.start(h.ac.signal);
  h.arm.failResourceGroup("rg");
  await sleep(80);
  await p.syncNow();
  assert.equal(p.endpoints("default/a")?.length, 1);
  h.arm.clearFailure("rg");
  await p.syncNow();
  assert.equal(p.endpoints("default/a")?.length, 1);
});
