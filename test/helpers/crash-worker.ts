/**
 * The child of the crash-consistency test (test/integration/crash-consistency.test.ts):
 * runs the controller's and the agent's durable operations on a data
 * directory, in concurrent lanes, until it is SIGKILLed. Each completed
 * operation is reported as one stdout line written only AFTER its promise
 * resolved, so the parent knows what must have survived:
 *
 *   token <id> <service> <uses>      consumed <id>        refund-start <id>
 *   issued <kind> <serial>           claimed <serial>     revoked <serial>
 *   agent-cert-start <serial>        agent-cert <serial>  agent-config <version>
 *
 * Usage: node crash-worker.js <data dir>, then "go <seed> <iteration>" on
 * stdin. The parent starts workers ahead of time: loading the modules costs
 * far more CPU than the work between two kills, and is not what is tested.
 */
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { join } from "node:path";
import { DataDir } from "../../src/agent/data-dir.js";
import { silentLogger } from "../../src/common/logger.js";
import { createCertificateManager } from "../../src/controller/certificates/index.js";
import type { CertificateWithKey } from "../../src/controller/certificates/types.js";
import { JoinTokens } from "../../src/controller/proxy-control-plane/join-tokens.js";
import { FileStore } from "../../src/controller/store/file-store.js";
import { makeCsr } from "./certificates.js";
import { seededRandom } from "./seeded-random.js";

const HOUR = 3_600_000;
export const CRASH_SERVICES = ["web", "db", "api"] as const;

const dir = process.argv[2]!;
const [seedText, iterationText] = await goSignal();
const random = seededRandom(Number(seedText));
const iteration = Number(iterationText);
const report = (line: string) => process.stdout.write(`${line}\n`);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

// Service certificates live 2 h and renew at half-life; each service call
// moves this clock an hour, so most calls renew. It starts after the newest
// stored certificate, so a restart never sees a clock behind what it stored.
let base = Date.now();
let hours = 0;
const now = () => new Date(base + hours * HOUR);

const store = await FileStore.open(join(dir, "controller"));
const manager = await createCertificateManager({
  store, logger: silentLogger(), now, random, serviceValidity: 2 * HOUR, serviceJitter: 10 * 60_000, renewBefore: { fraction: 0.5 },
});
for (const r of manager.certificates()) base = Math.max(base, Date.parse(r.notBefore) + HOUR);
const tokens = await JoinTokens.load({ store }, () => undefined);
const agentDir = new DataDir(join(dir, "agent"));
await agentDir.init();
const csr = await makeCsr({ name: "", extensions: [] });
const issued: string[] = [];
report("ready");

async function enrollLane(): Promise<void> {
  for (;;) {
    const service = { namespace: "crash", name: `s-${randomUUID().slice(0, 8)}` };
    const uses = 1 + Math.floor(random() * 2);
    const { token, info } = await tokens.create({ service, ttlMs: 600_000, uses });
    report(`token ${info.id} crash/${service.name} ${uses}`);
    // One attempt more than allowed: the last is refused (used up).
    for (let i = 0; i <= uses; i++) {
      let consumed;
      try {
        consumed = await tokens.consume(token);
      } catch {
        continue;
      }
      report(`consumed ${consumed.id}`);
      if (random() < 0.25) {
        // The path of a refused CSR: the use is given back, nothing is issued.
        report(`refund-start ${consumed.id}`);
        await tokens.refund(consumed.id);
        continue;
      }
      const cert = await manager.issueProxyCertificate(csr, { proxyId: randomUUID(), kind: "agent", service: consumed.service });
      issued.push(cert.record.serial);
      report(`issued proxy ${cert.record.serial}`);
      if (random() < 0.5) {
        // The service lane may have revoked it meanwhile: a refused claim is correct then.
        const claimed = await manager.claim(cert.record.serial).then(() => true, (err: { code?: string }) => {
          if (err.code !== "MESHFED_CERT_REVOKED") throw err;
          return false;
        });
        if (claimed) report(`claimed ${cert.record.serial}`);
      }
    }
  }
}

async function serviceLane(): Promise<void> {
  for (;;) {
    hours += 1;
    const cert = await manager.serviceCertificate({ namespace: "crash", name: pick(CRASH_SERVICES) });
    if (!issued.includes(cert.serial)) {
      issued.push(cert.serial);
      report(`issued service ${cert.serial}`);
    }
    if (random() < 0.2 && issued.length > 0) {
      const serial = pick(issued);
      await manager.revoke(serial, "crash test");
      report(`revoked ${serial}`);
    }
  }
}

async function agentLane(): Promise<void> {
  const pairs: CertificateWithKey[] = [];
  for (const name of ["agent-a", "agent-b"]) {
    const cert = await manager.serviceCertificate({ namespace: "crash", name });
    if (!issued.includes(cert.serial)) report(`issued service ${cert.serial}`);
    pairs.push(cert);
  }
  for (let version = iteration * 100_000 + 1; ; version++) {
    const c = pick(pairs);
    report(`agent-cert-start ${c.serial}`);
    await agentDir.saveServiceCertificate({
      serial: c.serial, certificatePem: c.certificatePem, privateKeyPem: c.privateKeyPem, caBundlePem: c.caBundlePem,
      notAfter: c.notAfter.toISOString(), renewAt: c.renewAt.toISOString(),
    });
    report(`agent-cert ${c.serial}`);
    await agentDir.saveGoodConfig({ version, driver: "json", hash: `h${version}`, files: [{ path: "/config.json", content: Buffer.from(JSON.stringify({ version, pad: "x".repeat(Math.floor(random() * 20_000)) })) }] });
    report(`agent-config ${version}`);
  }
}

await Promise.all([enrollLane(), serviceLane(), agentLane()]);

/** Waits for the parent's "go <seed> <iteration>" line. */
async function goSignal(): Promise<[string, string]> {
  let text = "";
  process.stdin.setEncoding("utf8");
  while (!text.includes("\n")) {
    const [chunk] = (await once(process.stdin, "data")) as [string];
    text += chunk;
  }
  const [go, seed, iteration] = text.trim().split(" ");
  if (go !== "go" || seed === undefined || iteration === undefined) throw new Error(`expected "go <seed> <iteration>", got "${text.trim()}"`);
  return [seed, iteration];
}
