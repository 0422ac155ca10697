/**
 * Picks the election that matches the store (docs/ha.md): etcd's election
 * API on etcd, a coordination.k8s.io/v1 Lease on `store: kubernetes`, and
 * for a store this process owns alone (file) this process is the leader.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "../../common/logger.js";
import type { StateStore } from "../store/types.js";
import type { ElectionSource } from "./etcd-leadership.js";
import { SoleLeader, type Leadership } from "./leadership.js";

interface ClusterStore {
  readonly cluster: { readonly kubeConfig: KubeConfig; readonly namespace: string };
}

export async function startLeadership(store: StateStore, options: { replicaId: string; ttlSeconds: number; logger: Logger }): Promise<Leadership> {
  if (isElectionSource(store)) {
    const { EtcdLeadership } = await import("./etcd-leadership.js");
    return EtcdLeadership.start({ source: store, ...options });
  }
  if (isClusterStore(store)) {
    const { LeaseLeadership } = await import("./lease-leadership.js");
    return LeaseLeadership.start({ ...store.cluster, ...options });
  }
  return new SoleLeader(options.replicaId);
}

function isElectionSource(store: StateStore): store is StateStore & ElectionSource {
  return typeof (store as Partial<ElectionSource>).electionKeys === "function";
}

function isClusterStore(store: StateStore): store is StateStore & ClusterStore {
  return store.kind === "kubernetes" && typeof (store as Partial<ClusterStore>).cluster === "object";
}
