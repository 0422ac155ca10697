/**
 * The sidecars scenario of `npm run bench` (issue 4), with a real Pipy
 * (PIPY_BIN): requests/s and latency through two sidecars against the same
 * app called directly, same machine, same run.
 *
 * - The controller runs in this process with the PipyDriver (as in
 *   test/pipy/bookstore-split.test.ts); hosts.yaml and one SMI file in a
 *   temp directory: `bench/client` (127.0.0.50) may call `bench/server`
 *   (127.0.0.51) for GET /bench/.*.
 * - One agent per service, each running its own Pipy; the server's app is a
 *   small Node HTTP server in this process on 127.0.0.51:14001; its sidecar's
 *   inbound is :24001 (port + 10,000), mTLS between the two sidecars.
 * - The load generator is a forked child (bench/sidecars-load.ts): Node http,
 *   keep-alive, fixed concurrency, warm-up then a bounded window. Phase
 *   "direct" calls the app; phase "sidecars" calls the client's outbound
 *   listener 127.0.0.50:15001 with `Host: server.bench`, so a request goes
 *   client Pipy → mTLS → server Pipy → app and back.
 *
 * - gRPC (bench/sidecars-grpc.ts): unary calls from a forked grpc-js client
 *   to a Books server, directly and through both sidecars (HTTP/2 over mTLS).
 *
 * Everything is on loopback and bounded; on any failure the agents (and their
 * Pipy), the controller and the app are stopped, the temp directory removed
 * and the error thrown.
 */
import { fork } from "node:child_process";
import { once } from "node:events";
import { access, constants, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, request, type Server } from "node:http";
import { createServer as createTcpServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { agentConfig } from "../src/agent/config.js";
import { startAgent, type RunningAgent } from "../src/agent/index.js";
import { silentLogger } from "../src/common/logger.js";
import { loadControllerConfig } from "../src/controller/config/load.js";
import { PipyDriver } from "../src/controller/drivers/pipy/pipy-driver.js";
import { startController } from "../src/controller/main.js";
import { declaringProtocols } from "../test/helpers/declared-protocols.js";
import { booksClient } from "../test/helpers/grpc-books.js";
import { GRPC_SERVER, grpcHostsEntry, grpcPolicyYaml, grpcProtocols, startGrpcApp } from "./sidecars-grpc.js";
import type { GrpcLoadRequest, LoadReply, LoadRequest } from "./sidecars-ipc.js";
import { processCpuSeconds, sidecarPids } from "./sidecars-proc.js";

export type Report = (scenario: string, figure: string, value: number, unit: string) => void;

export interface SidecarsBenchOptions {
  readonly pipy: string;
  readonly concurrency: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly tmpdir?: string;
  readonly report: Report;
}

const NAMESPACE = "bench";
const APP_PORT = 14001;
const OFFSET = 10000;
const OUTBOUND_PORT = 15001;
const HEALTH_PORT = 15021;
const CLIENT = { name: "client", ip: "127.0.0.50" } as const;
const SERVER = { name: "server", ip: "127.0.0.51" } as const;
const PATH = "/bench/items/1";

const hostsYaml = `hosts:\n${[CLIENT, SERVER].map((s) => `  - name: ${s.name}-1\n    address: ${s.ip}\n    services: [{ name: ${s.name}, namespace: ${NAMESPACE}, port: ${APP_PORT} }]\n`).join("")}${grpcHostsEntry(NAMESPACE)}`;
const policyYaml = `apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: { name: bench-routes, namespace: ${NAMESPACE} }
spec:
  matches: [{ name: items, pathRegex: "/bench/.*", methods: ["GET"] }]
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: { name: client-to-server, namespace: ${NAMESPACE} }
spec:
  destination: { kind: ServiceAccount, name: ${SERVER.name}, namespace: ${NAMESPACE} }
  rules: [{ kind: HTTPRouteGroup, name: bench-routes, matches: [items] }]
  sources: [{ kind: ServiceAccount, name: ${CLIENT.name}, namespace: ${NAMESPACE} }]
${grpcPolicyYaml(NAMESPACE, CLIENT.name)}`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves `p`, or rejects with `what` after `ms`. */
async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms / 1000} s: ${what}`)), ms)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function until(ms: number, what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await sleep(100);
  }
}

/** Every address this scenario listens on must be free: a leftover Pipy from an earlier run would answer in our place. */
async function assertFree(ip: string, port: number): Promise<void> {
  const server = createTcpServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => reject(new Error(`${ip}:${port} is not free (${err.code}); is an earlier run's Pipy still alive? (ss -ltnp 'src ${ip}')`)));
    server.listen(port, ip, () => resolve());
  });
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

