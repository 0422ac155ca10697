/**
 * Loads the wire contract (proto/meshfed/v1) at run time with the same
 * options the TypeScript types in src/generated/proto were generated with
 * (`npm run gen:proto`; `npm run check:proto` fails when they drift).
 * Shared by the controller and the agent: the only code they have in common
 * besides small pure helpers.
 */
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type { ProtoGrpcType } from "../generated/proto/control_plane.js";
import { bundledProtoFile } from "./bundle-info.js";

// In the agent bundle the proto files sit next to the bundled file (bundle-info.ts says why).
export const PROTO_FILE = fileURLToPath(new URL(bundledProtoFile ?? "../../../proto/meshfed/v1/control_plane.proto", import.meta.url));

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

let cached: ProtoGrpcType | undefined;

export function loadProto(): ProtoGrpcType {
  cached ??= grpc.loadPackageDefinition(protoLoader.loadSync(PROTO_FILE, LOADER_OPTIONS)) as unknown as ProtoGrpcType;
  return cached;
}

/** Largest message either side accepts: a config of a few hundred KB plus certificates fits with room. */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/** Trailer that carries a refusal's stable code, so an agent can print it verbatim. */
export const CODE_METADATA_KEY = "meshfed-code";

export type { ProtoGrpcType };
export type { AgentMessage__Output, AgentMessage } from "../generated/proto/meshfed/v1/AgentMessage.js";
export type { ControllerMessage__Output, ControllerMessage } from "../generated/proto/meshfed/v1/ControllerMessage.js";
export type { EnrollRequest__Output, EnrollRequest } from "../generated/proto/meshfed/v1/EnrollRequest.js";
export type { EnrollResponse__Output, EnrollResponse } from "../generated/proto/meshfed/v1/EnrollResponse.js";
export type { ProxyControlPlaneClient, ProxyControlPlaneHandlers } from "../generated/proto/meshfed/v1/ProxyControlPlane.js";
export type { AttestationNonceRequest__Output, AttestationNonceRequest } from "../generated/proto/meshfed/v1/AttestationNonceRequest.js";
export type { AttestationNonceResponse__Output, AttestationNonceResponse } from "../generated/proto/meshfed/v1/AttestationNonceResponse.js";
