/**
 * Follows every replica's writes to a Kubernetes store (docs/ha.md): an
 * informer (list, then watch from the list's resourceVersion) on the
 * store's labelled Secrets, resumed from the last resourceVersion after a
 * broken stream, relisted after 410 Gone (supervised-informer.ts).
 *
 * What watchers are told is kept apart from what the informer reports: a
 * key is reported when its resourceVersion differs from the one last
 * reported and when it vanishes, so a relist (which replays the whole
 * collection) or a replayed event reports nothing twice, and a relist that
 * no longer finds a key reports its deletion. A leased key is reported only
 * while its replica's Lease is alive (kubernetes-replica-leases.ts): an
 * expiring Lease reports its keys deleted before anyone deletes the Secrets.
 *
 * Deleting what expired replicas left behind is every replica's job; each
 * delete carries the resourceVersion seen here as a precondition, so a
 * replica whose watch lags can never delete a key or Lease written since.
 */
import type { CoreV1Api, KubeConfig, V1Secret } from "@kubernetes/client-node";
import { Listeners } from "../../common/emitter.js";
import type { Logger } from "../../common/logger.js";
import { httpStatusOf } from "../kube/errors.js";
import { SupervisedInformer } from "../kube/supervised-informer.js";
import type { ReplicaLeases, ReplicaLeaseState } from "./kubernetes-replica-leases.js";
import { directlyUnder, parseStateSecret, STATE_LABEL, stateSecretName, type StateEntry } from "./kubernetes-state-secret.js";
import type { StoreChange } from "./types.js";

export type Visibility = "visible" | "hidden" | "stale";

export interface SecretFeedOptions {
  readonly kubeConfig: KubeConfig;
  readonly api: CoreV1Api;
  readonly namespace: string;
  readonly storeName: string;
  readonly leases: ReplicaLeases;
  readonly logger: Logger;
  /** Every resourceVersion the watch sees (undefined: deleted), so this replica's next write carries it. */
  readonly onVersion: (key: string, resourceVersion: string, deleted: boolean) => void;
}

export class SecretFeed {
  readonly #o: SecretFeedOptions;
  /** Every state Secret the informer holds, leased or not, visible or not. */
  readonly #cache = new Map<string, StateEntry>();
  /** key -> resourceVersion last reported to watchers as present. */
  readonly #told = new Map<string, string>();
  readonly #changes = new Listeners<StoreChange>();
  readonly #lookups = new Set<string>();
  readonly #tasks = new Set<Promise<void>>();

  constructor(options: SecretFeedOptions) {
    this.#o = options;
  }

  /** Runs until `signal` aborts; resolves once the Leases and then the Secrets are listed and watched. */
  async start(signal: AbortSignal): Promise<void> {
    const { namespace, storeName, api } = this.#o;
    await this.#o.leases.start(signal);
    const labelSelector = `${STATE_LABEL}=${storeName}`;
    const informer = new SupervisedInformer<V1Secret>({
      name: `secrets (${labelSelector})`,
      kubeConfig: this.#o.kubeConfig,
      path: `/api/v1/namespaces/${namespace}/secrets`,
      list: () => api.listNamespacedSecret({ namespace, labelSelector }),
      labelSelector,
      logger: this.#o.logger,
      onEvent: (type, secret) => this.#onSecret(secret, type === "delete"),
    });
    void informer.run(signal);
    await informer.synced;
  }