async function freePort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Reply { readonly status: number; readonly body: string }

function get(host: string, port: number, hostHeader: string): Promise<Reply> {
  return new Promise((resolve) => {
    const req = request({ host, port, path: PATH, headers: { host: hostHeader }, timeout: 5_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d)).on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve({ status: 0, body: "" }));
    req.end();
  });
}

/** The app: a small JSON answer naming the caller identity its sidecar verified. */
async function startApp(): Promise<Server> {
  const server = createServer((req, res) => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ service: SERVER.name, path: req.url, peer: req.headers["x-meshfed-peer-identity"] ?? null }));
  });
  server.keepAliveTimeout = 65_000;
  server.listen(APP_PORT, SERVER.ip);
  await once(server, "listening");
  return server;
}

/** One load phase in a forked child; killed if it has not answered within warm-up + window + 30 s. */
async function loadPhase(job: LoadRequest | GrpcLoadRequest, script = "./sidecars-load.js"): Promise<LoadReply> {
  const stop = new AbortController();
  const child = fork(new URL(script, import.meta.url), [JSON.stringify(job)], { signal: stop.signal, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  child.on("error", () => undefined); // the abort below kills it; the rejection says why
  try {
    return await within(job.warmupMs + job.durationMs + 30_000, "the load generator did not finish", new Promise<LoadReply>((resolve, reject) => {
      child.once("message", (m) => resolve(m as LoadReply));
      child.once("exit", (code) => reject(new Error(`the load generator exited (${code}) without a result`)));
    }));
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, "exit");
      setTimeout(() => stop.abort(), 5_000).unref();
      await exited;
    }
  }
}

