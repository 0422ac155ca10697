/**
 * `npm run bench`: figures and ratios measured side by side in one run, never
 * pass/fail timings (machines here are noisy: compare the ratios). Prints one
 * JSON line per figure, then a table. docs/benchmarks.md explains each.
 *
 * Options (after `--` with npm): `--agents N` simulated agents for the agents
 * scenario (default 1000, 0 skips it), `--workers W` their worker processes,
 * `--only core|render|sidecars|agents|floor|replicas|etcd` to run some parts (a
 * comma-separated list, e.g. `--only agents,replicas`), `--tmpdir DIR` for the
 * agents and sidecars scenarios' files and controller data directory
 * (default: the OS temp dir). The sidecars scenario runs only with PIPY_BIN
 * set: `--concurrency C` (default 16), `--duration S` seconds per phase
 * (default 10, 5 with `--quick`), `--warmup S` (default 2, 1 with `--quick`). The etcd part (the baseline for
 * the mesh-wide change) and the replicas scenario (the agents scenario again
 * with `--replicas R`, default 2, controller replicas sharing one real etcd)
 * run when an etcd binary is found (`ETCD_BIN`, else `etcd` on the PATH).
 * `--file-cache off` makes the simulated agents act as agents of the
 * previous version (no FileCache in Hello: every file in full), for A/B;
 * `--file-cache seeded` has them hold the Pipy codebase from their first
 * connect, as agents reconnecting to a restarted controller do.
 * `--reconnect-grace S` sets the controllers' `grpc.reconnectGrace` in
 * seconds (default: the controller's own, 10 s): a storm that outlasts it
 * withdraws and re-announces endpoints, which the storm's figures then include
 * unless the controller holds them as a mass disconnect (`grpc.massDisconnect`);
 * `--mass-disconnect off` turns that off (threshold 0), for A/B.
 * The floor part (bench/push-floor.ts) measures bare grpc-js writing one
 * message to each of min(N, 2,000) mTLS streams and reading each ACK, and
 * prints the mesh-wide change's controller CPU per config against it, and
 * the lowest mesh-wide p99 the machine allows: the configured waits, then
 * the pushes at that floor, spread with the simulated agents' own CPU per
 * config over every core. The same part measures the server's CPU per new
 * mTLS connection (with one stream) and prints the storm against it.
 * The controllers run with the image's malloc setting (src/controller/malloc-env.ts);
 * `MESHFED_BENCH_CONTROLLER_ENV="NAME=VALUE …"` replaces it for an A/B, and set
 * but empty gives glibc's defaults: the scenario's name then says which.
 * Figures with a goal of issue 17 carry `goal`, `ratioToGoal` and `met`.
 * `--quick` shrinks every part (200 agents, 100 with replicas, fewer
 * certificates and renders) to finish in under two minutes, for smoke runs.
 * The harness's own time per part and per phase of the agents scenarios is
 * printed as JSON lines (`{"scenario":…,"phase":…,"seconds":…}`) and as a
 * table at the end (bench/phases.ts).
 */
import { execFileSync } from "node:child_process";
import { generateKeyPairSync, sign } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir, cpus, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { MeshCatalog, NO_CONNECTED_PROXIES } from "../src/controller/catalog/catalog.js";
import { createCertificateManager } from "../src/controller/certificates/index.js";
import { EmptyMeshSpec } from "../src/controller/spec/empty-spec.js";
import { FileStore } from "../src/controller/store/file-store.js";
import { silentLogger } from "../src/common/logger.js";
import type { StateStore } from "../src/controller/store/types.js";
import { runAgentsBenchmark, type AgentsBenchOptions, type AgentsBenchResult, type Goal } from "./agents.js";
import { runEtcdWatchBenchmark, startEtcd, stopEtcd } from "./etcd-watch.js";
import { runRenderBenchmark } from "./render.js";
import { runPushFloorBenchmark } from "./push-floor.js";
import { runSidecarsBenchmark } from "./sidecars.js";
import { runTransparentBenchmark } from "./sidecars-transparent.js";
import { PhaseClock, type PhaseLine, type PhaseSink } from "./phases.js";
import { MemoryProvider, MemoryStore } from "./sources.js";