  /** Reports later changes of keys directly under `prefix/`. */
  subscribe(prefix: string, onChange: (change: StoreChange) => void): () => void {
    return this.#changes.add((change) => {
      if (directlyUnder(prefix, change.key)) onChange(change);
    });
  }

  /** A replica's Lease appeared, vanished, was replaced or expired: its keys' visibility follows. */
  onReplicaChange(replicaId: string, expired: boolean): void {
    for (const entry of this.#cache.values()) if (entry.holder?.replicaId === replicaId) this.#reconcile(entry.key);
    if (expired) this.#background(this.#deleteExpired(replicaId));
  }

  /**
   * Whether readers see `entry`; a key whose replica is not known yet (its
   * Secret's event came before its Lease's) has that Lease read first. A
   * "stale" key outlived its Lease and is deleted here.
   */
  async judge(entry: StateEntry, lookups = new Map<string, Promise<ReplicaLeaseState | undefined>>()): Promise<Visibility> {
    const known = this.#known(entry);
    if (known !== undefined) return known;
    const replicaId = entry.holder!.replicaId;
    let lookup = lookups.get(replicaId);
    if (lookup === undefined) lookups.set(replicaId, (lookup = this.#o.leases.lookup(replicaId)));
    const lease = await lookup;
    const verdict: Visibility = lease === undefined || lease.uid !== entry.holder!.uid ? "stale" : lease.alive ? "visible" : "hidden";
    if (verdict === "stale") this.#background(this.#deleteIfUnchanged(entry));
    return verdict;
  }

  /** Waits for the deletions this feed started. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#tasks]);
  }

  /** Visibility from what is known without asking the API server; undefined when the Lease must be read. */
  #known(entry: StateEntry): Visibility | undefined {
    if (entry.holder === undefined) return "visible";
    const lease = this.#o.leases.state(entry.holder.replicaId);
    if (lease === undefined || lease.uid !== entry.holder.uid) return undefined;
    return lease.alive ? "visible" : "hidden";
  }

  #onSecret(secret: V1Secret, deleted: boolean): void {
    const entry = parseStateSecret(this.#o.storeName, secret);
    if (entry === undefined) return;
    this.#o.onVersion(entry.key, entry.resourceVersion, deleted);
    if (deleted) this.#cache.delete(entry.key);
    else this.#cache.set(entry.key, entry);
    this.#reconcile(entry.key);
  }

  /** Tells watchers the difference between what they were told of `key` and what they should see now. */
  #reconcile(key: string): void {
    const entry = this.#cache.get(key);
    const verdict = entry === undefined ? "hidden" : this.#known(entry);
    if (verdict === undefined) {
      this.#hide(key);
      this.#lookUp(entry!.holder!.replicaId);
      return;
    }
    if (verdict !== "visible") return this.#hide(key);
    if (this.#told.get(key) === entry!.resourceVersion) return;
    this.#told.set(key, entry!.resourceVersion);
    this.#changes.emit({ key, value: entry!.value });
  }

  #hide(key: string): void {
    if (this.#told.delete(key)) this.#changes.emit({ key, value: undefined });
  }

  /** Reads a replica's Lease once (however many of its keys wait for it), then settles those keys. */
  #lookUp(replicaId: string): void {
    if (this.#lookups.has(replicaId)) return;
    this.#lookups.add(replicaId);
    this.#background((async () => {
      try {
        await this.#o.leases.lookup(replicaId);
      } finally {
        this.#lookups.delete(replicaId);
      }
      for (const entry of [...this.#cache.values()]) {
        if (entry.holder?.replicaId !== replicaId) continue;
        // Still unknown after reading the Lease: no Lease of its uid exists, the key outlived it.
        if (this.#known(entry) === undefined) await this.#deleteIfUnchanged(entry);
        else this.#reconcile(entry.key);
      }
    })());
  }

  async #deleteExpired(replicaId: string): Promise<void> {
    const lease = this.#o.leases.state(replicaId);
    if (lease === undefined || !(await this.#o.leases.deleteExpired(replicaId))) return;
    this.#o.logger.info({ replicaId }, "deleted the lease and leased keys of an expired replica");
    for (const entry of [...this.#cache.values()]) {
      if (entry.holder?.replicaId === replicaId && entry.holder.uid === lease.uid) await this.#deleteIfUnchanged(entry);
    }
  }

  async #deleteIfUnchanged(entry: StateEntry): Promise<void> {
    try {
      await this.#o.api.deleteNamespacedSecret({
        name: stateSecretName(this.#o.storeName, entry.key), namespace: this.#o.namespace,
        body: { preconditions: { resourceVersion: entry.resourceVersion } },
      });
    } catch (err) {
      const status = httpStatusOf(err);
      if (status !== 404 && status !== 409) throw err;
    }
  }

  #background(task: Promise<void>): void {
    const tracked = task.catch((err: unknown) => this.#o.logger.warn({ err, code: "MESHFED_STORE_CLEANUP_FAILED" }, "could not settle the keys of another replica; trying again on its next change"));
    this.#tasks.add(tracked);
    void tracked.finally(() => this.#tasks.delete(tracked));
  }
}
