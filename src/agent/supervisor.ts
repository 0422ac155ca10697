/**
 * Runs the local Pipy and keeps it running (issue 3, agent side 7).
 *
 * - Restart on exit with full-jitter backoff (a crash loop must not spin);
 *   the backoff resets once a process stayed up `stableAfterMs`.
 * - Stop = SIGINT, then SIGKILL after a grace period. Pipy drains on SIGINT;
 *   on Linux it does not handle SIGTERM and dies at once (PIPY-NOTES.md), so
 *   the child is spawned with killSignal SIGINT and never sent SIGTERM.
 * - Every stdout/stderr line goes to the agent log ({component:'pipy'}); the
 *   last lines are kept so a NACK can say what Pipy complained about.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { createInterface } from "node:readline";
import { Listeners } from "../common/emitter.js";
import type { Logger } from "../common/logger.js";
import { Backoff, sleep } from "./backoff.js";
import type { ProxyPidFile } from "./stale-proxy.js";

export type ProxyState = "starting" | "running" | "restarting" | "stopping" | "stopped";

export interface PipySupervisorOptions {
  readonly pipy: string;
  readonly args: readonly string[];
  readonly logger: Logger;
  readonly stopGraceMs: number;
  readonly restartBaseMs?: number;
  readonly restartCapMs: number;
  readonly stableAfterMs?: number;
  readonly random?: () => number;
  /** How many recent output lines to keep for NACK messages. */
  readonly keepLines?: number;
  /** Run Pipy as this user (transparent capture lets this uid's connections through; docs/dataplane.md). */
  readonly user?: { readonly uid: number; readonly gid: number };
  /** Where the running child is recorded, so that the next start after a kill -9 of the agent stops the orphan first. */
  readonly pidFile?: ProxyPidFile;
}

export interface ProxyExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly error?: string;
}

export class PipySupervisor {
  readonly #o: PipySupervisorOptions;
  readonly #log: Logger;
  readonly #pipyLog: Logger;
  readonly #backoff: Backoff;
  readonly #stop = new AbortController();
  readonly #states = new Listeners<ProxyState>();
  readonly #exits = new Listeners<ProxyExit>();
  readonly #lines: string[] = [];
  #state: ProxyState = "stopped";
  #child: ChildProcess | undefined;
  #loop: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #starts = 0;

