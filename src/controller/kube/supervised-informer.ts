/**
 * Our supervision around client-node's informer (ListWatch). STYLE.md: "its
 * ListWatch stops after a non-410 error. Own the restart".
 *
 * What the library does (client-node 1.4, checked): list, then watch from the
 * list's resourceVersion; a 410 Gone (HTTP or an in-stream ERROR event) makes
 * it relist and diff the new list against its cache (delete/add/update
 * callbacks); a normal server close makes it re-watch from the last
 * resourceVersion at once; ANY other error (a failed list, a 500 on watch, a
 * reset stream) emits `error` and it STOPS for good.
 *
 * What we add:
 * - restart after such an error, with jittered exponential backoff, by calling
 *   start() again on the SAME ListWatch: it still holds its cache and
 *   resourceVersion, so it resumes the watch where it stopped (the API server
 *   replays every event after that version, or answers 410 and the library
 *   relists and diffs against its cache). Either way no event is lost and none
 *   is delivered twice as a spurious add; consumers still diff their own view
 *   so that a replayed update changes nothing downstream.
 * - a `synced` promise: resolved once the first list succeeded and its watch
 *   is open;
 * - a guarded Watch (below) that adds allowWatchBookmarks and timeoutSeconds
 *   as client-go does, damps a server that closes watches at once (the library
 *   would reconnect in a tight loop), and refuses to open a watch after stop:
 *   ListWatch.stop() only aborts the request it has already stored, so a
 *   reconnect racing with stop would otherwise leave a live socket behind.
 *
 * States: "starting" (listing/connecting) -> "watching" -> "backoff" (after an
 * error) -> "starting" ... ; any -> "stopped" when the signal aborts.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from "@kubernetes/client-node";
import { MeshfedError } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import { backoffDelay, type BackoffOptions } from "./backoff.js";
import { classifyKubeError } from "./errors.js";

export type InformerEventType = "add" | "update" | "delete";
export type InformerState = "starting" | "watching" | "backoff" | "stopped";

export interface SupervisedInformerOptions<T extends KubernetesObject> {
  /** Names the resource in logs and errors, e.g. "services" or "trafficsplits.split.smi-spec.io/v1alpha4". */
  readonly name: string;
  readonly kubeConfig: KubeConfig;
  /** The collection path, e.g. /api/v1/services. */
  readonly path: string;
  readonly list: () => Promise<KubernetesListObject<T>>;
  readonly fieldSelector?: string;
  /** Equality label selector for the watch (the list function applies its own). */
  readonly labelSelector?: string;
  readonly logger: Logger;
  readonly backoff?: BackoffOptions;
  /** Server-side watch timeout (seconds, jittered up to +50%); the library re-watches after it. Default 300. */
  readonly watchTimeoutSeconds?: number;
  /** A watch that lives shorter than this counts as flapping and the next one is delayed. Default 1000 ms. */
  readonly minWatchMs?: number;
  /** Every object change, in order. Deletes carry the last known object. */
  readonly onEvent: (type: InformerEventType, obj: T) => void;
  /** Every state change and its cause (the error for "backoff"). */
  readonly onState?: (state: InformerState, err?: MeshfedError) => void;
}

/** A backoff run that lasted longer than this resets the attempt counter. */
const HEALTHY_RUN_MS = 60_000;

export class SupervisedInformer<T extends KubernetesObject> {
  readonly name: string;
  readonly #options: SupervisedInformerOptions<T>;
  readonly #log: Logger;
  readonly #watch: GuardedWatch;
  readonly #informer: ListWatch<T>;
  readonly #synced: Promise<void>;
  #resolveSynced!: () => void;
  #state: InformerState = "starting";
  #running = false;
  #stopping = false;
  #failure: MeshfedError | undefined;
  #wake: (() => void) | undefined;
  #restarts = 0;
  #lastError: MeshfedError | null = null;
  #lastErrorAt = "";
  #listing = false;

