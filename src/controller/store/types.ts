/**
 * The state store: DESIGN.md §4. Everything the controller must not lose (CA,
 * certificate registry, join tokens, agent registrations) goes through this
 * small key-value interface, so that the embedded file store and the HA stores
 * (etcd, Kubernetes Secrets) are interchangeable.
 *
 * Keys are slash-separated paths of [a-z0-9._-] segments, e.g.
 * `certificates/3f2a…`. Each put is atomic: a reader sees the old value or
 * the new one, never a mix.
 */
export interface PutOptions {
  /** Secret values (private keys, token hashes) are stored readable by the owner only. */
  readonly secret?: boolean;
}

export interface StateStore {
  readonly kind: string;
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, value: Uint8Array | string, options?: PutOptions): Promise<void>;
  delete(key: string): Promise<void>;
  /** Every key directly under `prefix/` (one level) with its value, in key order. */
  list(prefix: string): Promise<Array<{ key: string; value: Uint8Array }>>;
  close(): Promise<void>;
}
