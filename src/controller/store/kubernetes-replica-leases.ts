/**
 * Which replicas of a Kubernetes store are alive, as one replica sees it
 * (docs/ha.md "Replicas on Kubernetes"). Kubernetes has no key leases, so
 * each replica that holds leased keys keeps a coordination.k8s.io/v1 Lease of
 * its own (kubernetes-replica-lease.ts renews it every third of its
 * duration); a leased key's Secret names the replica and that Lease's uid.
 *
 * Liveness is judged the way client-go's leader election judges a leader:
 * by when THIS process last saw the Lease's renewTime move forward, never by
 * comparing the holder's clock with ours. A Lease not seen renewed for
 * `leaseDurationSeconds` is expired; a deleted Lease (graceful close, or a
 * cleaner) is dead at once; a Lease recreated with another uid makes the
 * keys written under the old uid stale.
 */
import { createHash } from "node:crypto";
import { CoordinationV1Api, type KubeConfig, type V1Lease } from "@kubernetes/client-node";
import { errorMessage, MeshfedError } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import { httpStatusOf } from "../kube/errors.js";
import { SupervisedInformer } from "../kube/supervised-informer.js";

/** Labels a replica's Lease with the store it belongs to, so a reader lists exactly those. */
export const REPLICA_LEASE_LABEL = "meshfed.io/replica-lease";
/** How often expiry is checked: keys vanish at most this much later than the bound in docs/ha.md. */
export const EXPIRY_CHECK_MS = 250;

export interface ReplicaLeaseState {
  readonly uid: string;
  readonly alive: boolean;
}

interface Observed {
  uid: string;
  resourceVersion: string;
  renewMs: number;
  durationMs: number;
  /** Local time when this process saw renewTime move forward. */
  observedAt: number;
  alive: boolean;
}

/** The Lease name of `replicaId` in store `storeName`: readable when the id is a DNS label, hashed otherwise. */
export function replicaLeaseName(storeName: string, replicaId: string): string {
  const readable = `${storeName}-replica-${replicaId}`;
  if (/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(replicaId) && readable.length <= 253) return readable;
  return `${storeName}-replica-${createHash("sha256").update(replicaId).digest("hex").slice(0, 32)}`;
}

export interface ReplicaLeasesOptions {
  readonly kubeConfig: KubeConfig;
  readonly namespace: string;
  readonly storeName: string;
  readonly logger: Logger;
  /**
   * A replica's liveness changed. `expired`: its Lease ran out (not deleted):
   * the keys it left behind are garbage for someone to delete.
   */
  readonly onChange: (replicaId: string, expired: boolean) => void;
  readonly now?: () => number;
}

export class ReplicaLeases {
  readonly #o: ReplicaLeasesOptions;
  readonly #api: CoordinationV1Api;
  readonly #now: () => number;
  readonly #replicas = new Map<string, Observed>();
  readonly #lookups = new Map<string, Promise<ReplicaLeaseState | undefined>>();

  constructor(options: ReplicaLeasesOptions) {
    this.#o = options;
    this.#api = options.kubeConfig.makeApiClient(CoordinationV1Api);
    this.#now = options.now ?? Date.now;
  }

