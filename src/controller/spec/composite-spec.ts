import { Listeners } from "../../common/emitter.js";
import type { ProviderStatus } from "../source-status.js";
import type { PolicySnapshot } from "./policy-types.js";
import type { MeshSpec, MeshSpecSnapshot } from "./types.js";

/**
 * Several policy sources at once (YAML files and Kubernetes CRDs): the
 * policies are the union, each source keeps its own status. Objects with the
 * same kind and name in two sources are both kept; the catalog's indexes
 * resolve them deterministically, and each store reports its own errors.
 */
export class CompositeMeshSpec implements MeshSpec {
  readonly id: string;
  readonly #parts: readonly MeshSpec[];
  readonly #listeners = new Listeners<MeshSpecSnapshot>();

  constructor(parts: readonly MeshSpec[]) {
    this.#parts = parts;
    this.id = parts.map((p) => p.id).join("+");
  }

  get parts(): readonly MeshSpec[] {
    return this.#parts;
  }

  async start(signal: AbortSignal): Promise<void> {
    for (const p of this.#parts) p.on("change", () => this.#listeners.emit(this.#snapshot()));
    await Promise.all(this.#parts.map((p) => p.start(signal)));
  }

  #snapshot(): MeshSpecSnapshot {
    return { trafficSplits: this.trafficSplits(), trafficTargets: this.trafficTargets(), httpRouteGroups: this.httpRouteGroups(), tcpRoutes: this.tcpRoutes(), ...this.policies() };
  }

  trafficSplits() { return this.#parts.flatMap((p) => p.trafficSplits()); }
  trafficTargets() { return this.#parts.flatMap((p) => p.trafficTargets()); }
  httpRouteGroups() { return this.#parts.flatMap((p) => p.httpRouteGroups()); }
  tcpRoutes() { return this.#parts.flatMap((p) => p.tcpRoutes()); }
  policies(): PolicySnapshot {
    const all = this.#parts.map((p) => p.policies());
    return {
      egresses: all.flatMap((p) => p.egresses),
      ingressBackends: all.flatMap((p) => p.ingressBackends),
      upstreamTrafficSettings: all.flatMap((p) => p.upstreamTrafficSettings),
      retries: all.flatMap((p) => p.retries),
    };
  }

  on(_event: "change", fn: (spec: MeshSpecSnapshot) => void): () => void {
    return this.#listeners.add(fn);
  }

  /** The worst state of the parts, summed counts; the admin API also lists each part's own status. */
  status(): ProviderStatus {
    const parts = this.#parts.map((p) => p.status());
    const rank = { stopped: 3, degraded: 2, starting: 1, synced: 0 } as const;
    const worst = parts.reduce((a, b) => (rank[b.state] > rank[a.state] ? b : a));
    const counts: Record<string, number> = {};
    for (const p of parts) for (const [k, v] of Object.entries(p.counts)) counts[k] = (counts[k] ?? 0) + v;
    const syncs = parts.map((p) => p.lastSync).filter((x): x is string => x !== null).sort();
    return {
      id: this.id, kind: "spec", state: worst.state, counts,
      lastSync: syncs.length === parts.length ? syncs[0]! : null,
      lastError: parts.find((p) => p.lastError !== null)?.lastError ?? null,
    };
  }
}
