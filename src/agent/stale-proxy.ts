/**
 * The Pipy a killed agent left running (docs/dataplane.md "Failure
 * behaviour"). kill -9 of the agent does not stop its Pipy child: outside a
 * systemd unit (whose cgroup would take it down) the orphan keeps its
 * listening ports, and every Pipy the next agent starts exits on "address in
 * use" in a restart loop. So the supervisor records the child it runs in
 * `<dataDir>/pipy.pid` (pid, start time, binary), and the next start kills
 * that process before spawning its own, only if /proc still shows the same
 * process (the start time rules out a reused pid).
 */
import { readFile, rm } from "node:fs/promises";
import { z } from "zod";
import { writeFileAtomic } from "../common/atomic-file.js";
import { errorMessage } from "../common/errors.js";
import type { Logger } from "../common/logger.js";

const recordSchema = z.strictObject({
  pid: z.number().int().positive(),
  /** Field 22 of /proc/<pid>/stat: clock ticks since boot; a reused pid has another. */
  startTime: z.string().regex(/^\d+$/),
  pipy: z.string(),
});
type ProxyRecord = z.infer<typeof recordSchema>;

/** Start time and state of a live process, or undefined when it is gone (a zombie counts as gone: its ports are closed). */
export async function processStart(pid: number): Promise<string | undefined> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (rest[0] === "Z" || rest[0] === "X") return undefined;
  return rest[19];
}

export class ProxyPidFile {
  readonly #path: string;
  readonly #log: Logger;
  #writes: Promise<void> = Promise.resolve();

  constructor(path: string, logger: Logger) {
    this.#path = path;
    this.#log = logger.child({ component: "supervisor" });
  }

  /** Records the running child (serialised with clear(), so a late write never outlives the exit). */
  record(pid: number, pipy: string): Promise<void> {
    return this.#queue(async () => {
      const startTime = await processStart(pid);
      if (startTime === undefined) return;
      await writeFileAtomic(this.#path, JSON.stringify({ pid, startTime, pipy } satisfies ProxyRecord) + "\n", 0o600);
    });
  }

  clear(): Promise<void> {
    return this.#queue(() => rm(this.#path, { force: true }));
  }

  /**
   * Kills the recorded process if it is still the one recorded, and waits up
   * to `waitMs` for it to be gone. Returns its pid when one was killed.
   */
  async reapStale(waitMs = 5_000): Promise<number | undefined> {
    const record = await this.#read();
    if (record === undefined) return undefined;
    const start = await processStart(record.pid);
    if (start !== record.startTime) {
      await this.clear();
      return undefined;
    }
    this.#log.warn({ pid: record.pid, pipy: record.pipy }, "a Pipy left by a killed agent is still running; stopping it (SIGKILL) before starting ours");
    try {
      process.kill(record.pid, "SIGKILL");
    } catch (err) {
      this.#log.warn({ pid: record.pid, err: errorMessage(err) }, "could not signal the stale Pipy");
    }
    const deadline = Date.now() + waitMs;
    while ((await processStart(record.pid)) === start && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await this.clear();
    return record.pid;
  }

  async #read(): Promise<ProxyRecord | undefined> {
    let text: string;
    try {
      text = await readFile(this.#path, "utf8");
    } catch {
      return undefined;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const parsed = recordSchema.safeParse(json);
    if (!parsed.success) {
      // A torn or foreign file names no process we may kill.
      this.#log.warn({ file: this.#path }, "ignoring an unreadable Pipy pid file");
      return undefined;
    }
    return parsed.data;
  }

  #queue(op: () => Promise<void>): Promise<void> {
    const next = this.#writes.then(op).catch((err: unknown) => this.#log.warn({ file: this.#path, err: errorMessage(err) }, "Pipy pid file not updated"));
    this.#writes = next;
    return next;
  }
}
