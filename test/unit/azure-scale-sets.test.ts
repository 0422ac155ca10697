import { test } from "node:test";
import assert from "node:assert/strict";
import { armHarness, TAGS } from "../fakes/arm/harness.js";

const SUB = "11111111-2222-3333-4444-555555555555";
const ssId = (rg: string, ss: string): string => `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachineScaleSets/${ss}`;

test("Uniform scale set: instances via the scale set, NICs via its NIC listing, scale-set tags apply and instance tags win", async (t) => {
  const h = await armHarness(t);
  const inv = h.arm.inventory;
  inv.addScaleSet({ resourceGroup: "rg-web", name: "web", mode: "Uniform", tags: TAGS("web", "8080", "shop") });
  inv.addScaleSetInstance({ resourceGroup: "rg-web", scaleSet: "web", instanceId: "0", power: "running", ip: "10.3.0.4" });
  inv.addScaleSetInstance({ resourceGroup: "rg-web", scaleSet: "web", instanceId: "1", power: "running", ip: "10.3.0.5", tags: { "meshfed-ports": "9090" } });
  inv.addScaleSetInstance({ resourceGroup: "rg-web", scaleSet: "web", instanceId: "2", power: "stopped", ip: "10.3.0.6" });
  inv.addScaleSetInstance({ resourceGroup: "rg-web", scaleSet: "web", instanceId: "3", power: "running", ip: "10.3.0.7", tags: { "meshfed-service": "canary" } });
  const p = h.provider({ resourceGroups: ["rg-web"] });
  await p.start(h.ac.signal);
  assert.deepEqual(p.endpoints("shop/web"), [
    { ip: "10.3.0.4", port: 8080, source: `${ssId("rg-web", "web")}/virtualMachines/0` },
    { ip: "10.3.0.5", port: 9090, source: `${ssId("rg-web", "web")}/virtualMachines/1` },
  ]);
  assert.deepEqual(p.endpoints("shop/canary"), [{ ip: "10.3.0.7", port: 8080, source: `${ssId("rg-web", "web")}/virtualMachines/3` }]);
  const paths = h.arm.armRequests().map((r) => `${r.path}?$expand=${r.query.get("$expand")}`);
  assert.ok(paths.includes(`${ssId("rg-web", "web")}/virtualMachines?$expand=instanceView`));
  // The SDK's scale-set NIC path spells the provider `microsoft.Compute`; ARM (and the fake) match it case-insensitively.
  assert.ok(h.arm.armRequests().some((r) => r.path === `/subscriptions/${SUB}/resourceGroups/rg-web/providers/microsoft.Compute/virtualMachineScaleSets/web/networkInterfaces`));
});

test("Flexible scale set: instances are ordinary VMs referencing the scale set, which lends them its tags", async (t) => {
  const h = await armHarness(t);
  const inv = h.arm.inventory;
  inv.addScaleSet({ resourceGroup: "rg-flex", name: "api", mode: "Flexible", tags: TAGS("api", "7000", "shop") });
  inv.addVm({ resourceGroup: "rg-flex", name: "api_a1b2", power: "running", ip: "10.4.0.4", scaleSet: "rg-flex/api" });
  inv.addVm({ resourceGroup: "rg-flex", name: "api_c3d4", power: "running", ip: "10.4.0.5", scaleSet: "rg-flex/api", tags: { "meshfed-namespace": "staging" } });
  inv.addVm({ resourceGroup: "rg-flex", name: "api_e5f6", power: "deallocated", ip: "10.4.0.6", scaleSet: "rg-flex/api" });
  const p = h.provider({ resourceGroups: ["rg-flex"] });
  await p.start(h.ac.signal);
  assert.deepEqual(p.endpoints("shop/api"), [{ ip: "10.4.0.4", port: 7000, source: `/subscriptions/${SUB}/resourceGroups/rg-flex/providers/Microsoft.Compute/virtualMachines/api_a1b2` }]);
  assert.deepEqual(p.endpoints("staging/api")?.map((e) => e.ip), ["10.4.0.5"]);
  // A Flexible scale set has no instance listing of its own to walk.
  assert.ok(!h.arm.armRequests().some((r) => r.path.toLowerCase().endsWith("/virtualmachinescalesets/api/virtualmachines")));
});

test("a Flexible instance whose scale set lives in another resource group still gets its tags", async (t) => {
  const h = await armHarness(t);
  const inv = h.arm.inventory;
  inv.addScaleSet({ resourceGroup: "rg-infra", name: "pool", mode: "Flexible", tags: TAGS("pool", "80") });
  inv.addVm({ resourceGroup: "rg-app", name: "pool_1", power: "running", ip: "10.5.0.1", scaleSet: "rg-infra/pool" });
  const p = h.provider({ resourceGroups: ["rg-app"] });
  await p.start(h.ac.signal);
  assert.deepEqual(p.endpoints("default/pool")?.map((e) => e.ip), ["10.5.0.1"]);
});

test("rules map untagged instances by resource group and scale set name; tags still win", async (t) => {
  const h = await armHarness(t);
  const inv = h.arm.inventory;
  inv.addScaleSet({ resourceGroup: "rg-legacy", name: "workers", mode: "Uniform" });
  inv.addScaleSetInstance({ resourceGroup: "rg-legacy", scaleSet: "workers", instanceId: "0", power: "running", ip: "10.6.0.4" });
  inv.addVm({ resourceGroup: "rg-legacy", name: "old-1", power: "running", ip: "10.6.1.4" });
  inv.addVm({ resourceGroup: "rg-legacy", name: "old-2", power: "running", ip: "10.6.1.5", tags: TAGS("special", "1234") });
  const p = h.provider({
    resourceGroups: ["rg-legacy"],
    rules: [
      { resourceGroup: "rg-legacy", scaleSet: "workers", namespace: "jobs", service: "worker", ports: [7000] },
      { resourceGroup: "RG-LEGACY", namespace: "default", service: "legacy", ports: [80, 443] },
    ],
  });
  await p.start(h.ac.signal);
  assert.deepEqual(p.endpoints("jobs/worker")?.map((e) => `${e.ip}:${e.port}`), ["10.6.0.4:7000"]);
  assert.deepEqual(p.endpoints("default/legacy")?.map((e) => `${e.ip}:${e.port}`), ["10.6.1.4:80", "10.6.1.4:443"]);
  assert.deepEqual(p.endpoints("default/special")?.map((e) => `${e.ip}:${e.port}`), ["10.6.1.5:1234"]);
});
