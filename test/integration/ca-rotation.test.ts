// Root CA rotation without downtime (issue 8, item 4), end to end on
// loopback: a real controller, a real agent (src/agent) on its mTLS stream,
// each step through the admin API. The agent never enrolls again: it renews
// its proxy certificate over the stream, reconnects with it on its own, and
// after the old root is retired it still connects, trusting the new root only.
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startAgent, type RunningAgent } from "../../src/agent/index.js";
import { silentLogger } from "../../src/common/logger.js";
import type { CaRotationStatus, CertificateRecord } from "../../src/controller/certificates/index.js";
import { loadControllerConfig } from "../../src/controller/config/load.js";
import type { ControllerConfig } from "../../src/controller/config/schema.js";
import { startController, type RunningController } from "../../src/controller/main.js";
import { freePort } from "../helpers/agent-process.js";
import { http, testConfig } from "../helpers/agent-testbed.js";
import { tempDir } from "../helpers/temp-dir.js";
import { runCli } from "../helpers/controller-process.js";
import { enroll, generateKeyPem, proxyIdOf, TestStream } from "../helpers/grpc-agent.js";
import { makeCsr, x509 } from "../helpers/certificates.js";
import { waitFor } from "../helpers/wait.js";

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

function roots(bundlePem: string): string[] {
  return (bundlePem.match(PEM_BLOCK) ?? []).map((b) => new X509Certificate(b).serialNumber.toLowerCase());
}

/** The serial of the root in `bundlePem` whose key signed `certPem`. */
function signedBy(certPem: string, bundlePem: string): string | undefined {
  const cert = new X509Certificate(certPem);
  const root = (bundlePem.match(PEM_BLOCK) ?? []).map((b) => new X509Certificate(b)).find((r) => cert.verify(r.publicKey));
  return root?.serialNumber.toLowerCase();
}

interface Api {
  get<T>(path: string): Promise<T>;
  post(path: string, body: unknown): Promise<{ status: number; body: unknown }>;
}