  /** Follows the store's replica Leases until `signal` aborts; resolves once the first list is in. */
  async start(signal: AbortSignal): Promise<void> {
    const { namespace, storeName } = this.#o;
    const labelSelector = `${REPLICA_LEASE_LABEL}=${storeName}`;
    const informer = new SupervisedInformer<V1Lease>({
      name: `leases (${labelSelector})`,
      kubeConfig: this.#o.kubeConfig,
      path: `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
      list: () => this.#api.listNamespacedLease({ namespace, labelSelector }),
      labelSelector,
      logger: this.#o.logger,
      onEvent: (type, lease) => (type === "delete" ? this.#forget(lease) : this.observe(lease)),
    });
    void informer.run(signal);
    const timer = setInterval(() => this.#expire(), EXPIRY_CHECK_MS);
    timer.unref();
    signal.addEventListener("abort", () => clearInterval(timer), { once: true });
    await informer.synced;
  }

  /** What is known of `replicaId`'s Lease; undefined when nothing is. */
  state(replicaId: string): ReplicaLeaseState | undefined {
    const o = this.#replicas.get(replicaId);
    return o === undefined ? undefined : { uid: o.uid, alive: o.alive };
  }

  /** Reads `replicaId`'s Lease from the API server (a key arrived before its Lease's event); undefined: there is none. */
  lookup(replicaId: string): Promise<ReplicaLeaseState | undefined> {
    let pending = this.#lookups.get(replicaId);
    if (pending === undefined) {
      pending = (async () => {
        try {
          const lease = await this.#api.readNamespacedLease({ name: replicaLeaseName(this.#o.storeName, replicaId), namespace: this.#o.namespace });
          if (lease.metadata?.labels?.[REPLICA_LEASE_LABEL] !== this.#o.storeName) return undefined;
          this.observe(lease);
          return this.state(replicaId);
        } catch (err) {
          const status = httpStatusOf(err);
          if (status === 404) return undefined;
          throw new MeshfedError("MESHFED_STORE_KUBE", `state store: read the lease of replica ${replicaId}: ${status === undefined ? errorMessage(err) : `HTTP ${status}`}`, { cause: err, details: { replicaId, ...(status === undefined ? {} : { status }) } });
        } finally {
          this.#lookups.delete(replicaId);
        }
      })();
      this.#lookups.set(replicaId, pending);
    }
    return pending;
  }

  /** Takes in a Lease as read or watched; only a renewTime later than the last one seen counts as a renewal. */
  observe(lease: V1Lease): void {
    const replicaId = lease.spec?.holderIdentity;
    const uid = lease.metadata?.uid;
    if (replicaId === undefined || replicaId === "" || uid === undefined) return;
    const renewMs = lease.spec?.renewTime === undefined ? 0 : new Date(lease.spec.renewTime).getTime();
    const known = this.#replicas.get(replicaId);
    if (known !== undefined && known.uid === uid && renewMs <= known.renewMs) return;
    const durationMs = (lease.spec?.leaseDurationSeconds ?? 0) * 1000;
    this.#replicas.set(replicaId, { uid, resourceVersion: lease.metadata?.resourceVersion ?? "", renewMs, durationMs, observedAt: this.#now(), alive: true });
    if (known === undefined || known.uid !== uid || !known.alive) this.#o.onChange(replicaId, false);
  }

  /**
   * Deletes `replicaId`'s Lease if it is still exactly the expired one seen
   * here (uid and resourceVersion as preconditions), so a replica that
   * renewed meanwhile, unseen by a lagging watch, keeps it. True when the
   * Lease is gone; only then may its keys be deleted.
   */
  async deleteExpired(replicaId: string): Promise<boolean> {
    const o = this.#replicas.get(replicaId);
    if (o === undefined || o.alive) return false;
    try {
      await this.#api.deleteNamespacedLease({
        name: replicaLeaseName(this.#o.storeName, replicaId), namespace: this.#o.namespace,
        body: { preconditions: { uid: o.uid, resourceVersion: o.resourceVersion } },
      });
    } catch (err) {
      const status = httpStatusOf(err);
      if (status === 409) return false;
      if (status !== 404) throw err;
    }
    return true;
  }

  #forget(lease: V1Lease): void {
    const replicaId = lease.spec?.holderIdentity;
    if (replicaId === undefined || this.#replicas.get(replicaId)?.uid !== lease.metadata?.uid) return;
    this.#replicas.delete(replicaId);
    this.#o.onChange(replicaId, false);
  }

  #expire(): void {
    const now = this.#now();
    for (const [replicaId, o] of this.#replicas) {
      if (!o.alive || now - o.observedAt <= o.durationMs) continue;
      o.alive = false;
      this.#o.logger.warn({ replicaId, code: "MESHFED_REPLICA_LEASE_EXPIRED", leaseDurationMs: o.durationMs }, "a replica's lease was not renewed in time; its leased keys are hidden and deleted");
      this.#o.onChange(replicaId, true);
    }
  }
}
