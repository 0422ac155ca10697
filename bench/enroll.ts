/**
 * Enrollment and issuance throughput without the wire (issue 17):
 * `node --expose-gc dist/bench/enroll.js [--count N] [--concurrency C] [--uses U] [--tmpdir DIR]`.
 *
 * - **enrollments/s, file store, durable**: what the Enroll handler does after
 *   its rate limit (server.ts #enroll): the CSR's key fingerprint, one join
 *   token use (a store write), CSR validation, a proxy certificate and its
 *   registry record (a store write); C at a time, N in all, join tokens of U
 *   uses each (default 10), on a file store
 *   in DIR (default the OS temp dir: a disk here; `/dev/shm` takes fsync out).
 *   Each enrollment resolves only once both writes are durable. Keys and
 *   CSRs are made beforehand with the agent's own code (src/agent/proxy-key.ts)
 *   and not timed: at 1,000/s the simulated agents, not the controller, would
 *   be measured. gRPC and TLS are not included (the agents scenario has them).
 * - **service certificates/s** through CertificateManager.serviceCertificate
 *   (in-memory store), against raw P-256 key generation + sign in the same
 *   run, as the core scenario of bench/run.ts reports them.
 *
 * Prints one JSON line per figure ({scenario, figure, value, unit}).
 */
import { randomUUID, generateKeyPairSync, sign } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildCsr, generateProxyKey } from "../src/agent/proxy-key.js";
import { silentLogger } from "../src/common/logger.js";
import { createCertificateManager } from "../src/controller/certificates/index.js";
import { csrKeyFingerprint } from "../src/controller/certificates/csr.js";
import { JoinTokens } from "../src/controller/proxy-control-plane/join-tokens.js";
import { FileStore } from "../src/controller/store/file-store.js";
import { MemoryStore } from "./sources.js";

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

function report(scenario: string, figure: string, value: number, unit: string): void {
  process.stdout.write(`${JSON.stringify({ scenario, figure, value: Number(value.toPrecision(4)), unit })}\n`);
}

async function enrollments(count: number, concurrency: number, perToken: number, dir: string): Promise<void> {
  const csrs: string[] = [];
  for (let i = 0; i < count; i++) csrs.push(await buildCsr((await generateProxyKey()).keys));
  const store = await FileStore.open(dir);
  const logger = silentLogger();
  const certificates = await createCertificateManager({ store, logger });
  const tokens = await JoinTokens.load({ store }, () => undefined);
  const minted: string[] = [];
  for (let i = 0; i < Math.ceil(count / perToken); i++) {
    minted.push((await tokens.create({ service: { namespace: "bench", name: `svc-${i}` }, ttlMs: 3_600_000, uses: perToken })).token);
  }
  const before = (store as { commitStats?: { commits: number; writes: number } }).commitStats;
  let next = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (let i = next++; i < count; i = next++) {
      const csrPem = csrs[i]!;
      const keySha256 = csrKeyFingerprint(csrPem)!;
      const consumed = await tokens.consume(minted[Math.floor(i / perToken)]!, { keySha256, proxyId: randomUUID() });
      await certificates.issueProxyCertificate(csrPem, { proxyId: consumed.proxyId!, kind: "agent", service: consumed.service });
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  report("enroll", `enrollments (file store, durable, concurrency ${concurrency}, ${perToken} uses per token, N = ${count})`, count / seconds, "/s");
  // CPU per enrollment (user + system, this process): what a shared machine's load does not inflate.
  report("enroll", "controller CPU per enrollment", (used.user + used.system) / 1000 / count, "ms");
  const after = (store as { commitStats?: { commits: number; writes: number } }).commitStats;
  if (before && after) report("enroll", "store writes per group commit (fdatasync)", (after.writes - before.writes) / Math.max(1, after.commits - before.commits), "writes");
  await store.close();
}

async function issuance(count: number): Promise<void> {
  const data = Buffer.alloc(512, 7);
  const rawCpu = process.cpuUsage();
  let started = performance.now();
  for (let i = 0; i < count; i++) sign("sha256", data, generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey);
  const raw = count / ((performance.now() - started) / 1000);
  const rawUsed = process.cpuUsage(rawCpu);
  const cpu = process.cpuUsage();
  const manager = await createCertificateManager({ store: new MemoryStore(), logger: silentLogger() });
  for (let i = 0; i < 50; i++) await manager.serviceCertificate({ namespace: "warm", name: `svc-${i}` });
  started = performance.now();
  for (let i = 0; i < count; i++) await manager.serviceCertificate({ namespace: "bench", name: `svc-${i}` });
  const issued = count / ((performance.now() - started) / 1000);
  const used = process.cpuUsage(cpu);
  report("certificates", "CPU per service certificate", (used.user + used.system) / 1000 / count, "ms");
  report("certificates", "raw P-256 key generation + crypto.sign", raw, "ops/s");
  report("certificates", "service certificates issued (in-memory store)", issued, "certs/s");
  report("certificates", "ratio issuance / raw keygen+sign (goal ≥ 0.5)", issued / raw, "x");
  // The same ratio from CPU time: the wall-clock one compares two windows a shared machine loads differently.
  report("certificates", "CPU per raw P-256 key generation + crypto.sign", (rawUsed.user + rawUsed.system) / 1000 / count, "ms");
  report("certificates", "ratio by CPU: raw keygen+sign / service certificate (goal ≥ 0.5)", ((rawUsed.user + rawUsed.system) / count) / ((used.user + used.system) / count), "x");
}

const count = Number(option("count", "2000"));
const concurrency = Number(option("concurrency", "64"));
const dir = await mkdtemp(join(option("tmpdir", tmpdir()), "meshfed-bench-enroll-"));
try {
  await issuance(Math.min(count, 1000));
  await enrollments(count, concurrency, Number(option("uses", "10")), dir);
} finally {
  await rm(dir, { recursive: true, force: true });
}
