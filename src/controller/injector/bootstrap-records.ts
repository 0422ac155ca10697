/**
 * What the injector handed out for each pod, kept in the state store at
 * `sidecar-bootstraps/<proxyId>`: the pod's namespace, its bootstrap Secret
 * and the proxy certificate's serial. At admission the pod has no UID, so its
 * Secret cannot carry an ownerReference and Kubernetes will never delete it;
 * these records are what the orphan reaper (bootstrap-reaper.ts) walks to
 * find what a deleted pod left behind, without ever listing or reading
 * Secrets cluster-wide.
 */
import { z } from "zod";
import type { Logger } from "../../common/logger.js";
import type { StateStore } from "../store/types.js";

export const BOOTSTRAPS_PREFIX = "sidecar-bootstraps";

const recordSchema = z.strictObject({
  proxyId: z.string().regex(/^[0-9a-f-]{36}$/),
  namespace: z.string().min(1),
  secretName: z.string().min(1),
  serial: z.string().regex(/^[0-9a-f]+$/),
  /** Certificates this Secret held before a CA rotation renewed it (sidecar-renewal.ts), still live until the sidecar restarts. */
  previousSerials: z.array(z.string().regex(/^[0-9a-f]+$/)).optional(),
  createdAt: z.iso.datetime(),
});

export type BootstrapRecord = z.output<typeof recordSchema>;

export class BootstrapRecords {
  readonly #store: StateStore;
  readonly #log: Logger;

  constructor(store: StateStore, logger: Logger) {
    this.#store = store;
    this.#log = logger;
  }

  async add(record: BootstrapRecord): Promise<void> {
    await this.#store.put(`${BOOTSTRAPS_PREFIX}/${record.proxyId}`, JSON.stringify(recordSchema.parse(record)));
  }

  async remove(proxyId: string): Promise<void> {
    await this.#store.delete(`${BOOTSTRAPS_PREFIX}/${proxyId}`);
  }

  /** Every readable record; an unreadable one is logged and left in place for a human to look at. */
  async all(): Promise<BootstrapRecord[]> {
    const out: BootstrapRecord[] = [];
    for (const { key, value } of await this.#store.list(BOOTSTRAPS_PREFIX)) {
      try {
        const record = recordSchema.parse(JSON.parse(Buffer.from(value).toString("utf8")));
        if (key !== `${BOOTSTRAPS_PREFIX}/${record.proxyId}`) throw new Error(`the key does not match proxy id ${record.proxyId}`);
        out.push(record);
      } catch (err) {
        this.#log.error({ err, key, code: "MESHFED_BOOTSTRAP_RECORD_CORRUPT" }, "unreadable sidecar bootstrap record skipped");
      }
    }
    return out;
  }
}
