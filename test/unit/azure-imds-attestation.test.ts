// The controller's checks of an Azure IMDS attested document, against a fake
// inventory and a real file store: every refusal by its name, and one
// document enrolls once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../src/common/logger.js";
import { errorCode } from "../../src/common/errors.js";
import { AttestNonces } from "../../src/controller/bootstrap/attest-nonces.js";
import { parseImdsTime, formatImdsTime } from "../../src/controller/bootstrap/azure-document.js";
import { AzureImdsAttestation, type InventoryInstance } from "../../src/controller/bootstrap/azure-imds.js";
import { FileStore } from "../../src/controller/store/file-store.js";
import { signAttestedDocument, signingChain, withSignerName, type SigningChain } from "../fakes/imds.js";

const SUB = "11111111-2222-3333-4444-555555555555";
const VM = "aaaaaaaa-0000-4000-8000-aaaaaaaa0000";
const web: InventoryInstance = { vmId: VM, id: "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/web/virtualMachines/0", running: true, mapping: { kind: "mapped", service: { namespace: "shop", name: "web" }, serviceAccount: "web-sa" } };

async function setup(t: { after(fn: () => Promise<void>): void }, chain: SigningChain, instances: InventoryInstance[], opts: { intermediatesPem?: string } = {}) {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-imds-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "roots.pem"), chain.rootsPem);
  if (opts.intermediatesPem !== undefined) await writeFile(join(dir, "intermediates.pem"), opts.intermediatesPem);
  const store = await FileStore.open(join(dir, "store"));
  const nonces = new AttestNonces({ store, ttlMs: 60_000 });
  let refreshes = 0;
  const inventory = {
    subscriptionId: SUB,
    ready: () => true,
    instance: (vmId: string) => instances.find((i) => i.vmId === vmId),
    refresh: async () => void refreshes++,
  };
  const attestation = new AzureImdsAttestation({
    settings: { rootsFile: join(dir, "roots.pem"), ...(opts.intermediatesPem === undefined ? {} : { intermediatesFile: join(dir, "intermediates.pem") }), signerNames: ["metadata.azure.com"], maxAge: 300_000, refreshInterval: 1_000 },
    inventory, nonces, logger: silentLogger(),
  });
  await attestation.load();
  return { attestation, nonces, store, refreshes: () => refreshes };
}

test("a document signed through the chain names its VM's tagged service and account; the proxy id is the vmId", async (t) => {
  const chain = await signingChain();
  const { attestation } = await setup(t, chain, [web]);
  const { nonce } = await attestation.issueNonce();
  assert.match(nonce, /^\d{10}$/, "IMDS takes a 10-digit nonce");
  const signature = await signAttestedDocument(chain, { nonce, vmId: VM, subscriptionId: SUB, createdOn: new Date() });
  const id = await attestation.verify({ nonce, encoding: "pkcs7", signature });
  assert.deepEqual(id, { proxyId: VM, vmId: VM, resourceId: web.id, service: { namespace: "shop", name: "web" }, serviceAccount: "web-sa" });
  await assert.rejects(attestation.verify({ nonce, encoding: "pkcs7", signature }), (err) => errorCode(err) === "MESHFED_ATTEST_NONCE_REUSED", "the same document twice is a replay");
});

