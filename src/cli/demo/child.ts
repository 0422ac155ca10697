/** Small lifecycle helpers for the transparent demo's child processes. */
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";

const running = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;

/** Sends `signal` and waits for the exit; SIGKILL after `graceMs` (a stop must end). */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals, graceMs = 10_000): Promise<void> {
  if (!running(child)) return;
  const exited = once(child, "exit");
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves when `child` prints the line `want` on stdout; rejects when it exits first or time runs out. */
export function waitForLine(child: ChildProcess, want: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const said: string[] = [];
    const rl = createInterface({ input: child.stdout! });
    const onErr = (d: Buffer) => said.push(d.toString("utf8").trim());
    child.stderr?.on("data", onErr);
    const done = (err?: Error) => {
      clearTimeout(timer);
      rl.close();
      child.off("exit", onExit);
      child.stderr?.off("data", onErr);
      // Nobody reads this child's output any more: drain it so a chatty child never blocks on a full pipe.
      child.stdout?.resume();
      child.stderr?.resume();
      if (err === undefined) resolve();
      else reject(err);
    };
    const onExit = () => done(new Error(`exited before printing "${want}": ${said.join(" ")}`));
    const timer = setTimeout(() => done(new Error(`did not print "${want}" within ${timeoutMs} ms: ${said.join(" ")}`)), timeoutMs);
    rl.on("line", (l) => { if (l === want) done(); });
    child.once("exit", onExit);
  });
}
