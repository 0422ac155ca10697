// What the Azure provider keeps for enrollment by attestation: every VM and
// scale-set instance (Uniform, Flexible, standalone) of its last read by
// vmId, with power state and mapping, and a prompt re-read for a vmId it has
// not seen, rate limited.
import { test } from "node:test";
import assert from "node:assert/strict";
import { armHarness, TAGS } from "../fakes/arm/harness.js";
import { fakeGuid } from "../fakes/arm/inventory.js";

test("every instance is known by its vmId: Uniform, Flexible and standalone, mapped or not, with power state; a failed start knows none", async (t) => {
  const h = await armHarness(t);
  const inv = h.arm.inventory;
  inv.addScaleSet({ resourceGroup: "rg", name: "web", mode: "Uniform", tags: TAGS("web", "8080", "shop") });
  const u0 = inv.addScaleSetInstance({ resourceGroup: "rg", scaleSet: "web", instanceId: "0", power: "running", ip: "10.0.0.4" });
  const u1 = inv.addScaleSetInstance({ resourceGroup: "rg", scaleSet: "web", instanceId: "1", power: "deallocated", ip: "10.0.0.5" });
  inv.addScaleSet({ resourceGroup: "rg", name: "api", mode: "Flexible", tags: { ...TAGS("api", "7000", "shop"), "meshfed-service-account": "api-sa" } });
  const flex = inv.addVm({ resourceGroup: "rg", name: "api_1", power: "running", ip: "10.0.1.4", scaleSet: "rg/api" });
  const plain = inv.addVm({ resourceGroup: "rg", name: "plain", power: "running", ip: "10.0.2.4" });
  const broken = inv.addVm({ resourceGroup: "rg", name: "broken", power: "running", ip: "10.0.2.5", tags: { "meshfed-service": "Not A Label", "meshfed-ports": "80" } });
  const p = h.provider({ resourceGroups: ["rg"] });
  assert.equal(p.attestationReady(), false, "nothing read yet");
  await p.start(h.ac.signal);
  assert.equal(p.attestationReady(), true);
  const at = (id: string) => p.attestableInstance(fakeGuid(id).toUpperCase());
  const u0i = at(inv.instanceId(u0));
  assert.deepEqual([u0i?.running, u0i?.mapping.kind, u0i?.mapping.kind === "mapped" ? u0i.mapping.service : undefined], [true, "mapped", { namespace: "shop", name: "web" }]);
  assert.equal(at(inv.instanceId(u1))?.running, false);
  const f = at(inv.vmId(flex));
  assert.deepEqual([f?.running, f?.mapping.kind === "mapped" ? [f.mapping.service.name, f.mapping.serviceAccount] : undefined], [true, ["api", "api-sa"]]);
  assert.equal(at(inv.vmId(plain))?.mapping.kind, "none");
  assert.equal(at(inv.vmId(broken))?.mapping.kind, "bad");
  assert.equal(p.attestableInstance("eeeeeeee-0000-4000-8000-eeeeeeee0000"), undefined);
});

test("an unknown vmId asks for one re-read, not more often than the interval; a removed instance is gone at once (no removal grace); a paused replica vouches for none", async (t) => {
  const h = await armHarness(t);
  const inv = h.arm.inventory;
  inv.addScaleSet({ resourceGroup: "rg", name: "web", mode: "Uniform", tags: TAGS("web", "8080", "shop") });
  inv.addScaleSetInstance({ resourceGroup: "rg", scaleSet: "web", instanceId: "0", power: "running", ip: "10.0.0.4" });
  const p = h.provider({ resourceGroups: ["rg"], removalGrace: 3_600_000 });
  await p.start(h.ac.signal);
  const added = inv.addScaleSetInstance({ resourceGroup: "rg", scaleSet: "web", instanceId: "1", power: "running", ip: "10.0.0.5" });
  const before = h.arm.armRequests().length;
  await p.refreshForAttestation(0);
  assert.ok(p.attestableInstance(fakeGuid(inv.instanceId(added))), "the scale-out is seen after the re-read");
  const after = h.arm.armRequests().length;
  assert.ok(after > before);
  await p.refreshForAttestation(60_000);
  assert.equal(h.arm.armRequests().length, after, "a second re-read within the interval calls ARM no more");
  inv.scaleSetInstances.splice(inv.scaleSetInstances.indexOf(added), 1);
  await p.syncNow();
  assert.equal(p.attestableInstance(fakeGuid(inv.instanceId(added))), undefined, "gone from attestation at once");
  assert.equal(p.endpoints("shop/web")?.length, 2, "its endpoint stays for the removal grace");
  p.pausePolling();
  assert.equal(p.attestationReady(), false, "a replica that stopped polling (a follower) cannot vouch for vmIds");
});