export async function runSidecarsBenchmark(o: SidecarsBenchOptions): Promise<void> {
  try {
    await access(o.pipy, constants.X_OK);
  } catch {
    throw new Error(`PIPY_BIN=${o.pipy} is not an executable file`);
  }
  for (const ip of [CLIENT.ip, SERVER.ip]) for (const port of [APP_PORT, APP_PORT + OFFSET, OUTBOUND_PORT, HEALTH_PORT]) await assertFree(ip, port);
  for (const port of [GRPC_SERVER.port, GRPC_SERVER.port + OFFSET, OUTBOUND_PORT, HEALTH_PORT]) await assertFree(GRPC_SERVER.ip, port);

  const dir = await mkdtemp(join(o.tmpdir ?? tmpdir(), "meshfed-bench-sidecars-"));
  // Undone in reverse order, each bounded, whatever failed before.
  const undo: Array<() => Promise<unknown>> = [];
  let cleaned: Promise<void> | undefined;
  const cleanup = () => (cleaned ??= (async () => {
    for (const fn of undo.reverse()) await fn().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  })());
  // Ctrl-C must not leave two Pipy processes holding the ports.
  const onSigint = () => void cleanup().finally(() => process.exit(130));
  process.once("SIGINT", onSigint);
  try {
    const hostsFile = join(dir, "hosts.yaml");
    await writeFile(hostsFile, hostsYaml);
    await mkdir(join(dir, "smi"));
    await writeFile(join(dir, "smi", "policy.yaml"), policyYaml);
    const base = await loadControllerConfig(undefined, {
      dataDir: join(dir, "data"), adminAddress: "127.0.0.1:0", grpcAddress: "127.0.0.1:0", hostsFile, smiDirectory: join(dir, "smi"),
    });
    const config = { ...base, catalog: { ...base.catalog, coalesce: 10 }, providers: { ...base.providers, onprem: { hostsFile, debounce: 20 } } };
    const pipyDriver = new PipyDriver({ trustDomain: config.trustDomain, inboundPortOffset: OFFSET });
    const controller = await startController(config, silentLogger(), { driver: declaringProtocols(pipyDriver, grpcProtocols(NAMESPACE)) });
    undo.push(() => within(15_000, "controller close", controller.close()));
    const app = await startApp();
    undo.push(() => new Promise<void>((resolve) => { app.closeAllConnections(); app.close(() => resolve()); }));
    const grpcApp = await startGrpcApp();
    undo.push(() => grpcApp.close());

    const admin = async (path: string, body?: unknown): Promise<string> => {
      const res = await fetch(`${controller.adminUrl}${path}`, body === undefined ? {} : { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
      const text = await res.text();
      if (!res.ok) throw new Error(`admin API ${path}: ${res.status} ${text}`);
      return text;
    };
    const caPem = await admin("/api/v1/ca");
    const agents: RunningAgent[] = [];
    for (const s of [CLIENT, SERVER, GRPC_SERVER]) {
      const agentDir = join(dir, "agents", s.name);
      await mkdir(agentDir, { recursive: true });
      const { token } = JSON.parse(await admin("/api/v1/tokens", { service: `${NAMESPACE}/${s.name}`, ttl: "10m", uses: 1 })) as { token: string };
      await writeFile(join(agentDir, "ca.pem"), caPem);
      await writeFile(join(agentDir, "token"), `${token}\n`);
      const agent = await startAgent(agentConfig({
        controller: controller.grpcAddress, caFile: join(agentDir, "ca.pem"), tokenFile: join(agentDir, "token"), dataDir: join(agentDir, "data"),
        repoAddress: "127.0.0.1:0", hostAddresses: [s.ip], endpoints: [`${s.ip}:${"port" in s ? s.port : APP_PORT}`], service: `${NAMESPACE}/${s.name}`,
        backoff: { base: "50ms", cap: "1s", stableAfter: "5s" },
        // A short grace: Pipy 1.5.18 sometimes ignores its first SIGINT; the supervisor then sends SIGKILL.
        proxy: { enabled: true, pipy: o.pipy, adminAddress: `127.0.0.1:${await freePort()}`, convergenceTimeout: "30s", stopGrace: "2s" },
      }), silentLogger());
      undo.push(() => within(15_000, `agent ${s.name} close`, agent.close()));
      agents.push(agent);
    }
    for (const s of [CLIENT, SERVER, GRPC_SERVER]) {
      await until(60_000, `the ${s.name} sidecar to be ready on ${s.ip}:${HEALTH_PORT}`, async () => (await fetch(`http://${s.ip}:${HEALTH_PORT}/ready`).then((r) => r.status, () => 0)) === 200);
    }

    // Both paths answer, and the sidecar path is really mTLS: the server's sidecar names the client's identity.
    const direct = await get(SERVER.ip, APP_PORT, `${SERVER.ip}:${APP_PORT}`);
    if (direct.status !== 200) throw new Error(`direct request to the app: status ${direct.status}`);
    const hostHeader = `${SERVER.name}.${NAMESPACE}`;
    const expectedPeer = `${CLIENT.name}.${NAMESPACE}.svc.${config.trustDomain}`;
    await until(30_000, "a 200 through both sidecars", async () => (await get(CLIENT.ip, OUTBOUND_PORT, hostHeader)).status === 200);
    const through = await get(CLIENT.ip, OUTBOUND_PORT, hostHeader);
    const peer = (JSON.parse(through.body) as { peer: string | null }).peer;
    if (peer !== expectedPeer) throw new Error(`through the sidecars the app saw peer identity ${peer}, expected ${expectedPeer}`);

    const pids = await sidecarPids([CLIENT.ip, SERVER.ip], OUTBOUND_PORT);
    const common = { path: PATH, concurrency: o.concurrency, warmupMs: o.warmupMs, durationMs: o.durationMs };
    const phase = async (name: string, job: LoadRequest | GrpcLoadRequest, script?: string) => {
      const appBefore = process.cpuUsage();
      const pipyBefore = await processCpuSeconds(pids);
      const result = await loadPhase(job, script);
      const app = process.cpuUsage(appBefore);
      const pipy = (await processCpuSeconds(pids)) - pipyBefore;
      if (result.ok === 0 || result.errors > result.ok / 100) {
        throw new Error(`${name}: ${result.errors} failed of ${result.ok + result.errors} requests (statuses: ${result.firstStatuses})`);
      }
      return { ...result, rps: result.ok / result.seconds, parentCpu: (app.user + app.system) / 1e6, pipyCpu: pipy };
    };
    const d = await phase("direct", { ...common, host: SERVER.ip, port: APP_PORT, hostHeader: `${SERVER.ip}:${APP_PORT}` });
    const s = await phase("sidecars", { ...common, host: CLIENT.ip, port: OUTBOUND_PORT, hostHeader });

    const scenario = `sidecars c=${o.concurrency} ${o.durationMs / 1000}s`;
    for (const [name, r] of [["direct", d], ["two sidecars", s]] as const) {
      o.report(scenario, `${name}: requests/s`, r.rps, "req/s");
      o.report(scenario, `${name}: latency p50`, r.p50, "ms");
      o.report(scenario, `${name}: latency p99`, r.p99, "ms");
      o.report(scenario, `${name}: failed requests`, r.errors, "requests");
      o.report(scenario, `${name}: CPU of the load generator`, r.cpuSeconds / r.seconds, "cores");
      o.report(scenario, `${name}: CPU of the app's process (+ idle controller, agents)`, r.parentCpu / r.seconds, "cores");
      if (pids.length > 0) o.report(scenario, `${name}: CPU of both Pipy processes`, r.pipyCpu / r.seconds, "cores");
    }
    if (pids.length > 0) o.report(scenario, "Pipy CPU per request, both sidecars together", (s.pipyCpu / s.ok) * 1e6, "µs");
    o.report(scenario, "ratio requests/s sidecars / direct", s.rps / d.rps, "x");
    o.report(scenario, "ratio p50 sidecars / direct", s.p50 / d.p50, "x");
    o.report(scenario, "ratio p99 sidecars / direct", s.p99 / d.p99, "x");
    o.report(scenario, "added p50 latency per request, both sidecars", s.p50 - d.p50, "ms");

    // gRPC: unary calls on one channel, directly and through both sidecars.
    const grpcScenario = `sidecars gRPC unary c=${o.concurrency} ${o.durationMs / 1000}s`;
    const grpcJob = { concurrency: o.concurrency, warmupMs: o.warmupMs, durationMs: o.durationMs };
    const grpcAuthority = `${GRPC_SERVER.name}.${NAMESPACE}:${GRPC_SERVER.port}`;
    const probe = booksClient(`${CLIENT.ip}:${OUTBOUND_PORT}`, grpcAuthority);
    try {
      await until(30_000, "a gRPC call through both sidecars", () => probe.getBook(1, 2_000).then(() => true, () => false));
    } finally {
      probe.close();
    }
    const grpcPids = await sidecarPids([CLIENT.ip, GRPC_SERVER.ip], OUTBOUND_PORT);
    const gd = await phase("gRPC direct", { ...grpcJob, address: `${GRPC_SERVER.ip}:${GRPC_SERVER.port}` }, "./sidecars-grpc-load.js");
    const gpBefore = await processCpuSeconds(grpcPids);
    const gs = await phase("gRPC two sidecars", { ...grpcJob, address: `${CLIENT.ip}:${OUTBOUND_PORT}`, authority: grpcAuthority }, "./sidecars-grpc-load.js");
    const gpCpu = (await processCpuSeconds(grpcPids)) - gpBefore;
    for (const [name, r] of [["direct", gd], ["two sidecars", gs]] as const) {
      o.report(grpcScenario, `${name}: calls/s`, r.rps, "calls/s");
      o.report(grpcScenario, `${name}: latency p50`, r.p50, "ms");
      o.report(grpcScenario, `${name}: latency p99`, r.p99, "ms");
      o.report(grpcScenario, `${name}: failed calls`, r.errors, "calls");
    }
    if (grpcPids.length > 0) o.report(grpcScenario, "Pipy CPU per call, both sidecars together", (gpCpu / gs.ok) * 1e6, "µs");
    o.report(grpcScenario, "ratio calls/s sidecars / direct", gs.rps / gd.rps, "x");
    o.report(grpcScenario, "ratio p99 sidecars / direct", gs.p99 / gd.p99, "x");
    o.report(grpcScenario, "added p50 latency per call, both sidecars", gs.p50 - gd.p50, "ms");
  } finally {
    process.off("SIGINT", onSigint);
    await cleanup();
  }
}
