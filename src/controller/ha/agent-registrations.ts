/**
 * Agent registrations shared between replicas (DESIGN.md §4, docs/ha.md).
 * What a proxy announced on its stream to this replica is written under this
 * replica's lease at `agent-registrations/<proxyId>.<replicaId>`; every
 * replica watches the prefix and feeds other replicas' registrations into
 * its AgentsProvider, so an endpoint announced at replica A appears in B's
 * catalog. When A dies its lease expires and its registrations vanish
 * everywhere without anyone cleaning up.
 *
 * A registration also carries what the proxies API and the participants'
 * "connected" leg need about the stream (certificate serial, host addresses,
 * versions, connect time), so every replica lists every replica's proxies
 * (replica-proxies.ts). It is written once per Hello and only when its
 * content changed: config versions and ACKs stay local to the replica
 * holding the stream, or every config push would cost one store write per
 * agent (1,000 writes for one change seen by 1,000 agents).
 *
 * Fields added after the first version are optional, and unknown fields are
 * ignored, so replicas of neighbouring versions read each other's records.
 */
import { z } from "zod";
import type { Logger } from "../../common/logger.js";
import { SerialQueue } from "../../common/serial-queue.js";
import { parseServiceKey } from "../../common/service.js";
import { APP_PROTOCOLS } from "../../common/app-protocol.js";
import { isServiceAccountName } from "../../common/declared-protocol.js";
import type { AgentsProvider, LocalAnnouncement } from "../providers/agents/provider.js";
import { declared } from "../providers/endpoint-lists.js";
import type { LeasedKeys, StateStore } from "../store/types.js";

export const REGISTRATIONS_PREFIX = "agent-registrations";

const registrationSchema = z.object({
  proxyId: z.string().regex(/^[0-9a-f-]{36}$/),
  replicaId: z.string().min(1),
  service: z.string().min(3),
  endpoints: z.array(z.object({
    ip: z.string().min(1), port: z.number().int().min(1).max(65535),
    // Absent in older replicas' records (= not declared).
    protocol: z.enum(APP_PROTOCOLS).optional(),
    serviceAccount: z.string().refine(isServiceAccountName).optional(),
  })),
  // Since the proxies API spans replicas; absent in older replicas' records.
  serial: z.string().regex(/^[0-9a-f]{1,64}$/).optional(),
  peer: z.string().max(256).optional(),
  addresses: z.array(z.string().min(1).max(64)).max(64).optional(),
  agentVersion: z.string().max(128).optional(),
  proxyVersion: z.string().max(128).optional(),
  connectedAt: z.iso.datetime().optional(),
});

/** Another replica's connected proxy, as its registration describes it. */
export type RemoteRegistration = z.infer<typeof registrationSchema>;

/** What the replica holding a proxy's stream knows of it beyond its announcement. */
export interface StreamDetails {
  readonly serial: string;
  readonly peer: string;
  readonly addresses: readonly string[];
  readonly agentVersion: string;
  readonly proxyVersion: string;
  readonly connectedAt: string;
}

export interface AgentRegistrationsOptions {
  readonly store: StateStore;
  readonly leased: LeasedKeys;
  readonly replicaId: string;
  readonly agents: AgentsProvider;
  /** The local stream of a proxy that just announced, if it still has one. */
  readonly streamOf: (proxyId: string) => StreamDetails | undefined;
  readonly logger: Logger;
}

export class AgentRegistrations {
  readonly #o: AgentRegistrationsOptions;
  readonly #log: Logger;
  /** Keeps each proxy's writes in order (a put overtaken by its delete would resurrect it). */
  readonly #writes = new SerialQueue();
  /** Remote `proxyId.replicaId` keys fed into the provider, to withdraw on deletion. */
  readonly #remote = new Map<string, RemoteRegistration>();
  /** The value last written per key of ours: a registration is rewritten only when it changed. */
  readonly #written = new Map<string, string>();

  constructor(options: AgentRegistrationsOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: "agent-registrations" });
  }

  /** Resolves once the other replicas' current registrations are in the provider. */
  async start(signal: AbortSignal): Promise<void> {
    const { store, agents } = this.#o;
    const unsubscribe = agents.onLocal((a) => this.#publish(a));
    signal.addEventListener("abort", unsubscribe, { once: true });
    await store.watch(REGISTRATIONS_PREFIX, (change) => this.#observe(change.key, change.value), signal);
    for (const { key, value } of await store.list(REGISTRATIONS_PREFIX)) this.#observe(key, value);
  }

  /** Other replicas' registrations (the newest record per proxy and replica). */
  remote(): Iterable<RemoteRegistration> {
    return this.#remote.values();
  }

  #publish(a: LocalAnnouncement): void {
    const key = `${REGISTRATIONS_PREFIX}/${a.proxyId}.${this.#o.replicaId}`;
    const stream = a.service === undefined ? undefined : this.#o.streamOf(a.proxyId);
    const value = a.service === undefined ? undefined : JSON.stringify({
      proxyId: a.proxyId, replicaId: this.#o.replicaId, service: a.service, endpoints: a.endpoints,
      ...(stream ? { serial: stream.serial, peer: stream.peer, addresses: stream.addresses, agentVersion: stream.agentVersion, proxyVersion: stream.proxyVersion, connectedAt: stream.connectedAt } : {}),
    });
    if (value !== undefined && this.#written.get(key) === value) return;
    if (value === undefined) this.#written.delete(key);
    else this.#written.set(key, value);
    void this.#writes
      .run(() => (value === undefined ? this.#o.leased.delete(key) : this.#o.leased.put(key, value)))
      .catch((err: unknown) => {
        // Not written after all: the next announcement of the same content must try again.
        if (this.#written.get(key) === value) this.#written.delete(key);
        this.#log.error({ err, code: "MESHFED_STORE_WRITE_FAILED", proxyId: a.proxyId }, "could not share an agent registration with the other replicas");
      });
  }

  #observe(key: string, value: Uint8Array | undefined): void {
    const name = key.slice(REGISTRATIONS_PREFIX.length + 1);
    if (value === undefined) {
      const known = this.#remote.get(name);
      if (known) {
        this.#remote.delete(name);
        this.#o.agents.withdraw(known.proxyId, known.replicaId);
      }
      return;
    }
    let registration;
    let service;
    try {
      registration = registrationSchema.parse(JSON.parse(Buffer.from(value).toString("utf8")));
      service = parseServiceKey(registration.service);
      if (name !== `${registration.proxyId}.${registration.replicaId}`) throw new Error("the key does not match the record");
    } catch (err) {
      this.#log.error({ err, code: "MESHFED_REGISTRATION_CORRUPT", key }, "unreadable agent registration skipped");
      return;
    }
    if (registration.replicaId === this.#o.replicaId) return; // our own, already in the provider
    this.#remote.set(name, registration);
    this.#o.agents.announce(registration.proxyId, service, registration.endpoints.map((e) => ({ ip: e.ip, port: e.port, ...declared(e) })), registration.replicaId);
  }
}
