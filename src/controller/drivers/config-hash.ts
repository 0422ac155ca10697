import { createHash, type Hash } from "node:crypto";
import type { ConfigFile, ProxyConfig } from "./types.js";
import { compareStrings } from "../../common/compare.js";

/** Hash over paths and contents, length-prefixed so that no two file lists collide by concatenation. */
export function hashConfigFiles(files: readonly ConfigFile[]): string {
  return new ConfigHasher([]).hash(files);
}

/**
 * The same hash, for file lists that always start with the same files (a
 * driver's fixed scripts): the prefix is hashed once and each render only
 * hashes what follows it.
 */
export class ConfigHasher {
  readonly #prefix: Hash;

  constructor(prefix: readonly ConfigFile[], from?: Hash) {
    this.#prefix = from ?? createHash("sha256");
    for (const f of prefix) feed(this.#prefix, f);
  }

  /** A hasher whose prefix is this one's followed by `more` (this one is unchanged). */
  extend(more: readonly ConfigFile[]): ConfigHasher {
    return new ConfigHasher(more, this.#prefix.copy());
  }

  hash(rest: readonly ConfigFile[]): string {
    const h = this.#prefix.copy();
    for (const f of rest) feed(h, f);
    return h.digest("hex");
  }
}

function feed(h: Hash, f: ConfigFile): void {
  const path = Buffer.from(f.path, "utf8");
  h.update(`${path.length}:`).update(path).update(`${f.content.length}:`).update(f.content);
}

export function proxyConfig(driver: string, files: readonly ConfigFile[]): ProxyConfig {
  return { driver, files, hash: hashConfigFiles(files) };
}

/** JSON with object keys sorted at every level: the same value always gives the same bytes. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => compareStrings(a, b)));
  }, 2);
}
