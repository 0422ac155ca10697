/**
 * This replica's leased keys on a Kubernetes store (docs/ha.md "Replicas on
 * Kubernetes"). Kubernetes has no key leases, so the replica keeps a Lease
 * of its own, `<store>-replica-<replicaId>`, created before its first leased
 * key and renewed every third of `ttlSeconds`; every leased key's Secret
 * names the replica and the Lease's uid. Readers hide a key whose Lease is
 * gone, expired or of another uid (kubernetes-replica-leases.ts) and delete
 * what an expired replica left behind.
 *
 * When the Lease vanished under us (a cleaner deleted it after we failed to
 * renew for `ttlSeconds`, or someone removed it), a new one is created and
 * every held key is written again under its uid, as the etcd store does
 * with a lost etcd lease. A Lease of our name found at start belongs to a
 * previous incarnation of this replica id: it is replaced, so the keys it
 * left become stale at once instead of living on under our renewals.
 *
 * All Lease and key writes go through one queue: a put racing a re-creation
 * would otherwise write a key under the old uid after the repair.
 */
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from "@kubernetes/client-node";
import { MeshfedError } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import { SerialQueue } from "../../common/serial-queue.js";
import { httpStatusOf } from "../kube/errors.js";
import { REPLICA_LEASE_LABEL, replicaLeaseName } from "./kubernetes-replica-leases.js";
import type { LeaseHolder } from "./kubernetes-state-secret.js";
import type { LeasedKeys } from "./types.js";

/** What the lease needs of the store: writing a key marked as held, and deleting one. */
export interface LeasedSecrets {
  writeLeased(key: string, value: Buffer, holder: LeaseHolder): Promise<void>;
  delete(key: string): Promise<void>;
}

export interface ReplicaLeaseOptions {
  readonly kubeConfig: KubeConfig;
  readonly namespace: string;
  readonly storeName: string;
  readonly replicaId: string;
  readonly ttlSeconds: number;
  readonly secrets: LeasedSecrets;
  readonly logger: Logger;
}

const CLOSE_TIMEOUT_MS = 2_000;

