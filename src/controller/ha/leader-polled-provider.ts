/**
 * Leader-only polling of a platform, for replicas on a shared store
 * (docs/ha.md, "What only the leader does"). Wraps a SharedViewProvider (the
 * Azure provider) and is what the catalog sees in its place:
 *
 * - "leading": the inner provider polls; every change of its view is
 *   published (published-view.ts).
 * - "following": the inner provider is paused and serves the view the
 *   leader published, followed through a store watch. While no leader
 *   publishes (an election in progress) the last view stays: a leadership
 *   gap never empties the catalog.
 * - "fallback": nothing was published within `awaitViewMs` of the start (no
 *   leader yet, or a leader of an older version that does not publish): this
 *   replica polls for itself, as before replicas shared views, until a
 *   published view arrives.
 *
 * Transitions run one at a time (a SerialQueue), each logged.
 */
import { errorCode, MeshfedError } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import type { ControllerMetrics } from "../../common/metrics.js";
import { SerialQueue } from "../../common/serial-queue.js";
import type { ServiceKey } from "../../common/service.js";
import type { EndpointProvider, ProviderEndpoint, ProviderError, ProviderStatus, ServiceEndpoints, SharedViewProvider } from "../providers/types.js";
import type { Leadership } from "./leadership.js";
import type { PublishedRecord, PublishedView } from "./published-view.js";

export type SharingRole = "starting" | "leading" | "following" | "fallback";

export interface SharedViewStatus {
  readonly key: string;
  readonly role: SharingRole;
  /** The record served: who published it, which generation, when. Null before any. */
  readonly served: { readonly replicaId: string; readonly generation: number; readonly publishedAt: string } | null;
  readonly lastError: ProviderError | null;
  /** Records refused as unreadable since the start. */
  readonly refused: number;
}

export interface LeaderPolledProviderOptions {
  readonly inner: SharedViewProvider;
  readonly leadership: Leadership;
  readonly view: PublishedView;
  /** How long a non-leader waits at start for a published view before polling itself. */
  readonly awaitViewMs: number;
  readonly logger: Logger;
  /** Counts sharing failures in meshfed_provider_errors_total, by code. */
  readonly metrics?: ControllerMetrics;
}

export class LeaderPolledProvider implements EndpointProvider {
  readonly id: string;
  readonly #o: LeaderPolledProviderOptions;
  readonly #log: Logger;
  readonly #transitions = new SerialQueue();
  #role: SharingRole = "starting";
  /** The newest valid record seen in the store, by any replica (this one included). */
  #latest: PublishedRecord | undefined;
  #served: PublishedRecord | undefined;
  #lastError: ProviderError | null = null;
  #refusedRecords = 0;
  #settled: (() => void) | undefined;

  constructor(options: LeaderPolledProviderOptions) {
    this.#o = options;
    this.id = options.inner.id;
    this.#log = options.logger.child({ component: "leader-polled-provider", provider: options.inner.id, key: options.view.key });
  }

