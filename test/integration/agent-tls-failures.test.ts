// Issue 16, item 3: TLS verification failures must not look like network
// failures to the agent. Each class is produced for real against the
// in-process controller: a real agent enrolls and connects, then its data
// directory is given a certificate the controller cannot accept (or a CA
// bundle that does not trust the controller). Before the fix the agent
// either retried at the network pace with GRPC_UNAVAILABLE ("Connection
// dropped", "self-signed certificate in certificate chain") or stopped with
// MESHFED_NO_CLIENT_CERT, whatever was wrong; GET /status said nothing.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { createPrivateKey, webcrypto, X509Certificate } from "node:crypto";
import { join } from "node:path";
import { createServer } from "node:net";
import { startAgent, EXIT_PERMANENT, type RunningAgent } from "../../src/agent/index.js";
import { DataDir } from "../../src/agent/data-dir.js";
import { probeTls } from "../../src/agent/tls-probe.js";
import type { AgentConfig } from "../../src/agent/config.js";
import { makeCa, makePki, issueLeaf, x509 } from "../helpers/agent-fake-controller.js";
import { captureLogger } from "../helpers/certificates.js";
import { http, testConfig } from "../helpers/agent-testbed.js";
import { tempDir } from "../helpers/temp-dir.js";
import { generateKeyPem } from "../helpers/grpc-agent.js";
import { startTestController, type TestController } from "../helpers/in-process-controller.js";
import { waitFor } from "../helpers/wait.js";

const ALG = { name: "ECDSA", hash: "SHA-256" } as const;
const TLS_RETRY_MS = 600_000;

interface Status { state: string; lastFailure: { class: string; code: string; detail: string; action: string; controller: string } | null }

/** A real controller and an agent that enrolled with it and connected once; the agent is stopped again. */
async function enrolledAgent(t: TestContext): Promise<{ ctl: TestController; config: AgentConfig; ca: string; proxyId: string; certPem: string; keyPem: string }> {
  const ctl = await startTestController(t);
  const ca = await ctl.api<string>("/api/v1/ca");
  const { token } = await ctl.api<{ token: string }>("/api/v1/tokens", { service: "shop/web", ttl: "10m", uses: 1 });
  const dir = await tempDir("mfda-tls-");
  const config = await testConfig(dir, ca, ctl.grpcAddress, { backoff: { base: "20ms", cap: "200ms", stableAfter: "1s", tlsRetry: `${TLS_RETRY_MS}ms` } });
  await writeFile(config.tokenFile!, token);
  const agent = await startAgent(config, captureLogger().logger);
  t.after(() => agent.close());
  await waitFor(() => agent.state === "CONNECTED", { what: "first connection", timeoutMs: 60_000 });
  await agent.close();
  const data = new DataDir(config.dataDir);
  const stored = await data.load();
  return { ctl, config, ca, proxyId: agent.proxyId!, certPem: stored.certPem!, keyPem: stored.keyPem! };
}

/** Restarts the agent on its (tampered) data directory and records its backoff delays and log. */
async function restart(t: TestContext, config: AgentConfig, overrides: Partial<AgentConfig> = {}) {
  const { logger, lines } = captureLogger();
  const delays: Array<{ delay: number; ceiling: number }> = [];
  const agent = await startAgent({ ...config, ...overrides }, logger, { random: () => 0.5, onBackoff: (delay, ceiling) => delays.push({ delay, ceiling }) });
  t.after(() => agent.close());
  return { agent, lines, delays };
}

async function status(agent: RunningAgent): Promise<Status> {
  return JSON.parse((await http(agent.statusUrl)).body) as Status;
}

/** Waits for the agent to report a failure with `code` in GET /status. */
async function failureShown(agent: RunningAgent, code: string): Promise<Status> {
  return waitFor(async () => {
    const s = await status(agent);
    return s.lastFailure?.code === code ? s : undefined;
  }, { what: `GET /status showing ${code}`, timeoutMs: 60_000 });
}

