/**
 * Which injected pods Prometheus is told to scrape (docs/operations.md
 * "Scraping pods"). Every sidecar serves its metrics on the scrape port;
 * the `prometheus.io/*` annotations that Prometheus' kubernetes_sd relabelling
 * reads are added when the pod or its namespace asks for metrics, as
 * osm-edge does with `openservicemesh.io/metrics: enabled`:
 *
 *   pod annotation `meshfed.io/metrics: enabled|disabled`   decides when present;
 *   else namespace label `meshfed.io/metrics=enabled`        (kubectl label; the Kubernetes
 *                                                            provider's cache, or the API read
 *                                                            that found the namespace meshed).
 *
 * A pod that already carries its own `prometheus.io/*` annotations (its app's
 * metrics) keeps them: ours would replace them, and one pod has one target.
 */
import { MeshfedError } from "../../common/errors.js";
import { METRICS_LABEL } from "../kube/objects.js";
import { ANNOTATION_INVALID } from "./capture-annotations.js";

export const METRICS_KEY = METRICS_LABEL;
const PROMETHEUS_PREFIX = "prometheus.io/";

export type MetricsDecision =
  | { readonly annotate: true }
  | { readonly annotate: false; readonly warning?: string };

/** The pod's own answer: true/false, or undefined when it does not say (the namespace decides). */
export function podMetricsChoice(annotations: Readonly<Record<string, string>> | null | undefined): boolean | undefined {
  const value = annotations?.[METRICS_KEY];
  if (value === undefined) return undefined;
  if (value === "enabled") return true;
  if (value === "disabled") return false;
  throw new MeshfedError(ANNOTATION_INVALID, `annotation ${METRICS_KEY}: "${value}" is neither "enabled" nor "disabled"`);
}

export function namespaceWantsMetrics(labels: Readonly<Record<string, string>> | undefined): boolean {
  return labels?.[METRICS_KEY] === "enabled";
}

/** Given that metrics are wanted: annotate unless the pod has prometheus.io annotations of its own. */
export function metricsDecision(annotations: Readonly<Record<string, string>> | null | undefined, wanted: boolean): MetricsDecision {
  if (!wanted) return { annotate: false };
  const own = Object.keys(annotations ?? {}).filter((k) => k.startsWith(PROMETHEUS_PREFIX)).sort();
  if (own.length > 0) {
    return { annotate: false, warning: `the pod's own ${own.join(", ")} annotations are kept; the sidecar's metrics are not announced to Prometheus (scrape the sidecar's port by name instead)` };
  }
  return { annotate: true };
}
