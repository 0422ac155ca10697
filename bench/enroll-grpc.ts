/**
 * The real Enroll RPC and its floor (issue 17):
 * `node dist/bench/enroll-grpc.js [--count N] [--concurrency C] [--uses U] [--tmpdir DIR]`.
 *
 * - **Enroll over gRPC + TLS**: a real controller (startController, file
 *   store in DIR, default timings, silent log) in a child process; this
 *   process sends N Enroll calls, C at a time, each as an agent does it
 *   (src/agent/enroll.ts: a new channel, so a new TLS handshake, per call),
 *   with join tokens of U uses each. CSRs are built beforehand and not
 *   timed. Reports enrollments/s and the controller's CPU per enrollment
 *   (the child's process.cpuUsage), the handshake included.
 * - **The floor**: in another child, a bare node:http2 TLS server with a
 *   P-256 certificate of the same kind: CPU per connection + one request
 *   (TLS 1.3 handshake, ECDHE, the server's signature, HTTP/2 set-up), and,
 *   in this process, one ECDSA P-256 verify + one sign (what an enrollment
 *   needs on top of it: the CSR's signature and the certificate's).
 *
 * The clients share the machine with the server (2 cores here): rates are
 * bounded by both; the CPU figures are the server's alone.
 */
import { fork, type ChildProcess } from "node:child_process";
import { generateKeyPairSync, sign, verify } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildCsr, generateProxyKey } from "../src/agent/proxy-key.js";
import { callEnroll } from "../src/agent/enroll.js";
import { silentLogger } from "../src/common/logger.js";
import { createCertificateManager } from "../src/controller/certificates/index.js";
import { loadControllerConfig } from "../src/controller/config/load.js";
import { startController } from "../src/controller/main.js";
import { MemoryStore } from "./sources.js";

type Reply = { type: "ready"; adminUrl?: string; grpcAddress?: string; port?: number; caPem?: string } | { type: "cpu"; micros: number };

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

function report(scenario: string, figure: string, value: number, unit: string): void {
  process.stdout.write(`${JSON.stringify({ scenario, figure, value: Number(value.toPrecision(4)), unit })}\n`);
}

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

// ---- children --------------------------------------------------------------

/** Answers "cpu" with this process's CPU so far; "stop" ends it. */
function serveCpu(stop: () => Promise<void>): void {
  process.on("message", (m: string) => {
    if (m === "cpu") process.send?.({ type: "cpu", micros: cpuMicros() } satisfies Reply);
    if (m === "stop") void stop().finally(() => process.exit(0));
  });
  process.on("disconnect", () => void stop().finally(() => process.exit(1)));
}

async function controllerChild(dir: string): Promise<void> {
  const hostsFile = join(dir, "hosts.yaml");
  const { writeFile, mkdir } = await import("node:fs/promises");
  await writeFile(hostsFile, "hosts: []\n");
  await mkdir(join(dir, "smi"), { recursive: true });
  const config = await loadControllerConfig(undefined, {
    dataDir: join(dir, "data"), adminAddress: "127.0.0.1:0", grpcAddress: "127.0.0.1:0", hostsFile, smiDirectory: join(dir, "smi"), logLevel: "silent",
  });
  // One client address sends every call: the per-peer limit is for a real fleet.
  const controller = await startController({ ...config, limits: { ...config.limits, enrollPerSecond: 1_000_000, enrollBurst: 1_000_000 } }, silentLogger());
  serveCpu(() => controller.close());
  process.send?.({ type: "ready", adminUrl: controller.adminUrl, grpcAddress: controller.grpcAddress } satisfies Reply);
}

