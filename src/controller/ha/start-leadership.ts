import type { Logger } from "../../common/logger.js";
import type { StateStore } from "../store/types.js";
import type { ElectionSource } from "./etcd-leadership.js";
import { SoleLeader, type Leadership } from "./leadership.js";

/** A store shared between processes elects a leader; one owned by this process alone makes it the leader. */
export async function startLeadership(store: StateStore, options: { replicaId: string; ttlSeconds: number; logger: Logger }): Promise<Leadership> {
  if (!isElectionSource(store)) return new SoleLeader(options.replicaId);
  const { EtcdLeadership } = await import("./etcd-leadership.js");
  return EtcdLeadership.start({ source: store, ...options });
}

function isElectionSource(store: StateStore): store is StateStore & ElectionSource {
  return typeof (store as Partial<ElectionSource>).election === "function";
}
