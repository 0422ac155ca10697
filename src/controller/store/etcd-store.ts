/**
 * The state store on etcd v3 (DESIGN.md §4, docs/ha.md): what several
 * controller replicas share outside a cluster. Keys are the same paths as the
 * file store's, under the `meshfed/` prefix. Atomic create and compare-and-put
 * are etcd transactions; watches are etcd watches (the client resumes them
 * from the last seen revision after a reconnect); leased keys hang off one
 * lease per process, kept alive by the client, so they vanish `ttl` seconds
 * after the process dies.
 */
import { Etcd3, type IKeyValue, type Lease, type Namespace, type Watcher } from "etcd3";
import { once } from "node:events";
import type { Logger } from "../../common/logger.js";
import { errorMessage, MeshfedError } from "../../common/errors.js";
import type { LeasedKeys, PutOptions, StateStore, StoreChange } from "./types.js";
import { compareStrings } from "../../common/compare.js";

export const STORE_UNREACHABLE = "MESHFED_STORE_UNREACHABLE";

const KEY_PREFIX = "meshfed/";
/** Watch reconnects back off from 100 ms to 2 s (the client's default climbs to 30 s, too slow after an etcd restart). */
const WATCH_BACKOFF_FIRST_MS = 100;
const WATCH_BACKOFF_MAX_MS = 2_000;
const CLOSE_WATCHES_TIMEOUT_MS = 1_000;
const KEY = /^[a-z0-9._-]+(\/[a-z0-9._-]+)*$/;

export interface EtcdStoreOptions {
  /** host:port of each etcd member. */
  readonly endpoints: readonly string[];
  /** Lifetime in seconds of leased keys (and of the leader's election lease) after a process dies. */
  readonly leaseTtlSeconds: number;
  /** How long to wait for etcd at start before giving up; ms. */
  readonly connectTimeoutMs: number;
  readonly logger: Logger;
}

export class EtcdStore implements StateStore {
  readonly kind = "etcd";
  readonly leased: LeasedKeys;
  readonly #client: Etcd3;
  readonly #kv: Namespace;
  readonly #watchers = new Set<Watcher>();
  #closing: Promise<void> | undefined;
  #markClosed!: () => void;
  /** Settles when close() begins: a watch() still waiting for etcd then returns. */
  readonly #closed = new Promise<void>((resolve) => (this.#markClosed = resolve));

  private constructor(client: Etcd3, leased: LeasedKeys) {
    this.#client = client;
    this.#kv = client.namespace(KEY_PREFIX);
    this.leased = leased;
  }

