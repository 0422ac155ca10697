/**
 * A StateStore on Kubernetes Secrets (DESIGN.md §4 "HA: in a cluster the
 * shared state lives in Kubernetes"): one Secret per key in the controller's
 * namespace (layout: kubernetes-state-secret.ts), shared by every replica
 * (docs/ha.md "Replicas on Kubernetes").
 *
 * Optimistic concurrency: the store remembers the resourceVersion it last
 * read, wrote or saw on its watch for each key, and every write carries it.
 * If another replica changed the key in between, the API server answers 409
 * and put() fails with MESHFED_STORE_CONFLICT instead of overwriting a write
 * it never saw; the caller reads again. A put of a key this store has never
 * seen is a create, and an existing object is the same conflict.
 * create() is a plain create (409 AlreadyExists: false); compareAndPut()
 * reads the Secret, compares the bytes and replaces it carrying the
 * resourceVersion it read, so a writer in between makes it answer false.
 *
 * watch() follows every replica's writes through one informer per store
 * (kubernetes-secret-feed.ts), started by the first watch. With a replica
 * id the store also has leased keys (kubernetes-replica-lease.ts). Values
 * are limited to ~1 MiB per Secret.
 */
import { CoreV1Api, type KubeConfig, type V1Secret } from "@kubernetes/client-node";
import { errorMessage, MeshfedError } from "../../common/errors.js";
import { silentLogger, type Logger } from "../../common/logger.js";
import { httpStatusOf } from "../kube/errors.js";
import { ReplicaLease } from "./kubernetes-replica-lease.js";
import { ReplicaLeases, type ReplicaLeaseState } from "./kubernetes-replica-leases.js";
import { SecretFeed } from "./kubernetes-secret-feed.js";
import {
  checkKey, directlyUnder, parseStateSecret, STATE_LABEL, stateSecretBody, stateSecretName, versionOrder, type LeaseHolder,
} from "./kubernetes-state-secret.js";
import { sameBytes, type PutOptions, type StateStore, type StoreChange } from "./types.js";

export { STATE_KEY_ANNOTATION, STATE_LABEL } from "./kubernetes-state-secret.js";

export const STORE_ERROR = {
  badKey: "MESHFED_STORE_BAD_KEY",
  conflict: "MESHFED_STORE_CONFLICT",
  api: "MESHFED_STORE_KUBE",
  closed: "MESHFED_STORE_CLOSED",
} as const;

/**
 * What this store asks of the API server, in the controller's namespace
 * (config/kubernetes/rbac.yaml grants exactly this): its Secrets, followed
 * with list+watch, and the replicas' Leases that keep leased keys alive.
 */
export const STORE_API_USE = [
  { group: "", resource: "secrets", verbs: ["get", "list", "watch", "create", "update", "delete"] },
  { group: "coordination.k8s.io", resource: "leases", verbs: ["get", "list", "watch", "create", "update", "delete"] },
] as const;

export interface KubernetesStoreOptions {
  readonly kubeConfig: KubeConfig;
  readonly namespace: string;
  /** Tells apart several stores in one namespace; default "meshfed". */
  readonly name?: string;
  /** This replica, for leased keys; without it the store has none (`leased` undefined). */
  readonly replica?: { readonly replicaId: string; readonly leaseTtlSeconds: number };
  readonly logger?: Logger;
}

export class KubernetesStore implements StateStore {
  readonly kind = "kubernetes";
  readonly leased: ReplicaLease | undefined;
  readonly #api: CoreV1Api;
  readonly #namespace: string;
  readonly #name: string;
  readonly #log: Logger;
  /** key -> resourceVersion last seen by this store (read, written or watched). */
  readonly #versions = new Map<string, string>();
  readonly #feed: SecretFeed;
  readonly #stop = new AbortController();
  /** Where the store lives; leader election (ha/start-leadership.ts) keeps its Lease there too. */
  readonly cluster: { readonly kubeConfig: KubeConfig; readonly namespace: string };
  #following: Promise<void> | undefined;

