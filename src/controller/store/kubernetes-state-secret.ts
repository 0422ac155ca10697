/**
 * How one state key is laid out as a Secret (kubernetes-store.ts): the name
 * is `<store>-state-<sha256(key) prefix>` (store keys allow `_` and `/`,
 * object names do not), the key is in an annotation, the bytes in
 * `data.value`, the label `meshfed.io/state=<store>` selects a store's
 * Secrets. A leased key also names the replica holding it and the uid of
 * that replica's Lease (kubernetes-replica-lease.ts).
 */
import { createHash } from "node:crypto";
import type { V1Secret } from "@kubernetes/client-node";
import { MeshfedError } from "../../common/errors.js";

export const STATE_KEY_ANNOTATION = "meshfed.io/state-key";
export const STATE_LABEL = "meshfed.io/state";
export const LEASE_HOLDER_ANNOTATION = "meshfed.io/lease-holder";
export const LEASE_UID_ANNOTATION = "meshfed.io/lease-uid";

const KEY = /^[a-z0-9._-]+(\/[a-z0-9._-]+)*$/;

/** The replica holding a leased key, and the uid of its Lease when the key was written. */
export interface LeaseHolder {
  readonly replicaId: string;
  readonly uid: string;
}

/** A state Secret as this store reads it. */
export interface StateEntry {
  readonly key: string;
  readonly value: Buffer;
  readonly resourceVersion: string;
  /** Set for a leased key. */
  readonly holder?: LeaseHolder;
}

export function checkKey(key: string): void {
  if (!KEY.test(key) || key.split("/").some((s) => s === "." || s === "..")) {
    throw new MeshfedError("MESHFED_STORE_BAD_KEY", `invalid store key "${key}"`);
  }
}

export function stateSecretName(storeName: string, key: string): string {
  checkKey(key);
  return `${storeName}-state-${createHash("sha256").update(key).digest("hex").slice(0, 32)}`;
}

/** True when `key` lies directly under `prefix/`. */
export function directlyUnder(prefix: string, key: string): boolean {
  return key.startsWith(`${prefix}/`) && !key.slice(prefix.length + 1).includes("/");
}

/**
 * The entry a Secret holds; undefined for a Secret this store did not write
 * (no key, or a name that does not match it and the store). The label is not
 * checked: a watch reports a Secret relabelled out of the selection as
 * deleted, carrying the new labels.
 */
export function parseStateSecret(storeName: string, secret: V1Secret): StateEntry | undefined {
  const meta = secret.metadata;
  const key = meta?.annotations?.[STATE_KEY_ANNOTATION];
  if (key === undefined || !KEY.test(key) || meta?.name !== stateSecretName(storeName, key)) return undefined;
  const replicaId = meta.annotations?.[LEASE_HOLDER_ANNOTATION];
  const uid = meta.annotations?.[LEASE_UID_ANNOTATION];
  return {
    key, value: Buffer.from(secret.data?.value ?? "", "base64"), resourceVersion: meta.resourceVersion ?? "",
    ...(replicaId === undefined ? {} : { holder: { replicaId, uid: uid ?? "" } }),
  };
}

export function stateSecretBody(o: { storeName: string; namespace: string; key: string; value: Buffer; resourceVersion?: string; holder?: LeaseHolder }): V1Secret {
  return {
    apiVersion: "v1", kind: "Secret", type: "Opaque",
    metadata: {
      name: stateSecretName(o.storeName, o.key), namespace: o.namespace,
      labels: { [STATE_LABEL]: o.storeName, "app.kubernetes.io/managed-by": "meshfed" },
      annotations: {
        [STATE_KEY_ANNOTATION]: o.key,
        ...(o.holder === undefined ? {} : { [LEASE_HOLDER_ANNOTATION]: o.holder.replicaId, [LEASE_UID_ANNOTATION]: o.holder.uid }),
      },
      ...(o.resourceVersion === undefined ? {} : { resourceVersion: o.resourceVersion }),
    },
    data: { value: o.value.toString("base64") },
  };
}

/**
 * The order of resourceVersion `a` against `b`: above 0 when newer, 0 when
 * the same, below 0 when older. The API documents them as opaque, but every
 * API server hands out etcd revisions; when one is not a number the later
 * event simply wins (1).
 */
export function versionOrder(a: string, b: string | undefined): number {
  if (b === undefined || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return 1;
  const [x, y] = [BigInt(a), BigInt(b)];
  return x > y ? 1 : x < y ? -1 : 0;
}