function adminApi(controller: RunningController): Api {
  return {
    get: async <T,>(path: string) => {
      const res = await fetch(`${controller.adminUrl}${path}`);
      const text = await res.text();
      return (res.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text) as T;
    },
    post: async (path, body) => {
      const res = await fetch(`${controller.adminUrl}${path}`, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
      return { status: res.status, body: (await res.json()) };
    },
  };
}

async function step(api: Api, action: string, force = false): Promise<CaRotationStatus> {
  const res = await api.post("/api/v1/ca/rotation", { action, force });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body as CaRotationStatus;
}

async function controllerConfig(dir: string, grpcAddress: string): Promise<ControllerConfig> {
  const base = await loadControllerConfig(undefined, { dataDir: join(dir, "controller"), adminAddress: "127.0.0.1:0", grpcAddress });
  return { ...base, driver: "json" };
}

test("a full rotation with a connected agent: no re-enrollment, renewal over the stream, and after retirement it trusts only the new root", async (t) => {
  const running: Array<{ close(): Promise<unknown> }> = [];
  t.after(async () => {
    for (const r of running.reverse()) await r.close();
  });
  const dir = await tempDir("meshfed-ca-rotation-");
  const grpcAddress = `127.0.0.1:${await freePort()}`;
  const controller = await startController(await controllerConfig(dir, grpcAddress), silentLogger());
  running.push(controller);
  const api = adminApi(controller);
  const { token } = (await (await fetch(`${controller.adminUrl}/api/v1/tokens`, { method: "POST", body: JSON.stringify({ service: "shop/web", uses: 1 }) })).json()) as { token: string };
  const firstBundle = await api.get<string>("/api/v1/ca");
  const agentConfig = await testConfig(dir, firstBundle, grpcAddress);
  await writeFile(agentConfig.tokenFile!, `${token}\n`);
  const data = (name: string) => join(agentConfig.dataDir, name);
  let agent: RunningAgent = await startAgent(agentConfig, silentLogger());
  running.push({ close: () => agent.close() });
  const connects: string[] = [];
  agent.onState((c) => {
    if (c.to === "CONNECTED" || c.to === "ENROLLING") connects.push(c.to);
  });
  const status = async () => JSON.parse((await http(agent.statusUrl)).body) as { state: string; certificates: { service: { notAfter: string | null } } };
  await waitFor(async () => {
    const s = await status();
    return s.state === "CONNECTED" && s.certificates.service.notAfter !== null;
  }, { what: "agent connected with a service certificate", timeoutMs: 60_000 });
  const oldKey = await readFile(data("proxy-key.pem"), "utf8");
  const oldCert = await readFile(data("proxy-cert.pem"), "utf8");
  const proxyId = proxyIdOf(oldCert);

  let rotation = await api.get<CaRotationStatus>("/api/v1/ca/rotation");
  assert.equal(rotation.phase, "none");
  assert.equal(rotation.nextStep, "introduce");
  const [r1] = roots(firstBundle);
  assert.deepEqual(rotation.roots.map((r) => [r.serial, r.role, r.liveCertificates.proxy]), [[r1, "current", 1]]);

  // 1. introduce: the bundle on the admin API, on the stream and on the agent's disk gains the new root.
  rotation = await step(api, "introduce");
  const r2 = rotation.roots.find((r) => r.role === "next")!.serial;
  assert.deepEqual(roots(await api.get<string>("/api/v1/ca")), [r1, r2]);
  await waitFor(async () => roots(await readFile(data("ca.pem"), "utf8")).length === 2, { what: "agent pinned both roots", timeoutMs: 60_000 });
  const refused = await api.post("/api/v1/ca/rotation", { action: "retire" });
  assert.equal(refused.status, 409);
  assert.equal((refused.body as { error: { code: string } }).error.code, "MESHFED_CA_ROTATION_PHASE");

  // 2. reissue: the agent is asked for a CSR, stores the new pair and reconnects with it.
  rotation = await step(api, "reissue");
  assert.deepEqual(rotation.roots.map((r) => [r.serial, r.role, r.signing]), [[r2, "current", true], [r1, "retiring", false]]);
  const renewed = await waitFor(async () => {
    if (!existsSync(data("proxy-identity.json"))) return undefined;
    const pair = JSON.parse(await readFile(data("proxy-identity.json"), "utf8")) as { keyPem: string; certificatePem: string };
    return pair;
  }, { what: "renewed proxy identity on disk", timeoutMs: 60_000 });
  assert.notEqual(renewed.keyPem, oldKey, "a new key, made on the agent");
  assert.equal(signedBy(renewed.certificatePem, await api.get<string>("/api/v1/ca")), r2);
  assert.equal(proxyIdOf(renewed.certificatePem), proxyId, "same proxy identity");
  // Written right after the commit point.
  await waitFor(async () => (await readFile(data("proxy-cert.pem"), "utf8")) === renewed.certificatePem, { what: "the PEM copy follows the commit point", timeoutMs: 5_000 });
  const newSerial = new X509Certificate(renewed.certificatePem).serialNumber.toLowerCase();
  const oldSerial = new X509Certificate(oldCert).serialNumber.toLowerCase();
  const certs = async () => api.get<CertificateRecord[]>("/api/v1/certificates");
  await waitFor(async () => {
    const all = await certs();
    return all.find((c) => c.serial === newSerial)?.state === "claimed" && all.find((c) => c.serial === oldSerial)?.state === "revoked";
  }, { what: "renewed certificate claimed by a reconnect; the old one revoked", timeoutMs: 60_000 });
  // The service certificate moved to the new root too.
  await waitFor(async () => signedBy(await readFile(data("service/cert.pem"), "utf8"), await api.get<string>("/api/v1/ca")) === r2, { what: "service certificate from the new root", timeoutMs: 60_000 });
  rotation = await waitFor(async () => {
    const s = await api.get<CaRotationStatus>("/api/v1/ca/rotation");
    return s.stragglerCount === 0 ? s : undefined;
  }, { what: "no stragglers", timeoutMs: 60_000 });
  assert.equal(rotation.roots.find((r) => r.serial === r2)!.liveCertificates.proxy, 1);

  // 3. retire: bundles carry the new root only; the agent pins it.
  rotation = await step(api, "retire");
  assert.equal(rotation.phase, "retired");
  assert.deepEqual(roots(await api.get<string>("/api/v1/ca")), [r2]);
  await waitFor(async () => roots(await readFile(data("ca.pem"), "utf8")).join() === r2, { what: "agent pinned the new root only", timeoutMs: 60_000 });

  // A restarted agent connects with the renewed certificate, trusting the new root only.
  await agent.close();
  agent = await startAgent(agentConfig, silentLogger());
  await waitFor(async () => (await status()).state === "CONNECTED", { what: "restarted agent connected after retirement", timeoutMs: 60_000 });
  assert.equal(connects.includes("ENROLLING"), false, "never enrolled again");
  const proxies = await api.get<Array<{ proxyId: string; serial: string }>>("/api/v1/proxies");
  assert.deepEqual(proxies.map((p) => [p.proxyId, p.serial]), [[proxyId, newSerial]]);
  assert.equal((await certs()).filter((c) => c.kind === "proxy").length, 2, "one enrollment, one renewal");

  // Meanwhile the serving certificate moved to the new root (the agent above trusts nothing else).
  // The old certificate is now refused at the TLS handshake: the controller no longer trusts r1.
  const stale = new TestStream(grpcAddress, await api.get<string>("/api/v1/ca"), oldKey, oldCert);
  t.after(() => stale.close());
  stale.hello(proxyId, ["127.0.0.2"], []);
  const staleEnd = await stale.ended;
  // The handshake no longer verifies the certificate (the agent port asks for, but does not
  // require, one: Enroll has none), so it is "no client certificate", not the registry's
  // MESHFED_CERT_REVOKED: the root itself is no longer trusted.
  assert.equal(staleEnd.status, grpc.status.UNAUTHENTICATED, JSON.stringify(staleEnd));
  assert.equal(staleEnd.code, "MESHFED_NO_CLIENT_CERT");

  // The CLI shows the same status.
  const cli = await runCli(["ca", "status", "--admin", controller.adminUrl]);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, new RegExp(`${r2}\\s+current\\s+yes`));
  assert.match(cli.stdout, /phase: retired; next step: introduce/);
});

