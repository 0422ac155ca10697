// Original file: proto/meshfed/v1/control_plane.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { AgentMessage as _meshfed_v1_AgentMessage, AgentMessage__Output as _meshfed_v1_AgentMessage__Output } from '../../meshfed/v1/AgentMessage.js';
import type { AttestationNonceRequest as _meshfed_v1_AttestationNonceRequest, AttestationNonceRequest__Output as _meshfed_v1_AttestationNonceRequest__Output } from '../../meshfed/v1/AttestationNonceRequest.js';
import type { AttestationNonceResponse as _meshfed_v1_AttestationNonceResponse, AttestationNonceResponse__Output as _meshfed_v1_AttestationNonceResponse__Output } from '../../meshfed/v1/AttestationNonceResponse.js';
import type { ControllerMessage as _meshfed_v1_ControllerMessage, ControllerMessage__Output as _meshfed_v1_ControllerMessage__Output } from '../../meshfed/v1/ControllerMessage.js';
import type { EnrollRequest as _meshfed_v1_EnrollRequest, EnrollRequest__Output as _meshfed_v1_EnrollRequest__Output } from '../../meshfed/v1/EnrollRequest.js';
import type { EnrollResponse as _meshfed_v1_EnrollResponse, EnrollResponse__Output as _meshfed_v1_EnrollResponse__Output } from '../../meshfed/v1/EnrollResponse.js';

