/**
 * Telling a refusal from a transport problem. The controller refuses with
 * PERMISSION_DENIED (token, certificate, service problems), INVALID_ARGUMENT
 * (a malformed CSR or Hello) or UNAUTHENTICATED, and puts a stable reason code
 * in the `meshfed-code` trailer and as the first word of the details. Those
 * are permanent: retrying cannot help, so the agent stops and says why.
 * Everything else (UNAVAILABLE, DEADLINE_EXCEEDED, a reset stream, a failed
 * TLS handshake) is transient and retried with backoff.
 */
import * as grpc from "@grpc/grpc-js";
import { MeshfedError } from "../common/errors.js";
import { CODE_METADATA_KEY } from "../common/proto.js";

const PERMANENT = new Set<grpc.status>([grpc.status.PERMISSION_DENIED, grpc.status.INVALID_ARGUMENT, grpc.status.UNAUTHENTICATED]);
const CODE_WORD = /^(MESHFED_[A-Z0-9_]+):?\s*/;

export interface RpcFailure {
  readonly permanent: boolean;
  /** The meshfed reason code, or GRPC_<STATUS> when the controller sent none. */
  readonly code: string;
  /** The details without the leading code word. */
  readonly details: string;
  readonly grpcCode: grpc.status | undefined;
}

export function classifyRpcError(err: unknown): RpcFailure {
  const e = err as Partial<grpc.ServiceError>;
  const grpcCode = typeof e.code === "number" ? (e.code) : undefined;
  const rawDetails = typeof e.details === "string" ? e.details : err instanceof Error ? err.message : String(err);
  const trailer = e.metadata instanceof grpc.Metadata ? e.metadata.get(CODE_METADATA_KEY)[0] : undefined;
  const fromDetails = CODE_WORD.exec(rawDetails);
  const code = typeof trailer === "string" && trailer !== "" ? trailer : fromDetails?.[1] ?? `GRPC_${grpcCode === undefined ? "UNKNOWN" : grpc.status[grpcCode]}`;
  const details = rawDetails.replace(CODE_WORD, "");
  return { permanent: grpcCode !== undefined && PERMANENT.has(grpcCode), code, details, grpcCode };
}

/** A refusal the agent must not retry: it stops and exits non-zero. */
export class PermanentRefusal extends MeshfedError {
  constructor(code: string, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
    this.name = "PermanentRefusal";
  }
}
