/**
 * Wiring step 3: the mesh catalog and what it reads besides the sources —
 * the mesh VIPs, the proxy sessions of this replica and, on a shared store,
 * the agents other replicas hold (agent registrations).
 */
import { errorCode } from "../../common/errors.js";
import { MeshCatalog } from "../catalog/catalog.js";
import type { ConnectedProxy } from "../catalog/types.js";
import { AgentRegistrations, type StreamDetails } from "../ha/agent-registrations.js";
import { remoteConnected } from "../ha/replica-proxies.js";
import type { PollingSidecars } from "../proxy-control-plane/polling-sidecars.js";
import { ProxySessions } from "../proxy-control-plane/sessions.js";
import { VipAllocator } from "../vips/allocator.js";
import { VipRange } from "../vips/vip-range.js";
import type { Assembly } from "./assembly.js";
import type { SharedState } from "./shared-state.js";
import type { Sources } from "./sources.js";

export interface Mesh {
  readonly catalog: MeshCatalog;
  readonly vips: VipAllocator;
  readonly sessions: ProxySessions;
  readonly registrations: AgentRegistrations | undefined;
  /** Sidecars in pods polling the Pipy repo, once it listens; they count as connected. */
  addPollingSidecars(sidecars: PollingSidecars): void;
}

/** Builds the catalog and its inputs; nothing runs until startMesh. */
export function buildMesh(a: Assembly, shared: SharedState, sources: Sources): Mesh {
  const { config, logger, clock } = a;
  const { store, leader, metrics, replicaId, certificates } = shared;
  const sessions = new ProxySessions();
  metrics.setFleetSource({
    proxies: () => sessions.all().map((s) => ({
      agentVersion: s.agentVersion, proxyVersion: s.proxyVersion,
      // Nothing sent on this stream: the agent runs the version it said it holds.
      sentVersion: s.configSentAt > 0 ? s.configVersion : undefined,
      ackedVersion: s.lastAck?.version, ackOk: s.lastAck?.ok,
    })),
    certificates: () => certificates.certificates().filter((c) => c.state !== "revoked"),
  });
  const registrations = store.leased
    ? new AgentRegistrations({ store, leased: store.leased, replicaId, agents: sources.agents, logger, streamOf: (proxyId) => streamDetails(sessions, proxyId) })
    : undefined;
  // The allocator reads which services exist from the catalog, which reads the VIPs from it: one presence function breaks the knot.
  const presence: { catalog?: MeshCatalog } = {};
  const vips = new VipAllocator({
    store, range: VipRange.parse(config.mesh.vipRange), releaseAfterMs: config.mesh.vipReleaseAfter, leadership: leader, logger, metrics,
    presence: { has: (key) => presence.catalog?.has(key) ?? false, keys: () => presence.catalog?.keys() ?? [] },
    now: () => clock.now(),
  });
  const polling: PollingSidecars[] = [];
  const catalog = new MeshCatalog({
    vips,
    providers: sources.providers,
    spec: sources.spec,
    certificates,
    // Agents on their gRPC streams, and pod sidecars polling the repo.
    connected: { connected: () => connectedProxies(sessions, polling, registrations, replicaId) },
    providerPriority: config.catalog.providerPriority,
    corroborateOnly: config.agents.selfRegistration ? [] : [sources.agents.id],
    permissive: config.mesh.permissive,
    outboundPassthrough: config.mesh.outboundPassthrough,
    coalesceMs: config.catalog.coalesce,
    maxDelayMs: config.catalog.maxDelay,
    logger: logger.child({ component: "catalog" }),
    metrics,
  });
  presence.catalog = catalog;
  return { catalog, vips, sessions, registrations, addPollingSidecars: (s) => polling.push(s) };
}

/** Starts the catalog's followers, then the catalog, once the sources had their first sync. */
export async function startMesh(a: Assembly, mesh: Mesh): Promise<void> {
  const { registrations, vips, catalog } = mesh;
  // Before the plane: a replica that serves agents must already see the others' endpoints.
  if (registrations) {
    const signal = a.signal("agent-registrations");
    await a.start.step("agent-registrations", () => registrations.start(signal));
  }
  // Loaded before the catalog's first update, so the first configs already carry the VIPs.
  const vipSignal = a.signal("vips:follow");
  // Its queued writes finish before the store closes (the store was registered long before).
  a.closer.add({ name: "vips", close: () => vips.close() });
  await a.start.step("vips", () => vips.start(vipSignal));
  // The catalog closes itself when its signal aborts.
  await a.start.step("catalog", () => catalog.start(a.signal("catalog")));
  const vipFailed = (err: unknown) => a.log.error({ err, code: errorCode(err) }, "mesh VIP bookkeeping failed; the next sweep retries");
  // A policy change can add or drop split roots (names apps call): a full sweep, rare enough to afford.
  const off = catalog.on("change", (change) => void (change.spec ? vips.sweep() : vips.observe(change.services)).catch(vipFailed));
  a.closer.defer("vips:observe", off);
}

/** Agents on this replica's streams, pod sidecars polling its repo, and other replicas' agents. */
function connectedProxies(sessions: ProxySessions, polling: readonly PollingSidecars[], registrations: AgentRegistrations | undefined, replicaId: string): ConnectedProxy[] {
  const local = [...sessions.connected(), ...polling.flatMap((s) => [...s.connected()])];
  if (registrations === undefined) return local;
  return [...local.map((p) => ({ ...p, replicaId })), ...remoteConnected(registrations.remote(), new Set(local.map((p) => p.proxyId)))];
}

/** What other replicas learn about a proxy connected here, from its session. */
function streamDetails(sessions: ProxySessions, proxyId: string): StreamDetails | undefined {
  const s = sessions.get(proxyId);
  if (s === undefined) return undefined;
  return { serial: s.identity.serial, peer: s.identity.peer, addresses: s.addresses, agentVersion: s.agentVersion, proxyVersion: s.proxyVersion, connectedAt: s.connectedAt };
}
