// ARM answers with missing or odd fields, through the real Azure SDK clients:
// the provider never crashes; an instance it cannot read is left out while the
// rest of the scope still syncs, or the scope fails with a named code and
// keeps its last good view.
import { test } from "node:test";
import assert from "node:assert/strict";
import { armHarness, TAGS } from "../fakes/arm/harness.js";

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => v as Json;

/** Applies `edit` to the VM named `bad` wherever it appears in a VM list. */
const onBadVm = (edit: (vm: Json) => void) => (path: string, json: unknown): unknown => {
  if (!path.endsWith("/providers/microsoft.compute/virtualmachines")) return json;
  for (const vm of (obj(json).value as Json[] | undefined) ?? []) if (vm.name === "bad") edit(vm);
  return json;
};
const onBadNic = (edit: (nic: Json) => void) => (path: string, json: unknown): unknown => {
  if (!path.endsWith("/providers/microsoft.network/networkinterfaces")) return json;
  for (const nic of (obj(json).value as Json[] | undefined) ?? []) if (String(nic.name).startsWith("bad")) edit(nic);
  return json;
};

const cases: Array<{ name: string; rewrite: (path: string, json: unknown) => unknown }> = [
  { name: "a VM without properties", rewrite: onBadVm((vm) => delete vm.properties) },
  { name: "a VM without an id", rewrite: onBadVm((vm) => delete vm.id) },
  { name: "a VM whose tag values are not strings", rewrite: onBadVm((vm) => (vm.tags = { "meshfed-service": 5, "meshfed-ports": ["80"] })) },
  { name: "a VM whose tags are a string", rewrite: onBadVm((vm) => (vm.tags = "meshfed-service=web")) },
  { name: "a NIC reference without an id", rewrite: onBadVm((vm) => (obj(obj(vm.properties).networkProfile).networkInterfaces = [{ properties: { primary: true } }])) },
  { name: "a NIC with ipConfigurations null", rewrite: onBadNic((nic) => (obj(nic.properties).ipConfigurations = null)) },
  { name: "a NIC whose private IP is not an address", rewrite: onBadNic((nic) => (obj(obj((obj(nic.properties).ipConfigurations as Json[])[0]).properties).privateIPAddress = "not-an-ip")) },
  { name: "an instance view status without a code", rewrite: (path, json) => (path.endsWith("/bad/instanceview") ? { statuses: [{ level: "Info" }, {}] } : json) },
];

for (const c of cases) {
  test(`ARM returns ${c.name}: the good VM still syncs and the provider stays up`, async (t) => {
    const h = await armHarness(t);
    h.arm.inventory.addVm({ resourceGroup: "rg", name: "good", power: "running", ip: "10.0.0.1", tags: TAGS("web", "80") });
    h.arm.inventory.addVm({ resourceGroup: "rg", name: "bad", power: "running", ip: "10.0.0.2", tags: TAGS("web", "80") });
    h.arm.rewrite = c.rewrite;
    const p = h.provider({ resourceGroups: ["rg"] });
    await p.start(h.ac.signal);
    const status = p.status();
    assert.equal(status.state, "synced", `${status.lastError?.code ?? ""} ${status.lastError?.message ?? ""}`);
    const ips = (p.endpoints("default/web") ?? []).map((e) => e.ip);
    assert.ok(ips.includes("10.0.0.1"), `good VM missing: ${ips.join(",")}`);
    assert.ok(ips.every((ip) => ip === "10.0.0.1" || ip === "10.0.0.2"), ips.join(","));
    
  });
}

test("ARM answers a list that is not a list: the scope fails with a named code and the last good view stays", async (t) => {
  const h = await armHarness(t);
  h.arm.inventory.addVm({ resourceGroup: "rg", name: "good", power: "running", ip: "10.0.0.1", tags: TAGS("web", "80") });
  const p = h.provider({ resourceGroups: ["rg"] });
  await p.start(h.ac.signal);
  assert.deepEqual(p.endpoints("default/web")?.map((e) => e.ip), ["10.0.0.1"]);
  h.arm.rewrite = (path, json) => (path.endsWith("/providers/microsoft.compute/virtualmachines") ? { value: "nope" } : json);
  await p.syncNow();
  const status = p.status();
  assert.equal(status.state, "degraded");
  assert.match(status.lastError?.code ?? "", /^MESHFED_AZURE_/);
  assert.deepEqual(p.endpoints("default/web")?.map((e) => e.ip), ["10.0.0.1"], "last good view kept");
});
