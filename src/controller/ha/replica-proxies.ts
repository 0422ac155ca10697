/**
 * Every replica's connected proxies, seen from any replica (docs/ha.md):
 * this replica's own streams, plus what other replicas' agent registrations
 * say about theirs. Each row names the replica holding the stream. A proxy
 * that moved keeps a registration at its old replica until that replica's
 * lease ends; the row of the newest stream wins, a local one always.
 *
 * Other replicas' rows carry no config, ACK, health or service certificate:
 * those change with every push and stay with the replica holding the stream
 * (ask it: its `replicaId` is in the row).
 */
import { parseServiceKey } from "../../common/service.js";
import type { ConnectedProxy } from "../catalog/types.js";
import type { ProxyInfo } from "../proxy-control-plane/session.js";
import type { RemoteRegistration } from "./agent-registrations.js";

export interface ReplicaProxyInfo extends ProxyInfo {
  /** The replica holding the proxy's stream. */
  readonly replicaId: string;
  /** True when that is the replica answering. */
  readonly local: boolean;
}

export function proxiesAcrossReplicas(local: readonly ProxyInfo[], replicaId: string, remote: Iterable<RemoteRegistration>): ReplicaProxyInfo[] {
  const rows = new Map<string, ReplicaProxyInfo>();
  for (const p of local) rows.set(p.proxyId, { ...p, replicaId, local: true });
  for (const r of remote) {
    const seen = rows.get(r.proxyId);
    if (seen && (seen.local || seen.connectedAt >= (r.connectedAt ?? ""))) continue;
    rows.set(r.proxyId, {
      proxyId: r.proxyId, service: r.service, serial: r.serial ?? "", peer: r.peer ?? "", addresses: r.addresses ?? [], endpoints: r.endpoints,
      agentVersion: r.agentVersion ?? "", proxyVersion: r.proxyVersion ?? "", connectedAt: r.connectedAt ?? "",
      config: null, lastAck: null, health: null, serviceCertificate: null, capture: null, replicaId: r.replicaId, local: false,
    });
  }
  return [...rows.values()].sort((a, b) => (a.proxyId < b.proxyId ? -1 : a.proxyId > b.proxyId ? 1 : 0));
}

/**
 * Other replicas' proxies for the participants' "connected" leg, minus
 * those connected here (listed by this replica's own sources) and minus
 * records from replicas too old to name the certificate serial, which the
 * join needs.
 */
export function* remoteConnected(remote: Iterable<RemoteRegistration>, localProxyIds: ReadonlySet<string>): Iterable<ConnectedProxy> {
  const newest = new Map<string, RemoteRegistration>();
  for (const r of remote) {
    if (r.serial === undefined || localProxyIds.has(r.proxyId)) continue;
    const seen = newest.get(r.proxyId);
    if (!seen || (seen.connectedAt ?? "") < (r.connectedAt ?? "")) newest.set(r.proxyId, r);
  }
  for (const r of newest.values()) {
    yield { proxyId: r.proxyId, service: parseServiceKey(r.service), serial: r.serial!, addresses: r.addresses ?? [], connectedAt: r.connectedAt ?? "", via: "stream", replicaId: r.replicaId };
  }
}
