import { createHash } from "node:crypto";
import type { ConfigFile, ProxyConfig } from "./types.js";

/** Hash over paths and contents, length-prefixed so that no two file lists collide by concatenation. */
export function hashConfigFiles(files: readonly ConfigFile[]): string {
  const h = createHash("sha256");
  for (const f of files) {
    const path = Buffer.from(f.path, "utf8");
    h.update(`${path.length}:`).update(path).update(`${f.content.length}:`).update(f.content);
  }
  return h.digest("hex");
}

export function proxyConfig(driver: string, files: readonly ConfigFile[]): ProxyConfig {
  return { driver, files, hash: hashConfigFiles(files) };
}

/** JSON with object keys sorted at every level: the same value always gives the same bytes. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }, 2);
}
