/**
 * The agent's own memory without Pipy (issue 17: goal <= 60 MB, or the
 * measured floor of Node with the reason). One real `meshfed agent
 * --no-proxy` process enrols with the bench controller, connects and ACKs its
 * config; its RSS is read from /proc once it is connected and has settled.
 * Measured next to it, on the same machine and Node: an idle Node process
 * (the runtime's floor) and a Node process that has only loaded the agent's
 * modules (the floor of the code, before any connection or state).
 *
 * The processes run at the same time (RSS does not depend on who else
 * has the CPU) and each is read once its RSS has settled (`settledRss`)
 * rather than after a fixed 3 s sleep: 15 s or more of the quick run's time
 * under load went to the four sleeps one after the other (issue 17).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { AGENT_NODE_FLAGS } from "../src/installer/agent-command.js";

const CLI = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
/** What the installer puts on hosts (npm run build makes it); its entry loads only the agent. */
const BUNDLE = fileURLToPath(new URL("../agent-bundle/meshfed-agent.mjs", import.meta.url));
const AGENT_INDEX = new URL("../src/agent/index.js", import.meta.url).href;

export interface AgentRss {
  /** The connected agent as installed on hosts (the bundle, with the installer's AGENT_NODE_FLAGS), MiB. */
  readonly agent: number;
  /** The same bundle without any Node flag, MiB. */
  readonly agentNoFlags: number;
  /** The same bundle run with LEAN_NODE_ARGS, MiB. */
  readonly agentLean: number;
  /** The same agent started through the full `meshfed` CLI (which also loads the controller's modules), MiB. */
  readonly fullCli: number;
  /** `node -e` doing nothing, MiB. */
  readonly idleNode: number;
  /** Node with the agent's modules imported and nothing started, MiB. */
  readonly modulesLoaded: number;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
  if (!Number.isFinite(kb)) throw new Error(`no VmRSS for pid ${pid}`);
  return kb / 1024;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** How RSS is read once a process is up: every STEP_MS, settled when SETTLED_READS reads in a row are within SETTLED_MIB of each other. */
const STEP_MS = 250;
const SETTLED_READS = 5;
const SETTLED_MIB = 0.5;

/**
 * RSS (MiB) once it stopped moving: start-up work (module evaluation,
 * enrollment, the first config) is over and what is left is the steady
 * state. Read after at least `minMs`; at most `maxMs`, then the last read.
 */
export async function settledRss(pid: number, minMs: number, maxMs = 15_000): Promise<number> {
  const started = Date.now();
  const reads: number[] = [];
  for (;;) {
    reads.push(await rssMiB(pid));
    const last = reads.slice(-SETTLED_READS);
    const elapsed = Date.now() - started;
    if ((last.length === SETTLED_READS && Math.max(...last) - Math.min(...last) <= SETTLED_MIB && elapsed >= minMs) || elapsed >= maxMs) return reads.at(-1)!;
    await sleep(STEP_MS);
  }
}

/** Starts `node args`, waits until it printed "ready" on stdout, reads its RSS once settled, kills it. */
async function rssOf(args: string[], settleMs: number): Promise<number> {
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`node ${args.join(" ")} printed no "ready" within 30 s`)), 30_000);
      child.stdout.setEncoding("utf8").on("data", (d: string) => {
        if (d.includes("ready")) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once("exit", (code) => reject(new Error(`node exited with ${code} before it was ready`)));
    });
    return await settledRss(child.pid!, settleMs);
  } finally {
    child.kill("SIGKILL");
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

/**
 * Node flags that trade the agent's JS speed for memory (docs/benchmarks.md, issue 17: the
 * agent's RSS): a 1 MiB young generation and no optimising compilers. Measured next to the
 * plain bundle so the installer's choice can be read off each run.
 */
export const LEAN_NODE_ARGS: readonly string[] = ["--max-semi-space-size=1", "--no-opt", "--no-sparkplug"];

/**
 * One real agent against the controller at `grpcAddress`, enrolling with
 * `token` as `service` on `host`. Resolves once it is CONNECTED with a
 * config, settled for `settleMs`.
 */
export async function measureAgentRss(o: {
  readonly grpcAddress: string; readonly caPem: string; readonly tokens: readonly [string, string, string, string]; readonly service: string;
  readonly hosts: readonly [string, string, string, string]; readonly port: number; readonly tmpdir: string;
  /** Least time between "ready" (or CONNECTED with a config) and the RSS read; default 1 s. */
  readonly settleMs?: number;
}): Promise<AgentRss> {
  const settleMs = o.settleMs ?? 1_000;
  const [agent, agentNoFlags, fullCli, agentLean, idleNode, modulesLoaded] = await Promise.all([
    connectedAgentRss([...AGENT_NODE_FLAGS, BUNDLE], o, o.tokens[0], o.hosts[0], settleMs),
    connectedAgentRss([BUNDLE], o, o.tokens[3], o.hosts[3], settleMs),
    connectedAgentRss([CLI], o, o.tokens[1], o.hosts[1], settleMs),
    connectedAgentRss([...LEAN_NODE_ARGS, BUNDLE], o, o.tokens[2], o.hosts[2], settleMs),
    rssOf(["-e", "console.log('ready'); setInterval(() => {}, 1e9)"], settleMs),
    rssOf(["--input-type=module", "-e", `await import(${JSON.stringify(AGENT_INDEX)}); console.log('ready'); setInterval(() => {}, 1e9)`], settleMs),
  ]);
  return { agent, agentNoFlags, agentLean, fullCli, idleNode, modulesLoaded };
}

/** Starts `node <entry> agent ...` --no-proxy, waits until it is CONNECTED with a config, settles, reads its RSS, stops it. */
async function connectedAgentRss(
  entry: string[], o: { readonly grpcAddress: string; readonly caPem: string; readonly service: string; readonly port: number; readonly tmpdir: string },
  token: string, host: string, settleMs: number,
): Promise<number> {
  const dir = await mkdtemp(join(o.tmpdir, "meshfed-bench-agent-rss-"));
  const repoPort = await freePort();
  let child: ChildProcess | undefined;
  try {
    await writeFile(join(dir, "ca.pem"), o.caPem);
    await writeFile(join(dir, "token"), `${token}\n`, { mode: 0o600 });
    child = spawn(process.execPath, [...entry, "agent", "--controller", o.grpcAddress, "--ca-file", join(dir, "ca.pem"), "--token-file", join(dir, "token"),
      "--data-dir", join(dir, "data"), "--service", o.service, "--endpoint", `${host}:${o.port}`, "--host-address", host, "--no-proxy",
      "--repo-address", `127.0.0.1:${repoPort}`, "--log-level", "warn"], { stdio: ["ignore", "ignore", "inherit"] });
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the agent (${entry.join(" ")}) exited with ${child.exitCode} before it connected`);
      const status = await fetch(`http://127.0.0.1:${repoPort}/status`, { signal: AbortSignal.timeout(2000) })
        .then((r) => (r.ok ? (r.json() as Promise<{ state: string; configVersion: number }>) : undefined), () => undefined);
      if (status?.state === "CONNECTED" && status.configVersion >= 1) break;
      if (Date.now() > deadline) throw new Error(`the agent was not CONNECTED with a config within 120 s (last: ${JSON.stringify(status)})`);
      await sleep(200);
    }
    return await settledRss(child.pid!, settleMs);
  } finally {
    if (child !== undefined) await stopChild(child);
    await rm(dir, { recursive: true, force: true });
  }
}