export interface ProxyControlPlaneClient extends grpc.Client {
  /**
   * A single-use nonce for a platform attestation (docs/azure.md "Joining
   * without a token"): the agent has IMDS sign a document over it and sends
   * that document in Enroll instead of a join token. Rate limited with Enroll
   * (same bucket per peer address); refused with FAILED_PRECONDITION
   * (MESHFED_ATTEST_DISABLED) when the controller has no attestation roots.
   */
  AttestationNonce(argument: _meshfed_v1_AttestationNonceRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshfed_v1_AttestationNonceResponse__Output>): grpc.ClientUnaryCall;
  AttestationNonce(argument: _meshfed_v1_AttestationNonceRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshfed_v1_AttestationNonceResponse__Output>): grpc.ClientUnaryCall;
  AttestationNonce(argument: _meshfed_v1_AttestationNonceRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshfed_v1_AttestationNonceResponse__Output>): grpc.ClientUnaryCall;
  AttestationNonce(argument: _meshfed_v1_AttestationNonceRequest, callback: grpc.requestCallback<_meshfed_v1_AttestationNonceResponse__Output>): grpc.ClientUnaryCall;
  /**
   * A single-use nonce for a platform attestation (docs/azure.md "Joining
   * without a token"): the agent has IMDS sign a document over it and sends
   * that document in Enroll instead of a join token. Rate limited with Enroll
   * (same bucket per peer address); refused with FAILED_PRECONDITION
   * (MESHFED_ATTEST_DISABLED) when the controller has no attestation roots.
   */
  attestationNonce(argument: _meshfed_v1_AttestationNonceRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshfed_v1_AttestationNonceResponse__Output>): grpc.ClientUnaryCall;
  attestationNonce(argument: _meshfed_v1_AttestationNonceRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshfed_v1_AttestationNonceResponse__Output>): grpc.ClientUnaryCall;
  attestationNonce(argument: _meshfed_v1_AttestationNonceRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshfed_v1_AttestationNonceResponse__Output>): grpc.ClientUnaryCall;
  attestationNonce(argument: _meshfed_v1_AttestationNonceRequest, callback: grpc.requestCallback<_meshfed_v1_AttestationNonceResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * One stream per proxy. The agent sends Hello first; the controller then
   * sends the CA bundle, the service certificate and the current config, and
   * afterwards only what changes. During a root CA rotation the controller
   * may send RenewProxyCertificate; the agent answers with ProxyCsr and gets
   * ProxyCertificate back. A newer stream for the same proxy replaces
   * the older one (the older one is ended with Shutdown{code: MESHFED_REPLACED}).
   */
  Connect(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_meshfed_v1_AgentMessage, _meshfed_v1_ControllerMessage__Output>;
  Connect(options?: grpc.CallOptions): grpc.ClientDuplexStream<_meshfed_v1_AgentMessage, _meshfed_v1_ControllerMessage__Output>;
  /**
   * One stream per proxy. The agent sends Hello first; the controller then
   * sends the CA bundle, the service certificate and the current config, and
   * afterwards only what changes. During a root CA rotation the controller
   * may send RenewProxyCertificate; the agent answers with ProxyCsr and gets
   * ProxyCertificate back. A newer stream for the same proxy replaces
   * the older one (the older one is ended with Shutdown{code: MESHFED_REPLACED}).
   */
  connect(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_meshfed_v1_AgentMessage, _meshfed_v1_ControllerMessage__Output>;
  connect(options?: grpc.CallOptions): grpc.ClientDuplexStream<_meshfed_v1_AgentMessage, _meshfed_v1_ControllerMessage__Output>;
  
  /**
   * Join token + CSR -> proxy certificate. Refusals are gRPC status
   * PERMISSION_DENIED (token problems) or INVALID_ARGUMENT (CSR problems)
   * with the reason code (e.g. MESHFED_TOKEN_USED_UP) as the first word of
   * the status details and in the "meshfed-code" trailer.
   */
  Enroll(argument: _meshfed_v1_EnrollRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshfed_v1_EnrollResponse__Output>): grpc.ClientUnaryCall;
  Enroll(argument: _meshfed_v1_EnrollRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshfed_v1_EnrollResponse__Output>): grpc.ClientUnaryCall;
  Enroll(argument: _meshfed_v1_EnrollRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshfed_v1_EnrollResponse__Output>): grpc.ClientUnaryCall;
  Enroll(argument: _meshfed_v1_EnrollRequest, callback: grpc.requestCallback<_meshfed_v1_EnrollResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Join token + CSR -> proxy certificate. Refusals are gRPC status
   * PERMISSION_DENIED (token problems) or INVALID_ARGUMENT (CSR problems)
   * with the reason code (e.g. MESHFED_TOKEN_USED_UP) as the first word of
   * the status details and in the "meshfed-code" trailer.
   */
  enroll(argument: _meshfed_v1_EnrollRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshfed_v1_EnrollResponse__Output>): grpc.ClientUnaryCall;
  enroll(argument: _meshfed_v1_EnrollRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshfed_v1_EnrollResponse__Output>): grpc.ClientUnaryCall;
  enroll(argument: _meshfed_v1_EnrollRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshfed_v1_EnrollResponse__Output>): grpc.ClientUnaryCall;
  enroll(argument: _meshfed_v1_EnrollRequest, callback: grpc.requestCallback<_meshfed_v1_EnrollResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface ProxyControlPlaneHandlers extends grpc.UntypedServiceImplementation {
  /**
   * A single-use nonce for a platform attestation (docs/azure.md "Joining
   * without a token"): the agent has IMDS sign a document over it and sends
   * that document in Enroll instead of a join token. Rate limited with Enroll
   * (same bucket per peer address); refused with FAILED_PRECONDITION
   * (MESHFED_ATTEST_DISABLED) when the controller has no attestation roots.
   */
  AttestationNonce: grpc.handleUnaryCall<_meshfed_v1_AttestationNonceRequest__Output, _meshfed_v1_AttestationNonceResponse>;
  
  /**
   * One stream per proxy. The agent sends Hello first; the controller then
   * sends the CA bundle, the service certificate and the current config, and
   * afterwards only what changes. During a root CA rotation the controller
   * may send RenewProxyCertificate; the agent answers with ProxyCsr and gets
   * ProxyCertificate back. A newer stream for the same proxy replaces
   * the older one (the older one is ended with Shutdown{code: MESHFED_REPLACED}).
   */
  Connect: grpc.handleBidiStreamingCall<_meshfed_v1_AgentMessage__Output, _meshfed_v1_ControllerMessage>;
  
  /**
   * Join token + CSR -> proxy certificate. Refusals are gRPC status
   * PERMISSION_DENIED (token problems) or INVALID_ARGUMENT (CSR problems)
   * with the reason code (e.g. MESHFED_TOKEN_USED_UP) as the first word of
   * the status details and in the "meshfed-code" trailer.
   */
  Enroll: grpc.handleUnaryCall<_meshfed_v1_EnrollRequest__Output, _meshfed_v1_EnrollResponse>;
  
}

export interface ProxyControlPlaneDefinition extends grpc.ServiceDefinition {
  AttestationNonce: MethodDefinition<_meshfed_v1_AttestationNonceRequest, _meshfed_v1_AttestationNonceResponse, _meshfed_v1_AttestationNonceRequest__Output, _meshfed_v1_AttestationNonceResponse__Output>
  Connect: MethodDefinition<_meshfed_v1_AgentMessage, _meshfed_v1_ControllerMessage, _meshfed_v1_AgentMessage__Output, _meshfed_v1_ControllerMessage__Output>
  Enroll: MethodDefinition<_meshfed_v1_EnrollRequest, _meshfed_v1_EnrollResponse, _meshfed_v1_EnrollRequest__Output, _meshfed_v1_EnrollResponse__Output>
}
