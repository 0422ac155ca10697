/**
 * The agents scenario of `npm run bench` (issue 3): N simulated agents, real
 * grpc-js mTLS clients spread over W worker processes, against ONE real
 * controller in its own child process so that its memory is measured alone,
 * or (issue 8) against R replicas sharing etcd, each in its own process.
 * The mesh and the two changes are described in agents-mesh.ts; the figures
 * in docs/benchmarks.md. Every wait is bounded; on any failure the children
 * are stopped, the temp directory removed, and the error thrown.
 */
import { execFileSync, fork, type ChildProcess } from "node:child_process";
import { setMaxListeners } from "node:events";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { percentile, request, until, type AgentSpec, type FileCacheMode, type Collected, type MemoryReply, type UsageReply, type WorkerStatus } from "./agents-ipc.js";
import { LEAN_NODE_ARGS, measureAgentRss } from "./agent-rss.js";
import { AGENT_NODE_FLAGS } from "../src/installer/agent-command.js";
import { controllerEnvironment } from "./controller-env.js";
import { admin, Replicas } from "./agents-replicas.js";
import { AGENT_PORT, NAMESPACE, SHARED_ADDRESS, hostAddress, hostsYaml, replaceFile, ringPolicyYaml, roundService, serviceName, sharedPolicyYaml, extAddress } from "./agents-mesh.js";
import { PhaseClock, type PhaseSink } from "./phases.js";

/**
 * A goal from the issue's table: the figure must stay at most `max` or at
 * least `min` (same unit as the figure). Anchors are public or same-run
 * reference values in the same unit; each is printed as value / anchor.
 */
export interface Goal {
  readonly max?: number;
  readonly min?: number;
}
export type Report = (scenario: string, figure: string, value: number, unit: string, goal?: Goal, anchors?: Readonly<Record<string, number>>) => void;

export interface AgentsBenchOptions {
  readonly agents: number;
  /** Worker processes; default: one per 1,000 agents, at least 2 (see defaultWorkers). */
  readonly workers?: number;
  /** Where the temp directory (hosts file, SMI files, controller data dir) goes; default os.tmpdir(). */
  readonly tmpdir?: string;
  /** The controller's sidecar driver; default the controller's own default. */
  readonly driver?: "pipy" | "json";
  /** The controllers' `grpc.reconnectGrace`, seconds; default the controller's own. */
  readonly reconnectGraceSeconds?: number;
  /** true: the controllers' `grpc.massDisconnect.threshold` is 0 (every proxy keeps exactly its grace), for A/B. */
  readonly massDisconnectOff?: boolean;
  /**
   * Controller replicas sharing their state in etcd (`store`, an etcd:// URL);
   * agent i enrols with and connects to replica i mod replicas. Default: one
   * controller with the file store.
   */
  readonly replicas?: { readonly count: number; readonly store: string };
  /**
   * "on" (default): simulated agents keep shared files by hash, as the current agent does; "seeded": and hold
   * the Pipy codebase already at their first connect (a controller restart); "off": agents of the previous version.
   */
  readonly fileCache?: FileCacheMode;
  /** Also measure one real agent process's RSS (no Pipy) next to Node's floor; single controller only. Default true. */
  readonly agentRss?: boolean;
  readonly report: Report;
  /** Told the harness's time per phase (bench/phases.ts); default: not printed. */
  readonly phases?: PhaseSink;
}

/** Public anchors for memory per proxy (docs/benchmarks.md cites them). */
const OSM_KB_PER_PROXY = 700;
const OSM_ANCHOR = { "OSM ~700 KB per proxy": OSM_KB_PER_PROXY };
/** The controller's configured waits before an endpoint change is pushed: hosts-file debounce and catalog coalesce (their defaults). */
const CONFIGURED_DEBOUNCE_MS = 100 + 50;
const ROUNDS = 10;
/**
 * A phase that waits for pushes to stop is over once no agent has received
 * anything for this long. The controller holds a catalog change at most its
 * coalesce max delay (500 ms) before the push goes out, and a fan-out writes
 * without pauses, so a push of the same change (a wrong one to an unaffected
 * proxy, or a second one) cannot come after a silence longer than that. It
 * replaced a fixed 1.5 s sleep after the last expected ACK (issue 17: the
 * harness's own time): the same late pushes are caught, counted from the last
 * config anyone received rather than from the last expected ACK.
 */