async function tlsChild(): Promise<void> {
  const certificates = await createCertificateManager({ store: new MemoryStore(), logger: silentLogger() });
  const serving = await certificates.controllerCertificate(3_600_000);
  const server = http2.createSecureServer({ cert: serving.certificatePem, key: serving.privateKeyPem, allowHTTP1: false });
  server.on("stream", (stream) => {
    stream.respond({ ":status": 200 });
    stream.end("ok");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  serveCpu(() => new Promise<void>((resolve) => server.close(() => resolve())));
  process.send?.({ type: "ready", port: (server.address() as { port: number }).port, caPem: certificates.caBundle() } satisfies Reply);
}

// ---- parent ----------------------------------------------------------------

class Child {
  readonly #child: ChildProcess;
  readonly #waiting: Array<(r: Reply) => void> = [];
  readonly ready: Promise<Reply>;

  constructor(args: string[]) {
    this.#child = fork(fileURLToPath(import.meta.url), args, { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    this.#child.on("message", (m: Reply) => this.#waiting.shift()?.(m));
    this.ready = this.#next();
  }

  #next(): Promise<Reply> {
    return new Promise((resolve, reject) => {
      this.#waiting.push(resolve);
      this.#child.once("exit", (code) => reject(new Error(`child exited with ${code}`)));
    });
  }

  async cpu(): Promise<number> {
    const reply = this.#next();
    this.#child.send("cpu");
    const r = await reply;
    if (r.type !== "cpu") throw new Error("unexpected reply");
    return r.micros;
  }

  async stop(): Promise<void> {
    const exited = new Promise((resolve) => this.#child.once("exit", resolve));
    this.#child.send("stop");
    await exited;
  }
}

async function admin(url: string, path: string, body?: unknown): Promise<string> {
  const res = await fetch(`${url}${path}`, body === undefined ? {} : { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
  const text = await res.text();
  if (!res.ok) throw new Error(`${path} -> ${res.status} ${text}`);
  return text;
}

async function pool(count: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (let i = next++; i < count; i = next++) await fn(i);
  }));
}

async function enrollOverGrpc(count: number, concurrency: number, uses: number, dir: string): Promise<void> {
  const csrs: string[] = [];
  for (let i = 0; i < count; i++) csrs.push(await buildCsr((await generateProxyKey()).keys));
  const child = new Child(["--controller", dir]);
  const ready = await child.ready;
  if (ready.type !== "ready" || ready.adminUrl === undefined || ready.grpcAddress === undefined) throw new Error("controller not ready");
  try {
    const caPem = await admin(ready.adminUrl, "/api/v1/ca");
    const tokens: string[] = [];
    for (let i = 0; i < Math.ceil(count / uses); i++) {
      tokens.push((JSON.parse(await admin(ready.adminUrl, "/api/v1/tokens", { service: `bench/svc-${i}`, ttl: "1h", uses })) as { token: string }).token);
    }
    const enroll = (i: number) => callEnroll({ address: ready.grpcAddress!, caPem, token: tokens[Math.floor(i / uses)]!, csrPem: csrs[i]!, agentVersion: "bench", hostname: `host-${i}`, timeoutMs: 120_000, signal: new AbortController().signal });
    // Warm both sides (module code, the service certificate path is not involved).
    await enroll(0);
    const before = await child.cpu();
    const mine = cpuMicros();
    const started = performance.now();
    await pool(count - 1, concurrency, (i) => enroll(i + 1).then(() => undefined));
    const seconds = (performance.now() - started) / 1000;
    const controllerCpu = (await child.cpu()) - before;
    report("enroll-grpc", `Enroll RPCs over TLS, new connection each (file store, durable, concurrency ${concurrency}, ${uses} uses per token, N = ${count - 1})`, (count - 1) / seconds, "/s");
    report("enroll-grpc", "controller CPU per Enroll RPC (handshake included)", controllerCpu / 1000 / (count - 1), "ms");
    report("enroll-grpc", "client CPU per Enroll RPC (this process: handshake, grpc-js)", (cpuMicros() - mine) / 1000 / (count - 1), "ms");
  } finally {
    await child.stop();
  }
}

async function floor(count: number, concurrency: number): Promise<void> {
  const child = new Child(["--tls"]);
  const ready = await child.ready;
  if (ready.type !== "ready" || ready.port === undefined || ready.caPem === undefined) throw new Error("TLS server not ready");
  try {
    const connect = () => new Promise<void>((resolve, reject) => {
      const session = http2.connect(`https://127.0.0.1:${ready.port}`, { ca: ready.caPem!, servername: "localhost", checkServerIdentity: () => undefined });
      session.on("error", reject);
      const req = session.request({ ":path": "/" });
      req.on("error", reject);
      req.resume();
      req.on("end", () => session.close(() => resolve()));
      req.end();
    });
    await connect();
    const before = await child.cpu();
    const started = performance.now();
    await pool(count, concurrency, () => connect());
    const seconds = (performance.now() - started) / 1000;
    report("enroll-grpc", "floor: bare node:http2 TLS server, new connection + one request", count / seconds, "/s");
    report("enroll-grpc", "floor: server CPU per TLS connection + one HTTP/2 request", ((await child.cpu()) - before) / 1000 / count, "ms");
  } finally {
    await child.stop();
  }
  const key = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const data = Buffer.alloc(300, 1);
  const signature = sign("sha256", data, key.privateKey);
  const n = 2000;
  const cpu = cpuMicros();
  for (let i = 0; i < n; i++) {
    verify("sha256", data, key.publicKey, signature);
    sign("sha256", data, key.privateKey);
  }
  report("enroll-grpc", "floor: one ECDSA P-256 verify + one sign (node:crypto), CPU", (cpuMicros() - cpu) / 1000 / n, "ms");
}

const role = process.argv[2];
if (role === "--controller") {
  await controllerChild(process.argv[3]!);
} else if (role === "--tls") {
  await tlsChild();
} else {
  const count = Number(option("count", "1000"));
  const concurrency = Number(option("concurrency", "64"));
  const uses = Number(option("uses", "10"));
  const dir = await mkdtemp(join(option("tmpdir", tmpdir()), "meshfed-bench-enroll-grpc-"));
  try {
    await floor(count, concurrency);
    await enrollOverGrpc(count + 1, concurrency, uses, dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
