/**
 * A provider's view published by the leader for the other replicas
 * (docs/ha.md, "What only the leader does"): one JSON record per provider at
 * `provider-views/<provider>`, naming the replica that wrote it, a generation
 * that grows with every write (across leaders) and the time of the write, so
 * a follower can show how old its view is. Knows nothing of any platform:
 * services and endpoints with their sources are all it carries.
 *
 * Writes are compare-and-put on the record last read, so a deposed leader's
 * late write cannot overwrite its successor's; they happen only when the
 * services changed or another replica wrote last.
 */
import { z } from "zod";
import { MeshfedError } from "../../common/errors.js";
import { APP_PROTOCOLS } from "../../common/app-protocol.js";
import { isServiceAccountName } from "../../common/declared-protocol.js";
import { isDnsLabel } from "../../common/service.js";
import { declared } from "../providers/endpoint-lists.js";
import type { ServiceEndpoints } from "../providers/types.js";
import type { StateStore } from "../store/types.js";

export const PROVIDER_VIEWS_PREFIX = "provider-views";
/** etcd's default `--max-request-bytes` (1.5 MiB): a larger put is refused by etcd. */
export const ETCD_DEFAULT_MAX_REQUEST_BYTES = 1_572_864;
/** Room for the key and the request's own fields within that limit. */
const REQUEST_OVERHEAD_BYTES = 1_024;
const WRITE_ATTEMPTS = 3;

const dnsLabel = z.string().refine(isDnsLabel, { message: "not a DNS label" });
const recordSchema = z.strictObject({
  replicaId: z.string().min(1),
  generation: z.number().int().min(1),
  publishedAt: z.iso.datetime(),
  services: z.array(z.strictObject({
    namespace: dnsLabel,
    name: dnsLabel,
    endpoints: z.array(z.strictObject({
      ip: z.string().min(1), port: z.number().int().min(1).max(65535), source: z.string().min(1),
      // Written by replicas that know protocols and accounts; older records have neither.
      protocol: z.enum(APP_PROTOCOLS).optional(),
      serviceAccount: z.string().refine(isServiceAccountName, { message: "not a DNS-1123 subdomain" }).optional(),
    })),
  })),
});

export interface PublishedRecord {
  readonly replicaId: string;
  readonly generation: number;
  readonly publishedAt: string;
  readonly services: readonly ServiceEndpoints[];
}

export interface PublishedViewOptions {
  readonly store: StateStore;
  /** The provider id, e.g. "azure": the record's key is `provider-views/<provider>`. */
  readonly provider: string;
  readonly replicaId: string;
  /** The largest record written; default: what fits etcd's default request limit. */
  readonly maxBytes?: number;
  readonly now?: () => Date;
}

export class PublishedView {
  readonly key: string;
  readonly #o: PublishedViewOptions;
  readonly #maxBytes: number;
  /** The highest generation read or written here: a corrupt record must not send the count back. */
  #generation = 0;

  constructor(options: PublishedViewOptions) {
    this.#o = options;
    this.key = `${PROVIDER_VIEWS_PREFIX}/${options.provider}`;
    this.#maxBytes = options.maxBytes ?? ETCD_DEFAULT_MAX_REQUEST_BYTES - REQUEST_OVERHEAD_BYTES;
  }

  /**
   * Publishes `services` as this replica's view. Returns the record now
   * stored: the one written, or the stored one when it already said the same.
   */
  async publish(services: readonly ServiceEndpoints[]): Promise<PublishedRecord> {
    const { store } = this.#o;
    for (let attempt = 1; ; attempt++) {
      const bytes = await store.get(this.key);
      let current: PublishedRecord | undefined;
      try {
        current = bytes === undefined ? undefined : parseRecord(bytes);
      } catch {
        current = undefined; // a corrupt record is replaced by a good one
      }
      if (current?.replicaId === this.#o.replicaId && sameServices(current.services, services)) return current;
      const record: PublishedRecord = {
        replicaId: this.#o.replicaId,
        generation: Math.max(current?.generation ?? 0, this.#generation) + 1,
        publishedAt: (this.#o.now?.() ?? new Date()).toISOString(),
        services,
      };
      const text = JSON.stringify(toJson(record));
      const size = Buffer.byteLength(text);
      if (size > this.#maxBytes) {
        throw new MeshfedError("MESHFED_VIEW_TOO_LARGE", `the ${this.#o.provider} view is ${size} bytes, over the ${this.#maxBytes}-byte limit for one store value (etcd refuses requests over its --max-request-bytes, 1.5 MiB by default); the other replicas keep the last view published`, { details: { key: this.key, bytes: size, limit: this.#maxBytes } });
      }
      const written = bytes === undefined ? await store.create(this.key, text) : await store.compareAndPut(this.key, bytes, text);
      if (written) {
        this.#generation = record.generation;
        return record;
      }
      if (attempt >= WRITE_ATTEMPTS) throw new MeshfedError("MESHFED_VIEW_CONFLICT", `${this.key} kept changing under this replica's write; another replica publishes too`, { details: { key: this.key } });
    }
  }

  /**
   * Follows the record: `onRecord` for every valid write by any replica,
   * `onCorrupt` for one that does not parse (the caller keeps its last good
   * view). A deletion is not reported: nothing replaces the last view.
   * Resolves with the record stored now, once the watch is in place.
   */
  async follow(signal: AbortSignal, onRecord: (record: PublishedRecord) => void, onCorrupt: (err: MeshfedError) => void): Promise<PublishedRecord | undefined> {
    const { store } = this.#o;
    const read = (bytes: Uint8Array): PublishedRecord | undefined => {
      try {
        const record = parseRecord(bytes);
        this.#generation = Math.max(this.#generation, record.generation);
        return record;
      } catch (err) {
        onCorrupt(new MeshfedError("MESHFED_VIEW_CORRUPT", `${this.key} holds an unreadable view; the last good one stays served: ${err instanceof Error ? err.message : String(err)}`, { cause: err, details: { key: this.key } }));
        return undefined;
      }
    };
    await store.watch(PROVIDER_VIEWS_PREFIX, (change) => {
      if (change.key !== this.key || change.value === undefined) return;
      const record = read(change.value);
      if (record) onRecord(record);
    }, signal);
    const bytes = await store.get(this.key);
    return bytes === undefined ? undefined : read(bytes);
  }
}

function parseRecord(bytes: Uint8Array): PublishedRecord {
  const raw = recordSchema.parse(JSON.parse(Buffer.from(bytes).toString("utf8")));
  return {
    replicaId: raw.replicaId,
    generation: raw.generation,
    publishedAt: raw.publishedAt,
    services: raw.services.map((s) => ({ service: { namespace: s.namespace, name: s.name }, endpoints: s.endpoints.map((e) => ({ ip: e.ip, port: e.port, source: e.source, ...declared(e) })) })),
  };
}

function toJson(record: PublishedRecord): z.input<typeof recordSchema> {
  return { replicaId: record.replicaId, generation: record.generation, publishedAt: record.publishedAt, services: servicesJson(record.services) };
}

function servicesJson(services: readonly ServiceEndpoints[]): z.input<typeof recordSchema>["services"] {
  return services.map((s) => ({
    namespace: s.service.namespace,
    name: s.service.name,
    endpoints: s.endpoints.map((e) => ({ ip: e.ip, port: e.port, source: e.source, ...declared(e) })),
  }));
}

function sameServices(a: readonly ServiceEndpoints[], b: readonly ServiceEndpoints[]): boolean {
  return JSON.stringify(servicesJson(a)) === JSON.stringify(servicesJson(b));
}
