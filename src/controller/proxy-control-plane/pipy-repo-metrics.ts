import { Counter, type Registry } from "prom-client";

/**
 * The Pipy repo's own metrics, registered on the controller's registry.
 * Kept beside the repo rather than in common/metrics.ts so that the repo is
 * one self-contained part; registering twice on one registry reuses the first.
 */
export interface RepoMetrics {
  readonly requests: Counter<"kind" | "status">;
  readonly refusals: Counter<"code">;
  readonly handshakeFailures: Counter;
}

export function repoMetrics(registry: Registry): RepoMetrics {
  const get = <T>(name: string, make: () => T): T => (registry.getSingleMetric(name) as T | undefined) ?? make();
  return {
    requests: get("meshfed_pipy_repo_requests_total", () =>
      new Counter({ name: "meshfed_pipy_repo_requests_total", help: "Pipy repo requests by kind (head, manifest, file, status) and HTTP status.", labelNames: ["kind", "status"], registers: [registry] })),
    refusals: get("meshfed_pipy_repo_refusals_total", () =>
      new Counter({ name: "meshfed_pipy_repo_refusals_total", help: "Pipy repo requests refused after the TLS handshake, by code.", labelNames: ["code"], registers: [registry] })),
    handshakeFailures: get("meshfed_pipy_repo_tls_failures_total", () =>
      new Counter({ name: "meshfed_pipy_repo_tls_failures_total", help: "TLS handshakes refused by the Pipy repo (no or untrusted client certificate).", registers: [registry] })),
  };
}
