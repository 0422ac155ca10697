/**
 * Agent registrations shared between replicas (DESIGN.md §4, docs/ha.md).
 * What a proxy announced on its stream to this replica is written under this
 * replica's lease at `agent-registrations/<proxyId>.<replicaId>`; every
 * replica watches the prefix and feeds other replicas' registrations into
 * its AgentsProvider, so an endpoint announced at replica A appears in B's
 * catalog. When A dies its lease expires and its registrations vanish
 * everywhere without anyone cleaning up.
 */
import { z } from "zod";
import type { Logger } from "../../common/logger.js";
import { SerialQueue } from "../../common/serial-queue.js";
import { parseServiceKey } from "../../common/service.js";
import type { AgentsProvider, LocalAnnouncement } from "../providers/agents/provider.js";
import type { LeasedKeys, StateStore } from "../store/types.js";

export const REGISTRATIONS_PREFIX = "agent-registrations";

const registrationSchema = z.strictObject({
  proxyId: z.string().regex(/^[0-9a-f-]{36}$/),
  replicaId: z.string().min(1),
  service: z.string().min(3),
  endpoints: z.array(z.strictObject({ ip: z.string().min(1), port: z.number().int().min(1).max(65535) })),
});

export interface AgentRegistrationsOptions {
  readonly store: StateStore;
  readonly leased: LeasedKeys;
  readonly replicaId: string;
  readonly agents: AgentsProvider;
  readonly logger: Logger;
}

export class AgentRegistrations {
  readonly #o: AgentRegistrationsOptions;
  readonly #log: Logger;
  /** Keeps each proxy's writes in order (a put overtaken by its delete would resurrect it). */
  readonly #writes = new SerialQueue();
  /** Remote `proxyId.replicaId` keys fed into the provider, to withdraw on deletion. */
  readonly #remote = new Map<string, { proxyId: string; replicaId: string }>();

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

  #publish(a: LocalAnnouncement): void {
    const key = `${REGISTRATIONS_PREFIX}/${a.proxyId}.${this.#o.replicaId}`;
    const value = a.service === undefined ? undefined : JSON.stringify({ proxyId: a.proxyId, replicaId: this.#o.replicaId, service: a.service, endpoints: a.endpoints });
    void this.#writes
      .run(() => (value === undefined ? this.#o.leased.delete(key) : this.#o.leased.put(key, value)))
      .catch((err: unknown) => this.#log.error({ err, code: "MESHFED_STORE_WRITE_FAILED", proxyId: a.proxyId }, "could not share an agent registration with the other replicas"));
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
    this.#remote.set(name, { proxyId: registration.proxyId, replicaId: registration.replicaId });
    this.#o.agents.announce(registration.proxyId, service, registration.endpoints, registration.replicaId);
  }
}
