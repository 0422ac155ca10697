/**
 * Which namespaces the sidecar webhook may ever be called for (issue 16 item
 * 6; docs/kubernetes.md "Availability of the webhook"). The webhook's
 * failurePolicy is Fail: a meshed pod created while no controller answers
 * would otherwise start without its proxy and bypass policy. The price is
 * that a controller outage blocks pod creation wherever the webhook is
 * called, so it must never be called where that outage cannot be afforded:
 *
 *  - kube-system, kube-public, kube-node-lease: the cluster's own pods
 *    (DNS, CNI, the API server's helpers) must start even if the mesh is down;
 *  - the controller's own namespace: with Fail, a dead controller could not
 *    be replaced, because its new pod would wait for the webhook it is.
 *
 * The shipped configuration (config/kubernetes/webhook.yaml) excludes them by
 * `kubernetes.io/metadata.name` (a label the API server sets on every
 * namespace and nobody can change). At start the controller reads the
 * configuration it patches and judges each webhook as if every one of these
 * namespaces carried the mesh label (a mislabelled kube-system is the case
 * to survive): with Fail, it refuses to start (MESHFED_INJECTOR_WEBHOOK_UNSAFE)
 * rather than run a configuration that can deadlock the cluster; with Ignore
 * it warns. The injector itself never injects there either (injector.ts).
 */
import { MeshfedError } from "../../common/errors.js";
import { MONITORED_BY_LABEL } from "../kube/objects.js";
import { INJECTOR_ERROR } from "./errors.js";

export const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";
export const CLUSTER_NAMESPACES = ["kube-system", "kube-public", "kube-node-lease"] as const;

export interface LabelSelectorView {
  readonly matchLabels?: Readonly<Record<string, string>> | undefined;
  readonly matchExpressions?: ReadonlyArray<{ readonly key: string; readonly operator: string; readonly values?: readonly string[] | undefined }> | undefined;
}

export interface WebhookScopeView {
  readonly name: string;
  /** Absent means Fail (admissionregistration.k8s.io/v1 default). */
  readonly failurePolicy?: string | undefined;
  /** Absent or empty matches every namespace. */
  readonly namespaceSelector?: LabelSelectorView | undefined;
}

/** Kubernetes label-selector semantics: every term must hold; an empty selector matches everything. */
export function selectorMatches(selector: LabelSelectorView | undefined, labels: Readonly<Record<string, string>>): boolean {
  for (const [k, v] of Object.entries(selector?.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector?.matchExpressions ?? []) {
    const value = labels[e.key];
    const values = e.values ?? [];
    switch (e.operator) {
      case "In":
        if (value === undefined || !values.includes(value)) return false;
        break;
      case "NotIn":
        if (value !== undefined && values.includes(value)) return false;
        break;
      case "Exists":
        if (value === undefined) return false;
        break;
      case "DoesNotExist":
        if (value !== undefined) return false;
        break;
      default:
        return false; // the API server rejects unknown operators; treat as not matching
    }
  }
  return true;
}

export interface ScopeProblem {
  readonly webhook: string;
  readonly failurePolicy: string;
  /** Protected namespaces this webhook would be called for, were they labelled for the mesh. */
  readonly namespaces: readonly string[];
}

/** Every webhook that could be called for a protected namespace. */
export function webhookScopeProblems(webhooks: readonly WebhookScopeView[], protectedNamespaces: readonly string[], meshName: string): ScopeProblem[] {
  const out: ScopeProblem[] = [];
  for (const w of webhooks) {
    const namespaces = protectedNamespaces.filter((ns) => selectorMatches(w.namespaceSelector, { [NAMESPACE_NAME_LABEL]: ns, [MONITORED_BY_LABEL]: meshName }));
    if (namespaces.length > 0) out.push({ webhook: w.name, failurePolicy: w.failurePolicy ?? "Fail", namespaces });
  }
  return out;
}

/** Throws MESHFED_INJECTOR_WEBHOOK_UNSAFE for a Fail webhook that can block a protected namespace; returns the Ignore ones to warn about. */
export function checkWebhookScope(configuration: string, webhooks: readonly WebhookScopeView[], protectedNamespaces: readonly string[], meshName: string): ScopeProblem[] {
  const problems = webhookScopeProblems(webhooks, protectedNamespaces, meshName);
  const blocking = problems.filter((p) => p.failurePolicy !== "Ignore");
  if (blocking.length > 0) {
    const what = blocking.map((p) => `${p.webhook} (failurePolicy ${p.failurePolicy}) would be called for ${p.namespaces.join(", ")}`).join("; ");
    throw new MeshfedError(INJECTOR_ERROR.webhookUnsafe,
      `MutatingWebhookConfiguration ${configuration}: ${what}: a controller outage would block pod creation there (in the controller's own namespace, for good). Exclude them with a namespaceSelector term {key: ${NAMESPACE_NAME_LABEL}, operator: NotIn, values: [${protectedNamespaces.join(", ")}]} as config/kubernetes/webhook.yaml does`,
      { details: { configuration, problems: blocking } });
  }
  return problems;
}
