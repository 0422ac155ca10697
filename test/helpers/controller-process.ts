// Starts the real `meshfed controller` process, as a user would, on port 0.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { scaled } from "./wait.js";

export const CLI = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

export interface ControllerProcess {
  readonly url: string;
  readonly child: ChildProcess;
  stderr(): string;
  /** Sends the signal and resolves with the exit code (or signal name). */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

export async function startControllerProcess(args: readonly string[], timeoutMs = 60_000, env: NodeJS.ProcessEnv = {}): Promise<ControllerProcess> {
  // An upper bound, not a speed: a loaded 2-core machine has taken over 30 s to start a controller process.
  timeoutMs = scaled(timeoutMs);
  const defaults: string[] = [["--admin-address", "127.0.0.1:0"], ["--grpc-address", "127.0.0.1:0"], ["--log-level", "info"]]
    .filter(([flag]) => !args.includes(flag!))
    .flat();
  const child = spawn(process.execPath, [CLI, "controller", ...defaults, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const exited = once(child, "exit");
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      // A child left running would hold the test file open until its timeout.
      child.kill("SIGKILL");
      reject(new Error(`controller did not get ready in ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    const check = () => {
      const m = /admin API\s+(http:\/\/\S+)/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        child.stdout.off("data", check);
        resolve(m[1]!);
      }
    };
    child.stdout.on("data", check);
    void exited.then(([code]) => {
      clearTimeout(timer);
      reject(new Error(`controller exited with ${String(code)} before it was ready\n${stderr}`));
    });
  });
  return {
    url,
    child,
    stderr: () => stderr,
    stop: async (signal: NodeJS.Signals = "SIGTERM") => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode!;
      child.kill(signal);
      const [code, sig] = (await exited) as [number | null, NodeJS.Signals | null];
      return code ?? sig!;
    },
  };
}

/** Runs the CLI to completion. */
export async function runCli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const [code] = (await once(child, "exit")) as [number];
  return { code, stdout, stderr };
}

export async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url} -> ${res.status}`);
  return res.json();
}
