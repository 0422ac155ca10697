/**
 * One lifecycle for every long-lived part (issue 20, item 1; STYLE.md
 * "undici"). A part is started by a factory or a `start(signal)` and then has
 * two ways to end:
 *
 *   close()       graceful: take no new work, finish what is under way, release
 *                 everything. Idempotent: every call returns the same promise.
 *   destroy(err)  abrupt: drop what is under way now and release everything.
 *                 Idempotent; also allowed during or after close(), when it
 *                 cuts the graceful close short.
 *
 * Unlike undici, a close() after destroy() resolves (with the destroy) rather
 * than rejecting: a composition root that destroys on a second signal must
 * still be able to await its first close.
 *
 * The composition roots (controller/wiring, agent) register each part on a
 * `Closer` right after it started. The closer's list, in start order, is then
 * the single source of the shutdown order (last in, first out), of readiness
 * (parts that wait for a first sync say so) and of what failed to close.
 */
import type { Logger } from "pino";
import { errorMessage, MeshfedError } from "./errors.js";

export interface LongLived {
  close(): Promise<void>;
  destroy(err?: Error): void | Promise<void>;
}

/** A started part as the closer knows it; `S` is what parts report about themselves (the controller: a source's status). */
export interface ClosablePart<S = never> {
  /** Stable, short (`admin`, `grpc`, `store`): logs, reports and failAt name parts by it. */
  readonly name: string;
  close(): void | Promise<void>;
  /** Abrupt end; without it the closer's destroy() calls close() and does not wait past the bound. */
  destroy?(err?: Error): void | Promise<void>;
  /** Upper bound of close(); on expiry the part is destroyed and reported. Default: the closer's. */
  readonly closeTimeoutMs?: number;
  /** For parts that wait for a first sync (sources): readiness lists those not ready yet by `readinessId`. */
  readonly ready?: () => boolean;
  readonly readinessId?: string;
  /** What the part reports about itself (the admin API's providers list), in start order. */
  readonly status?: () => S | readonly S[];
}

export interface CloseFailure {
  readonly part: string;
  readonly error: Error;
  /** The part did not close within its bound and was destroyed. */
  readonly timedOut: boolean;
}

export interface CloseReport {
  readonly failed: readonly CloseFailure[];
}

export interface CloserOptions {
  /** Per-part bound of close(); ms. */
  readonly closeTimeoutMs: number;
  readonly logger?: Logger;
}

/**
 * Last-in-first-out list of started parts. `add` right after a part started,
 * so a start that fails halfway closes exactly what had started.
 */
export class Closer<S = never> {
  readonly #options: CloserOptions;
  readonly #parts: Array<ClosablePart<S>> = [];
  /** Every part ever added, in start order (close() empties #parts). */
  readonly #all: Array<ClosablePart<S>> = [];
  #current: ClosablePart<S> | undefined;
  #closing: Promise<CloseReport> | undefined;
  #destroying: Promise<void> | undefined;
  #destroyError: Error | undefined;

  constructor(options: CloserOptions) {
    this.#options = options;
  }