async function leaf(issuer: { caKeys: webcrypto.CryptoKeyPair; caCert: x509.X509Certificate } | { signingKey: webcrypto.CryptoKey; issuerName: string }, certPem: string, publicKey: webcrypto.CryptoKey, validity?: { notBefore: Date; notAfter: Date }): Promise<string> {
  const original = new X509Certificate(certPem);
  const uri = /URI:([^,\s]+)/.exec(original.subjectAltName ?? "")![1]!;
  if ("caKeys" in issuer && validity === undefined) return (await issueLeaf(issuer, publicKey, uri, original.serialNumber)).toString("pem");
  const signingKey = "caKeys" in issuer ? issuer.caKeys.privateKey : issuer.signingKey;
  const issuerName = "caKeys" in issuer ? issuer.caCert.subject : issuer.issuerName;
  return (await x509.X509CertificateGenerator.create({
    serialNumber: original.serialNumber, subject: "", issuer: issuerName, signingKey, publicKey, signingAlgorithm: ALG,
    notBefore: validity!.notBefore, notAfter: validity!.notAfter,
    extensions: [
      new x509.SubjectAlternativeNameExtension([{ type: "url", value: uri }], true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      new x509.BasicConstraintsExtension(false),
    ],
  }, webcrypto)).toString("pem");
}

async function realCaSigner(ctl: TestController): Promise<{ signingKey: webcrypto.CryptoKey; issuerName: string }> {
  const der = createPrivateKey(await readFile(join(ctl.dir, "data", "ca", "key.pem"), "utf8")).export({ type: "pkcs8", format: "der" });
  const signingKey = await webcrypto.subtle.importKey("pkcs8", der, { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
  const issuerName = new x509.X509Certificate(await readFile(join(ctl.dir, "data", "ca", "certificate.pem"), "utf8")).subject;
  return { signingKey, issuerName };
}

function assertSlowBackoff(delays: Array<{ delay: number; ceiling: number }>): void {
  assert.ok(delays.length >= 1, "backed off");
  assert.equal(delays[0]!.ceiling, TLS_RETRY_MS, "the certificate backoff, not the network one (cap 200 ms)");
  assert.ok(delays[0]!.delay >= TLS_RETRY_MS / 2 && delays[0]!.delay < TLS_RETRY_MS, `delay ${delays[0]!.delay}`);
}

test("a client certificate from another CA (same identity): class tls, MESHFED_AGENT_TLS_CERT_UNTRUSTED, slow backoff, in /status and the log", async (t) => {
  const { config, certPem } = await enrolledAgent(t);
  const key = await generateKeyPem();
  const other = await makeCa("CN=another mesh CA");
  await new DataDir(config.dataDir).saveProxyIdentity(key.pem, await leaf(other, certPem, key.keys.publicKey));
  const { agent, lines, delays } = await restart(t, config);
  const s = await failureShown(agent, "MESHFED_AGENT_TLS_CERT_UNTRUSTED");
  assert.equal(s.lastFailure!.class, "tls");
  assert.equal(s.lastFailure!.action, "slow");
  assert.match(s.lastFailure!.detail, /another CA/);
  await waitFor(() => agent.state === "BACKOFF", { what: "BACKOFF", timeoutMs: 5_000 });
  assertSlowBackoff(delays);
  assert.ok(lines.some((l) => l.level === 50 && l.code === "MESHFED_AGENT_TLS_CERT_UNTRUSTED" && l.class === "tls"), "logged as an error with its class");
});

test("a client certificate signed by another key under the same CA name: MESHFED_AGENT_TLS_CERT_BAD_SIGNATURE (grpc-js only says 'Connection dropped')", async (t) => {
  const { ctl, config, certPem, ca } = await enrolledAgent(t);
  const key = await generateKeyPem();
  const impostor = await makeCa(new x509.X509Certificate(ca).subject);
  const forged = await leaf(impostor, certPem, key.keys.publicKey);
  // What a pre-flight handshake sees: the controller drops this certificate inside TLS.
  const probed = await probeTls({ address: ctl.grpcAddress, caPem: ca, keyPem: key.pem, certPem: forged, timeoutMs: 5_000 });
  assert.equal(probed.kind, "client-refused");
  await new DataDir(config.dataDir).saveProxyIdentity(key.pem, forged);
  const { agent, delays } = await restart(t, config);
  const s = await failureShown(agent, "MESHFED_AGENT_TLS_CERT_BAD_SIGNATURE");
  assert.equal(s.lastFailure!.class, "tls");
  await waitFor(() => agent.state === "BACKOFF", { what: "BACKOFF", timeoutMs: 5_000 });
  assertSlowBackoff(delays);
});

test("an expired client certificate from the mesh CA: MESHFED_AGENT_TLS_CERT_EXPIRED, and the agent stops (exit 78)", async (t) => {
  const { ctl, config, certPem } = await enrolledAgent(t);
  const key = await generateKeyPem();
  const hour = 3_600_000;
  const expired = await leaf(await realCaSigner(ctl), certPem, key.keys.publicKey, { notBefore: new Date(Date.now() - 2 * hour), notAfter: new Date(Date.now() - hour) });
  await new DataDir(config.dataDir).saveProxyIdentity(key.pem, expired);
  const { agent, lines } = await restart(t, config);
  const exit = await agent.done;
  assert.equal(exit.exitCode, EXIT_PERMANENT);
  assert.equal(exit.code, "MESHFED_AGENT_TLS_CERT_EXPIRED");
  assert.ok(lines.some((l) => l.code === "MESHFED_AGENT_TLS_CERT_EXPIRED" && l.class === "tls"));
});

test("a revoked client certificate: class tls with the controller's MESHFED_CERT_REVOKED, and the agent stops (exit 78)", async (t) => {
  const { ctl, config, certPem } = await enrolledAgent(t);
  await ctl.api("/api/v1/certificates/revoke", { serial: new X509Certificate(certPem).serialNumber.toLowerCase() });
  const { agent, lines } = await restart(t, config);
  const exit = await agent.done;
  assert.equal(exit.exitCode, EXIT_PERMANENT);
  assert.equal(exit.code, "MESHFED_CERT_REVOKED");
  assert.ok(lines.some((l) => l.code === "MESHFED_CERT_REVOKED" && l.class === "tls" && l.action === "stop"));
});

test("a pinned CA bundle that does not trust the controller: MESHFED_AGENT_CA_MISMATCH, slow backoff", async (t) => {
  const { config } = await enrolledAgent(t);
  await new DataDir(config.dataDir).saveCaBundle((await makePki()).caPem);
  const { agent, delays } = await restart(t, config);
  const s = await failureShown(agent, "MESHFED_AGENT_CA_MISMATCH");
  assert.equal(s.lastFailure!.class, "tls");
  assert.match(s.lastFailure!.detail, /SELF_SIGNED_CERT_IN_CHAIN/);
  await waitFor(() => agent.state === "BACKOFF", { what: "BACKOFF", timeoutMs: 5_000 });
  assertSlowBackoff(delays);
});

test("a controller address nobody listens on: class network, MESHFED_AGENT_NET_REFUSED, the normal backoff", async (t) => {
  const { config } = await enrolledAgent(t);
  const closed = await new Promise<number>((resolve) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
  const { agent, delays } = await restart(t, config, { controller: [`127.0.0.1:${closed}`] });
  const s = await failureShown(agent, "MESHFED_AGENT_NET_REFUSED");
  assert.equal(s.lastFailure!.class, "network");
  assert.equal(s.lastFailure!.action, "retry");
  await waitFor(() => delays.length >= 2, { what: "two backoffs", timeoutMs: 5_000 });
  assert.ok(delays.every((d) => d.ceiling <= 200), "network pace");
});
