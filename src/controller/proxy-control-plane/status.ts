import * as grpc from "@grpc/grpc-js";
import { CODE_METADATA_KEY } from "../../common/proto.js";

/**
 * A gRPC error that carries meshfed's stable code twice: as the first word of
 * the details (what a human reads) and in a trailer (what an agent matches).
 */
export function statusError(status: grpc.status, code: string, message: string): Partial<grpc.StatusObject> & { code: grpc.status } {
  const metadata = new grpc.Metadata();
  metadata.set(CODE_METADATA_KEY, code);
  return { code: status, details: `${code}: ${message}`, metadata };
}
