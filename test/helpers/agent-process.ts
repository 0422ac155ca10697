// Starts the real `meshfed agent` process and waits on its loopback /status.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { randomInt } from "node:crypto";
import { readFileSync } from "node:fs";
import { CLI } from "./controller-process.js";
import { StopWaiting, waitFor } from "./wait.js";

/**
 * Ports handed out below the kernel's ephemeral range. A port taken from
 * `listen(0)` and released is the next one the kernel may give any other
 * `:0` bind (the suite binds hundreds): a full run once saw a controller's admin
 * server take the gRPC port a test had just chosen (EADDRINUSE). Below the
 * range only another freePort() caller can pick the same port, at random.
 */
function portRange(): { min: number; max: number } {
  let low = 32_768;
  try {
    low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]) || low;
  } catch {
    // Not Linux: the default range's start.
  }
  return { min: Math.max(1_024, low - 12_000), max: low - 1 };
}

function canBind(port: number, host: string): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once("error", () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** A port that nothing listens on now, outside the range `listen(0)` draws from. */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  const { min, max } = portRange();
  for (let tries = 0; tries < 200; tries++) {
    const port = randomInt(min, max + 1);
    if (await canBind(port, host)) return port;
  }
  throw new Error(`no free port on ${host} in ${min}-${max} after 200 tries`);
}

export interface AgentStatus {
  state: string;
  configVersion: number;
  certificates: { proxy: { notAfter: string } | null; service: { notAfter: string } | null };
}

export interface AgentProcess {
  readonly child: ChildProcess;
  readonly statusUrl: string;
  readonly repoUrl: string;
  stderr(): string;
  status(): Promise<AgentStatus | undefined>;
  waitFor(predicate: (s: AgentStatus) => boolean, timeoutMs?: number): Promise<AgentStatus>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
  readonly exited: Promise<number | string>;
}

export async function startAgentProcess(args: readonly string[], repoPort?: number, env?: NodeJS.ProcessEnv): Promise<AgentProcess> {
  const port = repoPort ?? (await freePort());
  const child = spawn(process.execPath, [CLI, "agent", "--repo-address", `127.0.0.1:${port}`, "--backoff-cap", "1s", "--log-level", "debug", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    ...(env === undefined ? {} : { env: { ...process.env, ...env } }),
  });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  child.stdout.resume();
  const exited = once(child, "exit").then(([code, signal]) => (code ?? signal) as number | string);
  const statusUrl = `http://127.0.0.1:${port}/status`;
  const status = async (): Promise<AgentStatus | undefined> => {
    try {
      const res = await fetch(statusUrl, { signal: AbortSignal.timeout(1000) });
      return res.ok ? ((await res.json()) as AgentStatus) : undefined;
    } catch {
      return undefined;
    }
  };
  return {
    child,
    statusUrl,
    repoUrl: `http://127.0.0.1:${port}/repo/`,
    stderr: () => stderr,
    status,
    exited,
    waitFor: (predicate, timeoutMs = 60_000) =>
      waitFor(
        async () => {
          if (child.exitCode !== null) throw new StopWaiting(`agent exited with ${child.exitCode}\n${stderr.slice(-3000)}`);
          const s = await status();
          return s !== undefined && predicate(s) && s;
        },
        { what: "the agent's status to match", timeoutMs, intervalMs: 50, context: () => stderr.slice(-3000) },
      ),
    stop: async (signal: NodeJS.Signals = "SIGTERM") => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode!;
      child.kill(signal);
      return exited;
    },
  };
}
