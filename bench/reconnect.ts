/**
 * `node --expose-gc dist/bench/reconnect.js [--agents N] [--storms K] [--tmpdir DIR] [--profile DIR] [--reconnect-grace S]`
 * (issue 17, per-connect cost): the reconnect storm of the agents scenario
 * alone, K times, on the same mesh, controller and simulated agents
 * (agents-controller.ts, agents-worker.ts, agents-mesh.ts), without the
 * other phases, so that it is quick enough to A/B and to profile. Per storm:
 * wall time until every agent has a config again, the controller's CPU time
 * until every agent has one and until nothing was pushed for a while (the
 * fan-out of the re-announced endpoints to their callers ends after the
 * last agent is back), and the configs the agents received (1 each is the
 * floor). With `--profile DIR` the controller runs under --cpu-prof and the
 * samples taken during the storms are summarised by category and function.
 */
import { fork, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { request, until, type AgentSpec, type UsageReply, type WorkerStatus } from "./agents-ipc.js";
import { admin, Replicas } from "./agents-replicas.js";
import { controllerEnvironment } from "./controller-env.js";
import { AGENT_PORT, NAMESPACE, hostAddress, hostsYaml, ringPolicyYaml, serviceName } from "./agents-mesh.js";
import { summarizeWindows, type Window } from "./cpuprofile-window.js";

const { values: args } = parseArgs({
  options: {
    agents: { type: "string", default: "300" },
    storms: { type: "string", default: "2" },
    tmpdir: { type: "string" },
    profile: { type: "string" },
    workers: { type: "string" },
    "reconnect-grace": { type: "string" },
  },
});
const n = Number(args.agents);
/** The controller's environment, read once: the same as the agents scenario's, and named in every figure when it differs from the image's. */
const controllerEnv = controllerEnvironment(process.env.MESHFED_BENCH_CONTROLLER_ENV);
const storms = Number(args.storms);
/** Nothing pushed for this long: the storm's fan-out is over. */
const SETTLE_MS = 1_500;
/** Finer than the agents bench's 100 ms: the storm's wall time is read off this poll. */
const POLL_MS = 50;
const monotonicMicros = () => Number(process.hrtime.bigint() / 1000n);


function print(figure: string, value: number, unit: string): void {
  console.log(JSON.stringify({ scenario: `reconnect N=${n}${controllerEnv.label}`, figure, value: Number(value.toPrecision(4)), unit }));
}

async function main(): Promise<void> {
  const services = Math.max(2, Math.round(n / 10));
  const workerCount = Number(args.workers ?? Math.max(2, Math.ceil(n / 1000)));
  const dir = await mkdtemp(join(args.tmpdir ?? tmpdir(), "meshfed-bench-reconnect-"));
  const stop = new AbortController();
  const children: ChildProcess[] = [];
  const spawnChild = (file: string, childArgs: string[], nodeArgs: string[] = [], env: NodeJS.ProcessEnv = process.env) => {
    const child = fork(new URL(file, import.meta.url), childArgs, { execArgv: ["--expose-gc", ...nodeArgs], env, signal: stop.signal, stdio: ["ignore", "inherit", "inherit", "ipc"] });
    child.on("error", () => undefined);
    children.push(child);
    return child;
  };
  let replicas: Replicas | undefined;
  let workers: ChildProcess[] = [];
  const windows: Window[] = [];
  try {
    await writeFile(join(dir, "hosts.yaml"), hostsYaml(services, 1, 0));
    await mkdir(join(dir, "smi"));
    await writeFile(join(dir, "smi", "policy.yaml"), ringPolicyYaml(services));
    const profileDir = args.profile;
    replicas = await Replicas.start({ count: 1, dir, ...(args["reconnect-grace"] === undefined ? {} : { reconnectGraceSeconds: Number(args["reconnect-grace"]) }), spawn: (a) => spawnChild("./agents-controller.js", a, profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [], controllerEnv.env) });
    const controller = replicas;
    const url = controller.first.adminUrl;
    const caPem = await admin(url, "/api/v1/ca");
    const tokens: string[] = [];
    for (let s = 0; s < services; s++) {
      tokens.push((JSON.parse(await admin(url, "/api/v1/tokens", { service: `${NAMESPACE}/${serviceName(s)}`, ttl: "2h", uses: Math.ceil(n / services) + 1 })) as { token: string }).token);
    }
    const specs: AgentSpec[] = Array.from({ length: n }, (_, i) => ({ index: i, token: tokens[i % services]!, service: serviceName(i % services), host: hostAddress(i), port: AGENT_PORT, replica: 0 }));
    workers = Array.from({ length: workerCount }, () => spawnChild("./agents-worker.js", []));
    const all = <T>(fn: (w: ChildProcess, k: number) => Promise<T>) => Promise.all(workers.map(fn));
    const statuses = () => all((w) => request<WorkerStatus>(w, { type: "status" }, 30_000));
    const check = (s: readonly WorkerStatus[]) => {
      const failures = s.flatMap((w) => w.failures);
      if (failures.length > 0) throw new Error(failures.slice(0, 5).join("\n"));
    };
    await all((w, k) => request(w, { type: "enroll", addresses: [controller.first.grpcAddress], caPem, agents: specs.filter((a) => a.index % workerCount === k), concurrency: Math.max(1, Math.ceil(32 / workerCount)), fileCache: "on" }, 120_000 + n * 200));
    const settled = async (what: string) => until(60_000 + n * 200, what, async () => {
      const s = await statuses();
      check(s);
      const back = s.reduce((x, w) => x + w.connected, 0);
      return back === n && Date.now() - Math.max(...s.map((w) => w.lastConfigAt)) > SETTLE_MS ? true : `${back}/${n}`;
    }, POLL_MS);
    await all((w) => request(w, { type: "connect", concurrency: Math.max(1, Math.ceil(128 / workerCount)) }, 30_000));
    await settled("the first connect");
    const cpu = async (): Promise<UsageReply> => (await controller.usage(false))[0]!;
    for (let k = 0; k < storms; k++) {
      const before = await cpu();
      const started = performance.now();
      const startMicros = monotonicMicros();
      await all((w) => request(w, { type: "reconnect", concurrency: Math.max(1, Math.ceil(128 / workerCount)) }, 30_000));
      await until(60_000 + n * 200, "every agent back with a config", async () => {
        const s = await statuses();
        check(s);
        const back = s.reduce((x, w) => x + w.connected, 0);
        return back === n ? true : `${back}/${n}`;
      }, POLL_MS);
      const wall = (performance.now() - started) / 1000;
      const back = await cpu();
      await settled("the storm's fan-out to end");
      windows.push({ startMicros, endMicros: monotonicMicros() });
      const quiet = await cpu();
      const configs = (await statuses()).reduce((x, w) => x + w.configs, 0);
      print(`storm ${k + 1}: all agents back with a config`, wall, "s");
      print(`storm ${k + 1}: controller CPU per reconnect, until all back`, (back.cpuMicros - before.cpuMicros) / n / 1000, "ms");
      print(`storm ${k + 1}: controller CPU per reconnect, until the fan-out settled (${SETTLE_MS} ms quiet, which costs ~nothing)`, (quiet.cpuMicros - before.cpuMicros) / n / 1000, "ms");
      print(`storm ${k + 1}: configs received per agent (1 = no fan-out)`, configs / n, "configs");
      print(`storm ${k + 1}: controller peak RSS`, back.peakRss / 2 ** 20, "MiB");
    }
  } finally {
    await Promise.all(workers.map((w) => request(w, { type: "stop" }, 10_000).catch(() => undefined)));
    await replicas?.stop();
    const exited = Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((resolve) => c.once("exit", resolve)))));
    const kill = setTimeout(() => stop.abort(), 15_000);
    await exited;
    clearTimeout(kill);
    await rm(dir, { recursive: true, force: true });
  }
  if (args.profile !== undefined) {
    const files = (await readdir(args.profile)).filter((f) => f.endsWith(".cpuprofile")).sort();
    const path = join(args.profile, files.at(-1)!);
    const s = summarizeWindows(path, windows, 40, ["#connect", "authenticateProxyPeer", "validateHello", "#pushConfig", "#onCatalogChange", "render", "proxyView", "encodeConfigMessage", "claim", "#sendServiceCertificate", "#disconnected", "flush", "onHandshakeDone", "getPeerCertificate", "#onAgentMessage"]);
    console.log(`\nprofile ${path}: ${s.busyMs.toFixed(0)} ms busy in the storms (${(s.busyMs / n / storms).toFixed(2)} ms per reconnect)`);
    for (const c of s.byCategory) console.log(`  ${c.ms.toFixed(0).padStart(7)} ms  ${(c.ms / s.busyMs * 100).toFixed(1).padStart(5)} %  ${c.category}`);
    console.log("inclusive:");
    for (const c of s.inclusive) console.log(`  ${c.ms.toFixed(0).padStart(7)} ms  ${(c.ms / s.busyMs * 100).toFixed(1).padStart(5)} %  ${c.fn}`);
    console.log("top functions (self):");
    for (const f of s.topFunctions) console.log(`  ${f.ms.toFixed(0).padStart(7)} ms  ${f.fn}`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
