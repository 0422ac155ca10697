/**
 * The certificate registry: one record per issued certificate, persisted at
 * `certificates/<serial>` (one store key each, so every write is one atomic
 * store operation), mirrored in memory. States and transitions: docs/certificates.md.
 *
 * Replicas sharing a store (docs/ha.md) all write here. A write is a
 * compare-and-put against the stored bytes, retried on conflict, so a claim
 * on one replica cannot undo a revocation on another. The memory copy follows
 * the store's watch; as a state only moves forward (unclaimed → claimed →
 * revoked), a late or repeated event can never move a record back.
 *
 * A record that fails its schema on load is logged with a named error and
 * skipped: never a crash (one bad file must not take the mesh down), never a
 * delete (an operator may want to repair it).
 */
import { z } from "zod";
import { Listeners } from "../../common/emitter.js";
import { MeshfedError } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import type { StateStore } from "../store/types.js";
import { CERT_ERROR, certError } from "./errors.js";
import type { CertificateRecord } from "./types.js";

export const REGISTRY_PREFIX = "certificates";

const SERIAL = /^[0-9a-f]{1,40}$/;
const timestamp = z.string().refine((s) => !Number.isNaN(Date.parse(s)), "not a timestamp");

const RecordSchema = z.object({
  serial: z.string().regex(SERIAL),
  kind: z.enum(["proxy", "service", "controller"]),
  identity: z.string().startsWith("spiffe://"),
  service: z.string().min(3),
  proxyId: z.string().optional(),
  notBefore: timestamp,
  notAfter: timestamp,
  state: z.enum(["unclaimed", "claimed", "revoked", "expired"]),
  claimedAt: timestamp.optional(),
  revokedAt: timestamp.optional(),
  revocationReason: z.string().optional(),
  ca: z.string().regex(SERIAL).optional(),
  serviceAccount: z.string().optional(),
});

/** Serials are matched case-insensitively: Node and OpenSSL print them in upper case. */
export function normalizeSerial(serial: string): string | undefined {
  const s = typeof serial === "string" ? serial.toLowerCase() : "";
  return SERIAL.test(s) ? s : undefined;
}

const STATE_RANK: Record<CertificateRecord["state"], number> = { unclaimed: 0, claimed: 1, expired: 1, revoked: 2 };
const MAX_WRITE_ATTEMPTS = 8;

export class CertificateRegistry {
  readonly #store: StateStore;
  readonly #logger: Logger;
  readonly #records = new Map<string, CertificateRecord>();
  readonly #locks = new Map<string, Promise<unknown>>();
  readonly #changes = new Listeners<CertificateRecord>();

  private constructor(store: StateStore, logger: Logger) {
    this.#store = store;
    this.#logger = logger;
  }

