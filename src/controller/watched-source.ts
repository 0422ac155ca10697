/**
 * The lifecycle a source read from files shares (the on-prem hosts file, the
 * SMI directory): read once at start, then watch → debounce → reload, keep the
 * last good input when a reload fails, and report the state. DESIGN.md §3
 * flow 1. A module of the controller rather than of providers or spec so that
 * both use it without importing each other (test/unit/import-rules.test.ts).
 *
 * States: "starting" -> "synced" | "degraded" after the first good read
 * (start() resolves); "synced" <-> "degraded" as reloads fail or succeed; any
 * -> "stopped" when the stop signal aborts. A failed first read makes start()
 * reject with the first error and leaves the source "stopped": there is no
 * last good input to keep, and the operator named that path. Misuse (start
 * twice) throws.
 *
 * What a read means, how it applies and how its errors are recorded stay with
 * the owner (the hooks); this module owns only the order of things.
 */
import { MeshfedError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import { SerialQueue } from "../common/serial-queue.js";
import { watchPath } from "../common/watch-file.js";
import type { ProviderState } from "./source-status.js";

/** A read that failed as a whole: nothing of it is applied. At least one error. */
export type WatchedRead<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly errors: readonly [MeshfedError, ...MeshfedError[]] };

export type ReadPhase = "start" | "reload";

export interface Applied {
  readonly state: "synced" | "degraded";
  /** Absent when nothing changed. */
  readonly announce?: () => void;
}

export interface WatchedSourceOptions<T> {
  /** The file or directory to watch. */
  readonly path: string;
  readonly kind: "file" | "directory";
  /** For a directory: which entry names matter. */
  readonly filter?: (name: string) => boolean;
  /** Named in the error when start() is called twice ("the onprem provider"). */
  readonly what: string;
  /** The owner's component logger. */
  readonly logger: Logger;
  /** The owner's options: quiet time after a change before reloading (default 100 ms), safety-net stat poll interval (default 2000 ms, see common/watch-file.ts). */
  readonly timing: { readonly debounceMs?: number; readonly pollMs?: number };
  readonly read: () => Promise<WatchedRead<T>>;
  /**
   * Applies a good read: the state it leaves (a read may apply with per-object
   * errors: "degraded") and how to announce what changed. The announcement runs
   * on reloads only (start() resolving is the first sync) and after the state
   * is updated, so a listener that asks for status() sees the new one.
   */
  readonly apply: (value: T) => Applied;
  /** Records a failed read (status, metrics, log); the last good input stays. */
  readonly reject: (errors: readonly [MeshfedError, ...MeshfedError[]], phase: ReadPhase) => void;
}

export class WatchedSource<T> {
  readonly #options: WatchedSourceOptions<T>;
  readonly #reloads = new SerialQueue();
  #state: ProviderState = "starting";
  #started = false;
  #lastSync: string | null = null;

  constructor(options: WatchedSourceOptions<T>) {
    this.#options = options;
  }

  get state(): ProviderState {
    return this.#state;
  }

  /** ISO time of the last good read applied, or null. */
  get lastSync(): string | null {
    return this.#lastSync;
  }

  async start(signal: AbortSignal): Promise<void> {
    const o = this.#options;
    if (this.#started) throw new MeshfedError("MESHFED_PROVIDER_STARTED", `${o.what} was already started`);
    this.#started = true;
    const result = await o.read();
    if (!result.ok) {
      o.reject(result.errors, "start");
      this.#state = "stopped";
      // Several errors: the first names the problem; status lists the rest.
      throw result.errors[0];
    }
    this.#applied(result.value, "start");
    if (signal.aborted) {
      this.#state = "stopped";
      return;
    }
    signal.addEventListener("abort", () => (this.#state = "stopped"), { once: true });
    await watchPath(o.path, {
      kind: o.kind,
      ...(o.filter === undefined ? {} : { filter: o.filter }),
      signal,
      debounceMs: o.timing.debounceMs ?? 100,
      pollMs: o.timing.pollMs ?? 2000,
      onChange: () => this.reload(),
      onError: (err) => o.logger.debug({ err }, `${o.kind} watcher error; falling back to polling`),
    });
  }

  /** Re-reads now (the watcher calls this; tests and a SIGHUP handler may too). */
  reload(): Promise<void> {
    // Serialised: a manual reload racing the watcher's must not apply an older
    // read after a newer one.
    return this.#reloads.run(() => this.#reloadNow());
  }

  async #reloadNow(): Promise<void> {
    if (this.#state === "stopped") return;
    const result = await this.#options.read();
    // The stop signal may have fired while the input was being read.
    if (this.#stopped()) return;
    if (!result.ok) {
      this.#options.reject(result.errors, "reload");
      this.#state = "degraded";
      return;
    }
    this.#applied(result.value, "reload");
  }

  #applied(value: T, phase: ReadPhase): void {
    const { state, announce } = this.#options.apply(value);
    this.#state = state;
    this.#lastSync = new Date().toISOString();
    if (phase === "reload") announce?.();
  }

  // A method rather than a comparison inline: TypeScript narrows #state after
  // the first check and would not see that the await above can change it.
  #stopped(): boolean {
    return this.#state === "stopped";
  }
}
