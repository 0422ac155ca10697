/**
 * Leader election on a Kubernetes Lease (coordination.k8s.io/v1), for
 * replicas that keep their state in the cluster (docs/ha.md). The same rules
 * as client-go's leader election: the holder renews `renewTime` every third
 * of the lease; anyone may take a lease it has not seen renewed for
 * `leaseDurationSeconds` (measured on its own clock); every write carries the resourceVersion it read, so
 * of two replicas racing for an expired lease the API server lets exactly one
 * through (409 for the other). A graceful close releases the lease (empty
 * holder), so a successor takes over at once instead of after the lease.
 *
 * Selected by start-leadership.ts for `store: kubernetes`.
 */
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from "@kubernetes/client-node";
import { Listeners } from "../../common/emitter.js";
import type { Logger } from "../../common/logger.js";
import { httpStatusOf } from "../kube/errors.js";
import type { Leadership } from "./leadership.js";

/** What this election asks of the API server, in the controller's namespace. */
export const LEASE_API_USE = [{ group: "coordination.k8s.io", resource: "leases", verbs: ["get", "create", "update"] }] as const;

export interface LeaseLeadershipOptions {
  readonly kubeConfig: KubeConfig;
  readonly namespace: string;
  /** The Lease's name; default "meshfed-leader". */
  readonly name?: string;
  readonly replicaId: string;
  readonly ttlSeconds: number;
  readonly logger: Logger;
  readonly now?: () => Date;
}

export class LeaseLeadership implements Leadership {
  readonly replicaId: string;
  readonly #api: CoordinationV1Api;
  readonly #o: LeaseLeadershipOptions;
  readonly #name: string;
  readonly #log: Logger;
  readonly #listeners = new Listeners<boolean>();
  readonly #now: () => Date;
  #leader = false;
  #holder: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #round: Promise<void> = Promise.resolve();
  /** When this replica last wrote the lease as its holder. */
  #lastRenew: Date | undefined;
  /** The holder and renewTime last read, and when (our clock) they were first seen. */
  #observed: { record: string; at: number } | undefined;

  private constructor(options: LeaseLeadershipOptions) {
    this.#o = options;
    this.replicaId = options.replicaId;
    this.#api = options.kubeConfig.makeApiClient(CoordinationV1Api);
    this.#name = options.name ?? "meshfed-leader";
    this.#log = options.logger.child({ component: "leadership" });
    this.#now = options.now ?? (() => new Date());
  }

  /** Resolves after the first round: this replica leads, or knows who does. */
  static async start(options: LeaseLeadershipOptions): Promise<LeaseLeadership> {
    const leadership = new LeaseLeadership(options);
    await leadership.#tick();
    return leadership;
  }

  isLeader(): boolean {
    return this.#leader;
  }

  leaderId(): string | undefined {
    return this.#leader ? this.replicaId : this.#holder;
  }

  on(_event: "change", fn: (leader: boolean) => void): () => void {
    return this.#listeners.add(fn);
  }

