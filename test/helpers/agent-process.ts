// Starts the real `meshfed agent` process and waits on its loopback /status.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { CLI } from "./controller-process.js";
import { StopWaiting, waitFor } from "./wait.js";

export async function freePort(host = "127.0.0.1"): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
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