test("renewal CSRs: refused unless asked for, refused when forged, and a refusal changes nothing", async (t) => {
  const dir = await tempDir("meshfed-ca-renewal-");
  const controller = await startController(await controllerConfig(dir, "127.0.0.1:0"), silentLogger());
  t.after(() => controller.close());
  const api = adminApi(controller);
  const { token } = (await (await fetch(`${controller.adminUrl}/api/v1/tokens`, { method: "POST", body: JSON.stringify({ service: "shop/web", uses: 1 }) })).json()) as { token: string };
  const enrolled = await enroll(controller.grpcAddress, await api.get<string>("/api/v1/ca"), token);
  const proxyId = enrolled.response.proxyId;
  const stream = new TestStream(controller.grpcAddress, await api.get<string>("/api/v1/ca"), enrolled.keyPem, enrolled.response.certificatePem);
  t.after(() => stream.close());
  stream.hello(proxyId, ["127.0.0.2"], []);
  await stream.next((m) => m.message === "config");
  const uri = `spiffe://cluster.local/ns/shop/svc/web/proxy/${proxyId}`;
  const goodCsr = async () => makeCsr({ name: "", extensions: [new x509.SubjectAlternativeNameExtension([{ type: "url", value: uri }])] });

  // Not asked for: refused.
  let from = stream.messages.length;
  stream.send({ proxyCsr: { csrPem: await goodCsr() } });
  let answer = await stream.next((m) => m.message === "proxyCertificate", 5_000, from);
  assert.equal(answer.proxyCertificate?.errorCode, "MESHFED_RENEWAL_NOT_REQUESTED");

  await step(api, "introduce");
  from = stream.messages.length;
  await step(api, "reissue");
  await stream.next((m) => m.message === "renewProxyCertificate", 5_000, from);
  const before = await api.get<CertificateRecord[]>("/api/v1/certificates");

  // Forged: a SAN for another service.
  from = stream.messages.length;
  const forged = await makeCsr({ name: "", extensions: [new x509.SubjectAlternativeNameExtension([{ type: "url", value: "spiffe://cluster.local/ns/shop/svc/payments/proxy/" + proxyId }])] });
  stream.send({ proxyCsr: { csrPem: forged } });
  answer = await stream.next((m) => m.message === "proxyCertificate", 5_000, from);
  assert.equal(answer.proxyCertificate?.errorCode, "MESHFED_CSR_EXTRA_SAN");
  assert.equal(answer.proxyCertificate?.certificatePem, "");
  // One request, one answer: a second try on the same request is refused as well.
  from = stream.messages.length;
  stream.send({ proxyCsr: { csrPem: await goodCsr() } });
  answer = await stream.next((m) => m.message === "proxyCertificate", 5_000, from);
  assert.equal(answer.proxyCertificate?.errorCode, "MESHFED_RENEWAL_NOT_REQUESTED");
  assert.deepEqual(await api.get<CertificateRecord[]>("/api/v1/certificates"), before, "nothing issued, nothing revoked");

  // Reconnecting with the old certificate asks again, and a good CSR is answered from the new root.
  stream.close();
  const again = new TestStream(controller.grpcAddress, await api.get<string>("/api/v1/ca"), enrolled.keyPem, enrolled.response.certificatePem);
  t.after(() => again.close());
  again.hello(proxyId, ["127.0.0.2"], []);
  await again.next((m) => m.message === "renewProxyCertificate");
  again.send({ proxyCsr: { csrPem: await goodCsr() } });
  answer = await again.next((m) => m.message === "proxyCertificate");
  assert.equal(answer.proxyCertificate?.errorCode, "");
  const status = await api.get<CaRotationStatus>("/api/v1/ca/rotation");
  assert.equal(signedBy(answer.proxyCertificate.certificatePem, await api.get<string>("/api/v1/ca")), status.roots.find((r) => r.signing)!.serial);
  assert.equal(proxyIdOf(answer.proxyCertificate.certificatePem), proxyId);
  // Not yet used: the old certificate stays live (a straggler) until the proxy connects with the new one.
  assert.equal(status.stragglers.some((s) => s.proxyId === proxyId), true);
});

