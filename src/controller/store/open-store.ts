/** Opens the state store the `store` setting names (store-location.ts). */
import type { Logger } from "../../common/logger.js";
import { FileStore } from "./file-store.js";
import type { StoreLocation } from "./store-location.js";
import type { StateStore } from "./types.js";

export interface OpenStoreOptions {
  readonly location: StoreLocation;
  readonly dataDir: string;
  readonly leaseTtlSeconds: number;
  readonly connectTimeoutMs: number;
  readonly logger: Logger;
}

export async function openStore(options: OpenStoreOptions): Promise<StateStore> {
  const { location } = options;
  if (location.kind === "file") return FileStore.open(options.dataDir);
  // Loaded only when asked for: the etcd client costs start-up time a file store need not pay.
  const { EtcdStore } = await import("./etcd-store.js");
  return EtcdStore.open({
    endpoints: location.endpoints, leaseTtlSeconds: options.leaseTtlSeconds, connectTimeoutMs: options.connectTimeoutMs, logger: options.logger,
  });
}