const PUSH_FLOOR_MAX_STREAMS = 2000;
/**
 * About an agent's config message in the mesh-wide change: the 19 codebase
 * files by reference, the new view.json in full and config.json (5,004 bytes
 * encoded for a view with two outbound services of ten endpoints).
 */
const PUSH_FLOOR_BYTES = 5000;

interface Figure {
  readonly scenario: string;
  readonly figure: string;
  readonly value: number;
  readonly unit: string;
  /** "<= 100" or ">= 1000", in `unit`. */
  readonly goal?: string;
  /** value / goal: at most 1 meets a maximum, at least 1 a minimum. */
  readonly ratioToGoal?: number;
  readonly met?: boolean;
  /** value / anchor, by anchor name. */
  readonly anchors?: Readonly<Record<string, number>>;
}
const figures: Figure[] = [];
const phases: PhaseLine[] = [];
const phaseSink: PhaseSink = (line) => {
  phases.push(line);
  console.log(JSON.stringify(line));
};
const round4 = (v: number) => Number(v.toPrecision(4));
/**
 * One JSON line per figure. `goal` and `anchors` are optional (the first four
 * arguments are what every scenario passes); with a goal the line carries
 * the ratio to it and whether it is met, with anchors value / anchor each.
 */
function report(scenario: string, figure: string, value: number, unit: string, goal?: Goal, anchors?: Readonly<Record<string, number>>): void {
  const target = goal?.max ?? goal?.min;
  const f: Figure = {
    scenario, figure, value: round4(value), unit,
    ...(goal !== undefined && target !== undefined
      ? { goal: `${goal.max !== undefined ? "<=" : ">="} ${target}`, ratioToGoal: round4(value / target), met: goal.max !== undefined ? value <= goal.max : value >= target }
      : {}),
    ...(anchors !== undefined ? { anchors: Object.fromEntries(Object.entries(anchors).map(([name, a]) => [name, round4(value / a)])) } : {}),
  };
  figures.push(f);
  console.log(JSON.stringify(f));
}

