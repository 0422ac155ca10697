// The controller process pointed at an ARM endpoint (the HTTPS fake), trusting
// its CA the way a user trusts a proxy CA: NODE_EXTRA_CA_CERTS.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { controllerAzureConfig } from "../fakes/arm/harness.js";
import { FakeArm } from "../fakes/arm/server.js";
import { getJson, startControllerProcess } from "../helpers/controller-process.js";

test("the controller's catalog shows Azure VM and scale-set endpoints with azure provenance; the providers API shows the sync", async (t) => {
  const arm = await FakeArm.start();
  const dir = await mkdtemp(join(tmpdir(), "meshfed-ctl-azure-"));
  t.after(async () => {
    await arm.close();
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  });
  arm.inventory.addVm({ resourceGroup: "shop-rg", name: "web-1", power: "running", ip: "10.1.0.4", tags: { "meshfed-service": "web", "meshfed-namespace": "shop", "meshfed-ports": "8080" } });
  arm.inventory.addVm({ resourceGroup: "shop-rg", name: "web-2", power: "deallocated", ip: "10.1.0.5", tags: { "meshfed-service": "web", "meshfed-namespace": "shop", "meshfed-ports": "8080" } });
  const azureConfig = await controllerAzureConfig(arm, dir);
  await writeFile(join(dir, "controller.yaml"), azureConfig.lines.join("\n"));

  const ctl = await startControllerProcess(["--config", join(dir, "controller.yaml"), "--data-dir", join(dir, "data")], 60_000, {
    NODE_EXTRA_CA_CERTS: azureConfig.caFile,
  });
  t.after(() => ctl.stop("SIGKILL"));
  const catalog = (await getJson(`${ctl.url}/api/v1/catalog`)) as { services: Array<{ namespace: string; name: string; endpoints: Array<{ ip: string; port: number; sources: string[]; provenance: Array<{ source: string }> }> }> };
  assert.deepEqual(catalog.services.map((s) => `${s.namespace}/${s.name}`), ["shop/web"]);
  const [endpoint] = catalog.services[0]!.endpoints;
  assert.deepEqual([endpoint?.ip, endpoint?.port, endpoint?.sources], ["10.1.0.4", 8080, ["azure"]], "the deallocated VM is left out");
  assert.match(endpoint!.provenance[0]!.source, /\/resourceGroups\/shop-rg\/providers\/Microsoft\.Compute\/virtualMachines\/web-1$/i);
  const providers = (await getJson(`${ctl.url}/api/v1/providers`)) as Array<{ id: string; state: string; lastSync: string | null }>;
  const azure = providers.find((p) => p.id === "azure");
  assert.equal(azure?.state, "synced");
  assert.ok(azure?.lastSync);
  const participants = (await getJson(`${ctl.url}/api/v1/participants`)) as { incomplete: Array<{ ip?: string; missing: string[] }> };
  assert.deepEqual(participants.incomplete.map((r) => [r.ip, r.missing]), [["10.1.0.4", ["issued", "connected"]]]);
});
