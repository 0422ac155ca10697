/**
 * The `store` setting (docs/ha.md): `file` (the data directory, one process),
 * `kubernetes` (Secrets in the controller's namespace, shared by replicas) or `etcd://host:port[,host:port…]` (shared by replicas). Parsing lives
 * apart from the stores so that reading a config never loads the etcd client.
 */
import { parseHostPort } from "../../common/address.js";
import { MeshfedError } from "../../common/errors.js";

export const STORE_BAD_URL = "MESHFED_STORE_BAD_URL";

export type StoreLocation = { readonly kind: "file" } | { readonly kind: "kubernetes" } | { readonly kind: "etcd"; readonly endpoints: readonly string[] };

/** Throws MESHFED_STORE_BAD_URL naming what is wrong. */
export function parseStoreLocation(text: string): StoreLocation {
  if (text === "file") return { kind: "file" };
  if (text === "kubernetes") return { kind: "kubernetes" };
  const m = /^etcd:\/\/(.+)$/.exec(text);
  if (!m) throw new MeshfedError(STORE_BAD_URL, `store "${text}" is none of "file", "kubernetes" and "etcd://host:port[,host:port...]"`);
  const endpoints = m[1]!.split(",").map((e) => e.trim());
  for (const endpoint of endpoints) {
    try {
      const { port } = parseHostPort(endpoint);
      if (port === 0) throw new Error("port 0");
    } catch {
      throw new MeshfedError(STORE_BAD_URL, `store "${text}": "${endpoint}" is not host:port`);
    }
  }
  return { kind: "etcd", endpoints };
}