const gc = (globalThis as { gc?: () => void }).gc;
const heapUsed = () => {
  gc?.();
  return process.memoryUsage().heapUsed;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function ip(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

/** A catalog over one provider with `services` services of `perService` endpoints each. */
function buildCatalog(services: number, perService: number) {
  const provider = new MemoryProvider("onprem");
  let n = 0;
  for (let s = 0; s < services; s++) {
    const endpoints = [];
    for (let e = 0; e < perService; e++) endpoints.push({ ip: ip(n++), port: 8080, source: `bench#${s}` });
    provider.set(`ns-${s % 100}`, `svc-${s}`, endpoints, false);
  }
  const catalog = new MeshCatalog({
    providers: [provider], spec: new EmptyMeshSpec(), certificates: { certificates: () => [] }, connected: NO_CONNECTED_PROXIES,
    providerPriority: ["onprem"], permissive: false, coalesceMs: 1_000_000, logger: silentLogger(),
  });
  const stop = new AbortController();
  const before = heapUsed();
  const started = performance.now();
  catalog.start(stop.signal);
  const buildMs = performance.now() - started;
  return { provider, catalog, stop, buildMs, heapBytes: heapUsed() - before };
}

/** Median time of one endpoint change applied through the catalog (mark dirty + flush). */
function changeCost(services: number, perService: number, rounds: number): number {
  const { provider, catalog, stop } = buildCatalog(services, perService);
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const s = (r * 7919) % services;
    const endpoints = [...(provider.endpoints(`ns-${s % 100}/svc-${s}`) ?? [])];
    endpoints[0] = { ...endpoints[0]!, port: 9000 + (r % 1000) };
    const started = performance.now();
    provider.set(`ns-${s % 100}`, `svc-${s}`, endpoints);
    catalog.flush();
    samples.push(performance.now() - started);
  }
  stop.abort();
  return median(samples);
}

async function issuanceRate(store: StateStore, count: number): Promise<number> {
  const manager = await createCertificateManager({ store, logger: silentLogger() });
  const started = performance.now();
  for (let i = 0; i < count; i++) await manager.serviceCertificate({ namespace: "bench", name: `svc-${i}` });
  return count / ((performance.now() - started) / 1000);
}

/** The floor of one service certificate: a fresh P-256 key plus one signature. */
function rawKeygenSignRate(count: number): number {
  const data = Buffer.alloc(512, 7);
  const started = performance.now();
  for (let i = 0; i < count; i++) sign("sha256", data, generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey);
  return count / ((performance.now() - started) / 1000);
}

function rawSignRate(count: number): number {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const data = Buffer.alloc(512, 7);
  const started = performance.now();
  for (let i = 0; i < count; i++) sign("sha256", data, privateKey);
  return count / ((performance.now() - started) / 1000);
}

interface CoreSizes {
  readonly changeRounds: number;
  readonly memoryCertificates: number;
  readonly fileCertificates: number;
}
const FULL: CoreSizes = { changeRounds: 2000, memoryCertificates: 1000, fileCertificates: 300 };
const QUICK: CoreSizes = { changeRounds: 500, memoryCertificates: 150, fileCertificates: 40 };

async function core(sizes: CoreSizes): Promise<void> {

  const big = buildCatalog(10_000, 10);
  report("catalog-build", "100k endpoints / 10k services: build", big.buildMs, "ms");
  report("catalog-build", "heap per endpoint", big.heapBytes / 100_000, "bytes");
  big.stop.abort();

  const small = changeCost(100, 10, sizes.changeRounds);
  const large = changeCost(10_000, 10, sizes.changeRounds);
  report("catalog-change", "one endpoint change at 1k endpoints", small * 1000, "µs");
  report("catalog-change", "one endpoint change at 100k endpoints", large * 1000, "µs");
  report("catalog-change", "ratio 100k / 1k (goal ≈ 1)", large / small, "x");

  const dir = await mkdtemp(join(tmpdir(), "meshfed-bench-"));
  try {
    const sign = rawSignRate(5000);
    const keygenSign = rawKeygenSignRate(2000);
    const memory = await issuanceRate(new MemoryStore(), sizes.memoryCertificates);
    // Closed before the directory goes: an open journal left to the collector is a file handle closed by GC (DEP0137).
    const fileStore = await FileStore.open(dir);
    const file = await issuanceRate(fileStore, sizes.fileCertificates).finally(() => fileStore.close());
    report("certificates", "raw ECDSA P-256 crypto.sign", sign, "ops/s");
    report("certificates", "raw P-256 key generation + crypto.sign", keygenSign, "ops/s");
    report("certificates", "service certificates issued (in-memory store)", memory, "certs/s");
    report("certificates", "service certificates issued (file store, fsync per write)", file, "certs/s");
    report("certificates", "ratio issuance (memory) / raw sign", memory / sign, "x");
    report("certificates", "ratio issuance (memory) / raw keygen+sign", memory / keygenSign, "x");
    report("certificates", "ratio issuance (file) / raw sign", file / sign, "x");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function positiveInt(name: string, text: string | undefined, fallback: number | undefined): number | undefined {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a whole number, got "${text}"`);
  return value;
}

const PARTS = ["core", "render", "sidecars", "agents", "floor", "replicas", "etcd"] as const;

function etcdBinary(): string | undefined {
  if (process.env.ETCD_BIN) return process.env.ETCD_BIN;
  try {
    return execFileSync("sh", ["-c", "command -v etcd"], { encoding: "utf8" }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The agents scenario against R controller replicas sharing one fresh etcd, started and removed here. */
async function replicasOnEtcd(binary: string, o: Omit<AgentsBenchOptions, "replicas"> & { readonly replicas: number }): Promise<void> {
  const dir = await mkdtemp(join(o.tmpdir ?? tmpdir(), "meshfed-bench-replicas-etcd-"));
  const { child, endpoint } = await startEtcd(binary, join(dir, "data"));
  try {
    await runAgentsBenchmark({ ...o, replicas: { count: o.replicas, store: endpoint.replace(/^http:/, "etcd:") } });
  } finally {
    await stopEtcd(child);
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    agents: { type: "string" }, workers: { type: "string" }, only: { type: "string" }, tmpdir: { type: "string" },
    concurrency: { type: "string" }, duration: { type: "string" }, warmup: { type: "string" }, quick: { type: "boolean" }, driver: { type: "string" }, "reconnect-grace": { type: "string" }, "mass-disconnect": { type: "string" }, replicas: { type: "string" }, "file-cache": { type: "string" },
  } });
  const quick = values.quick === true;
  const only = values.only?.split(",");
  for (const part of only ?? []) if (!(PARTS as readonly string[]).includes(part)) throw new Error(`--only takes parts among ${PARTS.join(", ")}, got "${part}"`);
  const runs = (part: (typeof PARTS)[number]) => only === undefined || only.includes(part);
  const agents = positiveInt("agents", values.agents, quick ? 200 : 1000)!;
  const driver = values.driver;
  if (driver !== undefined && driver !== "pipy" && driver !== "json") throw new Error(`--driver must be pipy or json, got "${driver}"`);
  const workers = positiveInt("workers", values.workers, undefined);
  const reconnectGraceSeconds = positiveInt("reconnect-grace", values["reconnect-grace"], undefined);
  const massDisconnect = values["mass-disconnect"] ?? "on";
  if (massDisconnect !== "on" && massDisconnect !== "off") throw new Error(`--mass-disconnect must be on or off, got "${massDisconnect}"`);
  const grace = { ...(reconnectGraceSeconds === undefined ? {} : { reconnectGraceSeconds }), ...(massDisconnect === "off" ? { massDisconnectOff: true } : {}) };
  const fileCache = values["file-cache"] ?? "on";
  // off: the simulated agents act as agents of the previous version (every file in full); seeded: they hold the codebase from the start.
  if (fileCache !== "on" && fileCache !== "off" && fileCache !== "seeded") throw new Error(`--file-cache must be on, seeded or off, got "${fileCache}"`);
  const replicaCount = positiveInt("replicas", values.replicas, 2)!;
  if (replicaCount < 2) throw new Error("--replicas must be at least 2 (the agents scenario is the single controller)");
  const concurrency = positiveInt("concurrency", values.concurrency, 16)!;
  // Quick: shorter sidecar phases (four of them: warm-up + duration each were 48 s of a ~100 s run).
  const duration = positiveInt("duration", values.duration, quick ? 5 : 10)!;
  const warmup = positiveInt("warmup", values.warmup, quick ? 1 : 2)!;
  if (concurrency < 1 || duration < 1) throw new Error("--concurrency and --duration must be at least 1");
  const parts = new PhaseClock("bench", phaseSink);
  const wallStarted = performance.now();
  console.log(JSON.stringify({ machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version }, gcExposed: gc !== undefined }));
  if (runs("core")) {
    await core(quick ? QUICK : FULL);
    parts.lap("part: core");
  }
  if (runs("render")) {
    runRenderBenchmark({ services: 1000, perService: 10, renders: quick ? 1000 : 5000, report });
    parts.lap("part: render");
  }
  if (runs("sidecars")) {
    const pipy = process.env.PIPY_BIN;
    if (pipy === undefined || pipy === "") console.log(JSON.stringify({ scenario: "sidecars", skipped: "PIPY_BIN is not set: the two-sidecar throughput scenario needs a real Pipy binary (PIPY_BIN=/path/to/pipy)" }));
    else {
      await runSidecarsBenchmark({ pipy, concurrency, warmupMs: warmup * 1000, durationMs: duration * 1000, ...(values.tmpdir ? { tmpdir: values.tmpdir } : {}), report });
      await runTransparentBenchmark({ pipy, requests: quick ? 500 : 3000, roundTrips: quick ? 1000 : 5000, report });
      parts.lap("part: sidecars");
    }
  }
  let meshWideP99: number | undefined;
  let agentsResult: AgentsBenchResult | undefined;
  if (runs("agents") && agents > 0) {
    agentsResult = await runAgentsBenchmark({ agents, fileCache, ...grace, ...(driver ? { driver } : {}), ...(workers ? { workers } : {}), ...(values.tmpdir ? { tmpdir: values.tmpdir } : {}), report, phases: phaseSink });
    meshWideP99 = agentsResult.meshWideP99;
    parts.lap("part: agents");
  }
  if (runs("floor") && agents > 0) {
    // At most 2,000 streams: the floor per message does not need the whole fleet, and the run stays short at N = 10,000.
    const streams = Math.min(agents, PUSH_FLOOR_MAX_STREAMS);
    const floor = await runPushFloorBenchmark({ streams, bytes: PUSH_FLOOR_BYTES, rounds: quick ? 2 : 3, report });
    if (agentsResult !== undefined) {
      const scenario = `push floor, bare grpc-js, ${streams} mTLS streams`;
      report(scenario, `ratio controller CPU per agent's config in the mesh-wide change (N = ${agents}) / bare grpc-js per message + ACK`, agentsResult.meshWideCpuPerConfigMs / floor.cpuPerMessageMs, "x");
      // What no controller could beat here: the configured waits, then N messages at the transport's floor on the
      // pushing thread, and never faster than all the CPU the change needs (those messages and the simulated
      // agents' own work per config) spread over every core of the machine.
      const pushMs = Math.max(agents * floor.cpuPerMessageMs, (agents * (floor.cpuPerMessageMs + agentsResult.agentsCpuPerConfigMs)) / cpus().length);
      report(scenario, `lowest mesh-wide p99 this machine allows at N = ${agents}: configured waits + max(N x floor, N x (floor + agents' CPU per config) / ${cpus().length} cores)`, agentsResult.configuredWaitMs + pushMs, "ms");
      report(scenario, `ratio controller CPU per reconnect in the storm (N = ${agents}) / bare grpc-js per connection`, agentsResult.stormCpuPerReconnectMs / floor.cpuPerConnectionMs, "x");
      // Node runs every TLS handshake on the main thread: N of them at the floor, one after the other, at least.
      report(scenario, `shortest reconnect storm one controller process allows at N = ${agents}: N x the floor per connection`, (agents * floor.cpuPerConnectionMs) / 1000, "s");
    }
    parts.lap("part: floor");
  }
  const etcd = etcdBinary();
  if (runs("replicas") && agents > 0) {
    if (etcd === undefined) console.log(JSON.stringify({ scenario: "replicas", skipped: "no etcd binary (ETCD_BIN or etcd on the PATH): replicas share their state in etcd" }));
    // Quick runs keep the CI smoke under two minutes: enrolment through etcd is the slow part.
    else {
      await replicasOnEtcd(etcd, { agents: quick ? Math.min(agents, 100) : agents, replicas: replicaCount, fileCache, ...grace, ...(driver ? { driver } : {}), ...(workers ? { workers } : {}), ...(values.tmpdir ? { tmpdir: values.tmpdir } : {}), report, phases: phaseSink });
      parts.lap("part: replicas");
    }
  }
  if (runs("etcd") && agents > 0) {
    if (etcd === undefined) console.log(JSON.stringify({ scenario: "etcd", skipped: "no etcd binary (ETCD_BIN or etcd on the PATH): the etcd watch baseline needs Debian's etcd-server" }));
    else {
      const baseline = await runEtcdWatchBenchmark({ watchers: agents, clients: Math.max(2, Math.ceil(agents / 1000)), rounds: quick ? 5 : 10, etcdBinary: etcd, ...(values.tmpdir ? { tmpdir: values.tmpdir } : {}), report });
      if (meshWideP99 !== undefined) report(`etcd watch N=${agents}`, "ratio meshfed mesh-wide p99 (file write -> ACK) / etcd p99 (put -> watcher)", meshWideP99 / baseline.p99, "x");
      parts.lap("part: etcd");
    }
  }

  const width = Math.max(...figures.map((f) => f.figure.length));
  console.log(`\n${"figure".padEnd(width)}  value`);
  for (const f of figures) console.log(`${f.figure.padEnd(width)}  ${f.value} ${f.unit}${f.goal === undefined ? "" : `  (goal ${f.goal}: ${f.met === true ? "met" : "not met"}, ${f.ratioToGoal} x)`}`);
  const total = (performance.now() - wallStarted) / 1000;
  console.log(JSON.stringify({ scenario: "bench", phase: "total", seconds: Number(total.toFixed(2)) }));
  const phaseWidth = Math.max(...phases.map((p) => p.scenario.length + p.phase.length + 3));
  console.log(`\n${"harness time: scenario / phase".padEnd(phaseWidth)}  seconds`);
  for (const p of phases) console.log(`${`${p.scenario} / ${p.phase}`.padEnd(phaseWidth)}  ${p.seconds}`);
  console.log(`${"total".padEnd(phaseWidth)}  ${total.toFixed(1)}`);
}

try {
  await main();
} catch (err) {
  console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