  async start(signal: AbortSignal): Promise<void> {
    const { inner, leadership, view } = this.#o;
    const initial = await view.follow(signal, (record) => void this.#enqueue(() => this.#received(record)), (err) => this.#refused(err));
    if (initial) this.#latest = initial;
    const unsubscribeLeadership = leadership.on("change", (leader) => void this.#enqueue(() => this.#leadershipChanged(leader)));
    const unsubscribeChanges = inner.on("change", () => {
      if (this.#role === "leading") void this.#enqueue(() => this.#publish());
    });
    signal.addEventListener("abort", () => {
      unsubscribeLeadership();
      unsubscribeChanges();
      this.#settled?.();
    }, { once: true });
    const settled = new Promise<void>((resolve) => (this.#settled = resolve));
    // Not through #enqueue: a first sync that cannot start (no credential) fails the start, as without replicas.
    await this.#transitions.run(async () => {
      if (leadership.isLeader()) {
        await inner.start(signal);
        this.#setRole("leading");
        await this.#publish().catch((err: unknown) => this.#error(err));
        return;
      }
      inner.pausePolling();
      await inner.start(signal);
      this.#setRole("following");
      if (this.#latest) this.#adopt(this.#latest);
    });
    if (this.#role === "leading" || this.#served !== undefined) return;
    // Nothing to serve yet: wait for the leader's view or leadership, then poll ourselves.
    const timer = setTimeout(() => this.#settled?.(), this.#o.awaitViewMs);
    await settled;
    clearTimeout(timer);
    if (signal.aborted) return;
    await this.#enqueue(async () => {
      if (this.#role !== "following" || this.#served !== undefined) return;
      this.#log.warn({ waitedMs: this.#o.awaitViewMs, code: "MESHFED_VIEW_NOT_PUBLISHED" }, "no replica published a view in time; polling the platform from this replica until one does");
      this.#setRole("fallback");
      await inner.resumePolling();
    });
  }

  services(): Iterable<ServiceEndpoints> {
    return this.#o.inner.services();
  }

  endpoints(service: ServiceKey): readonly ProviderEndpoint[] | undefined {
    return this.#o.inner.endpoints(service);
  }

  on(event: "change", fn: (changed: readonly ServiceKey[]) => void): () => void {
    return this.#o.inner.on(event, fn);
  }

  status(): ProviderStatus & { readonly sharedView: SharedViewStatus } {
    const served = this.#served;
    return {
      ...this.#o.inner.status(),
      sharedView: {
        key: this.#o.view.key,
        role: this.#role,
        served: served === undefined ? null : { replicaId: served.replicaId, generation: served.generation, publishedAt: served.publishedAt },
        lastError: this.#lastError,
        refused: this.#refusedRecords,
      },
    };
  }

  #enqueue(task: () => Promise<void> | void): Promise<void> {
    return this.#transitions.run(async () => {
      try {
        await task();
      } catch (err) {
        this.#error(err);
      }
    });
  }

  async #leadershipChanged(leader: boolean): Promise<void> {
    if (this.#role === "starting") return; // start() reads isLeader() itself once the inner provider runs
    if (leader) {
      if (this.#role === "leading") return;
      this.#setRole("leading");
      this.#settled?.();
      await this.#o.inner.resumePolling();
      await this.#publish();
      return;
    }
    if (this.#role !== "leading") return;
    this.#o.inner.pausePolling();
    this.#setRole("following");
    // A successor's record that arrived while we still led.
    const latest = this.#latest;
    if (latest && latest.generation > (this.#served?.generation ?? 0)) this.#adopt(latest);
  }

  #received(record: PublishedRecord): void {
    // Records arrive once from follow()'s read and once from the watch; never go back.
    // A lower generation is newer only when the record was deleted and written anew since.
    if (this.#latest && record.generation < this.#latest.generation && record.publishedAt <= this.#latest.publishedAt) return;
    this.#latest = record;
    if (this.#role === "leading" || this.#role === "starting") return;
    if (this.#role === "fallback") {
      this.#o.inner.pausePolling();
      this.#setRole("following");
    }
    this.#adopt(record);
  }

  #adopt(record: PublishedRecord): void {
    this.#o.inner.adopt(record.services);
    const first = this.#served === undefined;
    this.#served = record;
    this.#lastError = null;
    this.#settled?.();
    const fields = { publishedBy: record.replicaId, generation: record.generation, publishedAt: record.publishedAt, services: record.services.length };
    if (first) this.#log.info(fields, "serving the view another replica published");
    else this.#log.debug(fields, "published view updated");
  }

  async #publish(): Promise<void> {
    if (this.#role !== "leading") return;
    const record = await this.#o.view.publish([...this.#o.inner.services()]);
    if (record.generation !== this.#served?.generation) this.#log.debug({ generation: record.generation, services: record.services.length }, "view published");
    this.#served = record;
    this.#lastError = null;
  }

  #setRole(role: SharingRole): void {
    if (role === this.#role) return;
    this.#log.info({ from: this.#role, to: role }, "view sharing role changed");
    this.#role = role;
  }

  /** A record that does not parse: refused, counted; the leader writes a good one over it. */
  #refused(err: MeshfedError): void {
    this.#refusedRecords++;
    this.#error(err);
    if (this.#role === "leading") void this.#enqueue(() => this.#publish());
  }

  #error(err: unknown): void {
    const code = errorCode(err);
    const message = err instanceof Error ? err.message : String(err);
    this.#lastError = { code, message, at: new Date().toISOString() };
    this.#o.metrics?.providerErrors.inc({ provider: this.id, code });
    this.#log.error({ err, code }, err instanceof MeshfedError ? message : "sharing the provider's view failed");
  }
}