test("a controller restarted in each phase resumes it: same roots, same signer, agents keep connecting", async (t) => {
  const dir = await tempDir("meshfed-ca-restart-");
  const grpcAddress = `127.0.0.1:${await freePort()}`;
  const config = await controllerConfig(dir, grpcAddress);
  let controller = await startController(config, silentLogger());
  t.after(() => controller.close());
  const caPem = await adminApi(controller).get<string>("/api/v1/ca");
  const { token } = (await (await fetch(`${controller.adminUrl}/api/v1/tokens`, { method: "POST", body: JSON.stringify({ service: "shop/web", uses: 1 }) })).json()) as { token: string };
  const enrolled = await enroll(grpcAddress, caPem, token);

  for (const action of ["introduce", "reissue", "retire"] as const) {
    const before = await step(adminApi(controller), action, true);
    const bundle = await adminApi(controller).get<string>("/api/v1/ca");
    await controller.close();
    controller = await startController(config, silentLogger());
    const api = adminApi(controller);
    const after = await api.get<CaRotationStatus>("/api/v1/ca/rotation");
    assert.equal(after.phase, before.phase, `phase after a restart in ${before.phase}`);
    assert.deepEqual(after.roots.map((r) => [r.serial, r.role, r.signing]), before.roots.map((r) => [r.serial, r.role, r.signing]));
    assert.equal(await api.get<string>("/api/v1/ca"), bundle);
    // A new enrollment is signed by the signing root and connects.
    const { token: next } = (await (await fetch(`${controller.adminUrl}/api/v1/tokens`, { method: "POST", body: JSON.stringify({ service: "shop/web", uses: 1 }) })).json()) as { token: string };
    const fresh = await enroll(grpcAddress, bundle, next, await generateKeyPem());
    assert.equal(signedBy(fresh.response.certificatePem, bundle), after.roots.find((r) => r.signing)!.serial);
    const stream = new TestStream(grpcAddress, bundle, fresh.keyPem, fresh.response.certificatePem);
    stream.hello(fresh.response.proxyId, ["127.0.0.2"], []);
    const first = await stream.next((m) => m.message === "caBundle");
    assert.equal(first.caBundle?.pem, bundle);
    stream.close();
    if (after.phase === "reissuing") {
      // The certificate issued before the rotation is asked to renew after the restart too.
      const old = new TestStream(grpcAddress, bundle, enrolled.keyPem, enrolled.response.certificatePem);
      old.hello(enrolled.response.proxyId, ["127.0.0.2"], []);
      await old.next((m) => m.message === "renewProxyCertificate");
      old.close();
    }
  }
});