  /** Connects and checks that etcd answers, so a wrong address fails at start with a named error. */
  static async open(options: EtcdStoreOptions): Promise<EtcdStore> {
    const client = new Etcd3({
      hosts: options.endpoints.map((e) => `http://${e}`),
      dialTimeout: options.connectTimeoutMs,
      faultHandling: { watchBackoff: cappedBackoff(WATCH_BACKOFF_FIRST_MS) },
    });
    try {
      await client.maintenance.status({ deadline: Date.now() + options.connectTimeoutMs });
    } catch (err) {
      client.close();
      throw new MeshfedError(STORE_UNREACHABLE, `etcd at ${options.endpoints.join(",")} did not answer within ${options.connectTimeoutMs} ms: ${errorMessage(err)}`, {
        cause: err, details: { endpoints: options.endpoints },
      });
    }
    const log = options.logger.child({ component: "store" });
    const leased = new ProcessLease(client.namespace(KEY_PREFIX), options.leaseTtlSeconds, log);
    log.info({ endpoints: options.endpoints, leaseTtlSeconds: options.leaseTtlSeconds }, "connected to etcd");
    return new EtcdStore(client, leased);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return (await this.#kv.get(checked(key)).buffer()) ?? undefined;
  }

  async put(key: string, value: Uint8Array | string, _options?: PutOptions): Promise<void> {
    await this.#kv.put(checked(key)).value(bytes(value));
  }

  async create(key: string, value: Uint8Array | string, _options?: PutOptions): Promise<boolean> {
    const k = checked(key);
    const result = await this.#kv.if(k, "Create", "==", 0).then(this.#kv.put(k).value(bytes(value))).commit();
    return result.succeeded;
  }

  async compareAndPut(key: string, expected: Uint8Array, value: Uint8Array | string, _options?: PutOptions): Promise<boolean> {
    const k = checked(key);
    // A missing key compares as an empty value: require that it exists.
    const result = await this.#kv.if(k, "Version", ">", 0).and(k, "Value", "==", Buffer.from(expected)).then(this.#kv.put(k).value(bytes(value))).commit();
    return result.succeeded;
  }

  async delete(key: string): Promise<void> {
    await this.#kv.delete().key(checked(key));
  }

  async list(prefix: string): Promise<Array<{ key: string; value: Uint8Array }>> {
    const base = `${checked(prefix)}/`;
    const all = await this.#kv.getAll().prefix(base).buffers();
    return Object.entries(all)
      .filter(([key]) => !key.slice(base.length).includes("/"))
      .sort(([a], [b]) => compareStrings(a, b))
      .map(([key, value]) => ({ key, value }));
  }

  async watch(prefix: string, onChange: (change: StoreChange) => void, signal: AbortSignal): Promise<void> {
    const base = `${checked(prefix)}/`;
    if (signal.aborted || this.#closing) return;
    // Held from the moment it exists, not from when etcd confirms it: a watch
    // still connecting when close() runs (etcd away) is cancelled with the
    // others instead of retrying against the closed client for ever.
    const watcher = this.#kv.watch().prefix(base).watcher();
    this.#watchers.add(watcher);
    let stopped!: () => void;
    const ended = new Promise<void>((resolve) => (stopped = resolve));
    const stop = () => {
      stopped();
      if (this.#watchers.delete(watcher)) void watcher.cancel().catch(() => undefined);
    };
    const deliver = (kv: IKeyValue, value: Uint8Array | undefined) => {
      const key = kv.key.toString("utf8");
      if (!key.slice(base.length).includes("/")) onChange({ key, value });
    };
    watcher.on("put", (kv) => deliver(kv, kv.value));
    watcher.on("delete", (kv) => deliver(kv, undefined));
    // Reconnects are the client's job (it resumes from the last revision).
    // etcd refusing the watch ("canceled") is the one error; the first one fails the call.
    const refused = new Promise<never>((_resolve, reject) => watcher.once("error", reject));
    refused.catch(() => undefined);
    watcher.on("error", () => undefined);
    signal.addEventListener("abort", stop, { once: true });
    try {
      await Promise.race([once(watcher, "connected"), refused, ended, this.#closed]);
    } catch (err) {
      stop();
      throw new MeshfedError(STORE_UNREACHABLE, `etcd refused the watch on ${base}: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** The keys of an etcd election (leader-only work: src/controller/ha/), laid out as etcd3's Election lays them out. */
  electionKeys(name: string): Namespace {
    return this.#kv.namespace(`election/${name}/`);
  }

  /**
   * Graceful: revokes this process's lease so its leased keys vanish now, not
   * after the TTL. Idempotent. Every watch this store started is cancelled
   * before the client closes: a watch still attached to a closed client
   * retries its connection every two seconds for ever once its stream breaks.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#markClosed();
    await (this.leased as ProcessLease).revoke();
    const watchers = [...this.#watchers];
    this.#watchers.clear();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(watchers.map((w) => w.cancel().catch(() => undefined))),
      new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_WATCHES_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
    this.#client.close();
  }
}

/**
 * This process's lease. When etcd declares it lost (it expired while etcd was
 * unreachable for longer than the TTL), a new one is granted and every key
 * this process holds is written again; a write or delete that failed while
 * etcd was away is retried the same way. So registrations come back by
 * themselves once etcd does.
 */
class ProcessLease implements LeasedKeys {
  readonly ttlSeconds: number;
  readonly #kv: Namespace;
  readonly #log: Logger;
  readonly #values = new Map<string, Buffer>();
  readonly #pendingDeletes = new Set<string>();
  #lease: Lease;
  #closed = false;
  #repairing = false;

  constructor(kv: Namespace, ttlSeconds: number, log: Logger) {
    this.#kv = kv;
    this.ttlSeconds = ttlSeconds;
    this.#log = log;
    this.#lease = this.#grant();
  }

  #grant(): Lease {
    const lease = this.#kv.lease(this.ttlSeconds);
    lease.on("lost", (err) => {
      if (this.#closed || lease !== this.#lease) return;
      this.#log.warn({ err, code: "MESHFED_STORE_LEASE_LOST", keys: this.#values.size }, "etcd lease lost; writing leased keys again under a new lease");
      this.#lease = this.#grant();
      this.#repair();
    });
    return lease;
  }

  /** Writes every held key (and makes every pending delete) until one pass succeeds; single-flight. */
  #repair(): void {
    if (this.#repairing) return;
    this.#repairing = true;
    void (async () => {
      while (!this.#closed) {
        try {
          for (const key of [...this.#pendingDeletes]) {
            await this.#kv.delete().key(key);
            this.#pendingDeletes.delete(key);
          }
          for (const [key, value] of [...this.#values]) await this.#lease.put(key).value(value);
          break;
        } catch (err) {
          this.#log.warn({ err, code: STORE_UNREACHABLE }, "cannot write leased keys yet; retrying");
          await new Promise((resolve) => setTimeout(resolve, 1000).unref());
        }
      }
      this.#repairing = false;
    })();
  }

  async put(key: string, value: Uint8Array | string): Promise<void> {
    const v = bytes(value);
    this.#values.set(checked(key), v);
    this.#pendingDeletes.delete(key);
    try {
      await this.#lease.put(key).value(v);
    } catch (err) {
      this.#repair();
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    this.#values.delete(checked(key));
    try {
      await this.#kv.delete().key(key);
    } catch (err) {
      this.#pendingDeletes.add(key);
      this.#repair();
      throw err;
    }
  }

  async revoke(): Promise<void> {
    this.#closed = true;
    this.#values.clear();
    try {
      await this.#lease.revoke({ deadline: Date.now() + 2_000 });
    } catch {
      // Unreachable etcd: the keys expire with the TTL instead.
      this.#lease.release();
    }
  }
}

interface Backoff {
  readonly duration: number;
  next(): Backoff;
}

function cappedBackoff(duration: number): Backoff {
  return { duration, next: () => cappedBackoff(Math.min(duration * 2, WATCH_BACKOFF_MAX_MS)) };
}

function checked(key: string): string {
  if (!KEY.test(key) || key.split("/").some((s) => s === "." || s === "..")) {
    throw new MeshfedError("MESHFED_STORE_BAD_KEY", `invalid store key "${key}"`);
  }
  return key;
}

function bytes(value: Uint8Array | string): Buffer {
  return typeof value === "string" ? Buffer.from(value, "utf8") : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}
