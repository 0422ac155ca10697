import { test } from "node:test";
import assert from "node:assert/strict";
import { ClientSecretCredential } from "@azure/identity";
import { MeshfedError } from "../../src/common/errors.js";
import { armHarness, counterValue, TAGS } from "../fakes/arm/harness.js";

test("one resource group failing while another syncs: start resolves degraded, the good one serves", async (t) => {
  const h = await armHarness(t);
  h.arm.inventory.addVm({ resourceGroup: "rg-ok", name: "a", power: "running", ip: "10.0.0.1", tags: TAGS("a", "80") });
  h.arm.inventory.addVm({ resourceGroup: "rg-bad", name: "b", power: "running", ip: "10.0.0.2", tags: TAGS("b", "80") });
  h.arm.failResourceGroup("rg-bad", { status: 403, code: "AuthorizationFailed", message: "The client does not have authorization to perform action 'Microsoft.Compute/virtualMachines/read'." });
  const p = h.provider({ resourceGroups: ["rg-ok", "rg-bad"] });
  await p.start(h.ac.signal);
  assert.deepEqual([...p.services()].map((s) => s.service.name), ["a"]);
  const st = p.status();
  assert.equal(st.state, "degraded");
  assert.equal(st.counts.scopesFailed, 1);
  assert.deepEqual(st.scopes.map((s) => [s.name, s.state, s.lastError?.code ?? null]), [["rg-ok", "synced", null], ["rg-bad", "failed", "MESHFED_AZURE_FORBIDDEN"]]);
  assert.match(st.lastError!.message, /rg-bad.*AuthorizationFailed/);
  assert.equal(await counterValue(h.metrics, { provider: "azure", code: "MESHFED_AZURE_FORBIDDEN" }), 1);

  h.arm.clearFailure("rg-bad");
  await p.syncNow();
  assert.deepEqual([...p.services()].map((s) => s.service.name), ["a", "b"]);
  assert.equal(p.status().state, "synced");
  assert.equal(p.status().lastError, null);
});

test("a resource group that fails after a good sync keeps its last good view", async (t) => {
  const h = await armHarness(t);
  h.arm.inventory.addVm({ resourceGroup: "rg-1", name: "a", power: "running", ip: "10.0.0.1", tags: TAGS("a", "80") });
  h.arm.inventory.addVm({ resourceGroup: "rg-2", name: "b", power: "running", ip: "10.0.0.2", tags: TAGS("b", "80") });
  const p = h.provider({ resourceGroups: ["rg-1", "rg-2"] });
  await p.start(h.ac.signal);
  const events: string[][] = [];
  p.on("change", (k) => events.push([...k]));
  h.arm.failResourceGroup("rg-2");
  h.arm.inventory.addVm({ resourceGroup: "rg-1", name: "a2", power: "running", ip: "10.0.0.3", tags: TAGS("a", "80") });
  await p.syncNow();
  assert.deepEqual(p.endpoints("default/b")?.map((e) => e.ip), ["10.0.0.2"], "kept");
  assert.deepEqual(p.endpoints("default/a")?.map((e) => e.ip), ["10.0.0.1", "10.0.0.3"], "the healthy group still moves on");
  assert.deepEqual(events, [["default/a"]]);
  assert.equal(p.status().scopes[1]!.lastError?.code, "MESHFED_AZURE_REQUEST");
});

test("a missing resource group is a per-scope MESHFED_AZURE_NOT_FOUND", async (t) => {
  const h = await armHarness(t);
  h.arm.inventory.addVm({ resourceGroup: "rg-1", name: "a", power: "running", ip: "10.0.0.1", tags: TAGS("a", "80") });
  const p = h.provider({ resourceGroups: ["rg-1", "rg-typo"] });
  await p.start(h.ac.signal);
  assert.deepEqual(p.status().scopes.map((s) => s.lastError?.code ?? null), [null, "MESHFED_AZURE_NOT_FOUND"]);
});

test("a wrong client secret rejects start() with MESHFED_AZURE_AUTH", async (t) => {
  const h = await armHarness(t);
  h.arm.inventory.addVm({ resourceGroup: "rg-1", name: "a", power: "running", ip: "10.0.0.1", tags: TAGS("a", "80") });
  const { writeFile } = await import("node:fs/promises");
  await writeFile(h.secretFile, "not-the-secret");
  const p = h.provider({ resourceGroups: ["rg-1", "rg-2"] });
  await assert.rejects(p.start(h.ac.signal), (err: unknown) => err instanceof MeshfedError && err.code === "MESHFED_AZURE_AUTH" && /Azure discovery cannot start/.test(err.message));
  assert.equal(p.status().state, "stopped");
  assert.equal(h.arm.armRequests().filter((r) => r.status === 200).length, 0);
});

test("an unreadable secretFile rejects start() with MESHFED_AZURE_CONFIG before any request", async (t) => {
  const h = await armHarness(t);
  const p = h.provider({ credential: { type: "clientSecret", tenantId: h.arm.tenantId, clientId: h.arm.clientId, secretFile: `${h.secretFile}.missing` } });
  await assert.rejects(p.start(h.ac.signal), { code: "MESHFED_AZURE_CONFIG" });
  assert.equal(h.arm.requests.length, 0);
  await assert.rejects(p.start(h.ac.signal), { code: "MESHFED_PROVIDER_STARTED" });
});

test("an untrusted ARM certificate is MESHFED_AZURE_UNREACHABLE, not a silent empty view", async (t) => {
  const h = await armHarness(t);
  // The token endpoint is trusted (the credential got the CA), ARM is not (the clients did not).
  const credential = new ClientSecretCredential(h.arm.tenantId, h.arm.clientId, h.arm.clientSecret, { authorityHost: h.arm.url, disableInstanceDiscovery: true, tlsOptions: { ca: h.arm.ca } });
  const p = h.provider({ resourceGroups: ["rg"] }, { ca: undefined, credential, retry: { maxRetries: 0 } });
  await assert.rejects(p.start(h.ac.signal), { code: "MESHFED_AZURE_UNREACHABLE" });
});

test("ARM refusing the token (401) on every scope is MESHFED_AZURE_AUTH", async (t) => {
  const h = await armHarness(t);
  h.arm.inventory.addResourceGroup("rg");
  const p = h.provider({ resourceGroups: ["rg"] }, { credential: { getToken: async () => ({ token: "forged", expiresOnTimestamp: Date.now() + 3_600_000 }) } });
  await assert.rejects(p.start(h.ac.signal), { code: "MESHFED_AZURE_AUTH" });
});