  /**
   * Stops campaigning. With `release` (the default) a held lease is handed
   * back at once; without it the lease runs out by itself, as after a crash.
   */
  async close(options: { release?: boolean } = {}): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#round;
    if (this.#leader && options.release !== false) {
      try {
        const lease = await this.#api.readNamespacedLease({ name: this.#name, namespace: this.#o.namespace });
        if (lease.spec?.holderIdentity === this.replicaId) {
          await this.#api.replaceNamespacedLease({ name: this.#name, namespace: this.#o.namespace, body: { ...lease, spec: { ...lease.spec, holderIdentity: "", leaseDurationSeconds: 1 } } });
        }
      } catch (err) {
        this.#log.warn({ err, code: "MESHFED_LEASE_RELEASE_FAILED" }, "could not release the leader lease; it runs out by itself");
      }
    }
    this.#set(false, undefined);
  }

  #tick(): Promise<void> {
    this.#round = this.#attempt()
      .catch((err: unknown) => {
        // Unreachable API server: a leader that cannot renew must assume it lost.
        this.#log.warn({ err, code: "MESHFED_LEASE_UNAVAILABLE" }, "cannot read or write the leader lease; retrying");
        if (this.#leader && this.#expired(this.#lastRenew)) this.#set(false, undefined);
      })
      .finally(() => {
        if (!this.#closed) this.#timer = setTimeout(() => void this.#tick(), Math.max(100, (this.#o.ttlSeconds * 1000) / 3));
      });
    return this.#round;
  }

  /** One round; a lost race (409) reads the lease once more to learn the winner. */
  async #attempt(retried = false): Promise<void> {
    const { namespace } = this.#o;
    let lease: V1Lease | undefined;
    try {
      lease = await this.#api.readNamespacedLease({ name: this.#name, namespace });
    } catch (err) {
      if (httpStatusOf(err) !== 404) throw err;
    }
    const now = this.#now();
    // MicroTime: the API server stores microseconds, and the client only serialises them from this class.
    const spec = { holderIdentity: this.replicaId, leaseDurationSeconds: this.#o.ttlSeconds, renewTime: new V1MicroTime(now.getTime()) };
    if (lease === undefined) {
      const created = await this.#write(() => this.#api.createNamespacedLease({ namespace, body: { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name: this.#name, namespace }, spec: { ...spec, acquireTime: spec.renewTime, leaseTransitions: 0 } } }));
      if (created) this.#won(now);
      else if (!retried) await this.#attempt(true);
      return;
    }
    const holder = lease.spec?.holderIdentity ?? "";
    const duration = (lease.spec?.leaseDurationSeconds ?? this.#o.ttlSeconds) * 1000;
    const free = holder === "" || lease.spec?.renewTime === undefined || now.getTime() - this.#sawRenewal(holder, lease.spec.renewTime, now) > duration;
    if (holder !== this.replicaId && !free) {
      this.#set(false, holder);
      return;
    }
    const transitions = (lease.spec?.leaseTransitions ?? 0) + (holder === this.replicaId ? 0 : 1);
    const body: V1Lease = {
      ...lease,
      spec: { ...lease.spec, ...spec, leaseTransitions: transitions, ...(holder === this.replicaId ? {} : { acquireTime: spec.renewTime }) },
    };
    if (await this.#write(() => this.#api.replaceNamespacedLease({ name: this.#name, namespace, body }))) this.#won(now);
    else if (!retried) await this.#attempt(true);
    else this.#set(false, undefined);
  }

  /** True when written; false when another replica's write came first (409). */
  async #write(call: () => Promise<unknown>): Promise<boolean> {
    try {
      await call();
      return true;
    } catch (err) {
      if (httpStatusOf(err) === 409) return false;
      throw err;
    }
  }

  /**
   * When this replica first saw the holder's current renewal. As client-go
   * does, expiry is measured on our clock from that moment, never by
   * comparing the holder's renewTime with our clock: nodes' clocks differ.
   * A lease first seen now counts as renewed now.
   */
  #sawRenewal(holder: string, renewTime: Date | string, now: Date): number {
    const record = `${holder}|${new Date(renewTime).getTime()}`;
    if (this.#observed?.record !== record) this.#observed = { record, at: now.getTime() };
    return this.#observed.at;
  }

  #won(at: Date): void {
    this.#lastRenew = at;
    this.#set(true, this.replicaId);
  }

  #expired(since: Date | undefined): boolean {
    return since === undefined || this.#now().getTime() - since.getTime() > this.#o.ttlSeconds * 1000;
  }

  #set(leader: boolean, holder: string | undefined): void {
    this.#holder = holder;
    if (leader === this.#leader) return;
    this.#leader = leader;
    this.#log.info({ replicaId: this.replicaId, leader }, leader ? "acquired the leader lease" : "not the leader");
    this.#listeners.emit(leader);
  }
}
