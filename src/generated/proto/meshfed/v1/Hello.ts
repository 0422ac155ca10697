// Original file: proto/meshfed/v1/control_plane.proto

import type { Endpoint as _meshfed_v1_Endpoint, Endpoint__Output as _meshfed_v1_Endpoint__Output } from '../../meshfed/v1/Endpoint.js';
import type { CaptureStatus as _meshfed_v1_CaptureStatus, CaptureStatus__Output as _meshfed_v1_CaptureStatus__Output } from '../../meshfed/v1/CaptureStatus.js';
import type { DnsStatus as _meshfed_v1_DnsStatus, DnsStatus__Output as _meshfed_v1_DnsStatus__Output } from '../../meshfed/v1/DnsStatus.js';
import type { EndpointHealth as _meshfed_v1_EndpointHealth, EndpointHealth__Output as _meshfed_v1_EndpointHealth__Output } from '../../meshfed/v1/EndpointHealth.js';
import type { FileCache as _meshfed_v1_FileCache, FileCache__Output as _meshfed_v1_FileCache__Output } from '../../meshfed/v1/FileCache.js';
import type { Long } from '@grpc/proto-loader';

export interface Hello {
  /**
   * Must equal the proxy id in the client certificate.
   */
  'proxyId'?: (string);
  'hostAddresses'?: (string)[];
  /**
   * Endpoints the local service listens on; only for the certificate's service.
   */
  'endpoints'?: (_meshfed_v1_Endpoint)[];
  'agentVersion'?: (string);
  /**
   * "" when running without a proxy
   */
  'proxyVersion'?: (string);
  /**
   * What the agent already holds (from disk), so an unchanged config is not resent.
   */
  'configVersion'?: (number | string | Long);
  'configHash'?: (string);
  /**
   * Traffic capture on this host (docs/dataplane.md "Capture"); absent from
   * older agents, which means mode "none".
   */
  'capture'?: (_meshfed_v1_CaptureStatus | null);
  /**
   * The agent's mesh DNS (docs/dataplane.md "Mesh names"); absent from older agents.
   */
  'dns'?: (_meshfed_v1_DnsStatus | null);
  /**
   * Probed health of its endpoints (docs/agent.md, "Health probes"): every
   * endpoint a probe guards, none when no probe is declared. Absent from
   * older agents: their endpoints count as ready, as before.
   */
  'endpointHealth'?: (_meshfed_v1_EndpointHealth)[];
  /**
   * Content-addressed files (docs/agent.md, "Shared files"): set by agents
   * that keep shared files on disk by hash. Absent from older agents: they
   * get every file in full, as before.
   */
  'fileCache'?: (_meshfed_v1_FileCache | null);
}

export interface Hello__Output {
  /**
   * Must equal the proxy id in the client certificate.
   */
  'proxyId': (string);
  'hostAddresses': (string)[];
  /**
   * Endpoints the local service listens on; only for the certificate's service.
   */
  'endpoints': (_meshfed_v1_Endpoint__Output)[];
  'agentVersion': (string);
  /**
   * "" when running without a proxy
   */
  'proxyVersion': (string);
  /**
   * What the agent already holds (from disk), so an unchanged config is not resent.
   */
  'configVersion': (number);
  'configHash': (string);
  /**
   * Traffic capture on this host (docs/dataplane.md "Capture"); absent from
   * older agents, which means mode "none".
   */
  'capture': (_meshfed_v1_CaptureStatus__Output | null);
  /**
   * The agent's mesh DNS (docs/dataplane.md "Mesh names"); absent from older agents.
   */
  'dns': (_meshfed_v1_DnsStatus__Output | null);
  /**
   * Probed health of its endpoints (docs/agent.md, "Health probes"): every
   * endpoint a probe guards, none when no probe is declared. Absent from
   * older agents: their endpoints count as ready, as before.
   */
  'endpointHealth': (_meshfed_v1_EndpointHealth__Output)[];
  /**
   * Content-addressed files (docs/agent.md, "Shared files"): set by agents
   * that keep shared files on disk by hash. Absent from older agents: they
   * get every file in full, as before.
   */
  'fileCache': (_meshfed_v1_FileCache__Output | null);
}
