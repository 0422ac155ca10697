/**
 * Allocates and keeps the mesh VIPs (types.ts) in the state store, one key
 * per address: `vips/<ip>` → `{ service, allocatedAt, goneSince? }`.
 *
 * Conflict safety with replicas (docs/ha.md): only the leader writes, and
 * every write is a `create` of a free address or a `compareAndPut` of the
 * record it read, so a replica that lost the lead mid-write, or a stale
 * local view, cannot overwrite another's allocation. Two leaders for a
 * moment (a failover) could still give one service two addresses: every
 * replica then answers with the lowest address in string order, and the next
 * leader sweep deletes the other record, so they converge on one answer.
 * Every replica follows the store with `watch`, so all of them, and every
 * restart, answer the same VIP.
 *
 * A service that disappears keeps its address for `releaseAfterMs` (a
 * flapping service, or a provider resync, must not change the answer agents
 * hold); the leader's periodic sweep releases it after that.
 */
import { z } from "zod";
import { Listeners } from "../../common/emitter.js";
import type { Logger } from "../../common/logger.js";
import type { ControllerMetrics } from "../../common/metrics.js";
import { SerialQueue } from "../../common/serial-queue.js";
import type { ServiceKey } from "../../common/service.js";
import type { StateStore } from "../store/types.js";
import { VIP_ERRORS, type VipSource } from "./types.js";
import type { VipRange } from "./vip-range.js";

export const VIP_PREFIX = "vips";

const recordSchema = z.strictObject({
  service: z.string().regex(/^[a-z0-9-]+\/[a-z0-9.-]+$/),
  allocatedAt: z.string(),
  goneSince: z.string().optional(),
});

export type VipRecord = z.infer<typeof recordSchema>;

/** What the allocator needs to know about the mesh: which services exist now. */
export interface ServicePresence {
  has(service: ServiceKey): boolean;
  keys(): Iterable<ServiceKey>;
}

export interface VipAllocatorOptions {
  readonly store: StateStore;
  readonly range: VipRange;
  readonly releaseAfterMs: number;
  readonly leadership: { isLeader(): boolean };
  readonly presence: ServicePresence;
  readonly logger: Logger;
  readonly metrics?: ControllerMetrics;
  readonly now?: () => Date;
}

export class VipAllocator implements VipSource {
  readonly #o: VipAllocatorOptions;
  readonly #log: Logger;
  readonly #now: () => Date;
  readonly #records = new Map<string, VipRecord>();
  /** Service → every address recorded for it (one, but two after a failover race). */
  readonly #addresses = new Map<ServiceKey, Set<string>>();
  readonly #listeners = new Listeners<readonly ServiceKey[]>();
  readonly #writes = new SerialQueue();
  #pending = new Set<ServiceKey>();
  /** Services whose exhaustion was logged, so a full range logs once per service, not once per change. */
  readonly #exhausted = new Set<ServiceKey>();
  #closed = false;

