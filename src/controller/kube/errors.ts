/**
 * Error codes of the Kubernetes provider, the SMI CRD store and the MeshConfig
 * watcher (they share the client plumbing in this folder). Scripts and tests
 * match on the code, never on the message.
 */
import { MeshfedError, errorMessage } from "../../common/errors.js";

export const KUBE_ERROR_CODES = {
  /** No usable kubeconfig / in-cluster config, unknown context, no current cluster. */
  config: "MESHFED_KUBE_CONFIG",
  /** A list request failed (the informer retries with backoff). */
  list: "MESHFED_KUBE_LIST",
  /** A watch request or stream failed (the informer resumes with backoff). */
  watch: "MESHFED_KUBE_WATCH",
  /** 401/403: credentials or RBAC are missing a verb; see docs/kubernetes.md. */
  forbidden: "MESHFED_KUBE_FORBIDDEN",
  /** 404 on a list: usually a CRD that is not installed. */
  notFound: "MESHFED_KUBE_NOT_FOUND",
  /** The API server could not be reached (refused, reset, DNS). */
  unreachable: "MESHFED_KUBE_UNREACHABLE",
  /** An object failed our schema and was skipped. */
  invalidObject: "MESHFED_KUBE_INVALID_OBJECT",
  /** The MeshConfig object or ConfigMap holds an unknown key or a bad value (or the two together are wrong); the last good settings stay. */
  meshConfigInvalid: "MESHFED_KUBE_MESHCONFIG_INVALID",
  /** The stop signal aborted before the first full sync. */
  stopped: "MESHFED_KUBE_STOPPED",
} as const;

interface HttpishError {
  statusCode?: unknown;
  code?: unknown;
  body?: unknown;
}

/** The HTTP status an error from client-node carries: `statusCode` (Watch) or numeric `code` (ApiException). */
export function httpStatusOf(err: unknown): number | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const e = err as HttpishError;
  if (typeof e.statusCode === "number") return e.statusCode;
  if (typeof e.code === "number") return e.code;
  return undefined;
}

const NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EPIPE"]);

function networkCodeOf(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; typeof e === "object" && e !== null && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && NETWORK_CODES.has(code)) return code;
    const errno = (e as { errno?: unknown }).errno;
    if (typeof errno === "string" && NETWORK_CODES.has(errno)) return errno;
  }
  return undefined;
}

/**
 * Turns whatever client-node threw (ApiException, a Watch error with
 * `statusCode`, a node-fetch FetchError) into a MeshfedError with a stable
 * code. `phase` says which request failed; `what` names the resource.
 */
export function classifyKubeError(err: unknown, phase: "list" | "watch", what: string): MeshfedError {
  if (err instanceof MeshfedError) return err;
  const status = httpStatusOf(err);
  const details: Record<string, unknown> = { resource: what, phase, ...(status === undefined ? {} : { status }) };
  if (status === 401 || status === 403) {
    return new MeshfedError(KUBE_ERROR_CODES.forbidden, `${phase} ${what}: HTTP ${status}: the controller's credentials may not ${phase} ${what} (check RBAC, docs/kubernetes.md)`, { cause: err, details });
  }
  if (status === 404 && phase === "list") {
    return new MeshfedError(KUBE_ERROR_CODES.notFound, `list ${what}: HTTP 404: the API server does not serve it (is the CRD installed? see config/kubernetes/crds)`, { cause: err, details });
  }
  const net = networkCodeOf(err);
  if (net !== undefined) {
    return new MeshfedError(KUBE_ERROR_CODES.unreachable, `${phase} ${what}: cannot reach the API server (${net})`, { cause: err, details: { ...details, errno: net } });
  }
  const code = phase === "list" ? KUBE_ERROR_CODES.list : KUBE_ERROR_CODES.watch;
  return new MeshfedError(code, `${phase} ${what}: ${status === undefined ? errorMessage(err) : `HTTP ${status}`}`, { cause: err, details });
}