  constructor(options: PipySupervisorOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: "supervisor" });
    this.#pipyLog = options.logger.child({ component: "pipy" });
    this.#backoff = new Backoff({ baseMs: options.restartBaseMs ?? 1000, capMs: options.restartCapMs, ...(options.random ? { random: options.random } : {}) });
  }

  get state(): ProxyState {
    return this.#state;
  }

  get started(): boolean {
    return this.#loop !== undefined;
  }

  /** How many processes were spawned so far. */
  get starts(): number {
    return this.#starts;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** The last output lines, oldest first. */
  recentLines(): readonly string[] {
    return this.#lines;
  }

  /** The last output line that looks like an error, for NACK messages. */
  lastError(): string | undefined {
    return [...this.#lines].reverse().find((l) => /error|exception|fail/i.test(l));
  }

  onState(fn: (state: ProxyState) => void): () => void {
    return this.#states.add(fn);
  }

  onExit(fn: (exit: ProxyExit) => void): () => void {
    return this.#exits.add(fn);
  }

  /** Starts the run loop once; later calls do nothing. */
  start(): void {
    if (this.#loop !== undefined || this.#stop.signal.aborted) return;
    this.#loop = this.#run();
  }

  /** Graceful: SIGINT, wait up to the grace period, then SIGKILL. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#stop.abort();
      await this.#loop;
      this.#setState("stopped");
    })();
    return this.#closing;
  }

  /** Abrupt: SIGKILL now. */
  destroy(): void {
    this.#stop.abort();
    this.#child?.kill("SIGKILL");
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    // An orphan from a killed agent holds our ports: every spawn would fail.
    await this.#o.pidFile?.reapStale();
    while (!signal.aborted) {
      this.#setState(this.#starts === 0 ? "starting" : "restarting");
      const startedAt = Date.now();
      const bin = await findExecutable(this.#o.pipy);
      const exit = bin === undefined ? this.#notFound() : await this.#runOnce(bin, signal);
      this.#exits.emit(exit);
      if (signal.aborted) break;
      if (Date.now() - startedAt >= (this.#o.stableAfterMs ?? 10_000)) this.#backoff.reset();
      const delay = this.#backoff.next();
      this.#setState("restarting");
      this.#log.warn({ exitCode: exit.code, signal: exit.signal, error: exit.error, restartInMs: delay }, "pipy exited; restarting");
      await sleep(delay, signal);
    }
  }

  #notFound(): ProxyExit {
    this.#starts += 1;
    const error = `${this.#o.pipy}: not found or not executable`;
    this.#log.error({ err: error, code: "ENOENT" }, "pipy could not be started");
    return { code: null, signal: null, error };
  }

  /** One process from spawn to exit; on abort: SIGINT, grace, SIGKILL. */
  #runOnce(bin: string, signal: AbortSignal): Promise<ProxyExit> {
    return new Promise((resolve) => {
      this.#starts += 1;
      let child: ChildProcess;
      try {
        const user = this.#o.user === undefined ? {} : { uid: this.#o.user.uid, gid: this.#o.user.gid };
        child = spawn("/bin/sh", ["-c", KEEP_RUNNING_WITHOUT_READER, bin, ...this.#o.args], { stdio: ["ignore", "pipe", "pipe"], signal, killSignal: "SIGINT", ...user });
      } catch (err) {
        resolve({ code: null, signal: null, error: (err as Error).message });
        return;
      }
      this.#child = child;
      let killTimer: NodeJS.Timeout | undefined;
      let settled = false;
      const finish = (exit: ProxyExit): void => {
        if (settled) return;
        settled = true;
        clearTimeout(killTimer);
        signal.removeEventListener("abort", onAbort);
        this.#child = undefined;
        if (this.#o.pidFile === undefined) resolve(exit);
        else void this.#o.pidFile.clear().then(() => resolve(exit));
      };
      // spawn({signal}) sends SIGINT on abort; we add the SIGKILL deadline.
      const onAbort = (): void => {
        this.#setState("stopping");
        this.#log.info({ pid: child.pid, graceMs: this.#o.stopGraceMs }, "stopping pipy (SIGINT)");
        killTimer = setTimeout(() => {
          this.#log.warn({ pid: child.pid }, "pipy did not stop within the grace period; SIGKILL");
          child.kill("SIGKILL");
        }, this.#o.stopGraceMs);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      child.once("spawn", () => {
        this.#log.info({ pid: child.pid, pipy: this.#o.pipy, args: this.#o.args }, "pipy started");
        if (child.pid !== undefined) void this.#o.pidFile?.record(child.pid, this.#o.pipy);
        if (!signal.aborted) this.#setState("running");
      });
      child.on("error", (err: NodeJS.ErrnoException) => {
        // AbortError is our own stop; the exit event follows.
        if (err.name === "AbortError") return;
        this.#log.error({ err: err.message, code: err.code }, "pipy could not be started");
        if (child.pid === undefined) finish({ code: null, signal: null, error: err.message });
      });
      child.once("exit", (code, sig) => {
        this.#log.info({ pid: child.pid, exitCode: code, signal: sig }, "pipy exited");
        finish({ code, signal: sig });
      });
      for (const [name, stream] of [["stdout", child.stdout], ["stderr", child.stderr]] as const) {
        if (stream === null) continue;
        createInterface({ input: stream, crlfDelay: Infinity }).on("line", (line) => this.#line(name, line));
      }
    });
  }

  #line(stream: "stdout" | "stderr", line: string): void {
    this.#pipyLog.info({ stream }, line);
    this.#lines.push(line);
    if (this.#lines.length > (this.#o.keepLines ?? 50)) this.#lines.shift();
  }

  #setState(state: ProxyState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#states.emit(state);
  }
}

/**
 * Pipy is started through sh with SIGPIPE ignored (an ignored signal stays
 * ignored across exec; a spawned child otherwise starts with the default,
 * which kills it). Its output goes to a pipe the agent reads: when the agent
 * is killed with -9, Pipy's next log line would kill it too, and the host's
 * outbound TCP, still redirected by the rules the dead agent left, would
 * meet a closed port. Ignoring SIGPIPE keeps the data plane serving until
 * the next agent start stops this Pipy and runs its own (stale-proxy.ts).
 */
const KEEP_RUNNING_WITHOUT_READER = 'trap "" PIPE; exec "$0" "$@"';

/** The path spawn would run: `cmd` itself when it names a path, else the first executable match on PATH. */
export async function findExecutable(cmd: string): Promise<string | undefined> {
  const candidates = cmd.includes("/") ? [cmd] : (process.env.PATH ?? "").split(delimiter).filter((d) => d !== "").map((d) => join(d, cmd));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      if ((await stat(candidate)).isFile()) return candidate;
    } catch {
      // not this one
    }
  }
  return undefined;
}

/** `pipy --version` → "1.5.18"; "" when it cannot be told within 5 s. */
export function proxyVersion(pipy: string): Promise<string> {
  // Pipy 1.5.18 sometimes prints its version and then never exits (issue 23):
  // the version is taken the moment its line arrives and the child is killed,
  // so a hung `--version` costs nothing. 5 s is only the bound for a binary
  // that prints nothing at all.
  return new Promise((resolve) => {
    let out = "";
    let done = false;
    const child = spawn(pipy, ["--version"], { stdio: ["ignore", "pipe", "ignore"] });
    const finish = (version: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      resolve(version);
    };
    const timer = setTimeout(() => finish(""), 5000);
    timer.unref();
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
      const m = /Version\s*:\s*(\S+)\s*\n/.exec(out);
      if (m) finish(m[1]!);
    });
    child.on("error", () => finish(""));
    child.on("close", () => {
      const m = /Version\s*:\s*(\S+)/.exec(out);
      finish(m?.[1] ?? out.split("\n")[0]?.trim() ?? "");
    });
  });
}