test("each refusal is named: bad signature, unknown root, nonce mismatch, stale, subscription, vmId, not running, no service tag", async (t) => {
  const chain = await signingChain();
  const stranger = await signingChain();
  const otherName = await signingChain("evil.example.com");
  const stopped: InventoryInstance = { ...web, vmId: "bbbbbbbb-0000-4000-8000-bbbbbbbb0000", running: false };
  const untagged: InventoryInstance = { ...web, vmId: "cccccccc-0000-4000-8000-cccccccc0000", running: undefined, mapping: { kind: "none" } };
  const broken: InventoryInstance = { ...web, vmId: "dddddddd-0000-4000-8000-dddddddd0000", mapping: { kind: "bad", message: "meshfed-ports is missing" } };
  const { attestation, refreshes } = await setup(t, chain, [web, stopped, untagged, broken]);
  const cases: Array<{ name: string; code: string; sign: (nonce: string) => Promise<string>; sent?: string }> = [
    { name: "bad signature", code: "MESHFED_ATTEST_BAD_SIGNATURE", sign: (nonce) => signAttestedDocument(chain, { nonce, vmId: VM, subscriptionId: SUB, createdOn: new Date() }, { badSignature: true }) },
    { name: "unknown root", code: "MESHFED_ATTEST_UNKNOWN_ROOT", sign: (nonce) => signAttestedDocument(stranger, { nonce, vmId: VM, subscriptionId: SUB, createdOn: new Date() }) },
    { name: "intermediate missing", code: "MESHFED_ATTEST_UNKNOWN_ROOT", sign: (nonce) => signAttestedDocument(chain, { nonce, vmId: VM, subscriptionId: SUB, createdOn: new Date() }, { withoutIntermediate: true }) },
    { name: "a signer of a foreign root, whatever its name", code: "MESHFED_ATTEST_UNKNOWN_ROOT", sign: (nonce) => signAttestedDocument(otherName, { nonce, vmId: VM, subscriptionId: SUB, createdOn: new Date() }) },
    { name: "nonce mismatch", code: "MESHFED_ATTEST_NONCE_MISMATCH", sign: () => signAttestedDocument(chain, { nonce: "0000000001", vmId: VM, subscriptionId: SUB, createdOn: new Date() }) },
    { name: "nonce never issued", code: "MESHFED_ATTEST_NONCE_MISMATCH", sent: "0000000002", sign: () => signAttestedDocument(chain, { nonce: "0000000002", vmId: VM, subscriptionId: SUB, createdOn: new Date() }) },
    { name: "stale document", code: "MESHFED_ATTEST_STALE_DOCUMENT", sign: (nonce) => signAttestedDocument(chain, { nonce, vmId: VM, subscriptionId: SUB, createdOn: new Date(Date.now() - 3_600_000) }) },
    { name: "document from the future", code: "MESHFED_ATTEST_STALE_DOCUMENT", sign: (nonce) => signAttestedDocument(chain, { nonce, vmId: VM, subscriptionId: SUB, createdOn: new Date(Date.now() + 3_600_000) }) },
    { name: "subscription not configured", code: "MESHFED_ATTEST_SUBSCRIPTION_NOT_CONFIGURED", sign: (nonce) => signAttestedDocument(chain, { nonce, vmId: VM, subscriptionId: "99999999-2222-3333-4444-555555555555", createdOn: new Date() }) },
    { name: "vmId not in inventory", code: "MESHFED_ATTEST_VM_NOT_IN_INVENTORY", sign: (nonce) => signAttestedDocument(chain, { nonce, vmId: "eeeeeeee-0000-4000-8000-eeeeeeee0000", subscriptionId: SUB, createdOn: new Date() }) },
    { name: "VM not running", code: "MESHFED_ATTEST_VM_NOT_RUNNING", sign: (nonce) => signAttestedDocument(chain, { nonce, vmId: stopped.vmId, subscriptionId: SUB, createdOn: new Date() }) },
    { name: "VM without a service tag", code: "MESHFED_ATTEST_NO_SERVICE_TAG", sign: (nonce) => signAttestedDocument(chain, { nonce, vmId: untagged.vmId, subscriptionId: SUB, createdOn: new Date() }) },
    { name: "VM with broken tags", code: "MESHFED_ATTEST_NO_SERVICE_TAG", sign: (nonce) => signAttestedDocument(chain, { nonce, vmId: broken.vmId, subscriptionId: SUB, createdOn: new Date() }) },
  ];
  for (const c of cases) {
    const { nonce } = await attestation.issueNonce();
    const signature = await c.sign(nonce);
    await assert.rejects(attestation.verify({ nonce: c.sent ?? nonce, encoding: "pkcs7", signature }), (err) => {
      assert.equal(errorCode(err), c.code, `${c.name}: ${String(err)}`);
      return true;
    });
  }
  assert.equal(refreshes(), 1, "an unknown vmId asked the inventory for one re-read");
  // A refusal spends nothing: a good document over a nonce whose document was refused still enrolls.
  const { nonce } = await attestation.issueNonce();
  await assert.rejects(attestation.verify({ nonce, encoding: "pkcs7", signature: await signAttestedDocument(chain, { nonce, vmId: stopped.vmId, subscriptionId: SUB, createdOn: new Date() }) }));
  const ok = await attestation.verify({ nonce, encoding: "pkcs7", signature: await signAttestedDocument(chain, { nonce, vmId: VM, subscriptionId: SUB, createdOn: new Date() }) });
  assert.equal(ok.proxyId, VM);
});

