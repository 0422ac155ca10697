// Enrollment by the Azure IMDS attested document, end to end: a real
// controller process reading the fake ARM (with bootstrap.azureImds and a
// test roots file), real agent processes with --bootstrap azure-imds and a
// fake IMDS each, over real gRPC with TLS on loopback. No join token exists
// anywhere in this file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { controllerAzureConfig } from "../fakes/arm/harness.js";
import { FakeArm } from "../fakes/arm/server.js";
import { fakeGuid } from "../fakes/arm/inventory.js";
import { FakeImds, signingChain, type ImdsVm } from "../fakes/imds.js";
import { attestAzure, attestationFailure } from "../../src/agent/attest.js";
import { callEnroll } from "../../src/agent/enroll.js";
import { classifyRpcError, PermanentRefusal } from "../../src/agent/grpc-errors.js";
import { buildCsr, generateProxyKey } from "../../src/agent/proxy-key.js";
import { freePort, startAgentProcess } from "../helpers/agent-process.js";
import { getJson, startControllerProcess } from "../helpers/controller-process.js";
import { waitFor } from "../helpers/wait.js";

const TAGS = { "meshfed-service": "web", "meshfed-namespace": "shop", "meshfed-ports": "8080" };

interface Participants {
  participants: Array<{ proxyId?: string; service: string; ip?: string }>;
}

