/**
 * Error codes of the Azure provider and the one place that turns whatever the
 * SDK threw (RestError, identity errors, socket errors) into a MeshfedError
 * with one of them. Scripts and tests match on the code, never the message.
 */
import { MeshfedError, errorMessage } from "../../../common/errors.js";

export const AZURE_ERROR_CODES = {
  /** No token: bad secret, unknown tenant, no managed identity, unreadable secretFile. */
  auth: "MESHFED_AZURE_AUTH",
  /** ARM said 403: the identity lacks Reader on this scope. */
  forbidden: "MESHFED_AZURE_FORBIDDEN",
  /** ARM said 404: the subscription or resource group does not exist. */
  notFound: "MESHFED_AZURE_NOT_FOUND",
  /** 429/503 retries exhausted, or a Retry-After longer than we are willing to wait now. */
  throttled: "MESHFED_AZURE_THROTTLED",
  /** ARM could not be reached: DNS, refused connection, TLS (untrusted CA), timeout. */
  unreachable: "MESHFED_AZURE_UNREACHABLE",
  /** Any other ARM error answer (the ARM error code is in the message). */
  request: "MESHFED_AZURE_REQUEST",
  /** An instance's meshfed tags are unusable; the instance is skipped and named. */
  badTag: "MESHFED_AZURE_BAD_TAG",
  /** A running, mapped instance whose primary NIC has no private IP we can find. */
  noAddress: "MESHFED_AZURE_NO_ADDRESS",
  /** The credential section cannot be used as written. */
  config: "MESHFED_AZURE_CONFIG",
} as const;

export type AzureErrorCode = (typeof AZURE_ERROR_CODES)[keyof typeof AZURE_ERROR_CODES];

/** Codes that mean "nothing in Azure can be read with this setup", as opposed to one scope failing. */
export const GLOBAL_FAILURES: ReadonlySet<string> = new Set([AZURE_ERROR_CODES.auth, AZURE_ERROR_CODES.unreachable]);

const NETWORK_CODES = new Set([
  "ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "ESOCKETTIMEDOUT", "EHOSTUNREACH", "ENETUNREACH",
  "CERT_HAS_EXPIRED", "DEPTH_ZERO_SELF_SIGNED_CERT", "SELF_SIGNED_CERT_IN_CHAIN", "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "ERR_TLS_CERT_ALTNAME_INVALID",
]);

interface ErrorLike {
  name?: unknown;
  code?: unknown;
  statusCode?: unknown;
  details?: unknown;
  cause?: unknown;
}

/**
 * Classifies an SDK failure. `what` names the call ("list VMs in rg-shop") so
 * that status() and logs say where it failed, not only how.
 */
export function toAzureError(err: unknown, what: string): MeshfedError {
  if (err instanceof MeshfedError) return err;
  const e = (typeof err === "object" && err !== null ? err : {}) as ErrorLike;
  const name = typeof e.name === "string" ? e.name : "";
  // @azure/identity: AuthenticationError, CredentialUnavailableError, AggregateAuthenticationError.
  if (/Authentication|CredentialUnavailable/.test(name)) {
    return new MeshfedError(AZURE_ERROR_CODES.auth, `${what}: no Azure token: ${firstLine(errorMessage(err))}`, { cause: err });
  }
  const status = typeof e.statusCode === "number" ? e.statusCode : undefined;
  const armCode = armErrorCode(e.details);
  const suffix = armCode === undefined ? firstLine(errorMessage(err)) : `${armCode}: ${firstLine(errorMessage(err))}`;
  if (status === 401) return new MeshfedError(AZURE_ERROR_CODES.auth, `${what}: ARM refused the token (401) ${suffix}`, { cause: err, details: { status } });
  if (status === 403) return new MeshfedError(AZURE_ERROR_CODES.forbidden, `${what}: forbidden (403), the identity needs Reader on this scope: ${suffix}`, { cause: err, details: { status } });
  if (status === 404) return new MeshfedError(AZURE_ERROR_CODES.notFound, `${what}: not found (404): ${suffix}`, { cause: err, details: { status } });
  if (status === 429 || status === 503) return new MeshfedError(AZURE_ERROR_CODES.throttled, `${what}: throttled (${status}) after retries: ${suffix}`, { cause: err, details: { status } });
  if (status !== undefined) return new MeshfedError(AZURE_ERROR_CODES.request, `${what}: ARM answered ${status}: ${suffix}`, { cause: err, details: { status } });
  if (isNetworkError(err)) return new MeshfedError(AZURE_ERROR_CODES.unreachable, `${what}: cannot reach ARM: ${firstLine(errorMessage(err))}`, { cause: err });
  return new MeshfedError(AZURE_ERROR_CODES.request, `${what}: ${firstLine(errorMessage(err))}`, { cause: err });
}

function isNetworkError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; typeof e === "object" && e !== null && depth < 5; e = (e as ErrorLike).cause, depth++) {
    const code = (e as ErrorLike).code;
    if (typeof code === "string" && (NETWORK_CODES.has(code) || code === "REQUEST_SEND_ERROR")) return true;
  }
  return false;
}

function armErrorCode(details: unknown): string | undefined {
  if (typeof details !== "object" || details === null) return undefined;
  const inner = (details as { error?: { code?: unknown } }).error?.code;
  return typeof inner === "string" ? inner : undefined;
}

// MSAL and RestError messages can span many lines (trace ids, timestamps); status() wants one.
function firstLine(text: string): string {
  const line = text.split("\n", 1)[0] ?? "";
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}
