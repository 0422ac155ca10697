/** Opens the state store the `store` setting names (store-location.ts). */
import type { KubeConfig } from "@kubernetes/client-node";
import { MeshfedError } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import { FileStore } from "./file-store.js";
import { STORE_BAD_URL, type StoreLocation } from "./store-location.js";
import type { StateStore } from "./types.js";

export interface OpenStoreOptions {
  readonly location: StoreLocation;
  readonly dataDir: string;
  readonly leaseTtlSeconds: number;
  readonly connectTimeoutMs: number;
  readonly logger: Logger;
  /** This replica, whose leased keys a shared store keeps alive. */
  readonly replicaId: string;
  /** The cluster access of providers.kubernetes, for `store: kubernetes`; undefined without that block. */
  readonly kubernetes?: { readonly kubeConfig: KubeConfig; readonly namespace: string };
}

export async function openStore(options: OpenStoreOptions): Promise<StateStore> {
  const { location } = options;
  if (location.kind === "file") return FileStore.open(options.dataDir);
  if (location.kind === "kubernetes") {
    if (options.kubernetes === undefined) {
      throw new MeshfedError(STORE_BAD_URL, 'store "kubernetes" needs the providers.kubernetes block (in-cluster or a kubeconfig) to reach the API server');
    }
    const { KubernetesStore } = await import("./kubernetes-store.js");
    return new KubernetesStore({ ...options.kubernetes, replica: { replicaId: options.replicaId, leaseTtlSeconds: options.leaseTtlSeconds }, logger: options.logger });
  }
  // Loaded only when asked for: the etcd client costs start-up time a file store need not pay.
  const { EtcdStore } = await import("./etcd-store.js");
  return EtcdStore.open({
    endpoints: location.endpoints, leaseTtlSeconds: options.leaseTtlSeconds, connectTimeoutMs: options.connectTimeoutMs, logger: options.logger,
  });
}