test("a certificate of the same roots issued for another name cannot sign documents: MESHFED_ATTEST_SIGNER_NAME", async (t) => {
  const chain = await signingChain();
  const other = await withSignerName(chain, "www.example.com");
  const { attestation } = await setup(t, chain, [web]);
  const { nonce } = await attestation.issueNonce();
  const signature = await signAttestedDocument(other, { nonce, vmId: VM, subscriptionId: SUB, createdOn: new Date() });
  await assert.rejects(attestation.verify({ nonce, encoding: "pkcs7", signature }), (err) => errorCode(err) === "MESHFED_ATTEST_SIGNER_NAME");
});

test("intermediates from the configured file complete a chain the document does not carry", async (t) => {
  const chain = await signingChain();
  const { attestation } = await setup(t, chain, [web], { intermediatesPem: chain.intermediate.toString("pem") });
  const { nonce } = await attestation.issueNonce();
  const signature = await signAttestedDocument(chain, { nonce, vmId: VM, subscriptionId: SUB, createdOn: new Date() }, { withoutIntermediate: true });
  assert.equal((await attestation.verify({ nonce, encoding: "pkcs7", signature })).proxyId, VM);
});

test("a roots file that is absent turns the feature off with MESHFED_ATTEST_ROOTS_UNREADABLE", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-imds-store-"));
  const store = await FileStore.open(dir);
  t.after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const attestation = new AzureImdsAttestation({
    settings: { rootsFile: join(tmpdir(), "no-such-dir-meshfed", "roots.pem"), signerNames: ["metadata.azure.com"], maxAge: 300_000, refreshInterval: 1_000 },
    inventory: { subscriptionId: SUB, ready: () => true, instance: () => web, refresh: async () => undefined }, nonces: new AttestNonces({ store, ttlMs: 60_000 }), logger: silentLogger(),
  });
  await attestation.load();
  await assert.rejects(attestation.verify({ nonce: "0000000003", encoding: "pkcs7", signature: "AAAA" }), (err) => errorCode(err) === "MESHFED_ATTEST_ROOTS_UNREADABLE");
});

test("nonces: expired ones are named and collected; IMDS times parse both ways", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-nonce-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  let now = new Date("2026-01-01T00:00:00Z");
  const nonces = new AttestNonces({ store: await FileStore.open(dir), ttlMs: 10_000, now: () => now });
  const { nonce } = await nonces.issue();
  now = new Date(now.getTime() + 11_000);
  await assert.rejects(nonces.consume(nonce), (err) => errorCode(err) === "MESHFED_ATTEST_NONCE_EXPIRED");
  now = new Date(now.getTime() + 20_000);
  assert.equal(await nonces.collectGarbage(), 1);
  await assert.rejects(nonces.consume(nonce), (err) => errorCode(err) === "MESHFED_ATTEST_NONCE_MISMATCH");
  assert.equal(parseImdsTime("11/28/18 00:16:17 -0000")?.toISOString(), "2018-11-28T00:16:17.000Z");
  assert.equal(parseImdsTime("02/30/24 00:00:00 -0000"), undefined);
  assert.equal(formatImdsTime(new Date("2026-03-04T05:06:07Z")), "03/04/26 05:06:07 -0000");
});

test("replicas on one store: a nonce issued by one is spent by another, and racing Enrolls spend it exactly once", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-nonce-ha-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const store = await FileStore.open(dir);
  t.after(() => store.close());
  const a = new AttestNonces({ store, ttlMs: 60_000 });
  const b = new AttestNonces({ store, ttlMs: 60_000 });
  const { nonce } = await a.issue();
  const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? a : b).consume(nonce)));
  assert.equal(results.filter((r) => r.status === "fulfilled").length, 1, "exactly one spends it");
  for (const r of results) if (r.status === "rejected") assert.equal(errorCode(r.reason), "MESHFED_ATTEST_NONCE_REUSED");
  const second = await b.issue();
  await a.consume(second.nonce);
});
