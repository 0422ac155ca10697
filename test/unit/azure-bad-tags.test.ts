import { test } from "node:test";
import assert from "node:assert/strict";
import { armHarness, counterValue, TAGS } from "../fakes/arm/harness.js";

test("a broken tag skips that instance, named in status, logs and metric; the rest still sync", async (t) => {
  const h = await armHarness(t);
  const inv = h.arm.inventory;
  inv.addVm({ resourceGroup: "rg", name: "good", power: "running", ip: "10.0.0.1", tags: TAGS("good", "80") });
  const bad = inv.addVm({ resourceGroup: "rg", name: "bad-port", power: "running", ip: "10.0.0.2", tags: TAGS("good", "80,http") });
  inv.addScaleSet({ resourceGroup: "rg", name: "ss", mode: "Uniform", tags: TAGS("Not_A_Label", "80") });
  inv.addScaleSetInstance({ resourceGroup: "rg", scaleSet: "ss", instanceId: "0", power: "running", ip: "10.0.1.1" });
  inv.addScaleSetInstance({ resourceGroup: "rg", scaleSet: "ss", instanceId: "1", power: "running", ip: "10.0.1.2", tags: { "meshfed-service": "fixed" } });
  const p = h.provider({ resourceGroups: ["rg"] });
  await p.start(h.ac.signal);

  assert.deepEqual(p.endpoints("default/good")?.map((e) => e.ip), ["10.0.0.1"]);
  assert.deepEqual(p.endpoints("default/fixed")?.map((e) => e.ip), ["10.0.1.2"], "an instance tag repairs what its scale set got wrong");
  const st = p.status();
  assert.equal(st.state, "synced", "bad tags are per-instance problems, not a degraded provider");
  assert.equal(st.counts.badTags, 2);
  assert.deepEqual(st.problems.map((x) => [x.code, x.name]).sort(), [["MESHFED_AZURE_BAD_TAG", "bad-port"], ["MESHFED_AZURE_BAD_TAG", "ss_0"]]);
  assert.match(st.problems.find((x) => x.name === "bad-port")!.message, /meshfed-ports="80,http"/);
  assert.match(st.problems.find((x) => x.name === "ss_0")!.id, /virtualMachineScaleSets\/ss\/virtualMachines\/0$/);
  const warn = h.logs.filter((l) => l.code === "MESHFED_AZURE_BAD_TAG");
  assert.deepEqual(warn.map((l) => l.name).sort(), ["bad-port", "ss_0"]);
  assert.equal(await counterValue(h.metrics, { provider: "azure", code: "MESHFED_AZURE_BAD_TAG" }), 2);

  // Reported once while it stays broken, cleared when fixed.
  await p.syncNow();
  assert.equal(await counterValue(h.metrics, { provider: "azure", code: "MESHFED_AZURE_BAD_TAG" }), 2);
  bad.tags = TAGS("good", "81");
  await p.syncNow();
  assert.deepEqual(p.status().problems.map((x) => x.name), ["ss_0"]);
  assert.deepEqual(p.endpoints("default/good")?.map((e) => `${e.ip}:${e.port}`), ["10.0.0.1:80", "10.0.0.2:81"]);
});
