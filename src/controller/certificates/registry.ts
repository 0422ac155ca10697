/**
 * The certificate registry: one record per issued certificate, persisted at
 * `certificates/<serial>` (one store key each, so every write is one atomic
 * StateStore.put), mirrored in memory. States and transitions: docs/certificates.md.
 *
 * A record that fails its schema on load is logged with a named error and
 * skipped: never a crash (one bad file must not take the mesh down), never a
 * delete (an operator may want to repair it).
 */
import { z } from "zod";
import { Listeners } from "../../common/emitter.js";
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
});

/** Serials are matched case-insensitively: Node and OpenSSL print them in upper case. */
export function normalizeSerial(serial: string): string | undefined {
  const s = typeof serial === "string" ? serial.toLowerCase() : "";
  return SERIAL.test(s) ? s : undefined;
}

export class CertificateRegistry {
  readonly #store: StateStore;
  readonly #records = new Map<string, CertificateRecord>();
  readonly #locks = new Map<string, Promise<unknown>>();
  readonly #changes = new Listeners<CertificateRecord>();

  private constructor(store: StateStore) {
    this.#store = store;
  }

  static async load(store: StateStore, logger: Logger): Promise<CertificateRegistry> {
    const registry = new CertificateRegistry(store);
    for (const { key, value } of await store.list(REGISTRY_PREFIX)) {
      const name = key.slice(REGISTRY_PREFIX.length + 1);
      let json: unknown;
      try {
        json = JSON.parse(Buffer.from(value).toString("utf8"));
      } catch (err) {
        logger.error({ err: certError(CERT_ERROR.recordCorrupt, `${key} is not JSON; skipped`, { cause: err }), code: CERT_ERROR.recordCorrupt, key }, "corrupt certificate record skipped");
        continue;
      }
      const parsed = RecordSchema.safeParse(json);
      if (!parsed.success || parsed.data.serial !== name) {
        const why = parsed.success ? `its serial ${parsed.data.serial} does not match the key` : z.prettifyError(parsed.error);
        logger.error({ err: certError(CERT_ERROR.recordCorrupt, `${key}: ${why}; skipped`), code: CERT_ERROR.recordCorrupt, key }, "corrupt certificate record skipped");
        continue;
      }
      registry.#records.set(name, stripUndefined(parsed.data));
    }
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
    await this.update(record.serial, () => record);
  }

  /**
   * Read-modify-write of one record, serialised per serial so that a claim
   * and a revoke racing on the same certificate cannot lose either write.
   * `change` returns the new record, or the current one to write nothing.
   * Durable first (store), then memory, then listeners.
   */
  async update(serial: string, change: (current: CertificateRecord | undefined) => CertificateRecord): Promise<CertificateRecord> {
    const previous = this.#locks.get(serial) ?? Promise.resolve();
    const run = previous.then(async () => {
      const current = this.#records.get(serial);
      const next = change(current);
      if (next === current) return next;
      await this.#store.put(`${REGISTRY_PREFIX}/${serial}`, `${JSON.stringify(next, null, 2)}\n`);
      this.#records.set(serial, next);
      this.#changes.emit(next);
      return next;
    });
    const settled = run.catch(() => undefined);
    this.#locks.set(serial, settled);
    void settled.then(() => {
      if (this.#locks.get(serial) === settled) this.#locks.delete(serial);
    });
    return run;
  }
}

function stripUndefined(record: z.infer<typeof RecordSchema>): CertificateRecord {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined)) as unknown as CertificateRecord;
}
