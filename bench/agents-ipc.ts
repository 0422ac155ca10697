/**
 * The messages the agents benchmark (bench/agents.ts) exchanges over Node's
 * IPC channel with its two kinds of child process: the controller
 * (agents-controller.ts) and the simulated-agent workers (agents-worker.ts).
 * Every request carries an id; the child answers with the same id, so the
 * parent can wait for one answer with a timeout.
 */
import type { ChildProcess } from "node:child_process";

export type FileCacheMode = "on" | "seeded" | "off";

/** One simulated agent, as the parent assigns it to a worker. */
export interface AgentSpec {
  readonly index: number;
  readonly token: string;
  readonly service: string;
  /** Announced host address (127.x.y.z); the agent still dials 127.0.0.1. */
  readonly host: string;
  readonly port: number;
  /** Which controller replica (index into the enroll request's `addresses`) it enrols with and connects to. */
  readonly replica: number;
}

export type ControllerRequest =
  | { readonly type: "memory" }
  /** CPU time used so far and the RSS peak since the last call with `resetPeak`. */
  | { readonly type: "usage"; readonly resetPeak: boolean }
  | { readonly type: "stop" };
export type ControllerEvent =
  | { readonly type: "ready"; readonly adminUrl: string; readonly grpcAddress: string }
  | { readonly type: "failed"; readonly message: string };
export interface UsageReply {
  readonly cpuMicros: number;
  readonly rss: number;
  readonly peakRss: number;
}
export interface MemoryReply {
  readonly rss: number;
  readonly heapUsed: number;
  /** V8 heap committed (used or not): RSS that a collection does not give back, e.g. a young generation grown during a burst. */
  readonly heapTotal: number;
  readonly external: number;
  /** Lines of /proc/self/maps (Linux): the kernel refuses mmap beyond vm.max_map_count, and V8's heap grows by mmap. */
  readonly mappings?: number;
}

export type WorkerRequest =
  /**
   * Makes `count` keys and CSRs with the agent's own code before enrollment is timed (answered when done):
   * each agent still gets its own key; only the moment it is made moves out of the timed phase.
   */
  | { readonly type: "prepare"; readonly count: number }
  /**
   * `fileCache`: "on", the agents say in Hello that they keep shared files by hash (the current agent does);
   * "seeded", and they already hold the Pipy codebase at their first connect (as after a controller restart);
   * "off", agents of the previous version.
   */
  | { readonly type: "enroll"; readonly addresses: readonly string[]; readonly caPem: string; readonly agents: readonly AgentSpec[]; readonly concurrency: number; readonly fileCache: FileCacheMode }
  | { readonly type: "connect"; readonly concurrency: number }
  /** Every agent drops its stream and channel at once, then connects again (answered at once). */
  | { readonly type: "reconnect"; readonly concurrency: number }
  | { readonly type: "status" }
  /** From now on, record per agent the first config whose content contains `marker`. */
  | { readonly type: "mark"; readonly marker: string }
  | { readonly type: "collect" }
  | { readonly type: "stop" };

export interface WorkerStatus {
  /** Keys and CSRs made by "prepare" and not used yet. */
  readonly prepared: number;
  readonly enrolled: number;
  readonly connected: number;
  readonly configs: number;
  /** Date.now() of the last config received by any agent of this worker; 0 if none. */
  readonly lastConfigAt: number;
  /** Agents that received a config containing the current marker. */
  readonly hits: number;
  /** Connect attempts retried after a transport error. */
  readonly retries: number;
  readonly failures: readonly string[];
  /** This worker process's CPU so far (user + system, process.cpuUsage), microseconds. */
  readonly cpuMicros: number;
}

export interface Collected {
  /** Agents that received a config containing the marker: index and Date.now() of its ACK. */
  readonly hits: ReadonlyArray<{ readonly index: number; readonly at: number }>;
  /** Indexes of every agent that received any config since the mark. */
  readonly received: readonly number[];
  readonly configsSinceMark: number;
}

interface Envelope {
  readonly id: number;
  readonly reply?: unknown;
  readonly error?: string;
}

let nextId = 1;

/** Sends one request to a child and resolves with its reply, or rejects after `timeoutMs`. */
export function request<T>(child: ChildProcess, message: WorkerRequest | ControllerRequest, timeoutMs: number): Promise<T> {
  const id = nextId++;
  return new Promise<T>((resolve, reject) => {
    const done = (fn: () => void) => {
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
      fn();
    };
    const onMessage = (m: unknown) => {
      const e = m as Envelope;
      if (typeof e !== "object" || e === null || e.id !== id) return;
      done(() => (e.error !== undefined ? reject(new Error(e.error)) : resolve(e.reply as T)));
    };
    const onExit = (code: number | null) => done(() => reject(new Error(`child ${child.pid} exited (${code}) before answering ${message.type}`)));
    const timer = setTimeout(() => done(() => reject(new Error(`child ${child.pid} did not answer ${message.type} within ${timeoutMs} ms`))), timeoutMs);
    child.on("message", onMessage);
    child.on("exit", onExit);
    child.send({ id, ...message });
  });
}

/** The child side: answers each request with the handler's result (or its error). */
export function serve<R extends { type: string }>(handle: (r: R) => Promise<unknown>): void {
  process.on("message", (m: unknown) => {
    const { id, ...rest } = m as { id: number } & R;
    handle(rest as unknown as R).then(
      (reply) => process.send?.({ id, reply }),
      (err: unknown) => process.send?.({ id, error: err instanceof Error ? err.message : String(err) }),
    );
  });
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/**
 * Polls `check` every `pollMs` until it returns true; it returns a progress
 * text otherwise. Throws after `timeoutMs` with the last progress.
 */
export async function until(timeoutMs: number, what: string, check: () => Promise<true | string>, pollMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let progress = "";
  while (Date.now() < deadline) {
    const r = await check();
    if (r === true) return;
    progress = r;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what} (${progress})`);
}