  /**
   * Loads every record; with a `signal`, also follows changes other
   * processes make until it aborts. The watch starts before the listing so
   * that nothing written in between is missed.
   */
  static async load(store: StateStore, logger: Logger, signal?: AbortSignal): Promise<CertificateRegistry> {
    const registry = new CertificateRegistry(store, logger);
    if (signal) await store.watch(REGISTRY_PREFIX, (change) => registry.#observe(change.key, change.value), signal);
    for (const { key, value } of await store.list(REGISTRY_PREFIX)) registry.#observe(key, value);
    logger.info({ records: registry.#records.size }, "certificate registry loaded");
    return registry;
  }

  get size(): number {
    return this.#records.size;
  }

  get(serial: string): CertificateRecord | undefined {
    return this.#records.get(serial);
  }

  all(): IterableIterator<CertificateRecord> {
    return this.#records.values();
  }

  on(fn: (record: CertificateRecord) => void): () => void {
    return this.#changes.add(fn);
  }

  /** Records a new certificate. */
  async add(record: CertificateRecord): Promise<void> {
    await this.#serialised(record.serial, () => this.#write(record.serial, () => record, true));
  }

  /**
   * Read-modify-write of one record against the stored copy (the memory one
   * may trail another replica's write). `change` returns the new record, or
   * the current one to write nothing; it may run more than once when another
   * writer gets in between. Durable first (store), then memory, then listeners.
   */
  async update(serial: string, change: (current: CertificateRecord | undefined) => CertificateRecord): Promise<CertificateRecord> {
    return this.#serialised(serial, () => this.#write(serial, change, false));
  }

  #serialised(serial: string, write: () => Promise<CertificateRecord>): Promise<CertificateRecord> {
    // Serialised per serial within this process: conflicts between our own
    // writes would only cost retries.
    const previous = this.#locks.get(serial) ?? Promise.resolve();
    const run = previous.then(write);
    const settled = run.catch(() => undefined);
    this.#locks.set(serial, settled);
    void settled.then(() => {
      if (this.#locks.get(serial) === settled) this.#locks.delete(serial);
    });
    return run;
  }

  /**
   * `fresh`: the serial was just drawn (126 random bits), so the first
   * attempt creates without reading first; a create that finds the key
   * (never seen) falls back to the read-modify-write. One store read less
   * per issued certificate (issue 17).
   */
  async #write(serial: string, change: (current: CertificateRecord | undefined) => CertificateRecord, fresh: boolean): Promise<CertificateRecord> {
    const key = `${REGISTRY_PREFIX}/${serial}`;
    if (fresh) {
      const next = change(undefined);
      if (await this.#store.create(key, `${JSON.stringify(next, null, 2)}\n`)) {
        this.#merge(next, true);
        return next;
      }
    }
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      const stored = await this.#store.get(key);
      const current = stored === undefined ? undefined : this.#parse(key, stored);
      if (stored !== undefined && current === undefined) {
        throw certError(CERT_ERROR.recordCorrupt, `${key} is unreadable; not overwriting it`, { details: { serial } });
      }
      if (current !== undefined) this.#merge(current);
      const next = change(current);
      if (next === current) return next;
      const text = `${JSON.stringify(next, null, 2)}\n`;
      const written = stored === undefined ? await this.#store.create(key, text) : await this.#store.compareAndPut(key, stored, text);
      if (written) {
        this.#merge(next, true);
        return next;
      }
    }
    throw new MeshfedError("MESHFED_STORE_CONFLICT", `certificate ${serial}: ${MAX_WRITE_ATTEMPTS} concurrent writes in a row; giving up`, { details: { serial } });
  }

  /** A change seen in the store (ours echoed back, or another replica's). */
  #observe(key: string, value: Uint8Array | undefined): void {
    const serial = key.slice(REGISTRY_PREFIX.length + 1);
    if (value === undefined) {
      this.#records.delete(serial);
      return;
    }
    const record = this.#parse(key, value);
    if (record !== undefined) this.#merge(record);
  }

  /**
   * Takes `record` unless memory already holds this state or a later one.
   * `ours`: we just wrote it, so it is the newest (a claim rewritten with the
   * same state still replaces the copy).
   */
  #merge(record: CertificateRecord, ours = false): void {
    const current = this.#records.get(record.serial);
    if (current !== undefined && (STATE_RANK[record.state] < STATE_RANK[current.state] || (!ours && STATE_RANK[record.state] === STATE_RANK[current.state]))) return;
    // Our own write echoed by the watch before the write call returned.
    if (current !== undefined && JSON.stringify(current) === JSON.stringify(record)) return;
    this.#records.set(record.serial, record);
    this.#changes.emit(record);
  }

  #parse(key: string, value: Uint8Array): CertificateRecord | undefined {
    const name = key.slice(REGISTRY_PREFIX.length + 1);
    let json: unknown;
    try {
      json = JSON.parse(Buffer.from(value).toString("utf8"));
    } catch (err) {
      this.#logger.error({ err: certError(CERT_ERROR.recordCorrupt, `${key} is not JSON; skipped`, { cause: err }), code: CERT_ERROR.recordCorrupt, key }, "corrupt certificate record skipped");
      return undefined;
    }
    const parsed = RecordSchema.safeParse(json);
    if (!parsed.success || parsed.data.serial !== name) {
      const why = parsed.success ? `its serial ${parsed.data.serial} does not match the key` : z.prettifyError(parsed.error);
      this.#logger.error({ err: certError(CERT_ERROR.recordCorrupt, `${key}: ${why}; skipped`), code: CERT_ERROR.recordCorrupt, key }, "corrupt certificate record skipped");
      return undefined;
    }
    return stripUndefined(parsed.data);
  }
}

function stripUndefined(record: z.infer<typeof RecordSchema>): CertificateRecord {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined)) as unknown as CertificateRecord;
}