test("scale-set instances join by attestation with nothing copied to them, also after a scale-out; a VM without tags is refused by name; each refusal reaches the agent and the log by name", async (t) => {
  const arm = await FakeArm.start();
  const dir = await mkdtemp(join(tmpdir(), "meshfed-imds-e2e-"));
  t.after(async () => {
    await arm.close();
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  });
  const inv = arm.inventory;
  inv.addScaleSet({ resourceGroup: "shop-rg", name: "web", mode: "Uniform", tags: TAGS });
  const first = inv.addScaleSetInstance({ resourceGroup: "shop-rg", scaleSet: "web", instanceId: "0", power: "running", ip: "127.0.0.31" });
  const plain = inv.addVm({ resourceGroup: "shop-rg", name: "plain-1", power: "running", ip: "127.0.0.33" });
  // The vmId the fake ARM reports for a resource id (properties.vmId).
  const vmIdOf = (resourceId: string) => fakeGuid(resourceId);

  const chain = await signingChain();
  await writeFile(join(dir, "roots.pem"), chain.rootsPem);
  const azure = await controllerAzureConfig(arm, dir);
  await writeFile(join(dir, "controller.yaml"), [...azure.lines, "bootstrap:", "  azureImds:", "    rootsFile: roots.pem", "    refreshInterval: 1s", ""].join("\n"));
  const grpcPort = await freePort();
  const ctl = await startControllerProcess(["--config", join(dir, "controller.yaml"), "--data-dir", join(dir, "data"), "--grpc-address", `127.0.0.1:${grpcPort}`], 60_000, { NODE_EXTRA_CA_CERTS: azure.caFile });
  t.after(() => ctl.stop("SIGKILL"));
  const caFile = join(dir, "ca.pem");
  await writeFile(caFile, await (await fetch(`${ctl.url}/api/v1/ca`)).text());

  const startVm = async (name: string, vmId: string, ip: string) => {
    const imds = await FakeImds.start(chain, { vmId, subscriptionId: arm.subscriptionId });
    t.after(() => imds.close());
    await mkdir(join(dir, name));
    const agent = await startAgentProcess([
      "--controller", `127.0.0.1:${grpcPort}`, "--ca-file", caFile, "--data-dir", join(dir, name, "data"), "--no-proxy",
      "--bootstrap", "azure-imds", "--imds-url", imds.url, "--host-address", ip, "--endpoint", `${ip}:8080`,
    ]);
    t.after(() => agent.stop("SIGKILL"));
    return { agent, imds };
  };

  // 1. The scale set's first instance: no token, becomes a participant of its tagged service.
  const vm0 = await startVm("vm0", vmIdOf(inv.instanceId(first)), "127.0.0.31");
  await vm0.agent.waitFor((s) => s.state === "CONNECTED", 60_000);
  assert.ok(vm0.imds.requests.length >= 1 && vm0.imds.requests.every((r) => r.metadata === "true" && /^\d{10}$/.test(r.nonce ?? "")), "IMDS was asked with Metadata: true and a controller nonce");
  await waitFor(async () => {
    const p = (await getJson(`${ctl.url}/api/v1/participants`)) as Participants;
    return p.participants.some((x) => x.service === "shop/web" && x.proxyId === vmIdOf(inv.instanceId(first)));
  }, { what: "instance 0 as a participant of shop/web", timeoutMs: 60_000 });
  assert.match(ctl.stderr(), /proxy enrolled by Azure attestation/);

  // 2. Scale-out: a new instance appears in ARM; its agent joins with nothing copied to it (no poll wait: one prompt re-read).
  const second = inv.addScaleSetInstance({ resourceGroup: "shop-rg", scaleSet: "web", instanceId: "1", power: "running", ip: "127.0.0.32" });
  const vm1 = await startVm("vm1", vmIdOf(inv.instanceId(second)), "127.0.0.32");
  await vm1.agent.waitFor((s) => s.state === "CONNECTED", 60_000);
  await waitFor(async () => {
    const p = (await getJson(`${ctl.url}/api/v1/participants`)) as Participants;
    return p.participants.filter((x) => x.service === "shop/web").length === 2;
  }, { what: "both instances as participants", timeoutMs: 60_000 });

  // 3. A VM without a service tag: refused by name, at the controller and at the agent (which stops).
  const vm2 = await startVm("vm2", vmIdOf(inv.vmId(plain)), "127.0.0.33");
  const exit = await Promise.race([vm2.agent.exited, new Promise((r) => setTimeout(() => r("still running"), 20_000))]);
  assert.notEqual(exit, "still running");
  assert.match(vm2.agent.stderr(), /MESHFED_ATTEST_NO_SERVICE_TAG/);
  assert.match(ctl.stderr(), /"code":"MESHFED_ATTEST_NO_SERVICE_TAG"/);

  // 4. Re-attestation of the same VM (its data directory lost) rotates: one live proxy per vmId.
  await vm0.agent.stop("SIGKILL");
  await rm(join(dir, "vm0", "data"), { recursive: true, force: true });
  const again = await startAgentProcess([
    "--controller", `127.0.0.1:${grpcPort}`, "--ca-file", caFile, "--data-dir", join(dir, "vm0", "data"), "--no-proxy",
    "--bootstrap", "azure-imds", "--imds-url", vm0.imds.url, "--host-address", "127.0.0.31", "--endpoint", "127.0.0.31:8080",
  ]);
  t.after(() => again.stop("SIGKILL"));
  await again.waitFor((s) => s.state === "CONNECTED", 60_000);
  const certs = (await getJson(`${ctl.url}/api/v1/certificates`)) as Array<{ kind: string; proxyId?: string; state: string; revocationReason?: string }>;
  const mine = certs.filter((c) => c.kind === "proxy" && c.proxyId === vmIdOf(inv.instanceId(first)));
  assert.equal(mine.filter((c) => c.state !== "revoked").length, 1, "one live certificate for the VM");
  assert.ok(mine.some((c) => c.state === "revoked" && c.revocationReason === "superseded by a new attestation of the same VM"));

  // 5. Each refusal over real gRPC, as the agent's enrollment code sees it, and in the controller's log.
  const stranger = await signingChain();
  const csrPem = await buildCsr((await generateProxyKey()).keys);
  const rpc = { address: `127.0.0.1:${grpcPort}`, caPem: await (await fetch(`${ctl.url}/api/v1/ca`)).text(), timeoutMs: 60_000, signal: new AbortController().signal };
  const vm0Id = vmIdOf(inv.instanceId(first));
  const cases: Array<{ code: string; vm: ImdsVm; stops: boolean }> = [
    { code: "MESHFED_ATTEST_BAD_SIGNATURE", vm: { vmId: vm0Id, subscriptionId: arm.subscriptionId, tamper: { badSignature: true } }, stops: true },
    { code: "MESHFED_ATTEST_UNKNOWN_ROOT", vm: { vmId: vm0Id, subscriptionId: arm.subscriptionId, chain: stranger }, stops: true },
    { code: "MESHFED_ATTEST_NONCE_MISMATCH", vm: { vmId: vm0Id, subscriptionId: arm.subscriptionId, nonceOverride: "0123456789" }, stops: true },
    { code: "MESHFED_ATTEST_STALE_DOCUMENT", vm: { vmId: vm0Id, subscriptionId: arm.subscriptionId, ageMs: -3_600_000 }, stops: false },
    { code: "MESHFED_ATTEST_SUBSCRIPTION_NOT_CONFIGURED", vm: { vmId: vm0Id, subscriptionId: "99999999-2222-3333-4444-555555555555" }, stops: true },
    { code: "MESHFED_ATTEST_VM_NOT_IN_INVENTORY", vm: { vmId: "eeeeeeee-0000-4000-8000-eeeeeeee0000", subscriptionId: arm.subscriptionId }, stops: false },
  ];
  for (const c of cases) {
    const imds = await FakeImds.start(chain, c.vm);
    t.after(() => imds.close());
    const doc = await attestAzure(rpc, imds.url);
    const err = await callEnroll({ ...rpc, token: "", csrPem, agentVersion: "test", hostname: "refused", azureAttested: doc }).then(() => undefined, (e: unknown) => e);
    assert.ok(err !== undefined, `${c.code}: enrolled`);
    const seen = err instanceof PermanentRefusal ? err.code : attestationFailure(err)?.code ?? classifyRpcError(err).code;
    assert.equal(seen, c.code);
    assert.equal(err instanceof PermanentRefusal, c.stops, `${c.code}: the agent ${c.stops ? "stops" : "retries"}`);
    await waitFor(() => ctl.stderr().includes(`"code":"${c.code}"`), { what: `${c.code} in the controller log`, timeoutMs: 5_000 });
  }
  // A replayed document: the nonce was spent by the first Enroll.
  const replayImds = await FakeImds.start(chain, { vmId: vmIdOf(inv.instanceId(second)), subscriptionId: arm.subscriptionId });
  t.after(() => replayImds.close());
  const doc = await attestAzure(rpc, replayImds.url);
  await callEnroll({ ...rpc, token: "", csrPem, agentVersion: "test", hostname: "first", azureAttested: doc });
  const replay = await callEnroll({ ...rpc, token: "", csrPem, agentVersion: "test", hostname: "replay", azureAttested: doc }).then(() => undefined, (e: unknown) => e);
  assert.ok(replay instanceof PermanentRefusal && replay.code === "MESHFED_ATTEST_NONCE_REUSED", String(replay));
});