export class ReplicaLease implements LeasedKeys {
  readonly ttlSeconds: number;
  readonly #o: ReplicaLeaseOptions;
  readonly #api: CoordinationV1Api;
  readonly #name: string;
  readonly #queue = new SerialQueue();
  readonly #held = new Map<string, Buffer>();
  readonly #pendingDeletes = new Set<string>();
  /** A put or delete failed (API server away): the next successful renewal settles every key. */
  #dirty = false;
  #lease: V1Lease | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: ReplicaLeaseOptions) {
    this.#o = options;
    this.ttlSeconds = options.ttlSeconds;
    this.#api = options.kubeConfig.makeApiClient(CoordinationV1Api);
    this.#name = replicaLeaseName(options.storeName, options.replicaId);
  }

  put(key: string, value: Uint8Array | string): Promise<void> {
    const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : Buffer.from(value);
    return this.#queue.run(async () => {
      this.#checkOpen();
      this.#held.set(key, bytes);
      this.#pendingDeletes.delete(key);
      try {
        const lease = this.#lease ?? (await this.#acquire());
        await this.#o.secrets.writeLeased(key, bytes, this.#holder(lease));
      } catch (err) {
        this.#dirty = true; // written again after the next successful renewal
        throw err;
      }
    });
  }

  delete(key: string): Promise<void> {
    return this.#queue.run(async () => {
      this.#held.delete(key);
      try {
        await this.#o.secrets.delete(key);
      } catch (err) {
        this.#pendingDeletes.add(key);
        this.#dirty = true;
        throw err;
      }
    });
  }

  /** Graceful: deletes every held key and the Lease, so the other replicas drop them now, not after the TTL. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    const release = this.#queue.run(async () => {
      for (const key of this.#held.keys()) await this.#o.secrets.delete(key);
      this.#held.clear();
      const uid = this.#lease?.metadata?.uid;
      if (uid !== undefined) await this.#deleteLease(uid).catch((err: unknown) => this.#o.logger.warn({ err, code: "MESHFED_REPLICA_LEASE_RELEASE_FAILED" }, "could not delete this replica's lease; it expires by itself"));
    });
    // Bounded: with the API server unreachable the keys expire with the Lease instead.
    await Promise.race([release.catch((err: unknown) => this.#o.logger.warn({ err }, "could not delete this replica's leased keys; they expire with its lease")), new Promise((resolve) => setTimeout(resolve, CLOSE_TIMEOUT_MS).unref())]);
  }

  /** Abrupt, as a crash: stops renewing and deletes nothing; the keys expire for the others after the TTL. */
  destroy(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  #checkOpen(): void {
    if (this.#closed) throw new MeshfedError("MESHFED_STORE_CLOSED", "the state store is closed");
  }

  #holder(lease: V1Lease): LeaseHolder {
    return { replicaId: this.#o.replicaId, uid: lease.metadata?.uid ?? "" };
  }

  /** Creates this replica's Lease, replacing one a previous incarnation left; starts renewing. */
  async #acquire(): Promise<V1Lease> {
    const { namespace } = this.#o;
    const now = new V1MicroTime(Date.now());
    const body: V1Lease = {
      apiVersion: "coordination.k8s.io/v1", kind: "Lease",
      metadata: { name: this.#name, namespace, labels: { [REPLICA_LEASE_LABEL]: this.#o.storeName, "app.kubernetes.io/managed-by": "meshfed" } },
      spec: { holderIdentity: this.#o.replicaId, leaseDurationSeconds: this.ttlSeconds, acquireTime: now, renewTime: now },
    };
    let lease: V1Lease;
    try {
      lease = await this.#api.createNamespacedLease({ namespace, body });
    } catch (err) {
      if (httpStatusOf(err) !== 409) throw err;
      const old = await this.#api.readNamespacedLease({ name: this.#name, namespace });
      this.#o.logger.info({ replicaId: this.#o.replicaId, lease: this.#name }, "replacing the lease of a previous incarnation of this replica id; its keys become stale");
      await this.#deleteLease(old.metadata?.uid ?? "");
      lease = await this.#api.createNamespacedLease({ namespace, body });
    }
    this.#lease = lease;
    this.#schedule();
    return lease;
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => void this.#queue.run(() => this.#renew()), Math.max(100, (this.ttlSeconds * 1000) / 3));
    this.#timer.unref();
  }

  async #renew(): Promise<void> {
    if (this.#closed || this.#lease === undefined) return;
    const { namespace } = this.#o;
    try {
      const body: V1Lease = { ...this.#lease, spec: { ...this.#lease.spec, renewTime: new V1MicroTime(Date.now()) } };
      this.#lease = await this.#api.replaceNamespacedLease({ name: this.#name, namespace, body });
      if (this.#dirty) await this.#settle(this.#lease);
    } catch (err) {
      const status = httpStatusOf(err);
      if (status === 404 || status === 409) {
        // Deleted by a cleaner (we were out of touch for longer than the TTL) or replaced: start over.
        this.#o.logger.warn({ code: "MESHFED_STORE_LEASE_LOST", keys: this.#held.size, status }, "this replica's lease is gone; writing its leased keys again under a new one");
        this.#lease = undefined;
        await this.#repair();
        return;
      }
      this.#o.logger.warn({ err, code: "MESHFED_REPLICA_LEASE_RENEW_FAILED" }, "cannot renew this replica's lease; retrying");
    }
    this.#schedule();
  }

  /** Every held key written and every failed delete made; `#dirty` stays set until one pass succeeds. */
  async #settle(lease: V1Lease): Promise<void> {
    for (const key of [...this.#pendingDeletes]) {
      await this.#o.secrets.delete(key);
      this.#pendingDeletes.delete(key);
    }
    for (const [key, value] of this.#held) await this.#o.secrets.writeLeased(key, value, this.#holder(lease));
    this.#dirty = false;
  }

  /** A new Lease and every held key under it; retried on the next tick when the API server is away. */
  async #repair(): Promise<void> {
    try {
      await this.#settle(this.#lease ?? (await this.#acquire()));
    } catch (err) {
      this.#o.logger.warn({ err, code: "MESHFED_REPLICA_LEASE_RENEW_FAILED" }, "cannot write this replica's leased keys yet; retrying");
      this.#lease = undefined;
      clearTimeout(this.#timer);
      if (!this.#closed) {
        this.#timer = setTimeout(() => void this.#queue.run(() => this.#repair()), Math.max(100, (this.ttlSeconds * 1000) / 3));
        this.#timer.unref();
      }
    }
  }

  async #deleteLease(uid: string): Promise<void> {
    try {
      await this.#api.deleteNamespacedLease({ name: this.#name, namespace: this.#o.namespace, body: { preconditions: { uid } } });
    } catch (err) {
      if (httpStatusOf(err) !== 404) throw err;
    }
  }
}
