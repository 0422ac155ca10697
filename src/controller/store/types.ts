/**
 * The state store: DESIGN.md §4. Everything the controller must not lose (CA,
 * certificate registry, join tokens, agent registrations) goes through this
 * small key-value interface, so that the embedded file store and the HA stores
 * (etcd, Kubernetes Secrets) are interchangeable.
 *
 * Keys are slash-separated paths of [a-z0-9._-] segments, e.g.
 * `certificates/3f2a…`. Each put is atomic: a reader sees the old value or
 * the new one, never a mix.
 *
 * Several controller replicas may share one store (docs/ha.md). Every
 * read-modify-write therefore goes through `create` or `compareAndPut`, never
 * get-then-put, and every in-memory view of the store follows `watch`.
 */
export interface PutOptions {
  /** Secret values (private keys, token hashes) are stored readable by the owner only. */
  readonly secret?: boolean;
}

/** One change seen by a watch; `value` is undefined for a deletion. */
export interface StoreChange {
  readonly key: string;
  readonly value: Uint8Array | undefined;
}

export interface StateStore {
  readonly kind: string;
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, value: Uint8Array | string, options?: PutOptions): Promise<void>;
  /** Writes `value` only if `key` is absent; false when another writer got there first. */
  create(key: string, value: Uint8Array | string, options?: PutOptions): Promise<boolean>;
  /**
   * Writes `value` only if `key` still holds exactly `expected` (the bytes a
   * get returned); false when it changed or vanished meanwhile.
   */
  compareAndPut(key: string, expected: Uint8Array, value: Uint8Array | string, options?: PutOptions): Promise<boolean>;
  delete(key: string): Promise<void>;
  /** Every key directly under `prefix/` (one level) with its value, in key order. */
  list(prefix: string): Promise<Array<{ key: string; value: Uint8Array }>>;
  /**
   * Calls `onChange` for every later write or deletion of a key directly
   * under `prefix/`, by any writer sharing the store (this process included),
   * in the order the store applied them. Resolves once the watch is in
   * place; ends when `signal` aborts.
   */
  watch(prefix: string, onChange: (change: StoreChange) => void, signal: AbortSignal): Promise<void>;
  /**
   * Keys that live only as long as this process keeps its session with the
   * store (agent registrations: DESIGN.md §4). Undefined for stores that one
   * process owns alone: there is nobody to share such keys with.
   */
  readonly leased?: LeasedKeys;
  close(): Promise<void>;
}

export interface LeasedKeys {
  /** Seconds after this process's death before its keys vanish for everyone. */
  readonly ttlSeconds: number;
  put(key: string, value: Uint8Array | string): Promise<void>;
  delete(key: string): Promise<void>;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
