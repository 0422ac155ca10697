import type { ProviderStatus } from "../source-status.js";
import { emptyPolicies } from "./policy-types.js";
import type { MeshSpec } from "./types.js";

/**
 * The mesh spec when no policy source is configured: no policies at all, so
 * only permissive mode lets traffic through. Ready at once.
 */
export class EmptyMeshSpec implements MeshSpec {
  readonly id = "smi-none";
  async start(): Promise<void> {}
  trafficSplits() { return []; }
  trafficTargets() { return []; }
  httpRouteGroups() { return []; }
  tcpRoutes() { return []; }
  policies() { return emptyPolicies(); }
  on(): () => void {
    return () => undefined;
  }
  status(): ProviderStatus {
    return { id: this.id, kind: "spec", state: "synced", lastSync: null, lastError: null, counts: {} };
  }
}