const QUIET_MS = 500 + 100;
/**
 * How long the controller's idle CPU is read, all agents connected: 1 ms
 * per agent, from 1 s to 5 s. Keepalive pings (every 20 s, both ways) are
 * then at least ~100 per window, a steady rate, and --quick (200 agents,
 * twice) pays 2 s for it, not 10.
 */
const idleWindowMs = (agents: number) => Math.min(5_000, Math.max(1_000, agents));
/** CPU seconds the controllers used together between two readings (one entry per replica). */
function cpuSecondsBetween(from: readonly UsageReply[], to: readonly UsageReply[]): number {
  return to.reduce((x, u, k) => x + u.cpuMicros - from[k]!.cpuMicros, 0) / 1e6;
}
/** Join tokens created at a time over the admin API (their store writes then share a commit). */
const TOKEN_CONCURRENCY = 16;

/**
 * Bounds of the phases that scale with N: at least 5 agents/s (enrolment,
 * connect, storm) and 100 configs/s for a mesh-wide change. Generous on
 * purpose: at 10,000 agents on a shared 2-vCPU machine the first connect
 * ran at ~6 agents/s, which the former 60 ms per agent would have turned into a failure.
 */
const MS_PER_AGENT = 200;
const MS_PER_CONFIG = 10;

function openFileLimit(): number {
  try {
    return Number(execFileSync("sh", ["-c", "ulimit -n"], { encoding: "utf8" }).trim()) || 1024;
  } catch {
    return 1024;
  }
}

/**
 * One worker per 1,000 agents, at least 2. Capping this at one per CPU (two
 * here) was tried for issue 17, so that the controller's share of the CPU
 * would not shrink with ten busy workers beside it: at N = 10,000 the connect
 * phase then failed after ~280 s, streams of one worker's 5,000 agents dropped
 * right after their first config (docs/benchmarks.md). A worker is one event
 * loop; 1,000 agents each is what the 10,000 run has passed with.
 */
export function defaultWorkers(n: number): number {
  return Math.max(2, Math.ceil(n / 1000));
}

function maxMapCount(): number | undefined {
  try {
    return Number(readFileSync("/proc/sys/vm/max_map_count", "utf8").trim());
  } catch {
    return undefined;
  }
}

/** What run.ts reads off the agents scenario: the etcd comparison, and the floor part's ratios and bounds. */
export interface AgentsBenchResult {
  /** The mesh-wide change's p99 (ms), for the side-by-side etcd figure. */
  readonly meshWideP99: number;
  readonly meshWideCpuPerConfigMs: number;
  /** The simulated agents' CPU per config in the mesh-wide change (they share the machine's cores). */
  readonly agentsCpuPerConfigMs: number;
  /** The controller's configured waits before a change is pushed (file debounce + catalog coalesce). */
  readonly configuredWaitMs: number;
  readonly stormCpuPerReconnectMs: number;
}

