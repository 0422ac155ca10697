/**
 * Which configuration the local Pipy actually runs, learnt from Pipy's own
 * behaviour (flomesh-io/pipy src/main.cpp StatusReporter, src/worker-thread.cpp,
 * src/codebase.cpp CodebaseFromHTTP):
 *
 * - Pipy records the `etag` header of the MANIFEST response (GET <base>/) as
 *   its codebase version. After a successful hot reload each worker sets its
 *   version to that string; a failed reload leaves the old one. The status
 *   it POSTs every 5 s carries `version` = that string, verbatim.
 * - Until the first hot reload `version` is "" — the process runs what it
 *   loaded at start-up. Pipy only starts POSTing status after that start-up
 *   load succeeded, so the first report of a process (new `uuid`+`since`)
 *   tells us the initial load worked; the version it runs is the ETag of the
 *   last manifest we served before that report (the start-up download; the
 *   first poll comes 5 s later).
 *
 * So: running = report.version when non-empty, else the ETag remembered for
 * this process at its first report. A version is "running" when that equals
 * its ETag.
 */
import { z } from "zod";
import { Listeners } from "../../common/emitter.js";
import { sameEtag } from "../config-version.js";

export interface PipyStatusReport {
  readonly uuid: string;
  readonly since: number;
  readonly version: string;
}

// Validated at the edge; unknown fields (modules, metrics, logs) are dropped.
const reportSchema = z.object({
  uuid: z.string().default(""),
  since: z.number().default(0),
  version: z.string().default(""),
});

export function parseStatusReport(body: string): PipyStatusReport | undefined {
  try {
    const parsed = reportSchema.safeParse(JSON.parse(body));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export class PipyRunTracker {
  #expectedUuid: string | undefined;
  #lastManifestEtag: string | undefined;
  #instance: string | undefined;
  #initialEtag: string | undefined;
  #running: string | undefined;
  #lastReportAt: number | undefined;
  readonly #changes = new Listeners<string | undefined>();

  /** Reports from another instance (a stray Pipy pointed at our repo) are ignored. */
  expectInstance(uuid: string): void {
    this.#expectedUuid = uuid;
  }

  noteManifest(etag: string): void {
    this.#lastManifestEtag = etag;
  }

  noteStatus(report: PipyStatusReport): void {
    if (this.#expectedUuid !== undefined && report.uuid !== this.#expectedUuid) return;
    this.#lastReportAt = Date.now();
    const instance = `${report.uuid}@${report.since}`;
    if (instance !== this.#instance) {
      this.#instance = instance;
      this.#initialEtag = this.#lastManifestEtag;
    }
    this.#set(report.version !== "" ? report.version : this.#initialEtag);
  }

  /** The process went away (exit, restart): it runs nothing until it reports again. */
  processGone(): void {
    this.#instance = undefined;
    this.#set(undefined);
  }

  get runningEtag(): string | undefined {
    return this.#running;
  }

  get lastReportAt(): number | undefined {
    return this.#lastReportAt;
  }

  isRunning(etag: string): boolean {
    return this.#running !== undefined && sameEtag(this.#running, etag);
  }

  onChange(fn: (etag: string | undefined) => void): () => void {
    return this.#changes.add(fn);
  }

  /** Resolves true once `etag` runs, false at the timeout or when `signal` aborts. */
  waitFor(etag: string, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
    if (this.isRunning(etag)) return Promise.resolve(true);
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        off();
        signal.removeEventListener("abort", onAbort);
        resolve(ok);
      };
      const onAbort = (): void => done(false);
      const timer = setTimeout(() => done(false), timeoutMs);
      const off = this.onChange(() => {
        if (this.isRunning(etag)) done(true);
      });
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  #set(etag: string | undefined): void {
    if (etag === this.#running) return;
    this.#running = etag;
    this.#changes.emit(etag);
  }
}