  constructor(options: VipAllocatorOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: "vips" });
    this.#now = options.now ?? (() => new Date());
  }

  /** Follows the store (watch first, then the list, so no write falls in between). */
  async start(signal: AbortSignal): Promise<void> {
    await this.#o.store.watch(VIP_PREFIX, (change) => this.#apply(change.key, change.value), signal);
    for (const { key, value } of await this.#o.store.list(VIP_PREFIX)) this.#apply(key, value);
    this.#log.info({ range: this.#o.range.cidr, allocated: this.#records.size }, "mesh VIPs loaded");
  }

  vip(service: ServiceKey): string | undefined {
    const set = this.#addresses.get(service);
    if (set === undefined || set.size === 0) return undefined;
    return set.size === 1 ? set.values().next().value : [...set].sort()[0];
  }

  on(_event: "change", fn: (services: readonly ServiceKey[]) => void): () => void {
    return this.#listeners.add(fn);
  }

  /** All records, for the admin API and tests. */
  records(): Array<{ ip: string } & VipRecord> {
    return [...this.#records].map(([ip, r]) => ({ ip, ...r })).sort((a, b) => (a.ip < b.ip ? -1 : 1));
  }

  /** The catalog changed these services: the leader allocates for new ones and marks vanished ones. */
  observe(changed: readonly ServiceKey[]): Promise<void> {
    if (!this.#o.leadership.isLeader() || changed.length === 0) return Promise.resolve();
    return this.#writes.run(async () => {
      for (const key of changed) if (!this.#closed) await this.#reconcileOne(key);
    });
  }

  /** No writes after this resolves: the store may be closed (and its directory removed). Idempotent. */
  close(): Promise<void> {
    this.#closed = true;
    return this.#writes.run(async () => undefined);
  }

  /**
   * The leader's full pass (at start, on taking the lead, then periodically):
   * every present service gets an address, vanished ones are marked, those
   * gone longer than the grace period are released, duplicates and records
   * outside the range are removed.
   */
  sweep(): Promise<void> {
    if (!this.#o.leadership.isLeader()) return Promise.resolve();
    return this.#writes.run(async () => {
      if (this.#closed) return;
      const { presence, range, releaseAfterMs } = this.#o;
      for (const key of [...presence.keys()]) if (!this.#closed) await this.#reconcileOne(key);
      if (this.#closed) return;
      const now = this.#now().getTime();
      const before = this.#records.size;
      for (const [ip, record] of [...this.#records]) {
        const present = presence.has(record.service);
        if (!range.contains(ip)) {
          await this.#release(ip, record, "outside the configured range");
        } else if (this.vip(record.service) !== ip) {
          await this.#release(ip, record, "duplicate address for one service");
        } else if (!present && record.goneSince === undefined) {
          await this.#update(ip, record, { ...record, goneSince: this.#now().toISOString() });
        } else if (!present && record.goneSince !== undefined && now - Date.parse(record.goneSince) >= releaseAfterMs) {
          await this.#release(ip, record, "service gone longer than the grace period");
        }
      }
      // Addresses freed by this sweep may serve services the range had no room for.
      if (this.#records.size < before && this.#exhausted.size > 0) for (const key of [...this.#exhausted]) if (presence.has(key)) await this.#reconcileOne(key);
    });
  }

  async #reconcileOne(key: ServiceKey): Promise<void> {
    const ip = this.vip(key);
    const present = this.#o.presence.has(key);
    if (ip !== undefined) {
      const record = this.#records.get(ip)!;
      if (present && record.goneSince !== undefined) {
        const { goneSince: _, ...back } = record;
        await this.#update(ip, record, back);
      } else if (!present && record.goneSince === undefined) {
        await this.#update(ip, record, { ...record, goneSince: this.#now().toISOString() });
      }
      return;
    }
    if (present) await this.#allocate(key);
  }

  async #allocate(service: ServiceKey): Promise<void> {
    const { range, store } = this.#o;
    const record: VipRecord = { service, allocatedAt: this.#now().toISOString() };
    let inRange = 0;
    for (const ip of this.#records.keys()) if (range.contains(ip)) inRange += 1;
    if (inRange < range.usable) {
      for (const ip of range.probe(service)) {
        if (this.#records.has(ip)) continue;
        const key = `${VIP_PREFIX}/${ip}`;
        if (await store.create(key, serialize(record))) {
          this.#apply(key, Buffer.from(serialize(record)));
          this.#exhausted.delete(service);
          this.#o.metrics?.vipsAllocated.set(this.#records.size);
          this.#log.info({ service, vip: ip }, "mesh VIP allocated");
          return;
        }
        // Another writer took it; learn what it holds and go on probing.
        this.#apply(key, await store.get(key));
      }
    }
    this.#o.metrics?.vipExhausted.inc();
    if (!this.#exhausted.has(service)) {
      this.#exhausted.add(service);
      this.#log.error({ service, range: range.cidr, usable: range.usable, code: VIP_ERRORS.exhausted }, "no free mesh VIP in the range: the service has no VIP (its mesh names do not resolve) until one is released or the range is widened");
    }
  }

  async #update(ip: string, expected: VipRecord, next: VipRecord): Promise<void> {
    const key = `${VIP_PREFIX}/${ip}`;
    const current = await this.#o.store.get(key);
    // Compare against what the store holds, in the stored bytes: a record rewritten meanwhile is re-read, not overwritten.
    if (current === undefined || !sameRecord(current, expected)) {
      this.#apply(key, current);
      return;
    }
    if (await this.#o.store.compareAndPut(key, current, serialize(next))) this.#apply(key, Buffer.from(serialize(next)));
    else this.#apply(key, await this.#o.store.get(key));
  }

  async #release(ip: string, record: VipRecord, reason: string): Promise<void> {
    await this.#o.store.delete(`${VIP_PREFIX}/${ip}`);
    this.#apply(`${VIP_PREFIX}/${ip}`, undefined);
    this.#o.metrics?.vipsAllocated.set(this.#records.size);
    this.#log.info({ service: record.service, vip: ip, reason }, "mesh VIP released");
  }

  /** One store value (or deletion) into the in-memory view; idempotent, so the watch and the writer may both apply it. */
  #apply(key: string, value: Uint8Array | undefined): void {
    const ip = key.slice(VIP_PREFIX.length + 1);
    const before = this.#records.get(ip);
    let after: VipRecord | undefined;
    if (value !== undefined) {
      const parsed = parseRecord(value);
      if (parsed === undefined) {
        this.#log.error({ key, code: VIP_ERRORS.recordInvalid }, "a stored VIP record is unreadable; it is ignored");
      } else {
        after = parsed;
      }
    }
    if (before !== undefined) this.#addresses.get(before.service)?.delete(ip);
    if (after === undefined) this.#records.delete(ip);
    else {
      this.#records.set(ip, after);
      let set = this.#addresses.get(after.service);
      if (set === undefined) this.#addresses.set(after.service, (set = new Set()));
      set.add(ip);
    }
    if (before !== undefined && this.#addresses.get(before.service)?.size === 0) this.#addresses.delete(before.service);
    if (before?.service !== after?.service) {
      if (before !== undefined) this.#changed(before.service);
      if (after !== undefined) this.#changed(after.service);
    }
  }

  /** Changes are emitted once per microtask, so a burst of watch events is one catalog update. */
  #changed(service: ServiceKey): void {
    if (this.#pending.size === 0) {
      queueMicrotask(() => {
        const services = [...this.#pending].sort();
        this.#pending = new Set();
        this.#listeners.emit(services);
      });
    }
    this.#pending.add(service);
  }
}

function serialize(record: VipRecord): string {
  return JSON.stringify(record);
}

function parseRecord(value: Uint8Array): VipRecord | undefined {
  try {
    const parsed = recordSchema.safeParse(JSON.parse(Buffer.from(value).toString("utf8")));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function sameRecord(value: Uint8Array, record: VipRecord): boolean {
  const parsed = parseRecord(value);
  return parsed !== undefined && parsed.service === record.service && parsed.allocatedAt === record.allocatedAt && parsed.goneSince === record.goneSince;
}