  constructor(options: SupervisedInformerOptions<T>) {
    this.name = options.name;
    this.#options = options;
    this.#log = options.logger.child({ informer: options.name });
    this.#synced = new Promise((resolve) => (this.#resolveSynced = resolve));
    this.#watch = new GuardedWatch(options.kubeConfig, {
      timeoutSeconds: options.watchTimeoutSeconds ?? 300,
      minWatchMs: options.minWatchMs ?? 1000,
      backoff: options.backoff ?? {},
      log: this.#log,
    });
    const list = async (): Promise<KubernetesListObject<T>> => {
      this.#listing = true;
      try {
        return await options.list();
      } catch (err) {
        throw classifyKubeError(err, "list", options.name);
      } finally {
        this.#listing = false;
      }
    };
    this.#informer = new ListWatch<T>(options.path, this.#watch, list, false, options.labelSelector, options.fieldSelector);
    this.#informer.on("add", (obj) => options.onEvent("add", obj));
    this.#informer.on("update", (obj) => options.onEvent("update", obj));
    this.#informer.on("delete", (obj) => options.onEvent("delete", obj));
    this.#informer.on("error", (err: unknown) => this.#onError(err));
  }

  /** Resolves once the first list succeeded and its watch is open. Never rejects. */
  get synced(): Promise<void> {
    return this.#synced;
  }

  get state(): InformerState {
    return this.#state;
  }

  get restarts(): number {
    return this.#restarts;
  }

  get lastError(): MeshfedError | null {
    return this.#lastError;
  }

  /** ISO time of lastError. */
  get lastErrorAt(): string {
    return this.#lastErrorAt;
  }

  /** The library's cache (list items are typed models, watch items plain JSON: parse before use). */
  objects(): readonly T[] {
    return this.#informer.list();
  }

  /** Runs until `signal` aborts; restarts the informer after every error. Misuse (run twice) throws. */
  async run(signal: AbortSignal): Promise<void> {
    if (this.#running) throw new MeshfedError("MESHFED_PROVIDER_STARTED", `informer ${this.name} is already running`);
    this.#running = true;
    const onAbort = (): void => {
      this.#stopping = true;
      this.#watch.close();
      void this.#informer.stop();
      this.#wake?.();
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    let attempt = 0;
    try {
      while (!signal.aborted) {
        const startedAt = Date.now();
        this.#failure = undefined;
        this.#setState("starting");
        try {
          // Resolves after the list (if the library needs one) and once the
          // watch response headers arrived, or after a failure was reported
          // through the error callback.
          await this.#informer.start();
        } catch (err) {
          this.#failure ??= classifyKubeError(err, "watch", this.name);
        }
        if (signal.aborted) break;
        if (this.#failure === undefined) {
          this.#setState("watching");
          if (this.#lastError !== null) this.#log.info({ restarts: this.#restarts }, "informer recovered");
          this.#lastError = null;
          this.#resolveSynced();
          await new Promise<void>((resolve) => {
            this.#wake = resolve;
            if (this.#failure !== undefined || signal.aborted) resolve();
          });
          this.#wake = undefined;
          if (signal.aborted) break;
        }
        const failure = this.#failure ?? new MeshfedError("MESHFED_KUBE_WATCH", `watch ${this.name}: stopped`);
        if (Date.now() - startedAt > HEALTHY_RUN_MS) attempt = 0;
        attempt++;
        this.#restarts++;
        this.#lastError = failure;
        this.#lastErrorAt = new Date().toISOString();
        const delay = backoffDelay(attempt, this.#options.backoff);
        this.#setState("backoff", failure);
        this.#log.warn({ code: failure.code, attempt, delayMs: delay, err: failure.cause }, `informer failed, restarting: ${failure.message}`);
        try {
          await sleep(delay, undefined, { signal, ref: false });
        } catch {
          break; // aborted
        }
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.#stopping = true;
      this.#watch.close();
      await this.#informer.stop();
      this.#setState("stopped");
    }
  }

  #onError(err: unknown): void {
    // informer.stop() and our own close() abort the request; the library
    // reports that as an error too.
    if (this.#stopping) return;
    this.#failure ??= classifyKubeError(err, this.#listing ? "list" : "watch", this.name);
    this.#wake?.();
  }

  #setState(state: InformerState, err?: MeshfedError): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#log.debug({ state }, "informer state");
    this.#options.onState?.(state, err);
  }
}

interface GuardedWatchOptions {
  readonly timeoutSeconds: number;
  readonly minWatchMs: number;
  readonly backoff: BackoffOptions;
  readonly log: Logger;
}

type WatchArgs = Parameters<Watch["watch"]>;

/** client-node's Watch, guarded: see the file header. */
class GuardedWatch extends Watch {
  readonly #o: GuardedWatchOptions;
  readonly #closer = new AbortController();
  readonly #active = new Set<AbortController>();
  #quickCloses = 0;

  constructor(config: KubeConfig, options: GuardedWatchOptions) {
    super(config);
    this.#o = options;
  }

  close(): void {
    this.#closer.abort();
    for (const c of this.#active) c.abort();
    this.#active.clear();
  }

  override async watch(path: WatchArgs[0], queryParams: WatchArgs[1], callback: WatchArgs[2], done: WatchArgs[3]): Promise<AbortController> {
    if (this.#quickCloses > 0) {
      // The last watch ended (without error) right after it opened: a proxy
      // or a server that closes at once would make the library reconnect in
      // a tight loop.
      const delay = backoffDelay(this.#quickCloses, this.#o.backoff);
      this.#o.log.debug({ delayMs: delay, quickCloses: this.#quickCloses }, "watch closed right after it opened; delaying the next one");
      try {
        await sleep(delay, undefined, { signal: this.#closer.signal, ref: false });
      } catch {
        // closed while waiting: fall through to the check below
      }
    }
    if (this.#closer.signal.aborted) return abortedController();
    const openedAt = Date.now();
    // super.watch may call done before it returns (a failed request): the
    // holder is read by the callback, never before assignment.
    const holder: { controller?: AbortController } = {};
    const timeoutSeconds = Math.round(this.#o.timeoutSeconds * (1 + Math.random() / 2));
    const query = { ...queryParams, allowWatchBookmarks: true, timeoutSeconds };
    const controller = await super.watch(path, query, callback, (err: unknown) => {
      if (holder.controller !== undefined) this.#active.delete(holder.controller);
      if (err === null || err === undefined) {
        this.#quickCloses = Date.now() - openedAt < this.#o.minWatchMs ? this.#quickCloses + 1 : 0;
      }
      done(err);
    });
    // stop() may have come while the request was in flight, before the
    // library could store (and so abort) this controller.
    holder.controller = controller;
    if (this.#closer.signal.aborted) controller.abort();
    else if (!controller.signal.aborted) this.#active.add(controller);
    return controller;
  }
}

function abortedController(): AbortController {
  const c = new AbortController();
  c.abort();
  return c;
}
