/**
 * The agent's own memory without Pipy (issue 17: goal <= 60 MB, or the
 * measured floor of Node with the reason). One real `meshfed agent
 * --no-proxy` process enrols with the bench controller, connects and ACKs its
 * config; its RSS is read from /proc once it is connected and has settled.
 * Measured next to it, on the same machine and Node: an idle Node process
 * (the runtime's floor) and a Node process that has only loaded the agent's
 * modules (the floor of the code, before any connection or state).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const CLI = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
/** What the installer puts on hosts (npm run build makes it); its entry loads only the agent. */
const BUNDLE = fileURLToPath(new URL("../agent-bundle/meshfed-agent.mjs", import.meta.url));
const AGENT_INDEX = new URL("../src/agent/index.js", import.meta.url).href;

export interface AgentRss {
  /** The connected agent as installed on hosts (the bundle), MiB. */
  readonly agent: number;
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

/** Starts `node args`, waits until it printed "ready" on stdout (or `settleMs`), reads its RSS, kills it. */
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
    await sleep(settleMs);
    return await rssMiB(child.pid!);
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
 * One real agent against the controller at `grpcAddress`, enrolling with
 * `token` as `service` on `host`. Resolves once it is CONNECTED with a
 * config, settled for `settleMs`.
 */
export async function measureAgentRss(o: {
  readonly grpcAddress: string; readonly caPem: string; readonly tokens: readonly [string, string]; readonly service: string;
  readonly hosts: readonly [string, string]; readonly port: number; readonly tmpdir: string; readonly settleMs?: number;
}): Promise<AgentRss> {
  const settleMs = o.settleMs ?? 3_000;
  const agent = await connectedAgentRss([BUNDLE], o, o.tokens[0], o.hosts[0], settleMs);
  const fullCli = await connectedAgentRss([CLI], o, o.tokens[1], o.hosts[1], settleMs);
  const idleNode = await rssOf(["-e", "console.log('ready'); setInterval(() => {}, 1e9)"], settleMs);
  const modulesLoaded = await rssOf(["--input-type=module", "-e", `await import(${JSON.stringify(AGENT_INDEX)}); console.log('ready'); setInterval(() => {}, 1e9)`], settleMs);
  return { agent, fullCli, idleNode, modulesLoaded };
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
    await sleep(settleMs);
    return await rssMiB(child.pid!);
  } finally {
    if (child !== undefined) await stopChild(child);
    await rm(dir, { recursive: true, force: true });
  }
}