export async function runAgentsBenchmark(o: AgentsBenchOptions): Promise<AgentsBenchResult> {
  const n = o.agents;
  const services = Math.max(2, Math.round(n / 10));
  const workerCount = o.workers ?? defaultWorkers(n);
  const limit = openFileLimit();
  // Each agent is one socket in its worker and one in the controller.
  if (n + 512 > limit || Math.ceil(n / workerCount) * 2 > limit) {
    throw new Error(`ulimit -n is ${limit}: too low for ${n} agents over ${workerCount} workers (the controller alone holds one socket per agent); raise it or lower --agents`);
  }
  const dir = await mkdtemp(join(o.tmpdir ?? tmpdir(), "meshfed-bench-agents-"));
  const stop = new AbortController();
  const replicaCount = o.replicas?.count ?? 1;
  // e.g. MESHFED_BENCH_CONTROLLER_ENV= (empty) for glibc's malloc defaults on the controllers alone.
  const { env: controllerEnv, label: envLabel } = controllerEnvironment(process.env.MESHFED_BENCH_CONTROLLER_ENV);
  const scenario = `agents N=${n}${o.driver ? ` driver=${o.driver}` : ""}${o.replicas ? ` replicas=${replicaCount} (etcd)` : ""}${o.fileCache !== undefined && o.fileCache !== "on" ? ` file-cache=${o.fileCache}` : ""}${o.reconnectGraceSeconds === undefined ? "" : ` reconnect-grace=${o.reconnectGraceSeconds}s`}${o.massDisconnectOff === true ? " mass-disconnect=off" : ""}${envLabel}`;
  const clock = new PhaseClock(scenario, o.phases ?? (() => undefined));
  // One abort listener per forked child (fork's `signal`): the controllers and every worker.
  setMaxListeners(workerCount + replicaCount + 2, stop.signal);
  const children: ChildProcess[] = [];
  const spawnChild = (file: string, args: string[], extraNodeArgs: string[] = [], env: NodeJS.ProcessEnv = process.env): ChildProcess => {
    const child = fork(new URL(file, import.meta.url), args, { execArgv: ["--expose-gc", ...extraNodeArgs], env, signal: stop.signal, stdio: ["ignore", "inherit", "inherit", "ipc"] });
    child.on("error", () => undefined); // the abort on cleanup kills it; nothing to report
    children.push(child);
    return child;
  };
  const onSigint = () => {
    stop.abort();
    process.exit(130);
  };
  process.once("SIGINT", onSigint);
  let replicas: Replicas | undefined;
  let workers: ChildProcess[] = [];
  let completed = false;
  try {
    await writeFile(join(dir, "hosts.yaml"), hostsYaml(services, ROUNDS, 0));
    await mkdir(join(dir, "smi"));
    await writeFile(join(dir, "smi", "policy.yaml"), ringPolicyYaml(services));

    // The workers start first and make every agent's key and CSR while the controller starts and the tokens are made.
    workers = Array.from({ length: workerCount }, () => spawnChild("./agents-worker.js", []));
    const all = <T>(fn: (w: ChildProcess, k: number) => Promise<T>) => Promise.all(workers.map(fn));
    const statuses = () => all((w) => request<WorkerStatus>(w, { type: "status" }, 30_000));
    const onWorker = (k: number) => Math.floor(n / workerCount) + (k < n % workerCount ? 1 : 0);
    const preparing = all((w, k) => request<WorkerStatus>(w, { type: "prepare", count: onWorker(k) }, 120_000 + n * MS_PER_AGENT));
    preparing.catch(() => undefined); // awaited below; a failure before then must not be an unhandled rejection

    // e.g. MESHFED_BENCH_CONTROLLER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the controller alone.
    const nodeArgs = (process.env.MESHFED_BENCH_CONTROLLER_NODE_ARGS ?? "").split(" ").filter((a) => a !== "");
    replicas = await Replicas.start({
      count: replicaCount, dir, spawn: (args) => spawnChild("./agents-controller.js", args, nodeArgs, controllerEnv),
      ...(o.driver ? { driver: o.driver } : {}), ...(o.replicas ? { store: o.replicas.store } : {}),
      ...(o.reconnectGraceSeconds === undefined ? {} : { reconnectGraceSeconds: o.reconnectGraceSeconds }),
      ...(o.massDisconnectOff === true ? { massDisconnectOff: true } : {}),
    });
    const controllers = replicas;
    const ready = controllers.first;
    const memory = () => controllers.memory();
    const fresh = await memory();
    clock.lap("controller start (workers making keys meanwhile)");

    const caPem = await admin(ready.adminUrl, "/api/v1/ca");
    const perService = Array.from({ length: services }, (_, s) => Math.floor(n / services) + (s < n % services ? 1 : 0));
    const tokens: string[] = new Array<string>(services);
    // A few at a time rather than one after the other: 1,000 services meant 1,000 sequential durable writes.
    await boundedAll(services, TOKEN_CONCURRENCY, async (s) => {
      const created = JSON.parse(await admin(ready.adminUrl, "/api/v1/tokens", { service: `${NAMESPACE}/${serviceName(s)}`, ttl: "2h", uses: perService[s] })) as { token: string };
      tokens[s] = created.token;
    });
    const specs: AgentSpec[] = Array.from({ length: n }, (_, i) => ({ index: i, token: tokens[i % services]!, service: serviceName(i % services), host: hostAddress(i), port: AGENT_PORT, replica: i % replicaCount }));
    const agentsOn = (k: number) => specs.filter((a) => a.replica === k).length;
    clock.lap("join tokens");
    await preparing;
    clock.lap("keys and CSRs, beyond the controller start and tokens");

    // Enrollment: bounded parallelism across workers (each Enroll issues a certificate and waits for durable writes).
    // Keys and CSRs are ready (above): this times the Enroll round trips only.
    let started = performance.now();
    const enrolled = await all((w, k) =>
      request<WorkerStatus>(w, { type: "enroll", addresses: controllers.all.map((r) => r.grpcAddress), caPem, agents: specs.filter((a) => a.index % workerCount === k), concurrency: Math.max(1, Math.ceil(32 / workerCount)), fileCache: o.fileCache ?? "on" }, 120_000 + n * MS_PER_AGENT),
    );
    const enrollSeconds = (performance.now() - started) / 1000;
    assertNoFailures(enrolled, "enrollment");
    const enrolledCount = enrolled.reduce((x, s) => x + s.enrolled, 0);
    if (enrolledCount !== n) throw new Error(`only ${enrolledCount} of ${n} agents enrolled`);
    const afterEnroll = await memory();
    clock.lap("enroll");

    // Connect: every agent opens its stream and ACKs; done when all have a config and nothing arrived for QUIET_MS.
    const connectStarted = Date.now();
    let lastConfigAt = 0;
    // ~128 handshakes in flight in total, whatever W: more only queues at the listener.
    await all((w) => request(w, { type: "connect", concurrency: Math.max(1, Math.ceil(128 / workerCount)) }, 30_000));
    await until(60_000 + n * MS_PER_AGENT, `all ${n} agents connected and ACKed`, async () => {
      const s = await statuses();
      assertNoFailures(s, "connect");
      const connected = s.reduce((x, w) => x + w.connected, 0);
      lastConfigAt = Math.max(...s.map((w) => w.lastConfigAt));
      return connected === n && Date.now() - lastConfigAt > QUIET_MS ? true : `${connected}/${n} connected`;
    });
    // Until the last config any agent received (a neighbour's Hello can bring a second one), not until the quiet window ended.
    const connectSeconds = (lastConfigAt - connectStarted) / 1000;
    const afterConnect = await statuses();
    const connectRetries = afterConnect.reduce((x, w) => x + w.retries, 0);
    // More than 1: configs re-rendered while the rest connected (each Hello announces an endpoint its service's callers see).
    const connectConfigs = afterConnect.reduce((x, w) => x + w.configs, 0) / n;
    const connected = await memory();
    clock.lap("connect, all agents with a config, then quiet");

    const mib = (b: number) => b / 2 ** 20;
    // With replicas: what all of them together hold per agent (each agent is on one); per replica below.
    const sum = (ms: readonly MemoryReply[], f: (m: MemoryReply) => number) => ms.reduce((x, m) => x + f(m), 0);
    const perAgentKb = (sum(connected, (m) => m.rss) - sum(fresh, (m) => m.rss)) / n / 1024;
    o.report(scenario, "setup: services / workers", services, `services, ${workerCount} workers`);
    o.report(scenario, "setup: enrollment rate (token + CSR -> proxy certificate)", n / enrollSeconds, "agents/s");
    o.report(scenario, "setup: connect + first config + ACK, all agents", connectSeconds, "s");
    o.report(scenario, "setup: connect attempts retried after a transport error", connectRetries, "attempts");
    o.report(scenario, "setup: configs received per agent during the connect", connectConfigs, "configs");
    const rssLabel = replicaCount > 1 ? "controllers' RSS together" : "controller RSS";
    o.report(scenario, `${rssLabel}, fresh (before enrollment)`, mib(sum(fresh, (m) => m.rss)), "MiB");
    o.report(scenario, `${rssLabel}, all enrolled, none connected`, mib(sum(afterEnroll, (m) => m.rss)), "MiB");
    o.report(scenario, `${rssLabel}, all connected and ACKed`, mib(sum(connected, (m) => m.rss)), "MiB");
    o.report(scenario, "RSS per connected agent (goal <= 100 KB)", perAgentKb, "KB", { max: 100 }, OSM_ANCHOR);
    o.report(scenario, "RSS per agent, stream only (connected - enrolled)", (sum(connected, (m) => m.rss) - sum(afterEnroll, (m) => m.rss)) / n / 1024, "KB");
    o.report(scenario, "heap per connected agent", (sum(connected, (m) => m.heapUsed) - sum(fresh, (m) => m.heapUsed)) / n / 1024, "KB");
    o.report(scenario, "V8 heap committed, fresh -> connected", mib(sum(connected, (m) => m.heapTotal)), `MiB (from ${mib(sum(fresh, (m) => m.heapTotal)).toFixed(1)})`);
    // Buffers and ArrayBuffers JS still references (a config kept per session would show here); the rest of RSS is native.
    o.report(scenario, "external (Buffer) memory per connected agent", (sum(connected, (m) => m.external) - sum(fresh, (m) => m.external)) / n / 1024, "KB");
    const mapped = connected.map((m) => m.mappings);
    if (mapped.every((count) => count !== undefined)) {
      // A fixed MALLOC_MMAP_THRESHOLD_ gives each large allocation its own mapping: this shows how near vm.max_map_count that comes.
      o.report(scenario, `${replicaCount > 1 ? "controllers'" : "controller"} memory mappings, all connected (the most of one)`, Math.max(...mapped), `mappings (vm.max_map_count ${maxMapCount() ?? "unknown"})`);
    }
    if (replicaCount > 1) {
      for (let k = 0; k < replicaCount; k++) {
        const on = agentsOn(k);
        o.report(scenario, `replica ${k}: RSS fresh -> connected`, mib(connected[k]!.rss), `MiB (from ${mib(fresh[k]!.rss).toFixed(1)}, ${on} agents)`);
        o.report(scenario, `replica ${k}: RSS per connected agent`, (connected[k]!.rss - fresh[k]!.rss) / on / 1024, "KB");
        o.report(scenario, `replica ${k}: RSS per agent, stream only`, (connected[k]!.rss - afterEnroll[k]!.rss) / on / 1024, "KB");
      }
    }
    o.report(scenario, `ratio RSS per agent / OSM ~${OSM_KB_PER_PROXY} KB per proxy`, perAgentKb / OSM_KB_PER_PROXY, "x");

    const controllersWord = replicaCount > 1 ? "all replicas'" : "controller";
    /** The simulated agents' processes' CPU so far, seconds. */
    const workersCpu = async () => (await statuses()).reduce((x, w) => x + w.cpuMicros, 0) / 1e6;
    // A change observed through the agents: mark, apply, wait for `expected` hits, let late pushes show, collect.
    const observe = async (marker: string, expected: number, apply: () => Promise<number>) => {
      await all((w) => request(w, { type: "mark", marker }, 30_000));
      const agentsCpuFrom = await workersCpu();
      const cpuFrom = await controllers.usage(false);
      const at = await apply();
      await until(60_000 + expected * MS_PER_CONFIG, `${expected} agents ACKed the change "${marker}"`, async () => {
        const s = await statuses();
        assertNoFailures(s, "change");
        const hits = s.reduce((x, w) => x + w.hits, 0);
        return hits >= expected ? true : `${hits}/${expected} ACKed`;
      });
      // The controllers' CPU from the file write until every expected ACK was seen (the poll adds up to its interval).
      const controllerCpuSeconds = cpuSecondsBetween(cpuFrom, await controllers.usage(false));
      const untilAllSeconds = (Date.now() - at) / 1000; // `at` is wall-clock ms, as the agents' ACK times
      // The simulated agents run on the same cores: what receiving, checking and ACKing the change cost them.
      const agentsCpuSeconds = (await workersCpu()) - agentsCpuFrom;
      await quiet(statuses, `no more configs after "${marker}"`);
      const parts = await all((w) => request<Collected>(w, { type: "collect" }, 30_000));
      const hits = parts.flatMap((p) => p.hits);
      return {
        latencies: hits.map((h) => h.at - at).sort((a, b) => a - b),
        hit: new Set(hits.map((h) => h.index)),
        received: parts.flatMap((p) => p.received),
        configs: parts.reduce((x, p) => x + p.configsSinceMark, 0),
        controllerCpuSeconds,
        agentsCpuSeconds,
        untilAllSeconds,
      };
    };

    const mesh = await observe(SHARED_ADDRESS, n, () => replaceFile(join(dir, "smi", "shared.yaml"), sharedPolicyYaml(services)));
    const first = mesh.latencies[0]!;
    o.report(scenario, "mesh-wide change (SMI file): first ACK = watch + coalesce baseline", first, "ms");
    o.report(scenario, "mesh-wide change: p50 over agents, file write -> ACK", percentile(mesh.latencies, 50), "ms");
    o.report(scenario, "mesh-wide change: p99 over agents (goal <= 1 s)", percentile(mesh.latencies, 99), "ms", { max: 1000 });
    o.report(scenario, "mesh-wide change: last agent", mesh.latencies.at(-1)!, "ms");
    o.report(scenario, "mesh-wide change: ratio p99 / first ACK", percentile(mesh.latencies, 99) / first, "x");
    o.report(scenario, "mesh-wide change: configs pushed per agent (expect 1)", mesh.configs / n, "configs");
    // Near 1 core (per replica): the controller's one JS thread is the pace; well below: the agents (here the workers on the same cores) are.
    o.report(scenario, `mesh-wide change: ${controllersWord} CPU from the file write to the last ACK`, mesh.controllerCpuSeconds, "s");
    o.report(scenario, `mesh-wide change: ${controllersWord} CPU utilisation over it (1 = one core)`, mesh.controllerCpuSeconds / mesh.untilAllSeconds, "cores");
    o.report(scenario, `mesh-wide change: ${controllersWord} CPU per agent's config (render share, push, ACK)`, (mesh.controllerCpuSeconds / n) * 1000, "ms");
    o.report(scenario, "mesh-wide change: simulated agents' CPU per config (receive, check, ACK; same cores)", (mesh.agentsCpuSeconds / n) * 1000, "ms");
    o.report(scenario, `mesh-wide change: CPU of the ${controllersWord === "controller" ? "controller" : "replicas"} and the simulated agents over it`, (mesh.controllerCpuSeconds + mesh.agentsCpuSeconds) / mesh.untilAllSeconds, `cores (of ${cpus().length})`);
    // Growth here is memory a push leaves behind per agent (buffers kept, or a heap that does not shrink back after the burst).
    const afterMesh = await memory();
    o.report(scenario, "RSS per agent growth over the mesh-wide change (one more config each)", (sum(afterMesh, (m) => m.rss) - sum(connected, (m) => m.rss)) / n / 1024, "KB");
    clock.lap("mesh-wide change");

    const endpoint: number[] = [];
    let unexpected = 0;
    let receivers = 0;
    let expectedTotal = 0;
    for (let r = 0; r < ROUNDS; r++) {
      // Moving svc-K's extra host changes only the views of svc-(K-1)'s proxies (the ring).
      const caller = (roundService(r, services, ROUNDS) - 1 + services) % services;
      const expected = specs.filter((a) => a.index % services === caller).map((a) => a.index);
      const round = await observe(extAddress(r, true), expected.length, () => replaceFile(join(dir, "hosts.yaml"), hostsYaml(services, ROUNDS, r + 1)));
      endpoint.push(...round.latencies);
      const wanted = new Set(expected);
      unexpected += round.received.filter((i) => !wanted.has(i)).length;
      if (expected.some((i) => !round.hit.has(i))) throw new Error(`round ${r}: not every affected agent received the change`);
      receivers += round.received.length;
      expectedTotal += expected.length;
    }
    endpoint.sort((a, b) => a - b);
    clock.lap(`endpoint changes (${ROUNDS} rounds)`);
    o.report(scenario, `endpoint change (hosts file, ${ROUNDS} rounds): affected proxies per change`, expectedTotal / ROUNDS, "proxies");
    o.report(scenario, "endpoint change: proxies that received a config per change", receivers / ROUNDS, "proxies");
    o.report(scenario, "endpoint change: unaffected proxies that received one (expect 0)", unexpected, "proxies");
    o.report(scenario, "endpoint change: p50, file write -> ACK", percentile(endpoint, 50), "ms");
    o.report(scenario, "endpoint change: p99", percentile(endpoint, 99), "ms");
    o.report(scenario, `endpoint change: p99 beyond the configured debounce + coalesce (${CONFIGURED_DEBOUNCE_MS} ms; goal <= 100 ms)`, percentile(endpoint, 99) - CONFIGURED_DEBOUNCE_MS, "ms", { max: 100 });
    // The endpoint change reaches few proxies, so its p50 is the watch + debounce + coalesce floor; the mesh-wide figures are read against it.
    o.report(scenario, "endpoint change: ratio p50 / mesh-wide first ACK", percentile(endpoint, 50) / first, "x");
    o.report(scenario, "ratio mesh-wide p99 / endpoint-change p50 (the floor)", percentile(mesh.latencies, 99) / percentile(endpoint, 50), "x");

    // What the controller spends with every agent connected and nothing changing (keepalive pings both
    // ways, timers, the bench's own RSS sampler): at 10,000 agents it is part of a long storm's CPU.
    const idleFrom = await controllers.usage(false);
    const workersIdleFrom = await workersCpu();
    const idleStarted = performance.now();
    await new Promise((resolve) => setTimeout(resolve, idleWindowMs(n)));
    const idleSeconds = (performance.now() - idleStarted) / 1000;
    const idleCores = cpuSecondsBetween(idleFrom, await controllers.usage(false)) / idleSeconds;
    const workersIdleCores = ((await workersCpu()) - workersIdleFrom) / idleSeconds;
    o.report(scenario, `${controllersWord} CPU while idle, all agents connected (1 = one core)`, idleCores, "cores");
    o.report(scenario, "simulated agents' CPU while idle, all connected (1 = one core)", workersIdleCores, "cores");
    // What the change itself cost the agents: their keepalives and timers over its length are not the change's.
    const agentsCpuPerConfigMs = (Math.max(0, mesh.agentsCpuSeconds - workersIdleCores * mesh.untilAllSeconds) / n) * 1000;
    o.report(scenario, "mesh-wide change: simulated agents' CPU per config, net of their idle rate", agentsCpuPerConfigMs, "ms");

    // Reconnect storm: every agent drops its stream at once and comes back (as after a network blip or a replica restart).
    const steady = await controllers.usage(true);
    started = performance.now();
    await all((w) => request(w, { type: "reconnect", concurrency: Math.max(1, Math.ceil(128 / workerCount)) }, 30_000));
    await until(60_000 + n * MS_PER_AGENT, `all ${n} agents reconnected`, async () => {
      const s = await statuses();
      assertNoFailures(s, "reconnect");
      const back = s.reduce((x, w) => x + w.connected, 0);
      return back === n ? true : `${back}/${n} reconnected`;
    });
    const stormSeconds = (performance.now() - started) / 1000;
    // Above 1: the storm outlasted the reconnect grace for some agents, whose endpoints were withdrawn and announced again (their callers re-rendered).
    const stormConfigs = (await statuses()).reduce((x, w) => x + w.configs, 0) / n;
    const storm = await controllers.usage(false);
    const stormCpu = cpuSecondsBetween(steady, storm);
    // With replicas, the one whose peak grew most over its steady RSS.
    const peak = storm.reduce((worst, u, k) => (u.peakRss / steady[k]!.rss > worst.ratio ? { rss: u.peakRss, ratio: u.peakRss / steady[k]!.rss } : worst), { rss: 0, ratio: 0 });
    o.report(scenario, "reconnect storm: all agents dropped -> all reconnected with a config", stormSeconds, "s");
    o.report(scenario, "reconnect storm: ratio to the first connect of all agents", stormSeconds / connectSeconds, "x");
    o.report(scenario, "reconnect storm: configs received per agent, until all were back", stormConfigs, "configs");
    o.report(scenario, `reconnect storm: ${controllersWord} CPU time`, stormCpu, "s");
    o.report(scenario, `reconnect storm: ${controllersWord} CPU utilisation (1 = one core)`, stormCpu / stormSeconds, "cores");
    const stormCpuPerReconnectMs = (stormCpu / n) * 1000;
    o.report(scenario, `reconnect storm: ${controllersWord} CPU per reconnect (goal <= 1 ms)`, stormCpuPerReconnectMs, "ms", { max: 1 });
    o.report(scenario, "reconnect storm: the same, net of the idle rate over the storm's length", (Math.max(0, stormCpu - idleCores * stormSeconds) / n) * 1000, "ms");
    o.report(scenario, `reconnect storm: controller peak RSS${replicaCount > 1 ? " (the replica that grew most)" : ""}`, mib(peak.rss), "MiB");
    o.report(scenario, "reconnect storm: ratio peak RSS / steady RSS before it", peak.ratio, "x");
    // After the storm every agent came back listing the shared files it holds: its streams carried only config.json.
    const afterStorm = await memory();
    clock.lap("reconnect storm");
    o.report(scenario, `RSS per connected agent after the storm${o.fileCache === "off" ? "" : " (agents held the shared files: config.json only)"}`, (sum(afterStorm, (m) => m.rss) - sum(fresh, (m) => m.rss)) / n / 1024, "KB", { max: 100 }, OSM_ANCHOR);

    // Cross-check from the controller's side: every proxy's last ACK is for its current version (ACKs of the storm may still be in flight).
    await until(30_000 + n * MS_PER_CONFIG, "the controller to record every proxy's ACK of its current version", async () => {
      const proxies = await controllers.proxies();
      const acked = proxies.filter((p) => p.config !== null && p.lastAck?.ok === true && p.lastAck.version === p.config.version).length;
      return proxies.length === n && acked === n ? true : `the controllers list ${proxies.length} proxies, ${acked} with their current version ACKed; expected ${n}`;
    });
    clock.lap("cross-check: every proxy ACKed its current version");
    if (o.agentRss !== false && replicaCount === 1) {
      const service = `${NAMESPACE}/${serviceName(0)}`;
      const token = async () => (JSON.parse(await admin(ready.adminUrl, "/api/v1/tokens", { service, ttl: "1h", uses: 1 })) as { token: string }).token;
      const rss = await measureAgentRss({
        grpcAddress: ready.grpcAddress, caPem, tokens: [await token(), await token(), await token(), await token()], service, hosts: [hostAddress(n), hostAddress(n + 1), hostAddress(n + 2), hostAddress(n + 3)], port: AGENT_PORT, tmpdir: o.tmpdir ?? tmpdir(),
      });
      // The issue's goal is 60 MB (10^6 bytes); RSS is printed in MiB, so the goal is compared in MiB too (it compared 60 MiB before).
      const goal = { max: Number((60e6 / 2 ** 20).toFixed(2)) };
      o.report("agent (no Pipy)", `agent RSS as installed (bundle, node ${AGENT_NODE_FLAGS.join(" ")}), connected with a config, no Pipy (goal <= 60 MB = 57.22 MiB, or Node's floor)`, rss.agent, "MiB", goal);
      o.report("agent (no Pipy)", "the same bundle without Node flags", rss.agentNoFlags, "MiB", goal);
      o.report("agent (no Pipy)", `the same bundle with ${LEAN_NODE_ARGS.join(" ")} (interpreted JS, 1 MiB young generation)`, rss.agentLean, "MiB", goal);
      o.report("agent (no Pipy)", "the same agent through the full meshfed CLI (loads the controller's modules too)", rss.fullCli, "MiB");
      o.report("agent (no Pipy)", "floor: idle Node process, same node binary", rss.idleNode, "MiB");
      o.report("agent (no Pipy)", "floor: Node with the agent's modules (src/agent) loaded, nothing started", rss.modulesLoaded, "MiB");
      o.report("agent (no Pipy)", "ratio agent RSS / idle Node", rss.agent / rss.idleNode, "x");
      clock.lap("agent RSS (real agent processes)");
    }
    completed = true;
    return { meshWideP99: percentile(mesh.latencies, 99), meshWideCpuPerConfigMs: (mesh.controllerCpuSeconds / n) * 1000, agentsCpuPerConfigMs, configuredWaitMs: CONFIGURED_DEBOUNCE_MS, stormCpuPerReconnectMs };
  } finally {
    process.off("SIGINT", onSigint);
    await Promise.all(workers.map((w) => request(w, { type: "stop" }, 10_000).catch(() => undefined)));
    await replicas?.stop();
    // Children exit by themselves after "stop"; whatever has not after 10 s is killed.
    const exited = Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((resolve) => c.once("exit", resolve)))));
    const kill = setTimeout(() => stop.abort(), 10_000);
    stop.signal.addEventListener("abort", () => clearTimeout(kill));
    await exited;
    clearTimeout(kill);
    await rm(dir, { recursive: true, force: true });
    // After a failure this lap also holds the phase that failed (the error says which).
    clock.lap(completed ? "stop and clean up" : "failed phase, then stop and clean up");
  }
}

function assertNoFailures(statuses: readonly WorkerStatus[], phase: string): void {
  const failures = statuses.flatMap((s) => s.failures);
  if (failures.length > 0) throw new Error(`${phase} failed for some agents:\n  ${failures.slice(0, 10).join("\n  ")}`);
}

/** Runs `fn(i)` for i in [0, count) with at most `limit` in flight. */
async function boundedAll(count: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, count) }, async () => {
    while (next < count) await fn(next++);
  }));
}

/** Until no agent of any worker has received a config for QUIET_MS (see QUIET_MS). */
async function quiet(statuses: () => Promise<WorkerStatus[]>, what: string): Promise<void> {
  await until(60_000, what, async () => {
    const last = Math.max(...(await statuses()).map((w) => w.lastConfigAt));
    const silent = Date.now() - last;
    return silent > QUIET_MS ? true : `last config ${silent} ms ago`;
  });
}