  /** Registers a started part. Added once closing began (a start racing a stop), it is closed at once. */
  add(part: ClosablePart<S>): void {
    this.#all.push(part);
    if (this.#destroying !== undefined) {
      void settle(() => (part.destroy ?? part.close).call(part, this.#destroyError));
      return;
    }
    this.#parts.push(part);
    // The close loop may have finished already: run it again for the newcomer.
    if (this.#closing !== undefined && this.#current === undefined) void this.#closeAll([]);
  }

  /** Shorthand for a cleanup that is one call (clear a timer, abort a signal, remove a listener). */
  defer(name: string, fn: () => void | Promise<void>): void {
    this.add({ name, close: fn });
  }

  /** Names of every part added, in start order. */
  names(): readonly string[] {
    return this.#all.map((p) => p.name);
  }

  /** Parts that wait for a first sync and have not had it, by their readiness id. */
  waiting(): readonly string[] {
    return this.#all.filter((p) => p.ready !== undefined && !p.ready()).map((p) => p.readinessId ?? p.name);
  }

  /** What the parts that report a status say, in start order. */
  statuses(): S[] {
    return this.#all.flatMap((p): S[] => {
      if (p.status === undefined) return [];
      const s = p.status();
      return Array.isArray(s) ? [...(s as readonly S[])] : [s as S];
    });
  }

  /** Graceful, last in first out, each part bounded; resolves with the parts that failed (never rejects). */
  close(): Promise<CloseReport> {
    this.#closing ??= this.#closeAll([]);
    return this.#closing;
  }

  /** Abrupt: destroys every part not closed yet, including the one closing now; idempotent. */
  destroy(err?: Error): Promise<void> {
    this.#destroying ??= (async () => {
      this.#destroyError = err;
      const left = [...(this.#current ? [this.#current] : []), ...this.#parts.splice(0).reverse()];
      for (const part of left) {
        const r = await bounded(() => (part.destroy ? part.destroy(err) : part.close()), this.#options.closeTimeoutMs);
        if (r.kind === "failed") this.#options.logger?.warn({ part: part.name, err: r.error }, "part failed to destroy");
      }
    })();
    return this.#destroying;
  }

  async #closeAll(failed: CloseFailure[]): Promise<CloseReport> {
    for (let part = this.#parts.pop(); part !== undefined && this.#destroying === undefined; part = this.#parts.pop()) {
      this.#current = part;
      const timeoutMs = part.closeTimeoutMs ?? this.#options.closeTimeoutMs;
      const r = await bounded(() => part.close(), timeoutMs);
      this.#current = undefined;
      if (r.kind === "done") continue;
      const timedOut = r.kind === "timeout";
      const error = timedOut ? new MeshfedError("MESHFED_CLOSE_TIMEOUT", `${part.name} did not close within ${timeoutMs} ms`) : r.error;
      failed.push({ part: part.name, error, timedOut });
      this.#options.logger?.warn({ part: part.name, code: (error as { code?: string }).code, err: error }, timedOut ? "part did not close in time; destroyed" : "part failed to close");
      // Whatever it still holds goes now, so it cannot hold up the process.
      if (part.destroy) await bounded(() => part.destroy!(error), timeoutMs);
    }
    if (this.#destroying !== undefined) await this.#destroying;
    return { failed };
  }
}

type Outcome = { kind: "done" } | { kind: "failed"; error: Error } | { kind: "timeout" };

async function bounded(fn: () => void | Promise<void>, ms: number): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => resolve({ kind: "timeout" }), ms);
  });
  try {
    return await Promise.race([settle(fn), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function settle(fn: () => void | Promise<void>): Promise<Outcome> {
  try {
    await fn();
    return { kind: "done" };
  } catch (err) {
    return { kind: "failed", error: err instanceof Error ? err : new Error(errorMessage(err)) };
  }
}

/**
 * Runs the named start steps of a composition root. A step that throws is
 * re-thrown naming the part (`details.part`, and the message starts with it),
 * with the original code kept when it had one. `failAt` (tests only) makes the
 * step of that name fail before it runs: the failure-at-start tests walk
 * every step that way.
 */
export class StartSequence {
  readonly #failAt: string | undefined;
  readonly #observe: ((step: string) => void) | undefined;

  constructor(options: { readonly failAt?: string; readonly observe?: (step: string) => void } = {}) {
    this.#failAt = options.failAt;
    this.#observe = options.observe;
  }

  async step<T>(name: string, fn: () => T | Promise<T>): Promise<T> {
    this.#observe?.(name);
    try {
      if (this.#failAt === name) throw new MeshfedError("MESHFED_START_INJECTED", "start failure injected by a test");
      return await fn();
    } catch (err) {
      throw startFailure(name, err);
    }
  }
}

/** The error a failed start step surfaces: the part's name first, the cause kept. */
export function startFailure(part: string, err: unknown): MeshfedError {
  // Already named by an inner sequence (a wiring module's own steps).
  if (err instanceof MeshfedError && typeof err.details.part === "string") return err;
  const code = err instanceof MeshfedError ? err.code : "MESHFED_START_FAILED";
  const details = err instanceof MeshfedError ? { ...err.details, part } : { part };
  return new MeshfedError(code, `${part}: ${errorMessage(err)}`, { cause: err, details });
}