  constructor(options: KubernetesStoreOptions) {
    this.#api = options.kubeConfig.makeApiClient(CoreV1Api);
    this.#namespace = options.namespace;
    this.cluster = { kubeConfig: options.kubeConfig, namespace: options.namespace };
    this.#name = options.name ?? "meshfed";
    this.#log = (options.logger ?? silentLogger()).child({ component: "store" });
    const leases = new ReplicaLeases({
      kubeConfig: options.kubeConfig, namespace: this.#namespace, storeName: this.#name, logger: this.#log,
      onChange: (replicaId, expired) => this.#feed.onReplicaChange(replicaId, expired),
    });
    this.#feed = new SecretFeed({
      kubeConfig: options.kubeConfig, api: this.#api, namespace: this.#namespace, storeName: this.#name, leases, logger: this.#log,
      onVersion: (key, version, deleted) => this.#noteVersion(key, version, deleted),
    });
    this.leased = options.replica === undefined ? undefined : new ReplicaLease({
      kubeConfig: options.kubeConfig, namespace: this.#namespace, storeName: this.#name, replicaId: options.replica.replicaId,
      ttlSeconds: options.replica.leaseTtlSeconds, logger: this.#log,
      secrets: { writeLeased: (key, value, holder) => this.#writeLeased(key, value, holder), delete: (key) => this.delete(key) },
    });
  }

  /** The Secret holding `key`. */
  secretName(key: string): string {
    return stateSecretName(this.#name, key);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const secret = await this.#read(key);
    const entry = secret === undefined ? undefined : parseStateSecret(this.#name, secret);
    if (entry === undefined) return undefined;
    return (await this.#feed.judge(entry)) === "visible" ? entry.value : undefined;
  }

  async put(key: string, value: Uint8Array | string, _options: PutOptions = {}): Promise<void> {
    // Every value is a Secret, so `secret` changes nothing here.
    await this.#write(key, toBuffer(value), this.#versions.get(key));
  }

  async create(key: string, value: Uint8Array | string, _options: PutOptions = {}): Promise<boolean> {
    return this.#writeUnlessConflict(key, toBuffer(value), undefined);
  }

  async compareAndPut(key: string, expected: Uint8Array, value: Uint8Array | string, _options: PutOptions = {}): Promise<boolean> {
    const current = await this.get(key);
    const version = this.#versions.get(key);
    if (current === undefined || version === undefined || !sameBytes(current, expected)) return false;
    return this.#writeUnlessConflict(key, toBuffer(value), version);
  }

  async delete(key: string): Promise<void> {
    const name = this.secretName(key);
    try {
      await this.#api.deleteNamespacedSecret({ name, namespace: this.#namespace });
    } catch (err) {
      if (httpStatusOf(err) !== 404) throw apiError(`delete ${key}`, err);
    }
    this.#versions.delete(key);
  }

  async list(prefix: string): Promise<Array<{ key: string; value: Uint8Array }>> {
    checkKey(prefix);
    let items: V1Secret[];
    try {
      items = (await this.#api.listNamespacedSecret({ namespace: this.#namespace, labelSelector: `${STATE_LABEL}=${this.#name}` })).items;
    } catch (err) {
      throw apiError(`list ${prefix}/`, err);
    }
    const out: Array<{ key: string; value: Uint8Array }> = [];
    const lookups = new Map<string, Promise<ReplicaLeaseState | undefined>>();
    for (const secret of items) {
      const entry = parseStateSecret(this.#name, secret);
      if (entry === undefined || !directlyUnder(prefix, entry.key)) continue;
      this.#noteVersion(entry.key, entry.resourceVersion, false);
      if ((await this.#feed.judge(entry, lookups)) === "visible") out.push({ key: entry.key, value: entry.value });
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async watch(prefix: string, onChange: (change: StoreChange) => void, signal: AbortSignal): Promise<void> {
    checkKey(prefix);
    if (signal.aborted) return;
    await this.#follow();
    if (signal.aborted) return;
    const remove = this.#feed.subscribe(prefix, onChange);
    signal.addEventListener("abort", remove, { once: true });
  }

  /** Graceful: this replica's leased keys and Lease go at once; then the watch stops. */
  async close(): Promise<void> {
    await this.leased?.close();
    this.#stop.abort();
    await this.#feed.settled();
  }

  /** Abrupt, as a crash (tests): the watch stops and leased keys are left to expire. */
  destroy(): void {
    this.leased?.destroy();
    this.#stop.abort();
  }

  /** Starts the shared informer once; every watch() waits for its first list. */
  #follow(): Promise<void> {
    this.#following ??= new Promise<void>((resolve, reject) => {
      const signal = this.#stop.signal;
      const stopped = () => reject(new MeshfedError(STORE_ERROR.closed, "the state store closed before its watch was in place"));
      if (signal.aborted) return stopped();
      signal.addEventListener("abort", stopped, { once: true });
      void this.#feed.start(signal).then(() => {
        signal.removeEventListener("abort", stopped);
        resolve();
      });
    });
    return this.#following;
  }

  async #read(key: string): Promise<V1Secret | undefined> {
    const name = this.secretName(key);
    try {
      const secret = await this.#api.readNamespacedSecret({ name, namespace: this.#namespace });
      this.#versions.set(key, secret.metadata?.resourceVersion ?? "");
      return secret;
    } catch (err) {
      if (httpStatusOf(err) === 404) {
        this.#versions.delete(key);
        return undefined;
      }
      throw apiError(`get ${key}`, err);
    }
  }

  /** #write, answering false where another writer came first (the conditional calls' contract). */
  async #writeUnlessConflict(key: string, value: Buffer, known: string | undefined): Promise<boolean> {
    try {
      await this.#write(key, value, known);
      return true;
    } catch (err) {
      if (err instanceof MeshfedError && err.code === STORE_ERROR.conflict) return false;
      throw err;
    }
  }

  /**
   * A leased key is written only by the replica holding it, so a conflict
   * means our resourceVersion is out of date (a cleaner deleted the key, or
   * a write of ours is still on its way through the watch): read, write again.
   */
  async #writeLeased(key: string, value: Buffer, holder: LeaseHolder): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#write(key, value, this.#versions.get(key), holder);
      } catch (err) {
        const stale = err instanceof MeshfedError && (err.code === STORE_ERROR.conflict || err.details.status === 404);
        if (!stale || attempt === 3) throw err;
        await this.#read(key);
      }
    }
  }

  /** Creates the Secret (no version) or replaces it carrying `known`; 409 becomes MESHFED_STORE_CONFLICT. */
  async #write(key: string, value: Buffer, known: string | undefined, holder?: LeaseHolder): Promise<void> {
    const body = stateSecretBody({ storeName: this.#name, namespace: this.#namespace, key, value, ...(known === undefined ? {} : { resourceVersion: known }), ...(holder === undefined ? {} : { holder }) });
    const name = body.metadata!.name!;
    try {
      const written = known === undefined
        ? await this.#api.createNamespacedSecret({ namespace: this.#namespace, body })
        : await this.#api.replaceNamespacedSecret({ name, namespace: this.#namespace, body });
      this.#noteVersion(key, written.metadata?.resourceVersion ?? "", false);
    } catch (err) {
      const status = httpStatusOf(err);
      if (status === 409) {
        this.#versions.delete(key);
        throw new MeshfedError(STORE_ERROR.conflict, `state key ${key} was changed by another writer since this controller last read it; read it again`, { cause: err, details: { key, secret: name } });
      }
      // Deleted by someone else under us: our version is void; the caller reads again.
      if (status === 404) this.#versions.delete(key);
      throw apiError(`put ${key}`, err);
    }
  }

  /**
   * Keeps the newest resourceVersion: a watch event may arrive after this
   * replica's own later write. A deletion found by a relist carries the
   * last version seen, not a newer one: it still voids that version.
   */
  #noteVersion(key: string, version: string, deleted: boolean): void {
    const order = versionOrder(version, this.#versions.get(key));
    if (order < 0 || (order === 0 && !deleted)) return;
    if (deleted) this.#versions.delete(key);
    else this.#versions.set(key, version);
  }
}

function toBuffer(value: Uint8Array | string): Buffer {
  return typeof value === "string" ? Buffer.from(value, "utf8") : Buffer.from(value);
}

function apiError(what: string, err: unknown): MeshfedError {
  const status = httpStatusOf(err);
  return new MeshfedError(STORE_ERROR.api, `state store ${what}: ${status === undefined ? errorMessage(err) : `HTTP ${status}`}`, { cause: err, details: status === undefined ? {} : { status } });
}
