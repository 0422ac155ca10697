/**
 * The transparent demo's agents: a real `meshfed agent` process per host
 * with transparent capture and a real Pipy as an unprivileged uid, enrolled
 * with a one-use join token, its output in a log file. Ready means what a
 * user needs before the app's first request: connected, Pipy running, the
 * capture rules (and on bookbuyer the DNS) in place.
 */
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { MeshfedError } from "../../common/errors.js";
import { stopChild } from "./child.js";
import type { DemoHost } from "./hosts.js";
import { DEMO_ERRORS } from "./preflight.js";

const CLI = fileURLToPath(new URL("../main.js", import.meta.url));
/** nobody: a uid that is not root, so the capture rules can let Pipy's own connections through by uid. */
export const DEMO_PROXY_UID = 65534;
/** The agent's default local address for /status (per network namespace, so both hosts use it). */
export const AGENT_STATUS_URL = "http://127.0.0.1:15010/status";

export interface DemoAgentSpec {
  readonly name: string;
  readonly service: string;
  readonly host: DemoHost;
  readonly port: number;
  readonly dns: boolean;
}

export interface DemoAgentContext {
  /** The agents' data dirs (readable by the proxy uid: Pipy runs there). */
  readonly home: string;
  readonly logDir: string;
  readonly adminUrl: string;
  readonly grpcPort: number;
  readonly pipy: string;
}

interface AgentStatus {
  state?: string;
  proxy?: { state?: string };
  capture?: { installed?: boolean; outboundActive?: boolean } | null;
  dns?: { state?: string } | null;
}

export interface StartedAgent {
  readonly child: ChildProcess;
  readonly log: string;
  /** SIGTERM, the agent's graceful stop: it stops Pipy, removes its chains and restores resolv.conf. */
  stop(): Promise<void>;
}

/**
 * Starts the agent and adds it to `started` as soon as it is spawned, so
 * that the caller's one teardown step stops every agent, in parallel.
 */
export async function startDemoAgent(a: DemoAgentSpec, ctx: DemoAgentContext, started: StartedAgent[]): Promise<StartedAgent> {
  const dir = join(ctx.home, a.name);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const res = await fetch(`${ctx.adminUrl}/api/v1/tokens`, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ service: a.service, ttl: "10m", uses: 1 }),
  });
  const { token } = (await res.json()) as { token: string };
  await writeFile(join(dir, "token"), `${token}\n`, { mode: 0o600 });
  const args = [
    process.execPath, CLI, "agent", "--controller", `127.0.0.1:${ctx.grpcPort}`, "--ca-file", join(ctx.home, "ca.pem"),
    "--token-file", join(dir, "token"), "--data-dir", join(dir, "data"),
    "--service", a.service, "--endpoint", `${a.host.address}:${a.port}`, "--host-address", a.host.address,
    "--pipy", ctx.pipy, "--proxy-user", String(DEMO_PROXY_UID), "--capture", "transparent",
    ...(a.dns ? ["--dns", "enabled", "--dns-hook", "resolv.conf"] : []),
  ];
  await mkdir(ctx.logDir, { recursive: true });
  const log = join(ctx.logDir, `${a.name}-agent.log`);
  const out = createWriteStream(log, { flags: "w" });
  const child = a.host.spawn(args, { cwd: dir });
  // Two sources into one file: neither may end it, the teardown does after the exit.
  child.stdout!.pipe(out, { end: false });
  child.stderr!.pipe(out, { end: false });
  const agent: StartedAgent = {
    child, log,
    stop: async () => {
      await stopChild(child, "SIGTERM", 20_000);
      out.end();
      await once(out, "close").catch(() => undefined);
    },
  };
  started.push(agent);
  return agent;
}

/** Waits until the agent is connected with Pipy running and its rules (and DNS) in place. */
export async function waitForAgentReady(a: DemoAgentSpec, started: StartedAgent, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer yet";
  while (Date.now() < deadline) {
    if (started.child.exitCode !== null || started.child.signalCode !== null) break;
    const text = await a.host.exec([process.execPath, "-e", `fetch(${JSON.stringify(AGENT_STATUS_URL)}).then((r)=>r.text()).then((t)=>process.stdout.write(t),()=>process.stdout.write("null"))`]).catch(() => "null");
    const s = JSON.parse(text) as AgentStatus | null;
    if (s !== null) {
      last = `state ${s.state}, proxy ${s.proxy?.state}, capture ${s.capture?.installed === true ? "installed" : "not installed"}${a.dns ? `, dns ${s.dns?.state}` : ""}`;
      const ready = s.state === "CONNECTED" && s.proxy?.state === "running" && s.capture?.installed === true && s.capture.outboundActive === true && (!a.dns || s.dns?.state === "serving");
      if (ready) return;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  const tail = (await readFile(started.log, "utf8").catch(() => "")).trim().split("\n").slice(-15).join("\n");
  const why = started.child.exitCode !== null || started.child.signalCode !== null ? `exited (${started.child.exitCode ?? started.child.signalCode})` : `not ready within ${timeoutMs} ms (${last})`;
  throw new MeshfedError(DEMO_ERRORS.agentNotReady, `${a.name}'s agent ${why}; log ${started.log}:\n${tail}`, { details: { agent: a.name } });
}
