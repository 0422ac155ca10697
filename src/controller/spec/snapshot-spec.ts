import { Listeners } from "../../common/emitter.js";
import type { ProviderError, ProviderStatus } from "../source-status.js";
import { emptyMeshSpec } from "./smi-validate.js";
import type { PolicySnapshot } from "./policy-types.js";
import type { HTTPRouteGroup, MeshSpec, MeshSpecSnapshot, TCPRoute, TrafficSplit, TrafficTarget } from "./types.js";

/**
 * What every policy store shares: the current snapshot, change detection by
 * content (so a reload that changes nothing emits nothing), the listeners,
 * and the objects skipped as invalid. The file and CRD stores differ only in
 * where objects come from.
 */
export abstract class SnapshotMeshSpec implements MeshSpec {
  abstract readonly id: string;
  abstract start(signal: AbortSignal): Promise<void>;
  abstract status(): ProviderStatus;

  readonly #listeners = new Listeners<MeshSpecSnapshot>();
  #spec: MeshSpecSnapshot = emptyMeshSpec();
  #fingerprint = JSON.stringify(this.#spec);
  /** Every object the last read skipped, with the reason; empty when all were valid. */
  protected skipped: readonly ProviderError[] = [];

  trafficSplits(): readonly TrafficSplit[] {
    return this.#spec.trafficSplits;
  }
  trafficTargets(): readonly TrafficTarget[] {
    return this.#spec.trafficTargets;
  }
  httpRouteGroups(): readonly HTTPRouteGroup[] {
    return this.#spec.httpRouteGroups;
  }
  tcpRoutes(): readonly TCPRoute[] {
    return this.#spec.tcpRoutes;
  }
  policies(): PolicySnapshot {
    const s = this.#spec;
    return { egresses: s.egresses, ingressBackends: s.ingressBackends, upstreamTrafficSettings: s.upstreamTrafficSettings, retries: s.retries };
  }
  /** The whole current spec. */
  snapshot(): MeshSpecSnapshot {
    return this.#spec;
  }

  on(_event: "change", fn: (spec: MeshSpecSnapshot) => void): () => void {
    return this.#listeners.add(fn);
  }

  errors(): readonly ProviderError[] {
    return this.skipped;
  }

  /** Replaces the current policies; true when their content changed. Emits nothing. */
  protected replaceSpec(snapshot: MeshSpecSnapshot): boolean {
    const fingerprint = JSON.stringify(snapshot);
    const changed = fingerprint !== this.#fingerprint;
    this.#spec = snapshot;
    this.#fingerprint = fingerprint;
    return changed;
  }

  protected emitChange(): void {
    this.#listeners.emit(this.#spec);
  }

  /** Per-kind counts for status(). */
  protected specCounts(): Record<string, number> {
    const s = this.#spec;
    return {
      trafficSplits: s.trafficSplits.length, trafficTargets: s.trafficTargets.length,
      httpRouteGroups: s.httpRouteGroups.length, tcpRoutes: s.tcpRoutes.length,
      egresses: s.egresses.length, ingressBackends: s.ingressBackends.length,
      upstreamTrafficSettings: s.upstreamTrafficSettings.length, retries: s.retries.length, errors: this.skipped.length,
    };
  }
}
